/*
 * observe.c - one snapshot of what every host really runs
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "domxml.h"
#include "observe.h"

typedef struct {
	bool managed;
	char *appliance;
	char *vm;
	char *hash;
	char *template;
	GStrv volumes;         /* what its definition uses: "pool/volume" */
	GStrv paths;           /* and host paths */
} cache_entry;

struct obs_cache {
	GHashTable *by_uuid;   /* uuid -> cache_entry * */
	GMutex lock;           /* any thread may remember or read a definition */
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
	obs_cache *c = g_new0(obs_cache, 1);

	c->by_uuid = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   cache_entry_free);
	g_mutex_init(&c->lock);
	return c;
}

void
obs_cache_free(obs_cache *c)
{
	if (!c)
		return;
	g_hash_table_unref(c->by_uuid);
	g_mutex_clear(&c->lock);
	g_free(c);
}

/* Per host: two hosts may hold domains defined from one XML, one UUID. */
static char *
cache_key(const char *host, const char *uuid)
{
	return g_strdup_printf("%s/%s", host, uuid);
}

static void
cache_put(obs_cache *c, const char *host, const char *uuid, const domxml_info *info)
{
	cache_entry *e = g_new0(cache_entry, 1);

	e->managed = info->managed;
	e->appliance = g_strdup(info->appliance);
	e->vm = g_strdup(info->vm);
	e->hash = g_strdup(info->hash);
	e->template = g_strdup(info->template);
	e->volumes = strv_of(info->volumes);
	e->paths = strv_of(info->paths);
	g_mutex_lock(&c->lock);
	g_hash_table_insert(c->by_uuid, cache_key(host, uuid), e);
	g_mutex_unlock(&c->lock);
}

void
obs_cache_remember(obs_cache *c, const char *host, const char *uuid, const char *xml)
{
	domxml_info info;

	if (!domxml_parse(xml, &info))
		return;
	cache_put(c, host, uuid, &info);
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
	g_mutex_lock(&c->lock);
	g_hash_table_foreach_remove(c->by_uuid, unmanaged_entry, NULL);
	g_mutex_unlock(&c->lock);
}

void
obs_cache_clear(obs_cache *c)
{
	g_mutex_lock(&c->lock);
	g_hash_table_remove_all(c->by_uuid);
	g_mutex_unlock(&c->lock);
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
	domxml_info_release(&li);
	return true;
}

/* Read the definition of @d and remember what it says. */
static void
domain_read(obs_host *h, obs_domain *d, obs_cache *cache, unsigned *reads)
{
	domxml_info info;

	(*reads)++;
	/* Gone meanwhile, or unreadable: unmanaged, and what it uses unknown. */
	if (!read_definition(h->conn->virt, d->name, d->state != VIRT_DOM_SHUTOFF, &info, NULL))
		return;
	d->managed = info.managed;
	d->appliance = g_strdup(info.appliance);
	d->vm = g_strdup(info.vm);
	d->hash = g_strdup(info.hash);
	d->template = g_strdup(info.template);
	d->volumes = strv_of(info.volumes);
	d->paths = strv_of(info.paths);
	d->refs_known = true;
	d->detailed = true;
	d->cpus = info.cpus;
	d->memory = info.memory;
	cache_put(cache, h->name, d->uuid, &info);
	domxml_info_release(&info);
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

	g_mutex_lock(&cache->lock);
	key = cache_key(d->host->name, d->uuid);
	e = g_hash_table_lookup(cache->by_uuid, key);
	if (e && !e->managed) {
		hit = true;
	} else if (e) {
		vm = g_hash_table_lookup(want->vm_by_domain, d->name);
		hash = vm ? desired_vm_hash(vm, type) : NULL;
		hit = hash && e->hash && strcmp(hash, e->hash) == 0;
	}
	if (hit)
		domain_take(d, e);
	g_mutex_unlock(&cache->lock);
	return hit;
}

static void
observe_domains(obs_host *h, GPtrArray *doms, const desired_state *want,
		obs_cache *cache, unsigned *reads)
{
	const char *type = virt_host_domain_type(h->conn->virt);

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
			domain_read(h, d, cache, reads);
		g_ptr_array_add(h->domains, d);
	}
}

