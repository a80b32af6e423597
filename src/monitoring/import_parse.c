/*
 * import_parse.c — the reading half of a bulk import: a CSV body (header,
 * delimiter, quoting: csv.c) or a JSON array, row by row, each value trimmed
 * and read as a number or a boolean word in C, written to the COPY buffer of
 * the staging table; a row that cannot be read gets a row error, and the rest
 * is checked set-wise in SQL (imports.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "effmon/csv.h"
#include "import.h"

const char *const IMPORT_COLUMNS[] = {"organization_inn", "indicator_code", "value", "comment"};

/* --- Errors found while parsing -------------------------------------------------------- */

static void row_error(struct import *im, unsigned long row, enum import_col col,
		      const char *column_name, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void row_error(struct import *im, unsigned long row, enum import_col col,
		      const char *column_name, const char *fmt, ...)
{
	va_list ap;
	struct row_err *e;

	im->errs_total++;
	if (im->nerrs >= IMPORT_MAX_ERRORS)
		return;
	if (!im->errs && !(im->errs = calloc(IMPORT_MAX_ERRORS, sizeof(*im->errs)))) {
		im->failed = true;
		return;
	}
	e = &im->errs[im->nerrs++];
	e->row = row;
	snprintf(e->column, sizeof(e->column), "%s",
		 column_name      ? column_name
		 : col == COL_ROW ? ""
				  : IMPORT_COLUMNS[col]);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

/* --- The COPY buffer ------------------------------------------------------------------- */

static void out_raw(struct import *im, const char *s, size_t n)
{
	sb_add(&im->out, s, n);
}

/* Appends s[0..n) escaped for COPY's text format (\\, \n, \r, \t): plain runs as they are. */
static void out_text(struct import *im, const char *s, size_t n)
{
	size_t from = 0;

	for (size_t i = 0; i < n; i++) {
		const char *esc = s[i] == '\\'   ? "\\\\"
				  : s[i] == '\n' ? "\\n"
				  : s[i] == '\r' ? "\\r"
				  : s[i] == '\t' ? "\\t"
						 : NULL;
		if (!esc)
			continue;
		sb_add(&im->out, s + from, i - from);
		sb_add(&im->out, esc, 2);
		from = i + 1;
	}
	sb_add(&im->out, s + from, n - from);
}

enum em_err import_out_flush(struct import *im, bool force)
{
	enum em_err rc;

	if (im->failed || im->out.failed)
		return EM_EINTERNAL;
	if (im->out.len == 0 || (!force && im->out.len < IMPORT_COPY_CHUNK))
		return EM_OK;
	if ((rc = db_copy_put(im->req->db, im->out.p, im->out.len)) != EM_OK)
		return rc;
	im->out.len = 0;
	return EM_OK;
}

/* --- Values -------------------------------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* A decimal number: [+-] digits [. or , digits] [e [+-] 1-3 digits], at least one
 * digit; copied to out with '.' as the separator. */
static bool number_text(const char *s, size_t n, char *out)
{
	size_t i = 0, digits = 0;

	if (n == 0 || n > IMPORT_MAX_NUMBER)
		return false;
	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < n && (s[i] == '.' || s[i] == ',')) {
		i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	if (digits == 0)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			exp++;
		if (exp < 1 || exp > 3)
			return false;
	}
	if (i != n)
		return false;
	for (i = 0; i < n; i++)
		out[i] = s[i] == ',' ? '.' : s[i];
	out[n] = '\0';
	return true;
}

/* 1 for true/да, 0 for false/нет (in the usual capitalisations), -1 otherwise. */
static int bool_word(const char *s, size_t n)
{
	static const char *const YES[] = {"да", "Да", "ДА", NULL};
	static const char *const NO[] = {"нет", "Нет", "НЕТ", NULL};

	if (n == 4 && strncasecmp(s, "true", 4) == 0)
		return 1;
	if (n == 5 && strncasecmp(s, "false", 5) == 0)
		return 0;
	for (int i = 0; YES[i]; i++)
		if (n == strlen(YES[i]) && memcmp(s, YES[i], n) == 0)
			return 1;
	for (int i = 0; NO[i]; i++)
		if (n == strlen(NO[i]) && memcmp(s, NO[i], n) == 0)
			return 0;
	return -1;
}

/* One staged row: line, inn, code, value, num, flag, comment (NULL when empty). */
static void stage_row(struct import *im, unsigned long line, const char *inn, size_t ninn,
		      const char *code, size_t ncode, const char *value, size_t nvalue,
		      const char *comment, size_t ncomment)
{
	char num[IMPORT_MAX_NUMBER + 1], head[24];
	int flag;

	trim(&inn, &ninn);
	trim(&code, &ncode);
	trim(&value, &nvalue);
	if (comment)
		trim(&comment, &ncomment);
	snprintf(head, sizeof(head), "%lu\t", line);
	out_raw(im, head, strlen(head));
	out_text(im, inn, ninn);
	out_raw(im, "\t", 1);
	out_text(im, code, ncode);
	out_raw(im, "\t", 1);
	out_text(im, value, nvalue);
	out_raw(im, "\t", 1);
	if (number_text(value, nvalue, num))
		out_raw(im, num, strlen(num));
	else
		out_raw(im, "\\N", 2);
	flag = bool_word(value, nvalue);
	if (flag < 0)
		out_raw(im, "\t\\N\t", 4);
	else
		out_raw(im, flag ? "\tt\t" : "\tf\t", 3);
	if (comment && ncomment)
		out_text(im, comment, ncomment);
	else
		out_raw(im, "\\N", 2);
	out_raw(im, "\n", 1);
	im->staged++;
}

/* --- CSV ----------------------------------------------------------------------------- */

static bool header_name(const struct csv_field *f, const char *want)
{
	const char *s = f->ptr;
	size_t n = f->len;

	trim(&s, &n);
	return !f->escapes && n == strlen(want) && strncasecmp(s, want, n) == 0;
}

/* Checks the header; the number of columns (3 or 4), or 0 with the error in im. */
static size_t csv_header(struct import *im, struct csv_reader *r)
{
	struct csv_field f[5];
	size_t n = 0;
	unsigned long line;
	enum csv_status st = csv_next(r, f, 5, &n, &line);

	if (st == CSV_END) {
		row_error(im, 1, COL_ROW, NULL,
			  "the file is empty: the first line must be the "
			  "header organization_inn,indicator_code,value[,comment]");
		return 0;
	}
	if (st != CSV_RECORD || (n != 3 && n != 4) || !header_name(&f[0], IMPORT_COLUMNS[0]) ||
	    !header_name(&f[1], IMPORT_COLUMNS[1]) || !header_name(&f[2], IMPORT_COLUMNS[2]) ||
	    (n == 4 && !header_name(&f[3], IMPORT_COLUMNS[3]))) {
		row_error(im, line, COL_ROW, NULL,
			  "the header must be organization_inn,"
			  "indicator_code,value[,comment] (delimiter , or ;)");
		return 0;
	}
	return n;
}

enum em_err import_csv_stage(struct import *im)
{
	struct csv_reader r;
	struct csv_field f[4];
	char *scratch = NULL;
	size_t scratch_cap = 0, ncols, n;
	unsigned long line;
	enum csv_status st;
	enum em_err rc = EM_OK;

	csv_init(&r, im->req->body, im->req->body_len, 0);
	if (!(ncols = csv_header(im, &r)))
		return EM_OK;
	while ((st = csv_next(&r, f, 4, &n, &line)) != CSV_END) {
		im->rows++;
		if (st == CSV_EUTF8) {
			size_t k = r.bad_field;
			row_error(im, line, k < ncols ? (enum import_col)k : COL_ROW, NULL, "%s",
				  csv_status_message(st));
		} else if (st != CSV_RECORD) {
			row_error(im, line, COL_ROW, NULL, "%s", csv_status_message(st));
		} else if (n != ncols) {
			row_error(im, line, COL_ROW, NULL, "has %zu fields; the header has %zu", n,
				  ncols);
		} else {
			/* Fields with "" are unescaped into scratch: one buffer per row. */
			const char *p[4];
			size_t len[4], need = 0;
			for (size_t i = 0; i < n; i++)
				need += f[i].escapes ? f[i].len : 0;
			if (need > scratch_cap) {
				char *ns = realloc(scratch, need);
				if (!ns) {
					rc = EM_EINTERNAL;
					break;
				}
				scratch = ns;
				scratch_cap = need;
			}
			char *o = scratch;
			for (size_t i = 0; i < n; i++) {
				if (f[i].escapes) {
					p[i] = o;
					len[i] = csv_unescape(&f[i], o);
					o += len[i];
				} else {
					p[i] = f[i].ptr;
					len[i] = f[i].len;
				}
			}
			stage_row(im, line, p[0], len[0], p[1], len[1], p[2], len[2],
				  n == 4 ? p[3] : NULL, n == 4 ? len[3] : 0);
		}
		if ((rc = import_out_flush(im, false)) != EM_OK)
			break;
	}
	free(scratch);
	return rc;
}

/* --- JSON ---------------------------------------------------------------------------- */

/* The shortest text that reads back as d. */
static void real_text(double d, char *out, size_t size)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, size, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			return;
	}
}

