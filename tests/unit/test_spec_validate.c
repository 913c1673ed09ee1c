/*
 * test_spec_validate.c - cross-document rules on sources that are almost right
 *
 * The bad corpus pins the exact messages; these tests pin the decisions
 * around the edges: what is still valid, and what counts.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static const char *const base =
	"kind: host\nname: hv1\nuri: test:///hv1\ntags: [ssd]\n---\n"
	"kind: host\nname: hv2\nuri: test:///hv2\ntags: [ssd, gpu]\n---\n"
	"kind: host\nname: hv3\nuri: test:///hv3\ntags: [gpu]\n---\n"
	"kind: template\nname: deb\npool: default\nvolume: deb.qcow2\n---\n";

static char *
check(const char *appliance, unsigned *errors)
{
	g_autofree char *text = g_strconcat(base, appliance, NULL);

	return tu_buffer_text("t.yaml", text, strlen(text), errors);
}

static void
assert_valid(const char *appliance)
{
	unsigned errors;
	g_autofree char *out = check(appliance, &errors);

	if (errors)
		print_error("%s", out);
	assert_int_equal(errors, 0);
}

static void
assert_error(const char *appliance, const char *needle)
{
	unsigned errors;
	g_autofree char *out = check(appliance, &errors);

	if (!strstr(out, needle))
		print_error("expected '%s' in:\n%s", needle, out);
	assert_true(errors > 0);
	assert_non_null(strstr(out, needle));
}

static void
test_layer__matching_finds_the_one_assignment_that_works(void **state)
{
	/* ssd-only VM must take hv1 or hv2, gpu-only hv2 or hv3, the third
	 * needs ssd: a greedy pick could fail, a matching does not. */
	(void)state;
	assert_valid("kind: appliance\nname: a\nlayers: [l]\nvms:\n"
		     "  - {name: x, template: deb, layer: l, requires: [ssd]}\n"
		     "  - {name: y, template: deb, layer: l, requires: [gpu]}\n"
		     "  - {name: z, template: deb, layer: l, requires: [ssd]}\n");
	assert_error("kind: appliance\nname: a\nlayers: [l]\nvms:\n"
		     "  - {name: x, template: deb, layer: l, requires: [ssd]}\n"
		     "  - {name: y, template: deb, layer: l, requires: [ssd]}\n"
		     "  - {name: z, template: deb, layer: l, requires: [ssd]}\n",
		     "layer 'l' needs 3 distinct hosts, only 2 are eligible (hv3 lacks tag 'ssd')");
}

static void
test_layer__undeployed_vms_need_no_host(void **state)
{
	(void)state;
	assert_valid("kind: appliance\nname: a\nlayers: [l]\nvms:\n"
		     "  - {name: w, template: deb, layer: l}\n"
		     "  - {name: x, template: deb, layer: l}\n"
		     "  - {name: y, template: deb, layer: l}\n"
		     "  - {name: z, template: deb, layer: l, state: undeployed}\n");
	assert_valid("kind: appliance\nname: a\nstate: undeployed\nlayers: [l]\nvms:\n"
		     "  - {name: w, template: deb, layer: l}\n"
		     "  - {name: x, template: deb, layer: l}\n"
		     "  - {name: y, template: deb, layer: l}\n"
		     "  - {name: z, template: deb, layer: l}\n");
}

static void
test_persistent__two_vms_of_one_appliance_is_a_second_binding(void **state)
{
	(void)state;
	assert_error("kind: persistent-template\nname: p\nfrom: deb\n---\n"
		     "kind: appliance\nname: a\nvms:\n"
		     "  - {name: x, persistent: p}\n  - {name: y, persistent: p}\n",
		     "persistent template 'p' is bound to a.x and a.y");
}

static void
test_schedule__valid_rules_at_their_limits(void **state)
{
	(void)state;
	assert_valid("kind: appliance\nname: a\ntimezone: America/New_York\nvms:\n"
		     "  - {name: x, template: deb}\nschedule:\n"
		     "  - {action: reboot, at: 2026-12-01T00:00:00Z, repeat: hourly, hours: 168}\n"
		     "  - {action: poweroff, at: 2026-12-01T00:00:00, repeat: monthly, days: [1, 31]}\n"
		     "  - {action: resume, at: 2026-12-01T00:00:00Z, repeat: yearly, days: [0, 365], end: 3}\n"
		     "  - {action: snapshot-create, at: 2026-12-01T00:00:00Z, repeat: weekly, days: [0, 6], keep: 1, end: 2027-12-01T00:00:00Z}\n"
		     "  - {action: terminate, vms: [x], after_start: 3600, catch_up: skip}\n");
}

