package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// StageKind says whether an opportunity in a stage is open, won or lost;
// the numbers match the API's enum.
type StageKind int32

// Stage kinds.
const (
	StageKindUnspecified StageKind = iota
	StageKindOpen
	StageKindWon
	StageKindLost
)

// Closed reports whether the kind ends an opportunity.
func (k StageKind) Closed() bool { return k == StageKindWon || k == StageKindLost }

// RequiredFields are the opportunity fields a stage may require for entry.
var RequiredFields = []string{"amount", "expected_close_date", "owner_id", "source_partner_id", "line_items", "price_list_id", "external_id"}

// PipelineStage is one step of a pipeline.
type PipelineStage struct {
	ID             uuid.UUID
	DisplayName    string
	Probability    int32
	Kind           StageKind
	RequiredFields []string
	// LegacyStage is the fixed stage this stage stands for, or StageUnspecified.
	LegacyStage Stage
}

// Pipeline is an ordered set of stages.
type Pipeline struct {
	ID           uuid.UUID
	DisplayName  string
	CurrencyCode string
	Default      bool
	Stages       []PipelineStage
	WonReasons   []string
	LostReasons  []string
	CreateTime   time.Time
	UpdateTime   time.Time
	DeleteTime   *time.Time
	Revision     int64
}

// Etag is the opaque concurrency token of the pipeline's current revision.
func (p Pipeline) Etag() string { return strconv.FormatInt(p.Revision, 10) }

// Resource is the pipeline's resource name.
func (p Pipeline) Resource() string { return "pipelines/" + p.ID.String() }

// Stage returns the pipeline's stage with id.
func (p Pipeline) Stage(id uuid.UUID) (PipelineStage, bool) {
	for _, s := range p.Stages {
		if s.ID == id {
			return s, true
		}
	}
	return PipelineStage{}, false
}

// stageFor returns the stage a fixed stage maps to, or the first stage when
// legacy is unspecified or maps to none.
func (p Pipeline) stageFor(legacy Stage) PipelineStage {
	for _, s := range p.Stages {
		if legacy != StageUnspecified && s.LegacyStage == legacy {
			return s
		}
	}
	return p.Stages[0]
}

// DefaultPipeline is the pipeline a tenant gets on first use: the stages of
// the fixed stage set, mapped to it, and no reason lists.
func DefaultPipeline(currencyCode string) Pipeline {
	p := Pipeline{ID: uuid.Must(uuid.NewV7()), DisplayName: "Sales", CurrencyCode: currencyCode, Default: true}
	for _, s := range []struct {
		name   string
		prob   int32
		kind   StageKind
		legacy Stage
	}{
		{"Prospecting", 10, StageKindOpen, StageProspecting},
		{"Qualification", 25, StageKindOpen, StageQualification},
		{"Proposal", 50, StageKindOpen, StageProposal},
		{"Negotiation", 75, StageKindOpen, StageNegotiation},
		{"Won", 100, StageKindWon, StageWon},
		{"Lost", 0, StageKindLost, StageLost},
	} {
		p.Stages = append(p.Stages, PipelineStage{ID: uuid.Must(uuid.NewV7()), DisplayName: s.name, Probability: s.prob, Kind: s.kind, LegacyStage: s.legacy})
	}
	return p
}

// Errors of pipelines.
var (
	ErrPipelineNotFound = errors.New("pipeline not found")
	// ErrStageInUse means an update would remove a stage opportunities are in.
	ErrStageInUse = errors.New("a removed stage still has opportunities; move them first")
	// ErrPipelineInUse means a delete found open opportunities on the pipeline.
	ErrPipelineInUse = errors.New("the pipeline still has open opportunities")
	// ErrDefaultPipeline means the tenant's default pipeline cannot be deleted.
	ErrDefaultPipeline = errors.New("the default pipeline cannot be deleted; make another pipeline the default first")
)

// Limits of pipelines.
const (
	maxStages  = 50
	maxReasons = 50
)

