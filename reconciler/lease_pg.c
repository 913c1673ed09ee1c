/*
 * lease_pg.c - leases and fenced writes over libpq
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "lease_pg.h"

G_DEFINE_QUARK(strata-lease-error-quark, lease_error)

struct lease_store {
	PGconn *c;
};

/* Daemons starting together on an empty database: one makes the tables
 * (concurrent CREATE ... IF NOT EXISTS can fail on the catalog). */
static const char schema[] =
	"BEGIN;"
	"SELECT pg_advisory_xact_lock(7304196841);"
	"CREATE TABLE IF NOT EXISTS strata_lease ("
	"  shard text PRIMARY KEY,"
	"  owner text NOT NULL,"
	"  epoch bigint NOT NULL,"
	"  expires timestamptz NOT NULL,"
	"  renewed timestamptz NOT NULL,"
	"  prev_owner text,"
	"  prev_epoch bigint);"
	"CREATE TABLE IF NOT EXISTS strata_lease_log ("
	"  id bigserial PRIMARY KEY,"
	"  shard text NOT NULL,"
	"  owner text NOT NULL,"
	"  epoch bigint NOT NULL,"
	"  previous_owner text,"
	"  at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE IF NOT EXISTS strata_daemon ("
	"  name text PRIMARY KEY,"
	"  seen timestamptz NOT NULL);"
	"COMMIT;";

/*
 * One statement: a renewal when this owner holds epoch $4 unexpired (the
 * epoch stays); a take when the shard is free or expired (the epoch
 * rises); otherwise no row comes back.  Concurrent takers queue on the
 * row lock and re-check the WHERE against the winner's row.  Expiry is
 * judged by clock_timestamp(), the time after any wait, as lease_fenced
 * judges it.  The row keeps what it replaced (prev_owner, prev_epoch), so
 * a change of hands is logged from the row itself, not from a snapshot
 * that a concurrent statement may have made stale.
 */
static const char acquire_sql[] =
	"WITH up AS ("
	"  INSERT INTO strata_lease AS l (shard, owner, epoch, expires, renewed)"
	"  VALUES ($1, $2, 1, clock_timestamp() + $3::bigint * interval '1 millisecond', clock_timestamp())"
	"  ON CONFLICT (shard) DO UPDATE SET"
	"   owner = EXCLUDED.owner,"
	"   epoch = CASE WHEN l.owner = $2 AND l.epoch = $4::bigint AND l.expires > clock_timestamp()"
	"           THEN l.epoch ELSE l.epoch + 1 END,"
	"   prev_owner = l.owner, prev_epoch = l.epoch,"
	"   expires = EXCLUDED.expires, renewed = EXCLUDED.renewed"
	"  WHERE (l.owner = $2 AND l.epoch = $4::bigint AND l.expires > clock_timestamp())"
	"     OR l.expires <= clock_timestamp()"
	"  RETURNING epoch, prev_owner, prev_epoch),"
	" log AS ("
	"  INSERT INTO strata_lease_log (shard, owner, epoch, previous_owner)"
	"  SELECT $1, $2, epoch, prev_owner FROM up WHERE prev_epoch IS DISTINCT FROM epoch)"
	" SELECT epoch FROM up";

static void
set_pg_error(GError **error, int code, PGconn *c, const char *what)
{
	g_autofree char *msg = g_strdup(PQerrorMessage(c));

	g_strchomp(msg);
	g_set_error(error, LEASE_ERROR, code, "%s: %s", what, *msg ? msg : "no answer");
}

/* The server's notices ("relation already exists, skipping"): debug. */
static void
on_notice(void *data, const char *msg)
{
	(void)data;
	g_debug("postgresql: %s", msg);
}

