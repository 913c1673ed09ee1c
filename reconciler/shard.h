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
 * (so the statement's travel time counts against it), on CLOCK_BOOTTIME
 * (which, unlike the monotonic clock, runs while the machine is
 * suspended), and is `renew_deadline` long, shorter than the lease by a
 * margin: it stops issuing libvirt calls for the shard before anyone else
 * may take it.
 *
 * What this bounds, and what it does not: libvirt takes no fencing token,
 * so a call issued before the local deadline may still run on the host
 * after the lease ended and another daemon took the shard.  The two
 * overlap by (how long that call runs past the deadline) minus the
 * margin; only a call's own deadline bounds it (the executor gives every
 * operation one, and a new owner re-observes before acting).  A thread
 * descheduled between checking the deadline and sending the call widens
 * it by that delay.  The margin covers rate differences between the
 * daemon's clock and the database's, not steps: the database's clock must
 * be slewed (NTP), never stepped.  libvirt's lock managers (virtlockd,
 * sanlock) remain the last defence against two QEMUs on one disk.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

/* The shard of @host (newly allocated): "pin:NAME" when the host document
 * pins one, else "host:HOST" (two namespaces: a host named like a pinned
 * shard does not join it). */
char *shard_of_host(const char *host, const char *pinned);

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
#define LEASE_MARGIN_MIN_MS 2000

/* Now, for lease deadlines: CLOCK_BOOTTIME in µs. */
gint64 lease_clock_us(void);

/* Two renewals fit in the deadline (one may fail), and the deadline ends
 * LEASE_MARGIN_MIN_MS or more before the lease; else false and why. */
bool lease_timing_ok(const lease_timing *t, GError **error);

/* A renewal sent at @sent_us (lease_clock_us) and granted lets this daemon
 * act on the shard until this monotonic µs. */
gint64 lease_act_until(const lease_timing *t, gint64 sent_us);
