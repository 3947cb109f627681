package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// Credentials gives the partner service's own bearer credential in a
// tenant (iamclient.TenantDirectory does).
type Credentials interface {
	Credential(ctx context.Context, tenant uuid.UUID) (string, error)
}

// Figures implements scorecard.Opportunities and finance.Orders for
// scorecards on the partner service's own authority, in the caller's
// tenant: the scorecard domain has already checked that the caller may see
// the partner, and the sales-pipeline service shows partner users no
// orders, so their credentials could not read their own partner's revenue.
type Figures struct {
	opportunities *Client
	orders        *Orders
	creds         Credentials
}

// NewFigures returns the scorecard figures client over conn.
func NewFigures(conn grpc.ClientConnInterface, creds Credentials) *Figures {
	return &Figures{opportunities: New(conn), orders: NewOrders(conn), creds: creds}
}

// asService puts the service's credential for the caller's tenant on the
// outgoing calls of ctx (the forwarding interceptor leaves an explicit one).
func (f *Figures) asService(ctx context.Context) (context.Context, error) {
	caller, ok := auth.CallerFrom(ctx)
	if !ok {
		return nil, fmt.Errorf("%w: no caller to read scorecard figures for", finance.ErrPeer)
	}
	tenant, err := uuid.Parse(caller.TenantID)
	if err != nil {
		return nil, fmt.Errorf("%w: tenant %q: %w", finance.ErrPeer, caller.TenantID, err)
	}
	token, err := f.creds.Credential(ctx, tenant)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, errors.Join(err, ctxErr)
		}
		return nil, fmt.Errorf("%w: service credential: %w", finance.ErrPeer, err)
	}
	return grpcclient.WithBearer(ctx, token), nil
}

// Sourced implements scorecard.Opportunities.
func (f *Figures) Sourced(ctx context.Context, partner uuid.UUID, fn func(scorecard.Opportunity) error) error {
	ctx, err := f.asService(ctx)
	if err != nil {
		return err
	}
	return f.opportunities.Sourced(ctx, partner, fn)
}

// Attributed implements finance.Orders.
func (f *Figures) Attributed(ctx context.Context, partner uuid.UUID, from, to time.Time, fn func(finance.Order) error) error {
	ctx, err := f.asService(ctx)
	if err != nil {
		return err
	}
	return f.orders.Attributed(ctx, partner, from, to, fn)
}
