package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// errRepeated rolls back a create whose request_id an earlier create
// already used, undoing anything it did first (such as demoting a primary);
// the caller then returns the earlier result.
var errRepeated = errors.New("request already handled")

// record writes a change's event and audit row; before is nil on create.
func record(ctx context.Context, tx pgx.Tx, caller auth.Caller, typ, resource string, before, after proto.Message) error {
	return outbox.Record(ctx, tx, outbox.Change{
		TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: typ, Resource: resource, Before: before, After: after,
	})
}

// rowOr collects the single row of a query in tx; no row is notFound.
func rowOr[T any](ctx context.Context, tx pgx.Tx, notFound error, scan pgx.RowToFunc[T], sql string, args ...any) (T, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := pgx.CollectExactlyOneRow(rows, scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, notFound
	}
	return v, err
}

// read runs a single-row read scoped to the caller's tenant; no row is notFound.
func read[T any](ctx context.Context, s *Store, caller auth.Caller, notFound error, scan pgx.RowToFunc[T], sql string, args ...any) (T, error) {
	v, err := pgdb.Row(ctx, s.pool, caller.TenantID, sql, append([]any{caller.TenantID}, args...), scan)
	if errors.Is(err, pgx.ErrNoRows) {
		return v, notFound
	}
	return v, err
}

// created finishes a create: a repeated request returns the earlier row,
// read by requestSQL; constraint violations become domain errors.
func created[T any](ctx context.Context, s *Store, caller auth.Caller, err error, saved T, scan pgx.RowToFunc[T], requestSQL, requestID string, what string) (T, error) {
	if errors.Is(err, errRepeated) {
		return read(ctx, s, caller, errRepeated, scan, requestSQL, requestID)
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("create %s: %w", what, constraintError(err))
	}
	return saved, nil
}

// constraintError maps the constraints profile writes can break to domain errors.
func constraintError(err error) error {
	code, name, ok := pgdb.Constraint(err)
	switch {
	case !ok:
		return err
	case name == "organization_contacts_pair":
		return profile.ErrOrganizationContactExists
	case name == "relationships_open":
		return profile.ErrRelationshipExists
	case code == "23503":
		// Every foreign key a create can break names a customer (groups
		// are locked before their members are written).
		return customer.ErrNotFound
	}
	return err
}

const customerRefSQL = `SELECT kind, country_code, delete_time IS NOT NULL FROM customers WHERE tenant_id = $1 AND customer_id = $2`

