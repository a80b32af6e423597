/*
 * hello.c — the floor for HTTP benchmarks: libmicrohttpd with the same
 * threading as effmond (internal thread pool on epoll), answering a fixed
 * string from the second call of the access handler.
 * usage: bench-hello PORT THREADS
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **state)
{
	static int first;
	static const char BODY[] = "{\"status\":\"ok\"}";
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)data;
	if (!*state) {
		*state = &first;
		return MHD_YES;
	}
	*size = 0;
	r = MHD_create_response_from_buffer(sizeof(BODY) - 1, (void *)BODY, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	sigset_t set;
	int sig;

	if (argc != 3)
		return fprintf(stderr, "usage: %s PORT THREADS\n", argv[0]), 2;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL,
			     (uint16_t)atoi(argv[1]), NULL, NULL, answer, NULL,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)atoi(argv[2]),
			     MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END);
	if (!d)
		return fprintf(stderr, "cannot listen\n"), 1;
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
