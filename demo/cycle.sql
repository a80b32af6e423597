-- cycle.sql — the rest of the demo region's management cycle after the 2025
-- monitoring: attestations of heads (a score for every competency of the
-- catalog, the monitoring total the commission had), recommendations at every
-- status with their history, decisions of several types, and progress on the
-- seeded roadmaps (Sarov 2.1, the Sverdlovsk matrix) with participants.
-- Everything here is fictional.
--
-- effmond load-demo (src/demo.c) runs this file inside its transaction, after
-- demo/monitoring.sql and the roadmaps, in the same load that added the
-- monitoring: so it runs once. Choices are deterministic (md5 of the INN).

CREATE FUNCTION pg_temp.demo_rand2(VARIADIC parts text[]) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || substr(md5(array_to_string(parts, '/')), 1, 8))::bit(32)::bigint / 4294967296.0
$$;

-- 2026 so far: the organizations whose head filled every self-reported value
-- (but the school of demo-head, whose draft the README fills) went the whole
-- way already; the municipality and the region added their values.
CREATE TEMP TABLE demo_early ON COMMIT DROP AS
SELECT s.id AS submission_id, o.inn, c.opens_at
FROM submissions s
JOIN campaigns c ON c.id = s.campaign_id AND c.year = 2026
JOIN regions r ON r.id = c.region_id AND r.code = '98'
JOIN organizations o ON o.id = s.organization_id
WHERE s.status = 'draft'
  AND s.organization_id <> (SELECT o1.id FROM organizations o1
                            JOIN municipalities m1 ON m1.id = o1.municipality_id
                            WHERE m1.region_id = r.id AND o1.kind = 'school'
                              AND o1.status = 'active'
                              AND m1.id = (SELECT min(id) FROM municipalities
                                           WHERE region_id = r.id)
                            ORDER BY o1.id LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM indicators i
                  WHERE i.campaign_id = c.id AND i.source = 'self'
                    AND coalesce((i.weights ->> s.kind)::numeric, 0) > 0
                    AND NOT EXISTS (SELECT 1 FROM submission_values v
                                    WHERE v.submission_id = s.id AND v.indicator_id = i.id));

INSERT INTO submission_values (submission_id, indicator_id, value, comment, updated_at,
                               submitted_value, verified_value)
SELECT e.submission_id, i.id, x.v, NULL, e.opens_at + interval '5 days', x.v, x.v
FROM demo_early e
JOIN submissions s ON s.id = e.submission_id
JOIN indicators i ON i.campaign_id = s.campaign_id AND i.source <> 'self'
     AND coalesce((i.weights ->> s.kind)::numeric, 0) > 0
CROSS JOIN LATERAL (SELECT pg_temp.demo_rand2('early', e.inn, i.code) AS r) q
CROSS JOIN LATERAL (SELECT CASE
        WHEN i.value_type = 'boolean' THEN round(q.r::numeric)
        WHEN i.value_type = 'integer' THEN round(coalesce(i.min_value, 0)
             + (coalesce(i.max_value, 10) - coalesce(i.min_value, 0)) * q.r::numeric * 0.5)
        ELSE round(coalesce(i.min_value, 0)
             + (coalesce(i.max_value, 100) - coalesce(i.min_value, 0)) * q.r::numeric, 2)
        END AS v) x
ON CONFLICT DO NOTHING;

UPDATE submission_values v SET submitted_value = v.value, self_value = v.value,
    verified_value = v.value
FROM demo_early e WHERE e.submission_id = v.submission_id;

UPDATE submissions s SET status = 'approved',
       first_submitted_at = e.opens_at + interval '6 days',
       submitted_at = e.opens_at + interval '6 days',
       verified_at = e.opens_at + interval '8 days',
       approved_at = e.opens_at + interval '10 days',
       updated_at = e.opens_at + interval '10 days', version = s.version + 3
