package lead

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
)

// Service holds the lead use cases.
type Service struct {
	store         Store
	customers     Customers
	opportunities Opportunities
	now           func() time.Time
}

// New returns a Service over store that asks customers about customers and
// opens opportunities through opportunities.
func New(store Store, customers Customers, opportunities Opportunities) *Service {
	return &Service{store: store, customers: customers, opportunities: opportunities, now: func() time.Time {
		return time.Now().UTC().Truncate(time.Microsecond)
	}}
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

// Create validates and stores a new lead, flagging an existing customer
// with its e-mail or phone as a likely duplicate (the lead is still
// captured: the customer may be buying again).
func (s *Service) Create(ctx context.Context, caller auth.Caller, l Lead, requestID string) (Lead, error) {
	if err := allow(caller, writers); err != nil {
		return Lead{}, err
	}
	if l.OwnerID != nil && !ownsOrManages(caller, l.OwnerID) {
		return Lead{}, fmt.Errorf("%w: sales reps create leads they own or leave them to the assignment rules", auth.ErrForbidden)
	}
	if l.Source == "" {
		l.Source = "api"
	}
	if l.Status == 0 {
		l.Status = StatusNew
	}
	l.normalize()
	v := &validation.Error{}
	l.validate("lead.", v)
	length(v, "request_id", requestID, maxRequestID)
	if err := v.Err(); err != nil {
		return Lead{}, err
	}
	if requestID != "" {
		earlier, err := s.store.LeadByRequestID(ctx, caller, requestID)
		if err == nil {
			return earlier, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Lead{}, err
		}
	}
	if l.Email != "" || l.Phone != "" {
		id, ok, err := s.customers.Match(ctx, l.Email, l.Phone)
		if err != nil {
			return Lead{}, fmt.Errorf("match customers: %w", err)
		}
		if ok {
			l.DuplicateCustomerID = &id
		}
	}
	l.ID = uuid.Must(uuid.NewV7())
	return s.store.CreateLead(ctx, caller, requestID, l)
}

// Get returns a lead.
func (s *Service) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (Lead, error) {
	if err := allow(caller, readers); err != nil {
		return Lead{}, err
	}
	return s.store.Lead(ctx, caller, id)
}

// List returns a page of leads, newest first.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, readers); err != nil {
		return Page{}, err
	}
	n, err := pageSizeOf(q.PageSize)
	if err != nil {
		return Page{}, err
	}
	q.PageSize = n
	return s.store.ListLeads(ctx, caller, q)
}

// Updatable are the lead fields UpdateLead may change.
var Updatable = []string{"display_name", "email", "phone", "company_name", "status", "status_reason", "owner_id", "territory"}

// Update changes the fields in mask, qualification among them.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Lead, mask []string, etag string) (Lead, error) {
	if err := allow(caller, writers); err != nil {
		return Lead{}, err
	}
	if err := checkMask(mask, Updatable); err != nil {
		return Lead{}, err
	}
	return s.store.MutateLead(ctx, caller, in.ID, EventUpdated, func(l *Lead) error {
		if !ownsOrManages(caller, l.OwnerID) {
			return fmt.Errorf("%w: sales reps change only the leads they own", auth.ErrForbidden)
		}
		if l.Status == StatusConverted {
			return ErrConverted
		}
		if err := checkEtag(l.Etag(), etag); err != nil {
			return err
		}
		for _, f := range mask {
			switch f {
			case "display_name":
				l.DisplayName = in.DisplayName
			case "email":
				l.Email = in.Email
			case "phone":
				l.Phone = in.Phone
			case "company_name":
				l.CompanyName = in.CompanyName
			case "status":
				l.Status = in.Status
			case "status_reason":
				l.StatusReason = in.StatusReason
			case "owner_id":
				l.OwnerID = in.OwnerID
			case "territory":
				l.Territory = in.Territory
			}
		}
		if !ownsOrManages(caller, l.OwnerID) {
			return fmt.Errorf("%w: sales reps cannot hand leads to others", auth.ErrForbidden)
		}
		l.normalize()
		v := &validation.Error{}
		l.validate("lead.", v)
		return v.Err()
	})
}

// Conversion is what ConvertLead asks for.
type Conversion struct {
	LeadID uuid.UUID
	// CustomerID converts into this existing customer; nil matches by e-mail
	// or phone, or creates one.
	CustomerID *uuid.UUID
	// Opportunity, when not nil, is opened for the customer.
	Opportunity *pipeline.Opportunity
	Etag        string
	RequestID   string
}

// Converted is the result of a conversion.
type Converted struct {
	Lead            Lead
	CustomerCreated bool
	Opportunity     *pipeline.Opportunity
}

