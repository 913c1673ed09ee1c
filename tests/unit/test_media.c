/*
 * test_media.c - installation media, boot order and consoles
 *
 * On libvirt's test driver, which keeps definitions and volumes for real:
 * a VM with a CD-ROM image goes to the host that has the image, its drive,
 * boot order and console are defined as declared and read back as such,
 * and the image, the operator's, survives an eject and an undeploy.  The
 * guest's view (booting from the disc, a live eject, the console answering)
 * is proved on QEMU by the end-to-end suite (tests/e2e/scenarios/media.sh).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "recon.h"

#define VM(extra) "kind: appliance\nname: m\nvms:\n  - {name: a, template: debian-12" extra "}\n"
#define CD "cdrom: {pool: default, volume: installer.iso"

static void
put_image(dc *d, const char *host)
{
	host_conn *c = g_hash_table_lookup(d->hosts->by_name, host);
	g_autoptr(GError) err = NULL;

	assert_non_null(c);
	if (!virt_vol_create(c->virt, "default", "<volume><name>installer.iso</name>"
			     "<capacity unit='MiB'>4</capacity><target><format type='raw'/></target></volume>",
			     NULL, &err))
		fail_msg("cannot make the image: %s", err->message);
}

/* The definition strata made, read back from the host. */
static const obs_domain *
read_back(dc *d, const char *name)
{
	const obs_domain *o;

	obs_cache_clear(d->cache);  /* read, not served from the cache */
	o = dc_domain(d, name);
	assert_non_null(o);
	assert_true(o->detailed);
	return o;
}

static void
test_media__the_vm_goes_where_its_image_is_and_is_defined_as_declared(void **state)
{
	dc *d = dc_new(VM(", " CD "}, boot: [cdrom, disk], console: {type: vnc}"));
	const obs_domain *o;

	(void)state;
	put_image(d, "hv3");
	dc_assert_plan_has(d, "define m.a on hv3");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	o = read_back(d, "m.a");
	assert_string_equal(o->host->name, "hv3");
	assert_string_equal(o->cdrom, "default/installer.iso");
	assert_string_equal(o->boot, "cdrom,disk");
	assert_string_equal(o->console, "vnc 127.0.0.1");
	dc_assert_no_changes(d);
	dc_free(d);
}

static void
test_media__an_eject_and_an_undeploy_leave_the_image(void **state)
{
	dc *d = dc_new(VM(", " CD "}"));
	g_autofree char *host = NULL;
	const obs_domain *o;

	(void)state;
	put_image(d, "hv1");
	put_image(d, "hv2");
	put_image(d, "hv3");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	o = read_back(d, "m.a");
	assert_string_equal(o->cdrom, "default/installer.iso");
	assert_string_equal(o->boot, "disk");
	assert_null(o->console);

	/* The test driver changes no media live: the VM restarts with it. */
	dc_spec(d, VM(", " CD ", ejected: true}"));
	dc_assert_plan_has(d, "CD-ROM default/installer.iso → empty");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	o = read_back(d, "m.a");
	assert_string_equal(o->cdrom, "");
	host = g_strdup(o->host->name);  /* @o goes with the next pass */
	assert_true(dc_has_volume(d, host, "installer.iso"));
	dc_assert_no_changes(d);

	dc_spec(d, "kind: appliance\nname: m\nstate: undeployed\nvms:\n  - {name: a, template: debian-12, "
		CD "}}\n");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_null(dc_domain(d, "m.a"));
	for (guint i = 1; i <= 3; i++) {
		g_autofree char *h = g_strdup_printf("hv%u", i);

		assert_true(dc_has_volume(d, h, "installer.iso"));
	}
	dc_free(d);
}

static void
test_media__an_image_no_host_has_holds_the_vm_back(void **state)
{
	dc *d = dc_new(VM(", " CD "}"));
	const plan *p;
	bool said = false;

	(void)state;
	p = dc_plan(d);
	assert_int_equal(p->ops->len, 0);
	for (guint i = 0; i < p->errors->len; i++)
		said |= strstr(p->errors->pdata[i], "lacks the CD-ROM image default/installer.iso") != NULL;
	assert_true(said);
	dc_free(d);
}

static void
test_media__a_console_and_a_boot_order_added_later_restart_the_vm(void **state)
{
	dc *d = dc_new(VM(""));
	const obs_domain *o;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	put_image(d, dc_domain(d, "m.a")->host->name);  /* before the next pass frees it */
	dc_spec(d, VM(", " CD "}, boot: [cdrom, disk], console: {type: spice, listen: '0:0::1'}"));
	dc_assert_plan_has(d, "add a CD-ROM drive (hdc)");
	dc_assert_plan_has(d, "console none → spice ::1");  /* one address, one way */
	dc_assert_plan_has(d, "boot order disk → cdrom,disk");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	o = read_back(d, "m.a");
	assert_string_equal(o->console, "spice ::1");
	assert_string_equal(o->boot, "cdrom,disk");
	dc_assert_no_changes(d);
	dc_free(d);
}

/* Placement answers per disk shape, once a pass: the image in the drive
 * is part of it, or a VM without one would answer for a VM with one. */
static void
test_media__a_vm_without_an_image_does_not_answer_for_one_with_it(void **state)
{
	dc *d = dc_new("kind: appliance\nname: m\nvms:\n  - {name: b, template: debian-12}\n"
		       "  - {name: a, template: debian-12, " CD "}}\n");

	(void)state;
	put_image(d, "hv3");
	dc_assert_plan_has(d, "define m.a on hv3");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	dc_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_media__the_vm_goes_where_its_image_is_and_is_defined_as_declared),
		cmocka_unit_test(test_media__an_eject_and_an_undeploy_leave_the_image),
		cmocka_unit_test(test_media__an_image_no_host_has_holds_the_vm_back),
		cmocka_unit_test(test_media__a_console_and_a_boot_order_added_later_restart_the_vm),
		cmocka_unit_test(test_media__a_vm_without_an_image_does_not_answer_for_one_with_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
