// Package marketing is the marketing domain: campaigns aimed at customer
// segments, their members and responses, offers for segments and value
// tiers, and each campaign's return on cost from the won revenue
// attributed to it.
//
// Attribution. An opportunity is credited to a campaign by one of three
// models: explicit (its campaign_id, set by sales), first touch (the
// campaign of its customer's earliest response at or before the
// opportunity's creation) or last touch (the latest such response). Leads
// and orders are not in this service yet, so only opportunities are
// attributed and won revenue is the amount of won opportunities.
package marketing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
	"github.com/rapportcrm/rapport/services/pipeline/internal/rules"
)

// Channel is how a campaign reaches people; the numbers match the API's enum.
type Channel int32

// maxChannel is the highest known channel.
const maxChannel Channel = 9

// Campaign is a marketing effort with a budget and a cost.
type Campaign struct {
	ID          uuid.UUID
	DisplayName string
	Channel     Channel
	SegmentID   *uuid.UUID
	Budget      rules.Money
	// CostMinor is the spend so far, in the budget's currency.
	CostMinor          int64
	StartDate, EndDate string
	CreateTime         time.Time
	UpdateTime         time.Time
	Revision           int64
}

// Etag is the opaque concurrency token of the campaign's current revision.
func (c Campaign) Etag() string { return strconv.FormatInt(c.Revision, 10) }

// Resource is the campaign's resource name.
func (c Campaign) Resource() string { return "campaigns/" + c.ID.String() }

// Member is a customer a campaign targets.
type Member struct {
	CustomerID uuid.UUID
	AddTime    time.Time
}

// ResponseKind is what a customer did; the numbers match the API's enum.
type ResponseKind int32

// maxResponseKind is the highest known kind.
const maxResponseKind ResponseKind = 7

// Response is one response of a customer to a campaign.
type Response struct {
	ID          uuid.UUID
	CampaignID  uuid.UUID
	CustomerID  uuid.UUID
	Kind        ResponseKind
	RespondTime time.Time
}

// Offer is a promotion for customers in segments or value tiers.
type Offer struct {
	ID                 uuid.UUID
	DisplayName        string
	CampaignID         *uuid.UUID
	SegmentIDs         []uuid.UUID
	ValueTiers         []string
	DiscountBps        int32
	StartDate, EndDate string
	CreateTime         time.Time
	Revision           int64
}

// Resource is the offer's resource name.
func (o Offer) Resource() string { return "offers/" + o.ID.String() }

// Etag is the opaque concurrency token of the offer's current revision.
func (o Offer) Etag() string { return strconv.FormatInt(o.Revision, 10) }

// Model is an attribution model; the numbers match the API's enum.
type Model int32

// Attribution models.
const (
	ModelExplicit   Model = 1
	ModelFirstTouch Model = 2
	ModelLastTouch  Model = 3
)

// ROI is a campaign's attributed results.
type ROI struct {
	Model                 Model
	Attributed, Won       int64
	CurrencyCode          string
	WonRevenueMinor       int64
	CostMinor             int64
	OtherCurrencyWonCount int64
}

// Bps is (won revenue − cost) ÷ cost in basis points, 0 without cost.
func (r ROI) Bps() int64 { return rules.Bps(r.WonRevenueMinor-r.CostMinor, r.CostMinor) }

// Pages of lists.
type (
	// CampaignPage is one page of campaigns.
	CampaignPage struct {
		Campaigns     []Campaign
		NextPageToken string
	}
	// MemberPage is one page of members.
	MemberPage struct {
		Members       []Member
		NextPageToken string
	}
	// ResponsePage is one page of responses.
	ResponsePage struct {
		Responses     []Response
		NextPageToken string
	}
	// OfferPage is one page of offers.
	OfferPage struct {
		Offers        []Offer
		NextPageToken string
	}
)

// Errors of marketing.
var (
	ErrCampaignNotFound = errors.New("campaign not found")
	// ErrNoSegment means a sync found no segment on the campaign.
	ErrNoSegment = errors.New("the campaign targets no segment")
	// ErrSegmentLookup means the customer service could not answer about a
	// segment; the caller may retry.
	ErrSegmentLookup = errors.New("the segment could not be checked; retry later")
	// ErrSegmentTooLarge means a segment has more members than one sync takes.
	ErrSegmentTooLarge = errors.New("the segment has too many members for one campaign; target a narrower segment")
	// ErrCampaignEnded refuses new members for a campaign past its end date.
	ErrCampaignEnded = errors.New("the campaign has ended")
)

