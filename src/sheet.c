/*
 * sheet.c — writing a book of tables as CSV or XLSX for downloads. XLSX goes
 * through libxlsxwriter 1.1.4, which can only write to a named file: the
 * workbook is written to a private temporary file under $TMPDIR that is
 * unlinked as soon as it is created (reached through /proc/self/fd), read
 * back into memory and closed, so no file outlives the request.
 */
#include "effmon/sheet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "effmon/sbuf.h"

#define MIN_WIDTH 8
#define MAX_WIDTH 60
#define MAX_SHEET_NAME 31 /* characters, an Excel limit */

/* --- Building ------------------------------------------------------------------------ */

static void *grow(struct sheet_book *book, void *p, size_t n, size_t size)
{
	void *q = realloc(p, (n + 1) * size);
	if (!q) {
		book->failed = true;
		return NULL;
	}
	memset((char *)q + n * size, 0, size);
	return q;
}

struct sheet *book_add_sheet(struct sheet_book *book, const char *name)
{
	struct sheet *s = grow(book, book->sheets, book->nsheets, sizeof(*s));
	if (!s)
		return NULL;
	book->sheets = s;
	s = &book->sheets[book->nsheets++];
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

struct sheet_table *sheet_add_table(struct sheet_book *book, struct sheet *s, const char *title,
				    json_t *rows)
{
	struct sheet_table *t;

	if (!s || !(t = grow(book, s->tables, s->ntables, sizeof(*t))))
		return NULL;
	s->tables = t;
	t = &s->tables[s->ntables++];
	snprintf(t->title, sizeof(t->title), "%s", title ? title : "");
	t->rows = json_is_array(rows) ? json_incref(rows) : json_array();
	if (!t->rows)
		book->failed = true;
	return t;
}

void table_add_col(struct sheet_book *book, struct sheet_table *t, const char *key,
		   const char *title, enum sheet_kind kind)
{
	struct sheet_col *c;

	if (!t || !(c = grow(book, t->cols, t->ncols, sizeof(*c))))
		return;
	t->cols = c;
	c = &t->cols[t->ncols++];
	snprintf(c->key, sizeof(c->key), "%s", key);
	snprintf(c->title, sizeof(c->title), "%s", title);
	c->kind = kind;
}

void book_free(struct sheet_book *book)
{
	for (size_t i = 0; book && i < book->nsheets; i++) {
		struct sheet *s = &book->sheets[i];
		for (size_t j = 0; j < s->ntables; j++) {
			free(s->tables[j].cols);
			json_decref(s->tables[j].rows);
		}
		free(s->tables);
	}
	if (book) {
		free(book->sheets);
		memset(book, 0, sizeof(*book));
	}
}

/* --- Options and headers ------------------------------------------------------------- */

void csv_opts_parse(const struct em_req *req, struct em_reply *reply, struct csv_opts *o)
{
	const char *delim = req_query(req, "delimiter"), *dec = req_query(req, "decimal");

	memset(o, 0, sizeof(*o));
	o->delimiter = ',';
	o->decimal = '.';
	if (delim) {
		if (strcmp(delim, "semicolon") == 0)
			o->delimiter = ';';
		else if (strcmp(delim, "comma") != 0)
			reply_field_error(reply, "delimiter", "must be comma or semicolon");
	}
	if (dec) {
		if (strcmp(dec, "comma") == 0)
			o->decimal = ',';
		else if (strcmp(dec, "point") != 0)
			reply_field_error(reply, "decimal", "must be point or comma");
	}
}

void reply_attachment(struct em_reply *reply, const char *base, enum em_format fmt)
{
	char v[200];

	snprintf(v, sizeof(v), "attachment; filename=\"%s.%s\"", base, format_name(fmt));
	reply_header(reply, "Content-Disposition", v);
}

/* --- Cells --------------------------------------------------------------------------- */

const json_t *sheet_path(const json_t *v, const char *path)
{
	char part[64];

	while (v && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		v = json_object_get(v, part);
		path += n + (dot ? 1 : 0);
	}
	return v;
}

void sheet_format_number(double v, char dec, char *out, size_t len)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, len, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			break;
	}
	if (dec != '.') {
		char *p = strchr(out, '.');
		if (p)
			*p = dec;
	}
}

