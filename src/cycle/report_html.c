/*
 * report_html.c — the cycle report as a self-contained printable HTML page
 * (GET /campaigns/{id}/cycle-report with Accept: text/html): the document
 * src/cycle/report.c reads, laid out as an official Russian document: the
 * territory and campaign in the title, figures, shares and dates written the
 * Russian way (src/ru_format.c), one step to a printed A4 page, a signature
 * block. Every text from the database is escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/ru_format.h"
#include "effmon/sbuf.h"
#include "effmon/sheet.h"

#include "report_html.h"

/*
 * Text from the database made safe for HTML element content and quoted
 * attribute values: & < > " ' become entities; everything else (UTF-8
 * included) passes unchanged.
 */
static void html_escape(struct sbuf *b, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *ent;
		switch (*s) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&#39;"; break;
		default: continue;
		}
		sb_add(b, run, (size_t)(s - run));
		sb_str(b, ent);
		run = s + 1;
	}
	sb_add(b, run, (size_t)(s - run));
}

/* A JSON scalar as text: "" for null and containers, numbers exact for 2-decimal figures. */
static void scalar_text(const json_t *v, char *out, size_t n, const char **str)
{
	*str = NULL;
	out[0] = '\0';
	if (json_is_string(v))
		*str = json_string_value(v);
	else if (json_is_integer(v))
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, n, "%.15g", json_real_value(v));
	else if (json_is_true(v))
		snprintf(out, n, "true");
	else if (json_is_false(v))
		snprintf(out, n, "false");
}

/* --- The page ---------------------------------------------------------------------- */

/* A value for a cell, escaped, written as fmt says; null is a dash. A value
 * the format cannot take (not a number, not a date) is written as it is. */
static void html_value_as(struct sbuf *b, const json_t *v, enum cell_fmt fmt)
{
	char num[96];
	const char *str;
	bool ok = false;

	if (json_is_number(v)) {
		double x = json_number_value(v);
		switch (fmt) {
		case FMT_PERCENT: ok = ru_percent(x, 1, num, sizeof(num)); break;
		case FMT_MONEY: ok = ru_number(x, 2, num, sizeof(num)); break;
		case FMT_ONE_PLACE: ok = ru_number(x, 1, num, sizeof(num)); break;
		default: ok = ru_number(x, json_is_integer(v) ? 0 : 2, num, sizeof(num)); break;
		}
	} else if (json_is_string(v) && fmt == FMT_DATE) {
		ok = ru_date(json_string_value(v), false, num, sizeof(num));
	} else if (json_is_boolean(v)) {
		sb_str(b, json_is_true(v) ? "да" : "нет");
		return;
	}
	if (ok) {
		sb_str(b, num);
		return;
	}
	scalar_text(v, num, sizeof(num), &str);
	if (str)
		html_escape(b, str);
	else if (num[0])
		sb_str(b, num);
	else
		sb_str(b, "—");
}

static void html_value(struct sbuf *b, const json_t *v)
{
	html_value_as(b, v, FMT_AUTO);
}

static void html_cell(struct sbuf *b, const char *tag, const json_t *v)
{
	sb_str(b, "<");
	sb_str(b, tag);
	sb_str(b, ">");
	html_value(b, v);
	sb_str(b, "</");
	sb_str(b, tag);
	sb_str(b, ">");
}

static void html_text_cell(struct sbuf *b, const char *tag, const char *text)
{
	sb_str(b, "<");
	sb_str(b, tag);
	sb_str(b, ">");
	html_escape(b, text ? text : "");
	sb_str(b, "</");
	sb_str(b, tag);
	sb_str(b, ">");
}

/* One right-aligned td for each of the n keys of x. */
static void html_num_cells(struct sbuf *b, const json_t *x, const char *const *keys, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		sb_str(b, "<td class=\"num\">");
		html_value(b, json_object_get(x, keys[k]));
		sb_str(b, "</td>");
	}
}

static const char *const COUNT[] = {"count"};

/* A td with the Russian name of the code x holds under key. */
static void html_name_cell(struct sbuf *b, const json_t *x, const char *key)
{
	html_text_cell(b, "td", report_name_of(json_string_value(json_object_get(x, key))));
}

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* The rows of a table after its head (HTML up to <tbody>): per item, the
 * Russian names of its codes under names, then its figures under nums. */
