/*
 * test_lease_pg.c - leases and fencing against a real PostgreSQL 15
 *
 * Run by `make check-pg` through tests/pg/with_postgres.sh, which starts a
 * server of its own and names it in STRATA_TEST_PG; without it the test
 * fails (it never skips).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <glib.h>
#include <libpq-fe.h>

#include "../../reconciler/lease_keeper.h"
#include "../../reconciler/lease_pg.h"
#include "../../reconciler/shard.h"

static const char *
conninfo(void)
{
	const char *c = g_getenv("STRATA_TEST_PG");

	if (!c)
		fail_msg("STRATA_TEST_PG is not set: run this test through tests/pg/with_postgres.sh (make check-pg)");
	return c;
}

static lease_store *
store(void)
{
	g_autoptr(GError) err = NULL;
	lease_store *s = lease_store_open(conninfo(), &err);

	if (!s)
		fail_msg("lease_store_open: %s", err->message);
	return s;
}

/* A statement on a connection of its own, outside the store under test. */
static void
exec_raw(const char *sql)
{
	PGconn *c = PQconnectdb(conninfo());
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* A count from the database, outside the store under test. */
static long
count(const char *sql)
{
	PGconn *c = PQconnectdb(conninfo());
	PGresult *r = PQexec(c, sql);
	long n;

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

static void
test_lease__renewed_by_its_owner_refused_to_others(void **state)
{
	lease_store *a = store(), *b = store();
	g_autoptr(GError) err = NULL;
	gint64 e1 = 0, e2 = 0, e3 = 0, left = 0;
	g_autofree char *who = NULL;

	(void)state;
	assert_true(lease_acquire(a, "s1", "daemon-a", 60000, &e1, &err));
	assert_int_equal(e1, 1);
	e2 = e1;
	assert_true(lease_acquire(a, "s1", "daemon-a", 60000, &e2, &err));
	assert_int_equal(e2, 1);  /* a renewal keeps the epoch */
	assert_false(lease_acquire(b, "s1", "daemon-b", 60000, &e3, &err));
	assert_true(g_error_matches(err, LEASE_ERROR, LEASE_ERROR_HELD));
	g_clear_error(&err);
	/* The same name from another process (it holds no epoch): refused. */
	e3 = 0;
	assert_false(lease_acquire(b, "s1", "daemon-a", 60000, &e3, &err));
	assert_true(g_error_matches(err, LEASE_ERROR, LEASE_ERROR_HELD));
	g_clear_error(&err);
	/* Let expire, then taken back by its owner: a new epoch, as its
	 * fenced writes of the old one are refused meanwhile. */
	exec_raw("UPDATE strata_lease SET expires = now() - interval '1 second' WHERE shard = 's1'");
	assert_true(lease_acquire(a, "s1", "daemon-a", 60000, &e2, &err));
	assert_int_equal(e2, 2);
	who = lease_holder(b, "s1", &e3, &left, NULL);
	assert_string_equal(who, "daemon-a");
	assert_true(left > 50000 && left <= 60000);
	lease_store_close(a);
	lease_store_close(b);
}

/*
 * A lease let expire (a daemon frozen past it) is taken with a new epoch;
 * the old owner's writes, fenced by its stale epoch, are refused and
 * write nothing; the new owner's go through; the change is logged.
 */
static void
test_lease__a_stale_epoch_writes_nothing(void **state)
{
	lease_store *a = store(), *b = store();
	g_autoptr(GError) err = NULL;
	gint64 ea = 0, eb = 0;  /* none held yet */
	const char *row_a[] = { "from a" }, *row_b[] = { "from b" };

	(void)state;
	exec_raw("CREATE TABLE IF NOT EXISTS fenced_rows (what text)");
	assert_true(lease_acquire(a, "s2", "daemon-a", 60000, &ea, &err));
	assert_true(lease_fenced(a, "s2", "daemon-a", ea, "INSERT INTO fenced_rows VALUES ($1)", 1, row_a, &err));
	/* a is "frozen" past its lease. */
	exec_raw("UPDATE strata_lease SET expires = now() - interval '1 second' WHERE shard = 's2'");
	assert_true(lease_acquire(b, "s2", "daemon-b", 60000, &eb, &err));
	assert_int_equal(eb, ea + 1);
	assert_false(lease_fenced(a, "s2", "daemon-a", ea, "INSERT INTO fenced_rows VALUES ($1)", 1, row_a, &err));
	assert_true(g_error_matches(err, LEASE_ERROR, LEASE_ERROR_FENCED));
	g_clear_error(&err);
	assert_true(lease_fenced(b, "s2", "daemon-b", eb, "INSERT INTO fenced_rows VALUES ($1)", 1, row_b, &err));
	assert_int_equal(count("SELECT count(*) FROM fenced_rows WHERE what = 'from a'"), 1);
	assert_int_equal(count("SELECT count(*) FROM fenced_rows WHERE what = 'from b'"), 1);
	/* Taken by a, then by b from a: two changes of owner on record. */
	assert_int_equal(count("SELECT count(*) FROM strata_lease_log WHERE shard = 's2'"), 2);
	assert_int_equal(count("SELECT count(*) FROM strata_lease_log WHERE shard = 's2' AND owner = 'daemon-b' "
			       "AND previous_owner = 'daemon-a'"), 1);
	/* A stale epoch is refused whoever's name comes with it. */
	assert_false(lease_fenced(a, "s2", "daemon-b", ea, "SELECT 1", 0, NULL, &err));
	lease_store_close(a);
	lease_store_close(b);
}

typedef struct {
	const char *owner;
	const char *shard;
	GMutex *m;
	GCond *go;
	bool *start;
	bool won;
	bool opened;
} racer;

static gpointer
race(gpointer data)
{
	racer *r = data;
	lease_store *s = lease_store_open(conninfo(), NULL);  /* checked below: won or not */
	gint64 e = 0;

	g_mutex_lock(r->m);
	while (!*r->start)
		g_cond_wait(r->go, r->m);
	g_mutex_unlock(r->m);
	r->won = s && lease_acquire(s, r->shard, r->owner, 60000, &e, NULL);
	r->opened = s != NULL;
	lease_store_close(s);
	return NULL;
}

/* Three daemons take a free shard at the same moment: exactly one wins,
 * every round. */
static void
test_lease__one_winner_when_three_race(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		g_autofree char *shard = g_strdup_printf("race-%d", round);
		GMutex m;
		GCond go;
		bool start = false;
		racer r[3] = { { "d1", shard, &m, &go, &start, false, false }, { "d2", shard, &m, &go, &start, false, false },
			       { "d3", shard, &m, &go, &start, false, false } };
		GThread *t[3];
		int won = 0;

		g_mutex_init(&m);
		g_cond_init(&go);
		for (int i = 0; i < 3; i++)
			t[i] = g_thread_new("racer", race, &r[i]);
		g_usleep(20000);
		g_mutex_lock(&m);
		start = true;
		g_cond_broadcast(&go);
		g_mutex_unlock(&m);
		for (int i = 0; i < 3; i++) {
			g_thread_join(t[i]);
			assert_true(r[i].opened);
			won += r[i].won;
		}
		assert_int_equal(won, 1);
		g_mutex_clear(&m);
		g_cond_clear(&go);
	}
}

typedef struct {
	gint64 epoch;
	gint done;
	bool won;
} taker;

static gpointer
take_s4(gpointer data)
{
	taker *t = data;
	lease_store *s = lease_store_open(conninfo(), NULL);

	t->won = s && lease_acquire(s, "s4", "daemon-b", 60000, &t->epoch, NULL);
	lease_store_close(s);
	g_atomic_int_set(&t->done, 1);
	return NULL;
}

/*
 * The fence's order: while the owner's fenced write is open (its lease
 * row locked FOR SHARE, held here on a raw connection), a takeover of the
 * expired lease waits; it is granted, with the next epoch, only once that
 * write committed.  So every write of the old epoch comes before the new
 * epoch exists.
 */
static void
test_lease__a_takeover_waits_for_the_open_fenced_write(void **state)
{
	lease_store *a = store();
	g_autoptr(GError) err = NULL;
	gint64 ea = 0;
	PGconn *c = PQconnectdb(conninfo());
	g_autofree char *lock = NULL;
	taker t = { 0 };
	GThread *th;
	PGresult *r;

	(void)state;
	assert_true(lease_acquire(a, "s4", "daemon-a", 1000, &ea, &err));
	lock = g_strdup_printf("SELECT 1 FROM strata_lease WHERE shard = 's4' AND epoch = %" G_GINT64_FORMAT
			       " FOR SHARE", ea);
	PQclear(PQexec(c, "BEGIN"));
	r = PQexec(c, lock);
	assert_int_equal(PQntuples(r), 1);
	PQclear(r);
	g_usleep(1200 * 1000);  /* the lease expires while the write is open */
	th = g_thread_new("taker", take_s4, &t);
	g_usleep(800 * 1000);
	assert_int_equal(g_atomic_int_get(&t.done), 0);  /* it waits on the row */
	PQclear(PQexec(c, "COMMIT"));
	PQfinish(c);
	g_thread_join(th);
	assert_true(t.won);
	assert_int_equal(t.epoch, ea + 1);
	lease_store_close(a);
}

/* The server restarted under a daemon: its next statement reconnects. */
static void
test_lease__a_restarted_server_is_reached_again(void **state)
{
	lease_store *a = store();
	g_autoptr(GError) err = NULL;
	g_autofree char *restart = NULL;
	gint64 e1 = 0, e2 = 0;
	const char *row[] = { "after restart" };

	(void)state;
	assert_non_null(g_getenv("STRATA_TEST_PGCTL"));
	restart = g_strdup_printf("%s restart >/dev/null", g_getenv("STRATA_TEST_PGCTL"));
	assert_true(lease_acquire(a, "s3", "daemon-a", 60000, &e1, &err));
	assert_int_equal(system(restart), 0);
	e2 = e1;
	if (!lease_acquire(a, "s3", "daemon-a", 60000, &e2, &err))
		fail_msg("after a restart: %s", err->message);
	assert_int_equal(e2, e1);  /* the lease lives in the database, not the connection */
	assert_int_equal(system(restart), 0);
	/* A fenced write on a connection the restart broke: reconnected too. */
	exec_raw("CREATE TABLE IF NOT EXISTS fenced_rows (what text)");
	if (!lease_fenced(a, "s3", "daemon-a", e1, "INSERT INTO fenced_rows VALUES ($1)", 1, row, &err))
		fail_msg("a fenced write after a restart: %s", err->message);
	lease_store_close(a);
}

static void
test_lease__an_unreachable_server_is_said(void **state)
{
	g_autoptr(GError) err = NULL;

	(void)state;
	assert_null(lease_store_open("host=/nonexistent-dir dbname=x connect_timeout=2", &err));
	assert_true(g_error_matches(err, LEASE_ERROR, LEASE_ERROR_CONNECT));
	assert_non_null(strstr(err->message, "cannot reach the PostgreSQL server"));
	assert_non_null(strstr(err->message, "/nonexistent-dir"));
}

#define KEEPERS 3
#define SHARDS 9

static const char *const keeper_names[KEEPERS] = { "keeper-1", "keeper-2", "keeper-3" };
static bool frozen_keeper[KEEPERS];

static lease_store *witness;  /* the database's own view, to check against */

/*
 * How many keepers may act on @shard now (must never exceed 1).  One that
 * says it may must hold the lease in the database too, with its epoch,
 * unexpired: asked after it answered, so a lease it lost before answering
 * shows here.
 */
static int
holders(lease_keeper **k, const char *shard, int *who)
{
	int n = 0;

	for (int i = 0; i < KEEPERS; i++) {
		gint64 epoch = 0, db_epoch = 0, left = 0;
		g_autofree char *owner = NULL;

		if (!k[i] || !lease_keeper_holds(k[i], shard, &epoch))
			continue;
		n++;
		*who = i;
		owner = lease_holder(witness, shard, &db_epoch, &left, NULL);
		if (g_strcmp0(owner, keeper_names[i]) != 0 || db_epoch != epoch || left <= 0)
			fail_msg("%s acts on %s under epoch %" G_GINT64_FORMAT ", but the database says %s, epoch %"
				 G_GINT64_FORMAT ", %" G_GINT64_FORMAT " ms left", keeper_names[i], shard, epoch,
				 owner ? owner : "nobody", db_epoch, left);
	}
	return n;
}

/* Poll every 20 ms for up to @ms: never two keepers on one shard; true
 * once each shard is held by the keeper rendezvous hashing names among
 * those not NULL in @k (the live ones). */
static bool
balanced(lease_keeper **k, char **shards, int ms)
{
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	const char *live[KEEPERS];
	guint n_live = 0;

	for (int i = 0; i < KEEPERS; i++)
		if (k[i] && !frozen_keeper[i])
			live[n_live++] = keeper_names[i];
	for (;;) {
		int done = 0;

		for (int s = 0; s < SHARDS; s++) {
			int who = -1, n = holders(k, shards[s], &who);

			if (n > 1)
				fail_msg("shard %s acted on by two keepers at once", shards[s]);
			done += n == 1 && g_str_equal(keeper_names[who], shard_owner(shards[s], live, n_live));
		}
		if (done == SHARDS)
			return true;
		if (g_get_monotonic_time() > end)
			return false;
		g_usleep(20000);
	}
}

/*
 * Three daemons' keepers share nine shards: each is held by the one
 * rendezvous hashing names.  One freezes (SIGSTOP, or kill -9): at no
 * moment do two keepers act on one shard, and the others hold all of its
 * shards within the lease duration plus a renewal period.  One stops
 * cleanly: its shards move at the others' next round.
 */
static void
test_keeper__shards_fail_over_without_overlap(void **state)
{
	const lease_timing t = { 4000, 2000, 300 };
	lease_keeper *k[KEEPERS];
	char *shards[SHARDS + 1] = { NULL };
	g_autoptr(GError) err = NULL;
	gint64 t0, took;
	int frozen = -1;

	(void)state;
	for (int s = 0; s < SHARDS; s++)
		shards[s] = g_strdup_printf("host:keep-hv%d", s);
	memset(frozen_keeper, 0, sizeof(frozen_keeper));
	witness = store();
	for (int i = 0; i < KEEPERS; i++)
		k[i] = NULL;
	/* Two first; the third joins once they hold everything: shards are
	 * handed over to it (released after the margin), never shared. */
	for (int i = 0; i < KEEPERS; i++) {
		k[i] = lease_keeper_new(conninfo(), keeper_names[i], &t, &err);
		if (!k[i])
			fail_msg("lease_keeper_new: %s", err->message);
		lease_keeper_set_shards(k[i], (const char *const *)shards);
		if (i == KEEPERS - 2)
			assert_true(balanced(k, shards, 10000));
	}
	assert_true(balanced(k, shards, 10000));
	for (int s = 0; s < SHARDS && frozen < 0; s++)
		holders(k, shards[s], &frozen);  /* a keeper that holds something */
	t0 = g_get_monotonic_time();
	lease_keeper_freeze(k[frozen]);
	frozen_keeper[frozen] = true;
	assert_true(balanced(k, shards, (int)(t.duration_ms + t.renew_every_ms) + 3000));
	took = (g_get_monotonic_time() - t0) / 1000;
	print_message("failover: its shards held by the others %" G_GINT64_FORMAT " ms after the freeze "
		      "(lease %u ms, renewals every %u ms)\n", took, t.duration_ms, t.renew_every_ms);
	assert_true(took <= (gint64)(t.duration_ms + t.renew_every_ms) + 1000);
	lease_keeper_free(k[frozen]);
	k[frozen] = NULL;
	frozen_keeper[frozen] = false;
	/* A clean stop of another: its shards move after the margin, not at
	 * their expiry. */
	for (int i = 0; i < KEEPERS; i++) {
		if (!k[i])
			continue;
		t0 = g_get_monotonic_time();
		lease_keeper_free(k[i]);
		k[i] = NULL;
		assert_true(balanced(k, shards, 5000));
		took = (g_get_monotonic_time() - t0) / 1000;
		assert_true(took < t.duration_ms);
		break;
	}
	for (int i = 0; i < KEEPERS; i++)
		lease_keeper_free(k[i]);
	for (int s = 0; s < SHARDS; s++)
		g_free(shards[s]);
	lease_store_close(witness);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease__renewed_by_its_owner_refused_to_others),
		cmocka_unit_test(test_lease__a_stale_epoch_writes_nothing),
		cmocka_unit_test(test_lease__one_winner_when_three_race),
		cmocka_unit_test(test_lease__a_takeover_waits_for_the_open_fenced_write),
		cmocka_unit_test(test_lease__a_restarted_server_is_reached_again),
		cmocka_unit_test(test_lease__an_unreachable_server_is_said),
		cmocka_unit_test(test_keeper__shards_fail_over_without_overlap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