// normalize trims names and lists.
func (p *Pipeline) normalize() {
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	p.CurrencyCode = strings.ToUpper(strings.TrimSpace(p.CurrencyCode))
	for i := range p.Stages {
		s := &p.Stages[i]
		s.DisplayName = strings.TrimSpace(s.DisplayName)
		for j, f := range s.RequiredFields {
			s.RequiredFields[j] = strings.TrimSpace(f)
		}
	}
	for i, r := range p.WonReasons {
		p.WonReasons[i] = strings.TrimSpace(r)
	}
	for i, r := range p.LostReasons {
		p.LostReasons[i] = strings.TrimSpace(r)
	}
}

// validate checks every field, reporting paths under prefix ("pipeline.").
func (p Pipeline) validate(prefix string, v *validation.Error) {
	switch {
	case p.DisplayName == "":
		v.Add(prefix+"display_name", "is required")
	case utf8.RuneCountInString(p.DisplayName) > maxName:
		v.Add(prefix+"display_name", "must be at most %d characters", maxName)
	}
	validateCurrency(p.CurrencyCode, prefix+"currency_code", v)
	switch {
	case len(p.Stages) == 0:
		v.Add(prefix+"stages", "must hold at least one stage")
	case len(p.Stages) > maxStages:
		v.Add(prefix+"stages", "must hold at most %d stages", maxStages)
	}
	names := map[string]bool{}
	open := false
	for i, s := range p.Stages {
		f := fmt.Sprintf("%sstages[%d].", prefix, i)
		switch key := strings.ToLower(s.DisplayName); {
		case key == "":
			v.Add(f+"display_name", "is required")
		case utf8.RuneCountInString(s.DisplayName) > maxText:
			v.Add(f+"display_name", "must be at most %d characters", maxText)
		case names[key]:
			v.Add(f+"display_name", "repeats the name of another stage")
		default:
			names[key] = true
		}
		if s.Probability < 0 || s.Probability > 100 {
			v.Add(f+"probability", "must be between 0 and 100")
		}
		switch s.Kind {
		case StageKindOpen:
			open = true
		case StageKindWon, StageKindLost:
		default:
			v.Add(f+"kind", "must be STAGE_KIND_OPEN, STAGE_KIND_WON or STAGE_KIND_LOST")
		}
		for j, r := range s.RequiredFields {
			if !slices.Contains(RequiredFields, r) {
				v.Add(fmt.Sprintf("%srequired_fields[%d]", f, j), "must be one of %s", strings.Join(RequiredFields, ", "))
			} else if slices.Index(s.RequiredFields, r) != j {
				v.Add(fmt.Sprintf("%srequired_fields[%d]", f, j), "repeats %s", r)
			}
		}
	}
	if len(p.Stages) > 0 && !open {
		v.Add(prefix+"stages", "must hold at least one open stage")
	}
	validateReasons(p.WonReasons, prefix+"won_reasons", v)
	validateReasons(p.LostReasons, prefix+"lost_reasons", v)
}

func validateReasons(reasons []string, field string, v *validation.Error) {
	if len(reasons) > maxReasons {
		v.Add(field, "must hold at most %d reasons", maxReasons)
	}
	for i, r := range reasons {
		switch {
		case r == "":
			v.Add(fmt.Sprintf("%s[%d]", field, i), "must not be empty")
		case utf8.RuneCountInString(r) > maxText:
			v.Add(fmt.Sprintf("%s[%d]", field, i), "must be at most %d characters", maxText)
		case slices.Index(reasons, r) != i:
			v.Add(fmt.Sprintf("%s[%d]", field, i), "repeats %q", r)
		}
	}
}