static void html_rows(struct sbuf *b, const char *head, const json_t *items,
		      const char *const *names, size_t nnames, const char *const *nums,
		      size_t nnums)
{
	const json_t *x;
	size_t i;

	sb_str(b, head);
	json_array_foreach(items, i, x) {
		sb_str(b, "<tr>");
		for (size_t k = 0; k < nnames; k++)
			html_name_cell(b, x, names[k]);
		html_num_cells(b, x, nums, nnums);
		sb_str(b, "</tr>");
	}
	sb_str(b, "</tbody></table>");
}

static void html_figures(struct sbuf *b, const json_t *step, const struct label *figures)
{
	if (!figures->path)
		return;
	sb_str(b, "<table class=\"figures\"><tbody>");
	for (const struct label *f = figures; f->path; f++) {
		sb_str(b, "<tr>");
		html_text_cell(b, "th", f->text);
		sb_str(b, "<td class=\"num\">");
		html_value_as(b, sheet_path(step, f->path), f->fmt);
		sb_str(b, "</td></tr>");
	}
	sb_str(b, "</tbody></table>");
}

/* The Russian name of a direction code, from the step's by_direction. */
static const char *direction_name(const json_t *step, const json_t *code)
{
	const json_t *x;
	size_t i;

	json_array_foreach(json_object_get(step, "by_direction"), i, x)
		if (json_equal(json_object_get(x, "code"), (json_t *)code))
			return json_string_value(json_object_get(x, "name"));
	return json_string_value(code);
}

/* The what-if runs that tried the catalog before it was adopted: how many, and the last. */
static void html_simulations(struct sbuf *b, const json_t *sims)
{
	const json_t *last = json_array_get(json_object_get(sims, "latest"), 0);
	json_int_t n = json_integer_value(json_object_get(sims, "count"));
	char line[640], date[64], rho[32];

	if (!sims)
		return;
	if (n == 0 || !last) {
		sb_str(b, "<p>Моделирование изменений каталога и порогов не проводилось.</p>");
		return;
	}
	if (!ru_date(json_string_value(json_object_get(last, "created_at")), false, date,
		     sizeof(date)))
		snprintf(date, sizeof(date), "—");
	if (!json_is_number(json_object_get(last, "spearman")) ||
	    !ru_number(json_number_value(json_object_get(last, "spearman")), 3, rho, sizeof(rho)))
		snprintf(rho, sizeof(rho), "—");
	snprintf(line, sizeof(line),
		 "<p>Моделирование изменений каталога и порогов: расчётов — %lld; последний (%s): "
		 "изменённых показателей — %lld, уровень изменился бы у %lld руководителей, "
		 "ранговая корреляция с официальными баллами — %s.</p>",
		 (long long)n, date,
		 (long long)json_integer_value(json_object_get(last, "indicators_changed")),
		 (long long)json_integer_value(json_object_get(last, "heads_changed")), rho);
	sb_str(b, line);
}

/* The policy lint's error findings: the federal position on ВПР, bounds, weights. */
static void html_lint(struct sbuf *b, const json_t *lint)
{
	json_int_t vpr = json_integer_value(json_object_get(lint, "vpr_raw"));
	json_int_t bounds = json_integer_value(json_object_get(lint, "bounds"));
	json_int_t none = json_integer_value(json_object_get(lint, "no_weight"));
	char line[320];

	if (!lint)
		return;
	if (vpr + bounds + none == 0) {
		sb_str(b,
		       ". Проверка каталога: ошибок нет, первичные результаты ВПР для оценки "
		       "руководителей не используются");
		return;
	}
	snprintf(line, sizeof(line),
		 ". Проверка каталога: на первичных результатах ВПР — %lld, "
		 "минимум не меньше максимума — %lld, без веса ни для одного типа ОО — %lld",
		 (long long)vpr, (long long)bounds, (long long)none);
	sb_str(b, line);
}

static void html_indicators(struct sbuf *b, const json_t *step)
{
	const json_t *x;
	size_t i;

	sb_str(b, "<p>Всего показателей: ");
	html_value(b, json_object_get(step, "count"));
	html_lint(b, json_object_get(step, "policy_lint"));
	sb_str(b,
	       "</p><table class=\"figures\"><thead><tr><th>Направление</th>"
	       "<th class=\"num\">Показателей</th></tr></thead><tbody>");
	json_array_foreach(json_object_get(step, "by_direction"), i, x) {
		sb_str(b, "<tr>");
		html_cell(b, "td", json_object_get(x, "name"));
		html_num_cells(b, x, COUNT, 1);
		sb_str(b, "</tr>");
	}
	sb_str(b,
	       "</tbody></table><table class=\"list\"><thead><tr><th>Код</th><th>Показатель</th>"
	       "<th>Направление</th><th>Источник</th><th>Вид данных</th><th>Методика расчёта</th>"
	       "</tr></thead><tbody>");
	json_array_foreach(json_object_get(step, "items"), i, x) {
		sb_str(b, "<tr>");
		html_cell(b, "td", json_object_get(x, "code"));
		html_cell(b, "td", json_object_get(x, "name"));
		html_text_cell(b, "td", direction_name(step, json_object_get(x, "direction")));
		html_name_cell(b, x, "source");
		html_name_cell(b, x, "data_kind");
		html_cell(b, "td", json_object_get(x, "method"));
		sb_str(b, "</tr>");
	}
	sb_str(b, "</tbody></table>");
	html_simulations(b, json_object_get(step, "simulations"));
}

