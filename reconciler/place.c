/*
 * place.c - where a new VM goes
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "place.h"

struct place_state {
	const desired_state *want;
	const observed *have;
	uint64_t *memory;        /* by host index: bytes placed */
	guint *cpus;             /* by host index: vCPUs placed */
	GHashTable *disk_ok;     /* "pool\x1fvolume\x1fbase" -> bool[hosts]: computed once */
	GHashTable *layer_hosts; /* "appliance/layer" -> GHashTable of host names */
	GHashTable *cut_short;   /* borrowed: see plan_options */
	GHashTable *storage;     /* storage_key -> guint64 *: bytes of new volumes
				    this plan put there */
};

place_state *
place_state_new(const desired_state *want, const observed *have, GHashTable *cut_short)
{
	place_state *ps = g_new0(place_state, 1);

	ps->want = want;
	ps->have = have;
	ps->cut_short = cut_short;
	ps->memory = g_new0(uint64_t, have->hosts->len + 1);
	ps->cpus = g_new0(guint, have->hosts->len + 1);
	ps->disk_ok = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	ps->storage = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
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
	g_free(ps->memory);
	g_free(ps->cpus);
	g_hash_table_unref(ps->disk_ok);
	g_hash_table_unref(ps->layer_hosts);
	g_hash_table_unref(ps->storage);
	g_free(ps);
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

/* A VM reserves what it may be given while it runs (max_memory,
 * max_cpus), not what it boots with: a live change within them never
 * finds its host full. */
void
place_commit(place_state *ps, const desired_vm *vm, const obs_host *host)
{
	ps->memory[host->index] += desired_vm_max_memory(vm);
	ps->cpus[host->index] += desired_vm_max_cpus(vm);
	if (vm->layer)
		g_hash_table_add(layer_set(ps, vm), (gpointer)host->name);
}

static int64_t
available(place_state *ps, const obs_host *h)
{
	const spec_host *s = h->spec;
	double over = s ? s->overcommit_memory.v : 1.0;
	int64_t reserve = s ? s->reserve_memory.v : 0;

	return (int64_t)((double)h->node.memory * over) - reserve - (int64_t)ps->memory[h->index];
}

/* vCPUs left: the host's CPUs times its overcommit, less reserve and placed. */
static double
available_cpus(place_state *ps, const obs_host *h)
{
	const spec_host *s = h->spec;
	double over = s ? s->overcommit_cpus.v : 1.0;
	int64_t reserve = s ? s->reserve_cpus.v : 0;

	return (double)h->node.cpus * over - (double)reserve - (double)ps->cpus[h->index];
}

bool
place_has_tag(const spec_host *s, const char *tag)
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

/* Why @h cannot hold disk @d built on a base (the system disk, or a
 * template's disk beside it), or NULL: pool, base, backing file. */
static char *
base_problem(const place_state *ps, const desired_disk *d, const obs_host *h)
{
	const char *bad_vol, *bad_path;

	if (!obs_host_pool_known(h, d->pool))
		return g_strdup_printf("%s: pool '%s' is inactive or could not be listed", h->name,
				       d->pool);
	if (d->base && !obs_host_has_volume(h, d->pool, d->volume) &&
	    !obs_host_has_volume(h, d->pool, d->base)) {
		const desired_base *b = desired_base_of(ps->want, d->pool, d->base);
		/* No template names it there: a persistent volume's pool other
		 * than its template's, where the base must be to be cloned. */
		char *why = b ? obs_base_copy_blocker(ps->have, b, h)
			      : g_strdup_printf("%s has no base volume '%s' in pool '%s'", h->name, d->base,
						d->pool);

		if (why)
			return why;  /* else strata copies it there first */
	}
	if (unsafe_volume(h, d, &bad_vol, &bad_path))
		return g_strdup_printf("%s: volume '%s' has a backing file outside pool '%s' (%s)",
				       h->name, bad_vol, d->pool, bad_path);
	return NULL;
}

/* Why @h cannot hold @vm's disks, or NULL: pool, base, backing file, the
 * image in its drive. */
static char *
disk_problem(const place_state *ps, const desired_vm *vm, const obs_host *h)
{
	const desired_disk *sys = vm->disks->pdata[0];
	char *why;

	if (!obs_host_pool(h, sys->pool))
		return g_strdup_printf("%s has no pool '%s'", h->name, sys->pool);
	if ((why = base_problem(ps, sys, h)))
		return why;
	/* A secondary disk is made in its own pool: without it the VM could
	 * be defined but its disk never created; one on a template's base
	 * needs that base, as the system disk does. */
	for (guint i = 1; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		if (!obs_host_pool(h, d->pool))
			return g_strdup_printf("%s has no pool '%s'", h->name, d->pool);
		if (d->base && (why = base_problem(ps, d, h)))
			return why;
	}
	/* The image in its drive is the operator's: strata copies none. */
	if (vm->cdrom_volume && !vm->cdrom_ejected && !obs_host_has_volume(h, vm->cdrom_pool, vm->cdrom_volume))
		return g_strdup_printf("%s lacks the CD-ROM image %s/%s", h->name, vm->cdrom_pool, vm->cdrom_volume);
	return NULL;
}

/* Whether some host lists @vm's own system volume (a VM made before). */
static bool
volume_somewhere(const place_state *ps, const desired_disk *sys)
{
	for (guint i = 0; i < ps->have->hosts->len; i++)
		if (obs_host_has_volume(ps->have->hosts->pdata[i], sys->pool, sys->volume))
			return true;
	return false;
}

/* What disk_problem() depends on: the system disk and every disk's pool;
 * the system volume itself where a host has it (it stands in for a
 * missing base there), and the image in the CD-ROM drive, so VMs share
 * an answer only where it holds. */
static char *
disk_shape(const place_state *ps, const desired_vm *vm)
{
	const desired_disk *sys = vm->disks->pdata[0];
	GString *key = g_string_new(NULL);

	g_string_append_printf(key, "%s\x1f%s\x1f%s", sys->pool,
			       sys->role == DISK_PERSISTENT || volume_somewhere(ps, sys) ? sys->volume : "",
			       sys->base ? sys->base : "");
	for (guint i = 1; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		g_string_append_printf(key, "\x1f%s", d->pool);
		if (d->base)
			g_string_append_printf(key, "\x1f%s\x1f%s", volume_somewhere(ps, d) ? d->volume : "", d->base);
	}
	if (vm->cdrom_volume && !vm->cdrom_ejected)
		g_string_append_printf(key, "\x1f" "cd\x1f%s\x1f%s", vm->cdrom_pool, vm->cdrom_volume);
	return g_string_free(key, FALSE);
}

/* Per host, whether @vm's system disk can live there: computed once per
 * disk shape and pass, not hosts × VMs times. */
static const bool *
disk_ok(place_state *ps, const desired_vm *vm)
{
	g_autofree char *key = disk_shape(ps, vm);
	bool *ok = g_hash_table_lookup(ps->disk_ok, key);

	if (ok)
		return ok;
	ok = g_new0(bool, ps->have->hosts->len + 1);
	for (guint i = 0; i < ps->have->hosts->len; i++) {
		g_autofree char *why = disk_problem(ps, vm, ps->have->hosts->pdata[i]);

		ok[i] = why == NULL;
	}
	g_hash_table_insert(ps->disk_ok, g_steal_pointer(&key), ok);
	return ok;
}

/*
 * May @h carry @vm?  Why not goes to @why when it is given: the reasons
 * are only formatted when no host fits.  @layer: the hosts @vm's layer
 * already uses (NULL: layers do not count); @disks: disk_ok() for @vm;
 * @capacity: whether capacity counts.
 */
static bool
host_fits(place_state *ps, const desired_vm *vm, const obs_host *h, GHashTable *layer,
	  const bool *disks, bool capacity, GString *why)
{
	const spec_host *s = h->spec;

#define NO(...) do {                                           \
		if (why) {                                     \
			if (why->len)                          \
				g_string_append(why, ", ");    \
			g_string_append_printf(why, __VA_ARGS__); \
		}                                              \
		return false;                                  \
	} while (0)
	if (!h->reachable)
		NO("%s is unreachable", h->name);
	if (s && s->state.v == HOST_LOST)
		NO("%s is lost", h->name);
	if (s && s->maintenance.v)
		NO("%s is in maintenance", h->name);
	if (vm->host && strcmp(vm->host, h->name) != 0)
		NO("%s is not %s, the host the spec names", h->name, vm->host);
	for (guint i = 0; i < vm->requires->len; i++)
		if (!place_has_tag(s, vm->requires->pdata[i]))
			NO("%s lacks tag '%s'", h->name, (char *)vm->requires->pdata[i]);
	if (layer && g_hash_table_contains(layer, h->name))
		NO("%s already runs a VM of layer '%s'", h->name, vm->layer);
	if (!disks[h->index]) {
		g_autofree char *problem = disk_problem(ps, vm, h);

		NO("%s", problem);
	}
	if (capacity && available(ps, h) < (int64_t)desired_vm_max_memory(vm))
		NO("%s lacks memory%s", h->name, vm->max_memory > vm->memory ? " (counting max_memory)" : "");
	if (capacity && available_cpus(ps, h) < (double)desired_vm_max_cpus(vm))
		NO("%s lacks vCPUs%s", h->name, vm->max_cpus > vm->cpus ? " (counting max_cpus)" : "");
#undef NO
	return true;
}

