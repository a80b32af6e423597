-- sql/40_analysis.sql — the analysis tools' SQL: the early warnings of a
-- campaign's heads and the text of a recommendation drafted from one.
--
-- The current definition of each function lives here, once, as CREATE OR
-- REPLACE. `effmond migrate` applies the files of sql/ in name order after the
-- migrations, each in its own transaction, whenever a file's text differs
-- from what schema_functions records. A function whose signature or return
-- type changes, or that is dropped, needs a migration (DROP FUNCTION) first.
--
-- em_warnings() is the one definition of a campaign's early warnings, read by
-- GET /campaigns/{id}/warnings (src/analysis/warnings.c), by the recommendation
-- drafts made from them (src/analysis/warning_drafts.c) and by the warnings
-- step of the cycle report (src/cycle/report.c). One row per warning:
--
--   decline_total      the presented (2-decimal) total fell in each of the two
--                      steps previous-but-one -> previous -> this campaign;
--   decline_direction  the same for one direction's presented score;
--   below_threshold    the presented total is below the threshold (default:
--                      the campaign's low threshold);
--   low_completeness   filled / applicable is below the bound (default
--                      em_completeness_bound(), 0.8), compared exactly as
--                      filled < bound * applicable.
--
-- The previous campaign is the region's latest with an earlier year, and the
-- previous-but-one the latest before that (as the cycle report has it). A
-- decline follows one head at one organization: the submissions of the same
-- organization, each with this head as its manager, in the three campaigns. A
-- head missing from one of them (appointed in between, moved, not counted)
-- has no decline warning: the figures would compare different heads or
-- different organizations. Equal scores are not a decline.
--
-- Counted submissions: approved ones, and with unapproved also submitted and
-- verified ones (in all three campaigns), as the scores count them. A
-- submission without a head (manager_id null) has no warnings: they are
-- addressed to heads.

CREATE OR REPLACE FUNCTION em_completeness_bound() RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT 0.8::numeric
$$;

CREATE OR REPLACE FUNCTION em_counted(status text, unapproved boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT status = 'approved' OR (unapproved AND status IN ('submitted', 'verified'))
$$;

CREATE OR REPLACE FUNCTION em_warnings(p_campaign bigint, p_unapproved boolean, p_threshold numeric,
                            p_completeness numeric)
RETURNS TABLE (type text, type_order integer, submission_id bigint, region_id bigint,
               municipality_id bigint, organization_id bigint, manager_id bigint, kind text,
               status text, direction_code text, direction_name text,
               direction_position integer, figures jsonb)
LANGUAGE sql STABLE AS $$
WITH c AS (SELECT c.id, c.region_id, c.year, coalesce(p_threshold, c.threshold_low) AS threshold,
                  coalesce(p_completeness, em_completeness_bound()) AS bound
           FROM campaigns c WHERE c.id = p_campaign),
 p1 AS (SELECT p.id, p.year FROM c JOIN campaigns p ON p.region_id = c.region_id
        AND p.year < c.year ORDER BY p.year DESC LIMIT 1),
 p2 AS (SELECT p.id, p.year FROM c JOIN p1 ON true JOIN campaigns p
        ON p.region_id = c.region_id AND p.year < p1.year ORDER BY p.year DESC LIMIT 1),
 cur AS (SELECT sc.* FROM c JOIN submission_scores sc ON sc.campaign_id = c.id
         WHERE sc.manager_id IS NOT NULL AND em_counted(sc.status, p_unapproved)),
 chain AS (SELECT cur.submission_id AS s0, a.submission_id AS s1, b.submission_id AS s2,
                  cur.total_rounded AS t0, a.total_rounded AS t1, b.total_rounded AS t2
           FROM cur CROSS JOIN p1 CROSS JOIN p2
           JOIN submission_scores a ON a.campaign_id = p1.id AND a.manager_id = cur.manager_id
            AND a.organization_id = cur.organization_id AND em_counted(a.status, p_unapproved)
           JOIN submission_scores b ON b.campaign_id = p2.id AND b.manager_id = cur.manager_id
            AND b.organization_id = cur.organization_id AND em_counted(b.status, p_unapproved)),
 w AS (
   SELECT 'decline_total' AS type, 1 AS type_order, ch.s0 AS submission_id,
          NULL::bigint AS direction_id, jsonb_build_object(
           'series', jsonb_build_array(
            jsonb_build_object('campaign_id', p2.id, 'year', p2.year, 'submission_id', ch.s2,
                               'total', ch.t2),
            jsonb_build_object('campaign_id', p1.id, 'year', p1.year, 'submission_id', ch.s1,
                               'total', ch.t1),
            jsonb_build_object('campaign_id', c.id, 'year', c.year, 'submission_id', ch.s0,
                               'total', ch.t0)),
           'changes', jsonb_build_array(ch.t1 - ch.t2, ch.t0 - ch.t1),
           'change', ch.t0 - ch.t2) AS figures
   FROM chain ch, c, p1, p2 WHERE ch.t2 > ch.t1 AND ch.t1 > ch.t0
   UNION ALL
   SELECT 'decline_direction', 2, ch.s0, d0.direction_id, jsonb_build_object(
           'series', jsonb_build_array(
            jsonb_build_object('campaign_id', p2.id, 'year', p2.year, 'submission_id', ch.s2,
                               'score', round(d2.score, 2)),
            jsonb_build_object('campaign_id', p1.id, 'year', p1.year, 'submission_id', ch.s1,
                               'score', round(d1.score, 2)),
            jsonb_build_object('campaign_id', c.id, 'year', c.year, 'submission_id', ch.s0,
                               'score', round(d0.score, 2))),
           'changes', jsonb_build_array(round(d1.score, 2) - round(d2.score, 2),
                                        round(d0.score, 2) - round(d1.score, 2)),
           'change', round(d0.score, 2) - round(d2.score, 2))
   FROM chain ch CROSS JOIN c CROSS JOIN p1 CROSS JOIN p2
   JOIN direction_scores d0 ON d0.submission_id = ch.s0
   JOIN direction_scores d1 ON d1.submission_id = ch.s1 AND d1.direction_id = d0.direction_id
   JOIN direction_scores d2 ON d2.submission_id = ch.s2 AND d2.direction_id = d0.direction_id
   WHERE round(d2.score, 2) > round(d1.score, 2) AND round(d1.score, 2) > round(d0.score, 2)
   UNION ALL
   SELECT 'below_threshold', 3, cur.submission_id, NULL, jsonb_build_object(
           'total', cur.total_rounded, 'threshold', c.threshold, 'level', cur.level,
           'gap', c.threshold - cur.total_rounded)
   FROM cur, c WHERE cur.total_rounded < c.threshold
   UNION ALL
   SELECT 'low_completeness', 4, cur.submission_id, NULL, jsonb_build_object(
           'completeness', round(cur.filled::numeric / cur.applicable, 4), 'bound', c.bound,
           'filled', cur.filled, 'applicable', cur.applicable)
   FROM cur, c WHERE cur.applicable > 0 AND cur.filled < c.bound * cur.applicable)
SELECT w.type, w.type_order, w.submission_id, cur.region_id, cur.municipality_id,
       cur.organization_id, cur.manager_id, cur.kind, cur.status, d.code, d.name, d.position,
       w.figures
FROM w JOIN cur ON cur.submission_id = w.submission_id
LEFT JOIN directions d ON d.id = w.direction_id
$$;

-- The text of a recommendation drafted from a warning: the campaign, the warning
-- and its figures as em_warnings() gave them, and what the head is asked to do.
CREATE OR REPLACE FUNCTION em_warning_text(title text, type text, direction_name text, f jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE type
    WHEN 'decline_total' THEN format('Кампания «%s»: итоговый балл снижается две кампании '
        'подряд: %s г. — %s, %s г. — %s, %s г. — %s (изменение %s). Проанализируйте причины '
        'снижения и примите меры по их устранению; о выполнении сообщите в отчёте.', title,
        f #>> '{series,0,year}', f #>> '{series,0,total}', f #>> '{series,1,year}',
        f #>> '{series,1,total}', f #>> '{series,2,year}', f #>> '{series,2,total}',
        f ->> 'change')
    WHEN 'decline_direction' THEN format('Кампания «%s», направление «%s»: балл направления '
        'снижается две кампании подряд: %s г. — %s, %s г. — %s, %s г. — %s (изменение %s). '
        'Проанализируйте причины снижения и примите меры по их устранению; о выполнении '
        'сообщите в отчёте.', title, direction_name,
        f #>> '{series,0,year}', f #>> '{series,0,score}', f #>> '{series,1,year}',
        f #>> '{series,1,score}', f #>> '{series,2,year}', f #>> '{series,2,score}',
        f ->> 'change')
    WHEN 'below_threshold' THEN format('Кампания «%s»: итоговый балл %s ниже порога %s '
        '(уровень «%s»). Проанализируйте причины и примите меры по повышению результатов; '
        'о выполнении сообщите в отчёте.', title, f ->> 'total', f ->> 'threshold',
        CASE f ->> 'level' WHEN 'high' THEN 'высокий' WHEN 'sufficient' THEN 'достаточный'
        WHEN 'low' THEN 'низкий' ELSE 'критический' END)
    ELSE format('Кампания «%s»: полнота данных %s (заполнено %s из %s применимых показателей) '
        'ниже границы %s. Заполните недостающие значения показателей; о выполнении сообщите '
        'в отчёте.', title, f ->> 'completeness', f ->> 'filled', f ->> 'applicable',
        f ->> 'bound')
    END
$$;
