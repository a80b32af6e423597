/*
 * effmon.h — the enums every module shares: error codes and roles.
 * Functions across the daemon return enum em_err; exactly one table
 * (src/http/reply.c) turns it into an HTTP status and a problem+json body.
 */
#ifndef EFFMON_EFFMON_H
#define EFFMON_EFFMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EFFMON_VERSION "0.1.0"

enum em_err {
	EM_OK = 0,
	EM_EBADREQ,        /* malformed request: framing, JSON syntax, body shape */
	EM_EINVAL,         /* validation failed: field-level errors attached */
	EM_EUNAUTH,        /* no or invalid credentials */
	EM_EFORBIDDEN,     /* authenticated, but the role may not */
	EM_ENOTFOUND,      /* no such object, or outside the caller's scope */
	EM_EMETHOD,        /* path exists, method does not */
	EM_ECONFLICT,      /* state or uniqueness conflict */
	EM_EPRECOND,       /* If-Match does not match the current version */
	EM_ETOOLARGE,      /* body over the configured cap */
	EM_EMEDIATYPE,     /* body is not application/json */
	EM_EUNPROCESSABLE, /* well-formed but cannot be applied (idempotency key reuse) */
	EM_EPRECONDREQ,    /* If-Match required */
	EM_ERATELIMIT,     /* too many attempts */
	EM_ENOTACCEPTABLE, /* no media type the route gives is acceptable (Accept) */
	EM_EINTERNAL,      /* a bug or an unexpected library failure */
	EM_EDB,            /* an unexpected database error */
	EM_EUNAVAILABLE,   /* database unreachable or overloaded: retry later */
	EM_ERETRY,         /* serialization failure: the transaction is retried */
	EM_ERR_COUNT
};

/* Roles are bits so that a route can allow a set of them. */
enum em_role {
	EM_ROLE_NONE = 0,
	EM_ROLE_ADMIN = 1 << 0,
	EM_ROLE_REGIONAL = 1 << 1,
	EM_ROLE_MUNICIPAL = 1 << 2,
	EM_ROLE_HEAD = 1 << 3,
	EM_ROLE_EXPERT = 1 << 4,
	EM_ROLE_PORTAL = 1 << 5,
};

#define EM_ROLES_ALL                                                                            \
	(EM_ROLE_ADMIN | EM_ROLE_REGIONAL | EM_ROLE_MUNICIPAL | EM_ROLE_HEAD | EM_ROLE_EXPERT | \
	 EM_ROLE_PORTAL)
#define EM_ROLES_PUBLIC 0 /* a route with no roles needs no token */

const char *em_role_name(enum em_role role);
enum em_role em_role_parse(const char *name); /* EM_ROLE_NONE if unknown */
const char *em_err_name(enum em_err err);

#endif
