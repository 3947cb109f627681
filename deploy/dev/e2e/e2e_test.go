// Package e2e_test boots the real suite — every service and the edge as
// separate processes on loopback sockets over a real PostgreSQL — and drives
// it the way clients do, through REST and gRPC.
package e2e_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/rapportcrm/rapport/deploy/dev/internal/demo"
	"github.com/rapportcrm/rapport/deploy/dev/internal/suite"
	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/pgtest"
)

// repoRoot is the repository root, three levels above this folder.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "../../.."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// build compiles every binary of the suite into dir.
func build(t *testing.T, root, dir string) {
	t.Helper()
	for _, s := range append(append([]string{}, suite.Services...), "gateway") {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, s), "./services/"+s+"/cmd/"+s)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", s, err, out)
		}
	}
}

// freeBase finds n consecutive free loopback ports.
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		// Below Linux's ephemeral range (32768–60999): a port there can be
		// free now and taken a moment later by one of the suite's own
		// outgoing connections before the service meant for it listens.
		var b [2]byte
		_, _ = rand.Read(b[:])
		base := 20000 + (int(b[0])<<8|int(b[1]))%12000
		ok := true
		for i := 0; i < n && ok; i++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

type client struct {
	t    *testing.T
	base string
	key  string
}

// do sends a JSON request and decodes the JSON answer.
func (c client) do(method, path string, body any, header ...string) (int, map[string]any) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (c client) as(key string) client { c.key = key; return c }

