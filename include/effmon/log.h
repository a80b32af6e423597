/*
 * log.h — levelled logging to stderr, as text or JSON lines. Lines about a
 * request carry its request id. Never pass secrets, tokens or passwords.
 */
#ifndef EFFMON_LOG_H
#define EFFMON_LOG_H

#include "effmon/config.h"

enum em_log_level { EM_LOG_DEBUG = 0, EM_LOG_INFO, EM_LOG_WARNING, EM_LOG_ERROR };

void log_init(enum em_log_format format, const char *level);

void log_msg(enum em_log_level level, const char *request_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The one access line per request. */
void log_access(const char *method, const char *route, unsigned status, long usec,
		const char *request_id);

#define log_debug(...) log_msg(EM_LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_msg(EM_LOG_INFO, NULL, __VA_ARGS__)
#define log_warning(...) log_msg(EM_LOG_WARNING, NULL, __VA_ARGS__)
#define log_error(...) log_msg(EM_LOG_ERROR, NULL, __VA_ARGS__)

#endif
