-- 0016: the indexes lists walk. A list runs with a plan made for its values
-- (db_exec_args_custom), so its optional filters fold to plain equalities and
-- its order to "key COLLATE "ru-x-icu", id" (sort=name) or "id"; each index
-- below is a scope or filter column followed by that order, so a page reads
-- about limit rows whatever the size of the region or municipality. sort=id
-- is served by the existing (region_id, id) and (municipality_id, id)
-- indexes and the primary keys; a q search by the trigram indexes of 0002.
CREATE INDEX organizations_region_name_idx
    ON organizations (region_id, short_name COLLATE "ru-x-icu", id);
CREATE INDEX organizations_municipality_name_idx
    ON organizations (municipality_id, short_name COLLATE "ru-x-icu", id);
CREATE INDEX organizations_name_idx ON organizations (short_name COLLATE "ru-x-icu", id);

CREATE INDEX managers_region_name_idx
    ON managers (region_id, full_name COLLATE "ru-x-icu", id);
CREATE INDEX managers_municipality_name_idx
    ON managers (municipality_id, full_name COLLATE "ru-x-icu", id);
CREATE INDEX managers_name_idx ON managers (full_name COLLATE "ru-x-icu", id);

CREATE INDEX reserve_region_name_idx
    ON reserve_candidates (region_id, full_name COLLATE "ru-x-icu", id);
CREATE INDEX reserve_municipality_name_idx
    ON reserve_candidates (municipality_id, full_name COLLATE "ru-x-icu", id);

-- A campaign's submissions by id (the campaign filter with sort=id).
CREATE INDEX submissions_campaign_id_idx ON submissions (campaign_id, id);

CREATE INDEX users_login_name_idx ON users (login COLLATE "ru-x-icu", id);

CREATE INDEX audit_events_actor_idx ON audit_events (actor_user_id, id);

-- The organizations' kind filter with sort=name inside a region.
CREATE INDEX organizations_region_kind_name_idx
    ON organizations (region_id, kind, short_name COLLATE "ru-x-icu", id);

-- A campaign's recommendations by id; every milestone by title (the admin's sort=name).
CREATE INDEX recommendations_campaign_id_idx ON recommendations (campaign_id, id);
CREATE INDEX milestones_name_idx ON milestones (title COLLATE "ru-x-icu", id);

-- A row's municipality determines its region: without these the planner takes
-- "region_id = R AND municipality_id = M" (a list's scope conditions, or a
-- filter beside them) for independent and expects next to no rows, then
-- prefers sorting them to walking an index in the list's order.
CREATE STATISTICS organizations_territory_stats (dependencies)
    ON region_id, municipality_id FROM organizations;
CREATE STATISTICS managers_territory_stats (dependencies)
    ON region_id, municipality_id FROM managers;
CREATE STATISTICS reserve_territory_stats (dependencies)
    ON region_id, municipality_id FROM reserve_candidates;
CREATE STATISTICS submissions_territory_stats (dependencies)
    ON region_id, municipality_id, organization_id FROM submissions;
CREATE STATISTICS recommendations_territory_stats (dependencies)
    ON region_id, municipality_id FROM recommendations;
CREATE STATISTICS audit_events_territory_stats (dependencies)
    ON region_id, municipality_id, organization_id FROM audit_events;
