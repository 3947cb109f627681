-- Quotes: priced offers to a customer, in versions, that become orders.

-- +goose Up
CREATE TABLE quotes (
    tenant_id      uuid        NOT NULL,
    quote_id       uuid        NOT NULL,
    -- The first version's id; versions of one quote share it.
    root_quote_id  uuid        NOT NULL,
    version        integer     NOT NULL CHECK (version >= 1),
    customer_id    uuid        NOT NULL,
    opportunity_id uuid,
    price_list_id  uuid        NOT NULL,
    currency_code  text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    total_minor    bigint      NOT NULL CHECK (total_minor >= 0),
    valid_until    date        NOT NULL,
    -- 1 draft, 2 sent, 3 accepted, 4 rejected, 5 expired.
    status         smallint    NOT NULL CHECK (status BETWEEN 1 AND 5),
    notes          text        NOT NULL DEFAULT '',
    send_time      timestamptz,
    decision_time  timestamptz,
    reject_reason  text        NOT NULL DEFAULT '',
    order_id       uuid,
    request_id     text,
    revision       bigint      NOT NULL DEFAULT 1,
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now(),
    delete_time    timestamptz,
    PRIMARY KEY (tenant_id, quote_id),
    FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities,
    FOREIGN KEY (tenant_id, price_list_id) REFERENCES price_lists,
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders,
    CONSTRAINT quotes_deleted_draft CHECK (delete_time IS NULL OR status = 1),
    CONSTRAINT quotes_accepted_order CHECK ((status = 3) = (order_id IS NOT NULL))
);
CREATE UNIQUE INDEX quotes_version ON quotes (tenant_id, root_quote_id, version);
CREATE UNIQUE INDEX quotes_request_id ON quotes (tenant_id, request_id) WHERE request_id IS NOT NULL;
-- Keyset pagination (newest first), and each filter followed by it.
CREATE INDEX quotes_create_time ON quotes (tenant_id, create_time, quote_id);
CREATE INDEX quotes_customer ON quotes (tenant_id, customer_id, create_time, quote_id);
CREATE INDEX quotes_opportunity ON quotes (tenant_id, opportunity_id, create_time, quote_id) WHERE opportunity_id IS NOT NULL;
CREATE INDEX quotes_root ON quotes (tenant_id, root_quote_id, create_time, quote_id);
CREATE INDEX quotes_status ON quotes (tenant_id, status, create_time, quote_id);

CREATE TABLE quote_lines (
    tenant_id        uuid    NOT NULL,
    quote_id         uuid    NOT NULL,
    position         integer NOT NULL,
    product_id       uuid    NOT NULL,
    quantity         bigint  NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL CHECK (unit_price_minor >= 0),
    price_overridden boolean NOT NULL,
    discount_bps     integer NOT NULL CHECK (discount_bps BETWEEN 0 AND 10000),
    total_minor      bigint  NOT NULL CHECK (total_minor >= 0),
    description      text    NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, quote_id, position),
    FOREIGN KEY (tenant_id, quote_id) REFERENCES quotes,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products
);
CREATE INDEX quote_lines_product ON quote_lines (tenant_id, product_id);

ALTER TABLE quotes ENABLE ROW LEVEL SECURITY;
ALTER TABLE quotes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quotes
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE quote_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE quote_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quote_lines
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Quotes are soft-deleted, never removed; a draft's lines are replaced.
GRANT SELECT, INSERT, UPDATE ON quotes TO rapport_pipeline;
GRANT SELECT, INSERT, DELETE ON quote_lines TO rapport_pipeline;

-- +goose Down
DROP TABLE quote_lines, quotes;
