-- 0005: the records of the management cycle — attestations with a score per
-- competency, addressed recommendations with their history, and management
-- decisions (append-only: a correction revokes the old decision by a new one);
-- em_today(), the date every "overdue" and "valid today" is judged by.

-- Today, or the date a test build pinned in the session setting effmon.today
-- (EFFMON_NOW; production builds never set it). 0006 may redefine it alike.
CREATE OR REPLACE FUNCTION em_today() RETURNS date LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('effmon.today', true), '')::date, current_date)
$$;

-- An attestation is about a person: it is scoped by the manager's current
-- territory (a join), not by a copy. The monitoring total is the one the
-- commission had before it: taken once, at creation.
CREATE TABLE attestations (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    manager_id             bigint NOT NULL CONSTRAINT attestations_manager_fkey REFERENCES managers,
    attested_on            date NOT NULL,
    commission             text NOT NULL CONSTRAINT attestations_commission_length
                                CHECK (length(commission) BETWEEN 1 AND 500),
    protocol_number        text NOT NULL CONSTRAINT attestations_protocol_number_length
                                CHECK (length(protocol_number) BETWEEN 1 AND 100),
    decision               text NOT NULL CONSTRAINT attestations_decision_check
                                CHECK (decision IN ('fits_position', 'fits_position_conditionally',
                                                    'does_not_fit_position')),
    valid_until            date NOT NULL,
    monitoring_total       numeric(7, 2),
    monitoring_campaign_id bigint REFERENCES campaigns,
    created_by             bigint REFERENCES users,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    version                integer NOT NULL DEFAULT 1,
    CONSTRAINT attestations_valid_until CHECK (valid_until > attested_on)
);
CREATE INDEX attestations_manager_idx ON attestations (manager_id, attested_on);

-- One score per competency of the catalog; the maximum is kept as it was, so
-- that a later change of the catalog does not rewrite an old protocol.
CREATE TABLE attestation_scores (
    attestation_id bigint NOT NULL REFERENCES attestations,
    competency_id  bigint NOT NULL REFERENCES competencies,
    score          integer NOT NULL,
    max_score      integer NOT NULL,
    PRIMARY KEY (attestation_id, competency_id),
    CONSTRAINT attestation_scores_range CHECK (score BETWEEN 0 AND max_score)
);

-- A recommendation keeps the territory of its addressee at issue time
-- (region, municipality, and the organization for a manager). Drafts and
-- withdrawn drafts are seen by the issuing side only.
CREATE TABLE recommendations (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id               bigint NOT NULL CONSTRAINT recommendations_campaign_fkey REFERENCES campaigns,
    region_id                 bigint NOT NULL REFERENCES regions,
    municipality_id           bigint NOT NULL REFERENCES municipalities,
    organization_id           bigint REFERENCES organizations,
    addressee_manager_id      bigint CONSTRAINT recommendations_manager_fkey REFERENCES managers,
    addressee_municipality_id bigint CONSTRAINT recommendations_municipality_fkey REFERENCES municipalities,
    issuer_level              text NOT NULL CHECK (issuer_level IN ('regional', 'municipal')),
    issuer_municipality_id    bigint REFERENCES municipalities,
    issued_by                 bigint REFERENCES users,
    directions                text[] NOT NULL DEFAULT '{}',
    indicators                text[] NOT NULL DEFAULT '{}',
    text                      text NOT NULL CONSTRAINT recommendations_text_length
                                   CHECK (length(text) BETWEEN 1 AND 4000),
    due_on                    date NOT NULL,
    status                    text NOT NULL DEFAULT 'issued'
                                   CHECK (status IN ('draft', 'issued', 'acknowledged', 'reported',
                                                     'accepted', 'withdrawn')),
    report                    text,
    rework_comment            text,
    generated                 boolean NOT NULL DEFAULT false,
    issued_at                 timestamptz,
    acknowledged_at           timestamptz,
    reported_at               timestamptz,
    accepted_at               timestamptz,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    version                   integer NOT NULL DEFAULT 1,
    CONSTRAINT recommendations_one_addressee
        CHECK (num_nonnulls(addressee_manager_id, addressee_municipality_id) = 1),
    CONSTRAINT recommendations_issuer_municipality
        CHECK ((issuer_level = 'municipal') = (issuer_municipality_id IS NOT NULL)),
    CONSTRAINT recommendations_report CHECK (status NOT IN ('reported', 'accepted') OR report IS NOT NULL)
);
CREATE INDEX recommendations_region_idx ON recommendations (region_id, id);
CREATE INDEX recommendations_municipality_idx ON recommendations (municipality_id, id);
CREATE INDEX recommendations_manager_idx ON recommendations (addressee_manager_id, campaign_id);
CREATE INDEX recommendations_campaign_idx ON recommendations (campaign_id, status);

