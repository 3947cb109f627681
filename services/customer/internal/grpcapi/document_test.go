package grpcapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpctest"
)

// docEnv is the customer service env with one customer to attach documents to.
type docEnv struct {
	*env
	// tenant is the admin's tenant.
	tenant string
	// admin is ctx for an admin of tenant.
	admin context.Context
	// customerID is a customer of tenant.
	customerID string
}

func newDocEnv(t *testing.T) *docEnv {
	t.Helper()
	e := &docEnv{env: newEnv(t)}
	e.admin = e.as(t.Context(), e.adminKey)
	caller, err := e.iam.GetCaller(e.admin, &iamv1.GetCallerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.tenant = caller.GetCaller().GetTenantId()
	e.customerID = e.create(t, e.admin, ada()).GetCustomerId()
	return e
}

// asRoles returns a context for a new principal of the env's tenant with roles.
func (e *docEnv) asRoles(t *testing.T, roles ...auth.Role) context.Context {
	return e.tokens.Context(t.Context(), e.tenant, roles...)
}

// ownerRep returns a context for a sales rep that owns the env's customer:
// reps see only the customers they (or their teams) own.
func (e *docEnv) ownerRep(t *testing.T) context.Context {
	t.Helper()
	principal := uuid.NewString()
	_, err := e.customers.UpdateCustomer(e.admin, &customerv1.UpdateCustomerRequest{
		Customer:   &customerv1.Customer{CustomerId: e.customerID, OwnerId: principal},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner_id"}},
	})
	if err != nil {
		t.Fatalf("UpdateCustomer(owner): %v", err)
	}
	tok, err := e.tokens.Sign(auth.Caller{TenantID: e.tenant, PrincipalID: principal, Roles: []auth.Role{auth.RoleSalesRep}}, time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return grpctest.Bearer(t.Context(), tok)
}

// upload streams content in pieces of chunk bytes after md.
func upload(ctx context.Context, c customerv1.DocumentServiceClient, md *customerv1.UploadMetadata, content []byte, chunk int) (*customerv1.UploadDocumentVersionResponse, error) {
	stream, err := c.UploadDocumentVersion(ctx)
	if err != nil {
		return nil, err
	}
	msgs := []*customerv1.UploadDocumentVersionRequest{{Payload: &customerv1.UploadDocumentVersionRequest_Metadata{Metadata: md}}}
	for len(content) > 0 {
		n := min(chunk, len(content))
		msgs = append(msgs, &customerv1.UploadDocumentVersionRequest{Payload: &customerv1.UploadDocumentVersionRequest_Chunk{Chunk: content[:n]}})
		content = content[n:]
	}
	for _, m := range msgs {
		// The server may end the call early (a limit); CloseAndRecv reports why.
		if err := stream.Send(m); err != nil {
			break
		}
	}
	return stream.CloseAndRecv()
}

// recvStream is what both download streams offer.
type recvStream[T any] interface{ Recv() (T, error) }

type downloadMsg interface {
	GetVersion() *customerv1.DocumentVersion
	GetChunk() []byte
}

// collect reads a download: the version message, then the bytes.
func collect[T downloadMsg](s recvStream[T]) (*customerv1.DocumentVersion, []byte, error) {
	var v *customerv1.DocumentVersion
	var buf bytes.Buffer
	for {
		m, err := s.Recv()
		if errors.Is(err, io.EOF) {
			return v, buf.Bytes(), nil
		}
		if err != nil {
			return nil, nil, err
		}
		if m.GetVersion() != nil {
			if v != nil {
				return nil, nil, fmt.Errorf("a second version message")
			}
			v = m.GetVersion()
			continue
		}
		if v == nil {
			return nil, nil, fmt.Errorf("content before the version message")
		}
		buf.Write(m.GetChunk())
	}
}

func (e *docEnv) download(ctx context.Context, docID string, version int32) (*customerv1.DocumentVersion, []byte, error) {
	s, err := e.docs.DownloadDocument(ctx, &customerv1.DownloadDocumentRequest{CustomerId: e.customerID, DocumentId: docID, Version: version})
	if err != nil {
		return nil, nil, err
	}
	return collect(s)
}

func (e *docEnv) downloadShared(ctx context.Context, token string) (*customerv1.DocumentVersion, []byte, error) {
	s, err := e.docs.DownloadSharedDocument(ctx, &customerv1.DownloadSharedDocumentRequest{Token: token})
	if err != nil {
		return nil, nil, err
	}
	return collect(s)
}

// pdf returns n bytes of content that sniffs as a PDF, different for each seed.
func pdf(n int, seed byte) []byte {
	b := bytes.Repeat([]byte{seed, 'x', 'y', 'z'}, n/4+1)[:n]
	copy(b, "%PDF-1.7\n")
	return b
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// newDoc uploads a document and fails the test on error.
func (e *docEnv) newDoc(t *testing.T, content []byte) *customerv1.UploadDocumentVersionResponse {
	t.Helper()
	resp, err := upload(e.admin, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, Title: "Contract", FileName: "contract.pdf"}, content, 100_000)
	if err != nil {
		t.Fatalf("UploadDocumentVersion: %v", err)
	}
	return resp
}

// publish moves a draft to PUBLISHED as an admin.
func (e *docEnv) publish(t *testing.T, docID string) {
	t.Helper()
	for _, to := range []customerv1.DocumentState{customerv1.DocumentState_DOCUMENT_STATE_IN_REVIEW, customerv1.DocumentState_DOCUMENT_STATE_PUBLISHED} {
		if _, err := e.docs.TransitionDocument(e.admin, &customerv1.TransitionDocumentRequest{CustomerId: e.customerID, DocumentId: docID, ToState: to}); err != nil {
			t.Fatalf("TransitionDocument(%s): %v", to, err)
		}
	}
}

func (e *docEnv) count(t *testing.T, sql string) int {
	t.Helper()
	var n int
	// WithoutCancel: cleanups count too, after t.Context ended.
	if err := e.db.Owner.QueryRow(context.WithoutCancel(t.Context()), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestUploadDownloadVersions(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	v1 := pdf(600_000, 1)
	first, err := upload(e.admin, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, Title: " Contract ", FileName: "contract.pdf",
		DeclaredContentType: "text/html", RequestId: "up-1"}, v1, 70_000)
	if err != nil {
		t.Fatalf("UploadDocumentVersion: %v", err)
	}
	doc, ver := first.GetDocument(), first.GetVersion()
	if doc.GetTitle() != "Contract" || doc.GetState() != customerv1.DocumentState_DOCUMENT_STATE_DRAFT || doc.GetCurrentVersion() != 1 {
		t.Fatalf("new document = %v, want title Contract, DRAFT, version 1", doc)
	}
	if ver.GetVersion() != 1 || ver.GetSizeBytes() != int64(len(v1)) || ver.GetSha256() != hexSHA(v1) ||
		ver.GetContentType() != "application/pdf" || ver.GetDeclaredContentType() != "text/html" {
		t.Fatalf("version 1 = %v, want 600000 bytes of application/pdf declared text/html with the content's SHA-256", ver)
	}
	v2 := pdf(300_000, 2)
	second, err := upload(e.admin, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), FileName: "contract-v2.pdf", RequestId: "up-2"}, v2, 1<<20)
	if err != nil {
		t.Fatalf("UploadDocumentVersion(v2): %v", err)
	}
	if second.GetVersion().GetVersion() != 2 || second.GetDocument().GetCurrentVersion() != 2 || second.GetDocument().GetEtag() == doc.GetEtag() {
		t.Fatalf("second upload = %v, want version 2 and a new etag", second)
	}
	// Repeats of either request return the first result and store nothing.
	for _, rid := range []string{"up-1", "up-2"} {
		again, err := upload(e.admin, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, Title: "Other", FileName: "x.pdf", RequestId: rid}, pdf(1000, 9), 1000)
		if err != nil {
			t.Fatalf("repeat %s: %v", rid, err)
		}
		if again.GetDocument().GetDocumentId() != doc.GetDocumentId() {
			t.Fatalf("repeat %s gave document %s, want %s", rid, again.GetDocument().GetDocumentId(), doc.GetDocumentId())
		}
	}
	if n := e.count(t, "SELECT count(*) FROM document_versions"); n != 2 {
		t.Fatalf("versions after repeats = %d, want 2", n)
	}
	if n := e.count(t, "SELECT count(*) FROM document_chunks"); n != 3+2 {
		t.Fatalf("chunk rows = %d, want 5 (600000 and 300000 bytes in 256 KiB rows)", n)
	}
	types := e.count(t, `SELECT count(*) FROM outbox WHERE type IN ('customer.document.created', 'customer.document.version_added')`)
	if types != 3 {
		t.Fatalf("document events = %d, want 3 (created, version_added twice)", types)
	}

	tests := []struct {
		version int32
		want    []byte
	}{{0, v2}, {1, v1}, {2, v2}}
	for _, tt := range tests {
		meta, got, err := e.download(e.admin, doc.GetDocumentId(), tt.version)
		if err != nil {
			t.Fatalf("DownloadDocument(%d): %v", tt.version, err)
		}
		if !bytes.Equal(got, tt.want) || meta.GetSha256() != hexSHA(tt.want) || meta.GetSizeBytes() != int64(len(tt.want)) {
			t.Fatalf("DownloadDocument(%d) = %d bytes (%v), want %d bytes", tt.version, len(got), meta, len(tt.want))
		}
	}
	if _, _, err := e.download(e.admin, doc.GetDocumentId(), 3); status.Code(err) != codes.NotFound {
		t.Fatalf("DownloadDocument(3) = %v, want NotFound", err)
	}

	page, err := e.docs.ListDocumentVersions(e.admin, &customerv1.ListDocumentVersionsRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), PageSize: 1})
	if err != nil || len(page.GetVersions()) != 1 || page.GetVersions()[0].GetVersion() != 2 || page.GetNextPageToken() == "" {
		t.Fatalf("ListDocumentVersions page 1 = %v, %v; want version 2 and a next page", page, err)
	}
	page, err = e.docs.ListDocumentVersions(e.admin, &customerv1.ListDocumentVersionsRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), PageSize: 1, PageToken: page.GetNextPageToken()})
	if err != nil || len(page.GetVersions()) != 1 || page.GetVersions()[0].GetVersion() != 1 || page.GetNextPageToken() != "" {
		t.Fatalf("ListDocumentVersions page 2 = %v, %v; want version 1 and no next page", page, err)
	}
}

