-- +goose Up
-- The 360 view reads a customer's CSAT answers through its tickets and its
-- NPS answers directly.
CREATE INDEX satisfaction_response_ticket ON satisfaction_response (tenant_id, ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX satisfaction_response_customer ON satisfaction_response (tenant_id, customer_id, kind, answer_time)
    WHERE customer_id IS NOT NULL;

-- +goose Down
DROP INDEX satisfaction_response_customer;
DROP INDEX satisfaction_response_ticket;
