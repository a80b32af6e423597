-- sql/10_scoring.sql — scoring (DESIGN §3): the level, an indicator's score,
-- the rollup contributions, em_rescore (run in the transaction that changes
-- its inputs) and its per-campaign form.
--
-- The current definition of each function lives here, once, as CREATE OR
-- REPLACE. `effmond migrate` applies the files of sql/ in name order after the
-- migrations, each in its own transaction, whenever a file's text differs
-- from what schema_functions records. A function whose signature or return
-- type changes, or that is dropped, needs a migration (DROP FUNCTION) first.

-- The level of a presented total under a campaign's thresholds.
CREATE OR REPLACE FUNCTION em_level(total numeric, high numeric, sufficient numeric, low numeric)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN total IS NULL THEN NULL
                WHEN total >= high THEN 'high'
                WHEN total >= sufficient THEN 'sufficient'
                WHEN total >= low THEN 'low'
                ELSE 'critical' END
$$;

-- The score of one value in [0, 1] (DESIGN §3): 1 or 0 for a boolean, else
-- t = clamp((v - min) / (max - min), 0, 1), and t or 1 - t by polarity; a
-- missing value scores 0.
CREATE OR REPLACE FUNCTION em_indicator_score(v numeric, value_type text, polarity text,
                                   min_value numeric, max_value numeric)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN 0
                WHEN value_type = 'boolean' THEN CASE WHEN v <> 0 THEN 1 ELSE 0 END
                WHEN polarity = 'down' THEN 1 - greatest(0, least(1, (v - min_value) / (max_value - min_value)))
                ELSE greatest(0, least(1, (v - min_value) / (max_value - min_value))) END
$$;

-- The contributions of the given submissions as they stand now, times sign:
-- the rollup rows they make (counts, and the buckets of totals and direction
-- scores); the tests rebuild the rollups with them.
CREATE OR REPLACE FUNCTION em_count_contrib(p_ids bigint[], p_sign integer) RETURNS SETOF em_count_delta
LANGUAGE sql STABLE AS $$
    SELECT campaign_id, municipality_id, kind, settlement, size_band, status, on_time,
           coalesce(level, 'none'), p_sign
    FROM submission_scores WHERE submission_id = ANY (p_ids)
$$;

CREATE OR REPLACE FUNCTION em_bucket_contrib(p_ids bigint[], p_sign integer) RETURNS SETOF em_bucket_delta
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

-- Statistics for the tables a large rescore reads, where PostgreSQL has none
-- worth the name: ANALYZE each of them that was never analysed (reltuples <
-- 0) or has more than doubled since it was (its pages against relpages), as
-- on a fresh database before autovacuum's first visit, or when a first import
-- fills a table analysed empty; the rescore's own transaction's rows count,
-- autovacuum's would come after the commit. Without them a rescore plans its
-- CTE joins for a handful of rows and nests loops over thousands: 20 000
-- imported values took 18 s on a fresh database, 0.3 s after an ANALYZE.
-- ANALYZE samples at most 30 000 rows of a table, so the cost is bounded; a
-- table of national size never doubles in one import.
CREATE OR REPLACE FUNCTION em_analyze_new_tables() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid::regclass FROM pg_class c
             WHERE c.oid = ANY (ARRAY['submissions', 'submission_values', 'indicators',
                                      'campaigns', 'organizations', 'submission_scores',
                                      'direction_scores', 'score_counts', 'score_buckets',
                                      'score_ranks', 'aggregate_summaries']::regclass[])
               AND (c.reltuples < 0
                    OR pg_relation_size(c.oid) / current_setting('block_size')::bigint
                       > 2 * c.relpages + 8)
             ORDER BY c.oid LOOP
        EXECUTE format('ANALYZE %s', t);
    END LOOP;
END $fn$;

