// Command pipelinebench times the sales-pipeline service of a running
// suite: opportunity create, stage change and list-by-owner over gRPC and
// through the REST edge (requests per second, p50 and p99), the import rate
// of opportunities and of order lines, and the forecast and commission
// statements over a tenant holding -n more opportunities, loaded with one
// batched INSERT … SELECT as the superuser (not through the API). It prints
// figures and never fails on a timing.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	typesv1 "github.com/rapportcrm/rapport/gen/go/rapport/types/v1"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

func main() {
	pipelineAddr := flag.String("grpc", "127.0.0.1:9092", "pipeline service gRPC address")
	customerAddr := flag.String("customer-grpc", "127.0.0.1:9091", "customer service gRPC address (for the bench customer)")
	restURL := flag.String("rest", "http://127.0.0.1:8080", "REST edge")
	keyFile := flag.String("key-file", ".rapport/admin-api-key", "file holding an admin API key")
	dbURL := flag.String("db", "postgres://postgres@127.0.0.1:55432/rapport_pipeline?sslmode=disable", "superuser URL of the pipeline database (for the bulk load)")
	d := flag.Duration("d", 10*time.Second, "load per target")
	c := flag.Int("c", 20, "concurrent callers")
	n := flag.Int("n", 100000, "opportunities to bulk-load for the forecast and commission timings")
	flag.Parse()
	if err := run(context.Background(), *pipelineAddr, *customerAddr, *restURL, *keyFile, *dbURL, *d, *c, *n); err != nil {
		log.Fatal(err)
	}
}

// bench holds the clients and the fixtures the targets share.
type bench struct {
	pipeline pipelinev1.PipelineServiceClient
	orders   pipelinev1.OrderServiceClient
	forecast pipelinev1.ForecastServiceClient
	commis   pipelinev1.CommissionServiceClient
	http     *http.Client
	rest     string
	key      string
	customer string
	// owner owns every opportunity the load creates; list-by-owner reads theirs.
	owner   string
	product string
	stages  [2]string
}