FROM demo_early e WHERE s.id = e.submission_id;

INSERT INTO submission_history (submission_id, occurred_at, actor_role, action, from_status,
                                to_status, comment)
SELECT x.* FROM (
    SELECT s.id, s.submitted_at, 'head', 'transition', 'draft', 'submitted', NULL::text
    FROM submissions s JOIN demo_early e ON e.submission_id = s.id
    UNION ALL
    SELECT s.id, s.verified_at, 'municipal_operator', 'transition', 'submitted', 'verified',
           'Сведения проверены муниципальным органом управления образованием'
    FROM submissions s JOIN demo_early e ON e.submission_id = s.id
    UNION ALL
    SELECT s.id, s.approved_at, 'regional_operator', 'transition', 'verified', 'approved', NULL
    FROM submissions s JOIN demo_early e ON e.submission_id = s.id
) x ORDER BY 2, 1;

SELECT em_rescore(array_agg(e.submission_id ORDER BY e.submission_id)) FROM demo_early e;

INSERT INTO audit_events (actor_role, entity, entity_id, action, after, region_id,
                          municipality_id, organization_id)
SELECT 'cli', 'submission', s.id, 'load-demo', to_jsonb(s), s.region_id, s.municipality_id,
       s.organization_id
FROM submissions s JOIN demo_early e ON e.submission_id = s.id;

-- The heads of 2025 with their approved total, strongest first.
CREATE TEMP TABLE demo_heads ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY sc.total_rounded DESC, s.id) AS n, s.manager_id,
       s.organization_id, s.municipality_id, s.region_id, c.id AS campaign_id, o.inn,
       sc.total_rounded AS total, sc.level
FROM submissions s
JOIN campaigns c ON c.id = s.campaign_id AND c.year = 2025
JOIN regions r ON r.id = c.region_id AND r.code = '98'
JOIN submission_scores sc ON sc.submission_id = s.id AND sc.total_rounded IS NOT NULL
JOIN organizations o ON o.id = s.organization_id
WHERE s.manager_id IS NOT NULL AND s.status = 'approved';

-- Attestations: every fifth head of the ranking, in the autumn after the
-- campaign; the commission's decision follows the competency scores.
CREATE TEMP TABLE demo_att ON COMMIT DROP AS
WITH ins AS (
    INSERT INTO attestations (manager_id, attested_on, commission, protocol_number, decision,
                              valid_until, monitoring_total, monitoring_campaign_id,
                              created_at, updated_at)
    SELECT h.manager_id, date '2025-10-01' + (h.n % 40)::int,
           'Аттестационная комиссия министерства образования Демонстрационной области',
           (h.n / 5 + 1) || '/2025',
           CASE WHEN h.total >= 55 THEN 'fits_position'
                WHEN h.total >= 40 THEN 'fits_position_conditionally'
                ELSE 'does_not_fit_position' END,
           CASE WHEN h.total >= 55 THEN date '2030-10-01' ELSE date '2026-10-01' END
               + (h.n % 40)::int,
           h.total, h.campaign_id, now(), now()
    FROM demo_heads h WHERE h.n % 5 = 1
    RETURNING *)
SELECT ins.*, h.total AS q FROM ins JOIN demo_heads h ON h.manager_id = ins.manager_id;

INSERT INTO attestation_scores (attestation_id, competency_id, score, max_score)
SELECT a.id, k.id,
       least(k.max_score, greatest(0, round(k.max_score * (0.25 + 0.6 * a.q / 100
           + 0.2 * pg_temp.demo_rand2('att', a.id::text, k.code)))::int)),
       k.max_score
FROM demo_att a CROSS JOIN competencies k;

-- Recommendations of the region to the weakest heads, one at each status,
-- and one of the region to a municipality; history from creation on.
CREATE TEMP TABLE demo_rec_plan (k integer PRIMARY KEY, status text NOT NULL,
                                 direction text NOT NULL, text text NOT NULL) ON COMMIT DROP;
