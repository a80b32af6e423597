-- monitoring.sql — the demo region's monitoring: a catalog of 27 indicators
-- over the ten directions (modelled on published regional practice: DESIGN,
-- "A realistic default catalog"), the 2025 campaign, published, with an
-- approved and scored submission of every active organization, and the 2026
-- campaign, open from 14 days before the load to 30 days after it, with draft
-- submissions, some of them partly filled. Everything here is fictional.
--
-- effmond load-demo (src/demo.c) runs this file inside its transaction, after
-- demo/registry.sql, whenever the demo region (code 98) has no campaign yet:
-- so a database that got the registry demo from an older effmond gets this
-- part on its next load-demo. Values are pseudo-random but deterministic (an
-- md5 of the organization's INN, the year and the indicator's code).

-- A number in [0, 1) from its arguments, always the same for the same ones.
CREATE FUNCTION pg_temp.demo_rand(VARIADIC parts text[]) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$
    SELECT ('x' || substr(md5(array_to_string(parts, '/')), 1, 8))::bit(32)::bigint / 4294967296.0
$$;

-- The catalog. weak/strong: the typical value of a weak and of a strong
-- organization (for booleans, the probability of «да»); w_*: the weight per
-- kind of organization, 0 where the indicator does not apply.
CREATE TEMP TABLE demo_catalog (
    position integer PRIMARY KEY, code text NOT NULL UNIQUE, name text NOT NULL,
    direction text NOT NULL, unit text, value_type text NOT NULL, min_value numeric,
    max_value numeric, polarity text NOT NULL, source text NOT NULL, method text NOT NULL,
    w_school numeric NOT NULL, w_preschool numeric NOT NULL, w_additional numeric NOT NULL,
    w_vocational numeric NOT NULL, w_special numeric NOT NULL,
    weak numeric NOT NULL, strong numeric NOT NULL
) ON COMMIT DROP;
INSERT INTO demo_catalog VALUES
    -- по совершенствованию сети ОО
    (1, 'net.load', 'Загруженность здания (численность обучающихся к проектной мощности)',
     'network', '%', 'percent', 0, 100, 'up', 'municipal',
     'Численность обучающихся (воспитанников) на 1 сентября / проектная мощность здания по техническому паспорту × 100; при превышении мощности указывается 100.',
     1, 1, 0, 1, 0.5, 55, 98),
    (2, 'net.second_shift', 'Доля обучающихся, занимающихся во вторую смену',
     'network', '%', 'percent', 0, 40, 'down', 'municipal',
     'Численность обучающихся второй смены / общая численность обучающихся × 100 (форма ОО-1, раздел 2.1).',
     2, 0, 0, 0, 0, 28, 0),
    (3, 'net.queue', 'Доля детей от 1,5 до 3 лет из очереди, обеспеченных местом в ДОО',
     'network', '%', 'percent', 0, 100, 'up', 'municipal',
     'Число детей 1,5–3 лет, получивших место в отчётном году / число детей этого возраста в очереди на 1 января × 100 (ЕИС «Электронная очередь»).',
     0, 2, 0, 0, 0, 60, 100),
    -- по качеству управленческой деятельности
    (4, 'mgmt.program', 'Программа развития ОО утверждена и актуализирована за последние 2 года',
     'management', NULL, 'boolean', NULL, NULL, 'up', 'self',
     'Да — программа развития согласована с учредителем и актуализирована не ранее чем за 2 года до начала мониторинга; ссылка на документ на сайте ОО.',
     1, 1, 1, 1, 1, 0.5, 0.98),
    (5, 'mgmt.complaints', 'Обоснованные жалобы родителей (законных представителей) на 100 обучающихся',
     'management', 'на 100 обуч.', 'number', 0, 3, 'down', 'municipal',
     'Число жалоб, признанных учредителем обоснованными за учебный год / численность обучающихся × 100.',
     1, 1, 1, 1, 1, 1.6, 0),
    (6, 'mgmt.prescriptions', 'Неустранённые в срок предписания надзорных органов',
     'management', 'ед.', 'integer', 0, 5, 'down', 'regional_import',
     'Число предписаний Рособрнадзора, МЧС и Роспотребнадзора, не исполненных в установленный срок (реестр контрольно-надзорных мероприятий).',
     1, 1, 1, 1, 1, 3, 0),
    -- по качеству подготовки обучающихся
    (7, 'res.oge_cert', 'Доля выпускников 9 классов, получивших аттестат об основном общем образовании',
     'student_results', '%', 'percent', 80, 100, 'up', 'regional_import',
     'Число выпускников 9 классов, получивших аттестат / число выпускников 9 классов × 100 (РИС ГИА).',
     3, 0, 0, 0, 1, 88, 100),
    (8, 'res.ege_no_cert', 'Доля выпускников 11 классов, не получивших аттестат о среднем общем образовании',
     'student_results', '%', 'percent', 0, 10, 'down', 'regional_import',
     'Число выпускников 11 классов без аттестата / число выпускников 11 классов × 100 (РИС ГИА).',
     3, 0, 0, 0, 0, 6, 0),
    (9, 'res.ege_80', 'Доля результатов ЕГЭ от 80 до 100 баллов',
     'student_results', '%', 'percent', 0, 40, 'up', 'regional_import',
     'Число результатов ЕГЭ по всем предметам от 80 до 100 баллов / общее число результатов ЕГЭ выпускников текущего года × 100.',
     2, 0, 0, 0, 0, 2, 30),
    (10, 'res.olympiad', 'Победители и призёры регионального и заключительного этапов ВсОШ на 100 обучающихся 9–11 классов',
     'student_results', 'на 100 обуч.', 'number', 0, 5, 'up', 'regional_import',
     'Число дипломов победителей и призёров регионального и заключительного этапов всероссийской олимпиады школьников / численность обучающихся 9–11 классов × 100.',
     1, 0, 1, 0, 0, 0, 3.5),
    (11, 'res.demo_exam', 'Доля выпускников, сдавших демонстрационный экзамен',
     'student_results', '%', 'percent', 0, 100, 'up', 'regional_import',
     'Число выпускников, сдавших демонстрационный экзамен базового или профильного уровня / число выпускников × 100.',
     0, 0, 0, 3, 0, 55, 98),
    (12, 'res.contests', 'Доля обучающихся — победителей и призёров конкурсов и соревнований муниципального и более высокого уровня',
     'student_results', '%', 'percent', 0, 30, 'up', 'self',
     'Число обучающихся (воспитанников), ставших победителями и призёрами конкурсов, фестивалей, соревнований муниципального, регионального, всероссийского уровня / численность обучающихся × 100; каждый обучающийся учитывается один раз.',
     1, 1, 3, 1, 1, 2, 24),
    -- по формированию кадрового резерва
    (13, 'rsv.per_post', 'Подготовленный кадровый резерв на одну управленческую должность',
     'reserve', 'чел.', 'number', 0, 2, 'up', 'municipal',
     'Число лиц, включённых в кадровый резерв и прошедших подготовку, / число управленческих должностей ОО (руководитель и заместители).',
     1, 1, 1, 1, 1, 0, 1.5),
    (14, 'rsv.deputies', 'Доля заместителей руководителя, прошедших обучение по программам подготовки управленческого резерва',
     'reserve', '%', 'percent', 0, 100, 'up', 'self',
     'Число заместителей, имеющих удостоверение о прохождении программы подготовки резерва (не менее 72 ч), / число заместителей × 100.',
     1, 1, 1, 1, 1, 10, 90),
    -- по обеспечению объективности результатов внешней и внутренней оценки
    (15, 'obj.not_listed', 'ОО отсутствует в перечне ОО с признаками необъективных результатов',
     'objectivity', NULL, 'boolean', NULL, NULL, 'up', 'regional_import',
     'Да — ОО не включена в перечень образовательных организаций с признаками необъективных результатов, сформированный по методике Рособрнадзора за отчётный год. Результаты ВПР не используются для оценки ОО и педагогов.',
     3, 0, 0, 0, 1, 0.6, 1),
    (16, 'obj.observers', 'Доля оценочных процедур, проведённых с участием независимых общественных наблюдателей',
     'objectivity', '%', 'percent', 0, 100, 'up', 'self',
     'Число оценочных процедур (ГИА, региональные и муниципальные диагностики, промежуточная аттестация в выпускных классах) с наблюдателями / число проведённых процедур × 100.',
     2, 0, 0, 1, 1, 30, 100),
    -- по условиям осуществления образовательной деятельности
    (17, 'cond.staffing', 'Укомплектованность педагогическими кадрами',
     'conditions', '%', 'percent', 70, 100, 'up', 'self',
     'Число занятых штатных педагогических ставок / число штатных педагогических ставок по штатному расписанию × 100.',
     2, 2, 1, 1, 2, 84, 100),
    (18, 'cond.accessible', 'Создана доступная среда для обучающихся с ОВЗ и инвалидностью',
     'conditions', NULL, 'boolean', NULL, NULL, 'up', 'self',
     'Да — паспорт доступности объекта подтверждает условия для беспрепятственного доступа и обучения лиц с ОВЗ и инвалидностью по всем категориям нарушений.',
     1, 1, 1, 1, 2, 0.35, 0.9),
    -- по индивидуализации обучения
    (19, 'ind.profile', 'Доля обучающихся 10–11 классов, обучающихся по профильным или индивидуальным учебным планам',
     'individualization', '%', 'percent', 0, 100, 'up', 'self',
     'Численность обучающихся 10–11 классов профильного обучения и по индивидуальным учебным планам / численность обучающихся 10–11 классов × 100.',
     2, 0, 0, 0, 0, 20, 100),
    (20, 'ind.adapted', 'Доля обучающихся с ОВЗ, обучающихся по адаптированным образовательным программам',
     'individualization', '%', 'percent', 0, 100, 'up', 'self',
     'Численность обучающихся с ОВЗ, для которых разработаны и реализуются адаптированные программы, / численность обучающихся с ОВЗ по заключениям ПМПК × 100.',
     1, 1, 0, 1, 3, 60, 100),
    -- по профориентации и дополнительному образованию
    (21, 'car.additional', 'Доля обучающихся, охваченных дополнительным образованием',
     'career_guidance', '%', 'percent', 0, 100, 'up', 'self',
     'Численность обучающихся, занимающихся по дополнительным общеразвивающим программам (в ОО и вне её, по данным навигатора), / численность обучающихся × 100.',
     2, 1, 0, 0, 1, 45, 95),
    (22, 'car.guidance', 'Доля обучающихся 6–11 классов, участвующих в профориентационных мероприятиях',
     'career_guidance', '%', 'percent', 0, 100, 'up', 'self',
     'Численность обучающихся 6–11 классов, участвовавших в проекте «Билет в будущее», профессиональных пробах, экскурсиях на предприятия, / численность обучающихся 6–11 классов × 100.',
     2, 0, 1, 0, 1, 30, 100),
    (23, 'car.employment', 'Доля выпускников, трудоустроенных в течение года после выпуска',
     'career_guidance', '%', 'percent', 0, 100, 'up', 'regional_import',
     'Численность выпускников прошлого года, трудоустроенных по полученной профессии или продолживших обучение, / численность выпускников × 100 (мониторинг трудоустройства).',
     0, 0, 0, 3, 0, 50, 92),
    -- по квалификации в области управления
    (24, 'mq.head_72h', 'Руководитель прошёл обучение в области управления объёмом не менее 72 ч за последние 3 года',
     'management_qualification', NULL, 'boolean', NULL, NULL, 'up', 'self',
     'Да — удостоверение о повышении квалификации или диплом о переподготовке в сфере менеджмента в образовании, выданные не ранее чем за 3 года до начала мониторинга.',
     2, 2, 2, 2, 2, 0, 1),
    -- по профессиональному развитию педагогов
    (25, 'td.category', 'Доля педагогов, имеющих первую или высшую квалификационную категорию',
     'teacher_development', '%', 'percent', 0, 100, 'up', 'self',
     'Численность педагогических работников с первой или высшей категорией / численность педагогических работников × 100 (без внешних совместителей).',
     1, 1, 1, 1, 1, 40, 85),
    (26, 'td.trained', 'Доля педагогов, прошедших повышение квалификации за последние 3 года',
     'teacher_development', '%', 'percent', 0, 100, 'up', 'self',
     'Численность педагогов, прошедших обучение по программам повышения квалификации не менее 16 ч за последние 3 года, / численность педагогов × 100.',
     1, 1, 1, 1, 1, 65, 100),
    (27, 'td.mentoring', 'Доля молодых педагогов (стаж до 3 лет), за которыми закреплён наставник',
     'teacher_development', '%', 'percent', 0, 100, 'up', 'self',
     'Численность педагогов со стажем до 3 лет, за которыми приказом закреплён наставник, / численность педагогов со стажем до 3 лет × 100.',
     1, 1, 1, 1, 1, 20, 100);

