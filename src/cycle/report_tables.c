/*
 * report_tables.c — the cycle report as tables, shared by its CSV and XLSX
 * answers: a sheet for the report's heading (campaign, territory, dates) and
 * one per step of the cycle. A step's sheet holds a table of its figures
 * (Показатель, Значение: every scalar outside a list) and a table for each
 * list in it (indicators, directions, decision types...), with Russian
 * headers. Values are the JSON's own, so the files hold what the JSON holds.
 */
#include <stdio.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/sheet.h"

struct word {
	const char *key;
	const char *text;
};

static const struct word STEP_TITLES[] = {{"goals", "Цели"},
					  {"indicators", "Показатели"},
					  {"methods", "Методы сбора информации"},
					  {"monitoring", "Мониторинг"},
					  {"analysis", "Анализ результатов"},
					  {"warnings", "Ранние предупреждения"},
					  {"recommendations", "Адресные рекомендации"},
					  {"measures", "Меры и мероприятия"},
					  {"decisions", "Управленческие решения"},
					  {"effect", "Анализ эффективности мер"},
					  {NULL, NULL}};

/* A key's Russian name, wherever it appears; unknown keys are shown as they are. */
static const struct word WORDS[] = {
	{"accepted", "исполнение принято"},
	{"acknowledged", "ознакомлены"},
	{"approved", "утверждены"},
	{"approved_share", "доля утверждённых"},
	{"as_of", "по состоянию на"},
	{"attestation_referral", "направление на аттестацию"},
	{"below_threshold", "итоговый балл ниже порога"},
	{"bonus", "стимулирующая выплата"},
	{"bonus_amount", "сумма стимулирующих выплат, руб."},
	{"bounds", "минимум не меньше максимума"},
	{"by_cluster", "по группам сравнения"},
	{"by_data_kind", "по видам данных"},
	{"by_direction", "по направлениям"},
	{"by_source", "по источникам"},
	{"by_status", "по статусам"},
	{"by_type", "по видам"},
	{"calibration", "калибровка самооценки"},
	{"campaign", "кампания"},
	{"cancelled", "отменено"},
	{"closes_at", "окончание"},
	{"cluster", "группа сравнения"},
	{"code", "код"},
	{"commendation", "поощрение"},
	{"compared", "сравнено значений"},
	{"completeness_bound", "граница полноты данных"},
	{"contingent", "контингент и сеть"},
	{"contract_extension", "продление контракта"},
	{"count", "количество"},
	{"count_previous", "количество в предыдущей кампании"},
	{"created_at", "создан"},
	{"critical", "критический"},
	{"data_kind", "вид данных"},
	{"days", "дней"},
	{"decisions", "решения"},
	{"decline_direction", "снижение балла направления"},
	{"decline_total", "снижение итогового балла"},
	{"difference", "разница"},
	{"direction", "направление"},
	{"done", "выполнено"},
	{"draft", "черновик"},
	{"drafted", "черновиков рекомендаций"},
	{"exam_results", "результаты ГИА"},
	{"expected", "обязаны представить"},
	{"generated_at", "сформирован"},
	{"heads", "руководителей"},
	{"heads_changed", "уровень изменился у руководителей"},
	{"high", "высокий"},
	{"id", "идентификатор"},
	{"imported_rows", "строк загружено"},
	{"imported_values", "значений записано загрузками"},
	{"imports", "пакетных загрузок"},
	{"in_progress", "выполняется"},
	{"indicator_sources", "источники показателей"},
	{"indicators", "показатели"},
	{"indicators_changed", "изменено показателей"},
	{"issued", "выдано"},
	{"items", "список"},
	{"kind", "тип ОО"},
	{"latest", "последние расчёты"},
	{"level", "уровень"},
	{"levels", "уровни"},
	{"low", "низкий"},
	{"low_completeness", "неполные данные"},
	{"lowered", "снижено при проверке"},
	{"management", "управленческая практика"},
	{"managers", "руководителей"},
	{"managers_addressed", "руководителей получили"},
	{"max", "максимум"},
	{"mean", "средний балл"},
	{"mean_change", "изменение среднего"},
	{"mean_current", "средний балл сейчас"},
	{"mean_gap", "средний разрыв самооценки и проверки, баллов"},
	{"mean_lowering", "среднее снижение, баллов"},
	{"mean_previous", "средний балл в предыдущей кампании"},
	{"median", "медиана"},
	{"method", "метод"},
	{"milestones", "мероприятий"},
	{"min", "минимум"},
	{"min_mean_gap", "средний разрыв не менее, баллов"},
	{"min_share_lowered", "доля сниженных не менее"},
	{"min_values", "не менее значений"},
	{"municipal", "муниципальные"},
	{"municipality", "муниципалитет"},
	{"name", "наименование"},
	{"no_weight", "без веса ни для одного типа ОО"},
	{"objectivity_marker", "маркеры объективности"},
	{"oktmo", "ОКТМО"},
	{"opens_at", "начало"},
	{"organization", "уровня ОО"},
	{"organizations", "ОО со сравнением"},
	{"organizations_flagged", "ОО с завышенной самооценкой"},
	{"other", "прочее"},
	{"others", "остальные"},
	{"outliers", "выбросов"},
	{"overdue", "просрочено"},
	{"panel", "панель"},
	{"participants", "участников"},
	{"planned", "запланировано"},
	{"polarity", "направленность"},
	{"policy_lint", "проверка каталога (ошибки)"},
	{"previous_campaign", "предыдущая кампания"},
	{"previous_campaign_id", "предыдущая кампания"},
	{"q1", "нижний квартиль"},
	{"q3", "верхний квартиль"},
	{"raised", "повышено при проверке"},
	{"reason", "основание"},
	{"recommendations", "рекомендации"},
	{"region", "регион"},
	{"region_id", "регион"},
	{"regional", "региональные"},
	{"regional_import", "региональная загрузка"},
	{"reported", "представлен отчёт"},
	{"reserve_inclusion", "включение в резерв"},
	{"returned", "на доработке"},
	{"returned_count", "возвращались на доработку"},
	{"revoked", "отменено решений"},
	{"roadmaps", "дорожных карт"},
	{"roadmaps_by_level", "дорожные карты по уровням"},
	{"role", "роль"},
	{"rule", "правило отбора"},
	{"self", "самооценка ОО"},
	{"self_assessment", "самооценка"},
	{"settlement", "тип поселения"},
	{"share_lowered", "доля сниженных"},
	{"share_raised", "доля повышенных"},
	{"simulations", "моделирование каталога"},
	{"size_band", "размер ОО"},
	{"source", "источник"},
	{"spearman", "ранговая корреляция"},
	{"staff", "кадры"},
	{"status", "статус"},
	{"submitted", "представили"},
	{"submitted_late", "представили после срока"},
	{"submitted_on_time", "представили в срок"},
	{"sufficient", "достаточный"},
	{"suppressed", "скрыто"},
	{"territory", "территория"},
	{"threshold", "порог итогового балла"},
	{"thresholds", "пороги уровней"},
	{"thresholds_changed", "изменены пороги"},
	{"title", "название"},
	{"to_managers", "руководителям ОО"},
	{"to_municipalities", "муниципалитетам"},
	{"total", "всего"},
	{"training_referral", "направление на обучение"},
	{"treated", "получившие меры"},
	{"type", "вид"},
	{"unit", "единица"},
	{"value_type", "тип значения"},
	{"values", "значения"},
	{"values_changed_at_verification", "значений изменено при проверке"},
	{"verified", "проверены"},
	{"vpr_raw", "первичные результаты ВПР"},
	{"warning", "предупреждение"},
	{"year", "год"},
	{NULL, NULL}};

