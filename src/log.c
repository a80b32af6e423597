/*
 * log.c — one line per event on stderr, written with a single write(2) so
 * that lines from worker threads never interleave. Text for people, JSON for
 * log collectors; the format is chosen once at start.
 */
#include "effmon/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum em_log_format log_format = EM_LOG_TEXT;
static enum em_log_level log_level = EM_LOG_INFO;

static const char *LEVEL_NAMES[] = {"debug", "info", "warning", "error"};

void log_set_format(enum em_log_format format)
{
	log_format = format;
}

void log_init(enum em_log_format format, const char *level)
{
	log_format = format;
	for (int i = 0; i < 4; i++)
		if (level && strcmp(level, LEVEL_NAMES[i]) == 0)
			log_level = (enum em_log_level)i;
}

static size_t timestamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
	return n;
}

/* Appends s to buf as the inside of a JSON string. */
static size_t json_escape(char *buf, size_t pos, size_t cap, const char *s)
{
	for (; *s && pos + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[pos++] = '\\';
			buf[pos++] = (char)c;
		} else if (c < 0x20) {
			pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
		} else {
			buf[pos++] = (char)c;
		}
	}
	return pos;
}

static void emit(char *line, size_t len)
{
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w; /* nowhere to report a failure to log */
}

void log_msg(enum em_log_level level, const char *request_id, const char *fmt, ...)
{
	char msg[1024], line[2048], ts[40];
	size_t n;
	va_list ap;

	if (level < log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	timestamp(ts, sizeof(ts));

	if (log_format == EM_LOG_JSON) {
		n = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",", ts,
				     LEVEL_NAMES[level]);
		if (request_id)
			n += (size_t)snprintf(line + n, sizeof(line) - n, "\"request_id\":\"%s\",",
					      request_id);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\"msg\":\"");
		n = json_escape(line, n, sizeof(line) - 3, msg);
		line[n++] = '"';
		line[n++] = '}';
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%s %s %s%s%s", ts, LEVEL_NAMES[level],
				     request_id ? "[" : "", request_id ? request_id : "",
				     request_id ? "] " : "");
		n += (size_t)snprintf(line + n, sizeof(line) - n - 1, "%s", msg);
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	emit(line, n);
}

void log_fatal(const char *fmt, ...)
{
	char msg[1024], line[2048], ts[40];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_format == EM_LOG_JSON) {
		timestamp(ts, sizeof(ts));
		n = (size_t)snprintf(line, sizeof(line),
				     "{\"ts\":\"%s\",\"level\":\"fatal\",\"msg\":\"", ts);
		n = json_escape(line, n, sizeof(line) - 3, msg);
		line[n++] = '"';
		line[n++] = '}';
	} else {
		n = (size_t)snprintf(line, sizeof(line) - 1, "effmond: %s", msg);
		if (n > sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	emit(line, n);
}

void log_access(const struct log_access_fields *a)
{
	char line[1024], ts[40], user[24] = "-";
	int n;

	if (EM_LOG_INFO < log_level)
		return;
	timestamp(ts, sizeof(ts));
	if (a->user_id > 0)
		snprintf(user, sizeof(user), "%lld", (long long)a->user_id);
	if (log_format == EM_LOG_JSON)
		n = snprintf(line, sizeof(line),
			     "{\"ts\":\"%s\",\"level\":\"info\",\"request_id\":\"%s\",\"access\":"
			     "{\"method\":\"%s\",\"route\":\"%s\",\"status\":%u,\"usec\":%ld,"
			     "\"client\":\"%s\",\"user_id\":%s}}\n",
			     ts, a->request_id, a->method, a->route, a->status, a->usec,
			     a->client[0] ? a->client : "-", a->user_id > 0 ? user : "null");
	else
		n = snprintf(line, sizeof(line), "%s info [%s] %s %s %u %ldus client=%s user=%s\n",
			     ts, a->request_id, a->method, a->route, a->status, a->usec,
			     a->client[0] ? a->client : "-", user);
	if (n > 0)
		emit(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}
