package ticket

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Event types of satisfaction surveys.
const (
	EventSurveyCreated  = "csat_survey.created"
	EventSurveyIssued   = "csat_survey.link_issued"
	EventSurveyAnswered = "csat_survey.answered"
)

// SurveyPrincipal is the principal a customer's answer is audited as: the
// link holder has no account.
const SurveyPrincipal = "system:csat-link"

// Errors of satisfaction surveys. Every way a token can be wrong is
// ErrSurveyNotFound, so a guesser learns nothing.
var (
	ErrSurveyNotFound = errors.New("survey not found")
	// ErrSurveyExpired means the link's time ran out.
	ErrSurveyExpired = errors.New("the survey link has expired")
	// ErrSurveyAnswered means the survey already has its one answer.
	ErrSurveyAnswered = errors.New("the survey was already answered")
)

const maxComment = 2000

// Survey is a ticket's CSAT survey, created when the ticket is first
// resolved; one per ticket.
type Survey struct {
	ID         uuid.UUID
	TicketID   uuid.UUID
	TokenHash  []byte
	ExpireTime time.Time
	// Score is 0 until answered.
	Score      int32
	Comment    string
	AnswerTime *time.Time
	CreateTime time.Time
}

// Resource is the survey's resource name.
func (s Survey) Resource() string {
	return "tickets/" + s.TicketID.String() + "/csatSurvey"
}

// PublicSurvey is what the link's holder sees: the ticket's subject and
// the survey, never the conversation.
type PublicSurvey struct {
	Survey
	Subject     string
	ResolveTime *time.Time
}

// SurveyStore keeps CSAT surveys. Survey reads and writes by token run
// without a caller, scoped to the tenant the token names.
type SurveyStore interface {
	// PublicSurvey returns the survey with id in tenant and its ticket's subject.
	PublicSurvey(ctx context.Context, tenant, id uuid.UUID) (PublicSurvey, error)
	// AnswerSurvey locks the survey, lets answer check and fill it, and
	// saves it with EventSurveyAnswered.
	AnswerSurvey(ctx context.Context, tenant, id uuid.UUID, answer func(*Survey) error) (PublicSurvey, error)
	// IssueSurveyLink locks the ticket's survey, lets issue rotate its hash,
	// and saves it with EventSurveyIssued. ErrSurveyNotFound when the ticket
	// has none (it was never resolved).
	IssueSurveyLink(ctx context.Context, caller auth.Caller, ticketID uuid.UUID, issue func(*Survey) error) (Survey, error)
}

// surveyTokenPrefix starts every survey token, so scanners and humans recognise one.
const surveyTokenPrefix = "cs_"

// newSurveyToken returns cs_<tenant><survey>_<256-bit secret> and the
// SHA-256 of the whole token; only the hash is stored.
func newSurveyToken(tenant, survey uuid.UUID) (string, []byte) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand never fails on supported platforms
	token := surveyTokenPrefix + hex.EncodeToString(tenant[:]) + hex.EncodeToString(survey[:]) + "_" +
		base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256([]byte(token))
	return token, h[:]
}

func parseSurveyToken(token string) (tenant, survey uuid.UUID, hash []byte, ok bool) {
	rest, found := strings.CutPrefix(token, surveyTokenPrefix)
	ids, _, found2 := strings.Cut(rest, "_")
	if !found || !found2 || len(ids) != 64 {
		return uuid.Nil, uuid.Nil, nil, false
	}
	raw, err := hex.DecodeString(ids)
	if err != nil {
		return uuid.Nil, uuid.Nil, nil, false
	}
	copy(tenant[:], raw[:16])
	copy(survey[:], raw[16:])
	h := sha256.Sum256([]byte(token))
	return tenant, survey, h[:], true
}

// newSurvey is the survey a first resolution creates; its link is issued
// separately, by whatever sends it to the customer.
func newSurvey(ticketID uuid.UUID, at time.Time, ttl time.Duration) Survey {
	_, hash := newSurveyToken(uuid.Nil, uuid.Nil)
	return Survey{ID: uuid.Must(uuid.NewV7()), TicketID: ticketID, TokenHash: hash, ExpireTime: at.Add(ttl), CreateTime: at}
}