enum em_err import_json_stage(struct import *im)
{
	size_t i;
	json_t *row;
	enum em_err rc = EM_OK;

	json_array_foreach(im->json, i, row) {
		unsigned long n = (unsigned long)i + 1;
		const char *key;
		json_t *v;
		bool ok = true;

		im->rows++;
		if (!json_is_object(row)) {
			row_error(im, n, COL_ROW, NULL,
				  "must be an object with organization_inn, "
				  "indicator_code, value and comment");
			continue;
		}
		json_object_foreach(row, key, v) {
			bool known = false;
			for (int c = 0; c < 4; c++)
				known = known || strcmp(key, IMPORT_COLUMNS[c]) == 0;
			if (!known) {
				row_error(im, n, COL_ROW, key,
					  "is not a column of an import "
					  "(organization_inn, indicator_code, value, comment)");
				ok = false;
			}
		}
		json_t *inn = json_object_get(row, IMPORT_COLUMNS[COL_INN]);
		json_t *code = json_object_get(row, IMPORT_COLUMNS[COL_CODE]);
		json_t *value = json_object_get(row, IMPORT_COLUMNS[COL_VALUE]);
		json_t *comment = json_object_get(row, IMPORT_COLUMNS[COL_COMMENT]);
		if (!json_is_string(inn)) {
			row_error(im, n, COL_INN, NULL, inn ? "must be a string" : "is required");
			ok = false;
		}
		if (!json_is_string(code)) {
			row_error(im, n, COL_CODE, NULL, code ? "must be a string" : "is required");
			ok = false;
		}
		if (!value ||
		    !(json_is_number(value) || json_is_boolean(value) || json_is_string(value))) {
			row_error(im, n, COL_VALUE, NULL,
				  value ? "must be a number, a boolean or "
					  "a string holding a number"
					: "is required");
			ok = false;
		}
		if (comment && !json_is_string(comment) && !json_is_null(comment)) {
			row_error(im, n, COL_COMMENT, NULL, "must be a string or null");
			ok = false;
		}
		if (!ok)
			continue;
		char text[40];
		const char *vs = text;
		size_t vn;
		if (json_is_string(value)) {
			vs = json_string_value(value);
			vn = json_string_length(value);
		} else if (json_is_boolean(value)) {
			vs = json_is_true(value) ? "true" : "false";
			vn = strlen(vs);
		} else if (json_is_integer(value)) {
			snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(value));
			vn = strlen(text);
		} else {
			real_text(json_real_value(value), text, sizeof(text));
			vn = strlen(text);
		}
		stage_row(im, n, json_string_value(inn), json_string_length(inn),
			  json_string_value(code), json_string_length(code), vs, vn,
			  json_is_string(comment) ? json_string_value(comment) : NULL,
			  json_is_string(comment) ? json_string_length(comment) : 0);
		if ((rc = import_out_flush(im, false)) != EM_OK)
			break;
	}
	return rc;
}
