/*
 * shard.h - which daemon owns which hosts, and how long a lease lets it act
 *
 * Pure: no database, no clock of its own.  Several daemons share a fleet
 * by shards: a host's shard is the one its document pins, else the host's
 * own name.  Shards are spread over the live daemons by rendezvous
 * hashing (each daemon scores each shard; the highest score owns it), so
 * a daemon that comes or goes moves only the shards it takes or held.
 *
 * A shard is acted on only under a lease (lease_pg.h): taken or renewed
 * on the database's clock for `duration`, its epoch a fencing token.  The
 * daemon's own deadline is measured from just before it sent the renewal
 * (so the statement's travel time counts against it) and is
 * `renew_deadline` long, shorter than the lease: it stops issuing libvirt
 * calls for the shard before anyone else can take it.  The difference is
 * the margin for clock rate differences and a call already on the wire;
 * two owners can overlap only if a call issued before the local deadline
 * is still running on the host past the lease's end: at most one lease
 * duration minus that margin.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

/* The shard of @host: @pinned when the host document names one. */
const char *shard_of_host(const char *host, const char *pinned);

/*
 * The daemon of @daemons (@n names, distinct) that owns @shard, or NULL
 * when @n is 0.  The same inputs give the same owner on every daemon.
 */
const char *shard_owner(const char *shard, const char *const *daemons, guint n);

typedef struct {
	guint duration_ms;        /* the lease, on the database's clock */
	guint renew_deadline_ms;  /* how long a renewal lets this daemon act */
	guint renew_every_ms;     /* how often it renews */
} lease_timing;

#define LEASE_TIMING_DEFAULT { 15000, 10000, 3000 }

/* renew_every < renew_deadline < duration, with room for a renewal to
 * fail once and be retried; else false and why. */
bool lease_timing_ok(const lease_timing *t, GError **error);

/* A renewal sent at @sent_us (monotonic µs) and granted lets this daemon
 * act on the shard until this monotonic µs. */
gint64 lease_act_until(const lease_timing *t, gint64 sent_us);
