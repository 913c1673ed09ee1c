/*
 * cmd_snapshots.c - `strata snapshots PATH APP.VM`: a VM's snapshots
 *
 * Finds the host that runs the VM as a plan would (read-only connections),
 * then lists the VM's snapshots there: name, parent, when taken, the
 * state it was taken in, who took it, and its size, which libvirt does not
 * give: it is read from the qcow2 images (virt_snapshot_size.c), over a
 * read-write connection of its own, as libvirt downloads only on those.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>

#include "cli.h"
#include "cli_vm.h"
#include "json_out.h"

static const char *
taken_by(const virt_snap *s)
{
	if (g_strcmp0(s->description, VIRT_SNAP_DECLARED) == 0)
		return "strata (declared)";
	if (virt_snap_ours(s))
		return "strata (scheduled)";
	return "other";
}

static char *
time_text(gint64 t)
{
	g_autoptr(GDateTime) d = g_date_time_new_from_unix_utc(t);

	return d ? g_date_time_format(d, "%Y-%m-%dT%H:%M:%SZ") : g_strdup("?");
}

/* The bytes of memory saved with @s, or -1 when not known (external, or
 * the images could not be read). */
static gint64
size_of(const virt_snap *s, GHashTable *sizes)
{
	const guint64 *v = sizes && !s->external ? g_hash_table_lookup(sizes, s->name) : NULL;

	return v ? (gint64)MIN(*v, (guint64)G_MAXINT64) : -1;
}

static void
show_text(const char *domain, const char *host, const GPtrArray *snaps, GHashTable *sizes)
{
	printf("%s on %s: %u snapshot%s\n", domain, host, snaps->len, snaps->len == 1 ? "" : "s");
	if (!snaps->len)
		return;
	printf("%-24s %-24s %-20s %-10s %-10s %-20s %s\n", "NAME", "PARENT", "TAKEN", "STATE", "SIZE", "BY", "");
	for (guint i = 0; i < snaps->len; i++) {
		const virt_snap *s = snaps->pdata[i];
		g_autofree char *when = time_text(s->created);
		gint64 size = size_of(s, sizes);
		g_autofree char *sz = size < 0 ? g_strdup("?") : plan_size_text((guint64)size);

		printf("%-24s %-24s %-20s %-10s %-10s %-20s %s%s\n", s->name, s->parent ? s->parent : "-", when,
		       s->state ? s->state : "?", sz, taken_by(s), s->current ? "current" : "",
		       s->external ? " external" : "");
	}
}

static void
show_json(const char *domain, const char *host, const GPtrArray *snaps, GHashTable *sizes)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_out_string(b, "vm", domain);
	json_out_string(b, "host", host);
	json_builder_set_member_name(b, "snapshots");
	json_builder_begin_array(b);
	for (guint i = 0; i < snaps->len; i++) {
		const virt_snap *s = snaps->pdata[i];
		g_autofree char *when = time_text(s->created);

		json_builder_begin_object(b);
		json_out_string(b, "name", s->name);
		json_out_string(b, "parent", s->parent);
		json_out_string(b, "taken", when);
		json_out_int(b, "taken_unix", s->created);
		json_out_string(b, "state", s->state);
		json_builder_set_member_name(b, "size_bytes");
		if (size_of(s, sizes) < 0)
			json_builder_add_null_value(b);
		else
			json_builder_add_int_value(b, size_of(s, sizes));
		json_out_string(b, "by", taken_by(s));
		json_builder_set_member_name(b, "current");
		json_builder_add_boolean_value(b, s->current);
		json_builder_set_member_name(b, "external");
		json_builder_add_boolean_value(b, s->external);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_out_print(stdout, b);
}

/* Sizes by snapshot name, read from @v's disks; NULL (after saying why on
 * stderr) when they cannot be read: the list is still worth having. */
static GHashTable *
read_sizes(const cli_vm *v, const GPtrArray *snaps)
{
	g_autoptr(GError) err = NULL;
	GHashTable *sizes = NULL;
	virt_host *rw;

	if (!snaps->len)
		return NULL;
	rw = virt_host_open(v->conn->uri, false, &err);
	if (rw && virt_snapshot_sizes(rw, v->domain->name, &sizes, &err)) {
		virt_host_free(rw);
		return sizes;
	}
	fprintf(stderr, "strata snapshots: sizes unknown: %s\n", err->message);
	virt_host_free(rw);
	return NULL;
}

int
cmd_snapshots(int argc, char **argv)
{
	g_autofree char *format = NULL, *connect = NULL;
	GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &connect,
		  "libvirt URI of the host when the source has no host documents (default test:///default)", "URI" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json", "FORMAT" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PATH APP.VM — list a VM's snapshots");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) snaps = NULL;
	g_autoptr(GHashTable) sizes = NULL;
	output_format fmt;
	cli_vm v;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Finds the host of the source at PATH that runs APP.VM (read-only connections,\n"
		"as plan) and lists the VM's snapshots there, oldest first: name, parent,\n"
		"when taken (UTC), the state the VM was in, who took it (strata for a\n"
		"declared or a scheduled one, or other), and which is current.  Only a\n"
		"snapshot strata took can be reverted by a `revert` declaration.\n\n"
		"SIZE is what the snapshot holds of its own: the guest memory saved with\n"
		"it, as the qcow2 images record it (what `qemu-img snapshot -l` calls VM\n"
		"SIZE).  A disk-only snapshot (taken shut off) has 0: its disk blocks are\n"
		"shared with the disk.  '?' (json: null) when not known: an external\n"
		"snapshot, or images that could not be read (reading them needs a\n"
		"read-write connection; why is said on stderr).\n\n"
		"Exit status: 0 success, 1 error (invalid source, no such VM, host\n"
		"unreachable), 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, NULL, 0) || !cli_output_format(format, "text|json", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc != 3) {
		fprintf(stderr, "strata snapshots: give a PATH and an APP.VM\nTry 'strata snapshots --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	if (!cli_vm_find(&v, "snapshots", argv[1], connect, argv[2]))
		return STRATA_EXIT_ERROR;
	if (!virt_snapshot_list(v.conn->virt, argv[2], &snaps, &err))
		fprintf(stderr, "strata snapshots: %s\n", err->message);
	else
		sizes = read_sizes(&v, snaps);
	if (snaps && fmt == OUTPUT_JSON)
		show_json(argv[2], v.domain->host->name, snaps, sizes);
	else if (snaps)
		show_text(argv[2], v.domain->host->name, snaps, sizes);
	cli_vm_release(&v);
	if (!snaps)
		return STRATA_EXIT_ERROR;
	return fflush(stdout) == 0 ? STRATA_EXIT_OK : STRATA_EXIT_ERROR;
}
