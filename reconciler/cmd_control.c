/*
 * cmd_control.c - `strata status|reconcile|suspend|resume`: ask the daemon
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "control.h"
#include "daemon.h"

static JsonObject *
object_member(JsonObject *o, const char *name)
{
	JsonNode *n = json_object_get_member(o, name);

	return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* "signatures range: verified 1a2b…", and the last refusal with why. */
static void
print_signatures(JsonObject *root)
{
	JsonObject *sg = object_member(root, "signatures");
	JsonObject *r = sg ? object_member(sg, "refused") : NULL;
	JsonObject *u = sg ? object_member(sg, "unchecked") : NULL;
	const char *verified = sg ? json_object_get_string_member_with_default(sg, "verified", NULL) : NULL;

	if (!sg)
		return;
	printf("signatures %s: verified %.12s\n", json_object_get_string_member_with_default(sg, "mode", "?"),
	       verified ? verified : "none yet");
	if (r) {
		const char *tag = json_object_get_string_member_with_default(r, "tag", NULL);
		const char *key = json_object_get_string_member_with_default(r, "key_id", NULL);

		printf("refused    %.12s%s%s%s, key %s: %s\n",
		       json_object_get_string_member_with_default(r, "commit", "?"), tag ? " (tag " : "",
		       tag ? tag : "", tag ? ")" : "", key ? key : "none",
		       json_object_get_string_member_with_default(r, "reason", "?"));
	}
	if (u) {
		const char *tag = json_object_get_string_member_with_default(u, "tag", NULL);

		printf("unchecked  %.12s%s%s%s, tried again in %" G_GINT64_FORMAT " s or later: %s\n",
		       json_object_get_string_member_with_default(u, "commit", "?"), tag ? " (tag " : "",
		       tag ? tag : "", tag ? ")" : "", json_object_get_int_member_with_default(u, "retry_in", 0),
		       json_object_get_string_member_with_default(u, "reason", "?"));
	}
	printf("\n");
}

