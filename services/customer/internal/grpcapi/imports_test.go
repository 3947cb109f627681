package grpcapi_test

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcserver"
	"github.com/rapportcrm/rapport/pkg/grpctest"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/classify"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/grpcapi"
	"github.com/rapportcrm/rapport/services/customer/internal/identity"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
	"github.com/rapportcrm/rapport/services/customer/internal/profile"
	"github.com/rapportcrm/rapport/services/customer/internal/search"
)

// importEnv is the customer service with the import API, applying small
// batches so that tests cross batch boundaries.
type importEnv struct {
	*env
	imports customerv1.ImportServiceClient
}

func newImportEnv(t *testing.T) *importEnv { return newImportEnvBatch(t, 3) }

func newImportEnvBatch(t testing.TB, batch int) *importEnv {
	t.Helper()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	tokens := grpctest.NewTokens(t)
	store := postgres.New(db.App)
	ids := identity.New(store, tokens.Signer)
	cfg := auth.Config{PublicKey: tokens.PublicKey(), KeyCacheTTL: time.Second}
	authn, err := cfg.Build(ids)
	if err != nil {
		t.Fatal(err)
	}
	customers := customer.New(store)
	conn := grpctest.Serve(t, authn, func(srv *grpcserver.Server) {
		customerv1.RegisterCustomerServiceServer(srv, grpcapi.NewCustomers(customers, search.New(store), db.App, 20*time.Millisecond))
		customerv1.RegisterProfileServiceServer(srv, grpcapi.NewProfiles(profile.New(store)))
		iamv1.RegisterIdentityServiceServer(srv, grpcapi.NewIdentity(ids, authn.Keys()))
		customerv1.RegisterClassificationServiceServer(srv, grpcapi.NewClassification(classify.New(store)))
		customerv1.RegisterImportServiceServer(srv, grpcapi.NewImports(imports.New(store, customers, batch)))
	}, grpcapi.AuthenticateApiKeyMethod)
	e := &importEnv{env: &env{
		customers: customerv1.NewCustomerServiceClient(conn),
		classes:   customerv1.NewClassificationServiceClient(conn),
		profiles:  customerv1.NewProfileServiceClient(conn),
		iam:       iamv1.NewIdentityServiceClient(conn),
		db:        db, tokens: tokens,
	}, imports: customerv1.NewImportServiceClient(conn)}
	_, _, k, err := ids.Bootstrap(t.Context(), "Operator", "Admin")
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	e.adminKey = k.Secret
	resp, err := e.iam.CreateTenant(e.as(t.Context(), e.adminKey), &iamv1.CreateTenantRequest{DisplayName: "Other Ltd"})
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	e.otherKey = resp.GetApiKeySecret()
	return e
}

// importCSV streams text in small chunks after opts.
func (e *importEnv) importCSV(ctx context.Context, opts *customerv1.ImportOptions, text string) (*customerv1.ImportJob, error) {
	opts.Format = customerv1.ImportFormat_IMPORT_FORMAT_CSV
	var msgs []*customerv1.ImportCustomersRequest
	size := 7 // small texts go in chunks cut mid-line and mid-field
	if len(text) > 10000 {
		size = 64 << 10
	}
	for len(text) > 0 {
		n := min(size, len(text))
		msgs = append(msgs, &customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_CsvChunk{CsvChunk: []byte(text[:n])}})
		text = text[n:]
	}
	return e.send(ctx, opts, msgs)
}

func (e *importEnv) send(ctx context.Context, opts *customerv1.ImportOptions, msgs []*customerv1.ImportCustomersRequest) (*customerv1.ImportJob, error) {
	stream, err := e.imports.ImportCustomers(ctx)
	if err != nil {
		return nil, err
	}
	if opts != nil {
		msgs = append([]*customerv1.ImportCustomersRequest{{Payload: &customerv1.ImportCustomersRequest_Options{Options: opts}}}, msgs...)
	}
	for _, m := range msgs {
		if err := stream.Send(m); errors.Is(err, io.EOF) {
			break // the server answered early; CloseAndRecv has its status
		} else if err != nil {
			return nil, err
		}
	}
	resp, err := stream.CloseAndRecv()
	return resp.GetJob(), err
}