CREATE TEMP TABLE demo_campaigns (
    year integer PRIMARY KEY, title text NOT NULL, goals jsonb NOT NULL, status text NOT NULL,
    opens_at timestamptz NOT NULL, closes_at timestamptz NOT NULL, closed_at timestamptz,
    published_at timestamptz
) ON COMMIT DROP;
INSERT INTO demo_campaigns VALUES
    (2025, 'Мониторинг эффективности руководителей ОО — 2025',
     '["Повысить долю выпускников 9 и 11 классов, получивших аттестат", "Обеспечить объективность оценочных процедур во всех школах области", "Сформировать подготовленный кадровый резерв на каждую управленческую должность", "Довести долю руководителей, прошедших обучение в области управления, до 90 %"]',
     'published', '2025-03-03 09:00+03', '2025-04-30 18:00+03', '2025-05-05 10:00+03',
     '2025-06-16 12:00+03'),
    (2026, 'Мониторинг эффективности руководителей ОО — 2026',
     '["Повысить долю выпускников 9 и 11 классов, получивших аттестат", "Снизить долю обучающихся во вторую смену", "Расширить охват обучающихся профориентационными мероприятиями и дополнительным образованием", "Закрепить наставника за каждым молодым педагогом"]',
     'open', date_trunc('hour', now()) - interval '14 days',
     date_trunc('hour', now()) + interval '30 days', NULL, NULL);

