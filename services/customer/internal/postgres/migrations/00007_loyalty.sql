-- +goose Up
-- Loyalty: programs and tiers, a double-entry points ledger (member and
-- program accounts, transactions whose entries sum to zero), lots of
-- earned points with their expiry, and tier history.

CREATE TABLE loyalty_programs (
    tenant_id     uuid        NOT NULL,
    program_id    uuid        NOT NULL,
    display_name  text        NOT NULL,
    expiry_months integer     NOT NULL DEFAULT 0,
    active        boolean     NOT NULL DEFAULT true,
    request_id    text,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    revision      bigint      NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, program_id)
);
CREATE INDEX loyalty_programs_name ON loyalty_programs (tenant_id, display_name);
CREATE UNIQUE INDEX loyalty_programs_request_id ON loyalty_programs (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE loyalty_tiers (
    tenant_id        uuid        NOT NULL,
    tier_id          uuid        NOT NULL,
    program_id       uuid        NOT NULL,
    display_name     text        NOT NULL,
    rank             integer     NOT NULL,
    rule_kind        smallint    NOT NULL,
    window_days      integer     NOT NULL DEFAULT 0,
    threshold_points bigint      NOT NULL,
    benefits         text[]      NOT NULL DEFAULT '{}',
    create_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, tier_id),
    FOREIGN KEY (tenant_id, program_id) REFERENCES loyalty_programs,
    UNIQUE (tenant_id, program_id, rank),
    UNIQUE (tenant_id, program_id, display_name)
);

-- Accounts: one per member, and per program one each for the points it
-- issued, that were redeemed, that expired and adjustments. Only member
-- balances are stored (and can never go below zero); a program account's
-- balance is the sum of its entries, so postings for different members never
-- wait on one hot row.
CREATE TABLE loyalty_accounts (
    tenant_id   uuid     NOT NULL,
    account_id  uuid     NOT NULL,
    program_id  uuid     NOT NULL,
    kind        smallint NOT NULL, -- 1 member, 2 issued, 3 redeemed, 4 expired, 5 adjustment
    customer_id uuid,
    balance     bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, account_id),
    FOREIGN KEY (tenant_id, program_id) REFERENCES loyalty_programs,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers,
    CHECK ((kind = 1) = (customer_id IS NOT NULL)),
    CONSTRAINT loyalty_member_balance_not_negative CHECK (kind <> 1 OR balance >= 0)
);
CREATE UNIQUE INDEX loyalty_accounts_program ON loyalty_accounts (tenant_id, program_id, kind) WHERE customer_id IS NULL;
CREATE UNIQUE INDEX loyalty_accounts_member ON loyalty_accounts (tenant_id, program_id, customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE loyalty_memberships (
    tenant_id   uuid        NOT NULL,
    program_id  uuid        NOT NULL,
    customer_id uuid        NOT NULL,
    account_id  uuid        NOT NULL,
    tier_id     uuid,
    tier_time   timestamptz,
    enroll_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, program_id, customer_id),
    FOREIGN KEY (tenant_id, account_id) REFERENCES loyalty_accounts,
    FOREIGN KEY (tenant_id, tier_id) REFERENCES loyalty_tiers
);
CREATE INDEX loyalty_memberships_tier ON loyalty_memberships (tenant_id, program_id, tier_id, customer_id);
CREATE INDEX loyalty_memberships_customer ON loyalty_memberships (tenant_id, customer_id);

CREATE TABLE loyalty_transactions (
    tenant_id          uuid        NOT NULL,
    transaction_id     uuid        NOT NULL,
    program_id         uuid        NOT NULL,
    customer_id        uuid        NOT NULL,
    kind               smallint    NOT NULL,
    points             bigint      NOT NULL,
    external_reference text        NOT NULL,
    reason             text        NOT NULL DEFAULT '',
    balance_after      bigint      NOT NULL,
    principal_id       uuid,
    create_time        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, transaction_id),
    FOREIGN KEY (tenant_id, program_id, customer_id) REFERENCES loyalty_memberships,
    UNIQUE (tenant_id, program_id, external_reference)
);
CREATE INDEX loyalty_transactions_member ON loyalty_transactions (tenant_id, program_id, customer_id, create_time DESC, transaction_id DESC);
CREATE INDEX loyalty_transactions_customer ON loyalty_transactions (tenant_id, customer_id);

