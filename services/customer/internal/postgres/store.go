// Package postgres stores the customer service's data in PostgreSQL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/outbox"
	"github.com/rapportcrm/rapport/pkg/pagetoken"
	"github.com/rapportcrm/rapport/pkg/pgdb"
	"github.com/rapportcrm/rapport/pkg/sqlfilter"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/customer"
	"github.com/rapportcrm/rapport/services/customer/internal/protoconv"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations are the service's goose migrations.
var Migrations, _ = fs.Sub(migrationFiles, "migrations")

// Role is the database role the service connects as.
const Role = "rapport_customer"

// Store implements customer.Store, profile.Store and identity.Store.
type Store struct{ pool *pgxpool.Pool }

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const customerColumns = `customer_id, kind, display_name, email, phone, lifecycle_stage, industry,
country_code, owner_id, tags, external_id, source_channel, custom_attributes, create_time, update_time, delete_time, revision, merged_into,
last_interaction_time`

// customerFields are the scan destinations of customerColumns in c.
func customerFields(c *customer.Customer) []any {
	return []any{&c.ID, &c.Kind, &c.DisplayName, &c.Email, &c.Phone, &c.Stage, &c.Industry,
		&c.CountryCode, &c.OwnerID, &c.Tags, &c.ExternalID, &c.SourceChannel, &c.CustomAttributes, &c.CreateTime, &c.UpdateTime, &c.DeleteTime, &c.Revision, &c.MergedInto,
		&c.LastInteractionTime}
}

func scanCustomer(row pgx.CollectableRow) (customer.Customer, error) {
	var c customer.Customer
	err := row.Scan(customerFields(&c)...)
	return c, err
}

const insertCustomerSQL = `
INSERT INTO customers (tenant_id, customer_id, kind, display_name, email, phone, lifecycle_stage,
    industry, country_code, owner_id, tags, external_id, source_channel, custom_attributes, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, nullif($15, ''))
ON CONFLICT (tenant_id, request_id) WHERE request_id IS NOT NULL DO NOTHING
RETURNING ` + customerColumns

const customerByRequestSQL = `SELECT ` + customerColumns + ` FROM customers WHERE tenant_id = $1 AND request_id = $2`

// Create implements customer.Store.
func (s *Store) Create(ctx context.Context, caller auth.Caller, c customer.Customer, requestID string) (customer.Customer, bool, error) {
	var saved customer.Customer
	created := false
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, insertCustomerSQL, caller.TenantID, c.ID, c.Kind, c.DisplayName, c.Email, c.Phone,
			c.Stage, c.Industry, c.CountryCode, c.OwnerID, c.Tags, c.ExternalID, c.SourceChannel, attributesOrEmpty(c.CustomAttributes), requestID)
		if err != nil {
			return err
		}
		saved, err = pgx.CollectExactlyOneRow(rows, scanCustomer)
		if errors.Is(err, pgx.ErrNoRows) {
			// An earlier request with this request_id won; return its result.
			rows, err := tx.Query(ctx, customerByRequestSQL, caller.TenantID, requestID)
			if err != nil {
				return err
			}
			saved, err = pgx.CollectExactlyOneRow(rows, scanCustomer)
			return err
		}
		if err != nil {
			return err
		}
		created = true
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: customer.EventCreated,
			Resource: saved.Resource(), After: protoconv.Customer(saved),
		}); err != nil {
			return err
		}
		if err := adoptCustomerContacts(ctx, tx, caller, nil, saved); err != nil {
			return err
		}
		if err := rebuildSearch(ctx, tx, caller.TenantID, saved.ID); err != nil {
			return err
		}
		return afterCustomerWrite(ctx, tx, caller, nil, saved, "")
	})
	if err != nil {
		return customer.Customer{}, false, fmt.Errorf("create customer: %w", err)
	}
	return saved, created, nil
}

const customerByIDSQL = `SELECT ` + customerColumns + ` FROM customers WHERE tenant_id = $1 AND customer_id = $2`