-- The campaigns; 2026 copies 2025's catalog, as the API does.
INSERT INTO campaigns (region_id, year, title, goals, opens_at, closes_at, status, opened_at,
                       closed_at, published_at, created_at, updated_at, version)
SELECT r.id, d.year, d.title, d.goals, d.opens_at, d.closes_at, d.status, d.opens_at,
       d.closed_at, d.published_at, d.opens_at - interval '20 days',
       coalesce(d.published_at, d.opens_at), CASE d.status WHEN 'published' THEN 4 ELSE 2 END
FROM demo_campaigns d, regions r WHERE r.code = '98' ORDER BY d.year;
UPDATE campaigns c SET catalog_source_id = p.id
FROM campaigns p JOIN regions r ON r.id = p.region_id AND r.code = '98'
WHERE c.region_id = p.region_id AND c.year = 2026 AND p.year = 2025;

INSERT INTO indicators (campaign_id, region_id, code, name, direction_id, unit, value_type,
                        min_value, max_value, polarity, source, data_kind, method, weights,
                        position, created_at, updated_at)
SELECT c.id, c.region_id, k.code, k.name, d.id, k.unit, k.value_type, k.min_value, k.max_value,
       k.polarity, k.source,
       -- What data each uses (migration 0011): the objectivity direction uses markers
       -- of objectivity, nothing uses raw results of ВПР.
       CASE WHEN k.direction = 'objectivity' THEN 'objectivity_marker'
            WHEN k.code IN ('res.oge_cert', 'res.ege_no_cert', 'res.ege_80', 'res.demo_exam')
                THEN 'exam_results'
            WHEN k.direction IN ('network', 'individualization', 'career_guidance')
                THEN 'contingent'
            WHEN k.direction IN ('reserve', 'management_qualification', 'teacher_development')
                OR k.code = 'cond.staffing' THEN 'staff'
            WHEN k.direction = 'management' THEN 'management'
            ELSE 'other' END,
       k.method,
       jsonb_strip_nulls(jsonb_build_object(
           'school', nullif(k.w_school, 0), 'preschool', nullif(k.w_preschool, 0),
           'additional', nullif(k.w_additional, 0), 'vocational', nullif(k.w_vocational, 0),
           'special', nullif(k.w_special, 0))),
       k.position, c.created_at, c.created_at
