-- +goose Up
-- A merge moves the loser's loyalty membership of a program the survivor
-- is not a member of to the survivor; the membership's transactions and
-- tier changes follow it through these cascades, so its ledger stays whole
-- and an unmerge that moves the membership back takes them along.
ALTER TABLE loyalty_transactions
    DROP CONSTRAINT loyalty_transactions_tenant_id_program_id_customer_id_fkey,
    ADD CONSTRAINT loyalty_transactions_membership_fkey FOREIGN KEY (tenant_id, program_id, customer_id)
        REFERENCES loyalty_memberships ON UPDATE CASCADE;
ALTER TABLE loyalty_tier_changes
    DROP CONSTRAINT loyalty_tier_changes_tenant_id_program_id_customer_id_fkey,
    ADD CONSTRAINT loyalty_tier_changes_membership_fkey FOREIGN KEY (tenant_id, program_id, customer_id)
        REFERENCES loyalty_memberships ON UPDATE CASCADE;

-- +goose Down
ALTER TABLE loyalty_transactions
    DROP CONSTRAINT loyalty_transactions_membership_fkey,
    ADD CONSTRAINT loyalty_transactions_tenant_id_program_id_customer_id_fkey FOREIGN KEY (tenant_id, program_id, customer_id)
        REFERENCES loyalty_memberships;
ALTER TABLE loyalty_tier_changes
    DROP CONSTRAINT loyalty_tier_changes_membership_fkey,
    ADD CONSTRAINT loyalty_tier_changes_tenant_id_program_id_customer_id_fkey FOREIGN KEY (tenant_id, program_id, customer_id)
        REFERENCES loyalty_memberships;