// ImportedSurvey is the answered survey an import records for a source
// CSAT score: answered at resolution, with a hash no token matches.
func ImportedSurvey(t Ticket, score int32) Survey {
	sv := newSurvey(t.ID, *t.ResolveTime, 0)
	sv.Score, sv.AnswerTime = score, t.ResolveTime
	return sv
}

// bySurveyToken resolves a token to its survey, refusing any mismatch as
// ErrSurveyNotFound.
func (s *Service) bySurveyToken(ctx context.Context, token string) (PublicSurvey, uuid.UUID, error) {
	tenant, id, hash, ok := parseSurveyToken(token)
	if !ok {
		return PublicSurvey{}, uuid.Nil, ErrSurveyNotFound
	}
	ps, err := s.store.PublicSurvey(ctx, tenant, id)
	if err != nil {
		return PublicSurvey{}, uuid.Nil, err
	}
	if subtle.ConstantTimeCompare(hash, ps.TokenHash) != 1 {
		return PublicSurvey{}, uuid.Nil, ErrSurveyNotFound
	}
	return ps, tenant, nil
}

// SurveyByToken shows the survey a link opens; it needs no caller.
func (s *Service) SurveyByToken(ctx context.Context, token string) (PublicSurvey, error) {
	ps, _, err := s.bySurveyToken(ctx, token)
	if err != nil {
		return PublicSurvey{}, err
	}
	if ps.AnswerTime == nil && !now().Before(ps.ExpireTime) {
		return PublicSurvey{}, ErrSurveyExpired
	}
	return ps, nil
}

// AnswerSurvey records the link holder's score (1 to 5) and comment, once.
func (s *Service) AnswerSurvey(ctx context.Context, token string, score int32, comment string) (PublicSurvey, error) {
	comment = strings.TrimSpace(comment)
	v := &validation.Error{}
	if score < 1 || score > 5 {
		v.Add("score", "must be 1 to 5")
	}
	if utf8.RuneCountInString(comment) > maxComment {
		v.Add("comment", "must be at most %d characters", maxComment)
	}
	if err := v.Err(); err != nil {
		return PublicSurvey{}, err
	}
	ps, tenant, err := s.bySurveyToken(ctx, token)
	if err != nil {
		return PublicSurvey{}, err
	}
	return s.store.AnswerSurvey(ctx, tenant, ps.ID, func(sv *Survey) error {
		at := now()
		switch {
		case subtle.ConstantTimeCompare(sv.TokenHash, ps.TokenHash) != 1:
			// The link was reissued since it was read.
			return ErrSurveyNotFound
		case sv.AnswerTime != nil:
			return ErrSurveyAnswered
		case !at.Before(sv.ExpireTime):
			return ErrSurveyExpired
		}
		sv.Score, sv.Comment, sv.AnswerTime = score, comment, &at
		return nil
	})
}

// IssueSurveyLink gives the ticket's survey a new token, which invalidates
// earlier links, and returns it once; an answered or expired survey gets
// none.
func (s *Service) IssueSurveyLink(ctx context.Context, caller auth.Caller, ticketID uuid.UUID) (string, Survey, error) {
	if err := allow(caller, writers); err != nil {
		return "", Survey{}, err
	}
	tenant, err := uuid.Parse(caller.TenantID)
	if err != nil {
		return "", Survey{}, fmt.Errorf("tenant of caller: %w", err)
	}
	var token string
	sv, err := s.store.IssueSurveyLink(ctx, caller, ticketID, func(sv *Survey) error {
		switch {
		case sv.AnswerTime != nil:
			return ErrSurveyAnswered
		case !now().Before(sv.ExpireTime):
			return ErrSurveyExpired
		}
		token, sv.TokenHash = newSurveyToken(tenant, sv.ID)
		return nil
	})
	if err != nil {
		return "", Survey{}, err
	}
	return token, sv, nil
}
