/*
 * proxies.h — EFFMON_TRUSTED_PROXIES: the addresses whose X-Forwarded-For is
 * believed, and the client address taken from it. Addresses are 16-byte keys:
 * IPv6 as is, IPv4 as ::ffff:a.b.c.d.
 */
#ifndef EFFMON_PROXIES_H
#define EFFMON_PROXIES_H

#include <stdbool.h>
#include <stddef.h>

#include "effmon/effmon.h"

#define PROXIES_MAX 64

struct em_proxies {
	size_t n;
	struct {
		unsigned char addr[16];
		unsigned bits; /* prefix length over the 16-byte key */
	} net[PROXIES_MAX];
};

/* Parses "addr[/len],addr[/len],..." (IPv4 or IPv6, spaces around entries
 * allowed; empty: none trusted). On failure writes a one-line reason. */
enum em_err proxies_parse(const char *list, struct em_proxies *out, char *err, size_t errlen);

/* Parses one textual IPv4 or IPv6 address into a key. */
bool proxies_addr(const char *text, size_t len, unsigned char key[16]);

bool proxies_trusted(const struct em_proxies *p, const unsigned char key[16]);

/* The client address: peer itself unless peer is trusted and xff (the
 * X-Forwarded-For value, may be NULL) is set; then the rightmost entry of xff
 * that is not trusted. Walking stops at an entry that is not an address (the
 * hop to its right is the client then); if every entry is trusted, the
 * leftmost one is the client. */
void proxies_client(const struct em_proxies *p, const unsigned char peer[16], const char *xff,
		    unsigned char client[16]);

struct MHD_Connection;

/* proxies_client() over every X-Forwarded-For header of conn, in order. */
void proxies_client_conn(const struct em_proxies *p, struct MHD_Connection *conn,
			 const unsigned char peer[16], unsigned char client[16]);

#endif
