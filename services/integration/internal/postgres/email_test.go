package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/smtpsink"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/rule"
	"github.com/rapportcrm/rapport/services/integration/internal/smtpsend"
	"github.com/rapportcrm/rapport/services/integration/internal/webhook"
)

// customers fakes the customer service, the one peer the workers ask.
type customers struct {
	mu      sync.Mutex
	people  map[uuid.UUID]email.Recipient
	consent map[uuid.UUID]bool
}

func (c *customers) Recipient(_ context.Context, _, id uuid.UUID) (email.Recipient, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.people[id]
	if !ok {
		return email.Recipient{}, email.ErrCustomerNotFound
	}
	return r, nil
}

func (c *customers) MarketingConsent(_ context.Context, _, id uuid.UUID) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.consent[id], nil
}

type mailFixture struct {
	*fixture
	sink   *smtpsink.Sink
	svc    *email.Service
	worker *email.Worker
	people *customers
}

func newMailFixture(t *testing.T) *mailFixture {
	t.Helper()
	f := &mailFixture{fixture: newFixture(t, false), sink: smtpsink.Start(t),
		people: &customers{people: map[uuid.UUID]email.Recipient{}, consent: map[uuid.UUID]bool{}}}
	f.svc = email.New(f.store.Emails(), true)
	sender := smtpsend.New(smtpsend.Config{Addr: f.sink.Addr, From: "crm@rapport.test", Timeout: 5 * time.Second})
	var err error
	f.worker, err = email.NewWorker(f.store.Emails(), f.people, sender, email.WorkerConfig{From: "crm@rapport.test", Poll: time.Second,
		Lease: time.Minute, Attempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Batch: 4, Senders: 3},
		slog.New(slog.DiscardHandler), noop.NewMeterProvider().Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *mailFixture) template(t *testing.T, purpose email.Purpose, variants ...email.Variant) email.Template {
	t.Helper()
	tpl, err := f.svc.CreateTemplate(t.Context(), f.admin, email.Template{DisplayName: "welcome", Purpose: purpose, Variants: variants}, "")
	if err != nil {
		t.Fatalf("CreateTemplate = %v", err)
	}
	return tpl
}

func (f *mailFixture) customer(name, addr, lang, zone string, consent bool) uuid.UUID {
	id := uuid.New()
	f.people.mu.Lock()
	defer f.people.mu.Unlock()
	f.people.people[id] = email.Recipient{Address: addr, Name: name, Language: lang, TimeZone: zone}
	f.people.consent[id] = consent
	return id
}

// process runs worker rounds until nothing is due, at most n.
func (f *mailFixture) process(t *testing.T, n int) {
	t.Helper()
	for range n {
		done, err := f.worker.Process(t.Context())
		if err != nil {
			t.Fatalf("Process = %v", err)
		}
		if done == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond) // past the backoff
	}
}

func (f *mailFixture) messages(t *testing.T) []email.Message {
	t.Helper()
	page, err := f.svc.Messages(t.Context(), f.admin, email.ListQuery{})
	if err != nil {
		t.Fatalf("Messages = %v", err)
	}
	return page.Messages
}

var english = email.Variant{Locale: "en", Subject: "Welcome {{customer.display_name}}", Text: "Changed at {{event.time}} ({{event.type}})"}
var german = email.Variant{Locale: "de", Subject: "Willkommen {{customer.display_name}}", Text: "Geändert am {{event.time}}"}

