-- 0002: the registry — regions, municipalities, organizations, managers and
-- their appointments, the personnel reserve, directions, competencies;
-- scope helpers, idempotency keys, and scoped audit.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Is a row (r_*) inside the caller's scope (c_*)? Region-level rows have
-- r_muni NULL, municipality-level rows r_org NULL. Inlined by the planner.
CREATE FUNCTION em_in_scope(c_role text, c_region bigint, c_muni bigint, c_org bigint,
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
CREATE FUNCTION em_inn_valid(inn text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT inn ~ '^[0-9]{10}$' AND
        ((2 * substr(inn, 1, 1)::int + 4 * substr(inn, 2, 1)::int + 10 * substr(inn, 3, 1)::int +
          3 * substr(inn, 4, 1)::int + 5 * substr(inn, 5, 1)::int + 9 * substr(inn, 6, 1)::int +
          4 * substr(inn, 7, 1)::int + 6 * substr(inn, 8, 1)::int + 8 * substr(inn, 9, 1)::int)
         % 11) % 10 = substr(inn, 10, 1)::int
$$;

CREATE TABLE regions (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code       text NOT NULL CONSTRAINT regions_code_key UNIQUE
                    CONSTRAINT regions_code_format CHECK (code ~ '^[0-9]{2}$'),
    name       text NOT NULL CONSTRAINT regions_name_length CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version    integer NOT NULL DEFAULT 1
);

CREATE TABLE municipalities (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id  bigint NOT NULL CONSTRAINT municipalities_region_fkey REFERENCES regions,
    name       text NOT NULL CONSTRAINT municipalities_name_length CHECK (length(name) BETWEEN 1 AND 200),
    oktmo      text NOT NULL CONSTRAINT municipalities_oktmo_key UNIQUE
                    CONSTRAINT municipalities_oktmo_format CHECK (oktmo ~ '^[0-9]{8}([0-9]{3})?$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    version    integer NOT NULL DEFAULT 1
);
CREATE INDEX municipalities_region_idx ON municipalities (region_id, id);
CREATE INDEX municipalities_name_trgm ON municipalities
    USING gin (lower(name COLLATE "ru-x-icu") gin_trgm_ops);

CREATE TABLE organizations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    municipality_id bigint NOT NULL CONSTRAINT organizations_municipality_fkey REFERENCES municipalities,
    region_id       bigint NOT NULL REFERENCES regions, -- copied from the municipality
    full_name       text NOT NULL CONSTRAINT organizations_full_name_length
                         CHECK (length(full_name) BETWEEN 1 AND 500),
    short_name      text NOT NULL CONSTRAINT organizations_short_name_length
                         CHECK (length(short_name) BETWEEN 1 AND 200),
    inn             text NOT NULL CONSTRAINT organizations_inn_key UNIQUE
                         CONSTRAINT organizations_inn_valid CHECK (em_inn_valid(inn)),
    kind            text NOT NULL CONSTRAINT organizations_kind_check
                         CHECK (kind IN ('school', 'preschool', 'additional', 'vocational', 'special')),
    settlement      text NOT NULL CONSTRAINT organizations_settlement_check
                         CHECK (settlement IN ('urban', 'rural')),
    students        integer NOT NULL DEFAULT 0 CONSTRAINT organizations_students_range
                         CHECK (students BETWEEN 0 AND 100000),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1
);
CREATE INDEX organizations_municipality_idx ON organizations (municipality_id, id);
CREATE INDEX organizations_region_idx ON organizations (region_id, id);
CREATE INDEX organizations_name_trgm ON organizations
    USING gin (lower(short_name COLLATE "ru-x-icu") gin_trgm_ops);

CREATE TABLE managers (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    full_name           text NOT NULL CONSTRAINT managers_full_name_length
                             CHECK (length(full_name) BETWEEN 1 AND 300),
    position            text NOT NULL DEFAULT 'director'
                             CHECK (position IN ('director', 'acting_director')),
    email               text CONSTRAINT managers_email_format
                             CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    phone               text CONSTRAINT managers_phone_format CHECK (phone ~ '^\+?[0-9 ()-]{5,20}$'),
    -- Scope: the current organization's municipality, or the municipality
    -- that registered the manager while unassigned.
    municipality_id     bigint NOT NULL CONSTRAINT managers_municipality_fkey REFERENCES municipalities,
    region_id           bigint NOT NULL REFERENCES regions,
    organization_id     bigint REFERENCES organizations, -- current, kept by appointments
    qualification_date  date,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'dismissed')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1
);
CREATE INDEX managers_municipality_idx ON managers (municipality_id, id);
CREATE INDEX managers_region_idx ON managers (region_id, id);
CREATE INDEX managers_organization_idx ON managers (organization_id);
CREATE INDEX managers_name_trgm ON managers USING gin (lower(full_name COLLATE "ru-x-icu") gin_trgm_ops);

CREATE TABLE appointments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    manager_id      bigint NOT NULL REFERENCES managers,
    organization_id bigint NOT NULL REFERENCES organizations,
    position        text NOT NULL CHECK (position IN ('director', 'acting_director')),
    started_on      date NOT NULL,
    ended_on        date,
    end_reason      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT appointments_dates CHECK (ended_on IS NULL OR ended_on >= started_on)
);
-- At most one current head per organization, one current post per manager.
CREATE UNIQUE INDEX appointments_one_head ON appointments (organization_id) WHERE ended_on IS NULL;
CREATE UNIQUE INDEX appointments_one_post ON appointments (manager_id) WHERE ended_on IS NULL;
CREATE INDEX appointments_manager_idx ON appointments (manager_id, started_on);

