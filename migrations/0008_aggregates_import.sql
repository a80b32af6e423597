-- 0008: the bulk import's writes without row-by-row foreign-key checks (issue 7).
--
-- A submission value refers to three parents: its submission, its indicator
-- and the user who wrote it. PostgreSQL 15 checks a foreign key once per
-- written row (one SPI query each), so a million imported values ran three
-- million checks: about 40 s of a 1 M-value import, more than everything else
-- the import does. The same guarantees are kept here set-wise:
--
-- * Writer side: after every INSERT or UPDATE statement on submission_values
--   one trigger reads the statement's new rows (a transition table) and, per
--   DISTINCT parent (25 000 submissions, 40 indicators, one user for a
--   1 M-value import, not 3 M rows), locks it FOR KEY SHARE — the lock the
--   built-in check takes — and fails with 23503 and the old constraint name
--   when one is missing. It also requires the indicator to belong to the
--   submission's campaign, which the built-in keys never checked and every
--   writer already ensures.
-- * Parent side: deleting a submission, an indicator or a user (or changing
--   its id) fails with 23503 while a value refers to it. The check is an
--   AFTER row trigger, so it runs after the DELETE has waited for the writers'
--   FOR KEY SHARE locks, with a fresh snapshot (READ COMMITTED) that sees the
--   values they committed — the same reasoning as the built-in RI. Under
--   REPEATABLE READ or SERIALIZABLE a snapshot cannot see a writer that
--   committed after it started (the built-in RI uses a cross-check snapshot
--   that PL/pgSQL has no access to), so there such a delete is refused outright.
--   None of these parents is deleted by the service: submissions and users
--   never, indicators only in a draft campaign, which has no submissions.
-- * TRUNCATE of a parent with values present fails (the keys made it fail
--   unless CASCADE; CASCADE no longer reaches the values, so it fails too).
ALTER TABLE submission_values
    DROP CONSTRAINT submission_values_submission_fkey,
    DROP CONSTRAINT submission_values_indicator_fkey,
    DROP CONSTRAINT submission_values_updated_by_fkey;

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

CREATE TRIGGER submission_values_parents_insert AFTER INSERT ON submission_values
    REFERENCING NEW TABLE AS new_values
    FOR EACH STATEMENT EXECUTE FUNCTION em_values_parents_check();
CREATE TRIGGER submission_values_parents_update AFTER UPDATE ON submission_values
    REFERENCING NEW TABLE AS new_values
    FOR EACH STATEMENT EXECUTE FUNCTION em_values_parents_check();

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

CREATE TRIGGER submissions_values_guard AFTER DELETE OR UPDATE OF id ON submissions
    FOR EACH ROW EXECUTE FUNCTION em_values_parent_guard('submission_values_submission_fkey');
CREATE TRIGGER indicators_values_guard AFTER DELETE OR UPDATE OF id ON indicators
    FOR EACH ROW EXECUTE FUNCTION em_values_parent_guard('submission_values_indicator_fkey');
CREATE TRIGGER users_values_guard AFTER DELETE OR UPDATE OF id ON users
    FOR EACH ROW EXECUTE FUNCTION em_values_parent_guard('submission_values_updated_by_fkey');
CREATE TRIGGER submissions_values_truncate BEFORE TRUNCATE ON submissions
    FOR EACH STATEMENT EXECUTE FUNCTION em_values_parent_guard('submission_values_submission_fkey');
CREATE TRIGGER indicators_values_truncate BEFORE TRUNCATE ON indicators
    FOR EACH STATEMENT EXECUTE FUNCTION em_values_parent_guard('submission_values_indicator_fkey');
CREATE TRIGGER users_values_truncate BEFORE TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION em_values_parent_guard('submission_values_updated_by_fkey');

-- The index of values by indicator served the built-in key's parent-side
-- check (deleting an indicator); no query reads values by indicator alone
-- (every read comes through a submission: the primary key), and the guard
-- above finds an indicator's values through its campaign's submissions. It
-- cost as much as the rest of a bulk insert: 1 M values into 40 keys took
-- 5.7 s of 11.2 s here (posting-list upkeep), so it goes.
DROP INDEX submission_values_indicator_idx;


