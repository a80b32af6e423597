/*
 * simulation.h — what simulations.c and simulation_checks.c share (private to
 * src/analysis/): the limits of a what-if request, how its numbers go to SQL,
 * and the check of its body against the campaign.
 */
#ifndef EFFMON_SIMULATION_H
#define EFFMON_SIMULATION_H

#include "effmon/monitoring.h"

#define SIM_DEFAULT_LIMIT 50
#define SIM_MAX_CHANGES 500
/* Bounds of a simulated min_value/max_value (as the catalog's). */
#define SIM_BOUND_LIMIT 1e12
/* Numbers go back to SQL with 15 significant digits: what a client wrote
 * with up to 15 digits reads back exactly, not as its nearest double. */
#define SIM_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* What the body may change, and what validation reads of the campaign. */
struct sim_ctx {
	json_t *doc;              /* owned: the SIM_CONTEXT document */
	const json_t *catalog;    /* borrowed from doc */
	const json_t *thresholds; /* borrowed from doc */
};

/* Every check of the body against the campaign: errors go to reply->errors. */
void sim_check_body(const json_t *body, const struct sim_ctx *ctx, const json_t *from,
		    struct em_reply *reply);

#endif
