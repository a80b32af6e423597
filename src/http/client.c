/*
 * client.c — what the server knows of a request's client: its address (the
 * TCP peer's, or what a trusted proxy says) and the failed logins counted per
 * address, so that a spray of different logins from one address gets 429
 * before more passwords are hashed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "effmon/proxies.h"
#include "server_int.h"

static bool peer_key(struct MHD_Connection *conn, unsigned char key[16])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	memset(key, 0, 16);
	if (!ci || !ci->client_addr)
		return false;
	if (ci->client_addr->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, 4);
		return true;
	}
	if (ci->client_addr->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, 16);
		return true;
	}
	return false;
}

/* The client's address: the TCP peer's, or what a trusted proxy says (proxies.c). */
static bool client_key(struct em_server *s, struct MHD_Connection *conn, unsigned char key[16])
{
	unsigned char peer[16];

	if (!peer_key(conn, peer))
		return false;
	proxies_client_conn(&s->cfg->proxies, conn, peer, key);
	return true;
}

void server_client_address(struct em_server *s, struct MHD_Connection *conn, char *out,
			   size_t outlen)
{
	static const unsigned char V4_MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char key[16];
	bool v4;

	snprintf(out, outlen, "-");
	if (!client_key(s, conn, key))
		return;
	v4 = memcmp(key, V4_MAPPED, sizeof(V4_MAPPED)) == 0;
	if (!inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? key + 12 : key, out, (socklen_t)outlen))
		snprintf(out, outlen, "-");
}

static time_t mono_seconds(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec;
}

/* The slot of key; with add, a free, expired or else the oldest slot of its
 * probe range is taken over. Called with addr_lock held. */
static struct addr_slot *addr_slot(struct em_server *s, const unsigned char key[16], time_t now,
				   bool add)
{
	uint32_t h = 2166136261u;
	struct addr_slot *victim = NULL;

	for (int i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	for (uint32_t i = 0; i < ADDR_PROBE; i++) {
		struct addr_slot *a = &s->addrs[(h + i) % ADDR_SLOTS];
		if (a->used && memcmp(a->addr, key, 16) == 0)
			return a;
		if (!victim || !a->used || (victim->used && a->since < victim->since))
			victim = a;
	}
	if (!add)
		return NULL;
	memcpy(victim->addr, key, 16);
	victim->used = true;
	victim->since = now;
	victim->failures = 0;
	return victim;
}

long server_login_wait(struct em_server *s, struct MHD_Connection *conn)
{
	unsigned char key[16];
	time_t now = mono_seconds();
	long wait = 0;
	struct addr_slot *a;

	if (s->cfg->login_ip_max_failures <= 0 || !client_key(s, conn, key))
		return 0;
	pthread_mutex_lock(&s->addr_lock);
	a = addr_slot(s, key, now, false);
	if (a && now - a->since < s->cfg->login_lock_seconds &&
	    a->failures >= s->cfg->login_ip_max_failures)
		wait = (long)(s->cfg->login_lock_seconds - (now - a->since));
	pthread_mutex_unlock(&s->addr_lock);
	return wait;
}

void server_login_failed(struct em_server *s, struct MHD_Connection *conn)
{
	unsigned char key[16];
	time_t now = mono_seconds();
	struct addr_slot *a;

	if (s->cfg->login_ip_max_failures <= 0 || !client_key(s, conn, key))
		return;
	pthread_mutex_lock(&s->addr_lock);
	a = addr_slot(s, key, now, true);
	if (now - a->since >= s->cfg->login_lock_seconds) {
		a->since = now;
		a->failures = 0;
	}
	a->failures++;
	pthread_mutex_unlock(&s->addr_lock);
}
