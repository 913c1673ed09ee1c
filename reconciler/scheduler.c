/*
 * scheduler.c - the daemon's scheduled actions: what is due, and when next
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "json_out.h"
#include "schedule.h"
#include "scheduler.h"

struct scheduler {
	history *hist;
	scheduler_fire_fn fire;
	gpointer data;
};

scheduler *
scheduler_new(history *h, scheduler_fire_fn fire, gpointer data)
{
	scheduler *sc = g_new0(scheduler, 1);

	sc->hist = h;
	sc->fire = fire;
	sc->data = data;
	return sc;
}

void
scheduler_free(scheduler *sc)
{
	g_free(sc);
}

/* Fire @s for every VM it names (all of @a's when it names none), and
 * list each fire in history with its result. */
static void
fire_all(scheduler *sc, const spec_appliance *a, const spec_sched *s, const char *id,
	 gint64 planned, gint64 now, const char *result)
{
	int state = schedule_action_state((int)s->action.v);
	const char *action = spec_action_names[s->action.v];
	guint n = spec_list_len(&s->vms) ? spec_list_len(&s->vms) : a->vms->len;

	for (guint i = 0; i < n; i++) {
		const char *vm = spec_list_len(&s->vms) ? spec_list_str(&s->vms, i)
							: ((spec_vm *)a->vms->pdata[i])->name.v;

		history_schedule_log(sc->hist, id, a->obj.name.v, vm, action, planned, now, result);
		if (strcmp(result, "skipped") != 0)
			sc->fire(a, s, vm, state, planned, sc->data);
	}
}

static void
check_absolute(scheduler *sc, const spec_appliance *a, const spec_sched *s, gint64 now)
{
	g_autofree char *id = schedule_entry_id(a, s);
	g_autoptr(GTimeZone) tz = spec_appliance_timezone(a);
	const char *action = spec_action_names[s->action.v];
	gint64 last = 0;
	guint fired = 0;
	sched_fire due;
	bool late;

	if (!history_schedule_get(sc->hist, id, NULL, &last, &fired)) {
		/* First sight: count from now, fire nothing from the past. */
		history_schedule_fired(sc->hist, id, a->obj.name.v, NULL, action, now, 0, NULL);
		return;
	}
	if (!schedule_last_due(s, tz, now, &due) || due.t <= last)
		return;
	late = now - due.t > SCHEDULER_GRACE_S;
	/* Recorded before it acts: a crash now cannot make it fire twice. */
	if (!history_schedule_fired(sc->hist, id, a->obj.name.v, NULL, action, due.t, due.n, NULL))
		return;
	fire_all(sc, a, s, id, due.t, now,
		 !late ? "fired" : s->catch_up.v == CATCH_UP_SKIP ? "skipped" : "caught-up");
}

static void
check_relative(scheduler *sc, const spec_appliance *a, const spec_sched *s, gint64 now)
{
	g_autofree char *id = schedule_entry_id(a, s);
	const char *action = spec_action_names[s->action.v];
	int state = schedule_action_state((int)s->action.v);

	for (guint i = 0; i < a->vms->len; i++) {
		const char *vm = ((spec_vm *)a->vms->pdata[i])->name.v;
		gint64 started = history_first_start(sc->hist, a->obj.name.v, vm) / G_USEC_PER_SEC;
		gint64 last;
		guint fired;

		if (spec_list_len(&s->vms)) {
			bool named = false;

			for (guint j = 0; j < spec_list_len(&s->vms); j++)
				named |= strcmp(spec_list_str(&s->vms, j), vm) == 0;
			if (!named)
				continue;
		}
		if (!started || started + s->after_start.v > now ||
		    history_schedule_get(sc->hist, id, vm, &last, &fired))
			continue;
		if (history_schedule_fired(sc->hist, id, a->obj.name.v, vm, action,
					   started + s->after_start.v, 1, NULL)) {
			history_schedule_log(sc->hist, id, a->obj.name.v, vm, action,
					     started + s->after_start.v, now, "fired");
			sc->fire(a, s, vm, state, started + s->after_start.v, sc->data);
		}
	}
}

