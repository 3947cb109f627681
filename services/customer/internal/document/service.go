package document

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/validation"
)

// Event types documents emit.
const (
	EventCreated      = "customer.document.created"
	EventUpdated      = "customer.document.updated"
	EventVersionAdded = "customer.document.version_added"
	EventTransitioned = "customer.document.transitioned"
	EventDeleted      = "customer.document.deleted"
	EventUndeleted    = "customer.document.undeleted"
	EventShared       = "customer.document.shared"
	EventShareRevoked = "customer.document.share_revoked"
)

// Who may do what. Analysts read metadata but never content: documents may
// hold personal data that analytics has no need for. Publishing is the
// reviewer's step, kept to those who may also delete.
var (
	metadataReaders = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent, auth.RoleAnalyst}
	contentReaders  = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager, auth.RoleSalesRep, auth.RoleSupportAgent}
	writers         = contentReaders
	approvers       = []auth.Role{auth.RoleAdmin, auth.RoleSalesManager}
)

// SharedPathPrefix is the public REST path a share token is appended to.
const SharedPathPrefix = "/v1/sharedDocuments/"

// Service holds the document use cases.
type Service struct {
	store    Store
	maxBytes int64
}

// New returns a Service over store that accepts uploads of up to maxBytes.
func New(store Store, maxBytes int64) *Service { return &Service{store: store, maxBytes: maxBytes} }

func allow(c auth.Caller, roles []auth.Role) error {
	if !c.HasAny(roles...) {
		return auth.ErrForbidden
	}
	return nil
}

