/*
 * test_schedule.c - fire times: every repeat kind, month ends, leap years,
 * DST, counts and end dates, stable identities
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "testutil.h"
#include "../../reconciler/schedule.h"

typedef struct {
	spec_source *src;
	spec_appliance *a;
	GTimeZone *tz;
} fixture;

static const char *const head =
	"kind: template\nname: t\npool: default\nvolume: b.qcow2\n---\n"
	"kind: appliance\nname: a\ntimezone: %s\nvms:\n  - {name: vm, template: t}\nschedule:\n  - %s\n";

static fixture
load(const char *tz, const char *entry)
{
	g_autofree char *text = g_strdup_printf(head, tz, entry);
	spec_diags diags;
	fixture f;

	spec_diags_init(&diags);
	f.src = spec_load_buffer("s.yaml", text, strlen(text), &diags);
	spec_validate(f.src, &diags);
	for (guint i = 0; i < diags.items->len; i++)
		print_error("%s\n", spec_diag_format(diags.items->pdata[i]));
	assert_int_equal(diags.errors, 0);
	spec_diags_release(&diags);
	f.a = f.src->appliances->pdata[0];
	f.tz = g_time_zone_new_identifier(tz);
	return f;
}

static void
release(fixture *f)
{
	g_time_zone_unref(f->tz);
	spec_source_free(f->src);
}

/* The fires at or after @from, as local ISO times joined by spaces. */
static char *
fires(fixture *f, const char *from, guint max)
{
	g_autoptr(GDateTime) start = g_date_time_new_from_iso8601(from, f->tz);
	g_autofree sched_fire *out = g_new0(sched_fire, max);
	GString *s = g_string_new(NULL);
	guint n = schedule_fires(f->a->schedule->pdata[0], f->tz, g_date_time_to_unix(start), out, max);

	for (guint i = 0; i < n; i++) {
		g_autoptr(GDateTime) u = g_date_time_new_from_unix_utc(out[i].t);
		g_autoptr(GDateTime) l = g_date_time_to_timezone(u, f->tz);
		g_autofree char *t = g_date_time_format(l, "%Y-%m-%dT%H:%M%:z");

		g_string_append_printf(s, "%s%s#%u", i ? " " : "", t, out[i].n);
	}
	return g_string_free(s, FALSE);
}

static void
test_hourly__every_n_hours_with_a_count(void **state)
{
	fixture f = load("UTC", "{action: reboot, at: 2026-12-01T00:00:00Z, repeat: hourly, hours: 10, end: 3}");
	g_autofree char *all = fires(&f, "2026-11-01T00:00:00Z", 10);
	g_autofree char *later = fires(&f, "2026-12-01T05:00:00Z", 10);

	(void)state;
	assert_string_equal(all, "2026-12-01T00:00+00:00#1 2026-12-01T10:00+00:00#2 2026-12-01T20:00+00:00#3");
	assert_string_equal(later, "2026-12-01T10:00+00:00#2 2026-12-01T20:00+00:00#3");
	release(&f);
}

static void
test_weekly__days_until_an_end_date(void **state)
{
	/* 2026-11-27 is a Friday. Fridays and Mondays until 14 December. */
	fixture f = load("Europe/Paris", "{action: poweroff, at: 2026-11-27T20:00:00+01:00, repeat: weekly, days: [5, 1], end: 2026-12-14T00:00:00+01:00}");
	g_autofree char *all = fires(&f, "2026-11-01T00:00:00Z", 10);

	(void)state;
	assert_string_equal(all, "2026-11-27T20:00+01:00#1 2026-11-30T20:00+01:00#2 "
			    "2026-12-04T20:00+01:00#3 2026-12-07T20:00+01:00#4 2026-12-11T20:00+01:00#5");
	release(&f);
}

static void
test_monthly__day_31_fires_on_the_last_day_once(void **state)
{
	fixture f = load("UTC", "{action: stop, at: 2026-11-01T06:00:00Z, repeat: monthly, days: [30, 31]}");
	g_autofree char *all = fires(&f, "2026-11-01T00:00:00Z", 6);

	(void)state;
	assert_string_equal(all, "2026-11-30T06:00+00:00#1 2026-12-30T06:00+00:00#2 "
			    "2026-12-31T06:00+00:00#3 2027-01-30T06:00+00:00#4 "
			    "2027-01-31T06:00+00:00#5 2027-02-28T06:00+00:00#6");
	release(&f);
}

static void
test_yearly__leap_days(void **state)
{
	/* Day 59: 1 March in 2027, 29 February in 2028.  Day 365: 31 December. */
	fixture f = load("UTC", "{action: snapshot-create, at: 2027-01-01T00:00:00Z, repeat: yearly, days: [59, 365]}");
	g_autofree char *all = fires(&f, "2027-01-01T00:00:00Z", 4);

	(void)state;
	assert_string_equal(all, "2027-03-01T00:00+00:00#1 2027-12-31T00:00+00:00#2 "
			    "2028-02-29T00:00+00:00#3 2028-12-31T00:00+00:00#4");
	release(&f);
}

