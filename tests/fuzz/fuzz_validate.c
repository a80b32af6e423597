/*
 * fuzz_validate.c — a request body against the field table and check() hook
 * of one resource, as resource_create and resource_update run them: every
 * descriptor exported by registry.h, monitoring.h and cycle.h. The first byte
 * picks the resource (low seven bits, modulo their number) and update (high
 * bit) or create; the rest is the body, parsed as the server parses it.
 * Field tables that handlers keep to themselves are not reached. Properties: a valid verdict leaves no
 * error, names only known fields and has every required one; an invalid
 * verdict names at least one field; the verdict does not change on a second
 * run; the problem document of the errors serialises.
 */
#include <string.h>

#include "effmon/cycle.h"
#include "effmon/monitoring.h"
#include "effmon/registry.h"
#include "fuzz.h"

static const struct em_resource *const RESOURCES[] = {
	&REGIONS,     &MUNICIPALITIES, &ORGANIZATIONS, &DIRECTIONS, &COMPETENCIES,
	&MANAGERS,    &RESERVE,        &USERS,         &CAMPAIGNS,  &INDICATORS,
	&SUBMISSIONS, &ROADMAPS,       &MILESTONES,
};
#define NRESOURCES (sizeof(RESOURCES) / sizeof(RESOURCES[0]))

static size_t nerrors(const struct em_reply *r)
{
	return r->errors ? json_array_size(r->errors) : 0;
}

static const struct field *find(const struct field *fields, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct em_resource *r;
	const struct field *fields;
	struct em_reply reply, again;
	json_t *body, *v, *problem;
	const char *key;
	size_t n, i;
	bool creating, ok;
	char *text;

	if (size < 1)
		return 0;
	r = RESOURCES[(data[0] & 0x7f) % NRESOURCES];
	creating = !(data[0] & 0x80);
	fields = creating ? r->create_fields : r->update_fields;
	n = creating ? r->ncreate : r->nupdate;
	if (!(body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL)))
		return 0;

	reply_init(&reply);
	ok = validate_object(body, fields, n, &reply);
	FUZZ_CHECK(ok == (nerrors(&reply) == 0));
	if (ok) {
		FUZZ_CHECK(json_is_object(body));
		json_object_foreach(body, key, v)
			FUZZ_CHECK(find(fields, n, key) != NULL);
		for (i = 0; i < n; i++)
			FUZZ_CHECK(!fields[i].required || json_object_get(body, fields[i].name));
	}
	json_array_foreach(reply.errors, i, v) {
		FUZZ_CHECK(json_is_string(json_object_get(v, "field")));
		FUZZ_CHECK(json_is_string(json_object_get(v, "message")));
	}

	reply_init(&again);
	FUZZ_CHECK(validate_object(body, fields, n, &again) == ok);
	FUZZ_CHECK(nerrors(&again) == nerrors(&reply));
	reply_clear(&again);

	/* The hook runs whatever the table said, as in resource_create. */
	if (r->check)
		r->check(body, creating, &reply);
	if (reply.errors) {
		reply_fail(&reply, EM_EINVAL, "the %s is not valid", r->entity);
		problem = reply_problem(&reply, EM_EINVAL, "fuzz-request");
		FUZZ_CHECK(problem != NULL);
		text = json_dumps(problem, JSON_COMPACT);
		FUZZ_CHECK(text != NULL);
		free(text);
		json_decref(problem);
	} else {
		/* What the create statement receives. */
		text = json_dumps(body, JSON_COMPACT);
		FUZZ_CHECK(text != NULL);
		free(text);
	}
	reply_clear(&reply);
	json_decref(body);
	return 0;
}