func (e *importEnv) rowErrors(t *testing.T, ctx context.Context, jobID string) map[int64]*customerv1.ImportRowError {
	t.Helper()
	out := map[int64]*customerv1.ImportRowError{}
	token := ""
	for {
		resp, err := e.imports.ListImportRowErrors(ctx, &customerv1.ListImportRowErrorsRequest{JobId: jobID, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListImportRowErrors: %v", err)
		}
		for _, re := range resp.GetRowErrors() {
			out[re.GetRowNumber()] = re
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

func (e *importEnv) defineTenure(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := e.profiles.CreateCustomAttributeDefinition(ctx, &customerv1.CreateCustomAttributeDefinitionRequest{Definition: &customerv1.CustomAttributeDefinition{
		Key: "tenure", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_NUMBER, DisplayName: "Tenure"}}); err != nil {
		t.Fatalf("CreateCustomAttributeDefinition: %v", err)
	}
}

const importHeader = "external_id,display_name,email,phone,country_code,attr.tenure\n"

func TestImportCSVRowOutcomes(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	e.defineTenure(t, ctx)
	existing := newCustomer(t, e.env, ctx, &customerv1.Customer{Kind: 1, DisplayName: "Old", Email: "old@example.com", ExternalId: "x-old"})
	text := "External ID" + strings.TrimPrefix(importHeader, "external_id") +
		"x1,Ann,ann@example.com,020 7946 0001,GB,12\n" + // 1 created
		"x2,Bob,not-an-email,,GB,\n" + // 2 invalid e-mail
		"x3,Cat,ANN@example.com,,GB,\n" + // 3 repeats row 1's e-mail
		"x4,Dan,OLD@example.com,,GB,\n" + // 4 matches the existing customer
		"x5,Eve,,020 7946 0001,GB,\n" + // 5 repeats row 1's phone
		"x6,Fay,,,GB,many\n" + // 6 tenure is no number
		"x7,,,,GB,3\n" + // 7 no name
		"x8,Gus,\"gus@example.com\",,GB,1.5\n" + // 8 created
		"x9,too,few\n" // 9 short row
	job, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "csv-1", Mode: customerv1.ImportMode_IMPORT_MODE_CREATE_ONLY,
		ColumnMapping: map[string]string{"External ID": "external_id"}}, text)
	if err != nil {
		t.Fatalf("ImportCustomers: %v", err)
	}
	if job.GetState() != customerv1.ImportJobState_IMPORT_JOB_STATE_SUCCEEDED || job.GetRowsRead() != 9 || job.GetCreated() != 2 ||
		job.GetFailed() != 4 || job.GetDuplicates() != 3 || job.GetProgress() != 1 || job.GetNextRow() != 10 {
		t.Fatalf("job = %v, want succeeded with 9 read, 2 created, 4 failed, 3 duplicates", job)
	}
	errs := e.rowErrors(t, ctx, job.GetJobId())
	want := map[int64]struct {
		reason customerv1.ImportRowErrorReason
		field  string
	}{
		2: {customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_INVALID, "email"},
		3: {customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_DUPLICATE, "email"},
		4: {customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_DUPLICATE, "email"},
		5: {customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_DUPLICATE, "phone"},
		6: {customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_INVALID, "attr.tenure"},
		7: {customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_INVALID, "display_name"},
		9: {customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_INVALID, "row"},
	}
	if len(errs) != len(want) {
		t.Fatalf("row errors = %v, want rows 2-7 and 9", errs)
	}
	for row, w := range want {
		got := errs[row]
		if got.GetReason() != w.reason || len(got.GetViolations()) == 0 || got.GetViolations()[0].GetField() != w.field {
			t.Errorf("row %d error = %v, want %v on %s", row, got, w.reason, w.field)
		}
	}
	if got := errs[4].GetDuplicateCustomerId(); got != existing {
		t.Errorf("row 4 duplicates %q, want the existing customer %s", got, existing)
	}
	if errs[3].GetDuplicateCustomerId() == "" && errs[3].GetDuplicateRowNumber() != 1 {
		t.Errorf("row 3 error = %v, want a duplicate of row 1's customer", errs[3])
	}
	if got := strings.Join(errs[2].GetRawValues(), ","); got != "x2,Bob,not-an-email,,GB," {
		t.Errorf("row 2 raw values = %q", got)
	}
	list, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{Filter: `external_id = "x1"`})
	if err != nil || len(list.GetCustomers()) != 1 {
		t.Fatalf("ListCustomers(x1) = %v, %v", list, err)
	}
	ann := list.GetCustomers()[0]
	if ann.GetPhone() != "+442079460001" || ann.GetLifecycleStage() != customerv1.LifecycleStage_LIFECYCLE_STAGE_LEAD ||
		ann.GetCustomAttributes()["tenure"].GetNumberValue() != 12 {
		t.Errorf("imported customer = %v, want normalised phone, lead, tenure 12", ann)
	}
	cps, err := e.profiles.ListContactPoints(ctx, &customerv1.ListContactPointsRequest{CustomerId: ann.GetCustomerId()})
	if err != nil || len(cps.GetContactPoints()) != 2 {
		t.Errorf("contact points of an imported customer = %v, %v; want e-mail and phone", cps, err)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.created'"); n != 3 {
		t.Errorf("customer.created events = %d, want 3 (one seeded, two imported)", n)
	}
}

func TestImportUpsertDryRunAndResume(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	e.defineTenure(t, ctx)
	id := newCustomer(t, e.env, ctx, &customerv1.Customer{Kind: 1, DisplayName: "Ann", Email: "ann@example.com", ExternalId: "x1"})
	newCustomer(t, e.env, ctx, &customerv1.Customer{Kind: 1, DisplayName: "Bob", Email: "bob@example.com", ExternalId: "x2"})
	text := importHeader +
		"x1,Ann Smith,ann@example.com,,GB,4\n" + // updated
		"x2,Bob,bob@example.com,,,\n" + // unchanged
		"x3,Cat,bob@example.com,,GB,\n" + // e-mail of x2 under another external_id
		"x4,Dan,dan@example.com,,GB,\n" + // created
		"x1,Ann Smith,ann@example.com,,GB,4\n" // unchanged: sees row 1 applied
	upsert := customerv1.ImportMode_IMPORT_MODE_UPSERT
	dry, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "dry", Mode: upsert, DryRun: true}, text)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if !dry.GetDryRun() || dry.GetUpdated() != 2 || dry.GetUnchanged() != 1 || dry.GetDuplicates() != 1 || dry.GetCreated() != 1 {
		t.Errorf("dry run job = %v, want 2 updated (row 5 sees nothing applied), 1 unchanged, 1 duplicate, 1 created", dry)
	}
	if n := e.count(t, "SELECT count(*) FROM customers"); n != 2 {
		t.Fatalf("customers after a dry run = %d, want 2", n)
	}
	// A first stream delivers two rows.
	lines := strings.SplitAfter(text, "\n")
	part, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "real", Mode: upsert}, strings.Join(lines[:3], ""))
	if err != nil {
		t.Fatalf("first part: %v", err)
	}
	if part.GetRowsRead() != 2 || part.GetState() != customerv1.ImportJobState_IMPORT_JOB_STATE_SUCCEEDED {
		t.Fatalf("first part job = %v", part)
	}
	// A stream that closed cleanly ended its job: sending more returns it as it is.
	again, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "real", Mode: upsert, FirstRow: 3}, lines[0]+strings.Join(lines[3:], ""))
	if err != nil || again.GetJobId() != part.GetJobId() || again.GetRowsRead() != 2 {
		t.Fatalf("rows after a finished job = %v, %v; want the finished job unchanged", again, err)
	}
	gap, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "gap", Mode: upsert, FirstRow: 5}, lines[0]+lines[5])
	if status.Code(err) != codes.FailedPrecondition || gap != nil {
		t.Fatalf("a stream starting past next_row = %v, %v; want FailedPrecondition", gap, err)
	}
	job, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "full", Mode: upsert}, text)
	if err != nil {
		t.Fatalf("upsert: %v", err)
	}
	if job.GetUpdated() != 0 || job.GetUnchanged() != 3 || job.GetDuplicates() != 1 || job.GetCreated() != 1 {
		t.Errorf("upsert job = %v, want rows 1, 2 and 5 unchanged after the first part, 1 duplicate, 1 created", job)
	}
	got, err := e.customers.GetCustomer(ctx, &customerv1.GetCustomerRequest{CustomerId: id})
	if err != nil || got.GetCustomer().GetDisplayName() != "Ann Smith" || got.GetCustomer().GetCustomAttributes()["tenure"].GetNumberValue() != 4 {
		t.Fatalf("upserted customer = %v, %v", got, err)
	}
	errs := e.rowErrors(t, ctx, job.GetJobId())
	if errs[3].GetReason() != customerv1.ImportRowErrorReason_IMPORT_ROW_ERROR_REASON_DUPLICATE || errs[3].GetDuplicateCustomerId() == "" {
		t.Errorf("row 3 = %v, want a duplicate naming x2", errs[3])
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.updated'"); n != 1 {
		t.Errorf("customer.updated events = %d, want 1", n)
	}
}

