-- +goose Up
-- Help-desk satisfaction of partners' customers, projected from other
-- services' event streams: the customer service's partner links (with the
-- time each held) and the ticket service's CSAT and NPS answers (with the
-- ticket's customer). Scorecards join an answer to the links that held at
-- its answer time, so the order in which the two streams arrive does not
-- matter. Each stream's checkpoint moves in the transaction that applies
-- its event.

-- channel_staff says whether the caller of the transaction is the service
-- acting for itself or one of the roles that see every partner: rows that
-- belong to no partner are theirs alone.
-- +goose StatementBegin
CREATE FUNCTION channel_staff() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('rapport.principal_id', true), '') = ''
        OR string_to_array(current_setting('rapport.roles', true), ',') && ARRAY['admin', 'sales_manager', 'sales_rep', 'analyst']
$$;
-- +goose StatementEnd

CREATE TABLE feed_checkpoints (
    tenant_id   uuid        NOT NULL,
    source      text        NOT NULL,
    cursor      text        NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, source)
);
ALTER TABLE feed_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE feed_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feed_checkpoints
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON feed_checkpoints AS RESTRICTIVE USING (channel_staff());

-- A link from its link time until it was removed (NULL: still held). The
-- partner is not a foreign key: links name partners the customer service
-- knows, and the projection must not stop on one this service lacks.
CREATE TABLE customer_partner_links (
    tenant_id   uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    partner_id  uuid        NOT NULL,
    link_time   timestamptz NOT NULL,
    unlink_time timestamptz,
    PRIMARY KEY (tenant_id, customer_id, partner_id, link_time),
    CHECK (unlink_time IS NULL OR unlink_time >= link_time)
);
-- Scorecards read a partner's links, then its customers' answers.
CREATE INDEX customer_partner_links_partner ON customer_partner_links (tenant_id, partner_id, customer_id);
ALTER TABLE customer_partner_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer_partner_links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customer_partner_links
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON customer_partner_links AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

-- Which customer raised a ticket, for the CSAT answers, which name only
-- the ticket.
CREATE TABLE ticket_customers (
    tenant_id   uuid NOT NULL,
    ticket_id   uuid NOT NULL,
    customer_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id)
);
ALTER TABLE ticket_customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_customers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_customers
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON ticket_customers AS RESTRICTIVE USING (channel_staff());

-- One answer per survey (CSAT: the survey; NPS: survey and customer). kind
-- 1 is CSAT (score 1–5), 2 NPS (0–10). A partner user sees the answers of
-- customers linked to a partner it may see (the links' own policy applies
-- inside this one).
CREATE TABLE help_desk_answers (
    tenant_id   uuid        NOT NULL,
    kind        smallint    NOT NULL CHECK (kind IN (1, 2)),
    answer_key  text        NOT NULL,
    customer_id uuid        NOT NULL,
    score       smallint    NOT NULL,
    answer_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, kind, answer_key)
);
CREATE INDEX help_desk_answers_customer ON help_desk_answers (tenant_id, customer_id, answer_time);
ALTER TABLE help_desk_answers ENABLE ROW LEVEL SECURITY;
ALTER TABLE help_desk_answers FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON help_desk_answers
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON help_desk_answers AS RESTRICTIVE USING (
    channel_staff() OR EXISTS (SELECT 1 FROM customer_partner_links l
                               WHERE l.tenant_id = help_desk_answers.tenant_id AND l.customer_id = help_desk_answers.customer_id));

GRANT SELECT, INSERT, UPDATE ON feed_checkpoints, customer_partner_links, ticket_customers, help_desk_answers TO rapport_partner;

-- +goose Down
DROP TABLE help_desk_answers;
DROP TABLE ticket_customers;
DROP TABLE customer_partner_links;
DROP TABLE feed_checkpoints;
DROP FUNCTION channel_staff();
