/*
 * hosts.c - the set of hypervisors a source names, one connection each
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include "hosts.h"
#include "offload.h"

/* One attempt, on a thread of its own (offload.h). */
typedef struct {
	char *name;
	char *uri;
	bool readonly;
	guint gen;
	virt_host *virt;
	char *error;
} connect_job;

static void
connect_job_free(gpointer p)
{
	connect_job *j = p;

	g_free(j->name);
	g_free(j->uri);
	virt_host_free(j->virt);
	g_free(j->error);
	g_free(j);
}

static gpointer
connect_run(gpointer p)
{
	connect_job *j = p;
	g_autoptr(GError) err = NULL;

	j->virt = virt_host_open(j->uri, j->readonly, &err);
	if (!j->virt)
		j->error = g_strdup(err->message);
	return NULL;
}

static void connect_taken(host_set *set, connect_job *j, GPtrArray *back, bool refuse_twins);

/* Attempts are told apart across hosts and sets: one counter (loop only). */
static guint attempt_gen;

/* Put the next attempt off by @h's backoff (1 s, doubling to 60 s). */
static void
backoff(host_conn *h, gint64 now)
{
	h->backoff_ms = MIN(MAX(h->backoff_ms, 500u) * 2, 60000u);
	h->next_try = now + (gint64)h->backoff_ms * 1000;
}

/* Begin an attempt for @h unless one runs; never blocks. */
static void
connect_start(host_set *set, host_conn *h)
{
	connect_job *j;
	g_autoptr(GError) err = NULL;

	if (h->connecting || h->abandoned >= HOSTS_ATTEMPTS_ABANDONED_MAX)
		return;
	virt_init();  /* once, here: libxml2's global set-up is not thread-safe */
	j = g_new0(connect_job, 1);
	j->name = g_strdup(h->name);
	j->uri = g_strdup(h->uri);
	j->readonly = h->readonly;
	j->gen = h->connect_gen = ++attempt_gen;
	if (!offload_run(set->attempts, connect_run, j, &err)) {
		connect_job_free(j);
		g_free(h->error);
		h->error = g_strdup(err->message);
		backoff(h, g_get_monotonic_time());
		return;
	}
	h->connecting = true;
	h->connect_began = g_get_monotonic_time();
}

static void
host_conn_free(gpointer p)
{
	host_conn *h = p;

	g_free(h->name);
	g_free(h->uri);
	g_free(h->error);
	virt_host_free(h->virt);
	g_free(h);
}

static host_conn *
host_new(const char *name, const spec_host *spec, const char *uri, bool readonly)
{
	host_conn *h = g_new0(host_conn, 1);

	h->name = g_strdup(name);
	h->spec = spec;
	h->uri = g_strdup(uri);
	h->readonly = readonly;
	h->error = g_strdup("not connected yet");
	h->backoff_ms = 1000;
	return h;
}

/* The test driver reports one fixed host UUID for every connection. */
static bool
same_hypervisor(const host_conn *a, const host_conn *b)
{
	const char *ua, *ub;

	if (!a->virt || !b->virt ||
	    strcmp(virt_host_domain_type(a->virt), "test") == 0)
		return false;
	ua = virt_host_uuid(a->virt);
	ub = virt_host_uuid(b->virt);
	return ua && ub && strcmp(ua, ub) == 0;
}

/*
 * @old's connection to host @name when it still reaches @uri: taken out of
 * @old, so a revision that changes one host leaves the others' connections
 * (and, on the test driver, their simulated state) as they are.
 */
static host_conn *
host_take(host_set *old, const char *name, const spec_host *spec, const char *uri,
	  bool readonly)
{
	host_conn *h = old ? g_hash_table_lookup(old->by_name, name) : NULL;

	if (!h || !(h->virt || h->connecting) || strcmp(h->uri, uri) != 0 ||
	    h->readonly != readonly)
		return NULL;
	g_hash_table_remove(old->by_name, name);
	g_ptr_array_remove_fast(old->hosts, h);  /* stolen: old frees it no more */
	h->spec = spec;
	return h;
}

static host_conn *
host_get(host_set *old, const char *name, const spec_host *spec, const char *uri,
	 bool readonly)
{
	host_conn *h = host_take(old, name, spec, uri, readonly);

	return h ? h : host_new(name, spec, uri, readonly);
}