func TestImportTypedRows(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	e.defineTenure(t, ctx)
	rows := &customerv1.CustomerRows{Customers: []*customerv1.Customer{
		{Kind: customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION, DisplayName: "Acme", ExternalId: "a", Tags: []string{"b2b", "gold"},
			CustomAttributes: map[string]*structpb.Value{"tenure": structpb.NewNumberValue(7)}},
		{Kind: 42, DisplayName: "Odd", ExternalId: "b"},
		{DisplayName: "Wrong", ExternalId: "c", CustomAttributes: map[string]*structpb.Value{"tenure": structpb.NewStringValue("x")}},
	}}
	job, err := e.send(ctx, &customerv1.ImportOptions{RequestId: "typed", Mode: customerv1.ImportMode_IMPORT_MODE_UPSERT, Format: customerv1.ImportFormat_IMPORT_FORMAT_CUSTOMERS},
		[]*customerv1.ImportCustomersRequest{{Payload: &customerv1.ImportCustomersRequest_Rows{Rows: rows}}})
	if err != nil || job.GetCreated() != 1 || job.GetFailed() != 2 {
		t.Fatalf("typed import = %v, %v; want 1 created, 2 failed", job, err)
	}
	errs := e.rowErrors(t, ctx, job.GetJobId())
	if errs[2].GetViolations()[0].GetField() != "kind" || errs[3].GetViolations()[0].GetField() != "custom_attributes.tenure" {
		t.Errorf("row errors = %v, want kind on row 2 and custom_attributes.tenure on row 3", errs)
	}
	list, err := e.customers.ListCustomers(ctx, &customerv1.ListCustomersRequest{Filter: `external_id = "a"`})
	if err != nil || len(list.GetCustomers()) != 1 || list.GetCustomers()[0].GetKind() != customerv1.CustomerKind_CUSTOMER_KIND_ORGANIZATION ||
		len(list.GetCustomers()[0].GetTags()) != 2 {
		t.Fatalf("typed customer = %v, %v", list, err)
	}
}

