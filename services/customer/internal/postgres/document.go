package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/keyset"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

// Documents implements document.Store.
type Documents struct{ pool *pgxpool.Pool }

// Documents returns the document store on the same pool.
func (s *Store) Documents() *Documents { return &Documents{pool: s.pool} }

// chunkSize is the content stored per row: large enough that a 25 MiB file
// is a hundred rows, small enough that a download holds little in memory.
const chunkSize = 256 << 10

// readChunks is how many chunks one download query fetches.
const readChunks = 4

const documentColumns = `document_id, customer_id, title, description, current_version, state,
create_time, update_time, delete_time, revision`

func scanDocument(row pgx.CollectableRow) (document.Document, error) {
	var d document.Document
	err := row.Scan(&d.ID, &d.CustomerID, &d.Title, &d.Description, &d.CurrentVersion, &d.State,
		&d.CreateTime, &d.UpdateTime, &d.DeleteTime, &d.Revision)
	return d, err
}

const versionColumns = `version_id, document_id, customer_id, version, file_name, declared_content_type,
content_type, size_bytes, sha256, creator_id, create_time`

func scanVersion(row pgx.CollectableRow) (document.Version, error) {
	var v document.Version
	err := row.Scan(&v.ID, &v.DocumentID, &v.CustomerID, &v.Number, &v.FileName, &v.DeclaredType,
		&v.ContentType, &v.Size, &v.SHA256, &v.CreatorID, &v.CreateTime)
	return v, err
}

const transitionColumns = `transition_id, document_id, from_state, to_state, principal_id, comment, create_time`

func scanTransition(row pgx.CollectableRow) (document.Transition, error) {
	var t document.Transition
	err := row.Scan(&t.ID, &t.DocumentID, &t.From, &t.To, &t.PrincipalID, &t.Comment, &t.CreateTime)
	return t, err
}

const shareLinkColumns = `share_link_id, document_id, customer_id, version, token_sha256, creator_id,
expire_time, revoke_time, create_time`

func scanShareLink(row pgx.CollectableRow) (document.ShareLink, error) {
	var l document.ShareLink
	err := row.Scan(&l.ID, &l.DocumentID, &l.CustomerID, &l.Version, &l.TokenHash, &l.CreatorID,
		&l.ExpireTime, &l.RevokeTime, &l.CreateTime)
	return l, err
}

const lockDocumentSQL = `SELECT ` + documentColumns + ` FROM documents
WHERE tenant_id = $1 AND customer_id = $2 AND document_id = $3 FOR UPDATE`

const shareDocumentSQL = `SELECT ` + documentColumns + ` FROM documents
WHERE tenant_id = $1 AND customer_id = $2 AND document_id = $3 FOR SHARE`

const lockCustomerForDocumentSQL = `SELECT delete_time FROM customers WHERE tenant_id = $1 AND customer_id = $2 FOR KEY SHARE`

const insertDocumentSQL = `
INSERT INTO documents (tenant_id, document_id, customer_id, title, description, state, create_time, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
RETURNING ` + documentColumns

const insertChunkSQL = `INSERT INTO document_chunks (tenant_id, version_id, seq, data) VALUES ($1, $2, $3, $4)`

const insertVersionSQL = `
INSERT INTO document_versions (tenant_id, version_id, document_id, customer_id, version, file_name,
    declared_content_type, content_type, size_bytes, sha256, creator_id, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, nullif($12, ''))
RETURNING ` + versionColumns

const setCurrentVersionSQL = `
UPDATE documents SET current_version = $3, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND document_id = $2
RETURNING ` + documentColumns

const versionByRequestSQL = `SELECT ` + versionColumns + ` FROM document_versions WHERE tenant_id = $1 AND request_id = $2`

const documentByIDSQL = `SELECT ` + documentColumns + ` FROM documents
WHERE tenant_id = $1 AND customer_id = $2 AND document_id = $3`

