/*
 * observe.c - one snapshot of what every host really runs
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "domxml.h"
#include "fault.h"
#include "handoff.h"
#include "mono_wait.h"
#include "observe.h"

typedef struct {
	bool managed;
	char *appliance;
	char *vm;
	char *hash;
	char *template;
	GStrv volumes;         /* what its definition uses: "pool/volume" */
	GStrv paths;           /* and host paths */
	GStrv nics;            /* "NETWORK MAC" of each interface */
	GStrv disks;           /* "TARGET SOURCE SIZE" of each disk */
	GStrv released;        /* "pool/volume" its disks let go of */
	char *title;
	bool reset_on_reboot;  /* what the daemon's reboot of it does */
	char *running_differs; /* set: never served from here (read each pass
				  until the running VM matches its definition) */
} cache_entry;

struct obs_cache {
	GHashTable *by_uuid;   /* uuid -> cache_entry * */
	pthread_mutex_t lock;  /* any thread may remember or read a definition
				  (a pthread mutex: ThreadSanitizer sees it) */
	guint gen;             /* bumped by each forgetting: what an observer
				  read before one is not kept after it */
	GHashTable *shares;    /* pool -> share_state *: under @lock; a probe's
				  thread writes what it found here */
};

static void
cache_entry_free(gpointer p)
{
	cache_entry *e = p;

	g_free(e->appliance);
	g_free(e->vm);
	g_free(e->hash);
	g_free(e->template);
	g_strfreev(e->volumes);
	g_strfreev(e->paths);
	g_strfreev(e->nics);
	g_strfreev(e->disks);
	g_strfreev(e->released);
	g_free(e->title);
	g_free(e->running_differs);
	g_free(e);
}

/* A NULL-terminated copy of @a's strings (NULL stays NULL). */
static GStrv
strv_of(const GPtrArray *a)
{
	GStrv v;

	if (!a)
		return NULL;
	v = g_new0(char *, a->len + 1);
	for (guint i = 0; i < a->len; i++)
		v[i] = g_strdup(a->pdata[i]);
	return v;
}

obs_cache *
obs_cache_new(void)
{
	obs_cache *c = g_atomic_rc_box_new0(obs_cache);

	c->by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   cache_entry_free);
	c->shares = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, share_state_free);
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void
obs_cache_clear_box(gpointer p)
{
	obs_cache *c = p;

	HANDOFF_TAKE(c);
	g_hash_table_unref(c->by_uuid);
	g_hash_table_unref(c->shares);
	pthread_mutex_destroy(&c->lock);
}

obs_cache *
obs_cache_ref(obs_cache *c)
{
	return g_atomic_rc_box_acquire(c);
}

void
obs_cache_free(obs_cache *c)
{
	if (!c)
		return;
	HANDOFF_SEND(c);
	g_atomic_rc_box_release_full(c, obs_cache_clear_box);
}

/* Per host: two hosts may hold domains defined from one XML, one UUID. */
static char *
cache_key(const char *host, const char *uuid)
{
	return g_strdup_printf("%s/%s", host, uuid);
}

static guint
cache_gen(obs_cache *c)
{
	guint gen;

	pthread_mutex_lock(&c->lock);
	gen = c->gen;
	pthread_mutex_unlock(&c->lock);
	return gen;
}

/* What @info says of domain @uuid, read while the cache was at @gen
 * (G_MAXUINT: now, so always kept). */
