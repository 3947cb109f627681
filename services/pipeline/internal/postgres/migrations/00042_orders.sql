-- Orders (the customers' transaction history: sales, returns, adjustments)
-- with their lines, dated exchange rates, and each tenant's reporting
-- currency.

-- +goose Up
CREATE TABLE orders (
    tenant_id         uuid        NOT NULL,
    order_id          uuid        NOT NULL,
    order_number      text,
    kind              smallint    NOT NULL CHECK (kind BETWEEN 1 AND 3),
    status            smallint    NOT NULL CHECK (status BETWEEN 1 AND 2),
    customer_id       uuid,
    currency_code     text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    adjustment_minor  bigint      NOT NULL DEFAULT 0,
    -- Signed: sales positive, returns negative, adjustments as given.
    total_minor       bigint      NOT NULL,
    order_time        timestamptz NOT NULL,
    country           text        NOT NULL DEFAULT '',
    original_order_id uuid,
    cancel_time       timestamptz,
    cancel_reason     text        NOT NULL DEFAULT '',
    external_id       text        NOT NULL DEFAULT '',
    request_id        text,
    revision          bigint      NOT NULL DEFAULT 1,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, order_id),
    FOREIGN KEY (tenant_id, original_order_id) REFERENCES orders,
    CONSTRAINT orders_cancelled CHECK ((status = 2) = (cancel_time IS NOT NULL)),
    CONSTRAINT orders_adjustment CHECK ((kind = 3) = (adjustment_minor <> 0))
);
CREATE UNIQUE INDEX orders_number ON orders (tenant_id, order_number) WHERE order_number IS NOT NULL;
CREATE UNIQUE INDEX orders_request_id ON orders (tenant_id, request_id) WHERE request_id IS NOT NULL;
-- Keyset pagination (latest order first), and each filter followed by it.
CREATE INDEX orders_order_time ON orders (tenant_id, order_time, order_id);
CREATE INDEX orders_customer ON orders (tenant_id, customer_id, order_time, order_id) WHERE customer_id IS NOT NULL;
CREATE INDEX orders_kind ON orders (tenant_id, kind, order_time, order_id);
CREATE INDEX orders_status ON orders (tenant_id, status, order_time, order_id);

CREATE TABLE order_lines (
    tenant_id        uuid    NOT NULL,
    order_id         uuid    NOT NULL,
    position         integer NOT NULL,
    product_id       uuid    NOT NULL,
    quantity         bigint  NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint  NOT NULL CHECK (unit_price_minor >= 0),
    total_minor      bigint  NOT NULL CHECK (total_minor >= 0),
    description      text    NOT NULL DEFAULT '',
    PRIMARY KEY (tenant_id, order_id, position),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products
);
CREATE INDEX order_lines_product ON order_lines (tenant_id, product_id);

-- 1 base_currency = rate quote_currency from rate_date on; the primary key
-- serves "the rate on a date" as one backward index probe.
CREATE TABLE exchange_rates (
    tenant_id      uuid           NOT NULL,
    base_currency  text           NOT NULL CHECK (base_currency ~ '^[A-Z]{3}$'),
    quote_currency text           NOT NULL CHECK (quote_currency ~ '^[A-Z]{3}$' AND quote_currency <> base_currency),
    rate_date      date           NOT NULL,
    rate           numeric(30, 12) NOT NULL CHECK (rate > 0),
    update_time    timestamptz    NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, base_currency, quote_currency, rate_date)
);

CREATE TABLE reporting_settings (
    tenant_id          uuid        NOT NULL,
    reporting_currency text        NOT NULL CHECK (reporting_currency ~ '^[A-Z]{3}$'),
    revision           bigint      NOT NULL DEFAULT 1,
    update_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);

ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orders
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE order_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE order_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON order_lines
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE exchange_rates ENABLE ROW LEVEL SECURITY;
ALTER TABLE exchange_rates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exchange_rates
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE reporting_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE reporting_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reporting_settings
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- Orders are cancelled, never removed; lines are written once with their order.
GRANT SELECT, INSERT, UPDATE ON orders, exchange_rates, reporting_settings TO rapport_pipeline;
GRANT SELECT, INSERT ON order_lines TO rapport_pipeline;

-- +goose Down
DROP TABLE order_lines, orders, exchange_rates, reporting_settings;
