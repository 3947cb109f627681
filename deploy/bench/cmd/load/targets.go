package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
)

// config is what the targets need to reach the servers.
type config struct {
	grpcAddr, restURL, baselineAddr string
	// ticketAddr is the ticket service's, for the ticket targets.
	ticketAddr string
	key        string
	ids        []string
	// queries are what the search targets ask, cycled.
	queries []string
	conns   int
}

// pool is a few gRPC connections to one server: one HTTP/2 connection
// serialises its frames through a single writer, which can bottleneck many
// workers before the server does on a machine with more cores.
type pool []customerv1.CustomerServiceClient

func dialPool(addr string, n int) (pool, func(), error) {
	p := make(pool, n)
	conns := make([]*grpc.ClientConn, n)
	closeAll := func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}
	for i := range n {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns[i], p[i] = c, customerv1.NewCustomerServiceClient(c)
	}
	return p, closeAll, nil
}

// newTargets builds the named targets, opening only the connections they
// need; the returned function closes them.
func newTargets(cfg config, names []string) ([]target, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	pools := map[string]pool{}
	dial := func(addr string) (pool, error) {
		if p, ok := pools[addr]; ok {
			return p, nil
		}
		p, c, err := dialPool(addr, cfg.conns)
		if err != nil {
			return nil, err
		}
		pools[addr] = p
		closers = append(closers, c)
		return p, nil
	}
	httpc := &http.Client{Transport: &http.Transport{
		// One keep-alive connection per worker, never closed between phases.
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute,
		// Bodies are discarded; compressing them would only cost the edge CPU.
		DisableCompression: true,
	}}
	closers = append(closers, httpc.CloseIdleConnections)
	// The edge reads the metadata the same way for every call, and the
	// baseline ignores it; sending it to both keeps the client's work equal.
	md := metadata.Pairs("authorization", "Bearer "+cfg.key)
	var created atomic.Int64
	displayName := func() string { return personName(created.Add(1)) }

	var ticketClients []ticketv1.TicketServiceClient
	var out []target
	for _, name := range names {
		var t target
		switch name {
		case "grpc-get", "baseline-get":
			addr := cfg.grpcAddr
			if name == "baseline-get" {
				addr = cfg.baselineAddr
			}
			p, err := dial(addr)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			t.newCall = func(w int) func(context.Context) error {
				c := p[w%len(p)]
				return func(ctx context.Context) error {
					_, err := c.GetCustomer(metadata.NewOutgoingContext(ctx, md),
						&customerv1.GetCustomerRequest{CustomerId: cfg.ids[rand.IntN(len(cfg.ids))]})
					return err
				}
			}
		case "grpc-list":
			p, err := dial(cfg.grpcAddr)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			t.newCall = func(w int) func(context.Context) error {
				c := p[w%len(p)]
				return func(ctx context.Context) error {
					_, err := c.ListCustomers(metadata.NewOutgoingContext(ctx, md), &customerv1.ListCustomersRequest{PageSize: 20})
					return err
				}
			}
		case "grpc-create":
			p, err := dial(cfg.grpcAddr)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			t.newCall = func(w int) func(context.Context) error {
				c := p[w%len(p)]
				return func(ctx context.Context) error {
					_, err := c.CreateCustomer(metadata.NewOutgoingContext(ctx, md), &customerv1.CreateCustomerRequest{
						Customer: &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: displayName()},
					})
					return err
				}
			}
		case "grpc-search":
			p, err := dial(cfg.grpcAddr)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			t.newCall = func(w int) func(context.Context) error {
				c := p[w%len(p)]
				return func(ctx context.Context) error {
					_, err := c.SearchCustomers(metadata.NewOutgoingContext(ctx, md),
						&customerv1.SearchCustomersRequest{Query: cfg.queries[rand.IntN(len(cfg.queries))], PageSize: 20})
					return err
				}
			}
		case "rest-search":
			t.newCall = func(int) func(context.Context) error {
				return func(ctx context.Context) error {
					q := url.Values{"query": {cfg.queries[rand.IntN(len(cfg.queries))]}, "page_size": {"20"}}
					return do(ctx, httpc, cfg.key, http.MethodGet, cfg.restURL+"/v1/customers:search?"+q.Encode(), "")
				}
			}
		case "rest-get":
			t.newCall = func(int) func(context.Context) error {
				return func(ctx context.Context) error {
					return do(ctx, httpc, cfg.key, http.MethodGet, cfg.restURL+"/v1/customers/"+cfg.ids[rand.IntN(len(cfg.ids))], "")
				}
			}
		case "rest-list":
			t.newCall = func(int) func(context.Context) error {
				return func(ctx context.Context) error {
					return do(ctx, httpc, cfg.key, http.MethodGet, cfg.restURL+"/v1/customers?page_size=20", "")
				}
			}
		case "rest-create":
			t.newCall = func(int) func(context.Context) error {
				return func(ctx context.Context) error {
					return do(ctx, httpc, cfg.key, http.MethodPost, cfg.restURL+"/v1/customers",
						`{"kind":"CUSTOMER_KIND_PERSON","displayName":"`+displayName()+`"}`)
				}
			}
		default:
			if !slices.Contains(ticketTargets, name) {
				closeAll()
				return nil, nil, fmt.Errorf("unknown target %q (want some of %s)", name, strings.Join(slices.Concat(targetOrder, ticketTargets), ", "))
			}
			if ticketClients == nil {
				c, closeTickets, err := dialTickets(cfg.ticketAddr, cfg.conns)
				if err != nil {
					closeAll()
					return nil, nil, err
				}
				ticketClients = c
				closers = append(closers, closeTickets)
			}
			var err error
			if t, err = ticketTarget(cfg, name, md, httpc, ticketClients); err != nil {
				closeAll()
				return nil, nil, err
			}
		}
		t.name = name
		out = append(out, t)
	}
	return out, closeAll, nil
}

// do sends one REST request and reads the whole response, as a client
// would; any status but 2xx is an error that quotes the start of the body.
func do(ctx context.Context, c *http.Client, key, method, url, body string) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, msg)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
