package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Retry policy for transient failures.
const (
	maxAttempts  = 5
	firstBackoff = 200 * time.Millisecond
	maxBackoff   = 5 * time.Second
)

// maxResponse bounds what is read of a response; the resources are small.
const maxResponse = 1 << 20

// collection is a REST collection the loader creates resources in.
type collection struct {
	path    string
	idField string // JSON field holding the created resource's id
}

var (
	customers       = collection{"/v1/customers", "customerId"}
	opportunities   = collection{"/v1/opportunities", "opportunityId"}
	leads           = collection{"/v1/leads", "leadId"}
	teams           = collection{"/v1/teams", "teamId"}
	principals      = collection{"/v1/principals", "principalId"}
	assignmentRules = collection{"/v1/leadAssignmentRules", "leadAssignmentRuleId"}
	partners        = collection{"/v1/partners", "partnerId"}
)

// ticketImports is the import method; each call imports one ticket, keyed
// on its external id.
const ticketImports = "/v1/tickets:import"

// client calls the REST edge.
type client struct {
	http    *http.Client
	baseURL string
	auth    string // Authorization header value
}

// create posts resource to coll and returns the id of the resource the
// server answers with. The request_id makes every retry safe: the server
// answers a repeat with the resource it first created.
//
// Errors name the call and its request_id, which derive from row ids, and
// carry the server's message; they never quote the resource, which may hold
// personal data.
func (c *client) create(ctx context.Context, coll collection, requestID string, resource any) (string, error) {
	return c.createAt(ctx, coll.path, requestID, resource, func(created map[string]any) string {
		id, _ := created[coll.idField].(string)
		return id
	})
}

// createAt posts resource to path with request_id, retrying as create
// does, and returns the id idOf finds in the response.
func (c *client) createAt(ctx context.Context, path, requestID string, resource any, idOf func(map[string]any) string) (string, error) {
	body, err := json.Marshal(resource)
	if err != nil {
		return "", err
	}
	target := strings.TrimRight(c.baseURL, "/") + path + "?" + url.Values{"request_id": {requestID}}.Encode()
	call := fmt.Sprintf("POST %s (request_id %q)", path, requestID)
	for attempt := 1; ; attempt++ {
		id, retry, err := c.post(ctx, target, idOf, body)
		switch {
		case err == nil:
			return id, nil
		case ctx.Err() != nil:
			return "", fmt.Errorf("%s: %w", call, ctx.Err())
		case !retry:
			return "", fmt.Errorf("%s: %w", call, err)
		case attempt == maxAttempts:
			return "", fmt.Errorf("%s: giving up after %d attempts: %w", call, maxAttempts, err)
		}
		select {
		case <-time.After(backoff(attempt, err)):
		case <-ctx.Done():
			return "", fmt.Errorf("%s: %w", call, ctx.Err())
		}
	}
}

// post makes one attempt and reports whether a failure is worth retrying.
func (c *client) post(ctx context.Context, target string, idOf func(map[string]any) string, body []byte) (id string, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		// Refused or reset connections and timeouts. The URL the error
		// quotes is already named by the caller.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", true, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", true, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := responseError(resp.StatusCode, resp.Header.Get("Retry-After"), payload)
		return "", e.temporary(), e
	}
	var created map[string]any
	if err := json.Unmarshal(payload, &created); err != nil {
		return "", false, fmt.Errorf("HTTP %d with a body that is not a JSON object: %w", resp.StatusCode, err)
	}
	if id = idOf(created); id == "" {
		return "", false, fmt.Errorf("HTTP %d without the created id in the response", resp.StatusCode)
	}
	return id, false, nil
}

// httpError is a response with an error status.
type httpError struct {
	status     int
	message    string
	retryAfter time.Duration
}

func (e *httpError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.status, http.StatusText(e.status))
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// temporary tells overload and unavailability, which pass, from refusals,
// which a resend would only repeat.
func (e *httpError) temporary() bool {
	switch e.status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// responseError reads an error response. The edge writes a google.rpc.Status
// as JSON ({"code", "message", "details"}); only its message is kept. A body
// from something else in front of the edge (a proxy's page) is kept as
// text, shortened.
func responseError(status int, retryAfter string, body []byte) *httpError {
	e := &httpError{status: status}
	if secs, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && secs > 0 {
		e.retryAfter = time.Duration(secs) * time.Second
	}
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &st) == nil && st.Message != "" {
		e.message = st.Message
		return e
	}
	text := []rune(strings.TrimSpace(string(body)))
	if len(text) > 200 {
		text = append(text[:200], '…')
	}
	e.message = string(text)
	return e
}

// backoff is the wait before attempt+1: exponential with jitter, so that the
// workers do not retry in step, but at least what a Retry-After header asked
// for, within maxBackoff.
func backoff(attempt int, err error) time.Duration {
	d := min(firstBackoff<<(attempt-1), maxBackoff)
	d = d/2 + rand.N(d/2+1)
	var he *httpError
	if errors.As(err, &he) {
		d = max(d, min(he.retryAfter, maxBackoff))
	}
	return d
}

// findID returns the id (idField) of the first resource a list of coll
// with filter answers, "" when there is none. Reads are retried like creates.
func (c *client) findID(ctx context.Context, coll collection, listField, filter string) (string, error) {
	target := strings.TrimRight(c.baseURL, "/") + coll.path + "?" + url.Values{"filter": {filter}, "page_size": {"1"}}.Encode()
	call := fmt.Sprintf("GET %s (filtered)", coll.path)
	for attempt := 1; ; attempt++ {
		id, retry, err := c.getFirst(ctx, target, listField, coll.idField)
		switch {
		case err == nil:
			return id, nil
		case ctx.Err() != nil:
			return "", fmt.Errorf("%s: %w", call, ctx.Err())
		case !retry:
			return "", fmt.Errorf("%s: %w", call, err)
		case attempt == maxAttempts:
			return "", fmt.Errorf("%s: giving up after %d attempts: %w", call, maxAttempts, err)
		}
		select {
		case <-time.After(backoff(attempt, err)):
		case <-ctx.Done():
			return "", fmt.Errorf("%s: %w", call, ctx.Err())
		}
	}
}

// getFirst makes one list attempt and returns the first item's id.
func (c *client) getFirst(ctx context.Context, target, listField, idField string) (id string, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", true, err
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", true, fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		e := responseError(resp.StatusCode, resp.Header.Get("Retry-After"), payload)
		return "", e.temporary(), e
	}
	var list map[string]any
	if err := json.Unmarshal(payload, &list); err != nil {
		return "", false, fmt.Errorf("HTTP 200 with a body that is not a JSON object: %w", err)
	}
	if items, _ := list[listField].([]any); len(items) > 0 {
		first, _ := items[0].(map[string]any)
		id, _ = first[idField].(string)
	}
	return id, false, nil
}