static void
cache_put(obs_cache *c, guint gen, const char *host, const char *uuid, const domxml_info *info)
{
	cache_entry *e = g_new0(cache_entry, 1);

	e->managed = info->managed;
	e->appliance = g_strdup(info->appliance);
	e->vm = g_strdup(info->vm);
	e->hash = g_strdup(info->hash);
	e->reset_on_reboot = info->reset_on_reboot;
	e->template = g_strdup(info->template);
	e->volumes = strv_of(info->volumes);
	e->paths = strv_of(info->paths);
	e->nics = strv_of(info->nics);
	e->disks = strv_of(info->disks);
	e->released = strv_of(info->released);
	e->title = g_strdup(info->title);
	e->running_differs = g_strdup(info->running_differs);
	pthread_mutex_lock(&c->lock);
	if (gen == G_MAXUINT || gen == c->gen) {
		g_hash_table_insert(c->by_uuid, cache_key(host, uuid), e);
		e = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (e)
		cache_entry_free(e);
}

void
obs_cache_remember(obs_cache *c, const char *host, const char *uuid, const char *xml)
{
	domxml_info info;

	if (!domxml_parse(xml, &info))
		return;
	cache_put(c, G_MAXUINT, host, uuid, &info);
	domxml_info_release(&info);
}

static gboolean
unmanaged_entry(gpointer key, gpointer value, gpointer data)
{
	(void)key;
	(void)data;
	return !((cache_entry *)value)->managed;
}

void
obs_cache_forget_unmanaged(obs_cache *c)
{
	pthread_mutex_lock(&c->lock);
	g_hash_table_foreach_remove(c->by_uuid, unmanaged_entry, NULL);
	c->gen++;
	pthread_mutex_unlock(&c->lock);
}

void
obs_cache_clear(obs_cache *c)
{
	pthread_mutex_lock(&c->lock);
	g_hash_table_remove_all(c->by_uuid);
	c->gen++;
	pthread_mutex_unlock(&c->lock);
}

static void
domain_free(gpointer p)
{
	obs_domain *d = p;

	g_free(d->name);
	g_free(d->appliance);
	g_free(d->vm);
	g_free(d->hash);
	g_free(d->template);
	g_strfreev(d->volumes);
	g_strfreev(d->paths);
	g_strfreev(d->nics);
	g_strfreev(d->disks);
	g_strfreev(d->released);
	g_free(d->title);
	g_free(d->restart_required);
	g_free(d->cdrom);
	g_free(d->seed);
	g_free(d->console_verifier);
	g_free(d->console);
	g_free(d->boot);
	if (d->snaps)
		g_ptr_array_unref(d->snaps);
	g_free(d);
}

static void
host_free(gpointer p)
{
	obs_host *h = p;

	g_clear_pointer(&h->domains, g_ptr_array_unref);
	g_clear_pointer(&h->vol_by_key, g_hash_table_unref);
	g_clear_pointer(&h->vols_of, g_hash_table_unref);
	g_clear_pointer(&h->users, g_hash_table_unref);
	g_clear_pointer(&h->details, g_hash_table_unref);
	g_clear_pointer(&h->pools, g_ptr_array_unref);
	g_clear_pointer(&h->vols, g_ptr_array_unref);
	g_free(h->name);
	g_free(h->domain_type);
	g_free(h->error);
	g_free(h->uri_digest);
	g_free(h);
}

static void
domain_take(obs_domain *d, const cache_entry *e)
{
	d->managed = e->managed;
	d->appliance = g_strdup(e->appliance);
	d->vm = g_strdup(e->vm);
	d->hash = g_strdup(e->hash);
	d->template = g_strdup(e->template);
	d->volumes = g_strdupv(e->volumes);
	d->paths = g_strdupv(e->paths);
	d->nics = g_strdupv(e->nics);
	d->disks = g_strdupv(e->disks);
	d->released = g_strdupv(e->released);
	d->title = g_strdup(e->title);
	d->reset_on_reboot = e->reset_on_reboot;
	d->refs_known = true;
}

/* The strings of @from that @to lacks, added to @to. */
static void
add_missing(GPtrArray *to, const GPtrArray *from)
{
	for (guint i = 0; i < from->len; i++)
		if (!g_ptr_array_find_with_equal_func(to, from->pdata[i], g_str_equal, NULL))
			g_ptr_array_add(to, g_strdup(from->pdata[i]));
}

/*
 * Domain @name's definition, parsed into @info, with what its live
 * definition uses added when it runs (a disk attached live only, a backing
 * chain).  False when either cannot be read, @error saying why (a domain
 * gone meanwhile is VIRT_ERROR_NOT_FOUND).
 */
static bool
read_definition(virt_host *v, const char *name, bool running, domxml_info *info, GError **error)
{
	g_autofree char *xml = NULL;
	g_autofree char *live = NULL;
	domxml_info li;

	if (!virt_domain_xml(v, name, true, &xml, error) || !domxml_parse(xml, info))
		return false;
	if (!running)
		return true;
	if (!virt_domain_xml(v, name, false, &live, error) || !domxml_parse(live, &li)) {
		domxml_info_release(info);
		return false;
	}
	add_missing(info->volumes, li.volumes);
	add_missing(info->paths, li.paths);
	info->running_differs = domxml_running_differs(info, &li);
	domxml_info_release(&li);
	return true;
}

/*
 * A VM's snapshots matter when a change to it is due: a declared snapshot
 * or revert to carry out, or a disk change that snapshots forbid.  Read
 * then only, so that a pass costs nothing per VM while nothing changes.
 */
static void
snapshots_read(virt_host *v, obs_domain *d, const desired_state *want, const char *type)
{
	desired_vm *vm = g_hash_table_lookup(want->vm_by_domain, d->name);
	g_autofree char *hash = vm ? desired_vm_hash(vm, type) : NULL;

	if (!vm || !d->managed || (d->hash && strcmp(d->hash, hash) == 0))
		return;
	if (!virt_snapshot_list(v, d->name, &d->snaps, NULL))
		d->snaps = NULL;  /* unknown: the plan refuses what needs them */
}

/* Read the definition of @d and remember what it says. */
static void
domain_read(obs_host *h, virt_host *v, obs_domain *d, obs_cache *cache, guint gen,
	    const desired_state *want, unsigned *reads)
{
	domxml_info info;

	(*reads)++;
	/* Gone meanwhile, or unreadable: unmanaged, and what it uses unknown. */
	if (!read_definition(v, d->name, d->state != VIRT_DOM_SHUTOFF, &info, NULL))
		return;
	d->managed = info.managed;
	d->appliance = g_strdup(info.appliance);
	d->vm = g_strdup(info.vm);
	d->hash = g_strdup(info.hash);
	d->template = g_strdup(info.template);
	d->volumes = strv_of(info.volumes);
	d->paths = strv_of(info.paths);
	d->nics = strv_of(info.nics);
	d->disks = strv_of(info.disks);
	d->released = strv_of(info.released);
	d->title = g_strdup(info.title);
	d->restart_required = g_strdup(info.running_differs);
	d->refs_known = true;
	d->detailed = true;
	d->cpus = info.cpus;
	d->memory = info.memory;
	d->max_cpus = info.max_cpus;
	d->max_memory = info.max_memory;
	d->cdrom = g_strdup(info.cdrom);
	d->console = g_strdup(info.console);
	d->boot = g_strdup(info.boot);
	d->seed = g_strdup(info.seed);
	d->reset_on_reboot = info.reset_on_reboot;
	d->console_verifier = g_strdup(info.console_verifier);
	cache_put(cache, gen, h->name, d->uuid, &info);
	domxml_info_release(&info);
	snapshots_read(v, d, want, h->domain_type);
}

bool
obs_volume_user_now(virt_host *v, const char *pool, const char *volume, const char *except,
		    char **user, GError **error)
{
	g_autofree char *want = g_strdup_printf("%s/%s", pool, volume);
	g_autofree char *key = NULL;
	g_autoptr(GPtrArray) doms = NULL;

	*user = NULL;
	if (!virt_vol_key(v, pool, volume, &key, error) || !virt_list_domains(v, &doms, error))
		return false;
	if (!key || !key[0]) {
		*user = g_strdup("(unknown: the volume has no key to compare disk paths with)");
		return true;
	}
	for (guint i = 0; i < doms->len && !*user; i++) {
		const virt_dom *d = doms->pdata[i];
		g_autoptr(GError) err = NULL;
		domxml_info info;

		if (g_strcmp0(d->name, except) == 0)
			continue;
		if (!read_definition(v, d->name, d->state != VIRT_DOM_SHUTOFF, &info, &err)) {
			if (!g_error_matches(err, VIRT_ERROR, VIRT_ERROR_NOT_FOUND))  /* gone: uses nothing */
				*user = g_strdup_printf("%s (its definition could not be read)", d->name);
			continue;
		}
		if (g_ptr_array_find_with_equal_func(info.volumes, want, g_str_equal, NULL) ||
		    g_ptr_array_find_with_equal_func(info.paths, key, g_str_equal, NULL))
			*user = g_strdup(d->name);
		domxml_info_release(&info);
	}
	return true;
}

/* Whether a volume's backing file @backing may be @path: a relative one
 * (a hand-made overlay) counts when its last component matches, and one
 * that is no plain path (json:, nbd://…) always counts. */
static bool
backing_may_be(const char *backing, const char *path)
{
	g_autofree char *a = NULL, *b = NULL;

	if (!backing)
		return false;
	if (backing[0] == '/')
		return strcmp(backing, path) == 0;
	if (strchr(backing, ':'))
		return true;
	a = g_path_get_basename(backing);
	b = g_path_get_basename(path);
	return strcmp(a, b) == 0;
}

/* Every pool of @v read again from its storage, then listed; a pool that
 * is inactive, or whose volumes cannot be listed (what they are built on
 * cannot be read), is named in *@user. */
static bool
pools_read_afresh(virt_host *v, GPtrArray **vols, char **user, GError **error)
{
	g_autoptr(GPtrArray) pools = NULL, first = NULL, again = NULL;

	if (!virt_list_pools(v, &pools, &first, error))
		return false;
	for (guint i = 0; i < pools->len; i++) {
		const virt_pool *p = pools->pdata[i];

		if (p->active && !virt_pool_refresh(v, p->name, error))
			return false;
	}
	g_clear_pointer(&pools, g_ptr_array_unref);
	if (!virt_list_pools(v, &pools, &again, error))
		return false;
	for (guint i = 0; i < pools->len; i++) {
		const virt_pool *p = pools->pdata[i];

		if (!p->active || !p->listed) {
			*user = g_strdup_printf("pool '%s' (%s: what its volumes are built on cannot be read)", p->name,
						p->active ? "its volumes could not be listed" : "inactive");
			return true;
		}
	}
	*vols = g_steal_pointer(&again);
	return true;
}

/* A volume of @vols, other than @pool/@volume, built on @path, or NULL. */
static char *
volume_on(virt_host *v, GPtrArray *vols, const char *path, const char *pool, const char *volume)
{
	for (guint i = 0; i < vols->len; i++) {
		const virt_vol *vol = vols->pdata[i];
		virt_vol_detail d = { 0 };
		g_autoptr(GError) err = NULL;
		char *user = NULL;

		if (!g_strcmp0(vol->pool, pool) && !g_strcmp0(vol->name, volume))
			continue;
		if (!virt_volume_detail(v, vol->pool, vol->name, &d, &err)) {
			if (!g_error_matches(err, VIRT_ERROR, VIRT_ERROR_NOT_FOUND))  /* gone: stands on nothing */
				return g_strdup_printf("volume %s/%s (it could not be read)", vol->pool, vol->name);
			continue;
		}
		if (backing_may_be(d.backing, path))
			user = g_strdup_printf("volume %s/%s (its backing file is %s)", vol->pool, vol->name, d.backing);
		g_free(d.backing);
		g_free(d.format);
		if (user)
			return user;
	}
	return NULL;
}

/*
 * A disk of @info on @path: by path, by @pool/@volume, or by any pool and
 * name whose volume is that file (@keys: "pool/name" -> key; a second pool
 * on the same folder names it otherwise).  Or a disk whose source is
 * outside every listed volume: what it is built on cannot be read.
 */
static char *
disk_on(const char *dom, const domxml_info *info, GHashTable *keys, GHashTable *paths, const char *path,
	const char *pool, const char *volume)
{
	g_autofree char *want = pool ? g_strdup_printf("%s/%s", pool, volume) : NULL;

	if ((want && g_ptr_array_find_with_equal_func(info->volumes, want, g_str_equal, NULL)) ||
	    g_ptr_array_find_with_equal_func(info->paths, path, g_str_equal, NULL))
		return g_strdup_printf("domain %s (a disk or its backing chain is the file)", dom);
	for (guint i = 0; i < info->volumes->len; i++) {
		const char *key = g_hash_table_lookup(keys, info->volumes->pdata[i]);

		if (!key)
			return g_strdup_printf("domain %s (its disk on volume %s, which no pool lists: what it is "
					       "built on cannot be read)", dom, (char *)info->volumes->pdata[i]);
		if (!strcmp(key, path))
			return g_strdup_printf("domain %s (its disk on volume %s is the file)", dom,
					       (char *)info->volumes->pdata[i]);
	}
	for (guint i = 0; info->disks && i < info->disks->len; i++) {
		g_autofree char *target = NULL, *source = NULL;
		uint64_t size;

		if (!domxml_disk_split(info->disks->pdata[i], &target, &source, &size))
			continue;
		if (!source[0] || !strcmp(source, "-"))
			return g_strdup_printf("domain %s (disk %s is neither a file nor a volume: what it is "
					       "built on cannot be read)", dom, target);
		if (source[0] == '/' && !g_hash_table_contains(paths, source))
			return g_strdup_printf("domain %s (disk %s is %s, outside every pool: what it is built "
					       "on cannot be read)", dom, target, source);
	}
	return NULL;
}

bool
obs_file_user_now(virt_host *v, const char *path, const char *pool, const char *volume, char **user,
		  GError **error)
{
	g_autoptr(GPtrArray) vols = NULL, doms = NULL;
	g_autoptr(GHashTable) keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GHashTable) paths = g_hash_table_new(g_str_hash, g_str_equal);

	*user = NULL;
	if (!pools_read_afresh(v, &vols, user, error))
		return false;
	if (*user || (*user = volume_on(v, vols, path, pool, volume)))
		return true;
	for (guint i = 0; i < vols->len; i++) {
		const virt_vol *vol = vols->pdata[i];

		if (!vol->key)
			continue;
		g_hash_table_insert(keys, g_strdup_printf("%s/%s", vol->pool, vol->name), vol->key);
		g_hash_table_add(paths, vol->key);
	}
	if (!virt_list_domains(v, &doms, error))
		return false;
	for (guint i = 0; i < doms->len && !*user; i++) {
		const virt_dom *d = doms->pdata[i];
		g_autoptr(GError) err = NULL;
		domxml_info info;

		if (!read_definition(v, d->name, d->state != VIRT_DOM_SHUTOFF, &info, &err)) {
			if (!g_error_matches(err, VIRT_ERROR, VIRT_ERROR_NOT_FOUND))
				*user = g_strdup_printf("domain %s (its definition could not be read)", d->name);
			continue;
		}
		*user = disk_on(d->name, &info, keys, paths, path, pool, volume);
		domxml_info_release(&info);
	}
	return true;
}

