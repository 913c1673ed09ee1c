/*
 * scheduler.h - the daemon's scheduled actions: what is due, and when next
 *
 * Fire times come from schedule.c; this module keeps their state in
 * history (so a restart never fires twice) and decides, at each check,
 * what fires now:
 *
 *  - an entry strata has never seen starts counting from that moment: an
 *    old `at` does not fire the day the entry is added;
 *  - a fire at most SCHEDULER_GRACE_S late is on time; a later one was
 *    missed while strata was down: it runs once (`catch_up: once`, the
 *    default) or is recorded as skipped (`catch_up: skip`); either way only
 *    the latest missed fire counts;
 *  - `after_start` entries fire per VM, that many seconds after the VM's
 *    first start as history records it.
 *
 * The clock is the caller's (tests use a fake one); the daemon arms one
 * timer for scheduler_next.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "history.h"
#include "../spec/spec.h"

#define SCHEDULER_GRACE_S 60

typedef struct scheduler scheduler;

/* One fire for one VM: @state >= 0 is the state it holds, -1 a one-shot. */
typedef void (*scheduler_fire_fn)(const spec_appliance *a, const spec_sched *s,
				  const char *vm, int state, gint64 planned,
				  gpointer data);

scheduler *scheduler_new(history *h, scheduler_fire_fn fire, gpointer data);
void scheduler_free(scheduler *sc);

/* Fire what is due at @now (Unix seconds) in @src. */
void scheduler_check(scheduler *sc, const spec_source *src, gint64 now);

/* The next fire time after @now in @src (Unix seconds), or 0 if none. */
gint64 scheduler_next(scheduler *sc, const spec_source *src, gint64 now);

/* Upcoming fires, @count per entry, as a JSON array (owned). */
char *scheduler_json(scheduler *sc, const spec_source *src, gint64 now, guint count);