func TestRuleSendsOneEmailInTheRecipientsLanguageAndZone(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t)
	tpl := f.template(t, email.Transactional, english, german)
	rules := rule.New(f.store.Rules(), nil, true)
	if _, err := rules.Create(t.Context(), f.admin, rule.Rule{DisplayName: "welcome", EventTypes: []string{"customer.created"}, Enabled: true,
		Actions: []rule.Action{{Kind: rule.SendEmail, EmailTemplateID: tpl.ID}}}, ""); err != nil {
		t.Fatalf("Create rule = %v", err)
	}
	id := f.customer("Grete Müller", "grete@example.de", "de-AT", "Europe/Berlin", false)
	e := f.event("customer.created", "customers/"+id.String())
	// Rules run on events after their creation; an hour ahead, on a whole minute.
	e.Time = time.Now().Add(time.Hour).Truncate(time.Minute)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	f.ingest(t, e)
	f.ingest(t, e) // replayed: queues nothing twice
	f.process(t, 5)

	got := f.sink.Messages()
	if len(got) != 1 {
		t.Fatalf("messages sent = %d, want 1", len(got))
	}
	m := got[0]
	if m.To[0] != "grete@example.de" || !strings.Contains(m.Header.Get("Subject"), "Willkommen") {
		t.Fatalf("sent to %v with subject %q, want grete@example.de in German", m.To, m.Header.Get("Subject"))
	}
	if want := "Geändert am " + e.Time.In(berlin).Format("02.01.2006 15:04 MST"); strings.TrimSpace(m.Text) != want {
		t.Fatalf("body = %q, want %q (Berlin time, German format)", m.Text, want)
	}
	log := f.messages(t)
	if len(log) != 1 || log[0].State != email.Sent || log[0].Locale != "de" || log[0].Attempts != 1 || log[0].RuleID == uuid.Nil {
		t.Fatalf("log = %+v, want one sent in de after one attempt, from the rule", log)
	}
	if m.Header.Get("Message-ID") != log[0].MessageIDHeader("rapport.test") {
		t.Fatalf("Message-ID = %q, want %q", m.Header.Get("Message-ID"), log[0].MessageIDHeader("rapport.test"))
	}
}

func TestMarketingWithoutConsentIsSuppressed(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t)
	tpl := f.template(t, email.Marketing, english)
	without := f.customer("No", "no@example.com", "", "", false)
	with := f.customer("Yes", "yes@example.com", "", "", true)
	for _, r := range []email.SendRequest{{TemplateID: tpl.ID, CustomerID: without}, {TemplateID: tpl.ID, CustomerID: with},
		{TemplateID: tpl.ID, Address: "list@example.com"}} {
		if _, err := f.svc.Send(t.Context(), f.admin, r); err != nil {
			t.Fatalf("Send = %v", err)
		}
	}
	f.process(t, 5)
	if got := f.sink.Attempts(); len(got) != 1 || got[0].To[0] != "yes@example.com" {
		t.Fatalf("relay saw %+v, want only the consenting customer", got)
	}
	states := map[string]email.State{}
	for _, m := range f.messages(t) {
		states[m.Recipient] = m.State
	}
	if states["no@example.com"] != email.SuppressedNoConsent || states["list@example.com"] != email.SuppressedNoConsent || states["yes@example.com"] != email.Sent {
		t.Fatalf("states = %v, want the two without consent suppressed and the other sent", states)
	}
}

func TestTransientThenAcceptedSendsOnceWithOneMessageID(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t)
	tpl := f.template(t, email.Transactional, english)
	f.sink.FailNext("451 4.3.0 try again later")
	queued, err := f.svc.Send(t.Context(), f.admin, email.SendRequest{TemplateID: tpl.ID, Address: "ops@example.com", RequestID: "once"})
	if err != nil {
		t.Fatalf("Send = %v", err)
	}
	again, err := f.svc.Send(t.Context(), f.admin, email.SendRequest{TemplateID: tpl.ID, Address: "ops@example.com", RequestID: "once"})
	if err != nil || again.ID != queued.ID {
		t.Fatalf("repeated Send = %v, %v; want message %s", again.ID, err, queued.ID)
	}
	f.process(t, 5)
	tries := f.sink.Attempts()
	if len(tries) != 2 || !strings.HasPrefix(tries[0].Reply, "451") || len(f.sink.Messages()) != 1 {
		t.Fatalf("relay saw %d attempts, %d accepted; want a 451 then one accepted", len(tries), len(f.sink.Messages()))
	}
	if a, b := tries[0].Header.Get("Message-ID"), tries[1].Header.Get("Message-ID"); a == "" || a != b {
		t.Fatalf("Message-IDs %q and %q, want the same on the retry", a, b)
	}
	log := f.messages(t)
	if len(log) != 1 || log[0].State != email.Sent || log[0].Attempts != 2 {
		t.Fatalf("log = %+v, want one message sent after 2 attempts", log)
	}
}

