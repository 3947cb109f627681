-- +goose Up
-- A merge re-parents a customer's documents, versions and transitions to the
-- survivor (and an unmerge moves them back): see references in resolution.go.
GRANT UPDATE (customer_id) ON document_versions, document_transitions TO rapport_customer;

-- +goose Down
REVOKE UPDATE (customer_id) ON document_versions, document_transitions FROM rapport_customer;
