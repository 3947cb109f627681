package edge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
)

// Document content moves as raw bytes, which grpc-gateway cannot serve, so
// these routes are handled here and streamed in both directions: an upload
// is forwarded piece by piece as it arrives, a download as it is read.

// sharedPrefix is the public route of shared documents; its last segment is
// the share token, a credential.
const sharedPrefix = "/v1/sharedDocuments/"

// sealedToken stands in the URL for a share token once sealShareToken took it out.
const sealedToken = "{token}"

type shareTokenKey struct{}

// tokenPrefixes are the public routes whose last segment is a credential:
// shared documents and satisfaction surveys.
var tokenPrefixes = []string{sharedPrefix, csatPrefix}

// sealShareToken moves a credential token from the URL of a public route
// into the request context before anything can record the URL (trace
// attributes, access log), so the credential never reaches telemetry.
func sealShareToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, prefix := range tokenPrefixes {
			token, ok := strings.CutPrefix(r.URL.Path, prefix)
			if !ok || token == "" || strings.Contains(token, "/") {
				continue
			}
			r = r.WithContext(context.WithValue(r.Context(), shareTokenKey{}, token))
			u := *r.URL
			u.Path, u.RawPath = prefix+sealedToken, ""
			r.URL = &u
			r.RequestURI = u.RequestURI()
			break
		}
		next.ServeHTTP(w, r)
	})
}

// documentRoutes adds the raw-content routes: upload and download on the
// authenticated grpc-gateway mux (registered after the generated handlers,
// so they take precedence), and the public shared download on mux.
func documentRoutes(gw *runtime.ServeMux, mux *http.ServeMux, client customerv1.DocumentServiceClient, log *slog.Logger) error {
	err := errors.Join(
		gw.HandlePath(http.MethodPost, "/v1/customers/{customer_id}/documents:upload", uploadHandler(client)),
		gw.HandlePath(http.MethodGet, "/v1/customers/{customer_id}/documents/{document_id}:download", downloadHandler(client, log)),
	)
	if err != nil {
		return fmt.Errorf("document routes: %w", err)
	}
	mux.HandleFunc("GET "+sharedPrefix+sealedToken, sharedHandler(client, log))
	return nil
}

// forwardAuth passes the caller's credential on, as grpc-gateway does for
// the generated routes; the service verifies it again.
func forwardAuth(r *http.Request) context.Context {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", h)
	}
	return ctx
}

// uploadHandler streams a raw body, or the file part of a multipart form,
// into UploadDocumentVersion. Metadata comes from the query string or from
// form fields placed before the file part: title, description, file_name,
// document_id (for a new version), request_id.
func uploadHandler(client customerv1.DocumentServiceClient) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		q := r.URL.Query()
		md := &customerv1.UploadMetadata{CustomerId: params["customer_id"], DocumentId: q.Get("document_id"), Title: q.Get("title"),
			Description: q.Get("description"), FileName: q.Get("file_name"), RequestId: q.Get("request_id")}
		body, err := uploadBody(r, md)
		if err != nil {
			writeStatus(w, r, status.New(codes.InvalidArgument, err.Error()))
			return
		}
		ctx, cancel := context.WithCancel(forwardAuth(r))
		defer cancel()
		stream, err := client.UploadDocumentVersion(ctx)
		if err != nil {
			writeStatus(w, r, status.Convert(err))
			return
		}
		resp, err := relayUpload(stream,
			&customerv1.UploadDocumentVersionRequest{Payload: &customerv1.UploadDocumentVersionRequest_Metadata{Metadata: md}},
			func(p []byte) *customerv1.UploadDocumentVersionRequest {
				return &customerv1.UploadDocumentVersionRequest{Payload: &customerv1.UploadDocumentVersionRequest_Chunk{Chunk: p}}
			}, body, status.Error(codes.InvalidArgument, "reading the request body failed"))
		if err != nil {
			writeStatus(w, r, status.Convert(err))
			return
		}
		b, err := protojson.Marshal(resp)
		if err != nil {
			writeStatus(w, r, status.New(codes.Internal, "internal error"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}

// uploadBody returns the content reader of r and completes md from a
// multipart form's fields and file part.
func uploadBody(r *http.Request, md *customerv1.UploadMetadata) (io.Reader, error) {
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if media != "multipart/form-data" {
		if media != "" && media != "application/octet-stream" {
			md.DeclaredContentType = r.Header.Get("Content-Type")
		}
		return r.Body, nil
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("multipart body: %w", err)
	}
	fields := map[string]*string{"title": &md.Title, "description": &md.Description, "file_name": &md.FileName,
		"document_id": &md.DocumentId, "request_id": &md.RequestId}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("multipart body: no file part")
		}
		if err != nil {
			return nil, fmt.Errorf("multipart body: %w", err)
		}
		if part.FileName() != "" || part.FormName() == "file" {
			return filePart(part, md), nil
		}
		if dst, ok := fields[part.FormName()]; ok {
			// Form fields are short; 4 KiB bounds what is held in memory.
			v, err := io.ReadAll(io.LimitReader(part, 4<<10))
			if err != nil {
				return nil, fmt.Errorf("multipart field %s: %w", part.FormName(), err)
			}
			*dst = string(v)
		}
	}
}

