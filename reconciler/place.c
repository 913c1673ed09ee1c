/*
 * place.c - where a new VM goes
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "place.h"

struct place_state {
	const observed *have;
	GHashTable *committed;   /* host name -> uint64_t * bytes */
	GHashTable *layer_hosts; /* "appliance/layer" -> GHashTable of host names */
};

place_state *
place_state_new(const desired_state *want, const observed *have)
{
	place_state *ps = g_new0(place_state, 1);

	ps->have = have;
	ps->committed = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	ps->layer_hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)g_hash_table_unref);
	for (guint i = 0; i < have->hosts->len; i++) {
		obs_host *h = have->hosts->pdata[i];

		for (guint j = 0; j < h->domains->len; j++) {
			obs_domain *d = h->domains->pdata[j];
			desired_vm *vm = d->managed ? g_hash_table_lookup(want->vm_by_domain, d->name)
						    : NULL;

			if (vm && vm->state != VM_UNDEPLOYED)
				place_commit(ps, vm, h);
		}
	}
	return ps;
}

void
place_state_free(place_state *ps)
{
	if (!ps)
		return;
	g_hash_table_unref(ps->committed);
	g_hash_table_unref(ps->layer_hosts);
	g_free(ps);
}

static uint64_t *
committed(place_state *ps, const char *host)
{
	uint64_t *c = g_hash_table_lookup(ps->committed, host);

	if (!c) {
		c = g_new0(uint64_t, 1);
		g_hash_table_insert(ps->committed, (gpointer)host, c);
	}
	return c;
}

static GHashTable *
layer_set(place_state *ps, const desired_vm *vm)
{
	g_autofree char *key = g_strdup_printf("%s/%s", vm->appliance, vm->layer);
	GHashTable *set = g_hash_table_lookup(ps->layer_hosts, key);

	if (!set) {
		set = g_hash_table_new(g_str_hash, g_str_equal);
		g_hash_table_insert(ps->layer_hosts, g_steal_pointer(&key), set);
	}
	return set;
}

void
place_commit(place_state *ps, const desired_vm *vm, const obs_host *host)
{
	*committed(ps, host->name) += vm->memory;
	if (vm->layer)
		g_hash_table_add(layer_set(ps, vm), (gpointer)host->name);
}

static int64_t
available(place_state *ps, const obs_host *h)
{
	const spec_host *s = h->conn->spec;
	double over = s ? s->overcommit_memory.v : 1.0;
	int64_t reserve = s ? s->reserve_memory.v : 0;

	return (int64_t)((double)h->node.memory * over) - reserve -
	       (int64_t)*committed(ps, h->name);
}

static bool
has_tag(const spec_host *s, const char *tag)
{
	for (guint i = 0; s && i < spec_list_len(&s->tags); i++)
		if (strcmp(spec_list_str(&s->tags, i), tag) == 0)
			return true;
	return false;
}

/*
 * A VM must never reach a host file through a qcow2 backing chain: neither
 * the base it is built from nor the persistent volume it boots from may
 * have a backing file outside their pool.
 */
static bool
unsafe_volume(const obs_host *h, const desired_disk *sys, const char **vol,
	      const char **path)
{
	const char *const vols[] = {
		sys->base,
		sys->role == DISK_PERSISTENT ? sys->volume : NULL,
	};

	for (size_t i = 0; i < G_N_ELEMENTS(vols); i++) {
		const char *bad = vols[i] ? obs_host_unsafe_backing(h, sys->pool, vols[i]) : NULL;

		if (bad) {
			*vol = vols[i];
			*path = bad;
			return true;
		}
	}
	return false;
}

/* NULL when @h may carry @vm, else why not (owned). */
static char *
ineligible(place_state *ps, const desired_vm *vm, const obs_host *h)
{
	const spec_host *s = h->conn->spec;
	const desired_disk *sys = vm->disks->pdata[0];
	const char *bad_vol, *bad_path;

	if (!h->reachable)
		return g_strdup_printf("%s is unreachable", h->name);
	if (s && s->state.v == HOST_LOST)
		return g_strdup_printf("%s is lost", h->name);
	if (s && s->maintenance.v)
		return g_strdup_printf("%s is in maintenance", h->name);
	for (guint i = 0; i < vm->requires->len; i++)
		if (!has_tag(s, vm->requires->pdata[i]))
			return g_strdup_printf("%s lacks tag '%s'", h->name,
					       (char *)vm->requires->pdata[i]);
	if (vm->layer && g_hash_table_contains(layer_set(ps, vm), h->name))
		return g_strdup_printf("%s already runs a VM of layer '%s'", h->name, vm->layer);
	if (!obs_host_pool(h, sys->pool))
		return g_strdup_printf("%s has no pool '%s'", h->name, sys->pool);
	if (!obs_host_has_volume(h, sys->pool, sys->volume) &&
	    !obs_host_has_volume(h, sys->pool, sys->base))
		return g_strdup_printf("%s has no base volume '%s' in pool '%s'",
				       h->name, sys->base, sys->pool);
	if (unsafe_volume(h, sys, &bad_vol, &bad_path))
		return g_strdup_printf("%s: volume '%s' has a backing file outside pool '%s' (%s)",
				       h->name, bad_vol, sys->pool, bad_path);
	if (available(ps, h) < (int64_t)vm->memory)
		return g_strdup_printf("%s lacks memory", h->name);
	return NULL;
}

/* A persistent volume that exists already pins its VM to that host. */
static obs_host *
pinned_host(place_state *ps, const desired_vm *vm)
{
	const desired_disk *sys = vm->disks->pdata[0];

	if (sys->role != DISK_PERSISTENT)
		return NULL;
	for (guint i = 0; i < ps->have->hosts->len; i++) {
		obs_host *h = ps->have->hosts->pdata[i];

		if (h->reachable && obs_host_has_volume(h, sys->pool, sys->volume))
			return h;
	}
	return NULL;
}

obs_host *
place_vm(place_state *ps, const desired_vm *vm, char **because, char **why)
{
	g_autoptr(GString) reasons = g_string_new(NULL);
	obs_host *pin = pinned_host(ps, vm), *best = NULL;
	int64_t best_avail = 0;

	for (guint i = 0; i < ps->have->hosts->len; i++) {
		obs_host *h = ps->have->hosts->pdata[i];
		g_autofree char *no = NULL;
		int64_t avail;

		if (pin && h != pin)
			continue;
		no = ineligible(ps, vm, h);
		if (no) {
			g_string_append_printf(reasons, "%s%s", reasons->len ? ", " : "", no);
			continue;
		}
		avail = available(ps, h);
		if (!best || (vm->placement == PLACEMENT_PACK ? avail < best_avail
							      : avail > best_avail)) {
			best = h;
			best_avail = avail;
		}
	}
	if (!best) {
		*why = g_strdup_printf("no host can carry %s (%s)", vm->domain,
				       reasons->len ? reasons->str : "no hosts");
		return NULL;
	}
	*because = g_strdup(pin ? "its persistent volume is there" :
			    vm->placement == PLACEMENT_PACK ? "pack: fullest host that fits"
							    : "spread: most free memory");
	place_commit(ps, vm, best);
	return best;
}