// CustomerRef implements profile.Store.
func (s *Store) CustomerRef(ctx context.Context, caller auth.Caller, id uuid.UUID) (profile.CustomerRef, error) {
	ref, err := read(ctx, s, caller, customer.ErrNotFound, func(row pgx.CollectableRow) (profile.CustomerRef, error) {
		var r profile.CustomerRef
		return r, row.Scan(&r.Kind, &r.CountryCode, &r.Deleted)
	}, customerRefSQL, id)
	if err != nil {
		return profile.CustomerRef{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	return ref, nil
}

// lockLiveCustomer locks the customer's row, the transaction's first write,
// so the customer's events stay in order and its profile changes serialise.
func lockLiveCustomer(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) (customer.Customer, error) {
	c, err := rowOr(ctx, tx, customer.ErrNotFound, scanCustomer, lockCustomerSQL, caller.TenantID, id)
	if err == nil && c.DeleteTime != nil {
		return c, customer.ErrDeleted
	}
	return c, err
}

// listPage returns one page of a scoped list with keyset pagination on
// (timeCol, idCol). where holds the scope with $1 the tenant; scope binds
// page tokens to the list they came from.
func listPage[T any](ctx context.Context, s *Store, caller auth.Caller, columns, table, where string, args []any,
	timeCol, idCol string, desc bool, scope string, q profile.PageQuery, scan pgx.RowToFunc[T], key func(T) (time.Time, uuid.UUID)) ([]T, string, error) {
	type cursor struct {
		Time time.Time `json:"t"`
		ID   uuid.UUID `json:"i"`
	}
	cmp, dir := ">", "ASC"
	if desc {
		cmp, dir = "<", "DESC"
	}
	args = append([]any{caller.TenantID}, args...)
	if q.Token != "" {
		var cur cursor
		if err := pagetoken.Decode(q.Token, scope, &cur); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		where += fmt.Sprintf(" AND (%s, %s) %s ($%d, $%d)", timeCol, idCol, cmp, len(args)-1, len(args))
	}
	args = append(args, q.Size+1)
	sql := fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s %s, %s %s LIMIT $%d", columns, table, where, timeCol, dir, idCol, dir, len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scan)
	if err != nil {
		return nil, "", fmt.Errorf("list %s: %w", table, err)
	}
	if len(rows) <= q.Size {
		return rows, "", nil
	}
	rows = rows[:q.Size]
	var cur cursor
	cur.Time, cur.ID = key(rows[q.Size-1])
	next, err := pagetoken.Encode(scope, cur)
	return rows, next, err
}

// Contact points.

const contactPointColumns = `contact_point_id, customer_id, type, value, network, address_lines, locality, region,
postal_code, country_code, label, is_primary, verification_state, verification_time, source, consent, create_time, update_time, revision`

func scanContactPoint(row pgx.CollectableRow) (profile.ContactPoint, error) {
	var c profile.ContactPoint
	a := &c.Address
	err := row.Scan(&c.ID, &c.CustomerID, &c.Type, &c.Value, &c.Network, &a.Lines, &a.Locality, &a.Region,
		&a.PostalCode, &a.CountryCode, &c.Label, &c.Primary, &c.Verification, &c.VerificationTime, &c.Source, &c.Consent,
		&c.CreateTime, &c.UpdateTime, &c.Revision)
	return c, err
}

func contactPointKey(c profile.ContactPoint) (time.Time, uuid.UUID) { return c.CreateTime, c.ID }

const (
	insertContactPointSQL = `
INSERT INTO contact_points (tenant_id, contact_point_id, customer_id, type, value, network, address_lines, locality,
    region, postal_code, country_code, label, is_primary, verification_state, verification_time, source, consent, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, nullif($18, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + contactPointColumns
	contactPointByRequestSQL = `SELECT ` + contactPointColumns + ` FROM contact_points WHERE tenant_id = $1 AND request_id = $2`
	contactPointSQL          = `SELECT ` + contactPointColumns + ` FROM contact_points WHERE tenant_id = $1 AND customer_id = $2 AND contact_point_id = $3`
	lockContactPointSQL      = contactPointSQL + ` FOR UPDATE`
	saveContactPointSQL      = `
UPDATE contact_points SET value = $4, network = $5, address_lines = $6, locality = $7, region = $8, postal_code = $9,
    country_code = $10, label = $11, is_primary = $12, verification_state = $13, verification_time = $14, source = $15,
    consent = $16, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2 AND contact_point_id = $3
RETURNING ` + contactPointColumns
	deleteContactPointSQL = `DELETE FROM contact_points WHERE tenant_id = $1 AND customer_id = $2 AND contact_point_id = $3`
	demotePrimarySQL      = `
UPDATE contact_points SET is_primary = false, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2 AND type = $3 AND is_primary AND contact_point_id <> $4
RETURNING ` + contactPointColumns
	primaryValuesSQL = `
SELECT coalesce((SELECT value FROM contact_points WHERE tenant_id = $1 AND customer_id = $2 AND type = 1 AND is_primary), ''),
       coalesce((SELECT value FROM contact_points WHERE tenant_id = $1 AND customer_id = $2 AND type = 2 AND is_primary), '')`
	contactPointByValueSQL = `
SELECT ` + contactPointColumns + ` FROM contact_points
WHERE tenant_id = $1 AND customer_id = $2 AND type = $3 AND value = $4
ORDER BY is_primary DESC, create_time LIMIT 1`
	promoteContactPointSQL = `
UPDATE contact_points SET is_primary = true, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND contact_point_id = $2
RETURNING ` + contactPointColumns
	syncCustomerSQL = `
UPDATE customers SET email = $3, phone = $4, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2
RETURNING ` + customerColumns
)

func insertContactPoint(ctx context.Context, tx pgx.Tx, caller auth.Caller, c profile.ContactPoint, requestID string) (profile.ContactPoint, bool, error) {
	a := c.Address
	if a.Lines == nil {
		a.Lines = []string{}
	}
	return pgdb.InsertOnce(ctx, tx, insertContactPointSQL, []any{caller.TenantID, c.ID, c.CustomerID, c.Type, c.Value, c.Network,
		a.Lines, a.Locality, a.Region, a.PostalCode, a.CountryCode, c.Label, c.Primary, c.Verification, c.VerificationTime,
		c.Source, c.Consent, requestID}, contactPointByRequestSQL, []any{caller.TenantID, requestID}, scanContactPoint)
}

// demotePrimary clears the primary flag of the customer's other contact
// point of typ, recording the change.
func demotePrimary(ctx context.Context, tx pgx.Tx, caller auth.Caller, customerID uuid.UUID, typ profile.ContactType, except uuid.UUID) error {
	rows, err := tx.Query(ctx, demotePrimarySQL, caller.TenantID, customerID, typ, except)
	if err != nil {
		return err
	}
	demoted, err := pgx.CollectRows(rows, scanContactPoint)
	if err != nil {
		return err
	}
	for _, d := range demoted {
		before := d
		before.Primary, before.Revision = true, d.Revision-1
		if err := record(ctx, tx, caller, profile.EventContactPointUpdated, d.Resource(), protoconv.ContactPoint(before), protoconv.ContactPoint(d)); err != nil {
			return err
		}
	}
	return nil
}

// syncCustomer mirrors the primary e-mail and phone contact points onto the
// customer's email and phone fields, so reads and filters of customers see
// them. c is the customer as locked at the start of the transaction.
func syncCustomer(ctx context.Context, tx pgx.Tx, caller auth.Caller, c customer.Customer) error {
	var email, phone string
	if err := tx.QueryRow(ctx, primaryValuesSQL, caller.TenantID, c.ID).Scan(&email, &phone); err != nil {
		return err
	}
	if strings.EqualFold(c.Email, email) && c.Phone == phone {
		return nil
	}
	if strings.EqualFold(c.Email, email) {
		email = c.Email
	}
	saved, err := rowOr(ctx, tx, customer.ErrNotFound, scanCustomer, syncCustomerSQL, caller.TenantID, c.ID, email, phone)
	if err != nil {
		return err
	}
	return record(ctx, tx, caller, customer.EventUpdated, saved.Resource(), protoconv.Customer(c), protoconv.Customer(saved))
}

// adoptPrimary makes value the customer's primary contact point of typ
// after the customer record's email or phone changed: an existing contact
// point with that value is promoted, or a new one is added; an empty value
// leaves the customer without a primary of that type.
func adoptPrimary(ctx context.Context, tx pgx.Tx, caller auth.Caller, customerID uuid.UUID, typ profile.ContactType, value string) error {
	if typ == profile.ContactEmail {
		value = strings.ToLower(value)
	}
	if value == "" {
		return demotePrimary(ctx, tx, caller, customerID, typ, uuid.Nil)
	}
	existing, err := rowOr(ctx, tx, pgx.ErrNoRows, scanContactPoint, contactPointByValueSQL, caller.TenantID, customerID, typ, value)
	switch {
	case err == nil && existing.Primary:
		return nil
	case err == nil:
		if err := demotePrimary(ctx, tx, caller, customerID, typ, existing.ID); err != nil {
			return err
		}
		promoted, err := rowOr(ctx, tx, profile.ErrContactPointNotFound, scanContactPoint, promoteContactPointSQL, caller.TenantID, existing.ID)
		if err != nil {
			return err
		}
		return record(ctx, tx, caller, profile.EventContactPointUpdated, promoted.Resource(), protoconv.ContactPoint(existing), protoconv.ContactPoint(promoted))
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	if err := demotePrimary(ctx, tx, caller, customerID, typ, uuid.Nil); err != nil {
		return err
	}
	cp := profile.ContactPoint{ID: uuid.Must(uuid.NewV7()), CustomerID: customerID, Type: typ, Value: value, Primary: true,
		Verification: profile.Unverified, Source: profile.SourceCustomerRecord}
	saved, _, err := insertContactPoint(ctx, tx, caller, cp, "")
	if err != nil {
		return err
	}
	return record(ctx, tx, caller, profile.EventContactPointCreated, saved.Resource(), nil, protoconv.ContactPoint(saved))
}

// adoptCustomerContacts keeps contact points in step with a customer write
// that changed the record's email or phone.
func adoptCustomerContacts(ctx context.Context, tx pgx.Tx, caller auth.Caller, before *customer.Customer, after customer.Customer) error {
	if before == nil || !strings.EqualFold(before.Email, after.Email) {
		if before != nil || after.Email != "" {
			if err := adoptPrimary(ctx, tx, caller, after.ID, profile.ContactEmail, after.Email); err != nil {
				return err
			}
		}
	}
	if before == nil || before.Phone != after.Phone {
		if before != nil || after.Phone != "" {
			return adoptPrimary(ctx, tx, caller, after.ID, profile.ContactPhone, after.Phone)
		}
	}
	return nil
}

func mirrored(t profile.ContactType) bool {
	return t == profile.ContactEmail || t == profile.ContactPhone
}

// CreateContactPoint implements profile.Store.
func (s *Store) CreateContactPoint(ctx context.Context, caller auth.Caller, cp profile.ContactPoint, requestID string) (profile.ContactPoint, error) {
	var saved profile.ContactPoint
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		cust, err := lockLiveCustomer(ctx, tx, caller, cp.CustomerID)
		if err != nil {
			return err
		}
		if cp.Primary {
			if err := demotePrimary(ctx, tx, caller, cp.CustomerID, cp.Type, cp.ID); err != nil {
				return err
			}
		}
		var isNew bool
		if saved, isNew, err = insertContactPoint(ctx, tx, caller, cp, requestID); err != nil {
			return err
		}
		if !isNew {
			return errRepeated
		}
		if err := record(ctx, tx, caller, profile.EventContactPointCreated, saved.Resource(), nil, protoconv.ContactPoint(saved)); err != nil {
			return err
		}
		if saved.Primary && mirrored(saved.Type) {
			if err := syncCustomer(ctx, tx, caller, cust); err != nil {
				return err
			}
		}
		return rebuildSearch(ctx, tx, caller.TenantID, cp.CustomerID)
	})
	return created(ctx, s, caller, err, saved, scanContactPoint, contactPointByRequestSQL, requestID, "contact point")
}

// ContactPoint implements profile.Store.
func (s *Store) ContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (profile.ContactPoint, error) {
	cp, err := read(ctx, s, caller, profile.ErrContactPointNotFound, scanContactPoint, contactPointSQL, customerID, id)
	if err != nil {
		return cp, fmt.Errorf("get contact point %s: %w", id, err)
	}
	return cp, nil
}

// ListContactPoints implements profile.Store.
func (s *Store) ListContactPoints(ctx context.Context, caller auth.Caller, customerID uuid.UUID, typ profile.ContactType, q profile.PageQuery) ([]profile.ContactPoint, string, error) {
	return listPage(ctx, s, caller, contactPointColumns, "contact_points", "tenant_id = $1 AND customer_id = $2 AND ($3 = 0 OR type = $3)",
		[]any{customerID, typ}, "create_time", "contact_point_id", false, fmt.Sprintf("cp|%s|%d", customerID, typ), q, scanContactPoint, contactPointKey)
}

// MutateContactPoint implements profile.Store.
func (s *Store) MutateContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, m func(*profile.ContactPoint) error) (profile.ContactPoint, error) {
	var saved profile.ContactPoint
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		cust, err := lockLiveCustomer(ctx, tx, caller, customerID)
		if err != nil {
			return err
		}
		before, err := rowOr(ctx, tx, profile.ErrContactPointNotFound, scanContactPoint, lockContactPointSQL, caller.TenantID, customerID, id)
		if err != nil {
			return err
		}
		cp := before
		cp.Address.Lines = slices.Clone(before.Address.Lines)
		if err := m(&cp); err != nil {
			return err
		}
		if cp.Primary && !before.Primary {
			if err := demotePrimary(ctx, tx, caller, customerID, cp.Type, cp.ID); err != nil {
				return err
			}
		}
		a := cp.Address
		if a.Lines == nil {
			a.Lines = []string{}
		}
		saved, err = rowOr(ctx, tx, profile.ErrContactPointNotFound, scanContactPoint, saveContactPointSQL, caller.TenantID, customerID, id,
			cp.Value, cp.Network, a.Lines, a.Locality, a.Region, a.PostalCode, a.CountryCode, cp.Label, cp.Primary,
			cp.Verification, cp.VerificationTime, cp.Source, cp.Consent)
		if err != nil {
			return err
		}
		if err := record(ctx, tx, caller, profile.EventContactPointUpdated, saved.Resource(), protoconv.ContactPoint(before), protoconv.ContactPoint(saved)); err != nil {
			return err
		}
		if (before.Primary || saved.Primary) && mirrored(saved.Type) {
			if err := syncCustomer(ctx, tx, caller, cust); err != nil {
				return err
			}
		}
		return rebuildSearch(ctx, tx, caller.TenantID, customerID)
	})
	if err != nil {
		return profile.ContactPoint{}, fmt.Errorf("change contact point %s: %w", id, err)
	}
	return saved, nil
}

// DeleteContactPoint implements profile.Store.
func (s *Store) DeleteContactPoint(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, check func(profile.ContactPoint) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		cust, err := lockLiveCustomer(ctx, tx, caller, customerID)
		if err != nil {
			return err
		}
		cp, err := rowOr(ctx, tx, profile.ErrContactPointNotFound, scanContactPoint, lockContactPointSQL, caller.TenantID, customerID, id)
		if err != nil {
			return err
		}
		if err := check(cp); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteContactPointSQL, caller.TenantID, customerID, id); err != nil {
			return err
		}
		msg := protoconv.ContactPoint(cp)
		if err := record(ctx, tx, caller, profile.EventContactPointDeleted, cp.Resource(), msg, msg); err != nil {
			return err
		}
		if cp.Primary && mirrored(cp.Type) {
			if err := syncCustomer(ctx, tx, caller, cust); err != nil {
				return err
			}
		}
		return rebuildSearch(ctx, tx, caller.TenantID, customerID)
	})
	if err != nil {
		return fmt.Errorf("delete contact point %s: %w", id, err)
	}
	return nil
}

// Organisation contacts.

const orgContactColumns = `organization_contact_id, organization_id, person_id, title, department, is_primary_contact, create_time, update_time, revision`

func scanOrgContact(row pgx.CollectableRow) (profile.OrgContact, error) {
	var o profile.OrgContact
	return o, row.Scan(&o.ID, &o.OrganizationID, &o.PersonID, &o.Title, &o.Department, &o.PrimaryContact, &o.CreateTime, &o.UpdateTime, &o.Revision)
}

const (
	insertOrgContactSQL = `
INSERT INTO organization_contacts (tenant_id, organization_contact_id, organization_id, person_id, title, department, is_primary_contact, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + orgContactColumns
	orgContactByRequestSQL = `SELECT ` + orgContactColumns + ` FROM organization_contacts WHERE tenant_id = $1 AND request_id = $2`
	orgContactSQL          = `SELECT ` + orgContactColumns + ` FROM organization_contacts WHERE tenant_id = $1 AND organization_contact_id = $2`
	lockOrgContactSQL      = orgContactSQL + ` FOR UPDATE`
	saveOrgContactSQL      = `
UPDATE organization_contacts SET title = $3, department = $4, is_primary_contact = $5, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND organization_contact_id = $2
RETURNING ` + orgContactColumns
	demotePrimaryContactSQL = `
UPDATE organization_contacts SET is_primary_contact = false, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND organization_id = $2 AND is_primary_contact AND organization_contact_id <> $3
RETURNING ` + orgContactColumns
	deleteOrgContactSQL = `DELETE FROM organization_contacts WHERE tenant_id = $1 AND organization_contact_id = $2`
)

// demotePrimaryContact clears the organisation's other primary contact, recording the change.
func demotePrimaryContact(ctx context.Context, tx pgx.Tx, caller auth.Caller, orgID, except uuid.UUID) error {
	rows, err := tx.Query(ctx, demotePrimaryContactSQL, caller.TenantID, orgID, except)
	if err != nil {
		return err
	}
	demoted, err := pgx.CollectRows(rows, scanOrgContact)
	if err != nil {
		return err
	}
	for _, d := range demoted {
		before := d
		before.PrimaryContact, before.Revision = true, d.Revision-1
		if err := record(ctx, tx, caller, profile.EventOrganizationContactUpdated, d.Resource(), protoconv.OrgContact(before), protoconv.OrgContact(d)); err != nil {
			return err
		}
	}
	return nil
}

// CreateOrgContact implements profile.Store. The organisation's row lock
// serialises changes to its primary contact.
func (s *Store) CreateOrgContact(ctx context.Context, caller auth.Caller, oc profile.OrgContact, requestID string) (profile.OrgContact, error) {
	var saved profile.OrgContact
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := lockLiveCustomer(ctx, tx, caller, oc.OrganizationID); err != nil {
			return err
		}
		if oc.PrimaryContact {
			if err := demotePrimaryContact(ctx, tx, caller, oc.OrganizationID, oc.ID); err != nil {
				return err
			}
		}
		var isNew bool
		var err error
		saved, isNew, err = pgdb.InsertOnce(ctx, tx, insertOrgContactSQL, []any{caller.TenantID, oc.ID, oc.OrganizationID, oc.PersonID,
			oc.Title, oc.Department, oc.PrimaryContact, requestID}, orgContactByRequestSQL, []any{caller.TenantID, requestID}, scanOrgContact)
		if err != nil {
			return err
		}
		if !isNew {
			return errRepeated
		}
		return record(ctx, tx, caller, profile.EventOrganizationContactCreated, saved.Resource(), nil, protoconv.OrgContact(saved))
	})
	return created(ctx, s, caller, err, saved, scanOrgContact, orgContactByRequestSQL, requestID, "organisation contact")
}

// OrgContact implements profile.Store.
func (s *Store) OrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID) (profile.OrgContact, error) {
	oc, err := read(ctx, s, caller, profile.ErrOrganizationContactNotFound, scanOrgContact, orgContactSQL, id)
	if err != nil {
		return oc, fmt.Errorf("get organisation contact %s: %w", id, err)
	}
	return oc, nil
}

