/*
 * pool_share.c - shared pools: the probe that checks a declaration, and
 * the verdict plan and place act on
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "domxml.h"
#include "pool_share.h"

static GHashTable *
serial_table(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

static void
serial_put(GHashTable *t, const char *host, guint64 serial)
{
	g_hash_table_insert(t, g_strdup(host), g_memdup2(&serial, sizeof(serial)));
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The member list in name order: a declaration is a set. */
char *
share_declared(const char *const *hosts)
{
	g_auto(GStrv) sorted = g_strdupv((char **)hosts);

	qsort(sorted, g_strv_length(sorted), sizeof(char *), by_name);
	return g_strjoinv(",", sorted);
}

share_state *
share_state_new(const char *pool, const char *const *hosts)
{
	share_state *s = g_new0(share_state, 1);

	s->pool = g_strdup(pool);
	s->declared = share_declared(hosts);
	s->n_members = g_strv_length((char **)hosts);
	s->serial = serial_table();
	s->ever = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	return s;
}

share_state *
share_state_copy(const share_state *s)
{
	share_state *c = g_new0(share_state, 1);
	GHashTableIter it;
	gpointer k, v;

	c->pool = g_strdup(s->pool);
	c->declared = g_strdup(s->declared);
	c->n_members = s->n_members;
	c->refuted = g_strdup(s->refuted);
	c->unproven = g_strdup(s->unproven);
	c->all_agreed = s->all_agreed;
	c->history = s->history;
	c->gen = s->gen;
	c->can_probe = s->can_probe;
	c->probing = s->probing;
	c->probe_id = s->probe_id;
	c->probe_began = s->probe_began;
	c->serial = serial_table();
	g_hash_table_iter_init(&it, s->serial);
	while (g_hash_table_iter_next(&it, &k, &v))
		serial_put(c->serial, k, *(guint64 *)v);
	c->ever = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_hash_table_iter_init(&it, s->ever);
	while (g_hash_table_iter_next(&it, &k, NULL))
		g_hash_table_add(c->ever, g_strdup(k));
	return c;
}

void
share_state_free(gpointer p)
{
	share_state *s = p;

	if (!s)
		return;
	g_free(s->pool);
	g_free(s->declared);
	g_free(s->refuted);
	g_free(s->unproven);
	g_hash_table_unref(s->serial);
	g_hash_table_unref(s->ever);
	g_free(s);
}

share_probe *
share_probe_new(const char *pool, const char *from, virt_host *from_virt)
{
	share_probe *p = g_new0(share_probe, 1);

	p->pool = g_strdup(pool);
	p->from = g_strdup(from);
	p->from_virt = from_virt ? virt_host_ref(from_virt) : NULL;  /* NULL: a test's */
	p->names = g_ptr_array_new_with_free_func(g_free);
	p->virts = g_ptr_array_new_with_free_func((GDestroyNotify)virt_host_free);
	p->seen = g_ptr_array_new_with_free_func(g_free);
	p->unseen = g_ptr_array_new_with_free_func(g_free);
	p->serials = serial_table();
	return p;
}

void
share_probe_add(share_probe *p, const char *name, virt_host *v)
{
	g_ptr_array_add(p->names, g_strdup(name));
	g_ptr_array_add(p->virts, v ? virt_host_ref(v) : NULL);
}

void
share_probe_free(gpointer q)
{
	share_probe *p = q;

	if (!p)
		return;
	g_free(p->pool);
	g_free(p->declared);
	g_free(p->from);
	virt_host_free(p->from_virt);
	g_ptr_array_unref(p->names);
	g_ptr_array_unref(p->virts);
	g_ptr_array_unref(p->seen);
	g_ptr_array_unref(p->unseen);
	g_free(p->error);
	g_hash_table_unref(p->serials);
	g_free(p);
}

/* Refresh, then look: the listing a host keeps is from its last refresh. */
static int
probe_seen_by(virt_host *v, const char *pool, const char *name, GError **error)
{
	if (!virt_pool_refresh(v, pool, error))
		return -1;
	return virt_vol_exists(v, pool, name, error);
}

void
share_probe_run(share_probe *p)
{
	g_autofree char *uuid = g_uuid_string_random();
	g_autofree char *name = g_strdup_printf(SHARE_PROBE_PREFIX "%s.qcow2", uuid);
	g_autofree char *xml = domxml_volume(name, 1 << 20, NULL);
	g_autoptr(GError) err = NULL;

	if (!virt_vol_create(p->from_virt, p->pool, xml, NULL, &err)) {
		p->error = g_strdup_printf("cannot make a probe volume through %s: %s", p->from, err->message);
		return;
	}
	serial_put(p->serials, p->from, virt_host_serial(p->from_virt));
	for (guint i = 0; i < p->names->len && !p->error; i++) {
		const char *host = p->names->pdata[i];
		int rc = probe_seen_by(p->virts->pdata[i], p->pool, name, &err);

		if (rc < 0)
			p->error = g_strdup_printf("%s cannot tell whether it sees the probe: %s", host,
						   err->message);
		else
			g_ptr_array_add(rc ? p->seen : p->unseen, g_strdup(host));
		serial_put(p->serials, host, virt_host_serial(p->virts->pdata[i]));
	}
	g_clear_error(&err);
	if (!virt_vol_delete(p->from_virt, p->pool, name, &err))
		g_warning("pool %s: the probe volume %s made through %s is left: %s", p->pool, name,
			  p->from, err->message);
	/* So that the members stop listing the probe before their next resync. */
	for (guint i = 0; i < p->virts->len; i++)
		(void)virt_pool_refresh(p->virts->pdata[i], p->pool, NULL);
}

