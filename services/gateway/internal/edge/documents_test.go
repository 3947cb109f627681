package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
)

// docServer is an in-test DocumentService: it records uploads and serves
// fixed content, so the edge's relaying can be checked byte for byte.
type docServer struct {
	customerv1.UnimplementedDocumentServiceServer
	content []byte
	// token is the only share token it knows.
	token string
	// firstChunk is closed when an upload's first chunk arrives.
	firstChunk chan struct{}

	mu       sync.Mutex
	meta     *customerv1.UploadMetadata
	received []byte
	auth     []string
}

func (s *docServer) UploadDocumentVersion(stream customerv1.DocumentService_UploadDocumentVersionServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	var got []byte
	once := sync.Once{}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		once.Do(func() { close(s.firstChunk) })
		got = append(got, m.GetChunk()...)
		if len(got) > 2<<20 {
			return status.Error(codes.InvalidArgument, "too large")
		}
	}
	s.mu.Lock()
	s.meta, s.received, s.auth = first.GetMetadata(), got, md.Get("authorization")
	s.mu.Unlock()
	return stream.SendAndClose(&customerv1.UploadDocumentVersionResponse{
		Document: &customerv1.Document{DocumentId: "d1", Title: first.GetMetadata().GetTitle()},
		Version:  &customerv1.DocumentVersion{Version: 1, SizeBytes: int64(len(got))},
	})
}

func (s *docServer) version() *customerv1.DocumentVersion {
	sum := sha256.Sum256(s.content)
	return &customerv1.DocumentVersion{Version: 1, FileName: "Vertrag März.pdf", ContentType: "application/pdf",
		SizeBytes: int64(len(s.content)), Sha256: hex.EncodeToString(sum[:])}
}

