/*
 * main.c - strata's entry point: pick the verb, hand it the arguments
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"


typedef struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} cli_verb;

static const cli_verb verbs[] = {
	{ "validate", cmd_validate, "check specs offline (no libvirt needed)" },
	{ "plan", cmd_plan, "show what apply would do, changing nothing" },
	{ "observe", cmd_observe, "record what the hosts run, for plans without them" },
	{ "apply", cmd_apply, "converge the hosts to the source" },
	{ "history", cmd_history, "the operations strata carried out" },
	{ "watch", cmd_watch, "the daemon: keep the hosts converged to a source" },
	{ "schedule", cmd_schedule, "when the scheduled actions fire" },
	{ "snapshots", cmd_snapshots, "a VM's snapshots: parent, time, who took them" },
	{ "console", cmd_console, "where a running VM's VNC or SPICE console listens" },
	{ "status", cmd_control, "what the running daemon sees" },
	{ "reconcile", cmd_control, "ask the running daemon to reconcile now" },
	{ "approve", cmd_control, "confirm a revision the running daemon holds (--max-removal)" },
	{ "suspend", cmd_control, "pause the running daemon's reconciling" },
	{ "resume", cmd_control, "resume the running daemon's reconciling" },
};

static void
usage(FILE *out)
{
	fprintf(out, "Usage: strata VERB [OPTIONS] ...\n\n"
		"A declarative reconciler for libvirt.\n\nVerbs:\n");
	for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
		fprintf(out, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(out, "\n'strata VERB --help' describes a verb.\n");
}

int
main(int argc, char **argv)
{
	setlocale(LC_ALL, "");
	log_init(LOG_AUTO, stderr);
	if (g_getenv("STRATA_FAULT") || g_getenv("STRATA_INJECT"))
		fprintf(stderr, "strata: warning: fault injection is on (STRATA_FAULT=%s STRATA_INJECT=%s); "
			"for tests only\n", g_getenv("STRATA_FAULT") ? g_getenv("STRATA_FAULT") : "",
			g_getenv("STRATA_INJECT") ? g_getenv("STRATA_INJECT") : "");
	if (argc < 2) {
		usage(stderr);
		return STRATA_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return STRATA_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("strata %s\n", STRATA_VERSION);
		return STRATA_EXIT_OK;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++) {
		if (strcmp(argv[1], verbs[i].name) == 0) {
			g_autofree char *prg = g_strdup_printf("strata %s", verbs[i].name);

			g_set_prgname(prg);
			return verbs[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "strata: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return STRATA_EXIT_USAGE;
}
