package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Events of opportunities; each carries the opportunity as its payload.
const (
	EventCreated      = "opportunity.created"
	EventUpdated      = "opportunity.updated"
	EventStageChanged = "opportunity.stage_changed"
	EventDeleted      = "opportunity.deleted"
	EventUndeleted    = "opportunity.undeleted"
)

// Who may do what. Support agents see the pipeline to help customers but do
// not sell; partner users read the opportunities their partner registered.
// Sales reps change the opportunities they or their teams own (and hand
// them only to themselves); managers and admins change any they see. Which rows each caller sees is the database's
// record_access policy (migration 00041): reps their own and their teams',
// managers their teams' and the unowned ones.
var (
	readers        = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst, auth.RoleSupportAgent, auth.RolePartnerUser}
	writers        = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep}
	anyOwner       = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	catalogWriters = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// Service holds the pipeline use cases.
type Service struct {
	store     Store
	customers Customers
	now       func() time.Time
}

// New returns a Service over store that checks customers with customers.
func New(store Store, customers Customers) *Service {
	return &Service{store: store, customers: customers, now: func() time.Time {
		// PostgreSQL keeps microseconds; rounding here keeps what is returned
		// equal to what a later read gives.
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
}

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// ownsOrManages reports whether the caller may own, or hand out, an
// opportunity owned by owner: admins and managers any, reps only themselves.
func ownsOrManages(c auth.Caller, owner *uuid.UUID) bool {
	return c.HasAny(anyOwner...) || (owner != nil && owner.String() == c.PrincipalID)
}

// ownsOrShares reports whether the caller may change o: what it may own,
// and a rep also what its team owns.
func ownsOrShares(c auth.Caller, o Opportunity) bool {
	if ownsOrManages(c, o.OwnerID) {
		return true
	}
	for _, t := range o.OwnerTeamIDs {
		if slices.Contains(c.TeamIDs, t.String()) {
			return true
		}
	}
	return false
}

func checkEtag(current, etag string) error {
	if etag != "" && etag != current {
		return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, current)
	}
	return nil
}

func checkMask(mask, updatable []string) error {
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if !slices.Contains(updatable, f) {
			v.Add("update_mask", "%q cannot be updated; updatable fields: %v", f, updatable)
		}
	}
	return v.Err()
}

func checkRequestID(requestID string, v *validation.Error) {
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
}

// Page sizes of lists.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

func pageSizeOf(n int) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return defaultPageSize, nil
	}
	return min(n, maxPageSize), nil
}

