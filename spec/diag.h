/*
 * diag.h - diagnostics collected while loading and validating a source
 *
 * Nothing in spec/ prints. Every problem becomes one spec_diag with the
 * file, line and column it was found at, a stable code a CI pipeline may
 * match on, and a message in plain words.  The caller decides how to show
 * them (text, JSON, GitHub annotations).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef enum {
	SPEC_ERROR,
	SPEC_WARNING,
} spec_severity;

/* A position in a file; line 0 means "the file as a whole". */
typedef struct {
	unsigned line;
	unsigned col;
} spec_pos;

#define SPEC_NOPOS ((spec_pos){ 0, 0 })

typedef struct {
	char *file;          /* as the user named it, or "<stdin>" */
	spec_pos pos;
	spec_severity severity;
	const char *code;    /* stable, e.g. "unknown-key"; static storage */
	char *message;
} spec_diag;

typedef struct {
	GPtrArray *items;    /* spec_diag * */
	unsigned errors;
	unsigned warnings;
} spec_diags;

void spec_diags_init(spec_diags *d);
void spec_diags_release(spec_diags *d);

void spec_diags_add(spec_diags *d, const char *file, spec_pos pos,
		    spec_severity sev, const char *code, const char *fmt, ...)
	G_GNUC_PRINTF(6, 7);

#define spec_error(d, file, pos, code, ...) \
	spec_diags_add((d), (file), (pos), SPEC_ERROR, (code), __VA_ARGS__)
#define spec_warning(d, file, pos, code, ...) \
	spec_diags_add((d), (file), (pos), SPEC_WARNING, (code), __VA_ARGS__)

/*
 * True once no further diagnostic will be kept (they are still counted):
 * callers skip costly extras such as "did you mean" from there on.
 */
bool spec_diags_full(const spec_diags *d);

/* Order by file, line, column, so output is stable whatever the check order. */
void spec_diags_sort(spec_diags *d);

/* "file:line:col: error: message [code]" */
char *spec_diag_format(const spec_diag *diag);

/*
 * The closest candidate to @word by edit distance, or NULL when nothing is
 * close enough to be a plausible typo.  Borrowed from @candidates.
 */
const char *spec_suggest(const char *word, const char *const *candidates,
			 size_t n);

/*
 * Characters no value may hold, as they hide text or break lines where a
 * reader does not expect it: C0 and C1 controls, DEL, and the line and
 * paragraph separators U+2028 and U+2029.
 */
bool spec_unichar_is_control(gunichar c);

/* The first such character in the UTF-8 string @s, or 0. */
gunichar spec_find_control(const char *s);

/* A copy of @s fit to quote in a message: valid UTF-8, no control
 * characters, at most 80 bytes. */
char *spec_clip(const char *s);