CREATE TABLE reserve_candidates (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    full_name          text NOT NULL CONSTRAINT reserve_full_name_length
                            CHECK (length(full_name) BETWEEN 1 AND 300),
    municipality_id    bigint NOT NULL CONSTRAINT reserve_municipality_fkey REFERENCES municipalities,
    region_id          bigint NOT NULL REFERENCES regions,
    target_position    text NOT NULL CONSTRAINT reserve_target_position_length
                            CHECK (length(target_position) BETWEEN 1 AND 300),
    training_programme text,
    email              text CONSTRAINT reserve_email_format
                            CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    status             text NOT NULL DEFAULT 'nominated'
                            CHECK (status IN ('nominated', 'training', 'trained', 'included',
                                              'appointed', 'excluded')),
    exclusion_reason   text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    version            integer NOT NULL DEFAULT 1,
    CONSTRAINT reserve_exclusion_reason CHECK ((status = 'excluded') = (exclusion_reason IS NOT NULL))
);
CREATE INDEX reserve_municipality_idx ON reserve_candidates (municipality_id, id);
CREATE INDEX reserve_region_idx ON reserve_candidates (region_id, id);
CREATE INDEX reserve_name_trgm ON reserve_candidates
    USING gin (lower(full_name COLLATE "ru-x-icu") gin_trgm_ops);

CREATE TABLE reserve_transitions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    candidate_id  bigint NOT NULL REFERENCES reserve_candidates,
    from_status   text NOT NULL,
    to_status     text NOT NULL,
    reason        text,
    actor_user_id bigint REFERENCES users,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reserve_transitions_candidate_idx ON reserve_transitions (candidate_id, id);

-- Region and municipality are copied from the parent on insert and move.
CREATE FUNCTION em_copy_region() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT region_id INTO NEW.region_id FROM municipalities WHERE id = NEW.municipality_id;
    RETURN NEW;
END $$;
CREATE TRIGGER organizations_region BEFORE INSERT OR UPDATE OF municipality_id ON organizations
    FOR EACH ROW EXECUTE FUNCTION em_copy_region();
CREATE TRIGGER managers_region BEFORE INSERT OR UPDATE OF municipality_id ON managers
    FOR EACH ROW EXECUTE FUNCTION em_copy_region();
CREATE TRIGGER reserve_region BEFORE INSERT OR UPDATE OF municipality_id ON reserve_candidates
    FOR EACH ROW EXECUTE FUNCTION em_copy_region();

CREATE TABLE directions (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code text NOT NULL UNIQUE,
    name text NOT NULL,
    position integer NOT NULL UNIQUE
);
INSERT INTO directions (code, name, position) VALUES
    ('network', 'по совершенствованию сети ОО', 1),
    ('management', 'по качеству управленческой деятельности', 2),
    ('student_results', 'по качеству подготовки обучающихся (базовая подготовка и подготовка высокого уровня)', 3),
    ('reserve', 'по формированию кадрового резерва', 4),
    ('objectivity', 'по обеспечению объективности результатов внешней и внутренней оценки', 5),
    ('conditions', 'по условиям осуществления образовательной деятельности', 6),
    ('individualization', 'по индивидуализации обучения', 7),
    ('career_guidance', 'по профориентации и дополнительному образованию', 8),
    ('management_qualification', 'по квалификации в области управления', 9),
    ('teacher_development', 'по профессиональному развитию педагогов', 10);

CREATE TABLE competencies (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL CONSTRAINT competencies_code_key UNIQUE
                     CONSTRAINT competencies_code_format CHECK (code ~ '^[a-z][a-z0-9_]{1,63}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    description text,
    max_score   integer NOT NULL CONSTRAINT competencies_max_score_range CHECK (max_score BETWEEN 1 AND 1000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL DEFAULT 1
);

-- Users now point at real rows.
ALTER TABLE users
    ADD CONSTRAINT users_region_fkey FOREIGN KEY (region_id) REFERENCES regions,
    ADD CONSTRAINT users_municipality_fkey FOREIGN KEY (municipality_id) REFERENCES municipalities,
    ADD CONSTRAINT users_organization_fkey FOREIGN KEY (organization_id) REFERENCES organizations,
    ADD CONSTRAINT users_manager_fkey FOREIGN KEY (manager_id) REFERENCES managers;

-- The scope of an audited row, so that /audit can be scoped in SQL.
ALTER TABLE audit_events
    ADD COLUMN region_id bigint,
    ADD COLUMN municipality_id bigint,
    ADD COLUMN organization_id bigint;
CREATE INDEX audit_events_region_idx ON audit_events (region_id, id);

-- POST with Idempotency-Key: the first answer is kept and replayed.
CREATE TABLE idempotency_keys (
    user_id      bigint NOT NULL,
    key          text NOT NULL,
    request_hash text NOT NULL,
    status       integer,
    body         text,
    location     text,
    etag         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