/*
 * Whether @h may carry @vm, pinned to @pin: the host itself, or one
 * declared to share the volume's pool with it (not refuted, not waiting
 * for its probe) that lists the volume.  Else why not, in @reasons.
 */
static bool
pin_allows(place_state *ps, const desired_vm *vm, const obs_host *pin, const obs_host *h,
	   GString *reasons)
{
	const desired_disk *sys = vm->disks->pdata[0];
	const char *why = NULL;
	share_verdict v;

	if (!pin || h == pin)
		return true;
	v = obs_pool_shared(ps->have, ps->want, sys->pool, pin, h, &why);
	/* The volume is known to be there: @h lists it, or the pin does (a
	 * move; @h may not have read the pool since another made it). */
	if ((v == SHARE_YES || v == SHARE_ASSUMED) &&
	    (obs_host_has_volume(h, sys->pool, sys->volume) || obs_host_has_volume(pin, sys->pool, sys->volume)))
		return true;
	if (reasons && v != SHARE_NO && h->reachable)
		g_string_append_printf(reasons, "%s%s: %s", reasons->len ? "; " : "", h->name,
				       why ? why : "does not list the persistent volume");
	return false;
}

/* Whether every disk of @vm is on a pool @from and @h share: a move there
 * copies nothing. */
static bool
shares_disks(place_state *ps, const desired_vm *vm, const obs_host *from, const obs_host *h)
{
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		const char *why;
		share_verdict v = obs_pool_shared(ps->have, ps->want, d->pool, from, h, &why);

		if (v != SHARE_YES && v != SHARE_ASSUMED)
			return false;
	}
	return true;
}

