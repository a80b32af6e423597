/*
 * roadmap_seed.c — `effmond load-demo`'s roadmaps, transcribed from the two
 * source documents: Sarov's municipal roadmap 2.1 for 2021-2022 (15
 * milestones, text as written) and the Sverdlovsk matrix "Система мониторинга
 * эффективности руководителей всех ОО региона" as a regional, a municipal and
 * an organization's roadmap. Each roadmap is created once; due dates and
 * recurrences are derived from the due text by due_derive(), as over HTTP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "effmon/cycle.h"
#include "effmon/demo.h"

/* A milestone of the Sarov roadmap: its row of the document. */
struct seed_item {
	const char *number;
	const char *title;
	const char *due_text;
	const char *executors[4];
	const char *expected; /* NULL: the document gives none (item 14) */
};

/* A row of the Sverdlovsk matrix above its year blocks: the regional,
 * municipal and organization cells. */
struct seed_row {
	const char *number;
	const char *cell[3];
};

static const struct seed_item SAROV[] = {
	{"1",
	 "Доведение регламента проведения мониторинга эффективности "
	 "руководителей всех образовательных организаций Нижегородской области и "
	 "механизма его реализации до руководителей ОО Сарова",
	 "Сентябрь 2021 г.",
	 {"Департамент образования"},
	 "Проведено совещание с руководителями ОО Сарова"},
	{"2",
	 "Доведение результата апробации ДПП ПК (целевой программы) «Технология "
	 "реализации образовательной программы в сетевой форме». "
	 "Организационно-методические условия реализации Программы.",
	 "Октябрь 2021 г.",
	 {"МБОУ ДПО МЦ"},
	 "Проведено совещание с руководителями ОО Сарова"},
	{"3",
	 "Ознакомление с представлением ДПП ПК НИРО «Технология разработки "
	 "программы развития ОО»",
	 "Ноябрь 2021 г.",
	 {"МБОУ ДПО МЦ"},
	 "Проведено совещание с руководителями ОО Сарова"},
	{"4",
	 "Ознакомление с представлением ДПП ПК НИРО «Эффективные управленческие "
	 "команды образовательных организаций как условие достижения "
	 "стратегических приоритетов развития муниципальной системы образования»",
	 "Декабрь 2021 г.",
	 {"МБОУ ДПО МЦ"},
	 "Проведено совещание с руководителями ОО Сарова"},
	{"5",
	 "Информационное обеспечение открытости и объективности проведения "
	 "мониторинга эффективности руководителей",
	 "В течение всего периода",
	 {"Департамент образования"},
	 "Информирование педагогической общественности о проведении мониторинга "
	 "эффективности руководителей ОО Сарова"},
	{"6",
	 "Организационно-технологическое сопровождение мер по обеспечению "
	 "открытости аттестационных процедур руководителей ОО",
	 "В течение всего периода",
	 {"Департамент образования"},
	 "Принятие мер обеспечению открытости аттестационных процедур "
	 "руководителей ОО"},
	{"7",
	 "Организация участия руководителей ОО Сарова в деятельности стажерских "
	 "площадок для руководителей ОО по вопросам управления качеством "
	 "образования",
	 "Ежегодно в соответствии с планом-графиком курсовой подготовки НИРО",
	 {"МБОУ ДПО МЦ"},
	 "Стажировки руководителей ОО по вопросам управления качеством "
	 "образования"},
	{"8",
	 "Организация участия претендентов на замещение вакантных должностей "
	 "руководителей ОО в реализации программы НИРО по подготовке кадрового "
	 "резерва руководителей ОО",
	 "Ежегодно в соответствии с планом-графиком курсовой подготовки НИРО",
	 {"МБОУ ДПО МЦ"},
	 "Реализовано обучение кандидатов в кадровой резерв руководителей ОО. "
	 "Успешно прошедшие обучение включены в кадровый резерв руководителей ОО"},
	{"9",
	 "Участие в реализации программы НИРО по подготовке кадрового резерва "
	 "руководителей ОО",
	 "Ежегодно в соответствии с планом-графиком курсовой подготовки НИРО",
	 {"МБОУ ДПО МЦ"},
	 "Реализовано обучение кандидатов в кадровой резерв руководителей ОО. "
	 "Успешно прошедшие обучение включены в кадровый резерв руководителей ОО"},
	{"10",
	 "Ознакомление с Критериально-диагностическим комплексом оценки "
	 "эффективности управленческих команд ОО как инструментом управления их "
	 "развитием",
	 "Январь 2022 г.",
	 {"Департамент образования"},
	 "Проведено совещание с руководителями ОО Сарова"},
	{"11",
	 "Участие в семинаре для специалистов муниципальных органов, "
	 "осуществляющих управление в сфере образования «Система мониторинга "
	 "эффективности руководителей ОО в обеспечении качества управления»",
	 "Февраль 2022 г.",
	 {"Департамент образования"},
	 "Методические рекомендации по системе мониторинга эффективности "
	 "руководителей ОО"},
	{"12",
	 "Организация в Сарове стажёрской площадки НИРО по теме «Образовательная "
	 "программа ОО как фактор качества образования»",
	 "2022 г.",
	 {"Департамент образования", "ОО"},
	 "Приказ ГБОУ ДПО НИРО о стажёрских площадках"},
	{"13",
	 "Организация участия в конкурсе профессионального мастерства "
	 "руководителей",
	 "2022 г.",
	 {"МБОУ ДПО МЦ", "ОО"},
	 "Обеспечено участие в конкурсе не менее 1 руководителя ОО Сарова"},
	{"14",
	 "Организация выполнения руководителями ОО Сарова рекомендаций по "
	 "результатам мониторинга эффективности руководителей всех "
	 "образовательных организаций региона:",
	 "Август 2022 г.",
	 {"Департамент образования", "МБОУ ДПО МЦ", "ОО"},
	 NULL},
	{"15",
	 "Подготовка предложений по внесению изменений в нормативно-правовые "
	 "документы системы мониторинга эффективности руководителей всех ОО "
	 "региона",
	 "ноябрь 2022 г.",
	 {"Департамент образования", "МБОУ ДПО МЦ", "ОО"},
	 "Аналитическое обоснование изменений в нормативно-правовые акты системы "
	 "эффективности руководителей всех ОО региона"},
};