/*
 * The cache answers when it knows the domain and, for one we manage, its
 * hash is the one we want now; anything else is read afresh.
 */
static bool
domain_from_cache(obs_domain *d, const desired_state *want, obs_cache *cache,
		  const char *type)
{
	g_autofree char *key = NULL;
	cache_entry *e;
	desired_vm *vm;
	g_autofree char *hash = NULL;
	bool hit = false;

	pthread_mutex_lock(&cache->lock);
	key = cache_key(d->host->name, d->uuid);
	e = g_hash_table_lookup(cache->by_uuid, key);
	if (e && !e->managed) {
		hit = true;
	} else if (e && !e->running_differs) {
		vm = g_hash_table_lookup(want->vm_by_domain, d->name);
		hash = vm ? desired_vm_hash(vm, type) : NULL;
		hit = hash && e->hash && strcmp(hash, e->hash) == 0;
	}
	if (hit)
		domain_take(d, e);
	pthread_mutex_unlock(&cache->lock);
	return hit;
}

/* What one host's thread needs: its own references, nothing of the caller's. */
typedef struct host_job {
	observation *ob;
	guint index;
	char *name;
	virt_host *virt;
	desired_state *want;
	obs_cache *cache;
	guint cache_gen;         /* the cache's, at begin */
	GPtrArray *probes;       /* share_probe *: pools this thread checks,
				    after its host has answered */
	GStrv lost;              /* hosts declared lost */
	bool maintenance;        /* of its host document, copied: the thread */
	GStrv tags;              /* may outlive the revision */
} host_job;

/* Another VM of @vm's appliance and layer is defined on @h too. */
static bool
layer_mate_here(const obs_host *h, const obs_domain *d, const desired_vm *vm, const desired_state *want)
{
	for (guint i = 0; vm->layer && i < h->domains->len; i++) {
		const obs_domain *m = h->domains->pdata[i];
		const desired_vm *mate = m == d ? NULL : g_hash_table_lookup(want->vm_by_domain, m->name);

		if (mate && mate->layer && strcmp(mate->appliance, vm->appliance) == 0 &&
		    strcmp(mate->layer, vm->layer) == 0)
			return true;
	}
	return false;
}

/* A copy of @s's tags (NULL: none, or no host document). */
static GStrv
host_tags(const spec_host *s)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	for (guint i = 0; s && i < spec_list_len(&s->tags); i++)
		g_strv_builder_add(b, spec_list_str(&s->tags, i));
	return g_strv_builder_end(b);
}

/*
 * Whether the planner may move @d off @h (@maintenance, @tags: its host
 * document's): every reason it has (plan.c's must_move), or more.  A VM
 * with snapshots does not move (libvirt migrates no domain with any, a
 * cold move would lose them), so the plan needs them for these VMs
 * whatever their hash.
 */
static bool
may_move(const obs_host *h, const obs_domain *d, const desired_state *want, bool maintenance,
	 const char *const *tags)
{
	const desired_vm *vm = g_hash_table_lookup(want->vm_by_domain, d->name);
	bool pinned_here;

	if (!vm || !d->managed)
		return false;
	pinned_here = vm->host && strcmp(vm->host, h->name) == 0;
	if (pinned_here)
		return false;
	if (vm->host || maintenance)
		return true;
	for (guint i = 0; i < vm->requires->len; i++)
		if (!tags || !g_strv_contains(tags, vm->requires->pdata[i]))
			return true;
	return layer_mate_here(h, d, vm, want);
}

