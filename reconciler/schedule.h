/*
 * schedule.h - when scheduled actions fire (pure: no clock, no I/O)
 *
 * Times are Unix seconds; wall-clock arithmetic happens in the
 * appliance's time zone with GLib's GDateTime, so a daily 08:00 stays at
 * 08:00 across DST changes, and one fire per calendar day means a DST
 * change can neither skip nor double one.  The rules the reference
 * (spec/README.md) promises:
 *
 *  - hourly: `at` + k * hours, in absolute time;
 *  - weekly: the weekdays in `days` (0 = Sunday) at `at`'s time of day;
 *  - monthly: the days of the month in `days`; a day past the month's end
 *    (31 in April, 30 in February) fires on its last day, once;
 *  - yearly: the days of the year in `days`, 0 = 1 January; day 59 is
 *    29 February in leap years and 1 March otherwise; day 365 fires on
 *    31 December in years without it, once;
 *  - the first fire is the first such time at or after `at`; `end` as a
 *    count limits the number of fires, as a time excludes fires at or
 *    after it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

#include "../spec/spec.h"

typedef struct {
	gint64 t;        /* Unix seconds */
	guint n;         /* 1-based: which fire of the entry this is */
} sched_fire;

/*
 * The fires of @s (with `at`; not `after_start`) at or after @from, in
 * order, at most @max of them, in time zone @tz.  Returns how many.
 */
guint schedule_fires(const spec_sched *s, GTimeZone *tz, gint64 from,
		     sched_fire *out, guint max);

/* The last fire at or before @now, if any (for catch-up). */
bool schedule_last_due(const spec_sched *s, GTimeZone *tz, gint64 now,
		       sched_fire *out);

/* A stable identity: appliance + the entry's content, not its position. */
char *schedule_entry_id(const spec_appliance *a, const spec_sched *s);

/* The VM state an action holds, or -1 for one-shot actions. */
int schedule_action_state(int action);
