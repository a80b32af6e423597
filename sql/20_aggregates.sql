-- sql/20_aggregates.sql — aggregates from the rollups: the campaign's change
-- stamp, histogram quantiles and summaries, em_aggregates.
--
-- The current definition of each function lives here, once, as CREATE OR
-- REPLACE. `effmond migrate` applies the files of sql/ in name order after the
-- migrations, each in its own transaction, whenever a file's text differs
-- from what schema_functions records. A function whose signature or return
-- type changes, or that is dropped, needs a migration (DROP FUNCTION) first.

-- The change stamp of a campaign: the sum of its shards (0 before any score).
CREATE OR REPLACE FUNCTION em_aggregate_stamp(p_campaign bigint) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(changes), 0)::bigint FROM aggregate_stamps WHERE campaign_id = p_campaign
$$;

-- A quantile of a histogram (values v with counts n), by linear interpolation
-- between the two closest ranks: position h = (N − 1)·p from 0, result
-- x[⌊h⌋] + (h − ⌊h⌋)·(x[⌈h⌉] − x[⌊h⌋]) — PostgreSQL's percentile_cont and
-- Python's statistics.quantiles(method='inclusive'). Presented rounded half-up
-- to 2 decimals by the caller.
CREATE OR REPLACE FUNCTION em_hist_quantile(v numeric[], n bigint[], p numeric) RETURNS numeric
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
CREATE OR REPLACE FUNCTION em_hist_summary(v numeric[], n bigint[]) RETURNS jsonb
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

-- The figures of each group g of histogram entries (value, the level of the
-- submission's total, how many): count, mean, median and quartiles (the
-- interpolation of em_hist_quantile, set-wise: the value at 0-based position
-- i is the smallest whose cumulative count exceeds i; for the quartile k/4 of
-- N values, h = (N - 1)·k/4, so ⌊h⌋, ⌈h⌉ and h − ⌊h⌋ are integer
-- arithmetic), min, max, presented rounded half-up to 2 decimals, and the
-- level distribution. em_aggregates computes the groups of a request with
-- it, em_summarize the kept ones.
CREATE OR REPLACE FUNCTION em_hist_stats(p_rows em_hist_row[])
RETURNS TABLE (grp bigint, stat jsonb, levels jsonb) LANGUAGE sql IMMUTABLE AS $$
    WITH r AS (
        SELECT x.g, x.value, x.level, x.n::integer AS n FROM unnest(p_rows) x WHERE x.n > 0
    ), b AS (
        SELECT v.g, v.value, v.n, sum(v.n) OVER (PARTITION BY v.g ORDER BY v.value) AS cum,
               sum(v.n) OVER (PARTITION BY v.g) AS total
        FROM (SELECT r.g, r.value, sum(r.n)::integer AS n FROM r GROUP BY r.g, r.value) v
    ), q AS (
        SELECT b.g, sum(b.n) AS cnt, sum(b.value * b.n) AS sm, min(b.value) AS mn,
               max(b.value) AS mx, max(b.total) - 1 AS last,
               min(b.value) FILTER (WHERE b.cum > (b.total - 1) / 4) AS q1_lo,
               min(b.value) FILTER (WHERE b.cum > (b.total + 2) / 4) AS q1_hi,
               min(b.value) FILTER (WHERE b.cum > (b.total - 1) * 2 / 4) AS q2_lo,
               min(b.value) FILTER (WHERE b.cum > ((b.total - 1) * 2 + 3) / 4) AS q2_hi,
               min(b.value) FILTER (WHERE b.cum > (b.total - 1) * 3 / 4) AS q3_lo,
               min(b.value) FILTER (WHERE b.cum > ((b.total - 1) * 3 + 3) / 4) AS q3_hi
        FROM b GROUP BY b.g
    ), lv AS (
        SELECT r.g, jsonb_build_object(
                   'high', coalesce(sum(r.n) FILTER (WHERE r.level = 'high'), 0),
                   'sufficient', coalesce(sum(r.n) FILTER (WHERE r.level = 'sufficient'), 0),
                   'low', coalesce(sum(r.n) FILTER (WHERE r.level = 'low'), 0),
                   'critical', coalesce(sum(r.n) FILTER (WHERE r.level = 'critical'), 0))
                   AS levels
        FROM r GROUP BY r.g
    )
    SELECT q.g,
           jsonb_build_object('count', q.cnt, 'mean', round(q.sm / q.cnt, 2),
               'median', round(q.q2_lo + (q.last * 2 % 4) / 4.0 * (q.q2_hi - q.q2_lo), 2),
               'q1', round(q.q1_lo + (q.last % 4) / 4.0 * (q.q1_hi - q.q1_lo), 2),
               'q3', round(q.q3_lo + (q.last * 3 % 4) / 4.0 * (q.q3_hi - q.q3_lo), 2),
               'min', q.mn, 'max', q.mx),
           lv.levels
    FROM q JOIN lv ON lv.g = q.g
