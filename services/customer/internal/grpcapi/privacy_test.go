package grpcapi_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

func TestAuditExportAndErasure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	c := e.create(t, ctx, ada())
	id := c.GetCustomerId()
	if _, err := e.profiles.CreateContactPoint(ctx, &customerv1.CreateContactPointRequest{CustomerId: id, ContactPoint: &customerv1.ContactPoint{
		Type: customerv1.ContactPointType_CONTACT_POINT_TYPE_HANDLE, Network: "mastodon", Value: "@ada@lovelace.example"}}); err != nil {
		t.Fatalf("CreateContactPoint: %v", err)
	}
	if _, err := e.customers.UpdateCustomer(ctx, &customerv1.UpdateCustomerRequest{
		Customer: &customerv1.Customer{CustomerId: id, DisplayName: "Augusta Ada Lovelace"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}); err != nil {
		t.Fatalf("UpdateCustomer: %v", err)
	}
	if _, err := upload(ctx, e.docs, &customerv1.UploadMetadata{CustomerId: id, Title: "Passport scan", FileName: "ada-passport.pdf"}, pdf(3000, 7), 1024); err != nil {
		t.Fatalf("upload: %v", err)
	}
	other := e.create(t, ctx, &customerv1.Customer{Kind: customerv1.CustomerKind_CUSTOMER_KIND_PERSON, DisplayName: "Charles Babbage"})

	// The trail: every change of the customer and what hangs under it, newest first.
	var actions []string
	token := ""
	for {
		page, err := e.privacy.ListCustomerAuditEntries(ctx, &customerv1.ListCustomerAuditEntriesRequest{CustomerId: id, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListCustomerAuditEntries: %v", err)
		}
		for _, a := range page.GetEntries() {
			actions = append(actions, a.GetResource()[len("customers/")+len(id):]+":"+a.GetAction())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(actions) < 5 || !slices.Contains(actions, ":updated") || actions[len(actions)-1] != ":created" || !strings.HasSuffix(actions[0], ":version_added") {
		t.Fatalf("audit trail = %v, want the upload first, the update among them and the creation last", actions)
	}
	for _, a := range actions {
		if a == ":" {
			t.Fatalf("audit trail %v mixes in another customer", actions)
		}
	}

	exported, err := e.privacy.ExportCustomerData(ctx, &customerv1.ExportCustomerDataRequest{CustomerId: id})
	if err != nil {
		t.Fatalf("ExportCustomerData: %v", err)
	}
	data := exported.GetData().GetFields()
	if got := data["customer"].GetStructValue().GetFields()["email"].GetStringValue(); got != "Ada@Example.com" {
		t.Errorf("exported email = %q, want Ada@Example.com", got)
	}
	for _, section := range []string{"contact_points", "audit_entries"} {
		if len(data[section].GetListValue().GetValues()) == 0 {
			t.Errorf("export section %s is empty", section)
		}
	}
	if _, ok := data["segment_memberships"]; !ok {
		t.Errorf("export lacks the segment_memberships section")
	}

	for _, tt := range []struct {
		name string
		err  error
		want codes.Code
	}{
		{"analyst reads the trail", func() error {
			_, err := e.privacy.ListCustomerAuditEntries(e.as(t.Context(), e.token(t, auth.RoleAnalyst)), &customerv1.ListCustomerAuditEntriesRequest{CustomerId: id})
			return err
		}(), codes.PermissionDenied},
		{"sales manager exports", func() error {
			_, err := e.privacy.ExportCustomerData(e.as(t.Context(), e.token(t, auth.RoleSalesManager)), &customerv1.ExportCustomerDataRequest{CustomerId: id})
			return err
		}(), codes.PermissionDenied},
		{"other tenant reads the trail", func() error {
			_, err := e.privacy.ListCustomerAuditEntries(e.as(t.Context(), e.otherKey), &customerv1.ListCustomerAuditEntriesRequest{CustomerId: id})
			return err
		}(), codes.NotFound},
		{"erasure without a reason", func() error {
			_, err := e.privacy.EraseCustomer(ctx, &customerv1.EraseCustomerRequest{CustomerId: id})
			if !grpctest.Violations(err)["reason"] {
				return status.Error(codes.Unknown, "no violation on reason")
			}
			return err
		}(), codes.InvalidArgument},
		{"erasure with a stale etag", func() error {
			_, err := e.privacy.EraseCustomer(ctx, &customerv1.EraseCustomerRequest{CustomerId: id, Reason: "DSR-1", Etag: c.GetEtag()})
			return err
		}(), codes.Aborted},
	} {
		if status.Code(tt.err) != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}

	erased, err := e.privacy.EraseCustomer(ctx, &customerv1.EraseCustomerRequest{CustomerId: id, Reason: "DSR-2026-001"})
	if err != nil {
		t.Fatalf("EraseCustomer: %v", err)
	}
	if got := erased.GetCustomer(); got.GetDisplayName() != "Erased customer" || got.GetEmail() != "" || got.GetPhone() != "" || got.GetDeleteTime() == nil {
		t.Fatalf("erased customer = %v, want anonymised and deleted", got)
	}
	if erased.GetRedactedEvents() == 0 || erased.GetRedactedAuditEntries() == 0 {
		t.Fatalf("redacted %d events and %d audit entries, want some of each", erased.GetRedactedEvents(), erased.GetRedactedAuditEntries())
	}
	if _, err := e.privacy.EraseCustomer(ctx, &customerv1.EraseCustomerRequest{CustomerId: id, Reason: "again"}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second EraseCustomer = %v, want FailedPrecondition", err)
	}

	// Nothing stored still names or reaches her, and the other customer is untouched.
	for _, needle := range []string{"Lovelace", "xample.com", "1632960961", "Passport", "ada-passport"} {
		var events, audits int
		if err := e.db.Owner.QueryRow(t.Context(), `SELECT
			(SELECT count(*) FROM outbox WHERE position(convert_to($1, 'UTF8') in payload) > 0),
			(SELECT count(*) FROM audit_log WHERE coalesce(before::text, '') || coalesce(after::text, '') LIKE '%' || $1 || '%')`, needle).Scan(&events, &audits); err != nil {
			t.Fatal(err)
		}
		if events != 0 || audits != 0 {
			t.Errorf("%q still appears in %d events and %d audit rows", needle, events, audits)
		}
	}
	var chunks int
	if err := e.db.Owner.QueryRow(t.Context(), `SELECT count(*) FROM document_chunks c JOIN document_versions v USING (tenant_id, version_id)
		WHERE v.customer_id = $1`, id).Scan(&chunks); err != nil || chunks != 0 {
		t.Errorf("document chunks left after erasure: %d (%v), want 0", chunks, err)
	}
	var payloads [][]byte
	rows, err := e.db.Owner.Query(t.Context(), `SELECT payload FROM outbox WHERE resource = $1 AND payload_type = 'rapport.customer.v1.Customer'`, "customers/"+id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		payloads = append(payloads, p)
	}
	rows.Close()
	for _, p := range payloads {
		var m customerv1.Customer
		if err := proto.Unmarshal(p, &m); err != nil || m.GetCustomerId() != id {
			t.Fatalf("redacted event payload = %v (%v), want a Customer that keeps its id", &m, err)
		}
	}
	if types := e.eventTypes(t, "customers/"+id); !slices.Contains(types, "customer.erased") {
		t.Fatalf("events %v lack customer.erased", types)
	}
	still, err := e.customers.GetCustomer(ctx, &customerv1.GetCustomerRequest{CustomerId: other.GetCustomerId()})
	if err != nil || still.GetCustomer().GetDisplayName() != "Charles Babbage" {
		t.Fatalf("the other customer = %v, %v; want it untouched", still, err)
	}
}