// ListOrgContacts implements profile.Store.
func (s *Store) ListOrgContacts(ctx context.Context, caller auth.Caller, customerID uuid.UUID, q profile.PageQuery) ([]profile.OrgContact, string, error) {
	return listPage(ctx, s, caller, orgContactColumns, "organization_contacts", "tenant_id = $1 AND (organization_id = $2 OR person_id = $2)",
		[]any{customerID}, "create_time", "organization_contact_id", false, "oc|"+customerID.String(), q, scanOrgContact,
		func(o profile.OrgContact) (time.Time, uuid.UUID) { return o.CreateTime, o.ID })
}

// MutateOrgContact implements profile.Store.
func (s *Store) MutateOrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*profile.OrgContact) error) (profile.OrgContact, error) {
	var saved profile.OrgContact
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		current, err := read(ctx, s, caller, profile.ErrOrganizationContactNotFound, scanOrgContact, orgContactSQL, id)
		if err != nil {
			return err
		}
		if _, err := lockLiveCustomer(ctx, tx, caller, current.OrganizationID); err != nil {
			return err
		}
		before, err := rowOr(ctx, tx, profile.ErrOrganizationContactNotFound, scanOrgContact, lockOrgContactSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		oc := before
		if err := m(&oc); err != nil {
			return err
		}
		if oc.PrimaryContact && !before.PrimaryContact {
			if err := demotePrimaryContact(ctx, tx, caller, oc.OrganizationID, oc.ID); err != nil {
				return err
			}
		}
		saved, err = rowOr(ctx, tx, profile.ErrOrganizationContactNotFound, scanOrgContact, saveOrgContactSQL, caller.TenantID, id, oc.Title, oc.Department, oc.PrimaryContact)
		if err != nil {
			return err
		}
		return record(ctx, tx, caller, profile.EventOrganizationContactUpdated, saved.Resource(), protoconv.OrgContact(before), protoconv.OrgContact(saved))
	})
	if err != nil {
		return profile.OrgContact{}, fmt.Errorf("change organisation contact %s: %w", id, err)
	}
	return saved, nil
}