-- Scores the given submissions (DESIGN §3) in one set-wise statement, in the
-- transaction that changed their inputs: each table is read once, only the
-- score and direction rows that differ are written (a score row carries its
-- direction scores as the scores page shows them, migration 0018), the ranks
-- of the partitions a change moves are rebuilt (em_rerank), and the rollups
-- (score_counts, score_buckets) move by the deltas of old and new rows, keyed
-- by municipality, kind, the organization's settlement and size band (its
-- peer cluster), status and level; zeroed keys are deleted under the lock the
-- first statement took, the summaries of the histograms that moved are
-- recomputed (em_summarize), and the campaign's change stamp is bumped. A small set
-- runs with its cached plan, a large one is planned with its real size; JIT
-- is off (CTE estimates pass jit_above_cost; compiling took longer than
-- running) and work_mem is raised so a campaign's hash tables do not spill;
-- a large set first takes the statistics a fresh database lacks.
CREATE OR REPLACE FUNCTION em_rescore(p_ids bigint[]) RETURNS void LANGUAGE plpgsql
SET jit = off SET work_mem = '64MB' AS $fn$
DECLARE
    zero_counts  em_count_delta[];
    zero_buckets em_bucket_delta[];
    changed      bigint[];
    rank_parts   em_rank_part[];
    summaries    em_summary_key[];
    saved_mode   text;  -- plan_cache_mode before a large set
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN;
    END IF;
    -- The rank lock before any rollup row: with it taken first, a transaction
    -- that rescores twice cannot wait on a rollup row whose holder waits on it.
    PERFORM em_rank_lock(ARRAY(
        SELECT campaign_id FROM submissions
        WHERE id = ANY (p_ids) AND em_status_class(status) IS NOT NULL
        UNION
        SELECT campaign_id FROM submission_scores
        WHERE submission_id = ANY (p_ids) AND em_status_class(status) IS NOT NULL));
    IF cardinality(p_ids) > 64 THEN
        PERFORM em_analyze_new_tables();
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
    ), new_ds AS MATERIALIZED (
        -- Per submission and direction: the weights of its applicable
        -- indicators and the weighted scores of its values, summed from one
        -- list of both (no join of a grouped side: planned for a few rows on
        -- a fresh database, such a join was re-aggregated per outer row).
        SELECT x.submission_id, x.direction_id, x.campaign_id,
               100 * coalesce(sum(x.ws), 0) / sum(x.w) AS score, coalesce(sum(x.ws), 0) AS ws,
               sum(x.w) AS w, sum(x.applicable)::integer AS applicable,
               sum(x.filled)::integer AS filled
        FROM (SELECT s.id AS submission_id, i.direction_id, s.campaign_id, i.weight AS w,
                     1 AS applicable, NULL::numeric AS ws, 0 AS filled
              FROM sub s JOIN ind i ON i.campaign_id = s.campaign_id AND i.kind = s.kind
              UNION ALL
              SELECT v.submission_id, i.direction_id, v.campaign_id, 0, 0,
                     i.weight * em_indicator_score(v.value, i.value_type, i.polarity,
                                                   i.min_value, i.max_value), 1
              FROM vals v
              JOIN ind i ON i.id = v.indicator_id AND i.campaign_id = v.campaign_id
               AND i.kind = v.kind) x
        GROUP BY x.submission_id, x.direction_id, x.campaign_id
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
               -- Every direction's code, its score at 2 decimals where it applies.
               (SELECT jsonb_object_agg(d.code, NULL) FROM directions d)
                   || coalesce(t.directions, '{}') AS directions,
               o.submission_id IS NULL AS is_new, o AS old
        FROM sub s
        LEFT JOIN (SELECT n.submission_id, 100 * sum(n.ws) / sum(n.w) AS total,
                          sum(n.applicable)::integer AS applicable,
                          sum(n.filled)::integer AS filled,
                          jsonb_object_agg(d.code, round(n.score, 2)) AS directions
                   FROM new_ds n JOIN directions d ON d.id = n.direction_id
                   GROUP BY n.submission_id) t ON t.submission_id = s.id
        LEFT JOIN old_sc o ON o.submission_id = s.id
    ), sc_write AS (
        INSERT INTO submission_scores AS sc (submission_id, campaign_id, region_id, municipality_id,
            organization_id, manager_id, kind, status, total, total_rounded, level, applicable,
            filled, completeness, on_time, settlement, size_band, directions, computed_at)
        SELECT n.submission_id, n.campaign_id, n.region_id, n.municipality_id, n.organization_id,
               n.manager_id, n.kind, n.status, n.total, n.total_rounded, n.level, n.applicable,
               n.filled, n.completeness, n.on_time, n.settlement, n.size_band, n.directions, now()
        FROM new_sc n
        WHERE n.is_new
           OR ((n.old).manager_id, (n.old).kind, (n.old).status, (n.old).total, scale((n.old).total),
               (n.old).total_rounded, (n.old).level, (n.old).applicable, (n.old).filled,
               (n.old).completeness, scale((n.old).completeness), (n.old).on_time,
               (n.old).settlement, (n.old).size_band, (n.old).directions::text)
              IS DISTINCT FROM
              (n.manager_id, n.kind, n.status, n.total, scale(n.total), n.total_rounded, n.level,
               n.applicable, n.filled, n.completeness, scale(n.completeness), n.on_time,
               n.settlement, n.size_band, n.directions::text)
        ON CONFLICT (submission_id) DO UPDATE SET
            manager_id = EXCLUDED.manager_id, kind = EXCLUDED.kind, status = EXCLUDED.status,
            total = EXCLUDED.total, total_rounded = EXCLUDED.total_rounded, level = EXCLUDED.level,
            applicable = EXCLUDED.applicable, filled = EXCLUDED.filled,
            completeness = EXCLUDED.completeness, on_time = EXCLUDED.on_time,
            settlement = EXCLUDED.settlement, size_band = EXCLUDED.size_band,
            directions = EXCLUDED.directions, computed_at = EXCLUDED.computed_at
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
            FROM (SELECT campaign_id FROM cnt_write UNION ALL SELECT campaign_id FROM bk_write) u),
           -- The summaries of the histograms that moved: the approved set's
           -- for an approved entry, the include=unapproved set's for any.
           (SELECT array_agg(DISTINCT ROW(b.campaign_id, b.municipality_id, b.direction_id,
                                          u.unapproved)::em_summary_key)
            FROM bk_write b CROSS JOIN (VALUES (false), (true)) u (unapproved)
            WHERE b.approved OR u.unapproved),
           -- The rank partitions, of each set, of the rows whose place in that set
           -- changed (in or out, or its total, kind, municipality or cluster): old and new.
           (SELECT array_agg(DISTINCT ROW(x.campaign_id, p.scope, x.kind, p.municipality_id,
                                          p.settlement, p.size_band, u.unapproved)::em_rank_part)
            FROM new_sc n
            CROSS JOIN LATERAL (VALUES (true), (false)) u (unapproved)
            CROSS JOIN LATERAL (VALUES ((n.old).campaign_id, (n.old).kind, (n.old).municipality_id,
                                        (n.old).settlement, (n.old).size_band,
                                        em_rank_member((n.old).status, (n.old).total_rounded,
                                                       u.unapproved), (n.old).total_rounded),
                                       (n.campaign_id, n.kind, n.municipality_id, n.settlement,
                                        n.size_band,
                                        em_rank_member(n.status, n.total_rounded, u.unapproved),
                                        n.total_rounded))
                       x (campaign_id, kind, municipality_id, settlement, size_band, member,
                          total_rounded)
            CROSS JOIN LATERAL (VALUES ('r'::"char", 0::bigint, ''::text, ''::text),
                                       ('m', x.municipality_id, '', ''),
                                       ('c', 0, x.settlement, x.size_band))
                       p (scope, municipality_id, settlement, size_band)
            WHERE x.member
              AND (em_rank_member((n.old).status, (n.old).total_rounded, u.unapproved),
                   (n.old).total_rounded, (n.old).kind, (n.old).municipality_id,
                   (n.old).settlement, (n.old).size_band)
                  IS DISTINCT FROM
                  (em_rank_member(n.status, n.total_rounded, u.unapproved), n.total_rounded,
                   n.kind, n.municipality_id, n.settlement, n.size_band))
    INTO zero_counts, zero_buckets, changed, summaries, rank_parts;
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
    IF summaries IS NOT NULL THEN
        PERFORM em_summarize(summaries);
    END IF;
    IF rank_parts IS NOT NULL THEN
        PERFORM em_rerank(rank_parts);
    END IF;
    IF changed IS NOT NULL THEN
        INSERT INTO aggregate_stamps AS a (campaign_id, shard, changes)
        SELECT c, (p_ids[1] % 16)::smallint, 1 FROM unnest(changed) c ORDER BY c
        ON CONFLICT (campaign_id, shard) DO UPDATE SET changes = a.changes + 1;
    END IF;