INSERT INTO demo_rec_plan VALUES
    (1, 'accepted', 'objectivity', 'Обеспечить присутствие независимых наблюдателей на всех оценочных процедурах'),
    (2, 'reported', 'results', 'Разработать план повышения доли выпускников, получивших аттестат'),
    (3, 'acknowledged', 'reserve', 'Сформировать кадровый резерв заместителей руководителя'),
    (4, 'issued', 'teacher_development', 'Закрепить наставников за молодыми педагогами'),
    (5, 'draft', 'career_guidance', 'Расширить охват обучающихся дополнительным образованием'),
    (6, 'withdrawn', 'conditions', 'Устранить предписания надзорных органов'),
    (7, 'accepted', 'management_qualification', 'Направить руководителя на обучение по программе управления ОО');

CREATE TEMP TABLE demo_rec ON COMMIT DROP AS
WITH h AS (SELECT * FROM demo_heads ORDER BY n DESC LIMIT 7),
p AS (SELECT h.*, row_number() OVER (ORDER BY h.n DESC) AS k FROM h),
ins AS (
    INSERT INTO recommendations (campaign_id, region_id, municipality_id, organization_id,
        addressee_manager_id, issuer_level, directions, text, due_on, status, report,
        issued_at, acknowledged_at, reported_at, accepted_at, created_at, updated_at, version)
    SELECT p.campaign_id, p.region_id, p.municipality_id, p.organization_id, p.manager_id,
           'regional', ARRAY[r.direction], r.text, date '2025-12-20', r.status,
           CASE WHEN r.status IN ('reported', 'accepted')
                THEN 'Мероприятия выполнены, подтверждающие документы размещены на сайте ОО' END,
           CASE WHEN r.status NOT IN ('draft', 'withdrawn') THEN timestamptz '2025-06-20 10:00+03' END,
           CASE WHEN r.status IN ('acknowledged', 'reported', 'accepted')
                THEN timestamptz '2025-06-23 10:00+03' END,
           CASE WHEN r.status IN ('reported', 'accepted') THEN timestamptz '2025-11-14 10:00+03' END,
           CASE WHEN r.status = 'accepted' THEN timestamptz '2025-11-28 10:00+03' END,
           timestamptz '2025-06-18 10:00+03', now(),
           CASE r.status WHEN 'draft' THEN 1 WHEN 'withdrawn' THEN 2 WHEN 'issued' THEN 2
                WHEN 'acknowledged' THEN 3 WHEN 'reported' THEN 4 ELSE 5 END
    FROM p JOIN demo_rec_plan r ON r.k = p.k
    RETURNING *)
SELECT * FROM ins;

INSERT INTO recommendations (campaign_id, region_id, municipality_id, addressee_municipality_id,
    issuer_level, directions, text, due_on, status, issued_at, created_at, updated_at, version)
SELECT c.id, c.region_id, m.id, m.id, 'regional', '{network}',
       'Снизить долю обучающихся во вторую смену: план перераспределения контингента',
       date '2025-12-31', 'issued', timestamptz '2025-06-20 10:00+03',
       timestamptz '2025-06-18 10:00+03', now(), 2
FROM campaigns c JOIN regions r ON r.id = c.region_id AND r.code = '98'
JOIN LATERAL (SELECT id FROM municipalities WHERE region_id = r.id ORDER BY id LIMIT 1) m ON true
WHERE c.year = 2025;

INSERT INTO recommendation_history (recommendation_id, occurred_at, actor_role, action,
                                    from_status, to_status, report)
