/*
 * cmd_history.c - `strata history`: what strata did, read from the database
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "json_out.h"
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "history.h"

static const char *const columns[] = {
	"id", "run", "trigger", "seq", "host", "appliance", "vm", "kind", "impact",
	"args", "reason", "intent", "ended", "result", "error",
};

/* ISO 8601 in UTC from microseconds since the epoch. */
static char *
iso_time(const char *us)
{
	g_autoptr(GDateTime) t = NULL;

	if (!us)
		return NULL;
	t = g_date_time_new_from_unix_utc(g_ascii_strtoll(us, NULL, 10) / G_USEC_PER_SEC);
	return t ? g_date_time_format_iso8601(t) : NULL;
}

/* "seconds": from the op's recorded intent to its end, to the
 * millisecond (the ISO times are to the second); null if it has not
 * ended. */
static void
op_seconds(JsonBuilder *b, GHashTable *r)
{
	const char *intent = g_hash_table_lookup(r, "intent"), *ended = g_hash_table_lookup(r, "ended");
	g_autofree char *s = NULL;

	json_builder_set_member_name(b, "seconds");
	if (!intent || !ended) {
		json_builder_add_null_value(b);
		return;
	}
	s = g_strdup_printf("%.3f", (double)(g_ascii_strtoll(ended, NULL, 10) - g_ascii_strtoll(intent, NULL, 10)) /
			    G_USEC_PER_SEC);
	json_builder_add_string_value(b, s);
}

static void
print_json(GPtrArray *rows)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_array(b);
	for (guint i = 0; i < rows->len; i++) {
		GHashTable *r = rows->pdata[i];

		json_builder_begin_object(b);
		for (size_t c = 0; c < G_N_ELEMENTS(columns); c++) {
			const char *v = g_hash_table_lookup(r, columns[c]);
			g_autofree char *t = NULL;

			json_builder_set_member_name(b, columns[c]);
			if (!v) {
				json_builder_add_null_value(b);
			} else if (g_str_equal(columns[c], "intent") || g_str_equal(columns[c], "ended")) {
				t = iso_time(v);
				json_builder_add_string_value(b, t);
			} else {
				json_builder_add_string_value(b, v);
			}
		}
		op_seconds(b, r);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_out_print(stdout, b);
}

static const char *const image_columns[] = {
	"host", "pool", "volume", "sha256", "bytes", "moved", "source", "run", "time", "note",
};

static void
print_images_json(GPtrArray *rows)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_array(b);
	for (guint i = 0; i < rows->len; i++) {
		GHashTable *r = rows->pdata[i];

		json_builder_begin_object(b);
		for (size_t c = 0; c < G_N_ELEMENTS(image_columns); c++) {
			const char *k = image_columns[c];
			const char *v = g_hash_table_lookup(r, k);
			g_autofree char *t = NULL;

			json_builder_set_member_name(b, k);
			if (!v)
				json_builder_add_null_value(b);
			else if (g_str_equal(k, "time") && (t = iso_time(v)))
				json_builder_add_string_value(b, t);
			else if (g_str_equal(k, "bytes") || g_str_equal(k, "moved") || g_str_equal(k, "run"))
				json_builder_add_int_value(b, g_ascii_strtoll(v, NULL, 10));
			else
				json_builder_add_string_value(b, v);
		}
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_out_print(stdout, b);
}

/* One line per base and host: its checksum and where it came from, or a
 * copy begun and never verified. */
static void
print_images_text(GPtrArray *rows)
{
	for (guint i = 0; i < rows->len; i++) {
		GHashTable *r = rows->pdata[i];
		g_autofree char *when = iso_time(g_hash_table_lookup(r, "time"));
		const char *sha = g_hash_table_lookup(r, "sha256");
		const char *src = g_hash_table_lookup(r, "source");
		const char *bytes = g_hash_table_lookup(r, "bytes");
		const char *moved = g_hash_table_lookup(r, "moved");

		printf("%s  %s/%s on %s  ", when, (char *)g_hash_table_lookup(r, "pool"),
		       (char *)g_hash_table_lookup(r, "volume"), (char *)g_hash_table_lookup(r, "host"));
		if (!sha && g_hash_table_lookup(r, "note"))
			printf("%s\n", (char *)g_hash_table_lookup(r, "note"));
		else if (!sha)
			printf("copy from %s begun in run %s, NOT verified\n", src,
			       (char *)g_hash_table_lookup(r, "run"));
		else if (src)
			printf("sha256 %s  %s bytes, %s moved, copied from %s in run %s\n", sha, bytes,
			       moved ? moved : "?", src, (char *)g_hash_table_lookup(r, "run"));
		else
			printf("sha256 %s  %s bytes, copied from here\n", sha, bytes ? bytes : "?");
		if (g_hash_table_lookup(r, "note"))
			printf("    %s\n", (char *)g_hash_table_lookup(r, "note"));
	}
}

