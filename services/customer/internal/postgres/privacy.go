package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/privacy"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// customerData lists every table that holds rows about a customer, with the
// columns that reference it: what a data export gathers. A feature that
// stores rows about customers adds its table here.
var customerData = []struct {
	name, table string
	columns     []string
}{
	{"contact_points", "contact_points", []string{"customer_id"}},
	{"organization_contacts", "organization_contacts", []string{"organization_id", "person_id"}},
	{"group_memberships", "group_members", []string{"customer_id"}},
	{"relationships", "relationships", []string{"from_customer_id", "to_customer_id"}},
	{"consents", "consents", []string{"customer_id"}},
	{"consent_records", "consent_records", []string{"customer_id"}},
	{"lifecycle_transitions", "lifecycle_transitions", []string{"customer_id"}},
	{"value_tier", "customer_value_tiers", []string{"customer_id"}},
	{"value_tier_changes", "value_tier_changes", []string{"customer_id"}},
	{"segment_memberships", "segment_members", []string{"customer_id"}},
	{"partner_links", "customer_partners", []string{"customer_id"}},
	{"loyalty_memberships", "loyalty_memberships", []string{"customer_id"}},
	{"loyalty_transactions", "loyalty_transactions", []string{"customer_id"}},
	{"documents", "documents", []string{"customer_id"}},
	{"document_versions", "document_versions", []string{"customer_id"}},
	{"document_transitions", "document_transitions", []string{"customer_id"}},
	{"document_share_links", "document_share_links", []string{"customer_id"}},
	{"interactions", "interactions", []string{"customer_id"}},
	{"follow_ups", "follow_ups", []string{"customer_id"}},
}

// customerAuditSQL selects a customer's audit entries; the WHERE clause
// matches the audit_log_customer index.
const customerAuditSQL = `
SELECT audit_id, principal_id, action, resource, before, after, occurred_at FROM audit_log
WHERE tenant_id = $1 AND starts_with(resource, 'customers/') AND split_part(resource, '/', 2) = $2`

func scanAudit(row pgx.CollectableRow) (privacy.AuditEntry, error) {
	var a privacy.AuditEntry
	err := row.Scan(&a.ID, &a.PrincipalID, &a.Action, &a.Resource, &a.Before, &a.After, &a.Time)
	return a, err
}

