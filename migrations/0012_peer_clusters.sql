-- 0012: peer clusters (DESIGN §8 "Analysis"): organizations compared with
-- others of the same kind, settlement and size band, beside the raw ranks by
-- kind (src/monitoring/scores.c) and as a grouping of GET /aggregates.
--
-- The cluster of a submission is its kind (fixed when the campaign opened, as
-- the scores use it) × its organization's settlement × the size band of the
-- organization's number of students, as the organization row has them NOW:
-- submissions keep no snapshot of either, so a corrected head count moves the
-- organization's rows of every campaign into its new cluster at once.
--
-- Why the cluster is stored. Aggregates are served from the rollups
-- (score_counts, score_buckets: migration 0004) and their ETag from the
-- campaign's rollup stamp, never from a scan per request; an aggregate by
-- cluster needs the cluster in the rollup keys, and em_rescore's incremental
-- upkeep needs to know the key a submission was counted under before (its
-- submission_scores row) to take it out again. So submission_scores carries
-- settlement and size_band, em_rescore computes them with the scores, and a
-- change of an organization's settlement or students rescores its
-- submissions (a trigger), which moves their rollup contributions, bumps the
-- stamp and so the aggregates' ETag. Ranks and aggregates read the same keys.

-- The size band of an organization of a kind with a number of students: the
-- one place the bands are defined (api/openapi.yaml and README.md describe
-- them). Preschools count children, and a kindergarten of 50 is already a
-- two- or three-group one: its bands are lower.
--   preschool: small < 50, medium 50–199, large ≥ 200
--   any other: small < 100, medium 100–499, large ≥ 500
CREATE FUNCTION em_size_band(kind text, students integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN kind = 'preschool' THEN
                    CASE WHEN students < 50 THEN 'small' WHEN students < 200 THEN 'medium'
                         ELSE 'large' END
                ELSE CASE WHEN students < 100 THEN 'small' WHEN students < 500 THEN 'medium'
                          ELSE 'large' END END
$$;

-- The cluster's key as clients see it: kind/settlement/size_band.
CREATE FUNCTION em_cluster_key(kind text, settlement text, size_band text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT kind || '/' || settlement || '/' || size_band
$$;

ALTER TABLE submission_scores ADD COLUMN settlement text, ADD COLUMN size_band text;
UPDATE submission_scores sc SET settlement = o.settlement,
       size_band = em_size_band(sc.kind, o.students)
FROM organizations o WHERE o.id = sc.organization_id;
ALTER TABLE submission_scores ALTER COLUMN settlement SET NOT NULL,
    ALTER COLUMN size_band SET NOT NULL;

-- No index of its own for the cluster ranks: the scores page reads a
-- campaign's counted rows through submission_scores_campaign_rank_idx for the
-- ranks by kind, and the cluster window sorts those rows again (a region's
-- few thousand), which costs less than one more index written by every
-- rescore.

-- The rollups gain the two keys; they are rebuilt below from the score rows.
ALTER TABLE score_counts ADD COLUMN settlement text NOT NULL DEFAULT '',
    ADD COLUMN size_band text NOT NULL DEFAULT '';
ALTER TABLE score_counts ALTER COLUMN settlement DROP DEFAULT,
    ALTER COLUMN size_band DROP DEFAULT;
ALTER TABLE score_counts DROP CONSTRAINT score_counts_pkey,
    ADD PRIMARY KEY (campaign_id, municipality_id, kind, settlement, size_band, status,
                     on_time, level);
ALTER TABLE score_buckets ADD COLUMN settlement text NOT NULL DEFAULT '',
    ADD COLUMN size_band text NOT NULL DEFAULT '';
ALTER TABLE score_buckets ALTER COLUMN settlement DROP DEFAULT,
    ALTER COLUMN size_band DROP DEFAULT;
ALTER TABLE score_buckets DROP CONSTRAINT score_buckets_pkey,
    ADD PRIMARY KEY (campaign_id, direction_id, approved, municipality_id, kind, settlement,
                     size_band, level, value);

-- The delta types and the contribution functions (0004; the tests rebuild the
-- rollups with em_bucket_contrib) with the two keys.
DROP FUNCTION em_count_contrib(bigint[], integer);
DROP FUNCTION em_bucket_contrib(bigint[], integer);
DROP TYPE em_count_delta;
DROP TYPE em_bucket_delta;
CREATE TYPE em_count_delta AS (campaign_id bigint, municipality_id bigint, kind text,
    settlement text, size_band text, status text, on_time boolean, level text, n integer);
CREATE TYPE em_bucket_delta AS (campaign_id bigint, municipality_id bigint, kind text,
    settlement text, size_band text, approved boolean, level text, direction_id bigint,
    value numeric(7, 2), n integer);

CREATE FUNCTION em_count_contrib(p_ids bigint[], p_sign integer) RETURNS SETOF em_count_delta
LANGUAGE sql STABLE AS $$
    SELECT campaign_id, municipality_id, kind, settlement, size_band, status, on_time,
           coalesce(level, 'none'), p_sign
    FROM submission_scores WHERE submission_id = ANY (p_ids)
$$;

CREATE FUNCTION em_bucket_contrib(p_ids bigint[], p_sign integer) RETURNS SETOF em_bucket_delta
LANGUAGE sql STABLE AS $$
    SELECT sc.campaign_id, sc.municipality_id, sc.kind, sc.settlement, sc.size_band,
           sc.status = 'approved', sc.level, 0::bigint, sc.total_rounded, p_sign
    FROM submission_scores sc
    WHERE sc.submission_id = ANY (p_ids) AND em_status_class(sc.status) IS NOT NULL
      AND sc.total_rounded IS NOT NULL
    UNION ALL
    SELECT sc.campaign_id, sc.municipality_id, sc.kind, sc.settlement, sc.size_band,
           sc.status = 'approved', sc.level, ds.direction_id, round(ds.score, 2), p_sign
    FROM submission_scores sc JOIN direction_scores ds ON ds.submission_id = sc.submission_id
    WHERE sc.submission_id = ANY (p_ids) AND em_status_class(sc.status) IS NOT NULL
      AND sc.total_rounded IS NOT NULL
$$;

-- The 0007 em_rescore with the cluster columns: sub reads the organization's
-- settlement and students, the score row keeps them (a change rewrites it),
-- and the rollup deltas are keyed by them. Everything else is as in 0007.
CREATE OR REPLACE FUNCTION em_rescore(p_ids bigint[]) RETURNS void LANGUAGE plpgsql
SET jit = off SET work_mem = '64MB' AS $fn$
DECLARE
    zero_counts  em_count_delta[];
    zero_buckets em_bucket_delta[];
    changed      bigint[];
    saved_mode   text;  -- plan_cache_mode before a large set
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN;
    END IF;
    IF cardinality(p_ids) > 64 THEN
        saved_mode := current_setting('plan_cache_mode');
        PERFORM set_config('plan_cache_mode', 'force_custom_plan', true);
    END IF;
    WITH sub AS MATERIALIZED (
        SELECT s.id, s.campaign_id, s.region_id, s.municipality_id, s.organization_id,
               s.manager_id, s.kind, s.status, org.settlement,
               em_size_band(s.kind, org.students) AS size_band,
               coalesce(s.first_submitted_at <= c.closes_at, false) AS on_time,
               c.threshold_high, c.threshold_sufficient, c.threshold_low
        FROM submissions s JOIN campaigns c ON c.id = s.campaign_id
        JOIN organizations org ON org.id = s.organization_id
        WHERE s.id = ANY (p_ids)
    ), vals AS MATERIALIZED (
        SELECT s.id AS submission_id, s.campaign_id, s.kind, v.indicator_id, v.value
        FROM sub s CROSS JOIN LATERAL (SELECT v.indicator_id, v.value
                                       FROM submission_values v WHERE v.submission_id = s.id
                                       OFFSET 0) v
    ), ind AS MATERIALIZED (
        SELECT i.id, i.campaign_id, k.kind, i.direction_id, i.value_type, i.polarity,
               i.min_value, i.max_value, w.weight
        FROM (SELECT DISTINCT campaign_id, kind FROM sub) k
        JOIN indicators i ON i.campaign_id = k.campaign_id
        CROSS JOIN LATERAL (SELECT coalesce((i.weights ->> k.kind)::numeric, 0) AS weight) w
        WHERE w.weight > 0
    ), filled AS (
        SELECT v.submission_id, i.direction_id,
               sum(i.weight * em_indicator_score(v.value, i.value_type, i.polarity,
                                                 i.min_value, i.max_value)) AS ws,
               count(*)::integer AS filled
        FROM vals v
        JOIN ind i ON i.id = v.indicator_id AND i.campaign_id = v.campaign_id AND i.kind = v.kind
        GROUP BY v.submission_id, i.direction_id
    ), new_ds AS MATERIALIZED (
        SELECT s.id AS submission_id, d.direction_id, s.campaign_id,
               100 * coalesce(f.ws, 0) / d.w AS score, coalesce(f.ws, 0) AS ws, d.w,
               d.applicable, coalesce(f.filled, 0) AS filled
        FROM sub s
        JOIN (SELECT campaign_id, kind, direction_id, sum(weight) AS w,
                     count(*)::integer AS applicable
              FROM ind GROUP BY campaign_id, kind, direction_id) d
          ON d.campaign_id = s.campaign_id AND d.kind = s.kind
        LEFT JOIN filled f ON f.submission_id = s.id AND f.direction_id = d.direction_id
    ), old_sc AS MATERIALIZED (
        SELECT sc.* FROM sub JOIN submission_scores sc ON sc.submission_id = sub.id
    ), old_ds AS MATERIALIZED (
        SELECT ds.* FROM sub JOIN direction_scores ds ON ds.submission_id = sub.id
    ), new_sc AS MATERIALIZED (
        SELECT s.id AS submission_id, coalesce(o.campaign_id, s.campaign_id) AS campaign_id,
               coalesce(o.region_id, s.region_id) AS region_id,
               coalesce(o.municipality_id, s.municipality_id) AS municipality_id,
               coalesce(o.organization_id, s.organization_id) AS organization_id,
               s.manager_id, s.kind, s.status, t.total, round(t.total, 2) AS total_rounded,
               em_level(round(t.total, 2), s.threshold_high, s.threshold_sufficient,
                        s.threshold_low) AS level,
               coalesce(t.applicable, 0) AS applicable, coalesce(t.filled, 0) AS filled,
               t.filled::numeric / nullif(t.applicable, 0) AS completeness, s.on_time,
               s.settlement, s.size_band,
               o.submission_id IS NULL AS is_new, o AS old
        FROM sub s
        LEFT JOIN (SELECT submission_id, 100 * sum(ws) / sum(w) AS total,
                          sum(applicable)::integer AS applicable, sum(filled)::integer AS filled
                   FROM new_ds GROUP BY submission_id) t ON t.submission_id = s.id
        LEFT JOIN old_sc o ON o.submission_id = s.id
    ), sc_write AS (
        INSERT INTO submission_scores AS sc (submission_id, campaign_id, region_id, municipality_id,
            organization_id, manager_id, kind, status, total, total_rounded, level, applicable,
            filled, completeness, on_time, settlement, size_band, computed_at)
        SELECT n.submission_id, n.campaign_id, n.region_id, n.municipality_id, n.organization_id,
               n.manager_id, n.kind, n.status, n.total, n.total_rounded, n.level, n.applicable,
               n.filled, n.completeness, n.on_time, n.settlement, n.size_band, now()
        FROM new_sc n
        WHERE n.is_new
           OR ((n.old).manager_id, (n.old).kind, (n.old).status, (n.old).total, scale((n.old).total),
               (n.old).total_rounded, (n.old).level, (n.old).applicable, (n.old).filled,
               (n.old).completeness, scale((n.old).completeness), (n.old).on_time,
               (n.old).settlement, (n.old).size_band)
              IS DISTINCT FROM
              (n.manager_id, n.kind, n.status, n.total, scale(n.total), n.total_rounded, n.level,
               n.applicable, n.filled, n.completeness, scale(n.completeness), n.on_time,
               n.settlement, n.size_band)
        ON CONFLICT (submission_id) DO UPDATE SET
            manager_id = EXCLUDED.manager_id, kind = EXCLUDED.kind, status = EXCLUDED.status,
            total = EXCLUDED.total, total_rounded = EXCLUDED.total_rounded, level = EXCLUDED.level,
            applicable = EXCLUDED.applicable, filled = EXCLUDED.filled,
            completeness = EXCLUDED.completeness, on_time = EXCLUDED.on_time,
            settlement = EXCLUDED.settlement, size_band = EXCLUDED.size_band,
            computed_at = EXCLUDED.computed_at
    ), ds_cmp AS MATERIALIZED (
        SELECT o.submission_id AS old_submission, o.direction_id AS old_direction,
               n.submission_id, n.direction_id, n.campaign_id, n.score, n.applicable, n.filled
        FROM new_ds n FULL JOIN old_ds o
             ON o.submission_id = n.submission_id AND o.direction_id = n.direction_id
        WHERE n.submission_id IS NULL OR o.submission_id IS NULL
           OR (o.campaign_id, o.score, scale(o.score), o.applicable, o.filled)
              IS DISTINCT FROM (n.campaign_id, n.score, scale(n.score), n.applicable, n.filled)
    ), ds_gone AS (
        DELETE FROM direction_scores d USING ds_cmp c
        WHERE c.submission_id IS NULL AND d.submission_id = c.old_submission
          AND d.direction_id = c.old_direction
    ), ds_write AS (
        INSERT INTO direction_scores AS d (submission_id, direction_id, campaign_id, score,
                                           applicable, filled)
        SELECT submission_id, direction_id, campaign_id, score, applicable, filled
        FROM ds_cmp WHERE submission_id IS NOT NULL
        ON CONFLICT (submission_id, direction_id) DO UPDATE SET
            campaign_id = EXCLUDED.campaign_id, score = EXCLUDED.score,
            applicable = EXCLUDED.applicable, filled = EXCLUDED.filled
    ), cnt_write AS (
        INSERT INTO score_counts AS t (campaign_id, municipality_id, kind, settlement, size_band,
                                       status, on_time, level, n)
        SELECT campaign_id, municipality_id, kind, settlement, size_band, status, on_time, level,
               sum(n)::integer
        FROM (SELECT campaign_id, municipality_id, kind, settlement, size_band, status, on_time,
                     coalesce(level, 'none') AS level, -1 AS n FROM old_sc
              UNION ALL
              SELECT campaign_id, municipality_id, kind, settlement, size_band, status, on_time,
                     coalesce(level, 'none'), 1 FROM new_sc) x
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(n) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
        ON CONFLICT (campaign_id, municipality_id, kind, settlement, size_band, status, on_time,
                     level)
        DO UPDATE SET n = t.n + EXCLUDED.n
        RETURNING t.*
    ), bk_write AS (
        INSERT INTO score_buckets AS t
            (campaign_id, municipality_id, kind, settlement, size_band, approved, level,
             direction_id, value, n)
        SELECT campaign_id, municipality_id, kind, settlement, size_band, approved, level,
               direction_id, value, sum(n)::integer
        FROM (SELECT o.campaign_id, o.municipality_id, o.kind, o.settlement, o.size_band,
                     o.status = 'approved' AS approved, o.level, 0::bigint AS direction_id,
                     o.total_rounded AS value, -1 AS n
              FROM old_sc o
              WHERE em_status_class(o.status) IS NOT NULL AND o.total_rounded IS NOT NULL
              UNION ALL
              SELECT o.campaign_id, o.municipality_id, o.kind, o.settlement, o.size_band,
                     o.status = 'approved', o.level, d.direction_id, round(d.score, 2), -1
              FROM old_sc o JOIN old_ds d ON d.submission_id = o.submission_id
              WHERE em_status_class(o.status) IS NOT NULL AND o.total_rounded IS NOT NULL
              UNION ALL
              SELECT s.campaign_id, s.municipality_id, s.kind, s.settlement, s.size_band,
                     s.status = 'approved', s.level, 0::bigint, s.total_rounded, 1
              FROM new_sc s
              WHERE em_status_class(s.status) IS NOT NULL AND s.total_rounded IS NOT NULL
              UNION ALL
              SELECT s.campaign_id, s.municipality_id, s.kind, s.settlement, s.size_band,
                     s.status = 'approved', s.level, d.direction_id, round(d.score, 2), 1
              FROM new_sc s JOIN new_ds d ON d.submission_id = s.submission_id
              WHERE em_status_class(s.status) IS NOT NULL AND s.total_rounded IS NOT NULL) x
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 HAVING sum(n) <> 0
        ORDER BY 1, 8, 6, 2, 3, 4, 5, 7, 9
        ON CONFLICT (campaign_id, direction_id, approved, municipality_id, kind, settlement,
                     size_band, level, value)
        DO UPDATE SET n = t.n + EXCLUDED.n
        RETURNING t.*
    )
    SELECT (SELECT array_agg(ROW(campaign_id, municipality_id, kind, settlement, size_band,
                                 status, on_time, level, n)::em_count_delta)
            FROM cnt_write WHERE n = 0),
           (SELECT array_agg(ROW(campaign_id, municipality_id, kind, settlement, size_band,
                                 approved, level, direction_id, value, n)::em_bucket_delta)
            FROM bk_write WHERE n = 0),
           (SELECT array_agg(DISTINCT campaign_id)
            FROM (SELECT campaign_id FROM cnt_write UNION ALL SELECT campaign_id FROM bk_write) u)
    INTO zero_counts, zero_buckets, changed;
    IF saved_mode IS NOT NULL THEN
        PERFORM set_config('plan_cache_mode', saved_mode, true);
    END IF;

    IF zero_counts IS NOT NULL THEN
        DELETE FROM score_counts t USING unnest(zero_counts) o
        WHERE t.campaign_id = o.campaign_id AND t.municipality_id = o.municipality_id
          AND t.kind = o.kind AND t.settlement = o.settlement AND t.size_band = o.size_band
          AND t.status = o.status AND t.on_time = o.on_time AND t.level = o.level AND t.n = 0;
    END IF;
    IF zero_buckets IS NOT NULL THEN
        DELETE FROM score_buckets t USING unnest(zero_buckets) o
        WHERE t.campaign_id = o.campaign_id AND t.direction_id = o.direction_id
          AND t.approved = o.approved AND t.municipality_id = o.municipality_id
          AND t.kind = o.kind AND t.settlement = o.settlement AND t.size_band = o.size_band
          AND t.level = o.level AND t.value = o.value AND t.n = 0;
    END IF;
    IF changed IS NOT NULL THEN
        INSERT INTO aggregate_stamps AS a (campaign_id, shard, changes)
        SELECT c, (p_ids[1] % 16)::smallint, 1 FROM unnest(changed) c ORDER BY c
        ON CONFLICT (campaign_id, shard) DO UPDATE SET changes = a.changes + 1;
    END IF;
END $fn$;

-- A changed settlement or head count moves the organization's submissions of
-- every campaign to their new cluster (scores, ranks and rollups), in the
-- transaction of the change.
CREATE FUNCTION em_organization_cluster_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM em_rescore(ARRAY(SELECT s.id FROM submissions s
                             WHERE s.organization_id = NEW.id ORDER BY s.id));
    RETURN NULL;
END $$;
CREATE TRIGGER organizations_cluster_moved AFTER UPDATE OF settlement, students ON organizations
    FOR EACH ROW WHEN (OLD.settlement IS DISTINCT FROM NEW.settlement
                       OR OLD.students IS DISTINCT FROM NEW.students)
    EXECUTE FUNCTION em_organization_cluster_moved();

-- The rollups again from the score rows (as 0004 first filled them), with the
-- new keys; every campaign's stamp moves so that no kept ETag survives.
DELETE FROM score_counts;
DELETE FROM score_buckets;
INSERT INTO score_counts (campaign_id, municipality_id, kind, settlement, size_band, status,
                          on_time, level, n)
SELECT campaign_id, municipality_id, kind, settlement, size_band, status, on_time,
       coalesce(level, 'none'), count(*)
FROM submission_scores GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
INSERT INTO score_buckets (campaign_id, municipality_id, kind, settlement, size_band, approved,
                           level, direction_id, value, n)
SELECT campaign_id, municipality_id, kind, settlement, size_band, approved, level, direction_id,
       value, sum(n)
FROM em_bucket_contrib(ARRAY(SELECT submission_id FROM submission_scores), 1)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
INSERT INTO aggregate_stamps AS a (campaign_id, shard, changes)
SELECT id, 0, 1 FROM campaigns ORDER BY id
ON CONFLICT (campaign_id, shard) DO UPDATE SET changes = a.changes + 1;

-- GET /aggregates with three more groupings: settlement, size_band and
-- cluster (kind × settlement × size band: a cluster group names its key and
-- the three parts). The body is 0008's with the two keys s (settlement) and
-- b (size band) carried beside m, k, l and d, read from the same rollup rows
-- through the same primary-key conditions: a new grouping reads no more rows
-- than the existing ones, and the public feed's suppression of groups under 3
-- organizations applies to every grouping alike.
CREATE OR REPLACE FUNCTION em_aggregates(p_campaign bigint, p_groups text[], p_unapproved boolean,
                              p_previous bigint, p_public boolean, c_role text,
                              c_region bigint, c_muni bigint, c_org bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
WITH g AS (
    SELECT 'municipality' = ANY (p_groups) AS gm,
           'kind' = ANY (p_groups) OR 'cluster' = ANY (p_groups) AS gk,
           'level' = ANY (p_groups) AS gl, 'direction' = ANY (p_groups) AS gd,
           'settlement' = ANY (p_groups) OR 'cluster' = ANY (p_groups) AS gs,
           'size_band' = ANY (p_groups) OR 'cluster' = ANY (p_groups) AS gb,
           'cluster' = ANY (p_groups) AS gc
), camp AS (
    SELECT c.id, c.region_id FROM campaigns c WHERE c.id = p_campaign
), cnt AS (
    SELECT CASE WHEN g.gm THEN s.municipality_id ELSE 0 END AS m,
           CASE WHEN g.gk THEN s.kind ELSE '' END AS k,
           CASE WHEN g.gl THEN s.level ELSE '' END AS l,
           CASE WHEN g.gs THEN s.settlement ELSE '' END AS st,
           CASE WHEN g.gb THEN s.size_band ELSE '' END AS sb, sum(s.n) AS expected,
           sum(s.n) FILTER (WHERE s.status IN ('submitted', 'verified', 'approved')) AS submitted,
           sum(s.n) FILTER (WHERE s.on_time) AS on_time,
           sum(s.n) FILTER (WHERE s.status = 'approved') AS approved
    FROM g, camp JOIN score_counts s ON s.campaign_id = camp.id
    WHERE (NOT g.gl OR s.level <> 'none')
      AND (p_public OR em_in_scope(c_role, c_region, c_muni, c_org, camp.region_id,
                                   s.municipality_id, NULL))
    GROUP BY 1, 2, 3, 4, 5
), bk AS (
    SELECT b.campaign_id AS cid, CASE WHEN g.gm THEN b.municipality_id ELSE 0 END AS m,
           CASE WHEN g.gk THEN b.kind ELSE '' END AS k,
           CASE WHEN g.gl THEN b.level ELSE '' END AS l,
           CASE WHEN g.gs THEN b.settlement ELSE '' END AS st,
           CASE WHEN g.gb THEN b.size_band ELSE '' END AS sb,
           b.direction_id AS d, b.level AS lev, b.value, sum(b.n)::bigint AS n
    FROM g, camp, (
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
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
), bv AS (
    SELECT cid, m, k, l, st, sb, d, value, n,
           sum(n) OVER (PARTITION BY cid, m, k, l, st, sb, d ORDER BY value) AS cum,
           sum(n) OVER (PARTITION BY cid, m, k, l, st, sb, d) AS total
    FROM (SELECT cid, m, k, l, st, sb, d, value, sum(n)::bigint AS n FROM bk
          GROUP BY cid, m, k, l, st, sb, d, value) v
), q AS (
    SELECT cid, m, k, l, st, sb, d, sum(n) AS cnt, sum(value * n) AS sm, min(value) AS mn,
           max(value) AS mx, max(total) AS total,
           min(value) FILTER (WHERE cum > floor((total - 1) * 0.25)) AS q1_lo,
           min(value) FILTER (WHERE cum > ceil((total - 1) * 0.25)) AS q1_hi,
           min(value) FILTER (WHERE cum > floor((total - 1) * 0.5)) AS q2_lo,
           min(value) FILTER (WHERE cum > ceil((total - 1) * 0.5)) AS q2_hi,
           min(value) FILTER (WHERE cum > floor((total - 1) * 0.75)) AS q3_lo,
           min(value) FILTER (WHERE cum > ceil((total - 1) * 0.75)) AS q3_hi
    FROM bv GROUP BY cid, m, k, l, st, sb, d
), lv AS (
    SELECT cid, m, k, l, st, sb, d, jsonb_build_object(
               'high', coalesce(sum(n) FILTER (WHERE lev = 'high'), 0),
               'sufficient', coalesce(sum(n) FILTER (WHERE lev = 'sufficient'), 0),
               'low', coalesce(sum(n) FILTER (WHERE lev = 'low'), 0),
               'critical', coalesce(sum(n) FILTER (WHERE lev = 'critical'), 0)) AS levels
    FROM bk GROUP BY cid, m, k, l, st, sb, d
), stat AS (
    SELECT q.cid, q.m, q.k, q.l, q.st, q.sb, q.d, lv.levels,
           jsonb_build_object('count', q.cnt, 'mean', round(q.sm / q.cnt, 2),
               'median', round(q.q2_lo + ((q.total - 1) * 0.5 - floor((q.total - 1) * 0.5))
                                         * (q.q2_hi - q.q2_lo), 2),
               'q1', round(q.q1_lo + ((q.total - 1) * 0.25 - floor((q.total - 1) * 0.25))
                                     * (q.q1_hi - q.q1_lo), 2),
               'q3', round(q.q3_lo + ((q.total - 1) * 0.75 - floor((q.total - 1) * 0.75))
                                     * (q.q3_hi - q.q3_lo), 2),
               'min', q.mn, 'max', q.mx) AS s
    FROM q JOIN lv ON lv.cid = q.cid AND lv.m = q.m AND lv.k = q.k AND lv.l = q.l
         AND lv.st = q.st AND lv.sb = q.sb AND lv.d = q.d
), dirs AS (
    SELECT DISTINCT i.direction_id AS d FROM indicators i, g
    WHERE i.campaign_id = p_campaign AND g.gd
    UNION ALL SELECT 0 FROM g WHERE NOT g.gd
), keys AS (
    SELECT cnt.m, cnt.k, cnt.l, cnt.st, cnt.sb, dirs.d FROM cnt, dirs
    UNION SELECT m, k, l, st, sb, d FROM stat WHERE cid = p_campaign
), grp AS (
    SELECT keys.*, cnt.expected, cnt.submitted, cnt.on_time, cnt.approved,
           cur.s, cur.levels, prev.s AS ps
    FROM keys
    LEFT JOIN cnt ON cnt.m = keys.m AND cnt.k = keys.k AND cnt.l = keys.l
         AND cnt.st = keys.st AND cnt.sb = keys.sb
    LEFT JOIN stat cur ON cur.cid = p_campaign AND cur.m = keys.m AND cur.k = keys.k
         AND cur.l = keys.l AND cur.st = keys.st AND cur.sb = keys.sb AND cur.d = keys.d
    LEFT JOIN stat prev ON prev.cid = p_previous AND prev.m = keys.m AND prev.k = keys.k
         AND prev.l = keys.l AND prev.st = keys.st AND prev.sb = keys.sb AND prev.d = keys.d
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
        'cluster', CASE WHEN g.gc THEN to_jsonb(em_cluster_key(o.k, o.st, o.sb)) END,
        'kind', CASE WHEN g.gk THEN to_jsonb(o.k) END,
        'settlement', CASE WHEN g.gs THEN to_jsonb(o.st) END,
        'size_band', CASE WHEN g.gb THEN to_jsonb(o.sb) END,
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
    ORDER BY o.mname COLLATE "ru-x-icu", o.m, o.k,
             array_position(ARRAY['urban', 'rural'], o.st),
             array_position(ARRAY['small', 'medium', 'large'], o.sb), o.dpos,
             array_position(ARRAY['high', 'sufficient', 'low', 'critical'], o.l))
    FILTER (WHERE o.scored IS NOT NULL), '[]'::jsonb)
FROM g LEFT JOIN fin o ON true
$$;
