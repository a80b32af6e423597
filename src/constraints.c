/*
 * constraints.c — the one table of the schema's named constraints a client's
 * write can break, each with the field and the message it answers, and the
 * check (effmond check-statements) that every name in it is a constraint or
 * an index of the migrated database.
 *
 * Constraint names are unique in the schema and carry their table's name,
 * so one table serves every resource: a write that breaks a constraint not
 * listed here gets the generic answer naming it.
 */
#include <string.h>

#include "effmon/resource.h"

static const struct constraint_map CONSTRAINTS[] = {
	/* regions and municipalities */
	{"regions_code_key", "code", "a region with this code exists", EM_ECONFLICT},
	{"regions_code_format", "code", "must be two digits", EM_EINVAL},
	{"municipalities_oktmo_key", "oktmo", "a municipality with this OKTMO code exists",
	 EM_ECONFLICT},
	{"municipalities_oktmo_format", "oktmo", "must be 8 or 11 digits", EM_EINVAL},
	/* organizations, managers, the reserve */
	{"organizations_inn_key", "inn", "an organization with this INN exists", EM_ECONFLICT},
	{"organizations_inn_valid", "inn", "is not a valid INN", EM_EINVAL},
	{"managers_email_format", "email", "is not an e-mail address", EM_EINVAL},
	{"managers_phone_format", "phone", "is not a phone number", EM_EINVAL},
	{"managers_full_name_length", "full_name", "length must be 1 to 300 characters", EM_EINVAL},
	{"managers_municipality_fkey", "municipality_id", "no such municipality", EM_EINVAL},
	{"reserve_email_format", "email", "is not an e-mail address", EM_EINVAL},
	{"reserve_full_name_length", "full_name", "length must be 1 to 300 characters", EM_EINVAL},
	{"reserve_target_position_length", "target_position", "length must be 1 to 300 characters",
	 EM_EINVAL},
	{"reserve_municipality_fkey", "municipality_id", "no such municipality", EM_EINVAL},
	/* users */
	{"users_login_key", "login", "a user with this login exists (logins ignore case)",
	 EM_ECONFLICT},
	{"users_login_format", "login", "must be 3 to 64 characters of A-Z a-z 0-9 . _ @ -",
	 EM_EINVAL},
	{"users_scope_matches_role", "role", "the scope fields do not match the role", EM_EINVAL},
	{"users_manager_only_for_heads", "manager_id", "is only for head users", EM_EINVAL},
	/* the competency catalog */
	{"competencies_code_key", "code", "a competency with this code exists", EM_ECONFLICT},
	{"competencies_code_format", "code", "must match ^[a-z][a-z0-9_]{1,63}$", EM_EINVAL},
	{"competencies_name_check", "name", "length must be 1 to 300 characters", EM_EINVAL},
	{"competencies_max_score_range", "max_score", "must be between 1 and 1000", EM_EINVAL},
	/* campaigns, indicators, values */
	{"campaigns_region_year_key", "year", "the region has a campaign for this year already",
	 EM_ECONFLICT},
	{"campaigns_window", "closes_at", "must be later than opens_at", EM_EINVAL},
	{"campaigns_thresholds", "thresholds",
	 "must rise strictly: 0 <= low < sufficient < high <= 100", EM_EINVAL},
	{"campaigns_title_length", "title", "length must be 1 to 200 characters", EM_EINVAL},
	{"campaigns_year_range", "year", "must be between 2000 and 2100", EM_EINVAL},
	{"indicators_campaign_code_key", "code", "the catalog has an indicator with this code",
	 EM_ECONFLICT},
	{"indicators_code_format", "code", "is not a valid indicator code", EM_EINVAL},
	{"indicators_bounds", "max_value",
	 "bounds must be given with min_value < max_value, and not for booleans", EM_EINVAL},
	{"indicators_percent_bounds", "min_value", "percent bounds must be within 0..100",
	 EM_EINVAL},
	{"indicators_integer_bounds", "min_value", "integer bounds must be whole numbers",
	 EM_EINVAL},
	{"indicators_weights_valid", "weights", "is not a valid weights object", EM_EINVAL},
	{"submission_values_evidence_url_format", "values",
	 "an evidence_url is not an http(s) URL without spaces", EM_EINVAL},
	{"submission_values_comment_length", "values", "a comment must be 1 to 2000 characters",
	 EM_EINVAL},
	/* attestations, decisions, roadmaps */
	{"attestations_valid_until", "valid_until", "must be after attested_on", EM_EINVAL},
	{"decisions_amount", "amount", "is required (> 0) for a bonus and not taken otherwise",
	 EM_EINVAL},
	{"roadmaps_period", "period_to", "must not be before period_from", EM_EINVAL},
	{"roadmaps_title_length", "title", "length must be 1 to 1000 characters", EM_EINVAL},
	{"milestones_number_key", "number", "this roadmap already has a milestone with this number",
	 EM_ECONFLICT},
	{"milestones_number_format", "number",
	 "must be digits in dot-separated groups, like 1 or 2.1", EM_EINVAL},
	{"milestones_title_length", "title", "length must be 1 to 4000 characters", EM_EINVAL},
};

enum em_err map_constraint(const struct em_req *req, enum em_err err, struct em_reply *reply)
{
	const char *name = db_last_constraint(req->db);

	for (size_t i = 0; name[0] && i < ARRAY_LEN(CONSTRAINTS); i++) {
		const struct constraint_map *m = &CONSTRAINTS[i];

		if (strcmp(m->constraint, name) == 0) {
			reply_field_error(reply, m->field, "%s", m->message);
			return reply_fail(reply, m->err, "%s: %s", m->field, m->message);
		}
	}
	if (err == EM_ECONFLICT)
		return reply_fail(reply, err, "conflicts with an existing object (%s)", name);
	if (err == EM_EINVAL)
		return reply_fail(reply, err, "the database refused a value (%s)",
				  name[0] ? name : db_last_sqlstate(req->db));
	return err;
}

/* clang-format off */
DB_STMT(CONSTRAINT_EXISTS) = {"constraint_exists",
	"SELECT EXISTS (SELECT 1 FROM pg_constraint c "
	"               JOIN pg_namespace n ON n.oid = c.connamespace "
	"               WHERE c.conname = $1 AND n.nspname = current_schema()) "
	"    OR EXISTS (SELECT 1 FROM pg_class i "
	"               JOIN pg_namespace n ON n.oid = i.relnamespace "
	"               WHERE i.relname = $1 AND i.relkind = 'i' "
	"                 AND n.nspname = current_schema())",
	1};
/* clang-format on */

int constraints_check(PGconn *pg, FILE *out, size_t *checked)
{
	int bad = 0;

	*checked = ARRAY_LEN(CONSTRAINTS);
	for (size_t i = 0; i < ARRAY_LEN(CONSTRAINTS); i++) {
		const char *name = CONSTRAINTS[i].constraint;
		PGresult *res = PQexecParams(pg, CONSTRAINT_EXISTS.sql, 1, NULL, &name, NULL, NULL,
					     0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			fprintf(out, "constraint %s: %s", name, PQresultErrorMessage(res));
			bad++;
		} else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
			fprintf(out, "constraint %s: no such constraint or index\n", name);
			bad++;
		}
		PQclear(res);
	}
	return bad;
}
