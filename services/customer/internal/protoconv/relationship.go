package protoconv

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/relationship"
)

func ids(in []uuid.UUID) []string {
	out := make([]string, len(in))
	for i, id := range in {
		out[i] = id.String()
	}
	return out
}

func optID(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// Interaction renders an interaction as its API message.
func Interaction(i relationship.Interaction) *customerv1.Interaction {
	out := &customerv1.Interaction{
		InteractionId:           i.ID.String(),
		CustomerId:              i.CustomerID.String(),
		Kind:                    customerv1.InteractionKind(i.Kind),
		Direction:               customerv1.InteractionDirection(i.Direction),
		Channel:                 i.Channel,
		OccurTime:               timestamppb.New(i.OccurTime),
		Duration:                durationpb.New(i.Duration),
		Subject:                 i.Subject,
		Notes:                   i.Notes,
		Outcome:                 i.Outcome,
		ParticipantPrincipalIds: ids(i.ParticipantPrincipalIDs),
		ParticipantCustomerIds:  ids(i.ParticipantCustomerIDs),
		ParticipantNames:        i.ParticipantNames,
		AuthorId:                i.AuthorID,
		CreateTime:              timestamppb.New(i.CreateTime),
		UpdateTime:              timestamppb.New(i.UpdateTime),
		DeleteTime:              optTime(i.DeleteTime),
		Etag:                    i.Etag(),
	}
	if l := i.Location; l != nil {
		out.Location = &customerv1.Location{Latitude: l.Latitude, Longitude: l.Longitude, Address: l.Address}
	}
	return out
}

// reader collects the violations of converting one message.
type reader struct {
	v      *validation.Error
	prefix string
}

func (r reader) id(field, s string) uuid.UUID {
	if s == "" {
		return uuid.Nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		r.v.Add(r.prefix+field, "must be a UUID")
	}
	return id
}

func (r reader) optID(field, s string) *uuid.UUID {
	if s == "" {
		return nil
	}
	id := r.id(field, s)
	return &id
}

func (r reader) ids(field string, in []string) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(in))
	for _, s := range in {
		id, err := uuid.Parse(s)
		if err != nil {
			r.v.Add(r.prefix+field, "must hold UUIDs")
			return nil
		}
		out = append(out, id)
	}
	return out
}

func (r reader) time(field string, t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	if err := t.CheckValid(); err != nil {
		r.v.Add(r.prefix+field, "is not a valid time")
		return time.Time{}
	}
	return t.AsTime()
}

func (r reader) optTime(field string, t *timestamppb.Timestamp) *time.Time {
	if t == nil {
		return nil
	}
	out := r.time(field, t)
	return &out
}

func (r reader) duration(field string, d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	if err := d.CheckValid(); err != nil {
		r.v.Add(r.prefix+field, "is not a valid duration")
		return 0
	}
	return d.AsDuration()
}

func (r reader) enum(field string, n int32, names map[int32]string) {
	if _, ok := names[n]; !ok {
		r.v.Add(r.prefix+field, "unknown value %d", n)
	}
}

// FromInteraction reads the writable fields of an API message; field paths
// in violations start with prefix.
func FromInteraction(m *customerv1.Interaction, prefix string) (relationship.Interaction, error) {
	r := reader{v: &validation.Error{}, prefix: prefix}
	i := relationship.Interaction{
		Kind:                    relationship.Kind(m.GetKind()),
		Direction:               relationship.Direction(m.GetDirection()),
		Channel:                 m.GetChannel(),
		OccurTime:               r.time("occur_time", m.GetOccurTime()),
		Duration:                r.duration("duration", m.GetDuration()),
		Subject:                 m.GetSubject(),
		Notes:                   m.GetNotes(),
		Outcome:                 m.GetOutcome(),
		ParticipantPrincipalIDs: r.ids("participant_principal_ids", m.GetParticipantPrincipalIds()),
		ParticipantCustomerIDs:  r.ids("participant_customer_ids", m.GetParticipantCustomerIds()),
		ParticipantNames:        m.GetParticipantNames(),
	}
	r.enum("kind", int32(m.GetKind()), customerv1.InteractionKind_name)
	r.enum("direction", int32(m.GetDirection()), customerv1.InteractionDirection_name)
	if l := m.GetLocation(); l != nil {
		i.Location = &relationship.Location{Latitude: l.GetLatitude(), Longitude: l.GetLongitude(), Address: l.GetAddress()}
	}
	return i, r.v.Err()
}