static const char *word(const struct word *w, const char *key)
{
	for (; key && w->key; w++)
		if (strcmp(w->key, key) == 0)
			return w->text;
	return key;
}

/* "a.b" of the JSON as "А: б": each segment in Russian, the first capitalised. */
static void path_label(const char *path, char *out, size_t len)
{
	char seg[64];
	size_t used = 0;
	const char *p = path;

	out[0] = '\0';
	while (*p && used + 1 < len) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		snprintf(seg, sizeof(seg), "%.*s", (int)n, p);
		used += (size_t)snprintf(out + used, len - used, "%s%s", used ? ": " : "",
					 word(WORDS, seg));
		p = dot ? dot + 1 : p + n;
	}
	/* Capitalise a leading Cyrillic lower-case letter (а..п: D0 B0..BF, р..я: D1 80..8F). */
	unsigned char *u = (unsigned char *)out;
	if (u[0] == 0xD0 && u[1] >= 0xB0 && u[1] <= 0xBF)
		u[1] -= 0x20;
	else if (u[0] == 0xD1 && u[1] >= 0x80 && u[1] <= 0x8F) {
		u[0] = 0xD0;
		u[1] += 0x20;
	} else if (u[0] >= 'a' && u[0] <= 'z')
		u[0] -= 0x20;
}

static enum sheet_kind kind_of(const json_t *v)
{
	if (json_is_integer(v))
		return SK_INT;
	if (json_is_real(v))
		return SK_NUM;
	if (json_is_boolean(v))
		return SK_BOOL;
	return SK_TEXT;
}