END $fn$;

-- Whether a score row ranks in a set: with a total, approved, or (the
-- include=unapproved set) approved, submitted or verified.
CREATE OR REPLACE FUNCTION em_rank_member(status text, total numeric, unapproved boolean)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT total IS NOT NULL
           AND coalesce(CASE WHEN unapproved THEN em_status_class(status) IS NOT NULL
                             ELSE status = 'approved' END, false)
$$;

-- The lock under which a campaign's ranks change: one transaction at a time
-- per campaign (an advisory lock, held to commit), taken in id order.
CREATE OR REPLACE FUNCTION em_rank_lock(p_campaigns bigint[]) RETURNS void LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('score-ranks:' || c, 0))
    FROM (SELECT DISTINCT c FROM unnest(p_campaigns) c WHERE c IS NOT NULL ORDER BY 1) x;
END $fn$;

-- Rebuilds the given rank partitions of their sets (migration 0017) from submission_scores:
-- each total its counted rows reach, how many reach it, its dense rank; only
-- the rows that differ are written. Under em_rank_lock (em_rescore takes it
-- before it writes anything, and so, again, does this), each rebuild reads
-- the rows the last one committed, and concurrent changes cannot leave a
-- stale rank behind. Planned for each set of partitions (one or a few for a
-- submission, every one of a campaign for its rescore), not with one plan
-- for both.
CREATE OR REPLACE FUNCTION em_rerank(p_parts em_rank_part[]) RETURNS void LANGUAGE plpgsql
SET jit = off SET plan_cache_mode = force_custom_plan AS $fn$
BEGIN
    PERFORM em_rank_lock(ARRAY(SELECT (p).campaign_id FROM unnest(p_parts) p));
    WITH parts AS MATERIALIZED (
        SELECT DISTINCT * FROM unnest(p_parts)
    ), counted AS (
        -- Each partition's rows in its set, read by the index that narrows
        -- to it: (campaign, kind) for a region's or a cluster's,
        -- (campaign, municipality) for a municipality's.
        SELECT p.*, sc.total_rounded
        FROM parts p JOIN submission_scores sc
          ON sc.campaign_id = p.campaign_id AND sc.kind = p.kind
        WHERE p.scope = 'r' AND em_rank_member(sc.status, sc.total_rounded, p.unapproved)
        UNION ALL
        SELECT p.*, sc.total_rounded
        FROM parts p JOIN submission_scores sc
          ON sc.campaign_id = p.campaign_id AND sc.municipality_id = p.municipality_id
         AND sc.kind = p.kind
        WHERE p.scope = 'm' AND em_rank_member(sc.status, sc.total_rounded, p.unapproved)
        UNION ALL
        SELECT p.*, sc.total_rounded
        FROM parts p JOIN submission_scores sc
          ON sc.campaign_id = p.campaign_id AND sc.kind = p.kind
         AND sc.settlement = p.settlement AND sc.size_band = p.size_band
        WHERE p.scope = 'c' AND em_rank_member(sc.status, sc.total_rounded, p.unapproved)
    ), want AS MATERIALIZED (
        SELECT campaign_id, scope, kind, municipality_id, settlement, size_band, unapproved,
               value, n,
               dense_rank() OVER (PARTITION BY campaign_id, scope, kind, municipality_id,
                                               settlement, size_band, unapproved
                                  ORDER BY value DESC)::integer AS rank
        FROM (SELECT c.campaign_id, c.scope, c.kind, c.municipality_id, c.settlement,
                     c.size_band, c.unapproved, c.total_rounded AS value, count(*)::integer AS n
              FROM counted c
              GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) x
    ), gone AS (
        DELETE FROM score_ranks t USING parts p
        WHERE t.campaign_id = p.campaign_id AND t.scope = p.scope AND t.kind = p.kind
          AND t.municipality_id = p.municipality_id AND t.settlement = p.settlement
          AND t.size_band = p.size_band AND t.unapproved = p.unapproved
          AND (t.campaign_id, t.scope, t.kind, t.municipality_id, t.settlement, t.size_band,
               t.unapproved, t.value) NOT IN
              (SELECT campaign_id, scope, kind, municipality_id, settlement, size_band,
                      unapproved, value FROM want)
    )
    -- Only the entries that are new or differ: a rank shifts for the totals
    -- below a change, not for the whole partition.
    INSERT INTO score_ranks AS t (campaign_id, scope, kind, municipality_id, settlement,
                                  size_band, unapproved, value, n, rank)
    SELECT w.* FROM want w
    LEFT JOIN score_ranks o
      ON o.campaign_id = w.campaign_id AND o.scope = w.scope AND o.kind = w.kind
     AND o.municipality_id = w.municipality_id AND o.settlement = w.settlement
     AND o.size_band = w.size_band AND o.unapproved = w.unapproved AND o.value = w.value
    WHERE o.campaign_id IS NULL OR (o.n, o.rank) IS DISTINCT FROM (w.n, w.rank)
    ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (campaign_id, scope, kind, municipality_id, settlement, size_band, unapproved,
                 value)
    DO UPDATE SET n = EXCLUDED.n, rank = EXCLUDED.rank
    WHERE (t.n, t.rank) IS DISTINCT FROM (EXCLUDED.n, EXCLUDED.rank);
