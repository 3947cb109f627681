package grpcapi

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/google/uuid"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// DownloadSharedDocumentMethod is public: the share token is its credential.
const DownloadSharedDocumentMethod = "/rapport.customer.v1.DocumentService/DownloadSharedDocument"

// sendChunk bounds the bytes of one streamed download message, well below
// gRPC's default 4 MiB message limit.
const sendChunk = 64 << 10

// Documents implements customerv1.DocumentServiceServer.
type Documents struct {
	customerv1.UnimplementedDocumentServiceServer
	svc *document.Service
}

// NewDocuments returns the server.
func NewDocuments(svc *document.Service) *Documents { return &Documents{svc: svc} }

// docIDs parses a customer and a document id, reporting both when both are bad.
func docIDs(customerField, customerID, documentField, documentID string) (uuid.UUID, uuid.UUID, error) {
	v := &validation.Error{}
	c, err := uuid.Parse(customerID)
	if err != nil {
		v.Add(customerField, "must be a UUID")
	}
	d, err := uuid.Parse(documentID)
	if err != nil {
		v.Add(documentField, "must be a UUID")
	}
	return c, d, v.Err()
}

// UploadDocumentVersion implements the RPC: the first message is metadata,
// the rest is content, read as the store writes it.
func (s *Documents) UploadDocumentVersion(stream customerv1.DocumentService_UploadDocumentVersionServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return toStatus(validation.Field("metadata", "is required in the first message"))
	}
	if err != nil {
		return err
	}
	md := first.GetMetadata()
	if md == nil {
		return toStatus(validation.Field("metadata", "is required in the first message"))
	}
	up := document.Upload{Title: md.GetTitle(), Description: md.GetDescription(), FileName: md.GetFileName(),
		DeclaredType: md.GetDeclaredContentType(), RequestID: md.GetRequestId()}
	v := &validation.Error{}
	if up.CustomerID, err = uuid.Parse(md.GetCustomerId()); err != nil {
		v.Add("metadata.customer_id", "must be a UUID")
	}
	if md.GetDocumentId() != "" {
		id, err := uuid.Parse(md.GetDocumentId())
		if err != nil {
			v.Add("metadata.document_id", "must be a UUID or empty")
		}
		up.DocumentID = &id
	}
	if err := v.Err(); err != nil {
		return toStatus(err)
	}
	d, ver, err := s.svc.Upload(ctx, caller(ctx), up, &chunkReader{next: func() ([]byte, error) {
		msg, err := stream.Recv()
		if err != nil {
			return nil, err
		}
		if msg.GetMetadata() != nil {
			return nil, validation.Field("metadata", "must only be in the first message")
		}
		return msg.GetChunk(), nil
	}})
	if err != nil {
		return toStatus(err)
	}
	return stream.SendAndClose(&customerv1.UploadDocumentVersionResponse{Document: protoconv.Document(d), Version: protoconv.DocumentVersion(ver)})
}

// GetDocument implements the RPC.
func (s *Documents) GetDocument(ctx context.Context, req *customerv1.GetDocumentRequest) (*customerv1.GetDocumentResponse, error) {
	cid, did, err := docIDs("customer_id", req.GetCustomerId(), "document_id", req.GetDocumentId())
	if err != nil {
		return nil, toStatus(err)
	}
	d, err := s.svc.Get(ctx, caller(ctx), cid, did)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.GetDocumentResponse{Document: protoconv.Document(d)}, nil
}