func TestPermanentRefusalFails(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t)
	tpl := f.template(t, email.Transactional, english)
	f.sink.FailNext("550 5.1.1 no such user")
	if _, err := f.svc.Send(t.Context(), f.admin, email.SendRequest{TemplateID: tpl.ID, Address: "gone@example.com"}); err != nil {
		t.Fatalf("Send = %v", err)
	}
	f.process(t, 5)
	log := f.messages(t)
	if len(log) != 1 || log[0].State != email.Failed || log[0].Attempts != 1 || !strings.HasPrefix(log[0].LastReply, "550") {
		t.Fatalf("log = %+v, want one failed after one attempt with the 550 reply", log)
	}
	if n := len(f.sink.Attempts()); n != 1 {
		t.Fatalf("relay attempts = %d, want 1 (no retry after 5xx)", n)
	}
}

func TestEmailTenantIsolation(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t)
	tpl := f.template(t, email.Transactional, english)
	other := auth.Caller{TenantID: uuid.NewString(), PrincipalID: "p", Roles: []auth.Role{auth.RoleAdmin}}
	if _, err := f.svc.Template(t.Context(), other, tpl.ID); err != email.ErrTemplateNotFound {
		t.Fatalf("Template(another tenant) = %v, want ErrTemplateNotFound", err)
	}
	if _, err := f.svc.Send(t.Context(), other, email.SendRequest{TemplateID: tpl.ID, Address: "a@example.com"}); err == nil {
		t.Fatal("Send(another tenant's template) succeeded, want not found")
	}
}

func TestConcurrentWorkersSendEachMessageOnce(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t)
	tpl := f.template(t, email.Transactional, english)
	const n = 20
	for i := range n {
		if _, err := f.svc.Send(t.Context(), f.admin, email.SendRequest{TemplateID: tpl.ID, Address: fmt.Sprintf("r%d@example.com", i)}); err != nil {
			t.Fatalf("Send = %v", err)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.worker.Process(t.Context()); err != nil {
				t.Errorf("Process = %v", err)
			}
		}()
	}
	wg.Wait()
	f.process(t, 3)
	seen := map[string]bool{}
	for _, m := range f.sink.Attempts() {
		if seen[m.To[0]] {
			t.Fatalf("%s received twice", m.To[0])
		}
		seen[m.To[0]] = true
	}
	if len(seen) != n {
		t.Fatalf("recipients reached = %d, want %d", len(seen), n)
	}
}

func TestErasureForgetsTheCustomersEmails(t *testing.T) {
	t.Parallel()
	f := newMailFixture(t)
	tpl := f.template(t, email.Transactional, english)
	erased := f.customer("Ida", "ida@example.com", "", "", true)
	kept := f.customer("Jo", "jo@example.com", "", "", true)
	if _, err := f.svc.Send(t.Context(), f.admin, email.SendRequest{TemplateID: tpl.ID, CustomerID: erased}); err != nil {
		t.Fatalf("Send = %v", err)
	}
	f.process(t, 5)
	for _, to := range []uuid.UUID{erased, kept} { // pending when the erasure comes
		if _, err := f.svc.Send(t.Context(), f.admin, email.SendRequest{TemplateID: tpl.ID, CustomerID: to}); err != nil {
			t.Fatalf("Send = %v", err)
		}
	}
	e := f.event(webhook.CustomerErasedType, "customers/"+erased.String())
	e.Body = `{"subject":"customers/` + erased.String() + `"}`
	f.ingest(t, e)
	f.process(t, 5)

	if got := f.sink.Messages(); len(got) != 2 || got[1].To[0] != "jo@example.com" {
		t.Fatalf("relay accepted %d messages, want Ida's first and then only Jo's", len(got))
	}
	for _, m := range f.messages(t) {
		switch {
		case m.CustomerID == kept:
			if m.State != email.Sent || m.Recipient != "jo@example.com" {
				t.Fatalf("other customer's message = %+v, want sent, address kept", m)
			}
		case m.Recipient != "":
			t.Fatalf("erased customer's message keeps address %q", m.Recipient)
		case m.State != email.Sent && (m.State != email.Failed || m.LastReply != "customer erased"):
			t.Fatalf("erased customer's message = %+v, want sent before or failed as erased", m)
		}
	}
}
