/*
 * schedule.c - when scheduled actions fire (pure: no clock, no I/O)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "schedule.h"

/* Far enough for any real schedule, near enough to bound a bad one. */
#define MAX_DAYS (366 * 50)

static bool
has_day(const spec_sched *s, int day)
{
	for (guint i = 0; i < spec_list_len(&s->days); i++)
		if (g_array_index(s->days.items, spec_int, i).v == day)
			return true;
	return false;
}

static bool
has_day_after(const spec_sched *s, int last)
{
	for (guint i = 0; i < spec_list_len(&s->days); i++)
		if (g_array_index(s->days.items, spec_int, i).v > last)
			return true;
	return false;
}

/* Does calendar day @d (local) carry a fire? */
static bool
day_fires(const spec_sched *s, GDateTime *d)
{
	int last;

	switch (s->repeat.v) {
	case REPEAT_WEEKLY:
		return has_day(s, g_date_time_get_day_of_week(d) % 7);
	case REPEAT_MONTHLY:
		last = g_date_get_days_in_month((GDateMonth)g_date_time_get_month(d),
						(GDateYear)g_date_time_get_year(d));
		return has_day(s, g_date_time_get_day_of_month(d)) ||
		       (g_date_time_get_day_of_month(d) == last && has_day_after(s, last));
	case REPEAT_YEARLY:
		last = g_date_is_leap_year((GDateYear)g_date_time_get_year(d)) ? 365 : 364;
		return has_day(s, g_date_time_get_day_of_year(d) - 1) ||
		       (g_date_time_get_day_of_year(d) - 1 == last && has_day_after(s, last));
	default:
		return false;
	}
}

static bool
past_end(const spec_sched *s, gint64 t, guint n)
{
	if (s->end_count.set && n > (guint)s->end_count.v)
		return true;
	return s->end_date.v && s->end_unix && t >= s->end_unix;
}

static guint
hourly_fires(const spec_sched *s, gint64 from, sched_fire *out, guint max)
{
	gint64 step = s->hours.v * 3600, k = 0;
	guint got = 0;

	if (from > s->at_unix)
		k = (from - s->at_unix + step - 1) / step;
	for (; got < max; k++) {
		gint64 t = s->at_unix + k * step;

		if (past_end(s, t, (guint)k + 1))
			break;
		out[got++] = (sched_fire){ t, (guint)k + 1 };
	}
	return got;
}

static guint
calendar_fires(const spec_sched *s, GTimeZone *tz, gint64 from, sched_fire *out,
	       guint max)
{
	g_autoptr(GDateTime) at = g_date_time_new_from_unix_utc(s->at_unix);
	g_autoptr(GDateTime) local = g_date_time_to_timezone(at, tz);
	guint got = 0, n = 0;

	for (int i = 0; i < MAX_DAYS && got < max; i++) {
		g_autoptr(GDateTime) day = g_date_time_add_days(local, i);
		g_autoptr(GDateTime) fire = NULL;
		gint64 t;

		if (!day_fires(s, day))
			continue;
		/* The wall clock of `at` on this day, whatever the offset now. */
		fire = g_date_time_new(tz, g_date_time_get_year(day), g_date_time_get_month(day),
				       g_date_time_get_day_of_month(day), g_date_time_get_hour(local),
				       g_date_time_get_minute(local), g_date_time_get_second(local));
		t = g_date_time_to_unix(fire);
		if (t < s->at_unix)
			continue;
		if (past_end(s, t, ++n))
			break;
		if (t >= from)
			out[got++] = (sched_fire){ t, n };
	}
	return got;
}

guint
schedule_fires(const spec_sched *s, GTimeZone *tz, gint64 from, sched_fire *out, guint max)
{
	if (!s->at.v || max == 0)
		return 0;
	if (s->repeat.v == REPEAT_NONE) {
		if (s->at_unix < from)
			return 0;
		out[0] = (sched_fire){ s->at_unix, 1 };
		return 1;
	}
	if (s->repeat.v == REPEAT_HOURLY)
		return hourly_fires(s, from, out, max);
	return calendar_fires(s, tz, from, out, max);
}

bool
schedule_last_due(const spec_sched *s, GTimeZone *tz, gint64 now, sched_fire *out)
{
	sched_fire f;
	gint64 from = s->at_unix;
	bool any = false;

	/* Walk forward in pages; schedules are short enough for this. */
	while (schedule_fires(s, tz, from, &f, 1) == 1 && f.t <= now) {
		*out = f;
		any = true;
		from = f.t + 1;
	}
	return any;
}

char *
schedule_entry_id(const spec_appliance *a, const spec_sched *s)
{
	g_autoptr(GString) key = g_string_new(a->obj.name.v);
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	g_string_append_printf(key, "\x1f%s\x1f%s\x1f%d\x1f%" G_GINT64_FORMAT "\x1f",
			       spec_action_names[s->action.v], s->at.v ? s->at.v : "",
			       (int)s->repeat.v, (gint64)s->hours.v);
	for (guint i = 0; i < spec_list_len(&s->days); i++)
		g_string_append_printf(key, "%" G_GINT64_FORMAT ",",
				       (gint64)g_array_index(s->days.items, spec_int, i).v);
	for (guint i = 0; i < spec_list_len(&s->vms); i++)
		g_string_append_printf(key, "\x1f%s", spec_list_str(&s->vms, i));
	g_string_append_printf(key, "\x1f%" G_GINT64_FORMAT "\x1f%s\x1f%" G_GINT64_FORMAT,
			       (gint64)s->end_count.v, s->end_date.v ? s->end_date.v : "",
			       (gint64)s->after_start.v);
	g_checksum_update(sum, (const guchar *)key->str, (gssize)key->len);
	return g_strndup(g_checksum_get_string(sum), 16);
}

int
schedule_action_state(int action)
{
	switch (action) {
	case ACTION_POWEROFF:
		return VM_STOPPED;
	case ACTION_SUSPEND:
	case ACTION_STOP:
		return VM_SAVED;
	case ACTION_UNDEPLOY:
	case ACTION_HOLD:
	case ACTION_TERMINATE:
		return VM_UNDEPLOYED;
	case ACTION_RESUME:
	case ACTION_RELEASE:
		return VM_RUNNING;
	default:
		return -1;  /* reboot, snapshot-*: they just run */
	}
}
