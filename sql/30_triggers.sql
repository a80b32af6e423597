-- sql/30_triggers.sql — trigger functions: append-only tables, copied region
-- ids, the checks of the values' parents, change notifications.
--
-- The current definition of each function lives here, once, as CREATE OR
-- REPLACE. `effmond migrate` applies the files of sql/ in name order after the
-- migrations, each in its own transaction, whenever a file's text differs
-- from what schema_functions records. A function whose signature or return
-- type changes, or that is dropped, needs a migration (DROP FUNCTION) first.

-- The audit trail is append-only, whoever connects: the daemon's role owns
-- the tables, so privileges alone could not stop it.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Whoever connects (the daemon's role owns the table): UPDATE may only set
-- the revocation link of a decision not yet revoked; DELETE never.
CREATE OR REPLACE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    link constant text[] := '{revoked_by_decision_id,revoked_at,revoked_by_user_id,version,updated_at}';
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.revoked_by_decision_id IS NULL AND NEW.revoked_by_decision_id IS NOT NULL
           AND to_jsonb(NEW) - link = to_jsonb(OLD) - link THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'decisions are append-only: % refused (revoke a decision by a new one)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Region and municipality are copied from the parent on insert and move.
CREATE OR REPLACE FUNCTION em_copy_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT region_id INTO NEW.region_id FROM municipalities WHERE id = NEW.municipality_id;
    RETURN NEW;
END $$;

-- Indicators and submissions carry the campaign's region for scope checks.
CREATE OR REPLACE FUNCTION em_copy_campaign_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT region_id INTO NEW.region_id FROM campaigns WHERE id = NEW.campaign_id;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION em_values_parents_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad   record;
BEGIN
    -- Per distinct parent, in id order (the EXISTS subplan runs once per
    -- sorted key, so locks are taken in key order as by any other writer).
    SELECT k.id INTO bad
    FROM (SELECT DISTINCT submission_id AS id FROM new_values ORDER BY 1) k
    WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.id = k.id FOR KEY SHARE)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "submission_values" violates foreign key constraint "submission_values_submission_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'submission_values_submission_fkey',
                  TABLE = 'submission_values',
                  DETAIL = format('Key (submission_id)=(%s) is not present in table "submissions".', bad.id);
    END IF;
    SELECT k.id INTO bad
    FROM (SELECT DISTINCT indicator_id AS id FROM new_values ORDER BY 1) k
    WHERE NOT EXISTS (SELECT 1 FROM indicators i WHERE i.id = k.id FOR KEY SHARE)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "submission_values" violates foreign key constraint "submission_values_indicator_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'submission_values_indicator_fkey',
                  TABLE = 'submission_values',
                  DETAIL = format('Key (indicator_id)=(%s) is not present in table "indicators".', bad.id);
    END IF;
    SELECT k.id INTO bad
    FROM (SELECT DISTINCT updated_by AS id FROM new_values WHERE updated_by IS NOT NULL ORDER BY 1) k
    WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = k.id FOR KEY SHARE)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "submission_values" violates foreign key constraint "submission_values_updated_by_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'submission_values_updated_by_fkey',
                  TABLE = 'submission_values',
                  DETAIL = format('Key (updated_by)=(%s) is not present in table "users".', bad.id);
    END IF;
    -- The indicator is one of the submission's campaign (parents are locked now).
    SELECT n.submission_id, n.indicator_id INTO bad
    FROM new_values n JOIN submissions s ON s.id = n.submission_id
    JOIN indicators i ON i.id = n.indicator_id
    WHERE i.campaign_id <> s.campaign_id
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "submission_values" violates foreign key constraint "submission_values_indicator_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'submission_values_indicator_fkey',
                  TABLE = 'submission_values',
                  DETAIL = format('Indicator %s is not of the campaign of submission %s.',
                                  bad.indicator_id, bad.submission_id);
    END IF;
    RETURN NULL;
END $$;

-- Parent side: TG_ARGV[0] names the old constraint; the referring rows are
-- found through the primary key (submissions), through the campaign's
-- submissions (indicators: values only refer to their campaign's indicators,
-- checked above) or by a scan (users: never deleted by the service).
CREATE OR REPLACE FUNCTION em_values_parent_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referred boolean;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        IF EXISTS (SELECT 1 FROM submission_values) THEN
            RAISE EXCEPTION 'cannot truncate table "%": submission values refer to it', TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0];
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.id IS NOT DISTINCT FROM NEW.id THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'a % is deleted (or its id changed) at READ COMMITTED only: submission values are checked against it there',
            TG_TABLE_NAME USING ERRCODE = 'feature_not_supported';
    END IF;
    IF TG_TABLE_NAME = 'submissions' THEN
        referred := EXISTS (SELECT 1 FROM submission_values v WHERE v.submission_id = OLD.id);
    ELSIF TG_TABLE_NAME = 'indicators' THEN
        referred := EXISTS (SELECT 1 FROM submissions s JOIN submission_values v
                                ON v.submission_id = s.id AND v.indicator_id = OLD.id
                            WHERE s.campaign_id = OLD.campaign_id);
    ELSE
        referred := EXISTS (SELECT 1 FROM submission_values v WHERE v.updated_by = OLD.id);
    END IF;
    IF referred THEN
        RAISE EXCEPTION 'update or delete on table "%" violates foreign key constraint "%" on table "submission_values"',
            TG_TABLE_NAME, TG_ARGV[0]
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_ARGV[0],
                  DETAIL = format('Key (id)=(%s) is still referenced from table "submission_values".', OLD.id);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION em_aggregates_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('effmon_aggregates', '');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION em_users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('effmon_users', '');
    RETURN NULL;
END $$;

-- A changed settlement or head count moves the organization's submissions of
-- every campaign to their new cluster (scores, ranks and rollups), in the
-- transaction of the change.
CREATE OR REPLACE FUNCTION em_organization_cluster_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM em_rescore(ARRAY(SELECT s.id FROM submissions s
                             WHERE s.organization_id = NEW.id ORDER BY s.id));
    RETURN NULL;
END $$;
