/*
 * observe_snapshot.c - what the hosts ran, written down for a plan elsewhere
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_in.h"
#include "json_out.h"
#include "domxml.h"
#include "observe_snapshot.h"
#include "offload.h"

/* ---- writing ----------------------------------------------------------- */

/* For sorting arrays of strings: each element is a char *. */
static gint
by_string(gconstpointer a, gconstpointer b, gpointer unused)
{
	(void)unused;
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
out_bool(JsonBuilder *b, const char *name, bool v)
{
	json_builder_set_member_name(b, name);
	json_builder_add_boolean_value(b, v);
}

static void
out_strv(JsonBuilder *b, const char *name, char **v)
{
	json_builder_set_member_name(b, name);
	if (!v) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_array(b);
	for (guint i = 0; v[i]; i++)
		json_builder_add_string_value(b, v[i]);
	json_builder_end_array(b);
}

static void
write_pools(JsonBuilder *b, const GPtrArray *pools)
{
	json_builder_set_member_name(b, "pools");
	json_builder_begin_array(b);
	for (guint i = 0; pools && i < pools->len; i++) {
		const virt_pool *p = pools->pdata[i];

		json_builder_begin_object(b);
		json_out_string(b, "name", p->name);
		json_out_string(b, "type", p->type);
		json_out_string(b, "path", p->path);
		out_bool(b, "active", p->active);
		out_bool(b, "listed", p->listed);
		out_bool(b, "sized", p->sized);
		json_out_int(b, "capacity", (gint64)p->capacity);
		json_out_int(b, "available", (gint64)p->available);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

static void
write_volumes(JsonBuilder *b, const GPtrArray *vols)
{
	json_builder_set_member_name(b, "volumes");
	json_builder_begin_array(b);
	for (guint i = 0; vols && i < vols->len; i++) {
		const virt_vol *v = vols->pdata[i];

		json_builder_begin_object(b);
		json_out_string(b, "pool", v->pool);
		json_out_string(b, "name", v->name);
		json_out_string(b, "key", v->key);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

/* Sorted by pool/volume, so that two snapshots of one state are equal. */
static void
write_details(JsonBuilder *b, GHashTable *details)
{
	g_autofree gpointer *keys = NULL;
	guint n = 0;

	json_builder_set_member_name(b, "details");
	json_builder_begin_array(b);
	if (details) {
		keys = g_hash_table_get_keys_as_array(details, &n);
		g_qsort_with_data(keys, (gint)n, sizeof(*keys), by_string, NULL);
	}
	for (guint i = 0; i < n; i++) {
		const virt_vol_detail *d = g_hash_table_lookup(details, keys[i]);
		const char *key = keys[i], *slash = strchr(key, '/');
		g_autofree char *pool = g_strndup(key, (gsize)(slash - key));

		json_builder_begin_object(b);
		json_out_string(b, "pool", pool);
		json_out_string(b, "volume", slash + 1);
		json_out_int(b, "capacity", (gint64)d->capacity);
		json_out_int(b, "allocation", (gint64)d->allocation);
		json_out_string(b, "format", d->format);
		json_out_string(b, "backing", d->backing);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

/* A VM's snapshots, when the pass read them (a change to it was due). */
static void
write_snaps(JsonBuilder *b, const GPtrArray *snaps)
{
	json_builder_set_member_name(b, "snapshots");
	if (!snaps) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_array(b);
	for (guint i = 0; i < snaps->len; i++) {
		const virt_snap *s = snaps->pdata[i];

		json_builder_begin_object(b);
		json_out_string(b, "name", s->name);
		json_out_string(b, "parent", s->parent);
		json_out_int(b, "created", s->created);
		json_out_string(b, "state", s->state);
		json_out_string(b, "description", s->description);
		out_bool(b, "external", s->external);
		out_bool(b, "current", s->current);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

static void
write_domain(JsonBuilder *b, const obs_domain *d)
{
	json_builder_begin_object(b);
	json_out_string(b, "name", d->name);
	json_out_string(b, "uuid", d->uuid);
	json_out_int(b, "state", d->state);
	json_out_int(b, "reason", d->reason);
	out_bool(b, "managed_save", d->managed_save);
	out_bool(b, "refs_known", d->refs_known);
	out_strv(b, "volumes", d->volumes);
	out_strv(b, "paths", d->paths);
	out_strv(b, "nics", d->nics);
	out_strv(b, "disks", d->disks);
	out_strv(b, "released", d->released);
	json_out_string(b, "title", d->title);
	json_out_string(b, "restart_required", d->restart_required);
	out_bool(b, "managed", d->managed);
	json_out_string(b, "appliance", d->appliance);
	json_out_string(b, "vm", d->vm);
	json_out_string(b, "hash", d->hash);
	json_out_string(b, "template", d->template);
	out_bool(b, "detailed", d->detailed);
	json_out_int(b, "cpus", d->cpus);
	json_out_int(b, "memory", (gint64)d->memory);
	json_out_int(b, "max_cpus", d->max_cpus);
	json_out_int(b, "max_memory", (gint64)d->max_memory);
	/* Optional: absent when the definition has none, or was not read. */
	if (d->cdrom)
		json_out_string(b, "cdrom", d->cdrom);
	if (d->console)
		json_out_string(b, "console", d->console);
	if (d->boot)
		json_out_string(b, "boot", d->boot);
	if (d->seed)
		json_out_string(b, "seed", d->seed);
	if (d->reset_on_reboot)
		out_bool(b, "reset_on_reboot", true);
	if (d->console_verifier)
		json_out_string(b, "console_verifier", d->console_verifier);
	write_snaps(b, d->snaps);
	json_builder_end_object(b);
}

static char *
uri_digest(const char *uri)
{
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, uri, -1);
}

static void
write_host(JsonBuilder *b, const obs_host *h, const host_set *hosts)
{
	const host_conn *c = hosts ? g_hash_table_lookup(hosts->by_name, h->name) : NULL;
	g_autofree char *digest = c && c->uri ? uri_digest(c->uri) : NULL;
	g_autofree char *error = NULL;

	if (h->error) {
		g_auto(GStrv) parts = c && c->uri && *c->uri ? g_strsplit(h->error, c->uri, -1) : NULL;

		error = parts ? g_strjoinv("<uri>", parts) : g_strdup(h->error);
	}
	json_builder_begin_object(b);
	json_out_string(b, "name", h->name);
	json_out_string(b, "uri_sha256", digest);
	out_bool(b, "reachable", h->reachable);
	json_out_string(b, "error", error);
	json_out_string(b, "domain_type", h->domain_type);
	json_out_int(b, "serial", (gint64)h->serial);
	json_builder_set_member_name(b, "node");
	json_builder_begin_object(b);
	json_out_int(b, "cpus", h->node.cpus);
	json_out_int(b, "memory", (gint64)h->node.memory);
	json_out_int(b, "free_memory", (gint64)h->node.free_memory);
	json_builder_end_object(b);
	/* What an unreachable host listed before it failed is unknown, as the
	 * plan takes it: a snapshot does not carry it. */
	write_pools(b, h->reachable ? h->pools : NULL);
	write_volumes(b, h->reachable ? h->vols : NULL);
	write_details(b, h->reachable ? h->details : NULL);
	json_builder_set_member_name(b, "domains");
	json_builder_begin_array(b);
	for (guint i = 0; h->reachable && i < h->domains->len; i++)
		write_domain(b, h->domains->pdata[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);
}

static void
out_table_keys(JsonBuilder *b, const char *name, GHashTable *t)
{
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	GHashTableIter it;
	gpointer k;

	g_hash_table_iter_init(&it, t);
	while (g_hash_table_iter_next(&it, &k, NULL))
		g_ptr_array_add(keys, k);
	g_ptr_array_sort_with_data(keys, by_string, NULL);
	g_ptr_array_add(keys, NULL);
	out_strv(b, name, (char **)keys->pdata);
}

static void
write_share(JsonBuilder *b, const share_state *s)
{
	g_autofree gpointer *keys = NULL;
	guint n = 0;

	json_builder_begin_object(b);
	json_out_string(b, "pool", s->pool);
	json_out_string(b, "declared", s->declared);
	json_out_int(b, "members", s->n_members);
	json_builder_set_member_name(b, "verified");
	json_builder_begin_object(b);
	keys = g_hash_table_get_keys_as_array(s->serial, &n);
	g_qsort_with_data(keys, (gint)n, sizeof(*keys), by_string, NULL);
	for (guint i = 0; i < n; i++)
		json_out_int(b, keys[i], (gint64)*(guint64 *)g_hash_table_lookup(s->serial, keys[i]));
	json_builder_end_object(b);
	out_table_keys(b, "ever", s->ever);
	out_bool(b, "history", s->history);
	json_out_string(b, "refuted", s->refuted);
	out_bool(b, "all_agreed", s->all_agreed);
	json_out_string(b, "unproven", s->unproven);
	out_bool(b, "can_probe", s->can_probe);
	json_builder_end_object(b);
}

static void
write_shares(JsonBuilder *b, GHashTable *shares)
{
	g_autofree gpointer *keys = NULL;
	guint n = 0;

	json_builder_set_member_name(b, "shares");
	json_builder_begin_array(b);
	if (shares) {
		keys = g_hash_table_get_keys_as_array(shares, &n);
		g_qsort_with_data(keys, (gint)n, sizeof(*keys), by_string, NULL);
	}
	for (guint i = 0; i < n; i++)
		write_share(b, g_hash_table_lookup(shares, keys[i]));
	json_builder_end_array(b);
}

static void
write_libraries(JsonBuilder *b, const GPtrArray *libs)
{
	json_builder_set_member_name(b, "libraries");
	json_builder_begin_array(b);
	for (guint i = 0; libs && i < libs->len; i++) {
		const lib_index *x = libs->pdata[i];

		json_builder_begin_object(b);
		json_out_string(b, "name", x->name);
		json_out_string(b, "path", x->path);
		json_out_string(b, "error", x->error);
		json_builder_set_member_name(b, "index");
		json_builder_add_value(b, lib_index_to_json(x));
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

char *
observe_snapshot_write(const observed *o, const host_set *hosts, gint64 taken)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(taken);
	g_autofree char *when = g_date_time_format_iso8601(t);
	g_autofree char *text = NULL;

	json_builder_begin_object(b);
	json_out_int(b, "strata_observed", OBSERVE_SNAPSHOT_FORMAT);
	json_out_string(b, "taken", when);
	json_builder_set_member_name(b, "hosts");
	json_builder_begin_array(b);
	for (guint i = 0; i < o->hosts->len; i++)
		write_host(b, o->hosts->pdata[i], hosts);
	json_builder_end_array(b);
	write_shares(b, o->shares);
	write_libraries(b, o->libraries);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(g, root);
	json_generator_set_pretty(g, TRUE);
	text = json_generator_to_data(g, NULL);
	return g_strconcat(text, "\n", NULL);
}

/* ---- reading ----------------------------------------------------------- */

/* What one domain's definition may use, at most: the indexes are built
 * with a search per volume, which a hostile list would make quadratic. */
#define DOMAIN_REFS_MAX 4096

/* A string member that may be null, copied; false on an error. */
static bool
dup_or_null(json_in *r, JsonObject *o, const char *key, char **out)
{
	bool ok;
	const char *v = json_in_string_or_null(r, o, key, &ok);

	*out = g_strdup(v);
	return ok;
}

static bool
dup_string(json_in *r, JsonObject *o, const char *key, char **out)
{
	const char *v = json_in_string(r, o, key);

	*out = g_strdup(v);
	return v != NULL;
}

static bool
read_pool(json_in *r, JsonObject *o, virt_pool *p)
{
	return dup_string(r, o, "name", &p->name) && dup_or_null(r, o, "type", &p->type) &&
	       dup_or_null(r, o, "path", &p->path) && json_in_bool(r, o, "active", &p->active) &&
	       json_in_bool(r, o, "listed", &p->listed) && json_in_bool(r, o, "sized", &p->sized) &&
	       json_in_uint(r, o, "capacity", 0, &p->capacity) &&
	       json_in_uint(r, o, "available", 0, &p->available);
}

static bool
read_volume(json_in *r, JsonObject *o, virt_vol *v)
{
	return dup_string(r, o, "pool", &v->pool) && dup_string(r, o, "name", &v->name) &&
	       dup_or_null(r, o, "key", &v->key);
}

/* A name strata puts between slashes and into messages: not empty, no
 * slash (a volume "a/b" in pool "p" would be looked up as pool "p/a"). */
static bool
plain_name(json_in *r, const char *what, const char *v)
{
	if (*v && !strchr(v, '/'))
		return true;
	return json_in_bad(r, "%s '%s' is empty or holds a slash", what, v);
}

static bool
read_snap(json_in *r, JsonObject *o, virt_snap *s)
{
	uint64_t created;

	return dup_string(r, o, "name", &s->name) && dup_or_null(r, o, "parent", &s->parent) &&
	       json_in_uint(r, o, "created", 0, &created) && (s->created = (gint64)MIN(created, G_MAXINT64), true) &&
	       dup_or_null(r, o, "state", &s->state) && dup_or_null(r, o, "description", &s->description) &&
	       json_in_bool(r, o, "external", &s->external) && json_in_bool(r, o, "current", &s->current);
}

/* "snapshots": null or absent (not read), or a list of at most DOMAIN_REFS_MAX. */
static bool
read_snaps(json_in *r, JsonObject *o, obs_domain *d)
{
	JsonNode *n = json_object_get_member(o, "snapshots");
	JsonArray *a;
	gsize outer;

	if (!n || JSON_NODE_HOLDS_NULL(n))
		return true;
	if (!(a = json_in_array(r, o, "snapshots")))
		return false;
	outer = json_in_enter(r, "snapshots");
	if (json_array_get_length(a) > DOMAIN_REFS_MAX)
		return json_in_bad(r, "more than %d snapshots", DOMAIN_REFS_MAX);
	d->snaps = g_ptr_array_new_with_free_func(virt_snap_free);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		gsize old = json_in_enter_index(r, i);
		JsonObject *so = json_in_as_object(r, json_array_get_element(a, i));
		virt_snap *s = g_new0(virt_snap, 1);

		g_ptr_array_add(d->snaps, s);
		if (!so || !read_snap(r, so, s))
			return false;
		json_in_leave(r, old);
	}
	json_in_leave(r, outer);
	return true;
}

static bool
read_domain(json_in *r, JsonObject *o, obs_domain *d)
{
	uint64_t state, reason, cpus, max_cpus;
	const char *uuid = json_in_string(r, o, "uuid");

	if (!uuid)
		return false;
	if (strlen(uuid) != 36 || !g_uuid_string_is_valid(uuid))
		return json_in_bad(r, "uuid '%s' is not a UUID", uuid);
	memcpy(d->uuid, uuid, 37);
	if (!dup_string(r, o, "name", &d->name) ||
	    !json_in_range(r, o, "state", 0, VIRT_DOM_PMSUSPENDED, &state) ||
	    !json_in_range(r, o, "reason", 0, G_MAXINT, &reason) ||
	    !json_in_bool(r, o, "managed_save", &d->managed_save) ||
	    !json_in_bool(r, o, "refs_known", &d->refs_known) ||
	    !json_in_strv(r, o, "volumes", &d->volumes) || !json_in_strv(r, o, "paths", &d->paths) ||
	    !json_in_strv(r, o, "nics", &d->nics) || !json_in_strv(r, o, "disks", &d->disks) ||
	    !json_in_strv(r, o, "released", &d->released) ||
	    !dup_or_null(r, o, "title", &d->title) ||
	    !dup_or_null(r, o, "restart_required", &d->restart_required) ||
	    !json_in_bool(r, o, "managed", &d->managed) ||
	    !dup_or_null(r, o, "appliance", &d->appliance) || !dup_or_null(r, o, "vm", &d->vm) ||
	    !dup_or_null(r, o, "hash", &d->hash) || !dup_or_null(r, o, "template", &d->template) ||
	    !json_in_bool(r, o, "detailed", &d->detailed) ||
	    !json_in_range(r, o, "cpus", 0, G_MAXUINT, &cpus) ||
	    !json_in_uint(r, o, "memory", 0, &d->memory) ||
	    !json_in_range(r, o, "max_cpus", 0, G_MAXUINT, &max_cpus) ||
	    !json_in_uint(r, o, "max_memory", 0, &d->max_memory) ||
	    !dup_or_null(r, o, "cdrom", &d->cdrom) || !dup_or_null(r, o, "console", &d->console) ||
	    !dup_or_null(r, o, "boot", &d->boot) || !dup_or_null(r, o, "seed", &d->seed) ||
	    !dup_or_null(r, o, "console_verifier", &d->console_verifier) ||
	    (json_object_has_member(o, "reset_on_reboot") &&
	     !json_in_bool(r, o, "reset_on_reboot", &d->reset_on_reboot)) ||
	    !read_snaps(r, o, d))
		return false;
	if (!*d->name)
		return json_in_bad(r, "name is empty");
	if ((d->volumes && g_strv_length(d->volumes) > DOMAIN_REFS_MAX) ||
	    (d->paths && g_strv_length(d->paths) > DOMAIN_REFS_MAX) ||
	    (d->disks && g_strv_length(d->disks) > DOMAIN_REFS_MAX) ||
	    (d->released && g_strv_length(d->released) > DOMAIN_REFS_MAX))
		return json_in_bad(r, "more than %d volumes or paths: not a domain libvirt listed",
				   DOMAIN_REFS_MAX);
	if (d->managed && (!d->appliance || !d->vm || !d->hash))
		return json_in_bad(r, "a managed domain without its appliance, vm and hash");
	for (guint i = 0; d->disks && d->disks[i]; i++) {
		g_autofree char *target = NULL, *source = NULL;
		uint64_t size;

		if (!domxml_disk_split(d->disks[i], &target, &source, &size))
			return json_in_bad(r, "disk '%s' is not \"TARGET SOURCE SIZE\"", d->disks[i]);
	}
	d->state = (int)state;
	d->reason = (int)reason;
	d->cpus = (unsigned)cpus;
	d->max_cpus = (unsigned)max_cpus;
	return true;
}

static bool
read_detail(json_in *r, JsonObject *o, obs_host *h)
{
	virt_vol_detail *d = g_new0(virt_vol_detail, 1);
	g_autofree char *pool = NULL, *vol = NULL;

	if (dup_string(r, o, "pool", &pool) && dup_string(r, o, "volume", &vol) &&
	    plain_name(r, "pool", pool) &&
	    json_in_uint(r, o, "capacity", 0, &d->capacity) &&
	    json_in_uint(r, o, "allocation", 0, &d->allocation) &&
	    dup_or_null(r, o, "format", &d->format) && dup_or_null(r, o, "backing", &d->backing)) {
		if (!obs_host_has_volume(h, pool, vol))
			json_in_bad(r, "details of %s/%s, a volume the host does not list", pool, vol);
		else
			obs_host_put_detail(h, pool, vol, g_steal_pointer(&d));
	}
	if (d) {
		g_free(d->format);
		g_free(d->backing);
		g_free(d);
	}
	return !r->error;
}

typedef bool (*read_fn)(json_in *r, JsonObject *o, gpointer item);

/* Each element of list @key of @o read into a new item of @into (NULL: @fn
 * is given @ctx instead, and keeps what it reads). */
static bool
read_list(json_in *r, JsonObject *o, const char *key, GPtrArray *into, gsize size,
	  read_fn fn, gpointer ctx)
{
	JsonArray *a = json_in_array(r, o, key);
	gsize old;

	if (!a)
		return false;
	old = json_in_enter(r, key);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		gsize at = json_in_enter_index(r, i);
		JsonObject *e = json_in_as_object(r, json_array_get_element(a, i));
		gpointer item;

		if (!e)
			return false;
		item = into ? g_malloc0(size) : ctx;
		if (into)
			g_ptr_array_add(into, item);  /* freed with @into, half read or not */
		if (!fn(r, e, item))
			return false;
		json_in_leave(r, at);
	}
	json_in_leave(r, old);
	return true;
}

static bool
read_node(json_in *r, JsonObject *o, virt_node *n)
{
	JsonObject *node = json_in_object(r, o, "node");
	uint64_t cpus;
	gsize old;

	if (!node)
		return false;
	old = json_in_enter(r, "node");
	if (!json_in_range(r, node, "cpus", 0, G_MAXUINT, &cpus) ||
	    !json_in_uint(r, node, "memory", 0, &n->memory) ||
	    !json_in_uint(r, node, "free_memory", 0, &n->free_memory))
		return false;
	n->cpus = (unsigned)cpus;
	json_in_leave(r, old);
	return true;
}

/* No two of @items with the same key: libvirt never lists two. */
static bool
unique(json_in *r, const char *list, GPtrArray *items, char *(*key)(gpointer))
{
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; i < items->len; i++) {
		char *k = key(items->pdata[i]);

		if (!g_hash_table_add(seen, k))
			return json_in_bad(r, "%s: '%s' is listed twice", list, k);
	}
	return true;
}

static char *
pool_key(gpointer p)
{
	return g_strdup(((virt_pool *)p)->name);
}

static char *
vol_key(gpointer p)
{
	return g_strdup_printf("%s/%s", ((virt_vol *)p)->pool, ((virt_vol *)p)->name);
}

static char *
domain_key(gpointer p)
{
	return g_strdup(((obs_domain *)p)->name);
}

static bool
read_host_lists(json_in *r, JsonObject *o, obs_host *h)
{
	h->pools = g_ptr_array_new_with_free_func(virt_pool_free);
	h->vols = g_ptr_array_new_with_free_func(virt_vol_free);
	if (!read_list(r, o, "pools", h->pools, sizeof(virt_pool), (read_fn)read_pool, NULL) ||
	    !read_list(r, o, "volumes", h->vols, sizeof(virt_vol), (read_fn)read_volume, NULL) ||
	    !read_list(r, o, "domains", h->domains, sizeof(obs_domain), (read_fn)read_domain, NULL))
		return false;
	if (!unique(r, "pools", h->pools, pool_key) || !unique(r, "volumes", h->vols, vol_key) ||
	    !unique(r, "domains", h->domains, domain_key))
		return false;
	for (guint i = 0; i < h->vols->len; i++)
		if (!plain_name(r, "pool", ((virt_vol *)h->vols->pdata[i])->pool) ||
		    !plain_name(r, "volume", ((virt_vol *)h->vols->pdata[i])->name))
			return false;
	for (guint i = 0; i < h->domains->len; i++)
		((obs_domain *)h->domains->pdata[i])->host = h;
	return true;
}

static obs_host *
read_host(json_in *r, JsonObject *o)
{
	const char *name = json_in_string(r, o, "name");
	obs_host *h;
	uint64_t serial;

	if (!name)
		return NULL;
	h = obs_host_new(name);
	if (!dup_or_null(r, o, "uri_sha256", &h->uri_digest) ||
	    !json_in_bool(r, o, "reachable", &h->reachable) || !dup_or_null(r, o, "error", &h->error) ||
	    !dup_or_null(r, o, "domain_type", &h->domain_type) ||
	    !json_in_uint(r, o, "serial", 0, &serial) || !read_node(r, o, &h->node))
		goto fail;
	h->serial = serial;
	if (h->reachable == !!h->error) {
		json_in_bad(r, "a host is either reachable or has an error, not %s",
			    h->reachable ? "both" : "neither");
		goto fail;
	}
	/* Planning compares it ("test", "kvm", "qemu") for every definition. */
	if (h->reachable && !h->domain_type) {
		json_in_bad(r, "a reachable host without its domain_type");
		goto fail;
	}
	if (!read_host_lists(r, o, h))
		goto fail;
	obs_host_index(h);
	if (!read_list(r, o, "details", NULL, 0, (read_fn)read_detail, h))
		goto fail;
	if (!h->reachable && (h->pools->len || h->vols->len || h->domains->len ||
			      g_hash_table_size(h->details))) {
		json_in_bad(r, "an unreachable host lists pools, volumes or domains: what it runs is unknown");
		goto fail;
	}
	return h;
fail:
	obs_host_free(h);
	return NULL;
}

static bool
read_hosts(json_in *r, JsonObject *root, observed *o)
{
	JsonArray *a = json_in_array(r, root, "hosts");
	gsize old;

	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	if (!a)
		return false;
	old = json_in_enter(r, "hosts");
	for (guint i = 0; i < json_array_get_length(a); i++) {
		gsize at = json_in_enter_index(r, i);
		JsonObject *e = json_in_as_object(r, json_array_get_element(a, i));
		obs_host *h = e ? read_host(r, e) : NULL;

		if (!h)
			return false;
		if (!g_hash_table_add(seen, h->name)) {
			json_in_bad(r, "host '%s' is listed twice", h->name);
			obs_host_free(h);
			return false;
		}
		observed_add_host(o, h);
		json_in_leave(r, at);
	}
	json_in_leave(r, old);
	return true;
}

static bool
read_verified(json_in *r, JsonObject *o, share_state *s)
{
	JsonObject *v = json_in_object(r, o, "verified");
	g_autoptr(GList) hosts = v ? json_object_get_members(v) : NULL;
	gsize old;

	if (!v)
		return false;
	old = json_in_enter(r, "verified");
	for (GList *l = hosts; l; l = l->next) {
		uint64_t serial;

		if (!json_in_uint(r, v, l->data, 0, &serial))
			return false;
		g_hash_table_replace(s->serial, g_strdup(l->data), g_memdup2(&serial, sizeof(serial)));
	}
	json_in_leave(r, old);
	return true;
}

static bool
read_share(json_in *r, JsonObject *o, GHashTable *shares)
{
	const char *pool = json_in_string(r, o, "pool");
	g_auto(GStrv) ever = NULL;
	g_autofree char *declared = NULL;
	const char *none[] = { NULL };
	share_state *s;
	uint64_t members;

	if (!pool || !dup_string(r, o, "declared", &declared) ||
	    !json_in_range(r, o, "members", 0, G_MAXUINT, &members))
		return false;
	if (g_hash_table_contains(shares, pool))
		return json_in_bad(r, "pool '%s' is listed twice", pool);
	s = share_state_new(pool, none);
	g_hash_table_replace(shares, g_strdup(pool), s);
	g_free(s->declared);
	s->declared = g_steal_pointer(&declared);
	s->n_members = (guint)members;
	if (!read_verified(r, o, s) || !json_in_strv(r, o, "ever", &ever) ||
	    !json_in_bool(r, o, "history", &s->history) || !dup_or_null(r, o, "refuted", &s->refuted) ||
	    !json_in_bool(r, o, "all_agreed", &s->all_agreed) ||
	    !dup_or_null(r, o, "unproven", &s->unproven) || !json_in_bool(r, o, "can_probe", &s->can_probe))
		return false;
	for (guint i = 0; ever && ever[i]; i++)
		g_hash_table_add(s->ever, g_strdup(ever[i]));
	return true;
}

static bool
read_library(json_in *r, JsonObject *o, GPtrArray *libs)
{
	const char *name = json_in_string(r, o, "name"), *path = name ? json_in_string(r, o, "path") : NULL;
	JsonObject *index = path ? json_in_object(r, o, "index") : NULL;
	g_autofree char *error = NULL, *text = NULL, *what = NULL;
	JsonNode *n;
	lib_index *x;

	if (!index || !dup_or_null(r, o, "error", &error))
		return false;
	for (guint i = 0; i < libs->len; i++)
		if (strcmp(((lib_index *)libs->pdata[i])->name, name) == 0)
			return json_in_bad(r, "library '%s' is listed twice", name);
	n = json_node_init_object(json_node_alloc(), index);
	text = json_to_string(n, FALSE);
	json_node_unref(n);
	what = g_strdup_printf("%s: %s.index", r->what, r->where->str);
	x = lib_index_parse(name, path, what, text, -1);
	g_ptr_array_add(libs, x);
	if (x->error) {
		/* Its message names the member already; the advice to fix a
		 * library's index is not for a snapshot. */
		const char *cut = strstr(x->error, "; fix or restore");

		r->error = g_strndup(x->error, cut ? (gsize)(cut - x->error) : strlen(x->error));
		return false;
	}
	x->error = g_steal_pointer(&error);
	return true;
}

static bool
read_taken(json_in *r, JsonObject *root, gint64 *taken)
{
	const char *when = json_in_string(r, root, "taken");
	g_autoptr(GDateTime) t = when ? g_date_time_new_from_iso8601(when, NULL) : NULL;

	if (!when)
		return false;
	if (!t) {
		json_in_enter(r, "taken");
		return json_in_bad(r, "'%s' is not a time such as 2026-11-24T04:30:00Z", when);
	}
	*taken = g_date_time_to_unix(t);
	return true;
}

observed *
observe_snapshot_parse(const char *what, const char *text, gssize len, gint64 *taken,
		       GError **error)
{
	g_autoptr(JsonParser) p = json_parser_new_immutable();
	g_autoptr(GError) err = NULL;
	g_autoptr(observed) o = observed_new();
	JsonObject *root;
	uint64_t format;
	json_in r;

	if (!json_in_parse(p, what, text, len, &err)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s; write it again with `strata observe`",
			    err->message);
		return NULL;
	}
	json_in_init(&r, what);
	o->shares = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, share_state_free);
	o->libraries = g_ptr_array_new_with_free_func((GDestroyNotify)lib_index_free);
	if ((root = json_in_as_object(&r, json_parser_get_root(p))) &&
	    json_in_range(&r, root, "strata_observed", 1, G_MAXINT, &format)) {
		if (format != OBSERVE_SNAPSHOT_FORMAT)
			json_in_bad(&r, "format %" G_GUINT64_FORMAT " is not %d: this strata reads snapshots "
				    "its own version writes", format, OBSERVE_SNAPSHOT_FORMAT);
		else if (read_taken(&r, root, taken) && read_hosts(&r, root, o) &&
			 read_list(&r, root, "shares", NULL, 0, (read_fn)read_share, o->shares))
			read_list(&r, root, "libraries", NULL, 0, (read_fn)read_library, o->libraries);
	}
	json_in_release(&r);
	if (r.error) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s; write it again with `strata observe`",
			    r.error);
		g_free(r.error);
		return NULL;
	}
	return g_steal_pointer(&o);
}

observed *
observe_snapshot_load(const char *file, gint64 *taken, GError **error)
{
	g_autofree char *text = NULL;
	struct stat st;
	gsize got = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &st) != 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s: %s", file, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* Not a FIFO or a device: a read that never ends would hang a CI job. */
	if (!S_ISREG(st.st_mode) || st.st_size > OBSERVE_SNAPSHOT_MAX) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s: %s", file, S_ISREG(st.st_mode) ? "larger than 32 MiB: not a snapshot strata wrote"
							       : "not a regular file");
		close(fd);
		return NULL;
	}
	text = g_malloc((gsize)st.st_size + 1);
	while (got < (gsize)st.st_size) {
		ssize_t n = read(fd, text + got, (gsize)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", file, g_strerror(errno));
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;  /* cut short meanwhile: the parser says where */
		got += (gsize)n;
	}
	close(fd);
	return observe_snapshot_parse(file, text, (gssize)got, taken, error);
}

/* ---- binding to a revision --------------------------------------------- */

static void
gap(GPtrArray *gaps, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void
gap(GPtrArray *gaps, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(gaps, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}


static obs_host *
take_host(observed *snap, const char *name)
{
	for (guint i = 0; i < snap->hosts->len; i++) {
		obs_host *h = snap->hosts->pdata[i];

		if (strcmp(h->name, name) == 0)
			return g_ptr_array_steal_index(snap->hosts, i);
	}
	return NULL;
}

static void
bind_host(observed *o, observed *snap, const char *name, const spec_host *spec, const char *uri,
	  GPtrArray *gaps)
{
	obs_host *h = take_host(snap, name);
	g_autofree char *digest = uri ? uri_digest(uri) : NULL;

	if (!h) {
		h = obs_host_unknown(name, "not in the observed snapshot");
	} else if (h->uri_digest && digest && strcmp(h->uri_digest, digest) != 0) {
		/* Another hypervisor under the same name: what the snapshot
		 * holds is not what runs there. */
		obs_host_free(h);
		h = obs_host_unknown(name, "its URI is not the one the snapshot observed");
		gap(gaps, "host %s points at another URI than the one observed", name);
	}
	h->spec = spec;
	observed_add_host(o, h);
}

/* What a live observation of @h would have read for @want that the
 * snapshot lacks: the same details (desired_state.details, as
 * observe_details reads them), and definitions. */
static void
host_gaps(const obs_host *h, const desired_state *want, GPtrArray *gaps)
{
	GHashTableIter it;
	gpointer key, why;

	g_hash_table_iter_init(&it, want->details);
	while (h->reachable && g_hash_table_iter_next(&it, &key, &why)) {
		if (!g_hash_table_contains(h->vol_by_key, key) || g_hash_table_contains(h->details, key) ||
		    (GPOINTER_TO_INT(why) == DETAIL_PERSISTENT && g_hash_table_contains(h->users, key)))
			continue;
		gap(gaps, "the snapshot has no details of %s on %s (no template or VM used it when it "
		    "was taken)", (char *)key, h->name);
	}
	/* A definition the observation took from its cache, whose hash the
	 * revision changes: a live pass would read it. */
	for (guint i = 0; i < h->domains->len; i++) {
		const obs_domain *d = h->domains->pdata[i];
		const desired_vm *vm = d->managed && !d->detailed ?
				       g_hash_table_lookup(want->vm_by_domain, d->name) : NULL;
		g_autofree char *hash = vm ? desired_vm_hash(vm, h->domain_type) : NULL;

		if (hash && g_strcmp0(hash, d->hash) != 0)
			gap(gaps, "the snapshot has not read the definition of %s on %s, which this "
			    "revision changes", d->name, h->name);
	}
}

static void
bind_libraries(observed *o, observed *snap, const desired_state *want, GPtrArray *gaps)
{
	o->libraries = g_ptr_array_new_with_free_func((GDestroyNotify)lib_index_free);
	for (guint i = 0; i < want->libraries->len; i++) {
		const desired_library *l = want->libraries->pdata[i];
		lib_index *x = NULL;

		for (guint j = 0; snap->libraries && j < snap->libraries->len && !x; j++) {
			lib_index *s = snap->libraries->pdata[j];

			if (strcmp(s->name, l->name) == 0 && strcmp(s->path, l->path) == 0)
				x = g_ptr_array_steal_index(snap->libraries, j);
		}
		if (!x) {
			x = lib_index_unknown(l->name, l->path,
					      g_strdup_printf("library folder %s: not in the observed snapshot", l->path));
			gap(gaps, "the snapshot has no index of library '%s' (%s)", l->name, l->path);
		}
		g_ptr_array_add(o->libraries, x);
	}
}

/* The snapshot's knowledge of a shared pool stands while its declaration
 * does; a new one is unknown, as a live pass would begin to probe it. */
static void
bind_shares(observed *o, observed *snap, const desired_state *want, GPtrArray *gaps)
{
	GHashTableIter it;
	gpointer pool, members;

	o->shares = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, share_state_free);
	g_hash_table_iter_init(&it, want->shared_pools);
	while (g_hash_table_iter_next(&it, &pool, &members)) {
		share_state *fresh = share_state_new(pool, (const char *const *)members);
		gpointer key, s;

		if (snap->shares && g_hash_table_steal_extended(snap->shares, pool, &key, &s)) {
			g_free(key);
			if (strcmp(((share_state *)s)->declared, fresh->declared) == 0) {
				g_hash_table_insert(o->shares, g_strdup(pool), s);
				share_state_free(fresh);
				continue;
			}
			share_state_free(s);
		}
		gap(gaps, "the snapshot knows nothing of pool '%s' shared by %s", (char *)pool,
		    fresh->declared);
		g_hash_table_insert(o->shares, g_strdup(pool), fresh);
	}
}

observed *
observe_snapshot_bind(observed *snap, const spec_source *src, const char *default_uri,
		      const desired_state *want, GPtrArray *gaps)
{
	observed *o = observed_new();

	if (!src->hosts->len)
		bind_host(o, snap, "default", NULL, default_uri, gaps);
	for (guint i = 0; i < src->hosts->len; i++) {
		const spec_host *sh = src->hosts->pdata[i];
		g_autofree char *uri = virt_resolve_uri(sh->uri.v, sh->obj.file);

		bind_host(o, snap, sh->obj.name.v, sh, uri, gaps);
	}
	for (guint i = 0; i < o->hosts->len; i++)
		host_gaps(o->hosts->pdata[i], want, gaps);
	bind_libraries(o, snap, want, gaps);
	bind_shares(o, snap, want, gaps);
	o->xml_reads = 0;
	observed_free(snap);
	return o;
}

/* ---- a file kept up to date --------------------------------------------- */

struct snapshot_file {
	char *path;
	offload *writes;
	bool busy;
};

typedef struct {
	char *path;
	char *text;
	GError *error;
} write_job;

static void
write_job_free(gpointer p)
{
	write_job *j = p;

	g_free(j->path);
	g_free(j->text);
	g_clear_error(&j->error);
	g_free(j);
}

static gpointer
write_run(gpointer p)
{
	write_job *j = p;

	(void)g_file_set_contents_full(j->path, j->text, -1,
				       G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
				       0644, &j->error);
	return NULL;
}

snapshot_file *
snapshot_file_new(const char *path)
{
	snapshot_file *f = g_new0(snapshot_file, 1);

	f->path = g_strdup(path);
	f->writes = offload_new(write_job_free);
	return f;
}

void
snapshot_file_free(snapshot_file *f)
{
	if (!f)
		return;
	offload_unref(f->writes);  /* a write under way finishes on its own */
	g_free(f->path);
	g_free(f);
}

int
snapshot_file_fd(const snapshot_file *f)
{
	return offload_fd(f->writes);
}

bool
snapshot_file_busy(const snapshot_file *f)
{
	return f->busy;
}

bool
snapshot_file_write(snapshot_file *f, char *text, GError **error)
{
	write_job *j;

	if (f->busy) {
		g_free(text);
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY, "%s: the last snapshot is still being written",
			    f->path);
		return false;
	}
	j = g_new0(write_job, 1);
	j->path = g_strdup(f->path);
	j->text = text;
	if (!offload_run(f->writes, write_run, j, error)) {
		write_job_free(j);
		return false;
	}
	f->busy = true;
	return true;
}

bool
snapshot_file_done(snapshot_file *f, GError **error)
{
	write_job *j = offload_take(f->writes);
	bool ok;

	if (!j)
		return true;
	f->busy = false;
	ok = !j->error;
	if (!ok)
		g_propagate_error(error, g_steal_pointer(&j->error));
	write_job_free(j);
	return ok;
}