// Create validates and stores a new opportunity for an existing customer,
// on the given or default pipeline, in the given or mapped or first stage.
func (s *Service) Create(ctx context.Context, caller auth.Caller, o Opportunity, requestID string) (Opportunity, error) {
	if err := allow(caller, writers); err != nil {
		return Opportunity{}, err
	}
	if o.OwnerID == nil && !caller.HasAny(anyOwner...) {
		if id, err := uuid.Parse(caller.PrincipalID); err == nil {
			o.OwnerID = &id
		}
	}
	if !ownsOrManages(caller, o.OwnerID) {
		return Opportunity{}, fmt.Errorf("%w: sales reps create opportunities they own", auth.ErrForbidden)
	}
	if err := setOwnerTeams(caller, &o, o.OwnerTeamIDs); err != nil {
		return Opportunity{}, err
	}
	now := s.now()
	o.normalize()
	if o.EngageDate == "" {
		// Today, unless the deal is history being imported: then its close date.
		o.EngageDate = now.Format(time.DateOnly)
		if o.ExpectedCloseDate != "" && o.ExpectedCloseDate < o.EngageDate {
			o.EngageDate = o.ExpectedCloseDate
		}
	}
	v := &validation.Error{}
	o.validate("opportunity.", v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Opportunity{}, err
	}
	// A retry returns its first result before asking the customer service,
	// so it succeeds even if the customer was deleted since or the customer
	// service is briefly down. Store.Create still settles concurrent retries.
	if requestID != "" {
		earlier, err := s.store.ByRequestID(ctx, caller, requestID)
		if err == nil {
			return earlier, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Opportunity{}, err
		}
	}
	ok, err := s.customers.Exists(ctx, o.CustomerID)
	if err != nil {
		return Opportunity{}, fmt.Errorf("check customer %s: %w", o.CustomerID, err)
	}
	if !ok {
		return Opportunity{}, validation.Field("opportunity.customer_id", "no such customer")
	}
	o.ID = uuid.Must(uuid.NewV7())
	saved, err := s.store.Create(ctx, caller, requestID, func(ctx context.Context, cat Catalog) (Opportunity, error) {
		var p Pipeline
		var err error
		if o.PipelineID == uuid.Nil {
			p, err = cat.DefaultPipeline(ctx, o.Amount.CurrencyCode)
		} else {
			p, err = cat.Pipeline(ctx, o.PipelineID)
		}
		if errors.Is(err, ErrPipelineNotFound) || (err == nil && p.DeleteTime != nil) {
			return Opportunity{}, validation.Field("opportunity.pipeline_id", "no such pipeline")
		}
		if err != nil {
			return Opportunity{}, err
		}
		o.PipelineID = p.ID
		stage := p.stageFor(o.Stage)
		if o.StageID != uuid.Nil {
			var ok bool
			if stage, ok = p.Stage(o.StageID); !ok {
				return Opportunity{}, validation.Field("opportunity.stage_id", "is not a stage of the opportunity's pipeline")
			}
		}
		if err := s.price(ctx, cat, &o, now, "opportunity."); err != nil {
			return Opportunity{}, err
		}
		if err := enter(&o, p, stage, o.CloseReason, now, "opportunity."); err != nil {
			return Opportunity{}, err
		}
		return o, nil
	})
	if err != nil {
		return Opportunity{}, err
	}
	return saved, nil
}