FROM demo_catalog k
JOIN directions d ON d.code = k.direction
CROSS JOIN campaigns c JOIN regions r ON r.id = c.region_id AND r.code = '98'
ORDER BY c.year, k.position;

-- A draft submission per active organization, with its current head.
INSERT INTO submissions (campaign_id, organization_id, region_id, municipality_id, kind,
                         manager_id, created_at, updated_at)
SELECT c.id, o.id, o.region_id, o.municipality_id, o.kind, a.manager_id, c.opens_at, c.opens_at
FROM campaigns c
JOIN regions r ON r.id = c.region_id AND r.code = '98'
JOIN organizations o ON o.region_id = c.region_id AND o.status = 'active'
LEFT JOIN appointments a ON a.organization_id = o.id AND a.ended_on IS NULL
ORDER BY c.year, o.id;

-- Each organization has a steady quality; the 2026 one drifts a little.
CREATE TEMP TABLE demo_quality ON COMMIT DROP AS
SELECT s.id AS submission_id, c.year, o.inn, s.kind, s.manager_id, c.opens_at,
       least(0.98, greatest(0.02, 0.12 + 0.76 * pg_temp.demo_rand('q', o.inn)
           + CASE WHEN c.year = 2026 THEN (pg_temp.demo_rand('drift', o.inn) - 0.4) * 0.2
                  ELSE 0 END)) AS q,
       pg_temp.demo_rand('progress', o.inn) AS progress