static void html_goals(struct sbuf *b, const json_t *step)
{
	const json_t *x;
	size_t i;

	if (json_array_size(json_object_get(step, "items")) == 0) {
		sb_str(b, "<p>Цели кампании не заданы.</p>");
		return;
	}
	sb_str(b, "<ol>");
	json_array_foreach(json_object_get(step, "items"), i, x)
		html_cell(b, "li", x);
	sb_str(b, "</ol>");
}

static const char *const TYPE[] = {"type"};

static void html_decisions(struct sbuf *b, const json_t *step)
{
	html_rows(b,
		  "<table class=\"figures\"><thead><tr><th>Вид решения</th><th class=\"num\">"
		  "Количество</th></tr></thead><tbody>",
		  json_object_get(step, "by_type"), TYPE, 1, COUNT, 1);
}

/* Warnings by type, and what became of them: drafts and issued recommendations. */
static void html_warnings(struct sbuf *b, const json_t *step)
{
	static const char *const COLS[] = {"count", "heads", "drafted", "issued"};

	html_rows(b,
		  "<p>Ранние предупреждения по утверждённым результатам: снижение итогового балла "
		  "или балла направления две кампании подряд, итоговый балл ниже порога, неполные "
		  "данные; и адресные рекомендации, подготовленные по ним.</p>"
		  "<table class=\"figures\"><thead><tr><th>Вид предупреждения</th>"
		  "<th class=\"num\">Предупреждений</th><th class=\"num\">Руководителей</th>"
		  "<th class=\"num\">Черновиков рекомендаций</th><th class=\"num\">Выдано "
		  "рекомендаций</th></tr></thead><tbody>",
		  json_object_get(step, "by_type"), TYPE, 1, COLS, NKEYS(COLS));
}

static void html_effect(struct sbuf *b, const json_t *step)
{
	static const struct label ROWS[] = {{"count", "Руководителей в группе"},
					    {"mean_previous", "Средний балл в предыдущей кампании"},
					    {"mean_current", "Средний балл в этой кампании"},
					    {"mean_change", "Среднее изменение балла"},
					    {"reason", "Примечание"},
					    {NULL, NULL}};
	const json_t *t = json_object_get(step, "treated"), *o = json_object_get(step, "others");

	sb_str(b,
	       "<p>Руководители, чьи рекомендации (этой или предыдущей кампании) приняты как "
	       "исполненные или кто участвовал в мероприятиях, в сравнении с остальными; учтены "
	       "руководители с утверждённым итоговым баллом в обеих кампаниях: ");
	html_value(b, json_object_get(step, "panel"));
	sb_str(b,
	       ".</p><table class=\"figures\"><thead><tr><th></th><th class=\"num\">Участники "
	       "мер</th><th class=\"num\">Остальные</th></tr></thead><tbody>");
	for (const struct label *r = ROWS; r->path; r++) {
		sb_str(b, "<tr>");
		html_text_cell(b, "th", r->text);
		for (int k = 0; k < 2; k++) {
			const json_t *v = json_object_get(k ? o : t, r->path);
			if (json_is_string(v)) {
				sb_str(b, "<td>");
				html_escape(b, report_name_of(json_string_value(v)));
			} else {
				sb_str(b, "<td class=\"num\">");
				html_value(b, v);
			}
			sb_str(b, "</td>");
		}
		sb_str(b, "</tr>");
	}
	sb_str(b, "<tr><th>Разница средних изменений</th><td class=\"num\" colspan=\"2\">");
	html_value(b, json_object_get(step, "difference"));
	sb_str(b, "</td></tr></tbody></table>");
}