// Upload implements document.Store. The document's row is locked first, so
// its events keep their order (see pkg/outbox); the chunks follow as they
// arrive, and the version row, checked against them at commit, comes last.
func (s *Documents) Upload(ctx context.Context, caller auth.Caller, up document.Upload, newDoc document.Document, check func(document.Document) error, body *document.Body) (document.Document, document.Version, bool, error) {
	if up.RequestID != "" {
		d, v, err := s.uploadByRequest(ctx, caller, up.RequestID)
		if err == nil {
			return d, v, false, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return document.Document{}, document.Version{}, false, fmt.Errorf("upload document: %w", err)
		}
	}
	var d document.Document
	var v document.Version
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		if body.Started() {
			// The content cannot be read twice.
			return document.ErrUploadConflict
		}
		created := up.DocumentID == nil
		var err error
		if created {
			d, err = insertDocument(ctx, tx, caller, newDoc)
		} else {
			d, err = lockDocument(ctx, tx, lockDocumentSQL, caller, up.CustomerID, *up.DocumentID)
			if err == nil {
				err = check(d)
			}
		}
		if err != nil {
			return err
		}
		v = document.Version{ID: uuid.Must(uuid.NewV7()), DocumentID: d.ID, CustomerID: d.CustomerID,
			Number: d.CurrentVersion + 1, FileName: up.FileName, DeclaredType: up.DeclaredType, CreatorID: caller.PrincipalID}
		if err := copyChunks(ctx, tx, caller.TenantID, v.ID, body); err != nil {
			return err
		}
		if err := body.Describe(&v); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, insertVersionSQL, caller.TenantID, v.ID, v.DocumentID, v.CustomerID, v.Number,
			v.FileName, v.DeclaredType, v.ContentType, v.Size, v.SHA256, v.CreatorID, up.RequestID)
		if err != nil {
			return err
		}
		if v, err = pgx.CollectExactlyOneRow(rows, scanVersion); err != nil {
			return err
		}
		before := d
		if rows, err = tx.Query(ctx, setCurrentVersionSQL, caller.TenantID, d.ID, v.Number); err != nil {
			return err
		}
		if d, err = pgx.CollectExactlyOneRow(rows, scanDocument); err != nil {
			return err
		}
		if created {
			if err := outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
				Type: document.EventCreated, Resource: d.Resource(), After: protoconv.Document(d)}); err != nil {
				return err
			}
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: document.EventVersionAdded, Resource: v.Resource(), Before: protoconv.Document(before), After: protoconv.DocumentVersion(v)})
	})
	if _, constraint, ok := pgdb.Constraint(err); ok && constraint == "document_versions_request_id" {
		// A concurrent upload with the same request_id committed first.
		d, v, err := s.uploadByRequest(ctx, caller, up.RequestID)
		if err != nil {
			return document.Document{}, document.Version{}, false, fmt.Errorf("upload document: %w", err)
		}
		return d, v, false, nil
	}
	if err != nil {
		return document.Document{}, document.Version{}, false, fmt.Errorf("upload document: %w", err)
	}
	return d, v, true, nil
}

func (s *Documents) uploadByRequest(ctx context.Context, caller auth.Caller, requestID string) (document.Document, document.Version, error) {
	v, err := pgdb.Row(ctx, s.pool, caller.TenantID, versionByRequestSQL, []any{caller.TenantID, requestID}, scanVersion)
	if err != nil {
		return document.Document{}, document.Version{}, err
	}
	d, err := pgdb.Row(ctx, s.pool, caller.TenantID, documentByIDSQL, []any{caller.TenantID, v.CustomerID, v.DocumentID}, scanDocument)
	return d, v, err
}

func insertDocument(ctx context.Context, tx pgx.Tx, caller auth.Caller, d document.Document) (document.Document, error) {
	var deleted *time.Time
	err := tx.QueryRow(ctx, lockCustomerForDocumentSQL, caller.TenantID, d.CustomerID).Scan(&deleted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return document.Document{}, document.ErrCustomerNotFound
	case err != nil:
		return document.Document{}, err
	case deleted != nil:
		return document.Document{}, document.ErrCustomerDeleted
	}
	rows, err := tx.Query(ctx, insertDocumentSQL, caller.TenantID, d.ID, d.CustomerID, d.Title, d.Description, d.State, d.CreateTime)
	if err != nil {
		return document.Document{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanDocument)
}

func lockDocument(ctx context.Context, tx pgx.Tx, sql string, caller auth.Caller, customerID, id uuid.UUID) (document.Document, error) {
	rows, err := tx.Query(ctx, sql, caller.TenantID, customerID, id)
	if err != nil {
		return document.Document{}, err
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDocument)
	if errors.Is(err, pgx.ErrNoRows) {
		return document.Document{}, document.ErrNotFound
	}
	return d, err
}

// copyChunks writes body to version's chunk rows, chunkSize bytes each.
func copyChunks(ctx context.Context, tx pgx.Tx, tenant string, versionID uuid.UUID, body io.Reader) error {
	buf := make([]byte, chunkSize)
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(body, buf)
		if n > 0 {
			if _, werr := tx.Exec(ctx, insertChunkSQL, tenant, versionID, seq, buf[:n]); werr != nil {
				return werr
			}
		}
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		case err != nil:
			return err
		}
	}
}