func TestImportBadRequests(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	csvFormat := customerv1.ImportFormat_IMPORT_FORMAT_CSV
	tests := []struct {
		name      string
		opts      *customerv1.ImportOptions
		text      string
		wantField string
	}{
		{"no options", nil, "", "options"},
		{"no request id", &customerv1.ImportOptions{Mode: 1, Format: csvFormat}, importHeader, "options.request_id"},
		{"no mode", &customerv1.ImportOptions{RequestId: "r", Format: csvFormat}, importHeader, "options.mode"},
		{"no format", &customerv1.ImportOptions{RequestId: "r", Mode: 1}, importHeader, "options.format"},
		{"unknown column", &customerv1.ImportOptions{RequestId: "r", Mode: 1, Format: csvFormat}, "display_name,shoe_size\nA,4\n", "csv_chunk"},
		{"undefined attribute", &customerv1.ImportOptions{RequestId: "r", Mode: 1, Format: csvFormat}, "display_name,attr.nope\nA,4\n", "csv_chunk"},
		{"empty csv", &customerv1.ImportOptions{RequestId: "r", Mode: 1, Format: csvFormat}, "", "csv_chunk"},
		{"malformed csv", &customerv1.ImportOptions{RequestId: "r", Mode: 1, Format: csvFormat}, "display_name\n\"A\"x\n", "csv_chunk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var msgs []*customerv1.ImportCustomersRequest
			if tt.text != "" {
				msgs = append(msgs, &customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_CsvChunk{CsvChunk: []byte(tt.text)}})
			}
			_, err := e.send(ctx, tt.opts, msgs)
			if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.wantField] {
				t.Fatalf("ImportCustomers(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.wantField)
			}
		})
	}
}

