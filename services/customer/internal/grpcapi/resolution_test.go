package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/resolution"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// resolutionEnv serves the customer and resolution APIs, with a running
// scan worker, over a private database; callers are JWT principals.
type resolutionEnv struct {
	customers customerv1.CustomerServiceClient
	resolver  customerv1.ResolutionServiceClient
	db        *pgtest.DB
	tokens    *grpctest.Tokens
	tenant    string
}

func newResolutionEnv(t *testing.T, retention time.Duration) *resolutionEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	scanner := resolution.NewScanner(store, 20*time.Millisecond, 5)
	svc := resolution.New(store, retention, scanner)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		scanner.Run(ctx, func(err error) { t.Errorf("scan worker: %v", err) })
	}()
	t.Cleanup(func() { stop(); <-done })
	conn := grpctest.Serve(t, tokens.Authenticator(nil), func(srv *grpcserver.Server) {
		customerv1.RegisterCustomerServiceServer(srv, grpcapi.NewCustomers(customer.New(store), search.New(store), db.App, 20*time.Millisecond).WithDuplicates(svc))
		customerv1.RegisterResolutionServiceServer(srv, grpcapi.NewResolution(svc))
	})
	return &resolutionEnv{customers: customerv1.NewCustomerServiceClient(conn), resolver: customerv1.NewResolutionServiceClient(conn),
		db: db, tokens: tokens, tenant: uuid.NewString()}
}

func (e *resolutionEnv) as(t *testing.T, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), e.tenant, roles...)
}

func (e *resolutionEnv) create(t *testing.T, name, email, phone string) *customerv1.CreateCustomerResponse {
	t.Helper()
	resp, err := e.customers.CreateCustomer(e.as(t, auth.RoleAdmin), &customerv1.CreateCustomerRequest{Customer: &customerv1.Customer{
		Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: name, Email: email, Phone: phone}})
	if err != nil {
		t.Fatalf("CreateCustomer(%s): %v", name, err)
	}
	return resp
}

func TestCreateReturnsDuplicateCandidates(t *testing.T) {
	t.Parallel()
	e := newResolutionEnv(t, time.Hour)
	first := e.create(t, "Grace Hopper", "grace@navy.example", "")
	if len(first.GetDuplicateCandidates()) != 0 {
		t.Fatalf("first customer has candidates %v, want none", first.GetDuplicateCandidates())
	}
	e.create(t, "Alan Turing", "alan@bletchley.example", "")
	second := e.create(t, "G. Hopper", "Grace@Navy.example", "")
	got := second.GetDuplicateCandidates()
	if len(got) != 1 || got[0].GetCustomerId() != first.GetCustomer().GetCustomerId() || got[0].GetScore() < resolution.Threshold {
		t.Fatalf("candidates = %v, want the first Grace Hopper", got)
	}
	if f := got[0].GetFeatures(); len(f) == 0 || f[0].GetName() != "email" || f[0].GetReason() == "" || f[0].GetContribution() != 0.9 {
		t.Errorf("features = %v, want an explained e-mail match", f)
	}
	if second.GetCustomer().GetDeleteTime() != nil || second.GetCustomer().GetMergedIntoCustomerId() != "" {
		t.Errorf("the new customer = %v, want created and not merged", second.GetCustomer())
	}
	for _, role := range []auth.Role{auth.RoleAdmin, auth.RoleSupportAgent} {
		list, err := e.resolver.ListDuplicateCandidates(e.as(t, role), &customerv1.ListDuplicateCandidatesRequest{CustomerId: first.GetCustomer().GetCustomerId()})
		if err != nil || len(list.GetCandidates()) != 1 || list.GetCandidates()[0].GetCustomerId() != second.GetCustomer().GetCustomerId() {
			t.Errorf("ListDuplicateCandidates as %s = %v, %v; want the second Grace Hopper", role, list, err)
		}
	}
	if _, err := e.resolver.ListDuplicateCandidates(e.as(t, auth.RoleAnalyst), &customerv1.ListDuplicateCandidatesRequest{CustomerId: first.GetCustomer().GetCustomerId()}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("ListDuplicateCandidates as an analyst = %v; want PermissionDenied (candidates compare personal data)", err)
	}
	// A sales rep sees only its own customers, so none of these as candidates.
	if list, err := e.resolver.ListDuplicateCandidates(e.as(t, auth.RoleSalesRep), &customerv1.ListDuplicateCandidatesRequest{CustomerId: first.GetCustomer().GetCustomerId()}); status.Code(err) != codes.NotFound {
		t.Errorf("ListDuplicateCandidates as a rep = %v, %v; want NotFound", list, err)
	}
	pairs, err := e.resolver.ListDuplicatePairs(e.as(t, auth.RoleAdmin), &customerv1.ListDuplicatePairsRequest{})
	if err != nil || len(pairs.GetDuplicatePairs()) != 1 || pairs.GetDuplicatePairs()[0].GetState() != customerv1.DuplicatePairState_DUPLICATE_PAIR_STATE_OPEN {
		t.Fatalf("review queue = %v, %v; want the pair found on create, open", pairs, err)
	}
}