// Get implements document.Store.
func (s *Documents) Get(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID) (document.Document, error) {
	d, err := pgdb.Row(ctx, s.pool, caller.TenantID, documentByIDSQL, []any{caller.TenantID, customerID, id}, scanDocument)
	if errors.Is(err, pgx.ErrNoRows) {
		return document.Document{}, document.ErrNotFound
	}
	if err != nil {
		return document.Document{}, fmt.Errorf("get document %s: %w", id, err)
	}
	return d, nil
}

// documentFilterFields are the fields ListDocuments filters on; each is
// served by an index that leads with (tenant_id, customer_id).
var documentFilterFields = map[string]sqlfilter.Field{
	"state":       {Column: "state", Kind: sqlfilter.Enum, Enum: customerv1.DocumentState_value},
	"create_time": {Column: "create_time", Kind: sqlfilter.Timestamp},
	"update_time": {Column: "update_time", Kind: sqlfilter.Timestamp},
}

// List implements document.Store: newest first, keyset-paginated on (create_time, document_id).
func (s *Documents) List(ctx context.Context, caller auth.Caller, q document.ListQuery) (document.Page, error) {
	cond, err := sqlfilter.Translate(q.Filter, documentFilterFields, 2)
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return document.Page{}, validation.Field("filter", "%s", fe.Reason)
		}
		return document.Page{}, err
	}
	args := append([]any{caller.TenantID, q.CustomerID}, cond.Args...)
	where := "tenant_id = $1 AND customer_id = $2 AND " + cond.SQL
	if !q.ShowDeleted {
		where += " AND delete_time IS NULL"
	}
	query := fmt.Sprintf("%s|%s|%t", q.CustomerID, q.Filter, q.ShowDeleted)
	if q.PageToken != "" {
		var cur cursor
		if err := pagetoken.Decode(q.PageToken, query, &cur); err != nil {
			return document.Page{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		args = append(args, cur.Time, cur.ID)
		where += fmt.Sprintf(" AND (create_time, document_id) < ($%d, $%d)", len(args)-1, len(args))
	}
	args = append(args, q.PageSize+1)
	sql := fmt.Sprintf("SELECT %s FROM documents WHERE %s ORDER BY create_time DESC, document_id DESC LIMIT $%d",
		documentColumns, where, len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scanDocument)
	if err != nil {
		return document.Page{}, fmt.Errorf("list documents: %w", err)
	}
	page := document.Page{Documents: rows}
	if len(rows) > q.PageSize {
		page.Documents = rows[:q.PageSize]
		last := page.Documents[q.PageSize-1]
		if page.NextPageToken, err = pagetoken.Encode(query, cursor{Time: last.CreateTime, ID: last.ID}); err != nil {
			return document.Page{}, err
		}
	}
	return page, nil
}

const saveDocumentSQL = `
UPDATE documents SET title = $3, description = $4, state = $5, delete_time = $6,
    revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND document_id = $2
RETURNING ` + documentColumns

const insertDocumentTransitionSQL = `
INSERT INTO document_transitions (tenant_id, transition_id, document_id, customer_id, from_state, to_state, principal_id, comment, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`

// Mutate implements document.Store. The row lock is the transaction's first write.
func (s *Documents) Mutate(ctx context.Context, caller auth.Caller, customerID, id uuid.UUID, m document.Mutation) (document.Document, error) {
	var saved document.Document
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockDocument(ctx, tx, lockDocumentSQL, caller, customerID, id)
		if err != nil {
			return err
		}
		d := before
		change, err := m(&d)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, saveDocumentSQL, caller.TenantID, id, d.Title, d.Description, d.State, d.DeleteTime)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanDocument); err != nil {
			return err
		}
		if t := change.Transition; t != nil {
			if _, err := tx.Exec(ctx, insertDocumentTransitionSQL, caller.TenantID, t.ID, t.DocumentID, saved.CustomerID,
				t.From, t.To, t.PrincipalID, t.Comment, t.CreateTime); err != nil {
				return err
			}
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: change.Event, Resource: saved.Resource(), Before: protoconv.Document(before), After: protoconv.Document(saved)})
	})
	if err != nil {
		return document.Document{}, fmt.Errorf("change document %s: %w", id, err)
	}
	return saved, nil
}

