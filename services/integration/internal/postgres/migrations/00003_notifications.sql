-- +goose Up
-- In-app notifications, one row per recipient principal.
CREATE TABLE notifications (
    tenant_id       uuid        NOT NULL,
    notification_id uuid        NOT NULL,
    recipient_id    text        NOT NULL,
    title           text        NOT NULL,
    body            text        NOT NULL DEFAULT '',
    link            text        NOT NULL DEFAULT '',
    read            boolean     NOT NULL DEFAULT false,
    read_time       timestamptz,
    request_id      text,
    create_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, notification_id)
);
-- A principal's list, newest first, and its unread ones; the stream reads
-- the first index forwards.
CREATE INDEX notifications_recipient ON notifications (tenant_id, recipient_id, create_time, notification_id);
CREATE INDEX notifications_recipient_read ON notifications (tenant_id, recipient_id, read, create_time, notification_id);
CREATE UNIQUE INDEX notifications_request_id ON notifications (tenant_id, request_id) WHERE request_id IS NOT NULL;

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
ALTER TABLE notifications FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notifications
    USING (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('rapport.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON notifications TO rapport_integration;

-- +goose Down
DROP TABLE notifications;
