-- sql/00_common.sql — helpers of constraints, scopes and queries: the scope
-- test, the INN and weights checks, the status class, milestone numbers and
-- due dates, and the date the service takes as today.
--
-- The current definition of each function lives here, once, as CREATE OR
-- REPLACE. `effmond migrate` applies the files of sql/ in name order after the
-- migrations, each in its own transaction, whenever a file's text differs
-- from what schema_functions records. A function whose signature or return
-- type changes, or that is dropped, needs a migration (DROP FUNCTION) first.

-- Today, or the date a test build pinned in the session setting effmon.today
-- (EFFMON_NOW; production builds never set it).
CREATE OR REPLACE FUNCTION em_today() RETURNS date LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('effmon.today', true), '')::date, current_date)
$$;

-- Is a row (r_*) inside the caller's scope (c_*)? Region-level rows have
-- r_muni NULL, municipality-level rows r_org NULL. Inlined by the planner.
CREATE OR REPLACE FUNCTION em_in_scope(c_role text, c_region bigint, c_muni bigint, c_org bigint,
                            r_region bigint, r_muni bigint, r_org bigint)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE c_role
        WHEN 'admin' THEN true
        WHEN 'municipal_operator' THEN
            coalesce(r_muni = c_muni, r_region = c_region, false)
        WHEN 'head' THEN
            coalesce(r_org = c_org, r_muni = c_muni, r_region = c_region, false)
        ELSE coalesce(r_region = c_region, false)
    END
$$;

-- INN of a legal entity: 10 digits, the last a checksum (ФНС algorithm).
CREATE OR REPLACE FUNCTION em_inn_valid(inn text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT inn ~ '^[0-9]{10}$' AND
        ((2 * substr(inn, 1, 1)::int + 4 * substr(inn, 2, 1)::int + 10 * substr(inn, 3, 1)::int +
          3 * substr(inn, 4, 1)::int + 5 * substr(inn, 5, 1)::int + 9 * substr(inn, 6, 1)::int +
          4 * substr(inn, 7, 1)::int + 6 * substr(inn, 8, 1)::int + 8 * substr(inn, 9, 1)::int)
         % 11) % 10 = substr(inn, 10, 1)::int
$$;

-- Weights per organization kind: {"school": 2, "preschool": 0, ...}; a kind
-- that is absent or 0 is one the indicator does not apply to.
CREATE OR REPLACE FUNCTION em_weights_valid(w jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(w) = 'object' AND NOT EXISTS (
        SELECT 1 FROM jsonb_each(w) e
        WHERE e.key NOT IN ('school', 'preschool', 'additional', 'vocational', 'special')
           OR jsonb_typeof(e.value) <> 'number'
           OR e.value::text::numeric < 0 OR e.value::text::numeric > 1000)
$$;

-- Which statuses count in score figures: approved (official), and submitted
-- or verified with include=unapproved; drafts and returned ones never.
CREATE OR REPLACE FUNCTION em_status_class(status text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status = 'approved' THEN 'approved'
                WHEN status IN ('submitted', 'verified') THEN 'unapproved' END
$$;

-- "1", "2.1", "10.3.2": the number as the document writes it, without the dot.
CREATE OR REPLACE FUNCTION em_milestone_number_key(number text) RETURNS int[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT string_to_array(number, '.')::int[]
$$;

-- Overdue: not done or cancelled, and its deadline is before today. The
-- deadline of a one-off or continuous milestone is its due date (a
-- continuous one's is the roadmap's end); an annual one recurs every year of
-- the roadmap, so it is late only once the roadmap's period has ended
-- without it being done. No deadline, never overdue.
CREATE OR REPLACE FUNCTION em_milestone_overdue(status text, recurrence text, due_on date, period_to date)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT status IN ('planned', 'in_progress') AND
        coalesce(CASE WHEN recurrence = 'annual' THEN period_to ELSE due_on END < em_today(),
                 false)
$$;

-- The size band of an organization of a kind with a number of students: the
-- one place the bands are defined (api/openapi.yaml and README.md describe
-- them). Preschools count children, and a kindergarten of 50 is already a
-- two- or three-group one: its bands are lower.
--   preschool: small < 50, medium 50–199, large ≥ 200
--   any other: small < 100, medium 100–499, large ≥ 500
CREATE OR REPLACE FUNCTION em_size_band(kind text, students integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN kind = 'preschool' THEN
                    CASE WHEN students < 50 THEN 'small' WHEN students < 200 THEN 'medium'
                         ELSE 'large' END
                ELSE CASE WHEN students < 100 THEN 'small' WHEN students < 500 THEN 'medium'
                          ELSE 'large' END END
$$;

-- The cluster's key as clients see it: kind/settlement/size_band.
CREATE OR REPLACE FUNCTION em_cluster_key(kind text, settlement text, size_band text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT kind || '/' || settlement || '/' || size_band
$$;