-- Every creation, change of a draft and transition, oldest first.
CREATE TABLE recommendation_history (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recommendation_id bigint NOT NULL REFERENCES recommendations,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    actor_user_id     bigint REFERENCES users,
    actor_role        text NOT NULL,
    action            text NOT NULL CHECK (action IN ('create', 'generate', 'update', 'transition')),
    from_status       text,
    to_status         text,
    comment           text,
    report            text,
    request_id        text
);
CREATE INDEX recommendation_history_idx ON recommendation_history (recommendation_id, id);

-- Management decisions have legal force: never edited, never deleted. A
-- correction is a new decision of type 'revocation' that names the old one;
-- the old row gets only its revocation link (see the trigger).
CREATE TABLE decisions (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    manager_id           bigint NOT NULL CONSTRAINT decisions_manager_fkey REFERENCES managers,
    campaign_id          bigint CONSTRAINT decisions_campaign_fkey REFERENCES campaigns,
    type                 text NOT NULL CONSTRAINT decisions_type_check
                              CHECK (type IN ('bonus', 'training_referral', 'reserve_inclusion',
                                              'commendation', 'warning', 'attestation_referral',
                                              'contract_extension', 'contract_termination_proposal',
                                              'revocation')),
    basis                text NOT NULL CONSTRAINT decisions_basis_length
                              CHECK (length(basis) BETWEEN 1 AND 4000),
    basis_attestation_id bigint CONSTRAINT decisions_attestation_fkey REFERENCES attestations,
    act_number           text NOT NULL CONSTRAINT decisions_act_number_length
                              CHECK (length(act_number) BETWEEN 1 AND 100),
    act_date             date NOT NULL,
    effective_on         date NOT NULL,
    amount               numeric(12, 2),
    issuer_role          text NOT NULL,
    created_by           bigint REFERENCES users,
    revokes_decision_id  bigint CONSTRAINT decisions_revokes_key UNIQUE REFERENCES decisions,
    revoked_by_decision_id bigint REFERENCES decisions,
    revoked_at           timestamptz,
    revoked_by_user_id   bigint REFERENCES users,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    version              integer NOT NULL DEFAULT 1,
    CONSTRAINT decisions_amount CHECK (CASE type WHEN 'bonus' THEN amount > 0
                                                 ELSE amount IS NULL END),
    CONSTRAINT decisions_revocation CHECK ((type = 'revocation') = (revokes_decision_id IS NOT NULL)),
    CONSTRAINT decisions_revoked CHECK (num_nonnulls(revoked_by_decision_id, revoked_at) IN (0, 2))
);
CREATE INDEX decisions_manager_idx ON decisions (manager_id, id);
CREATE INDEX decisions_campaign_idx ON decisions (campaign_id, type);

-- Whoever connects (the daemon's role owns the table): UPDATE may only set
-- the revocation link of a decision not yet revoked; DELETE never.
CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    link constant text[] := '{revoked_by_decision_id,revoked_at,revoked_by_user_id,version,updated_at}';
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.revoked_by_decision_id IS NULL AND NEW.revoked_by_decision_id IS NOT NULL
           AND to_jsonb(NEW) - link = to_jsonb(OLD) - link THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'decisions are append-only: % refused (revoke a decision by a new one)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER decisions_no_update BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_append_only();
CREATE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION decisions_append_only();
