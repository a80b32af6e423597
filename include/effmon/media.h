/*
 * media.h — reading a request's Content-Type field value (RFC 9110 §8.3):
 * its charset parameter, which every body this API reads must leave at UTF-8.
 */
#ifndef EFFMON_MEDIA_H
#define EFFMON_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Copies the value of the charset parameter of ct (quotes removed, cut to
 * outlen - 1 bytes) to out and returns true; false if ct has none.
 */
bool media_charset(const char *ct, char *out, size_t outlen);

/* ct names no charset, or UTF-8 (any case). */
bool media_charset_is_utf8(const char *ct, char *charset, size_t charsetlen);

#endif
