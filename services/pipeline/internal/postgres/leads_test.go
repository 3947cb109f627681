package postgres_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/pipeline/internal/lead"
	"github.com/rapportcrm/rapport/services/pipeline/internal/postgres"
)

func newLead(name, territory string) lead.Lead {
	return lead.Lead{ID: uuid.Must(uuid.NewV7()), DisplayName: name, Source: "api", Status: lead.StatusNew, Territory: territory}
}

func TestLeadStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, s *postgres.LeadStore, c auth.Caller, db *pgtest.DB)
	}{
		{"create records event and audit row; repeat returns the first", func(t *testing.T, s *postgres.LeadStore, c auth.Caller, db *pgtest.DB) {
			first, err := s.CreateLead(t.Context(), c, "req-1", newLead("Ann", ""))
			if err != nil {
				t.Fatal(err)
			}
			again, err := s.CreateLead(t.Context(), c, "req-1", newLead("Bob", ""))
			if err != nil || again.ID != first.ID || again.DisplayName != "Ann" {
				t.Errorf("CreateLead(repeat) = %v, %v; want %v", again, err, first)
			}
			if n := count(t, db, `SELECT count(*) FROM outbox WHERE type = 'lead.created'`); n != 1 {
				t.Errorf("lead.created events = %d, want 1", n)
			}
			if n := count(t, db, `SELECT count(*) FROM audit_log WHERE resource LIKE 'leads/%'`); n != 1 {
				t.Errorf("lead audit rows = %d, want 1", n)
			}
		}},
		{"another tenant's lead is not found and cannot change", func(t *testing.T, s *postgres.LeadStore, c auth.Caller, db *pgtest.DB) {
			l, err := s.CreateLead(t.Context(), c, "", newLead("Ann", ""))
			if err != nil {
				t.Fatal(err)
			}
			other := auth.Caller{TenantID: uuid.NewString(), PrincipalID: c.PrincipalID}
			if _, err := s.Lead(t.Context(), other, l.ID); !errors.Is(err, lead.ErrNotFound) {
				t.Errorf("Lead(other tenant) = %v, want ErrNotFound", err)
			}
			_, err = s.MutateLead(t.Context(), other, l.ID, lead.EventUpdated, func(l *lead.Lead) error { l.DisplayName = "X"; return nil })
			if !errors.Is(err, lead.ErrNotFound) {
				t.Errorf("MutateLead(other tenant) = %v, want ErrNotFound", err)
			}
		}},
		{"a failed mutation writes nothing", func(t *testing.T, s *postgres.LeadStore, c auth.Caller, db *pgtest.DB) {
			l, err := s.CreateLead(t.Context(), c, "", newLead("Ann", ""))
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.MutateLead(t.Context(), c, l.ID, lead.EventConverted, func(l *lead.Lead) error {
				l.Status = lead.StatusConverted // without a customer: the table's check refuses it
				return nil
			})
			if err == nil {
				t.Fatal("MutateLead(converted without customer) succeeded")
			}
			got, err := s.Lead(t.Context(), c, l.ID)
			if err != nil || got.Revision != 1 || got.Status != lead.StatusNew {
				t.Errorf("lead after failed mutation = %v, %v", got, err)
			}
		}},
		{"web form keys resolve across tenants, inactive or unknown do not", func(t *testing.T, s *postgres.LeadStore, c auth.Caller, db *pgtest.DB) {
			f, err := s.CreateWebForm(t.Context(), c, "", lead.WebForm{ID: uuid.Must(uuid.NewV7()), DisplayName: "F", FormKey: "wf_TEST" + uuid.NewString()[:8], Active: true})
			if err != nil {
				t.Fatal(err)
			}
			tenant, got, err := s.WebFormByKey(t.Context(), f.FormKey)
			if err != nil || tenant != c.TenantID || got.ID != f.ID {
				t.Errorf("WebFormByKey = %s, %v, %v; want tenant %s form %s", tenant, got, err, c.TenantID, f.ID)
			}
			if _, _, err := s.WebFormByKey(t.Context(), "wf_unknown"); !errors.Is(err, lead.ErrWebFormNotFound) {
				t.Errorf("WebFormByKey(unknown) = %v, want ErrWebFormNotFound", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, db := newStore(t)
			c := rep()
			tt.run(t, postgres.NewLeadStore(db.App), c, db)
		})
	}
}

func TestAssign(t *testing.T) {
	t.Parallel()
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	tests := []struct {
		name     string
		capacity int32
		turn     int
		open     map[uuid.UUID]int
		want     uuid.UUID
		wantNext int
		wantOK   bool
	}{
		{"first turn", 0, 0, nil, a, 1, true},
		{"wraps", 0, 2, nil, c, 0, true},
		{"skips the full", 1, 0, map[uuid.UUID]int{a: 1}, b, 2, true},
		{"everyone full", 2, 1, map[uuid.UUID]int{a: 2, b: 3, c: 2}, uuid.Nil, 1, false},
		{"turn beyond a shrunk list", 0, 7, nil, b, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, next, ok := lead.Assign([]uuid.UUID{a, b, c}, tt.capacity, tt.turn, tt.open)
			if got != tt.want || next != tt.wantNext || ok != tt.wantOK {
				t.Errorf("Assign = %s, %d, %t; want %s, %d, %t", got, next, ok, tt.want, tt.wantNext, tt.wantOK)
			}
		})
	}
}
