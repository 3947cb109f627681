package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/loyalty"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
)

// world is one tenant's customer service over a private database.
type world struct {
	db        *pgtest.DB
	store     *postgres.Store
	customers *customer.Service
	profiles  *profile.Service
	resolver  *resolution.Service
	admin     auth.Caller
}

func newWorld(t *testing.T, retention time.Duration) *world {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	return &world{db: db, store: store, customers: customer.New(store), profiles: profile.New(store),
		resolver: resolution.New(store, retention, nil),
		admin:    auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}}
}

func (w *world) person(t *testing.T, name, email, phone string) customer.Customer {
	t.Helper()
	c, err := w.customers.Create(t.Context(), w.admin, customer.Customer{Kind: customer.KindPerson, DisplayName: name, Email: email, Phone: phone, CountryCode: "GB"}, "")
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	return c
}

func (w *world) address(t *testing.T, id uuid.UUID, postal, line string) profile.ContactPoint {
	t.Helper()
	cp, err := w.profiles.CreateContactPoint(t.Context(), w.admin, profile.ContactPoint{CustomerID: id, Type: profile.ContactPostal,
		Address: profile.PostalAddress{Lines: []string{line}, Locality: "London", PostalCode: postal, CountryCode: "GB"}}, "")
	if err != nil {
		t.Fatalf("CreateContactPoint: %v", err)
	}
	return cp
}

// owner counts rows behind RLS with the superuser pool.
func (w *world) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := w.db.Owner.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// snapshot lists, per table and customer column, the row keys naming id.
func (w *world) snapshot(t *testing.T, id uuid.UUID) map[string][]string {
	t.Helper()
	queries := map[string]string{
		"contact_points":                        `SELECT contact_point_id::text || ':' || is_primary FROM contact_points WHERE customer_id = $1`,
		"organization_contacts.person_id":       `SELECT organization_contact_id::text FROM organization_contacts WHERE person_id = $1`,
		"organization_contacts.organization_id": `SELECT organization_contact_id::text FROM organization_contacts WHERE organization_id = $1`,
		"group_members":                         `SELECT member_id::text FROM group_members WHERE customer_id = $1`,
		"relationships.from":                    `SELECT relationship_id::text FROM relationships WHERE from_customer_id = $1`,
		"relationships.to":                      `SELECT relationship_id::text FROM relationships WHERE to_customer_id = $1`,
		"consents":                              `SELECT channel || '.' || purpose || ':' || state || ':' || consent_record_id FROM consents WHERE customer_id = $1`,
		"consent_records":                       `SELECT consent_record_id::text FROM consent_records WHERE customer_id = $1`,
		"lifecycle_transitions":                 `SELECT transition_id::text FROM lifecycle_transitions WHERE customer_id = $1`,
		"customer_partners":                     `SELECT partner_id::text FROM customer_partners WHERE customer_id = $1`,
	}
	out := map[string][]string{}
	for name, q := range queries {
		rows, err := w.db.Owner.Query(context.Background(), q, id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out[name] = append(out[name], s)
		}
		rows.Close()
		sort.Strings(out[name])
	}
	return out
}

