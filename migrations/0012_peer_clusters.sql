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
--
-- em_rescore and em_aggregates with the two keys are in sql/10_scoring.sql and
-- sql/20_aggregates.sql, applied by migrate after this migration; the functions
-- this migration itself runs (the bands, the contributions for the rollup
-- rebuild, the trigger's) are created here and kept current in sql/ too.

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

