/*
 * bench_validate.c - load + validate a 10,000-VM source, report time and RSS
 *
 * Generates 100 hosts and 1,000 appliances of 10 VMs each (layers, `after`
 * chains, schedules) into a temporary folder, then times spec_load +
 * spec_validate over several rounds.  Goal (issue #2): < 300 ms, < 64 MiB.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <sys/resource.h>

#include "../../spec/spec.h"

#define HOSTS 100
#define APPLIANCES 1000
#define VMS_PER_APPLIANCE 10
#define ROUNDS 5

static void
write_hosts(const char *dir)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *path = g_build_filename(dir, "hosts.yaml", NULL);

	for (int h = 0; h < HOSTS; h++)
		g_string_append_printf(s, "---\nkind: host\nname: hv%03d\nuri: qemu+ssh://root@hv%03d/system\n"
				       "tags: [%s]\nreserve: {memory: 2GiB, cpus: 2}\n",
				       h, h, h % 2 ? "ssd, rack-a" : "rack-b");
	g_string_append(s, "---\nkind: template\nname: debian-12\npool: default\n"
			"volume: debian-12.qcow2\ncpus: 2\nmemory: 2GiB\ndisk_size: 20GiB\n");
	g_file_set_contents(path, s->str, (gssize)s->len, NULL);
}

static void
write_appliance(const char *dir, int a)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *name = g_strdup_printf("app%04d.yaml", a);
	g_autofree char *path = g_build_filename(dir, name, NULL);

	g_string_append_printf(s, "kind: persistent-template\nname: data%04d\nfrom: debian-12\nsize: 50GiB\n---\n"
			       "kind: appliance\nname: shop%04d\ntimezone: Europe/Paris\n"
			       "layers: [web, db]\nvms:\n", a, a);
	g_string_append_printf(s, "  - name: db0\n    persistent: data%04d\n    layer: db\n"
			       "    requires: [ssd]\n    memory: 4GiB\n"
			       "    disks: [{name: scratch, size: 10GiB}]\n    nics: [{network: default}]\n", a);
	g_string_append(s, "  - name: db1\n    template: debian-12\n    layer: db\n    requires: [ssd]\n");
	for (int v = 2; v < VMS_PER_APPLIANCE; v++)
		g_string_append_printf(s, "  - name: web%d\n    template: debian-12\n%s"
				       "    after: [db0, db1]\n    restart: always\n"
				       "    nics: [{network: default}, {network: backend}]\n",
				       v, v < 6 ? "    layer: web\n" : "");
	g_string_append(s, "schedule:\n"
			"  - {action: poweroff, vms: [web2, web3], at: 2026-11-27T20:00:00, repeat: weekly, days: [5]}\n"
			"  - {action: resume, vms: [web2, web3], at: 2026-11-30T08:00:00, repeat: weekly, days: [1]}\n"
			"  - {action: snapshot-create, vms: [db0], at: 2026-12-01T00:00:00Z, repeat: hourly, hours: 24, keep: 7}\n");
	g_file_set_contents(path, s->str, (gssize)s->len, NULL);
}

int
main(void)
{
	g_autofree char *dir = g_dir_make_tmp("strata-bench-XXXXXX", NULL);
	g_autofree char *cmd = NULL;
	gint64 best = G_MAXINT64, total = 0;
	struct rusage ru;
	unsigned vms = 0;

	write_hosts(dir);
	for (int a = 0; a < APPLIANCES; a++)
		write_appliance(dir, a);
	for (int r = 0; r < ROUNDS; r++) {
		spec_diags diags;
		spec_source *src;
		gint64 t0 = g_get_monotonic_time(), dt;

		spec_diags_init(&diags);
		src = spec_load(dir, &diags);
		spec_validate(src, &diags);
		dt = g_get_monotonic_time() - t0;
		if (diags.errors) {
			fprintf(stderr, "bench source is invalid (%u errors)\n", diags.errors);
			return 1;
		}
		vms = 0;
		for (guint i = 0; i < src->appliances->len; i++)
			vms += ((spec_appliance *)src->appliances->pdata[i])->vms->len;
		best = MIN(best, dt);
		total += dt;
		spec_source_free(src);
		spec_diags_release(&diags);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("validate: %u VMs, %d appliances, %d hosts: best %.1f ms, mean %.1f ms over %d rounds; peak RSS %.1f MiB\n",
	       vms, APPLIANCES, HOSTS, best / 1000.0, total / 1000.0 / ROUNDS, ROUNDS,
	       ru.ru_maxrss / 1024.0);
	cmd = g_strdup_printf("rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
