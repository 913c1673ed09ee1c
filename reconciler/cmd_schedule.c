/*
 * cmd_schedule.c - `strata schedule`: when the scheduled actions fire
 *
 * `--offline PATH` computes the fires from a source alone (CI previews,
 * checking a rule before merging it); without it the running daemon is
 * asked.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>

#include "cli.h"
#include "control.h"
#include "daemon.h"
#include "diag_print.h"
#include "json_out.h"
#include "schedule.h"

static char *
local_time(gint64 t, GTimeZone *tz)
{
	g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(t);
	g_autoptr(GDateTime) local = g_date_time_to_timezone(utc, tz);

	return g_date_time_format(local, "%Y-%m-%dT%H:%M:%S%:z");
}

static char *
vm_list(const spec_sched *s)
{
	g_autoptr(GString) out = g_string_new(NULL);

	if (!spec_list_len(&s->vms))
		return g_strdup("every VM");
	for (guint i = 0; i < spec_list_len(&s->vms); i++)
		g_string_append_printf(out, "%s%s", i ? ", " : "", spec_list_str(&s->vms, i));
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static void
show_entry(JsonBuilder *b, const spec_appliance *a, const spec_sched *s, gint64 from,
	   guint count)
{
	g_autoptr(GTimeZone) tz = spec_appliance_timezone(a);
	g_autofree sched_fire *fires = g_new0(sched_fire, count + 1);
	g_autofree char *vms = vm_list(s);
	g_autofree char *id = schedule_entry_id(a, s);
	guint n = schedule_fires(s, tz, from, fires, count);

	if (b) {
		json_builder_begin_object(b);
		json_out_string(b, "id", id);
		json_out_string(b, "appliance", a->obj.name.v);
		json_out_string(b, "action", spec_action_names[s->action.v]);
		json_out_string(b, "vms", vms);
		if (s->after_start.set)
			json_out_int(b, "after_start", s->after_start.v);
		json_builder_set_member_name(b, "fires");
		json_builder_begin_array(b);
		for (guint i = 0; i < n; i++) {
			g_autofree char *t = local_time(fires[i].t, tz);

			json_builder_begin_object(b);
			json_out_string(b, "time", t);
			json_out_int(b, "n", fires[i].n);
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
		json_builder_end_object(b);
		return;
	}
	printf("%s: %s %s", a->obj.name.v, spec_action_names[s->action.v], vms);
	if (s->after_start.set) {
		printf(": %" G_GINT64_FORMAT " s after each VM's first start\n", (gint64)s->after_start.v);
		return;
	}
	printf("%s\n", n ? "" : ": no fire ahead");
	for (guint i = 0; i < n; i++) {
		g_autofree char *t = local_time(fires[i].t, tz);

		printf("  %s  (#%u)\n", t, fires[i].n);
	}
}

static int
offline(const char *path, gint64 from, guint count, output_format fmt)
{
	g_autoptr(spec_source) src = NULL;
	g_autoptr(JsonBuilder) b = fmt == OUTPUT_JSON ? json_builder_new() : NULL;
	spec_diags diags;

	spec_diags_init(&diags);
	src = spec_load(path, &diags);
	spec_validate(src, &diags);
	if (diags.errors) {
		diag_print(stderr, OUTPUT_TEXT, &diags);
		spec_diags_release(&diags);
		return STRATA_EXIT_ERROR;
	}
	spec_diags_release(&diags);
	if (b)
		json_builder_begin_array(b);
	for (guint i = 0; i < src->appliances->len; i++) {
		const spec_appliance *a = src->appliances->pdata[i];

		for (guint j = 0; j < a->schedule->len; j++)
			show_entry(b, a, a->schedule->pdata[j], from, count);
	}
	if (b) {
		json_builder_end_array(b);
		json_out_print(stdout, b);
	}
	return STRATA_EXIT_OK;
}

int
cmd_schedule(int argc, char **argv)
{
	g_autofree char *path = NULL, *from = NULL, *format = NULL, *db = NULL;
	gint count = 5;
	GOptionEntry entries[] = {
		{ "offline", 0, 0, G_OPTION_ARG_FILENAME, &path, "Compute from this source, no daemon", "PATH" },
		{ "from", 0, 0, G_OPTION_ARG_STRING, &from, "Fires at or after this ISO 8601 time (default now)", "T" },
		{ "count", 'n', 0, G_OPTION_ARG_INT, &count, "Fires per entry, 1 to 10000 (default 5)", "N" },
		{ "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "The daemon's database (default ./strata.db)", "PATH" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json", "FORMAT" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("— when the scheduled actions fire");
	const cli_range ranges[] = { { "--count", &count, 1, 10000 } };
	g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
	g_autoptr(GDateTime) start = NULL;
	output_format fmt;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"With --offline PATH, computes the next fires of every schedule entry from the\n"
		"source alone, in each appliance's time zone.\n\n"
		"Exit status: 0 success, 1 error, 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, ranges, G_N_ELEMENTS(ranges)) ||
	    !cli_output_format(format, "text|json", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc != 1) {
		fprintf(stderr, "strata schedule: takes no PATH (use --offline PATH)\n");
		return STRATA_EXIT_USAGE;
	}
	start = from ? g_date_time_new_from_iso8601(from, utc) : g_date_time_new_now_utc();
	if (!start) {
		fprintf(stderr, "strata schedule: --from '%s' is not an ISO 8601 time such as 2026-12-01T08:00:00Z\n",
			from);
		return STRATA_EXIT_USAGE;
	}
	if (!path) {
		g_autofree char *sock = daemon_socket_path(db ? db : "strata.db");
		g_autoptr(GError) err = NULL;
		g_autofree char *reply = control_call(sock, "schedule", &err);

		if (!reply) {
			fprintf(stderr, "strata schedule: %s (or use --offline PATH)\n", err->message);
			return STRATA_EXIT_ERROR;
		}
		printf("%s", reply);
		return STRATA_EXIT_OK;
	}
	return offline(path, g_date_time_to_unix(start), (guint)count, fmt);
}