// childFields scope a child table's keyset list to one document; callers
// never filter these lists themselves.
var childFields = map[string]sqlfilter.Field{
	"customer_id": {Column: "customer_id", Kind: sqlfilter.UUID},
	"document_id": {Column: "document_id", Kind: sqlfilter.UUID},
}

func childFilter(q document.PageQuery) string {
	return fmt.Sprintf("customer_id = %q AND document_id = %q", q.CustomerID, q.DocumentID)
}

// Versions implements document.Store.
func (s *Documents) Versions(ctx context.Context, caller auth.Caller, q document.PageQuery) ([]document.Version, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, keyset.Query[document.Version]{
		Table: "document_versions", Columns: versionColumns, IDColumn: "version_id", Fields: childFields, Scan: scanVersion,
		Key: func(v document.Version) (time.Time, uuid.UUID) { return v.CreateTime, v.ID },
	}, childFilter(q), q.PageToken, q.PageSize)
}

// Transitions implements document.Store.
func (s *Documents) Transitions(ctx context.Context, caller auth.Caller, q document.PageQuery) ([]document.Transition, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, keyset.Query[document.Transition]{
		Table: "document_transitions", Columns: transitionColumns, IDColumn: "transition_id", Fields: childFields, Scan: scanTransition,
		Key: func(t document.Transition) (time.Time, uuid.UUID) { return t.CreateTime, t.ID },
	}, childFilter(q), q.PageToken, q.PageSize)
}

// ShareLinks implements document.Store.
func (s *Documents) ShareLinks(ctx context.Context, caller auth.Caller, q document.PageQuery) ([]document.ShareLink, string, error) {
	return keyset.NewestFirst(ctx, s.pool, caller.TenantID, keyset.Query[document.ShareLink]{
		Table: "document_share_links", Columns: shareLinkColumns, IDColumn: "share_link_id", Fields: childFields, Scan: scanShareLink,
		Key: func(l document.ShareLink) (time.Time, uuid.UUID) { return l.CreateTime, l.ID },
	}, childFilter(q), q.PageToken, q.PageSize)
}

const versionByNumberSQL = `
SELECT ` + versionColumns + ` FROM document_versions
WHERE tenant_id = $1 AND customer_id = $2 AND document_id = $3 AND version = CASE WHEN $4::integer = 0
    THEN (SELECT current_version FROM documents WHERE tenant_id = $1 AND document_id = $3) ELSE $4 END`

// Version implements document.Store.
func (s *Documents) Version(ctx context.Context, tenant string, customerID, documentID uuid.UUID, number int32) (document.Version, error) {
	v, err := pgdb.Row(ctx, s.pool, tenant, versionByNumberSQL, []any{tenant, customerID, documentID, number}, scanVersion)
	if errors.Is(err, pgx.ErrNoRows) {
		return document.Version{}, document.ErrVersionNotFound
	}
	if err != nil {
		return document.Version{}, fmt.Errorf("get version %d of document %s: %w", number, documentID, err)
	}
	return v, nil
}

const chunksSQL = `SELECT data FROM document_chunks WHERE tenant_id = $1 AND version_id = $2 AND seq >= $3 ORDER BY seq LIMIT $4`

// ReadContent implements document.Store, a few chunks per query so a
// download holds about a megabyte at a time. Chunks never change once
// committed, so the queries need no common snapshot.
func (s *Documents) ReadContent(ctx context.Context, tenant string, versionID uuid.UUID, write func([]byte) error) error {
	for seq := 0; ; {
		chunks, err := pgdb.Rows(ctx, s.pool, tenant, chunksSQL, []any{tenant, versionID, seq, readChunks}, pgx.RowTo[[]byte])
		if err != nil {
			return fmt.Errorf("read content of version %s: %w", versionID, err)
		}
		for _, c := range chunks {
			if err := write(c); err != nil {
				return err
			}
		}
		if len(chunks) < readChunks {
			return nil
		}
		seq += readChunks
	}
}