// ListDocuments implements the RPC.
func (s *Documents) ListDocuments(ctx context.Context, req *customerv1.ListDocumentsRequest) (*customerv1.ListDocumentsResponse, error) {
	cid, err := parseID("customer_id", req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	page, err := s.svc.List(ctx, caller(ctx), document.ListQuery{CustomerID: cid, PageSize: int(req.GetPageSize()),
		PageToken: req.GetPageToken(), Filter: req.GetFilter(), ShowDeleted: req.GetShowDeleted()})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListDocumentsResponse{NextPageToken: page.NextPageToken, Documents: make([]*customerv1.Document, len(page.Documents))}
	for i, d := range page.Documents {
		out.Documents[i] = protoconv.Document(d)
	}
	return out, nil
}

// UpdateDocument implements the RPC.
func (s *Documents) UpdateDocument(ctx context.Context, req *customerv1.UpdateDocumentRequest) (*customerv1.UpdateDocumentResponse, error) {
	in := req.GetDocument()
	if in == nil {
		return nil, toStatus(validation.Field("document", "is required"))
	}
	cid, did, err := docIDs("document.customer_id", in.GetCustomerId(), "document.document_id", in.GetDocumentId())
	if err != nil {
		return nil, toStatus(err)
	}
	var mask []string
	for _, p := range req.GetUpdateMask().GetPaths() {
		// Over REST the mask is inferred from the body, which names the document too.
		if p != "etag" && p != "customer_id" && p != "document_id" {
			mask = append(mask, p)
		}
	}
	d, err := s.svc.Update(ctx, caller(ctx), document.Document{ID: did, CustomerID: cid, Title: in.GetTitle(), Description: in.GetDescription()}, mask, in.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UpdateDocumentResponse{Document: protoconv.Document(d)}, nil
}

// DeleteDocument implements the RPC.
func (s *Documents) DeleteDocument(ctx context.Context, req *customerv1.DeleteDocumentRequest) (*customerv1.DeleteDocumentResponse, error) {
	cid, did, err := docIDs("customer_id", req.GetCustomerId(), "document_id", req.GetDocumentId())
	if err != nil {
		return nil, toStatus(err)
	}
	d, err := s.svc.Delete(ctx, caller(ctx), cid, did, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.DeleteDocumentResponse{Document: protoconv.Document(d)}, nil
}

// UndeleteDocument implements the RPC.
func (s *Documents) UndeleteDocument(ctx context.Context, req *customerv1.UndeleteDocumentRequest) (*customerv1.UndeleteDocumentResponse, error) {
	cid, did, err := docIDs("customer_id", req.GetCustomerId(), "document_id", req.GetDocumentId())
	if err != nil {
		return nil, toStatus(err)
	}
	d, err := s.svc.Undelete(ctx, caller(ctx), cid, did, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.UndeleteDocumentResponse{Document: protoconv.Document(d)}, nil
}

// docPageQuery reads the common shape of the child lists.
func docPageQuery(customerID, documentID string, size int32, token string) (document.PageQuery, error) {
	cid, did, err := docIDs("customer_id", customerID, "document_id", documentID)
	return document.PageQuery{CustomerID: cid, DocumentID: did, PageSize: int(size), PageToken: token}, err
}

// ListDocumentVersions implements the RPC.
func (s *Documents) ListDocumentVersions(ctx context.Context, req *customerv1.ListDocumentVersionsRequest) (*customerv1.ListDocumentVersionsResponse, error) {
	q, err := docPageQuery(req.GetCustomerId(), req.GetDocumentId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	vs, next, err := s.svc.Versions(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListDocumentVersionsResponse{NextPageToken: next, Versions: make([]*customerv1.DocumentVersion, len(vs))}
	for i, v := range vs {
		out.Versions[i] = protoconv.DocumentVersion(v)
	}
	return out, nil
}

// DownloadDocument implements the RPC.
func (s *Documents) DownloadDocument(req *customerv1.DownloadDocumentRequest, stream customerv1.DocumentService_DownloadDocumentServer) error {
	cid, did, err := docIDs("customer_id", req.GetCustomerId(), "document_id", req.GetDocumentId())
	if err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	err = s.svc.Download(ctx, caller(ctx), cid, did, req.GetVersion(),
		func(v document.Version) error {
			return stream.Send(&customerv1.DownloadDocumentResponse{Payload: &customerv1.DownloadDocumentResponse_Version{Version: protoconv.DocumentVersion(v)}})
		},
		splitSend(func(b []byte) error {
			return stream.Send(&customerv1.DownloadDocumentResponse{Payload: &customerv1.DownloadDocumentResponse_Chunk{Chunk: b}})
		}))
	return toStatus(err)
}

// splitSend sends a stored chunk as messages of at most sendChunk bytes.
func splitSend(send func([]byte) error) func([]byte) error {
	return func(b []byte) error {
		for len(b) > 0 {
			n := min(len(b), sendChunk)
			if err := send(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
}

// TransitionDocument implements the RPC.
func (s *Documents) TransitionDocument(ctx context.Context, req *customerv1.TransitionDocumentRequest) (*customerv1.TransitionDocumentResponse, error) {
	cid, did, err := docIDs("customer_id", req.GetCustomerId(), "document_id", req.GetDocumentId())
	if err != nil {
		return nil, toStatus(err)
	}
	d, t, err := s.svc.Transition(ctx, caller(ctx), cid, did, document.State(req.GetToState()), req.GetComment(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.TransitionDocumentResponse{Document: protoconv.Document(d), Transition: protoconv.DocumentTransition(t)}, nil
}

// ListDocumentTransitions implements the RPC.
func (s *Documents) ListDocumentTransitions(ctx context.Context, req *customerv1.ListDocumentTransitionsRequest) (*customerv1.ListDocumentTransitionsResponse, error) {
	q, err := docPageQuery(req.GetCustomerId(), req.GetDocumentId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	ts, next, err := s.svc.Transitions(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListDocumentTransitionsResponse{NextPageToken: next, Transitions: make([]*customerv1.DocumentTransition, len(ts))}
	for i, t := range ts {
		out.Transitions[i] = protoconv.DocumentTransition(t)
	}
	return out, nil
}

// CreateShareLink implements the RPC.
func (s *Documents) CreateShareLink(ctx context.Context, req *customerv1.CreateShareLinkRequest) (*customerv1.CreateShareLinkResponse, error) {
	cid, did, err := docIDs("customer_id", req.GetCustomerId(), "document_id", req.GetDocumentId())
	if err != nil {
		return nil, toStatus(err)
	}
	in := req.GetShareLink()
	if in == nil {
		return nil, toStatus(validation.Field("share_link", "is required"))
	}
	l, token, err := s.svc.CreateShareLink(ctx, caller(ctx), cid, did, in.GetVersion(), expireOf(in), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.CreateShareLinkResponse{ShareLink: protoconv.ShareLink(l), Token: token}
	if token != "" {
		out.UrlPath = document.SharedPathPrefix + token
	}
	return out, nil
}

// expireOf reads a link's expiry; a missing one is the zero time, which the
// domain reports as required.
func expireOf(l *customerv1.ShareLink) time.Time {
	if l.GetExpireTime() == nil {
		return time.Time{}
	}
	return l.GetExpireTime().AsTime()
}

// ListShareLinks implements the RPC.
func (s *Documents) ListShareLinks(ctx context.Context, req *customerv1.ListShareLinksRequest) (*customerv1.ListShareLinksResponse, error) {
	q, err := docPageQuery(req.GetCustomerId(), req.GetDocumentId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	ls, next, err := s.svc.ShareLinks(ctx, caller(ctx), q)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &customerv1.ListShareLinksResponse{NextPageToken: next, ShareLinks: make([]*customerv1.ShareLink, len(ls))}
	for i, l := range ls {
		out.ShareLinks[i] = protoconv.ShareLink(l)
	}
	return out, nil
}

// RevokeShareLink implements the RPC.
func (s *Documents) RevokeShareLink(ctx context.Context, req *customerv1.RevokeShareLinkRequest) (*customerv1.RevokeShareLinkResponse, error) {
	cid, did, err := docIDs("customer_id", req.GetCustomerId(), "document_id", req.GetDocumentId())
	if err != nil {
		return nil, toStatus(err)
	}
	lid, err := parseID("share_link_id", req.GetShareLinkId())
	if err != nil {
		return nil, toStatus(err)
	}
	l, err := s.svc.RevokeShareLink(ctx, caller(ctx), cid, did, lid)
	if err != nil {
		return nil, toStatus(err)
	}
	return &customerv1.RevokeShareLinkResponse{ShareLink: protoconv.ShareLink(l)}, nil
}

// DownloadSharedDocument implements the RPC; it runs without a caller.
func (s *Documents) DownloadSharedDocument(req *customerv1.DownloadSharedDocumentRequest, stream customerv1.DocumentService_DownloadSharedDocumentServer) error {
	err := s.svc.DownloadShared(stream.Context(), req.GetToken(),
		func(v document.Version) error {
			return stream.Send(&customerv1.DownloadSharedDocumentResponse{Payload: &customerv1.DownloadSharedDocumentResponse_Version{Version: protoconv.DocumentVersion(v)}})
		},
		splitSend(func(b []byte) error {
			return stream.Send(&customerv1.DownloadSharedDocumentResponse{Payload: &customerv1.DownloadSharedDocumentResponse_Chunk{Chunk: b}})
		}))
	return toStatus(err)
}
