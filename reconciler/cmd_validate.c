/*
 * cmd_validate.c - `strata validate`: check specs offline, for people and CI
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "diag_print.h"
#include "../spec/spec.h"
#include "../spec/yaml_read.h"

/* Standard input, capped like any file so a pipe cannot exhaust memory. */
static spec_source *
load_stdin(spec_diags *diags)
{
	g_autofree char *buf = g_malloc(SPEC_MAX_FILE_BYTES + 1);
	size_t len = 0, n;

	while (len <= SPEC_MAX_FILE_BYTES &&
	       (n = fread(buf + len, 1, SPEC_MAX_FILE_BYTES + 1 - len, stdin)) > 0)
		len += n;
	if (ferror(stdin)) {
		spec_error(diags, "<stdin>", SPEC_NOPOS, "unreadable",
			   "cannot read standard input");
		return spec_source_new("<stdin>");
	}
	return spec_load_buffer("<stdin>", buf, len, diags);
}

static void
print_summary(const char *path, const spec_source *src)
{
	printf("%s: valid: %u file%s, %u document%s (%u host%s, %u template%s, "
	       "%u persistent template%s, %u appliance%s, %u pool%s)\n", path,
	       src->files->len, src->files->len == 1 ? "" : "s",
	       src->documents, src->documents == 1 ? "" : "s",
	       src->hosts->len, src->hosts->len == 1 ? "" : "s",
	       src->templates->len, src->templates->len == 1 ? "" : "s",
	       src->ptemplates->len, src->ptemplates->len == 1 ? "" : "s",
	       src->appliances->len, src->appliances->len == 1 ? "" : "s",
	       src->pools->len, src->pools->len == 1 ? "" : "s");
}

int
cmd_validate(int argc, char **argv)
{
	g_autofree char *format = NULL;
	GOptionEntry entries[] = {
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format,
		  "Output format: text (default), json, github", "FORMAT" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PATH… — check specs offline");
	output_format fmt;
	spec_diags diags;
	unsigned errors_before = 0;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"PATH is a spec file or a folder of *.yaml files; - reads one file from standard input.\n"
		"Needs no libvirt, no network and no root.\n\n"
		"Exit status: 0 valid, 1 invalid, 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, NULL, 0) ||
	    !cli_output_format(format, "text|json|github", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc < 2) {
		fprintf(stderr, "strata validate: no PATH given\nTry 'strata validate --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	spec_diags_init(&diags);
	for (int i = 1; i < argc; i++) {
		g_autoptr(spec_source) src = NULL;

		src = strcmp(argv[i], "-") == 0 ? load_stdin(&diags)
						: spec_load(argv[i], &diags);
		spec_validate(src, &diags);
		if (fmt == OUTPUT_TEXT && diags.errors == errors_before)
			print_summary(argv[i], src);
		errors_before = diags.errors;
	}
	spec_diags_sort(&diags);
	diag_print(fmt == OUTPUT_TEXT ? stderr : stdout, fmt, &diags);
	if (fmt == OUTPUT_TEXT && diags.errors)
		fprintf(stderr, "%u error%s\n", diags.errors, diags.errors == 1 ? "" : "s");
	spec_diags_release(&diags);
	return diags.errors ? STRATA_EXIT_ERROR : STRATA_EXIT_OK;
}