// Events of marketing.
const (
	EventCampaignCreated  = "campaign.created"
	EventCampaignUpdated  = "campaign.updated"
	EventMembersSynced    = "campaign.members_synced"
	EventMemberAdded      = "campaign.member_added"
	EventResponseRecorded = "campaign_response.recorded"
	EventOfferCreated     = "offer.created"
)

// Segments answers about the customer service's segments with the
// caller's credentials; failures wrap ErrSegmentLookup.
type Segments interface {
	Exists(ctx context.Context, id uuid.UUID) (bool, error)
	// Members lists a segment's current members.
	Members(ctx context.Context, id uuid.UUID) ([]uuid.UUID, error)
}

// Store keeps campaigns, members, responses and offers. Every method is
// scoped to the caller's tenant.
type Store interface {
	// CreateCampaign stores c, or returns what an earlier create with the
	// same non-empty requestID made.
	CreateCampaign(ctx context.Context, caller auth.Caller, c Campaign, requestID string) (Campaign, error)
	Campaign(ctx context.Context, caller auth.Caller, id uuid.UUID) (Campaign, error)
	Campaigns(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (CampaignPage, error)
	MutateCampaign(ctx context.Context, caller auth.Caller, id uuid.UUID, m func(*Campaign) error) (Campaign, error)
	// AddMembers adds customers not yet members; it returns how many were
	// added and how many members there are.
	AddMembers(ctx context.Context, caller auth.Caller, campaign uuid.UUID, customers []uuid.UUID) (added, total int64, err error)
	// AddMember adds one customer unless a member already; ended refuses
	// a campaign whose end date it reports past, under the campaign's lock.
	AddMember(ctx context.Context, caller auth.Caller, campaign, customer uuid.UUID, ended func(Campaign) bool) (Member, bool, error)
	Members(ctx context.Context, caller auth.Caller, campaign uuid.UUID, pageSize int, pageToken string) (MemberPage, error)
	// CreateResponse returns ErrCampaignNotFound for an unknown campaign.
	CreateResponse(ctx context.Context, caller auth.Caller, r Response, requestID string) (Response, error)
	Responses(ctx context.Context, caller auth.Caller, campaign uuid.UUID, pageSize int, pageToken string) (ResponsePage, error)
	CreateOffer(ctx context.Context, caller auth.Caller, o Offer, requestID string) (Offer, error)
	Offers(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (OfferPage, error)
	ROI(ctx context.Context, caller auth.Caller, campaign uuid.UUID, model Model) (ROI, error)
}

// Who may do what: managers run campaigns and offers; sellers also record
// responses; analysts read.
var (
	readers   = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleAnalyst}
	managers  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
	recorders = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep}
)

// Service holds the marketing use cases.
type Service struct {
	store     Store
	segments  Segments
	customers pipeline.Customers
	now       func() time.Time
}

// New returns a Service over store that checks segments and customers with the customer service.
func New(store Store, segments Segments, customers pipeline.Customers) *Service {
	return &Service{store: store, segments: segments, customers: customers,
		now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

func (c *Campaign) normalize() {
	c.DisplayName = strings.TrimSpace(c.DisplayName)
	c.Budget.CurrencyCode = strings.ToUpper(strings.TrimSpace(c.Budget.CurrencyCode))
}

func (c Campaign) validate(v *validation.Error) {
	rules.Name(c.DisplayName, "campaign.display_name", v)
	if c.Channel < 1 || c.Channel > maxChannel {
		v.Add("campaign.channel", "is required")
	}
	rules.Currency(c.Budget.CurrencyCode, "campaign.budget.currency_code", v)
	if c.Budget.AmountMinor < 0 {
		v.Add("campaign.budget.amount_minor", "must not be negative")
	}
	if c.CostMinor < 0 {
		v.Add("campaign.cost_minor", "must not be negative")
	}
	rules.Period(c.StartDate, c.EndDate, "campaign.start_date", "campaign.end_date", v)
}

// checkSegment asks the customer service whether the segment exists.
func (s *Service) checkSegment(ctx context.Context, id uuid.UUID, field string) error {
	ok, err := s.segments.Exists(ctx, id)
	if err != nil {
		return fmt.Errorf("check segment %s: %w", id, err)
	}
	if !ok {
		return validation.Field(field, "no such segment")
	}
	return nil
}

// CreateCampaign validates and stores a campaign.
func (s *Service) CreateCampaign(ctx context.Context, caller auth.Caller, c Campaign, requestID string) (Campaign, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Campaign{}, err
	}
	c.normalize()
	v := &validation.Error{}
	c.validate(v)
	rules.RequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Campaign{}, err
	}
	if c.SegmentID != nil {
		if err := s.checkSegment(ctx, *c.SegmentID, "campaign.segment_id"); err != nil {
			return Campaign{}, err
		}
	}
	c.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateCampaign(ctx, caller, c, requestID)
}