// price fills line ids, unit prices from the price list and line totals,
// and sets the amount to their sum when there are lines.
func (s *Service) price(ctx context.Context, cat Catalog, o *Opportunity, now time.Time, prefix string) error {
	v := &validation.Error{}
	if o.PriceListID != nil {
		l, err := cat.PriceList(ctx, *o.PriceListID)
		switch {
		case errors.Is(err, ErrPriceListNotFound):
			v.Add(prefix+"price_list_id", "no such price list")
		case err != nil:
			return err
		case l.CurrencyCode != o.Amount.CurrencyCode:
			v.Add(prefix+"price_list_id", "is in %s, the opportunity in %s", l.CurrencyCode, o.Amount.CurrencyCode)
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	today := now.Format(time.DateOnly)
	var sum int64
	for i := range o.LineItems {
		l := &o.LineItems[i]
		f := fmt.Sprintf("%sline_items[%d].", prefix, i)
		if l.ID == uuid.Nil {
			l.ID = uuid.Must(uuid.NewV7())
		}
		p, err := cat.Product(ctx, l.ProductID)
		switch {
		case errors.Is(err, ErrProductNotFound):
			v.Add(f+"product_id", "no such product")
			continue
		case err != nil:
			return err
		case !p.Active:
			v.Add(f+"product_id", "is an inactive product")
			continue
		}
		if !l.PriceOverridden {
			if o.PriceListID == nil {
				v.Add(f+"unit_price_minor", "needs a price list (price_list_id) or an overridden price")
				continue
			}
			unit, ok, err := cat.Price(ctx, *o.PriceListID, l.ProductID, today)
			if err != nil {
				return err
			}
			if !ok {
				v.Add(f+"product_id", "has no price in the price list on %s", today)
				continue
			}
			l.UnitPriceMinor = unit
		}
		total, ok := LineTotal(l.Quantity, l.UnitPriceMinor, l.DiscountBps)
		if !ok || sum > math.MaxInt64-total {
			v.Add(f+"quantity", "makes the amount too large")
			continue
		}
		l.TotalMinor = total
		sum += total
	}
	if len(o.LineItems) > 0 {
		o.Amount.AmountMinor = sum
	}
	return v.Err()
}

// LineTotal is quantity × unit less discountBps basis points, the discount
// rounded half up; ok is false on overflow.
func LineTotal(quantity, unit int64, discountBps int32) (int64, bool) {
	if unit != 0 && quantity > math.MaxInt64/unit {
		return 0, false
	}
	gross := quantity * unit
	// gross × bps could overflow: split gross into quotient and remainder by 10000.
	q, r := gross/10000, gross%10000
	discount := q*int64(discountBps) + (r*int64(discountBps)+5000)/10000
	return gross - discount, true
}

// enter puts o into stage of p at now, checking the stage's entry criteria
// and, for won and lost stages, the close reason.
func enter(o *Opportunity, p Pipeline, stage PipelineStage, reason string, now time.Time, prefix string) error {
	v := &validation.Error{}
	for _, f := range stage.RequiredFields {
		if !hasField(*o, f) {
			v.Add(prefix+f, "is required to enter stage %q", stage.DisplayName)
		}
	}
	o.CloseReason, o.CloseTime = "", nil
	if stage.Kind.Closed() {
		reasons := p.WonReasons
		if stage.Kind == StageKindLost {
			reasons = p.LostReasons
		}
		switch {
		case len(reasons) > 0 && reason == "":
			v.Add("close_reason", "is required to enter stage %q; one of: %v", stage.DisplayName, reasons)
		case len(reasons) > 0 && !slices.Contains(reasons, reason):
			v.Add("close_reason", "must be one of the pipeline's reasons: %v", reasons)
		case len(reasons) == 0 && reason != "":
			v.Add("close_reason", "the pipeline lists no reasons for this stage")
		}
		o.CloseReason, o.CloseTime = reason, &now
	}
	o.StageID, o.StageKind, o.Stage, o.StageEnterTime = stage.ID, stage.Kind, stage.LegacyStage, now
	return v.Err()
}

// hasField reports whether o has a value for one of RequiredFields.
func hasField(o Opportunity, f string) bool {
	switch f {
	case "amount":
		return o.Amount.AmountMinor > 0
	case "expected_close_date":
		return o.ExpectedCloseDate != ""
	case "owner_id":
		return o.OwnerID != nil
	case "source_partner_id":
		return o.SourcePartnerID != nil
	case "line_items":
		return len(o.LineItems) > 0
	case "price_list_id":
		return o.PriceListID != nil
	case "external_id":
		return o.ExternalID != ""
	}
	return false
}

// Get returns an opportunity.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Opportunity, error) {
	if err := allow(caller, readers); err != nil {
		return Opportunity{}, err
	}
	return s.store.Get(ctx, caller, id)
}

// List returns a page of opportunities.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	n, err := pageSizeOf(q.PageSize)
	if err != nil {
		return Page{}, err
	}
	q.PageSize = n
	if !slices.Contains(OpportunityOrders, q.OrderBy) {
		return Page{}, validation.Field("order_by", "must be one of %q", OpportunityOrders[1:])
	}
	return s.store.List(ctx, caller, q)
}

var opportunityUpdatable = []string{"display_name", "amount", "expected_close_date", "engage_date", "owner_id",
	"owner_team_ids", "source_partner_id", "external_id", "price_list_id", "line_items", "forecast_category", "campaign_id"}

// setOwnerTeams keeps on o the teams of its owner: those stated (admins
// only) or else the caller's, as the pipeline service keeps no principals
// to look them up in (the caller setting an owner is that owner, or a
// manager handing out within the team).
func setOwnerTeams(caller auth.Caller, o *Opportunity, stated []uuid.UUID) error {
	if len(stated) > 0 {
		if !caller.HasAny(auth.RoleAdmin) {
			return fmt.Errorf("%w: only admins state the owner's teams", auth.ErrForbidden)
		}
		o.OwnerTeamIDs = stated
		return nil
	}
	o.OwnerTeamIDs = make([]uuid.UUID, 0, len(caller.TeamIDs))
	for _, t := range caller.TeamIDs {
		// A team id that is no UUID names no team here.
		if id, err := uuid.Parse(t); err == nil {
			o.OwnerTeamIDs = append(o.OwnerTeamIDs, id)
		}
	}
	return nil
}

