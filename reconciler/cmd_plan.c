/*
 * cmd_plan.c - `strata plan`: what apply would do, changing nothing
 *
 * Connections are read-only: a plan cannot change anything anywhere.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>

#include "cli.h"
#include "diag_print.h"
#include "pass.h"
#include "plan_show.h"
#include "schedule.h"

static bool
entry_touched(const plan *p, const spec_appliance *a, const spec_sched *s)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		bool named = !spec_list_len(&s->vms);

		if (g_strcmp0(op->appliance, a->obj.name.v) != 0 || !op->vm)
			continue;
		for (guint j = 0; j < spec_list_len(&s->vms); j++)
			named |= strcmp(spec_list_str(&s->vms, j), op->vm) == 0;
		if (named)
			return true;
	}
	return false;
}

/* The next fire after @now of each schedule entry whose VMs the plan
 * touches. */
static void
show_schedules(const spec_source *src, const plan *p, gint64 now)
{
	for (guint i = 0; i < src->appliances->len; i++) {
		const spec_appliance *a = src->appliances->pdata[i];
		g_autoptr(GTimeZone) tz = spec_appliance_timezone(a);

		for (guint j = 0; j < a->schedule->len; j++) {
			const spec_sched *s = a->schedule->pdata[j];
			g_autoptr(GDateTime) u = NULL, l = NULL;
			g_autofree char *when = NULL;
			sched_fire f;

			if (!entry_touched(p, a, s))
				continue;
			if (s->after_start.set) {
				printf("schedule: %s %s %" G_GINT64_FORMAT " s after each VM's first start\n",
				       a->obj.name.v, spec_action_names[s->action.v], (gint64)s->after_start.v);
				continue;
			}
			if (schedule_fires(s, tz, now, &f, 1) != 1)
				continue;
			u = g_date_time_new_from_unix_utc(f.t);
			l = g_date_time_to_timezone(u, tz);
			when = g_date_time_format(l, "%Y-%m-%dT%H:%M:%S%:z");
			printf("schedule: %s %s next at %s\n", a->obj.name.v,
			       spec_action_names[s->action.v], when);
		}
	}
}

/* On standard error, so that the plan itself stays the live one's, byte
 * for byte; a Markdown plan (a comment on a pull request, where standard
 * error is not read) ends with it too. */
static void
snapshot_age(const char *file, gint64 taken, output_format fmt)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(taken);
	g_autofree char *when = g_date_time_format_iso8601(t);
	gint64 age = g_get_real_time() / G_USEC_PER_SEC - taken;

	if (fmt == OUTPUT_MARKDOWN)
		printf("\n<sub>Hosts as observed at %s (%" G_GINT64_FORMAT " min before this plan), from a "
		       "snapshot: no hypervisor was reached.</sub>\n", when, MAX(age, 0) / 60);

	if (age < 0)
		fprintf(stderr, "strata plan: hosts as observed at %s, from %s (in the future: check the clocks)\n",
			when, file);
	else
		fprintf(stderr, "strata plan: hosts as observed at %s, from %s (%" G_GINT64_FORMAT " min %02d s ago)\n",
			when, file, age / 60, (int)(age % 60));
}