func sameSnapshot(a, b map[string][]string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// TestMergeAndUnmerge merges a loser with a full profile into a survivor,
// checks every row moved and conflicts were settled, then unmerges and
// checks both customers are exactly as before, except for a row created on
// the survivor after the merge, which stays.
func TestMergeAndUnmerge(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Hour)
	ctx := t.Context()
	survivor := w.person(t, "Ada", "ada@survivor.example", "")
	loser := w.person(t, "Ada Lovelace", "ada@loser.example", "+441632960961")
	other := w.person(t, "Charles Babbage", "", "")
	org, err := w.customers.Create(ctx, w.admin, customer.Customer{Kind: customer.KindOrganization, DisplayName: "Analytical Engines"}, "")
	if err != nil {
		t.Fatal(err)
	}
	w.address(t, loser.ID, "SW1A 1AA", "1 Main Street")
	if _, err := w.profiles.CreateOrgContact(ctx, w.admin, profile.OrgContact{OrganizationID: org.ID, PersonID: loser.ID, Title: "Analyst"}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := w.profiles.CreateRelationship(ctx, w.admin, profile.Relationship{FromID: loser.ID, ToID: other.ID, Type: profile.RelationSibling}, ""); err != nil {
		t.Fatal(err)
	}
	// A relationship between the two stays with the loser: moved, it would link the survivor with itself.
	if _, err := w.profiles.CreateRelationship(ctx, w.admin, profile.Relationship{FromID: survivor.ID, ToID: loser.ID, Type: profile.RelationSibling}, ""); err != nil {
		t.Fatal(err)
	}
	g, err := w.profiles.CreateGroup(ctx, w.admin, profile.Group{Kind: profile.GroupHousehold, DisplayName: "Lovelace household"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.profiles.CreateMember(ctx, w.admin, profile.Member{GroupID: g.ID, CustomerID: loser.ID}, ""); err != nil {
		t.Fatal(err)
	}
	consent := func(id uuid.UUID, ch profile.Channel, st profile.ConsentState) {
		if _, err := w.profiles.SetConsent(ctx, w.admin, profile.Consent{CustomerID: id, Channel: ch, Purpose: profile.PurposeMarketing, State: st, Source: "web"}); err != nil {
			t.Fatal(err)
		}
	}
	consent(survivor.ID, profile.ChannelEmail, profile.ConsentGranted)
	consent(loser.ID, profile.ChannelEmail, profile.ConsentWithdrawn) // newer: the survivor adopts it
	consent(loser.ID, profile.ChannelSMS, profile.ConsentGranted)     // only the loser's: it moves
	partner := uuid.New()
	if _, err := w.db.Owner.Exec(ctx, `INSERT INTO customer_partners (tenant_id, customer_id, partner_id) VALUES ($1, $2, $3)`, w.admin.TenantID, loser.ID, partner); err != nil {
		t.Fatal(err)
	}
	survivor, _ = w.customers.Get(ctx, w.admin, survivor.ID)
	loser, _ = w.customers.Get(ctx, w.admin, loser.ID)
	beforeSurvivor, beforeLoser := w.snapshot(t, survivor.ID), w.snapshot(t, loser.ID)

	m, merged, err := w.resolver.Merge(ctx, w.admin, resolution.MergeInput{SurvivorID: survivor.ID, LoserID: loser.ID,
		Rules: []resolution.FieldRule{{Field: "email", Rule: resolution.RuleLoser}}, SurvivorEtag: survivor.Etag(), LoserEtag: loser.Etag()})
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	if merged.Email != "ada@loser.example" || merged.Phone != "+441632960961" || merged.DisplayName != "Ada" {
		t.Errorf("survivor after merge = %+v; want the loser's e-mail (rule), its phone (non-empty), the survivor's name", merged)
	}
	gone, err := w.customers.Get(ctx, w.admin, loser.ID)
	if err != nil || gone.DeleteTime == nil || gone.MergedInto == nil || *gone.MergedInto != survivor.ID {
		t.Fatalf("loser after merge = %+v, %v; want deleted and merged into the survivor", gone, err)
	}
	after := w.snapshot(t, survivor.ID)
	for _, table := range []string{"organization_contacts.person_id", "group_members", "relationships.from", "consent_records", "customer_partners"} {
		if len(after[table]) <= len(beforeSurvivor[table]) {
			t.Errorf("%s of the survivor after merge = %v; want the loser's rows added", table, after[table])
		}
	}
	left := w.snapshot(t, loser.ID)
	if len(left["contact_points"]) != 0 || len(left["relationships.to"]) != 1 || len(left["consents"]) != 1 {
		t.Errorf("loser after merge keeps %v; want only the relationship with the survivor and the conflicting consent", left)
	}
	// One primary e-mail: the loser's, as the e-mail rule chose.
	if n := w.count(t, `SELECT count(*) FROM contact_points WHERE customer_id = $1 AND type = 1 AND is_primary AND value = 'ada@loser.example'`, survivor.ID); n != 1 {
		t.Errorf("%d primary contact points with the chosen e-mail, want 1", n)
	}
	if n := w.count(t, `SELECT count(*) FROM consents WHERE customer_id = $1 AND channel = 1 AND state = 2`, survivor.ID); n != 1 {
		t.Errorf("the survivor did not adopt the loser's newer e-mail consent")
	}
	if n := w.count(t, `SELECT count(*) FROM outbox WHERE type = 'customer.merged' AND resource = $1`, m.Resource()); n != 1 {
		t.Errorf("%d customer.merged events, want 1", n)
	}
	if m.MovedRows == 0 || m.State != resolution.MergeMerged {
		t.Errorf("merge = %+v", m)
	}

	// Written after the merge: stays with the survivor on unmerge.
	late := w.address(t, survivor.ID, "EC1A 1BB", "2 Side Street")

	m, restored, back, err := w.resolver.Unmerge(ctx, w.admin, m.ID)
	if err != nil {
		t.Fatalf("Unmerge: %v", err)
	}
	if m.State != resolution.MergeUnmerged || back.DeleteTime != nil || back.MergedInto != nil {
		t.Errorf("after unmerge: merge %+v, loser %+v", m, back)
	}
	if restored.Email != survivor.Email || restored.Phone != survivor.Phone || back.Email != loser.Email || back.Phone != loser.Phone {
		t.Errorf("unmerge restored survivor %+v and loser %+v; want their fields before the merge", restored, back)
	}
	nowSurvivor, nowLoser := w.snapshot(t, survivor.ID), w.snapshot(t, loser.ID)
	if !sameSnapshot(nowLoser, beforeLoser) {
		t.Errorf("loser rows after unmerge\n%v\nwant\n%v", nowLoser, beforeLoser)
	}
	nowSurvivor["contact_points"] = without(nowSurvivor["contact_points"], late.ID.String()+":false")
	if !sameSnapshot(nowSurvivor, beforeSurvivor) {
		t.Errorf("survivor rows after unmerge\n%v\nwant\n%v", nowSurvivor, beforeSurvivor)
	}
	if _, _, _, err := w.resolver.Unmerge(ctx, w.admin, m.ID); !errors.Is(err, resolution.ErrUnmerged) {
		t.Errorf("second Unmerge = %v, want %v", err, resolution.ErrUnmerged)
	}
}

func without(s []string, v string) []string {
	out := []string{}
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// TestMergeRefusals checks each refused merge names its cause and leaves
// nothing behind: no event, no journal, both customers unchanged.
func TestMergeRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Hour)
	ctx := t.Context()
	a := w.person(t, "Ada", "ada@a.example", "")
	b := w.person(t, "Ada L", "ada@b.example", "")
	c := w.person(t, "Ada M", "ada@c.example", "")
	org, err := w.customers.Create(ctx, w.admin, customer.Customer{Kind: customer.KindOrganization, DisplayName: "Org"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.resolver.Merge(ctx, w.admin, resolution.MergeInput{SurvivorID: a.ID, LoserID: c.ID}); err != nil {
		t.Fatal(err)
	}
	elsewhere := w.admin
	elsewhere.TenantID = uuid.NewString()
	foreign, err := w.customers.Create(ctx, elsewhere, customer.Customer{Kind: customer.KindPerson, DisplayName: "Ada"}, "")
	if err != nil {
		t.Fatal(err)
	}
	rep := auth.Caller{TenantID: w.admin.TenantID, PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesRep}}
	events := w.count(t, `SELECT count(*) FROM outbox`)
	tests := []struct {
		name    string
		caller  auth.Caller
		in      resolution.MergeInput
		wantErr error
		field   string
	}{
		{name: "itself", in: resolution.MergeInput{SurvivorID: a.ID, LoserID: a.ID}, field: "loser_id"},
		{name: "bad rule", in: resolution.MergeInput{SurvivorID: a.ID, LoserID: b.ID, Rules: []resolution.FieldRule{{Field: "kind"}}}, field: "field_rules[0].field"},
		{name: "other tenant's customer", in: resolution.MergeInput{SurvivorID: a.ID, LoserID: foreign.ID}, wantErr: customer.ErrNotFound},
		{name: "already merged", in: resolution.MergeInput{SurvivorID: b.ID, LoserID: c.ID}, wantErr: customer.ErrMerged},
		{name: "stale etag", in: resolution.MergeInput{SurvivorID: a.ID, LoserID: b.ID, LoserEtag: "999"}, wantErr: customer.ErrEtagMismatch},
		{name: "person and organisation", in: resolution.MergeInput{SurvivorID: a.ID, LoserID: org.ID}, wantErr: resolution.ErrKindMismatch},
		{name: "sales rep", caller: rep, in: resolution.MergeInput{SurvivorID: a.ID, LoserID: b.ID}, wantErr: auth.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caller := w.admin
			if tt.caller.TenantID != "" {
				caller = tt.caller
			}
			_, _, err := w.resolver.Merge(ctx, caller, tt.in)
			if tt.field != "" {
				var v *validation.Error
				if !errors.As(err, &v) || v.Violations[0].Field != tt.field {
					t.Fatalf("Merge = %v, want a violation on %s", err, tt.field)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Merge = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if n := w.count(t, `SELECT count(*) FROM outbox`); n != events {
		t.Errorf("%d events after refused merges, want %d", n, events)
	}
	if n := w.count(t, `SELECT count(*) FROM customer_merges`); n != 1 {
		t.Errorf("%d journal entries, want the one merge that succeeded", n)
	}
	if got, _ := w.customers.Get(ctx, w.admin, b.ID); got.Revision != b.Revision || got.DeleteTime != nil {
		t.Errorf("b after refused merges = %+v, want unchanged", got)
	}
}

// TestUnmergeAfterRetention refuses an unmerge once the window closed.
func TestUnmergeAfterRetention(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Millisecond)
	ctx := t.Context()
	a, b := w.person(t, "Ada", "ada@x.example", ""), w.person(t, "Ada", "ada@x.example", "")
	m, _, err := w.resolver.Merge(ctx, w.admin, resolution.MergeInput{SurvivorID: a.ID, LoserID: b.ID})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	if _, _, _, err := w.resolver.Unmerge(ctx, w.admin, m.ID); !errors.Is(err, resolution.ErrRetentionExpired) {
		t.Fatalf("Unmerge = %v, want %v", err, resolution.ErrRetentionExpired)
	}
	if got, _ := w.customers.Get(ctx, w.admin, b.ID); got.MergedInto == nil {
		t.Errorf("loser after refused unmerge = %+v, want still merged", got)
	}
	if _, err := w.customers.Undelete(ctx, w.admin, b.ID, ""); !errors.Is(err, customer.ErrMerged) {
		t.Errorf("Undelete(merged loser) = %v, want %v", err, customer.ErrMerged)
	}
}

// TestConcurrentMergesOfOneLoser races two merges of the same loser into
// different survivors: exactly one wins.
func TestConcurrentMergesOfOneLoser(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Hour)
	ctx := t.Context()
	loser := w.person(t, "Ada", "ada@x.example", "+441632960961")
	w.address(t, loser.ID, "SW1A 1AA", "1 Main Street")
	survivors := []customer.Customer{w.person(t, "Ada 1", "", ""), w.person(t, "Ada 2", "", "")}
	errs := make([]error, len(survivors))
	var wg sync.WaitGroup
	for i, s := range survivors {
		wg.Go(func() {
			_, _, errs[i] = w.resolver.Merge(ctx, w.admin, resolution.MergeInput{SurvivorID: s.ID, LoserID: loser.ID})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, customer.ErrMerged):
			t.Errorf("losing merge = %v, want %v", err, customer.ErrMerged)
		}
	}
	if won != 1 {
		t.Fatalf("%d merges won, want 1 (errors %v)", won, errs)
	}
	if n := w.count(t, `SELECT count(DISTINCT customer_id) FROM contact_points WHERE tenant_id = $1 AND value = '+441632960961'`, w.admin.TenantID); n != 1 {
		t.Errorf("the loser's phone sits on %d customers, want 1", n)
	}
}

// TestScanFindsPlantedDuplicates hides three duplicates among noise and
// scans in small batches: the scan finds them, queues nothing else, and a
// second scan queues nothing new.
func TestScanFindsPlantedDuplicates(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Hour)
	ctx := t.Context()
	first, last := []string{"Oliver", "Amelia", "Noah", "Isla", "Leo", "Ava", "Arthur", "Mia", "Oscar", "Ivy"},
		[]string{"Thompson", "Okafor", "Nakamura", "Kowalski", "Haddad", "Fitzgerald", "Lindqvist", "Moreau", "Brennan", "Castillo"}
	for i, f := range first {
		for j, l := range last {
			if (i+j)%3 == 0 {
				w.person(t, f+" "+l, fmt.Sprintf("%s.%s@noise.example", strings.ToLower(f), strings.ToLower(l)), "")
			}
		}
	}
	want := map[[2]uuid.UUID]string{}
	plant := func(a, b customer.Customer, why string) {
		k := [2]uuid.UUID{a.ID, b.ID}
		if b.ID.String() < a.ID.String() {
			k = [2]uuid.UUID{b.ID, a.ID}
		}
		want[k] = why
	}
	plant(w.person(t, "Grace Hopper", "Grace@Navy.example", ""), w.person(t, "G. Hopper", "grace@navy.example", ""), "email")
	plant(w.person(t, "Alan Turing", "", "+441632960001"), w.person(t, "A M Turing", "", "01632 960001"), "phone")
	jm, jm2 := w.person(t, "Jürgen Müller", "", ""), w.person(t, "Juergen Mueller", "", "")
	w.address(t, jm.ID, "SW1A 1AA", "1 Main Street")
	w.address(t, jm2.ID, "SW1A 1AA", "1 main street")
	plant(jm, jm2, "name")

	scanner := resolution.NewScanner(w.store, time.Hour, 7)
	scan := func() resolution.Scan {
		t.Helper()
		s, err := w.resolver.StartScan(ctx, w.admin, "")
		if err != nil {
			t.Fatalf("StartScan: %v", err)
		}
		if _, err := w.resolver.StartScan(ctx, w.admin, ""); !errors.Is(err, resolution.ErrScanRunning) {
			t.Fatalf("second StartScan = %v, want %v", err, resolution.ErrScanRunning)
		}
		if err := scanner.Drain(ctx); err != nil {
			t.Fatalf("Drain: %v", err)
		}
		if s, err = w.resolver.Scan(ctx, w.admin, s.ID); err != nil {
			t.Fatal(err)
		}
		if s.State != resolution.ScanSucceeded || s.Processed != s.Total || s.FinishTime == nil {
			t.Fatalf("scan = %+v, want succeeded with every customer processed", s)
		}
		return s
	}
	s := scan()
	pairs, _, err := w.resolver.ListPairs(ctx, w.admin, resolution.PairQuery{State: resolution.PairOpen, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := map[[2]uuid.UUID]bool{}
	for _, p := range pairs {
		found[[2]uuid.UUID{p.First, p.Second}] = true
		if _, ok := want[[2]uuid.UUID{p.First, p.Second}]; !ok {
			t.Errorf("scan queued a pair that is not a planted duplicate: %+v", p)
		}
	}
	for k, why := range want {
		if !found[k] {
			t.Errorf("scan missed the planted %s duplicate", why)
		}
	}
	if s.PairsFound != int64(len(want)) {
		t.Errorf("scan found %d pairs, want %d", s.PairsFound, len(want))
	}
	if again := scan(); again.PairsFound != 0 {
		t.Errorf("second scan queued %d pairs, want none (each pair is queued once)", again.PairsFound)
	}
	if n := w.count(t, `SELECT count(*) FROM duplicate_pairs`); n != len(want) {
		t.Errorf("%d queued pairs after two scans, want %d", n, len(want))
	}
}

// TestMergeMovesLoyalty checks that a merge hands the survivor the loser's
// memberships of programs the survivor is not in, with their balance and
// ledger, leaves a shared program's membership with the loser, and that an
// unmerge moves them back.
func TestMergeMovesLoyalty(t *testing.T) {
	t.Parallel()
	w := newWorld(t, time.Hour)
	ctx := t.Context()
	points := loyalty.New(w.store)
	survivor, loser := w.person(t, "Ada", "ada@survivor.example", ""), w.person(t, "Ada Lovelace", "ada@loser.example", "")
	var programs [2]loyalty.Program
	for i := range programs {
		p, err := points.CreateProgram(ctx, w.admin, loyalty.Program{DisplayName: fmt.Sprintf("Program %d", i), Active: true}, "")
		if err != nil {
			t.Fatal(err)
		}
		programs[i] = p
	}
	enroll := func(p loyalty.Program, c customer.Customer, earn int64) {
		t.Helper()
		if _, err := points.Enroll(ctx, w.admin, p.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := points.Post(ctx, w.admin, loyalty.Transaction{ProgramID: p.ID, CustomerID: c.ID, Kind: loyalty.KindEarn,
			Points: earn, ExternalReference: fmt.Sprintf("order-%s-%d", c.ID, earn)}); err != nil {
			t.Fatal(err)
		}
	}
	enroll(programs[0], loser, 70)
	enroll(programs[1], loser, 20)
	enroll(programs[1], survivor, 5)
	balance := func(p loyalty.Program, c customer.Customer) int64 {
		t.Helper()
		m, err := points.Membership(ctx, w.admin, p.ID, c.ID)
		if errors.Is(err, loyalty.ErrNotMember) {
			return -1
		}
		if err != nil {
			t.Fatal(err)
		}
		return m.Balance
	}
	m, _, err := w.resolver.Merge(ctx, w.admin, resolution.MergeInput{SurvivorID: survivor.ID, LoserID: loser.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got := [4]int64{balance(programs[0], survivor), balance(programs[0], loser), balance(programs[1], survivor), balance(programs[1], loser)}; got != [4]int64{70, -1, 5, 20} {
		t.Fatalf("balances after merge (p0 survivor, p0 loser, p1 survivor, p1 loser) = %v, want [70 -1 5 20]", got)
	}
	if n := w.count(t, `SELECT count(*) FROM loyalty_transactions WHERE customer_id = $1 AND program_id = $2`, survivor.ID, programs[0].ID); n != 1 {
		t.Errorf("survivor has %d transactions in the moved program, want the loser's 1", n)
	}
	if _, _, err := points.Post(ctx, w.admin, loyalty.Transaction{ProgramID: programs[0].ID, CustomerID: survivor.ID, Kind: loyalty.KindRedeem,
		Points: 30, ExternalReference: "redeem-after-merge"}); err != nil {
		t.Fatalf("redeeming moved points: %v", err)
	}
	if _, _, _, err := w.resolver.Unmerge(ctx, w.admin, m.ID); err != nil {
		t.Fatal(err)
	}
	if got := [3]int64{balance(programs[0], survivor), balance(programs[0], loser), balance(programs[1], survivor)}; got != [3]int64{-1, 40, 5} {
		t.Fatalf("balances after unmerge (p0 survivor, p0 loser, p1 survivor) = %v, want [-1 40 5]", got)
	}
	if n := w.count(t, `SELECT count(*) FROM loyalty_lots WHERE customer_id = $1`, loser.ID); n != 2 {
		t.Errorf("loser has %d point lots after unmerge, want 2", n)
	}
}
