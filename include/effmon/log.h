/*
 * log.h — levelled logging to stderr, as text or JSON lines. Lines about a
 * request carry its request id. Never pass secrets, tokens or passwords.
 */
#ifndef EFFMON_LOG_H
#define EFFMON_LOG_H

#include <stdint.h>

#include "effmon/config.h"

enum em_log_level { EM_LOG_DEBUG = 0, EM_LOG_INFO, EM_LOG_WARNING, EM_LOG_ERROR };

void log_init(enum em_log_format format, const char *level);

void log_msg(enum em_log_level level, const char *request_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets the format alone: fatal start-up errors are written before log_init. */
void log_set_format(enum em_log_format format);

/* A fatal error before exit: "effmond: msg" as text, or one JSON line. */
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The one access line per request. route is the pattern, never the raw path;
 * client the peer address; user_id 0 when no one is authenticated. Never a token. */
struct log_access_fields {
	const char *method, *route, *request_id;
	unsigned status;
	long usec;
	char client[64];
	int64_t user_id;
};
void log_access(const struct log_access_fields *a);

#define log_debug(...) log_msg(EM_LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_msg(EM_LOG_INFO, NULL, __VA_ARGS__)
#define log_warning(...) log_msg(EM_LOG_WARNING, NULL, __VA_ARGS__)
#define log_error(...) log_msg(EM_LOG_ERROR, NULL, __VA_ARGS__)

#endif