static void
observe_domains(obs_host *h, const host_job *j, GPtrArray *doms, unsigned *reads)
{
	virt_host *v = j->virt;
	const desired_state *want = j->want;
	obs_cache *cache = j->cache;
	guint gen = j->cache_gen;
	const char *type = h->domain_type;

	for (guint i = 0; i < doms->len; i++) {
		virt_dom *vd = doms->pdata[i];
		obs_domain *d = g_new0(obs_domain, 1);

		d->name = g_strdup(vd->name);
		memcpy(d->uuid, vd->uuid, sizeof(d->uuid));
		d->state = vd->state;
		d->reason = vd->reason;
		d->managed_save = vd->managed_save;
		d->host = h;
		if (!domain_from_cache(d, want, cache, type))
			domain_read(h, v, d, cache, gen, want, reads);
		g_ptr_array_add(h->domains, d);
	}
	/* One listing per VM that may have to leave: none while none must. */
	for (guint i = 0; i < h->domains->len; i++) {
		obs_domain *d = h->domains->pdata[i];

		if (!d->snaps && may_move(h, d, want, j->maintenance, (const char *const *)j->tags) &&
		    !virt_snapshot_list(v, d->name, &d->snaps, NULL))
			d->snaps = NULL;
	}
}

static void
detail_free(gpointer p)
{
	virt_vol_detail *d = p;

	g_free(d->backing);
	g_free(d->format);
	g_free(d);
}

static void
read_detail(obs_host *h, virt_host *v, const char *pool, const char *vol)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, vol);
	virt_vol_detail *d;

	if (g_hash_table_contains(h->details, key) ||
	    !g_hash_table_contains(h->vol_by_key, key))
		return;
	d = g_new0(virt_vol_detail, 1);
	if (!virt_volume_detail(v, pool, vol, d, NULL)) {
		detail_free(d);
		return;
	}
	g_hash_table_insert(h->details, g_steal_pointer(&key), d);
}

/* @list in @table under @key, made on first use. */
static void
index_add(GHashTable *table, const char *key, gpointer item)
{
	GPtrArray *list = g_hash_table_lookup(table, key);

	if (!list) {
		list = g_ptr_array_new();
		g_hash_table_insert(table, g_strdup(key), list);
	}
	g_ptr_array_add(list, item);
}

/*
 * Who uses which volume, from the definitions alone: @d uses a volume it
 * names as pool/volume, or by the path the volume has on this host.
 */
static void
index_users(obs_host *h, GHashTable *vol_by_path, obs_domain *d)
{
	for (guint i = 0; d->volumes && d->volumes[i]; i++) {
		virt_vol *v = g_hash_table_lookup(h->vol_by_key, d->volumes[i]);

		index_add(h->users, d->volumes[i], d);
		/* Its own volumes: used by it, and named the way strata names
		 * its disks (so a volume attached by hand is never one). */
		if (v && desired_volume_owned_by(v->name, d->name)) {
			GPtrArray *own = g_hash_table_lookup(h->vols_of, d->name);

			if (!own || !g_ptr_array_find(own, v, NULL))  /* once each */
				index_add(h->vols_of, d->name, v);
		}
	}
	for (guint i = 0; d->paths && d->paths[i]; i++) {
		virt_vol *v = g_hash_table_lookup(vol_by_path, d->paths[i]);

		if (v) {
			g_autofree char *key = g_strdup_printf("%s/%s", v->pool, v->name);

			index_add(h->users, key, d);
		}
	}
	if (!d->refs_known)
		h->refs_known = false;
}

static void
observe_volumes(obs_host *h)
{
	g_autoptr(GHashTable) vol_by_path = g_hash_table_new(g_str_hash, g_str_equal);
	GDestroyNotify unref = (GDestroyNotify)g_ptr_array_unref;

	h->vol_by_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	h->details = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, detail_free);
	h->vols_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, unref);
	h->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, unref);
	h->refs_known = h->reachable;
	/* Indexed once, so a plan never scans a host's volumes per VM. */
	for (guint i = 0; h->vols && i < h->vols->len; i++) {
		virt_vol *vol = h->vols->pdata[i];

		g_hash_table_insert(h->vol_by_key, g_strdup_printf("%s/%s", vol->pool, vol->name), vol);
		/* By key: a path for file pools, pool/image for rbd. */
		if (vol->key && vol->key[0])
			g_hash_table_insert(vol_by_path, vol->key, vol);
	}
	for (guint i = 0; i < h->domains->len; i++)
		index_users(h, vol_by_path, h->domains->pdata[i]);
}

/*
 * The details the revision reads (desired_state.details), one read per
 * volume present here, whatever the number of VMs: template bases (a base
 * no VM uses yet may be exported or copied), a persistent volume's base,
 * and a persistent volume only while no domain here uses it, to be
 * checked before it is given to a VM.
 */
static void
observe_details(obs_host *h, virt_host *v, const desired_state *want)
{
	GHashTableIter it;
	gpointer key, why;

	g_hash_table_iter_init(&it, want->details);
	while (g_hash_table_iter_next(&it, &key, &why)) {
		const char *slash = strchr(key, '/');
		g_autofree char *pool = g_strndup(key, (gsize)(slash - (const char *)key));

		if (GPOINTER_TO_INT(why) == DETAIL_PERSISTENT && g_hash_table_contains(h->users, key))
			continue;
		read_detail(h, v, pool, slash + 1);
	}
}

obs_host *
obs_host_new(const char *name)
{
	obs_host *h = g_new0(obs_host, 1);

	h->name = g_strdup(name);
	h->domains = g_ptr_array_new_with_free_func(domain_free);
	return h;
}

void
obs_host_index(obs_host *h)
{
	observe_volumes(h);
}

void
obs_host_put_detail(obs_host *h, const char *pool, const char *vol, virt_vol_detail *d)
{
	g_hash_table_replace(h->details, g_strdup_printf("%s/%s", pool, vol), d);
}

void
obs_host_free(obs_host *h)
{
	if (h)
		host_free(h);
}

/* A host with nothing observed: unknown, never empty. */
obs_host *
obs_host_unknown(const char *name, const char *why)
{
	obs_host *h = obs_host_new(name);

	h->error = g_strdup(why);
	obs_host_index(h);
	return h;
}


struct observation {
	pthread_mutex_t lock;    /* pthread, not GLib's: ThreadSanitizer sees it */
	pthread_cond_t cond;     /* on CLOCK_MONOTONIC */
	guint n, answered;
	guint probes, probed;    /* probes begun, and reported */
	obs_host **slot;         /* what each host's thread found, once it answered */
	const spec_host **specs; /* read at begin, on the caller's thread */
	char **names;
	bool closed;             /* observe_end took what had come */
	GHashTable *shares;      /* pool -> share_state *, the caller's only */
	obs_cache *cache;        /* the caller's only: taken back at end */
	unsigned xml_reads;
	int fd;
	guint deadline_ms;
	gint64 deadline;
	GPtrArray *libs;         /* lib_index *: read by the library thread */
	bool libs_pending;       /* it has not answered */
	const char *libs_why;    /* why it was not started */
	desired_state *want;     /* the caller's: which libraries to say unknown */
};

static void
observation_clear(gpointer p)
{
	observation *ob = p;

	HANDOFF_TAKE(ob);  /* every reference's last use happened before */
	for (guint i = 0; i < ob->n; i++)
		if (ob->slot[i])
			host_free(ob->slot[i]);
	g_free(ob->slot);
	g_free(ob->specs);
	g_strfreev(ob->names);
	g_clear_pointer(&ob->shares, g_hash_table_unref);
	g_clear_pointer(&ob->libs, g_ptr_array_unref);
	if (ob->want)
		desired_free(ob->want);
	if (ob->fd >= 0)
		close(ob->fd);
	pthread_mutex_destroy(&ob->lock);
	pthread_cond_destroy(&ob->cond);
}

static void
observation_unref(observation *ob)
{
	HANDOFF_SEND(ob);
	g_atomic_rc_box_release_full(ob, observation_clear);
}