// Campaign returns a campaign.
func (s *Service) Campaign(ctx context.Context, caller auth.Caller, id uuid.UUID) (Campaign, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return Campaign{}, err
	}
	return s.store.Campaign(ctx, caller, id)
}

// Campaigns lists campaigns, newest first.
func (s *Service) Campaigns(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (CampaignPage, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return CampaignPage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return CampaignPage{}, err
	}
	return s.store.Campaigns(ctx, caller, filter, n, pageToken)
}

var campaignUpdatable = []string{"display_name", "channel", "segment_id", "budget", "cost_minor", "start_date", "end_date"}

// UpdateCampaign changes the fields in mask to in's values.
func (s *Service) UpdateCampaign(ctx context.Context, caller auth.Caller, in Campaign, mask []string, etag string) (Campaign, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Campaign{}, err
	}
	out := mask[:0]
	for _, p := range mask {
		if p == "budget.currency_code" || p == "budget.amount_minor" {
			p = "budget"
		}
		if len(out) == 0 || out[len(out)-1] != p {
			out = append(out, p)
		}
	}
	mask = out
	if err := rules.CheckMask(mask, campaignUpdatable); err != nil {
		return Campaign{}, err
	}
	for _, f := range mask {
		if f == "segment_id" && in.SegmentID != nil {
			if err := s.checkSegment(ctx, *in.SegmentID, "campaign.segment_id"); err != nil {
				return Campaign{}, err
			}
		}
	}
	return s.store.MutateCampaign(ctx, caller, in.ID, func(c *Campaign) error {
		if err := rules.CheckEtag(c.Etag(), etag, pipeline.ErrEtagMismatch); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				c.DisplayName = in.DisplayName
			case "channel":
				c.Channel = in.Channel
			case "segment_id":
				c.SegmentID = in.SegmentID
			case "budget":
				c.Budget = in.Budget
			case "cost_minor":
				c.CostMinor = in.CostMinor
			case "start_date":
				c.StartDate = in.StartDate
			case "end_date":
				c.EndDate = in.EndDate
			}
		}
		c.normalize()
		v := &validation.Error{}
		c.validate(v)
		return v.Err()
	})
}

// SyncMembers adds the segment's current members to the campaign's.
func (s *Service) SyncMembers(ctx context.Context, caller auth.Caller, id uuid.UUID) (added, total int64, err error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return 0, 0, err
	}
	c, err := s.store.Campaign(ctx, caller, id)
	if err != nil {
		return 0, 0, err
	}
	if c.SegmentID == nil {
		return 0, 0, ErrNoSegment
	}
	members, err := s.segments.Members(ctx, *c.SegmentID)
	if err != nil {
		return 0, 0, fmt.Errorf("list members of segment %s: %w", *c.SegmentID, err)
	}
	return s.store.AddMembers(ctx, caller, id, members)
}

// AddMember adds one customer to a campaign (an automation rule's
// ADD_TO_CAMPAIGN does); a member already is answered as is, not added.
func (s *Service) AddMember(ctx context.Context, caller auth.Caller, campaign, customer uuid.UUID) (Member, bool, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Member{}, false, err
	}
	if customer == uuid.Nil {
		return Member{}, false, validation.Field("customer_id", "is required")
	}
	ok, err := s.customers.Exists(ctx, customer)
	if err != nil {
		return Member{}, false, fmt.Errorf("check customer %s: %w", customer, err)
	}
	if !ok {
		return Member{}, false, validation.Field("customer_id", "no such customer")
	}
	today := s.now().UTC().Format(time.DateOnly)
	return s.store.AddMember(ctx, caller, campaign, customer, func(c Campaign) bool { return c.EndDate != "" && c.EndDate < today })
}

