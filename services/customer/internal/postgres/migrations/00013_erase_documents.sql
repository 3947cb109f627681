-- +goose Up
-- Erasure reaches a customer's documents: their content goes, their names
-- are blanked and their share links revoked (see postgres/privacy.go).
GRANT DELETE ON document_chunks TO rapport_customer;
GRANT UPDATE (file_name) ON document_versions TO rapport_customer;

-- +goose Down
REVOKE UPDATE (file_name) ON document_versions FROM rapport_customer;
REVOKE DELETE ON document_chunks FROM rapport_customer;
