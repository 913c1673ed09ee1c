/*
 * lease_keeper.c - the thread that renews this daemon's shard leases
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "lease_keeper.h"
#include "lease_pg.h"
#include "mono_wait.h"

typedef struct {
	gint64 epoch;
	gint64 act_until;        /* lease_clock_us */
} held_lease;

/* Everything under @lock is shared with the loop; the rest is the
 * thread's (set before it starts, or after it is joined). */
struct lease_keeper {
	char *name;
	lease_timing t;
	lease_store *db;         /* the thread's */
	GThread *thread;
	int fd;
	pthread_mutex_t lock;
	pthread_cond_t wake;     /* on CLOCK_MONOTONIC */
	GStrv shards;            /* under lock */
	GHashTable *held;        /* under lock: shard -> held_lease * */
	bool stop, frozen;       /* under lock */
	bool poke;               /* under lock: a round now (new shards) */
};

/* What a call sent before this daemon's deadline may still need. */
static guint
margin_ms(const lease_keeper *k)
{
	return k->t.duration_ms - k->t.renew_deadline_ms;
}

static GHashTable *
held_new(void)
{
	return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
}

/* Wait one period, or until told to stop: false then. */
static bool
pause_round(lease_keeper *k)
{
	gint64 until = g_get_monotonic_time() + (gint64)k->t.renew_every_ms * 1000;
	bool go;

	pthread_mutex_lock(&k->lock);
	while (!k->stop && !k->poke && mono_cond_wait_until(&k->wake, &k->lock, until))
		;
	k->poke = false;
	go = !k->stop;
	pthread_mutex_unlock(&k->lock);
	return go;
}

/*
 * The leases this round ends holding, given the live daemons; those held
 * that belong to another now go to @give_up (released only once the new
 * table, without them, is published: this daemon stops acting first).
 */
static GHashTable *
renew(lease_keeper *k, GStrv shards, GStrv live, GHashTable *had, gint64 sent, GPtrArray *give_up)
{
	GHashTable *now = held_new();
	guint n_live = g_strv_length(live);

	for (guint i = 0; shards[i]; i++) {
		const char *owner = shard_owner(shards[i], (const char *const *)live, n_live);
		held_lease *was = g_hash_table_lookup(had, shards[i]);
		g_autoptr(GError) err = NULL;
		gint64 epoch = was ? was->epoch : 0;

		if (g_strcmp0(owner, k->name) != 0) {
			if (was)  /* another's now */
				g_ptr_array_add(give_up, g_memdup2(&(gint64[2]){ i, was->epoch }, 2 * sizeof(gint64)));
			continue;
		}
		if (lease_acquire(k->db, shards[i], k->name, k->t.duration_ms, &epoch, &err)) {
			held_lease *h = g_new(held_lease, 1);

			h->epoch = epoch;
			h->act_until = lease_act_until(&k->t, sent);
			g_hash_table_insert(now, g_strdup(shards[i]), h);
		} else if (!g_error_matches(err, LEASE_ERROR, LEASE_ERROR_HELD)) {
			/* Not renewed (a timeout, a reconnect): kept as it was, its
			 * deadline unchanged, so that the next round renews this
			 * epoch instead of being refused by its own lease. */
			g_debug("lease of %s: %s", shards[i], err->message);
			if (was)
				g_hash_table_insert(now, g_strdup(shards[i]), g_memdup2(was, sizeof(*was)));
		}
	}
	return now;
}

/* Whether the shards held, or their epochs, differ. */
static bool
changed(GHashTable *a, GHashTable *b)
{
	GHashTableIter it;
	gpointer key, v;

	if (g_hash_table_size(a) != g_hash_table_size(b))
		return true;
	g_hash_table_iter_init(&it, a);
	while (g_hash_table_iter_next(&it, &key, &v)) {
		held_lease *o = g_hash_table_lookup(b, key);

		if (!o || o->epoch != ((held_lease *)v)->epoch)
			return true;
	}
	return false;
}

