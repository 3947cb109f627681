package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
)

// rows is an import source over fixed rows.
type rows [][]string

func (r *rows) Next() ([]string, error) {
	if len(*r) == 0 {
		return nil, io.EOF
	}
	next := (*r)[0]
	*r = (*r)[1:]
	return next, nil
}

// crashingStore stops the applying process after a number of batches by
// cancelling its context between them, as a crash would.
type crashingStore struct {
	*postgres.Store
	batches int
	cancel  context.CancelFunc
}

func (s *crashingStore) ApplyBatch(ctx context.Context, caller auth.Caller, id uuid.UUID, size int, plan imports.Planner) (imports.Job, bool, error) {
	job, done, err := s.Store.ApplyBatch(ctx, caller, id, size, plan)
	if s.batches--; s.batches == 0 {
		s.cancel()
	}
	return job, done, err
}

func csvRows(n int) *rows {
	r := rows{{"external_id", "display_name", "email", "phone", "country_code"}}
	for i := 1; i <= n; i++ {
		r = append(r, []string{fmt.Sprintf("ext-%d", i), fmt.Sprintf("Customer %d", i), fmt.Sprintf("c%d@example.com", i),
			fmt.Sprintf("020 7946 %04d", i), "GB"})
	}
	return &r
}

// TestImportResumesAfterCrash kills the apply step between batches, resumes
// it as start-up does, and checks that every row was applied exactly once
// with everything a CreateCustomer gives.
func TestImportResumesAfterCrash(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	ctx, cancel := context.WithCancel(t.Context())
	crashing := &crashingStore{Store: store, batches: 3, cancel: cancel}
	const n, batch = 95, 10
	opts := imports.Options{RequestID: "crash", Mode: imports.ModeUpsert, Format: imports.FormatCSV}
	if _, err := imports.New(crashing, customer.New(store), batch).Import(ctx, caller, opts, csvRows(n)); err == nil {
		t.Fatal("Import survived the crash; want the cancellation")
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var c int
		if err := db.Owner.QueryRow(t.Context(), sql, args...).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := count("SELECT applied_rows FROM import_jobs"); got != 3*batch {
		t.Fatalf("applied rows after the crash = %d, want %d", got, 3*batch)
	}
	if got := count("SELECT count(*) FROM customers"); got != 3*batch {
		t.Fatalf("customers after the crash = %d, want %d", got, 3*batch)
	}
	resumed, err := imports.New(store, customer.New(store), batch).Resume(t.Context())
	if err != nil || resumed != 1 {
		t.Fatalf("Resume = %d, %v; want 1 job", resumed, err)
	}
	for _, c := range []struct {
		what, sql string
		want      int
	}{
		{"customers", "SELECT count(*) FROM customers", n},
		{"distinct external ids", "SELECT count(DISTINCT external_id) FROM customers", n},
		{"created events", "SELECT count(*) FROM outbox WHERE type = 'customer.created'", n},
		{"created audit rows", "SELECT count(*) FROM audit_log WHERE action = 'created' AND resource LIKE 'customers/%' AND resource NOT LIKE '%/contactPoints/%'", n},
		{"primary contact points", "SELECT count(*) FROM contact_points WHERE is_primary", 2 * n},
		{"stage log entries", "SELECT count(*) FROM lifecycle_transitions", n},
		{"succeeded jobs", "SELECT count(*) FROM import_jobs WHERE state = 3 AND created = 95 AND applied_rows = 95 AND rows_read = 95", 1},
		{"job events", "SELECT count(*) FROM outbox WHERE type LIKE 'customer.import_job.%'", 3},
	} {
		if got := count(c.sql); got != c.want {
			t.Errorf("%s = %d, want %d", c.what, got, c.want)
		}
	}
	if got := count("SELECT count(*) FROM customers WHERE phone = '+442079460042' AND email = 'c42@example.com'"); got != 1 {
		t.Errorf("normalised row 42 found %d times, want once", got)
	}
	// The client re-sending the stream gets the finished job, nothing more.
	job, err := imports.New(store, customer.New(store), batch).Import(t.Context(), caller, opts, csvRows(n))
	if err != nil || job.State != imports.StateSucceeded || job.Created != n {
		t.Fatalf("re-sent Import = %+v, %v; want the succeeded job", job, err)
	}
	if got := count("SELECT count(*) FROM customers"); got != n {
		t.Fatalf("customers after a re-send = %d, want %d", got, n)
	}
}

// cancellingStore cancels the job after its first applied batch, as a
// CancelImportJob arriving meanwhile would.
type cancellingStore struct{ *postgres.Store }

func (s cancellingStore) ApplyBatch(ctx context.Context, caller auth.Caller, id uuid.UUID, size int, plan imports.Planner) (imports.Job, bool, error) {
	job, done, err := s.Store.ApplyBatch(ctx, caller, id, size, plan)
	if err == nil && !done {
		_, err = s.Cancel(ctx, caller, id)
	}
	return job, done, err
}

func TestCancelStopsApplying(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, postgres.Migrations, postgres.Role)
	store := postgres.New(db.App)
	caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleSalesManager}}
	job, err := imports.New(cancellingStore{store}, customer.New(store), 10).Import(t.Context(), caller,
		imports.Options{RequestID: "cancel", Mode: imports.ModeCreateOnly, Format: imports.FormatCSV}, csvRows(35))
	if err != nil || job.State != imports.StateCancelled || job.AppliedRows != 10 || job.FinishTime == nil {
		t.Fatalf("Import = %+v, %v; want cancelled after 10 rows", job, err)
	}
	if n, err := imports.New(store, customer.New(store), 10).Resume(t.Context()); err != nil || n != 0 {
		t.Fatalf("Resume = %d, %v; a cancelled job is not resumed", n, err)
	}
	var customers int
	if err := db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM customers").Scan(&customers); err != nil || customers != 10 {
		t.Fatalf("customers = %d (%v), want the 10 applied before the cancel", customers, err)
	}
	if _, err := store.Cancel(t.Context(), caller, job.ID); !errors.Is(err, imports.ErrJobFinished) {
		t.Fatalf("second Cancel = %v, want ErrJobFinished", err)
	}
	other := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
	if _, err := store.Job(t.Context(), other, job.ID); !errors.Is(err, imports.ErrJobNotFound) {
		t.Fatalf("another tenant's Job = %v, want ErrJobNotFound", err)
	}
}