int
cmd_plan(int argc, char **argv)
{
	g_autofree char *format = NULL, *connect = NULL, *db = NULL, *snapshot = NULL;
	gboolean detailed = FALSE, allow_empty = FALSE, allow_removal = FALSE;
	gint max_removal = PLAN_MAX_REMOVAL_PCT;
	GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &connect,
		  "libvirt URI of the host when the source has no host documents (default test:///default)", "URI" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json, dot, markdown (a pull-request comment)", "FORMAT" },
		{ "observed", 0, 0, G_OPTION_ARG_FILENAME, &snapshot,
		  "Plan from this snapshot (strata observe -o json, or the daemon's --observed-snapshot) "
		  "instead of the hosts: no connection is opened", "FILE" },
		{ "db", 0, 0, G_OPTION_ARG_FILENAME, &db,
		  "Read this history database too (never written), as apply would: copies never verified, "
		  "checksums recorded, exports done", "PATH" },
		{ "detailed-exitcode", 0, 0, G_OPTION_ARG_NONE, &detailed,
		  "Exit 2 when there are changes, 0 when there are none", NULL },
		{ "allow-empty", 0, 0, G_OPTION_ARG_NONE, &allow_empty,
		  "Allow a plan that removes every managed VM", NULL },
		{ "max-removal", 0, 0, G_OPTION_ARG_INT, &max_removal,
		  "Hold a revision that removes more than this share of the managed VMs, 1 to 100 (default 50)", "PCT" },
		{ "allow-removal", 0, 0, G_OPTION_ARG_NONE, &allow_removal,
		  "Plan as if a revision held by --max-removal were confirmed", NULL },
		{ NULL },
	};
	const cli_range ranges[] = {
		{ "--max-removal", &max_removal, 1, 100 },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PATH — show what apply would do");
	g_autoptr(GError) err = NULL;
	pass_options po = { 0 };
	g_autoptr(history) hist = NULL;
	output_format fmt;
	pass p;
	int rc;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Reads the source, observes the hosts over read-only connections and prints the\n"
		"operations apply would carry out, with the host and the reason for each.\n"
		"With --observed, the hosts are read from a snapshot instead (for CI runners\n"
		"that must not reach the hypervisors): the plan is the one the hosts gave when\n"
		"it was taken, its age is said on standard error, and what the revision needs\n"
		"that the snapshot lacks makes the plan partial, each gap a note.\n\n"
		"Exit status: 0 success (with --detailed-exitcode: no changes), 1 error (with\n"
		"--detailed-exitcode: also when a host does not answer),\n"
		"2 changes present (with --detailed-exitcode), 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, ranges, G_N_ELEMENTS(ranges)) || !cli_output_format(format, "text|json|dot|markdown", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc != 2) {
		fprintf(stderr, "strata plan: give exactly one PATH\nTry 'strata plan --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	if (snapshot && connect) {
		fprintf(stderr, "strata plan: --observed and --connect exclude each other: a plan from a "
			"snapshot opens no connection\nTry 'strata plan --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	if (db && !(hist = history_open_readonly(db, &err))) {
		fprintf(stderr, "strata plan: %s\n", err->message);
		return STRATA_EXIT_ERROR;
	}
	po.hist_read = hist;
	po.path = argv[1];
	po.connect = connect ? connect : "test:///default";
	po.readonly = TRUE;
	po.observed_file = snapshot;
	po.plan.allow_empty = allow_empty;
	po.plan.max_removal_pct = (guint)max_removal;
	po.plan.allow_removal = allow_removal;
	if (!pass_run(&p, &po, NULL, NULL, &err)) {
		diag_print(stderr, OUTPUT_TEXT, &p.diags);
		if (err)
			fprintf(stderr, "strata plan: %s\n", err->message);
		else
			fprintf(stderr, "strata plan: the source is invalid; nothing is planned\n");
		pass_release(&p);
		return STRATA_EXIT_ERROR;
	}
	plan_show(stdout, fmt, p.plan);
	if (snapshot)
		snapshot_age(snapshot, p.snapshot_taken, fmt);
	if (fmt == OUTPUT_TEXT)
		/* From a snapshot: the fires the plan had when it was taken. */
		show_schedules(p.src, p.plan, snapshot ? p.snapshot_taken : g_get_real_time() / G_USEC_PER_SEC);
	/* "No changes" is a claim about every host: one that did not answer
	 * makes it unknowable, which a CI gate must not read as converged. */
	rc = p.plan->errors->len || (detailed && p.plan->partial) ? STRATA_EXIT_ERROR :
	     detailed && p.plan->ops->len ? STRATA_EXIT_CHANGES : STRATA_EXIT_OK;
	pass_release(&p);
	return rc;
}