// FollowUp renders a follow-up as its API message.
func FollowUp(f relationship.FollowUp) *customerv1.FollowUp {
	return &customerv1.FollowUp{
		FollowUpId:      f.ID.String(),
		CustomerId:      f.CustomerID.String(),
		Title:           f.Title,
		Notes:           f.Notes,
		AssigneeId:      optID(f.AssigneeID),
		DueTime:         timestamppb.New(f.DueTime),
		RemindTime:      optTime(f.RemindTime),
		Status:          customerv1.FollowUpStatus(f.Status),
		Outcome:         f.Outcome,
		CloseTime:       optTime(f.CloseTime),
		InteractionId:   optID(f.InteractionID),
		FollowUpPlanId:  optID(f.PlanID),
		SourceEventId:   optID(f.SourceEventID),
		SourceEventType: f.SourceEventType,
		CreateTime:      timestamppb.New(f.CreateTime),
		UpdateTime:      timestamppb.New(f.UpdateTime),
		Etag:            f.Etag(),
	}
}

// FromFollowUp reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromFollowUp(m *customerv1.FollowUp, prefix string) (relationship.FollowUp, error) {
	r := reader{v: &validation.Error{}, prefix: prefix}
	f := relationship.FollowUp{
		CustomerID: r.id("customer_id", m.GetCustomerId()),
		Title:      m.GetTitle(),
		Notes:      m.GetNotes(),
		AssigneeID: r.optID("assignee_id", m.GetAssigneeId()),
		DueTime:    r.time("due_time", m.GetDueTime()),
		RemindTime: r.optTime("remind_time", m.GetRemindTime()),
	}
	return f, r.v.Err()
}

// Plan renders a follow-up plan as its API message.
func Plan(p relationship.Plan) *customerv1.FollowUpPlan {
	return &customerv1.FollowUpPlan{
		FollowUpPlanId: p.ID.String(),
		DisplayName:    p.DisplayName,
		EventSource:    customerv1.EventSource(p.Source),
		EventType:      p.EventType,
		Delay:          durationpb.New(p.Delay),
		RemindBefore:   durationpb.New(p.RemindBefore),
		Title:          p.Title,
		Notes:          p.Notes,
		AssigneeRule:   customerv1.AssigneeRule(p.AssigneeRule),
		AssigneeId:     optID(p.AssigneeID),
		Active:         p.Active,
		ActiveTime:     optTime(p.ActiveTime),
		CreateTime:     timestamppb.New(p.CreateTime),
		UpdateTime:     timestamppb.New(p.UpdateTime),
		DeleteTime:     optTime(p.DeleteTime),
		Etag:           p.Etag(),
	}
}

// FromPlan reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromPlan(m *customerv1.FollowUpPlan, prefix string) (relationship.Plan, error) {
	r := reader{v: &validation.Error{}, prefix: prefix}
	p := relationship.Plan{
		DisplayName:  m.GetDisplayName(),
		Source:       relationship.Source(m.GetEventSource()),
		EventType:    m.GetEventType(),
		Delay:        r.duration("delay", m.GetDelay()),
		RemindBefore: r.duration("remind_before", m.GetRemindBefore()),
		Title:        m.GetTitle(),
		Notes:        m.GetNotes(),
		AssigneeRule: relationship.AssigneeRule(m.GetAssigneeRule()),
		AssigneeID:   r.optID("assignee_id", m.GetAssigneeId()),
		Active:       m.GetActive(),
	}
	r.enum("event_source", int32(m.GetEventSource()), customerv1.EventSource_name)
	r.enum("assignee_rule", int32(m.GetAssigneeRule()), customerv1.AssigneeRule_name)
	return p, r.v.Err()
}

// EventCustomerID finds the customer an event payload concerns: the
// customer_id field of the payload message (every Rapport resource that
// belongs to a customer has one), or the customer_id of a Customer itself.
// It returns nil when the payload has no such field or leaves it empty.
// typeName is the payload's full message name; its Go type must be linked
// into the binary.
func EventCustomerID(typeName string, payload []byte) (*uuid.UUID, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typeName))
	if err != nil {
		return nil, fmt.Errorf("payload type %s: %w", typeName, err)
	}
	field := mt.Descriptor().Fields().ByName("customer_id")
	if field == nil || field.Kind() != protoreflect.StringKind || field.IsList() {
		return nil, nil
	}
	m := mt.New().Interface()
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("payload %s: %w", typeName, err)
	}
	s := m.ProtoReflect().Get(field).String()
	if s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("payload %s: customer_id: %w", typeName, err)
	}
	return &id, nil
}