/*
 * While a member of a shared pool is declared lost, the other members'
 * listing of it is read again from its storage first (one call each): a
 * failover reads it, and a volume another member made since this host's
 * libvirtd last read the pool is listed only after a refresh.  Only then:
 * a refresh is not a read in libvirt (one that fails stops the pool, and
 * a hung NFS server holds it), so strata does not refresh on every pass;
 * a move refreshes the pool on its target just before it acts.
 */
static void
refresh_shared(const host_job *j)
{
	GHashTableIter it;
	gpointer pool, members;

	g_hash_table_iter_init(&it, j->want->shared_pools);
	while (g_hash_table_iter_next(&it, &pool, &members)) {
		bool lost = false;

		if (!desired_pool_sharers(j->want, pool, j->name))
			continue;
		for (guint i = 0; ((char **)members)[i]; i++)
			lost |= g_strv_contains((const char *const *)j->lost, ((char **)members)[i]);
		if (lost)
			(void)virt_pool_refresh(j->virt, pool, NULL);
	}
}

static obs_host *
observe_host(host_job *j, unsigned *reads)
{
	obs_host *h = g_new0(obs_host, 1);
	g_autoptr(GPtrArray) doms = NULL;
	g_autoptr(GError) err = NULL;

	h->name = g_strdup(j->name);
	h->serial = virt_host_serial(j->virt);
	h->domain_type = g_strdup(virt_host_domain_type(j->virt));
	{
		/* A host slow to answer (a libvirtd stuck in a call), which
		 * the test driver cannot be. */
		g_autofree char *stall = g_strdup_printf("observe-stall-%s", j->name);

		g_usleep((gulong)fault_delay_ms(stall) * 1000);
	}
	h->domains = g_ptr_array_new_with_free_func(domain_free);
	refresh_shared(j);
	if (!virt_node_info(j->virt, &h->node, &err) ||
	    !virt_list_domains(j->virt, &doms, &err) ||
	    !virt_list_pools(j->virt, &h->pools, &h->vols, &err)) {
		h->error = g_strdup(err->message);
		observe_volumes(h);
		return h;
	}
	h->reachable = true;
	observe_domains(h, j, doms, reads);
	observe_volumes(h);
	observe_details(h, j->virt, j->want);
	return h;
}

static void
host_job_free(host_job *j)
{
	observation_unref(j->ob);
	g_free(j->name);
	virt_host_free(j->virt);
	desired_free(j->want);
	obs_cache_free(j->cache);
	g_clear_pointer(&j->probes, g_ptr_array_unref);
	g_strfreev(j->lost);
	g_strfreev(j->tags);
	g_free(j);
}

/* An answer, unless observe_end already gave the host up. */
static void
host_answered(observation *ob, guint index, obs_host *h, unsigned reads)
{
	pthread_mutex_lock(&ob->lock);
	if (!ob->closed) {
		ob->slot[index] = g_steal_pointer(&h);
		ob->answered++;
		ob->xml_reads += reads;
		pthread_cond_broadcast(&ob->cond);
		if (ob->fd >= 0)
			eventfd_write(ob->fd, 1);
	}
	pthread_mutex_unlock(&ob->lock);
	if (h)
		host_free(h);
}

/*
 * Template libraries are folders, perhaps on a network share: read on a
 * thread of their own with the hosts' deadline, so that a share that hangs
 * costs a pass its libraries (unknown: nothing is copied from or into
 * them), never the loop.
 */
typedef struct {
	observation *ob;
	desired_state *want;
} lib_job;

/* Library threads still reading: one at a time, so that a share that
 * hangs holds one thread, not one per pass. */
static gint lib_readers;

static gpointer
lib_job_run(gpointer data)
{
	lib_job *j = data;
	observation *ob = j->ob;
	GPtrArray *libs = g_ptr_array_new_with_free_func((GDestroyNotify)lib_index_free);

	HANDOFF_TAKE(j);
	for (guint i = 0; i < j->want->libraries->len; i++) {
		const desired_library *l = j->want->libraries->pdata[i];

		g_ptr_array_add(libs, lib_index_read(l->name, l->path));
	}
	pthread_mutex_lock(&ob->lock);
	if (!ob->closed) {
		ob->libs = g_steal_pointer(&libs);
		ob->libs_pending = false;
		pthread_cond_broadcast(&ob->cond);
		if (ob->fd >= 0)
			eventfd_write(ob->fd, 1);
	}
	pthread_mutex_unlock(&ob->lock);
	if (libs)
		g_ptr_array_unref(libs);
	desired_free(j->want);
	observation_unref(ob);
	g_free(j);
	g_atomic_int_dec_and_test(&lib_readers);
	return NULL;
}

static void
libraries_begin(observation *ob, desired_state *want)
{
	lib_job *j;
	GThread *t;

	if (!want->libraries->len)
		return;
	if (g_atomic_int_get(&lib_readers)) {
		ob->libs_why = "still reading them for an earlier pass (a share that hangs?)";
		return;
	}
	g_atomic_int_inc(&lib_readers);
	j = g_new0(lib_job, 1);
	j->ob = g_atomic_rc_box_acquire(ob);
	j->want = desired_ref(want);
	ob->libs_pending = true;
	HANDOFF_SEND(j);
	t = g_thread_try_new("libraries", lib_job_run, j, NULL);
	if (t) {
		g_thread_unref(t);
		return;
	}
	ob->libs_pending = false;  /* libraries_end says they are unknown */
	g_atomic_int_dec_and_test(&lib_readers);
	desired_free(j->want);
	observation_unref(j->ob);
	g_free(j);
}

/* Under ob->lock: what the library thread found, or each library unknown. */
static GPtrArray *
libraries_end(observation *ob, const desired_state *want)
{
	GPtrArray *libs = g_steal_pointer(&ob->libs);

	if (libs)
		return libs;
	libs = g_ptr_array_new_with_free_func((GDestroyNotify)lib_index_free);
	for (guint i = 0; want && i < want->libraries->len; i++) {
		const desired_library *l = want->libraries->pdata[i];

		g_ptr_array_add(libs, lib_index_unknown(l->name, l->path, ob->libs_why ?
			g_strdup_printf("library folder %s: %s", l->path, ob->libs_why) :
			g_strdup_printf("library folder %s: no answer within %u s (a share that hangs?)",
					l->path, (ob->deadline_ms + 999) / 1000)));
	}
	return libs;
}

static void
probe_reported(observation *ob)
{
	pthread_mutex_lock(&ob->lock);
	if (!ob->closed) {
		ob->probed++;
		pthread_cond_broadcast(&ob->cond);
		if (ob->fd >= 0)
			eventfd_write(ob->fd, 1);
	}
	pthread_mutex_unlock(&ob->lock);
}

/* What a probe found, into the cache (any thread), for this pass and the
 * next; unless the declaration changed meanwhile. */
static void
share_learn(obs_cache *cache, const share_probe *p)
{
	share_state *s;

	pthread_mutex_lock(&cache->lock);
	s = g_hash_table_lookup(cache->shares, p->pool);
	if (s && strcmp(s->declared, p->declared) == 0 && s->probe_id == p->id) {
		share_state_learn(s, p);
		s->probing = false;
	}
	pthread_mutex_unlock(&cache->lock);
}

static gpointer
host_job_run(gpointer p)
{
	host_job *j = p;
	unsigned reads = 0;
	obs_host *h = observe_host(j, &reads);

	/* Its calls are over: the next pass may read the host (released
	 * before the answer, which the next pass may follow at once). */
	virt_host_unclaim(j->virt);
	host_answered(j->ob, j->index, h, reads);
	/* After the answer: a member slow to answer a probe costs this host
	 * nothing, and the pool stays unverified for the pass. */
	for (guint i = 0; j->probes && i < j->probes->len; i++) {
		share_probe_run(j->probes->pdata[i]);
		share_learn(j->cache, j->probes->pdata[i]);
		probe_reported(j->ob);
	}
	host_job_free(j);
	return NULL;
}