/* UTF-8 characters of s, for column widths. */
static size_t text_width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* The cell's text as CSV writes it; "" for null. */
static void cell_text(const json_t *v, char dec, char *num, size_t numlen, const char **text,
		      char **owned)
{
	*text = "";
	*owned = NULL;
	if (!v || json_is_null(v))
		return;
	if (json_is_string(v)) {
		*text = json_string_value(v);
	} else if (json_is_integer(v)) {
		snprintf(num, numlen, "%lld", (long long)json_integer_value(v));
		*text = num;
	} else if (json_is_real(v)) {
		sheet_format_number(json_real_value(v), dec, num, numlen);
		*text = num;
	} else if (json_is_boolean(v)) {
		*text = json_is_true(v) ? "да" : "нет";
	} else {
		*owned = json_dumps(v, JSON_COMPACT);
		*text = *owned ? *owned : "";
	}
}

/* --- CSV ----------------------------------------------------------------------------- */

/* Quoted when it holds the delimiter, a quote or a line break. */
static void csv_field(struct sbuf *b, const char *s, char delim)
{
	if (!strchr(s, delim) && !strpbrk(s, "\"\r\n")) {
		sb_str(b, s);
		return;
	}
	sb_str(b, "\"");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			sb_str(b, "\"");
		sb_add(b, p, 1);
	}
	sb_str(b, "\"");
}

static const char *last_segment(const char *key)
{
	const char *dot = strrchr(key, '.');
	return dot ? dot + 1 : key;
}

static void csv_table(struct sbuf *b, const struct sheet_table *t, const struct csv_opts *o)
{
	char d[2] = {o->delimiter, '\0'}, num[64];
	size_t i;
	json_t *row;

	for (size_t c = 0; c < t->ncols; c++) {
		if (c)
			sb_str(b, d);
		csv_field(b, o->key_headers ? last_segment(t->cols[c].key) : t->cols[c].title,
			  o->delimiter);
	}
	sb_str(b, "\r\n");
	json_array_foreach(t->rows, i, row) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *text;
			char *owned;
			if (c)
				sb_str(b, d);
			cell_text(sheet_path(row, t->cols[c].key), o->decimal, num, sizeof(num),
				  &text, &owned);
			csv_field(b, text, o->delimiter);
			free(owned);
		}
		sb_str(b, "\r\n");
	}
}

/* One table: header and rows. Several: each under a title line, a blank line between. */
static enum em_err csv_book(const struct sheet_book *book, const struct csv_opts *o,
			    struct em_reply *reply)
{
	struct sbuf b = {0};
	size_t ntables = 0;
	bool first = true;

	for (size_t i = 0; i < book->nsheets; i++)
		ntables += book->sheets[i].ntables;
	sb_str(&b, "\xEF\xBB\xBF");
	for (size_t i = 0; i < book->nsheets; i++)
		for (size_t j = 0; j < book->sheets[i].ntables; j++) {
			const struct sheet_table *t = &book->sheets[i].tables[j];
			if (ntables > 1) {
				char title[sizeof(book->sheets[i].name) + SHEET_TEXT + 8];
				if (!first)
					sb_str(&b, "\r\n");
				snprintf(title, sizeof(title), "%s%s%s", book->sheets[i].name,
					 j && t->title[0] ? ": " : "", j ? t->title : "");
				csv_field(&b, title, o->delimiter);
				sb_str(&b, "\r\n");
			}
			csv_table(&b, t, o);
			first = false;
		}
	return sb_reply(&b, reply, "text/csv; charset=utf-8; header=present");
}

/* --- XLSX ---------------------------------------------------------------------------- */

/* A sheet name Excel accepts: at most 31 characters, none of []:*?/\, unique. */
static void xlsx_sheet_name(const char *name, size_t index, char *out, size_t len)
{
	size_t used = 0, chars = 0;

	for (const char *p = name; *p && chars < MAX_SHEET_NAME - 4 && used + 5 < len;) {
		size_t n = 1;
		while ((p[n] & 0xC0) == 0x80)
			n++;
		if (n == 1 && strchr("[]:*?/\\'", *p))
			out[used++] = '_';
		else {
			memcpy(out + used, p, n);
			used += n;
		}
		p += n;
		chars++;
	}
	out[used] = '\0';
	if (!used)
		snprintf(out, len, "Лист %zu", index + 1);
}

struct xlsx_formats {
	lxw_format *header, *title, *fmt[SK_BOOL + 1];
};