func TestResolutionBadInputAndAccess(t *testing.T) {
	t.Parallel()
	e := newResolutionEnv(t, time.Hour)
	a := e.create(t, "Ada", "ada@x.example", "").GetCustomer().GetCustomerId()
	b := e.create(t, "Ada L", "ada@x.example", "").GetCustomer().GetCustomerId()
	// The same people in another tenant of the same database: a pair there too.
	elsewhere := e.tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin)
	var foreign string
	for range 2 {
		resp, err := e.customers.CreateCustomer(elsewhere, &customerv1.CreateCustomerRequest{Customer: &customerv1.Customer{
			Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: "Ada", Email: "ada@x.example"}})
		if err != nil {
			t.Fatal(err)
		}
		foreign = resp.GetCustomer().GetCustomerId()
	}
	foreignPairs, err := e.resolver.ListDuplicatePairs(elsewhere, &customerv1.ListDuplicatePairsRequest{})
	if err != nil || len(foreignPairs.GetDuplicatePairs()) != 1 {
		t.Fatalf("the other tenant's queue = %v, %v; want one pair", foreignPairs, err)
	}
	foreignPair := foreignPairs.GetDuplicatePairs()[0].GetPairId()
	tests := []struct {
		name   string
		role   auth.Role
		call   func(ctx context.Context) error
		code   codes.Code
		fields []string
		reason string
	}{
		{name: "candidates of a non-id", role: auth.RoleAdmin, code: codes.InvalidArgument, fields: []string{"customer_id"},
			call: func(ctx context.Context) error {
				_, err := e.resolver.ListDuplicateCandidates(ctx, &customerv1.ListDuplicateCandidatesRequest{CustomerId: "x"})
				return err
			}},
		{name: "merge with itself", role: auth.RoleAdmin, code: codes.InvalidArgument, fields: []string{"loser_id"},
			call: func(ctx context.Context) error {
				_, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a, LoserId: a})
				return err
			}},
		{name: "merge without ids", role: auth.RoleAdmin, code: codes.InvalidArgument, fields: []string{"survivor_id", "loser_id"},
			call: func(ctx context.Context) error {
				_, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{})
				return err
			}},
		{name: "merge with a bad rule", role: auth.RoleAdmin, code: codes.InvalidArgument, fields: []string{"field_rules[0].rule"},
			call: func(ctx context.Context) error {
				_, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a, LoserId: b,
					FieldRules: []*customerv1.FieldRule{{Field: "email", Rule: customerv1.SurvivorshipRule_SURVIVORSHIP_RULE_UNION}}})
				return err
			}},
		{name: "merge across tenants", role: auth.RoleAdmin, code: codes.NotFound, reason: "CUSTOMER_NOT_FOUND",
			call: func(ctx context.Context) error {
				_, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a, LoserId: foreign})
				return err
			}},
		{name: "stale etag", role: auth.RoleAdmin, code: codes.Aborted, reason: "ETAG_MISMATCH",
			call: func(ctx context.Context) error {
				_, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a, LoserId: b, SurvivorEtag: "41"})
				return err
			}},
		{name: "queue with a bad score", role: auth.RoleAdmin, code: codes.InvalidArgument, fields: []string{"min_score"},
			call: func(ctx context.Context) error {
				_, err := e.resolver.ListDuplicatePairs(ctx, &customerv1.ListDuplicatePairsRequest{MinScore: 2})
				return err
			}},
		{name: "rep merges", role: auth.RoleSalesRep, code: codes.PermissionDenied,
			call: func(ctx context.Context) error {
				_, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a, LoserId: b})
				return err
			}},
		{name: "analyst scans", role: auth.RoleAnalyst, code: codes.PermissionDenied,
			call: func(ctx context.Context) error {
				_, err := e.resolver.StartDuplicateScan(ctx, &customerv1.StartDuplicateScanRequest{})
				return err
			}},
		{name: "rep reads the queue", role: auth.RoleSalesRep, code: codes.PermissionDenied,
			call: func(ctx context.Context) error {
				_, err := e.resolver.ListDuplicatePairs(ctx, &customerv1.ListDuplicatePairsRequest{})
				return err
			}},
		{name: "support agent unmerges", role: auth.RoleSupportAgent, code: codes.PermissionDenied,
			call: func(ctx context.Context) error {
				_, err := e.resolver.UnmergeCustomers(ctx, &customerv1.UnmergeCustomersRequest{MergeId: uuid.NewString()})
				return err
			}},
		{name: "another tenant's pair", role: auth.RoleAdmin, code: codes.NotFound, reason: "DUPLICATE_PAIR_NOT_FOUND",
			call: func(ctx context.Context) error {
				_, err := e.resolver.GetDuplicatePair(ctx, &customerv1.GetDuplicatePairRequest{PairId: foreignPair})
				return err
			}},
		{name: "another tenant's pair dismissed", role: auth.RoleAdmin, code: codes.NotFound, reason: "DUPLICATE_PAIR_NOT_FOUND",
			call: func(ctx context.Context) error {
				_, err := e.resolver.DismissDuplicatePair(ctx, &customerv1.DismissDuplicatePairRequest{PairId: foreignPair})
				return err
			}},
		{name: "unknown merge", role: auth.RoleAdmin, code: codes.NotFound, reason: "MERGE_NOT_FOUND",
			call: func(ctx context.Context) error {
				_, err := e.resolver.UnmergeCustomers(ctx, &customerv1.UnmergeCustomersRequest{MergeId: uuid.NewString()})
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(e.as(t, tt.role))
			if status.Code(err) != tt.code {
				t.Fatalf("%s = %v, want %s", tt.name, err, tt.code)
			}
			for _, f := range tt.fields {
				if !grpctest.Violations(err)[f] {
					t.Errorf("%s violations = %v, want %s", tt.name, grpctest.Violations(err), f)
				}
			}
			if tt.reason != "" && grpctest.Reason(err) != tt.reason {
				t.Errorf("%s reason = %q, want %q", tt.name, grpctest.Reason(err), tt.reason)
			}
		})
	}
	var n int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM customer_merges`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d merges after refused requests (%v), want none", n, err)
	}
}

func TestMergeUnmergeOverGRPC(t *testing.T) {
	t.Parallel()
	e := newResolutionEnv(t, time.Hour)
	ctx := e.as(t, auth.RoleSalesManager)
	a := e.create(t, "Ada", "ada@x.example", "").GetCustomer()
	b := e.create(t, "Ada Lovelace", "ADA@x.example", "+441632960961").GetCustomer()
	merged, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a.GetCustomerId(), LoserId: b.GetCustomerId(),
		SurvivorEtag: a.GetEtag(), LoserEtag: b.GetEtag(), RequestId: "merge-1",
		FieldRules: []*customerv1.FieldRule{{Field: "display_name", Rule: customerv1.SurvivorshipRule_SURVIVORSHIP_RULE_LONGEST}}})
	if err != nil {
		t.Fatalf("MergeCustomers: %v", err)
	}
	m := merged.GetMerge()
	if merged.GetSurvivor().GetDisplayName() != "Ada Lovelace" || merged.GetSurvivor().GetPhone() != "+441632960961" || m.GetPairId() == "" ||
		m.GetExpireTime().AsTime().Before(time.Now().Add(59*time.Minute)) {
		t.Errorf("MergeCustomers = %v", merged)
	}
	again, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a.GetCustomerId(), LoserId: b.GetCustomerId(), RequestId: "merge-1"})
	if err != nil || again.GetMerge().GetMergeId() != m.GetMergeId() {
		t.Errorf("repeated MergeCustomers = %v, %v; want the first merge", again, err)
	}
	if _, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a.GetCustomerId(), LoserId: b.GetCustomerId()}); status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "CUSTOMER_MERGED" {
		t.Errorf("merging a merged customer = %v, want FailedPrecondition CUSTOMER_MERGED", err)
	}
	loser, err := e.customers.GetCustomer(ctx, &customerv1.GetCustomerRequest{CustomerId: b.GetCustomerId()})
	if err != nil || loser.GetCustomer().GetMergedIntoCustomerId() != a.GetCustomerId() || loser.GetCustomer().GetDeleteTime() == nil {
		t.Errorf("loser = %v, %v; want deleted and merged into the survivor", loser, err)
	}
	pair, err := e.resolver.GetDuplicatePair(ctx, &customerv1.GetDuplicatePairRequest{PairId: m.GetPairId()})
	if err != nil || pair.GetDuplicatePair().GetState() != customerv1.DuplicatePairState_DUPLICATE_PAIR_STATE_MERGED || pair.GetDuplicatePair().GetMergeId() != m.GetMergeId() {
		t.Errorf("pair after merge = %v, %v", pair, err)
	}
	var events int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE type = 'customer.merged' OR (type = 'customer.updated' AND resource = $1)`,
		"customers/"+a.GetCustomerId()).Scan(&events); err != nil || events < 2 {
		t.Errorf("%d merge events (%v), want customer.merged and the survivor's customer.updated", events, err)
	}
	un, err := e.resolver.UnmergeCustomers(ctx, &customerv1.UnmergeCustomersRequest{MergeId: m.GetMergeId()})
	if err != nil {
		t.Fatalf("UnmergeCustomers: %v", err)
	}
	if un.GetSurvivor().GetDisplayName() != "Ada" || un.GetSurvivor().GetPhone() != "" || un.GetLoser().GetDeleteTime() != nil ||
		un.GetMerge().GetState() != customerv1.MergeState_MERGE_STATE_UNMERGED {
		t.Errorf("UnmergeCustomers = %v", un)
	}
	if _, err := e.resolver.UnmergeCustomers(ctx, &customerv1.UnmergeCustomersRequest{MergeId: m.GetMergeId()}); status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "MERGE_ALREADY_UNDONE" {
		t.Errorf("second unmerge = %v, want FailedPrecondition MERGE_ALREADY_UNDONE", err)
	}
	if got, err := e.resolver.GetDuplicatePair(ctx, &customerv1.GetDuplicatePairRequest{PairId: m.GetPairId()}); err != nil || got.GetDuplicatePair().GetState() != customerv1.DuplicatePairState_DUPLICATE_PAIR_STATE_OPEN {
		t.Errorf("pair after unmerge = %v, %v; want open again", got, err)
	}
	if _, err := e.resolver.GetMerge(e.tokens.Context(t.Context(), uuid.NewString(), auth.RoleAdmin), &customerv1.GetMergeRequest{MergeId: m.GetMergeId()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetMerge from another tenant = %v, want NotFound", err)
	}
}

