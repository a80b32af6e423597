/*
 * media.c — the charset parameter of a Content-Type. The dispatcher refuses
 * a body in any other charset than UTF-8 with 415 before a handler runs, so
 * handlers only check the media type itself.
 */
#include "effmon/media.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *skip_ows(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* The next ';' outside a quoted string (whose \" escapes are skipped too). */
static const char *next_semicolon(const char *p)
{
	bool quoted = false;

	for (; *p; p++) {
		if (quoted && *p == '\\' && p[1])
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == ';')
			return p;
	}
	return NULL;
}

bool media_charset(const char *ct, char *out, size_t outlen)
{
	const char *p = ct ? next_semicolon(ct) : NULL;

	while (p) {
		const char *name = skip_ows(p + 1), *value, *end;
		size_t n = strcspn(name, "=; \t");

		p = next_semicolon(name);
		if (n != 7 || strncasecmp(name, "charset", 7) != 0)
			continue;
		value = skip_ows(name + 7);
		if (*value != '=')
			continue;
		value = skip_ows(value + 1);
		if (*value == '"') {
			value++;
			end = strchr(value, '"');
			if (!end) { /* unclosed: the value stays as sent, quote and all */
				value--;
				end = value + strlen(value);
			}
		} else {
			end = value + strcspn(value, "; \t");
		}
		n = (size_t)(end - value);
		if (outlen == 0)
			return true;
		if (n >= outlen)
			n = outlen - 1;
		memcpy(out, value, n);
		out[n] = '\0';
		return true;
	}
	return false;
}

bool media_charset_is_utf8(const char *ct, char *charset, size_t charsetlen)
{
	char buf[64];

	if (!media_charset(ct, buf, sizeof(buf)))
		return true;
	if (charset && charsetlen)
		snprintf(charset, charsetlen, "%s", buf);
	return strcasecmp(buf, "utf-8") == 0;
}
