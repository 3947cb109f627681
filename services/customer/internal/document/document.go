// Package document is the domain of documents attached to customers:
// versioned content kept with its checksum and detected type, a review
// lifecycle, expiring share links, and the store they need.
package document

import (
	"context"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// State is where a document is in its lifecycle; the numbers match the API's enum.
type State int32

// Lifecycle states.
const (
	StateUnspecified State = iota
	StateDraft
	StateInReview
	StatePublished
	StateArchived
)

// transitions is the lifecycle graph. Archived documents may go back to
// draft so that they can be revised and published again; a published
// document is archived first, so its share links stop before it changes.
var transitions = map[State][]State{
	StateDraft:     {StateInReview},
	StateInReview:  {StateDraft, StatePublished},
	StatePublished: {StateArchived},
	StateArchived:  {StateDraft},
}

// Document is a file attached to a customer.
type Document struct {
	ID             uuid.UUID
	CustomerID     uuid.UUID
	Title          string
	Description    string
	CurrentVersion int32
	State          State
	CreateTime     time.Time
	UpdateTime     time.Time
	DeleteTime     *time.Time
	// Revision counts writes; the etag is derived from it.
	Revision int64
}

// Etag is the opaque concurrency token of the document's current revision.
func (d Document) Etag() string { return strconv.FormatInt(d.Revision, 10) }

// Resource is the document's resource name.
func (d Document) Resource() string {
	return "customers/" + d.CustomerID.String() + "/documents/" + d.ID.String()
}

// Version is one immutable upload of a document's content.
type Version struct {
	// ID keys the content chunks.
	ID           uuid.UUID
	DocumentID   uuid.UUID
	CustomerID   uuid.UUID
	Number       int32
	FileName     string
	DeclaredType string
	ContentType  string
	Size         int64
	SHA256       []byte
	CreatorID    string
	CreateTime   time.Time
}

// Resource is the version's resource name.
func (v Version) Resource() string {
	return "customers/" + v.CustomerID.String() + "/documents/" + v.DocumentID.String() + "/versions/" + strconv.Itoa(int(v.Number))
}

// Transition is one entry of a document's lifecycle log.
type Transition struct {
	ID          uuid.UUID
	DocumentID  uuid.UUID
	From, To    State
	PrincipalID string
	Comment     string
	CreateTime  time.Time
}

// ShareLink lets the holder of its token download a published document.
type ShareLink struct {
	ID         uuid.UUID
	DocumentID uuid.UUID
	CustomerID uuid.UUID
	// Version pins the version served; 0 serves the current one.
	Version    int32
	ExpireTime time.Time
	RevokeTime *time.Time
	CreateTime time.Time
	CreatorID  string
	// TokenHash is the SHA-256 of the token's secret; the token itself is never stored.
	TokenHash []byte
}

// Resource is the link's resource name.
func (l ShareLink) Resource() string {
	return "customers/" + l.CustomerID.String() + "/documents/" + l.DocumentID.String() + "/shareLinks/" + l.ID.String()
}

// Errors the use cases return.
var (
	ErrNotFound          = errors.New("document not found")
	ErrCustomerNotFound  = errors.New("customer not found")
	ErrCustomerDeleted   = errors.New("the customer is deleted")
	ErrVersionNotFound   = errors.New("document version not found")
	ErrShareLinkNotFound = errors.New("share link not found")
	ErrEtagMismatch      = errors.New("the document changed since it was read (etag mismatch)")
	ErrDeleted           = errors.New("the document is deleted")
	ErrNotDeleted        = errors.New("the document is not deleted")
	ErrNotDraft          = errors.New("versions can only be added to a draft document")
	ErrBadTransition     = errors.New("the lifecycle does not allow this transition")
	ErrNotPublished      = errors.New("only published documents can be shared")
	ErrRevoked           = errors.New("the share link is already revoked")
	// ErrUploadConflict means the database asked to retry an upload whose
	// content was already consumed from the stream; the client must resend.
	ErrUploadConflict = errors.New("the upload conflicted with a concurrent change; upload again")
)

// Limits on field sizes.
const (
	maxTitle       = 300
	maxDescription = 4000
	maxFileName    = 255
	maxContentType = 255
	maxComment     = 1000
	maxRequestID   = 64
	// MaxShareTTL is the longest a share link may live.
	MaxShareTTL = 30 * 24 * time.Hour
	// headSize is how much content type detection looks at.
	headSize = 512
)

// Upload describes an upload's metadata.
type Upload struct {
	CustomerID uuid.UUID
	// DocumentID adds a version to this document; nil creates a document.
	DocumentID   *uuid.UUID
	Title        string
	Description  string
	FileName     string
	DeclaredType string
	RequestID    string
}

// Body reads an upload's content once, enforcing the size limit as it goes,
// hashing it and keeping its head for content type detection.
type Body struct {
	r     io.Reader
	limit int64
	n     int64
	sum   hash.Hash
	head  []byte
	read  bool
}

// NewBody wraps r; reading past limit bytes fails with a validation error on "chunk".
func NewBody(r io.Reader, limit int64) *Body {
	return &Body{r: r, limit: limit, sum: sha256.New()}
}

// Read implements io.Reader.
func (b *Body) Read(p []byte) (int, error) {
	b.read = true
	n, err := b.r.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		return 0, validation.Field("chunk", "the content exceeds the limit of %d bytes", b.limit)
	}
	b.sum.Write(p[:n])
	if missing := headSize - len(b.head); missing > 0 {
		b.head = append(b.head, p[:min(n, missing)]...)
	}
	return n, err
}

