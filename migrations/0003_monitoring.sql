-- 0003: monitoring — campaigns and their indicator catalogs, submissions with
-- their values and history, bulk imports, and the scores of every submission,
-- kept current by em_rescore() in the transaction that changes their inputs.

CREATE TABLE campaigns (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id            bigint NOT NULL CONSTRAINT campaigns_region_fkey REFERENCES regions,
    year                 integer NOT NULL CONSTRAINT campaigns_year_range CHECK (year BETWEEN 2000 AND 2100),
    title                text NOT NULL CONSTRAINT campaigns_title_length CHECK (length(title) BETWEEN 1 AND 200),
    goals                jsonb NOT NULL DEFAULT '[]'
                              CONSTRAINT campaigns_goals_array CHECK (jsonb_typeof(goals) = 'array'),
    opens_at             timestamptz NOT NULL,
    closes_at            timestamptz NOT NULL,
    threshold_high       numeric NOT NULL DEFAULT 80,
    threshold_sufficient numeric NOT NULL DEFAULT 60,
    threshold_low        numeric NOT NULL DEFAULT 40,
    status               text NOT NULL DEFAULT 'draft'
                              CHECK (status IN ('draft', 'open', 'closed', 'published')),
    catalog_source_id    bigint REFERENCES campaigns, -- whose catalog was copied at creation
    opened_at            timestamptz,
    closed_at            timestamptz,
    published_at         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    version              integer NOT NULL DEFAULT 1,
    CONSTRAINT campaigns_region_year_key UNIQUE (region_id, year),
    CONSTRAINT campaigns_window CHECK (closes_at > opens_at),
    CONSTRAINT campaigns_thresholds CHECK (0 <= threshold_low AND threshold_low < threshold_sufficient
        AND threshold_sufficient < threshold_high AND threshold_high <= 100)
);

-- Weights per organization kind: {"school": 2, "preschool": 0, ...}; a kind
-- that is absent or 0 is one the indicator does not apply to.
CREATE FUNCTION em_weights_valid(w jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(w) = 'object' AND NOT EXISTS (
        SELECT 1 FROM jsonb_each(w) e
        WHERE e.key NOT IN ('school', 'preschool', 'additional', 'vocational', 'special')
           OR jsonb_typeof(e.value) <> 'number'
           OR e.value::text::numeric < 0 OR e.value::text::numeric > 1000)
$$;

CREATE TABLE indicators (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  bigint NOT NULL CONSTRAINT indicators_campaign_fkey REFERENCES campaigns,
    region_id    bigint NOT NULL, -- the campaign's, for scope checks
    code         text NOT NULL CONSTRAINT indicators_code_format
                      CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$'),
    name         text NOT NULL CONSTRAINT indicators_name_length CHECK (length(name) BETWEEN 1 AND 500),
    direction_id bigint NOT NULL CONSTRAINT indicators_direction_fkey REFERENCES directions,
    unit         text CONSTRAINT indicators_unit_length CHECK (length(unit) BETWEEN 1 AND 50),
    value_type   text NOT NULL CONSTRAINT indicators_value_type_check
                      CHECK (value_type IN ('number', 'percent', 'boolean', 'integer')),
    min_value    numeric,
    max_value    numeric,
    polarity     text NOT NULL DEFAULT 'up' CHECK (polarity IN ('up', 'down')),
    source       text NOT NULL DEFAULT 'self' CHECK (source IN ('self', 'municipal', 'regional_import')),
    method       text CONSTRAINT indicators_method_length CHECK (length(method) BETWEEN 1 AND 4000),
    weights      jsonb NOT NULL DEFAULT '{}' CONSTRAINT indicators_weights_valid CHECK (em_weights_valid(weights)),
    position     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      integer NOT NULL DEFAULT 1,
    CONSTRAINT indicators_campaign_code_key UNIQUE (campaign_id, code),
    CONSTRAINT indicators_bounds CHECK (CASE WHEN value_type = 'boolean'
        THEN min_value IS NULL AND max_value IS NULL
        ELSE min_value IS NOT NULL AND max_value IS NOT NULL AND min_value < max_value END),
    CONSTRAINT indicators_percent_bounds CHECK (value_type <> 'percent' OR (min_value >= 0 AND max_value <= 100)),
    CONSTRAINT indicators_integer_bounds CHECK (value_type <> 'integer'
        OR (min_value = trunc(min_value) AND max_value = trunc(max_value)))
);
CREATE INDEX indicators_campaign_idx ON indicators (campaign_id, position, id);

CREATE TABLE submissions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id        bigint NOT NULL CONSTRAINT submissions_campaign_fkey REFERENCES campaigns,
    organization_id    bigint NOT NULL CONSTRAINT submissions_organization_fkey REFERENCES organizations,
    -- Fixed when the campaign opens: the territory, the kind the scores use,
    -- and the head at that time.
    region_id          bigint NOT NULL,
    municipality_id    bigint NOT NULL,
    kind               text NOT NULL,
    manager_id         bigint REFERENCES managers,
    status             text NOT NULL DEFAULT 'draft'
                            CHECK (status IN ('draft', 'submitted', 'verified', 'approved', 'returned')),
    return_comment     text,
    first_submitted_at timestamptz, -- "on time" is judged by the first submission
    submitted_at       timestamptz,
    verified_at        timestamptz,
    approved_at        timestamptz,
    returned_at        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    version            integer NOT NULL DEFAULT 1,
    CONSTRAINT submissions_campaign_organization_key UNIQUE (campaign_id, organization_id)
);
CREATE INDEX submissions_campaign_idx ON submissions (campaign_id, municipality_id, id);
CREATE INDEX submissions_region_idx ON submissions (region_id, id);
CREATE INDEX submissions_municipality_idx ON submissions (municipality_id, id);
CREATE INDEX submissions_organization_idx ON submissions (organization_id, campaign_id);
CREATE INDEX submissions_manager_idx ON submissions (manager_id, campaign_id);

