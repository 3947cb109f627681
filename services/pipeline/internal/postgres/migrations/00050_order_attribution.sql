-- Orders name the opportunity they fulfil, the partner their revenue is
-- attributed to and the quote they were accepted from; lines carry the
-- discount a quote granted.

-- +goose Up
ALTER TABLE orders
    ADD COLUMN opportunity_id    uuid,
    ADD COLUMN source_partner_id uuid,
    ADD COLUMN quote_id          uuid,
    ADD FOREIGN KEY (tenant_id, opportunity_id) REFERENCES opportunities;
-- One order per quote: a repeated or concurrent accept finds the first.
CREATE UNIQUE INDEX orders_quote ON orders (tenant_id, quote_id) WHERE quote_id IS NOT NULL;
-- Filters followed by the list's order (latest order_time first); the
-- partner service reads a partner's orders in a period through the second.
CREATE INDEX orders_opportunity ON orders (tenant_id, opportunity_id, order_time, order_id) WHERE opportunity_id IS NOT NULL;
CREATE INDEX orders_source_partner ON orders (tenant_id, source_partner_id, order_time, order_id) WHERE source_partner_id IS NOT NULL;

ALTER TABLE order_lines ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0);

-- +goose Down
ALTER TABLE order_lines DROP COLUMN discount_minor;
ALTER TABLE orders DROP COLUMN quote_id, DROP COLUMN source_partner_id, DROP COLUMN opportunity_id;
