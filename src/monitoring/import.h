/*
 * import.h — what the two halves of a bulk import share (private to
 * src/monitoring/): import_parse.c reads the file into the COPY buffer,
 * imports.c runs the staging, the set-wise checks and the write.
 */
#ifndef EFFMON_IMPORT_H
#define EFFMON_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "effmon/monitoring.h"
#include "effmon/sbuf.h"

#define IMPORT_MAX_ERRORS 10000
#define IMPORT_COPY_CHUNK (256 * 1024)
/* Statements of an import may run this many times the configured timeout
 * (5 minutes at the default 5 s): a million new values take about a minute here. */
#define IMPORT_TIMEOUT_FACTOR 60
#define IMPORT_MAX_NUMBER 64

enum import_format { FORMAT_CSV, FORMAT_JSON };

/* The columns of a row, in file order; COL_ROW names the whole record. */
enum import_col { COL_INN, COL_CODE, COL_VALUE, COL_COMMENT, COL_ROW };
/* The column names, in file order (import_parse.c). */
extern const char *const IMPORT_COLUMNS[];

/* An error found while parsing (the database finds the rest). */
struct row_err {
	unsigned long row;
	char column[72]; /* "" for the record as a whole */
	char message[160];
};

struct import {
	struct em_req *req;
	struct em_reply *reply;
	int64_t campaign_id;
	bool dry_run;
	enum import_format format;
	json_t *json; /* the parsed array of a JSON import */
	char delim;   /* of a CSV import */
	/* Filled by the transaction; reset when it is retried. */
	long rows;            /* data rows in the file */
	long staged;          /* rows sent to the staging table */
	struct row_err *errs; /* the first IMPORT_MAX_ERRORS parse errors, by row */
	size_t nerrs;
	long errs_total;
	long sql_errs_total;
	PGresult *sql_errs; /* rows of (line, inn, code, value, comment, record) errors */
	struct sbuf out;    /* the COPY buffer */
	bool failed;        /* out of memory (the error list) */
	bool bad;           /* the file has bad rows: answer 422 */
};

/* Sends the COPY buffer once it holds a chunk (or anything, with force). */
enum em_err import_out_flush(struct import *im, bool force);

/* Parses the file (a CSV body or the JSON array) row by row into the COPY buffer, with its
 * parse errors in im->errs; the caller has begun the COPY. */
enum em_err import_csv_stage(struct import *im);
enum em_err import_json_stage(struct import *im);

#endif