func TestImportAccessAndTenancy(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	admin := e.as(t.Context(), e.adminKey)
	job, err := e.importCSV(admin, &customerv1.ImportOptions{RequestId: "j", Mode: 1}, "display_name,email\nAnn,ann@example.com\n")
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	other := e.as(t.Context(), e.otherKey)
	if _, err := e.imports.GetImportJob(other, &customerv1.GetImportJobRequest{JobId: job.GetJobId()}); status.Code(err) != codes.NotFound {
		t.Errorf("another tenant's GetImportJob = %v, want NotFound", err)
	}
	if _, err := e.imports.ListImportRowErrors(other, &customerv1.ListImportRowErrorsRequest{JobId: job.GetJobId()}); status.Code(err) != codes.NotFound {
		t.Errorf("another tenant's ListImportRowErrors = %v, want NotFound", err)
	}
	if _, err := e.imports.CancelImportJob(other, &customerv1.CancelImportJobRequest{JobId: job.GetJobId()}); status.Code(err) != codes.NotFound {
		t.Errorf("another tenant's CancelImportJob = %v, want NotFound", err)
	}
	if _, err := e.imports.CancelImportJob(admin, &customerv1.CancelImportJobRequest{JobId: job.GetJobId()}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("cancelling a finished job = %v, want FailedPrecondition", err)
	}
	if list, err := e.imports.ListImportJobs(other, &customerv1.ListImportJobsRequest{}); err != nil || len(list.GetJobs()) != 0 {
		t.Errorf("another tenant's ListImportJobs = %v, %v; want none", list, err)
	}
	for _, filter := range []string{"state = IMPORT_JOB_STATE_SUCCEEDED", `request_id = "j"`} {
		if list, err := e.imports.ListImportJobs(admin, &customerv1.ListImportJobsRequest{Filter: filter}); err != nil || len(list.GetJobs()) != 1 {
			t.Errorf("ListImportJobs(%s) = %v, %v; want the job", filter, list, err)
		}
	}
	if _, err := e.imports.ListImportJobs(admin, &customerv1.ListImportJobsRequest{Filter: "color = 1"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListImportJobs(bad filter) = %v, want InvalidArgument", err)
	}
	for _, tt := range []struct {
		role       auth.Role
		wantImport codes.Code
		wantExport codes.Code
	}{
		{auth.RoleAdmin, codes.OK, codes.OK},
		{auth.RoleSalesManager, codes.OK, codes.OK},
		{auth.RoleSalesRep, codes.PermissionDenied, codes.OK},
		{auth.RoleSupportAgent, codes.PermissionDenied, codes.OK},
		{auth.RoleAnalyst, codes.PermissionDenied, codes.PermissionDenied},
	} {
		t.Run(string(tt.role), func(t *testing.T) {
			t.Parallel()
			ctx := e.as(t.Context(), e.token(t, tt.role))
			_, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "by-" + string(tt.role), Mode: 1}, "display_name\nX "+string(tt.role)+"\n")
			if status.Code(err) != tt.wantImport {
				t.Errorf("import as %s = %v, want %v", tt.role, err, tt.wantImport)
			}
			_, err = e.imports.GetImportJob(ctx, &customerv1.GetImportJobRequest{JobId: job.GetJobId()})
			if want := tt.wantImport; status.Code(err) != want {
				t.Errorf("GetImportJob as %s = %v, want %v", tt.role, err, want)
			}
			_, err = exportCSV(ctx, e.imports, "")
			if status.Code(err) != tt.wantExport {
				t.Errorf("export as %s = %v, want %v", tt.role, err, tt.wantExport)
			}
		})
	}
}