/* Writes a table from row r on; returns the row after it. */
static lxw_row_t xlsx_table(lxw_worksheet *ws, const struct sheet_table *t, lxw_row_t r,
			    bool titled, const struct xlsx_formats *f, double *width)
{
	size_t i;
	json_t *row;

	if (titled && t->title[0])
		worksheet_write_string(ws, r++, 0, t->title, f->title);
	for (size_t c = 0; c < t->ncols; c++) {
		worksheet_write_string(ws, r, (lxw_col_t)c, t->cols[c].title, f->header);
		double w = (double)text_width(t->cols[c].title) + 2;
		if (w > width[c])
			width[c] = w;
	}
	r++;
	json_array_foreach(t->rows, i, row) {
		for (size_t c = 0; c < t->ncols; c++) {
			const json_t *v = sheet_path(row, t->cols[c].key);
			lxw_format *fmt = f->fmt[t->cols[c].kind];
			double w = 0;
			char num[64];

			if (!v || json_is_null(v))
				continue;
			if (json_is_integer(v) || json_is_real(v)) {
				double x = json_number_value(v);
				if (json_is_integer(v) && t->cols[c].kind != SK_DEC2 &&
				    t->cols[c].kind != SK_DEC4)
					fmt = f->fmt[SK_INT];
				worksheet_write_number(ws, r, (lxw_col_t)c, x, fmt);
				sheet_format_number(x, '.', num, sizeof(num));
				w = (double)strlen(num) + 3;
			} else if (json_is_boolean(v)) {
				worksheet_write_boolean(ws, r, (lxw_col_t)c, json_is_true(v), NULL);
				w = 7;
			} else if (json_is_string(v)) {
				worksheet_write_string(ws, r, (lxw_col_t)c, json_string_value(v),
						       NULL);
				w = (double)text_width(json_string_value(v)) + 2;
			} else {
				char *s = json_dumps(v, JSON_COMPACT);
				if (s) {
					worksheet_write_string(ws, r, (lxw_col_t)c, s, NULL);
					w = (double)text_width(s) + 2;
					free(s);
				}
			}
			if (w > width[c])
				width[c] = w;
		}
		r++;
	}
	return r;
}

/* Reads the whole of fd from its start into a new buffer. */
static enum em_err read_back(int fd, char **out, size_t *outlen)
{
	struct stat st;
	char *p;
	size_t got = 0;

	if (fstat(fd, &st) != 0 || st.st_size <= 0 || lseek(fd, 0, SEEK_SET) != 0 ||
	    !(p = malloc((size_t)st.st_size + 1)))
		return EM_EINTERNAL;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return EM_EINTERNAL;
		}
		got += (size_t)n;
	}
	*out = p;
	*outlen = got;
	return EM_OK;
}

/* The header, title and number formats of every sheet of wb. */
static void xlsx_formats(lxw_workbook *wb, struct xlsx_formats *f)
{
	f->header = workbook_add_format(wb);
	format_set_bold(f->header);
	format_set_text_wrap(f->header);
	format_set_align(f->header, LXW_ALIGN_VERTICAL_TOP);
	format_set_bg_color(f->header, 0xDDEBF7);
	format_set_border(f->header, LXW_BORDER_THIN);
	f->title = workbook_add_format(wb);
	format_set_bold(f->title);
	f->fmt[SK_TEXT] = NULL;
	f->fmt[SK_BOOL] = NULL;
	f->fmt[SK_INT] = workbook_add_format(wb);
	format_set_num_format(f->fmt[SK_INT], "0");
	f->fmt[SK_DEC2] = workbook_add_format(wb);
	format_set_num_format(f->fmt[SK_DEC2], "0.00");
	f->fmt[SK_DEC4] = workbook_add_format(wb);
	format_set_num_format(f->fmt[SK_DEC4], "0.0000");
	f->fmt[SK_NUM] = workbook_add_format(wb);
	format_set_num_format(f->fmt[SK_NUM], "General");
}

/* Sheet i of the book: its tables one below the other, the header row frozen,
 * each column as wide as its widest cell within bounds. False on failure. */