// Update changes the fields in mask to in's values; the current stage's
// entry criteria must still hold afterwards.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Opportunity, mask []string, etag string) (Opportunity, error) {
	if err := allow(caller, writers); err != nil {
		return Opportunity{}, err
	}
	// Clients echo a read back; its derived amount fields then ride along.
	mask = expandMask(mask)
	if err := checkMask(mask, opportunityUpdatable); err != nil {
		return Opportunity{}, err
	}
	now := s.now()
	saved, err := s.store.Mutate(ctx, caller, in.ID, func(ctx context.Context, cat Catalog, o *Opportunity) (Effect, error) {
		if err := s.mayChange(caller, *o, etag); err != nil {
			return Effect{}, err
		}
		before := o.OwnerID
		e := Effect{Event: EventUpdated}
		for _, f := range mask {
			switch f {
			case "display_name":
				o.DisplayName = in.DisplayName
			case "amount":
				o.Amount = in.Amount
			case "expected_close_date":
				o.ExpectedCloseDate = in.ExpectedCloseDate
			case "engage_date":
				o.EngageDate = in.EngageDate
			case "owner_id":
				if !sameID(o.OwnerID, in.OwnerID) && !slices.Contains(mask, "owner_team_ids") {
					if err := setOwnerTeams(caller, o, nil); err != nil {
						return Effect{}, err
					}
				}
				o.OwnerID = in.OwnerID
			case "owner_team_ids":
				if err := setOwnerTeams(caller, o, in.OwnerTeamIDs); err != nil {
					return Effect{}, err
				}
			case "source_partner_id":
				o.SourcePartnerID = in.SourcePartnerID
			case "external_id":
				o.ExternalID = in.ExternalID
			case "price_list_id":
				o.PriceListID = in.PriceListID
			case "line_items":
				o.LineItems, e.LinesChanged = in.LineItems, true
			case "forecast_category":
				o.ForecastCategory = in.ForecastCategory
			case "campaign_id":
				o.CampaignID = in.CampaignID
			}
		}
		if !sameID(before, o.OwnerID) && !ownsOrManages(caller, o.OwnerID) {
			return Effect{}, fmt.Errorf("%w: sales reps cannot hand opportunities to others", auth.ErrForbidden)
		}
		o.normalize()
		v := &validation.Error{}
		if o.EngageDate == "" {
			v.Add("opportunity.engage_date", "is required")
		}
		o.validate("opportunity.", v)
		if err := v.Err(); err != nil {
			return Effect{}, err
		}
		// Repricing only when lines, list or currency change keeps saved
		// prices stable while the price list moves on.
		if e.LinesChanged || slices.Contains(mask, "price_list_id") || slices.Contains(mask, "amount") {
			for i := range o.LineItems {
				o.LineItems[i].ID = uuid.Nil
			}
			e.LinesChanged = true
			if err := s.price(ctx, cat, o, now, "opportunity."); err != nil {
				return Effect{}, err
			}
		}
		p, err := cat.Pipeline(ctx, o.PipelineID)
		if err != nil {
			return Effect{}, err
		}
		stage, _ := p.Stage(o.StageID)
		for _, f := range stage.RequiredFields {
			if !hasField(*o, f) {
				v.Add("opportunity."+f, "is required while in stage %q", stage.DisplayName)
			}
		}
		return e, v.Err()
	})
	return saved, err
}

