/*
 * cli.c - option handling shared by the verbs
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

gboolean
cli_parse(GOptionContext *ctx, int *argc, char ***argv)
{
	g_autoptr(GError) err = NULL;

	if (!g_option_context_parse(ctx, argc, argv, &err)) {
		fprintf(stderr, "strata: %s\n", err->message);
		fprintf(stderr, "Try '%s --help'.\n", g_get_prgname());
		return FALSE;
	}
	return TRUE;
}

gboolean
cli_output_format(const char *name, const char *allowed, output_format *out)
{
	static const struct { const char *name; output_format f; } formats[] = {
		{ "text", OUTPUT_TEXT }, { "json", OUTPUT_JSON },
		{ "github", OUTPUT_GITHUB }, { "dot", OUTPUT_DOT },
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