func TestUploadRejects(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	existing := e.newDoc(t, pdf(100, 1)).GetDocument()
	before := e.count(t, "SELECT count(*) FROM document_chunks")
	ok := func() *customerv1.UploadMetadata {
		return &customerv1.UploadMetadata{CustomerId: e.customerID, Title: "T", FileName: "a.pdf"}
	}
	tests := []struct {
		name      string
		md        *customerv1.UploadMetadata
		content   []byte
		chunk     int
		wantCode  codes.Code
		wantField string
	}{
		{name: "over the limit", md: ok(), content: pdf(testMaxBytes+1, 1), chunk: 64 << 10, wantCode: codes.InvalidArgument, wantField: "chunk"},
		{name: "over the limit in one message", md: ok(), content: pdf(testMaxBytes+10, 1), chunk: 2 << 20, wantCode: codes.InvalidArgument, wantField: "chunk"},
		{name: "empty", md: ok(), wantCode: codes.InvalidArgument, wantField: "chunk"},
		{name: "no metadata", wantCode: codes.InvalidArgument, wantField: "metadata"},
		{name: "bad customer", md: &customerv1.UploadMetadata{CustomerId: "nope", Title: "T", FileName: "a.pdf"}, content: pdf(10, 1), wantCode: codes.InvalidArgument, wantField: "metadata.customer_id"},
		{name: "bad document", md: &customerv1.UploadMetadata{CustomerId: e.customerID, DocumentId: "nope", FileName: "a.pdf"}, content: pdf(10, 1), wantCode: codes.InvalidArgument, wantField: "metadata.document_id"},
		{name: "no title", md: &customerv1.UploadMetadata{CustomerId: e.customerID, FileName: "a.pdf"}, content: pdf(10, 1), wantCode: codes.InvalidArgument, wantField: "metadata.title"},
		{name: "no file name", md: &customerv1.UploadMetadata{CustomerId: e.customerID, Title: "T"}, content: pdf(10, 1), wantCode: codes.InvalidArgument, wantField: "metadata.file_name"},
		{name: "path as file name", md: &customerv1.UploadMetadata{CustomerId: e.customerID, Title: "T", FileName: "../etc/passwd"}, content: pdf(10, 1), wantCode: codes.InvalidArgument, wantField: "metadata.file_name"},
		{name: "bad declared type", md: &customerv1.UploadMetadata{CustomerId: e.customerID, Title: "T", FileName: "a.pdf", DeclaredContentType: "not a type"}, content: pdf(10, 1), wantCode: codes.InvalidArgument, wantField: "metadata.declared_content_type"},
		{name: "unknown customer", md: &customerv1.UploadMetadata{CustomerId: uuid.NewString(), Title: "T", FileName: "a.pdf"}, content: pdf(10, 1), wantCode: codes.NotFound},
		{name: "unknown document", md: &customerv1.UploadMetadata{CustomerId: e.customerID, DocumentId: uuid.NewString(), FileName: "a.pdf"}, content: pdf(10, 1), wantCode: codes.NotFound},
		{name: "document of another customer", md: &customerv1.UploadMetadata{CustomerId: uuid.NewString(), DocumentId: existing.GetDocumentId(), FileName: "a.pdf"}, content: pdf(10, 1), wantCode: codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tt.md == nil {
				var stream customerv1.DocumentService_UploadDocumentVersionClient
				if stream, err = e.docs.UploadDocumentVersion(e.admin); err == nil {
					_ = stream.Send(&customerv1.UploadDocumentVersionRequest{Payload: &customerv1.UploadDocumentVersionRequest_Chunk{Chunk: []byte("x")}})
					_, err = stream.CloseAndRecv()
				}
			} else {
				_, err = upload(e.admin, e.docs, tt.md, tt.content, max(tt.chunk, 1000))
			}
			if status.Code(err) != tt.wantCode || (tt.wantField != "" && !grpctest.Violations(err)[tt.wantField]) {
				t.Fatalf("UploadDocumentVersion(%s) = %v, want %s on %q", tt.name, err, tt.wantCode, tt.wantField)
			}
		})
	}
	t.Run("metadata twice", func(t *testing.T) {
		t.Parallel()
		stream, err := e.docs.UploadDocumentVersion(e.admin)
		if err != nil {
			t.Fatal(err)
		}
		md := &customerv1.UploadDocumentVersionRequest{Payload: &customerv1.UploadDocumentVersionRequest_Metadata{Metadata: ok()}}
		_ = stream.Send(md)
		_ = stream.Send(md)
		if _, err := stream.CloseAndRecv(); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["metadata"] {
			t.Fatalf("second metadata = %v, want InvalidArgument on metadata", err)
		}
	})
	t.Cleanup(func() {
		if n := e.count(t, "SELECT count(*) FROM document_chunks"); n != before {
			t.Errorf("chunk rows after rejected uploads = %d, want %d", n, before)
		}
		if n := e.count(t, "SELECT count(*) FROM documents"); n != 1 {
			t.Errorf("documents after rejected uploads = %d, want 1", n)
		}
	})
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	doc := e.newDoc(t, pdf(1000, 1)).GetDocument()
	const (
		draft     = customerv1.DocumentState_DOCUMENT_STATE_DRAFT
		review    = customerv1.DocumentState_DOCUMENT_STATE_IN_REVIEW
		published = customerv1.DocumentState_DOCUMENT_STATE_PUBLISHED
		archived  = customerv1.DocumentState_DOCUMENT_STATE_ARCHIVED
	)
	rep := e.ownerRep(t)
	// Sequential: each step starts from the state the one before left.
	steps := []struct {
		name     string
		ctx      context.Context
		to       customerv1.DocumentState
		etag     string
		wantCode codes.Code
	}{
		{"draft to published skips review", e.admin, published, "", codes.FailedPrecondition},
		{"unknown state", e.admin, 9, "", codes.InvalidArgument},
		{"stale etag", e.admin, review, "999", codes.Aborted},
		{"submit", rep, review, doc.GetEtag(), codes.OK},
		{"a rep cannot publish", rep, published, "", codes.PermissionDenied},
		{"send back", rep, draft, "", codes.OK},
		{"resubmit", rep, review, "", codes.OK},
		{"publish", e.admin, published, "", codes.OK},
		{"published to draft", e.admin, draft, "", codes.FailedPrecondition},
		{"archive", rep, archived, "", codes.OK},
		{"revive", rep, draft, "", codes.OK},
	}
	for _, s := range steps {
		_, err := e.docs.TransitionDocument(s.ctx, &customerv1.TransitionDocumentRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(),
			ToState: s.to, Comment: s.name, Etag: s.etag})
		if status.Code(err) != s.wantCode {
			t.Fatalf("TransitionDocument(%s) = %v, want %s", s.name, err, s.wantCode)
		}
	}
	log, err := e.docs.ListDocumentTransitions(e.admin, &customerv1.ListDocumentTransitionsRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId()})
	if err != nil {
		t.Fatalf("ListDocumentTransitions: %v", err)
	}
	var got []string
	for _, tr := range log.GetTransitions() {
		got = append(got, tr.GetComment())
	}
	if want := "revive,archive,publish,resubmit,send back,submit"; strings.Join(got, ",") != want {
		t.Fatalf("transition log = %v, want %s", got, want)
	}
	if first := log.GetTransitions()[5]; first.GetFromState() != draft || first.GetToState() != review || first.GetPrincipalId() == "" {
		t.Fatalf("first transition = %v, want DRAFT → IN_REVIEW by a principal", first)
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.document.transitioned'"); n != 6 {
		t.Fatalf("transitioned events = %d, want 6", n)
	}
	// New versions only go to drafts.
	e.publish(t, doc.GetDocumentId())
	_, err = upload(e.admin, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), FileName: "b.pdf"}, pdf(10, 1), 10)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("upload to a published document = %v, want FailedPrecondition", err)
	}
}