/* What the cache knows of @pool, if it was declared with the same hosts
 * (a copy), else a fresh state.  Under the cache's lock. */
static share_state *
share_known(obs_cache *cache, const char *pool, const char *const *members)
{
	g_autofree char *declared = share_declared(members);
	share_state *s = g_hash_table_lookup(cache->shares, pool);

	return s && strcmp(s->declared, declared) == 0 ? share_state_copy(s)
						       : share_state_new(pool, members);
}

/* A probe silent this long is given up (a member hung in a refresh): the
 * next may begin, and the old one's outcome is ignored. */
#define SHARE_PROBE_ABANDON_US (3 * (gint64)OBSERVE_DEADLINE_MS * 1000)
/* A refuted or inconclusive pool is probed again this often, not at every
 * pass: each probe refreshes the pool on every member. */
#define SHARE_REPROBE_US (300 * G_USEC_PER_SEC)

/* Whether some member's side is not verified on its present connection. */
static bool
share_stale(const share_state *s, GPtrArray *up)
{
	gint64 since = g_get_monotonic_time() - s->probe_began;

	if (s->probing && since < SHARE_PROBE_ABANDON_US)
		return false;  /* one at a time; until it reports, unverified */
	if (s->refuted || s->unproven)
		return since >= SHARE_REPROBE_US;  /* the mount may be fixed */
	for (guint i = 0; i < up->len; i++) {
		host_conn *c = up->pdata[i];
		guint64 *serial = g_hash_table_lookup(s->serial, c->name);

		if (!serial || *serial != virt_host_serial(c->virt))
			return true;
	}
	return false;
}

/* A probe of @s's pool through the first of @up, the others looking. */
static share_probe *
share_probe_for(const share_state *s, GPtrArray *up)
{
	host_conn *from = up->pdata[0];
	share_probe *p = share_probe_new(s->pool, from->name, from->virt);

	p->declared = g_strdup(s->declared);
	p->id = s->probe_id;
	for (guint i = 1; i < up->len; i++)
		share_probe_add(p, ((host_conn *)up->pdata[i])->name, ((host_conn *)up->pdata[i])->virt);
	return p;
}

/*
 * For each declared shared pool, on the caller's thread: what is known of
 * it, and a probe when a member's side is unverified on its connection.
 * The probe runs on the thread of the first connected member, after that
 * host has answered.  Read-only connections cannot make a volume: nothing
 * is probed.  Returns the probes by host index.
 */
static gint probe_ids;  /* atomic */

static GPtrArray **
share_begin(observation *ob, host_set *hosts, const desired_state *want, obs_cache *cache)
{
	GPtrArray **probes = g_new0(GPtrArray *, hosts->hosts->len);
	GHashTableIter it;
	gpointer pool, members;

	ob->shares = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, share_state_free);
	pthread_mutex_lock(&cache->lock);
	g_hash_table_iter_init(&it, want->shared_pools);
	while (g_hash_table_iter_next(&it, &pool, &members)) {
		g_autoptr(GPtrArray) up = g_ptr_array_new();
		share_state *s = share_known(cache, pool, members);
		bool readonly = false;

		for (guint i = 0; ((char **)members)[i]; i++) {
			host_conn *c = g_hash_table_lookup(hosts->by_name, ((char **)members)[i]);

			if (c && c->virt) {
				g_ptr_array_add(up, c);
				readonly |= c->readonly;
			}
		}
		s->can_probe = up->len >= 2 && !readonly;
		if (s->can_probe && share_stale(s, up)) {
			guint from = 0;

			while (hosts->hosts->pdata[from] != up->pdata[0])
				from++;
			if (!probes[from])
				probes[from] = g_ptr_array_new_with_free_func(share_probe_free);
			s->probing = true;
			s->probe_id = (guint64)g_atomic_int_add(&probe_ids, 1) + 1;
			s->probe_began = g_get_monotonic_time();
			g_ptr_array_add(probes[from], share_probe_for(s, up));
		}
		g_hash_table_insert(cache->shares, g_strdup(pool), share_state_copy(s));
		g_hash_table_insert(ob->shares, g_strdup(pool), s);
	}
	pthread_mutex_unlock(&cache->lock);
	return probes;
}

/* Probes whose host's thread did not start: not under way after all. */
static void
share_unbegin(obs_cache *cache, GPtrArray *probes)
{
	pthread_mutex_lock(&cache->lock);
	for (guint i = 0; probes && i < probes->len; i++) {
		share_probe *p = probes->pdata[i];
		share_state *s = g_hash_table_lookup(cache->shares, p->pool);

		if (s && strcmp(s->declared, p->declared) == 0 && s->probe_id == p->id)
			s->probing = false;
	}
	pthread_mutex_unlock(&cache->lock);
}

/* On the caller's thread: what is known now, probes reported included. */
static void
share_end(observed *o, observation *ob, obs_cache *cache)
{
	GHashTableIter it;
	gpointer pool, s;

	pthread_mutex_lock(&cache->lock);
	g_hash_table_iter_init(&it, ob->shares);
	while (g_hash_table_iter_next(&it, &pool, &s)) {
		share_state *now = g_hash_table_lookup(cache->shares, pool);

		if (now && strcmp(now->declared, ((share_state *)s)->declared) == 0) {
			bool can_probe = ((share_state *)s)->can_probe;

			now = share_state_copy(now);
			now->can_probe = can_probe;
			g_hash_table_iter_replace(&it, now);
		}
	}
	pthread_mutex_unlock(&cache->lock);
	o->shares = g_steal_pointer(&ob->shares);
}

static void
probes_expected(observation *ob, const GPtrArray *probes, bool more)
{
	if (!probes)
		return;
	pthread_mutex_lock(&ob->lock);
	if (more)
		ob->probes += probes->len;
	else
		ob->probes -= probes->len;
	pthread_mutex_unlock(&ob->lock);
}

static GStrv
lost_hosts(const host_set *hosts)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	for (guint i = 0; i < hosts->hosts->len; i++) {
		const host_conn *c = hosts->hosts->pdata[i];

		if (c->spec && c->spec->state.v == HOST_LOST)
			g_strv_builder_add(b, c->name);
	}
	return g_strv_builder_end(b);
}

