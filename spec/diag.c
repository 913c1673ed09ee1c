/*
 * diag.c - diagnostics: collection, ordering, formatting, suggestions
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "diag.h"

/* Keep a hostile source from growing the list without bound. */
#define DIAGS_MAX 1000

static void
diag_free(gpointer p)
{
	spec_diag *diag = p;

	if (!diag)
		return;
	g_free(diag->file);
	g_free(diag->message);
	g_free(diag);
}

void
spec_diags_init(spec_diags *d)
{
	d->items = g_ptr_array_new_with_free_func(diag_free);
	d->errors = 0;
	d->warnings = 0;
}

void
spec_diags_release(spec_diags *d)
{
	if (d->items)
		g_ptr_array_unref(d->items);
	d->items = NULL;
}

void
spec_diags_add(spec_diags *d, const char *file, spec_pos pos,
	       spec_severity sev, const char *code, const char *fmt, ...)
{
	spec_diag *diag;
	va_list ap;

	if (sev == SPEC_ERROR)
		d->errors++;
	else
		d->warnings++;
	if (d->items->len >= DIAGS_MAX) {
		if (d->items->len == DIAGS_MAX) {
			diag = g_new0(spec_diag, 1);
			diag->file = g_strdup(file);
			diag->severity = SPEC_ERROR;
			diag->code = "too-many-diagnostics";
			diag->message = g_strdup_printf(
				"more than %d problems; fix these first", DIAGS_MAX);
			diag->pos = (spec_pos){ G_MAXUINT, 0 };
			g_ptr_array_add(d->items, diag);
		}
		return;
	}
	diag = g_new0(spec_diag, 1);
	diag->file = g_strdup(file);
	diag->pos = pos;
	diag->severity = sev;
	diag->code = code;
	va_start(ap, fmt);
	diag->message = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(d->items, diag);
}

bool
spec_diags_full(const spec_diags *d)
{
	return d->items->len >= DIAGS_MAX;
}

static gint
diag_cmp(gconstpointer a, gconstpointer b)
{
	const spec_diag *x = *(const spec_diag *const *)a;
	const spec_diag *y = *(const spec_diag *const *)b;
	int c = g_strcmp0(x->file, y->file);

	if (c)
		return c;
	if (x->pos.line != y->pos.line)
		return x->pos.line < y->pos.line ? -1 : 1;
	if (x->pos.col != y->pos.col)
		return x->pos.col < y->pos.col ? -1 : 1;
	return g_strcmp0(x->message, y->message);
}

void
spec_diags_sort(spec_diags *d)
{
	g_ptr_array_sort(d->items, diag_cmp);
}

char *
spec_diag_format(const spec_diag *diag)
{
	const char *sev = diag->severity == SPEC_ERROR ? "error" : "warning";

	if (diag->pos.line == 0 || diag->pos.line == G_MAXUINT)
		return g_strdup_printf("%s: %s: %s [%s]", diag->file, sev,
				       diag->message, diag->code);
	return g_strdup_printf("%s:%u:%u: %s: %s [%s]", diag->file,
			       diag->pos.line, diag->pos.col, sev,
			       diag->message, diag->code);
}

/* Levenshtein distance, bounded: words here are keys and names (<= 63). */
static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64 + 1];

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = MIN(row[j] + 1, row[j - 1] + 1);

			row[j] = MIN(best, diag + cost);
			diag = up;
		}
	}
	return row[lb];
}

const char *
spec_suggest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	size_t limit = MAX((size_t)2, strlen(word) / 3);

	for (size_t i = 0; i < n; i++) {
		size_t dist = edit_distance(word, candidates[i]);

		if (dist < best_d) {
			best_d = dist;
			best = candidates[i];
		}
	}
	return best_d <= limit ? best : NULL;
}

bool
spec_unichar_is_control(gunichar c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029;
}

gunichar
spec_find_control(const char *s)
{
	for (; *s; s = g_utf8_next_char(s)) {
		gunichar c = g_utf8_get_char(s);

		if (spec_unichar_is_control(c))
			return c;
	}
	return 0;
}

char *
spec_clip(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s, (gssize)MIN(strlen(s), 80));
	GString *out = g_string_sized_new(strlen(valid));

	for (const char *c = valid; *c; c = g_utf8_next_char(c)) {
		gunichar u = g_utf8_get_char(c);

		if (spec_unichar_is_control(u))
			g_string_append_c(out, '?');
		else
			g_string_append_unichar(out, u);
	}
	return g_string_free(out, FALSE);
}
