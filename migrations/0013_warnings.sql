-- 0013: early warnings — a recommendation drafted from a warning keeps it.
-- The warnings themselves (em_warnings, read by GET /campaigns/{id}/warnings,
-- the drafts made from them and the cycle report's warnings step) and the
-- text of such a draft are functions of sql/40_analysis.sql.

-- A recommendation drafted from a warning keeps the warning it answers
-- ({type, direction, submission_id, figures} as they were when drafted); one
-- per campaign, head, type and direction while it is not withdrawn, so that
-- a repeated run drafts nothing twice even when two runs race.
ALTER TABLE recommendations ADD COLUMN warning jsonb
    CONSTRAINT recommendations_warning_type CHECK (warning IS NULL OR warning ->> 'type' IN
        ('decline_total', 'decline_direction', 'below_threshold', 'low_completeness'));
CREATE UNIQUE INDEX recommendations_warning_key ON recommendations
    (campaign_id, addressee_manager_id, (warning ->> 'type'), (coalesce(warning ->> 'direction', '')))
    WHERE warning IS NOT NULL AND status <> 'withdrawn';