FROM submissions s
JOIN campaigns c ON c.id = s.campaign_id
JOIN regions r ON r.id = c.region_id AND r.code = '98'
JOIN organizations o ON o.id = s.organization_id;

-- Values of every applicable indicator: 2025 complete but for a few values of
-- about a fifth of the organizations; 2026 only self-reported ones of the organizations that started
-- (about two thirds), half of them partly. The head's management training
-- comes from the registry's qualification date.
INSERT INTO submission_values (submission_id, indicator_id, value, comment, updated_at)
SELECT v.submission_id, v.indicator_id,
       CASE WHEN v.value_type = 'boolean' THEN v.b
            ELSE least(v.max_value, greatest(v.min_value,
                round(v.raw, CASE v.value_type WHEN 'integer' THEN 0 WHEN 'percent' THEN 1
                                                ELSE 2 END))) END,
       CASE WHEN v.code = 'net.load' AND v.raw >= 97
            THEN 'Здание загружено полностью, есть очередь на зачисление' END,
       least(now(), v.opens_at
                    + (pg_temp.demo_rand('t', v.inn, v.year::text) * 20 + 1) * interval '1 day')
FROM (
    SELECT q.submission_id, i.id AS indicator_id, i.value_type, i.min_value, i.max_value,
           i.code, q.inn, q.year, q.opens_at,
           k.weak + (k.strong - k.weak)
               * (0.7 * q.q + 0.3 * pg_temp.demo_rand(q.year::text, q.inn, i.code))::numeric
               AS raw,
           CASE WHEN i.code = 'mq.head_72h'
                THEN (m.qualification_date IS NOT NULL
                      AND m.qualification_date >= (q.opens_at - interval '3 years')::date)::int
                WHEN pg_temp.demo_rand('b', q.year::text, q.inn, i.code)
                     < k.weak + (k.strong - k.weak) * q.q THEN 1 ELSE 0 END AS b
    FROM demo_quality q
    JOIN indicators i ON i.campaign_id = (SELECT s.campaign_id FROM submissions s
                                          WHERE s.id = q.submission_id)
    JOIN demo_catalog k ON k.code = i.code
    LEFT JOIN managers m ON m.id = q.manager_id
    WHERE coalesce((i.weights ->> q.kind)::numeric, 0) > 0
      AND CASE WHEN q.year = 2025
               THEN pg_temp.demo_rand('missing', q.inn) >= 0.2
                    OR pg_temp.demo_rand('missing', q.inn, i.code) >= 0.15
               ELSE i.source = 'self' AND q.progress >= 0.35
                    AND (q.progress >= 0.7 OR pg_temp.demo_rand('partly', q.inn, i.code) < 0.5)
          END
) v;

-- 2025 went the whole way: submitted, verified by the municipality, approved
-- by the region, all inside the window.
UPDATE submissions s SET status = 'approved',
       first_submitted_at = t.submitted, submitted_at = t.submitted,
       verified_at = t.submitted + t.verify, approved_at = t.submitted + t.verify + t.approve,
       updated_at = t.submitted + t.verify + t.approve, version = 4
FROM (SELECT q.submission_id,
             q.opens_at + (22 + pg_temp.demo_rand('sub', q.inn) * 25) * interval '1 day'
                 AS submitted,
             (1 + pg_temp.demo_rand('ver', q.inn) * 5) * interval '1 day' AS verify,
             (1 + pg_temp.demo_rand('app', q.inn) * 6) * interval '1 day' AS approve
      FROM demo_quality q WHERE q.year = 2025) t
WHERE s.id = t.submission_id;
UPDATE submissions s SET updated_at = x.last, version = 2
FROM (SELECT submission_id, max(updated_at) AS last FROM submission_values
      GROUP BY submission_id) x, demo_quality q
