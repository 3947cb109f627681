-- +goose Up
-- Money figures in the tenant's reporting currency: the pipeline service's
-- exchange rates and reporting settings, projected from its events
-- ("exchange_rates.loaded", "reporting_settings.updated").

-- One row per rate the pipeline service holds: units of quote_currency per
-- unit of base_currency from rate_date on. A later load of the same key
-- overwrites it, as it does there.
CREATE TABLE exchange_rate (
    tenant_id      uuid    NOT NULL,
    base_currency  text    NOT NULL,
    quote_currency text    NOT NULL,
    rate_date      date    NOT NULL,
    rate           numeric NOT NULL CHECK (rate > 0),
    PRIMARY KEY (tenant_id, base_currency, quote_currency, rate_date)
);

-- The tenant's reporting currency; update_time orders the settings events.
CREATE TABLE reporting_setting (
    tenant_id          uuid        NOT NULL,
    reporting_currency text        NOT NULL,
    update_time        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id)
);

ALTER TABLE exchange_rate ENABLE ROW LEVEL SECURITY;
ALTER TABLE exchange_rate FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON exchange_rate
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE reporting_setting ENABLE ROW LEVEL SECURITY;
ALTER TABLE reporting_setting FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON reporting_setting
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- currency_scale is the number of decimals of a currency's minor unit
-- (ISO 4217): none for the currencies listed first, three for the second
-- list, two for every other code, as the pipeline service counts them.
CREATE FUNCTION currency_scale(code text) RETURNS int
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN code IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'UYI', 'VND', 'VUV',
                  'XAF', 'XOF', 'XPF') THEN 0
    WHEN code IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3
    ELSE 2 END
$$;

-- fx_convert converts amount minor units of from_code into minor units of
-- to_code on day: unchanged when the codes are equal; otherwise at the
-- latest rate of the pair dated on or before day, quoted either way round
-- (the later dated wins, the direct quote on a tie), rounded half away from
-- zero. NULL when there is no such rate (or no day). It reads the rates
-- under the caller's row-level security, so only the tenant's own.
CREATE FUNCTION fx_convert(tenant uuid, amount bigint, from_code text, to_code text, day date) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT CASE WHEN from_code = to_code THEN amount ELSE (
    SELECT CASE WHEN x.inverse
        THEN round(amount * power(10::numeric, currency_scale(to_code) - currency_scale(from_code)) / x.rate)
        ELSE round(amount * x.rate * power(10::numeric, currency_scale(to_code) - currency_scale(from_code))) END::bigint
    FROM (
        (SELECT r.rate, r.rate_date, false AS inverse FROM exchange_rate r
         WHERE r.tenant_id = tenant AND r.base_currency = from_code AND r.quote_currency = to_code AND r.rate_date <= day
         ORDER BY r.rate_date DESC LIMIT 1)
        UNION ALL
        (SELECT r.rate, r.rate_date, true FROM exchange_rate r
         WHERE r.tenant_id = tenant AND r.base_currency = to_code AND r.quote_currency = from_code AND r.rate_date <= day
         ORDER BY r.rate_date DESC LIMIT 1)
    ) x ORDER BY x.rate_date DESC, x.inverse LIMIT 1) END
$$;

GRANT SELECT, INSERT, UPDATE ON exchange_rate, reporting_setting TO rapport_analytics;

-- +goose Down
DROP FUNCTION fx_convert(uuid, bigint, text, text, date);
DROP FUNCTION currency_scale(text);
DROP TABLE reporting_setting, exchange_rate;