// must asserts a status and returns the body.
func (c client) must(want int, method, path string, body any, header ...string) map[string]any {
	c.t.Helper()
	code, out := c.do(method, path, body, header...)
	if code != want {
		c.t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

func TestSuite(t *testing.T) {
	admin := os.Getenv(pgtest.EnvURL)
	if admin == "" {
		t.Fatalf("%s is not set: run `make test`", pgtest.EnvURL)
	}
	root := repoRoot(t)
	bin := t.TempDir()
	build(t, root, bin)
	otlp := startCollector(t)
	base := freeBase(t, 7)
	prefix := "e2e" + hex.EncodeToString(randomBytes(4))
	o := suite.Options{
		Root: root, StateDir: t.TempDir(), BinDir: bin, AdminURL: admin, DBPrefix: prefix,
		GRPCBasePort: base, HTTPAddr: "127.0.0.1:" + strconv.Itoa(base+6),
		Env: []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://" + otlp.addr, "OTEL_EXPORTER_OTLP_INSECURE=true",
			"OTEL_BSP_SCHEDULE_DELAY=100", "EVENT_POLL_INTERVAL=50ms", "DRAIN_DELAY=0s", "TIER_DELIVER_POLL=100ms"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := suite.Start(ctx, o)
	if err != nil {
		t.Fatalf("start suite: %v", err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			for _, name := range append(append([]string{}, suite.Services...), "gateway") {
				b, _ := os.ReadFile(filepath.Join(s.Logs, name+".log"))
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("--- %s log tail ---\n%s", name, b)
			}
		}
	})
	api := client{t: t, base: s.HTTPURL, key: s.AdminKey}

	t.Run("health and documents", func(t *testing.T) {
		api := api.as("")
		api.t = t
		api.must(200, "GET", "/healthz", nil)
		api.must(200, "GET", "/readyz", nil)
		doc := api.must(200, "GET", "/openapi.json", nil)
		if paths, _ := doc["paths"].(map[string]any); paths["/v1/customers"] == nil {
			t.Fatalf("openapi.json lacks /v1/customers")
		}
		resp, err := http.Get(s.HTTPURL + "/docs")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(page, []byte("/v1/opportunities")) {
			t.Fatalf("/docs = %d, want the reference page", resp.StatusCode)
		}
	})

	var customerID, etag string
	t.Run("customers over REST", func(t *testing.T) {
		api := api
		api.t = t
		body := map[string]any{"kind": "CUSTOMER_KIND_ORGANIZATION", "displayName": "Acme Corporation", "industry": "retail", "countryCode": "gb", "email": "sales@acme.example"}
		c := api.must(200, "POST", "/v1/customers?request_id=acme-1", body)
		customerID, etag = c["customerId"].(string), c["etag"].(string)
		again := api.must(200, "POST", "/v1/customers?request_id=acme-1", body)
		if again["customerId"] != customerID {
			t.Fatalf("repeated request_id created %v, want %s", again["customerId"], customerID)
		}
		got := api.must(200, "GET", "/v1/customers/"+customerID, nil)
		if got["countryCode"] != "GB" {
			t.Fatalf("countryCode = %v, want GB (normalised)", got["countryCode"])
		}
		list := api.must(200, "GET", "/v1/customers?filter="+strings.ReplaceAll(`email = "SALES@acme.example"`, " ", "%20"), nil)
		if items, _ := list["customers"].([]any); len(items) != 1 {
			t.Fatalf("filtered list = %v, want one customer", list)
		}
		upd := api.must(200, "PATCH", "/v1/customers/"+customerID, map[string]any{"industry": "wholesale", "etag": etag})
		if upd["industry"] != "wholesale" || upd["displayName"] != "Acme Corporation" {
			t.Fatalf("PATCH = %v, want only industry changed", upd)
		}
		api.must(409, "PATCH", "/v1/customers/"+customerID, map[string]any{"industry": "x", "etag": etag})
		etag = upd["etag"].(string)
	})

	t.Run("bad input and access", func(t *testing.T) {
		api := api
		api.t = t
		e := api.must(400, "POST", "/v1/customers", `{"displayName": `)
		if e["code"] != float64(codes.InvalidArgument) {
			t.Fatalf("malformed JSON = %v, want code 3", e)
		}
		api.must(400, "POST", "/v1/customers", `{"displayName":"X","kind":"CUSTOMER_KIND_ALIEN"}`)
		e = api.must(400, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON"})
		if !strings.Contains(fmt.Sprint(e["details"]), "customer.display_name") {
			t.Fatalf("empty name = %v, want a field violation on customer.display_name", e)
		}
		api.must(400, "GET", "/v1/customers/not-a-uuid", nil)
		api.as("").must(401, "GET", "/v1/customers", nil)
		api.as("rk_bogus").must(401, "GET", "/v1/customers", nil)
		other := api.must(200, "POST", "/v1/tenants", map[string]any{"displayName": "Other Tenant", "requestId": "other-1"})
		otherKey := other["apiKeySecret"].(string)
		api.as(otherKey).must(404, "GET", "/v1/customers/"+customerID, nil)
		// Analytics follows every tenant, the new one included.
		theirs := api.as(otherKey).must(200, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Other Ada"})
		api.as(otherKey).must(200, "POST", "/v1/tickets", map[string]any{"customerId": theirs["customerId"], "subject": "Where is my parcel?"})
		waitSummary(t, api.as(otherKey), theirs["customerId"].(string), 0, 0, 1)
		// Classification through the edge: a segment counts its members at once.
		created := api.must(200, "POST", "/v1/segments", map[string]any{"displayName": "Everyone", "filter": `create_time > "2000-01-01T00:00:00Z"`})
		seg, _ := created["segment"].(map[string]any)
		if num(seg["memberCount"]) < 1 {
			t.Fatalf("POST /v1/segments = %v, want members", seg)
		}
		cl := api.must(200, "GET", "/v1/customers/"+customerID+"/classification", nil)
		if !strings.Contains(fmt.Sprint(cl), seg["segmentId"].(string)) {
			t.Fatalf("classification %v lacks segment %v", cl, seg["segmentId"])
		}
		api.must(400, "POST", "/v1/segments", map[string]any{"displayName": "Broken", "filter": "nope ="})
		// A partner user sees only its partner's customers and changes none.
		p := api.must(200, "POST", "/v1/principals", map[string]any{"displayName": "Partner Pat", "roles": []string{"ROLE_PARTNER_USER"},
			"partnerId": "0194c2a6-8f4c-7000-8000-00000000abcd"})
		k := api.must(200, "POST", "/v1/principals/"+p["principalId"].(string)+"/apiKeys", map[string]any{"displayName": "pat"})
		pat := api.as(k["apiKeySecret"].(string))
		pat.must(404, "GET", "/v1/customers/"+customerID, nil)
		pat.must(403, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Sneaky"})
	})

	t.Run("deal registration through the edge", func(t *testing.T) {
		api := api
		api.t = t
		partner := func(name, parent string) string {
			p := api.must(200, "POST", "/v1/partners", map[string]any{"displayName": name, "type": "PARTNER_TYPE_DISTRIBUTOR",
				"status": "PARTNER_STATUS_ACTIVE", "parentPartnerId": parent})
			return p["partnerId"].(string)
		}
		user := func(partnerID string) client {
			p := api.must(200, "POST", "/v1/principals", map[string]any{"displayName": "Partner user", "roles": []string{"ROLE_PARTNER_USER"}, "partnerId": partnerID})
			k := api.must(200, "POST", "/v1/principals/"+p["principalId"].(string)+"/apiKeys", map[string]any{"displayName": "portal"})
			return api.as(k["apiKeySecret"].(string))
		}
		dist := partner("E2E Distribution", "")
		sub := partner("E2E Reseller", dist)
		distUser, subUser := user(dist), user(sub)
		reg := subUser.must(200, "POST", "/v1/dealRegistrations", map[string]any{"displayName": "Batmobile fleet",
			"prospect": map[string]any{"companyName": "Wayne Enterprises", "email": "lucius@wayne.example"},
			"amount":   map[string]any{"currencyCode": "USD", "amountMinor": "250000"}})
		if reg["state"] != "DEAL_REGISTRATION_STATE_SUBMITTED" || reg["partnerId"] != sub {
			t.Fatalf("POST /v1/dealRegistrations = %v, want SUBMITTED for the reseller", reg)
		}
		id := reg["dealRegistrationId"].(string)
		subUser.must(403, "POST", "/v1/dealRegistrations/"+id+":approve", map[string]any{})
		approved := api.must(200, "POST", "/v1/dealRegistrations/"+id+":approve", map[string]any{"etag": reg["etag"]})
		if approved["state"] != "DEAL_REGISTRATION_STATE_APPROVED" {
			t.Fatalf("approve = %v, want APPROVED", approved)
		}
		opp := api.must(200, "GET", "/v1/opportunities/"+approved["opportunityId"].(string), nil)
		if opp["sourcePartnerId"] != sub || opp["customerId"] != approved["customerId"] {
			t.Fatalf("opportunity = %v, want sourced by the reseller for the registration's customer", opp)
		}
		// The reseller and its distributor now see the customer; the rival does not.
		subUser.must(200, "GET", "/v1/customers/"+approved["customerId"].(string), nil)
		distUser.must(200, "GET", "/v1/customers/"+approved["customerId"].(string), nil)
		rival := partner("E2E Rival", "")
		clash := api.must(200, "POST", "/v1/dealRegistrations", map[string]any{"partnerId": rival, "displayName": "Same deal",
			"prospect": map[string]any{"email": "LUCIUS@wayne.example"}, "amount": map[string]any{"currencyCode": "USD"}})
		if clash["state"] != "DEAL_REGISTRATION_STATE_CONFLICT" {
			t.Fatalf("rival registration = %v, want CONFLICT", clash)
		}
		subUser.must(404, "GET", "/v1/dealRegistrations/"+clash["dealRegistrationId"].(string), nil)
		user(rival).must(404, "GET", "/v1/customers/"+approved["customerId"].(string), nil)
		mine := distUser.must(200, "GET", "/v1/dealRegistrations", nil)
		if regs, _ := mine["dealRegistrations"].([]any); len(regs) != 1 {
			t.Fatalf("distributor user's registrations = %v, want the reseller's one", mine)
		}

		// The partner programme, money, sell-through and enablement over REST.
		api.must(400, "PATCH", "/v1/tierSchedule", map[string]any{"currencyCode": "USD", "tiers": []any{
			map[string]any{"name": "silver", "minRevenueMinor": "0", "maxRevenueMinor": "500000"},
			map[string]any{"name": "gold", "minRevenueMinor": "400000"},
		}})
		api.must(200, "PATCH", "/v1/tierSchedule", map[string]any{"currencyCode": "USD", "tiers": []any{
			map[string]any{"name": "silver", "minRevenueMinor": "0", "maxRevenueMinor": "500000"},
			map[string]any{"name": "gold", "minRevenueMinor": "500000", "requiredCertifications": []string{"gold-cert"}},
		}})
		api.must(200, "POST", "/v1/commissionRules", map[string]any{"kind": "COMMISSION_RULE_KIND_COMMISSION", "tier": "gold",
			"validFrom": "2026-01-01", "rateBps": 500})
		// The reseller has no tier, and no rule covers it: refused before the pipeline is asked.
		api.must(400, "POST", "/v1/partnerStatements:compute", map[string]any{"partnerId": sub, "periodStart": "2026-01-01", "periodEnd": "2026-02-01"})
		subUser.must(200, "POST", "/v1/sellThroughReports", map[string]any{"partnerId": sub, "periodStart": "2026-01-01", "periodEnd": "2026-02-01",
			"currencyCode": "USD", "lines": []any{map[string]any{"productSku": "BAT-1", "quantity": "2", "revenueMinor": "90000", "satisfactionScore": 5}}})
		if got := distUser.must(200, "GET", "/v1/sellThroughReports", nil); len(got["sellThroughReports"].([]any)) != 1 {
			t.Fatalf("distributor user's sell-through reports = %v, want the reseller's one", got)
		}
		user(rival).must(404, "GET", "/v1/partners/"+sub+"/onboarding", nil)
		budget := api.must(200, "POST", "/v1/mdfBudgets", map[string]any{"partnerId": sub, "displayName": "Q1", "periodStart": "2026-01-01",
			"periodEnd": "2026-04-01", "currencyCode": "USD", "amountMinor": "100000"})
		req := subUser.must(200, "POST", "/v1/mdfRequests", map[string]any{"mdfBudgetId": budget["mdfBudgetId"], "activity": "Gotham expo", "requestedMinor": "60000"})
		api.must(200, "POST", "/v1/mdfRequests/"+req["mdfRequestId"].(string)+":approve", map[string]any{})
		api.must(200, "PATCH", "/v1/onboardingChecklist", map[string]any{"steps": []string{"Agreement", "Portal"}})
		api.must(200, "POST", "/v1/partners/"+sub+"/onboarding:completeStep", map[string]any{"step": "Agreement"})
		if got := subUser.must(200, "GET", "/v1/partners/"+sub+"/onboarding", nil); got["doneCount"] != float64(1) {
			t.Fatalf("reseller onboarding = %v, want 1 step done", got)
		}
		// No partner has a territory yet: nobody to offer a lead to.
		api.must(400, "POST", "/v1/leadOffers", map[string]any{"leadId": "0194c2a6-8f4c-7000-8000-00000000beef", "region": "Gotham"})
	})

	t.Run("forecasts, commissions and campaigns over REST", func(t *testing.T) {
		api := api
		api.t = t
		c := api.must(200, "POST", "/v1/campaigns?request_id=e2e-spring", map[string]any{
			"displayName": "Spring", "channel": "CAMPAIGN_CHANNEL_EMAIL", "costMinor": "1000",
			"budget": map[string]any{"currencyCode": "USD", "amountMinor": "5000"}, "startDate": "2026-01-01", "endDate": "2026-12-31",
		})
		api.must(200, "GET", "/v1/campaigns/"+c["campaignId"].(string)+"/roi?model=ATTRIBUTION_MODEL_LAST_TOUCH", nil)
		api.must(200, "GET", "/v1/forecast?start_date=2026-01-01&end_date=2026-12-31&period_kind=PERIOD_KIND_QUARTER", nil)
		api.must(200, "POST", "/v1/pipelineSnapshots", map[string]any{})
		api.must(400, "POST", "/v1/commissionPlans", map[string]any{"displayName": "AE", "currencyCode": "USD", "tiers": []any{
			map[string]any{"toAttainmentBps": "10000", "rateBps": "500"},
			map[string]any{"fromAttainmentBps": "8000", "rateBps": "800"},
		}})
	})

	t.Run("one trace from the edge through a peer to SQL", func(t *testing.T) {
		api := api
		api.t = t
		traceID := hex.EncodeToString(randomBytes(16))
		parent := hex.EncodeToString(randomBytes(8))
		api.must(200, "POST", "/v1/opportunities", map[string]any{
			"customerId": customerID, "displayName": "Pilot", "amount": map[string]any{"currencyCode": "USD", "amountMinor": "150000"},
		}, "traceparent", "00-"+traceID+"-"+parent+"-01")
		deadline := time.Now().Add(15 * time.Second)
		for {
			spans := otlp.trace(traceID)
			seen := map[string]bool{}
			for _, sp := range spans {
				seen[sp.Service] = true
				if sp.DB {
					seen["sql@"+sp.Service] = true
				}
			}
			if seen["gateway"] && seen["pipeline"] && seen["customer"] && seen["sql@pipeline"] && seen["sql@customer"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trace %s has %d spans over %v; want gateway → pipeline → customer with SQL in both", traceID, len(spans), seen)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("grpc with the same credentials", func(t *testing.T) {
		conn, err := grpc.NewClient(s.GRPC["customer"], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cl := customerv1.NewCustomerServiceClient(conn)
		gctx := grpcclient.WithBearer(ctx, s.AdminKey)
		got, err := cl.GetCustomer(gctx, &customerv1.GetCustomerRequest{CustomerId: customerID})
		if err != nil || got.GetCustomer().GetDisplayName() != "Acme Corporation" {
			t.Fatalf("GetCustomer = %v, %v", got, err)
		}
		if _, err := cl.GetCustomer(ctx, &customerv1.GetCustomerRequest{CustomerId: customerID}); status.Code(err) != codes.Unauthenticated {
			t.Fatalf("GetCustomer without credentials = %v, want Unauthenticated", err)
		}
	})

	t.Run("analytics follows the streams across restarts", func(t *testing.T) {
		api := api
		api.t = t
		c := api.must(200, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Grace Hopper"})
		id := c["customerId"].(string)
		opp := func(n int, stage string) {
			api.must(200, "POST", "/v1/opportunities?request_id=opp-"+id+"-"+strconv.Itoa(n), map[string]any{
				"customerId": id, "displayName": "Deal " + strconv.Itoa(n), "stage": stage,
				"amount": map[string]any{"currencyCode": "EUR", "amountMinor": strconv.Itoa(n * 1000)},
			})
		}
		opp(1, "STAGE_PROSPECTING")
		opp(2, "STAGE_WON")
		api.must(200, "POST", "/v1/tickets", map[string]any{"customerId": id, "subject": "Broken widget"})
		waitSummary(t, api, id, 1, 1000, 1)

		if err := s.Restart(ctx, o, "analytics"); err != nil {
			t.Fatalf("restart analytics: %v", err)
		}
		if err := s.Restart(ctx, o, "pipeline"); err != nil {
			t.Fatalf("restart pipeline: %v", err)
		}
		opp(3, "STAGE_NEGOTIATION")
		opp(1, "STAGE_PROSPECTING") // a retried create: same request_id, nothing new
		api.must(200, "POST", "/v1/tickets", map[string]any{"customerId": id, "subject": "Still broken", "priority": "PRIORITY_HIGH"})
		waitSummary(t, api, id, 2, 4000, 2)
		time.Sleep(500 * time.Millisecond)
		waitSummary(t, api, id, 2, 4000, 2) // and it stays exact: nothing counted twice

		// The 360 view over REST: the same figures, the won deal, and the
		// open tickets keeping upsell offers back.
		view := api.must(200, "GET", "/v1/analytics/customers/"+id+"/customer360", nil)
		if num(view["openOpportunityCount"]) != 2 || num(view["wonOpportunityCount"]) != 1 || num(view["openTicketCount"]) != 2 {
			t.Fatalf("customer360 = %v, want 2 open and 1 won opportunities, 2 open tickets", view)
		}
		offers := api.must(200, "GET", "/v1/analytics/customers/"+id+"/nextBestOffers", nil)
		if offers["suppression"] != "OFFER_SUPPRESSION_OPEN_COMPLAINT" {
			t.Fatalf("nextBestOffers = %v, want suppressed for the open complaints", offers)
		}
		api.must(400, "GET", "/v1/analytics/customers/"+id+"/value?startTime=2026-01-02T00:00:00Z&endTime=2026-01-01T00:00:00Z", nil)
		api.must(404, "GET", "/v1/analytics/customers/0194c2a6-8f4c-7000-8000-00000000dead/churnRisk", nil)

		// Behaviour stitched to the customer the feeds brought in, and figures over REST.
		now := time.Now().UTC()
		visit := map[string]any{"events": []map[string]any{{"eventId": "0194c2a6-8f4c-7000-8000-" + id[len(id)-12:], "anonymousId": "e2e-browser",
			"customerId": id, "kind": "BEHAVIOUR_KIND_PAGE_VIEW", "target": "/pricing", "occurTime": now.Format(time.RFC3339)}}}
		if got := api.must(200, "POST", "/v1/analytics/behaviourEvents:batchCreate", visit); got["createdCount"] != float64(1) {
			t.Fatalf("batchCreate = %v, want 1 created", got)
		}
		if got := api.must(200, "POST", "/v1/analytics/behaviourEvents:batchCreate", visit); got["duplicateCount"] != float64(1) {
			t.Fatalf("batchCreate (replay) = %v, want 1 duplicate", got)
		}
		if got := api.must(200, "GET", "/v1/analytics/customers/"+id+"/behaviour", nil); num(got["pageViews"]) != 1 {
			t.Fatalf("behaviour = %v, want 1 page view", got)
		}
		api.must(400, "POST", "/v1/analytics/figures:query", map[string]any{"metric": "METRIC_TICKETS_CREATED"})
		figures := api.must(200, "POST", "/v1/analytics/figures:query", map[string]any{"metric": "METRIC_TICKETS_CREATED",
			"startTime": now.Add(-time.Hour).Format(time.RFC3339), "endTime": now.Add(time.Hour).Format(time.RFC3339)})
		if rows, _ := figures["rows"].([]any); len(rows) != 1 || num(rows[0].(map[string]any)["count"]) < 2 {
			t.Fatalf("figures:query tickets created = %v, want at least this test's 2", figures)
		}
	})

	t.Run("analytics suggests value tiers to the customer service", func(t *testing.T) {
		api := api
		api.t = t
		product := api.must(200, "POST", "/v1/products", map[string]any{"sku": "E2E-TIER", "displayName": "Tier mug"})
		buyer := func(name string, orders int) string {
			c := api.must(200, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": name})
			for range orders {
				api.must(200, "POST", "/v1/orders", map[string]any{"kind": "ORDER_KIND_SALE", "customerId": c["customerId"], "currencyCode": "JPY",
					"orderTime": time.Now().UTC().Add(-time.Hour).Format(time.RFC3339),
					"lines":     []any{map[string]any{"productId": product["productId"], "quantity": "1", "unitPriceMinor": "900"}}})
			}
			return c["customerId"].(string)
		}
		// JPY orders outnumber the tenant's others, so JPY is the main currency the model scores in.
		suggested, manual := buyer("Tier Buyer", 30), buyer("Tier Manual", 30)
		api.must(200, "POST", "/v1/customers/"+manual+":setValueTier", map[string]any{"tier": "VIP", "reason": "board member"})
		classification := func(id string) map[string]any {
			return api.must(200, "GET", "/v1/customers/"+id+"/classification", nil)["classification"].(map[string]any)
		}
		waitSource := func(id, source string) map[string]any {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				// Each run scores what analytics has applied by then; an unchanged suggestion is not sent twice.
				api.must(200, "POST", "/v1/analytics/tierSuggestions:run", map[string]any{})
				c := classification(id)
				if c["valueTierSource"] == source {
					return c
				}
				if time.Now().After(deadline) {
					t.Fatalf("classification of %s = %v, want source %s", id, c, source)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		if c := waitSource(suggested, "VALUE_TIER_SOURCE_ANALYTICS"); c["valueTier"] == "" {
			t.Fatalf("suggested classification = %v, want a tier", c)
		}
		changes := api.must(200, "GET", "/v1/customers/"+suggested+"/valueTierChanges", nil)
		if first, _ := changes["changes"].([]any); len(first) != 1 || !strings.HasPrefix(first[0].(map[string]any)["reason"].(string), "analytics: RFM") {
			t.Fatalf("valueTierChanges = %v, want one change by analytics with its reason", changes)
		}
		// The manual tier is kept until the tenant opts in. The manual
		// buyer's orders and tier may reach analytics a run later than the
		// other buyer's, so runs go on until its suggestion is there.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			kept := api.must(200, "GET", "/v1/analytics/tierSuggestions?state=TIER_SUGGESTION_STATE_KEPT_MANUAL", nil)
			if strings.Contains(fmt.Sprint(kept["suggestions"]), manual) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kept suggestions = %v, want %s among them", kept, manual)
			}
			api.must(200, "POST", "/v1/analytics/tierSuggestions:run", map[string]any{})
		}
		if c := classification(manual); c["valueTier"] != "VIP" || c["valueTierSource"] != "VALUE_TIER_SOURCE_MANUAL" {
			t.Fatalf("manual classification = %v, want VIP set by hand", c)
		}
		api.must(400, "PATCH", "/v1/analytics/tierSuggestionSettings", map[string]any{"aMinScore": 99})
		api.must(200, "PATCH", "/v1/analytics/tierSuggestionSettings", map[string]any{"overrideManual": true})
		waitSource(manual, "VALUE_TIER_SOURCE_ANALYTICS")
	})

	t.Run("a webhook receives a signed delivery of a customer created over REST", func(t *testing.T) {
		api := api
		api.t = t
		received := make(chan *http.Request, 64)
		bodies := make(chan []byte, 64)
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			received <- r
			bodies <- b
		}))
		defer receiver.Close()
		key, _ := auth.ParseAPIKey(s.AdminKey)
		tenant := key.TenantID.String()
		hook := map[string]any{"displayName": "CRM sync", "targetUrl": receiver.URL + "/hooks",
			"eventTypes": []string{"customer.created"}, "filter": `resource = "customers/*"`}
		// A loopback receiver needs the operator's allowance for the tenant,
		// which an operator admin gives with a token (tokens say "operator").
		api.must(400, "POST", "/v1/webhooks", hook)
		token, _ := api.must(200, "POST", "/v1/tokens", map[string]any{"ttlSeconds": 600})["token"].(string)
		api.as(token).must(200, "PATCH", "/v1/webhookPolicies/"+tenant, map[string]any{"allowPrivateTargets": true})
		created := api.must(200, "POST", "/v1/webhooks?request_id=e2e-hook", hook)
		secret, _ := created["secret"].(string)
		webhookID, _ := created["webhook"].(map[string]any)["webhookId"].(string)
		if !strings.HasPrefix(secret, "whsec_") || webhookID == "" {
			t.Fatalf("POST /v1/webhooks = %v, want a webhook and its secret", created)
		}
		// A rule tells the admin about new customers, in the same step, and
		// schedules a follow-up through the customer service afterwards.
		me, _ := api.must(200, "GET", "/v1/caller", nil)["principalId"].(string)
		ruleID, _ := api.must(200, "POST", "/v1/rules?request_id=e2e-rule", map[string]any{"displayName": "New customers", "enabled": true,
			"eventTypes": []string{"customer.created"}, "actions": []map[string]any{{"kind": "RULE_ACTION_KIND_SEND_NOTIFICATION",
				"recipientPrincipalId": me, "titleTemplate": "New {{event.resource}}"},
				{"kind": "RULE_ACTION_KIND_CREATE_FOLLOW_UP", "titleTemplate": "Welcome call", "followUpDueDays": 2, "assigneePrincipalId": me}}})["ruleId"].(string)
		traceID, parent := hex.EncodeToString(randomBytes(16)), hex.EncodeToString(randomBytes(8))
		c := api.must(200, "POST", "/v1/customers?request_id=webhook-e2e", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Grace Hopper"},
			"traceparent", "00-"+traceID+"-"+parent+"-01")
		subject := "customers/" + c["customerId"].(string)
		deadline := time.After(60 * time.Second)
		for {
			select {
			case <-deadline:
				t.Fatalf("no delivery of %s within 60s", subject)
			case r := <-received:
				body := <-bodies
				var ce map[string]any
				if err := json.Unmarshal(body, &ce); err != nil || ce["subject"] != subject {
					continue
				}
				id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
				m := hmac.New(sha256.New, []byte(secret))
				m.Write([]byte(id + "." + ts + "."))
				m.Write(body)
				if want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil)); r.Header.Get("webhook-signature") != want {
					t.Fatalf("webhook-signature = %q, want %q", r.Header.Get("webhook-signature"), want)
				}
				if ce["type"] != "customer.created" || ce["specversion"] != "1.0" {
					t.Fatalf("delivery = %v, want a CloudEvent of customer.created", ce)
				}
				// The delivery is part of the trace of the request that made
				// the change: in the envelope and in the spans exported.
				if tp, _ := ce["traceparent"].(string); !strings.HasPrefix(tp, "00-"+traceID+"-") {
					t.Fatalf("delivery traceparent = %q, want one of trace %s", tp, traceID)
				}
				for wait := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					delivered := false
					for _, sp := range otlp.trace(traceID) {
						delivered = delivered || (sp.Service == "integration" && sp.Name == "webhook.deliver")
					}
					if delivered {
						break
					}
					if time.Now().After(wait) {
						t.Fatalf("trace %s has no webhook.deliver span of the integration service: %v", traceID, otlp.trace(traceID))
					}
				}
				log := api.must(200, "GET", "/v1/webhooks/"+webhookID+"/deliveries/"+id, nil)
				if log["resource"] != subject || log["eventId"] != ce["id"] {
					t.Fatalf("delivery log = %v, want the delivery of %s", log, subject)
				}
				// The rule ran in the transaction that took the event in.
				list := api.must(200, "GET", "/v1/notifications?filter=read%20%3D%20false", nil)
				notes, _ := list["notifications"].([]any)
				found := false
				for _, n := range notes {
					found = found || n.(map[string]any)["title"] == "New "+subject
				}
				if !found {
					t.Fatalf("notifications = %v, want the rule's about %s", list, subject)
				}
				ruleFollowUp(t, api, ruleID, subject)
				// Erasing the customer blanks the copy the integration
				// service keeps of the delivery's body, once it follows the
				// customer service's erasure event.
				api.must(200, "POST", "/v1/"+subject+":erase", map[string]any{"reason": "e2e"})
				for wait := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
					log = api.must(200, "GET", "/v1/webhooks/"+webhookID+"/deliveries/"+id, nil)
					if log["state"] == "WEBHOOK_DELIVERY_STATE_ERASED" && log["requestBody"] == nil {
						return
					}
					if time.Now().After(wait) {
						t.Fatalf("delivery log after erasure = %v, want it erased with no body", log)
					}
				}
			}
		}
	})

	t.Run("a rule qualifies a new customer through the customer and pipeline services", func(t *testing.T) {
		api := api
		api.t = t
		me, _ := api.must(200, "GET", "/v1/caller", nil)["principalId"].(string)
		api.must(200, "POST", "/v1/customAttributeDefinitions", map[string]any{"key": "lead_score", "type": "CUSTOM_ATTRIBUTE_TYPE_NUMBER",
			"displayName": "Lead score"})
		campaign := api.must(200, "POST", "/v1/campaigns?request_id=e2e-welcome", map[string]any{
			"displayName": "Welcome series", "channel": "CAMPAIGN_CHANNEL_EMAIL",
			"budget": map[string]any{"currencyCode": "USD", "amountMinor": "100"}, "startDate": "2026-01-01", "endDate": "2099-12-31",
		})["campaignId"].(string)
		rule := api.must(200, "POST", "/v1/rules?request_id=e2e-qualify", map[string]any{"displayName": "Qualify", "enabled": true,
			"eventTypes": []string{"customer.created"}, "filter": `resource = "customers/*"`, "actions": []map[string]any{
				{"kind": "RULE_ACTION_KIND_ASSIGN_OWNER", "ownerPrincipalId": me},
				{"kind": "RULE_ACTION_KIND_MOVE_LIFECYCLE_STAGE", "lifecycleStage": "LIFECYCLE_STAGE_PROSPECT"},
				{"kind": "RULE_ACTION_KIND_SET_FIELD", "attributeKey": "lead_score", "valueTemplate": "42"},
				{"kind": "RULE_ACTION_KIND_ADD_TO_CAMPAIGN", "campaignId": campaign},
			}})["ruleId"].(string)
		// A rule that would run on the change its own action makes is
		// refused when it is saved.
		api.must(400, "POST", "/v1/rules", map[string]any{"displayName": "Loop", "enabled": true, "eventTypes": []string{"customer.updated"},
			"actions": []map[string]any{{"kind": "RULE_ACTION_KIND_SET_FIELD", "attributeKey": "lead_score", "valueTemplate": "1"}}})
		id := api.must(200, "POST", "/v1/customers?request_id=e2e-qualified", map[string]any{"kind": "CUSTOMER_KIND_PERSON",
			"displayName": "Katherine Johnson"})["customerId"].(string)
		defer api.must(200, "PATCH", "/v1/rules/"+rule, map[string]any{"enabled": false})
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			c := api.must(200, "GET", "/v1/customers/"+id, nil)
			attrs, _ := c["customAttributes"].(map[string]any)
			members := api.must(200, "GET", "/v1/campaigns/"+campaign+"/members", nil)
			listed, _ := members["members"].([]any)
			joined := len(listed) == 1 && listed[0].(map[string]any)["customerId"] == id
			if c["ownerId"] == me && c["lifecycleStage"] == "LIFECYCLE_STAGE_PROSPECT" && attrs["lead_score"] == float64(42) && joined {
				break
			}
			if time.Now().After(deadline) {
				log := api.must(200, "GET", "/v1/rules/"+rule+"/executions", nil)
				t.Fatalf("customer %v, campaign members %v after 60s; want owner %s, prospect, lead score 42, a member (executions %v)", c, members, me, log)
			}
		}
	})

	t.Run("e-mail reaches the local relay in the customer's words", func(t *testing.T) {
		api := api
		api.t = t
		tpl := api.must(200, "POST", "/v1/emailTemplates", map[string]any{"displayName": "Welcome", "purpose": "EMAIL_PURPOSE_TRANSACTIONAL",
			"variants": []map[string]any{{"locale": "en", "subject": "Hello {{customer.display_name}}", "textBody": "Hi {{recipient.name}}"}}})
		out := api.must(400, "POST", "/v1/emailTemplates", map[string]any{"displayName": "Broken", "purpose": "EMAIL_PURPOSE_TRANSACTIONAL",
			"variants": []map[string]any{{"locale": "en", "subject": "Hi {{customer.shoe_size}}", "textBody": "x"}}})
		if !strings.Contains(fmt.Sprint(out), "customer.shoe_size") {
			t.Fatalf("POST /v1/emailTemplates with an unknown placeholder = %v, want it named", out)
		}
		c := api.must(200, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Grace Hopper", "email": "grace@navy.example"})
		sent := api.must(200, "POST", "/v1/emailMessages:send", map[string]any{"emailTemplateId": tpl["emailTemplateId"],
			"customerId": c["customerId"], "requestId": "e2e-welcome"})
		id := sent["emailMessageId"]
		for wait := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			var got []string
			for _, m := range s.Mail.Messages() {
				got = append(got, m.To[0]+" "+m.Header.Get("Subject"))
			}
			if slices.Contains(got, "grace@navy.example Hello Grace Hopper") {
				break
			}
			if time.Now().After(wait) {
				t.Fatalf("relay holds %q, want the welcome to grace@navy.example", got)
			}
		}
		files, err := filepath.Glob(filepath.Join(s.MailDir, "*.eml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no .eml file in %s (%v)", s.MailDir, err)
		}
		for wait := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			log := api.must(200, "GET", "/v1/emailMessages?filter="+url.QueryEscape(`customer_id = "`+fmt.Sprint(c["customerId"])+`"`), nil)
			msgs, _ := log["emailMessages"].([]any)
			if len(msgs) == 1 && msgs[0].(map[string]any)["emailMessageId"] == id && msgs[0].(map[string]any)["state"] == "EMAIL_MESSAGE_STATE_SENT" {
				break
			}
			if time.Now().After(wait) {
				t.Fatalf("GET /v1/emailMessages = %v, want the one message sent", log)
			}
		}
	})

	t.Run("a scheduled rule selects customers through the customer service", func(t *testing.T) {
		me, _ := api.must(200, "GET", "/v1/caller", nil)["principalId"].(string)
		c := api.must(200, "POST", "/v1/customers?request_id=schedule-e2e", map[string]any{"kind": "CUSTOMER_KIND_ORGANIZATION",
			"displayName": "Never Called Ltd", "externalId": "schedule-e2e"})
		subject := "customers/" + c["customerId"].(string)
		if _, ok := c["lastInteractionTime"]; ok {
			t.Fatalf("new customer = %v, want no lastInteractionTime", c)
		}
		rule := api.must(200, "POST", "/v1/rules?request_id=e2e-scheduled", map[string]any{"displayName": "Never contacted", "enabled": true,
			"schedule":  map[string]any{"interval": "86400s"},
			"selection": map[string]any{"collection": "RULE_COLLECTION_CUSTOMERS", "filter": `contacted = false AND external_id = "schedule-e2e"`},
			"actions": []map[string]any{{"kind": "RULE_ACTION_KIND_SEND_NOTIFICATION", "recipientPrincipalId": me,
				"titleTemplate": "Call {{event.resource}}"}}})
		id, _ := rule["ruleId"].(string)
		dry := api.must(200, "POST", "/v1/rules:dryRun", map[string]any{"rule": rule})
		if m, _ := dry["matches"].([]any); len(m) != 1 || m[0].(map[string]any)["resource"] != subject {
			t.Fatalf("dry run = %v, want %s", dry, subject)
		}
		api.must(200, "POST", "/v1/rules/"+id+":run", map[string]any{})
		deadline := time.Now().Add(60 * time.Second)
		for {
			runs, _ := api.must(200, "GET", "/v1/rules/"+id+"/runs", nil)["runs"].([]any)
			if len(runs) == 1 && runs[0].(map[string]any)["state"] != "RULE_RUN_STATE_RUNNING" {
				run := runs[0].(map[string]any)
				if run["state"] != "RULE_RUN_STATE_SUCCEEDED" || run["selected"] != float64(1) || run["fired"] != float64(1) {
					t.Fatalf("run = %v, want succeeded with the one customer fired", run)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("runs = %v, want one finished within 60s", runs)
			}
			time.Sleep(200 * time.Millisecond)
		}
		notes, _ := api.must(200, "GET", "/v1/notifications", nil)["notifications"].([]any)
		found := false
		for _, n := range notes {
			found = found || n.(map[string]any)["title"] == "Call "+subject
		}
		if !found {
			t.Fatalf("notifications = %v, want the scheduled rule's about %s", notes, subject)
		}
	})

	t.Run("tickets follow their status machine and SLA over REST", func(t *testing.T) {
		api := api
		api.t = t
		c := api.must(200, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Ada Byron"})
		hours := []map[string]any{}
		for _, d := range []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"} {
			hours = append(hours, map[string]any{"weekday": "WEEKDAY_" + d, "startMinute": 0, "endMinute": 1440})
		}
		overlap := append([]map[string]any{{"weekday": "WEEKDAY_MONDAY", "startMinute": 60, "endMinute": 120}}, hours...)
		api.must(400, "POST", "/v1/businessCalendars", map[string]any{"displayName": "Bad", "timeZone": "UTC", "workingHours": overlap})
		cal := api.must(200, "POST", "/v1/businessCalendars?request_id=e2e-cal", map[string]any{"displayName": "24/7", "timeZone": "America/New_York", "workingHours": hours})
		api.must(400, "POST", "/v1/slaPolicies", map[string]any{"displayName": "No targets", "calendarId": cal["calendarId"]})
		api.must(200, "POST", "/v1/slaPolicies?request_id=e2e-policy", map[string]any{"displayName": "VIP", "customerTier": "VIP",
			"calendarId": cal["calendarId"], "firstResponseTarget": "1800s", "resolutionTarget": "14400s", "warningPercent": 80, "escalationLevel": 1})
		tk := api.must(200, "POST", "/v1/tickets", map[string]any{"customerId": c["customerId"], "subject": "Refund please",
			"type": "TICKET_TYPE_REFUND", "customerTier": "VIP", "tags": []string{"refund"}})
		sla, _ := tk["sla"].(map[string]any)
		if sla == nil || sla["firstResponseDueTime"] == nil || sla["resolutionWarningTime"] == nil {
			t.Fatalf("created ticket = %v, want SLA due times", tk)
		}
		path := "/v1/tickets/" + tk["ticketId"].(string)
		api.must(400, "POST", path+":transition", map[string]any{"status": "STATUS_CLOSED"})
		api.must(200, "POST", path+":recordFirstResponse", map[string]any{})
		api.must(400, "POST", path+":transition", map[string]any{"status": "STATUS_RESOLVED"})
		done := api.must(200, "POST", path+":transition", map[string]any{"status": "STATUS_RESOLVED", "note": "Refunded"})
		if done["status"] != "STATUS_RESOLVED" || done["sla"].(map[string]any)["paused"] != true {
			t.Fatalf("resolved ticket = %v, want resolved with the clock stopped", done)
		}
		log := api.must(200, "GET", path+"/transitions", nil)
		if items, _ := log["transitions"].([]any); len(items) != 1 {
			t.Fatalf("transitions = %v, want one", log)
		}
	})

	t.Run("leads from a public web form, converted; orders with reporting currency", func(t *testing.T) {
		api := api
		form := api.must(200, "POST", "/v1/webForms", map[string]any{"displayName": "Contact us", "territory": "Web"})
		key, _ := form["formKey"].(string)
		public := api.as("")
		sub := public.must(200, "POST", "/v1/webForms/"+key+":submit", map[string]any{"displayName": "Visitor", "email": "visitor@example.com",
			"utm": map[string]any{"source": "e2e"}})
		public.must(404, "POST", "/v1/webForms/wf_UNKNOWN:submit", map[string]any{"displayName": "X"})
		public.must(401, "GET", "/v1/leads", nil)
		leadID, _ := sub["leadId"].(string)
		lead := api.must(200, "GET", "/v1/leads/"+leadID, nil)
		if lead["source"] != "web_form" || lead["status"] != "LEAD_STATUS_NEW" {
			t.Fatalf("submitted lead = %v", lead)
		}
		conv := api.must(200, "POST", "/v1/leads/"+leadID+":convert", map[string]any{"requestId": "e2e-convert",
			"opportunity": map[string]any{"displayName": "First deal", "amount": map[string]any{"currencyCode": "GBP", "amountMinor": "1000"}}})
		customerID, _ := conv["lead"].(map[string]any)["convertedCustomerId"].(string)
		api.must(200, "GET", "/v1/customers/"+customerID, nil)
		api.must(400, "POST", "/v1/leads/"+leadID+":convert", map[string]any{"customerId": "nope"})
		api.must(400, "POST", "/v1/leads/"+leadID+":convert", map[string]any{})

		api.must(200, "POST", "/v1/exchangeRates:load", map[string]any{"rates": []any{
			map[string]any{"baseCurrency": "GBP", "quoteCurrency": "EUR", "rateDate": "2011-01-01", "rate": "1.16"}}})
		api.must(200, "PATCH", "/v1/reportingSettings", map[string]any{"reportingCurrency": "EUR"})
		product := api.must(200, "POST", "/v1/products", map[string]any{"sku": "E2E-MUG", "displayName": "Mug"})
		order := api.must(200, "POST", "/v1/orders", map[string]any{"kind": "ORDER_KIND_SALE", "customerId": customerID, "currencyCode": "GBP",
			"orderTime": "2011-02-01T10:00:00Z", "lines": []any{map[string]any{"productId": product["productId"], "quantity": "2", "unitPriceMinor": "500"}}})
		if rt, _ := order["reportingTotal"].(map[string]any); num(rt["amountMinor"]) != 1160 || rt["currencyCode"] != "EUR" {
			t.Fatalf("order = %v, want a reporting total of EUR 11.60", order)
		}
		api.must(400, "POST", "/v1/orders", map[string]any{"kind": "ORDER_KIND_SALE", "currencyCode": "GBP", "lines": []any{map[string]any{"quantity": "1"}}})

		// Analytics follows the reporting currency and the order: money
		// figures come back in EUR, and the customer forms a cohort.
		waitAnalytics(t, api, "/v1/analytics/figures:query", map[string]any{"metric": "METRIC_WON_AMOUNT",
			"startTime": "2011-01-01T00:00:00Z", "endTime": "2011-03-01T00:00:00Z"},
			func(out map[string]any) bool { return out["reportingCurrency"] == "EUR" })
		waitAnalytics(t, api, "/v1/analytics/cohortRetention:query", map[string]any{"startTime": "2011-02-01T00:00:00Z",
			"endTime": "2011-02-02T00:00:00Z", "months": 3},
			func(out map[string]any) bool {
				cohorts, _ := out["cohorts"].([]any)
				return len(cohorts) == 1 && cohorts[0].(map[string]any)["cohortMonth"] == "2011-02" && num(cohorts[0].(map[string]any)["customers"]) >= 1
			})
		api.must(400, "POST", "/v1/analytics/cohortRetention:query", map[string]any{"startTime": "2011-02-01T00:00:00Z",
			"endTime": "2011-02-02T00:00:00Z", "months": 99})
	})

	t.Run("Online Retail invoices through the public API", func(t *testing.T) {
		opts := demo.Options{BaseURL: s.HTTPURL, APIKey: s.AdminKey, DataDir: filepath.Join(root, "../shared/data")}
		first, err := demo.LoadRetail(ctx, opts, 40)
		if err != nil {
			t.Fatalf("demo.LoadRetail: %v", err)
		}
		if first.Sales == 0 || first.Returns == 0 || first.Lines == 0 {
			t.Fatalf("demo.LoadRetail = %+v, want sales and returns", first)
		}
		if _, err := demo.LoadRetail(ctx, opts, 40); err != nil {
			t.Fatalf("demo.LoadRetail again: %v", err)
		}
		out := api.must(200, "GET", "/v1/orders?page_size=1000&filter=kind%3DORDER_KIND_RETURN", nil)
		if items, _ := out["orders"].([]any); len(items) != first.Returns {
			t.Fatalf("%d returns listed after two loads, want %d", len(items), first.Returns)
		}
	})

	t.Run("help desk: queue, conversation and a CSAT link over REST", func(t *testing.T) {
		api := api
		api.t = t
		c := api.must(200, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Grace Hopper"})
		agent := "0190a0b0-0000-7000-8000-00000000e2e1"
		q := api.must(200, "POST", "/v1/queues?request_id=e2e-queue", map[string]any{"displayName": "Billing", "strategy": "ASSIGNMENT_STRATEGY_LEAST_LOADED"})
		qid, _ := q["queueId"].(string)
		api.must(200, "POST", "/v1/queues/"+qid+"/members", map[string]any{"principalId": agent, "skills": []string{"billing"}, "capacity": 5})
		api.must(400, "POST", "/v1/queues/"+qid+"/members", map[string]any{"principalId": agent, "capacity": 5000})
		tk := api.must(200, "POST", "/v1/tickets", map[string]any{"customerId": c["customerId"], "subject": "Double charge", "queueId": qid, "requiredSkills": []string{"billing"}})
		if tk["assigneeId"] != agent {
			t.Fatalf("created ticket = %v, want it assigned to %s", tk, agent)
		}
		path := "/v1/tickets/" + tk["ticketId"].(string)
		api.must(200, "POST", path+"/messages", map[string]any{"body": "Refund issued in the back office", "visibility": "MESSAGE_VISIBILITY_INTERNAL"})
		api.must(200, "POST", path+"/messages?request_id=e2e-reply", map[string]any{"body": "We refunded the second charge.",
			"attachments": []map[string]any{{"uri": "https://files.example.com/receipt.pdf", "fileName": "receipt.pdf", "contentType": "application/pdf", "sizeBytes": 1234}}})
		api.must(400, "POST", path+"/messages", map[string]any{"body": ""})
		if got := api.must(200, "GET", path, nil); got["firstResponseTime"] == nil {
			t.Fatalf("ticket after a public reply = %v, want a first response time", got)
		}
		if msgs := api.must(200, "GET", path+"/messages", nil); len(msgs["messages"].([]any)) != 2 {
			t.Fatalf("messages = %v, want two", msgs)
		}
		api.must(200, "POST", path+":transition", map[string]any{"status": "STATUS_RESOLVED", "note": "Refunded"})
		link := api.must(200, "POST", path+":issueCsatSurveyLink", map[string]any{})
		survey, _ := link["path"].(string)
		public := api.as("")
		shown := public.must(200, "GET", survey, nil)
		if shown["ticketSubject"] != "Double charge" || strings.Contains(fmt.Sprint(shown), "back office") {
			t.Fatalf("public survey = %v, want the subject and no internal note", shown)
		}
		public.must(400, "POST", survey, map[string]any{"score": 7})
		public.must(200, "POST", survey, map[string]any{"score": 5, "comment": "Fast"})
		public.must(400, "POST", survey, map[string]any{"score": 1})
		public.must(404, "GET", "/v1/csatSurveys/cs_forged", nil)

		// A detractor's answer becomes a follow-up in the customer service,
		// whose runner follows every tenant's ticket events.
		sad := api.must(200, "POST", "/v1/tickets", map[string]any{"customerId": c["customerId"], "subject": "Still double charged"})
		sadPath := "/v1/tickets/" + sad["ticketId"].(string)
		api.must(200, "POST", sadPath+":transition", map[string]any{"status": "STATUS_RESOLVED", "note": "Refunded again"})
		sadLink := api.must(200, "POST", sadPath+":issueCsatSurveyLink", map[string]any{})
		public.must(200, "POST", sadLink["path"].(string), map[string]any{"score": 1, "comment": "Slow"})
		deadline := time.Now().Add(20 * time.Second)
		for {
			fu := api.must(200, "GET", "/v1/customers/"+c["customerId"].(string)+"/followUps", nil)
			if items, _ := fu["followUps"].([]any); len(items) == 1 {
				break
			} else if len(items) > 1 || time.Now().After(deadline) {
				t.Fatalf("follow-ups of the detractor = %v, want exactly one", fu)
			}
			time.Sleep(200 * time.Millisecond)
		}
		figures := api.must(200, "GET", "/v1/qualityFigures?group_by=QUALITY_GROUPING_QUEUE&start_time="+
			time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)+"&end_time="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), nil)
		if !strings.Contains(fmt.Sprint(figures), qid) {
			t.Fatalf("quality figures = %v, want the queue %s", figures, qid)
		}
	})

	t.Run("a partner's scorecard counts its customers' help-desk CSAT", func(t *testing.T) {
		api := api
		api.t = t
		p := api.must(200, "POST", "/v1/partners", map[string]any{"displayName": "E2E Scorecard Partner", "type": "PARTNER_TYPE_RESELLER",
			"status": "PARTNER_STATUS_ACTIVE"})["partnerId"].(string)
		pu := api.must(200, "POST", "/v1/principals", map[string]any{"displayName": "Scorecard reader", "roles": []string{"ROLE_PARTNER_USER"}, "partnerId": p})
		partnerUser := api.as(api.must(200, "POST", "/v1/principals/"+pu["principalId"].(string)+"/apiKeys", map[string]any{"displayName": "portal"})["apiKeySecret"].(string))
		c := api.must(200, "POST", "/v1/customers", map[string]any{"kind": "CUSTOMER_KIND_PERSON", "displayName": "Selina Kyle"})["customerId"].(string)
		api.must(200, "POST", "/v1/customers/"+c+"/partnerLinks", map[string]any{"partnerId": p})
		tk := api.must(200, "POST", "/v1/tickets", map[string]any{"customerId": c, "subject": "Cat flap"})
		path := "/v1/tickets/" + tk["ticketId"].(string)
		api.must(200, "POST", path+":transition", map[string]any{"status": "STATUS_RESOLVED", "note": "Fixed"})
		link := api.must(200, "POST", path+":issueCsatSurveyLink", map[string]any{})
		api.as("").must(200, "POST", link["path"].(string), map[string]any{"score": 4})
		period := "period_start=" + time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly) + "&period_end=" + time.Now().UTC().AddDate(0, 0, 2).Format(time.DateOnly)
		deadline := time.Now().Add(30 * time.Second)
		for {
			sc := partnerUser.must(200, "GET", "/v1/partners/"+p+"/scorecard?"+period, nil)
			if sc["helpDeskCsatResponses"] == "1" && sc["helpDeskCsat"] == float64(4) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partner user's scorecard = %v, want the customer's CSAT 4 from the help desk", sc)
			}
			time.Sleep(300 * time.Millisecond)
		}
		list := partnerUser.must(200, "GET", "/v1/partnerScorecards?"+period, nil)
		if cards, _ := list["scorecards"].([]any); len(cards) != 1 || cards[0].(map[string]any)["partnerId"] != p {
			t.Fatalf("partner user's scorecards = %v, want its own partner's only", list)
		}
	})

	t.Run("demo data through the public API", func(t *testing.T) {
		opts := demo.Options{BaseURL: s.HTTPURL, APIKey: s.AdminKey, DataDir: filepath.Join(root, "../shared/data"),
			OpportunityLimit: 40, PartnerLimit: 20, TicketLimit: 10}
		first, err := demo.Load(ctx, opts)
		if err != nil {
			t.Fatalf("demo.Load: %v", err)
		}
		if first.Opportunities == 0 || first.Partners != 20 || first.Tickets != 10 || first.Leads != first.OpportunitiesWithoutAccount ||
			first.Teams != 6 || first.Principals != 41 || first.AssignmentRules != 3 {
			t.Fatalf("demo.Load = %+v, want opportunities, 20 partners, 10 tickets, a lead per deal without account, 6 teams of 41 people, 3 rules", first)
		}
		count := func() int {
			out := api.must(200, "GET", "/v1/customers?page_size=1000", nil)
			items, _ := out["customers"].([]any)
			return len(items)
		}
		before := count()
		if _, err := demo.Load(ctx, opts); err != nil {
			t.Fatalf("demo.Load again: %v", err)
		}
		if after := count(); after != before {
			t.Fatalf("a second load changed the customer count from %d to %d", before, after)
		}
	})
}

