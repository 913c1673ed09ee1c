/*
 * lease_pg.h - shard leases with fencing epochs, in PostgreSQL (libpq)
 *
 * Election and shared state belong to the database, not to strata: a
 * lease is a row (shard, owner, epoch, expires, renewed), taken or renewed
 * by one statement on the database's clock.  It is granted when the shard
 * is free, expired, or already this owner's and unexpired (a renewal,
 * same epoch); taking it from anyone (or back after it expired) raises the
 * epoch, and the change of owner is logged in strata_lease_log.  Advisory
 * locks are not used: they carry no epoch, and connection poolers break
 * them.
 *
 * The epoch is a fencing token: lease_fenced runs a write only inside a
 * transaction that first locks the lease row FOR SHARE and finds it still
 * held by (owner, epoch) and unexpired.  A takeover's update waits for
 * that lock, so a write fenced this way either commits before the shard
 * changes hands or is refused (LEASE_ERROR_FENCED); a daemon that was
 * frozen past its lease can write nothing.
 *
 * Every call blocks on the database (with the connection's own timeouts):
 * the daemon calls them off its loop.  One lease_store per thread.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#define LEASE_ERROR (lease_error_quark())
GQuark lease_error_quark(void);

typedef enum {
	LEASE_ERROR_CONNECT,    /* the server cannot be reached (said how) */
	LEASE_ERROR_QUERY,      /* a statement failed */
	LEASE_ERROR_HELD,       /* another owner holds the shard */
	LEASE_ERROR_FENCED,     /* the epoch is stale: the write was refused */
} lease_error;

typedef struct lease_store lease_store;

/* Connect (a libpq connection string or postgresql:// URI) and make the
 * tables if missing.  Fails with LEASE_ERROR_CONNECT and the server's words. */
lease_store *lease_store_open(const char *conninfo, GError **error);
void lease_store_close(lease_store *s);

/*
 * Take or renew @shard for @owner, @duration_ms long on the database's
 * clock.  *@epoch is the epoch held (0: none): renewed while it is still
 * this owner's and unexpired, the epoch unchanged; else taken if free or
 * expired, with a new epoch (compare: a change means the shard was lost
 * meanwhile, and what was known of it is stale).  LEASE_ERROR_HELD when
 * another holder's lease stands, a process of the same name included:
 * @owner must be unique per process (a name and a random part).  A lost
 * connection is tried once more, anew.
 */
bool lease_acquire(lease_store *s, const char *shard, const char *owner, guint duration_ms,
		   gint64 *epoch, GError **error);

/* Give @shard up, if (@owner, @epoch) still holds it: it expires
 * @grace_ms from now (sooner if it would anyway), the margin a call this
 * owner already sent may still need before another may take the shard. */
bool lease_release(lease_store *s, const char *shard, const char *owner, gint64 epoch, guint grace_ms,
		   GError **error);

/*
 * Run @sql (with @n_params text parameters) only while (@owner, @epoch)
 * holds @shard unexpired, in one transaction with that check.  False with
 * LEASE_ERROR_FENCED when it does not: nothing was written.  Another
 * error may leave the outcome unknown (a COMMIT whose answer was lost):
 * fenced writes are made idempotent by their callers (a unique key).
 */
bool lease_fenced(lease_store *s, const char *shard, const char *owner, gint64 epoch,
		  const char *sql, int n_params, const char *const *params, GError **error);

/* Who holds @shard now (NULL: nobody), its epoch and ms until it expires
 * (negative: expired). */
char *lease_holder(lease_store *s, const char *shard, gint64 *epoch, gint64 *expires_in_ms,
		   GError **error);

/* Mark @name alive now (strata_daemon, the database's clock) and list the
 * daemons seen within @within_ms, @name among them. */
GStrv lease_alive(lease_store *s, const char *name, guint within_ms, GError **error);
/* @name stops: no longer counted alive, so its shards go to others at once. */
bool lease_gone(lease_store *s, const char *name, GError **error);