SELECT x.* FROM (
    SELECT r.id, r.created_at, 'cli', 'create', NULL, CASE WHEN r.status = 'draft' OR
           r.status = 'withdrawn' THEN 'draft' ELSE 'issued' END, NULL
    FROM recommendations r JOIN campaigns c ON c.id = r.campaign_id
    JOIN regions g ON g.id = c.region_id AND g.code = '98'
    UNION ALL
    SELECT id, created_at + interval '1 day', 'regional_operator', 'transition', 'draft',
           'withdrawn', NULL FROM demo_rec WHERE status = 'withdrawn'
    UNION ALL
    SELECT id, acknowledged_at, 'head', 'transition', 'issued', 'acknowledged', NULL
    FROM demo_rec WHERE acknowledged_at IS NOT NULL
    UNION ALL
    SELECT id, reported_at, 'head', 'transition', 'acknowledged', 'reported', report
    FROM demo_rec WHERE reported_at IS NOT NULL
    UNION ALL
    SELECT id, accepted_at, 'regional_operator', 'transition', 'reported', 'accepted', NULL
    FROM demo_rec WHERE accepted_at IS NOT NULL
) x ORDER BY 2, 1;

-- Decisions after the campaign: bonuses and commendations for the strongest,
-- referrals for the weakest; never edited (append-only).
INSERT INTO decisions (manager_id, campaign_id, type, basis, basis_attestation_id, act_number,
                       act_date, effective_on, amount, issuer_role, created_at, updated_at)
SELECT d.manager_id, d.campaign_id, d.type, d.basis, d.att, d.act, date '2025-07-01',
       date '2025-08-01', d.amount, 'regional_operator', now(), now()
FROM (
    SELECT h.manager_id, h.campaign_id, 'bonus' AS type,
           'Высокий уровень эффективности по итогам мониторинга 2025 года' AS basis,
           NULL::bigint AS att, (40 + h.n) || '-к' AS act, (20000 - 2500 * h.n)::numeric AS amount
    FROM demo_heads h WHERE h.n <= 3
    UNION ALL
    SELECT h.manager_id, h.campaign_id, 'commendation', 'Благодарность министерства по итогам мониторинга',
           NULL, (50 + h.n) || '-к', NULL FROM demo_heads h WHERE h.n BETWEEN 4 AND 5
    UNION ALL
    SELECT h.manager_id, h.campaign_id, 'reserve_inclusion', 'Включение в резерв управленческих кадров',
           NULL, (60 + h.n) || '-к', NULL FROM demo_heads h WHERE h.n = 6
    UNION ALL
    SELECT h.manager_id, h.campaign_id, 'training_referral',
           'Критический уровень по направлению «квалификация в области управления»',
           NULL, (70 + h.n) || '-к', NULL
    FROM demo_heads h WHERE h.n > (SELECT max(n) - 3 FROM demo_heads)
    UNION ALL
    SELECT a.manager_id, a.monitoring_campaign_id, 'warning',
           'Решение аттестационной комиссии: не соответствует занимаемой должности',
           a.id, (90 + a.id) || '-к', NULL FROM demo_att a WHERE a.decision = 'does_not_fit_position'
    UNION ALL
    SELECT a.manager_id, a.monitoring_campaign_id, 'attestation_referral',
           'Соответствует занимаемой должности при условии обучения', a.id,
           (95 + a.id) || '-к', NULL FROM demo_att a WHERE a.decision = 'fits_position_conditionally'
) d ORDER BY d.act;

-- Progress on the roadmaps: Sarov's first milestones done, the next ones
-- under way; in the Sverdlovsk matrix the 2020 block done and the school's
-- own roadmap with its head as participant.
CREATE TEMP TABLE demo_ms ON COMMIT DROP AS
WITH target AS (
    SELECT m.id, CASE WHEN row_number() OVER w <= CASE WHEN r.level = 'municipal' AND
                            mu.name = 'ЗАТО город Саров' THEN 7 ELSE 8 END THEN 'done'
                      WHEN row_number() OVER w <= 11 THEN 'in_progress' END AS status
    FROM milestones m JOIN roadmaps r ON r.id = m.roadmap_id
    JOIN regions g ON g.id = r.region_id AND g.code = '98'
    LEFT JOIN municipalities mu ON mu.id = r.municipality_id
    WHERE m.status = 'planned'
      AND NOT EXISTS (SELECT 1 FROM milestones p WHERE p.roadmap_id = m.roadmap_id
                      AND p.status <> 'planned')   -- a roadmap someone worked on stays so
    WINDOW w AS (PARTITION BY m.roadmap_id ORDER BY m.id)),