// DeleteOrgContact implements profile.Store.
func (s *Store) DeleteOrgContact(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(profile.OrgContact) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		oc, err := rowOr(ctx, tx, profile.ErrOrganizationContactNotFound, scanOrgContact, lockOrgContactSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		if err := check(oc); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteOrgContactSQL, caller.TenantID, id); err != nil {
			return err
		}
		msg := protoconv.OrgContact(oc)
		return record(ctx, tx, caller, profile.EventOrganizationContactDeleted, oc.Resource(), msg, msg)
	})
	if err != nil {
		return fmt.Errorf("delete organisation contact %s: %w", id, err)
	}
	return nil
}

// Groups and members.

const groupColumns = `group_id, kind, display_name, description, create_time, update_time, revision`

func scanGroup(row pgx.CollectableRow) (profile.Group, error) {
	var g profile.Group
	return g, row.Scan(&g.ID, &g.Kind, &g.DisplayName, &g.Description, &g.CreateTime, &g.UpdateTime, &g.Revision)
}

const (
	insertGroupSQL = `
INSERT INTO customer_groups (tenant_id, group_id, kind, display_name, description, request_id)
VALUES ($1, $2, $3, $4, $5, nullif($6, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + groupColumns
	groupByRequestSQL = `SELECT ` + groupColumns + ` FROM customer_groups WHERE tenant_id = $1 AND request_id = $2`
	groupSQL          = `SELECT ` + groupColumns + ` FROM customer_groups WHERE tenant_id = $1 AND group_id = $2`
	lockGroupSQL      = groupSQL + ` FOR UPDATE`
	saveGroupSQL      = `
UPDATE customer_groups SET kind = $3, display_name = $4, description = $5, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND group_id = $2
RETURNING ` + groupColumns
	deleteGroupMembersSQL = `DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 RETURNING ` + memberColumns
	deleteGroupSQL        = `DELETE FROM customer_groups WHERE tenant_id = $1 AND group_id = $2`
)

// groupFields are the fields ListGroups filters on, each backed by an index.
var groupFields = map[string]sqlfilter.Field{
	"kind":         {Column: "kind", Kind: sqlfilter.Enum, Enum: customerv1.GroupKind_value},
	"display_name": {Column: "display_name", Kind: sqlfilter.String},
	"create_time":  {Column: "create_time", Kind: sqlfilter.Timestamp},
}

// CreateGroup implements profile.Store.
func (s *Store) CreateGroup(ctx context.Context, caller auth.Caller, g profile.Group, requestID string) (profile.Group, error) {
	var saved profile.Group
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var isNew bool
		var err error
		saved, isNew, err = pgdb.InsertOnce(ctx, tx, insertGroupSQL, []any{caller.TenantID, g.ID, g.Kind, g.DisplayName, g.Description, requestID},
			groupByRequestSQL, []any{caller.TenantID, requestID}, scanGroup)
		if err != nil || !isNew {
			return err
		}
		return record(ctx, tx, caller, profile.EventGroupCreated, saved.Resource(), nil, protoconv.Group(saved))
	})
	if err != nil {
		return profile.Group{}, fmt.Errorf("create group: %w", err)
	}
	return saved, nil
}

// Group implements profile.Store.
func (s *Store) Group(ctx context.Context, caller auth.Caller, id uuid.UUID) (profile.Group, error) {
	g, err := read(ctx, s, caller, profile.ErrGroupNotFound, scanGroup, groupSQL, id)
	if err != nil {
		return g, fmt.Errorf("get group %s: %w", id, err)
	}
	return g, nil
}

// ListGroups implements profile.Store.
func (s *Store) ListGroups(ctx context.Context, caller auth.Caller, filter string, q profile.PageQuery) ([]profile.Group, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, keyset.Query[profile.Group]{
		Table: "customer_groups", Columns: groupColumns, IDColumn: "group_id", Fields: groupFields, Scan: scanGroup,
		Key: func(g profile.Group) (time.Time, uuid.UUID) { return g.CreateTime, g.ID },
	}, filter, q.Token, q.Size)
}

// MutateGroup implements profile.Store.
func (s *Store) MutateGroup(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*profile.Group) error) (profile.Group, error) {
	var saved profile.Group
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := rowOr(ctx, tx, profile.ErrGroupNotFound, scanGroup, lockGroupSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		g := before
		if err := m(&g); err != nil {
			return err
		}
		if saved, err = rowOr(ctx, tx, profile.ErrGroupNotFound, scanGroup, saveGroupSQL, caller.TenantID, id, g.Kind, g.DisplayName, g.Description); err != nil {
			return err
		}
		return record(ctx, tx, caller, profile.EventGroupUpdated, saved.Resource(), protoconv.Group(before), protoconv.Group(saved))
	})
	if err != nil {
		return profile.Group{}, fmt.Errorf("change group %s: %w", id, err)
	}
	return saved, nil
}

// DeleteGroup implements profile.Store: each membership goes with its own event.
func (s *Store) DeleteGroup(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(profile.Group) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		g, err := rowOr(ctx, tx, profile.ErrGroupNotFound, scanGroup, lockGroupSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		if err := check(g); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, deleteGroupMembersSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		members, err := pgx.CollectRows(rows, scanMember)
		if err != nil {
			return err
		}
		for _, m := range members {
			msg := protoconv.Member(m)
			if err := record(ctx, tx, caller, profile.EventMemberRemoved, m.Resource(), msg, msg); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, deleteGroupSQL, caller.TenantID, id); err != nil {
			return err
		}
		msg := protoconv.Group(g)
		return record(ctx, tx, caller, profile.EventGroupDeleted, g.Resource(), msg, msg)
	})
	if err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	return nil
}

const memberColumns = `member_id, group_id, customer_id, role, valid_from, valid_to, create_time, update_time, revision`

func scanMember(row pgx.CollectableRow) (profile.Member, error) {
	var m profile.Member
	return m, row.Scan(&m.ID, &m.GroupID, &m.CustomerID, &m.Role, &m.From, &m.To, &m.CreateTime, &m.UpdateTime, &m.Revision)
}

func memberKey(m profile.Member) (time.Time, uuid.UUID) { return m.CreateTime, m.ID }

const (
	insertMemberSQL = `
INSERT INTO group_members (tenant_id, member_id, group_id, customer_id, role, valid_from, valid_to, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + memberColumns
	memberByRequestSQL = `SELECT ` + memberColumns + ` FROM group_members WHERE tenant_id = $1 AND request_id = $2`
	lockMemberSQL      = `SELECT ` + memberColumns + ` FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3 FOR UPDATE`
	saveMemberSQL      = `
UPDATE group_members SET role = $4, valid_from = $5, valid_to = $6, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3
RETURNING ` + memberColumns
	deleteMemberSQL = `DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3`
	// Periods are half-open: tstzrange's default bounds are [), and a NULL bound is unbounded.
	overlapSQL = `
SELECT EXISTS (SELECT 1 FROM group_members
WHERE tenant_id = $1 AND group_id = $2 AND customer_id = $3 AND member_id <> $4
  AND tstzrange(valid_from, valid_to) && tstzrange($5::timestamptz, $6::timestamptz))`
	asOfCondition = ` AND ($%d::timestamptz IS NULL OR tstzrange(valid_from, valid_to) @> $%d::timestamptz)`
)

// checkOverlap refuses m when it overlaps the customer's other memberships
// of the group; the caller holds the group's lock.
func checkOverlap(ctx context.Context, tx pgx.Tx, caller auth.Caller, m profile.Member) error {
	var overlaps bool
	if err := tx.QueryRow(ctx, overlapSQL, caller.TenantID, m.GroupID, m.CustomerID, m.ID, m.From, m.To).Scan(&overlaps); err != nil {
		return err
	}
	if overlaps {
		return profile.ErrMembershipOverlap
	}
	return nil
}

// CreateMember implements profile.Store.
func (s *Store) CreateMember(ctx context.Context, caller auth.Caller, m profile.Member, requestID string) (profile.Member, error) {
	var saved profile.Member
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := rowOr(ctx, tx, profile.ErrGroupNotFound, scanGroup, lockGroupSQL, caller.TenantID, m.GroupID); err != nil {
			return err
		}
		if err := checkOverlap(ctx, tx, caller, m); err != nil {
			return err
		}
		var isNew bool
		var err error
		saved, isNew, err = pgdb.InsertOnce(ctx, tx, insertMemberSQL, []any{caller.TenantID, m.ID, m.GroupID, m.CustomerID, m.Role, m.From, m.To, requestID},
			memberByRequestSQL, []any{caller.TenantID, requestID}, scanMember)
		if err != nil {
			return err
		}
		if !isNew {
			return errRepeated
		}
		return record(ctx, tx, caller, profile.EventMemberAdded, saved.Resource(), nil, protoconv.Member(saved))
	})
	return created(ctx, s, caller, err, saved, scanMember, memberByRequestSQL, requestID, "group member")
}