static char *
joined(const GPtrArray *names)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; i < names->len; i++)
		g_string_append_printf(s, "%s%s", i ? ", " : "", (char *)names->pdata[i]);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/*
 * A probe that cannot tell (a pool missing or inactive on a member, a busy
 * pool) proves nothing either way: the pool stays unverified, with why, and
 * what was known stays.  One that a member does not see refutes the whole
 * declaration, and its past verifications with it.  One that agrees
 * verifies the members it covered; it lifts a refutation only if it
 * covered them all (a member left out may be the one that differs).
 */
static gint share_gens;

void
share_state_learn(share_state *s, const share_probe *p)
{
	g_autofree char *seen = NULL, *unseen = NULL;
	GHashTableIter it;
	gpointer k, v;

	/* Process-wide: a new declaration's state never repeats an old one's. */
	s->gen = (guint64)g_atomic_int_add(&share_gens, 1) + 1;
	s->all_agreed = false;
	g_clear_pointer(&s->unproven, g_free);
	if (p->error) {
		s->unproven = g_strdup_printf("pool '%s' could not be verified: %s", s->pool, p->error);
		return;
	}
	if (p->unseen->len) {
		g_autofree char *also = NULL;

		seen = joined(p->seen);
		unseen = joined(p->unseen);
		also = p->seen->len ? g_strdup_printf(" (it is seen through %s)", seen) : g_strdup("");
		g_free(s->refuted);
		s->refuted = g_strdup_printf("pool '%s' is declared shared by %s, but a probe volume made through %s "
					     "is not seen through %s%s: their pools '%s' are different storage "
					     "(one is local, or mounts something else); nothing is moved or failed "
					     "over on it until the mounts or the declaration are fixed",
					     s->pool, s->declared, p->from, unseen, also, s->pool);
		g_hash_table_remove_all(s->serial);
		g_hash_table_remove_all(s->ever);
		return;
	}
	g_hash_table_iter_init(&it, p->serials);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		serial_put(s->serial, k, *(guint64 *)v);
		g_hash_table_add(s->ever, g_strdup(k));
	}
	if (g_hash_table_size(p->serials) == s->n_members) {
		s->all_agreed = true;
		g_clear_pointer(&s->refuted, g_free);
	}
}

/*
 * Whether @h's side of the pool is settled: verified on this connection;
 * or beyond probing now (down, lost, read-only) and seen sharing it before
 * (without history, as for strata plan, taken as declared).
 */
static share_verdict
member_verdict(const share_state *s, const share_host *h, const char **why)
{
	guint64 *serial = s ? g_hash_table_lookup(s->serial, h->name) : NULL;

	if (h->reachable && serial && *serial == h->serial)
		return SHARE_YES;
	if (h->reachable && s && s->can_probe) {
		*why = s->unproven ? s->unproven : "the declaration is not verified yet (its probe has not reported)";
		return SHARE_UNVERIFIED;
	}
	if (s && s->history && !g_hash_table_contains(s->ever, h->name)) {
		*why = "strata has never seen this host share the pool (no probe agreed while it answered) under "
		       "this declaration, so it cannot be probed now and is not taken on trust";
		return SHARE_UNVERIFIED;
	}
	*why = s && s->history ? "one side cannot be probed now (down, lost or read-only); it was seen sharing the pool before"
			       : "taken as declared: not probed (read-only connections keep no history)";
	return SHARE_ASSUMED;
}

share_verdict
share_between(const desired_state *want, GHashTable *states, const char *pool,
	      const share_host *a, const share_host *b, const char **why)
{
	const char *const *members = desired_pool_sharers(want, pool, a->name);
	const share_state *s = states ? g_hash_table_lookup(states, pool) : NULL;
	share_verdict va, vb;
	const char *wa = NULL, *wb = NULL;

	*why = NULL;
	if (!members || !g_strv_contains(members, b->name) || strcmp(a->name, b->name) == 0)
		return SHARE_NO;
	if (s && s->refuted) {
		*why = s->refuted;
		return SHARE_REFUTED;
	}
	va = member_verdict(s, a, &wa);
	vb = member_verdict(s, b, &wb);
	*why = va != SHARE_YES ? wa : wb;
	return MAX(va, vb);
}