static void
print_text(GPtrArray *rows)
{
	for (guint i = 0; i < rows->len; i++) {
		GHashTable *r = rows->pdata[i];
		g_autofree char *when = iso_time(g_hash_table_lookup(r, "intent"));
		const char *vm = g_hash_table_lookup(r, "vm");
		const char *err = g_hash_table_lookup(r, "error");

		const char *args = g_hash_table_lookup(r, "args");

		printf("%s  run %-4s %-12s %-14s %s%s%s%s%s%s on %s%s%s\n", when,
		       (char *)g_hash_table_lookup(r, "run"),
		       (char *)g_hash_table_lookup(r, "result"),
		       (char *)g_hash_table_lookup(r, "kind"),
		       vm ? (char *)g_hash_table_lookup(r, "appliance") : "",
		       vm ? "." : "", vm ? vm : "",
		       vm && args ? " (" : "", args ? args : "", vm && args ? ")" : "",
		       (char *)g_hash_table_lookup(r, "host"), err ? ": " : "", err ? err : "");
	}
}

int
cmd_history(int argc, char **argv)
{
	g_autofree char *db = NULL, *vm = NULL, *since = NULL, *format = NULL;
	gboolean images = FALSE;
	GOptionEntry entries[] = {
		{ "images", 0, 0, G_OPTION_ARG_NONE, &images,
		  "Template bases instead: each copy with its sha256, size and source", NULL },
		{ "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "History database (default ./strata.db)", "PATH" },
		{ "vm", 0, 0, G_OPTION_ARG_STRING, &vm, "Only this VM (name or appliance.name)", "VM" },
		{ "since", 0, 0, G_OPTION_ARG_STRING, &since, "Only from this ISO 8601 time on", "TIME" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json", "FORMAT" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("— the operations strata carried out");
	g_autoptr(GError) err = NULL;
	g_autoptr(history) hist = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	history_query q = { 0 };
	output_format fmt;
	const char *path;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Every operation with its intent time and result, oldest first.  An operation\n"
		"marked 'interrupted' was under way when strata stopped; the next run observed\n"
		"what it had done.  With --images: every template base strata copied to a host\n"
		"or copied from one, with its sha256 and size; a copy begun and never verified\n"
		"(strata stopped during it) is listed as such.\n\nExit status: 0 success, 1 error, 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, NULL, 0) || !cli_output_format(format, "text|json", &fmt))
		return STRATA_EXIT_USAGE;
	if (since) {
		g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
		g_autoptr(GDateTime) t = g_date_time_new_from_iso8601(since, utc);

		if (!t) {
			fprintf(stderr, "strata history: --since '%s' is not an ISO 8601 time such as 2026-12-01T08:00:00Z\n",
				since);
			return STRATA_EXIT_USAGE;
		}
		q.since_us = g_date_time_to_unix(t) * G_USEC_PER_SEC;
	}
	q.vm = vm;
	path = db ? db : "strata.db";
	if (access(path, R_OK) != 0) {
		fprintf(stderr, "strata history: no history database at %s (use --db)\n", path);
		return STRATA_EXIT_ERROR;
	}
	hist = history_open_readonly(path, &err);
	rows = !hist ? NULL : images ? history_images(hist, &err) : history_ops(hist, &q, &err);
	if (!rows) {
		fprintf(stderr, "strata history: %s\n", err->message);
		return STRATA_EXIT_ERROR;
	}
	if (images && fmt == OUTPUT_JSON)
		print_images_json(rows);
	else if (images)
		print_images_text(rows);
	else if (fmt == OUTPUT_JSON)
		print_json(rows);
	else
		print_text(rows);
	return STRATA_EXIT_OK;
}