static bool xlsx_sheet(lxw_workbook *wb, const struct sheet_book *book, size_t i,
		       const struct xlsx_formats *f)
{
	const struct sheet *s = &book->sheets[i];
	char name[128];
	double width[256] = {0};
	size_t maxcols = 0;
	lxw_row_t r = 0;
	lxw_worksheet *ws;

	xlsx_sheet_name(s->name, i, name, sizeof(name));
	/* Two steps could shorten to one name: make them unique by position. */
	for (size_t k = 0; k < i; k++) {
		char other[128];
		xlsx_sheet_name(book->sheets[k].name, k, other, sizeof(other));
		if (strcmp(other, name) == 0) {
			snprintf(name + strlen(name), sizeof(name) - strlen(name), " %zu", i + 1);
			break;
		}
	}
	if (!(ws = workbook_add_worksheet(wb, name)))
		return false;
	for (size_t j = 0; j < s->ntables; j++) {
		if (s->tables[j].ncols > 256)
			return false;
		if (j)
			r++;
		r = xlsx_table(ws, &s->tables[j], r, j > 0, f, width);
		if (s->tables[j].ncols > maxcols)
			maxcols = s->tables[j].ncols;
	}
	worksheet_freeze_panes(ws, 1, 0);
	for (size_t c = 0; c < maxcols; c++) {
		double w = width[c];

		if (w < MIN_WIDTH)
			w = MIN_WIDTH;
		else if (w > MAX_WIDTH)
			w = MAX_WIDTH;
		worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, w, NULL);
	}
	return true;
}

static enum em_err xlsx_book(const struct sheet_book *book, struct em_reply *reply)
{
	const char *tmpdir = getenv("TMPDIR");
	char path[4096], proc[64];
	lxw_workbook_options opts = {0};
	struct xlsx_formats f;
	lxw_workbook *wb;
	enum em_err rc = EM_EINTERNAL;
	bool ok = true;
	int fd;

	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	if ((size_t)snprintf(path, sizeof(path), "%s/effmon-xlsx-XXXXXX", tmpdir) >= sizeof(path))
		return EM_EINTERNAL;
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
		return EM_EINTERNAL;
	/* Nameless from here on: nothing is left behind whatever happens next. */
	unlink(path);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	opts.tmpdir = (char *)tmpdir;
	if (!(wb = workbook_new_opt(proc, &opts)))
		goto out;
	xlsx_formats(wb, &f);
	for (size_t i = 0; i < book->nsheets && ok; i++)
		ok = xlsx_sheet(wb, book, i, &f);
	if (book->nsheets == 0)
		workbook_add_worksheet(wb, NULL);
	if (workbook_close(wb) != LXW_NO_ERROR || !ok)
		goto out;
	if ((rc = read_back(fd, &reply->text, &reply->text_len)) != EM_OK)
		goto out;
	reply->status = 200;
	reply->content_type = EM_MEDIA_XLSX;
out:
	close(fd);
	return rc;
}

enum em_err book_reply(const struct sheet_book *book, enum em_format fmt, const struct csv_opts *o,
		       struct em_reply *reply)
{
	if (book->failed)
		return EM_EINTERNAL;
	if (fmt == EM_FMT_CSV)
		return csv_book(book, o, reply);
	if (fmt == EM_FMT_XLSX)
		return xlsx_book(book, reply);
	return EM_EINTERNAL;
}

/* --- Routes that answer JSON, CSV or XLSX ------------------------------------------ */

static const enum em_format BOOK_FORMATS[] = {EM_FMT_JSON, EM_FMT_CSV, EM_FMT_XLSX};

/* The answer format and CSV options; field errors go into reply. */
enum em_err book_params(struct em_req *req, struct em_reply *reply, enum em_format *fmt,
			struct csv_opts *csv)
{
	enum em_err rc = negotiate(req, reply, BOOK_FORMATS, 3, fmt);

	reply_header(reply, "Vary", "Accept");
	if (rc == EM_OK)
		csv_opts_parse(req, reply, csv);
	return rc;
}

/* Replaces the JSON text in reply by the book fill() builds from it, as fmt. */
enum em_err book_from_json(struct em_reply *reply, enum em_format fmt, const struct csv_opts *csv,
			   const char *name, void (*fill)(struct sheet_book *, json_t *))
{
	struct sheet_book book = {0};
	json_error_t jerr;
	json_t *doc = json_loadb(reply->text, reply->text_len, 0, &jerr);
	enum em_err rc;

	if (!doc)
		return EM_EINTERNAL;
	fill(&book, doc);
	free(reply->text);
	reply->text = NULL;
	reply->text_len = 0;
	rc = book_reply(&book, fmt, csv, reply);
	book_free(&book);
	json_decref(doc);
	if (rc == EM_OK)
		reply_attachment(reply, name, fmt);
	return rc;
}
