-- +goose Up
-- E-mail templates; variants is the JSON list of language variants.
CREATE TABLE email_templates (
    tenant_id      uuid        NOT NULL,
    template_id    uuid        NOT NULL,
    display_name   text        NOT NULL,
    purpose        smallint    NOT NULL,
    default_locale text        NOT NULL,
    variants       jsonb       NOT NULL,
    version        bigint      NOT NULL DEFAULT 1,
    request_id     text,
    create_time    timestamptz NOT NULL DEFAULT now(),
    update_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, template_id)
);
CREATE INDEX email_templates_list ON email_templates (tenant_id, create_time, template_id);
CREATE INDEX email_templates_purpose ON email_templates (tenant_id, purpose, create_time, template_id);
CREATE UNIQUE INDEX email_templates_request_id ON email_templates (tenant_id, request_id) WHERE request_id IS NOT NULL;

-- One row per e-mail, written with the rule execution or the request that
-- asks for it and then sent by the workers (state 1 pending, 2 sent,
-- 3 failed, 4 suppressed for want of consent). The template is no foreign
-- key: deleting it fails the messages still pending instead of losing them.
CREATE TABLE email_messages (
    tenant_id         uuid        NOT NULL,
    message_id        uuid        NOT NULL,
    template_id       uuid        NOT NULL,
    purpose           smallint    NOT NULL,
    customer_id       uuid,
    recipient         text        NOT NULL DEFAULT '',
    rule_id           uuid,
    event_id          uuid,
    event_type        text        NOT NULL DEFAULT '',
    event_resource    text        NOT NULL DEFAULT '',
    event_source      text        NOT NULL DEFAULT '',
    event_time        timestamptz,
    state             smallint    NOT NULL DEFAULT 1,
    attempts          integer     NOT NULL DEFAULT 0,
    last_reply        text        NOT NULL DEFAULT '',
    locale            text        NOT NULL DEFAULT '',
    next_attempt_time timestamptz NOT NULL DEFAULT now(),
    request_id        text,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    send_time         timestamptz,
    PRIMARY KEY (tenant_id, message_id)
);
CREATE UNIQUE INDEX email_messages_request_id ON email_messages (tenant_id, request_id) WHERE request_id IS NOT NULL;
-- The log, newest first, by each filter field; the workers' due messages.
CREATE INDEX email_messages_list ON email_messages (tenant_id, create_time, message_id);
CREATE INDEX email_messages_state ON email_messages (tenant_id, state, create_time, message_id);
CREATE INDEX email_messages_template ON email_messages (tenant_id, template_id, create_time, message_id);
CREATE INDEX email_messages_customer ON email_messages (tenant_id, customer_id, create_time, message_id);
CREATE INDEX email_messages_rule ON email_messages (tenant_id, rule_id, create_time, message_id);
CREATE INDEX email_messages_due ON email_messages (next_attempt_time) WHERE state = 1;

ALTER TABLE email_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_templates
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);
ALTER TABLE email_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE email_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_messages
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

-- The workers serve every tenant: they start from the tenants with due
-- messages, then claim inside each tenant's scope.
-- +goose StatementBegin
CREATE FUNCTION email_due_tenants(lim integer) RETURNS TABLE (tenant_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT DISTINCT d.tenant_id FROM (
        SELECT m.tenant_id FROM public.email_messages m
        WHERE m.state = 1 AND m.next_attempt_time <= now()
        ORDER BY m.next_attempt_time
        LIMIT lim
    ) d
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION email_backlog() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT count(*) FROM public.email_messages WHERE state = 1
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION email_due_tenants(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION email_backlog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION email_due_tenants(integer) TO rapport_integration;
GRANT EXECUTE ON FUNCTION email_backlog() TO rapport_integration;

GRANT SELECT, INSERT, UPDATE, DELETE ON email_templates TO rapport_integration;
GRANT SELECT, INSERT, UPDATE ON email_messages TO rapport_integration;

-- +goose Down
DROP FUNCTION email_backlog();
DROP FUNCTION email_due_tenants(integer);
DROP TABLE email_messages, email_templates;