// AuditEntries implements privacy.Store with keyset pagination on
// (occurred_at, audit_id), newest first.
func (s *Store) AuditEntries(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (privacy.Page, error) {
	if err := s.customerExists(ctx, caller, id); err != nil {
		return privacy.Page{}, err
	}
	query := "audit|" + id.String()
	args := []any{caller.TenantID, id.String()}
	sql := customerAuditSQL
	if pageToken != "" {
		var cur memberCursor
		if err := pagetoken.Decode(pageToken, query, &cur); err != nil {
			return privacy.Page{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		sql += " AND (occurred_at, audit_id) < ($3, $4)"
	}
	args = append(args, pageSize+1)
	sql += fmt.Sprintf(" ORDER BY occurred_at DESC, audit_id DESC LIMIT $%d", len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scanAudit)
	if err != nil {
		return privacy.Page{}, fmt.Errorf("list audit entries of %s: %w", id, err)
	}
	page := privacy.Page{Entries: rows}
	if len(rows) > pageSize {
		page.Entries = rows[:pageSize]
		last := page.Entries[pageSize-1]
		if page.NextPageToken, err = pagetoken.Encode(query, memberCursor{Time: last.Time, ID: last.ID}); err != nil {
			return privacy.Page{}, err
		}
	}
	return page, nil
}

// exportSQL builds one statement that gathers the customer row, every
// section of customerData and the audit trail into one JSON object.
func exportSQL() string {
	var b strings.Builder
	b.WriteString("SELECT jsonb_build_object('customer', (SELECT to_jsonb(c) - 'tenant_id' FROM customers c WHERE c.tenant_id = $1 AND c.customer_id = $2)")
	for _, d := range customerData {
		refs := make([]string, len(d.columns))
		for i, c := range d.columns {
			refs[i] = "t." + c + " = $2"
		}
		fmt.Fprintf(&b, ",\n'%s', (SELECT coalesce(jsonb_agg(to_jsonb(t) - 'tenant_id'), '[]') FROM %s t WHERE t.tenant_id = $1 AND (%s))",
			d.name, d.table, strings.Join(refs, " OR "))
	}
	b.WriteString(",\n'audit_entries', (SELECT coalesce(jsonb_agg(to_jsonb(a) - 'tenant_id' ORDER BY a.occurred_at), '[]') FROM audit_log a" +
		" WHERE a.tenant_id = $1 AND starts_with(a.resource, 'customers/') AND split_part(a.resource, '/', 2) = $2::text))")
	return b.String()
}

// Export implements privacy.Store, in one statement and so one snapshot.
func (s *Store) Export(ctx context.Context, caller auth.Caller, id uuid.UUID) ([]byte, error) {
	if err := s.customerExists(ctx, caller, id); err != nil {
		return nil, err
	}
	doc, err := pgdb.Row(ctx, s.pool, caller.TenantID, exportSQL(), []any{caller.TenantID, id}, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("export customer %s: %w", id, err)
	}
	return doc, nil
}

const eraseTimeSQL = `SELECT erase_time FROM customers WHERE tenant_id = $1 AND customer_id = $2`

const anonymiseSQL = `
UPDATE customers SET display_name = 'Erased customer', email = '', phone = '', external_id = '', tags = '{}',
    custom_attributes = '{}', source_channel = '', delete_time = coalesce(delete_time, now()), erase_time = now(), erase_reason = $3,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2
RETURNING ` + customerColumns

// erasedRows removes what reaches or describes the person beyond ids: their
// contact points, their roles at organisations, and their documents'
// content, names and share links. Relationships, group memberships and
// consent records stay, pseudonymous once the record is anonymised (consent
// records are the proof of what was agreed).
var erasedRows = []string{
	`DELETE FROM contact_points WHERE tenant_id = $1 AND customer_id = $2`,
	`DELETE FROM organization_contacts WHERE tenant_id = $1 AND person_id = $2`,
	`DELETE FROM document_chunks c USING document_versions v
	 WHERE c.tenant_id = $1 AND v.tenant_id = $1 AND v.customer_id = $2 AND c.version_id = v.version_id`,
	`UPDATE document_versions SET file_name = '' WHERE tenant_id = $1 AND customer_id = $2`,
	`UPDATE documents SET title = 'Erased document', description = '', delete_time = coalesce(delete_time, now()),
	 revision = revision + 1, update_time = now() WHERE tenant_id = $1 AND customer_id = $2`,
	`UPDATE document_share_links SET revoke_time = coalesce(revoke_time, now()) WHERE tenant_id = $1 AND customer_id = $2`,
	// The timeline keeps its shape (kinds, times, durations) without the text.
	`UPDATE interactions SET channel = '', subject = '', notes = '', outcome = '', participant_names = '{}',
    latitude = NULL, longitude = NULL, address = '', revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2`,
	`UPDATE follow_ups SET title = 'Erased', notes = '', outcome = '', revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2`,
}

// customerFollowUpsSQL lists the follow-ups of a customer, whose events and
// audit rows live under their own resource names, not the customer's.
const customerFollowUpsSQL = `SELECT 'followUps/' || follow_up_id FROM follow_ups WHERE tenant_id = $1 AND customer_id = $2`

// Erase implements privacy.Store.
func (s *Store) Erase(ctx context.Context, caller auth.Caller, id uuid.UUID, reason, etag string) (privacy.Erasure, error) {
	var out privacy.Erasure
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockCustomer(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		var erased *time.Time
		if err := tx.QueryRow(ctx, eraseTimeSQL, caller.TenantID, id).Scan(&erased); err != nil {
			return err
		}
		if erased != nil {
			return privacy.ErrErased
		}
		if etag != "" && etag != before.Etag() {
			return fmt.Errorf("%w: current etag is %s", customer.ErrEtagMismatch, before.Etag())
		}
		rows, err := tx.Query(ctx, anonymiseSQL, caller.TenantID, id, reason)
		if err != nil {
			return err
		}
		if out.Customer, err = pgx.CollectExactlyOneRow(rows, scanCustomer); err != nil {
			return err
		}
		for _, sql := range erasedRows {
			if _, err := tx.Exec(ctx, sql, caller.TenantID, id); err != nil {
				return fmt.Errorf("erase: %w", err)
			}
		}
		rows, err = tx.Query(ctx, customerFollowUpsSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		resources, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, r := range append([]string{out.Customer.Resource()}, resources...) {
			red, err := outbox.Redact(ctx, tx, caller.TenantID, r)
			if err != nil {
				return err
			}
			out.RedactedEvents += red.Events
			out.RedactedAudit += red.AuditEntries
		}
		// The erasure itself is recorded without a before image, which would
		// hold what was just erased; its reason stays on the tombstone.
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: privacy.EventErased,
			Resource: out.Customer.Resource(), After: protoconv.Customer(out.Customer),
		}); err != nil {
			return err
		}
		return afterCustomerWrite(ctx, tx, caller, &before, out.Customer, "")
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return privacy.Erasure{}, customer.ErrNotFound
	}
	if err != nil {
		return privacy.Erasure{}, fmt.Errorf("erase customer %s: %w", id, err)
	}
	return out, nil
}
