/*
 * recommendation.h — what recommendations.c and recommendation_drafts.c share
 * (private to src/cycle/): a recommendation row's JSON, when it is overdue, who
 * issued it and who may see it.
 */
#ifndef EFFMON_RECOMMENDATION_H
#define EFFMON_RECOMMENDATION_H

#include "effmon/cycle.h"

/* Open recommendations past their due date; drafts are not yet due. */
/* clang-format off */
#define RECO_OVERDUE(r)                                                                       \
	"(" r ".due_on < em_today() AND " r ".status IN ('issued', 'acknowledged', 'reported'))"
/* clang-format on */
/* The issuing side: the region (and admin), or the municipality that issued it. */
/* clang-format off */
#define RECO_ISSUER(r)                                                                        \
	"($1 IN ('admin', 'regional_operator') OR ($1 = 'municipal_operator' AND " r             \
	".issuer_municipality_id = $4::bigint))"
#define RECO_VISIBLE(r)                                                                       \
	CYCLE_SCOPE(r ".region_id", r ".municipality_id", r ".organization_id",                  \
		    r ".addressee_manager_id")                                                    \
	" AND (" r ".status NOT IN ('draft', 'withdrawn') OR " RECO_ISSUER(r) ")"
#define RECO_JSON(r)                                                                          \
	"jsonb_build_object('id', " r ".id, 'campaign_id', " r ".campaign_id, 'region_id', " r  \
	".region_id, 'municipality_id', " r ".municipality_id, 'organization_id', " r           \
	".organization_id, 'addressee_manager_id', " r ".addressee_manager_id, "                \
	"'addressee_municipality_id', " r ".addressee_municipality_id, 'issuer_level', " r      \
	".issuer_level, 'issuer_municipality_id', " r ".issuer_municipality_id, 'issued_by', " r \
	".issued_by, 'directions', to_jsonb(" r ".directions), 'indicators', to_jsonb(" r       \
	".indicators), 'text', " r ".text, 'due_on', " r ".due_on, 'status', " r ".status, "    \
	"'overdue', " RECO_OVERDUE(r) ", 'report', " r ".report, 'rework_comment', " r          \
	".rework_comment, 'generated', " r ".generated, 'warning', " r ".warning, "              \
	"'issued_at', " r ".issued_at, "                                                          \
	"'acknowledged_at', " r ".acknowledged_at, 'reported_at', " r ".reported_at, "          \
	"'accepted_at', " r ".accepted_at, 'created_at', " r ".created_at, 'updated_at', " r    \
	".updated_at, 'version', " r ".version)"
/* clang-format on */

#endif
