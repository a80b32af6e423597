/*
 * sheet.h — tables for file downloads: a book of sheets, each holding one or
 * more tables whose columns name a key of the JSON rows, a Russian header and
 * a cell type. The same book is written as CSV (delimiter and decimal
 * separator chosen by the client) or as XLSX (typed numeric cells, frozen
 * header row, column widths), so a file holds exactly what the JSON holds.
 */
#ifndef EFFMON_SHEET_H
#define EFFMON_SHEET_H

#include <jansson.h>
#include <stdbool.h>

#include "effmon/http.h"
#include "effmon/negotiate.h"

#define SHEET_TEXT 96

enum sheet_kind {
	SK_TEXT, /* strings as they are */
	SK_INT,  /* whole numbers */
	SK_DEC2, /* decimals shown with 2 places (scores, means) */
	SK_DEC4, /* decimals shown with 4 places (shares) */
	SK_NUM,  /* any number, general format */
	SK_BOOL, /* true/false: да/нет in CSV, a boolean cell in XLSX */
};

struct sheet_col {
	char key[64];           /* a key of the row object, "a.b" for nested; "" the row itself */
	char title[SHEET_TEXT]; /* the header */
	enum sheet_kind kind;
};

struct sheet_table {
	char title[SHEET_TEXT]; /* written above the table, except for a sheet's first */
	struct sheet_col *cols;
	size_t ncols;
	json_t *rows; /* owned reference: an array of objects (or scalars) */
};

struct sheet {
	char name[128]; /* at most 31 characters once written to XLSX */
	struct sheet_table *tables;
	size_t ntables;
};

struct sheet_book {
	struct sheet *sheets;
	size_t nsheets;
	bool failed; /* an allocation failed: the reply is a 500 */
};

struct csv_opts {
	char delimiter;   /* ',' or ';' */
	char decimal;     /* '.' or ',' */
	bool key_headers; /* header cells are the keys' last segments (an older CSV's header) */
};

/* Builders: each returns NULL (and sets book->failed) on allocation failure. */
struct sheet *book_add_sheet(struct sheet_book *book, const char *name);
/* rows: a borrowed array (a reference is taken); NULL reads as []. */
struct sheet_table *sheet_add_table(struct sheet_book *book, struct sheet *s, const char *title,
				    json_t *rows);
void table_add_col(struct sheet_book *book, struct sheet_table *t, const char *key,
		   const char *title, enum sheet_kind kind);
void book_free(struct sheet_book *book);

/* delimiter=comma|semicolon and decimal=point|comma; field errors into reply. */
void csv_opts_parse(const struct em_req *req, struct em_reply *reply, struct csv_opts *o);

/* Sets Content-Disposition: attachment; filename="<base>.<csv|xlsx>". */
void reply_attachment(struct em_reply *reply, const char *base, enum em_format fmt);

/* Writes the book as fmt (EM_FMT_CSV or EM_FMT_XLSX) into reply's body. */
enum em_err book_reply(const struct sheet_book *book, enum em_format fmt, const struct csv_opts *o,
		       struct em_reply *reply);

/* For a route giving JSON, CSV and XLSX: the format (negotiate) and the CSV
 * options; field errors go into reply (the caller fails on reply->errors). */
enum em_err book_params(struct em_req *req, struct em_reply *reply, enum em_format *fmt,
			struct csv_opts *csv);

/* Replaces the JSON text in reply->text by the book fill() builds from it,
 * written as fmt, with Content-Disposition naming name.<ext>. */
enum em_err book_from_json(struct em_reply *reply, enum em_format fmt, const struct csv_opts *csv,
			   const char *name, void (*fill)(struct sheet_book *, json_t *));

/* The value at a dotted key path of v ("totals.mean"); v itself for "". */
const json_t *sheet_path(const json_t *v, const char *path);

/* A number as the shortest text that reads back as the same double, with
 * the decimal separator dec; for CSV. */
void sheet_format_number(double v, char dec, char *out, size_t len);

#endif