func TestUpdateDeleteUndeleteDocument(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	doc := e.newDoc(t, pdf(1000, 1)).GetDocument()
	ref := func(d *customerv1.Document) *customerv1.Document {
		return &customerv1.Document{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), Title: d.GetTitle(), Description: d.GetDescription(), Etag: d.GetEtag()}
	}
	_, err := e.docs.UpdateDocument(e.admin, &customerv1.UpdateDocumentRequest{Document: ref(&customerv1.Document{Title: ""}), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["document.title"] {
		t.Fatalf("UpdateDocument(empty title) = %v, want InvalidArgument on document.title", err)
	}
	_, err = e.docs.UpdateDocument(e.admin, &customerv1.UpdateDocumentRequest{Document: ref(&customerv1.Document{Title: "X"}), UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"state"}}})
	if status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)["update_mask"] {
		t.Fatalf("UpdateDocument(mask state) = %v, want InvalidArgument on update_mask", err)
	}
	upd, err := e.docs.UpdateDocument(e.admin, &customerv1.UpdateDocumentRequest{Document: ref(&customerv1.Document{Title: "Signed contract", Description: "2026", Etag: doc.GetEtag()}),
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title", "description"}}})
	if err != nil || upd.GetDocument().GetTitle() != "Signed contract" || upd.GetDocument().GetDescription() != "2026" {
		t.Fatalf("UpdateDocument = %v, %v; want the new title and description", upd, err)
	}
	if _, err := e.docs.UpdateDocument(e.admin, &customerv1.UpdateDocumentRequest{Document: ref(&customerv1.Document{Title: "Y", Etag: doc.GetEtag()}),
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}}}); status.Code(err) != codes.Aborted {
		t.Fatalf("UpdateDocument(stale etag) = %v, want Aborted", err)
	}
	if _, err := e.docs.DeleteDocument(e.asRoles(t, auth.RoleSalesRep), &customerv1.DeleteDocumentRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId()}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("DeleteDocument(sales rep) = %v, want PermissionDenied", err)
	}
	if _, err := e.docs.DeleteDocument(e.admin, &customerv1.DeleteDocumentRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId()}); err != nil {
		t.Fatalf("DeleteDocument: %v", err)
	}
	if _, _, err := e.download(e.admin, doc.GetDocumentId(), 0); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("DownloadDocument(deleted) = %v, want FailedPrecondition", err)
	}
	for _, show := range []bool{false, true} {
		list, err := e.docs.ListDocuments(e.admin, &customerv1.ListDocumentsRequest{CustomerId: e.customerID, ShowDeleted: show})
		if want := map[bool]int{false: 0, true: 1}[show]; err != nil || len(list.GetDocuments()) != want {
			t.Fatalf("ListDocuments(show_deleted=%t) = %v, %v; want %d documents", show, list, err, want)
		}
	}
	if _, err := e.docs.UndeleteDocument(e.admin, &customerv1.UndeleteDocumentRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId()}); err != nil {
		t.Fatalf("UndeleteDocument: %v", err)
	}
	if _, err := e.docs.UndeleteDocument(e.admin, &customerv1.UndeleteDocumentRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("UndeleteDocument(again) = %v, want FailedPrecondition", err)
	}
	if n := e.count(t, "SELECT count(*) FROM audit_log WHERE resource LIKE 'customers/%/documents/%'"); n != 5 {
		t.Fatalf("document audit rows = %d, want 5 (created, version_added, updated, deleted, undeleted)", n)
	}
}

