/*
 * simulation_checks.c — the checks of a what-if request against its campaign:
 * known members, indicators named by code once each, weights per kind, bounds
 * by the indicator's type (compared as SQL will read them), thresholds rising
 * strictly, values_from naming an earlier campaign of the region.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "effmon/registry.h"
#include "simulation.h"

static bool is_one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(*set, s) == 0)
			return true;
	return false;
}

static void check_members(const json_t *obj, const char *prefix, const char *const *known,
			  struct em_reply *reply)
{
	const char *key;
	json_t *v;
	char name[160];

	json_object_foreach((json_t *)obj, key, v) {
		(void)v;
		if (!is_one_of(key, known)) {
			snprintf(name, sizeof(name), "%s%s", prefix, key);
			reply_field_error(reply, name, "unknown field");
		}
	}
}

/* weights: {kind: 0..1000}; merged over the indicator's own (0 = not applicable). */
static void check_weights(const json_t *w, const char *prefix, struct em_reply *reply)
{
	const char *key;
	json_t *v;
	char name[160];

	if (!json_is_object(w)) {
		snprintf(name, sizeof(name), "%sweights", prefix);
		reply_field_error(reply, name,
				  "must be an object {kind: weight}, e.g. {\"school\": 2}");
		return;
	}
	json_object_foreach((json_t *)w, key, v) {
		snprintf(name, sizeof(name), "%sweights.%s", prefix, key);
		if (!is_one_of(key, EM_ORG_KINDS))
			reply_field_error(reply, name,
					  "is not a kind of organization (school, "
					  "preschool, additional, vocational, special)");
		else if (!json_is_number(v))
			reply_field_error(reply, name, "must be a number");
		else if (json_number_value(v) < 0 || json_number_value(v) > 1000)
			reply_field_error(reply, name, "must be between 0 and 1000");
	}
}

/* A number as SQL will read it: SIM_JSON_FLAGS writes 15 significant digits, so the
 * checks compare what is sent (1.0000000000000002 goes as 1), never the raw double. */
static double as_sent(const json_t *v)
{
	char text[40];

	snprintf(text, sizeof(text), "%.15g", json_number_value(v));
	return strtod(text, NULL);
}

/* A bound as the change leaves it: the given number, else the catalog's; NAN if none. */
static double merged_bound(const json_t *item, const json_t *ind, const char *name)
{
	const json_t *v = json_object_get(item, name);
	if (!v)
		v = json_object_get(ind, name);
	return json_is_number(v) ? as_sent(v) : NAN;
}

/* min_value/max_value: numbers, not for booleans, percent within 0..100,
 * integer bounds whole, and min < max once merged with the catalog's. */
static void check_bounds(const json_t *item, const json_t *ind, const char *prefix,
			 struct em_reply *reply)
{
	static const char *const NAMES[2] = {"min_value", "max_value"};
	const char *type = json_string_value(json_object_get(ind, "value_type"));
	bool ok = true;
	char name[160];

	for (int i = 0; i < 2; i++) {
		const json_t *v = json_object_get(item, NAMES[i]);
		double x = json_number_value(v);
		if (!v)
			continue;
		snprintf(name, sizeof(name), "%s%s", prefix, NAMES[i]);
		ok = false;
		if (strcmp(type, "boolean") == 0)
			reply_field_error(reply, name, "a boolean indicator has no bounds");
		else if (!json_is_number(v))
			reply_field_error(reply, name, "must be a number");
		else if (x < -SIM_BOUND_LIMIT || x > SIM_BOUND_LIMIT)
			reply_field_error(reply, name, "must be within -1e12..1e12");
		else if (strcmp(type, "percent") == 0 && (x < 0 || x > 100))
			reply_field_error(reply, name, "must be within 0..100 for a percent");
		else if (strcmp(type, "integer") == 0 && x != floor(x))
			reply_field_error(reply, name,
					  "must be a whole number for an integer indicator");
		else
			ok = true;
		if (!ok)
			return;
	}
	if (strcmp(type, "boolean") == 0 ||
	    (!json_object_get(item, "min_value") && !json_object_get(item, "max_value")))
		return;
	if (!(merged_bound(item, ind, "min_value") < merged_bound(item, ind, "max_value"))) {
		snprintf(name, sizeof(name), "%smax_value", prefix);
		reply_field_error(reply, name,
				  "must be greater than min_value (the catalog's "
				  "where not given)");
	}
}

/* One change: {code, exclude?, weights?, min_value?, max_value?, polarity?}. */
static void check_change(const json_t *item, size_t i, const json_t *catalog, json_t *seen,
			 struct em_reply *reply)
{
	static const char *const KNOWN[] = {"code",      "exclude",  "weights", "min_value",
					    "max_value", "polarity", NULL};
	static const char *const POLARITIES[] = {"up", "down", NULL};
	const json_t *code = json_object_get(item, "code"), *ind, *x;
	char prefix[64], name[160];