upd AS (
    UPDATE milestones m SET status = t.status,
           started_at = timestamptz '2025-03-10 10:00+03',
           done_at = CASE WHEN t.status = 'done' THEN timestamptz '2025-09-30 10:00+03' END,
           progress_report = CASE WHEN t.status = 'done'
               THEN 'Выполнено: протокол совещания и приказ размещены в системе'
               ELSE 'Работа ведётся по утверждённому графику' END,
           evidence = CASE WHEN t.status = 'done'
               THEN ARRAY['https://demo-region.example/roadmaps/' || m.id || '.pdf']
               ELSE '{}' END,
           version = m.version + CASE WHEN t.status = 'done' THEN 2 ELSE 1 END, updated_at = now()
    FROM target t WHERE t.id = m.id AND t.status IS NOT NULL
    RETURNING m.id, m.status)
SELECT * FROM upd;

INSERT INTO milestone_transitions (milestone_id, from_status, to_status, comment, created_at)
SELECT x.* FROM (
    SELECT id, 'planned', 'in_progress', NULL::text, timestamptz '2025-03-10 10:00+03' FROM demo_ms
    UNION ALL
    SELECT id, 'in_progress', 'done', 'Выполнено в срок', timestamptz '2025-09-30 10:00+03'
    FROM demo_ms WHERE status = 'done'
) x ORDER BY 5, 1;

INSERT INTO milestone_participants (milestone_id, manager_id, created_at)
SELECT m.id, g.id, now()
FROM milestones m JOIN roadmaps r ON r.id = m.roadmap_id AND r.level = 'organization'
JOIN managers g ON g.organization_id = r.organization_id AND g.status = 'active'
JOIN demo_ms d ON d.id = m.id
ON CONFLICT DO NOTHING;

-- The measures of 2025-2026 after the 2025 monitoring (the seeded roadmaps
-- are of 2020-2022): the region's, Заречный-Демо's and Sarov's plans, their
-- milestones at every status, the heads with recommendations as participants.
CREATE TEMP TABLE demo_plan (k integer PRIMARY KEY, level text NOT NULL, muni text,
                             title text NOT NULL) ON COMMIT DROP;
INSERT INTO demo_plan VALUES
    (1, 'regional', NULL, 'План мероприятий по итогам мониторинга эффективности руководителей ОО 2025 года'),
    (2, 'municipal', 'городской округ Заречный-Демо', 'Муниципальный план адресной помощи руководителям ОО на 2025-2026 годы'),
    (3, 'municipal', 'ЗАТО город Саров', 'Продолжение «дорожной карты» 2.1: мониторинг эффективности руководителей ОО Сарова в 2025-2026 годах');
CREATE TEMP TABLE demo_plan_rows (n integer PRIMARY KEY, title text NOT NULL, due_text text NOT NULL,
                                  due_on date NOT NULL, status text NOT NULL) ON COMMIT DROP;
INSERT INTO demo_plan_rows VALUES
    (1, 'Совещание с руководителями ОО по итогам мониторинга 2025 года', 'Сентябрь 2025 г.', '2025-09-30', 'done'),
    (2, 'Адресные рекомендации руководителям ОО с критическим уровнем', 'Октябрь 2025 г.', '2025-10-31', 'done'),
    (3, 'Обучение руководителей ОО по программам управления', 'Декабрь 2025 г.', '2025-12-31', 'in_progress'),
    (4, 'Наставничество для руководителей ОО с низким уровнем', 'Март 2026 г.', '2026-03-31', 'planned'),
    (5, 'Семинар по объективности оценочных процедур', 'Ноябрь 2025 г.', '2025-11-30', 'cancelled');