struct walk {
	struct sheet_book *book;
	struct sheet *sheet;
	json_t *figures; /* [{label, value}] */
	struct {
		char path[128];
		json_t *rows;
	} lists[16];
	size_t nlists;
};

/* Scalars go to the figures; lists are kept for their own tables. */
static void walk(struct walk *w, const char *path, json_t *v)
{
	char sub[128], label[SHEET_TEXT * 2];
	const char *key;
	json_t *x;

	if (json_is_object(v)) {
		json_object_foreach(v, key, x) {
			if (!*path && strcmp(key, "key") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
			walk(w, sub, x);
		}
		return;
	}
	if (json_is_array(v)) {
		if (w->nlists < sizeof(w->lists) / sizeof(w->lists[0])) {
			snprintf(w->lists[w->nlists].path, sizeof(w->lists[0].path), "%s", path);
			w->lists[w->nlists++].rows = v;
		}
		return;
	}
	path_label(path, label, sizeof(label));
	if (json_array_append_new(w->figures, json_pack("{s:s, s:O}", "label", label, "value", v)))
		w->book->failed = true;
}

/* Dotted keys of the scalars of an element, in order, added as columns once. */
static void element_cols(struct sheet_book *book, struct sheet_table *t, const char *prefix,
			 json_t *obj, int depth)
{
	const char *key;
	json_t *x;
	char sub[64], label[SHEET_TEXT];

	json_object_foreach(obj, key, x) {
		int n = snprintf(sub, sizeof(sub), "%s%s%s", prefix, *prefix ? "." : "", key);
		if (n < 0 || (size_t)n >= sizeof(sub))
			continue; /* no key of the report is that deep or long */
		if (json_is_object(x) && depth < 3) {
			element_cols(book, t, sub, x, depth + 1);
			continue;
		}
		bool seen = false;
		for (size_t c = 0; c < t->ncols && !seen; c++)
			seen = strcmp(t->cols[c].key, sub) == 0;
		if (seen)
			continue;
		path_label(sub, label, sizeof(label));
		table_add_col(book, t, sub, label, kind_of(x));
	}
}

static void step_sheet(struct sheet_book *book, const char *title, json_t *step)
{
	struct walk w = {.book = book};
	struct sheet_table *t;
	char label[SHEET_TEXT * 2];

	if (!(w.sheet = book_add_sheet(book, title)) || !(w.figures = json_array())) {
		book->failed = true;
		return;
	}
	walk(&w, "", step);
	t = sheet_add_table(book, w.sheet, title, w.figures);
	table_add_col(book, t, "label", "Показатель", SK_TEXT);
	table_add_col(book, t, "value", "Значение", SK_NUM);
	json_decref(w.figures);
	for (size_t i = 0; i < w.nlists; i++) {
		json_t *rows = w.lists[i].rows, *el;
		size_t k;

		path_label(w.lists[i].path, label, sizeof(label));
		t = sheet_add_table(book, w.sheet, label, rows);
		json_array_foreach(rows, k, el)
			if (json_is_object(el))
				element_cols(book, t, "", el, 0);
		if (t && t->ncols == 0)
			table_add_col(book, t, "", "Значение", SK_TEXT);
	}
}

enum em_err report_tables(json_t *doc, struct sheet_book *book)
{
	json_t *head = json_object(), *step;
	const char *keys[] = {"campaign", "territory", "generated_at", "as_of"};
	size_t i;

	if (!head)
		return EM_EINTERNAL;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *v = json_object_get(doc, keys[i]);
		if (v)
			json_object_set(head, keys[i], v);
	}
	step_sheet(book, "Отчёт", head);
	json_decref(head);
	json_array_foreach(json_object_get(doc, "steps"), i, step) {
		const char *key = json_string_value(json_object_get(step, "key"));
		step_sheet(book, word(STEP_TITLES, key ? key : ""), step);
	}
	return book->failed ? EM_EINTERNAL : EM_OK;
}

enum em_err report_file_reply(json_t *doc, enum em_format fmt, const struct csv_opts *o,
			      const char *campaign, const char *muni, struct em_reply *reply)
{
	struct sheet_book book = {0};
	char name[96];
	enum em_err rc;

	if ((rc = report_tables(doc, &book)) == EM_OK)
		rc = book_reply(&book, fmt, o, reply);
	book_free(&book);
	if (rc != EM_OK)
		return rc;
	if (muni)
		snprintf(name, sizeof(name), "cycle-report-%s-municipality-%s", campaign, muni);
	else
		snprintf(name, sizeof(name), "cycle-report-%s", campaign);
	reply_attachment(reply, name, fmt);
	return EM_OK;
}
