-- +goose Up
-- Erasure ("customer.erased" from the customer service) removes what the
-- read model holds of a person: the service role, which until now only
-- upserted, may delete those rows. What stays is keyed by the customer's id
-- alone (orders, opportunities, tickets, survey scores, offer outcomes),
-- as the customer service keeps the anonymised record under the same id.
GRANT DELETE ON customer_profile, interaction_fact, follow_up_fact, loyalty_fact,
    behaviour_event, behaviour_identity, quarantined_events TO rapport_analytics;

-- The lookups an erasure makes use existing indexes (by customer, and
-- behaviour_identity_customer for the anonymous ids stitched to it), except
-- the quarantine's, which scans the tenant's quarantined payloads: rare
-- rows, and an erasure is rare.

-- +goose Down
REVOKE DELETE ON customer_profile, interaction_fact, follow_up_fact, loyalty_fact,
    behaviour_event, behaviour_identity, quarantined_events FROM rapport_analytics;
