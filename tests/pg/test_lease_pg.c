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

#include "../../reconciler/lease_pg.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lease__renewed_by_its_owner_refused_to_others),
		cmocka_unit_test(test_lease__a_stale_epoch_writes_nothing),
		cmocka_unit_test(test_lease__one_winner_when_three_race),
		cmocka_unit_test(test_lease__a_restarted_server_is_reached_again),
		cmocka_unit_test(test_lease__an_unreachable_server_is_said),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