func exportCSV(ctx context.Context, client customerv1.ImportServiceClient, filter string) ([][]string, error) {
	stream, err := client.ExportCustomers(ctx, &customerv1.ExportCustomersRequest{Filter: filter})
	if err != nil {
		return nil, err
	}
	var text strings.Builder
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		text.Write(chunk.GetCsvChunk())
	}
	return csv.NewReader(strings.NewReader(text.String())).ReadAll()
}

func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	e.defineTenure(t, ctx)
	text := importHeader + "x1,Ann,ann@example.com,020 7946 0001,GB,12\nx2,\"Bob, Jr\",bob@example.com,,FR,\n"
	if _, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "in", Mode: 1}, text); err != nil {
		t.Fatalf("import: %v", err)
	}
	recs, err := exportCSV(ctx, e.imports, "")
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	wantHeader := strings.Join(append(append([]string{}, imports.ExportColumns...), "attr.tenure"), ",")
	if len(recs) != 3 || strings.Join(recs[0], ",") != wantHeader {
		t.Fatalf("export = %v, want header %s and 2 rows", recs, wantHeader)
	}
	if recs[1][3] != "Ann" || recs[1][5] != "+442079460001" || recs[1][len(recs[1])-1] != "12" || recs[2][3] != "Bob, Jr" {
		t.Errorf("exported rows = %v", recs[1:])
	}
	only, err := exportCSV(ctx, e.imports, `country_code = "FR"`)
	if err != nil || len(only) != 2 || only[1][1] != "x2" {
		t.Errorf("filtered export = %v, %v; want x2 only", only, err)
	}
	if _, err := exportCSV(ctx, e.imports, "nonsense ="); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad filter = %v, want InvalidArgument", err)
	}
	// The export imports back unchanged.
	var back strings.Builder
	w := csv.NewWriter(&back)
	_ = w.WriteAll(recs)
	job, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "back", Mode: customerv1.ImportMode_IMPORT_MODE_UPSERT}, back.String())
	if err != nil || job.GetUnchanged() != 2 {
		t.Fatalf("re-import of the export = %v, %v; want 2 unchanged", job, err)
	}
}

// TestImportConcurrentStreams sends the same job twice at once: rows are
// staged and applied once whichever stream wins.
func TestImportConcurrentStreams(t *testing.T) {
	t.Parallel()
	e := newImportEnv(t)
	ctx := e.as(t.Context(), e.adminKey)
	var text strings.Builder
	text.WriteString("external_id,display_name\n")
	for i := range 40 {
		text.WriteString("c" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + ",Customer\n")
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "same", Mode: customerv1.ImportMode_IMPORT_MODE_UPSERT}, text.String())
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && status.Code(err) != codes.Aborted {
			t.Errorf("concurrent stream = %v, want success or Aborted", err)
		}
	}
	if errs[0] != nil && errs[1] != nil {
		t.Fatalf("both streams failed: %v", errs)
	}
	if n := e.count(t, "SELECT count(*) FROM customers"); n != 40 {
		t.Errorf("customers = %d, want 40", n)
	}
	if n := e.count(t, "SELECT created FROM import_jobs"); n != 40 {
		t.Errorf("job created = %d, want 40", n)
	}
}

var _ grpc.ClientStream = (customerv1.ImportService_ImportCustomersClient)(nil)