$$;

-- The groupings aggregate_summaries serve: by municipality, with or without
-- direction. The others merge the municipalities' histograms per request.
CREATE OR REPLACE FUNCTION em_summary_groups(p_groups text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'municipality' = ANY (p_groups) AND p_groups <@ ARRAY['municipality', 'direction']
$$;

-- Recomputes the given summary rows (migration 0019) from score_buckets:
-- each (campaign, municipality, direction) of its set, the approved
-- histogram entries or (unapproved) all of them; a group left without
-- entries is deleted, a row that would not change is not written. em_rescore
-- calls it, under the campaign's rank lock, with the keys whose histogram it
-- changed.
CREATE OR REPLACE FUNCTION em_summarize(p_keys em_summary_key[]) RETURNS void
LANGUAGE plpgsql SET jit = off AS $fn$
BEGIN
    WITH k AS MATERIALIZED (
        SELECT x.*, row_number() OVER () AS g
        FROM (SELECT DISTINCT * FROM unnest(p_keys)) x
    ), h AS MATERIALIZED (
        SELECT k.g, b.value, b.level, b.n::bigint AS n
        FROM k CROSS JOIN LATERAL unnest(CASE WHEN k.unapproved THEN '{t,f}'::boolean[]
                                              ELSE '{t}' END) ap (approved)
        JOIN score_buckets b
          ON b.campaign_id = k.campaign_id AND b.direction_id = k.direction_id
         AND b.approved = ap.approved AND b.municipality_id = k.municipality_id
        WHERE b.n > 0
    ), st AS MATERIALIZED (
        SELECT * FROM em_hist_stats(ARRAY(SELECT ROW(g, value, level, n)::em_hist_row FROM h))
    ), gone AS (
        DELETE FROM aggregate_summaries a USING k
        WHERE a.campaign_id = k.campaign_id AND a.direction_id = k.direction_id
          AND a.unapproved = k.unapproved AND a.municipality_id = k.municipality_id
          AND k.g NOT IN (SELECT grp FROM st)
    )
    INSERT INTO aggregate_summaries AS a (campaign_id, direction_id, unapproved,
                                          municipality_id, stat, levels)
    SELECT k.campaign_id, k.direction_id, k.unapproved, k.municipality_id, st.stat, st.levels
    FROM k JOIN st ON st.grp = k.g
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (campaign_id, direction_id, unapproved, municipality_id)
    DO UPDATE SET stat = EXCLUDED.stat, levels = EXCLUDED.levels
    WHERE (a.stat, a.levels) IS DISTINCT FROM (EXCLUDED.stat, EXCLUDED.levels);
END $fn$;

-- The public feed's complementary suppression. A group under 3 organizations is
-- suppressed, but its figures would come back by subtraction from a coarser
-- group the feed also publishes (the kind from its clusters, the campaign from
-- its municipalities): along each dimension that splits organizations
-- (municipality, kind, settlement, size band, level), the groups that differ
-- in that dimension alone must hide none or at least two. Where exactly one is
-- hidden, the smallest other one is hidden too (count, then its place in the
-- answer), until nothing changes. Directions do not split organizations (each
-- is in every direction's group), so they are part of a group's identity.
CREATE OR REPLACE FUNCTION em_public_suppress(groups jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $fn$
DECLARE
    dims constant text[] := ARRAY['municipality_id', 'kind', 'settlement', 'size_band', 'level'];
    keys constant text[] := ARRAY['municipality_id', 'kind', 'settlement', 'size_band', 'level',
                                  'direction'];
    hide constant jsonb := jsonb_build_object('count', NULL, 'mean', NULL, 'median', NULL,
        'q1', NULL, 'q3', NULL, 'min', NULL, 'max', NULL, 'levels', NULL,
        'mean_previous', NULL, 'mean_change', NULL, 'suppressed',
        'complementary: another group of the same total has fewer than 3 organizations');
    g jsonb := groups;
    d text;
    victims int[];
    rounds int := 0;
    changed boolean := true;
BEGIN
    WHILE changed AND rounds < 20 LOOP
        changed := false;
        rounds := rounds + 1;
        FOREACH d IN ARRAY dims LOOP
            SELECT array_agg(v.ord) INTO victims FROM (
                SELECT DISTINCT ON (p.ident) p.ord
                FROM (SELECT e.ord, e.v, (SELECT coalesce(jsonb_object_agg(k, e.v -> k), '{}')
                              FROM unnest(keys) k WHERE k <> d AND e.v ? k) AS ident,
                             count(*) FILTER (WHERE e.v ->> 'suppressed' IS NOT NULL)
                                 OVER w AS hidden,
                             bool_or(e.v ? d) OVER w AS split
                      FROM jsonb_array_elements(g) WITH ORDINALITY e (v, ord)
                      WINDOW w AS (PARTITION BY (SELECT coalesce(jsonb_object_agg(k, e.v -> k),
                                   '{}') FROM unnest(keys) k WHERE k <> d AND e.v ? k))) p
                WHERE p.hidden = 1 AND p.split AND p.v ->> 'suppressed' IS NULL
                ORDER BY p.ident, (p.v ->> 'count')::bigint, p.ord) v;
            IF victims IS NOT NULL THEN
                changed := true;
                SELECT jsonb_agg(CASE WHEN e.ord = ANY (victims) THEN e.v || hide ELSE e.v END
                                 ORDER BY e.ord)
                INTO g FROM jsonb_array_elements(g) WITH ORDINALITY e (v, ord);
            END IF;
        END LOOP;
    END LOOP;
    RETURN g;
END $fn$;

-- GET /aggregates: counts, shares, the level distribution and the summary of
-- totals (or direction scores) per group, from the rollups, with the change
-- since the previous campaign. Groupings: municipality, kind, level,
-- direction, settlement, size_band and cluster (kind × settlement × size
-- band: a cluster group names its key and the three parts). The groupings
-- by municipality (and direction) read the kept summaries (em_summarize);
-- every other grouping merges the histogram rows of score_buckets, read
-- through the primary key's leading columns (campaign, direction 0 or > 0,
-- approved), into its groups' histograms (em_hist_stats). The public feed's
-- suppression of groups under 3 organizations applies to every grouping alike.
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
), bkg AS MATERIALIZED (
    SELECT bk.*, dense_rank() OVER (ORDER BY cid, m, k, l, st, sb, d) AS gi FROM bk
), stat AS (
    -- By municipality (and direction): the kept summaries. Otherwise the
    -- groups' histograms merged from the municipalities'. The condition on
    -- the parameters alone is decided once, before either side is read.
    SELECT a.campaign_id AS cid, a.municipality_id AS m, ''::text AS k, ''::text AS l,
           ''::text AS st, ''::text AS sb, a.direction_id AS d, a.levels, a.stat AS s
    FROM camp, aggregate_summaries a
    WHERE em_summary_groups(p_groups)
      AND a.campaign_id IN (p_campaign, p_previous)
      AND a.direction_id BETWEEN CASE WHEN 'direction' = ANY (p_groups) THEN 1 ELSE 0 END
                             AND CASE WHEN 'direction' = ANY (p_groups)
                                      THEN 9223372036854775807 ELSE 0 END
      AND a.unapproved = p_unapproved
      AND (p_public OR em_in_scope(c_role, c_region, c_muni, c_org, camp.region_id,
                                   a.municipality_id, NULL))
    UNION ALL
    SELECT gk.cid, gk.m, gk.k, gk.l, gk.st, gk.sb, gk.d, h.levels, h.stat
    FROM (SELECT DISTINCT cid, m, k, l, st, sb, d, gi FROM bkg) gk
    JOIN em_hist_stats(ARRAY(SELECT ROW(gi, value, lev, n)::em_hist_row FROM bkg)) h
      ON h.grp = gk.gi
    WHERE NOT em_summary_groups(p_groups)
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
SELECT CASE WHEN p_public THEN em_public_suppress(x.a) ELSE x.a END FROM (
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
    FILTER (WHERE o.scored IS NOT NULL), '[]'::jsonb) AS a
FROM g LEFT JOIN fin o ON true) x
$$;
