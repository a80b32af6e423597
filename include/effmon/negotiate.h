/*
 * negotiate.h — choosing a response's media type: the format= query
 * parameter first (for links), then Accept with q-values (RFC 9110 §12.5.1),
 * among the types a route can give. One place, used by every route that
 * offers more than JSON, and by the dispatcher for the JSON-only routes.
 */
#ifndef EFFMON_NEGOTIATE_H
#define EFFMON_NEGOTIATE_H

#include <stddef.h>

#include "effmon/http.h"

enum em_format { EM_FMT_JSON, EM_FMT_CSV, EM_FMT_XLSX, EM_FMT_HTML, EM_FMT_COUNT };

#define EM_MEDIA_XLSX "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/* "application/json", "text/csv", ... */
const char *format_media_type(enum em_format f);
/* "json", "csv", "xlsx", "html": the format= values. */
const char *format_name(enum em_format f);

/*
 * The index in offered[0..n) of the type the Accept value prefers: the
 * highest q of the most specific range matching each type (exact, type/ *,
 * * / *), ties going to the earlier offered type. NULL or an empty Accept gives
 * 0; -1 when nothing offered is acceptable (q=0 or not named).
 */
int negotiate_accept(const char *accept, const enum em_format *offered, size_t n);

/*
 * The route's answer format for req: format= when given (400 naming the
 * parameter for a value the route does not offer), else Accept (406 naming
 * the offered types when none is acceptable). offered[0] is the default.
 */
enum em_err negotiate(const struct em_req *req, struct em_reply *reply,
		      const enum em_format *offered, size_t n, enum em_format *out);

#endif
