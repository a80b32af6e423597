-- 0015: the record of every what-if simulation (POST /campaigns/{id}/simulations):
-- who tried which changes of the catalog and thresholds, on which values, and
-- the summary of what they would have changed. Nothing here is an official
-- score: the rows are the evidence, for the cycle report's indicators step,
-- that the region designed its catalog on figures. A municipal operator's run
-- covers its municipality (municipality_id), a regional one the region (null).
-- A record never changes once written: no updated_at, no version.
CREATE TABLE simulations (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id        bigint NOT NULL REFERENCES campaigns,
    region_id          bigint NOT NULL REFERENCES regions,
    municipality_id    bigint REFERENCES municipalities,
    values_campaign_id bigint NOT NULL REFERENCES campaigns,
    user_id            bigint REFERENCES users,
    role               text NOT NULL,
    request            jsonb NOT NULL,
    summary            jsonb NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX simulations_campaign_idx ON simulations (campaign_id, id);