static void
detail_free(gpointer p)
{
	virt_vol_detail *d = p;

	g_free(d->backing);
	g_free(d);
}

static void
read_detail(obs_host *h, const char *pool, const char *vol)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, vol);
	virt_vol_detail *d;

	if (g_hash_table_contains(h->details, key) ||
	    !g_hash_table_contains(h->vol_by_key, key))
		return;
	d = g_new0(virt_vol_detail, 1);
	if (!virt_volume_detail(h->conn->virt, pool, vol, d, NULL)) {
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
observe_volumes(obs_host *h, const desired_state *want)
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
		virt_vol *v = h->vols->pdata[i];

		g_hash_table_insert(h->vol_by_key, g_strdup_printf("%s/%s", v->pool, v->name), v);
		/* By key: a path for file pools, pool/image for rbd. */
		if (v->key && v->key[0])
			g_hash_table_insert(vol_by_path, v->key, v);
	}
	for (guint i = 0; i < h->domains->len; i++)
		index_users(h, vol_by_path, h->domains->pdata[i]);
	/* Bases: one read per base in use, not per VM. */
	for (guint i = 0; want && i < want->vms->len; i++) {
		desired_disk *sys = ((desired_vm *)want->vms->pdata[i])->disks->pdata[0];

		if (sys->base)
			read_detail(h, sys->pool, sys->base);
	}
}

/* Persistent volumes about to be given to a VM are checked before use. */
static void
observe_persistent(observed *o, const desired_state *want)
{
	for (guint i = 0; i < want->vms->len; i++) {
		desired_vm *vm = want->vms->pdata[i];
		desired_disk *sys = vm->disks->pdata[0];

		if (sys->role != DISK_PERSISTENT ||
		    g_hash_table_contains(o->domain_by_name, vm->domain))
			continue;
		for (guint j = 0; j < o->hosts->len; j++) {
			obs_host *h = o->hosts->pdata[j];

			if (h->reachable)
				read_detail(h, sys->pool, sys->volume);
		}
	}
}

static obs_host *
observe_host(host_conn *conn, const desired_state *want, obs_cache *cache,
	     unsigned *reads)
{
	obs_host *h = g_new0(obs_host, 1);
	g_autoptr(GPtrArray) doms = NULL;

	h->conn = conn;
	h->name = conn->name;
	h->domains = g_ptr_array_new_with_free_func(domain_free);
	if (!conn->virt ||
	    !virt_node_info(conn->virt, &h->node, NULL) ||
	    !virt_list_domains(conn->virt, &doms, NULL) ||
	    !virt_list_pools(conn->virt, &h->pools, &h->vols, NULL)) {
		h->reachable = false;
		observe_volumes(h, NULL);
		return h;
	}
	h->reachable = true;
	observe_domains(h, doms, want, cache, reads);
	observe_volumes(h, want);
	return h;
}

observed *
observe(host_set *hosts, const desired_state *want, obs_cache *cache)
{
	observed *o = g_new0(observed, 1);

	o->hosts = g_ptr_array_new_with_free_func(host_free);
	o->domain_by_name = g_hash_table_new(g_str_hash, g_str_equal);
	o->duplicates = g_ptr_array_new();
	for (guint i = 0; i < hosts->hosts->len; i++) {
		obs_host *h = observe_host(hosts->hosts->pdata[i], want, cache,
					   &o->xml_reads);

		h->index = i;
		g_ptr_array_add(o->hosts, h);
		for (guint j = 0; j < h->domains->len; j++) {
			obs_domain *d = h->domains->pdata[j];

			/* The first host keeps the name: g_hash_table_insert
			 * would replace it, and a duplicate would then be
			 * reported as on "h2 and h2". */
			if (g_hash_table_contains(o->domain_by_name, d->name))
				g_ptr_array_add(o->duplicates, d);
			else
				g_hash_table_insert(o->domain_by_name, d->name, d);
		}
	}
	observe_persistent(o, want);
	return o;
}

void
observed_free(observed *o)
{
	if (!o)
		return;
	g_hash_table_unref(o->domain_by_name);
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

uint64_t
obs_host_capacity(const obs_host *h, const char *pool, const char *vol)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, vol);
	virt_vol_detail *d = g_hash_table_lookup(h->details, key);

	return d ? d->capacity : 0;
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
