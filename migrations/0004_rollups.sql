-- 0004: rollups of the scores (issue 5), kept current by em_rescore() in the
-- transaction that changes the scores, so that aggregates at national size
-- (DESIGN §7: 100 000 organizations, 5 campaigns) never scan submissions.
--
-- Why histograms. Every aggregate figure (count, mean, min, max, median,
-- quartiles, level distribution) is defined on the PRESENTED 2-decimal scores
-- (as levels and ranks are), and a presented score is one of the 10 001 values
-- 0.00 .. 100.00. A histogram of those values per (campaign, municipality,
-- kind, approved?, level, direction) is therefore exact: mean = Σ v·n / Σ n,
-- and any quantile is found by walking the cumulative counts, with no loss.
-- A group's histogram has at most min(organizations in the group, 10 001)
-- rows, so a request reads at most the rows of one campaign (one region,
-- ~1 200 organizations on average, ~5 000 for the largest) through the
-- primary key, never the submissions, values or scores of the region; merging
-- municipalities into a kind (or a whole-region) group is a hash aggregate
-- over those rows. A sorted read of submission_scores would also be exact, but
-- it reads one row per organization and needs its own index per grouping; the
-- histogram serves every grouping from one index and shrinks as scores
-- coincide (region-wide, a kind has at most 10 001 distinct totals).
--
-- Counts (expected, submitted, on time, approved) live in score_counts, one
-- row per (campaign, municipality, kind, status, on_time, level): a few
-- hundred rows per campaign.
--
-- Incremental upkeep: em_rescore() takes the contributions of the given
-- submissions before it recomputes them (−1) and after (+1), sums them per
-- key and applies only the keys whose net change is not zero, in key order.
-- A value edit that leaves a submission's presented scores, status and level
-- unchanged writes no rollup row at all; one that changes them locks the one
-- or two rows of its (municipality, kind) group for the rest of its
-- transaction (milliseconds: em_rescore runs last in every write). Key order
-- keeps two writers from deadlocking; a deadlock would still be retried by
-- db_tx.
--
-- Conditional GETs: aggregate_stamps counts the rollup changes of a campaign;
-- the ETag of an aggregate is built from it (and the campaign row), so a 304
-- is decided without reading the rollups. The counter is split into 16 shards
-- (by submission id) so that concurrent writers of one campaign do not queue
-- on one counter row; the stamp is the SUM of the shards, which grows with
-- every committed change whatever the commit order (a max of sequence values
-- would not).

-- A submission's contribution depends on whether it was first submitted by
-- the campaign's closing time.
ALTER TABLE submission_scores ADD COLUMN on_time boolean NOT NULL DEFAULT false;

