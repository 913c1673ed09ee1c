/*
 * waiter.h - a thread per host that waits on guests and on deadlines
 *
 * The executor hands it the graceful stops whose button was pressed
 * (items it looks at each round through the round function given) and
 * the migrations and saves that have a deadline, which it aborts when
 * they run past it.  Nothing here decides: it waits and asks.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef STRATA_WAITER_H
#define STRATA_WAITER_H

#include <glib.h>
#include <stdbool.h>

#include "virt.h"

typedef struct waiter waiter;

/*
 * A migration or managed save under way, aborted at its deadline by the
 * waiter.  libvirt refuses an abort that comes before its job begins ("no
 * job is active") or while another call holds the domain, and the job
 * then runs to its end: so the abort is asked again about every
 * WAITER_ABORT_RETRY_MS (at the next 200 ms round after it) for as long
 * as the call runs, refused or taken (a taken one was seen not to end a
 * migration).  The caller owns it
 * (on its stack) and fills virt, domain and deadline.
 */
#define WAITER_ABORT_RETRY_MS 500

typedef struct {
	virt_host *virt;
	const char *domain;
	gint64 deadline;        /* monotonic; the next abort is due then */
	guint64 id;             /* the waiter's, to find it again after a call */
	guint refused;          /* aborts libvirt refused */
	bool aborted;           /* an abort was accepted */
} deadline_watch;

/* Called on the waiter's thread each round with the items waiting (all of
 * one host); it takes out of @batch the ones that ended. */
typedef void (*waiter_round_fn)(GPtrArray *batch);

waiter *waiter_new(waiter_round_fn round);
void waiter_add(waiter *w, gpointer item);
void waiter_watch(waiter *w, deadline_watch *dw);
/* Take @dw out; true if an abort of it was accepted.  @dw is the
 * caller's again (dw->refused counts the refusals). */
bool waiter_unwatch(waiter *w, deadline_watch *dw);
/* Only once no item waits. */
void waiter_free(waiter *w);

#endif