CREATE TEMP TABLE demo_plan_ids ON COMMIT DROP AS
WITH ins AS (
    INSERT INTO roadmaps (level, region_id, municipality_id, title, period_from, period_to)
    SELECT p.level, r.id, m.id, p.title, date '2025-07-01', date '2026-12-31'
    FROM demo_plan p JOIN regions r ON r.code = '98'
    LEFT JOIN municipalities m ON m.region_id = r.id AND m.name = p.muni
    WHERE (p.muni IS NULL OR m.id IS NOT NULL)
      AND NOT EXISTS (SELECT 1 FROM roadmaps x WHERE x.region_id = r.id AND x.title = p.title)
    ORDER BY p.k
    RETURNING id)
SELECT id FROM ins;

CREATE TEMP TABLE demo_plan_ms ON COMMIT DROP AS
WITH ins AS (
    INSERT INTO milestones (roadmap_id, number, title, due_text, due_on, executors,
                            expected_result, status, progress_report, started_at, done_at,
                            cancelled_at, version)
    SELECT d.id, w.n::text, w.title, w.due_text, w.due_on,
           ARRAY['Орган управления образованием'], 'Проведено, результаты размещены на сайте',
           w.status,
           CASE WHEN w.status IN ('done', 'in_progress') THEN 'Выполняется по плану' END,
           CASE WHEN w.status IN ('done', 'in_progress') THEN timestamptz '2025-09-01 10:00+03' END,
           CASE WHEN w.status = 'done' THEN w.due_on::timestamptz END,
           CASE WHEN w.status = 'cancelled' THEN timestamptz '2025-10-15 10:00+03' END,
           CASE w.status WHEN 'done' THEN 3 WHEN 'planned' THEN 1 ELSE 2 END
    FROM demo_plan_ids d CROSS JOIN demo_plan_rows w
    ORDER BY d.id, w.n
    RETURNING id, status, cancelled_at)
SELECT * FROM ins;

INSERT INTO milestone_transitions (milestone_id, from_status, to_status, comment, created_at)
SELECT x.* FROM (
    SELECT id, 'planned', 'in_progress', NULL::text, timestamptz '2025-09-01 10:00+03'
    FROM demo_plan_ms WHERE status IN ('done', 'in_progress')
    UNION ALL
    SELECT id, 'in_progress', 'done', 'Выполнено в срок', timestamptz '2025-11-30 10:00+03'
    FROM demo_plan_ms WHERE status = 'done'
    UNION ALL
    SELECT id, 'planned', 'cancelled', 'Перенесено в план 2026 года', cancelled_at
    FROM demo_plan_ms WHERE status = 'cancelled'
) x ORDER BY 5, 1;

INSERT INTO milestone_participants (milestone_id, manager_id, created_at)
SELECT m.id, r.addressee_manager_id, now()
FROM demo_plan_ms m JOIN milestones ms ON ms.id = m.id
JOIN roadmaps rm ON rm.id = ms.roadmap_id AND rm.level = 'regional'
CROSS JOIN demo_rec r WHERE ms.number IN ('2', '3')
ON CONFLICT DO NOTHING;

-- The audit trail: one 'load-demo' event per attestation, recommendation and
-- decision, and per milestone whose progress was recorded.
INSERT INTO audit_events (actor_role, entity, entity_id, action, after, region_id,
                          municipality_id, organization_id)
SELECT 'cli', 'attestation', a.id, 'load-demo', to_jsonb(a) - 'q', o.region_id,
       o.municipality_id, o.id
