-- +goose Up
-- Ticket details, the status log, and the SLA clock.
ALTER TABLE tickets
    ADD COLUMN type            smallint    NOT NULL DEFAULT 1,
    ADD COLUMN contact_id      uuid,
    ADD COLUMN order_id        uuid,
    ADD COLUMN product_id      uuid,
    ADD COLUMN tags            text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN attributes      jsonb       NOT NULL DEFAULT '{}',
    ADD COLUMN customer_tier   text        NOT NULL DEFAULT '',
    ADD COLUMN resolution_note text        NOT NULL DEFAULT '',
    ADD COLUMN first_response_time timestamptz,
    ADD COLUMN resolve_time    timestamptz,
    ADD COLUMN close_time      timestamptz,
    ADD COLUMN escalation_level integer    NOT NULL DEFAULT 0,
    -- The SLA clock: the policy's targets copied at creation, the business
    -- time paused so far, and the due times derived from them.
    ADD COLUMN sla_policy_id   uuid,
    ADD COLUMN sla_calendar_id uuid,
    ADD COLUMN sla_first_response_target bigint NOT NULL DEFAULT 0, -- microseconds
    ADD COLUMN sla_resolution_target     bigint NOT NULL DEFAULT 0, -- microseconds
    ADD COLUMN sla_warning_percent       smallint NOT NULL DEFAULT 0,
    ADD COLUMN sla_pause_on_hold         boolean NOT NULL DEFAULT false,
    ADD COLUMN sla_escalation_level      integer NOT NULL DEFAULT 0,
    ADD COLUMN sla_paused                bigint NOT NULL DEFAULT 0,      -- microseconds
    ADD COLUMN sla_paused_since          timestamptz,
    ADD COLUMN first_response_warning_time timestamptz,
    ADD COLUMN first_response_due_time     timestamptz,
    ADD COLUMN resolution_warning_time     timestamptz,
    ADD COLUMN resolution_due_time         timestamptz,
    ADD COLUMN first_response_warned_time   timestamptz,
    ADD COLUMN first_response_breached_time timestamptz,
    ADD COLUMN resolution_warned_time       timestamptz,
    ADD COLUMN resolution_breached_time     timestamptz,
    -- The earliest warning or due time not yet raised while the clock runs;
    -- NULL when nothing is pending. The watcher's only search key.
    ADD COLUMN sla_next_due timestamptz;

CREATE INDEX tickets_type ON tickets (tenant_id, type, create_time, ticket_id);
CREATE INDEX tickets_customer_tier ON tickets (tenant_id, customer_tier, create_time, ticket_id);
-- Finding every warning and breach that fell due, across tenants, is one
-- range scan of this partial index: only running clocks are in it.
CREATE INDEX tickets_sla_next_due ON tickets (sla_next_due) WHERE sla_next_due IS NOT NULL;
-- Deleting a calendar checks that no ticket uses it.
CREATE INDEX tickets_sla_calendar ON tickets (tenant_id, sla_calendar_id) WHERE sla_calendar_id IS NOT NULL;

-- The SLA watcher of any replica reads due tickets of every tenant, and only
-- when it says so: the setting is transaction-local and set by nothing else.
-- It then locks and changes each ticket under its own tenant's setting.
CREATE POLICY sla_watcher ON tickets FOR SELECT
    USING (current_setting('rapport.sla_watcher', true) = 'on');

CREATE TABLE ticket_transitions (
    tenant_id     uuid        NOT NULL,
    ticket_id     uuid        NOT NULL,
    transition_id uuid        NOT NULL,
    from_status   smallint    NOT NULL,
    to_status     smallint    NOT NULL,
    note          text        NOT NULL DEFAULT '',
    principal_id  text        NOT NULL,
    request_id    text,
    create_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ticket_id, transition_id),
    FOREIGN KEY (tenant_id, ticket_id) REFERENCES tickets (tenant_id, ticket_id)
);
-- The primary key orders a ticket's log (UUIDv7 ids are time-ordered).
CREATE UNIQUE INDEX ticket_transitions_request_id ON ticket_transitions (tenant_id, ticket_id, request_id)
    WHERE request_id IS NOT NULL;

CREATE TABLE ticket_settings (
    tenant_id     uuid        NOT NULL,
    reopen_window bigint      NOT NULL, -- microseconds
    revision      bigint      NOT NULL DEFAULT 1,
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id)
);

