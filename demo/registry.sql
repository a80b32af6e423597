-- registry.sql — the demo region's registry: four municipalities (one a closed
-- city), sixty organizations of every kind with their heads and appointment
-- history, and a personnel reserve. Everything here is fictional: region code
-- 98 and OKTMO prefix 09 are unused by real subjects of this registry, INNs
-- start with the non-existent tax office 98xx, e-mails are under .example.
--
-- effmond load-demo (src/demo.c) runs this file once, inside its own
-- transaction, after it has checked under an advisory lock that region 98 is
-- absent; the users are created there, in C, with hashed random passwords.
-- The region's code and name here must match DEMO_REGION_CODE/NAME in demo.c.

-- A legal entity's INN from its first nine digits: the ФНС check digit.
CREATE FUNCTION pg_temp.demo_inn(base text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT base || (((2 * substr(base, 1, 1)::int + 4 * substr(base, 2, 1)::int +
                      10 * substr(base, 3, 1)::int + 3 * substr(base, 4, 1)::int +
                      5 * substr(base, 5, 1)::int + 9 * substr(base, 6, 1)::int +
                      4 * substr(base, 7, 1)::int + 6 * substr(base, 8, 1)::int +
                      8 * substr(base, 9, 1)::int) % 11) % 10)::text
$$;

-- Russian to Latin letters for e-mail addresses (a simple passport-style table).
CREATE FUNCTION pg_temp.demo_translit(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT translate(
        replace(replace(replace(replace(replace(replace(replace(replace(replace(
            lower(s COLLATE "ru-x-icu"),
            'щ', 'shch'), 'ж', 'zh'), 'х', 'kh'), 'ц', 'ts'), 'ч', 'ch'), 'ш', 'sh'),
            'ю', 'yu'), 'я', 'ya'), 'ё', 'e'),
        'абвгдезийклмнопрстуфыэъь', 'abvgdeziyklmnoprstufye')
$$;

-- The e-mail of a person: surname and initials, at the municipality's domain.
CREATE FUNCTION pg_temp.demo_email(full_name text, domain text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT pg_temp.demo_translit(split_part(full_name, ' ', 1)) || '.' ||
           pg_temp.demo_translit(left(split_part(full_name, ' ', 2), 1) ||
                                 left(split_part(full_name, ' ', 3), 1)) || '@' || domain
$$;

CREATE TEMP TABLE demo_municipalities (
    key text PRIMARY KEY, ord integer NOT NULL, name text NOT NULL, oktmo text NOT NULL,
    tax_office text NOT NULL, domain text NOT NULL
) ON COMMIT DROP;
INSERT INTO demo_municipalities VALUES
    ('zar',  1, 'городской округ Заречный-Демо',  '09701000', '01', 'zarechny-demo.example'),
    ('oz',   2, 'Озёрский муниципальный район',   '09620000', '02', 'ozersky-demo.example'),
    ('les',  3, 'Лесной муниципальный округ',     '09530000', '03', 'lesnoy-demo.example'),
    ('svet', 4, 'ЗАТО город Светлогорск-Демо',    '09704000', '04', 'svetlogorsk-demo.example');

-- Organizational-legal forms: the abbreviation of the short name, spelled out.
CREATE TEMP TABLE demo_forms (form text PRIMARY KEY, full_form text NOT NULL) ON COMMIT DROP;
INSERT INTO demo_forms VALUES
    ('МБОУ',   'Муниципальное бюджетное общеобразовательное учреждение'),
    ('МАОУ',   'Муниципальное автономное общеобразовательное учреждение'),
    ('МКОУ',   'Муниципальное казённое общеобразовательное учреждение'),
    ('МБДОУ',  'Муниципальное бюджетное дошкольное образовательное учреждение'),
    ('МАДОУ',  'Муниципальное автономное дошкольное образовательное учреждение'),
    ('МКДОУ',  'Муниципальное казённое дошкольное образовательное учреждение'),
    ('МБУ ДО', 'Муниципальное бюджетное учреждение дополнительного образования'),
    ('МАУ ДО', 'Муниципальное автономное учреждение дополнительного образования'),
    ('ГАПОУ',  'Государственное автономное профессиональное образовательное учреждение'),
    ('ГБПОУ',  'Государственное бюджетное профессиональное образовательное учреждение'),
    ('ГКОУ',   'Государственное казённое общеобразовательное учреждение');

-- One row per organization and its current head.
CREATE TEMP TABLE demo_orgs (
    n integer PRIMARY KEY, muni text NOT NULL, kind text NOT NULL, settlement text NOT NULL,
    form text NOT NULL REFERENCES demo_forms, title text NOT NULL, students integer NOT NULL,
    head text NOT NULL UNIQUE, position text NOT NULL, started_on date NOT NULL,
    qualification_date date, inn text
) ON COMMIT DROP;
INSERT INTO demo_orgs (n, muni, kind, settlement, form, title, students, head, position,
                       started_on, qualification_date) VALUES
    -- городской округ Заречный-Демо: the regional centre
    ( 1, 'zar', 'school', 'urban', 'МБОУ', 'Средняя школа № 1', 812, 'Кузнецова Ирина Владимировна', 'director', '2012-08-27', '2022-04-15'),
    ( 2, 'zar', 'school', 'urban', 'МАОУ', 'Гимназия № 2', 1046, 'Соколов Андрей Петрович', 'director', '2009-09-01', '2021-11-20'),
    ( 3, 'zar', 'school', 'urban', 'МБОУ', 'Средняя школа № 3', 734, 'Морозова Елена Николаевна', 'director', '2016-08-15', NULL),
    ( 4, 'zar', 'school', 'urban', 'МАОУ', 'Лицей № 4', 958, 'Волков Дмитрий Сергеевич', 'director', '2014-07-01', '2023-03-10'),
    ( 5, 'zar', 'school', 'urban', 'МБОУ', 'Средняя школа № 5 с углублённым изучением отдельных предметов', 1120, 'Лебедева Наталья Александровна', 'director', '2018-01-09', '2023-10-27'),
    ( 6, 'zar', 'school', 'urban', 'МБОУ', 'Основная школа № 6', 298, 'Новиков Сергей Иванович', 'acting_director', '2024-09-02', NULL),
    ( 7, 'zar', 'school', 'urban', 'МБОУ', 'Средняя школа № 7', 865, 'Павлова Татьяна Викторовна', 'director', '2011-08-29', '2020-12-18'),
    ( 8, 'zar', 'school', 'urban', 'МБОУ', 'Центр образования № 8', 1340, 'Семёнов Алексей Викторович', 'director', '2019-08-26', '2022-06-03'),
    ( 9, 'zar', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 12 «Солнышко»', 186, 'Голубева Ольга Михайловна', 'director', '2010-03-01', NULL),
    (10, 'zar', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 14 «Радуга»', 214, 'Виноградова Светлана Юрьевна', 'director', '2015-09-01', '2022-02-25'),
    (11, 'zar', 'preschool', 'urban', 'МАДОУ', 'Детский сад № 17 «Ромашка»', 240, 'Богданова Людмила Анатольевна', 'director', '2007-11-12', NULL),
    (12, 'zar', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 21 «Берёзка»', 158, 'Фёдорова Анна Сергеевна', 'acting_director', '2025-01-13', NULL),
    (13, 'zar', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 25 «Теремок»', 172, 'Михайлова Галина Петровна', 'director', '2013-06-03', NULL),
    (14, 'zar', 'preschool', 'urban', 'МАДОУ', 'Детский сад № 30 «Золотой ключик»', 265, 'Алексеева Марина Олеговна', 'director', '2017-08-21', '2021-05-14'),
    (15, 'zar', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 33 комбинированного вида «Светлячок»', 198, 'Яковлева Оксана Владимировна', 'director', '2020-02-03', NULL),
    (16, 'zar', 'additional', 'urban', 'МБУ ДО', 'Центр детского творчества', 1650, 'Андреева Елена Викторовна', 'director', '2012-09-03', '2022-12-09'),
    (17, 'zar', 'additional', 'urban', 'МБУ ДО', 'Детско-юношеская спортивная школа № 1', 920, 'Тихонов Игорь Николаевич', 'director', '2008-04-14', NULL),
    (18, 'zar', 'additional', 'urban', 'МАУ ДО', 'Детская школа искусств № 1', 540, 'Орлова Вера Дмитриевна', 'director', '2016-10-10', NULL),
    (19, 'zar', 'vocational', 'urban', 'ГАПОУ', 'Заречный технический колледж', 1480, 'Никитин Павел Андреевич', 'director', '2015-07-01', '2021-09-17'),
    (20, 'zar', 'vocational', 'urban', 'ГБПОУ', 'Заречный педагогический колледж', 760, 'Захарова Юлия Александровна', 'director', '2019-09-02', '2023-06-16'),
    (21, 'zar', 'special', 'urban', 'ГКОУ', 'Школа-интернат для обучающихся с ОВЗ № 1', 146, 'Зайцева Надежда Ивановна', 'director', '2006-09-01', '2020-11-13'),
    (22, 'zar', 'special', 'urban', 'ГКОУ', 'Специальная (коррекционная) школа № 9', 118, 'Борисов Виктор Геннадьевич', 'director', '2021-08-30', NULL),
    -- Озёрский муниципальный район: a district centre and villages
    (23, 'oz', 'school', 'urban', 'МБОУ', 'Озёрская средняя школа № 1', 620, 'Егоров Николай Владимирович', 'director', '2010-08-23', '2022-10-21'),
    (24, 'oz', 'school', 'urban', 'МБОУ', 'Озёрская средняя школа № 2', 545, 'Киселёва Валентина Степановна', 'director', '2014-08-25', NULL),
    (25, 'oz', 'school', 'rural', 'МКОУ', 'Берёзовская средняя школа', 186, 'Степанов Михаил Юрьевич', 'director', '2017-08-28', '2023-04-07'),
    (26, 'oz', 'school', 'rural', 'МКОУ', 'Сосновская основная школа', 64, 'Филиппова Раиса Ивановна', 'director', '2005-09-01', NULL),
    (27, 'oz', 'school', 'rural', 'МКОУ', 'Ключевская средняя школа', 142, 'Макаров Олег Валерьевич', 'acting_director', '2024-11-05', NULL),
    (28, 'oz', 'school', 'rural', 'МКОУ', 'Малиновская начальная школа – детский сад', 38, 'Гусева Любовь Николаевна', 'director', '2011-01-17', NULL),
    (29, 'oz', 'school', 'rural', 'МБОУ', 'Заозёрная средняя школа', 231, 'Романов Евгений Александрович', 'director', '2018-08-27', '2021-12-03'),
    (30, 'oz', 'preschool', 'urban', 'МБДОУ', 'Озёрский детский сад № 1 «Колокольчик»', 148, 'Сорокина Елена Геннадьевна', 'director', '2012-04-02', NULL),
    (31, 'oz', 'preschool', 'urban', 'МБДОУ', 'Озёрский детский сад № 3 «Рябинка»', 126, 'Кудрявцева Ирина Анатольевна', 'director', '2019-10-01', '2022-03-18'),
    (32, 'oz', 'preschool', 'rural', 'МКДОУ', 'Берёзовский детский сад «Колосок»', 42, 'Баранова Татьяна Алексеевна', 'director', '2009-06-15', NULL),
    (33, 'oz', 'preschool', 'rural', 'МКДОУ', 'Ключевской детский сад «Ручеёк»', 35, 'Комарова Нина Павловна', 'director', '2016-01-11', NULL),
    (34, 'oz', 'preschool', 'rural', 'МКДОУ', 'Сосновский детский сад «Ёлочка»', 28, 'Белова Анастасия Игоревна', 'acting_director', '2025-03-03', NULL),
    (35, 'oz', 'additional', 'urban', 'МБУ ДО', 'Озёрский дом детского творчества', 610, 'Медведева Ольга Васильевна', 'director', '2013-09-02', '2021-04-23'),
    (36, 'oz', 'additional', 'urban', 'МБУ ДО', 'Озёрская детско-юношеская спортивная школа', 480, 'Ершов Константин Анатольевич', 'director', '2015-02-16', NULL),
    (37, 'oz', 'vocational', 'rural', 'ГБПОУ', 'Озёрский аграрный техникум', 530, 'Никифоров Геннадий Борисович', 'director', '2008-09-01', '2020-10-30'),
    (38, 'oz', 'special', 'rural', 'ГКОУ', 'Заозёрная школа-интернат для обучающихся с ОВЗ', 94, 'Тарасова Лидия Михайловна', 'director', '2014-08-18', NULL),
    -- Лесной муниципальный округ
    (39, 'les', 'school', 'urban', 'МБОУ', 'Лесная средняя школа № 1', 710, 'Белоусов Артём Игоревич', 'director', '2020-08-24', '2023-11-17'),
    (40, 'les', 'school', 'urban', 'МБОУ', 'Лесная гимназия', 590, 'Широкова Мария Евгеньевна', 'director', '2013-08-26', '2022-05-20'),
    (41, 'les', 'school', 'rural', 'МКОУ', 'Кедровская средняя школа', 205, 'Поляков Юрий Васильевич', 'director', '2010-08-30', NULL),
    (42, 'les', 'school', 'rural', 'МКОУ', 'Ольховская основная школа', 71, 'Данилова Екатерина Сергеевна', 'director', '2022-08-29', NULL),
    (43, 'les', 'school', 'rural', 'МКОУ', 'Боровская средняя школа', 163, 'Жуков Роман Алексеевич', 'acting_director', '2024-12-02', NULL),
    (44, 'les', 'preschool', 'urban', 'МБДОУ', 'Лесной детский сад № 2 «Белочка»', 176, 'Карпова Алла Викторовна', 'director', '2011-05-16', NULL),
    (45, 'les', 'preschool', 'urban', 'МБДОУ', 'Лесной детский сад № 5 «Сказка»', 154, 'Власова Дарья Андреевна', 'director', '2021-09-01', '2024-02-16'),
    (46, 'les', 'preschool', 'rural', 'МКДОУ', 'Кедровский детский сад «Журавушка»', 39, 'Мельникова Зоя Фёдоровна', 'director', '2007-03-12', NULL),
    (47, 'les', 'preschool', 'rural', 'МКДОУ', 'Боровской детский сад «Грибок»', 31, 'Антонова Евгения Викторовна', 'director', '2018-11-19', NULL),
    (48, 'les', 'additional', 'urban', 'МБУ ДО', 'Лесной центр дополнительного образования «Горизонт»', 870, 'Осипов Владимир Николаевич', 'director', '2016-09-05', '2022-09-23'),
    (49, 'les', 'vocational', 'urban', 'ГБПОУ', 'Лесной лесотехнический техникум', 640, 'Субботин Григорий Павлович', 'director', '2012-07-02', NULL),
    (50, 'les', 'special', 'rural', 'ГКОУ', 'Кедровская школа-интернат для обучающихся с ОВЗ', 77, 'Фролова Вероника Алексеевна', 'director', '2019-01-14', '2023-05-26'),
    -- ЗАТО город Светлогорск-Демо: a closed city
    (51, 'svet', 'school', 'urban', 'МБОУ', 'Средняя школа № 11', 905, 'Воробьёв Станислав Олегович', 'director', '2015-08-24', '2021-10-15'),
    (52, 'svet', 'school', 'urban', 'МБОУ', 'Лицей № 15', 1012, 'Гришина Ксения Валерьевна', 'director', '2017-08-28', '2023-09-29'),
    (53, 'svet', 'school', 'urban', 'МБОУ', 'Средняя школа № 16', 840, 'Кириллов Леонид Аркадьевич', 'director', '2009-08-31', NULL),
    (54, 'svet', 'school', 'urban', 'МАОУ', 'Гимназия № 19', 760, 'Некрасова Полина Игоревна', 'acting_director', '2025-02-10', NULL),
    (55, 'svet', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 31 «Капелька»', 220, 'Савельева Ирина Романовна', 'director', '2014-02-03', '2022-11-25'),
    (56, 'svet', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 36 «Улыбка»', 245, 'Ковалёва Жанна Евгеньевна', 'director', '2010-10-18', NULL),
    (57, 'svet', 'preschool', 'urban', 'МАДОУ', 'Детский сад № 40 «Звёздочка»', 265, 'Рябова Елизавета Денисовна', 'director', '2021-03-15', NULL),
    (58, 'svet', 'preschool', 'urban', 'МБДОУ', 'Детский сад № 44 «Дельфин»', 190, 'Максимова Вера Степановна', 'director', '2008-12-01', NULL),
    (59, 'svet', 'additional', 'urban', 'МБУ ДО', 'Станция юных техников', 720, 'Лазарев Арсений Витальевич', 'director', '2018-09-03', '2022-01-28'),
    (60, 'svet', 'vocational', 'urban', 'ГАПОУ', 'Светлогорский политехнический колледж', 1150, 'Гаврилов Максим Олегович', 'director', '2016-06-20', '2021-07-09');

-- INN: tax office 98 + the municipality's two digits, a serial, the check digit.
UPDATE demo_orgs o SET inn = pg_temp.demo_inn('98' || m.tax_office || lpad(o.n::text, 5, '0'))
FROM demo_municipalities m WHERE m.key = o.muni;

-- Earlier posts, ended: two heads who left (dismissed, no current
-- organization) and two who moved on to the post they hold now.
CREATE TEMP TABLE demo_past (
    head text NOT NULL, org integer NOT NULL REFERENCES demo_orgs, position text NOT NULL,
    started_on date NOT NULL, ended_on date NOT NULL, end_reason text NOT NULL,
    dismissed_muni text, qualification_date date
) ON COMMIT DROP;
INSERT INTO demo_past VALUES
    ('Кузьмина Антонина Васильевна', 6, 'director', '2003-09-01', '2024-08-30',
     'Увольнение по собственному желанию в связи с выходом на пенсию', 'zar', '2019-03-22'),
    ('Пономарёв Вячеслав Игоревич', 27, 'director', '2016-08-29', '2024-11-01',
     'Расторжение трудового договора по соглашению сторон', 'oz', NULL),
    ('Белоусов Артём Игоревич', 43, 'acting_director', '2017-09-01', '2020-08-21',
     'Перевод на должность директора МБОУ «Лесная средняя школа № 1»', NULL, NULL),
    ('Гришина Ксения Валерьевна', 54, 'acting_director', '2015-09-01', '2017-08-25',
     'Перевод на должность директора МБОУ «Лицей № 15»', NULL, NULL);

INSERT INTO regions (code, name) VALUES ('98', 'Демонстрационная область');

INSERT INTO municipalities (region_id, name, oktmo)
SELECT r.id, d.name, d.oktmo FROM demo_municipalities d, regions r
WHERE r.code = '98' ORDER BY d.ord;

-- region_id is copied from the municipality by a trigger.
INSERT INTO organizations (municipality_id, region_id, full_name, short_name, inn, kind,
                           settlement, students)
SELECT m.id, m.region_id, f.full_form || ' «' || o.title || '»', o.form || ' «' || o.title || '»',
       o.inn, o.kind, o.settlement, o.students
FROM demo_orgs o
JOIN demo_forms f ON f.form = o.form
JOIN demo_municipalities dm ON dm.key = o.muni
JOIN municipalities m ON m.oktmo = dm.oktmo
ORDER BY o.n;

INSERT INTO managers (full_name, position, email, phone, municipality_id, region_id,
                      organization_id, qualification_date)
SELECT o.head, o.position, pg_temp.demo_email(o.head, dm.domain),
       '+7 (900) 980-' || lpad(o.n::text, 2, '0') || '-' || lpad((o.n * 37 % 100)::text, 2, '0'),
       org.municipality_id, org.region_id, org.id, o.qualification_date
FROM demo_orgs o
JOIN demo_municipalities dm ON dm.key = o.muni
JOIN organizations org ON org.inn = o.inn
ORDER BY o.n;

INSERT INTO managers (full_name, position, email, municipality_id, region_id, status,
                      qualification_date)
SELECT p.head, p.position, pg_temp.demo_email(p.head, dm.domain), m.id, m.region_id,
       'dismissed', p.qualification_date
FROM demo_past p
JOIN demo_municipalities dm ON dm.key = p.dismissed_muni
JOIN municipalities m ON m.oktmo = dm.oktmo
ORDER BY p.started_on;

-- Appointments: the past ones, then the current one of every organization.
INSERT INTO appointments (manager_id, organization_id, position, started_on, ended_on, end_reason)
SELECT mg.id, org.id, p.position, p.started_on, p.ended_on, p.end_reason
FROM demo_past p
JOIN demo_orgs o ON o.n = p.org
JOIN organizations org ON org.inn = o.inn
JOIN managers mg ON mg.full_name = p.head AND mg.region_id = org.region_id
ORDER BY p.started_on;

INSERT INTO appointments (manager_id, organization_id, position, started_on)
SELECT mg.id, org.id, o.position, o.started_on
FROM demo_orgs o
JOIN organizations org ON org.inn = o.inn
JOIN managers mg ON mg.organization_id = org.id
ORDER BY o.n;

-- The personnel reserve: a candidate in every state, and the steps that led there.
CREATE TEMP TABLE demo_reserve (
    k integer PRIMARY KEY, full_name text NOT NULL, muni text NOT NULL,
    target_position text NOT NULL, training_programme text, nominated_on date NOT NULL
) ON COMMIT DROP;
INSERT INTO demo_reserve VALUES
    (1, 'Щербакова Алина Руслановна', 'zar', 'директор общеобразовательной организации',
     'Программа «Школа управленческого резерва» (72 ч)', '2025-09-15'),
    (2, 'Калинин Денис Эдуардович', 'oz', 'директор общеобразовательной организации',
     'Программа «Школа управленческого резерва» (72 ч)', '2024-12-10'),
    (3, 'Афанасьева Ульяна Геннадьевна', 'les',
     'заведующий дошкольной образовательной организацией',
     'Программа «Управление дошкольной образовательной организацией» (144 ч)', '2024-03-11'),
    (4, 'Тимофеев Глеб Андреевич', 'svet', 'директор общеобразовательной организации',
     'Программа «Школа управленческого резерва» (72 ч)', '2023-09-18'),
    (5, 'Некрасова Полина Игоревна', 'svet', 'директор МАОУ «Гимназия № 19»',
     'Программа «Школа управленческого резерва» (72 ч)', '2022-09-12'),
    (6, 'Попов Кирилл Сергеевич', 'zar', 'директор организации дополнительного образования',
     'Программа «Менеджмент в дополнительном образовании» (72 ч)', '2024-09-16'),
    (7, 'Лукина Виктория Олеговна', 'oz', 'директор общеобразовательной организации',
     'Программа «Школа управленческого резерва» (72 ч)', '2022-09-05');

CREATE TEMP TABLE demo_reserve_steps (
    k integer NOT NULL REFERENCES demo_reserve, step integer NOT NULL, to_status text NOT NULL,
    on_date date NOT NULL, reason text NOT NULL, PRIMARY KEY (k, step)
) ON COMMIT DROP;
INSERT INTO demo_reserve_steps VALUES
    (2, 1, 'training', '2025-02-03', 'Зачислен на программу подготовки, приказ № 12-к'),
    (3, 1, 'training', '2024-04-01', 'Зачислена на программу подготовки, приказ № 31-к'),
    (3, 2, 'trained', '2024-11-29', 'Итоговая аттестация пройдена, удостоверение № 0042-УР'),
    (4, 1, 'training', '2023-10-02', 'Зачислен на программу подготовки, приказ № 58-к'),
    (4, 2, 'trained', '2024-05-31', 'Итоговая аттестация пройдена, удостоверение № 0017-УР'),
    (4, 3, 'included', '2024-06-20', 'Включён в кадровый резерв решением комиссии, протокол № 3'),
    (5, 1, 'training', '2022-10-03', 'Зачислена на программу подготовки, приказ № 47-к'),
    (5, 2, 'trained', '2023-05-26', 'Итоговая аттестация пройдена, удостоверение № 0009-УР'),
    (5, 3, 'included', '2023-06-15', 'Включена в кадровый резерв решением комиссии, протокол № 2'),
    (5, 4, 'appointed', '2025-02-10', 'Назначена исполняющей обязанности директора МАОУ «Гимназия № 19», приказ № 45-к'),
    (6, 1, 'training', '2024-10-01', 'Зачислен на программу подготовки, приказ № 64-к'),
    (6, 2, 'excluded', '2025-01-20', 'Отказ кандидата от участия в программе подготовки (личное заявление)'),
    (7, 1, 'training', '2022-10-03', 'Зачислена на программу подготовки, приказ № 47-к'),
    (7, 2, 'trained', '2023-05-26', 'Итоговая аттестация пройдена, удостоверение № 0011-УР'),
    (7, 3, 'included', '2023-06-15', 'Включена в кадровый резерв решением комиссии, протокол № 2'),
    (7, 4, 'excluded', '2025-06-30', 'Переезд за пределы муниципального района');

-- The state each candidate is in: its last step, or nominated.
INSERT INTO reserve_candidates (full_name, municipality_id, region_id, target_position,
                                training_programme, email, status, exclusion_reason,
                                created_at, updated_at)
SELECT c.full_name, m.id, m.region_id, c.target_position, c.training_programme,
       pg_temp.demo_email(c.full_name, dm.domain), coalesce(last.to_status, 'nominated'),
       CASE WHEN last.to_status = 'excluded' THEN last.reason END,
       c.nominated_on::timestamptz, coalesce(last.on_date, c.nominated_on)::timestamptz
FROM demo_reserve c
JOIN demo_municipalities dm ON dm.key = c.muni
JOIN municipalities m ON m.oktmo = dm.oktmo
LEFT JOIN LATERAL (SELECT s.to_status, s.on_date, s.reason FROM demo_reserve_steps s
                   WHERE s.k = c.k ORDER BY s.step DESC LIMIT 1) last ON true
ORDER BY c.k;

INSERT INTO reserve_transitions (candidate_id, from_status, to_status, reason, created_at)
SELECT rc.id, coalesce(lag(s.to_status) OVER (PARTITION BY s.k ORDER BY s.step), 'nominated'),
       s.to_status, s.reason, s.on_date::timestamptz
FROM demo_reserve_steps s
JOIN demo_reserve c ON c.k = s.k
JOIN reserve_candidates rc ON rc.full_name = c.full_name
JOIN regions r ON r.id = rc.region_id AND r.code = '98'
ORDER BY s.k, s.step;

-- The audit trail: one 'load-demo' event per inserted object, with the row
-- as 'after' and the row's scope. As in the API's own writes, appointments are
-- part of the manager's event and transitions part of the candidate's.
INSERT INTO audit_events (actor_role, entity, entity_id, action, after, region_id,
                          municipality_id, organization_id)
SELECT 'cli', 'region', r.id, 'load-demo', to_jsonb(r), r.id, NULL::bigint, NULL::bigint
FROM regions r WHERE r.code = '98'
UNION ALL
SELECT 'cli', 'municipality', m.id, 'load-demo', to_jsonb(m), m.region_id, m.id, NULL
FROM municipalities m JOIN regions r ON r.id = m.region_id AND r.code = '98'
UNION ALL
SELECT 'cli', 'organization', o.id, 'load-demo', to_jsonb(o), o.region_id, o.municipality_id, o.id
FROM organizations o JOIN regions r ON r.id = o.region_id AND r.code = '98'
UNION ALL
SELECT 'cli', 'manager', mg.id, 'load-demo',
       to_jsonb(mg) || jsonb_build_object('appointments',
           (SELECT jsonb_agg(to_jsonb(a) ORDER BY a.started_on) FROM appointments a
            WHERE a.manager_id = mg.id)),
       mg.region_id, mg.municipality_id, mg.organization_id
FROM managers mg JOIN regions r ON r.id = mg.region_id AND r.code = '98'
UNION ALL
SELECT 'cli', 'reserve_candidate', c.id, 'load-demo',
       to_jsonb(c) || jsonb_build_object('transitions',
           (SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]'::jsonb)
            FROM reserve_transitions t WHERE t.candidate_id = c.id)),
       c.region_id, c.municipality_id, NULL
FROM reserve_candidates c JOIN regions r ON r.id = c.region_id AND r.code = '98';