-- Booleans are stored as 1 and 0 and answered as true and false.
CREATE TABLE submission_values (
    submission_id   bigint NOT NULL CONSTRAINT submission_values_submission_fkey REFERENCES submissions,
    indicator_id    bigint NOT NULL CONSTRAINT submission_values_indicator_fkey REFERENCES indicators,
    value           numeric NOT NULL,
    comment         text CONSTRAINT submission_values_comment_length CHECK (length(comment) BETWEEN 1 AND 2000),
    evidence_url    text CONSTRAINT submission_values_evidence_url_format
                         CHECK (evidence_url ~ '^https?://[^[:space:]]+$' AND length(evidence_url) <= 2000),
    -- What the head had entered when it last submitted, and the value when
    -- the municipality verified: the difference is an outlier of its own.
    submitted_value numeric,
    verified_value  numeric,
    updated_by      bigint REFERENCES users,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, indicator_id)
);
CREATE INDEX submission_values_indicator_idx ON submission_values (indicator_id);

-- Every transition and every changed value: one row per action, the changed
-- values in changes: [{indicator_id, code, old: {value, comment, evidence_url} | null, new: ...}].
CREATE TABLE submission_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submission_id bigint NOT NULL REFERENCES submissions,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor_user_id bigint REFERENCES users,
    actor_role    text NOT NULL,
    action        text NOT NULL CHECK (action IN ('create', 'values', 'transition', 'import')),
    from_status   text,
    to_status     text,
    comment       text,
    changes       jsonb,
    import_id     bigint,
    request_id    text
);
CREATE INDEX submission_history_submission_idx ON submission_history (submission_id, id);

CREATE TABLE imports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id    bigint NOT NULL REFERENCES campaigns,
    region_id      bigint NOT NULL,
    actor_user_id  bigint REFERENCES users,
    format         text NOT NULL CHECK (format IN ('csv', 'json')),
    rows           integer NOT NULL,
    values_written integer NOT NULL,
    -- Rows whose value and comment were already stored, and the submissions
    -- whose values changed (each got one history row and a rescore).
    values_unchanged     integer NOT NULL DEFAULT 0,
    submissions_affected integer NOT NULL DEFAULT 0,
    request_id     text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imports_campaign_idx ON imports (campaign_id, id);