// Upload validates the metadata, then stores content as a new version. The
// checks that need no content run before any of it is read.
func (s *Service) Upload(ctx context.Context, caller auth.Caller, up Upload, content io.Reader) (Document, Version, error) {
	if err := allow(caller, writers); err != nil {
		return Document{}, Version{}, err
	}
	up.Title = strings.TrimSpace(up.Title)
	up.Description = strings.TrimSpace(up.Description)
	up.FileName = strings.TrimSpace(up.FileName)
	up.DeclaredType = strings.TrimSpace(up.DeclaredType)
	v := &validation.Error{}
	if up.DocumentID == nil {
		checkText(v, "metadata.title", up.Title, maxTitle, true)
		checkText(v, "metadata.description", up.Description, maxDescription, false)
	}
	switch {
	case up.FileName == "":
		v.Add("metadata.file_name", "is required")
	case utf8.RuneCountInString(up.FileName) > maxFileName, strings.ContainsAny(up.FileName, "/\\\x00"):
		v.Add("metadata.file_name", "must be a base name of at most %d characters", maxFileName)
	}
	if up.DeclaredType != "" {
		if _, _, err := mime.ParseMediaType(up.DeclaredType); err != nil || len(up.DeclaredType) > maxContentType {
			v.Add("metadata.declared_content_type", "must be a media type such as application/pdf")
		}
	}
	if utf8.RuneCountInString(up.RequestID) > maxRequestID {
		v.Add("metadata.request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return Document{}, Version{}, err
	}
	now := nowUTC()
	newDoc := Document{ID: uuid.Must(uuid.NewV7()), CustomerID: up.CustomerID, Title: up.Title, Description: up.Description,
		State: StateDraft, CreateTime: now, UpdateTime: now, Revision: 1}
	check := func(d Document) error {
		if d.DeleteTime != nil {
			return ErrDeleted
		}
		if d.State != StateDraft {
			return ErrNotDraft
		}
		return nil
	}
	body := NewBody(content, s.maxBytes)
	d, ver, _, err := s.store.Upload(ctx, caller, up, newDoc, check, body)
	return d, ver, err
}

// Get returns a document, deleted or not.
func (s *Service) Get(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (Document, error) {
	if err := allow(caller, metadataReaders); err != nil {
		return Document{}, err
	}
	return s.store.Get(ctx, caller, customerID, id)
}

// List returns a page of a customer's documents.
func (s *Service) List(ctx context.Context, caller auth.Caller, q ListQuery) (Page, error) {
	if err := allow(caller, metadataReaders); err != nil {
		return Page{}, err
	}
	size, err := pageSize(q.PageSize)
	if err != nil {
		return Page{}, err
	}
	q.PageSize = size
	return s.store.List(ctx, caller, q)
}

// Update changes the title or description. An empty etag skips the concurrency check.
func (s *Service) Update(ctx context.Context, caller auth.Caller, in Document, mask []string, etag string) (Document, error) {
	if err := allow(caller, writers); err != nil {
		return Document{}, err
	}
	v := &validation.Error{}
	if len(mask) == 0 {
		v.Add("update_mask", "must name at least one field")
	}
	for _, f := range mask {
		if f != "title" && f != "description" {
			v.Add("update_mask", "%q cannot be updated; updatable fields: title, description", f)
		}
	}
	if err := v.Err(); err != nil {
		return Document{}, err
	}
	return s.store.Mutate(ctx, caller, in.CustomerID, in.ID, func(d *Document) (Change, error) {
		if err := checkEtag(*d, etag); err != nil {
			return Change{}, err
		}
		if d.DeleteTime != nil {
			return Change{}, ErrDeleted
		}
		for _, f := range mask {
			if f == "title" {
				d.Title = strings.TrimSpace(in.Title)
			} else {
				d.Description = strings.TrimSpace(in.Description)
			}
		}
		v := &validation.Error{}
		checkText(v, "document.title", d.Title, maxTitle, true)
		checkText(v, "document.description", d.Description, maxDescription, false)
		return Change{Event: EventUpdated}, v.Err()
	})
}

// Delete soft-deletes a document; its share links stop working with it.
func (s *Service) Delete(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, etag string) (Document, error) {
	if err := allow(caller, approvers); err != nil {
		return Document{}, err
	}
	return s.store.Mutate(ctx, caller, customerID, id, func(d *Document) (Change, error) {
		if err := checkEtag(*d, etag); err != nil {
			return Change{}, err
		}
		if d.DeleteTime != nil {
			return Change{}, ErrDeleted
		}
		now := nowUTC()
		d.DeleteTime = &now
		return Change{Event: EventDeleted}, nil
	})
}

// Undelete restores a soft-deleted document.
func (s *Service) Undelete(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, etag string) (Document, error) {
	if err := allow(caller, approvers); err != nil {
		return Document{}, err
	}
	return s.store.Mutate(ctx, caller, customerID, id, func(d *Document) (Change, error) {
		if err := checkEtag(*d, etag); err != nil {
			return Change{}, err
		}
		if d.DeleteTime == nil {
			return Change{}, ErrNotDeleted
		}
		d.DeleteTime = nil
		return Change{Event: EventUndeleted}, nil
	})
}

// Transition moves a document along the lifecycle graph and logs the move.
func (s *Service) Transition(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, to State, comment, etag string) (Document, Transition, error) {
	if err := allow(caller, writers); err != nil {
		return Document{}, Transition{}, err
	}
	comment = strings.TrimSpace(comment)
	v := &validation.Error{}
	if to < StateDraft || to > StateArchived {
		v.Add("to_state", "must be one of DOCUMENT_STATE_DRAFT, _IN_REVIEW, _PUBLISHED, _ARCHIVED")
	}
	checkText(v, "comment", comment, maxComment, false)
	if err := v.Err(); err != nil {
		return Document{}, Transition{}, err
	}
	if to == StatePublished {
		if err := allow(caller, approvers); err != nil {
			return Document{}, Transition{}, err
		}
	}
	var t Transition
	d, err := s.store.Mutate(ctx, caller, customerID, id, func(d *Document) (Change, error) {
		if err := checkEtag(*d, etag); err != nil {
			return Change{}, err
		}
		if d.DeleteTime != nil {
			return Change{}, ErrDeleted
		}
		if !slices.Contains(transitions[d.State], to) {
			return Change{}, fmt.Errorf("%w: from %d to %d", ErrBadTransition, d.State, to)
		}
		t = Transition{ID: uuid.Must(uuid.NewV7()), DocumentID: d.ID, From: d.State, To: to,
			PrincipalID: caller.PrincipalID, Comment: comment, CreateTime: nowUTC()}
		d.State = to
		return Change{Event: EventTransitioned, Transition: &t}, nil
	})
	return d, t, err
}

// Versions lists a document's versions, newest first.
func (s *Service) Versions(ctx context.Context, caller auth.Caller, q PageQuery) ([]Version, string, error) {
	if err := allow(caller, metadataReaders); err != nil {
		return nil, "", err
	}
	size, err := pageSize(q.PageSize)
	if err != nil {
		return nil, "", err
	}
	q.PageSize = size
	return s.store.Versions(ctx, caller, q)
}

// Transitions lists a document's lifecycle log, newest first.
func (s *Service) Transitions(ctx context.Context, caller auth.Caller, q PageQuery) ([]Transition, string, error) {
	if err := allow(caller, metadataReaders); err != nil {
		return nil, "", err
	}
	size, err := pageSize(q.PageSize)
	if err != nil {
		return nil, "", err
	}
	q.PageSize = size
	return s.store.Transitions(ctx, caller, q)
}

// Download passes a version (0: the current one) to start and then its
// content to write, chunk by chunk.
func (s *Service) Download(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, number int32, start func(Version) error, write func([]byte) error) error {
	if err := allow(caller, contentReaders); err != nil {
		return err
	}
	if number < 0 {
		return validation.Field("version", "must not be negative")
	}
	d, err := s.store.Get(ctx, caller, customerID, id)
	if err != nil {
		return err
	}
	if d.DeleteTime != nil {
		return ErrDeleted
	}
	return s.stream(ctx, caller.TenantID, d, number, start, write)
}

func (s *Service) stream(ctx context.Context, tenant string, d Document, number int32, start func(Version) error, write func([]byte) error) error {
	v, err := s.store.Version(ctx, tenant, d.CustomerID, d.ID, number)
	if err != nil {
		return err
	}
	if err := start(v); err != nil {
		return err
	}
	return s.store.ReadContent(ctx, tenant, v.ID, write)
}

// CreateShareLink creates a link to a published document, valid until
// expire (at most MaxShareTTL away), serving version (0: the current one).
// It returns the token, shown once; a repeated requestID returns the
// earlier link and no token.
func (s *Service) CreateShareLink(ctx context.Context, caller auth.Caller, customerID, documentID uuid.UUID, version int32, expire time.Time, requestID string) (ShareLink, string, error) {
	if err := allow(caller, writers); err != nil {
		return ShareLink{}, "", err
	}
	now := nowUTC()
	v := &validation.Error{}
	switch {
	case expire.IsZero():
		v.Add("share_link.expire_time", "is required")
	case !expire.After(now):
		v.Add("share_link.expire_time", "must be in the future")
	case expire.Sub(now) > MaxShareTTL:
		v.Add("share_link.expire_time", "must be at most 30 days from now")
	}
	if version < 0 {
		v.Add("share_link.version", "must not be negative")
	}
	if utf8.RuneCountInString(requestID) > maxRequestID {
		v.Add("request_id", "must be at most %d characters", maxRequestID)
	}
	if err := v.Err(); err != nil {
		return ShareLink{}, "", err
	}
	tenant, err := uuid.Parse(caller.TenantID)
	if err != nil {
		return ShareLink{}, "", fmt.Errorf("caller tenant: %w", err)
	}
	l := ShareLink{ID: uuid.Must(uuid.NewV7()), DocumentID: documentID, CustomerID: customerID, Version: version,
		ExpireTime: expire.UTC(), CreateTime: now, CreatorID: caller.PrincipalID}
	token, hash := newShareToken(tenant, l.ID)
	l.TokenHash = hash
	saved, created, err := s.store.CreateShareLink(ctx, caller, l, requestID, func(d Document) error {
		switch {
		case d.DeleteTime != nil:
			return ErrDeleted
		case d.State != StatePublished:
			return ErrNotPublished
		case version > d.CurrentVersion:
			return ErrVersionNotFound
		}
		return nil
	})
	if err != nil || !created {
		return saved, "", err
	}
	return saved, token, nil
}

// ShareLinks lists a document's links, newest first.
func (s *Service) ShareLinks(ctx context.Context, caller auth.Caller, q PageQuery) ([]ShareLink, string, error) {
	if err := allow(caller, contentReaders); err != nil {
		return nil, "", err
	}
	size, err := pageSize(q.PageSize)
	if err != nil {
		return nil, "", err
	}
	q.PageSize = size
	return s.store.ShareLinks(ctx, caller, q)
}

// RevokeShareLink ends a link for good.
func (s *Service) RevokeShareLink(ctx context.Context, caller auth.Caller, customerID, documentID, id uuid.UUID) (ShareLink, error) {
	if err := allow(caller, writers); err != nil {
		return ShareLink{}, err
	}
	return s.store.RevokeShareLink(ctx, caller, customerID, documentID, id)
}

// DownloadShared streams the document a token shares. It needs no caller:
// the token is the credential. Every reason to refuse is ErrShareLinkNotFound,
// so a guesser learns nothing.
func (s *Service) DownloadShared(ctx context.Context, token string, start func(Version) error, write func([]byte) error) error {
	tenant, linkID, hash, ok := parseShareToken(token)
	if !ok {
		return ErrShareLinkNotFound
	}
	l, d, err := s.store.SharedDocument(ctx, tenant.String(), linkID)
	if errors.Is(err, ErrShareLinkNotFound) || errors.Is(err, ErrNotFound) {
		return ErrShareLinkNotFound
	}
	if err != nil {
		return err
	}
	switch {
	case subtle.ConstantTimeCompare(hash, l.TokenHash) != 1,
		l.RevokeTime != nil,
		!nowUTC().Before(l.ExpireTime),
		d.DeleteTime != nil,
		d.State != StatePublished:
		return ErrShareLinkNotFound
	}
	err = s.stream(ctx, tenant.String(), d, l.Version, start, write)
	if errors.Is(err, ErrVersionNotFound) {
		return ErrShareLinkNotFound
	}
	return err
}

// shareTokenPrefix starts every share token, so scanners and humans recognise one.
const shareTokenPrefix = "rs_"

// newShareToken returns rs_<tenant id><link id>_<256-bit secret> and the
// SHA-256 of the secret: the ids find the link under the tenant's row-level
// security, and only the hash is stored. A fast hash suffices because the
// secret is random, not a password.
func newShareToken(tenant, linkID uuid.UUID) (string, []byte) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s := base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256([]byte(s))
	return shareTokenPrefix + hex.EncodeToString(tenant[:]) + hex.EncodeToString(linkID[:]) + "_" + s, h[:]
}

func parseShareToken(token string) (tenant, linkID uuid.UUID, hash []byte, ok bool) {
	rest, found := strings.CutPrefix(token, shareTokenPrefix)
	if !found {
		return uuid.Nil, uuid.Nil, nil, false
	}
	ids, secret, found := strings.Cut(rest, "_")
	raw, err := hex.DecodeString(ids)
	if !found || err != nil || len(raw) != 32 || len(secret) != 43 {
		return uuid.Nil, uuid.Nil, nil, false
	}
	h := sha256.Sum256([]byte(secret))
	return uuid.UUID(raw[:16]), uuid.UUID(raw[16:]), h[:], true
}

func checkEtag(d Document, etag string) error {
	if etag != "" && etag != d.Etag() {
		return fmt.Errorf("%w: current etag is %s", ErrEtagMismatch, d.Etag())
	}
	return nil
}

func checkText(v *validation.Error, field, s string, limit int, required bool) {
	switch {
	case required && s == "":
		v.Add(field, "is required")
	case utf8.RuneCountInString(s) > limit:
		v.Add(field, "must be at most %d characters", limit)
	}
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, validation.Field("page_size", "must not be negative")
	case n == 0:
		return 50, nil
	case n > 1000:
		return 1000, nil
	}
	return n, nil
}