func filePart(part *multipart.Part, md *customerv1.UploadMetadata) io.Reader {
	if md.FileName == "" {
		md.FileName = part.FileName()
	}
	if ct := part.Header.Get("Content-Type"); ct != "" && ct != "application/octet-stream" {
		md.DeclaredContentType = ct
	}
	return part
}

// downloadMsg is a message of either download stream.
type downloadMsg interface {
	GetVersion() *customerv1.DocumentVersion
	GetChunk() []byte
}

// writeDownload relays a download stream as a raw HTTP body. The first
// message sets the headers; an error after it can only cut the body short,
// which the declared Content-Length lets the client see.
func writeDownload[T downloadMsg](w http.ResponseWriter, r *http.Request, log *slog.Logger, recv func() (T, error)) {
	first, err := recv()
	if err != nil {
		writeStatus(w, r, status.Convert(err))
		return
	}
	v := first.GetVersion()
	if v == nil {
		writeStatus(w, r, status.New(codes.Internal, "internal error"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", v.GetContentType())
	h.Set("Content-Length", strconv.FormatInt(v.GetSizeBytes(), 10))
	h.Set("ETag", `"`+v.GetSha256()+`"`)
	h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(v.GetFileName()))
	// Uploaded content is served as a file, never rendered as our origin's page.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	for {
		m, err := recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			log.WarnContext(r.Context(), "download cut short", "code", status.Code(err).String())
			return
		}
		if _, err := w.Write(m.GetChunk()); err != nil {
			return
		}
	}
}

func downloadHandler(client customerv1.DocumentServiceClient, log *slog.Logger) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		req := &customerv1.DownloadDocumentRequest{CustomerId: params["customer_id"], DocumentId: params["document_id"]}
		if s := r.URL.Query().Get("version"); s != "" {
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				writeStatus(w, r, status.New(codes.InvalidArgument, "version must be an integer"))
				return
			}
			req.Version = int32(n)
		}
		ctx, cancel := context.WithCancel(forwardAuth(r))
		defer cancel()
		stream, err := client.DownloadDocument(ctx, req)
		if err != nil {
			writeStatus(w, r, status.Convert(err))
			return
		}
		writeDownload(w, r, log, stream.Recv)
	}
}

// sharedHandler serves a shared document without credentials; the token,
// taken out of the URL by sealShareToken, is the credential.
func sharedHandler(client customerv1.DocumentServiceClient, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, _ := r.Context().Value(shareTokenKey{}).(string)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stream, err := client.DownloadSharedDocument(ctx, &customerv1.DownloadSharedDocumentRequest{Token: token})
		if err != nil {
			writeStatus(w, r, status.Convert(err))
			return
		}
		writeDownload(w, r, log, stream.Recv)
	}
}