static void
one_round(lease_keeper *k)
{
	g_auto(GStrv) shards = NULL, live = NULL;
	g_autoptr(GHashTable) had = NULL;
	g_autoptr(GError) err = NULL;
	gint64 sent = lease_clock_us();
	GHashTable *now;
	bool news;

	g_autoptr(GPtrArray) give_up = g_ptr_array_new_with_free_func(g_free);

	pthread_mutex_lock(&k->lock);
	shards = g_strdupv(k->shards);
	had = g_hash_table_ref(k->held);
	pthread_mutex_unlock(&k->lock);
	/* Not alive before it knows its shards: others would leave it the
	 * shards it is owed and it would take none. */
	if (!shards)
		return;
	live = lease_alive(k->db, k->name, k->t.duration_ms, &err);
	if (!live) {
		/* Nothing renewed: what is held lapses at its deadline. */
		g_debug("leases not renewed: %s", err->message);
		return;
	}
	now = renew(k, shards, live, had, sent, give_up);
	news = changed(now, had);
	pthread_mutex_lock(&k->lock);
	g_hash_table_unref(k->held);
	k->held = now;
	pthread_mutex_unlock(&k->lock);
	if (news && eventfd_write(k->fd, 1) < 0)
		g_debug("lease keeper: eventfd: %s", g_strerror(errno));
	for (guint i = 0; i < give_up->len; i++) {
		const gint64 *g = give_up->pdata[i];

		lease_release(k->db, shards[g[0]], k->name, g[1], margin_ms(k), NULL);
	}
}

static gpointer
run(gpointer data)
{
	lease_keeper *k = data;

	do {
		bool frozen;

		pthread_mutex_lock(&k->lock);
		frozen = k->frozen;
		pthread_mutex_unlock(&k->lock);
		if (!frozen)
			one_round(k);
	} while (pause_round(k));
	return NULL;
}

lease_keeper *
lease_keeper_new(const char *conninfo, const char *name, const lease_timing *t, GError **error)
{
	lease_keeper *k;
	lease_store *db;

	if (!lease_timing_ok(t, error))
		return NULL;
	db = lease_store_open(conninfo, error);
	if (!db)
		return NULL;
	k = g_new0(lease_keeper, 1);
	k->name = g_strdup(name);
	k->t = *t;
	k->db = db;
	k->held = held_new();
	k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (k->fd < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "eventfd: %s",
			    g_strerror(errno));
		lease_store_close(db);
		g_hash_table_unref(k->held);
		g_free(k->name);
		g_free(k);
		return NULL;
	}
	pthread_mutex_init(&k->lock, NULL);
	mono_cond_init(&k->wake);
	k->thread = g_thread_new("strata-leases", run, k);
	return k;
}

void
lease_keeper_set_shards(lease_keeper *k, const char *const *shards)
{
	pthread_mutex_lock(&k->lock);
	g_strfreev(k->shards);
	k->shards = g_strdupv((char **)shards);
	k->poke = true;  /* a new shard is taken at once */
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
}

bool
lease_keeper_holds(lease_keeper *k, const char *shard, gint64 *epoch)
{
	held_lease *h;
	bool ok;

	pthread_mutex_lock(&k->lock);
	h = g_hash_table_lookup(k->held, shard);
	ok = h && lease_clock_us() < h->act_until;
	if (ok && epoch)
		*epoch = h->epoch;
	pthread_mutex_unlock(&k->lock);
	return ok;
}

int
lease_keeper_fd(lease_keeper *k)
{
	return k->fd;
}

void
lease_keeper_freeze(lease_keeper *k)
{
	pthread_mutex_lock(&k->lock);
	k->frozen = true;
	pthread_mutex_unlock(&k->lock);
}

void
lease_keeper_free(lease_keeper *k)
{
	GHashTableIter it;
	gpointer key, v;

	if (!k)
		return;
	pthread_mutex_lock(&k->lock);
	k->stop = true;
	pthread_cond_signal(&k->wake);
	pthread_mutex_unlock(&k->lock);
	g_thread_join(k->thread);
	/* A clean stop hands its shards over after the margin, not at their
	 * expiry.  The caller stopped acting first (its executor drained). */
	g_hash_table_iter_init(&it, k->held);
	while (!k->frozen && g_hash_table_iter_next(&it, &key, &v))
		lease_release(k->db, key, k->name, ((held_lease *)v)->epoch, margin_ms(k), NULL);
	if (!k->frozen)
		lease_gone(k->db, k->name, NULL);
	lease_store_close(k->db);
	g_hash_table_unref(k->held);
	g_strfreev(k->shards);
	pthread_mutex_destroy(&k->lock);
	pthread_cond_destroy(&k->wake);
	close(k->fd);
	g_free(k->name);
	g_free(k);
}