-- Which statuses count in score figures: approved (official), and submitted
-- or verified with include=unapproved; drafts and returned ones never.
CREATE FUNCTION em_status_class(status text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status = 'approved' THEN 'approved'
                WHEN status IN ('submitted', 'verified') THEN 'unapproved' END
$$;

CREATE TABLE score_counts (
    campaign_id     bigint NOT NULL,
    municipality_id bigint NOT NULL,
    kind            text NOT NULL,
    status          text NOT NULL,
    on_time         boolean NOT NULL,
    level           text NOT NULL, -- 'none' when the submission has no total
    n               integer NOT NULL,
    PRIMARY KEY (campaign_id, municipality_id, kind, status, on_time, level)
);

-- direction_id 0 holds the totals; level is the level of the submission's
-- total (so that grouping directions by level works); value is the presented
-- score. Only submissions of class approved or unapproved are counted.
CREATE TABLE score_buckets (
    campaign_id     bigint NOT NULL,
    municipality_id bigint NOT NULL,
    kind            text NOT NULL,
    approved        boolean NOT NULL,
    level           text NOT NULL,
    direction_id    bigint NOT NULL,
    value           numeric(7, 2) NOT NULL,
    n               integer NOT NULL,
    PRIMARY KEY (campaign_id, direction_id, approved, municipality_id, kind, level, value)
);

CREATE TABLE aggregate_stamps (
    campaign_id bigint NOT NULL,
    shard       smallint NOT NULL,
    changes     bigint NOT NULL,
    PRIMARY KEY (campaign_id, shard)
);

-- Ranks and the peer-group read of GET /campaigns/{id}/scores: counted rows of
-- one campaign and kind in total order (the 0003 rank index has status before
-- the total, which suits one status but not approved+unapproved).
CREATE INDEX submission_scores_campaign_rank_idx
    ON submission_scores (campaign_id, kind, total_rounded DESC, submission_id)
    WHERE status IN ('approved', 'submitted', 'verified');
-- GET /managers/{id}/scores: a manager's approved rows.
CREATE INDEX submission_scores_manager_approved_idx
    ON submission_scores (manager_id, campaign_id) WHERE status = 'approved';
-- GET /campaigns/{id}/outliers: the values a verification changed.
CREATE INDEX submission_values_changed_idx ON submission_values (submission_id)
    WHERE submitted_value IS DISTINCT FROM verified_value AND verified_value IS NOT NULL
      AND submitted_value IS NOT NULL;
-- The previous campaign of a region.
CREATE INDEX campaigns_region_year_idx ON campaigns (region_id, year DESC);

-- One rollup key and its change.
CREATE TYPE em_count_delta AS (campaign_id bigint, municipality_id bigint, kind text,
    status text, on_time boolean, level text, n integer);
CREATE TYPE em_bucket_delta AS (campaign_id bigint, municipality_id bigint, kind text,
    approved boolean, level text, direction_id bigint, value numeric(7, 2), n integer);

-- The contributions of the given submissions as they stand now, times sign.
CREATE FUNCTION em_count_contrib(p_ids bigint[], p_sign integer) RETURNS SETOF em_count_delta
LANGUAGE sql STABLE AS $$
    SELECT campaign_id, municipality_id, kind, status, on_time, coalesce(level, 'none'), p_sign
    FROM submission_scores WHERE submission_id = ANY (p_ids)
$$;

CREATE FUNCTION em_bucket_contrib(p_ids bigint[], p_sign integer) RETURNS SETOF em_bucket_delta
LANGUAGE sql STABLE AS $$
    SELECT sc.campaign_id, sc.municipality_id, sc.kind, sc.status = 'approved', sc.level,
           0::bigint, sc.total_rounded, p_sign
    FROM submission_scores sc
    WHERE sc.submission_id = ANY (p_ids) AND em_status_class(sc.status) IS NOT NULL
      AND sc.total_rounded IS NOT NULL
    UNION ALL
    SELECT sc.campaign_id, sc.municipality_id, sc.kind, sc.status = 'approved', sc.level,
           ds.direction_id, round(ds.score, 2), p_sign
    FROM submission_scores sc JOIN direction_scores ds ON ds.submission_id = sc.submission_id
    WHERE sc.submission_id = ANY (p_ids) AND em_status_class(sc.status) IS NOT NULL
      AND sc.total_rounded IS NOT NULL
$$;

-- The 0003 body keeps computing the scores; em_rescore wraps it with the
-- rollup upkeep. Same signature, so every caller is unchanged.
ALTER FUNCTION em_rescore(bigint[]) RENAME TO em_rescore_scores;

CREATE FUNCTION em_rescore(p_ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    old_counts  em_count_delta[];
    old_buckets em_bucket_delta[];
    changed     bigint[];
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN;
    END IF;
    old_counts := ARRAY(SELECT em_count_contrib(p_ids, -1));
    old_buckets := ARRAY(SELECT em_bucket_contrib(p_ids, -1));

    PERFORM em_rescore_scores(p_ids);

    UPDATE submission_scores sc
    SET on_time = coalesce(s.first_submitted_at <= c.closes_at, false)
    FROM submissions s JOIN campaigns c ON c.id = s.campaign_id
    WHERE sc.submission_id = ANY (p_ids) AND s.id = sc.submission_id
      AND sc.on_time IS DISTINCT FROM coalesce(s.first_submitted_at <= c.closes_at, false);

    WITH d AS (
        SELECT campaign_id, municipality_id, kind, status, on_time, level, sum(n)::integer AS n
        FROM (SELECT * FROM unnest(old_counts)
              UNION ALL SELECT * FROM em_count_contrib(p_ids, 1)) x
        GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(n) <> 0
        ORDER BY 1, 2, 3, 4, 5, 6
    ), up AS (
        INSERT INTO score_counts AS t SELECT * FROM d
        ON CONFLICT (campaign_id, municipality_id, kind, status, on_time, level)
        DO UPDATE SET n = t.n + EXCLUDED.n
        RETURNING t.campaign_id
    ), d2 AS (
        SELECT campaign_id, municipality_id, kind, approved, level, direction_id, value,
               sum(n)::integer AS n
        FROM (SELECT * FROM unnest(old_buckets)
              UNION ALL SELECT * FROM em_bucket_contrib(p_ids, 1)) x
        GROUP BY 1, 2, 3, 4, 5, 6, 7 HAVING sum(n) <> 0
        ORDER BY 1, 6, 4, 2, 3, 5, 7
    ), up2 AS (
        INSERT INTO score_buckets AS t
            (campaign_id, municipality_id, kind, approved, level, direction_id, value, n)
        SELECT * FROM d2
        ON CONFLICT (campaign_id, direction_id, approved, municipality_id, kind, level, value)
        DO UPDATE SET n = t.n + EXCLUDED.n
        RETURNING t.campaign_id
    )
    SELECT array_agg(DISTINCT campaign_id) INTO changed
    FROM (SELECT campaign_id FROM up UNION ALL SELECT campaign_id FROM up2) u;

    IF changed IS NOT NULL THEN
        -- Empty buckets are dropped so that a histogram stays as small as its group.
        -- Only keys the submissions left can have dropped to 0: found by primary key.
        DELETE FROM score_counts t USING unnest(old_counts) o
        WHERE t.campaign_id = o.campaign_id AND t.municipality_id = o.municipality_id
          AND t.kind = o.kind AND t.status = o.status AND t.on_time = o.on_time
          AND t.level = o.level AND t.n = 0;
        DELETE FROM score_buckets t USING unnest(old_buckets) o
        WHERE t.campaign_id = o.campaign_id AND t.direction_id = o.direction_id
          AND t.approved = o.approved AND t.municipality_id = o.municipality_id
          AND t.kind = o.kind AND t.level = o.level AND t.value = o.value AND t.n = 0;
        INSERT INTO aggregate_stamps AS a (campaign_id, shard, changes)
        SELECT c, (p_ids[1] % 16)::smallint, 1 FROM unnest(changed) c ORDER BY c
        ON CONFLICT (campaign_id, shard) DO UPDATE SET changes = a.changes + 1;
    END IF;
END $$;

-- The change stamp of a campaign: the sum of its shards (0 before any score).
CREATE FUNCTION em_aggregate_stamp(p_campaign bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(changes), 0)::bigint FROM aggregate_stamps WHERE campaign_id = p_campaign
$$;

-- A quantile of a histogram (values v with counts n), by linear interpolation
-- between the two closest ranks: position h = (N − 1)·p from 0, result
-- x[⌊h⌋] + (h − ⌊h⌋)·(x[⌈h⌉] − x[⌊h⌋]) — PostgreSQL's percentile_cont and
-- Python's statistics.quantiles(method='inclusive'). Presented rounded half-up
-- to 2 decimals by the caller.
CREATE FUNCTION em_hist_quantile(v numeric[], n bigint[], p numeric) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    WITH b AS (SELECT x.v, sum(x.n) OVER (ORDER BY x.v) AS cum
               FROM unnest(v, n) AS x(v, n) WHERE x.n > 0),
         h AS (SELECT (sum(x.n) - 1) * p AS h FROM unnest(n) AS x(n) HAVING sum(x.n) > 0)
    SELECT lo.v + (h.h - floor(h.h)) * (hi.v - lo.v)
    FROM h,
         LATERAL (SELECT b.v FROM b WHERE b.cum > floor(h.h) ORDER BY b.v LIMIT 1) lo,
         LATERAL (SELECT b.v FROM b WHERE b.cum > ceil(h.h) ORDER BY b.v LIMIT 1) hi
$$;

-- count, mean, median, q1, q3, min and max of a histogram, presented rounded
-- half-up to 2 decimals (scores are never negative, so round() is half-up).
CREATE FUNCTION em_hist_summary(v numeric[], n bigint[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('count', coalesce(s.cnt, 0),
        'mean', round(s.sm / nullif(s.cnt, 0), 2),
        'median', CASE WHEN s.cnt > 0 THEN round(em_hist_quantile(v, n, 0.5), 2) END,
        'q1', CASE WHEN s.cnt > 0 THEN round(em_hist_quantile(v, n, 0.25), 2) END,
        'q3', CASE WHEN s.cnt > 0 THEN round(em_hist_quantile(v, n, 0.75), 2) END,
        'min', s.mn, 'max', s.mx)
    FROM (SELECT sum(x.n) AS cnt, sum(x.v * x.n) AS sm, min(x.v) FILTER (WHERE x.n > 0) AS mn,
                 max(x.v) FILTER (WHERE x.n > 0) AS mx
          FROM unnest(v, n) AS x(v, n)) s
$$;

-- The groups of GET /aggregates as a JSON array (src/monitoring/aggregates.c
-- answers with it). p_groups names the keys (municipality, kind, direction,
-- level); p_previous is the region's previous campaign (or NULL); p_public
-- suppresses every group of fewer than 3 organizations (the public feed of a
-- published campaign reads its whole region). Otherwise the caller's scope
-- (c_*) limits the municipalities read: a municipal operator aggregates its
-- own. Keys not grouped on are 0 or '' (not NULL) so that groups join by
-- hash. Counts come from score_counts (a direction does not split
-- organizations: a direction group carries the counts of its other keys);
-- the figures from the histograms of score_buckets. Reads only the rollup
-- rows of two campaigns through their primary keys.
CREATE FUNCTION em_aggregates(p_campaign bigint, p_groups text[], p_unapproved boolean,
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
    FROM g, camp JOIN score_buckets b ON b.campaign_id IN (camp.id, p_previous)
    WHERE (b.direction_id <> 0) = g.gd AND (b.approved OR p_unapproved)
      AND (p_public OR em_in_scope(c_role, c_region, c_muni, c_org, camp.region_id,
                                   b.municipality_id, NULL))
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

-- Existing scores (none in a fresh database) enter the rollups once.
INSERT INTO score_counts
SELECT campaign_id, municipality_id, kind, status, on_time, coalesce(level, 'none'), count(*)
FROM submission_scores GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO score_buckets (campaign_id, municipality_id, kind, approved, level, direction_id, value, n)
SELECT campaign_id, municipality_id, kind, approved, level, direction_id, value, sum(n)
FROM em_bucket_contrib(ARRAY(SELECT submission_id FROM submission_scores), 1)
GROUP BY 1, 2, 3, 4, 5, 6, 7;
