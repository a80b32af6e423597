-- 0001: users, the audit trail, and login throttling.

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login           text NOT NULL,
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'regional_operator',
                        'municipal_operator', 'head', 'expert', 'portal')),
    region_id       bigint,
    municipality_id bigint,
    organization_id bigint,
    manager_id      bigint,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT users_login_format CHECK (login ~ '^[A-Za-z0-9._@-]{3,64}$'),
    -- Exactly the scope of the role is set, nothing wider.
    CONSTRAINT users_scope_matches_role CHECK (
        CASE role
        WHEN 'admin' THEN region_id IS NULL AND municipality_id IS NULL AND organization_id IS NULL
        WHEN 'municipal_operator' THEN region_id IS NULL AND municipality_id IS NOT NULL
                                       AND organization_id IS NULL
        WHEN 'head' THEN region_id IS NULL AND municipality_id IS NULL AND organization_id IS NOT NULL
        ELSE region_id IS NOT NULL AND municipality_id IS NULL AND organization_id IS NULL
        END),
    CONSTRAINT users_manager_only_for_heads CHECK (manager_id IS NULL OR role = 'head')
);
CREATE UNIQUE INDEX users_login_key ON users (lower(login));

CREATE TABLE audit_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at   timestamptz NOT NULL DEFAULT now(),
    actor_user_id bigint,
    actor_role    text,
    entity        text NOT NULL,
    entity_id     bigint,
    action        text NOT NULL,
    before        jsonb,
    after         jsonb,
    request_id    text
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity, entity_id, id);

-- The audit trail is append-only, whoever connects: the daemon's role owns
-- the tables, so privileges alone could not stop it.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;

-- Failed logins per login, so that a flood is slowed across replicas.
CREATE TABLE login_throttle (
    login        text PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz NOT NULL,
    locked_until timestamptz
);
