package grpcapi_test

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
)

var importRows = flag.Int("import-rows", 20000, "rows BenchmarkImportVersusCopy imports each way")

// BenchmarkImportVersusCopy imports generated customers as CSV through the
// real ImportCustomers stream (everything an API create does: validation,
// contact points, classification, search rows, events and audit) and then
// COPYs the same number of rows straight into the customers table as the
// superuser, the way `psql \copy` would, and reports both rates and their
// ratio. Run: go test -run '^$' -bench ImportVersusCopy -benchtime 1x -import-rows 100000 .
func BenchmarkImportVersusCopy(b *testing.B) {
	e := newImportEnvBatch(b, 1000)
	ctx := e.as(b.Context(), e.adminKey)
	caller, err := e.iam.GetCaller(ctx, &iamv1.GetCallerRequest{})
	if err != nil {
		b.Fatal(err)
	}
	tenant := uuid.MustParse(caller.GetCaller().GetTenantId())
	n := *importRows
	for i := range b.N {
		var text strings.Builder
		text.WriteString("external_id,kind,display_name,email,phone,country_code\n")
		for r := range n {
			fmt.Fprintf(&text, "bench-%d-%d,CUSTOMER_KIND_PERSON,Person %d %d,p%d.%d@example.com,+4420%08d,GB\n", i, r, i, r, i, r, r)
		}
		start := time.Now()
		job, err := e.importCSV(ctx, &customerv1.ImportOptions{RequestId: fmt.Sprintf("bench-%d", i), Mode: customerv1.ImportMode_IMPORT_MODE_CREATE_ONLY}, text.String())
		if err != nil {
			b.Fatalf("import: %v", err)
		}
		for job.GetState() != customerv1.ImportJobState_IMPORT_JOB_STATE_SUCCEEDED {
			time.Sleep(50 * time.Millisecond)
			got, err := e.imports.GetImportJob(ctx, &customerv1.GetImportJobRequest{JobId: job.GetJobId()})
			if err != nil {
				b.Fatal(err)
			}
			job = got.GetJob()
		}
		imported := time.Since(start)
		if job.GetCreated() != int64(n) {
			b.Fatalf("import created %d of %d rows", job.GetCreated(), n)
		}

		rows := make([][]any, n)
		for r := range rows {
			rows[r] = []any{tenant, uuid.Must(uuid.NewV7()), int16(1), int16(0), fmt.Sprintf("Copied %d %d", i, r),
				fmt.Sprintf("c%d.%d@example.com", i, r), fmt.Sprintf("+4430%08d", r), "GB", fmt.Sprintf("copy-%d-%d", i, r)}
		}
		start = time.Now()
		copied, err := e.db.Owner.CopyFrom(b.Context(), pgx.Identifier{"customers"},
			[]string{"tenant_id", "customer_id", "kind", "lifecycle_stage", "display_name", "email", "phone", "country_code", "external_id"}, pgx.CopyFromRows(rows))
		if err != nil || copied != int64(n) {
			b.Fatalf("copy: %d rows, %v", copied, err)
		}
		copyTime := time.Since(start)
		b.ReportMetric(float64(n)/imported.Seconds(), "import-rows/s")
		b.ReportMetric(float64(n)/copyTime.Seconds(), "copy-rows/s")
		b.ReportMetric(100*copyTime.Seconds()/imported.Seconds(), "import-%-of-copy")
	}
}