func (s *docServer) DownloadDocument(req *customerv1.DownloadDocumentRequest, stream customerv1.DocumentService_DownloadDocumentServer) error {
	if req.GetDocumentId() != "d1" {
		return status.Error(codes.NotFound, "document not found")
	}
	if err := stream.Send(&customerv1.DownloadDocumentResponse{Payload: &customerv1.DownloadDocumentResponse_Version{Version: s.version()}}); err != nil {
		return err
	}
	for c := range slices(s.content, 10_000) {
		if err := stream.Send(&customerv1.DownloadDocumentResponse{Payload: &customerv1.DownloadDocumentResponse_Chunk{Chunk: c}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *docServer) DownloadSharedDocument(req *customerv1.DownloadSharedDocumentRequest, stream customerv1.DocumentService_DownloadSharedDocumentServer) error {
	md, _ := metadata.FromIncomingContext(stream.Context())
	if req.GetToken() != s.token || len(md.Get("authorization")) != 0 {
		return status.Error(codes.NotFound, "share link not found")
	}
	if err := stream.Send(&customerv1.DownloadSharedDocumentResponse{Payload: &customerv1.DownloadSharedDocumentResponse_Version{Version: s.version()}}); err != nil {
		return err
	}
	for c := range slices(s.content, 10_000) {
		if err := stream.Send(&customerv1.DownloadSharedDocumentResponse{Payload: &customerv1.DownloadSharedDocumentResponse_Chunk{Chunk: c}}); err != nil {
			return err
		}
	}
	return nil
}

// slices yields b in pieces of n bytes.
func slices(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

// oneKey accepts only "Bearer good".
type oneKey struct{}

func (oneKey) Authenticate(_ context.Context, h string) (auth.Caller, error) {
	if h != "Bearer good" {
		return auth.Caller{}, auth.ErrUnauthenticated
	}
	return auth.Caller{TenantID: "t", PrincipalID: "p", Roles: []auth.Role{auth.RoleAdmin}}, nil
}

// startEdge serves the edge over an in-test DocumentService; logs go to logs.
func startEdge(t *testing.T, s *docServer, logs *syncBuffer) *httptest.Server {
	t.Helper()
	srv := grpc.NewServer()
	customerv1.RegisterDocumentServiceServer(srv, s)
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
	b := Backends{Customer: conn, Pipeline: conn, Ticket: conn, Partner: conn, Analytics: conn, Integration: conn}
	h, err := New(t.Context(), b, oneKey{}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newDocServer() *docServer {
	return &docServer{content: bytes.Repeat([]byte("%PDF-1.7 0123456789"), 5000), token: "rs_secret-token", firstChunk: make(chan struct{})}
}

func TestUploadStreamsRawBody(t *testing.T) {
	t.Parallel()
	s := newDocServer()
	ts := startEdge(t, s, &syncBuffer{})
	content := bytes.Repeat([]byte("abcdefgh"), 100_000)
	pr, pw := io.Pipe()
	go func() {
		// Half the body, then wait until the service has seen a chunk: the
		// edge must forward before the request ends.
		_, _ = pw.Write(content[:len(content)/2])
		select {
		case <-s.firstChunk:
			_, _ = pw.Write(content[len(content)/2:])
			_ = pw.Close()
		case <-time.After(5 * time.Second):
			_ = pw.CloseWithError(errors.New("the edge buffered the body instead of streaming it"))
		}
	}()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/customers/c1/documents:upload?title=Contract&file_name=c.pdf&request_id=r1", pr)
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("Content-Type", "application/pdf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST upload: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"documentId":"d1"`) {
		t.Fatalf("POST upload = %d %s, want 200 with the document", resp.StatusCode, body)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(s.received, content) {
		t.Fatalf("service received %d bytes, want the %d sent", len(s.received), len(content))
	}
	want := &customerv1.UploadMetadata{CustomerId: "c1", Title: "Contract", FileName: "c.pdf", RequestId: "r1", DeclaredContentType: "application/pdf"}
	if m := s.meta; m.GetCustomerId() != want.CustomerId || m.GetTitle() != want.Title || m.GetFileName() != want.FileName ||
		m.GetRequestId() != want.RequestId || m.GetDeclaredContentType() != want.DeclaredContentType {
		t.Fatalf("metadata = %v, want %v", m, want)
	}
	if len(s.auth) != 1 || s.auth[0] != "Bearer good" {
		t.Fatalf("forwarded authorization = %v, want the caller's", s.auth)
	}
}

func TestUploadMultipart(t *testing.T) {
	t.Parallel()
	s := newDocServer()
	ts := startEdge(t, s, &syncBuffer{})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("title", "Offer")
	_ = mw.WriteField("document_id", "d9")
	fw, _ := mw.CreateFormFile("file", "offer.docx")
	_, _ = fw.Write([]byte("PK\x03\x04 content"))
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/customers/c1/documents:upload", &buf)
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("multipart upload = %d, want 200", resp.StatusCode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.meta.GetTitle() != "Offer" || s.meta.GetDocumentId() != "d9" || s.meta.GetFileName() != "offer.docx" || string(s.received) != "PK\x03\x04 content" {
		t.Fatalf("multipart upload reached the service as %v with %q", s.meta, s.received)
	}
}

func TestDocumentRoutes(t *testing.T) {
	t.Parallel()
	s := newDocServer()
	logs := &syncBuffer{}
	ts := startEdge(t, s, logs)
	tests := []struct {
		name, method, path, auth string
		body                     io.Reader
		wantCode                 int
		wantBody                 []byte
	}{
		{name: "download", method: "GET", path: "/v1/customers/c1/documents/d1:download", auth: "Bearer good", wantCode: 200, wantBody: s.content},
		{name: "download unknown", method: "GET", path: "/v1/customers/c1/documents/d2:download", auth: "Bearer good", wantCode: 404},
		{name: "download bad version", method: "GET", path: "/v1/customers/c1/documents/d1:download?version=x", auth: "Bearer good", wantCode: 400},
		{name: "download without credentials", method: "GET", path: "/v1/customers/c1/documents/d1:download", wantCode: 401},
		{name: "upload without credentials", method: "POST", path: "/v1/customers/c1/documents:upload", body: strings.NewReader("x"), wantCode: 401},
		{name: "upload refused by the service", method: "POST", path: "/v1/customers/c1/documents:upload", auth: "Bearer good", body: bytes.NewReader(make([]byte, 3<<20)), wantCode: 400},
		{name: "shared without credentials", method: "GET", path: "/v1/sharedDocuments/" + s.token, wantCode: 200, wantBody: s.content},
		{name: "shared unknown token", method: "GET", path: "/v1/sharedDocuments/rs_guess", wantCode: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, tt.body)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantBody == nil {
				return
			}
			v := s.version()
			if !bytes.Equal(body, tt.wantBody) || resp.Header.Get("Content-Type") != "application/pdf" ||
				resp.ContentLength != int64(len(tt.wantBody)) || resp.Header.Get("ETag") != `"`+v.GetSha256()+`"` ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Content-Disposition"), "Vertrag%20M%C3%A4rz.pdf") {
				t.Fatalf("%s = %d bytes with headers %v, want %d bytes of application/pdf with length, ETag and attachment", tt.path, len(body), resp.Header, len(tt.wantBody))
			}
		})
	}
	t.Cleanup(func() {
		if out := logs.String(); strings.Contains(out, s.token) || strings.Contains(out, "rs_guess") {
			t.Errorf("a share token reached the access log: %s", out)
		}
		if out := logs.String(); !strings.Contains(out, sharedPrefix+sealedToken) {
			t.Errorf("no access line for the shared route: %s", out)
		}
	})
}
