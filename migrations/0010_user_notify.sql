-- 0010: change notifications for the per-thread user cache of the bearer check.
--
-- src/auth/auth.c keeps each user row it checked a token against, with the
-- scope it implies, until a change is announced on effmon_users: every daemon
-- connection LISTENs on it (src/db/db.c), and a notification moves the
-- process's users generation so that every kept row is read again. The row
-- is read from users joined with municipalities (a municipal operator's
-- region) and organizations (a head's municipality and region), so:
--   * users: any update or delete (deactivation, role, scope, manager);
--   * organizations and municipalities: only a move to another municipality
--     or region changes an implied scope; renames and other edits do not
--     announce anything (row triggers with a WHEN, so a bulk edit of names
--     costs nothing).
-- PostgreSQL folds the identical notifications of a transaction into one,
-- delivered at commit (never for a rolled-back write). The payload is empty.

CREATE FUNCTION em_users_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('effmon_users', '');
    RETURN NULL;
END $$;

CREATE TRIGGER users_cache_notify
    AFTER UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION em_users_notify();
CREATE TRIGGER organizations_scope_notify
    AFTER UPDATE ON organizations FOR EACH ROW
    WHEN (OLD.municipality_id IS DISTINCT FROM NEW.municipality_id
          OR OLD.region_id IS DISTINCT FROM NEW.region_id)
    EXECUTE FUNCTION em_users_notify();
CREATE TRIGGER municipalities_scope_notify
    AFTER UPDATE ON municipalities FOR EACH ROW
    WHEN (OLD.region_id IS DISTINCT FROM NEW.region_id)
    EXECUTE FUNCTION em_users_notify();