func run(ctx context.Context, pipelineAddr, customerAddr, restURL, keyFile, dbURL string, d time.Duration, c, n int) error {
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(string(raw))
	ctx = grpcclient.WithBearer(ctx, key)
	pc, err := grpc.NewClient(pipelineAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer pc.Close()
	cc, err := grpc.NewClient(customerAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer cc.Close()
	b := &bench{pipeline: pipelinev1.NewPipelineServiceClient(pc), orders: pipelinev1.NewOrderServiceClient(pc),
		forecast: pipelinev1.NewForecastServiceClient(pc), commis: pipelinev1.NewCommissionServiceClient(pc),
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}, rest: restURL, key: key,
		owner: "00000000-0000-0000-0000-0000000000b1"}
	cust, err := customerv1.NewCustomerServiceClient(cc).CreateCustomer(ctx, &customerv1.CreateCustomerRequest{RequestId: "pipelinebench-customer",
		Customer: &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: "Pipeline bench customer"}})
	if err != nil {
		return fmt.Errorf("bench customer: %w", err)
	}
	b.customer = cust.GetCustomer().GetCustomerId()
	prod, err := b.pipeline.CreateProduct(ctx, &pipelinev1.CreateProductRequest{RequestId: "pipelinebench-product",
		Product: &pipelinev1.Product{Sku: "PIPELINEBENCH", DisplayName: "Bench product"}})
	if err != nil {
		return fmt.Errorf("bench product: %w", err)
	}
	b.product = prod.GetProduct().GetProductId()

	fmt.Printf("== opportunities over gRPC and REST: %d callers, %v per target\n", c, d)
	fmt.Printf("%-26s %9s %9s %9s %7s\n", "target", "rps", "p50", "p99", "errors")
	var mu sync.Mutex
	var created []string
	keep := func(id string) {
		mu.Lock()
		created = append(created, id)
		mu.Unlock()
	}
	load(ctx, "grpc create", c, d, func(ctx context.Context, _, i int) error {
		o, err := b.pipeline.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{Opportunity: b.opportunity(i)})
		if err == nil {
			keep(o.GetOpportunity().GetOpportunityId())
		}
		return err
	}).print()
	load(ctx, "rest create", c, d, func(ctx context.Context, _, i int) error {
		var o pipelinev1.Opportunity
		err := b.call(ctx, http.MethodPost, "/v1/opportunities", map[string]any{"customerId": b.customer, "displayName": fmt.Sprintf("Bench %d", i),
			"amount": map[string]any{"currencyCode": "USD", "amountMinor": 1000 + i}, "ownerId": b.owner}, &o)
		if err == nil {
			keep(o.GetOpportunityId())
		}
		return err
	}).print()
	if len(created) < c {
		return fmt.Errorf("only %d opportunities created", len(created))
	}
	first, err := b.pipeline.GetOpportunity(ctx, &pipelinev1.GetOpportunityRequest{OpportunityId: created[0]})
	if err != nil {
		return err
	}
	pl, err := b.pipeline.GetPipeline(ctx, &pipelinev1.GetPipelineRequest{PipelineId: first.GetOpportunity().GetPipelineId()})
	if err != nil {
		return err
	}
	var open []string
	for _, s := range pl.GetPipeline().GetStages() {
		if s.GetKind() == pipelinev1.StageKind_STAGE_KIND_OPEN {
			open = append(open, s.GetStageId())
		}
	}
	if len(open) < 2 {
		return errors.New("the default pipeline has fewer than two open stages")
	}
	b.stages = [2]string{open[0], open[1]}
	// Each caller moves its own opportunities to and fro between the first
	// two open stages, with the etag it last saw, so that callers never
	// contend for a row.
	type seen struct {
		etag  string
		stage int
	}
	state := make([]map[string]seen, c)
	for w := range state {
		state[w] = map[string]seen{}
	}
	next := func(ctx context.Context, w, i int) (id, stage, etag string) {
		own := len(created) / c
		id = created[w*own+i%own]
		st, ok := state[w][id]
		if !ok {
			st = seen{etag: b.etag(ctx, id)}
		}
		return id, b.stages[1-st.stage], st.etag
	}
	moved := func(w int, id, etag string) {
		state[w][id] = seen{etag: etag, stage: 1 - state[w][id].stage}
	}
	load(ctx, "grpc stage change", c, d, func(ctx context.Context, w, i int) error {
		id, stage, etag := next(ctx, w, i)
		o, err := b.pipeline.MoveOpportunityStage(ctx, &pipelinev1.MoveOpportunityStageRequest{OpportunityId: id, StageId: stage, Etag: etag})
		if err == nil {
			moved(w, id, o.GetOpportunity().GetEtag())
		}
		return err
	}).print()
	load(ctx, "rest stage change", c, d, func(ctx context.Context, w, i int) error {
		id, stage, etag := next(ctx, w, i)
		var o pipelinev1.Opportunity
		err := b.call(ctx, http.MethodPost, "/v1/opportunities/"+id+":moveStage", map[string]any{"stageId": stage, "etag": etag}, &o)
		if err == nil {
			moved(w, id, o.GetEtag())
		}
		return err
	}).print()
	filter := `owner_id = "` + b.owner + `"`
	load(ctx, "grpc list by owner", c, d, func(ctx context.Context, _, _ int) error {
		_, err := b.pipeline.ListOpportunities(ctx, &pipelinev1.ListOpportunitiesRequest{Filter: filter, PageSize: 20})
		return err
	}).print()
	load(ctx, "rest list by owner", c, d, func(ctx context.Context, _, _ int) error {
		return b.call(ctx, http.MethodGet, "/v1/opportunities?page_size=20&filter="+url.QueryEscape(filter), nil, nil)
	}).print()

	fmt.Printf("== import over gRPC: %d callers, %v each, idempotent (request_id, external_id)\n", c, d)
	stamp := time.Now().UnixNano()
	r := load(ctx, "import opportunities", c, d, func(ctx context.Context, w, i int) error {
		o := b.opportunity(i)
		o.ExternalId = fmt.Sprintf("import-%d-%d-%d", stamp, w, i)
		_, err := b.pipeline.CreateOpportunity(ctx, &pipelinev1.CreateOpportunityRequest{Opportunity: o, RequestId: o.GetExternalId()})
		return err
	})
	fmt.Printf("opportunities: %.0f rows/s (p99 %v, %d errors)\n", r.rps(), r.pct(99), r.errors)
	const lines = 20
	r = load(ctx, "import orders", c, d, func(ctx context.Context, w, i int) error {
		o := &pipelinev1.Order{Kind: pipelinev1.OrderKind_ORDER_KIND_SALE, CustomerId: b.customer, CurrencyCode: "USD",
			ExternalId: fmt.Sprintf("import-%d-%d-%d", stamp, w, i)}
		for l := range lines {
			o.Lines = append(o.Lines, &pipelinev1.OrderLine{ProductId: b.product, Quantity: int64(1 + l), UnitPriceMinor: 199})
		}
		_, err := b.orders.CreateOrder(ctx, &pipelinev1.CreateOrderRequest{Order: o, RequestId: o.GetExternalId()})
		return err
	})
	fmt.Printf("orders of %d lines: %.0f orders/s = %.0f rows/s (p99 %v, %d errors)\n", lines, r.rps(), r.rps()*(lines+1), r.pct(99), r.errors)

	return b.computations(ctx, dbURL, created[0], n)
}