CREATE TABLE business_calendars (
    tenant_id     uuid        NOT NULL,
    calendar_id   uuid        NOT NULL,
    display_name  text        NOT NULL,
    time_zone     text        NOT NULL,
    working_hours jsonb       NOT NULL,
    holidays      date[]      NOT NULL DEFAULT '{}',
    request_id    text,
    revision      bigint      NOT NULL DEFAULT 1,
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, calendar_id)
);
CREATE INDEX business_calendars_create_time ON business_calendars (tenant_id, create_time, calendar_id);
CREATE UNIQUE INDEX business_calendars_request_id ON business_calendars (tenant_id, request_id) WHERE request_id IS NOT NULL;

CREATE TABLE sla_policies (
    tenant_id             uuid        NOT NULL,
    policy_id             uuid        NOT NULL,
    display_name          text        NOT NULL,
    priority              smallint    NOT NULL, -- 0: any
    customer_tier         text        NOT NULL, -- '': any
    calendar_id           uuid        NOT NULL,
    first_response_target bigint      NOT NULL, -- microseconds, 0: none
    resolution_target     bigint      NOT NULL, -- microseconds, 0: none
    warning_percent       smallint    NOT NULL,
    pause_on_hold         boolean     NOT NULL,
    escalation_level      integer     NOT NULL,
    request_id            text,
    revision              bigint      NOT NULL DEFAULT 1,
    create_time           timestamptz NOT NULL DEFAULT now(),
    update_time           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, policy_id),
    CONSTRAINT sla_policies_has_target CHECK (first_response_target > 0 OR resolution_target > 0),
    FOREIGN KEY (tenant_id, calendar_id) REFERENCES business_calendars (tenant_id, calendar_id)
);
-- One policy per priority × tier; it is also the matching lookup.
CREATE UNIQUE INDEX sla_policies_match ON sla_policies (tenant_id, customer_tier, priority);
CREATE INDEX sla_policies_create_time ON sla_policies (tenant_id, create_time, policy_id);
CREATE INDEX sla_policies_calendar ON sla_policies (tenant_id, calendar_id);
CREATE UNIQUE INDEX sla_policies_request_id ON sla_policies (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE tickets ADD CONSTRAINT tickets_sla_calendar_fk
    FOREIGN KEY (tenant_id, sla_calendar_id) REFERENCES business_calendars (tenant_id, calendar_id);

ALTER TABLE ticket_transitions ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_transitions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_transitions
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE ticket_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE ticket_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_settings
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE business_calendars ENABLE ROW LEVEL SECURITY;
ALTER TABLE business_calendars FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON business_calendars
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE sla_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE sla_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sla_policies
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The log and settings are never deleted; calendars and policies are
-- configuration an admin removes.
GRANT SELECT, INSERT ON ticket_transitions TO rapport_ticket;
GRANT SELECT, INSERT, UPDATE ON ticket_settings TO rapport_ticket;
GRANT SELECT, INSERT, UPDATE, DELETE ON business_calendars, sla_policies TO rapport_ticket;

-- +goose Down
ALTER TABLE tickets DROP CONSTRAINT tickets_sla_calendar_fk;
DROP TABLE sla_policies;
DROP TABLE business_calendars;
DROP TABLE ticket_settings;
DROP TABLE ticket_transitions;
DROP POLICY sla_watcher ON tickets;
DROP INDEX tickets_sla_calendar, tickets_sla_next_due, tickets_customer_tier, tickets_type;
ALTER TABLE tickets
    DROP COLUMN type, DROP COLUMN contact_id, DROP COLUMN order_id, DROP COLUMN product_id, DROP COLUMN tags,
    DROP COLUMN attributes, DROP COLUMN customer_tier, DROP COLUMN resolution_note, DROP COLUMN first_response_time,
    DROP COLUMN resolve_time, DROP COLUMN close_time, DROP COLUMN escalation_level, DROP COLUMN sla_policy_id,
    DROP COLUMN sla_calendar_id, DROP COLUMN sla_first_response_target, DROP COLUMN sla_resolution_target,
    DROP COLUMN sla_warning_percent, DROP COLUMN sla_pause_on_hold, DROP COLUMN sla_escalation_level,
    DROP COLUMN sla_paused, DROP COLUMN sla_paused_since, DROP COLUMN first_response_warning_time,
    DROP COLUMN first_response_due_time, DROP COLUMN resolution_warning_time, DROP COLUMN resolution_due_time,
    DROP COLUMN first_response_warned_time, DROP COLUMN first_response_breached_time,
    DROP COLUMN resolution_warned_time, DROP COLUMN resolution_breached_time, DROP COLUMN sla_next_due;
