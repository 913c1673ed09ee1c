/*
 * cli.h - the strata command line: verbs, exit codes, shared options
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#ifndef STRATA_VERSION
#define STRATA_VERSION "0.1.0"
#endif

#include <glib.h>

/* Exit codes follow terraform's habit (README.md, Commands), usage errors sysexits'. */
enum {
	STRATA_EXIT_OK = 0,
	STRATA_EXIT_ERROR = 1,
	STRATA_EXIT_CHANGES = 2,
	STRATA_EXIT_USAGE = 64,
};

typedef enum {
	OUTPUT_TEXT,
	OUTPUT_JSON,
	OUTPUT_GITHUB,
	OUTPUT_DOT,
	OUTPUT_MARKDOWN,
} output_format;

/* The most operations at once --parallel accepts. */
#define CLI_PARALLEL_MAX 1024

/* An integer option and the values it accepts. */
typedef struct {
	const char *option;     /* as the user writes it: "--parallel" */
	const gint *value;
	gint min, max;
} cli_range;

/*
 * Parse @argv with @ctx (which owns its entries), then check each of the
 * @n integer options of @ranges against its range: here, once, so that a
 * bad value is reported naming its option before any other check of the
 * verb.  Returns false after printing the reason for a usage error;
 * --help exits inside GLib.
 */
gboolean cli_parse(GOptionContext *ctx, int *argc, char ***argv,
		   const cli_range *ranges, size_t n);

/* "-o text|json|github" to a format; false for a format @allowed lacks. */
gboolean cli_output_format(const char *name, const char *allowed,
			   output_format *out);

int cmd_validate(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_observe(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_control(int argc, char **argv);
int cmd_schedule(int argc, char **argv);
int cmd_snapshots(int argc, char **argv);
int cmd_console(int argc, char **argv);
/*
 * What a viewer opens to reach a console of @type listening on @listen:@port
 * on the host of libvirt URI @host_uri, and in *@tunnel the SSH command to
 * run first when that is a remote host's loopback (else NULL).
 */
char *console_uri(const char *type, const char *listen, unsigned port, const char *host_uri, char **tunnel);
