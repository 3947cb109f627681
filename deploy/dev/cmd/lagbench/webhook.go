package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"

	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
)

// receiverName names the bench's subscription.
const receiverName = "lagbench receiver"

// receiver is a loopback webhook endpoint that keeps the first arrival
// time of each event id it is sent.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	arrived map[uuid.UUID]time.Time
}

// subscribe starts a receiver and subscribes it to every event of the
// admin key's tenant, after the operator's allowance for loopback targets
// (given with an operator token, as an operator admin would).
func subscribe(ctx context.Context, adminKey string, customer, integration *grpc.ClientConn) (*receiver, error) {
	r := &receiver{arrived: map[uuid.UUID]time.Time{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, req *http.Request) {
		var ce struct{ ID uuid.UUID }
		err := json.NewDecoder(req.Body).Decode(&ce)
		now := time.Now()
		if err != nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, seen := r.arrived[ce.ID]; !seen {
			r.arrived[ce.ID] = now
		}
	}))
	key, ok := auth.ParseAPIKey(adminKey)
	if !ok {
		r.Close()
		return nil, errors.New("the admin key is not an API key")
	}
	admin := grpcclient.WithBearer(ctx, adminKey)
	tok, err := iamv1.NewIdentityServiceClient(customer).IssueToken(admin, &iamv1.IssueTokenRequest{TtlSeconds: 600})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("operator token: %w", err)
	}
	hooks := integrationv1.NewWebhookServiceClient(integration)
	if _, err := hooks.UpdateWebhookPolicy(grpcclient.WithBearer(ctx, tok.GetToken()), &integrationv1.UpdateWebhookPolicyRequest{
		WebhookPolicy: &integrationv1.WebhookPolicy{TenantId: key.TenantID.String(), AllowPrivateTargets: true}}); err != nil {
		r.Close()
		return nil, fmt.Errorf("allow loopback: %w", err)
	}
	// One receiver: the subscriptions of earlier runs (their receivers
	// gone) would multiply every event's deliveries.
	old, err := hooks.ListWebhooks(admin, &integrationv1.ListWebhooksRequest{PageSize: 1000})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	for _, w := range old.GetWebhooks() {
		if w.GetDisplayName() != receiverName {
			continue
		}
		if _, err := hooks.DeleteWebhook(admin, &integrationv1.DeleteWebhookRequest{WebhookId: w.GetWebhookId()}); err != nil {
			r.Close()
			return nil, fmt.Errorf("delete an earlier run's subscription: %w", err)
		}
	}
	if _, err := hooks.CreateWebhook(admin, &integrationv1.CreateWebhookRequest{Webhook: &integrationv1.Webhook{
		DisplayName: receiverName, TargetUrl: r.URL + "/events", EventTypes: []string{"*"}}}); err != nil {
		r.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	return r, nil
}

// wait waits up to drain for every event to arrive and returns the arrival
// times of those that did.
func (r *receiver) wait(events map[uuid.UUID]event, drain time.Duration) map[uuid.UUID]time.Time {
	deadline := time.Now().Add(drain)
	for {
		r.mu.Lock()
		n := 0
		for id := range events {
			if _, ok := r.arrived[id]; ok {
				n++
			}
		}
		r.mu.Unlock()
		if n == len(events) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uuid.UUID]time.Time, len(r.arrived))
	for id, at := range r.arrived {
		out[id] = at
	}
	return out
}