/* Row 1 of the matrix: what the region develops and the municipality introduces. */
/* clang-format off */
#define SVERDLOVSK_INDICATORS \
	"региональных показателей эффективности деятельности " \
	"руководителей образовательных организаций с учетом специфики " \
	"образовательной организации:\n" \
	"по совершенствованию сети ОО;\n" \
	"по качеству управленческой деятельности;\n" \
	"по качеству подготовки обучающихся (по базовой подготовке, по " \
	"подготовке высокого уровня);\n" \
	"по формированию кадрового резерва;\n" \
	"по обеспечению объективности результатов внешней и внутренней оценки;\n" \
	"по условиям осуществления образовательной деятельности;\n" \
	"по индивидуализации обучения;\n" \
	"по профориентации и дополнительному образованию;\n" \
	"по квалификации в области управления;\n" \
	"по профессиональному развитию педагогов"
/* clang-format on */

/* Rows 1 and 2 of the matrix, before its year blocks. */
static const struct seed_row SVERDLOVSK[] = {
	{"1",
	 {"Разработка " SVERDLOVSK_INDICATORS, "Внедрение " SVERDLOVSK_INDICATORS,
	  "Наличие нормативных документов, регламентирующих управленческую "
	  "деятельность в сфере образования.\n"
	  "Разработка \"Дорожной карты\" по организации сетевого взаимодействия "
	  "образовательных организаций.\n"
	  "Заключение договоров о сетевом взаимодействии.\n"
	  "Обеспечение объективности результатов внешних и внутренних оценочных "
	  "процедур.\n"
	  "Обучение учителей анализу результатов диагностики и проведению "
	  "корректирующей работы.\n"
	  "Самооценка руководителем ОО эффективности деятельности"}},
	{"2",
	 {"Разработка и внедрение региональной системы аттестации руководителей "
	  "образовательных организаций на основе оценки компетенций руководителей",
	  "Проведение аттестации руководителей образовательных организаций на "
	  "основе оценки компетенций руководителей. Введение эффективного "
	  "контракта в образовательной организации",
	  "Участие в аттестации руководителей образовательных организаций на "
	  "основе оценки компетенций руководителей"}},
};