// Started reports whether any content was consumed, after which the upload
// cannot be replayed.
func (b *Body) Started() bool { return b.read }

// Describe fills v's size, checksum and content type from the content read
// so far; call it after the body reached EOF. Empty content is refused.
func (b *Body) Describe(v *Version) error {
	if b.n == 0 {
		return validation.Field("chunk", "the content is empty")
	}
	v.Size = b.n
	v.SHA256 = b.sum.Sum(nil)
	v.ContentType = DetectContentType(b.head, v.FileName)
	return nil
}

// DetectContentType sniffs head (the first 512 bytes) and refines the
// answer by the file name's extension where sniffing can only tell a family:
// unknown binary, plain text, or a zip container (office documents).
// Content that sniffs as something specific (a PNG, a PDF) keeps that type
// whatever its name claims.
func DetectContentType(head []byte, fileName string) string {
	sniffed := http.DetectContentType(head)
	byExt := mime.TypeByExtension(strings.ToLower(path.Ext(fileName)))
	if byExt == "" {
		return sniffed
	}
	media, _, _ := mime.ParseMediaType(byExt)
	switch {
	case sniffed == "application/octet-stream":
		return byExt
	case strings.HasPrefix(sniffed, "text/plain") && textual(media):
		return byExt
	case sniffed == "application/zip" && (strings.HasSuffix(media, "+zip") || strings.Contains(media, "openxmlformats") || strings.Contains(media, "opendocument")):
		return byExt
	}
	return sniffed
}

// textual reports whether a media type is text that sniffing calls text/plain.
func textual(media string) bool {
	return strings.HasPrefix(media, "text/") || strings.HasSuffix(media, "json") || strings.HasSuffix(media, "xml") || media == "application/javascript"
}

// ListQuery selects a page of a customer's documents.
type ListQuery struct {
	CustomerID  uuid.UUID
	PageSize    int
	PageToken   string
	Filter      string
	ShowDeleted bool
}

// Page is one page of documents.
type Page struct {
	Documents     []Document
	NextPageToken string
}

// PageQuery selects a page of a document's versions, transitions or links.
type PageQuery struct {
	CustomerID, DocumentID uuid.UUID
	PageSize               int
	PageToken              string
}

// Change is what a Mutation did: the event it emits and, for a lifecycle
// move, the transition to log.
type Change struct {
	Event      string
	Transition *Transition
}

// Mutation changes a loaded document inside the store's transaction.
type Mutation func(d *Document) (Change, error)

// Store keeps documents. Every method is scoped to the caller's tenant, and
// a document is found only under its own customer.
type Store interface {
	// Upload stores body as a new version of up.DocumentID, or as version 1
	// of newDoc when up.DocumentID is nil, calling check on the locked
	// document before it reads the body. When up.RequestID was used before,
	// it returns that upload's result with created false and stores nothing.
	Upload(ctx context.Context, caller auth.Caller, up Upload, newDoc Document, check func(Document) error, body *Body) (d Document, v Version, created bool, err error)
	Get(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (Document, error)
	List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error)
	// Mutate loads and locks the document, applies m and saves the result
	// with the transition, event and audit row, in one transaction.
	Mutate(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, m Mutation) (Document, error)
	Versions(ctx context.Context, caller auth.Caller, q PageQuery) ([]Version, string, error)
	// Version returns a version by number; 0 is the current one.
	Version(ctx context.Context, tenant string, customerID, documentID uuid.UUID, number int32) (Version, error)
	// ReadContent passes a version's content to write, chunk by chunk, in order.
	ReadContent(ctx context.Context, tenant string, versionID uuid.UUID, write func([]byte) error) error
	Transitions(ctx context.Context, caller auth.Caller, q PageQuery) ([]Transition, string, error)
	// CreateShareLink stores l after check approved the document, which it
	// holds locked; a repeated requestID returns the earlier link with created false.
	CreateShareLink(ctx context.Context, caller auth.Caller, l ShareLink, requestID string, check func(Document) error) (saved ShareLink, created bool, err error)
	ShareLinks(ctx context.Context, caller auth.Caller, q PageQuery) ([]ShareLink, string, error)
	RevokeShareLink(ctx context.Context, caller auth.Caller, customerID, documentID, id uuid.UUID) (ShareLink, error)
	// SharedDocument returns a link and its document in tenant, for the
	// unauthenticated download.
	SharedDocument(ctx context.Context, tenant string, linkID uuid.UUID) (ShareLink, Document, error)
}

func nowUTC() time.Time { return time.Now().UTC() }