// assignStages gives new stages ids and keeps the legacy mapping of the
// stages that stay; stages naming an id that current lacks are violations.
func (p *Pipeline) assignStages(current []PipelineStage, prefix string, v *validation.Error) {
	seen := map[uuid.UUID]bool{}
	for i := range p.Stages {
		s := &p.Stages[i]
		if s.ID == uuid.Nil {
			s.ID = uuid.Must(uuid.NewV7())
			s.LegacyStage = legacyOf(s.Kind, StageUnspecified)
			continue
		}
		f := fmt.Sprintf("%sstages[%d].stage_id", prefix, i)
		idx := slices.IndexFunc(current, func(c PipelineStage) bool { return c.ID == s.ID })
		switch {
		case seen[s.ID]:
			v.Add(f, "repeats another stage's id")
		case idx < 0:
			v.Add(f, "is not a stage of this pipeline; leave it empty for a new stage")
		default:
			s.LegacyStage = legacyOf(s.Kind, current[idx].LegacyStage)
		}
		seen[s.ID] = true
	}
}

// legacyOf keeps a stage's fixed-stage mapping while it fits the kind; won
// and lost stages always map to STAGE_WON and STAGE_LOST.
func legacyOf(k StageKind, was Stage) Stage {
	switch {
	case k == StageKindWon:
		return StageWon
	case k == StageKindLost:
		return StageLost
	case was == StageWon || was == StageLost:
		return StageUnspecified
	}
	return was
}

// PipelineMutation changes a locked pipeline in place; inUse says whether
// live, open opportunities sit on it.
type PipelineMutation func(p *Pipeline, inUse bool) (event string, err error)

// PipelineStore keeps pipelines.
type PipelineStore interface {
	// CreatePipeline inserts p with its stages (clearing the previous
	// default when p is the default), or returns the pipeline an earlier
	// create with the same non-empty requestID made.
	CreatePipeline(ctx context.Context, caller auth.Caller, p Pipeline, requestID string) (Pipeline, error)
	GetPipeline(ctx context.Context, caller auth.Caller, id uuid.UUID) (Pipeline, error)
	// ListPipelines lists pipelines oldest first.
	ListPipelines(ctx context.Context, caller auth.Caller, pageSize int, pageToken string, showDeleted bool) (PipelinePage, error)
	// MutatePipeline applies m under a row lock and saves the pipeline and
	// its stages; removing a stage an opportunity is in is ErrStageInUse.
	MutatePipeline(ctx context.Context, caller auth.Caller, id uuid.UUID, m PipelineMutation) (Pipeline, error)
}

// PipelinePage is one page of pipelines.
type PipelinePage struct {
	Pipelines     []Pipeline
	NextPageToken string
}

// Events of pipelines.
const (
	EventPipelineCreated   = "pipeline.created"
	EventPipelineUpdated   = "pipeline.updated"
	EventPipelineReordered = "pipeline.stages_reordered"
	EventPipelineDeleted   = "pipeline.deleted"
	EventPipelineUndeleted = "pipeline.undeleted"
)

// CreatePipeline validates and stores a new pipeline.
func (s *Service) CreatePipeline(ctx context.Context, caller auth.Caller, p Pipeline, requestID string) (Pipeline, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return Pipeline{}, err
	}
	p.normalize()
	v := &validation.Error{}
	p.validate("pipeline.", v)
	p.assignStages(nil, "pipeline.", v)
	checkRequestID(requestID, v)
	if err := v.Err(); err != nil {
		return Pipeline{}, err
	}
	p.ID = uuid.Must(uuid.NewV7())
	return s.store.CreatePipeline(ctx, caller, p, requestID)
}

// GetPipeline returns a pipeline.
func (s *Service) GetPipeline(ctx context.Context, caller auth.Caller, id uuid.UUID) (Pipeline, error) {
	if err := allow(caller, readers); err != nil {
		return Pipeline{}, err
	}
	return s.store.GetPipeline(ctx, caller, id)
}

// ListPipelines returns a page of pipelines, oldest first.
func (s *Service) ListPipelines(ctx context.Context, caller auth.Caller, pageSize int, pageToken string, showDeleted bool) (PipelinePage, error) {
	if err := allow(caller, readers); err != nil {
		return PipelinePage{}, err
	}
	n, err := pageSizeOf(pageSize)
	if err != nil {
		return PipelinePage{}, err
	}
	return s.store.ListPipelines(ctx, caller, n, pageToken, showDeleted)
}

var pipelineUpdatable = []string{"display_name", "currency_code", "default", "stages", "won_reasons", "lost_reasons"}

