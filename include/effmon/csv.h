/*
 * csv.h — a small RFC 4180 reader over a buffer in memory: records of
 * fields that point into the buffer (no allocation), "" inside quotes,
 * quoted line breaks, CRLF, LF or CR line ends, an optional UTF-8 BOM, and
 * ',' or ';' as the delimiter. Every field is checked to be UTF-8. Errors
 * leave the reader at the next record, so a caller can report them all.
 */
#ifndef EFFMON_CSV_H
#define EFFMON_CSV_H

#include <stdbool.h>
#include <stddef.h>

enum csv_status {
	CSV_RECORD,      /* a record was read */
	CSV_END,         /* no more records */
	CSV_EQUOTE,      /* a quoted field is not closed before the end of input (ends it) */
	CSV_EAFTERQUOTE, /* a closing quote is followed by more than a delimiter or a line end */
	CSV_EUTF8,       /* a field is not valid UTF-8 or holds a NUL byte */
};

struct csv_field {
	const char *ptr; /* into the buffer; for a quoted field, the text inside the quotes */
	size_t len;
	bool quoted;
	bool escapes; /* holds doubled quotes "" that read as one: see csv_unescape */
};

struct csv_reader {
	const char *p, *end;
	char delim;
	unsigned long line; /* the physical line at p, 1-based */
	size_t bad_field;   /* after CSV_EUTF8: the index of the first bad field */
};

/* Starts reading buf (not NUL-terminated; not copied): skips a UTF-8 BOM and
 * uses delim, or the delimiter csv_detect_delimiter finds when delim is 0. */
void csv_init(struct csv_reader *r, const char *buf, size_t len, char delim);

/* ';' when the first line holds more semicolons than commas outside quotes,
 * else ','. buf may start with a BOM. */
char csv_detect_delimiter(const char *buf, size_t len);

/*
 * Reads the next record: fills up to max fields, sets *nfields to the number
 * of fields the record has (it may be more than max) and *line to the
 * physical line the record starts on. Empty lines are skipped. After an error
 * the reader stands at the next record, except after CSV_EQUOTE, which
 * consumes the rest of the input; *line and *nfields are set for errors too.
 */
enum csv_status csv_next(struct csv_reader *r, struct csv_field *fields, size_t max,
			 size_t *nfields, unsigned long *line);

/* Copies the field's text to dst (room for f->len bytes), reading "" as ";
 * returns the length written. No NUL is added. */
size_t csv_unescape(const struct csv_field *f, char *dst);

/* True when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF) without a NUL byte. */
bool csv_utf8_valid(const char *s, size_t n);

/* A sentence for an error status ("a quoted field is not closed"). */
const char *csv_status_message(enum csv_status st);

#endif
