/*
 * csv.c — the RFC 4180 reader behind bulk imports (include/effmon/csv.h).
 * One pass over the buffer, fields as pointers into it, UTF-8 checked only
 * for fields that hold a byte outside ASCII, so plain ASCII files cost a
 * comparison or four per byte. Written to be fuzzed: every read is bounded
 * by r->end and no input can make it allocate.
 */
#include "effmon/csv.h"
#include "effmon/validate.h"

#include <string.h>

static const char BOM[3] = {'\xEF', '\xBB', '\xBF'};

static size_t bom_len(const char *buf, size_t len)
{
	return len >= 3 && memcmp(buf, BOM, 3) == 0 ? 3 : 0;
}

char csv_detect_delimiter(const char *buf, size_t len)
{
	size_t commas = 0, semicolons = 0;
	bool quoted = false;

	for (size_t i = bom_len(buf, len); i < len; i++) {
		char c = buf[i];
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == '\n' || c == '\r'))
			break;
		else if (!quoted && c == ',')
			commas++;
		else if (!quoted && c == ';')
			semicolons++;
	}
	return semicolons > commas ? ';' : ',';
}

void csv_init(struct csv_reader *r, const char *buf, size_t len, char delim)
{
	size_t skip = bom_len(buf, len);

	r->p = buf + skip;
	r->end = buf + len;
	r->delim = delim ? delim : csv_detect_delimiter(buf, len);
	r->line = 1;
	r->bad_field = 0;
}

bool csv_utf8_valid(const char *s, size_t n)
{
	return utf8_valid(s, n);
}

/* Counts line ends in [p, q) (CRLF, LF or a lone CR each count once) and
 * notes a byte that needs the UTF-8 check. */
static unsigned long scan_span(const char *p, const char *q, const char *end, bool *check)
{
	unsigned long lines = 0;

	for (; p < q; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\n')
			lines++;
		else if (c == '\r' && (p + 1 >= end || p[1] != '\n'))
			lines++;
		else if (c >= 0x80 || c == 0)
			*check = true;
	}
	return lines;
}

/* Moves past the line end at p, if any; true when there was one. */
static bool eat_line_end(struct csv_reader *r, const char **pp)
{
	const char *p = *pp;

	if (p < r->end && *p == '\r') {
		p++;
		if (p < r->end && *p == '\n')
			p++;
	} else if (p < r->end && *p == '\n') {
		p++;
	} else {
		return false;
	}
	r->line++;
	*pp = p;
	return true;
}

enum csv_status csv_next(struct csv_reader *r, struct csv_field *fields, size_t max,
			 size_t *nfields, unsigned long *line)
{
	const char *p = r->p, *end = r->end;
	const char delim = r->delim;
	enum csv_status st = CSV_RECORD;
	size_t n = 0;

	*nfields = 0;
	while (p < end && eat_line_end(r, &p))
		; /* empty lines */
	*line = r->line;
	if (p >= end) {
		r->p = p;
		return CSV_END;
	}
	for (;;) {
		struct csv_field f = {0};
		bool check = false;

		if (p < end && *p == '"') {
			f.quoted = true;
			f.ptr = ++p;
			for (;;) {
				const char *q = memchr(p, '"', (size_t)(end - p));
				if (!q) {
					r->line += scan_span(p, end, end, &check);
					r->p = end;
					*nfields = n + 1;
					return CSV_EQUOTE;
				}
				r->line += scan_span(p, q, end, &check);
				if (q + 1 < end && q[1] == '"') {
					f.escapes = true;
					p = q + 2;
					continue;
				}
				f.len = (size_t)(q - f.ptr);
				p = q + 1;
				break;
			}
			if (p < end && *p != delim && *p != '\n' && *p != '\r') {
				/* "ab"c: nothing sensible to read; skip to the line's end. */
				while (p < end && *p != '\n' && *p != '\r')
					p++;
				if (st == CSV_RECORD)
					st = CSV_EAFTERQUOTE;
			}
		} else {
			f.ptr = p;
			while (p < end) {
				unsigned char c = (unsigned char)*p;
				if (c == (unsigned char)delim || c == '\n' || c == '\r')
					break;
				if (c >= 0x80 || c == 0)
					check = true;
				p++;
			}
			f.len = (size_t)(p - f.ptr);
		}
		if (check && st == CSV_RECORD && !csv_utf8_valid(f.ptr, f.len)) {
			st = CSV_EUTF8;
			r->bad_field = n;
		}
		if (n < max)
			fields[n] = f;
		n++;
		if (p < end && *p == delim) {
			p++;
			continue;
		}
		eat_line_end(r, &p);
		break;
	}
	r->p = p;
	*nfields = n;
	return st;
}

size_t csv_unescape(const struct csv_field *f, char *dst)
{
	size_t o = 0;

	if (!f->escapes) {
		memcpy(dst, f->ptr, f->len);
		return f->len;
	}
	for (size_t i = 0; i < f->len; i++) {
		dst[o++] = f->ptr[i];
		if (f->ptr[i] == '"' && i + 1 < f->len && f->ptr[i + 1] == '"')
			i++;
	}
	return o;
}

const char *csv_status_message(enum csv_status st)
{
	switch (st) {
	case CSV_RECORD:
	case CSV_END: return "no error";
	case CSV_EQUOTE: return "a quoted field is not closed before the end of the file";
	case CSV_EAFTERQUOTE:
		return "a closing quote is followed by more than a delimiter or a line end";
	case CSV_EUTF8: return "is not valid UTF-8 text";
	}
	return "unknown error";
}
