package grpcapi

import (
	"context"
	"encoding/csv"
	"errors"
	"io"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/imports"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// Imports implements customerv1.ImportServiceServer.
type Imports struct {
	customerv1.UnimplementedImportServiceServer
	svc *imports.Service
}

// NewImports returns the server.
func NewImports(svc *imports.Service) *Imports { return &Imports{svc: svc} }

// ImportCustomers implements the RPC.
func (s *Imports) ImportCustomers(stream customerv1.ImportService_ImportCustomersServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) || err == nil && first.GetOptions() == nil {
		return toStatus(validation.Field("options", "the first message must carry the options"))
	}
	if err != nil {
		return err
	}
	o := first.GetOptions()
	opts := imports.Options{
		RequestID: o.GetRequestId(), Mode: imports.Mode(o.GetMode()), DryRun: o.GetDryRun(), Format: imports.Format(o.GetFormat()),
		ColumnMapping: o.GetColumnMapping(), FirstRow: o.GetFirstRow(),
	}
	var src imports.Source = &typedSource{stream: stream}
	if opts.Format == imports.FormatCSV {
		r := csv.NewReader(&chunkReader{next: func() ([]byte, error) {
			msg, err := stream.Recv()
			if err != nil {
				return nil, err
			}
			if _, ok := msg.GetPayload().(*customerv1.ImportCustomersRequest_CsvChunk); !ok {
				return nil, validation.Field("csv_chunk", "this import takes CSV chunks after the options")
			}
			return msg.GetCsvChunk(), nil
		}})
		r.FieldsPerRecord = -1 // a short or long row is that row's error, not the stream's
		src = csvSource{r}
	}
	job, err := s.svc.Import(ctx, caller(ctx), opts, src)
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&customerv1.ImportCustomersResponse{Job: protoconv.ImportJob(job)})
}

// typedSource yields the rows of typed messages.
type typedSource struct {
	stream  customerv1.ImportService_ImportCustomersServer
	pending []*customerv1.Customer
}

func (t *typedSource) Next() ([]string, error) {
	for len(t.pending) == 0 {
		msg, err := t.stream.Recv()
		if err != nil {
			return nil, err
		}
		if msg.GetRows() == nil {
			return nil, validation.Field("rows", "this import takes typed rows after the options")
		}
		t.pending = msg.GetRows().GetCustomers()
	}
	m := t.pending[0]
	t.pending = t.pending[1:]
	return protoconv.ImportValues(m)
}

// csvSource yields CSV records; malformed CSV fails the stream.
type csvSource struct{ r *csv.Reader }

func (c csvSource) Next() ([]string, error) {
	rec, err := c.r.Read()
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return nil, validation.Field("csv_chunk", "%s", pe.Error())
	}
	return rec, err
}

// GetImportJob implements the RPC.
func (s *Imports) GetImportJob(ctx context.Context, req *customerv1.GetImportJobRequest) (*customerv1.GetImportJobResponse, error) {
	id, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, toStatus(err)
	}
	j, err := s.svc.Job(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetImportJobResponse{Job: protoconv.ImportJob(j)}, nil
}

// ListImportJobs implements the RPC.
func (s *Imports) ListImportJobs(ctx context.Context, req *customerv1.ListImportJobsRequest) (*customerv1.ListImportJobsResponse, error) {
	jobs, next, err := s.svc.Jobs(ctx, caller(ctx), imports.ListQuery{PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken(), Filter: req.GetFilter()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListImportJobsResponse{NextPageToken: next}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, protoconv.ImportJob(j))
	}
	return out, nil
}

// ListImportRowErrors implements the RPC.
func (s *Imports) ListImportRowErrors(ctx context.Context, req *customerv1.ListImportRowErrorsRequest) (*customerv1.ListImportRowErrorsResponse, error) {
	id, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, toStatus(err)
	}
	rows, next, err := s.svc.RowErrors(ctx, caller(ctx), id, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListImportRowErrorsResponse{NextPageToken: next}
	for _, e := range rows {
		out.RowErrors = append(out.RowErrors, protoconv.ImportRowError(e))
	}
	return out, nil
}

// CancelImportJob implements the RPC.
func (s *Imports) CancelImportJob(ctx context.Context, req *customerv1.CancelImportJobRequest) (*customerv1.CancelImportJobResponse, error) {
	id, err := parseID("job_id", req.GetJobId())
	if err != nil {
		return nil, toStatus(err)
	}
	j, err := s.svc.Cancel(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.CancelImportJobResponse{Job: protoconv.ImportJob(j)}, nil
}

// ExportCustomers implements the RPC.
func (s *Imports) ExportCustomers(req *customerv1.ExportCustomersRequest, stream customerv1.ImportService_ExportCustomersServer) error {
	ctx := stream.Context()
	err := s.svc.Export(ctx, caller(ctx), req.GetFilter(), req.GetShowDeleted(), func(chunk []byte) error {
		return stream.Send(&customerv1.ExportCustomersResponse{CsvChunk: chunk})
	})
	return toStatus(err)
}
