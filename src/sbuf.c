/*
 * sbuf.c — the growing text buffer (sbuf.h): doubling from 4 KiB, always
 * NUL-terminated, failure remembered rather than reported per append.
 */
#include "effmon/sbuf.h"

#include <stdlib.h>
#include <string.h>

void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->failed = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

enum em_err sb_reply(struct sbuf *b, struct em_reply *reply, const char *content_type)
{
	if (b->failed || !b->p) {
		free(b->p);
		b->p = NULL;
		return EM_EINTERNAL;
	}
	reply->status = 200;
	reply->text = b->p;
	reply->text_len = b->len;
	reply->content_type = content_type;
	b->p = NULL;
	return EM_OK;
}
