package edge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
)

// fakeImports stands in for the customer service, the edge's peer: it
// reports what the edge streamed to it.
type fakeImports struct {
	customerv1.UnimplementedImportServiceServer
}

func credential(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	return strings.Join(md.Get("authorization"), "")
}

func (fakeImports) ImportCustomers(stream customerv1.ImportService_ImportCustomersServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts.GetMode() == customerv1.ImportMode_IMPORT_MODE_UNSPECIFIED {
		return status.Error(codes.InvalidArgument, "options.mode is required")
	}
	var text bytes.Buffer
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		text.Write(msg.GetCsvChunk())
	}
	return stream.SendAndClose(&customerv1.ImportCustomersResponse{Job: &customerv1.ImportJob{
		RequestId: opts.GetRequestId() + "|" + credential(stream.Context()), Mode: opts.GetMode(), DryRun: opts.GetDryRun(),
		RowsRead: int64(strings.Count(text.String(), "\n") - 1), Columns: []string{opts.GetColumnMapping()["Name"]},
	}})
}

func (fakeImports) ExportCustomers(req *customerv1.ExportCustomersRequest, stream customerv1.ImportService_ExportCustomersServer) error {
	if req.GetFilter() == "bad" {
		return status.Error(codes.InvalidArgument, "filter: bad")
	}
	for _, chunk := range []string{"customer_id,display_name\n", "1,\"" + req.GetFilter() + "\"\n"} {
		if err := stream.Send(&customerv1.ExportCustomersResponse{CsvChunk: []byte(chunk)}); err != nil {
			return err
		}
	}
	return nil
}

type fakeAuthn struct{}

func (fakeAuthn) Authenticate(_ context.Context, header string) (auth.Caller, error) {
	if header != "Bearer good" {
		return auth.Caller{}, auth.ErrUnauthenticated
	}
	return auth.Caller{TenantID: "t", PrincipalID: "p"}, nil
}

func newCSVEdge(t *testing.T) http.Handler {
	t.Helper()
	srv := grpc.NewServer()
	customerv1.RegisterImportServiceServer(srv, fakeImports{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h, err := New(t.Context(), Backends{Customer: conn, Pipeline: conn, Ticket: conn, Partner: conn, Analytics: conn, Integration: conn}, fakeAuthn{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCSVUploadAndExport(t *testing.T) {
	t.Parallel()
	h := newCSVEdge(t)
	body := "Name,email\n" + strings.Repeat("Ann,ann@example.com\n", 50000) // spans several chunks
	tests := []struct {
		name, method, target, credential, body string
		wantCode                               int
		wantType, wantBody                     string
	}{
		{"upload", http.MethodPost, "/v1/importJobs:upload?mode=upsert&dry_run=true&request_id=r1&map.Name=display_name", "Bearer good", body,
			http.StatusOK, "application/json", "IMPORT_MODE_UPSERT"},
		{"upload without mode", http.MethodPost, "/v1/importJobs:upload?request_id=r1", "Bearer good", body,
			http.StatusBadRequest, "application/json", "options.mode is required"},
		{"upload bad dry_run", http.MethodPost, "/v1/importJobs:upload?mode=upsert&dry_run=maybe", "Bearer good", body,
			http.StatusBadRequest, "application/json", "dry_run"},
		{"upload unauthenticated", http.MethodPost, "/v1/importJobs:upload?mode=upsert", "Bearer bad", body,
			http.StatusUnauthorized, "application/json", "credentials"},
		{"export", http.MethodGet, "/v1/customers:export?filter=x", "Bearer good", "",
			http.StatusOK, "text/csv; charset=utf-8", "customer_id,display_name\n1,\"x\"\n"},
		{"export bad filter", http.MethodGet, "/v1/customers:export?filter=bad", "Bearer good", "",
			http.StatusBadRequest, "application/json", "filter: bad"},
		{"export unauthenticated", http.MethodGet, "/v1/customers:export", "", "",
			http.StatusUnauthorized, "application/json", "credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequestWithContext(t.Context(), tt.method, tt.target, strings.NewReader(tt.body))
			req.Header.Set("Authorization", tt.credential)
			if tt.body != "" {
				req.Header.Set("Content-Type", "text/csv")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Body.String()
			if rec.Code != tt.wantCode || rec.Header().Get("Content-Type") != tt.wantType || !strings.Contains(got, tt.wantBody) {
				t.Fatalf("%s %s = %d %s %q, want %d %s containing %q", tt.method, tt.target, rec.Code, rec.Header().Get("Content-Type"), got, tt.wantCode, tt.wantType, tt.wantBody)
			}
			if tt.name == "upload" {
				var resp customerv1.ImportCustomersResponse
				err := protojson.Unmarshal(rec.Body.Bytes(), &resp)
				job := resp.GetJob()
				if err != nil || job.GetRequestId() != "r1|Bearer good" || !job.GetDryRun() || job.GetRowsRead() != 50000 || job.GetColumns()[0] != "display_name" {
					t.Fatalf("upload response = %v, %v; want request r1 with the credential, dry run, 50000 rows, the mapped column", job, err)
				}
			}
		})
	}
}