// waitSummary polls the analytics summary until it shows the wanted figures.
func waitSummary(t *testing.T, api client, id string, opps int, amount int64, tickets int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		code, out := api.do("GET", "/v1/analytics/customers/"+id+"/summary", nil)
		last = out
		if code == 200 && num(out["openOpportunityCount"]) == int64(opps) && num(out["openTicketCount"]) == int64(tickets) {
			amounts, _ := out["openOpportunityAmounts"].([]any)
			if opps == 0 || len(amounts) == 1 && num(amounts[0].(map[string]any)["amountMinor"]) == amount {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("summary of %s = %v, want %d open opportunities worth %d and %d open tickets", id, last, opps, amount, tickets)
}

// waitAnalytics posts body to path until the answer satisfies ok: the
// analytics read model follows the other services' events a little later.
func waitAnalytics(t *testing.T, api client, path string, body map[string]any, ok func(map[string]any) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		code, out := api.do("POST", path, body)
		last = out
		if code == 200 && ok(out) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("POST %s = %v; the read model never caught up", path, last)
}

// num reads a protojson number (int64 values arrive as strings).
func num(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// ruleFollowUp waits for the rule's execution on subject to succeed and
// checks that it scheduled exactly one follow-up for the customer.
func ruleFollowUp(t *testing.T, api client, ruleID, subject string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		log := api.must(200, "GET", "/v1/rules/"+ruleID+"/executions", nil)
		runs, _ := log["executions"].([]any)
		for _, r := range runs {
			x := r.(map[string]any)
			if x["resource"] != subject {
				continue
			}
			switch x["outcome"] {
			case "RULE_EXECUTION_OUTCOME_SUCCEEDED":
				fu := api.must(200, "GET", "/v1/"+subject+"/followUps", nil)
				items, _ := fu["followUps"].([]any)
				if len(items) != 1 || items[0].(map[string]any)["title"] != "Welcome call" {
					t.Fatalf("follow-ups of %s = %v, want the rule's one", subject, fu)
				}
				// Off again, so the later steps' customers get no follow-up.
				api.must(200, "PATCH", "/v1/rules/"+ruleID, map[string]any{"enabled": false})
				return
			case "RULE_EXECUTION_OUTCOME_FAILED":
				t.Fatalf("rule execution = %v, want it to succeed", x)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rule executions = %v, want %s's to succeed within 60s", log, subject)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