// opportunity is the i-th opportunity a create target makes.
func (b *bench) opportunity(i int) *pipelinev1.Opportunity {
	return &pipelinev1.Opportunity{CustomerId: b.customer, DisplayName: fmt.Sprintf("Bench %d", i), OwnerId: b.owner,
		Amount: &typesv1.Money{CurrencyCode: "USD", AmountMinor: int64(1000 + i)}}
}

// etag reads the current etag of id.
func (b *bench) etag(ctx context.Context, id string) string {
	o, err := b.pipeline.GetOpportunity(ctx, &pipelinev1.GetOpportunityRequest{OpportunityId: id})
	if err != nil {
		return ""
	}
	return o.GetOpportunity().GetEtag()
}

// call sends one REST request and decodes a JSON answer into out (when given).
func (b *bench) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.rest+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if id, ok := raw["opportunityId"]; ok {
		o := out.(*pipelinev1.Opportunity)
		var etag string
		_ = json.Unmarshal(raw["etag"], &etag)
		o.Etag = etag
		return json.Unmarshal(id, &o.OpportunityId)
	}
	return fmt.Errorf("%s %s: no opportunity in the answer", method, path)
}

// result is one target's latencies and errors.
type result struct {
	name    string
	elapsed time.Duration
	lat     []time.Duration
	errors  int
	first   error
}

func (r result) rps() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

func (r result) pct(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[(len(r.lat)-1)*p/100].Round(10 * time.Microsecond)
}

func (r result) print() {
	fmt.Printf("%-26s %9.0f %9v %9v %7d\n", r.name, r.rps(), r.pct(50), r.pct(99), r.errors)
	if r.first != nil {
		fmt.Printf("    first error: %v\n", r.first)
	}
}

// load runs call from c callers in a closed loop for d and gathers every
// latency of the calls that succeeded.
func load(ctx context.Context, name string, c int, d time.Duration, call func(ctx context.Context, worker, i int) error) result {
	lats := make([][]time.Duration, c)
	errs := make([]int, c)
	var first error
	var once sync.Once
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range c {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				t := time.Now()
				if err := call(ctx, w, i); err != nil {
					errs[w]++
					once.Do(func() { first = err })
					continue
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	r := result{name: name, elapsed: time.Since(start), first: first}
	for w := range c {
		r.lat = append(r.lat, lats[w]...)
		r.errors += errs[w]
	}
	slices.Sort(r.lat)
	return r
}
