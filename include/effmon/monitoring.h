/*
 * monitoring.h — the monitoring module: campaigns and their indicator
 * catalogs, submissions and their workflow, bulk imports. Descriptors for the
 * generic handlers (src/resource.c) and the handlers of actions beyond them.
 */
#ifndef EFFMON_MONITORING_H
#define EFFMON_MONITORING_H

#include "effmon/resource.h"

/* Campaigns and their indicator catalogs (src/monitoring/campaigns.c). */
extern const struct em_resource CAMPAIGNS, INDICATORS;
enum em_err campaigns_create(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err campaigns_update(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err campaigns_transition(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply);
enum em_err campaign_indicators_list(struct em_req *req, const struct em_args *args, json_t *body,
				     struct em_reply *reply);
enum em_err campaign_indicators_create(struct em_req *req, const struct em_args *args, json_t *body,
				       struct em_reply *reply);
enum em_err indicators_update(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply);
enum em_err indicators_delete(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply);

/* Submissions (src/monitoring/submissions.c). */
extern const struct em_resource SUBMISSIONS;
enum em_err submissions_put_values(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply);
enum em_err submissions_transition(struct em_req *req, const struct em_args *args, json_t *body,
				   struct em_reply *reply);
/* GET /submissions: the generic list, also as CSV or XLSX. */
enum em_err submissions_list(struct em_req *req, const struct em_args *args, json_t *body,
			     struct em_reply *reply);
enum em_err submissions_history(struct em_req *req, const struct em_args *args, json_t *body,
				struct em_reply *reply);

/* Scores, aggregates, outliers (src/monitoring/scores.c, aggregates.c). */
/* include=unapproved: operators only (403 for other roles), 400 for another value. */
enum em_err monitoring_include(struct em_req *req, struct em_reply *reply, bool *unapproved);
enum em_err campaign_scores_list(struct em_req *req, const struct em_args *args, json_t *body,
				 struct em_reply *reply);
enum em_err manager_scores_get(struct em_req *req, const struct em_args *args, json_t *body,
			       struct em_reply *reply);
enum em_err campaign_outliers(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply);
enum em_err aggregates_get(struct em_req *req, const struct em_args *args, json_t *body,
			   struct em_reply *reply);
enum em_err public_aggregates_get(struct em_req *req, const struct em_args *args, json_t *body,
				  struct em_reply *reply);

/* Bulk import of regional_import values (src/monitoring/imports.c). */
enum em_err imports_create(struct em_req *req, const struct em_args *args, json_t *body,
			   struct em_reply *reply);
enum em_err imports_list(struct em_req *req, const struct em_args *args, json_t *body,
			 struct em_reply *reply);

/* The what-if simulator (src/analysis/simulations.c): POST /campaigns/{id}/simulations
 * scores the campaign's catalog with changes; nothing is written. */
enum em_err campaign_simulate(struct em_req *req, const struct em_args *args, json_t *body,
			      struct em_reply *reply);
/* GET /campaigns/{id}/simulations: the record of the runs the caller may see, newest first. */
enum em_err campaign_simulations_list(struct em_req *req, const struct em_args *args, json_t *body,
				      struct em_reply *reply);

#endif
