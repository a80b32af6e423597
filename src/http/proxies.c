/*
 * proxies.c — which peers may tell the client's address (X-Forwarded-For),
 * and the address they tell. Used by the per-address login cap.
 */
#include "effmon/proxies.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>

bool proxies_addr(const char *text, size_t len, unsigned char key[16])
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in_addr a4;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(key, 0, 16);
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, buf, key) == 1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Trims spaces and tabs around [*s, *e). */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

enum em_err proxies_parse(const char *list, struct em_proxies *out, char *err, size_t errlen)
{
	const char *p = list ? list : "", *pe = p + strlen(p);

	memset(out, 0, sizeof(*out));
	trim(&p, &pe);
	if (p == pe)
		return EM_OK;
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *s = p, *e = comma ? comma : p + strlen(p);
		const char *slash;
		unsigned bits = 128, maxbits = 128;
		int len;

		trim(&s, &e);
		len = (int)(e - s);
		if (s == e) {
			snprintf(err, errlen, "EFFMON_TRUSTED_PROXIES: an empty entry in \"%s\"",
				 list);
			return EM_EINVAL;
		}
		if (out->n == PROXIES_MAX) {
			snprintf(err, errlen, "EFFMON_TRUSTED_PROXIES: more than %d entries",
				 PROXIES_MAX);
			return EM_EINVAL;
		}
		slash = memchr(s, '/', (size_t)(e - s));
		if (!proxies_addr(s, (size_t)((slash ? slash : e) - s), out->net[out->n].addr)) {
			snprintf(err, errlen,
				 "EFFMON_TRUSTED_PROXIES: \"%.*s\" is not an IPv4 or IPv6 address "
				 "(address or address/prefix, comma-separated)",
				 len, s);
			return EM_EINVAL;
		}
		if (memchr(s, ':', (size_t)((slash ? slash : e) - s)) == NULL)
			maxbits = 32;
		if (slash) {
			const char *d = slash + 1;
			unsigned v = 0;
			if (d == e || e - d > 3) {
				snprintf(err, errlen,
					 "EFFMON_TRUSTED_PROXIES: \"%.*s\" has a bad prefix length",
					 len, s);
				return EM_EINVAL;
			}
			for (; d < e; d++) {
				if (*d < '0' || *d > '9') {
					snprintf(
						err, errlen,
						"EFFMON_TRUSTED_PROXIES: \"%.*s\" has a bad prefix length",
						len, s);
					return EM_EINVAL;
				}
				v = v * 10 + (unsigned)(*d - '0');
			}
			if (v > maxbits) {
				snprintf(
					err, errlen,
					"EFFMON_TRUSTED_PROXIES: \"%.*s\": the prefix is longer than %u bits",
					len, s, maxbits);
				return EM_EINVAL;
			}
			bits = maxbits == 32 ? 96 + v : v;
		}
		out->net[out->n].bits = bits;
		out->n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return EM_OK;
}

static bool in_net(const unsigned char net[16], unsigned bits, const unsigned char key[16])
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(net, key, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (net[full] & mask) == (key[full] & mask);
}

bool proxies_trusted(const struct em_proxies *p, const unsigned char key[16])
{
	for (size_t i = 0; p && i < p->n; i++)
		if (in_net(p->net[i].addr, p->net[i].bits, key))
			return true;
	return false;
}

/* Walks one X-Forwarded-For value from the right; false once the client is found. */
static bool walk(const struct em_proxies *p, const char *xff, unsigned char client[16])
{
	const char *end = xff + strlen(xff);

	while (end > xff) {
		const char *start = end, *s, *e = end;
		unsigned char key[16];

		while (start > xff && start[-1] != ',')
			start--;
		s = start;
		trim(&s, &e);
		if (!proxies_addr(s, (size_t)(e - s), key))
			return false; /* not an address: the hop to its right is the client */
		memcpy(client, key, 16);
		if (!proxies_trusted(p, key))
			return false;
		end = start > xff ? start - 1 : xff;
	}
	return true;
}

void proxies_client(const struct em_proxies *p, const unsigned char peer[16], const char *xff,
		    unsigned char client[16])
{
	memcpy(client, peer, 16);
	if (xff && proxies_trusted(p, peer))
		walk(p, xff, client);
}

#define XFF_MAX 16

struct xff_list {
	const char *v[XFF_MAX];
	size_t n;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	struct xff_list *l = cls;

	(void)kind;
	if (value && strcasecmp(key, "X-Forwarded-For") == 0) {
		if (l->n == XFF_MAX) { /* keep the last ones: the walk starts from the right */
			memmove(l->v, l->v + 1, (XFF_MAX - 1) * sizeof(l->v[0]));
			l->n--;
		}
		l->v[l->n++] = value;
	}
	return MHD_YES;
}

void proxies_client_conn(const struct em_proxies *p, struct MHD_Connection *conn,
			 const unsigned char peer[16], unsigned char client[16])
{
	struct xff_list l = {.n = 0};

	memcpy(client, peer, 16);
	if (!proxies_trusted(p, peer))
		return;
	/* Several X-Forwarded-For headers read as one list joined in their order. */
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect, &l);
	while (l.n > 0 && walk(p, l.v[l.n - 1], client))
		l.n--;
}
