-- 0019: aggregates by municipality read, not computed per request. A GET
-- /aggregates computed every group's count, mean, quartiles, minimum, maximum
-- and level distribution from the histograms (score_buckets) on each request
-- after a change, so its cost was the region's. aggregate_summaries holds
-- those figures for each (campaign, direction, set, municipality): direction
-- 0 for the totals, set unapproved = false for the approved submissions and
-- true for those include=unapproved counts (approved, submitted, verified).
-- em_rescore recomputes the rows whose histogram it changed (em_summarize,
-- sql/10_scoring.sql), under the campaign's rank lock; em_aggregates reads
-- them for the groupings by municipality (and direction), the one a region's
-- page and a portal pull, and merges the histograms for the others.
CREATE TABLE aggregate_summaries (
    campaign_id     bigint NOT NULL,
    direction_id    bigint NOT NULL,
    unapproved      boolean NOT NULL,
    municipality_id bigint NOT NULL,
    -- count, mean, median, q1, q3, min, max as em_aggregates presents them
    stat            jsonb NOT NULL,
    -- how many of the group's submissions have each level of their total
    levels          jsonb NOT NULL,
    PRIMARY KEY (campaign_id, direction_id, unapproved, municipality_id)
);

-- A summary row to recompute.
CREATE TYPE em_summary_key AS (campaign_id bigint, municipality_id bigint, direction_id bigint,
                               unapproved boolean);

-- One histogram entry of group g: value, the level of the submission's total, how many.
CREATE TYPE em_hist_row AS (g bigint, value numeric, level text, n bigint);

-- The figures of each group of histogram entries (sql/20_aggregates.sql
-- holds the current definition; this one fills the table below).
CREATE FUNCTION em_hist_stats(p_rows em_hist_row[])
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

-- The summaries of the histograms already kept.
WITH k AS (
    SELECT b.campaign_id, b.municipality_id, b.direction_id, u.unapproved,
           dense_rank() OVER (ORDER BY b.campaign_id, b.municipality_id, b.direction_id,
                                       u.unapproved) AS g,
           b.value, b.level, b.n::bigint AS n
    FROM score_buckets b CROSS JOIN (VALUES (false), (true)) u (unapproved)
    WHERE b.approved OR u.unapproved
)
INSERT INTO aggregate_summaries (campaign_id, direction_id, unapproved, municipality_id, stat,
                                 levels)
SELECT g.campaign_id, g.direction_id, g.unapproved, g.municipality_id, h.stat, h.levels
FROM (SELECT DISTINCT campaign_id, municipality_id, direction_id, unapproved, g FROM k) g
JOIN em_hist_stats(ARRAY(SELECT ROW(g, value, level, n)::em_hist_row FROM k)) h
  ON h.grp = g.g;
