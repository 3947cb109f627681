package postgres_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/pgtest"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
	"github.com/rapportcrm/rapport/services/customer/internal/postgres"
)

// TestUploadStoresChunks checks that content lands in 256 KiB rows that read
// back whole, and that a refused upload leaves no row behind.
func TestUploadStoresChunks(t *testing.T) {
	t.Parallel()
	const limit = 1 << 20
	tests := []struct {
		name       string
		size       int
		wantChunks int
		wantErr    bool
	}{
		{name: "one byte", size: 1, wantChunks: 1},
		{name: "exactly one chunk", size: 256 << 10, wantChunks: 1},
		{name: "three chunks", size: 600_000, wantChunks: 3},
		{name: "at the limit", size: limit, wantChunks: 4},
		{name: "over the limit", size: limit + 1, wantErr: true},
		{name: "empty", size: 0, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t, postgres.Migrations, postgres.Role)
			store := postgres.New(db.App)
			caller := auth.Caller{TenantID: uuid.NewString(), PrincipalID: uuid.NewString(), Roles: []auth.Role{auth.RoleAdmin}}
			c, err := customer.New(store).Create(t.Context(), caller, customer.Customer{Kind: customer.KindPerson, DisplayName: "Ada"}, "")
			if err != nil {
				t.Fatal(err)
			}
			content := make([]byte, tt.size)
			_, _ = rand.Read(content)
			d, v, err := document.New(store.Documents(), limit).Upload(t.Context(), caller,
				document.Upload{CustomerID: c.ID, Title: "T", FileName: "f.bin"}, bytes.NewReader(content))
			var verr *validation.Error
			if tt.wantErr {
				if !errors.As(err, &verr) {
					t.Fatalf("Upload(%d bytes) error = %v, want a validation error", tt.size, err)
				}
				var rows int
				if err := db.Owner.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM documents) + (SELECT count(*) FROM document_chunks) + (SELECT count(*) FROM outbox WHERE type LIKE 'customer.document.%')").Scan(&rows); err != nil || rows != 0 {
					t.Fatalf("rows after a refused upload = %d (%v), want 0", rows, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Upload(%d bytes): %v", tt.size, err)
			}
			sum := sha256.Sum256(content)
			if v.Size != int64(tt.size) || !bytes.Equal(v.SHA256, sum[:]) || v.Number != 1 || d.CurrentVersion != 1 {
				t.Fatalf("Upload(%d bytes) = version %+v, want size %d, number 1 and the content's SHA-256", tt.size, v, tt.size)
			}
			var chunks int
			if err := db.Owner.QueryRow(t.Context(), "SELECT count(*) FROM document_chunks WHERE version_id = $1", v.ID).Scan(&chunks); err != nil || chunks != tt.wantChunks {
				t.Fatalf("chunk rows = %d (%v), want %d", chunks, err, tt.wantChunks)
			}
			var got bytes.Buffer
			if err := store.Documents().ReadContent(t.Context(), caller.TenantID, v.ID, func(b []byte) error { _, err := got.Write(b); return err }); err != nil {
				t.Fatalf("ReadContent: %v", err)
			}
			if !bytes.Equal(got.Bytes(), content) {
				t.Fatalf("ReadContent returned %d bytes differing from the %d uploaded", got.Len(), len(content))
			}
			// Row-level security: another tenant reads nothing.
			var other bytes.Buffer
			if err := store.Documents().ReadContent(t.Context(), uuid.NewString(), v.ID, func(b []byte) error { _, err := other.Write(b); return err }); err != nil || other.Len() != 0 {
				t.Fatalf("ReadContent(other tenant) = %d bytes, %v; want none", other.Len(), err)
			}
		})
	}
}
