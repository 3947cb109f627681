-- +goose Up
-- Partners' sell-through (point-of-sale) reports. The lines are read and
-- written with their report, so they are kept with it; the sums scorecards
-- need are columns. Partner users submit and read only their own partner's
-- reports and its sub-partners': the partner_access policy is also the
-- WITH CHECK of their inserts.

CREATE TABLE sell_through_reports (
    tenant_id              uuid        NOT NULL,
    sell_through_report_id uuid        NOT NULL,
    partner_id             uuid        NOT NULL,
    period_start           date        NOT NULL,
    period_end             date        NOT NULL,
    currency_code          text        NOT NULL,
    lines                  jsonb       NOT NULL,
    line_count             integer     NOT NULL,
    total_units            bigint      NOT NULL,
    total_revenue_minor    bigint      NOT NULL,
    satisfaction_sum       bigint      NOT NULL DEFAULT 0,
    satisfaction_count     bigint      NOT NULL DEFAULT 0,
    external_id            text        NOT NULL DEFAULT '',
    submitted_by           text        NOT NULL,
    request_id             text,
    create_time            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, sell_through_report_id),
    FOREIGN KEY (tenant_id, partner_id) REFERENCES partners (tenant_id, partner_id),
    CHECK (period_end > period_start)
);
-- A partner reports a period once per currency.
CREATE UNIQUE INDEX sell_through_reports_period ON sell_through_reports (tenant_id, partner_id, period_start, period_end, currency_code);
-- Keyset pagination (newest first) and the partner filter; scorecards read
-- a partner's reports by period start through sell_through_reports_period.
CREATE INDEX sell_through_reports_create_time ON sell_through_reports (tenant_id, create_time, sell_through_report_id);
CREATE INDEX sell_through_reports_partner ON sell_through_reports (tenant_id, partner_id, create_time, sell_through_report_id);
CREATE UNIQUE INDEX sell_through_reports_request_id ON sell_through_reports (tenant_id, request_id) WHERE request_id IS NOT NULL;
ALTER TABLE sell_through_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE sell_through_reports FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sell_through_reports
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
CREATE POLICY partner_access ON sell_through_reports AS RESTRICTIVE USING (partner_visible(tenant_id, partner_id));

GRANT SELECT, INSERT ON sell_through_reports TO rapport_partner;

-- +goose Down
DROP TABLE sell_through_reports;
