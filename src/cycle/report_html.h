/*
 * report_html.h — what the printable cycle report's two halves share
 * (private to src/cycle/): report_labels.c holds its Russian words (the
 * steps, the labels of their figures, the names of codes), report_html.c
 * lays the page out.
 */
#ifndef EFFMON_REPORT_HTML_H
#define EFFMON_REPORT_HTML_H

#include <stddef.h>

/* How a figure is written; AUTO: integers as counts, reals to two places
 * (scores), strings as text. */
enum cell_fmt { FMT_AUTO, FMT_PERCENT, FMT_DATE, FMT_MONEY, FMT_ONE_PLACE };

struct label {
	const char *path; /* dotted, inside the step */
	const char *text;
	enum cell_fmt fmt;
};

struct step_view {
	const char *key;
	const char *title;
	const struct label *figures; /* ends with {NULL} */
};

/* The steps in the order of the page (whatever the order of the document's steps). */
extern const struct step_view REPORT_VIEWS[];
extern const size_t REPORT_NVIEWS;

/* The Russian name of a code (a source, decision type, kind, status...), else the code. */
const char *report_name_of(const char *code);

#endif
