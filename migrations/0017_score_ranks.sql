-- 0017: ranks kept, not computed per read. GET /campaigns/{id}/scores used to
-- rank a whole campaign with window functions on every request, so a page
-- cost what the region's size cost. score_ranks holds, for every rank
-- partition of a campaign, each presented total its counted rows reach, how
-- many rows reach it and its dense rank (highest total first):
--   scope 'r'  kind                       (rank_region)
--   scope 'm'  kind, municipality         (rank_municipality)
--   scope 'c'  kind, settlement, band     (rank_cluster)
-- once for the approved rows (unapproved = false) and once for the rows
-- include=unapproved counts (approved, submitted, verified). em_rescore
-- rebuilds the partitions a change touches (em_rerank, sql/10_scoring.sql),
-- one campaign at a time under an advisory lock, so ranks read as of one
-- commit. A page reads its rows' ranks by key, and sort=rank|rank_cluster|
-- total walks the ranks in order instead of sorting the campaign.
CREATE TABLE score_ranks (
    campaign_id     bigint NOT NULL,
    scope           "char" NOT NULL CHECK (scope IN ('r', 'm', 'c')),
    kind            text NOT NULL,
    municipality_id bigint NOT NULL,   -- 0 unless scope 'm'
    settlement      text NOT NULL,     -- '' unless scope 'c'
    size_band       text NOT NULL,     -- '' unless scope 'c'
    unapproved      boolean NOT NULL,
    value           numeric(7, 2) NOT NULL,
    n               integer NOT NULL CHECK (n > 0),
    rank            integer NOT NULL CHECK (rank > 0),
    PRIMARY KEY (campaign_id, scope, kind, municipality_id, settlement, size_band, unapproved,
                 value)
);
-- sort=rank (scope 'r') and sort=rank_cluster (scope 'c'): the ranks in order.
CREATE INDEX score_ranks_rank_idx ON score_ranks (campaign_id, scope, unapproved, rank)
    WHERE scope <> 'm';
CREATE INDEX score_ranks_kind_rank_idx
    ON score_ranks (campaign_id, scope, unapproved, kind, rank) WHERE scope <> 'm';
-- sort=total: the region partitions' totals, highest first, across kinds
-- (of one kind, the primary key's order).
CREATE INDEX score_ranks_value_idx ON score_ranks (campaign_id, unapproved, value DESC)
    WHERE scope = 'r';
-- The counted rows without a total (nothing applicable): unranked, after the
-- ranked rows in every sort.
CREATE INDEX submission_scores_untotalled_idx ON submission_scores (campaign_id, submission_id)
    WHERE total_rounded IS NULL AND status IN ('approved', 'submitted', 'verified');

-- One partition of one set (unapproved: the include=unapproved set), as
-- em_rescore names those a change moves.
CREATE TYPE em_rank_part AS (campaign_id bigint, scope "char", kind text, municipality_id bigint,
                             settlement text, size_band text, unapproved boolean);

-- The ranks of the scores already kept (em_rerank in sql/ does the same per
-- partition from now on).
INSERT INTO score_ranks (campaign_id, scope, kind, municipality_id, settlement, size_band,
                         unapproved, value, n, rank)
SELECT campaign_id, scope, kind, municipality_id, settlement, size_band, unapproved, value, n,
       dense_rank() OVER (PARTITION BY campaign_id, scope, kind, municipality_id, settlement,
                                       size_band, unapproved ORDER BY value DESC)
FROM (SELECT sc.campaign_id, p.scope, sc.kind, p.municipality_id, p.settlement, p.size_band,
             u.unapproved, sc.total_rounded AS value, count(*)::integer AS n
      FROM submission_scores sc
      CROSS JOIN LATERAL (VALUES ('r'::"char", 0::bigint, ''::text, ''::text),
                                 ('m', sc.municipality_id, '', ''),
                                 ('c', 0, sc.settlement, sc.size_band))
                 p (scope, municipality_id, settlement, size_band)
      CROSS JOIN LATERAL (SELECT true WHERE true UNION ALL
                          SELECT false WHERE sc.status = 'approved') u (unapproved)
      WHERE sc.status IN ('approved', 'submitted', 'verified') AND sc.total_rounded IS NOT NULL
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) x;
