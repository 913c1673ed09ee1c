/*
 * bench_place.c - placement alone: 10,000 VMs onto 500 hosts, 1,000 layers
 *
 * The observed snapshot is built in memory (placement is pure: it never
 * calls libvirt), so this measures the placement function and nothing
 * else.  Goal (issue #5): <= 200 ms.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include "../../reconciler/place.h"

#define NHOSTS 500
#define NAPPS 1000
#define NVMS 10

static spec_source *
make_source(void)
{
	g_autoptr(GString) s = g_string_new("kind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 1GiB\n");
	spec_diags diags;
	spec_source *src;

	for (int h = 0; h < NHOSTS; h++)
		g_string_append_printf(s, "---\nkind: host\nname: hv%03d\nuri: qemu+ssh://hv%03d/system\n%s",
				       h, h, h % 4 ? "" : "tags: [ssd]\n");
	for (int a = 0; a < NAPPS; a++) {
		g_string_append_printf(s, "---\nkind: appliance\nname: app%04d\nlayers: [web]\nvms:\n", a);
		for (int v = 0; v < NVMS; v++)
			g_string_append_printf(s, "  - {name: vm%d, template: t%s}\n", v,
					       v < 4 ? ", layer: web" : "");
	}
	spec_diags_init(&diags);
	src = spec_load_buffer("bench.yaml", s->str, s->len, &diags);
	spec_validate(src, &diags);
	if (diags.errors) {
		fprintf(stderr, "bench: invalid source (%u errors)\n", diags.errors);
		exit(1);
	}
	spec_diags_release(&diags);
	return src;
}

/* Hosts as observe would see them: reachable, empty, with the base. */
static observed *
make_observed(const spec_source *src, GPtrArray *conns)
{
	observed *o = g_new0(observed, 1);

	o->hosts = g_ptr_array_new();
	o->domain_by_name = g_hash_table_new(g_str_hash, g_str_equal);
	o->duplicates = g_ptr_array_new();
	for (guint i = 0; i < src->hosts->len; i++) {
		const spec_host *sh = src->hosts->pdata[i];
		host_conn *c = g_new0(host_conn, 1);
		obs_host *h = g_new0(obs_host, 1);
		virt_pool *pool = g_new0(virt_pool, 1);
		virt_vol *vol = g_new0(virt_vol, 1);

		c->name = g_strdup(sh->obj.name.v);
		c->spec = sh;
		g_ptr_array_add(conns, c);
		h->index = i;
		h->spec = sh;
		h->name = g_strdup(c->name);
		h->domain_type = g_strdup("test");
		h->reachable = true;
		h->node = (virt_node){ .cpus = 64, .memory = 512ULL << 30, .free_memory = 512ULL << 30 };
		h->domains = g_ptr_array_new();
		h->pools = g_ptr_array_new();
		h->vols = g_ptr_array_new();
		pool->name = g_strdup("default");
		pool->type = g_strdup("dir");
		pool->path = g_strdup("/var/lib/libvirt/images");
		pool->active = pool->listed = true;
		g_ptr_array_add(h->pools, pool);
		vol->pool = g_strdup("default");
		vol->name = g_strdup("base.qcow2");
		vol->key = g_strdup("/var/lib/libvirt/images/base.qcow2");
		g_ptr_array_add(h->vols, vol);
		h->vol_by_key = g_hash_table_new(g_str_hash, g_str_equal);
		g_hash_table_insert(h->vol_by_key, "default/base.qcow2", vol);
		h->details = g_hash_table_new(g_str_hash, g_str_equal);
		g_ptr_array_add(o->hosts, h);
	}
	return o;
}

int
main(void)
{
	spec_source *src = make_source();
	g_autoptr(desired_state) want = desired_build(src);
	g_autoptr(GPtrArray) conns = g_ptr_array_new();
	observed *have = make_observed(src, conns);
	double best = 1e9;
	guint placed = 0, failed = 0;

	for (int round = 0; round < 5; round++) {
		place_state *ps = place_state_new(want, have, NULL);
		gint64 t0 = g_get_monotonic_time();
		double ms;

		placed = failed = 0;
		for (guint i = 0; i < want->vms->len; i++) {
			g_autofree char *because = NULL, *why = NULL;

			if (place_vm(ps, want->vms->pdata[i], NULL, &because, &why))
				placed++;
			else if (++failed == 1 && round == 0)
				fprintf(stderr, "not placed: %s\n", why);
		}
		ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
		best = MIN(best, ms);
		place_state_free(ps);
	}
	printf("place: %u VMs onto %d hosts with %d layers: %.1f ms (best of 5), %u not placed\n",
	       placed, NHOSTS, NAPPS, best, failed);
	spec_source_free(src);
	return failed ? 1 : 0;
}
