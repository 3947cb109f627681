package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Redaction counts what Redact rewrote.
type Redaction struct {
	Events, AuditEntries int64
}

const redactEventsSQL = `
SELECT txid::text, seq, payload_type, payload FROM outbox
WHERE tenant_id = $1 AND (resource = $2 OR starts_with(resource, $2 || '/'))
FOR UPDATE`

const redactEventSQL = `UPDATE outbox SET payload = $4 WHERE tenant_id = $1 AND txid = $2::text::xid8 AND seq = $3`

const redactAuditSQL = `
SELECT audit_id, before, after FROM audit_log
WHERE tenant_id = $1 AND (resource = $2 OR starts_with(resource, $2 || '/'))
FOR UPDATE`

const redactAuditRowSQL = `UPDATE audit_log SET before = $3, after = $4 WHERE tenant_id = $1 AND audit_id = $2`

// Redact rewrites, in tx, every event and audit row about resource and the
// resources under it so that they keep their shape, ids, enum values,
// numbers and times but no other text: what erasing a person requires of an
// otherwise append-only history. Event payloads stay decodable as their
// type, so consumers replaying the stream keep working.
func Redact(ctx context.Context, tx pgx.Tx, tenant, resource string) (Redaction, error) {
	var out Redaction
	rows, err := tx.Query(ctx, redactEventsSQL, tenant, resource)
	if err != nil {
		return out, fmt.Errorf("read events to redact: %w", err)
	}
	type event struct {
		txid    string
		seq     int64
		typ     string
		payload []byte
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (event, error) {
		var e event
		return e, r.Scan(&e.txid, &e.seq, &e.typ, &e.payload)
	})
	if err != nil {
		return out, fmt.Errorf("read events to redact: %w", err)
	}
	for _, e := range events {
		payload, err := redactPayload(e.typ, e.payload)
		if err != nil {
			return out, err
		}
		if _, err := tx.Exec(ctx, redactEventSQL, tenant, e.txid, e.seq, payload); err != nil {
			return out, fmt.Errorf("redact event: %w", err)
		}
		out.Events++
	}
	rows, err = tx.Query(ctx, redactAuditSQL, tenant, resource)
	if err != nil {
		return out, fmt.Errorf("read audit rows to redact: %w", err)
	}
	type audit struct {
		id            string
		before, after []byte
	}
	audits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit, error) {
		var a audit
		return a, r.Scan(&a.id, &a.before, &a.after)
	})
	if err != nil {
		return out, fmt.Errorf("read audit rows to redact: %w", err)
	}
	for _, a := range audits {
		before, err := redactJSON(a.before)
		if err != nil {
			return out, err
		}
		after, err := redactJSON(a.after)
		if err != nil {
			return out, err
		}
		if _, err := tx.Exec(ctx, redactAuditRowSQL, tenant, a.id, before, after); err != nil {
			return out, fmt.Errorf("redact audit row: %w", err)
		}
		out.AuditEntries++
	}
	return out, nil
}

// redactPayload decodes a payload by its type name, blanks its text and
// encodes it again.
func redactPayload(typ string, payload []byte) ([]byte, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(typ))
	if err != nil {
		return nil, fmt.Errorf("redact %s: unknown payload type: %w", typ, err)
	}
	m := mt.New()
	if err := proto.Unmarshal(payload, m.Interface()); err != nil {
		return nil, fmt.Errorf("redact %s: %w", typ, err)
	}
	redactMessage(m)
	return proto.Marshal(m.Interface())
}

// kept says whether a field survives redaction as it is: identifiers
// (names ending in _id or _ids) and non-text values.
func kept(fd protoreflect.FieldDescriptor) bool {
	name := string(fd.Name())
	return strings.HasSuffix(name, "_id") || strings.HasSuffix(name, "_ids")
}

func redactMessage(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case kept(fd):
		case fd.IsMap():
			// Map values are free-form (custom attributes, labels): all go.
			m.Clear(fd)
		case fd.Kind() == protoreflect.StringKind || fd.Kind() == protoreflect.BytesKind:
			m.Clear(fd)
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			if fd.IsList() {
				l := v.List()
				for i := range l.Len() {
					redactMessage(l.Get(i).Message())
				}
			} else {
				redactMessage(v.Message())
			}
		}
		return true
	})
}

// enumLike matches protojson's rendering of enum values ("CUSTOMER_KIND_PERSON").
var enumLike = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// timeLike matches protojson's rendering of timestamps and durations.
var timeLike = regexp.MustCompile(`^(\d{4}-\d\d-\d\dT[0-9:.]+Z|-?\d+(\.\d+)?s)$`)

// redactJSON applies the same rule to an audit row's protojson: strings
// stay only under id keys or when they are enum values, times or numbers
// (protojson writes 64-bit integers as strings).
func redactJSON(doc []byte) ([]byte, error) {
	if doc == nil {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("redact audit row: %w", err)
	}
	return json.Marshal(redactValue("", v))
}

var digits = regexp.MustCompile(`^-?\d+$`)

func redactValue(key string, v any) any {
	idKey := strings.HasSuffix(key, "Id") || strings.HasSuffix(key, "Ids") || strings.HasSuffix(key, "_id")
	switch t := v.(type) {
	case map[string]any:
		if strings.HasSuffix(key, "Attributes") {
			// Free-form maps (custom attributes): keys and values both go.
			return map[string]any{}
		}
		for k, x := range t {
			t[k] = redactValue(k, x)
		}
		return t
	case []any:
		out := make([]any, 0, len(t))
		for _, x := range t {
			if r := redactValue(key, x); r != "" {
				out = append(out, r)
			}
		}
		return out
	case string:
		if idKey || enumLike.MatchString(t) || timeLike.MatchString(t) || digits.MatchString(t) {
			return t
		}
		return ""
	}
	return v
}
