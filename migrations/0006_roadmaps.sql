-- 0006_roadmaps.sql — improvement measures (issue 6): roadmaps of a region, a
-- municipality or an organization, their milestones with the due text as
-- written and the date derived from it, status history, evidence links and
-- participating heads. "Overdue" is derived from em_today() (0005), never
-- stored, so a test build's EFFMON_NOW moves it.

-- A roadmap belongs to one owner of its level; the territory columns above
-- the owner are copied from it (as organizations copy their region), so that
-- em_in_scope() sees a regional roadmap as region-wide, a municipal one as
-- the municipality's and an organization's as the organization's.
CREATE TABLE roadmaps (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    level           text NOT NULL CONSTRAINT roadmaps_level_check
                         CHECK (level IN ('regional', 'municipal', 'organization')),
    region_id       bigint NOT NULL CONSTRAINT roadmaps_region_fkey REFERENCES regions,
    municipality_id bigint CONSTRAINT roadmaps_municipality_fkey REFERENCES municipalities,
    organization_id bigint CONSTRAINT roadmaps_organization_fkey REFERENCES organizations,
    title           text NOT NULL CONSTRAINT roadmaps_title_length
                         CHECK (length(title) BETWEEN 1 AND 1000),
    description     text CONSTRAINT roadmaps_description_length
                         CHECK (length(description) <= 10000),
    period_from     date NOT NULL,
    period_to       date NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT roadmaps_period CHECK (period_from <= period_to),
    CONSTRAINT roadmaps_owner CHECK (CASE level
        WHEN 'regional' THEN municipality_id IS NULL AND organization_id IS NULL
        WHEN 'municipal' THEN municipality_id IS NOT NULL AND organization_id IS NULL
        ELSE municipality_id IS NOT NULL AND organization_id IS NOT NULL END)
);
CREATE INDEX roadmaps_region_idx ON roadmaps (region_id, id);
CREATE INDEX roadmaps_municipality_idx ON roadmaps (municipality_id, id);
CREATE INDEX roadmaps_organization_idx ON roadmaps (organization_id, id);

-- "1", "2.1", "10.3.2": the number as the document writes it, without the dot.
CREATE FUNCTION em_milestone_number_key(number text) RETURNS int[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT string_to_array(number, '.')::int[]
$$;

CREATE TABLE milestones (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    roadmap_id      bigint NOT NULL CONSTRAINT milestones_roadmap_fkey REFERENCES roadmaps,
    number          text NOT NULL CONSTRAINT milestones_number_format
                         CHECK (number ~ '^[0-9]{1,6}(\.[0-9]{1,6}){0,5}$'),
    title           text NOT NULL CONSTRAINT milestones_title_length
                         CHECK (length(title) BETWEEN 1 AND 4000),
    -- exactly as written in the document ("Ежегодно в соответствии с ..."); may be absent
    due_text        text CONSTRAINT milestones_due_text_length
                         CHECK (length(due_text) BETWEEN 1 AND 500),
    due_on          date,
    recurrence      text NOT NULL DEFAULT 'once' CONSTRAINT milestones_recurrence_check
                         CHECK (recurrence IN ('once', 'annual', 'continuous')),
    executors       text[] NOT NULL DEFAULT '{}' CONSTRAINT milestones_executors_count
                         CHECK (cardinality(executors) <= 20),
    expected_result text CONSTRAINT milestones_expected_result_length
                         CHECK (length(expected_result) <= 4000),
    status          text NOT NULL DEFAULT 'planned' CONSTRAINT milestones_status_check
                         CHECK (status IN ('planned', 'in_progress', 'done', 'cancelled')),
    progress_report text CONSTRAINT milestones_progress_report_length
                         CHECK (length(progress_report) <= 20000),
    evidence        text[] NOT NULL DEFAULT '{}' CONSTRAINT milestones_evidence_count
                         CHECK (cardinality(evidence) <= 50),
    started_at      timestamptz,
    done_at         timestamptz,
    cancelled_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1,
    CONSTRAINT milestones_number_key UNIQUE (roadmap_id, number)
);
CREATE INDEX milestones_roadmap_idx ON milestones (roadmap_id, id);
CREATE INDEX milestones_open_due_idx ON milestones (due_on)
    WHERE status IN ('planned', 'in_progress');

-- Overdue: not done or cancelled, and its deadline is before today. The
-- deadline of a one-off or continuous milestone is its due date (a
-- continuous one's is the roadmap's end); an annual one recurs every year of
-- the roadmap, so it is late only once the roadmap's period has ended
-- without it being done. No deadline, never overdue.
CREATE FUNCTION em_milestone_overdue(status text, recurrence text, due_on date, period_to date)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT status IN ('planned', 'in_progress') AND
        coalesce(CASE WHEN recurrence = 'annual' THEN period_to ELSE due_on END < em_today(),
                 false)
$$;

CREATE TABLE milestone_transitions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    milestone_id  bigint NOT NULL REFERENCES milestones,
    from_status   text NOT NULL,
    to_status     text NOT NULL,
    comment       text,
    actor_user_id bigint REFERENCES users,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX milestone_transitions_milestone_idx ON milestone_transitions (milestone_id, id);

-- Heads taking part in a milestone (стажировки, семинары, конкурсы): the
-- effect of the measures is analysed on them next campaign.
CREATE TABLE milestone_participants (
    milestone_id  bigint NOT NULL REFERENCES milestones,
    manager_id    bigint NOT NULL CONSTRAINT milestone_participants_manager_fkey
                       REFERENCES managers,
    added_by      bigint REFERENCES users,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (milestone_id, manager_id)
);
CREATE INDEX milestone_participants_manager_idx ON milestone_participants (manager_id);