/*
 * Rows 3-8, which each year block of the matrix repeats under numbers of its
 * own: rows 10-15 under "2020 год" (its heading is row 9), rows 17-22 under
 * "2021 год" (row 16; the document numbers row 22 "2.").
 */
static const char *const SVERDLOVSK_YEARLY[6][3] = {
	{"Проведение мониторинга показателей эффективности деятельности "
	 "руководителей образовательных организаций при аттестации руководителей",
	 "Проведение мониторинга показателей эффективности деятельности "
	 "руководителей образовательных организаций",
	 "Участие в мониторинге показателей эффективности деятельности "
	 "руководителей образовательных организаций"},
	{"Проведение анализа результатов показателей эффективности деятельности "
	 "руководителей образовательных организаций",
	 "Проведение анализа результатов мониторинга показателей эффективности "
	 "деятельности руководителей образовательных организаций",
	 "Внесение изменений в деятельность в соответствии с результатами "
	 "мониторинга показателей эффективности деятельности руководителей "
	 "образовательных организаций"},
	{"Подготовка рекомендаций по итогам анализа результатов эффективности "
	 "деятельности руководителей образовательных организаций",
	 "Подготовка адресных рекомендаций по итогам анализа результатов "
	 "мониторинга показателей эффективности деятельности руководителей "
	 "образовательных организаций",
	 "Коррекция управленческой деятельности руководителя образовательной "
	 "организации на основе адресных рекомендаций по итогам анализа "
	 "результатов мониторинга показателей эффективности деятельности "
	 "руководителей образовательных организаций"},
	{"Определение перечня мероприятий системы юридически значимых "
	 "последствий оценки эффективности",
	 "Внедрение системы юридически значимых последствий оценки эффективности",
	 "Введение эффективного контракта в образовательной организации"},
	{"Принятие управленческих решений по результатам анализа показателей "
	 "эффективности деятельности руководителей образовательных организаций",
	 "Принятие управленческих решений по результатам анализа мониторинга "
	 "показателей эффективности деятельности руководителей образовательных "
	 "организаций",
	 "Принятие и исполнение управленческих решений по результатам анализа "
	 "мониторинга показателей эффективности деятельности руководителей "
	 "образовательных организаций"},
	{"Проведение мероприятий по повышению эффективности руководителей "
	 "образовательных организаций в соответствии с рекомендациями",
	 "Проведение мероприятий по повышению эффективности руководителей "
	 "образовательных организаций в соответствии с рекомендациями",
	 "Участие в мероприятиях по повышению эффективности руководителей "
	 "образовательных организаций в соответствии с рекомендациями"},
};

/* Where the rows of SVERDLOVSK_YEARLY stand: the first number and the due text. */
static const struct {
	int first;
	const char *due_text;
} SVERDLOVSK_BLOCKS[] = {{3, NULL}, {10, "2020 год"}, {17, "2021 год"}};

#define NSAROV ARRAY_LEN(SAROV)
#define NSVERDLOVSK (ARRAY_LEN(SVERDLOVSK) + ARRAY_LEN(SVERDLOVSK_BLOCKS) * 6)

/* clang-format off */
#define SAROV_TITLE                                                                        \
	"План мероприятий («дорожная карта» 2.1) по развитию в Сарове муниципальной системы " \
	"мониторинга эффективности руководителей образовательных организаций на 2021-2022 "  \
	"годы"
