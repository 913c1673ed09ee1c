/*
 * cli.c - option handling shared by the verbs
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static gboolean
cli_in_range(const cli_range *r)
{
	if (*r->value >= r->min && *r->value <= r->max)
		return TRUE;
	fprintf(stderr, "%s: %s must be a whole number from %d to %d, not %d\n",
		g_get_prgname(), r->option, r->min, r->max, *r->value);
	fprintf(stderr, "Try '%s --help'.\n", g_get_prgname());
	return FALSE;
}

gboolean
cli_parse(GOptionContext *ctx, int *argc, char ***argv,
	  const cli_range *ranges, size_t n)
{
	g_autoptr(GError) err = NULL;

	if (!g_option_context_parse(ctx, argc, argv, &err)) {
		fprintf(stderr, "strata: %s\n", err->message);
		fprintf(stderr, "Try '%s --help'.\n", g_get_prgname());
		return FALSE;
	}
	for (size_t i = 0; i < n; i++)
		if (!cli_in_range(&ranges[i]))
			return FALSE;
	return TRUE;
}

gboolean
cli_output_format(const char *name, const char *allowed, output_format *out)
{
	static const struct { const char *name; output_format f; } formats[] = {
		{ "text", OUTPUT_TEXT }, { "json", OUTPUT_JSON },
		{ "github", OUTPUT_GITHUB }, { "dot", OUTPUT_DOT },
		{ "markdown", OUTPUT_MARKDOWN },
	};
	g_auto(GStrv) ok = g_strsplit(allowed, "|", -1);

	if (!name) {
		*out = OUTPUT_TEXT;
		return TRUE;
	}
	if (!g_strv_contains((const char *const *)ok, name)) {
		fprintf(stderr, "strata: unknown output format '%s'; use %s\n",
			name, allowed);
		return FALSE;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(formats); i++)
		if (strcmp(formats[i].name, name) == 0)
			*out = formats[i].f;
	return TRUE;
}