// Members lists a campaign's members.
func (s *Service) Members(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (MemberPage, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return MemberPage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return MemberPage{}, err
	}
	return s.store.Members(ctx, caller, id, n, pageToken)
}

// RecordResponse stores a customer's response to a campaign.
func (s *Service) RecordResponse(ctx context.Context, caller auth.Caller, r Response, requestID string) (Response, error) {
	if err := rules.Allow(caller, recorders...); err != nil {
		return Response{}, err
	}
	v := &validation.Error{}
	if r.CustomerID == uuid.Nil {
		v.Add("response.customer_id", "is required")
	}
	if r.Kind < 1 || r.Kind > maxResponseKind {
		v.Add("response.kind", "is required")
	}
	now := s.now()
	if r.RespondTime.IsZero() {
		r.RespondTime = now
	}
	if r.RespondTime.After(now.Add(time.Minute)) {
		v.Add("response.respond_time", "must not be in the future")
	}
	rules.RequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Response{}, err
	}
	ok, err := s.customers.Exists(ctx, r.CustomerID)
	if err != nil {
		return Response{}, fmt.Errorf("check customer %s: %w", r.CustomerID, err)
	}
	if !ok {
		return Response{}, validation.Field("response.customer_id", "no such customer")
	}
	r.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateResponse(ctx, caller, r, requestID)
}

// Responses lists a campaign's responses, oldest first.
func (s *Service) Responses(ctx context.Context, caller auth.Caller, id uuid.UUID, pageSize int, pageToken string) (ResponsePage, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return ResponsePage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return ResponsePage{}, err
	}
	return s.store.Responses(ctx, caller, id, n, pageToken)
}

// maxTier bounds a value tier's name.
const maxTier = 50

// CreateOffer validates and stores an offer.
func (s *Service) CreateOffer(ctx context.Context, caller auth.Caller, o Offer, requestID string) (Offer, error) {
	if err := rules.Allow(caller, managers...); err != nil {
		return Offer{}, err
	}
	o.DisplayName = strings.TrimSpace(o.DisplayName)
	v := &validation.Error{}
	rules.Name(o.DisplayName, "offer.display_name", v)
	if len(o.SegmentIDs) == 0 && len(o.ValueTiers) == 0 {
		v.Add("offer.segment_ids", "an offer needs segment_ids or value_tiers")
	}
	for i, t := range o.ValueTiers {
		o.ValueTiers[i] = strings.TrimSpace(t)
		if o.ValueTiers[i] == "" || utf8.RuneCountInString(o.ValueTiers[i]) > maxTier {
			v.Add(fmt.Sprintf("offer.value_tiers[%d]", i), "must be 1 to %d characters", maxTier)
		}
	}
	if o.DiscountBps < 1 || o.DiscountBps > 10000 {
		v.Add("offer.discount_bps", "must be between 1 and 10000")
	}
	rules.Period(o.StartDate, o.EndDate, "offer.start_date", "offer.end_date", v)
	rules.RequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Offer{}, err
	}
	for i, id := range o.SegmentIDs {
		if err := s.checkSegment(ctx, id, fmt.Sprintf("offer.segment_ids[%d]", i)); err != nil {
			return Offer{}, err
		}
	}
	o.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateOffer(ctx, caller, o, requestID)
}

// Offers lists offers, newest first.
func (s *Service) Offers(ctx context.Context, caller auth.Caller, filter string, pageSize int, pageToken string) (OfferPage, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return OfferPage{}, err
	}
	n, err := rules.PageSize(pageSize)
	if err != nil {
		return OfferPage{}, err
	}
	return s.store.Offers(ctx, caller, filter, n, pageToken)
}

// ROI returns a campaign's attributed results under model (explicit when unspecified).
func (s *Service) ROI(ctx context.Context, caller auth.Caller, id uuid.UUID, model Model) (ROI, error) {
	if err := rules.Allow(caller, readers...); err != nil {
		return ROI{}, err
	}
	if model == 0 {
		model = ModelExplicit
	}
	if model < ModelExplicit || model > ModelLastTouch {
		return ROI{}, validation.Field("model", "is not a known attribution model")
	}
	return s.store.ROI(ctx, caller, id, model)
}