#define SAROV_DESCRIPTION "Город Саров (ЗАТО), Нижегородская область."
#define SAROV_MUNICIPALITY "ЗАТО город Саров"
/* clang-format on */
/* The demo's OKTMO codes start with the unused prefix 09 (demo/registry.sql). */
/* clang-format off */
#define SAROV_OKTMO "09705000"

#define SVERDLOVSK_TITLE "Система мониторинга эффективности руководителей всех ОО региона"
#define SVERDLOVSK_DESCRIPTION                                                              \
	"Свердловская область. Об утверждении Плана мероприятий (\"дорожной карты\") по "   \
	"развитию региональной системы оценки качества образования и региональных "         \
	"механизмов управления качеством образования в Свердловской области"
/* clang-format on */

/* The columns of the matrix: level and the title's suffix (the column's heading). */
static const struct {
	const char *level;
	const char *heading;
} SVERDLOVSK_LEVELS[3] = {
	{"regional", "Региональный уровень"},
	{"municipal", "Муниципальный уровень"},
	{"organization", "Уровень образовательной организации"},
};

/* The owners: the demo region, Sarov (made if absent), the first municipality
 * and its first school with a head (demo-municipal's and demo-head's). */
static const char SEED_OWNERS[] =
	"SELECT r.id, (SELECT id FROM municipalities WHERE region_id = r.id AND name LIKE "
	" '%Саров%' ORDER BY id LIMIT 1), m.id, "
	" (SELECT o.id FROM organizations o JOIN managers g ON g.organization_id = o.id "
	"  AND g.status = 'active' WHERE o.municipality_id = m.id AND o.kind = 'school' "
	"  AND o.status = 'active' ORDER BY o.id LIMIT 1) "
	"FROM regions r JOIN LATERAL (SELECT id FROM municipalities WHERE region_id = r.id "
	" ORDER BY id LIMIT 1) m ON true WHERE r.code = $1";

static const char SEED_SAROV[] =
	"WITH ins AS (INSERT INTO municipalities (region_id, name, oktmo) "
	" VALUES ($1::bigint, $2, $3) RETURNING *), "
	"a AS (INSERT INTO audit_events (actor_role, entity, entity_id, action, after, "
	" region_id, municipality_id) SELECT 'cli', 'municipality', id, 'load-demo', "
	" to_jsonb(ins), region_id, id FROM ins) "
	"SELECT id FROM ins";

static const char SEED_FIND[] =
	"SELECT id FROM roadmaps WHERE level = $1 AND region_id = $2::bigint "
	"AND municipality_id IS NOT DISTINCT FROM $3::bigint "
	"AND organization_id IS NOT DISTINCT FROM $4::bigint AND title = $5";

static const char SEED_ROADMAP[] =
	"WITH ins AS (INSERT INTO roadmaps (level, region_id, municipality_id, organization_id, "
	" title, description, period_from, period_to) VALUES ($1, $2::bigint, $3::bigint, "
	" $4::bigint, $5, $6, $7::date, $8::date) RETURNING *), "
	"a AS (INSERT INTO audit_events (actor_role, entity, entity_id, action, after, "
	" region_id, municipality_id, organization_id) SELECT 'cli', 'roadmap', id, "
	" 'load-demo', to_jsonb(ins), region_id, municipality_id, organization_id FROM ins) "
	"SELECT id FROM ins";

static const char SEED_MILESTONE[] =
	"WITH ins AS (INSERT INTO milestones (roadmap_id, number, title, due_text, due_on, "
	" recurrence, executors, expected_result) SELECT $1::bigint, $2, $3, $4, $5::date, $6, "
	" ARRAY(SELECT jsonb_array_elements_text($7::jsonb)), $8 RETURNING *), "
	"a AS (INSERT INTO audit_events (actor_role, entity, entity_id, action, after, "
	" region_id, municipality_id, organization_id) SELECT 'cli', 'milestone', ins.id, "
	" 'load-demo', to_jsonb(ins), r.region_id, r.municipality_id, r.organization_id "
	" FROM ins JOIN roadmaps r ON r.id = ins.roadmap_id) "
	"SELECT id FROM ins";

