-- 0009: change notifications for the aggregates' meta cache (issue 7).
--
-- GET /aggregates decides its ETag (and so a 304, or a cached 200) from one
-- meta row per (campaign, public, caller scope): the campaign's version and
-- rollup stamp, its region's previous campaign with the same, and the sum of
-- the versions of the region's municipalities (src/monitoring/aggregates.c,
-- AGG_META). Each daemon keeps those rows in memory and drops them when one of
-- the tables they are read from changes: every statement that writes one
-- NOTIFYs the channel effmon_aggregates, every daemon connection LISTENs on it
-- (src/db/db.c), and a notification moves the process's generation so that
-- every kept row is read again. AGG_META reads exactly:
--   * aggregate_stamps (em_aggregate_stamp: the rollups of score_counts and
--     score_buckets never change without a stamp, em_rescore bumps it in the
--     same transaction),
--   * campaigns (the campaign, its status, version and region; the previous
--     campaign of the region),
--   * municipalities (the version sum: a renamed municipality changes the body,
--     em_aggregates prints municipality names).
-- The rest em_aggregates reads leaves the ETag's inputs alone: directions are
-- read-only (seeded by 0002), and a campaign's indicators change only while it
-- is a draft, which has no submissions and so no groups.
--
-- Statement-level: one trigger call per statement whatever its row count, and
-- PostgreSQL folds the identical notifications of a transaction into one,
-- delivered at commit (never for a rolled-back write). The payload is empty:
-- a reader only needs to know that something changed.

CREATE FUNCTION em_aggregates_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('effmon_aggregates', '');
    RETURN NULL;
END $$;

CREATE TRIGGER aggregate_stamps_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON aggregate_stamps
    FOR EACH STATEMENT EXECUTE FUNCTION em_aggregates_notify();
CREATE TRIGGER campaigns_aggregates_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION em_aggregates_notify();
CREATE TRIGGER municipalities_aggregates_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON municipalities
    FOR EACH STATEMENT EXECUTE FUNCTION em_aggregates_notify();