/* The analysis step's peer clusters (kind × settlement × size band): one row each. */
static void html_clusters(struct sbuf *b, const json_t *step)
{
	static const char *const PARTS[] = {"kind", "settlement", "size_band"};
	static const char *const FIGURES[] = {"count", "mean", "median", "mean_change"};

	html_rows(b,
		  "<p>По группам сравнения (тип ОО, тип поселения, размер ОО по числу "
		  "обучающихся):</p><table class=\"list\"><thead><tr><th>Тип ОО</th>"
		  "<th>Поселение</th><th>Размер</th><th class=\"num\">Результатов</th>"
		  "<th class=\"num\">Средний балл</th><th class=\"num\">Медиана</th>"
		  "<th class=\"num\">Изменение среднего</th></tr></thead><tbody>",
		  json_object_get(step, "by_cluster"), PARTS, NKEYS(PARTS), FIGURES,
		  NKEYS(FIGURES));
}

/*
 * Screen: a sheet on a grey desk. Print: A4 with GOST-like margins, the title
 * page and every step of the cycle on a page of its own, table headers repeated,
 * rows never split, the signature block kept whole.
 */
static const char HTML_STYLE[] =
	"<style>"
	"html{background:#e9ecef}"
	"body{font-family:\"Liberation Serif\",\"Times New Roman\",\"DejaVu Serif\",serif;"
	"font-size:12pt;color:#000;background:#fff;margin:16px auto;max-width:210mm;"
	"padding:20mm 15mm 20mm 30mm;box-sizing:border-box;line-height:1.3}"
	"header.doc{text-align:center;margin-bottom:10mm}"
	"p.system{font-size:11pt;margin:0 0 6mm;text-transform:uppercase;letter-spacing:.02em}"
	"h1{font-size:15pt;font-weight:bold;margin:0 0 2mm;text-transform:uppercase;"
	"letter-spacing:.05em}"
	"p.subject{font-size:13pt;font-weight:bold;margin:0 0 2mm}"
	"p.territory{font-size:13pt;margin:0 0 6mm}"
	"table.meta{width:auto;margin:0 auto;border:none}"
	"table.meta th,table.meta td{border:none;padding:1px 6px;text-align:left;"
	"background:none;font-weight:normal}"
	"table.meta th{color:#333}"
	"h2{font-size:13pt;margin:8mm 0 3mm;font-weight:bold}"
	"table{border-collapse:collapse;margin:2mm 0 4mm;width:100%}"
	"table.figures{width:100%}"
	"th,td{border:1px solid #000;padding:2px 6px;vertical-align:top;text-align:left}"
	"thead th{font-weight:bold;text-align:center;background:#f2f2f2}"
	"tbody th{font-weight:normal}"
	"td.num{text-align:right;white-space:nowrap;width:22%}"
	"table.list td{font-size:11pt}"
	"tr{break-inside:avoid;page-break-inside:avoid}"
	"thead{display:table-header-group}"
	"section.signatures{margin:14mm -6mm 0;break-inside:avoid;page-break-inside:avoid}"
	"table.sign{border:none;width:100%;margin:0;border-collapse:separate;border-spacing:6mm 0}"
	"table.sign td{border:none;padding:0;vertical-align:bottom;text-align:center}"
	"table.sign td.line{border-bottom:1px solid #000;height:9mm}"
	"table.sign td.caption{font-size:9pt;color:#333;padding-top:1mm}"
	"p.date-line{margin:8mm 0 0 6mm}"
	"@page{size:A4;margin:20mm 15mm 20mm 30mm}"
	"@media print{html{background:none}body{margin:0;max-width:none;padding:0;"
	"font-size:12pt}thead th{background:none}"
	"section.step{break-before:page;page-break-before:always}"
	"section.signatures{break-before:auto}}"
	"</style>";

/* The territory's name: the region, and the municipality when the report is of one. */
static void html_territory(struct sbuf *b, const json_t *terr)
{
	const json_t *muni = json_object_get(terr, "municipality");

	html_value(b, sheet_path(terr, "region.name"));
	if (json_is_object(muni)) {
		sb_str(b, ", ");
		html_value(b, json_object_get(muni, "name"));
	}
}

/* The step with this key (the page follows REPORT_VIEWS, whatever the order of steps). */
static const json_t *step_of(const json_t *steps, const char *key)
{
	const json_t *x;
	size_t i;

	json_array_foreach(steps, i, x) {
		const char *k = json_string_value(json_object_get(x, "key"));
		if (k && strcmp(k, key) == 0)
			return x;
	}
	return NULL;
}