// ListMembers implements profile.Store.
func (s *Store) ListMembers(ctx context.Context, caller auth.Caller, groupID uuid.UUID, asOf *time.Time, q profile.PageQuery) ([]profile.Member, string, error) {
	return listPage(ctx, s, caller, memberColumns, "group_members", "tenant_id = $1 AND group_id = $2"+fmt.Sprintf(asOfCondition, 3, 3),
		[]any{groupID, asOf}, "create_time", "member_id", false, fmt.Sprintf("gm|%s|%v", groupID, asOf), q, scanMember, memberKey)
}

// ListMemberships implements profile.Store.
func (s *Store) ListMemberships(ctx context.Context, caller auth.Caller, customerID uuid.UUID, asOf *time.Time, q profile.PageQuery) ([]profile.Member, string, error) {
	return listPage(ctx, s, caller, memberColumns, "group_members", "tenant_id = $1 AND customer_id = $2"+fmt.Sprintf(asOfCondition, 3, 3),
		[]any{customerID, asOf}, "create_time", "member_id", false, fmt.Sprintf("cm|%s|%v", customerID, asOf), q, scanMember, memberKey)
}

// MutateMember implements profile.Store.
func (s *Store) MutateMember(ctx context.Context, caller auth.Caller, groupID, id uuid.UUID, m func(*profile.Member) error) (profile.Member, error) {
	var saved profile.Member
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := rowOr(ctx, tx, profile.ErrGroupNotFound, scanGroup, lockGroupSQL, caller.TenantID, groupID); err != nil {
			return err
		}
		before, err := rowOr(ctx, tx, profile.ErrMemberNotFound, scanMember, lockMemberSQL, caller.TenantID, groupID, id)
		if err != nil {
			return err
		}
		mem := before
		if err := m(&mem); err != nil {
			return err
		}
		if err := checkOverlap(ctx, tx, caller, mem); err != nil {
			return err
		}
		if saved, err = rowOr(ctx, tx, profile.ErrMemberNotFound, scanMember, saveMemberSQL, caller.TenantID, groupID, id, mem.Role, mem.From, mem.To); err != nil {
			return err
		}
		return record(ctx, tx, caller, profile.EventMemberUpdated, saved.Resource(), protoconv.Member(before), protoconv.Member(saved))
	})
	if err != nil {
		return profile.Member{}, fmt.Errorf("change group member %s: %w", id, err)
	}
	return saved, nil
}