observation *
observe_begin(host_set *hosts, desired_state *want, obs_cache *cache, guint deadline_ms)
{
	observation *ob = g_atomic_rc_box_new0(observation);
	guint n = hosts->hosts->len;
	GPtrArray **probes;
	GStrv lost;

	virt_init();
	pthread_mutex_init(&ob->lock, NULL);
	mono_cond_init(&ob->cond);
	ob->n = n;
	ob->slot = g_new0(obs_host *, n);
	ob->specs = g_new0(const spec_host *, n);
	ob->names = g_new0(char *, n + 1);
	ob->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ob->deadline_ms = deadline_ms;
	ob->deadline = g_get_monotonic_time() + (gint64)deadline_ms * 1000;
	ob->cache = obs_cache_ref(cache);
	probes = share_begin(ob, hosts, want, cache);
	ob->want = desired_ref(want);
	libraries_begin(ob, want);
	lost = lost_hosts(hosts);
	for (guint i = 0; i < n; i++) {
		host_conn *c = hosts->hosts->pdata[i];
		g_autoptr(GError) err = NULL;
		host_job *j;
		GThread *t;

		ob->specs[i] = c->spec;
		ob->names[i] = g_strdup(c->name);
		if (!c->virt) {
			g_autofree char *why = c->connecting ?
				g_strdup_printf("connecting: no answer for %" G_GINT64_FORMAT " s",
						(g_get_monotonic_time() - c->connect_began) / G_USEC_PER_SEC) :
				g_strdup(c->error ? c->error : "not connected");

			host_answered(ob, i, obs_host_unknown(c->name, why), 0);
			continue;
		}
		if (!virt_host_claim(c->virt)) {
			/* Its observer from an earlier pass has not returned: one
			 * thread per host, however long libvirtd takes. */
			host_answered(ob, i, obs_host_unknown(c->name, "still answering an earlier pass's reads"), 0);
			continue;
		}
		j = g_new0(host_job, 1);
		j->ob = g_atomic_rc_box_acquire(ob);
		j->index = i;
		j->name = g_strdup(c->name);
		j->virt = virt_host_ref(c->virt);
		j->want = desired_ref(want);
		j->cache = obs_cache_ref(cache);
		j->cache_gen = cache_gen(cache);
		j->probes = g_steal_pointer(&probes[i]);
		j->lost = g_strdupv(lost);
		j->maintenance = c->spec && c->spec->maintenance.v;
		j->tags = host_tags(c->spec);
		probes_expected(ob, j->probes, true);  /* before it can report one */
		t = g_thread_try_new("observe", host_job_run, j, &err);
		if (!t) {
			probes_expected(ob, j->probes, false);
			share_unbegin(cache, j->probes);
			virt_host_unclaim(c->virt);
			host_answered(ob, i, obs_host_unknown(c->name, err->message), 0);
			host_job_free(j);
			continue;
		}
		g_thread_unref(t);  /* detached: it may outlive the pass */
	}
	for (guint i = 0; i < n; i++) {  /* of hosts whose thread did not start */
		share_unbegin(cache, probes[i]);
		g_clear_pointer(&probes[i], g_ptr_array_unref);
	}
	g_free(probes);
	g_strfreev(lost);
	return ob;
}

int
observe_fd(const observation *ob)
{
	return ob->fd;
}

gint64
observe_deadline(const observation *ob)
{
	return ob->deadline;
}

bool
observe_complete(observation *ob)
{
	eventfd_t count;
	bool done;

	if (ob->fd >= 0)
		(void)eventfd_read(ob->fd, &count);
	pthread_mutex_lock(&ob->lock);
	done = ob->answered == ob->n && ob->probed == ob->probes && !ob->libs_pending;
	pthread_mutex_unlock(&ob->lock);
	return done;
}

void
observe_wait(observation *ob)
{
	pthread_mutex_lock(&ob->lock);
	while ((ob->answered < ob->n || ob->probed < ob->probes || ob->libs_pending) &&
	       mono_cond_wait_until(&ob->cond, &ob->lock, ob->deadline))
		;
	pthread_mutex_unlock(&ob->lock);
}

observed *
observed_new(void)
{
	observed *o = g_new0(observed, 1);

	o->hosts = g_ptr_array_new_with_free_func(host_free);
	o->domain_by_name = g_hash_table_new(g_str_hash, g_str_equal);
	o->duplicates = g_ptr_array_new();
	return o;
}

void
observed_add_host(observed *o, obs_host *h)
{
	h->index = o->hosts->len;
	g_ptr_array_add(o->hosts, h);
	for (guint j = 0; j < h->domains->len; j++) {
		obs_domain *d = h->domains->pdata[j];

		/* The first host keeps the name: g_hash_table_insert would
		 * replace it, and a duplicate would then be reported as on
		 * "h2 and h2". */
		if (g_hash_table_contains(o->domain_by_name, d->name))
			g_ptr_array_add(o->duplicates, d);
		else
			g_hash_table_insert(o->domain_by_name, d->name, d);
	}
}

observed *
observe_end(observation *ob)
{
	observed *o = observed_new();

	pthread_mutex_lock(&ob->lock);
	ob->closed = true;
	o->xml_reads = ob->xml_reads;
	o->libraries = libraries_end(ob, ob->want);
	for (guint i = 0; i < ob->n; i++) {
		obs_host *h = g_steal_pointer(&ob->slot[i]);

		if (!h) {
			g_autofree char *why = g_strdup_printf("no answer within %u s",
							       (ob->deadline_ms + 999) / 1000);

			h = obs_host_unknown(ob->names[i], why);
		}
		h->spec = ob->specs[i];
		observed_add_host(o, h);
	}
	pthread_mutex_unlock(&ob->lock);
	share_end(o, ob, ob->cache);
	obs_cache_free(g_steal_pointer(&ob->cache));
	observation_unref(ob);
	return o;
}

observed *
observe(host_set *hosts, desired_state *want, obs_cache *cache)
{
	observation *ob = observe_begin(hosts, want, cache, OBSERVE_DEADLINE_MS);

	observe_wait(ob);
	return observe_end(ob);
}

void
observed_free(observed *o)
{
	if (!o)
		return;
	g_hash_table_unref(o->domain_by_name);
	g_clear_pointer(&o->shares, g_hash_table_unref);
	g_clear_pointer(&o->libraries, g_ptr_array_unref);
	g_ptr_array_unref(o->duplicates);
	g_ptr_array_unref(o->hosts);
	g_free(o);
}

obs_host *
observed_host(const observed *o, const char *name)
{
	for (guint i = 0; i < o->hosts->len; i++) {
		obs_host *h = o->hosts->pdata[i];

		if (strcmp(h->name, name) == 0)
			return h;
	}
	return NULL;
}

bool
obs_host_has_volume(const obs_host *h, const char *pool, const char *name)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, name);

	return g_hash_table_contains(h->vol_by_key, key);
}

const virt_pool *
obs_host_pool(const obs_host *h, const char *pool)
{
	for (guint i = 0; h->pools && i < h->pools->len; i++) {
		const virt_pool *p = h->pools->pdata[i];

		if (strcmp(p->name, pool) == 0)
			return p;
	}
	return NULL;
}

bool
obs_host_pool_known(const obs_host *h, const char *pool)
{
	const virt_pool *p = obs_host_pool(h, pool);

	return p && p->listed;
}

const char *
obs_host_unknown_pool(const obs_host *h)
{
	for (guint i = 0; h->reachable && h->pools && i < h->pools->len; i++) {
		const virt_pool *p = h->pools->pdata[i];

		if (!p->listed)
			return p->name;
	}
	return NULL;
}

GPtrArray *
obs_host_domain_volumes(const obs_host *h, const char *domain)
{
	return h->vols_of ? g_hash_table_lookup(h->vols_of, domain) : NULL;
}

bool
obs_host_volume_used(const obs_host *h, const char *pool, const char *name,
		     const char *except)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, name);
	GPtrArray *users = h->users ? g_hash_table_lookup(h->users, key) : NULL;

	if (!h->refs_known)
		return true;  /* a definition we could not read may use it */
	for (guint i = 0; users && i < users->len; i++) {
		const obs_domain *d = users->pdata[i];

		if (!except || strcmp(d->name, except) != 0)
			return true;
	}
	return false;
}

/* What was read of @pool/@vol on @h, or NULL. */
static const virt_vol_detail *
detail_of(const obs_host *h, const char *pool, const char *vol)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, vol);

	return g_hash_table_lookup(h->details, key);
}

uint64_t
obs_host_capacity(const obs_host *h, const char *pool, const char *vol)
{
	const virt_vol_detail *d = detail_of(h, pool, vol);

	return d ? d->capacity : 0;
}

const char *
obs_host_format(const obs_host *h, const char *pool, const char *vol)
{
	const virt_vol_detail *d = detail_of(h, pool, vol);

	return d ? d->format : NULL;
}