/* Position, signature, name and date lines to be filled in by hand. */
static void html_signatures(struct sbuf *b)
{
	sb_str(b,
	       "<section class=\"signatures\"><table class=\"sign\"><tbody>"
	       "<tr><td class=\"line\" style=\"width:42%\"></td><td class=\"line\" "
	       "style=\"width:22%\"></td><td class=\"line\" style=\"width:36%\"></td></tr>"
	       "<tr><td class=\"caption\">(должность)</td><td class=\"caption\">(подпись)</td>"
	       "<td class=\"caption\">(инициалы, фамилия)</td></tr></tbody></table>"
	       "<p class=\"date-line\">«____»&nbsp;_______________&nbsp;20____&nbsp;г.</p>"
	       "</section>");
}

/* The head and the title page: the campaign, the territory, the dates. */
static void html_title_page(struct sbuf *b, const json_t *doc)
{
	const json_t *camp = json_object_get(doc, "campaign");
	const json_t *terr = json_object_get(doc, "territory");
	char num[96];

	sb_str(b,
	       "<!DOCTYPE html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\">"
	       "<meta name=\"viewport\" content=\"width=device-width\"><title>Отчёт о реализации "
	       "управленческого цикла: ");
	html_value(b, json_object_get(camp, "title"));
	sb_str(b, " — ");
	html_territory(b, terr);
	sb_str(b, "</title>");
	sb_str(b, HTML_STYLE);
	sb_str(b,
	       "</head><body><header class=\"doc\"><p class=\"system\">Система мониторинга "
	       "эффективности деятельности руководителей образовательных организаций</p>"
	       "<h1>Отчёт</h1><p class=\"subject\">о реализации управленческого цикла "
	       "по кампании «");
	html_value(b, json_object_get(camp, "title"));
	snprintf(num, sizeof(num), "%lld",
		 (long long)json_integer_value(json_object_get(camp, "year")));
	sb_str(b, "» (");
	sb_str(b, num);
	sb_str(b, "&nbsp;г.)</p><p class=\"territory\">");
	html_territory(b, terr);
	sb_str(b, "</p><table class=\"meta\"><tbody><tr><th>Статус кампании:</th><td>");
	html_escape(b, report_name_of(json_string_value(json_object_get(camp, "status"))));
	sb_str(b, "</td></tr><tr><th>Предыдущая кампания:</th><td>");
	html_value(b, sheet_path(camp, "previous_campaign.title"));
	sb_str(b, "</td></tr><tr><th>Отчёт сформирован:</th><td>");
	if (ru_date(json_string_value(json_object_get(doc, "generated_at")), true, num,
		    sizeof(num)))
		sb_str(b, num);
	else
		html_value(b, json_object_get(doc, "generated_at"));
	sb_str(b, "</td></tr><tr><th>Просрочка определена на:</th><td>");
	html_value_as(b, json_object_get(doc, "as_of"), FMT_DATE);
	sb_str(b, "</td></tr></tbody></table></header>");
}

/* One step of the cycle: its number and title, what it shows, its figures. */
static void html_step(struct sbuf *b, size_t i, const struct step_view *v, const json_t *step)
{
	char num[32];

	snprintf(num, sizeof(num), "%zu. ", i + 1);
	sb_str(b, "<section class=\"step\" id=\"");
	sb_str(b, v->key);
	sb_str(b, "\"><h2>");
	sb_str(b, num);
	sb_str(b, v->title);
	sb_str(b, "</h2>");
	if (strcmp(v->key, "goals") == 0)
		html_goals(b, step);
	else if (strcmp(v->key, "indicators") == 0)
		html_indicators(b, step);
	else if (strcmp(v->key, "decisions") == 0)
		html_decisions(b, step);
	else if (strcmp(v->key, "effect") == 0)
		html_effect(b, step);
	else if (strcmp(v->key, "warnings") == 0)
		html_warnings(b, step);
	html_figures(b, step, v->figures);
	if (strcmp(v->key, "analysis") == 0)
		html_clusters(b, step);
	sb_str(b, "</section>");
}

enum em_err cycle_report_html(json_t *doc, struct em_reply *reply)
{
	const json_t *steps = json_object_get(doc, "steps");
	struct sbuf b = {0};

	html_title_page(&b, doc);
	for (size_t i = 0; i < REPORT_NVIEWS; i++)
		html_step(&b, i, &REPORT_VIEWS[i], step_of(steps, REPORT_VIEWS[i].key));
	html_signatures(&b);
	sb_str(&b, "</body></html>\n");
	return sb_reply(&b, reply, "text/html; charset=utf-8");
}