// UpdatePipeline changes the fields in mask to in's values.
func (s *Service) UpdatePipeline(ctx context.Context, caller auth.Caller, in Pipeline, mask []string, etag string) (Pipeline, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return Pipeline{}, err
	}
	if err := checkMask(mask, pipelineUpdatable); err != nil {
		return Pipeline{}, err
	}
	return s.store.MutatePipeline(ctx, caller, in.ID, func(p *Pipeline, _ bool) (string, error) {
		if err := checkEtag(p.Etag(), etag); err != nil {
			return "", err
		}
		if p.DeleteTime != nil {
			return "", ErrDeleted
		}
		v := &validation.Error{}
		current := p.Stages
		for _, f := range mask {
			switch f {
			case "display_name":
				p.DisplayName = in.DisplayName
			case "currency_code":
				p.CurrencyCode = in.CurrencyCode
			case "default":
				if p.Default && !in.Default {
					v.Add("pipeline.default", "cannot be cleared: make another pipeline the default instead")
				}
				p.Default = in.Default
			case "stages":
				p.Stages = in.Stages
			case "won_reasons":
				p.WonReasons = in.WonReasons
			case "lost_reasons":
				p.LostReasons = in.LostReasons
			}
		}
		p.normalize()
		p.validate("pipeline.", v)
		if slices.Contains(mask, "stages") {
			p.assignStages(current, "pipeline.", v)
		}
		return EventPipelineUpdated, v.Err()
	})
}

// ReorderStages puts the pipeline's stages in the order of stageIDs, which
// must name each stage once.
func (s *Service) ReorderStages(ctx context.Context, caller auth.Caller, id uuid.UUID, stageIDs []uuid.UUID, etag string) (Pipeline, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return Pipeline{}, err
	}
	return s.store.MutatePipeline(ctx, caller, id, func(p *Pipeline, _ bool) (string, error) {
		if err := checkEtag(p.Etag(), etag); err != nil {
			return "", err
		}
		if p.DeleteTime != nil {
			return "", ErrDeleted
		}
		if len(stageIDs) != len(p.Stages) {
			return "", validation.Field("stage_ids", "must name each of the pipeline's %d stages once", len(p.Stages))
		}
		ordered := make([]PipelineStage, 0, len(stageIDs))
		for i, sid := range stageIDs {
			st, ok := p.Stage(sid)
			if !ok || slices.Index(stageIDs, sid) != i {
				return "", validation.Field(fmt.Sprintf("stage_ids[%d]", i), "is not a stage of the pipeline, or repeats one")
			}
			ordered = append(ordered, st)
		}
		p.Stages = ordered
		return EventPipelineReordered, nil
	})
}

// DeletePipeline soft-deletes a pipeline that is not the default and has no
// open opportunities.
func (s *Service) DeletePipeline(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Pipeline, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return Pipeline{}, err
	}
	return s.store.MutatePipeline(ctx, caller, id, func(p *Pipeline, inUse bool) (string, error) {
		switch err := checkEtag(p.Etag(), etag); {
		case err != nil:
			return "", err
		case p.DeleteTime != nil:
			return "", ErrDeleted
		case p.Default:
			return "", ErrDefaultPipeline
		case inUse:
			return "", ErrPipelineInUse
		}
		now := s.now()
		p.DeleteTime = &now
		return EventPipelineDeleted, nil
	})
}

// UndeletePipeline restores a soft-deleted pipeline.
func (s *Service) UndeletePipeline(ctx context.Context, caller auth.Caller, id uuid.UUID, etag string) (Pipeline, error) {
	if err := allow(caller, catalogWriters); err != nil {
		return Pipeline{}, err
	}
	return s.store.MutatePipeline(ctx, caller, id, func(p *Pipeline, _ bool) (string, error) {
		if err := checkEtag(p.Etag(), etag); err != nil {
			return "", err
		}
		if p.DeleteTime == nil {
			return "", ErrNotDeleted
		}
		p.DeleteTime = nil
		return EventPipelineUndeleted, nil
	})
}