-- Scores (DESIGN §3), one row per submission whatever its status; official
-- figures filter status = 'approved'. total is kept in full precision,
-- total_rounded is the presented figure that levels and ranks use.
CREATE TABLE submission_scores (
    submission_id   bigint PRIMARY KEY REFERENCES submissions,
    campaign_id     bigint NOT NULL,
    region_id       bigint NOT NULL,
    municipality_id bigint NOT NULL,
    organization_id bigint NOT NULL,
    manager_id      bigint,
    kind            text NOT NULL,
    status          text NOT NULL,
    total           numeric,
    total_rounded   numeric(7, 2),
    level           text CHECK (level IN ('high', 'sufficient', 'low', 'critical')),
    applicable      integer NOT NULL,
    filled          integer NOT NULL,
    completeness    numeric,
    computed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submission_scores_rank_idx ON submission_scores (campaign_id, kind, status, total_rounded DESC);
CREATE INDEX submission_scores_municipality_idx ON submission_scores (campaign_id, municipality_id);
CREATE INDEX submission_scores_manager_idx ON submission_scores (manager_id, campaign_id);

-- One row per submission and direction with at least one applicable indicator;
-- a direction without one has no row (its score is null).
CREATE TABLE direction_scores (
    submission_id bigint NOT NULL REFERENCES submissions,
    direction_id  bigint NOT NULL REFERENCES directions,
    campaign_id   bigint NOT NULL,
    score         numeric NOT NULL,
    applicable    integer NOT NULL,
    filled        integer NOT NULL,
    PRIMARY KEY (submission_id, direction_id)
);
CREATE INDEX direction_scores_campaign_idx ON direction_scores (campaign_id, direction_id);

-- The level of a presented total under a campaign's thresholds.
CREATE FUNCTION em_level(total numeric, high numeric, sufficient numeric, low numeric)
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
CREATE FUNCTION em_indicator_score(v numeric, value_type text, polarity text,
                                   min_value numeric, max_value numeric)
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN v IS NULL THEN 0
                WHEN value_type = 'boolean' THEN CASE WHEN v <> 0 THEN 1 ELSE 0 END
                WHEN polarity = 'down' THEN 1 - greatest(0, least(1, (v - min_value) / (max_value - min_value)))
                ELSE greatest(0, least(1, (v - min_value) / (max_value - min_value))) END
$$;

-- Recomputes the scores of the given submissions, set-wise: direction and
-- total are 100 * Σ(w·s) / Σ(w) over the indicators whose weight for the
-- submission's kind is > 0. Called in the transaction that changes values,
-- a status or a catalog, so that no read sees a stale score.
CREATE FUNCTION em_rescore(p_ids bigint[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM direction_scores WHERE submission_id = ANY (p_ids);

    WITH per_indicator AS MATERIALIZED (
        SELECT s.id AS submission_id, s.campaign_id, i.direction_id, w.weight,
               v.value IS NOT NULL AS filled,
               em_indicator_score(v.value, i.value_type, i.polarity, i.min_value, i.max_value) AS score
        FROM submissions s
        JOIN indicators i ON i.campaign_id = s.campaign_id
        CROSS JOIN LATERAL (SELECT coalesce((i.weights ->> s.kind)::numeric, 0) AS weight) w
        LEFT JOIN submission_values v ON v.submission_id = s.id AND v.indicator_id = i.id
        WHERE s.id = ANY (p_ids) AND w.weight > 0
    ), per_direction AS (
        INSERT INTO direction_scores (submission_id, direction_id, campaign_id, score, applicable, filled)
        SELECT submission_id, direction_id, campaign_id, 100 * sum(weight * score) / sum(weight),
               count(*), count(*) FILTER (WHERE filled)
        FROM per_indicator GROUP BY submission_id, direction_id, campaign_id
    ), per_submission AS (
        SELECT submission_id, 100 * sum(weight * score) / sum(weight) AS total,
               count(*)::integer AS applicable, (count(*) FILTER (WHERE filled))::integer AS filled
        FROM per_indicator GROUP BY submission_id
    )
    INSERT INTO submission_scores AS sc (submission_id, campaign_id, region_id, municipality_id,
        organization_id, manager_id, kind, status, total, total_rounded, level, applicable, filled,
        completeness, computed_at)
    SELECT s.id, s.campaign_id, s.region_id, s.municipality_id, s.organization_id, s.manager_id,
           s.kind, s.status, t.total, round(t.total, 2),
           em_level(round(t.total, 2), c.threshold_high, c.threshold_sufficient, c.threshold_low),
           coalesce(t.applicable, 0), coalesce(t.filled, 0),
           t.filled::numeric / nullif(t.applicable, 0), now()
    FROM submissions s
    JOIN campaigns c ON c.id = s.campaign_id
    LEFT JOIN per_submission t ON t.submission_id = s.id
    WHERE s.id = ANY (p_ids)
    ON CONFLICT (submission_id) DO UPDATE SET
        manager_id = EXCLUDED.manager_id, kind = EXCLUDED.kind, status = EXCLUDED.status,
        total = EXCLUDED.total, total_rounded = EXCLUDED.total_rounded, level = EXCLUDED.level,
        applicable = EXCLUDED.applicable, filled = EXCLUDED.filled,
        completeness = EXCLUDED.completeness, computed_at = EXCLUDED.computed_at;
$$;

-- Every submission of a campaign, e.g. after its thresholds change.
CREATE FUNCTION em_rescore_campaign(p_campaign bigint) RETURNS void LANGUAGE sql AS $$
    SELECT em_rescore(array_agg(id)) FROM submissions WHERE campaign_id = p_campaign;
$$;

-- Indicators and submissions carry the campaign's region for scope checks.
CREATE FUNCTION em_copy_campaign_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT region_id INTO NEW.region_id FROM campaigns WHERE id = NEW.campaign_id;
    RETURN NEW;
END $$;
CREATE TRIGGER indicators_region BEFORE INSERT ON indicators
    FOR EACH ROW EXECUTE FUNCTION em_copy_campaign_region();