// TestImportRealTelcoSubscribers imports every subscriber of the Telco churn
// data set (../shared/data) with its attributes, and checks that imported
// customers are classified as API writes are: segment entries and rule tiers.
func TestImportRealTelcoSubscribers(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("..", "..", "..", "..", "..", "shared", "data", "telco-customer-churn", "WA_Fn-UseC_-Telco-Customer-Churn.csv"))
	if err != nil {
		t.Fatalf("the shared Telco data set is missing: %v", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	var text strings.Builder
	w := csv.NewWriter(&text)
	_ = w.Write([]string{"external_id", "display_name", "lifecycle_stage", "attr.contract", "attr.tenure_months", "attr.monthly_charges", "attr.total_charges", "attr.churned"})
	churned := 0
	for _, r := range recs[1:] {
		stage := "customer"
		if r[col["Churn"]] == "Yes" {
			stage, churned = "churned", churned+1
		}
		_ = w.Write([]string{r[col["customerID"]], "Subscriber " + r[col["customerID"]], stage, r[col["Contract"]], r[col["tenure"]],
			r[col["MonthlyCharges"]], r[col["TotalCharges"]], r[col["Churn"]]})
	}
	w.Flush()
	e := newImportEnvBatch(t, 1000)
	ctx := e.as(t.Context(), e.adminKey)
	for _, d := range []*customerv1.CustomAttributeDefinition{
		{Key: "contract", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_ENUM, DisplayName: "Contract", AllowedValues: []string{"Month-to-month", "One year", "Two year"}},
		{Key: "tenure_months", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_NUMBER, DisplayName: "Tenure"},
		{Key: "monthly_charges", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_NUMBER, DisplayName: "Monthly charges"},
		{Key: "total_charges", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_NUMBER, DisplayName: "Total charges"},
		{Key: "churned", Type: customerv1.CustomAttributeType_CUSTOM_ATTRIBUTE_TYPE_BOOL, DisplayName: "Churned"},
	} {
		if _, err := e.profiles.CreateCustomAttributeDefinition(ctx, &customerv1.CreateCustomAttributeDefinitionRequest{Definition: d}); err != nil {
			t.Fatalf("define %s: %v", d.GetKey(), err)
		}
	}
	seg, err := e.classes.CreateSegment(ctx, &customerv1.CreateSegmentRequest{Segment: &customerv1.Segment{DisplayName: "Churned", Filter: "lifecycle_stage = LIFECYCLE_STAGE_CHURNED"}})
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	if _, err := e.classes.CreateValueTierRule(ctx, &customerv1.CreateValueTierRuleRequest{Rule: &customerv1.ValueTierRule{Tier: "B", Rank: 1, Filter: "lifecycle_stage = LIFECYCLE_STAGE_CUSTOMER"}}); err != nil {
		t.Fatalf("CreateValueTierRule: %v", err)
	}
	job, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "telco", Mode: customerv1.ImportMode_IMPORT_MODE_UPSERT}, text.String())
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	n := int64(len(recs) - 1)
	if job.GetCreated() != n || job.GetFailed() != 0 || job.GetDuplicates() != 0 {
		t.Fatalf("job = %v, want all %d created", job, n)
	}
	got, err := e.classes.GetSegment(ctx, &customerv1.GetSegmentRequest{SegmentId: seg.GetSegment().GetSegmentId()})
	if err != nil || got.GetSegment().GetMemberCount() != int64(churned) {
		t.Errorf("churned segment = %v, %v; want %d members", got, err, churned)
	}
	for _, c := range []struct {
		what, sql string
		want      int
	}{
		{"segment entries", "SELECT count(*) FROM outbox WHERE type = '" + classify.EventSegmentEntered + "'", churned},
		{"rule tiers", "SELECT count(*) FROM customer_value_tiers WHERE tier = 'B'", int(n) - churned},
		{"without total_charges", "SELECT count(*) FROM customers WHERE NOT custom_attributes ? 'total_charges'", 11},
		{"stage log entries", "SELECT count(*) FROM lifecycle_transitions", int(n)},
	} {
		if got := e.count(t, c.sql); got != c.want {
			t.Errorf("%s = %d, want %d", c.what, got, c.want)
		}
	}
	again, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: "telco-again", Mode: customerv1.ImportMode_IMPORT_MODE_UPSERT}, text.String())
	if err != nil || again.GetUnchanged() != n {
		t.Fatalf("second import = %v, %v; want all %s unchanged", again, err, strconv.FormatInt(n, 10))
	}
}