static void
test_schedule__time_without_offset_uses_the_appliance_zone(void **state)
{
	static const char *const app =
		"kind: appliance\nname: a\ntimezone: Europe/Paris\nvms:\n"
		"  - {name: x, template: deb}\nschedule:\n"
		"  - {action: reboot, at: 2026-07-01T12:00:00}\n";
	g_autofree char *text = g_strconcat(base, app, NULL);
	g_autoptr(spec_source) src = NULL;
	spec_appliance *a;
	spec_diags diags;

	(void)state;
	spec_diags_init(&diags);
	src = spec_load_buffer("t.yaml", text, strlen(text), &diags);
	spec_validate(src, &diags);
	assert_int_equal(diags.errors, 0);
	a = src->appliances->pdata[0];
	/* 12:00 CEST is 10:00 UTC. */
	assert_int_equal(((spec_sched *)a->schedule->pdata[0])->at_unix, 1782900000);
	spec_diags_release(&diags);
}

static void
test_after__a_diamond_is_not_a_cycle(void **state)
{
	(void)state;
	assert_valid("kind: appliance\nname: a\nvms:\n"
		     "  - {name: db, template: deb}\n"
		     "  - {name: cache, template: deb, after: [db]}\n"
		     "  - {name: api, template: deb, after: [db]}\n"
		     "  - {name: web, template: deb, after: [cache, api]}\n");
}

static void
test_errors__every_problem_in_one_pass(void **state)
{
	unsigned errors;
	g_autofree char *out = check("kind: appliance\nname: a\nlayers: [l]\nvms:\n"
				     "  - {name: x, template: nope, layer: m}\n"
				     "  - {name: y, template: deb, after: [zz], requires: [fpga]}\n", &errors);

	(void)state;
	assert_int_equal(errors, 4);
	assert_non_null(strstr(out, "template 'nope' is not defined"));
	assert_non_null(strstr(out, "layer 'm' is not declared"));
	assert_non_null(strstr(out, "VM 'zz' is not in this appliance"));
	assert_non_null(strstr(out, "requires tag 'fpga', which no host has"));
}

static char *
with_zone(const char *zone)
{
	return g_strdup_printf("kind: appliance\nname: a\ntimezone: %s\nvms:\n"
			       "  - {name: x, template: deb}\n", zone);
}

static void
test_timezone__utc_needs_no_file_and_etc_utc_is_found(void **state)
{
	g_autofree char *utc = with_zone("UTC");
	g_autofree char *etc = with_zone("Etc/UTC");
	g_autofree char *empty = tu_mkdtemp();

	(void)state;
	assert_valid(etc);
	g_setenv("TZDIR", empty, TRUE);
	assert_valid(utc);
	assert_error(etc, "unknown time zone 'Etc/UTC'");
	g_unsetenv("TZDIR");
	tu_rmtree(empty);
}

/* A zone database of our own: a real zone, a FIFO, a link to the FIFO and a
 * file that is not zone data. */
static char *
fake_tzdir(void)
{
	char *dir = tu_mkdtemp();
	g_autofree char *sub = g_build_filename(dir, "My", NULL);
	g_autofree char *zone = g_build_filename(sub, "Zone", NULL);
	g_autofree char *fifo = g_build_filename(dir, "Trap", NULL);
	g_autofree char *link = g_build_filename(sub, "Link", NULL);
	g_autofree char *fake = g_build_filename(sub, "Fake", NULL);
	g_autofree char *paris = NULL;
	gsize len = 0;

	assert_true(g_file_get_contents("/usr/share/zoneinfo/Europe/Paris", &paris, &len, NULL));
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_true(g_file_set_contents(zone, paris, (gssize)len, NULL));
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(symlink(fifo, link), 0);
	tu_write(fake, "not zone data, and shorter than a header\n");
	return dir;
}

static void
test_timezone__only_zone_files_in_tzdir_are_opened(void **state)
{
	g_autofree char *dir = fake_tzdir();
	g_autofree char *mine = with_zone("My/Zone");
	g_autofree char *trap = with_zone("Trap");
	g_autofree char *link = with_zone("My/Link");
	g_autofree char *fake = with_zone("My/Fake");

	(void)state;
	g_setenv("TZDIR", dir, TRUE);
	/* Opening the FIFO would block for ever: fail instead of hanging. */
	alarm(60);
	/* GLib complains (g_critical) about a file that is not zone data. */
	g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
	assert_valid(mine);
	assert_error(trap, "unknown time zone 'Trap'");
	assert_error(link, "unknown time zone 'My/Link'");
	assert_error(fake, "unknown time zone 'My/Fake'");
	alarm(0);
	g_unsetenv("TZDIR");
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layer__matching_finds_the_one_assignment_that_works),
		cmocka_unit_test(test_layer__undeployed_vms_need_no_host),
		cmocka_unit_test(test_persistent__two_vms_of_one_appliance_is_a_second_binding),
		cmocka_unit_test(test_schedule__valid_rules_at_their_limits),
		cmocka_unit_test(test_schedule__time_without_offset_uses_the_appliance_zone),
		cmocka_unit_test(test_after__a_diamond_is_not_a_cycle),
		cmocka_unit_test(test_errors__every_problem_in_one_pass),
		cmocka_unit_test(test_timezone__utc_needs_no_file_and_etc_utc_is_found),
		cmocka_unit_test(test_timezone__only_zone_files_in_tzdir_are_opened),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("spec_validate", tests, NULL, NULL);
}