/* Runs sql; on failure err gets "what: the server's message". */
static bool seed_exec(PGconn *pg, const char *what, const char *sql, int nparams,
		      const char *const *params, PGresult **out, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(pg, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	const char *msg;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return true;
	}
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	snprintf(err, errlen, "%s: %s", what, msg ? msg : PQerrorMessage(pg));
	for (char *p = err; *p; p++)
		if (*p == '\n')
			*p = ' ';
	PQclear(res);
	return false;
}

/* A roadmap to seed and where its milestones come from. */
struct seed_roadmap {
	const char *level;
	const char *region, *municipality, *organization; /* ids as text, NULL above the level */
	char title[512];
	const char *description;
	const char *from, *to;
};

/* Creates the roadmap unless it is there; *id is "" when it was there. */
static enum em_err seed_roadmap(PGconn *pg, const struct seed_roadmap *s, char id[24], FILE *out,
				char *err, size_t errlen)
{
	const char *find[5] = {s->level, s->region, s->municipality, s->organization, s->title};
	const char *ins[8] = {s->level, s->region,      s->municipality, s->organization,
			      s->title, s->description, s->from,         s->to};
	PGresult *res = NULL;

	id[0] = '\0';
	if (!seed_exec(pg, "cannot look for the demo roadmaps", SEED_FIND, 5, find, &res, err,
		       errlen))
		return EM_EDB;
	if (PQntuples(res) > 0) {
		fprintf(out, "Roadmap %s «%s» (%s) already loaded: unchanged.\n",
			PQgetvalue(res, 0, 0), s->title, s->level);
		PQclear(res);
		return EM_OK;
	}
	PQclear(res);
	if (!seed_exec(pg, "cannot create a demo roadmap", SEED_ROADMAP, 8, ins, &res, err, errlen))
		return EM_EDB;
	snprintf(id, 24, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return EM_OK;
}

static enum em_err seed_milestone(PGconn *pg, const char *roadmap, const struct seed_roadmap *s,
				  const char *number, const char *title, const char *due_text,
				  const char *const *executors, size_t nexecutors,
				  const char *expected, char *err, size_t errlen)
{
	json_t *list = json_array();
	struct em_due due;
	char *ex;
	bool ok;

	for (size_t i = 0; list && i < nexecutors && executors[i]; i++)
		json_array_append_new(list, json_string(executors[i]));
	if (!list || !(ex = json_dumps(list, JSON_COMPACT))) {
		json_decref(list);
		snprintf(err, errlen, "out of memory");
		return EM_EINTERNAL;
	}
	json_decref(list);
	due_derive(due_text, s->from, s->to, &due);
	const char *params[8] = {
		roadmap,        number, title,   due_text, due.due_on[0] ? due.due_on : NULL,
		due.recurrence, ex,     expected};
	ok = seed_exec(pg, "cannot create a demo milestone", SEED_MILESTONE, 8, params, NULL, err,
		       errlen);
	free(ex);
	return ok ? EM_OK : EM_EDB;
}

/* The milestones of column k of the matrix, in the order of its rows. */
static enum em_err seed_column(PGconn *pg, const char *roadmap, const struct seed_roadmap *s, int k,
			       char *err, size_t errlen)
{
	char number[12];
	enum em_err rc;

	for (size_t i = 0; i < ARRAY_LEN(SVERDLOVSK); i++)
		if ((rc = seed_milestone(pg, roadmap, s, SVERDLOVSK[i].number,
					 SVERDLOVSK[i].cell[k], NULL, NULL, 0, NULL, err,
					 errlen)) != EM_OK)
			return rc;
	for (size_t b = 0; b < ARRAY_LEN(SVERDLOVSK_BLOCKS); b++)
		for (int i = 0; i < 6; i++) {
			snprintf(number, sizeof(number), "%d", SVERDLOVSK_BLOCKS[b].first + i);
			if ((rc = seed_milestone(pg, roadmap, s, number, SVERDLOVSK_YEARLY[i][k],
						 SVERDLOVSK_BLOCKS[b].due_text, NULL, 0, NULL, err,
						 errlen)) != EM_OK)
				return rc;
		}
	return EM_OK;
}

enum em_err roadmaps_seed_demo(PGconn *pg, FILE *out, char *err, size_t errlen)
{
	const char *code[1] = {DEMO_REGION_CODE};
	char region[24], sarov[24], muni[24], org[24], id[24];
	PGresult *res = NULL;
	enum em_err rc;

	if (!seed_exec(pg, "cannot find the demo roadmaps' owners", SEED_OWNERS, 1, code, &res, err,
		       errlen))
		return EM_EDB;
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 3)) {
		PQclear(res);
		snprintf(err, errlen,
			 "the demo region has no school with a head in its first "
			 "municipality, for the organization's roadmap");
		return EM_EINTERNAL;
	}
	snprintf(region, sizeof(region), "%s", PQgetvalue(res, 0, 0));
	snprintf(sarov, sizeof(sarov), "%s", PQgetvalue(res, 0, 1));
	snprintf(muni, sizeof(muni), "%s", PQgetvalue(res, 0, 2));
	snprintf(org, sizeof(org), "%s", PQgetvalue(res, 0, 3));
	PQclear(res);

	/* Sarov, a closed city (ЗАТО), joins the demo region when it has none by that name. */
	if (!sarov[0]) {
		const char *p[3] = {region, SAROV_MUNICIPALITY, SAROV_OKTMO};
		if (!seed_exec(pg, "cannot create the municipality of Sarov", SEED_SAROV, 3, p,
			       &res, err, errlen))
			return EM_EDB;
		snprintf(sarov, sizeof(sarov), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		fprintf(out, "Municipality %s «%s» created for the Sarov roadmap.\n", sarov,
			SAROV_MUNICIPALITY);
	}

	struct seed_roadmap s = {"municipal",       region,       sarov,       NULL, "",
				 SAROV_DESCRIPTION, "2021-01-01", "2022-12-31"};
	snprintf(s.title, sizeof(s.title), "%s", SAROV_TITLE);
	if ((rc = seed_roadmap(pg, &s, id, out, err, errlen)) != EM_OK)
		return rc;
	for (size_t i = 0; id[0] && i < NSAROV; i++)
		if ((rc = seed_milestone(pg, id, &s, SAROV[i].number, SAROV[i].title,
					 SAROV[i].due_text, SAROV[i].executors, 4,
					 SAROV[i].expected, err, errlen)) != EM_OK)
			return rc;
	if (id[0])
		fprintf(out, "Roadmap %s «%s» (municipal, Sarov): %zu milestones.\n", id, s.title,
			NSAROV);

	for (int k = 0; k < 3; k++) {
		struct seed_roadmap v = {SVERDLOVSK_LEVELS[k].level,
					 region,
					 k >= 1 ? muni : NULL,
					 k == 2 ? org : NULL,
					 "",
					 SVERDLOVSK_DESCRIPTION,
					 "2020-01-01",
					 "2021-12-31"};
		snprintf(v.title, sizeof(v.title), "%s: %s", SVERDLOVSK_TITLE,
			 SVERDLOVSK_LEVELS[k].heading);
		if ((rc = seed_roadmap(pg, &v, id, out, err, errlen)) != EM_OK)
			return rc;
		if (id[0] && (rc = seed_column(pg, id, &v, k, err, errlen)) != EM_OK)
			return rc;
		if (id[0])
			fprintf(out, "Roadmap %s «%s» (%s): %zu milestones.\n", id, v.title,
				v.level, NSVERDLOVSK);
	}
	fflush(out);
	return EM_OK;
}