/* Two hosts reaching one hypervisor, as an error; false if none. */
static bool
twins(host_set *set, GError **error)
{
	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *h = set->hosts->pdata[i];

		for (guint j = 0; j < i; j++) {
			host_conn *o = set->hosts->pdata[j];

			if (same_hypervisor(h, o)) {
				g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
					    "hosts '%s' and '%s' reach the same hypervisor (host UUID %s); describe each hypervisor once",
					    o->name, h->name, virt_host_uuid(h->virt));
				return true;
			}
		}
	}
	return false;
}

host_set *
hosts_open(const spec_source *src, const char *default_uri, bool readonly,
	   guint deadline_ms, GError **error)
{
	g_autoptr(host_set) set = hosts_reopen(src, default_uri, readonly, NULL, error);
	gint64 deadline = g_get_monotonic_time() + (gint64)deadline_ms * 1000;

	if (!set)
		return NULL;
	for (guint i = 0; i < set->hosts->len; i++)
		connect_start(set, set->hosts->pdata[i]);
	for (;;) {
		guint waiting = 0;
		connect_job *j;

		for (guint i = 0; i < set->hosts->len; i++)
			waiting += ((host_conn *)set->hosts->pdata[i])->connecting;
		if (!waiting)
			break;
		j = offload_take_until(set->attempts, deadline);
		if (!j)
			break;
		connect_taken(set, j, NULL, false);  /* twins are an error here */
	}
	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *h = set->hosts->pdata[i];

		if (h->connecting) {
			h->connecting = false;
			h->connect_gen = 0;
			g_free(h->error);
			h->error = g_strdup_printf("no answer within %u s", (deadline_ms + 999) / 1000);
		}
	}
	if (twins(set, error))
		return NULL;
	return g_steal_pointer(&set);
}

host_set *
hosts_reopen(const spec_source *src, const char *default_uri, bool readonly,
	     host_set *old, GError **error)
{
	g_autoptr(host_set) set = g_new0(host_set, 1);

	set->hosts = g_ptr_array_new_with_free_func(host_conn_free);
	set->by_name = g_hash_table_new(g_str_hash, g_str_equal);
	/* Attempts still running report to the new set. */
	set->attempts = old ? offload_ref(old->attempts) : offload_new(connect_job_free);
	if (old)
		g_ptr_array_set_free_func(old->hosts, NULL);
	if (src->hosts->len == 0)
		g_ptr_array_add(set->hosts, host_get(old, "default", NULL, default_uri, readonly));
	for (guint i = 0; i < src->hosts->len; i++) {
		const spec_host *sh = src->hosts->pdata[i];
		g_autofree char *uri = virt_resolve_uri(sh->uri.v, sh->obj.file);

		g_ptr_array_add(set->hosts, host_get(old, sh->obj.name.v, sh, uri, readonly));
	}
	if (old)
		g_ptr_array_set_free_func(old->hosts, host_conn_free);
	if (twins(set, error))
		return NULL;
	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *h = set->hosts->pdata[i];

		g_hash_table_insert(set->by_name, h->name, h);
	}
	return g_steal_pointer(&set);
}

void
hosts_free(host_set *set)
{
	if (!set)
		return;
	if (set->by_name)
		g_hash_table_unref(set->by_name);
	if (set->hosts)
		g_ptr_array_unref(set->hosts);
	offload_unref(set->attempts);
	g_free(set);
}

void
hosts_bind(host_set *set, const spec_source *src)
{
	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *h = set->hosts->pdata[i];

		h->spec = src->host_by_name ? g_hash_table_lookup(src->host_by_name, h->name)
					    : NULL;
	}
}

/*
 * A host first reached late (it did not answer at start) is checked like
 * the others: one reaching a hypervisor another host already reaches is
 * kept unreachable, so its VMs stay unknown and layers are never placed on
 * one machine under two names.
 */
