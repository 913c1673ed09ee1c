/*
 * lease_keeper.h - hold the leases of the shards this daemon owns, off the loop
 *
 * One thread per daemon, with its own database connection (lease_pg.h).
 * Every `renew_every` it:
 *   1. marks this daemon alive (strata_daemon: name, seen, on the
 *      database's clock);
 *   2. reads the live daemons: seen within one lease duration;
 *   3. for each shard it is given, takes or renews the lease of those
 *      rendezvous hashing gives this daemon among the live ones
 *      (shard.h), and gives up those it holds that now belong to another:
 *      it stops holding them first, then lets them expire after the
 *      margin (duration - renew_deadline), which a call already sent may
 *      still need (a daemon that joins gets its shards then);
 *   4. publishes what it holds: per shard, the epoch and the deadline
 *      (lease_act_until, from when that round's renewal was sent).
 *
 * The loop asks lease_keeper_holds before acting on a shard: true only
 * until that deadline, renewed or not, so a keeper that stops (frozen,
 * its database unreachable) stops this daemon acting on time.  The fd is
 * readable when what is held changed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "shard.h"

typedef struct lease_keeper lease_keeper;

/* @name must be unique per process (lease_acquire); @t checked. */
lease_keeper *lease_keeper_new(const char *conninfo, const char *name, const lease_timing *t,
			       GError **error);
/* The shards to consider from the next round on (copied). */
void lease_keeper_set_shards(lease_keeper *k, const char *const *shards);
/* Whether this daemon may act on @shard now, and under which epoch. */
bool lease_keeper_holds(lease_keeper *k, const char *shard, gint64 *epoch);
/* Readable (an eventfd) when the set of shards held changed. */
int lease_keeper_fd(lease_keeper *k);
/* For tests: stop renewing without giving anything up, as a frozen or
 * killed daemon does; lease_keeper_holds goes false at the deadlines. */
void lease_keeper_freeze(lease_keeper *k);
/* Gives up what it holds (others take it after the margin) and leaves
 * the live daemons, stops, frees.  The caller acts on no shard any more
 * (its executor drained) and calls lease_keeper_holds no more. */
void lease_keeper_free(lease_keeper *k);