WHERE s.id = x.submission_id AND q.submission_id = s.id AND q.year = 2026;

-- Their history: creation, the values entered, and each transition.
INSERT INTO submission_history (submission_id, occurred_at, actor_role, action, from_status,
                                to_status, comment, changes)
SELECT h.* FROM (
    SELECT q.submission_id, q.opens_at AS occurred_at, 'cli' AS actor_role, 'create' AS action,
           NULL AS from_status, 'draft' AS to_status, NULL AS comment, NULL::jsonb AS changes
    FROM demo_quality q
    UNION ALL
    SELECT v.submission_id, max(v.updated_at), 'head', 'values', NULL, NULL, NULL,
           jsonb_agg(jsonb_build_object('indicator_id', v.indicator_id, 'code', i.code,
                                        'old', NULL, 'new', jsonb_build_object('value', v.value,
                                        'comment', v.comment, 'evidence_url', NULL))
                     ORDER BY i.position)
    FROM submission_values v JOIN indicators i ON i.id = v.indicator_id
    JOIN demo_quality q ON q.submission_id = v.submission_id
    GROUP BY v.submission_id
    UNION ALL
    SELECT s.id, s.submitted_at, 'head', 'transition', 'draft', 'submitted', NULL, NULL
    FROM submissions s JOIN demo_quality q ON q.submission_id = s.id AND q.year = 2025
    UNION ALL
    SELECT s.id, s.verified_at, 'municipal_operator', 'transition', 'submitted', 'verified',
           'Сведения проверены муниципальным органом управления образованием', NULL
    FROM submissions s JOIN demo_quality q ON q.submission_id = s.id AND q.year = 2025
    UNION ALL
    SELECT s.id, s.approved_at, 'regional_operator', 'transition', 'verified', 'approved', NULL,
           NULL
    FROM submissions s JOIN demo_quality q ON q.submission_id = s.id AND q.year = 2025
) h ORDER BY h.occurred_at, h.submission_id;

-- Verified values are what the municipality saw; submitted ones what the head sent.
UPDATE submission_values v SET submitted_value = v.value, self_value = v.value,
    verified_value = v.value
FROM demo_quality q WHERE q.submission_id = v.submission_id AND q.year = 2025;

SELECT em_rescore(array_agg(q.submission_id ORDER BY q.submission_id)) FROM demo_quality q;

-- The audit trail, as in registry.sql: one 'load-demo' event per campaign (with
-- its catalog) and per submission.
INSERT INTO audit_events (actor_role, entity, entity_id, action, after, region_id,
                          municipality_id, organization_id)
SELECT 'cli', 'campaign', c.id, 'load-demo',
       to_jsonb(c) || jsonb_build_object('indicators',
           (SELECT jsonb_agg(to_jsonb(i) ORDER BY i.position) FROM indicators i
            WHERE i.campaign_id = c.id)),
       c.region_id, NULL::bigint, NULL::bigint
FROM campaigns c JOIN regions r ON r.id = c.region_id AND r.code = '98'
UNION ALL
SELECT 'cli', 'submission', s.id, 'load-demo', to_jsonb(s), s.region_id, s.municipality_id,
       s.organization_id
FROM submissions s JOIN demo_quality q ON q.submission_id = s.id;

-- The competency catalog of attestation (shared by every region): the
-- competencies of a head in the federal target model of attestation of heads
-- of educational organizations, each scored from 0 to its maximum. A catalog
-- someone filled already is left as it is.
INSERT INTO competencies (code, name, description, max_score)
VALUES
    ('strategy', 'Стратегическое управление',
     'Программа развития ОО, целеполагание, управление изменениями', 20),
    ('results', 'Управление образовательными результатами',
     'Качество образования, объективность оценивания, индивидуальные траектории', 20),
    ('staff', 'Управление персоналом',
     'Подбор, развитие и оценка педагогов, наставничество, команда', 15),
    ('finance', 'Финансы и экономика ОО',
     'План ФХД, государственное задание, закупки, эффективный контракт', 15),
    ('legal', 'Правовое обеспечение',
     'Локальные акты, трудовое право, лицензирование и аккредитация', 10),
    ('communication', 'Коммуникации и взаимодействие',
     'Родители, учредитель, социальные партнёры, открытость ОО', 10),
    ('digital', 'Цифровая трансформация',
     'Цифровая образовательная среда, данные, информационная безопасность', 10)
ON CONFLICT (code) DO NOTHING;