	snprintf(prefix, sizeof(prefix), "indicators[%zu].", i);
	if (!json_is_object(item)) {
		snprintf(name, sizeof(name), "indicators[%zu]", i);
		reply_field_error(reply, name, "must be an object {code, ...}");
		return;
	}
	check_members(item, prefix, KNOWN, reply);
	snprintf(name, sizeof(name), "%scode", prefix);
	if (!code) {
		reply_field_error(reply, name, "is required");
		return;
	}
	if (!json_is_string(code) || !(ind = json_object_get(catalog, json_string_value(code)))) {
		reply_field_error(reply, name, "is not the code of an indicator of this campaign");
		return;
	}
	if ((x = json_object_get(seen, json_string_value(code)))) {
		reply_field_error(reply, name, "is already changed in indicators[%lld]",
				  (long long)json_integer_value(x));
		return;
	}
	json_object_set_new(seen, json_string_value(code), json_integer((json_int_t)i));
	if ((x = json_object_get(item, "exclude"))) {
		snprintf(name, sizeof(name), "%sexclude", prefix);
		if (!json_is_boolean(x))
			reply_field_error(reply, name, "must be true or false");
		else if (json_is_true(x) && json_object_size(item) > 2)
			reply_field_error(reply, name,
					  "an excluded indicator takes no other change");
	}
	if ((x = json_object_get(item, "weights")))
		check_weights(x, prefix, reply);
	if ((x = json_object_get(item, "polarity")) &&
	    (!json_is_string(x) || !is_one_of(json_string_value(x), POLARITIES))) {
		snprintf(name, sizeof(name), "%spolarity", prefix);
		reply_field_error(reply, name, "must be up or down");
	}
	check_bounds(item, ind, prefix, reply);
}

static void check_indicators(const json_t *list, const json_t *catalog, struct em_reply *reply)
{
	json_t *seen, *item;
	size_t i;

	if (!json_is_array(list)) {
		reply_field_error(reply, "indicators", "must be an array of changes [{code, ...}]");
		return;
	}
	if (json_array_size(list) > SIM_MAX_CHANGES) {
		reply_field_error(reply, "indicators", "must hold at most %d changes",
				  SIM_MAX_CHANGES);
		return;
	}
	seen = json_object();
	json_array_foreach((json_t *)list, i, item)
		check_change(item, i, catalog, seen, reply);
	json_decref(seen);
}

/* thresholds: {high?, sufficient?, low?}, numbers in 0..100; merged over the
 * campaign's they must rise strictly. */
static void check_thresholds(const json_t *t, const json_t *campaign, struct em_reply *reply)
{
	static const char *const KEYS[] = {"high", "sufficient", "low", NULL};
	double v[3];
	bool ok = true;
	char name[64];

	if (!json_is_object(t)) {
		reply_field_error(reply, "thresholds", "must be an object {high, sufficient, low}");
		return;
	}
	check_members(t, "thresholds.", KEYS, reply);
	for (int i = 0; i < 3; i++) {
		const json_t *x = json_object_get(t, KEYS[i]);
		snprintf(name, sizeof(name), "thresholds.%s", KEYS[i]);
		if (x && !json_is_number(x)) {
			reply_field_error(reply, name, "must be a number");
			ok = false;
		} else if (x && (json_number_value(x) < 0 || json_number_value(x) > 100)) {
			reply_field_error(reply, name, "must be between 0 and 100");
			ok = false;
		}
		if (!x)
			x = json_object_get(campaign, KEYS[i]);
		v[i] = as_sent(x);
	}
	if (ok && !(v[2] < v[1] && v[1] < v[0]))
		reply_field_error(reply, "thresholds",
				  "must rise strictly: low < sufficient < high "
				  "(the campaign's where not given)");
}

void sim_check_body(const json_t *body, const struct sim_ctx *ctx, const json_t *from,
		    struct em_reply *reply)
{
	static const char *const KNOWN[] = {"indicators", "thresholds", "values_from", NULL};
	const json_t *x;

	check_members(body, "", KNOWN, reply);
	if ((x = json_object_get(body, "indicators")))
		check_indicators(x, ctx->catalog, reply);
	if ((x = json_object_get(body, "thresholds")))
		check_thresholds(x, ctx->thresholds, reply);
	if (from && !json_is_null(from) &&
	    json_is_null(json_object_get(ctx->doc, "values_campaign")))
		reply_field_error(reply, "values_from",
				  json_is_string(from) ? "the region has no earlier campaign"
						       : "is not an earlier campaign of this "
							 "campaign's region");
}