static bool
twin_refused(host_set *set, host_conn *h)
{
	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *o = set->hosts->pdata[i];

		if (o == h || !same_hypervisor(h, o))
			continue;
		h->error = g_strdup_printf("it reaches the same hypervisor as host '%s' (host UUID %s); "
					   "describe each hypervisor once", o->name, virt_host_uuid(h->virt));
		g_warning("host %s: %s", h->name, h->error);
		g_clear_pointer(&h->virt, virt_host_free);
		h->backoff_ms = 60000;
		h->next_try = g_get_monotonic_time() + (gint64)h->backoff_ms * 1000;
		return true;
	}
	return false;
}

void
hosts_reconnect(host_set *set)
{
	gint64 now = g_get_monotonic_time();

	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *h = set->hosts->pdata[i];

		if (h->virt && virt_host_alive(h->virt))
			continue;
		if (h->virt) {
			/* Closed under us: from now on the host is unknown, not empty. */
			g_clear_pointer(&h->virt, virt_host_free);
			g_free(h->error);
			h->error = g_strdup("connection lost");
			h->backoff_ms = 1000;
			h->next_try = now;
		}
		if (h->connecting && now - h->connect_began >= HOSTS_CONNECT_DEADLINE_MS * 1000) {
			/* Given up: its outcome, if it ever comes, is not taken, and
			 * a new attempt may begin (a host that came back), while no
			 * more than a few wait at once. */
			h->connecting = false;
			h->connect_gen = 0;
			h->abandoned++;
			g_free(h->error);
			h->error = g_strdup_printf("no answer within %u s to connecting",
						   HOSTS_CONNECT_DEADLINE_MS / 1000);
			backoff(h, now);
		}
		if (now >= h->next_try)
			connect_start(set, h);
	}
}

int
hosts_fd(const host_set *set)
{
	return offload_fd(set->attempts);
}

/* @j's outcome on @h, whose attempt it is. */
static bool
connect_take(host_set *set, host_conn *h, connect_job *j, bool refuse_twins)
{
	gint64 now = g_get_monotonic_time();

	h->connecting = false;
	if (!j->virt) {
		g_free(h->error);
		h->error = g_steal_pointer(&j->error);
		backoff(h, now);
		return false;
	}
	h->virt = g_steal_pointer(&j->virt);
	g_clear_pointer(&h->error, g_free);
	if (refuse_twins && twin_refused(set, h))
		return false;
	h->was_connected = h->ever_connected;
	h->ever_connected = true;
	h->backoff_ms = 0;
	h->close_reported = false;
	return true;
}

/* The outcome @j on its host, if it is still this host's attempt (one for
 * a host since dropped, or given up and begun again, is not: its
 * connection is closed); a host back is added to @back. */
static void
connect_taken(host_set *set, connect_job *j, GPtrArray *back, bool refuse_twins)
{
	host_conn *h = g_hash_table_lookup(set->by_name, j->name);

	if (h && h->connecting && h->connect_gen == j->gen && strcmp(h->uri, j->uri) == 0 &&
	    h->readonly == j->readonly) {
		if (connect_take(set, h, j, refuse_twins) && back)
			g_ptr_array_add(back, h);
	} else if (h && h->abandoned) {
		/* One given up has ended after all: a connection it made is
		 * taken when the host has none and none is being made. */
		h->abandoned--;
		if (j->virt && !h->virt && !h->connecting && strcmp(h->uri, j->uri) == 0 &&
		    h->readonly == j->readonly) {
			h->connecting = true;  /* as connect_take expects */
			if (connect_take(set, h, j, refuse_twins) && back)
				g_ptr_array_add(back, h);
		}
	}
	connect_job_free(j);
}

GPtrArray *
hosts_connected(host_set *set)
{
	GPtrArray *back = g_ptr_array_new();
	connect_job *j;

	while ((j = offload_take(set->attempts)))
		connect_taken(set, j, back, true);
	return back;
}

gint64
hosts_newest_attempt(const host_set *set)
{
	gint64 began = 0;

	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *h = set->hosts->pdata[i];

		if (h->connecting)
			began = MAX(began, h->connect_began);
	}
	return began;
}

unsigned
hosts_calls(const host_set *set)
{
	unsigned n = 0;

	for (guint i = 0; i < set->hosts->len; i++) {
		host_conn *h = set->hosts->pdata[i];

		if (h->virt)
			n += virt_host_calls(h->virt);
	}
	return n;
}
