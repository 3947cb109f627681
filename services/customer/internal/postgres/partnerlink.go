package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/partnerlink"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

func scanLink(row pgx.CollectableRow) (partnerlink.Link, error) {
	var l partnerlink.Link
	err := row.Scan(&l.CustomerID, &l.PartnerID, &l.LinkTime)
	return l, err
}

const (
	insertLinkSQL = `
INSERT INTO customer_partners (tenant_id, customer_id, partner_id) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING customer_id, partner_id, link_time`
	linkSQL       = `SELECT customer_id, partner_id, link_time FROM customer_partners WHERE tenant_id = $1 AND customer_id = $2 AND partner_id = $3`
	deleteLinkSQL = `DELETE FROM customer_partners WHERE tenant_id = $1 AND customer_id = $2 AND partner_id = $3
RETURNING customer_id, partner_id, link_time`
	listLinksSQL = `SELECT customer_id, partner_id, link_time FROM customer_partners
WHERE tenant_id = $1 AND customer_id = $2 AND partner_id > $3 ORDER BY partner_id LIMIT $4`
)

// customerVisible reads the customer under the caller's record-access
// policy (customerVisibleSQL), so a caller touches only links of customers
// it may see.
func customerVisible(ctx context.Context, tx pgx.Tx, tenant string, id uuid.UUID) error {
	var ok bool
	if err := tx.QueryRow(ctx, customerVisibleSQL, tenant, id).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return customer.ErrNotFound
	}
	return nil
}

// LinkPartner implements partnerlink.Store.
func (s *Store) LinkPartner(ctx context.Context, caller auth.Caller, l partnerlink.Link) (partnerlink.Link, bool, error) {
	var saved partnerlink.Link
	created := false
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if err := customerVisible(ctx, tx, caller.TenantID, l.CustomerID); err != nil {
			return err
		}
		var err error
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertLinkSQL, []any{caller.TenantID, l.CustomerID, l.PartnerID},
			linkSQL, []any{caller.TenantID, l.CustomerID, l.PartnerID}, scanLink)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: partnerlink.EventLinked,
			Resource: saved.Resource(), After: protoconv.PartnerLink(saved),
		})
	})
	if err != nil {
		return partnerlink.Link{}, false, fmt.Errorf("link customer %s to partner %s: %w", l.CustomerID, l.PartnerID, err)
	}
	return saved, created, nil
}

// UnlinkPartner implements partnerlink.Store.
func (s *Store) UnlinkPartner(ctx context.Context, caller auth.Caller, customerID, partnerID uuid.UUID) error {
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if err := customerVisible(ctx, tx, caller.TenantID, customerID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, deleteLinkSQL, caller.TenantID, customerID, partnerID)
		if err != nil {
			return err
		}
		gone, err := pgx.CollectExactlyOneRow(rows, scanLink)
		if errors.Is(err, pgx.ErrNoRows) {
			return partnerlink.ErrNotFound
		}
		if err != nil {
			return err
		}
		// The event carries the removed link so consumers know which one went.
		return outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: partnerlink.EventUnlinked,
			Resource: gone.Resource(), Before: protoconv.PartnerLink(gone), After: protoconv.PartnerLink(gone),
		})
	})
	if err != nil {
		return fmt.Errorf("unlink customer %s from partner %s: %w", customerID, partnerID, err)
	}
	return nil
}

// PartnerLinks implements partnerlink.Store.
func (s *Store) PartnerLinks(ctx context.Context, caller auth.Caller, customerID, after uuid.UUID, limit int) ([]partnerlink.Link, error) {
	var links []partnerlink.Link
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if err := customerVisible(ctx, tx, caller.TenantID, customerID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, listLinksSQL, caller.TenantID, customerID, after, limit)
		if err != nil {
			return err
		}
		links, err = pgx.CollectRows(rows, scanLink)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list partner links of customer %s: %w", customerID, err)
	}
	return links, nil
}

var _ partnerlink.Store = (*Store)(nil)