uint64_t
obs_host_allocation(const obs_host *h, const char *pool, const char *vol)
{
	const virt_vol_detail *d = detail_of(h, pool, vol);

	return d ? d->allocation : 0;
}

const lib_index *
obs_library(const observed *o, const char *name)
{
	for (guint i = 0; name && o->libraries && i < o->libraries->len; i++) {
		const lib_index *x = o->libraries->pdata[i];

		if (strcmp(x->name, name) == 0)
			return x;
	}
	return NULL;
}

const obs_host *
obs_host_named(const observed *o, const char *name)
{
	for (guint i = 0; name && i < o->hosts->len; i++) {
		const obs_host *h = o->hosts->pdata[i];

		if (strcmp(h->name, name) == 0)
			return h;
	}
	return NULL;
}

const lib_entry *
obs_library_entry(const observed *o, const desired_base *b, char **why)
{
	const lib_index *x = obs_library(o, b->source_library);
	const lib_entry *e = x && !x->error ? lib_index_find(x, b->template, b->version) : NULL;
	g_autofree char *versions = NULL;

	if (!x)
		*why = g_strdup_printf("library '%s' was not read", b->source_library);
	else if (x->error)
		*why = g_strdup_printf("library '%s' cannot be read: %s", x->name, x->error);
	else if (!e)
		*why = g_strdup_printf("library '%s' has no template '%s' version %u (versions there: %s)",
				       x->name, b->template, b->version, versions = lib_index_versions(x, b->template));
	else if (e->disks->len != b->n_disks)
		*why = g_strdup_printf("library '%s' has template '%s' version %u with %u disk(s), and the "
				       "template has %u; give the template the library's disks, in order",
				       x->name, b->template, b->version, e->disks->len, b->n_disks);
	else if (b->sha256 && strcmp(b->sha256, ((lib_disk *)e->disks->pdata[0])->sha256) != 0)
		*why = g_strdup_printf("library '%s' lists template '%s' version %u with sha256 %s, not the "
				       "declared %s", x->name, b->template, b->version,
				       ((lib_disk *)e->disks->pdata[0])->sha256, b->sha256);
	else
		return e;
	return NULL;
}

/* obs_base_copy_blocker for a base that comes from a library. */
static char *
obs_library_copy_blocker(const observed *o, const desired_base *b, const obs_host *h)
{
	g_autofree char *why = NULL;

	if (!obs_host_pool_allows_backing(h, b->pool))
		return g_strdup_printf("%s has no base volume '%s', and strata copies bases only into "
				       "file pools (dir, fs, netfs): pool '%s' there is not one",
				       h->name, b->volume, b->pool);
	if (obs_library_entry(o, b, &why))
		return NULL;
	return g_strdup_printf("%s has no base volume '%s' in pool '%s', and %s", h->name, b->volume,
			       b->pool, why);
}

const obs_host *
obs_base_source(const observed *o, const desired_base *b)
{
	g_autofree char *key = NULL;

	if (!b || b->source_host)
		return b ? obs_host_named(o, b->source_host) : NULL;
	if (!b->source_vm)
		return NULL;
	key = g_strdup_printf("%s/%s", b->pool, b->volume);
	for (guint i = 0; i < o->hosts->len; i++) {
		const obs_host *h = o->hosts->pdata[i];
		const virt_vol_detail *d = h->reachable ? g_hash_table_lookup(h->details, key) : NULL;

		if (d && !d->backing && g_hash_table_contains(h->vol_by_key, key))
			return h;
	}
	return NULL;
}

/* For a base captured from a VM that no host holds yet: whether it can be
 * captured this pass (the VM deployed on a host that answers). */
static char *
capture_blocker(const observed *o, const desired_base *b, const obs_host *h)
{
	const obs_domain *d = g_hash_table_lookup(o->domain_by_name, b->source_vm);

	if (d && d->host->reachable)
		return NULL;
	return g_strdup_printf("%s has no base volume '%s', and VM %s, which template %s is captured "
			       "from, is not deployed on a host that answers", h->name, b->volume,
			       b->source_vm, b->template);
}

char *
obs_base_copy_blocker(const observed *o, const desired_base *b, const obs_host *h)
{
	const obs_host *src = obs_base_source(o, b);
	g_autofree char *key = NULL;
	const virt_vol_detail *d;

	if (!b || (!b->source_host && !b->source_library && !b->source_vm))
		return g_strdup_printf("%s has no base volume '%s' in pool '%s', and no template says "
				       "where to copy it from (source: {host: ...})",
				       h->name, b ? b->volume : "?", b ? b->pool : "?");
	if (b->source_library)
		return obs_library_copy_blocker(o, b, h);
	if (b->source_vm && !src && obs_host_pool_allows_backing(h, b->pool))
		return capture_blocker(o, b, h);
	if (!obs_host_pool_allows_backing(h, b->pool))
		return g_strdup_printf("%s has no base volume '%s', and strata copies bases only into "
				       "file pools (dir, fs, netfs): pool '%s' there is not one",
				       h->name, b->volume, b->pool);
	if (!src || !src->reachable)
		return g_strdup_printf("%s has no base volume '%s' in pool '%s', and its source host %s "
				       "does not answer", h->name, b->volume, b->pool,
				       b->source_host ? b->source_host : "(none holds it)");
	key = g_strdup_printf("%s/%s", b->pool, b->volume);
	if (!g_hash_table_contains(src->vol_by_key, key))
		return g_strdup_printf("%s has no base volume '%s' in pool '%s', nor has its source host %s",
				       h->name, b->volume, b->pool, src->name);
	d = g_hash_table_lookup(src->details, key);
	if (!d)
		return g_strdup_printf("%s has no base volume '%s', and its size on %s could not be read",
				       h->name, b->volume, src->name);
	if (d->backing)
		return g_strdup_printf("%s has no base volume '%s', and the one on %s has a backing file "
				       "(%s): strata copies only a base that stands alone", h->name,
				       b->volume, src->name, d->backing);
	return NULL;
}

const char *
obs_host_unsafe_backing(const obs_host *h, const char *pool, const char *vol)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, vol);
	virt_vol_detail *d = g_hash_table_lookup(h->details, key);
	const virt_pool *p = obs_host_pool(h, pool);
	g_autofree char *prefix = NULL;

	if (!d || !d->backing)
		return NULL;
	if (strstr(d->backing, ".."))
		return d->backing;
	if (d->backing[0] != '/')
		return strchr(d->backing, '/') ? d->backing : NULL;
	if (!p || !p->path)
		return d->backing;
	prefix = g_str_has_suffix(p->path, "/") ? g_strdup(p->path)
						  : g_strconcat(p->path, "/", NULL);
	return g_str_has_prefix(d->backing, prefix) ? NULL : d->backing;
}

share_verdict
obs_pool_shared(const observed *o, const desired_state *want, const char *pool,
		const obs_host *a, const obs_host *b, const char **why)
{
	share_host ha = { a->name, a->reachable, a->serial };
	share_host hb = { b->name, b->reachable, b->serial };

	return share_between(want, o->shares, pool, &ha, &hb, why);
}

bool
obs_host_pool_allows_backing(const obs_host *h, const char *pool)
{
	const virt_pool *p = obs_host_pool(h, pool);

	return p && p->type && (strcmp(p->type, "dir") == 0 || strcmp(p->type, "fs") == 0 ||
				strcmp(p->type, "netfs") == 0);
}

bool
obs_host_lost(const obs_host *h)
{
	return !h->reachable && h->spec && h->spec->state.v == HOST_LOST;
}