func TestListDocumentsFilterAndPages(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.newDoc(t, pdf(100, byte(i))).GetDocument().GetDocumentId())
	}
	e.publish(t, ids[1])
	var got []string
	token := ""
	for {
		page, err := e.docs.ListDocuments(e.admin, &customerv1.ListDocumentsRequest{CustomerId: e.customerID, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListDocuments: %v", err)
		}
		for _, d := range page.GetDocuments() {
			got = append(got, d.GetDocumentId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paged ListDocuments = %v, want newest first %v", got, want)
	}
	pub, err := e.docs.ListDocuments(e.admin, &customerv1.ListDocumentsRequest{CustomerId: e.customerID, Filter: "state = DOCUMENT_STATE_PUBLISHED"})
	if err != nil || len(pub.GetDocuments()) != 1 || pub.GetDocuments()[0].GetDocumentId() != ids[1] {
		t.Fatalf("ListDocuments(published) = %v, %v; want %s only", pub, err, ids[1])
	}
	bad := []struct {
		req   *customerv1.ListDocumentsRequest
		field string
	}{
		{&customerv1.ListDocumentsRequest{CustomerId: e.customerID, Filter: "title = 1"}, "filter"},
		{&customerv1.ListDocumentsRequest{CustomerId: e.customerID, PageToken: "garbage"}, "page_token"},
		{&customerv1.ListDocumentsRequest{CustomerId: e.customerID, PageSize: -1}, "page_size"},
		{&customerv1.ListDocumentsRequest{CustomerId: "x"}, "customer_id"},
	}
	for _, b := range bad {
		if _, err := e.docs.ListDocuments(e.admin, b.req); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[b.field] {
			t.Errorf("ListDocuments(%v) = %v, want InvalidArgument on %s", b.req, err, b.field)
		}
	}
}

func TestShareLinks(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	v1 := pdf(5000, 1)
	doc := e.newDoc(t, v1).GetDocument()
	create := func(version int32, expire time.Time, rid string) (*customerv1.CreateShareLinkResponse, error) {
		return e.docs.CreateShareLink(e.admin, &customerv1.CreateShareLinkRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(),
			ShareLink: &customerv1.ShareLink{Version: version, ExpireTime: timestamppb.New(expire)}, RequestId: rid})
	}
	week := time.Now().Add(7 * 24 * time.Hour)
	if _, err := create(0, week, ""); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("CreateShareLink(draft) = %v, want FailedPrecondition", err)
	}
	// A second version, then publish: links may pin version 1.
	v2 := pdf(3000, 2)
	if _, err := upload(e.admin, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), FileName: "c.pdf"}, v2, 1000); err != nil {
		t.Fatal(err)
	}
	e.publish(t, doc.GetDocumentId())
	for _, tt := range []struct {
		name    string
		version int32
		expire  time.Time
		field   string
	}{
		{"no expiry", 0, time.Time{}, "share_link.expire_time"},
		{"past", 0, time.Now().Add(-time.Minute), "share_link.expire_time"},
		{"too long", 0, time.Now().Add(31 * 24 * time.Hour), "share_link.expire_time"},
		{"negative version", -1, week, "share_link.version"},
	} {
		req := &customerv1.CreateShareLinkRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), ShareLink: &customerv1.ShareLink{Version: tt.version}}
		if !tt.expire.IsZero() {
			req.ShareLink.ExpireTime = timestamppb.New(tt.expire)
		}
		if _, err := e.docs.CreateShareLink(e.admin, req); status.Code(err) != codes.InvalidArgument || !grpctest.Violations(err)[tt.field] {
			t.Errorf("CreateShareLink(%s) = %v, want InvalidArgument on %s", tt.name, err, tt.field)
		}
	}
	if _, err := create(3, week, ""); status.Code(err) != codes.NotFound {
		t.Fatalf("CreateShareLink(version 3) = %v, want NotFound", err)
	}
	current, err := create(0, week, "share-1")
	if err != nil || !strings.HasPrefix(current.GetToken(), "rs_") || current.GetUrlPath() != "/v1/sharedDocuments/"+current.GetToken() {
		t.Fatalf("CreateShareLink = %v, %v; want a token and its path", current, err)
	}
	again, err := create(0, week, "share-1")
	if err != nil || again.GetShareLink().GetShareLinkId() != current.GetShareLink().GetShareLinkId() || again.GetToken() != "" {
		t.Fatalf("CreateShareLink(repeat) = %v, %v; want the same link without a token", again, err)
	}
	pinned, err := create(1, week, "")
	if err != nil {
		t.Fatalf("CreateShareLink(pinned): %v", err)
	}
	public := t.Context() // no credentials
	for _, tt := range []struct {
		token string
		want  []byte
	}{{current.GetToken(), v2}, {pinned.GetToken(), v1}} {
		meta, got, err := e.downloadShared(public, tt.token)
		if err != nil || !bytes.Equal(got, tt.want) || meta.GetSha256() != hexSHA(tt.want) {
			t.Fatalf("DownloadSharedDocument = %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
		}
	}
	if n := e.count(t, "SELECT count(*) FROM outbox WHERE type = 'customer.document.shared'"); n != 2 {
		t.Fatalf("shared events = %d, want 2", n)
	}
	// Every refusal looks the same.
	tampered := current.GetToken()[:len(current.GetToken())-1] + "A"
	if strings.HasSuffix(current.GetToken(), "A") {
		tampered = current.GetToken()[:len(current.GetToken())-1] + "B"
	}
	expired, err := create(0, week, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Owner.Exec(t.Context(), "UPDATE document_share_links SET expire_time = now() - interval '1 second' WHERE share_link_id = $1", expired.GetShareLink().GetShareLinkId()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.docs.RevokeShareLink(e.asRoles(t, auth.RoleSupportAgent), &customerv1.RevokeShareLinkRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), ShareLinkId: pinned.GetShareLink().GetShareLinkId()}); err != nil {
		t.Fatalf("RevokeShareLink: %v", err)
	}
	if _, err := e.docs.RevokeShareLink(e.admin, &customerv1.RevokeShareLinkRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), ShareLinkId: pinned.GetShareLink().GetShareLinkId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("RevokeShareLink(again) = %v, want FailedPrecondition", err)
	}
	for name, token := range map[string]string{"tampered": tampered, "garbage": "rs_nope", "empty": "", "revoked": pinned.GetToken(), "expired": expired.GetToken()} {
		if _, _, err := e.downloadShared(public, token); status.Code(err) != codes.NotFound {
			t.Errorf("DownloadSharedDocument(%s) = %v, want NotFound", name, err)
		}
	}
	links, err := e.docs.ListShareLinks(e.admin, &customerv1.ListShareLinksRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId()})
	if err != nil || len(links.GetShareLinks()) != 3 || links.GetShareLinks()[1].GetRevokeTime() == nil {
		t.Fatalf("ListShareLinks = %v, %v; want 3 links, the middle one revoked", links, err)
	}
	// Archiving withdraws the document from every link.
	if _, err := e.docs.TransitionDocument(e.admin, &customerv1.TransitionDocumentRequest{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(), ToState: customerv1.DocumentState_DOCUMENT_STATE_ARCHIVED}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.downloadShared(public, current.GetToken()); status.Code(err) != codes.NotFound {
		t.Fatalf("DownloadSharedDocument(archived) = %v, want NotFound", err)
	}
}