FROM demo_att a JOIN managers g ON g.id = a.manager_id
LEFT JOIN organizations o ON o.id = g.organization_id
UNION ALL
SELECT 'cli', 'recommendation', r.id, 'load-demo', to_jsonb(r), r.region_id, r.municipality_id,
       r.organization_id
FROM recommendations r JOIN regions g ON g.id = r.region_id AND g.code = '98'
UNION ALL
SELECT 'cli', 'decision', d.id, 'load-demo', to_jsonb(d), o.region_id, o.municipality_id, o.id
FROM decisions d JOIN managers g ON g.id = d.manager_id
JOIN organizations o ON o.id = g.organization_id JOIN regions r ON r.id = o.region_id AND r.code = '98'
UNION ALL
SELECT 'cli', 'milestone', m.id, 'load-demo', to_jsonb(m), r.region_id, r.municipality_id,
       r.organization_id
FROM demo_ms d JOIN milestones m ON m.id = d.id JOIN roadmaps r ON r.id = m.roadmap_id
UNION ALL
SELECT 'cli', 'roadmap', r.id, 'load-demo', to_jsonb(r) || jsonb_build_object('milestones',
           (SELECT jsonb_agg(to_jsonb(m) ORDER BY m.id) FROM milestones m
            WHERE m.roadmap_id = r.id)), r.region_id, r.municipality_id, r.organization_id
FROM demo_plan_ids d JOIN roadmaps r ON r.id = d.id;

-- Objectivity calibration (GET /campaigns/{id}/calibration): in 2025 the
-- municipalities returned some self-assessments for correction before they
-- verified them. For six organizations (by md5 of the INN) what the head first
-- submitted (self_value) differs from the verified value, which stays the value
-- scored and the one submitted last: three heads claimed more on
-- about 60 % of their self-assessed values (by 15-40 % of the indicator's
-- range, a true boolean for a false one), two claimed a little more on a few
-- (5 %), and one claimed less on some (10 %). Official scores do not change.
WITH pick AS (
    SELECT s.id AS submission_id, o.inn,
           row_number() OVER (ORDER BY md5('calibration/' || o.inn)) AS n
    FROM submissions s
    JOIN campaigns c ON c.id = s.campaign_id AND c.year = 2025
    JOIN regions r ON r.id = c.region_id AND r.code = '98'
    JOIN organizations o ON o.id = s.organization_id
    WHERE s.status = 'approved'
), v AS (
    SELECT v.submission_id, v.indicator_id, v.value, i.value_type, i.polarity, i.min_value,
           i.max_value, CASE WHEN p.n <= 3 AND q.r < 0.6 THEN 0.15 + 0.25 * q.r
                             WHEN p.n IN (4, 5) AND q.r < 0.15 THEN 0.05
                             WHEN p.n = 6 AND q.r < 0.3 THEN -0.1 END AS f
    FROM pick p
    JOIN submission_values v ON v.submission_id = p.submission_id
    JOIN indicators i ON i.id = v.indicator_id AND i.source = 'self'
    CROSS JOIN LATERAL (SELECT pg_temp.demo_rand2('calibration', p.inn, i.code)::numeric AS r) q
    WHERE p.n <= 6
)
UPDATE submission_values sv SET self_value = x.claimed
FROM (SELECT v.submission_id, v.indicator_id, CASE
          WHEN v.value_type = 'boolean' THEN CASE WHEN v.f > 0 THEN 1 ELSE 0 END
          ELSE round(least(v.max_value, greatest(v.min_value, v.value
                   + CASE v.polarity WHEN 'down' THEN -1 ELSE 1 END
                     * v.f * (v.max_value - v.min_value))),
                   CASE v.value_type WHEN 'integer' THEN 0 WHEN 'percent' THEN 1 ELSE 2 END)
          END AS claimed
      FROM v WHERE v.f IS NOT NULL) x
WHERE sv.submission_id = x.submission_id AND sv.indicator_id = x.indicator_id;