/* A persistent volume that exists already pins its VM to that host (and
 * to the hosts that share its pool with it); a VM leaving @from (a move, a
 * failover from a lost host) to @from's. */
static const obs_host *
pinned_host(place_state *ps, const desired_vm *vm, const obs_host *from)
{
	const desired_disk *sys = vm->disks->pdata[0];

	if (sys->role != DISK_PERSISTENT)
		return NULL;
	if (from)
		return from;
	for (guint i = 0; i < ps->have->hosts->len; i++) {
		obs_host *h = ps->have->hosts->pdata[i];

		if (h->reachable && obs_host_has_volume(h, sys->pool, sys->volume))
			return h;
	}
	return NULL;
}

/*
 * The host where a crashed run had sent @vm's define or disk, never
 * answered: libvirtd carries out a dead client's calls, so they may still
 * land there.  Placed elsewhere, the VM ran on two hosts (the e2e crash
 * scenario, under TCG where a define takes seconds).  From history, never
 * from volume names: a disk merely named like the VM's says nothing.
 */
static obs_host *
cut_short_on(place_state *ps, const desired_vm *vm)
{
	const char *name = ps->cut_short ? g_hash_table_lookup(ps->cut_short, vm->domain) : NULL;

	for (guint i = 0; name && i < ps->have->hosts->len; i++) {
		obs_host *h = ps->have->hosts->pdata[i];

		if (strcmp(h->name, name) == 0 && h->reachable)
			return h;
	}
	return NULL;
}