static void
test_dst__wall_clock_kept_nothing_skipped_or_doubled(void **state)
{
	/* Every day at 02:30 in Paris across both 2027 changes: on 28 March
	 * 02:30 does not exist (fires once, when the gap ends at 03:00); on
	 * 31 October it exists twice (fires once). */
	fixture f = load("Europe/Paris", "{action: reboot, at: 2027-03-27T02:30:00, repeat: weekly, days: [0, 1, 2, 3, 4, 5, 6]}");
	g_autofree char *spring = fires(&f, "2027-03-27T00:00:00", 3);
	g_autofree char *autumn = fires(&f, "2027-10-30T00:00:00", 3);

	(void)state;
	assert_string_equal(spring, "2027-03-27T02:30+01:00#1 2027-03-28T03:00+02:00#2 2027-03-29T02:30+02:00#3");
	assert_string_equal(autumn, "2027-10-30T02:30+02:00#218 2027-10-31T02:30+01:00#219 2027-11-01T02:30+01:00#220");
	release(&f);
}

static void
test_one_shot__fires_once_then_never(void **state)
{
	fixture f = load("UTC", "{action: terminate, at: 2026-12-24T18:00:00Z}");
	g_autofree char *before = fires(&f, "2026-12-01T00:00:00Z", 3);
	g_autofree char *after = fires(&f, "2026-12-25T00:00:00Z", 3);
	sched_fire last;

	(void)state;
	assert_string_equal(before, "2026-12-24T18:00+00:00#1");
	assert_string_equal(after, "");
	assert_true(schedule_last_due(f.a->schedule->pdata[0], f.tz, 1798300000, &last));
	assert_int_equal(last.n, 1);
	release(&f);
}

static void
test_identity__stable_across_position_changes_with_content(void **state)
{
	fixture a = load("UTC", "{action: reboot, at: 2026-12-01T00:00:00Z}\n  - {action: poweroff, at: 2026-12-02T00:00:00Z}");
	fixture b = load("UTC", "{action: poweroff, at: 2026-12-02T00:00:00Z}\n  - {action: reboot, at: 2026-12-01T00:00:00Z}");
	fixture c = load("UTC", "{action: reboot, at: 2026-12-01T01:00:00Z}");
	g_autofree char *a0 = schedule_entry_id(a.a, a.a->schedule->pdata[0]);
	g_autofree char *b1 = schedule_entry_id(b.a, b.a->schedule->pdata[1]);
	g_autofree char *c0 = schedule_entry_id(c.a, c.a->schedule->pdata[0]);

	(void)state;
	assert_string_equal(a0, b1);
	assert_string_not_equal(a0, c0);
	release(&a);
	release(&b);
	release(&c);
}

static void
test_actions__state_overrides_follow_the_design(void **state)
{
	(void)state;
	assert_int_equal(schedule_action_state(ACTION_POWEROFF), VM_STOPPED);
	assert_int_equal(schedule_action_state(ACTION_SUSPEND), VM_SAVED);
	assert_int_equal(schedule_action_state(ACTION_STOP), VM_SAVED);
	assert_int_equal(schedule_action_state(ACTION_UNDEPLOY), VM_UNDEPLOYED);
	assert_int_equal(schedule_action_state(ACTION_HOLD), VM_UNDEPLOYED);
	assert_int_equal(schedule_action_state(ACTION_TERMINATE), VM_UNDEPLOYED);
	assert_int_equal(schedule_action_state(ACTION_RESUME), VM_RUNNING);
	assert_int_equal(schedule_action_state(ACTION_RELEASE), VM_RUNNING);
	assert_int_equal(schedule_action_state(ACTION_REBOOT), -1);
	assert_int_equal(schedule_action_state(ACTION_SNAPSHOT_CREATE), -1);
}

static void
test_cli__offline_preview_of_the_webstack_example(void **state)
{
	tu_result r = TU_RUN(NULL, "schedule", "--offline", "examples/webstack",
			     "--from", "2026-11-22T00:00:00Z", "--count", "3");

	(void)state;
	assert_int_equal(r.status, 0);
	tu_assert_golden(r.out, "tests/data/schedule/webstack.txt");
	tu_result_release(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hourly__every_n_hours_with_a_count),
		cmocka_unit_test(test_weekly__days_until_an_end_date),
		cmocka_unit_test(test_monthly__day_31_fires_on_the_last_day_once),
		cmocka_unit_test(test_yearly__leap_days),
		cmocka_unit_test(test_dst__wall_clock_kept_nothing_skipped_or_doubled),
		cmocka_unit_test(test_one_shot__fires_once_then_never),
		cmocka_unit_test(test_identity__stable_across_position_changes_with_content),
		cmocka_unit_test(test_actions__state_overrides_follow_the_design),
		cmocka_unit_test(test_cli__offline_preview_of_the_webstack_example),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("schedule", tests, NULL, NULL);
}
