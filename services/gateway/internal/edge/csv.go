package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
)

// bulkTimeout bounds a CSV upload or export. It is sent as the gRPC
// deadline, since the services give calls without one only their short
// default, and a million-row import takes minutes.
const bulkTimeout = time.Hour

// csvRoutes serves the CSV routes grpc-gateway cannot: an upload whose
// text/csv body streams into ImportCustomers, and an export streaming
// text/csv out of ExportCustomers. They sit on the edge's mux beside the
// gateway, behind the same authentication, access log and tracing.
//
//	POST /v1/importJobs:upload?mode=upsert&dry_run=true&request_id=…&first_row=…&map.<CSV header>=<column>
//	GET  /v1/customers:export?filter=…&show_deleted=true
func csvRoutes(mux *http.ServeMux, client customerv1.ImportServiceClient, authn Authenticator) {
	mux.Handle("POST /v1/importJobs:upload", authenticate(authn, upload(client)))
	mux.Handle("GET /v1/customers:export", authenticate(authn, export(client)))
}

// outgoing carries the caller's credential to the service, which checks it
// again, with the bulk deadline.
func outgoing(r *http.Request) (context.Context, context.CancelFunc) {
	ctx := metadata.AppendToOutgoingContext(r.Context(), "authorization", r.Header.Get("Authorization"))
	return context.WithTimeout(ctx, bulkTimeout)
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	writeStatus(w, r, status.Convert(err))
}

// importOptions reads the upload's query parameters.
func importOptions(r *http.Request) (*customerv1.ImportOptions, error) {
	q := r.URL.Query()
	opts := &customerv1.ImportOptions{RequestId: q.Get("request_id"), Format: customerv1.ImportFormat_IMPORT_FORMAT_CSV, ColumnMapping: map[string]string{}}
	if f := q.Get("format"); f != "" && !strings.EqualFold(f, "csv") {
		return nil, status.Error(codes.InvalidArgument, "format: only csv can be uploaded")
	}
	mode := strings.ToUpper(q.Get("mode"))
	if v, ok := customerv1.ImportMode_value["IMPORT_MODE_"+mode]; ok {
		opts.Mode = customerv1.ImportMode(v)
	} else if v, ok := customerv1.ImportMode_value[mode]; ok {
		opts.Mode = customerv1.ImportMode(v)
	}
	var err error
	if d := q.Get("dry_run"); d != "" {
		if opts.DryRun, err = strconv.ParseBool(d); err != nil {
			return nil, status.Error(codes.InvalidArgument, "dry_run: must be true or false")
		}
	}
	if f := q.Get("first_row"); f != "" {
		if opts.FirstRow, err = strconv.ParseInt(f, 10, 64); err != nil {
			return nil, status.Error(codes.InvalidArgument, "first_row: must be a row number")
		}
	}
	for k, v := range q {
		if header, ok := strings.CutPrefix(k, "map."); ok && len(v) > 0 {
			opts.ColumnMapping[header] = v[0]
		}
	}
	return opts, nil
}

func upload(client customerv1.ImportServiceClient) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/csv") && !strings.HasPrefix(ct, "text/plain") {
			writeStatus(w, r, status.New(codes.InvalidArgument, "send the CSV as Content-Type: text/csv"))
			return
		}
		opts, err := importOptions(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		// A large upload outlasts the server's read timeout.
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		ctx, cancel := outgoing(r)
		defer cancel()
		stream, err := client.ImportCustomers(ctx)
		if err != nil {
			writeError(w, r, err)
			return
		}
		// A body cut short must not end the job as if complete: the stream
		// is abandoned, the job keeps its staged rows and the client resumes
		// from next_row.
		resp, err := relayUpload(stream,
			&customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_Options{Options: opts}},
			func(p []byte) *customerv1.ImportCustomersRequest {
				return &customerv1.ImportCustomersRequest{Payload: &customerv1.ImportCustomersRequest_CsvChunk{CsvChunk: p}}
			}, r.Body, status.Error(codes.Canceled, "the upload was interrupted; resume it from the job's next_row"))
		if err != nil {
			writeError(w, r, err)
			return
		}
		b, err := protojson.Marshal(resp)
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}

func export(client customerv1.ImportServiceClient) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		showDeleted, _ := strconv.ParseBool(q.Get("show_deleted"))
		ctx, cancel := outgoing(r)
		defer cancel()
		stream, err := client.ExportCustomers(ctx, &customerv1.ExportCustomersRequest{Filter: q.Get("filter"), ShowDeleted: showDeleted})
		if err != nil {
			writeError(w, r, err)
			return
		}
		// The first chunk (at least the header) comes before the response
		// starts, so a refused export still gets its error status.
		first, err := stream.Recv()
		if err != nil {
			writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="customers.csv"`)
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		for chunk := first; ; {
			if _, err := w.Write(chunk.GetCsvChunk()); err != nil {
				return
			}
			_ = rc.Flush()
			if chunk, err = stream.Recv(); err != nil {
				// Past the header the status cannot change: a failure
				// shows as a truncated body, which the client detects by
				// the missing end of the chunked response.
				if !errors.Is(err, io.EOF) {
					panic(http.ErrAbortHandler)
				}
				return
			}
		}
	}
}