func TestUnmergeAfterWindowOverGRPC(t *testing.T) {
	t.Parallel()
	e := newResolutionEnv(t, time.Millisecond)
	ctx := e.as(t, auth.RoleAdmin)
	a := e.create(t, "Ada", "ada@x.example", "").GetCustomer()
	b := e.create(t, "Ada", "ada@x.example", "").GetCustomer()
	merged, err := e.resolver.MergeCustomers(ctx, &customerv1.MergeCustomersRequest{SurvivorId: a.GetCustomerId(), LoserId: b.GetCustomerId()})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	_, err = e.resolver.UnmergeCustomers(ctx, &customerv1.UnmergeCustomersRequest{MergeId: merged.GetMerge().GetMergeId()})
	if status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "MERGE_RETENTION_EXPIRED" {
		t.Fatalf("UnmergeCustomers after the window = %v, want FailedPrecondition MERGE_RETENTION_EXPIRED", err)
	}
}

func TestScanAndReviewQueue(t *testing.T) {
	t.Parallel()
	e := newResolutionEnv(t, time.Hour)
	ctx := e.as(t, auth.RoleAdmin)
	for _, n := range []string{"Oliver Thompson", "Amelia Okafor", "Noah Nakamura", "Isla Kowalski", "Leo Haddad", "Ava Fitzgerald", "Arthur Lindqvist"} {
		e.create(t, n, "", "")
	}
	// Planted behind the create-time check: the same phone, written two ways, arrives by scan only.
	if _, err := e.db.Owner.Exec(t.Context(), `UPDATE customers SET phone = '+441632960001' WHERE display_name IN ('Noah Nakamura', 'Leo Haddad')`); err != nil {
		t.Fatal(err)
	}
	start, err := e.resolver.StartDuplicateScan(ctx, &customerv1.StartDuplicateScanRequest{RequestId: "scan-1"})
	if err != nil {
		t.Fatalf("StartDuplicateScan: %v", err)
	}
	repeat, err := e.resolver.StartDuplicateScan(ctx, &customerv1.StartDuplicateScanRequest{RequestId: "scan-1"})
	if err != nil || repeat.GetDuplicateScan().GetScanId() != start.GetDuplicateScan().GetScanId() {
		t.Fatalf("repeated StartDuplicateScan = %v, %v; want the same scan", repeat, err)
	}
	var scan *customerv1.DuplicateScan
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		got, err := e.resolver.GetDuplicateScan(e.as(t, auth.RoleAnalyst), &customerv1.GetDuplicateScanRequest{ScanId: start.GetDuplicateScan().GetScanId()})
		if err != nil {
			t.Fatal(err)
		}
		if scan = got.GetDuplicateScan(); scan.GetState() == customerv1.DuplicateScanState_DUPLICATE_SCAN_STATE_SUCCEEDED {
			break
		}
	}
	if scan.GetState() != customerv1.DuplicateScanState_DUPLICATE_SCAN_STATE_SUCCEEDED || scan.GetProcessedCount() != 7 || scan.GetTotalCount() != 7 ||
		scan.GetPairsFound() != 1 || scan.GetFinishTime() == nil {
		t.Fatalf("scan = %v, want succeeded over 7 customers with 1 pair", scan)
	}
	list, err := e.resolver.ListDuplicatePairs(ctx, &customerv1.ListDuplicatePairsRequest{MinScore: 0.5})
	if err != nil || len(list.GetDuplicatePairs()) != 1 || list.GetDuplicatePairs()[0].GetScanId() != scan.GetScanId() {
		t.Fatalf("queue = %v, %v; want the scan's pair", list, err)
	}
	p := list.GetDuplicatePairs()[0]
	if _, err := e.resolver.DismissDuplicatePair(ctx, &customerv1.DismissDuplicatePairRequest{PairId: p.GetPairId(), Etag: "7"}); status.Code(err) != codes.Aborted {
		t.Errorf("Dismiss with a stale etag = %v, want Aborted", err)
	}
	dismissed, err := e.resolver.DismissDuplicatePair(ctx, &customerv1.DismissDuplicatePairRequest{PairId: p.GetPairId(), Etag: p.GetEtag()})
	if err != nil || dismissed.GetDuplicatePair().GetState() != customerv1.DuplicatePairState_DUPLICATE_PAIR_STATE_DISMISSED {
		t.Fatalf("Dismiss = %v, %v", dismissed, err)
	}
	if _, err := e.resolver.DismissDuplicatePair(ctx, &customerv1.DismissDuplicatePairRequest{PairId: p.GetPairId()}); status.Code(err) != codes.FailedPrecondition || grpctest.Reason(err) != "DUPLICATE_PAIR_NOT_OPEN" {
		t.Errorf("second Dismiss = %v, want FailedPrecondition DUPLICATE_PAIR_NOT_OPEN", err)
	}
	if open, err := e.resolver.ListDuplicatePairs(ctx, &customerv1.ListDuplicatePairsRequest{}); err != nil || len(open.GetDuplicatePairs()) != 0 {
		t.Errorf("open pairs after dismissal = %v, %v; want none", open, err)
	}
	if gone, err := e.resolver.ListDuplicatePairs(ctx, &customerv1.ListDuplicatePairsRequest{State: customerv1.DuplicatePairState_DUPLICATE_PAIR_STATE_DISMISSED}); err != nil || len(gone.GetDuplicatePairs()) != 1 {
		t.Errorf("dismissed pairs = %v, %v; want the one", gone, err)
	}
}