func TestDocumentAccess(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	doc := e.newDoc(t, pdf(1000, 1)).GetDocument()
	e.publish(t, doc.GetDocumentId())
	other := grpctest.Bearer(t.Context(), e.otherKey)
	analyst := e.asRoles(t, auth.RoleAnalyst)
	partner := e.asRoles(t, auth.RolePartnerUser)
	owner, stranger := e.ownerRep(t), e.asRoles(t, auth.RoleSalesRep)
	did := doc.GetDocumentId()
	calls := map[string]func(ctx context.Context) error{
		"get": func(ctx context.Context) error {
			_, err := e.docs.GetDocument(ctx, &customerv1.GetDocumentRequest{CustomerId: e.customerID, DocumentId: did})
			return err
		},
		"versions": func(ctx context.Context) error {
			_, err := e.docs.ListDocumentVersions(ctx, &customerv1.ListDocumentVersionsRequest{CustomerId: e.customerID, DocumentId: did})
			return err
		},
		"download": func(ctx context.Context) error {
			_, _, err := e.download(ctx, did, 0)
			return err
		},
		"links": func(ctx context.Context) error {
			_, err := e.docs.ListShareLinks(ctx, &customerv1.ListShareLinksRequest{CustomerId: e.customerID, DocumentId: did})
			return err
		},
		"share": func(ctx context.Context) error {
			_, err := e.docs.CreateShareLink(ctx, &customerv1.CreateShareLinkRequest{CustomerId: e.customerID, DocumentId: did,
				ShareLink: &customerv1.ShareLink{ExpireTime: timestamppb.New(time.Now().Add(time.Hour))}})
			return err
		},
		"upload": func(ctx context.Context) error {
			_, err := upload(ctx, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, Title: "T", FileName: "a.pdf"}, pdf(10, 1), 10)
			return err
		},
	}
	tests := []struct {
		who  string
		ctx  context.Context
		call string
		want codes.Code
	}{
		{"analyst", analyst, "get", codes.OK},
		{"analyst", analyst, "versions", codes.OK},
		{"analyst", analyst, "download", codes.PermissionDenied},
		{"analyst", analyst, "links", codes.PermissionDenied},
		{"analyst", analyst, "share", codes.PermissionDenied},
		{"analyst", analyst, "upload", codes.PermissionDenied},
		{"partner", partner, "get", codes.PermissionDenied},
		{"partner", partner, "download", codes.PermissionDenied},
		{"support agent", e.asRoles(t, auth.RoleSupportAgent), "download", codes.OK},
		{"owning sales rep", owner, "download", codes.OK},
		{"owning sales rep", owner, "upload", codes.OK},
		{"other sales rep", stranger, "get", codes.NotFound},
		{"other sales rep", stranger, "download", codes.NotFound},
		{"other sales rep", stranger, "share", codes.NotFound},
		{"other sales rep", stranger, "upload", codes.NotFound},
		{"other tenant", other, "get", codes.NotFound},
		{"other tenant", other, "versions", codes.OK}, // an empty list: nothing of ours shows
		{"other tenant", other, "download", codes.NotFound},
		{"other tenant", other, "share", codes.NotFound},
		{"other tenant", other, "upload", codes.NotFound},
		{"nobody", t.Context(), "get", codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.call, func(t *testing.T) {
			t.Parallel()
			if err := calls[tt.call](tt.ctx); status.Code(err) != tt.want {
				t.Fatalf("%s by %s = %v, want %s", tt.call, tt.who, err, tt.want)
			}
		})
	}
	for who, ctx := range map[string]context.Context{"other tenant": other, "other sales rep": stranger} {
		t.Run(who+" lists nothing", func(t *testing.T) {
			t.Parallel()
			resp, err := e.docs.ListDocumentVersions(ctx, &customerv1.ListDocumentVersionsRequest{CustomerId: e.customerID, DocumentId: did})
			if err != nil || len(resp.GetVersions()) != 0 {
				t.Fatalf("ListDocumentVersions(%s) = %v, %v; want nothing", who, resp, err)
			}
			docs, err := e.docs.ListDocuments(ctx, &customerv1.ListDocumentsRequest{CustomerId: e.customerID})
			if err != nil || len(docs.GetDocuments()) != 0 {
				t.Fatalf("ListDocuments(%s) = %v, %v; want nothing", who, docs, err)
			}
		})
	}
}

func TestConcurrentUploadsNumberVersions(t *testing.T) {
	t.Parallel()
	e := newDocEnv(t)
	doc := e.newDoc(t, pdf(1000, 0)).GetDocument()
	const n = 6
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := upload(e.admin, e.docs, &customerv1.UploadMetadata{CustomerId: e.customerID, DocumentId: doc.GetDocumentId(),
				FileName: "v.pdf", RequestId: fmt.Sprintf("c-%d", i%3)}, pdf(300_000, byte(i)), 50_000)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent upload: %v", err)
		}
	}
	// Three distinct request ids: three new versions after the first.
	var count, maxVersion int
	if err := e.db.Owner.QueryRow(t.Context(), "SELECT count(*), max(version) FROM document_versions").Scan(&count, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if count != 4 || maxVersion != 4 {
		t.Fatalf("after concurrent uploads: %d versions, highest %d; want 4 and 4", count, maxVersion)
	}
	if n := e.count(t, "SELECT count(*) FROM document_chunks"); n != 1+3*2 {
		t.Fatalf("chunk rows = %d, want 7: nothing left of the duplicates", n)
	}
}
