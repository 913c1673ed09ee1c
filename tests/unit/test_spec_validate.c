/*
 * test_spec_validate.c - cross-document rules on sources that are almost right
 *
 * The bad corpus pins the exact messages; these tests pin the decisions
 * around the edges: what is still valid, and what counts.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

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
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("spec_validate", tests, NULL, NULL);
}