// Get implements customer.Store.
func (s *Store) Get(ctx context.Context, caller auth.Caller, id uuid.UUID) (customer.Customer, error) {
	c, err := pgdb.Row(ctx, s.pool, caller.TenantID, customerByIDSQL, []any{caller.TenantID, id}, scanCustomer)
	if errors.Is(err, pgx.ErrNoRows) {
		return customer.Customer{}, customer.ErrNotFound
	}
	if err != nil {
		return customer.Customer{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	return c, nil
}

// filterFields are the fields ListCustomers filters on, each backed by an index.
var filterFields = map[string]sqlfilter.Field{
	"display_name":    {Column: "display_name", Kind: sqlfilter.String},
	"email":           {Column: "email_lower", Kind: sqlfilter.Lowercase},
	"phone":           {Column: "phone", Kind: sqlfilter.String},
	"kind":            {Column: "kind", Kind: sqlfilter.Enum, Enum: customerv1.CustomerKind_value},
	"lifecycle_stage": {Column: "lifecycle_stage", Kind: sqlfilter.Enum, Enum: customerv1.LifecycleStage_value},
	"industry":        {Column: "industry", Kind: sqlfilter.String},
	"country_code":    {Column: "country_code", Kind: sqlfilter.String},
	"owner_id":        {Column: "owner_id", Kind: sqlfilter.UUID},
	"external_id":     {Column: "external_id", Kind: sqlfilter.String},
	"tags":            {Column: "tags", Kind: sqlfilter.StringArray},
	"create_time":     {Column: "create_time", Kind: sqlfilter.Timestamp},
	"update_time":     {Column: "update_time", Kind: sqlfilter.Timestamp},
	"source_channel":  {Column: "source_channel", Kind: sqlfilter.String},
	// A comparison never matches a customer nobody contacted (SQL NULL):
	// "contacted = false" selects those.
	"last_interaction_time": {Column: "last_interaction_time", Kind: sqlfilter.Timestamp},
	"contacted":             {Column: "(last_interaction_time IS NOT NULL)", Kind: sqlfilter.Bool},
}

// attributesOrEmpty keeps the custom_attributes column a JSON object, never null.
func attributesOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// cursor is the keyset position after the last row of a page.
type cursor struct {
	Text string    `json:"s,omitempty"`
	Time time.Time `json:"t,omitzero"`
	ID   uuid.UUID `json:"i"`
}

// List implements customer.Store with keyset pagination on (order column, id).
func (s *Store) List(ctx context.Context, caller auth.Caller, q customer.ListQuery) (customer.Page, error) {
	ord := customer.OrderingOf(q.OrderBy)
	cond, err := sqlfilter.Translate(q.Filter, filterFields, 1)
	if err != nil {
		var fe *sqlfilter.Error
		if errors.As(err, &fe) {
			return customer.Page{}, validation.Field("filter", "%s", fe.Reason)
		}
		return customer.Page{}, err
	}
	args := append([]any{caller.TenantID}, cond.Args...)
	where := "tenant_id = $1 AND " + cond.SQL
	if !q.ShowDeleted {
		where += " AND delete_time IS NULL"
	}
	query := fmt.Sprintf("%s|%s|%t", q.Filter, q.OrderBy, q.ShowDeleted)
	cmp, dir := ">", "ASC"
	if ord.Desc {
		cmp, dir = "<", "DESC"
	}
	if q.PageToken != "" {
		var cur cursor
		if err := pagetoken.Decode(q.PageToken, query, &cur); err != nil {
			return customer.Page{}, validation.Field("page_token", "is not a token from this query; start again without it")
		}
		var key any = cur.Time
		switch {
		case ord.Column == "display_name":
			key = cur.Text
		case ord.Column == customer.LastInteractionOrder && cur.Time.IsZero():
			key = pgtype.Timestamptz{Valid: true, InfinityModifier: pgtype.NegativeInfinity}
		}
		args = append(args, key, cur.ID)
		where += fmt.Sprintf(" AND (%s, customer_id) %s ($%d, $%d)", ord.Column, cmp, len(args)-1, len(args))
	}
	args = append(args, q.PageSize+1)
	sql := fmt.Sprintf("SELECT %s FROM customers WHERE %s ORDER BY %s %s, customer_id %s LIMIT $%d",
		customerColumns, where, ord.Column, dir, dir, len(args))
	rows, err := pgdb.Rows(ctx, s.pool, caller.TenantID, sql, args, scanCustomer)
	if err != nil {
		return customer.Page{}, fmt.Errorf("list customers: %w", err)
	}
	page := customer.Page{Customers: rows}
	if len(rows) > q.PageSize {
		page.Customers = rows[:q.PageSize]
		last := page.Customers[q.PageSize-1]
		cur := cursor{ID: last.ID}
		switch ord.Column {
		case "display_name":
			cur.Text = last.DisplayName
		case "update_time":
			cur.Time = last.UpdateTime
		case customer.LastInteractionOrder:
			if last.LastInteractionTime != nil {
				cur.Time = *last.LastInteractionTime
			}
		default:
			cur.Time = last.CreateTime
		}
		if page.NextPageToken, err = pagetoken.Encode(query, cur); err != nil {
			return customer.Page{}, err
		}
	}
	return page, nil
}

const lockCustomerSQL = `SELECT ` + customerColumns + ` FROM customers WHERE tenant_id = $1 AND customer_id = $2 FOR UPDATE`

const saveCustomerSQL = `
UPDATE customers SET kind = $3, display_name = $4, email = $5, phone = $6, lifecycle_stage = $7,
    industry = $8, country_code = $9, owner_id = $10, tags = $11, external_id = $12, delete_time = $13,
    source_channel = $14, custom_attributes = $15, revision = revision + 1, update_time = now()
WHERE tenant_id = $1 AND customer_id = $2
RETURNING ` + customerColumns

func lockCustomer(ctx context.Context, tx pgx.Tx, caller auth.Caller, id uuid.UUID) (customer.Customer, error) {
	rows, err := tx.Query(ctx, lockCustomerSQL, caller.TenantID, id)
	if err != nil {
		return customer.Customer{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCustomer)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, customer.ErrNotFound
	}
	return c, err
}

// Mutate implements customer.Store.
func (s *Store) Mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m customer.Mutation) (customer.Customer, error) {
	return s.mutate(ctx, caller, id, m, "")
}

// mutate applies m to the locked customer; reason goes to the stage log if
// the stage changes. The row lock is the transaction's first write, which
// keeps the customer's events in order (see pkg/outbox).
func (s *Store) mutate(ctx context.Context, caller auth.Caller, id uuid.UUID, m customer.Mutation, reason string) (customer.Customer, error) {
	var saved customer.Customer
	err := pgdb.InTx(ctx, s.pool, caller.TenantID, func(tx pgx.Tx) error {
		before, err := lockCustomer(ctx, tx, caller, id)
		if err != nil {
			return err
		}
		c := before
		c.Tags = append([]string{}, before.Tags...)
		c.CustomAttributes = maps.Clone(before.CustomAttributes)
		eventType, err := m(&c)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, saveCustomerSQL, caller.TenantID, id, c.Kind, c.DisplayName, c.Email, c.Phone, c.Stage,
			c.Industry, c.CountryCode, c.OwnerID, c.Tags, c.ExternalID, c.DeleteTime, c.SourceChannel, attributesOrEmpty(c.CustomAttributes))
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanCustomer); err != nil {
			return err
		}
		if err := outbox.Record(ctx, tx, outbox.Change{
			TenantID: caller.TenantID, PrincipalID: caller.PrincipalID, Type: eventType,
			Resource: saved.Resource(), Before: protoconv.Customer(before), After: protoconv.Customer(saved),
		}); err != nil {
			return err
		}
		if err := adoptCustomerContacts(ctx, tx, caller, &before, saved); err != nil {
			return err
		}
		if err := rebuildSearch(ctx, tx, caller.TenantID, id); err != nil {
			return err
		}
		return afterCustomerWrite(ctx, tx, caller, &before, saved, reason)
	})
	if err != nil {
		return customer.Customer{}, fmt.Errorf("change customer %s: %w", id, err)
	}
	return saved, nil
}
