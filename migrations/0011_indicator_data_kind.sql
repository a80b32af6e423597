-- 0011: what kind of data an indicator uses, for the policy lint of a catalog
-- (GET /campaigns/{id}/lint) and the refusal to open a campaign whose catalog
-- has an error. The federal position (DESIGN §4): raw results of the
-- all-Russian check works (ВПР) are not to be used to evaluate schools or
-- their heads; objectivity is judged by markers of objectivity instead.
--   management         a marker of management practice (programmes, complaints, prescriptions)
--   contingent         figures of students and the network (load, shifts, coverage, curricula)
--   exam_results       results of the state final attestation (ОГЭ, ЕГЭ, the demonstration exam)
--   objectivity_marker a marker of objectivity (observers, absence from the list of schools
--                      with signs of non-objective results)
--   vpr_raw            raw results of ВПР: the lint reports it as an error
--   staff              staffing, reserve and the qualification of heads and teachers
--   other              anything else (olympiads, contests, conditions)
ALTER TABLE indicators ADD COLUMN data_kind text NOT NULL DEFAULT 'management'
    CONSTRAINT indicators_data_kind_check CHECK (data_kind IN ('management', 'contingent',
        'exam_results', 'objectivity_marker', 'vpr_raw', 'staff', 'other'));