/* "layer app already on hv1, hv3" — why the layer ruled hosts out. */
static char *
layer_note(place_state *ps, const desired_vm *vm)
{
	GList *names;
	g_autoptr(GString) s = NULL;

	if (!vm->layer || !g_hash_table_size(layer_set(ps, vm)))
		return g_strdup("");
	names = g_list_sort(g_hash_table_get_keys(layer_set(ps, vm)), (GCompareFunc)g_strcmp0);
	s = g_string_new("; layer ");
	g_string_append_printf(s, "%s already on ", vm->layer);
	for (GList *l = names; l; l = l->next)
		g_string_append_printf(s, "%s%s", l != names ? ", " : "", (char *)l->data);
	g_list_free(names);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/* ---- storage: a pool's free space, counted once per storage ----------- */


/* One storage per pool and host, or one per pool declared shared: its
 * members see the same bytes, so what is placed through one is gone for
 * all (refuted or not: counting two storages as one errs on the safe side). */
static char *
storage_key(const place_state *ps, const obs_host *h, const char *pool)
{
	return desired_pool_sharers(ps->want, pool, h->name) ? g_strdup_printf("=%s", pool)
							      : g_strdup_printf("%s/%s", h->name, pool);
}

/*
 * A base strata copies onto the host first: the bytes it takes at its
 * source (counted again for each VM placed there: a pass over-reserves
 * rather than overfills), and its full size again when cloned.
 */
static uint64_t
base_copy_bytes(const place_state *ps, const desired_disk *d, bool cloned)
{
	const desired_base *b = desired_base_of(ps->want, d->pool, d->base);
	const obs_host *src = b ? obs_host_named(ps->have, b->source_host) : NULL;
	g_autofree char *why = NULL;
	const lib_entry *e = b && b->source_library ? obs_library_entry(ps->have, b, &why) : NULL;

	if (e) {
		const lib_disk *ld = e->disks->pdata[b->index];

		return ld->bytes + (cloned ? ld->virtual_size : 0);
	}
	if (!src)
		return 0;
	return obs_host_allocation(src, d->pool, d->base) +
	       (cloned ? obs_host_capacity(src, d->pool, d->base) : 0);
}

/*
 * Bytes a plan writes into @pool through @h for @vm, now: a copy of a base
 * (a persistent volume; a system disk where the pool cannot hold an
 * overlay) its base's size; a move that copies its disks (from @from, not
 * sharing the pool) their full size.  New qcow2 disks and overlays start
 * empty and are not counted: they grow later, which no placement foresees.
 * Volumes @h lists already are not written.
 */
static uint64_t
new_bytes(place_state *ps, const desired_vm *vm, const obs_host *h, const obs_host *from,
	  const char *pool)
{
	uint64_t n = 0;
	const char *why;
	share_verdict v = from ? obs_pool_shared(ps->have, ps->want, pool, from, h, &why) : SHARE_NO;

	if (v == SHARE_YES || v == SHARE_ASSUMED)
		return 0;  /* the move keeps the volumes where they are */
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		bool moved = from && !obs_host_lost(from);
		bool cloned = d->base && (d->role == DISK_PERSISTENT || !obs_host_pool_allows_backing(h, d->pool));

		if (strcmp(d->pool, pool) != 0 || obs_host_has_volume(h, d->pool, d->volume))
			continue;
		if (moved)
			n += d->capacity ? d->capacity
					 : obs_host_capacity(from, d->pool, d->base ? d->base : d->volume);
		else if (d->base && !obs_host_has_volume(h, d->pool, d->base))
			n += base_copy_bytes(ps, d, cloned);
		else if (cloned)
			n += obs_host_capacity(h, d->pool, d->base);
	}
	return n;
}