lease_store *
lease_store_open(const char *conninfo, GError **error)
{
	lease_store *s = g_new0(lease_store, 1);
	PGresult *r;

	/* Bounds the server enforces, kept across PQreset: a daemon frozen
	 * inside a fenced write must not hold the lease row for long (a
	 * takeover waits on it), a lock wait or a statement must end, a dead
	 * peer must be noticed; and READ COMMITTED whatever the database's
	 * default, which the statements here are written for. */
	static const char *const keys[] = { "dbname", "options", "keepalives", "keepalives_idle",
					    "keepalives_interval", "keepalives_count", "tcp_user_timeout",
					    NULL };
	const char *values[] = { conninfo,
				 "-c idle_in_transaction_session_timeout=5000 -c lock_timeout=5000 "
				 "-c statement_timeout=10000 -c default_transaction_isolation=read\\ committed",
				 "1", "5", "2", "3", "10000", NULL };

	s->c = PQconnectdbParams(keys, values, 1);
	if (PQstatus(s->c) != CONNECTION_OK) {
		set_pg_error(error, LEASE_ERROR_CONNECT, s->c,
			     "cannot reach the PostgreSQL server (strata never starts it; check that it runs "
			     "and the connection string)");
		lease_store_close(s);
		return NULL;
	}
	PQsetNoticeProcessor(s->c, on_notice, NULL);
	r = PQexec(s->c, schema);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		set_pg_error(error, LEASE_ERROR_QUERY, s->c, "cannot make the lease tables");
		PQclear(r);
		lease_store_close(s);
		return NULL;
	}
	PQclear(r);
	return s;
}

void
lease_store_close(lease_store *s)
{
	if (!s)
		return;
	PQfinish(s->c);
	g_free(s);
}

/* Outside any transaction, on a live connection (a transaction left open
 * by a failure would swallow the next statement). */
static void
idle_again(lease_store *s)
{
	if (PQstatus(s->c) != CONNECTION_OK) {
		PQreset(s->c);
		return;
	}
	if (PQtransactionStatus(s->c) != PQTRANS_IDLE)
		PQclear(PQexec(s->c, "ROLLBACK"));
	if (PQtransactionStatus(s->c) != PQTRANS_IDLE)
		PQreset(s->c);
}

/*
 * Run @sql, one autocommit statement that may safely run twice (a renewal
 * that committed before the connection broke renews again, same epoch);
 * on a connection found broken, reconnect and run it once more (a
 * restarted server).  NULL with an error when it still fails.
 */
static PGresult *
run(lease_store *s, const char *sql, int n, const char *const *params, ExecStatusType want,
    const char *what, GError **error)
{
	idle_again(s);
	for (int attempt = 0; attempt < 2; attempt++) {
		PGresult *r = PQexecParams(s->c, sql, n, NULL, params, NULL, NULL, 0);

		if (PQresultStatus(r) == want)
			return r;
		PQclear(r);
		if (PQstatus(s->c) == CONNECTION_OK || attempt)
			break;
		PQreset(s->c);
	}
	set_pg_error(error, PQstatus(s->c) == CONNECTION_OK ? LEASE_ERROR_QUERY : LEASE_ERROR_CONNECT,
		     s->c, what);
	return NULL;
}

bool
lease_acquire(lease_store *s, const char *shard, const char *owner, guint duration_ms,
	      gint64 *epoch, GError **error)
{
	g_autofree char *ms = g_strdup_printf("%u", duration_ms);
	g_autofree char *held = g_strdup_printf("%" G_GINT64_FORMAT, *epoch);
	const char *p[] = { shard, owner, ms, held };
	PGresult *r = run(s, acquire_sql, 4, p, PGRES_TUPLES_OK, "cannot take the lease", error);
	bool ok;

	if (!r)
		return false;
	ok = PQntuples(r) == 1;
	if (ok)
		*epoch = g_ascii_strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		g_set_error(error, LEASE_ERROR, LEASE_ERROR_HELD, "shard %s is held by another daemon", shard);
	PQclear(r);
	return ok;
}

bool
lease_release(lease_store *s, const char *shard, const char *owner, gint64 epoch, guint grace_ms,
	      GError **error)
{
	g_autofree char *e = g_strdup_printf("%" G_GINT64_FORMAT, epoch);
	g_autofree char *g = g_strdup_printf("%u", grace_ms);
	const char *p[] = { shard, owner, e, g };
	PGresult *r = run(s, "UPDATE strata_lease SET expires = least(expires, clock_timestamp() + "
			     "$4::bigint * interval '1 millisecond') WHERE shard = $1 AND owner = $2 "
			     "AND epoch = $3::bigint", 4, p, PGRES_COMMAND_OK, "cannot give the lease up", error);

	PQclear(r);
	return r != NULL;
}

static bool
exec_simple(lease_store *s, const char *sql, GError **error)
{
	PGresult *r = PQexec(s->c, sql);
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		set_pg_error(error, LEASE_ERROR_QUERY, s->c, sql);
	PQclear(r);
	return ok;
}