void
scheduler_check(scheduler *sc, const spec_source *src, gint64 now)
{
	for (guint i = 0; i < src->appliances->len; i++) {
		const spec_appliance *a = src->appliances->pdata[i];

		for (guint j = 0; j < a->schedule->len; j++) {
			const spec_sched *s = a->schedule->pdata[j];

			if (s->after_start.set)
				check_relative(sc, a, s, now);
			else
				check_absolute(sc, a, s, now);
		}
	}
}

/* The earliest pending relative fire of @s, among VMs that have started. */
static gint64
relative_next(scheduler *sc, const spec_appliance *a, const spec_sched *s, gint64 now)
{
	g_autofree char *id = schedule_entry_id(a, s);
	gint64 next = 0;

	for (guint i = 0; i < a->vms->len; i++) {
		const char *vm = ((spec_vm *)a->vms->pdata[i])->name.v;
		gint64 started = history_first_start(sc->hist, a->obj.name.v, vm) / G_USEC_PER_SEC;
		gint64 last, t;
		guint fired;

		if (!started || history_schedule_get(sc->hist, id, vm, &last, &fired))
			continue;
		t = MAX(started + s->after_start.v, now);
		if (!next || t < next)
			next = t;
	}
	return next;
}

gint64
scheduler_next(scheduler *sc, const spec_source *src, gint64 now)
{
	gint64 next = 0;

	for (guint i = 0; i < src->appliances->len; i++) {
		const spec_appliance *a = src->appliances->pdata[i];
		g_autoptr(GTimeZone) tz = spec_appliance_timezone(a);

		for (guint j = 0; j < a->schedule->len; j++) {
			const spec_sched *s = a->schedule->pdata[j];
			sched_fire f;
			gint64 t = 0;

			if (s->after_start.set) {
				t = relative_next(sc, a, s, now);
			} else if (schedule_fires(s, tz, now + 1, &f, 1) == 1) {
				t = f.t;
			}
			if (t && (!next || t < next))
				next = t;
		}
	}
	(void)sc;
	return next;
}

char *
scheduler_json(scheduler *sc, const spec_source *src, gint64 now, guint count)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree sched_fire *fires = g_new0(sched_fire, count);

	json_builder_begin_array(b);
	for (guint i = 0; src && i < src->appliances->len; i++) {
		const spec_appliance *a = src->appliances->pdata[i];
		g_autoptr(GTimeZone) tz = spec_appliance_timezone(a);

		for (guint j = 0; j < a->schedule->len; j++) {
			const spec_sched *s = a->schedule->pdata[j];
			g_autofree char *id = schedule_entry_id(a, s);
			guint n = s->after_start.set ? 0 : schedule_fires(s, tz, now + 1, fires, count);
			gint64 last = 0;
			guint fired = 0;

			history_schedule_get(sc->hist, id, NULL, &last, &fired);
			json_builder_begin_object(b);
			json_out_string(b, "id", id);
			json_out_string(b, "appliance", a->obj.name.v);
			json_out_string(b, "action", spec_action_names[s->action.v]);
			json_out_int(b, "fired", fired);
			json_builder_set_member_name(b, "next");
			json_builder_begin_array(b);
			for (guint k = 0; k < n; k++) {
				g_autoptr(GDateTime) u = g_date_time_new_from_unix_utc(fires[k].t);
				g_autoptr(GDateTime) l = g_date_time_to_timezone(u, tz);
				g_autofree char *t = g_date_time_format(l, "%Y-%m-%dT%H:%M:%S%:z");

				json_builder_add_string_value(b, t);
			}
			json_builder_end_array(b);
			json_builder_end_object(b);
		}
	}
	json_builder_end_array(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	return json_generator_to_data(gen, NULL);
}