// DeleteMember implements profile.Store.
func (s *Store) DeleteMember(ctx context.Context, caller auth.Caller, groupID, id uuid.UUID, check func(profile.Member) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := rowOr(ctx, tx, profile.ErrGroupNotFound, scanGroup, lockGroupSQL, caller.TenantID, groupID); err != nil {
			return err
		}
		mem, err := rowOr(ctx, tx, profile.ErrMemberNotFound, scanMember, lockMemberSQL, caller.TenantID, groupID, id)
		if err != nil {
			return err
		}
		if err := check(mem); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteMemberSQL, caller.TenantID, groupID, id); err != nil {
			return err
		}
		msg := protoconv.Member(mem)
		return record(ctx, tx, caller, profile.EventMemberRemoved, mem.Resource(), msg, msg)
	})
	if err != nil {
		return fmt.Errorf("delete group member %s: %w", id, err)
	}
	return nil
}

// Relationships.

const relationshipColumns = `relationship_id, from_customer_id, to_customer_id, type, custom_label, valid_from, valid_to, note, create_time, update_time, revision`

func scanRelationship(row pgx.CollectableRow) (profile.Relationship, error) {
	var r profile.Relationship
	return r, row.Scan(&r.ID, &r.FromID, &r.ToID, &r.Type, &r.CustomLabel, &r.From, &r.To, &r.Note, &r.CreateTime, &r.UpdateTime, &r.Revision)
}