const insertShareLinkSQL = `
INSERT INTO document_share_links (tenant_id, share_link_id, document_id, customer_id, version, token_sha256,
    creator_id, request_id, expire_time, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), $9, $10)
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + shareLinkColumns

const shareLinkByRequestSQL = `SELECT ` + shareLinkColumns + ` FROM document_share_links WHERE tenant_id = $1 AND request_id = $2`

// CreateShareLink implements document.Store. The document is share-locked
// so it cannot leave PUBLISHED while the link is made.
func (s *Documents) CreateShareLink(ctx context.Context, caller auth.Caller, l document.ShareLink, requestID string, check func(document.Document) error) (document.ShareLink, bool, error) {
	var saved document.ShareLink
	created := false
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		d, err := lockDocument(ctx, tx, shareDocumentSQL, caller, l.CustomerID, l.DocumentID)
		if err != nil {
			return err
		}
		if requestID != "" {
			rows, err := tx.Query(ctx, shareLinkByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			saved, err = pgx.CollectExactlyOneRow(rows, scanShareLink)
			if err == nil {
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if err := check(d); err != nil {
			return err
		}
		saved, created, err = pgdb.InsertOnce(ctx, tx, insertShareLinkSQL,
			[]any{caller.TenantID, l.ID, l.DocumentID, l.CustomerID, l.Version, l.TokenHash, l.CreatorID, requestID, l.ExpireTime, l.CreateTime},
			shareLinkByRequestSQL, []any{caller.TenantID, requestID}, scanShareLink)
		if err != nil || !created {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: document.EventShared, Resource: saved.Resource(), After: protoconv.ShareLink(saved)})
	})
	if err != nil {
		return document.ShareLink{}, false, fmt.Errorf("share document %s: %w", l.DocumentID, err)
	}
	return saved, created, nil
}

const lockShareLinkSQL = `SELECT ` + shareLinkColumns + ` FROM document_share_links
WHERE tenant_id = $1 AND customer_id = $2 AND document_id = $3 AND share_link_id = $4 FOR UPDATE`

const revokeShareLinkSQL = `UPDATE document_share_links SET revoke_time = now()
WHERE tenant_id = $1 AND share_link_id = $2
RETURNING ` + shareLinkColumns

// RevokeShareLink implements document.Store.
func (s *Documents) RevokeShareLink(ctx context.Context, caller auth.Caller, customerID, documentID, id uuid.UUID) (document.ShareLink, error) {
	var saved document.ShareLink
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, lockShareLinkSQL, caller.TenantID, customerID, documentID, id)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanShareLink)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return document.ErrShareLinkNotFound
		case err != nil:
			return err
		case before.RevokeTime != nil:
			return document.ErrRevoked
		}
		if rows, err = tx.Query(ctx, revokeShareLinkSQL, caller.TenantID, id); err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanShareLink); err != nil {
			return err
		}
		return outbox.Record(ctx, tx, outbox.Change{TenantID: caller.TenantID, PrincipalID: caller.PrincipalID,
			Type: document.EventShareRevoked, Resource: saved.Resource(), Before: protoconv.ShareLink(before), After: protoconv.ShareLink(saved)})
	})
	if err != nil {
		return document.ShareLink{}, fmt.Errorf("revoke share link %s: %w", id, err)
	}
	return saved, nil
}

const shareLinkByIDSQL = `SELECT ` + shareLinkColumns + ` FROM document_share_links WHERE tenant_id = $1 AND share_link_id = $2`

// SharedDocument implements document.Store.
func (s *Documents) SharedDocument(ctx context.Context, tenant string, linkID uuid.UUID) (document.ShareLink, document.Document, error) {
	l, err := pgdb.Row(ctx, s.pool, tenant, shareLinkByIDSQL, []any{tenant, linkID}, scanShareLink)
	if errors.Is(err, pgx.ErrNoRows) {
		return document.ShareLink{}, document.Document{}, document.ErrShareLinkNotFound
	}
	if err != nil {
		return document.ShareLink{}, document.Document{}, fmt.Errorf("get share link %s: %w", linkID, err)
	}
	d, err := pgdb.Row(ctx, s.pool, tenant, documentByIDSQL, []any{tenant, l.CustomerID, l.DocumentID}, scanDocument)
	if errors.Is(err, pgx.ErrNoRows) {
		return document.ShareLink{}, document.Document{}, document.ErrNotFound
	}
	if err != nil {
		return document.ShareLink{}, document.Document{}, fmt.Errorf("get shared document %s: %w", l.DocumentID, err)
	}
	return l, d, nil
}