static void
print_status(const char *reply)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *root;
	JsonArray *vms, *hosts, *pools, *templates;

	if (!json_parser_load_from_data(p, reply, -1, NULL)) {
		printf("%s", reply);
		return;
	}
	root = json_node_get_object(json_parser_get_root(p));
	printf("revision %s, %s, %" G_GINT64_FORMAT " reconciles\n\n",
	       json_object_get_string_member_with_default(root, "revision", "none"),
	       json_object_get_string_member_with_default(root, "state", "?"),
	       json_object_get_int_member_with_default(root, "runs", 0));
	print_signatures(root);
	hosts = json_object_get_array_member(root, "hosts");
	for (guint i = 0; hosts && i < json_array_get_length(hosts); i++) {
		JsonObject *h = json_array_get_object_element(hosts, i);
		const char *err = json_object_get_string_member_with_default(h, "error", NULL);

		const char *locks = json_object_get_string_member_with_default(h, "lock_manager", NULL);

		printf("host %-19s %s%s%s%s%s%s%s\n", json_object_get_string_member(h, "name"),
		       json_object_get_string_member(h, "state"), err ? " (" : "", err ? err : "",
		       err ? ")" : "", locks ? ", lock manager " : "", locks ? locks : "",
		       locks ? " (declared)" : "");
	}
	pools = json_object_get_array_member(root, "pools");
	for (guint i = 0; pools && i < json_array_get_length(pools); i++) {
		JsonObject *sp = json_array_get_object_element(pools, i);
		const char *finding = json_object_get_string_member_with_default(sp, "finding", NULL);

		printf("pool %-19s shared by %s: %s%s%s\n", json_object_get_string_member(sp, "name"),
		       json_object_get_string_member(sp, "hosts"), json_object_get_string_member(sp, "state"),
		       finding ? ": " : "", finding ? finding : "");
	}
	templates = json_object_get_array_member(root, "templates");
	for (guint i = 0; templates && i < json_array_get_length(templates); i++) {
		JsonObject *t = json_array_get_object_element(templates, i);
		JsonArray *copies = json_object_get_array_member(t, "copies");
		const char *src = json_object_get_string_member_with_default(t, "source", NULL);

		printf("template %-15s version %" G_GINT64_FORMAT ", %s%s%s, on", json_object_get_string_member(t, "template"),
		       json_object_get_int_member(t, "version"), json_object_get_string_member(t, "base"),
		       src ? " from " : "", src ? src : "");
		for (guint j = 0; copies && j < json_array_get_length(copies); j++) {
			JsonObject *c = json_array_get_object_element(copies, j);
			const char *sha = json_object_get_string_member_with_default(c, "sha256", NULL);

			printf(" %s", json_object_get_string_member(c, "host"));
			if (sha)
				printf(" (sha256 %.12s)", sha);
		}
		printf("%s\n", copies && json_array_get_length(copies) ? "" : " no host");
	}
	if ((hosts && json_array_get_length(hosts)) || (pools && json_array_get_length(pools)) ||
	    (templates && json_array_get_length(templates)))
		printf("\n");
	printf("%-24s %-8s %-11s %-11s %s\n", "VM", "HOST", "DESIRED", "OBSERVED", "OVERRIDE");
	vms = json_object_get_array_member(root, "vms");
	for (guint i = 0; vms && i < json_array_get_length(vms); i++) {
		JsonObject *vm = json_array_get_object_element(vms, i);
		g_autofree char *name = g_strdup_printf("%s.%s",
			json_object_get_string_member(vm, "appliance"),
			json_object_get_string_member(vm, "vm"));
		const char *ovr = json_object_get_string_member_with_default(vm, "override", NULL);
		const char *rr = json_object_get_string_member_with_default(vm, "restart_required", NULL);

		printf("%-24s %-8s %-11s %-11s %s%s%s%s\n", name,
		       json_object_get_string_member_with_default(vm, "host", "-"),
		       json_object_get_string_member(vm, "desired"),
		       json_object_get_string_member(vm, "observed"),
		       ovr ? ovr : "-", ovr ? " (" : "",
		       ovr ? json_object_get_string_member_with_default(vm, "override_reason", "") : "",
		       ovr ? ")" : "");
		if (rr)
			printf("%-24s restart required: %s\n", "", rr);
	}
}

int
cmd_control(int argc, char **argv)
{
	g_autofree char *db = NULL, *sock = NULL, *format = NULL;
	GOptionEntry entries[] = {
		{ "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "The daemon's database (default ./strata.db)", "PATH" },
		{ "socket", 0, 0, G_OPTION_ARG_FILENAME, &sock, "The daemon's control socket", "PATH" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json", "FORMAT" },
		{ NULL },
	};
	const char *verb = argv[0];
	g_autofree char *summary = g_strdup_printf("— ask the running 'strata watch' to %s", verb);
	g_autoptr(GOptionContext) ctx = g_option_context_new(summary);
	g_autoptr(GError) err = NULL;
	g_autofree char *reply = NULL, *path = NULL;
	output_format fmt;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"status: each host (up or unknown, and why); each VM's appliance, host, desired and\n"
		"observed state, overrides.\n"
		"reconcile: run a reconcile now.  suspend/resume: pause and restart reconciling\n"
		"(events are still watched).\n\nExit status: 0 success, 1 no daemon or error, 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, NULL, 0) || !cli_output_format(format, "text|json", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc != 1) {
		fprintf(stderr, "strata %s: takes no PATH\n", verb);
		return STRATA_EXIT_USAGE;
	}
	path = sock ? g_strdup(sock) : daemon_socket_path(db ? db : "strata.db");
	reply = control_call(path, verb, &err);
	if (!reply) {
		fprintf(stderr, "strata %s: %s\n", verb, err->message);
		return STRATA_EXIT_ERROR;
	}
	if (fmt == OUTPUT_TEXT && strcmp(verb, "status") == 0)
		print_status(reply);
	else
		printf("%s", reply);
	return strstr(reply, "\"ok\": false") ? STRATA_EXIT_ERROR : STRATA_EXIT_OK;
}