const (
	insertRelationshipSQL = `
INSERT INTO relationships (tenant_id, relationship_id, from_customer_id, to_customer_id, type, custom_label, valid_from, valid_to, note, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + relationshipColumns
	relationshipByRequestSQL = `SELECT ` + relationshipColumns + ` FROM relationships WHERE tenant_id = $1 AND request_id = $2`
	relationshipSQL          = `SELECT ` + relationshipColumns + ` FROM relationships WHERE tenant_id = $1 AND relationship_id = $2`
	lockRelationshipSQL      = relationshipSQL + ` FOR UPDATE`
	saveRelationshipSQL      = `
UPDATE relationships SET valid_from = $3, valid_to = $4, note = $5, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND relationship_id = $2
RETURNING ` + relationshipColumns
	deleteRelationshipSQL = `DELETE FROM relationships WHERE tenant_id = $1 AND relationship_id = $2`
)

// CreateRelationship implements profile.Store.
func (s *Store) CreateRelationship(ctx context.Context, caller auth.Caller, r profile.Relationship, requestID string) (profile.Relationship, error) {
	var saved profile.Relationship
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var isNew bool
		var err error
		saved, isNew, err = pgdb.InsertOnce(ctx, tx, insertRelationshipSQL, []any{caller.TenantID, r.ID, r.FromID, r.ToID, r.Type, r.CustomLabel,
			r.From, r.To, r.Note, requestID}, relationshipByRequestSQL, []any{caller.TenantID, requestID}, scanRelationship)
		if err != nil || !isNew {
			return err
		}
		return record(ctx, tx, caller, profile.EventRelationshipCreated, saved.Resource(), nil, protoconv.Relationship(saved))
	})
	return created(ctx, s, caller, err, saved, scanRelationship, relationshipByRequestSQL, requestID, "relationship")
}

// Relationship implements profile.Store.
func (s *Store) Relationship(ctx context.Context, caller auth.Caller, id uuid.UUID) (profile.Relationship, error) {
	r, err := read(ctx, s, caller, profile.ErrRelationshipNotFound, scanRelationship, relationshipSQL, id)
	if err != nil {
		return r, fmt.Errorf("get relationship %s: %w", id, err)
	}
	return r, nil
}

// ListRelationships implements profile.Store.
func (s *Store) ListRelationships(ctx context.Context, caller auth.Caller, customerID uuid.UUID, dir profile.Direction, asOf *time.Time, q profile.PageQuery) ([]profile.Relationship, string, error) {
	side := "(from_customer_id = $2 OR to_customer_id = $2)"
	switch dir {
	case profile.Outgoing:
		side = "from_customer_id = $2"
	case profile.Incoming:
		side = "to_customer_id = $2"
	}
	return listPage(ctx, s, caller, relationshipColumns, "relationships", "tenant_id = $1 AND "+side+fmt.Sprintf(asOfCondition, 3, 3),
		[]any{customerID, asOf}, "create_time", "relationship_id", false, fmt.Sprintf("rel|%s|%d|%v", customerID, dir, asOf), q, scanRelationship,
		func(r profile.Relationship) (time.Time, uuid.UUID) { return r.CreateTime, r.ID })
}

// MutateRelationship implements profile.Store.
func (s *Store) MutateRelationship(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*profile.Relationship) error) (profile.Relationship, error) {
	var saved profile.Relationship
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := rowOr(ctx, tx, profile.ErrRelationshipNotFound, scanRelationship, lockRelationshipSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		r := before
		if err := m(&r); err != nil {
			return err
		}
		if saved, err = rowOr(ctx, tx, profile.ErrRelationshipNotFound, scanRelationship, saveRelationshipSQL, caller.TenantID, id, r.From, r.To, r.Note); err != nil {
			return err
		}
		return record(ctx, tx, caller, profile.EventRelationshipUpdated, saved.Resource(), protoconv.Relationship(before), protoconv.Relationship(saved))
	})
	if err != nil {
		return profile.Relationship{}, fmt.Errorf("change relationship %s: %w", id, constraintError(err))
	}
	return saved, nil
}

// DeleteRelationship implements profile.Store.
func (s *Store) DeleteRelationship(ctx context.Context, caller auth.Caller, id uuid.UUID, check func(profile.Relationship) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		r, err := rowOr(ctx, tx, profile.ErrRelationshipNotFound, scanRelationship, lockRelationshipSQL, caller.TenantID, id)
		if err != nil {
			return err
		}
		if err := check(r); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, deleteRelationshipSQL, caller.TenantID, id); err != nil {
			return err
		}
		msg := protoconv.Relationship(r)
		return record(ctx, tx, caller, profile.EventRelationshipDeleted, r.Resource(), msg, msg)
	})
	if err != nil {
		return fmt.Errorf("delete relationship %s: %w", id, err)
	}
	return nil
}

// Consent.

const consentColumns = `customer_id, channel, purpose, state, source, principal_id, consent_record_id, record_time`

func scanConsent(row pgx.CollectableRow) (profile.Consent, error) {
	var c profile.Consent
	return c, row.Scan(&c.CustomerID, &c.Channel, &c.Purpose, &c.State, &c.Source, &c.PrincipalID, &c.RecordID, &c.RecordTime)
}

const (
	currentConsentSQL = `SELECT ` + consentColumns + ` FROM consents WHERE tenant_id = $1 AND customer_id = $2 AND channel = $3 AND purpose = $4`
	insertConsentSQL  = `
INSERT INTO consent_records (tenant_id, consent_record_id, customer_id, channel, purpose, state, source, principal_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING ` + consentColumns
	upsertConsentSQL = `
INSERT INTO consents (tenant_id, customer_id, channel, purpose, state, source, principal_id, consent_record_id, record_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (tenant_id, customer_id, channel, purpose) DO UPDATE
SET state = excluded.state, source = excluded.source, principal_id = excluded.principal_id,
    consent_record_id = excluded.consent_record_id, record_time = excluded.record_time`
	consentsSQL = `SELECT ` + consentColumns + ` FROM consents WHERE tenant_id = $1 AND customer_id = $2 ORDER BY channel, purpose`
)

// SetConsent implements profile.Store. The customer's row lock orders
// decisions about one customer.
func (s *Store) SetConsent(ctx context.Context, caller auth.Caller, c profile.Consent) (profile.Consent, error) {
	var saved profile.Consent
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if _, err := lockLiveCustomer(ctx, tx, caller, c.CustomerID); err != nil {
			return err
		}
		previous, err := rowOr(ctx, tx, pgx.ErrNoRows, scanConsent, currentConsentSQL, caller.TenantID, c.CustomerID, c.Channel, c.Purpose)
		hadPrevious := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		saved, err = rowOr(ctx, tx, pgx.ErrNoRows, scanConsent, insertConsentSQL, caller.TenantID, c.RecordID, c.CustomerID, c.Channel, c.Purpose, c.State, c.Source, c.PrincipalID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, upsertConsentSQL, caller.TenantID, saved.CustomerID, saved.Channel, saved.Purpose, saved.State, saved.Source,
			saved.PrincipalID, saved.RecordID, saved.RecordTime); err != nil {
			return err
		}
		typ := profile.EventConsentChanged
		var before proto.Message
		if hadPrevious {
			before = protoconv.Consent(previous)
			if previous.State == saved.State {
				typ = profile.EventConsentConfirmed
			}
		}
		return record(ctx, tx, caller, typ, saved.Resource(), before, protoconv.Consent(saved))
	})
	if err != nil {
		return profile.Consent{}, fmt.Errorf("set consent of customer %s: %w", c.CustomerID, err)
	}
	return saved, nil
}

// Consents implements profile.Store.
func (s *Store) Consents(ctx context.Context, caller auth.Caller, customerID uuid.UUID) ([]profile.Consent, error) {
	out, err := pgdb.Rows(ctx, s.pool, caller.TenantID, consentsSQL, []any{caller.TenantID, customerID}, scanConsent)
	if err != nil {
		return nil, fmt.Errorf("list consents of customer %s: %w", customerID, err)
	}
	return out, nil
}

// ConsentHistory implements profile.Store.
func (s *Store) ConsentHistory(ctx context.Context, caller auth.Caller, customerID uuid.UUID, ch profile.Channel, p profile.Purpose, q profile.PageQuery) ([]profile.Consent, string, error) {
	return listPage(ctx, s, caller, consentColumns, "consent_records",
		"tenant_id = $1 AND customer_id = $2 AND ($3 = 0 OR channel = $3) AND ($4 = 0 OR purpose = $4)",
		[]any{customerID, ch, p}, "record_time", "consent_record_id", true, fmt.Sprintf("ch|%s|%d|%d", customerID, ch, p), q, scanConsent,
		func(c profile.Consent) (time.Time, uuid.UUID) { return c.RecordTime, c.RecordID })
}

// Custom attribute schema.

const attributeColumns = `key, type, display_name, description, allowed_values, required, max_length, create_time, update_time, revision`

func scanAttributeDef(row pgx.CollectableRow) (customer.AttributeDef, error) {
	var d customer.AttributeDef
	return d, row.Scan(&d.Key, &d.Type, &d.DisplayName, &d.Description, &d.AllowedValues, &d.Required, &d.MaxLength, &d.CreateTime, &d.UpdateTime, &d.Revision)
}

const (
	insertAttributeSQL = `
INSERT INTO custom_attribute_definitions (tenant_id, key, type, display_name, description, allowed_values, required, max_length)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant_id, key) DO NOTHING
RETURNING ` + attributeColumns
	attributeSQL     = `SELECT ` + attributeColumns + ` FROM custom_attribute_definitions WHERE tenant_id = $1 AND key = $2`
	lockAttributeSQL = attributeSQL + ` FOR UPDATE`
	attributesSQL    = `SELECT ` + attributeColumns + ` FROM custom_attribute_definitions WHERE tenant_id = $1 ORDER BY key`
	attributePageSQL = `SELECT ` + attributeColumns + ` FROM custom_attribute_definitions WHERE tenant_id = $1 AND key > $2 ORDER BY key LIMIT $3`
	saveAttributeSQL = `
UPDATE custom_attribute_definitions SET display_name = $3, description = $4, allowed_values = $5, required = $6, max_length = $7,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND key = $2
RETURNING ` + attributeColumns
	attributeInUseSQL  = `SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND custom_attributes ? $2)`
	deleteAttributeSQL = `DELETE FROM custom_attribute_definitions WHERE tenant_id = $1 AND key = $2`
)

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AttributeDefs implements customer.Schema.
func (s *Store) AttributeDefs(ctx context.Context, caller auth.Caller) ([]customer.AttributeDef, error) {
	out, err := pgdb.Rows(ctx, s.pool, caller.TenantID, attributesSQL, []any{caller.TenantID}, scanAttributeDef)
	if err != nil {
		return nil, fmt.Errorf("read custom attribute schema: %w", err)
	}
	return out, nil
}

// CreateAttributeDef implements profile.Store.
func (s *Store) CreateAttributeDef(ctx context.Context, caller auth.Caller, d customer.AttributeDef) (customer.AttributeDef, error) {
	var saved customer.AttributeDef
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		var err error
		saved, err = rowOr(ctx, tx, profile.ErrAttributeExists, scanAttributeDef, insertAttributeSQL, caller.TenantID, d.Key, d.Type,
			d.DisplayName, d.Description, nonNil(d.AllowedValues), d.Required, d.MaxLength)
		if err != nil {
			return err
		}
		return record(ctx, tx, caller, profile.EventAttributeCreated, profile.AttributeResource(saved.Key), nil, protoconv.AttributeDef(saved))
	})
	if err != nil {
		return customer.AttributeDef{}, fmt.Errorf("create custom attribute %s: %w", d.Key, err)
	}
	return saved, nil
}

// AttributeDef implements profile.Store.
func (s *Store) AttributeDef(ctx context.Context, caller auth.Caller, key string) (customer.AttributeDef, error) {
	d, err := read(ctx, s, caller, profile.ErrAttributeNotFound, scanAttributeDef, attributeSQL, key)
	if err != nil {
		return d, fmt.Errorf("get custom attribute %s: %w", key, err)
	}
	return d, nil
}

// ListAttributeDefs implements profile.Store with keyset pagination on the key.
func (s *Store) ListAttributeDefs(ctx context.Context, caller auth.Caller, q profile.PageQuery) ([]customer.AttributeDef, string, error) {
	after := ""
	if q.Token != "" {
		if err := pagetoken.Decode(q.Token, "attrs", &after); err != nil {
			return nil, "", validation.Field("page_token", "is not a token from this query; start again without it")
		}
	}
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, attributePageSQL, []any{caller.TenantID, after, q.Size + 1}, scanAttributeDef)
	if err != nil {
		return nil, "", fmt.Errorf("list custom attributes: %w", err)
	}
	if len(rows) <= q.Size {
		return rows, "", nil
	}
	rows = rows[:q.Size]
	next, err := pagetoken.Encode("attrs", rows[q.Size-1].Key)
	return rows, next, err
}

// MutateAttributeDef implements profile.Store.
func (s *Store) MutateAttributeDef(ctx context.Context, caller auth.Caller, key string, m func(*customer.AttributeDef) error) (customer.AttributeDef, error) {
	var saved customer.AttributeDef
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := rowOr(ctx, tx, profile.ErrAttributeNotFound, scanAttributeDef, lockAttributeSQL, caller.TenantID, key)
		if err != nil {
			return err
		}
		d := before
		d.AllowedValues = slices.Clone(before.AllowedValues)
		if err := m(&d); err != nil {
			return err
		}
		saved, err = rowOr(ctx, tx, profile.ErrAttributeNotFound, scanAttributeDef, saveAttributeSQL, caller.TenantID, key,
			d.DisplayName, d.Description, nonNil(d.AllowedValues), d.Required, d.MaxLength)
		if err != nil {
			return err
		}
		return record(ctx, tx, caller, profile.EventAttributeUpdated, profile.AttributeResource(key), protoconv.AttributeDef(before), protoconv.AttributeDef(saved))
	})
	if err != nil {
		return customer.AttributeDef{}, fmt.Errorf("change custom attribute %s: %w", key, err)
	}
	return saved, nil
}

// DeleteAttributeDef implements profile.Store.
func (s *Store) DeleteAttributeDef(ctx context.Context, caller auth.Caller, key string, check func(customer.AttributeDef) error) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		d, err := rowOr(ctx, tx, profile.ErrAttributeNotFound, scanAttributeDef, lockAttributeSQL, caller.TenantID, key)
		if err != nil {
			return err
		}
		if err := check(d); err != nil {
			return err
		}
		var inUse bool
		if err := tx.QueryRow(ctx, attributeInUseSQL, caller.TenantID, key).Scan(&inUse); err != nil {
			return err
		}
		if inUse {
			return profile.ErrAttributeInUse
		}
		if _, err := tx.Exec(ctx, deleteAttributeSQL, caller.TenantID, key); err != nil {
			return err
		}
		msg := protoconv.AttributeDef(d)
		return record(ctx, tx, caller, profile.EventAttributeDeleted, profile.AttributeResource(key), msg, msg)
	})
	if err != nil {
		return fmt.Errorf("delete custom attribute %s: %w", key, err)
	}
	return nil
}