END $fn$;

-- Every submission of a campaign, e.g. after its thresholds change.
CREATE OR REPLACE FUNCTION em_rescore_campaign(p_campaign bigint) RETURNS void LANGUAGE sql AS $$
    SELECT em_rescore(array_agg(id)) FROM submissions WHERE campaign_id = p_campaign;
$$;

-- The items of a page of GET /campaigns/{id}/scores (src/monitoring/scores.c
-- picks the page): each row with its names, direction scores and its ranks
-- in its three partitions of score_ranks, read by key (null without a
-- total). p_unapproved: the ranks among approved, submitted and verified rows
-- (include=unapproved) instead of the approved alone. PL/pgSQL with its own
-- plan_cache_mode, so its plan is made once per session, not once per page
-- (the page's statement runs with force_custom_plan).
CREATE OR REPLACE FUNCTION em_score_items(p_ids bigint[], p_unapproved boolean)
RETURNS TABLE (submission_id bigint, item jsonb) LANGUAGE plpgsql STABLE
SET plan_cache_mode = auto AS $fn$
BEGIN
    RETURN QUERY
    SELECT r.submission_id, jsonb_build_object(
        'submission_id', r.submission_id, 'campaign_id', r.campaign_id,
        'organization_id', r.organization_id, 'organization_name', o.short_name,
        'municipality_id', r.municipality_id, 'kind', r.kind, 'manager_id', r.manager_id,
        'manager_name', m.full_name, 'status', r.status, 'total', r.total_rounded,
        'level', r.level, 'completeness', round(r.completeness, 4),
        'directions', r.directions,
        'rank_region', lr.rank, 'rank_municipality', lm.rank,
        'settlement', r.settlement, 'size_band', r.size_band,
        'cluster', em_cluster_key(r.kind, r.settlement, r.size_band), 'rank_cluster', lc.rank)
    FROM submission_scores r
    JOIN organizations o ON o.id = r.organization_id
    LEFT JOIN managers m ON m.id = r.manager_id
    LEFT JOIN score_ranks lr
      ON (lr.campaign_id, lr.scope, lr.kind, lr.municipality_id, lr.settlement, lr.size_band,
          lr.unapproved, lr.value)
       = (r.campaign_id, 'r', r.kind, 0, '', '', p_unapproved, r.total_rounded)
    LEFT JOIN score_ranks lm
      ON (lm.campaign_id, lm.scope, lm.kind, lm.municipality_id, lm.settlement, lm.size_band,
          lm.unapproved, lm.value)
       = (r.campaign_id, 'm', r.kind, r.municipality_id, '', '', p_unapproved, r.total_rounded)
    LEFT JOIN score_ranks lc
      ON (lc.campaign_id, lc.scope, lc.kind, lc.municipality_id, lc.settlement, lc.size_band,
          lc.unapproved, lc.value)
       = (r.campaign_id, 'c', r.kind, 0, r.settlement, r.size_band, p_unapproved,
          r.total_rounded)
    WHERE r.submission_id = ANY (p_ids);
END $fn$;
