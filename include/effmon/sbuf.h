/*
 * sbuf.h — the one growing text buffer: list bodies, CSV, the report's JSON
 * and HTML. An allocation failure is remembered (failed) and every later
 * append is a no-op, so a builder checks once, at the end.
 */
#ifndef EFFMON_SBUF_H
#define EFFMON_SBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "effmon/http.h"

struct sbuf {
	char *p; /* NUL-terminated once anything was added; owned */
	size_t len, cap;
	bool failed;
};

void sb_add(struct sbuf *b, const char *s, size_t n);
void sb_str(struct sbuf *b, const char *s);

/* Hands the buffer to the reply as its 200 body (the reply owns it then);
 * EM_EINTERNAL, and the buffer freed, when an append failed or it is empty. */
enum em_err sb_reply(struct sbuf *b, struct em_reply *reply, const char *content_type);

#endif