static guint64 *
storage_used(place_state *ps, const obs_host *h, const char *pool)
{
	g_autofree char *key = storage_key(ps, h, pool);
	guint64 *used = g_hash_table_lookup(ps->storage, key);

	if (!used) {
		used = g_new0(guint64, 1);
		g_hash_table_insert(ps->storage, g_steal_pointer(&key), used);
	}
	return used;
}

/* Whether @vm's new volumes fit the free space of their pools on @h, after
 * what this plan already put in the same storage; pools whose size could
 * not be read are not judged. */
static bool
storage_fits(place_state *ps, const desired_vm *vm, const obs_host *h, const obs_host *from,
	     GString *why)
{
	for (guint i = 0; i < vm->disks->len; i++) {
		const char *pool = ((desired_disk *)vm->disks->pdata[i])->pool;
		const virt_pool *p = obs_host_pool(h, pool);
		uint64_t need = p && p->sized ? new_bytes(ps, vm, h, from, pool) : 0;
		guint64 used = need ? *storage_used(ps, h, pool) : 0;

		if (need && used + need > p->available) {
			g_autofree char *free_s = g_format_size_full(p->available > used ? p->available - used : 0,
								     G_FORMAT_SIZE_IEC_UNITS);
			g_autofree char *need_s = g_format_size_full(need, G_FORMAT_SIZE_IEC_UNITS);

			if (why)
				g_string_append_printf(why, "%s%s: pool '%s' has %s free%s, %s needed",
						       why->len ? ", " : "", h->name, pool, free_s,
						       desired_pool_sharers(ps->want, pool, h->name)
							       ? " (one storage with the hosts that share it)" : "",
						       need_s);
			return false;
		}
	}
	return true;
}

static void
storage_commit(place_state *ps, const desired_vm *vm, const obs_host *h, const obs_host *from)
{
	g_autoptr(GHashTable) done = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < vm->disks->len; i++) {
		const char *pool = ((desired_disk *)vm->disks->pdata[i])->pool;

		if (g_hash_table_add(done, (gpointer)pool))
			*storage_used(ps, h, pool) += new_bytes(ps, vm, h, from, pool);
	}
}

/* The host that fits @vm best, among those sharing its disks' pools with
 * @near when that is given. */
static obs_host *
best_host(place_state *ps, const desired_vm *vm, const obs_host *pin, GHashTable *taken,
	  const bool *disks, const obs_host *from, bool near)
{
	obs_host *best = NULL;
	int64_t best_avail = 0;

	for (guint i = 0; i < ps->have->hosts->len; i++) {
		obs_host *h = ps->have->hosts->pdata[i];
		int64_t avail;

		if (!pin_allows(ps, vm, pin, h, NULL) || !host_fits(ps, vm, h, taken, disks, true, NULL))
			continue;
		avail = available(ps, h);
		if (best && (vm->placement == PLACEMENT_PACK ? avail >= best_avail : avail <= best_avail))
			continue;
		/* Only for a host that would win: the same choice, fewer checks. */
		if (!storage_fits(ps, vm, h, from, NULL) || (near && !shares_disks(ps, vm, from, h)))
			continue;
		best = h;
		best_avail = avail;
	}
	return best;
}

