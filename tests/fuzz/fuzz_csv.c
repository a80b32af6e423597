/*
 * fuzz_csv.c — an import file through the CSV reader of src/monitoring/csv.c
 * until its end. The first byte picks the delimiter (detected, ',' or ';'),
 * the rest is the file. Properties: the reader always moves forward and
 * ends; every field lies inside the buffer and holds no bare delimiter, line
 * end or quote; a record's fields are UTF-8 without NUL; unescaping only
 * drops the doubled quotes; record lines never go back, and at the end the
 * reader has counted every line end of the file; csv_utf8_valid agrees with
 * an independent decoder.
 */
#include <string.h>

#include "effmon/csv.h"
#include "fuzz.h"

#define MAX_FIELDS 8

/* An independent strict UTF-8 check: decode, then reject overlong forms,
 * surrogates, code points past U+10FFFF and NUL. */
static bool utf8_reference(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i], cp, len;
		if (c < 0x80) {
			if (c == 0)
				return false;
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0)
			len = 2, cp = c & 0x1F;
		else if ((c & 0xF0) == 0xE0)
			len = 3, cp = c & 0x0F;
		else if ((c & 0xF8) == 0xF0)
			len = 4, cp = c & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (unsigned k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return false;
		i += len;
	}
	return true;
}

/* Line ends as the reader counts them: CRLF, LF or a lone CR. */
static unsigned long line_ends(const char *p, const char *end)
{
	unsigned long n = 0;
	for (; p < end; p++)
		if (*p == '\n' || (*p == '\r' && (p + 1 >= end || p[1] != '\n')))
			n++;
	return n;
}

static void check_field(const struct csv_field *f, const char *buf, size_t size, char delim,
			bool record)
{
	char *copy;
	size_t n, quotes = 0;

	FUZZ_CHECK(f->ptr >= buf && f->len <= size && f->ptr + f->len <= buf + size);
	if (f->quoted) {
		for (size_t i = 0; i < f->len; i++)
			if (f->ptr[i] == '"') {
				/* Inside quotes a quote only comes doubled. */
				FUZZ_CHECK(f->escapes && i + 1 < f->len && f->ptr[i + 1] == '"');
				quotes++;
				i++;
			}
	} else {
		FUZZ_CHECK(!f->escapes);
		for (size_t i = 0; i < f->len; i++)
			FUZZ_CHECK(f->ptr[i] != delim && f->ptr[i] != '\n' && f->ptr[i] != '\r');
	}
	if (record)
		FUZZ_CHECK(csv_utf8_valid(f->ptr, f->len));
	if (!(copy = malloc(f->len + 1)))
		return;
	n = csv_unescape(f, copy);
	FUZZ_CHECK(n == f->len - quotes);
	if (!f->escapes)
		FUZZ_CHECK(memcmp(copy, f->ptr, f->len) == 0);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char DELIMS[] = {0, ',', ';'};
	struct csv_field *fields;
	struct csv_reader r;
	const char *buf = (const char *)data + 1;
	unsigned long line, last_line = 0;
	size_t nfields, records = 0, bom;
	enum csv_status st;
	char delim;

	if (size < 1)
		return 0;
	size--;
	FUZZ_CHECK(csv_utf8_valid(buf, size) == utf8_reference((const unsigned char *)buf, size));
	delim = csv_detect_delimiter(buf, size);
	FUZZ_CHECK(delim == ',' || delim == ';');
	if (!(fields = malloc(MAX_FIELDS * sizeof(*fields))))
		return 0;
	csv_init(&r, buf, size, DELIMS[data[0] % 3]);
	FUZZ_CHECK(r.delim == (DELIMS[data[0] % 3] ? DELIMS[data[0] % 3] : delim));
	bom = (size_t)(r.p - buf);
	FUZZ_CHECK(bom == 0 || bom == 3);
	for (;;) {
		const char *before = r.p;
		st = csv_next(&r, fields, MAX_FIELDS, &nfields, &line);
		FUZZ_CHECK(r.p >= before && r.p <= buf + size);
		FUZZ_CHECK(csv_status_message(st) != NULL);
		if (st == CSV_END) {
			FUZZ_CHECK(r.p == buf + size && nfields == 0);
			break;
		}
		/* Anything but the end consumes input, so the loop ends. */
		FUZZ_CHECK(r.p > before && ++records <= size);
		FUZZ_CHECK(nfields >= 1 && line >= 1 && line >= last_line && line <= r.line);
		last_line = line;
		if (st == CSV_EUTF8)
			FUZZ_CHECK(r.bad_field < nfields);
		if (st != CSV_EQUOTE)
			for (size_t i = 0; i < nfields && i < MAX_FIELDS; i++)
				check_field(&fields[i], buf, size, r.delim, st == CSV_RECORD);
		if (st == CSV_EQUOTE)
			FUZZ_CHECK(r.p == buf + size);
	}
	FUZZ_CHECK(r.line == 1 + line_ends(buf + bom, buf + size));
	free(fields);
	return 0;
}