CREATE TABLE loyalty_entries (
    tenant_id      uuid   NOT NULL,
    transaction_id uuid   NOT NULL,
    account_id     uuid   NOT NULL,
    amount         bigint NOT NULL,
    PRIMARY KEY (tenant_id, transaction_id, account_id),
    FOREIGN KEY (tenant_id, transaction_id) REFERENCES loyalty_transactions,
    FOREIGN KEY (tenant_id, account_id) REFERENCES loyalty_accounts
);

-- Double entry, checked by the database at commit: a transaction's entries
-- sum to zero, whatever code wrote them.
-- +goose StatementBegin
CREATE FUNCTION loyalty_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT sum(amount) FROM loyalty_entries
        WHERE tenant_id = NEW.tenant_id AND transaction_id = NEW.transaction_id) <> 0 THEN
        RAISE EXCEPTION 'loyalty transaction % does not balance', NEW.transaction_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'loyalty_entries_balanced';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER loyalty_entries_balanced AFTER INSERT ON loyalty_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION loyalty_entries_balanced();

-- Earned points in lots, spent first-to-expire first; remaining is what is
-- left to spend or to expire.
CREATE TABLE loyalty_lots (
    tenant_id      uuid        NOT NULL,
    lot_id         uuid        NOT NULL,
    program_id     uuid        NOT NULL,
    customer_id    uuid        NOT NULL,
    transaction_id uuid        NOT NULL,
    points         bigint      NOT NULL CHECK (points > 0),
    remaining      bigint      NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    expire_time    timestamptz,
    create_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, lot_id),
    FOREIGN KEY (tenant_id, transaction_id) REFERENCES loyalty_transactions
);
CREATE INDEX loyalty_lots_member ON loyalty_lots (tenant_id, program_id, customer_id, expire_time, create_time) WHERE remaining > 0;
CREATE INDEX loyalty_lots_due ON loyalty_lots (tenant_id, program_id, expire_time) WHERE remaining > 0 AND expire_time IS NOT NULL;

CREATE TABLE loyalty_tier_changes (
    tenant_id         uuid        NOT NULL,
    change_id         uuid        NOT NULL,
    program_id        uuid        NOT NULL,
    customer_id       uuid        NOT NULL,
    from_tier_id      uuid,
    to_tier_id        uuid,
    qualifying_points bigint      NOT NULL,
    create_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, change_id),
    FOREIGN KEY (tenant_id, program_id, customer_id) REFERENCES loyalty_memberships
);
CREATE INDEX loyalty_tier_changes_member ON loyalty_tier_changes (tenant_id, program_id, customer_id, create_time DESC, change_id DESC);

-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['loyalty_programs', 'loyalty_tiers', 'loyalty_accounts', 'loyalty_memberships',
                             'loyalty_transactions', 'loyalty_entries', 'loyalty_lots', 'loyalty_tier_changes'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;
-- +goose StatementEnd

-- The background job starts from the tenants with points due or with tiers
-- that time alone can change (earned within a window), ids only, then works
-- inside each tenant's scope (see the README on work across tenants).
-- +goose StatementBegin
CREATE FUNCTION loyalty_due_tenants() RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT tenant_id FROM public.loyalty_lots WHERE remaining > 0 AND expire_time <= now()
    UNION
    SELECT tenant_id FROM public.loyalty_tiers WHERE rule_kind = 2
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION loyalty_due_tenants() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION loyalty_due_tenants() TO rapport_customer;

-- The ledger is append-only; balances, lots and memberships change in place.
GRANT SELECT, INSERT, UPDATE ON loyalty_programs, loyalty_accounts, loyalty_memberships, loyalty_lots TO rapport_customer;
GRANT SELECT, INSERT ON loyalty_tiers, loyalty_transactions, loyalty_entries, loyalty_tier_changes TO rapport_customer;

-- +goose Down
DROP FUNCTION loyalty_due_tenants();
DROP TABLE loyalty_tier_changes, loyalty_lots, loyalty_entries, loyalty_transactions, loyalty_memberships,
    loyalty_accounts, loyalty_tiers, loyalty_programs;
DROP FUNCTION loyalty_entries_balanced();