obs_host *
place_vm(place_state *ps, const desired_vm *vm, const obs_host *from, char **because, char **why)
{
	const obs_host *pin = pinned_host(ps, vm, from);
	obs_host *best = NULL, *left = NULL;
	GHashTable *taken = vm->layer ? layer_set(ps, vm) : NULL;
	const bool *disks = disk_ok(ps, vm);
	g_autofree char *layer = NULL;
	bool near = false;

	if (!pin && !from && (left = cut_short_on(ps, vm)) &&
	    host_fits(ps, vm, left, taken, disks, true, NULL)) {
		layer = layer_note(ps, vm);
		*because = g_strdup_printf("a crashed run had sent it there, and that may still land%s", layer);
		place_commit(ps, vm, left);
		storage_commit(ps, vm, left, NULL);
		return left;
	}
	/* A move stays on the storage it is on when it can: nothing copied. */
	if (from && (best = best_host(ps, vm, pin, taken, disks, from, true)))
		near = true;
	else
		best = best_host(ps, vm, pin, taken, disks, from, false);
	if (!best) {
		g_autoptr(GString) reasons = g_string_new(NULL);

		for (guint i = 0; i < ps->have->hosts->len; i++) {
			obs_host *h = ps->have->hosts->pdata[i];

			if (pin_allows(ps, vm, pin, h, reasons) &&
			    host_fits(ps, vm, h, taken, disks, true, reasons))
				storage_fits(ps, vm, h, from, reasons);
		}
		*why = g_strdup_printf("no host can carry %s (%s)", vm->domain,
				       reasons->len ? reasons->str : "no hosts");
		return NULL;
	}
	layer = layer_note(ps, vm);
	if (pin && pin != best)
		*because = g_strdup_printf("its persistent volume is there, on a pool it shares with %s%s",
					   pin->name, layer);
	else if (near)
		*because = g_strdup_printf("it shares the pools of %s's disks with %s, so nothing is copied%s",
					   vm->domain, from->name, layer);
	else
		*because = g_strdup_printf("%s%s", pin ? "its persistent volume is there" :
					   vm->host ? "the host the spec names" :
					   vm->placement == PLACEMENT_PACK ? "pack: the fullest host that fits"
									   : "spread: the most free memory", layer);
	place_commit(ps, vm, best);
	storage_commit(ps, vm, best, from);
	return best;
}

/* ---- layers as a whole: a bipartite matching of members onto hosts ---- */

typedef struct {
	place_state *ps;
	GPtrArray *vms;
	bool *visited;
	int *host_vm;
} matcher;

static bool
augment(matcher *m, guint v)
{
	for (guint h = 0; h < m->ps->have->hosts->len; h++) {
		obs_host *host = m->ps->have->hosts->pdata[h];

		if (m->visited[h] || !host_fits(m->ps, m->vms->pdata[v], host, NULL,
						  disk_ok(m->ps, m->vms->pdata[v]), false, NULL))
			continue;
		m->visited[h] = true;
		if (m->host_vm[h] < 0 || augment(m, (guint)m->host_vm[h])) {
			m->host_vm[h] = (int)v;
			return true;
		}
	}
	return false;
}

bool
place_layer_feasible(place_state *ps, GPtrArray *members, char **why)
{
	guint nh = ps->have->hosts->len, fit = 0;
	matcher m = { ps, members, g_new0(bool, nh + 1), g_new(int, nh + 1) };
	const desired_vm *first = members->pdata[0];
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint h = 0; h < nh; h++)
		m.host_vm[h] = -1;
	for (guint v = 0; v < members->len; v++) {
		memset(m.visited, 0, sizeof(bool) * (nh + 1));
		fit += augment(&m, v);
	}
	g_free(m.visited);
	g_free(m.host_vm);
	if (fit == members->len)
		return true;
	for (guint h = 0; h < nh; h++)
		host_fits(ps, first, ps->have->hosts->pdata[h], NULL, disk_ok(ps, first), false, out);
	*why = g_strdup_printf("layer '%s' of appliance '%s' needs %u distinct hosts, only %u %s eligible%s%s%s",
			       first->layer, first->appliance, members->len, fit,
			       fit == 1 ? "is" : "are", out->len ? " (" : "", out->str,
			       out->len ? ")" : "");
	return false;
}