// expandMask reads "amount.currency_code" and "amount.amount_minor" as
// "amount", and drops the output-only paths a body echoed from a read has.
func expandMask(mask []string) []string {
	outputOnly := []string{"opportunity_id", "customer_id", "pipeline_id", "stage_id", "stage", "stage_kind", "close_reason",
		"close_time", "stage_enter_time", "time_in_stage", "cycle_time_days", "create_time", "update_time", "delete_time"}
	out := make([]string, 0, len(mask))
	for _, p := range mask {
		if p == "amount.currency_code" || p == "amount.amount_minor" {
			p = "amount"
		}
		if !slices.Contains(outputOnly, p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// mayChange checks ownership, the etag and that o is live.
func (s *Service) mayChange(caller auth.Caller, o Opportunity, etag string) error {
	if !ownsOrShares(caller, o) {
		return fmt.Errorf("%w: sales reps change only their own and their team's opportunities", auth.ErrForbidden)
	}
	if err := checkEtag(o.Etag(), etag); err != nil {
		return err
	}
	if o.DeleteTime != nil {
		return ErrDeleted
	}
	return nil
}

// MoveStage moves an opportunity to another stage of its pipeline. The
// etag is required: a move decided on stale data must fail, not win.
func (s *Service) MoveStage(ctx context.Context, caller auth.Caller, id, stageID uuid.UUID, etag, reason string) (Opportunity, error) {
	if err := allow(caller, writers); err != nil {
		return Opportunity{}, err
	}
	v := &validation.Error{}
	if stageID == uuid.Nil {
		v.Add("stage_id", "is required")
	}
	if etag == "" {
		v.Add("etag", "is required")
	}
	if err := v.Err(); err != nil {
		return Opportunity{}, err
	}
	now := s.now()
	saved, err := s.store.Mutate(ctx, caller, id, func(ctx context.Context, cat Catalog, o *Opportunity) (Effect, error) {
		if err := s.mayChange(caller, *o, etag); err != nil {
			return Effect{}, err
		}
		p, err := cat.Pipeline(ctx, o.PipelineID)
		if err != nil {
			return Effect{}, err
		}
		stage, ok := p.Stage(stageID)
		switch {
		case !ok:
			return Effect{}, validation.Field("stage_id", "is not a stage of the opportunity's pipeline")
		case stageID == o.StageID:
			return Effect{}, validation.Field("stage_id", "is the opportunity's current stage")
		}
		if err := enter(o, p, stage, reason, now, ""); err != nil {
			return Effect{}, err
		}
		return Effect{Event: EventStageChanged, StageMoved: true}, nil
	})
	return saved, err
}

// Delete soft-deletes an opportunity.
func (s *Service) Delete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Opportunity, error) {
	if err := allow(caller, writers); err != nil {
		return Opportunity{}, err
	}
	now := s.now()
	saved, err := s.store.Mutate(ctx, caller, id, func(_ context.Context, _ Catalog, o *Opportunity) (Effect, error) {
		if err := s.mayChange(caller, *o, etag); err != nil {
			return Effect{}, err
		}
		o.DeleteTime = &now
		return Effect{Event: EventDeleted}, nil
	})
	return saved, err
}

// Undelete restores a soft-deleted opportunity.
func (s *Service) Undelete(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Opportunity, error) {
	if err := allow(caller, writers); err != nil {
		return Opportunity{}, err
	}
	saved, err := s.store.Mutate(ctx, caller, id, func(_ context.Context, _ Catalog, o *Opportunity) (Effect, error) {
		if !ownsOrShares(caller, *o) {
			return Effect{}, fmt.Errorf("%w: sales reps change only their own and their team's opportunities", auth.ErrForbidden)
		}
		if err := checkEtag(o.Etag(), etag); err != nil {
			return Effect{}, err
		}
		if o.DeleteTime == nil {
			return Effect{}, ErrNotDeleted
		}
		o.DeleteTime = nil
		return Effect{Event: EventUndeleted}, nil
	})
	return saved, err
}

// StageHistory returns a page of an opportunity's stage history, oldest first.
func (s *Service) StageHistory(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (HistoryPage, error) {
	if err := allow(caller, readers); err != nil {
		return HistoryPage{}, err
	}
	n, err := pageSizeOf(pageSize)
	if err != nil {
		return HistoryPage{}, err
	}
	return s.store.StageHistory(ctx, caller, id, n, pageToken)
}

// Now is the service's clock, for rendering durations as of now.
func (s *Service) Now() time.Time { return s.now() }

func sameID(a, b *uuid.UUID) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}