// Convert turns a lead into a customer and, if asked, an opportunity.
//
// It spans two services, so it is made of steps that are each safe to
// repeat: the customer is created by the customer service under request
// ids derived from the lead (a retry gets the same customer); the
// opportunity is created under a request id derived from the lead and the
// customer (a retry gets the same opportunity); then the lead's own
// transaction locks it, checks it is still unconverted and records the
// conversion. Whatever fails part-way, repeating the call completes it
// without duplicates; two racing conversions make one customer and one
// opportunity, and the second is told the lead is converted.
func (s *Service) Convert(ctx context.Context, caller auth.Caller, c Conversion) (Converted, error) {
	if err := allow(caller, writers); err != nil {
		return Converted{}, err
	}
	v := &validation.Error{}
	length(v, "request_id", c.RequestID, maxRequestID)
	if err := v.Err(); err != nil {
		return Converted{}, err
	}
	l, err := s.store.Lead(ctx, caller, c.LeadID)
	if err != nil {
		return Converted{}, err
	}
	if !ownsOrManages(caller, l.OwnerID) {
		return Converted{}, fmt.Errorf("%w: sales reps convert only the leads they own", auth.ErrForbidden)
	}
	if l.Status == StatusConverted {
		if c.RequestID != "" && c.RequestID == l.ConversionRequestID {
			return s.earlier(ctx, caller, l)
		}
		return Converted{}, ErrConverted
	}
	if l.Status == StatusUnqualified {
		return Converted{}, ErrUnqualified
	}
	if err := checkEtag(l.Etag(), c.Etag); err != nil {
		return Converted{}, err
	}
	customer, created, err := s.customerFor(ctx, l, c.CustomerID)
	if err != nil {
		return Converted{}, err
	}
	var opp *pipeline.Opportunity
	if c.Opportunity != nil {
		o := *c.Opportunity
		o.CustomerID = customer
		if o.OwnerID == nil {
			o.OwnerID = l.OwnerID
		}
		// Derived from lead and customer: a retry into the same customer
		// finds the opportunity, one into another customer opens its own.
		key := "lead-conversion-" + uuid.NewSHA1(l.ID, customer[:]).String()
		saved, err := s.opportunities.Create(ctx, caller, o, key)
		if err != nil {
			return Converted{}, err
		}
		opp = &saved
	}
	now := s.now()
	saved, err := s.store.MutateLead(ctx, caller, l.ID, EventConverted, func(l *Lead) error {
		if l.Status == StatusConverted {
			return ErrConverted
		}
		if l.Status == StatusUnqualified {
			return ErrUnqualified
		}
		if err := checkEtag(l.Etag(), c.Etag); err != nil {
			return err
		}
		l.Status, l.ConvertedCustomerID, l.ConvertTime, l.ConversionRequestID = StatusConverted, &customer, &now, c.RequestID
		if opp != nil {
			l.ConvertedOpportunityID = &opp.ID
		}
		return nil
	})
	if err != nil {
		return Converted{}, err
	}
	return Converted{Lead: saved, CustomerCreated: created, Opportunity: opp}, nil
}

// customerFor returns the customer the lead becomes: the one given, or one
// with the lead's e-mail or phone, or a new one.
func (s *Service) customerFor(ctx context.Context, l Lead, given *uuid.UUID) (id uuid.UUID, created bool, err error) {
	if given != nil {
		ok, err := s.customers.Exists(ctx, *given)
		if err != nil {
			return uuid.Nil, false, fmt.Errorf("check customer %s: %w", *given, err)
		}
		if !ok {
			return uuid.Nil, false, validation.Field("customer_id", "no such customer")
		}
		return *given, false, nil
	}
	if l.Email != "" || l.Phone != "" {
		id, ok, err := s.customers.Match(ctx, l.Email, l.Phone)
		if err != nil {
			return uuid.Nil, false, fmt.Errorf("match customers: %w", err)
		}
		if ok {
			return id, false, nil
		}
	}
	if l.DisplayName == "" {
		return uuid.Nil, false, validation.Field("lead.display_name", "is required to create a customer from the lead")
	}
	id, err = s.customers.CreateFromLead(ctx, l)
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("create customer from lead %s: %w", l.ID, err)
	}
	return id, true, nil
}

// earlier returns a finished conversion again, for a repeated request.
func (s *Service) earlier(ctx context.Context, caller auth.Caller, l Lead) (Converted, error) {
	out := Converted{Lead: l}
	if l.ConvertedOpportunityID != nil {
		o, err := s.opportunities.Get(ctx, caller, *l.ConvertedOpportunityID)
		if err != nil {
			return Converted{}, err
		}
		out.Opportunity = &o
	}
	return out, nil
}
