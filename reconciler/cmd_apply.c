/*
 * cmd_apply.c - `strata apply`: show the plan, then carry it out
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "diag_print.h"
#include "exec.h"
#include "history.h"
#include "pass.h"
#include "plan_show.h"

static void
progress(const plan_op *op, guint done, guint total, gpointer user)
{
	g_autofree char *what = op_describe(op);

	(void)user;
	printf("[%u/%u] %-7s %s on %s%s%s\n", done, total, op_status_name(op->status),
	       what, op->host, op->error ? ": " : "", op->error ? op->error : "");
	fflush(stdout);
}

static gboolean
confirm(void)
{
	char answer[16] = "";

	printf("\nApply these operations? Only 'yes' is accepted: ");
	fflush(stdout);
	if (!fgets(answer, sizeof(answer), stdin))
		return FALSE;
	return strcmp(g_strstrip(answer), "yes") == 0;
}

/*
 * The writer's lock is taken before planning: a plan made while a daemon
 * changes the hosts would be stale before it starts.
 */
static history *
open_history(const char *db)
{
	g_autoptr(GError) err = NULL;
	history *hist = history_open(db, &err);

	if (hist)
		return hist;
	if (g_error_matches(err, G_IO_ERROR, G_IO_ERROR_BUSY))
		fprintf(stderr, "strata apply: %s; nothing was changed. While 'strata watch' runs, "
			"ask it instead: strata reconcile --db %s\n", err->message, db);
	else
		fprintf(stderr, "strata apply: %s; nothing was changed\n", err->message);
	return NULL;
}

static int
execute(pass *p, history *hist, guint parallel)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(obs_cache) cache = obs_cache_new();
	g_autofree char *summary = NULL;
	exec_options eo;
	exec_result r;
	gint64 rev, run;

	if (history_interrupted(hist))
		fprintf(stderr, "strata apply: %u operation(s) of an earlier run were interrupted; "
			"this run observed the hosts afresh\n", history_interrupted(hist));
	rev = history_revision(hist, p->src->root, "working tree", &err);
	run = rev < 0 ? -1 : history_run_begin(hist, "apply", rev, &err);
	if (run < 0) {
		fprintf(stderr, "strata apply: %s; nothing was changed\n", err->message);
		return STRATA_EXIT_ERROR;
	}
	exec_options_init(&eo);
	eo.parallel = parallel;
	eo.progress = progress;
	printf("\n");
	r = exec_plan(p->plan, p->hosts, hist, run, cache, &eo, &err);
	summary = plan_summary(p->plan);
	history_run_end(hist, run, exec_result_name(r), summary, NULL);
	if (err)
		fprintf(stderr, "strata apply: %s; stopped before any further change\n", err->message);
	printf("\nApply %s: %s.\n", exec_result_name(r), summary);
	return r == EXEC_CONVERGED ? STRATA_EXIT_OK : STRATA_EXIT_ERROR;
}

int
cmd_apply(int argc, char **argv)
{
	g_autofree char *connect = NULL, *db = NULL;
	gboolean yes = FALSE, dry_run = FALSE, allow_empty = FALSE, allow_removal = FALSE;
	gint parallel = EXEC_PARALLEL_DEFAULT, max_removal = PLAN_MAX_REMOVAL_PCT;
	GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &connect,
		  "libvirt URI of the host when the source has no host documents (default test:///default)", "URI" },
		{ "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "History database (default ./strata.db)", "PATH" },
		{ "parallel", 'p', 0, G_OPTION_ARG_INT, &parallel, "Operations at once, 1 to 1024 (default 16; at most 4 starts, migrations or copies per host)", "N" },
		{ "yes", 'y', 0, G_OPTION_ARG_NONE, &yes, "Do not ask for confirmation", NULL },
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "Show the plan and stop", NULL },
		{ "allow-empty", 0, 0, G_OPTION_ARG_NONE, &allow_empty,
		  "Allow removing every managed VM", NULL },
		{ "max-removal", 0, 0, G_OPTION_ARG_INT, &max_removal,
		  "Hold a revision that removes more than this share of the managed VMs, 1 to 100 (default 50)", "PCT" },
		{ "allow-removal", 0, 0, G_OPTION_ARG_NONE, &allow_removal,
		  "Confirm a revision held by --max-removal", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PATH — converge the hosts to the source");
	const cli_range ranges[] = {
		{ "--parallel", &parallel, 1, CLI_PARALLEL_MAX },
		{ "--max-removal", &max_removal, 1, 100 },
	};
	g_autoptr(GError) err = NULL;
	g_autoptr(history) hist = NULL;
	pass_options po = { 0 };
	pass p;
	int rc;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Shows the plan, asks for confirmation on a terminal (unless --yes), then carries\n"
		"it out, recording every operation in the history database.\n\n"
		"Exit status: 0 converged or nothing to do, 1 error or partial, 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, ranges, G_N_ELEMENTS(ranges)))
		return STRATA_EXIT_USAGE;
	if (argc != 2) {
		fprintf(stderr, "strata apply: give exactly one PATH\nTry 'strata apply --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	po.path = argv[1];
	po.connect = connect ? connect : "test:///default";
	po.readonly = dry_run;
	po.plan.allow_empty = allow_empty;
	po.plan.max_removal_pct = (guint)max_removal;
	po.plan.allow_removal = allow_removal;
	if (!dry_run && !(hist = open_history(db ? db : "strata.db")))
		return STRATA_EXIT_ERROR;
	po.hist = hist;
	if (!pass_run(&p, &po, NULL, NULL, &err)) {
		diag_print(stderr, OUTPUT_TEXT, &p.diags);
		fprintf(stderr, "strata apply: %s; nothing was changed\n",
			err ? err->message : "the source is invalid");
		pass_release(&p);
		return STRATA_EXIT_ERROR;
	}
	plan_show(stdout, OUTPUT_TEXT, p.plan);
	/* Errors hold back the appliances they concern; the rest is applied,
	 * and the exit status still says that not everything could be. */
	if (dry_run || p.plan->ops->len == 0)
		rc = STRATA_EXIT_OK;
	else if (!yes && isatty(STDIN_FILENO) && !confirm())
		rc = (printf("Nothing was changed.\n"), STRATA_EXIT_ERROR);
	else
		rc = execute(&p, hist, (guint)parallel);
	if (p.plan->errors->len)
		rc = STRATA_EXIT_ERROR;
	pass_release(&p);
	return rc;
}