bool
lease_fenced(lease_store *s, const char *shard, const char *owner, gint64 epoch,
	     const char *sql, int n_params, const char *const *params, GError **error)
{
	g_autofree char *e = g_strdup_printf("%" G_GINT64_FORMAT, epoch);
	const char *p[] = { shard, owner, e };
	PGresult *r;
	bool held;

	idle_again(s);
	if (!exec_simple(s, "BEGIN", NULL)) {
		/* Nothing was sent yet: a connection found dead is tried anew. */
		PQreset(s->c);
		if (!exec_simple(s, "BEGIN", error)) {
			if (PQstatus(s->c) != CONNECTION_OK && error && *error)
				(*error)->code = LEASE_ERROR_CONNECT;
			return false;
		}
	}
	/* FOR SHARE: a takeover's UPDATE waits until this commits. */
	r = PQexecParams(s->c, "SELECT 1 FROM strata_lease WHERE shard = $1 AND owner = $2 AND "
			 "epoch = $3::bigint AND expires > clock_timestamp() FOR SHARE",
			 3, NULL, p, NULL, NULL, 0);
	held = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		set_pg_error(error, LEASE_ERROR_QUERY, s->c, "cannot check the lease");
	else if (!held)
		g_set_error(error, LEASE_ERROR, LEASE_ERROR_FENCED,
			    "refused: epoch %" G_GINT64_FORMAT " of shard %s is no longer %s's (another daemon "
			    "took it, or it expired)", epoch, shard, owner);
	PQclear(r);
	if (held) {
		r = PQexecParams(s->c, sql, n_params, NULL, params, NULL, NULL, 0);
		held = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!held)
			set_pg_error(error, LEASE_ERROR_QUERY, s->c, "the fenced write failed");
		PQclear(r);
	}
	if (held)
		return exec_simple(s, "COMMIT", error);
	exec_simple(s, "ROLLBACK", NULL);
	return false;
}

char *
lease_holder(lease_store *s, const char *shard, gint64 *epoch, gint64 *expires_in_ms, GError **error)
{
	const char *p[] = { shard };
	PGresult *r = run(s, "SELECT owner, epoch, (extract(epoch FROM expires - clock_timestamp()) * 1000)::bigint "
			     "FROM strata_lease WHERE shard = $1", 1, p, PGRES_TUPLES_OK,
			  "cannot read the lease", error);
	char *owner = NULL;

	if (r && PQntuples(r) == 1) {
		owner = g_strdup(PQgetvalue(r, 0, 0));
		*epoch = g_ascii_strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		*expires_in_ms = g_ascii_strtoll(PQgetvalue(r, 0, 2), NULL, 10);
	}
	PQclear(r);
	return owner;
}

/* The outer SELECT does not see the CTE's upsert (one snapshot): the
 * caller is added by name. */
static const char alive_sql[] =
	"WITH hb AS (INSERT INTO strata_daemon (name, seen) VALUES ($1, clock_timestamp())"
	"  ON CONFLICT (name) DO UPDATE SET seen = EXCLUDED.seen)"
	" SELECT name FROM strata_daemon"
	" WHERE name = $1 OR seen > clock_timestamp() - $2::bigint * interval '1 millisecond'"
	" ORDER BY name";

GStrv
lease_alive(lease_store *s, const char *name, guint within_ms, GError **error)
{
	g_autofree char *ms = g_strdup_printf("%u", within_ms);
	const char *p[] = { name, ms };
	PGresult *r = run(s, alive_sql, 2, p, PGRES_TUPLES_OK, "cannot say this daemon is alive", error);
	GStrvBuilder *b;
	gboolean me = FALSE;

	if (!r)
		return NULL;
	b = g_strv_builder_new();
	for (int i = 0; i < PQntuples(r); i++) {
		me |= g_str_equal(PQgetvalue(r, i, 0), name);
		g_strv_builder_add(b, PQgetvalue(r, i, 0));
	}
	if (!me)  /* its first beat: not in the table the statement read */
		g_strv_builder_add(b, name);
	PQclear(r);
	{
		GStrv out = g_strv_builder_end(b);

		g_strv_builder_unref(b);
		return out;
	}
}

bool
lease_gone(lease_store *s, const char *name, GError **error)
{
	const char *p[] = { name };
	PGresult *r = run(s, "DELETE FROM strata_daemon WHERE name = $1", 1, p, PGRES_COMMAND_OK,
			  "cannot say this daemon is gone", error);

	PQclear(r);
	return r != NULL;
}