-- GET /aggregates read the bucket rows of every direction (or the totals of
-- every direction's campaign rows) and filtered them: the 0004 condition
-- (direction_id <> 0) = grouped-by-direction was no index condition, so a
-- region by municipality read all 11 histograms (totals and 10 directions) of
-- both campaigns, approved or not, to keep one. Same body as 0004 but for the
-- bucket read, whose conditions are now on the primary key's leading columns
-- (campaign, direction 0 or > 0, approved): ~1/11 of the rows for the totals.
CREATE OR REPLACE FUNCTION em_aggregates(p_campaign bigint, p_groups text[], p_unapproved boolean,
                              p_previous bigint, p_public boolean, c_role text,
                              c_region bigint, c_muni bigint, c_org bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
WITH g AS (
    SELECT 'municipality' = ANY (p_groups) AS gm, 'kind' = ANY (p_groups) AS gk,
           'level' = ANY (p_groups) AS gl, 'direction' = ANY (p_groups) AS gd
), camp AS (
    SELECT c.id, c.region_id FROM campaigns c WHERE c.id = p_campaign
), cnt AS (
    SELECT CASE WHEN g.gm THEN s.municipality_id ELSE 0 END AS m,
           CASE WHEN g.gk THEN s.kind ELSE '' END AS k,
           CASE WHEN g.gl THEN s.level ELSE '' END AS l, sum(s.n) AS expected,
           sum(s.n) FILTER (WHERE s.status IN ('submitted', 'verified', 'approved')) AS submitted,
           sum(s.n) FILTER (WHERE s.on_time) AS on_time,
           sum(s.n) FILTER (WHERE s.status = 'approved') AS approved
    FROM g, camp JOIN score_counts s ON s.campaign_id = camp.id
    WHERE (NOT g.gl OR s.level <> 'none')
      AND (p_public OR em_in_scope(c_role, c_region, c_muni, c_org, camp.region_id,
                                   s.municipality_id, NULL))
    GROUP BY 1, 2, 3
), bk AS (
    SELECT b.campaign_id AS cid, CASE WHEN g.gm THEN b.municipality_id ELSE 0 END AS m,
           CASE WHEN g.gk THEN b.kind ELSE '' END AS k,
           CASE WHEN g.gl THEN b.level ELSE '' END AS l,
           b.direction_id AS d, b.level AS lev, b.value, sum(b.n)::bigint AS n
    FROM g, camp, (
        -- Totals or directions, approved or all: index conditions on the
        -- primary key, the other branch cut by a one-time filter.
        SELECT * FROM score_buckets b0
        WHERE b0.campaign_id IN (p_campaign, p_previous) AND b0.direction_id = 0
          AND NOT ('direction' = ANY (p_groups))
          AND b0.approved = ANY (CASE WHEN p_unapproved THEN '{t,f}'::boolean[] ELSE '{t}' END)
        UNION ALL
        SELECT * FROM score_buckets b0
        WHERE b0.campaign_id IN (p_campaign, p_previous) AND b0.direction_id > 0
          AND 'direction' = ANY (p_groups)
          AND b0.approved = ANY (CASE WHEN p_unapproved THEN '{t,f}'::boolean[] ELSE '{t}' END)
    ) b
    WHERE p_public OR em_in_scope(c_role, c_region, c_muni, c_org, camp.region_id,
                                  b.municipality_id, NULL)
    GROUP BY 1, 2, 3, 4, 5, 6, 7
), bv AS (
    -- One row per group and value, with the cumulative count up to it.
    SELECT cid, m, k, l, d, value, n,
           sum(n) OVER (PARTITION BY cid, m, k, l, d ORDER BY value) AS cum,
           sum(n) OVER (PARTITION BY cid, m, k, l, d) AS total
    FROM (SELECT cid, m, k, l, d, value, sum(n)::bigint AS n FROM bk
          GROUP BY cid, m, k, l, d, value) v
), q AS (
    -- Quantiles set-wise (as em_hist_quantile, without a call per group): the
    -- value at 0-based position i is the smallest value whose cum > i.
    SELECT cid, m, k, l, d, sum(n) AS cnt, sum(value * n) AS sm, min(value) AS mn,
           max(value) AS mx, max(total) AS total,
           min(value) FILTER (WHERE cum > floor((total - 1) * 0.25)) AS q1_lo,
           min(value) FILTER (WHERE cum > ceil((total - 1) * 0.25)) AS q1_hi,
           min(value) FILTER (WHERE cum > floor((total - 1) * 0.5)) AS q2_lo,
           min(value) FILTER (WHERE cum > ceil((total - 1) * 0.5)) AS q2_hi,
           min(value) FILTER (WHERE cum > floor((total - 1) * 0.75)) AS q3_lo,
           min(value) FILTER (WHERE cum > ceil((total - 1) * 0.75)) AS q3_hi
    FROM bv GROUP BY cid, m, k, l, d
), lv AS (
    SELECT cid, m, k, l, d, jsonb_build_object(
               'high', coalesce(sum(n) FILTER (WHERE lev = 'high'), 0),
               'sufficient', coalesce(sum(n) FILTER (WHERE lev = 'sufficient'), 0),
               'low', coalesce(sum(n) FILTER (WHERE lev = 'low'), 0),
               'critical', coalesce(sum(n) FILTER (WHERE lev = 'critical'), 0)) AS levels
    FROM bk GROUP BY cid, m, k, l, d
), st AS (
    SELECT q.cid, q.m, q.k, q.l, q.d, lv.levels,
           jsonb_build_object('count', q.cnt, 'mean', round(q.sm / q.cnt, 2),
               'median', round(q.q2_lo + ((q.total - 1) * 0.5 - floor((q.total - 1) * 0.5))
                                         * (q.q2_hi - q.q2_lo), 2),
               'q1', round(q.q1_lo + ((q.total - 1) * 0.25 - floor((q.total - 1) * 0.25))
                                     * (q.q1_hi - q.q1_lo), 2),
               'q3', round(q.q3_lo + ((q.total - 1) * 0.75 - floor((q.total - 1) * 0.75))
                                     * (q.q3_hi - q.q3_lo), 2),
               'min', q.mn, 'max', q.mx) AS s
    FROM q JOIN lv ON lv.cid = q.cid AND lv.m = q.m AND lv.k = q.k AND lv.l = q.l AND lv.d = q.d
), dirs AS (
    SELECT DISTINCT i.direction_id AS d FROM indicators i, g
    WHERE i.campaign_id = p_campaign AND g.gd
    UNION ALL SELECT 0 FROM g WHERE NOT g.gd
), keys AS (
    SELECT cnt.m, cnt.k, cnt.l, dirs.d FROM cnt, dirs
    UNION SELECT m, k, l, d FROM st WHERE cid = p_campaign
), grp AS (
    SELECT keys.*, cnt.expected, cnt.submitted, cnt.on_time, cnt.approved,
           cur.s, cur.levels, prev.s AS ps
    FROM keys
    LEFT JOIN cnt ON cnt.m = keys.m AND cnt.k = keys.k AND cnt.l = keys.l
    LEFT JOIN st cur ON cur.cid = p_campaign AND cur.m = keys.m AND cur.k = keys.k
         AND cur.l = keys.l AND cur.d = keys.d
    LEFT JOIN st prev ON prev.cid = p_previous AND prev.m = keys.m AND prev.k = keys.k
         AND prev.l = keys.l AND prev.d = keys.d
), fin AS (
    SELECT r.*, mu.name AS mname, dr.code AS dcode, dr.position AS dpos,
           coalesce((r.s ->> 'count')::bigint, 0) AS scored,
           coalesce((r.ps ->> 'count')::bigint, 0) AS pscored,
           CASE WHEN p_public AND (coalesce(r.expected, 0) < 3
                                   OR coalesce((r.s ->> 'count')::bigint, 0) < 3)
                THEN 'fewer than 3 organizations' END AS sup,
           NOT p_public OR coalesce(r.expected, 0) >= 3 AS counts_shown
    FROM grp r LEFT JOIN municipalities mu ON mu.id = r.m
    LEFT JOIN directions dr ON dr.id = r.d AND r.d <> 0
)
SELECT coalesce(jsonb_agg(
    jsonb_strip_nulls(jsonb_build_object(
        'municipality_id', CASE WHEN g.gm THEN to_jsonb(o.m) END,
        'municipality_name', CASE WHEN g.gm THEN to_jsonb(o.mname) END,
        'kind', CASE WHEN g.gk THEN to_jsonb(o.k) END,
        'direction', CASE WHEN g.gd THEN to_jsonb(o.dcode) END,
        'level', CASE WHEN g.gl THEN to_jsonb(o.l) END))
    || jsonb_build_object(
        'expected', CASE WHEN o.counts_shown THEN coalesce(o.expected, 0) END,
        'submitted', CASE WHEN o.counts_shown THEN coalesce(o.submitted, 0) END,
        'submitted_on_time', CASE WHEN o.counts_shown THEN coalesce(o.on_time, 0) END,
        'approved', CASE WHEN o.counts_shown THEN coalesce(o.approved, 0) END,
        'count', CASE WHEN o.sup IS NULL THEN o.scored END,
        'mean', CASE WHEN o.sup IS NULL THEN o.s -> 'mean' END,
        'median', CASE WHEN o.sup IS NULL THEN o.s -> 'median' END,
        'q1', CASE WHEN o.sup IS NULL THEN o.s -> 'q1' END,
        'q3', CASE WHEN o.sup IS NULL THEN o.s -> 'q3' END,
        'min', CASE WHEN o.sup IS NULL THEN o.s -> 'min' END,
        'max', CASE WHEN o.sup IS NULL THEN o.s -> 'max' END,
        'levels', CASE WHEN o.sup IS NULL THEN coalesce(o.levels,
            '{"high": 0, "sufficient": 0, "low": 0, "critical": 0}'::jsonb) END,
        'mean_previous', CASE WHEN o.sup IS NULL AND (NOT p_public OR o.pscored >= 3)
            THEN o.ps -> 'mean' END,
        'mean_change', CASE WHEN o.sup IS NULL AND (NOT p_public OR o.pscored >= 3)
            AND jsonb_typeof(o.s -> 'mean') = 'number' AND jsonb_typeof(o.ps -> 'mean') = 'number'
            THEN to_jsonb((o.s ->> 'mean')::numeric - (o.ps ->> 'mean')::numeric) END,
        'suppressed', o.sup)
    ORDER BY o.mname COLLATE "ru-x-icu", o.m, o.k, o.dpos,
             array_position(ARRAY['high', 'sufficient', 'low', 'critical'], o.l))
    FILTER (WHERE o.scored IS NOT NULL), '[]'::jsonb)
FROM g LEFT JOIN fin o ON true
$$;
