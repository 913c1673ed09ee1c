/*
 * test_reconcile.c - plan and apply against a simulated datacenter
 *
 * Three libvirt test-driver hosts stay open for the whole test, so each
 * apply changes real (simulated) hypervisor state and the next plan sees
 * it.  Plans are compared with golden files in tests/data/plan/.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <poll.h>
#include <string.h>

#include "recon.h"
#include "../../reconciler/domxml.h"

#define GOLDEN(name) "tests/data/plan/" name ".plan"

static const char *const webstack =
	"kind: appliance\nname: shop\nlayers: [app]\nvms:\n"
	"  - {name: db, persistent: db-data, memory: 2GiB, disks: [{name: scratch, size: 5GiB}], requires: [ssd]}\n"
	"  - {name: app1, template: debian-12, layer: app, after: [db]}\n"
	"  - {name: app2, template: debian-12, layer: app, after: [db]}\n";

static const plan_op *
find_op(const plan *p, op_kind kind, const char *domain)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == kind && g_strcmp0(op->domain, domain) == 0)
			return op;
	}
	return NULL;
}

static bool
has_note(const plan *p, const char *prefix)
{
	for (guint i = 0; i < p->notes->len; i++)
		if (g_str_has_prefix(p->notes->pdata[i], prefix))
			return true;
	return false;
}

static bool
depends_on(const plan_op *op, const plan_op *on)
{
	for (guint i = 0; i < op->deps->len; i++)
		if (op->deps->pdata[i] == on || depends_on(op->deps->pdata[i], on))
			return true;
	return false;
}

static void
test_apply__fresh_deploy_converges_then_plans_nothing(void **state)
{
	dc *d = dc_new(webstack);
	g_autofree char *text = dc_plan_text(d);
	unsigned calls;

	(void)state;
	tu_assert_golden(text, GOLDEN("fresh-deploy"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	/* Converged: no definition read, and calls do not grow with VMs. */
	assert_int_equal(d->last.have->xml_reads, 0);
	calls = d->last.calls;
	dc_spec(d, "kind: appliance\nname: big\nvms:\n"
		   "  - {name: a, template: debian-12}\n  - {name: b, template: debian-12}\n"
		   "  - {name: c, template: debian-12}\n  - {name: d, template: debian-12}\n");
	d->allow_empty = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	assert_int_equal(d->last.have->xml_reads, 0);
	assert_int_equal(d->last.calls, calls);
	dc_free(d);
}

static void
test_plan__after_orders_starts_and_reverses_stops(void **state)
{
	dc *d = dc_new(webstack);
	const plan *p = dc_plan(d);

	(void)state;
	assert_true(depends_on(find_op(p, OP_START, "shop.app1"), find_op(p, OP_START, "shop.db")));
	assert_true(depends_on(find_op(p, OP_START, "shop.app2"), find_op(p, OP_START, "shop.db")));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: shop\nstate: undeployed\nlayers: [app]\nvms:\n"
		   "  - {name: db, persistent: db-data, memory: 2GiB, disks: [{name: scratch, size: 5GiB}], requires: [ssd]}\n"
		   "  - {name: app1, template: debian-12, layer: app, after: [db]}\n"
		   "  - {name: app2, template: debian-12, layer: app, after: [db]}\n");
	d->allow_empty = true;
	p = dc_plan(d);
	assert_true(depends_on(find_op(p, OP_SHUTDOWN, "shop.db"), find_op(p, OP_SHUTDOWN, "shop.app1")));
	assert_true(depends_on(find_op(p, OP_SHUTDOWN, "shop.db"), find_op(p, OP_SHUTDOWN, "shop.app2")));
	dc_free(d);
}

/* Pause @domain behind strata's back, as an operator with virsh would. */
static void
pause_out_of_band(dc *d, const char *domain)
{
	const obs_domain *o = dc_domain(d, domain);
	host_conn *hc;
	g_autoptr(GError) err = NULL;

	assert_non_null(o);
	hc = g_hash_table_lookup(d->hosts->by_name, o->host->name);
	assert_true(virt_suspend(hc->virt, domain, &err));
	assert_int_equal(dc_domain(d, domain)->state, VIRT_DOM_PAUSED);
}

/*
 * A paused VM that must stop is resumed first, so that its guest can shut
 * down cleanly.  That resume is a step of stopping: counted as a start, it
 * waited for the start of the VM it comes `after`, whose restart waits for
 * this VM's shutdown -- a cycle, and the planner aborted (the daemon
 * crash-looped under systemd).  Both orientations of `after` are tried.
 */
static void
test_plan__paused_vm_stopped_while_its_after_partner_restarts(void **state)
{
	static const char *const fmt =
		"kind: appliance\nname: p\nvms:\n"
		"  - {name: a, template: debian-12, state: %s%s}\n"
		"  - {name: b, template: debian-12, cpus: %u%s}\n";
	static const char *const orient[][2] = {
		{ ", after: [b]", "" },   /* the paused VM comes after the restarted one */
		{ "", ", after: [a]" },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(orient); i++) {
		g_autofree char *before = g_strdup_printf(fmt, "running", orient[i][0], 1u, orient[i][1]);
		g_autofree char *after = g_strdup_printf(fmt, "stopped", orient[i][0], 2u, orient[i][1]);
		dc *d = dc_new(before);
		const plan *p;

		assert_int_equal(dc_apply(d), EXEC_CONVERGED);
		pause_out_of_band(d, "p.a");
		dc_spec(d, after);
		p = dc_plan(d);
		assert_int_equal(p->errors->len, 0);
		assert_non_null(find_op(p, OP_RESUME, "p.a"));
		assert_non_null(find_op(p, OP_START, "p.b"));
		/* `after` still orders the stops: the later VM goes down first. */
		if (i == 0)
			assert_true(depends_on(find_op(p, OP_SHUTDOWN, "p.b"), find_op(p, OP_SHUTDOWN, "p.a")));
		else
			assert_true(depends_on(find_op(p, OP_SHUTDOWN, "p.a"), find_op(p, OP_SHUTDOWN, "p.b")));
		assert_int_equal(dc_apply(d), EXEC_CONVERGED);
		dc_assert_no_changes(d);
		assert_int_equal(dc_domain(d, "p.a")->state, VIRT_DOM_SHUTOFF);
		assert_int_equal(dc_domain(d, "p.b")->state, VIRT_DOM_RUNNING);
		dc_free(d);
	}
}

/*
 * Should a planner rule ever close a cycle again, ordering reports it as a
 * plan error naming the VMs and the steps, and keeps what does not wait on
 * it; it never aborts.
 */
static void
test_plan__a_cycle_is_an_error_naming_its_vms_never_an_abort(void **state)
{
	g_autoptr(plan) p = plan_new();
	plan_op *x = plan_append_oneshot(p, OP_REBOOT, "hv1", "c.x", "test");
	plan_op *y = plan_append_oneshot(p, OP_REBOOT, "hv1", "c.y", "test");
	plan_op *waits = plan_append_oneshot(p, OP_REBOOT, "hv2", "c.w", "test");
	plan_op *free_op = plan_append_oneshot(p, OP_REBOOT, "hv2", "c.z", "test");

	(void)state;
	g_ptr_array_add(x->deps, y);
	g_ptr_array_add(y->deps, x);
	g_ptr_array_add(waits->deps, y);
	assert_false(plan_order(p));
	assert_int_equal(p->ops->len, 1);
	assert_ptr_equal(p->ops->pdata[0], free_op);
	assert_int_equal(free_op->id, 1);
	assert_int_equal(p->errors->len, 1);
	assert_string_equal(p->errors->pdata[0],
			    "the plan cannot be ordered: steps of c.x, c.y wait on each other in a cycle "
			    "(each waits for the next: reboot c.x, then reboot c.y, then the first again); "
			    "3 steps, the cycle's and those waiting on it, are left out; a plan with an error is not carried out");
}

static void
test_plan__add_remove_rename_vm(void **state)
{
	dc *d = dc_new(webstack);
	g_autofree char *text = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	/* app2 renamed to web2, app3 added, db kept. */
	dc_spec(d, "kind: appliance\nname: shop\nlayers: [app]\nvms:\n"
		   "  - {name: db, persistent: db-data, memory: 2GiB, disks: [{name: scratch, size: 5GiB}], requires: [ssd]}\n"
		   "  - {name: app1, template: debian-12, layer: app, after: [db]}\n"
		   "  - {name: web2, template: debian-12, layer: app, after: [db]}\n"
		   "  - {name: app3, template: debian-12}\n");
	text = dc_plan_text(d);
	tu_assert_golden(text, GOLDEN("add-remove-rename"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	assert_null(dc_domain(d, "shop.app2"));
	assert_false(dc_has_volume(d, "hv1", "shop.app2--system.qcow2") ||
		     dc_has_volume(d, "hv2", "shop.app2--system.qcow2") ||
		     dc_has_volume(d, "hv3", "shop.app2--system.qcow2"));
	dc_free(d);
}

static const char *const states[] = { "running", "stopped", "paused", "saved", "undeployed" };

static char *
one_vm(const char *st)
{
	return g_strdup_printf("kind: appliance\nname: one\nvms:\n"
			       "  - {name: vm, template: debian-12, state: %s}\n---\n"
			       "kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n", st);
}

static void
test_apply__every_state_reaches_every_other(void **state)
{
	g_autoptr(GString) all = g_string_new(NULL);

	(void)state;
	for (size_t from = 0; from < G_N_ELEMENTS(states); from++) {
		for (size_t to = 0; to < G_N_ELEMENTS(states); to++) {
			g_autofree char *a = one_vm(states[from]);
			g_autofree char *b = one_vm(states[to]);
			g_autofree char *text = NULL;
			dc *d = dc_new(a);

			assert_int_equal(dc_apply(d), EXEC_CONVERGED);
			dc_spec(d, b);
			text = dc_plan_text(d);
			g_string_append_printf(all, "## %s -> %s\n%s", states[from], states[to], text);
			assert_int_equal(dc_apply(d), EXEC_CONVERGED);
			dc_assert_no_changes(d);
			dc_free(d);
		}
	}
	tu_assert_golden(all->str, GOLDEN("state-transitions"));
}

static void
test_plan__resize_live_and_with_restart(void **state)
{
	dc *d = dc_new("kind: appliance\nname: r\nvms:\n  - {name: vm, template: debian-12, memory: 2GiB}\n");
	g_autofree char *down = NULL, *up = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: r\nvms:\n  - {name: vm, template: debian-12, memory: 1GiB}\n");
	down = dc_plan_text(d);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	dc_spec(d, "kind: appliance\nname: r\nvms:\n  - {name: vm, template: debian-12, memory: 1GiB, cpus: 4}\n");
	up = dc_plan_text(d);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	tu_assert_golden(down, GOLDEN("resize-memory-live"));
	tu_assert_golden(up, GOLDEN("resize-cpus-restart"));
	dc_free(d);
}

static bool
has_kind(const plan *p, op_kind kind)
{
	for (guint i = 0; i < p->ops->len; i++)
		if (((const plan_op *)p->ops->pdata[i])->kind == kind)
			return true;
	return false;
}

/*
 * With max_cpus and max_memory, vCPUs and memory change while the VM
 * runs: the definition for the next boot first, then each live change,
 * no stop.  Beyond the running maxima (the maxima themselves changed), a
 * restart, which the plan says.
 */
static void
test_plan__vcpus_and_memory_change_live_within_their_maxima(void **state)
{
	static const char *const fmt =
		"kind: appliance\nname: r\nvms:\n  - {name: vm, template: debian-12, cpus: %d, max_cpus: %d,"
		" memory: %s, max_memory: 4GiB}\n";
	g_autofree char *v1 = g_strdup_printf(fmt, 2, 8, "1GiB");
	g_autofree char *v2 = g_strdup_printf(fmt, 4, 8, "2GiB");
	g_autofree char *v3 = g_strdup_printf(fmt, 12, 16, "2GiB");
	dc *d = dc_new(v1);
	g_autofree char *xml = NULL;
	const plan_op *op;
	const plan *p;
	host_conn *hc;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	hc = g_hash_table_lookup(d->hosts->by_name, dc_domain(d, "r.vm")->host->name);
	assert_true(virt_domain_xml(hc->virt, "r.vm", true, &xml, NULL));
	assert_non_null(strstr(xml, "<vcpu placement='static' current='2'>8</vcpu>"));
	assert_non_null(strstr(xml, "<memory unit='KiB'>4194304</memory>"));
	assert_non_null(strstr(xml, "<currentMemory unit='KiB'>1048576</currentMemory>"));
	dc_spec(d, v2);
	p = dc_plan(d);
	assert_false(has_kind(p, OP_SHUTDOWN));
	assert_false(has_kind(p, OP_START));
	op = find_op(p, OP_SET_VCPUS, "r.vm");
	assert_non_null(op);
	assert_string_equal(op->reason, "live: 2 → 4 vCPUs within max 8");
	/* The next boot's definition after the live changes: one that fails
	 * leaves the old one, and the next pass tries again. */
	assert_true(depends_on(find_op(p, OP_DEFINE, "r.vm"), op));
	op = find_op(p, OP_SET_MEMORY, "r.vm");
	assert_non_null(op);
	assert_string_equal(op->reason, "live: 1024 → 2048 MiB within max 4096 MiB");
	assert_true(depends_on(find_op(p, OP_DEFINE, "r.vm"), op));
	assert_int_equal(find_op(p, OP_DEFINE, "r.vm")->impact, IMPACT_IN_PLACE);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	g_free(xml);
	assert_true(virt_domain_xml(hc->virt, "r.vm", false, &xml, NULL));  /* the running one */
	assert_non_null(strstr(xml, "current='4'>8</vcpu>"));
	assert_int_equal(dc_domain(d, "r.vm")->state, VIRT_DOM_RUNNING);
	/* Fewer vCPUs: a restart (the guest would have to give them back). */
	g_free(v2);
	v2 = g_strdup_printf(fmt, 3, 8, "2GiB");
	dc_spec(d, v2);
	p = dc_plan(d);
	assert_false(has_kind(p, OP_SET_VCPUS));
	assert_true(has_kind(p, OP_SHUTDOWN));
	assert_non_null(strstr(find_op(p, OP_DEFINE, "r.vm")->reason, "restart: 4 → 3 vCPUs (vCPUs are added live, not removed"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	/* A new maximum is a new machine: a restart. */
	dc_spec(d, v3);
	p = dc_plan(d);
	assert_true(has_kind(p, OP_SHUTDOWN));
	assert_false(has_kind(p, OP_SET_VCPUS));
	assert_int_equal(find_op(p, OP_DEFINE, "r.vm")->impact, IMPACT_RESTART);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	dc_free(d);
}

/*
 * Under disruption: never, a change only a boot makes goes into the
 * definition for the next boot, and the VM runs on: "restart required",
 * in status and in the plan's notes, until it restarts (by anyone); then
 * the running VM matches and it clears.
 */
static void
test_plan__disruption_never_waits_for_the_next_boot(void **state)
{
	dc *d = dc_new("kind: appliance\nname: r\ndisruption: never\nvms:\n  - {name: vm, template: debian-12}\n");
	g_autofree char *text = NULL;
	const obs_domain *o;
	const plan_op *def;
	const plan *p;
	host_conn *hc;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: r\ndisruption: never\nvms:\n  - {name: vm, template: debian-12, cpus: 3}\n");
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	assert_false(has_kind(p, OP_SHUTDOWN));
	def = find_op(p, OP_DEFINE, "r.vm");
	assert_non_null(def);
	assert_true(def->next_boot);
	assert_int_equal(def->impact, IMPACT_IN_PLACE);
	assert_string_equal(def->reason, "next boot: 1 → 3 vCPUs (set max_cpus to add them live); restart "
			    "required: appliance 'r' sets disruption: never");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	o = dc_domain(d, "r.vm");
	assert_int_equal(o->state, VIRT_DOM_RUNNING);
	assert_string_equal(o->restart_required, "1 vCPUs running, 3 defined");
	hc = g_hash_table_lookup(d->hosts->by_name, o->host->name);
	text = dc_plan_text(d);
	assert_int_equal(d->last.plan->ops->len, 0);
	assert_non_null(strstr(text, "r.vm: restart required: 1 vCPUs running, 3 defined (its definition "
			       "waits for the next boot)"));
	/* Restarted by someone: the running VM matches, and it clears. */
	assert_true(virt_destroy(hc->virt, "r.vm", NULL));
	assert_true(virt_start(hc->virt, "r.vm", NULL));
	assert_null(dc_domain(d, "r.vm")->restart_required);
	dc_assert_no_changes(d);
	dc_free(d);
}

static void
test_plan__template_change_rebuilds_the_system_disk(void **state)
{
	dc *d = dc_new("kind: appliance\nname: t\nvms:\n  - {name: vm, template: debian-12}\n");
	g_autofree char *text = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: t\nvms:\n  - {name: vm, template: debian-13}\n");
	text = dc_plan_text(d);
	tu_assert_golden(text, GOLDEN("template-change"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	dc_free(d);
}

static void
test_persistent__volume_outlives_its_vm_and_serves_another_appliance(void **state)
{
	dc *d = dc_new("kind: appliance\nname: one\nvms:\n  - {name: db, persistent: db-data}\n---\n"
		       "kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n");
	const obs_domain *db;
	g_autofree char *host = NULL;
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	db = dc_domain(d, "one.db");
	assert_non_null(db);
	host = g_strdup(db->host->name);
	/* The VM goes; its persistent volume stays. */
	dc_spec(d, "kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n");
	p = dc_plan(d);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		assert_false(op->kind == OP_VOL_DELETE && strstr(op->volume, "persistent-"));
	}
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_null(dc_domain(d, "one.db"));
	assert_true(dc_has_volume(d, host, "persistent-db-data.qcow2"));
	/* Another appliance binds it: same host, no new volume. */
	dc_spec(d, "kind: appliance\nname: two\nvms:\n  - {name: sql, persistent: db-data}\n---\n"
		   "kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n");
	p = dc_plan(d);
	assert_null(find_op(p, OP_VOL_CREATE, NULL));
	assert_string_equal(find_op(p, OP_DEFINE, "two.sql")->host, host);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_true(dc_has_volume(d, host, "persistent-db-data.qcow2"));
	dc_free(d);
}

static void
test_persistent__deleted_only_by_its_own_state(void **state)
{
	dc *d = dc_new("kind: appliance\nname: one\nvms:\n  - {name: db, persistent: db-data}\n---\n"
		       "kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n");
	const char *host;
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "one.db")->host->name);
	/* Removing the document only forgets it: orphaned, kept. */
	tu_write(d->spec, "kind: host\nname: hv1\nuri: test://" SRCDIR "/examples/webstack/hosts/hv1.xml\n---\n"
		 "kind: host\nname: hv2\nuri: test://" SRCDIR "/examples/webstack/hosts/hv2.xml\n---\n"
		 "kind: host\nname: hv3\nuri: test://" SRCDIR "/examples/webstack/hosts/hv3.xml\n---\n"
		 "kind: template\nname: debian-12\npool: default\nvolume: debian-12.qcow2\n---\n"
		 "kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n");
	p = dc_plan(d);
	assert_null(find_op(p, OP_VOL_DELETE, NULL));
	assert_true(has_note(p, "orphaned: persistent volume default/persistent-db-data.qcow2"));
	/* Its snapshots: libvirt's records go, the snapshots stay in the volume. */
	assert_true(has_note(p, "one.db: libvirt's list of its snapshots goes with its definition; "
			     "the snapshots themselves stay inside default/persistent-db-data.qcow2"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_true(dc_has_volume(d, host, "persistent-db-data.qcow2"));
	/* `state: deleted` deletes it. */
	{
		g_autofree char *text = g_strconcat(dc_base_spec,
			"kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n", NULL);
		GString *s = g_string_new(text);
		g_autofree char *del = NULL;

		g_string_replace(s, "size: 20GiB\n", "size: 20GiB\nstate: deleted\n", 1);
		del = g_string_free(s, FALSE);
		tu_write(d->spec, del);
	}
	p = dc_plan(d);
	assert_non_null(find_op(p, OP_VOL_DELETE, NULL));
	assert_int_equal(find_op(p, OP_VOL_DELETE, NULL)->impact, IMPACT_DESTROYS_DATA);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_false(dc_has_volume(d, host, "persistent-db-data.qcow2"));
	g_free((char *)host);
	dc_free(d);
}

/*
 * A pool that is inactive (or whose listing fails) is unknown, not empty:
 * the persistent volume it holds is not replaced by an empty one on
 * another host, and nothing is placed in it.
 */
static void
test_persistent__an_unlisted_pool_hides_nothing(void **state)
{
	const char *both = "kind: appliance\nname: one\nvms:\n  - {name: db, persistent: db-data}\n---\n"
			   "kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n";
	dc *d = dc_new(both);
	g_autofree char *host = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	host_conn *c;
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "one.db")->host->name);
	/* Undeployed: the VM goes, its volume stays on its host. */
	text = g_strdup_printf("kind: appliance\nname: one\nstate: undeployed\nvms:\n"
			       "  - {name: db, persistent: db-data}\n---\n%s", strstr(both, "kind: appliance\nname: anchor"));
	dc_spec(d, text);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_true(dc_has_volume(d, host, "persistent-db-data.qcow2"));
	/* Its pool stops answering for its content; deploy again. */
	c = g_hash_table_lookup(d->hosts->by_name, host);
	assert_true(virt_pool_set_active(c->virt, "default", false, &err));
	dc_spec(d, both);
	p = dc_plan(d);
	assert_null(find_op(p, OP_VOL_CREATE, NULL));
	assert_null(find_op(p, OP_DEFINE, "one.db"));
	assert_true(p->errors->len > 0);
	assert_non_null(strstr(p->errors->pdata[0], "no empty one is made"));
	/* Back: the VM comes back on its volume, no second one anywhere. */
	assert_true(virt_pool_set_active(c->virt, "default", true, &err));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "one.db")->host->name, host);
	for (guint i = 1; i <= 3; i++) {
		g_autofree char *hv = g_strdup_printf("hv%u", i);

		assert_true(dc_has_volume(d, hv, "persistent-db-data.qcow2") == (strcmp(hv, host) == 0));
	}
	dc_free(d);
}

static void
test_persistent__moved_to_another_pool_is_refused_not_recreated(void **state)
{
	static const char *const app =
		"kind: appliance\nname: one\nvms:\n  - {name: db, persistent: db-data}\n---\n"
		"kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n";
	dc *d = dc_new(app);
	g_autofree char *text = g_strconcat(dc_base_spec, app, NULL);
	g_autofree char *host = NULL, *expect = NULL;
	GString *g = g_string_new(text);
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "one.db")->host->name);
	g_string_replace(g, "size: 20GiB\n", "size: 20GiB\npool: elsewhere\n", 1);
	tu_write(d->spec, g->str);
	g_string_free(g, TRUE);
	p = dc_plan(d);
	/* A fresh volume in the new pool would hide the VM's data: refused. */
	assert_null(find_op(p, OP_VOL_CREATE, NULL));
	assert_null(find_op(p, OP_VOL_DELETE, NULL));
	expect = g_strdup_printf("one.db: its persistent volume elsewhere/persistent-db-data.qcow2 is not on %s, "
				 "where the VM is; strata does not move volumes between pools or hosts", host);
	assert_string_equal(p->errors->pdata[0], expect);
	assert_true(dc_has_volume(d, host, "persistent-db-data.qcow2"));
	/* Undeployed and deployed again under the new pool: still refused. */
	g = g_string_new(text);
	g_string_replace(g, "name: one\nvms", "name: one\nstate: undeployed\nvms", 1);
	tu_write(d->spec, g->str);
	g_string_free(g, TRUE);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	g = g_string_new(text);
	g_string_replace(g, "size: 20GiB\n", "size: 20GiB\npool: elsewhere\n", 1);
	tu_write(d->spec, g->str);
	g_string_free(g, TRUE);
	p = dc_plan(d);
	assert_null(find_op(p, OP_VOL_CREATE, NULL));
	assert_non_null(strstr(p->errors->pdata[0], "its persistent volume exists as default/persistent-db-data.qcow2"));
	dc_free(d);
}

static void
test_undeploy_redeploy__persistent_kept_template_disks_fresh(void **state)
{
	static const char *const on =
		"kind: appliance\nname: s\nvms:\n  - {name: db, persistent: db-data}\n  - {name: web, template: debian-12}\n---\n"
		"kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n";
	static const char *const off =
		"kind: appliance\nname: s\nstate: undeployed\nvms:\n  - {name: db, persistent: db-data}\n  - {name: web, template: debian-12}\n---\n"
		"kind: appliance\nname: anchor\nvms:\n  - {name: keep, template: debian-12}\n";
	dc *d = dc_new(on);
	const plan *p;
	const char *host;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "s.db")->host->name);
	dc_spec(d, off);
	p = dc_plan(d);
	assert_non_null(find_op(p, OP_VOL_DELETE, "s.web"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_null(dc_domain(d, "s.db"));
	assert_true(dc_has_volume(d, host, "persistent-db-data.qcow2"));
	dc_spec(d, on);
	p = dc_plan(d);
	assert_non_null(find_op(p, OP_VOL_CREATE, "s.web"));   /* a fresh system disk */
	assert_null(find_op(p, OP_VOL_CREATE, NULL));          /* the persistent one exists */
	assert_string_equal(find_op(p, OP_DEFINE, "s.db")->host, host);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	g_free((char *)host);
	dc_free(d);
}

static void
test_safety__unmanaged_domains_are_left_alone(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *spec = g_build_filename(dir, "s.yaml", NULL);
	pass_options o = { .path = spec, .connect = "test:///default" };
	g_autoptr(GError) err = NULL;
	pass p;

	(void)state;
	/* test:///default carries one domain, "test", that strata did not make. */
	tu_write(spec, "kind: template\nname: t\npool: default-pool\nvolume: base.qcow2\n---\n"
		 "kind: appliance\nname: a\nvms:\n  - {name: test, template: t}\n");
	assert_true(pass_run(&p, &o, NULL, NULL, &err));
	for (guint i = 0; i < p.plan->ops->len; i++)
		assert_true(g_strcmp0(((plan_op *)p.plan->ops->pdata[i])->domain, "test") != 0);
	assert_string_equal(p.plan->notes->pdata[0],
			    "ignored: domain 'test' on default is not managed by strata");
	pass_release(&p);
	tu_rmtree(dir);
}

/* A domain another tool defined on @host, its disk the volume @vol. */
static void
define_foreign(dc *d, const char *host, const char *name, const char *disk_xml)
{
	host_conn *c = g_hash_table_lookup(d->hosts->by_name, host);
	g_autofree char *xml = g_strdup_printf(
		"<domain type='test'><name>%s</name><memory>1024</memory><os><type>hvm</type></os>"
		"<devices>%s</devices></domain>", name, disk_xml);
	g_autoptr(GError) err = NULL;

	assert_true(virt_define(c->virt, xml, NULL, &err));
}

static void
make_volume(dc *d, const char *host, const char *vol)
{
	host_conn *c = g_hash_table_lookup(d->hosts->by_name, host);
	g_autofree char *xml = g_strdup_printf(
		"<volume><name>%s</name><capacity>1048576</capacity></volume>", vol);
	g_autoptr(GError) err = NULL;

	assert_true(virt_vol_create(c->virt, "default", xml, NULL, &err));
}

static bool
plan_deletes(const plan *p, const char *volume)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_DELETE && g_strcmp0(op->volume, volume) == 0)
			return true;
	}
	return false;
}

/* One appliance's refusal holds back that appliance only. */
static void
test_plan__a_refusal_holds_back_its_appliance_only(void **state)
{
	dc *d = dc_new("kind: appliance\nname: b\nvms:\n  - {name: n1, template: debian-12}\n");
	plan *p;
	g_autoptr(GError) err = NULL;
	exec_options eo;
	gint64 run;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	/* Another tool's domain already has the name c.x would get. */
	define_foreign(d, "hv1", "c.x", "");
	dc_spec(d, "kind: appliance\nname: b\nvms:\n  - {name: n1, template: debian-12}\n"
		   "  - {name: n2, template: debian-12}\n---\n"
		   "kind: appliance\nname: c\nvms:\n  - {name: x, template: debian-12}\n"
		   "  - {name: y, template: debian-12}\n");
	p = (plan *)dc_plan(d);
	assert_int_equal(p->errors->len, 1);
	assert_non_null(strstr(p->errors->pdata[0], "c.x: a domain of that name exists on hv1"));
	assert_null(find_op(p, OP_DEFINE, "c.y"));
	assert_non_null(find_op(p, OP_DEFINE, "b.n2"));
	/* Carried out as the daemon and apply do: b converges, c waits. */
	exec_options_init(&eo);
	run = history_run_begin(d->hist, "test", 0, &err);
	assert_int_equal(exec_plan(p, d->hosts, d->hist, run, d->cache, &eo, &err), EXEC_CONVERGED);
	assert_int_equal(dc_domain(d, "b.n2")->state, VIRT_DOM_RUNNING);
	assert_null(dc_domain(d, "c.y"));
	dc_free(d);
}

/* Plan again from the last observation, with @vm's observed state and
 * reason written by hand (states the test driver cannot enter). */
static plan *
replan_as(dc *d, const char *vm, int state, int reason)
{
	obs_domain *o = g_hash_table_lookup(d->last.have->domain_by_name, vm);
	plan_options po = { 0 };

	assert_non_null(o);
	o->state = state;
	o->reason = reason;
	return plan_build(d->last.want, d->last.have, &po);
}

static void
test_plan__pmsuspended_wakes_up_io_error_pause_waits(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12}\n");
	g_autoptr(plan) woke = NULL;
	g_autoptr(plan) io = NULL;
	g_autoptr(plan) user = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_plan(d);
	/* The guest suspended itself to RAM: a wake-up, not a resume. */
	woke = replan_as(d, "a.vm", VIRT_DOM_PMSUSPENDED, 0);
	assert_int_equal(woke->ops->len, 1);
	assert_int_equal(((plan_op *)woke->ops->pdata[0])->kind, OP_PM_WAKEUP);
	/* Paused by an I/O error: reported, not resumed into the same error. */
	io = replan_as(d, "a.vm", VIRT_DOM_PAUSED, VIRT_PAUSED_IOERROR);
	assert_int_equal(io->ops->len, 0);
	assert_true(has_note(io, "a.vm: paused by an I/O error on its storage"));
	/* Paused by someone: drift, resumed. */
	user = replan_as(d, "a.vm", VIRT_DOM_PAUSED, 1);
	assert_non_null(find_op(user, OP_RESUME, "a.vm"));
	dc_free(d);
}

/* A stop says what it may cost: the hard power-off after the VM's timeout. */
static void
test_plan__a_stop_shows_its_hard_power_off(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12, shutdown_timeout: 5}\n");
	g_autofree char *text = NULL;
	const plan_op *op;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12, shutdown_timeout: 5, "
		   "state: stopped}\n");
	text = dc_plan_text(d);
	assert_non_null(strstr(text, "shutdown a.vm on "));
	assert_non_null(strstr(text, "[hard-stop after 5 s]"));
	op = find_op(dc_plan(d), OP_SHUTDOWN, "a.vm");
	assert_int_equal(op->impact, IMPACT_HARD_STOP);
	assert_int_equal(op->value, 5);
	dc_free(d);
}

/* What libvirt would silently drop or reject later is refused at define. */
static void
test_virt__define_validates_against_the_schema(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12}\n");
	host_conn *c = g_hash_table_lookup(d->hosts->by_name, "hv1");
	g_autoptr(GError) err = NULL;

	(void)state;
	assert_false(virt_define_flags(c->virt, "<domain type='test'><name>x</name><memory>1024</memory>"
				       "<os><type>hvm</type></os><devices><bogus/></devices></domain>",
				       true, NULL, &err));
	assert_non_null(strstr(err->message, "cannot define domain on"));
	assert_null(dc_domain(d, "x"));
	dc_free(d);
}

/*
 * The first-round bug: volumes were given to the domain named before their
 * first "--", so removing a.db deleted the disk of another domain named
 * a.db--x.  Ownership now comes from the definitions.
 */
static void
test_safety__a_volume_named_like_a_vms_disk_is_not_its(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: db, template: debian-12}\n"
		       "  - {name: keep, template: debian-12}\n");
	g_autofree char *host = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_non_null(dc_domain(d, "a.db"));
	host = g_strdup(dc_domain(d, "a.db")->host->name);
	/* Another tool's domain, on the same host, whose name extends a.db. */
	make_volume(d, host, "a.db--x--system.qcow2");
	define_foreign(d, host, "a.db--x",
		       "<disk type='volume'><source pool='default' volume='a.db--x--system.qcow2'/>"
		       "<target dev='vda'/></disk>");
	/* A stray volume carrying a.db's disk naming, used by nobody. */
	make_volume(d, host, "a.db--stray.qcow2");
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: keep, template: debian-12}\n");
	assert_true(plan_deletes(dc_plan(d), "a.db--system.qcow2"));
	assert_false(plan_deletes(dc_plan(d), "a.db--x--system.qcow2"));
	assert_false(plan_deletes(dc_plan(d), "a.db--stray.qcow2"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_true(dc_has_volume(d, host, "a.db--x--system.qcow2"));
	assert_true(dc_has_volume(d, host, "a.db--stray.qcow2"));
	assert_false(dc_has_volume(d, "hv1", "a.db--system.qcow2") ||
		     dc_has_volume(d, "hv2", "a.db--system.qcow2") ||
		     dc_has_volume(d, "hv3", "a.db--system.qcow2"));
	dc_free(d);
}

/* A disk attached by hand to a managed VM's definition (its hash unchanged)
 * is in use: never deleted as "not in the spec". */
static void
test_safety__a_disk_attached_by_hand_stays(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12}\n");
	g_autofree char *host = NULL;
	g_autofree char *xml = NULL;
	g_autoptr(GString) edited = NULL;
	g_autoptr(GError) err = NULL;
	host_conn *c;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "a.vm")->host->name);
	c = g_hash_table_lookup(d->hosts->by_name, host);
	make_volume(d, host, "a.vm--extra.qcow2");
	assert_true(virt_domain_xml(c->virt, "a.vm", true, &xml, &err));
	edited = g_string_new(xml);
	g_string_replace(edited, "</devices>", "<disk type='volume' device='disk'><source pool='default' "
			 "volume='a.vm--extra.qcow2'/><target dev='vdz'/></disk></devices>", 1);
	assert_true(virt_define(c->virt, edited->str, NULL, &err));
	obs_cache_clear(d->cache);  /* what the DEFINED event does in the daemon */
	assert_false(plan_deletes(dc_plan(d), "a.vm--extra.qcow2"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_true(dc_has_volume(d, host, "a.vm--extra.qcow2"));
	dc_free(d);
}

/*
 * The guard reads every definition afresh: a domain that names the disk by
 * its path, or one that carries the very name of the VM the plan removes
 * (its definition put back by hand), is a user; only a rebuilt system
 * disk's own domain is not counted.
 */
static void
test_safety__the_last_guard_sees_paths_and_names_put_back(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: db, template: debian-12}\n");
	g_autofree char *host = NULL;
	g_autofree char *user = NULL;
	g_autofree char *key = NULL;
	g_autofree char *disk = NULL;
	g_autoptr(GError) err = NULL;
	host_conn *c;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "a.db")->host->name);
	c = g_hash_table_lookup(d->hosts->by_name, host);
	assert_true(obs_volume_user_now(c->virt, "default", "a.db--system.qcow2", NULL, &user, &err));
	assert_string_equal(user, "a.db");
	g_clear_pointer(&user, g_free);
	assert_true(obs_volume_user_now(c->virt, "default", "a.db--system.qcow2", "a.db", &user, &err));
	assert_null(user);
	/* By path, from a domain strata never saw. */
	assert_true(virt_vol_key(c->virt, "default", "a.db--system.qcow2", &key, &err));
	disk = g_strdup_printf("<disk type='file'><source file='%s'/><target dev='vdb'/></disk>", key);
	define_foreign(d, host, "by-path", disk);
	assert_true(obs_volume_user_now(c->virt, "default", "a.db--system.qcow2", "a.db", &user, &err));
	assert_string_equal(user, "by-path");
	dc_free(d);
}

/*
 * One domain defined on two hosts (a half-done move an operator left):
 * the refusal names both hosts, the one seen first and the other.
 */
static void
test_safety__a_domain_on_two_hosts_is_named_on_both(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12}\n");
	g_autofree char *host = NULL;
	g_autofree char *xml = NULL;
	g_autofree char *want = NULL;
	g_autoptr(GError) err = NULL;
	const char *other;
	host_conn *c;
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "a.vm")->host->name);
	other = strcmp(host, "hv1") == 0 ? "hv2" : "hv1";
	c = g_hash_table_lookup(d->hosts->by_name, host);
	assert_true(virt_domain_xml(c->virt, "a.vm", true, &xml, &err));
	c = g_hash_table_lookup(d->hosts->by_name, other);
	assert_true(virt_define(c->virt, xml, NULL, &err));
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 1);
	/* Hosts are observed in the spec's order: hv1 first. */
	want = g_strdup_printf("domain 'a.vm' is defined on both hv1 and hv2; strata will not touch it "
			       "until one is removed by hand");
	assert_non_null(strstr(p->errors->pdata[0], want));
	assert_int_equal(p->ops->len, 0);
	dc_free(d);
}

/*
 * The last guard: a domain defined after the pass observed the host (a
 * rescue VM made from the disk while the plan waited for approval) keeps
 * the volume the plan would delete, and the op says who uses it.
 */
static void
test_safety__a_disk_used_since_the_plan_was_made_is_not_deleted(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: db, template: debian-12}\n"
		       "  - {name: keep, template: debian-12}\n");
	g_autofree char *host = NULL;
	const plan *p;
	const plan_op *del = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "a.db")->host->name);
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: keep, template: debian-12}\n");
	p = dc_plan(d);
	assert_true(plan_deletes(p, "a.db--system.qcow2"));
	define_foreign(d, host, "rescue",
		       "<disk type='volume'><source pool='default' volume='a.db--system.qcow2'/>"
		       "<target dev='vda'/></disk>");
	assert_int_equal(dc_apply_planned(d), EXEC_PARTIAL);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_DELETE && g_strcmp0(op->volume, "a.db--system.qcow2") == 0)
			del = op;
	}
	assert_non_null(del);
	assert_int_equal(del->status, OPST_FAILED);
	assert_non_null(strstr(del->error, "default/a.db--system.qcow2 is kept: domain rescue on "));
	assert_true(dc_has_volume(d, host, "a.db--system.qcow2"));
	assert_null(dc_domain(d, "a.db"));   /* the rest of the plan ran */
	dc_free(d);
}

/*
 * A host whose capabilities cannot be read is unknown, not "qemu": taken
 * for a software-emulated host, every VM on it was redefined and restarted
 * (and again when the capabilities came back).  STRATA_INJECT stands in for
 * the failure, which the test driver cannot produce.
 */
static void
test_safety__unreadable_capabilities_make_the_host_unknown(void **state)
{
	dc *d;
	const plan *p;

	(void)state;
	g_setenv("STRATA_INJECT", "capabilities", TRUE);
	d = dc_new(webstack);
	p = dc_plan(d);
	g_unsetenv("STRATA_INJECT");
	assert_true(p->partial);
	assert_int_equal(p->ops->len, 0);
	assert_true(has_note(p, "host hv1 is unreachable (cannot read the capabilities of 'test://"));
	/* Readable again: the daemon's reconnect finds the hosts, and the
	 * plan goes ahead. */
	for (guint i = 0; i < d->hosts->hosts->len; i++)
		((host_conn *)d->hosts->hosts->pdata[i])->next_try = 0;
	{
		guint back = 0;
		gint64 until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

		hosts_reconnect(d->hosts);  /* begins the attempts, returns at once */
		while (back < 3 && g_get_monotonic_time() < until) {
			struct pollfd pfd = { .fd = hosts_fd(d->hosts), .events = POLLIN };
			g_autoptr(GPtrArray) came = NULL;

			poll(&pfd, 1, 100);
			came = hosts_connected(d->hosts);
			back += came->len;
		}
		assert_int_equal(back, 3);
	}
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	dc_free(d);
}

/* A power-button press libvirt refuses, on a running guest, is an error
 * (it was silence, and the VM ran on as if stopping), and nothing is
 * powered off hard in its place. */
static void
test_exec__a_refused_shutdown_is_an_error(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12}\n");
	const plan_op *stop;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12, state: stopped}\n");
	g_setenv("STRATA_INJECT", "shutdown", TRUE);
	assert_int_equal(dc_apply(d), EXEC_FAILED);
	g_unsetenv("STRATA_INJECT");
	stop = find_op(d->last.plan, OP_SHUTDOWN, "a.vm");
	assert_non_null(stop);
	assert_int_equal(stop->status, OPST_FAILED);
	assert_non_null(strstr(stop->error, "cannot ask to shut down 'a.vm'"));
	assert_int_equal(dc_domain(d, "a.vm")->state, VIRT_DOM_RUNNING);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_int_equal(dc_domain(d, "a.vm")->state, VIRT_DOM_SHUTOFF);
	dc_free(d);
}

/* A VM's own disk that another domain uses too is kept, and the plan says why. */
static void
test_safety__a_disk_another_domain_uses_is_never_deleted(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: db, template: debian-12}\n"
		       "  - {name: keep, template: debian-12}\n");
	g_autofree char *host = NULL;
	g_autofree char *note = NULL;
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	host = g_strdup(dc_domain(d, "a.db")->host->name);
	/* An operator attached a.db's system disk to a rescue domain. */
	define_foreign(d, host, "rescue",
		       "<disk type='volume'><source pool='default' volume='a.db--system.qcow2'/>"
		       "<target dev='vda'/></disk>");
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: keep, template: debian-12}\n");
	p = dc_plan(d);
	assert_false(plan_deletes(p, "a.db--system.qcow2"));
	note = g_strdup_printf("default/a.db--system.qcow2 on %s is kept: another domain's definition uses it",
			       host);
	assert_true(g_ptr_array_find_with_equal_func(p->notes, note, g_str_equal, NULL));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_null(dc_domain(d, "a.db"));
	assert_true(dc_has_volume(d, host, "a.db--system.qcow2"));
	dc_free(d);
}

static void
test_safety__removing_every_managed_vm_is_refused(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12}\n");
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	/* Every VM gone from the source: a lost folder looks like this. */
	dc_spec(d, "kind: appliance\nname: b\nstate: undeployed\nvms:\n  - {name: other, template: debian-12}\n");
	p = dc_plan(d);
	assert_int_equal(p->ops->len, 0);
	assert_string_equal(p->errors->pdata[0],
			    "the plan would remove every managed VM (1); refused without --allow-empty");
	/* Undeploying everything on purpose is said in the spec: it proceeds. */
	dc_spec(d, "kind: appliance\nname: a\nstate: undeployed\nvms:\n  - {name: vm, template: debian-12}\n");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_null(dc_domain(d, "a.vm"));
	/* And the flag allows the other. */
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: vm, template: debian-12}\n");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: b\nstate: undeployed\nvms:\n  - {name: other, template: debian-12}\n");
	d->allow_empty = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_null(dc_domain(d, "a.vm"));
	dc_free(d);
}

/* More than half the fleet gone from the source at once waits for a yes. */
static void
test_safety__removing_most_of_the_fleet_waits_for_confirmation(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: v1, template: debian-12}\n"
		       "  - {name: v2, template: debian-12}\n  - {name: v3, template: debian-12}\n"
		       "  - {name: v4, template: debian-12}\n");
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	/* Two of four (50 %) is not more than half: it proceeds. */
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: v1, template: debian-12}\n"
		   "  - {name: v2, template: debian-12}\n");
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	/* Three of four: held whole, with what to do. */
	dc_spec(d, "kind: appliance\nname: a\nvms:\n  - {name: v1, template: debian-12}\n"
		   "  - {name: new, template: debian-12}\n");
	p = dc_plan(d);
	assert_int_equal(p->ops->len, 0);
	assert_string_equal(p->errors->pdata[0],
			    "the revision would remove 3 of the 4 managed VMs, more than 50%; nothing is changed "
			    "until it is confirmed: strata apply --allow-removal, or strata approve while strata watch runs");
	d->allow_removal = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_null(dc_domain(d, "a.v2"));
	assert_non_null(dc_domain(d, "a.new"));
	dc_free(d);
}

static void
test_exec__a_failing_op_skips_only_its_dependents(void **state)
{
	dc *d = dc_new("kind: appliance\nname: f\nvms:\n"
		       "  - {name: big, template: debian-12, disks: [{name: huge, size: 1GiB}]}\n"
		       "  - {name: ok1, template: debian-12}\n"
		       "  - {name: ok2, template: debian-12, after: [big]}\n"
		       "  - {name: ok3, template: debian-12}\n");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) rows = NULL;
	g_autofree char *xml = domxml_volume("f.big--huge.qcow2", 1 << 20, NULL);
	history_query q = { .vm = "f.big" };
	const plan *p;
	const plan_op *huge;
	host_conn *on;
	unsigned failed = 0, skipped = 0;

	(void)state;
	/* A real failure: someone made a volume of that name on the host
	 * after the plan (libvirt refuses to make it again). */
	p = dc_plan(d);
	huge = NULL;
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_CREATE && g_strcmp0(op->volume, "f.big--huge.qcow2") == 0)
			huge = op;
	}
	assert_non_null(huge);
	on = g_hash_table_lookup(d->hosts->by_name, huge->host);
	assert_true(virt_vol_create(on->virt, "default", xml, NULL, &err));
	assert_int_equal(dc_apply_planned(d), EXEC_PARTIAL);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		failed += op->status == OPST_FAILED;
		skipped += op->status == OPST_SKIPPED;
		if (g_strcmp0(op->vm, "ok1") == 0 || g_strcmp0(op->vm, "ok3") == 0)
			assert_int_equal(op->status, OPST_DONE);
	}
	assert_int_equal(failed, 1);
	assert_int_equal(find_op(p, OP_DEFINE, "f.big")->status, OPST_SKIPPED);
	assert_int_equal(find_op(p, OP_START, "f.ok2")->status, OPST_SKIPPED);
	assert_int_equal(find_op(p, OP_DEFINE, "f.ok2")->status, OPST_DONE);
	(void)skipped;
	/* History says which op failed and why. */
	rows = history_ops(d->hist, &q, &err);
	assert_non_null(rows);
	for (guint i = 0; i < rows->len; i++) {
		GHashTable *r = rows->pdata[i];

		if (g_strcmp0(g_hash_table_lookup(r, "result"), "failed") == 0) {
			assert_non_null(strstr(g_hash_table_lookup(r, "args"), "huge"));
			assert_non_null(strstr(g_hash_table_lookup(r, "error"), "already exists"));
		}
	}
	dc_free(d);
}

static void
test_crash__between_intent_and_result_is_adopted(void **state)
{
	dc *d = dc_new("kind: appliance\nname: c\nvms:\n  - {name: vm, template: debian-12, state: stopped}\n");
	g_autofree char *db = g_build_filename(d->dir, "strata.db", NULL);
	g_autoptr(GError) err = NULL;
	const plan *p = dc_plan(d);
	plan_op *ops[8];
	gint64 rows[8], run;
	guint n = p->ops->len;

	(void)state;
	/* Do what exec does, then die before the results are written. */
	assert_true(n <= 8);
	run = history_run_begin(d->hist, "test", 0, &err);
	for (guint i = 0; i < n; i++)
		ops[i] = p->ops->pdata[i];
	assert_true(history_intents(d->hist, run, ops, n, rows, &err));
	for (guint i = 0; i < n; i++) {
		host_conn *hc = g_hash_table_lookup(d->hosts->by_name, ops[i]->host);

		if (ops[i]->kind == OP_VOL_CREATE)
			assert_true(virt_vol_create(hc->virt, ops[i]->pool, ops[i]->xml, ops[i]->clone_from, &err));
		else if (ops[i]->kind == OP_DEFINE)
			assert_true(virt_define(hc->virt, ops[i]->xml, NULL, &err));
	}
	history_close(d->hist);
	d->hist = history_open(db, &err);
	assert_int_equal(history_interrupted(d->hist), n);
	/* The next run adopts: nothing to create, no duplicate domain. */
	obs_cache_free(d->cache);
	d->cache = obs_cache_new();
	dc_assert_no_changes(d);
	dc_free(d);
}

/*
 * A crashed run may have sent a VM's define (or disk) to a host, and
 * libvirtd carries it out after strata died.  Placed elsewhere by the next
 * run, the VM ran on two hosts (the e2e crash scenario, under TCG).  The
 * next run places it where the unanswered call went, from history; a disk
 * merely named like the VM's, with no history, steers nothing.
 */
static void
test_crash__a_vm_goes_where_the_crashed_run_sent_it(void **state)
{
	dc *d = dc_new("kind: appliance\nname: c\nvms:\n  - {name: vm, template: debian-12}\n");
	g_autofree char *db = g_build_filename(d->dir, "strata.db", NULL);
	g_autofree char *chosen = NULL;
	g_autoptr(GError) err = NULL;
	plan_options po = { 0 };
	const char *other;
	const plan_op *op;
	plan_op *ops[8];
	gint64 rows[8], run;
	plan *p;
	guint n;

	(void)state;
	op = find_op(dc_plan(d), OP_DEFINE, "c.vm");
	assert_non_null(op);
	chosen = g_strdup(op->host);
	other = strcmp(chosen, "hv1") == 0 ? "hv2" : "hv1";
	/* A volume named like its disk on another host, with no history. */
	make_volume(d, other, "c.vm--system.qcow2");
	assert_string_equal(find_op(dc_plan(d), OP_DEFINE, "c.vm")->host, chosen);
	/* The crashed run had sent its calls to @other, never answered. */
	n = d->last.plan->ops->len;
	assert_true(n <= 8);
	run = history_run_begin(d->hist, "test", 0, &err);
	for (guint i = 0; i < n; i++) {
		ops[i] = d->last.plan->ops->pdata[i];
		g_free(ops[i]->host);
		ops[i]->host = g_strdup(other);
	}
	assert_true(history_intents(d->hist, run, ops, n, rows, &err));
	history_close(d->hist);
	d->hist = history_open(db, &err);
	assert_string_equal(g_hash_table_lookup(history_cut_short(d->hist), "c.vm"), other);
	dc_plan(d);
	po.cut_short = history_cut_short(d->hist);
	p = plan_build(d->last.want, d->last.have, &po);
	op = find_op(p, OP_DEFINE, "c.vm");
	assert_non_null(op);
	assert_string_equal(op->host, other);
	plan_free(p);
	dc_free(d);
}

/* Copy node file @from to @to, replacing @old with @new (all, or the first). */
static void
node_variant(const char *from, const char *to, const char *old, const char *new, bool all)
{
	g_autofree char *xml = NULL;
	GString *g;

	assert_true(g_file_get_contents(from, &xml, NULL, NULL));
	g = g_string_new(xml);
	g_string_replace(g, old, new, all ? 0 : 1);
	tu_write(to, g->str);
	g_string_free(g, TRUE);
}

/* A host whose node file defines @vm of @spec as strata would, in @runstate. */
static char *
node_with_managed_domain(const char *dir, const char *spec, const char *domain, int runstate)
{
	g_autofree char *node = g_build_filename(dir, "node.xml", NULL);
	g_autofree char *xml = NULL, *hash = NULL, *base = NULL, *tail = NULL;
	g_autoptr(spec_source) src = NULL;
	g_autoptr(desired_state) want = NULL;
	const desired_vm *vm;
	spec_diags diags;
	GString *g;

	spec_diags_init(&diags);
	src = spec_load(spec, &diags);
	spec_validate(src, &diags);
	assert_int_equal(diags.errors, 0);
	spec_diags_release(&diags);
	want = desired_build(src);
	vm = g_hash_table_lookup(want->vm_by_domain, domain);
	hash = desired_vm_hash(vm, "test");
	xml = domxml_domain(vm, "test", hash, "6a9c5a8e-1f0b-4c1e-9d2a-3b4c5d6e7f80", NULL);
	assert_true(g_file_get_contents("examples/minimal/hosts/node.xml", &base, NULL, NULL));
	g = g_string_new(base);
	g_string_replace(g, "</pool>", "<volume type=\"file\"><name>a.vm--system.qcow2</name>"
			 "<capacity unit=\"GiB\">2</capacity></volume></pool>", 1);
	tail = g_strdup_printf("<test:runstate>%d</test:runstate></domain>\n</node>", runstate);
	g_string_replace(g, "</node>", xml, 1);
	g_string_replace(g, "</domain>", tail, 1);
	g_string_replace(g, "<domain ", "<domain xmlns:test=\"http://libvirt.org/schemas/domain/test/1.0\" ", 1);
	tu_write(node, g->str);
	g_string_free(g, TRUE);
	return g_steal_pointer(&node);
}

/*
 * Found by fuzz_plan: a guest its own power management suspended to RAM
 * counts as paused, so stopping it began with a resume, which libvirt
 * refuses for it ("not paused"): the VM could never be stopped or removed.
 * It is powered off without a resume, at once (it would not see the power
 * button); a start wakes it (virDomainPMWakeup, which the test driver lacks).
 */
static void
test_apply__a_pmsuspended_vm_is_stopped_without_a_resume(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *spec = g_build_filename(dir, "s.yaml", NULL);
	g_autofree char *node = NULL, *text = NULL, *db = g_build_filename(dir, "h.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(obs_cache) cache = obs_cache_new();
	g_autoptr(spec_source) src = NULL;
	g_autoptr(host_set) hosts = NULL;
	pass_options o = { .path = spec, .connect = "test:///default" };
	const obs_domain *dom;
	spec_diags diags;
	history *hist;
	exec_options eo;
	pass p;

	(void)state;
	text = g_strdup_printf("kind: host\nname: pm\nuri: test://%s/node.xml\n---\n"
			       "kind: template\nname: t\npool: default\nvolume: debian-12.qcow2\n---\n"
			       "kind: appliance\nname: a\nvms:\n  - {name: vm, template: t, state: stopped}\n", dir);
	tu_write(spec, text);
	node = node_with_managed_domain(dir, spec, "a.vm", VIRT_DOM_PMSUSPENDED);
	spec_diags_init(&diags);
	src = spec_load(spec, &diags);
	spec_validate(src, &diags);
	spec_diags_release(&diags);
	hosts = hosts_open(src, "test:///default", false, HOSTS_CONNECT_DEADLINE_MS, &err);
	assert_true(pass_run(&p, &o, hosts, cache, &err));
	dom = g_hash_table_lookup(p.have->domain_by_name, "a.vm");
	assert_non_null(dom);
	assert_int_equal(dom->state, VIRT_DOM_PMSUSPENDED);
	assert_int_equal(p.plan->errors->len, 0);
	assert_null(find_op(p.plan, OP_RESUME, "a.vm"));
	assert_non_null(find_op(p.plan, OP_SHUTDOWN, "a.vm"));
	hist = history_open(db, &err);
	exec_options_init(&eo);  /* the default 60 s timeout: not waited for */
	assert_int_equal(exec_plan(p.plan, hosts, hist, history_run_begin(hist, "test", 0, &err),
				   cache, &eo, &err), EXEC_CONVERGED);
	pass_release(&p);
	assert_true(pass_run(&p, &o, hosts, cache, &err));
	assert_int_equal(p.plan->ops->len, 0);
	dom = g_hash_table_lookup(p.have->domain_by_name, "a.vm");
	assert_int_equal(dom->state, VIRT_DOM_SHUTOFF);
	pass_release(&p);
	history_close(hist);
	tu_rmtree(dir);
}

static void
test_safety__base_with_backing_file_outside_its_pool_is_refused(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *node = g_build_filename(dir, "evil.xml", NULL);
	g_autofree char *spec = g_build_filename(dir, "s.yaml", NULL);
	g_autofree char *text = NULL;
	pass_options o = { .path = spec, .connect = "test:///default" };
	g_autoptr(GError) err = NULL;
	pass p;

	(void)state;
	node_variant("examples/minimal/hosts/node.xml", node, "<name>debian-12.qcow2</name>",
		     "<name>debian-12.qcow2</name><backingStore><path>/etc/shadow</path>"
		     "<format type='raw'/></backingStore>", false);
	text = g_strdup_printf("kind: host\nname: evil\nuri: test://%s\n---\n"
			       "kind: template\nname: t\npool: default\nvolume: debian-12.qcow2\n---\n"
			       "kind: persistent-template\nname: p\nfrom: t\n---\n"
			       "kind: appliance\nname: a\nvms:\n  - {name: vm, template: t}\n"
			       "  - {name: db, persistent: p}\n", node);
	tu_write(spec, text);
	assert_true(pass_run(&p, &o, NULL, NULL, &err));
	assert_int_equal(p.plan->ops->len, 0);
	assert_int_equal(p.plan->errors->len, 2);
	assert_string_equal(p.plan->errors->pdata[0],
			    "no host can carry a.vm (evil: volume 'debian-12.qcow2' has a backing file outside pool 'default' (/etc/shadow))");
	pass_release(&p);
	tu_rmtree(dir);
}

/*
 * Found by fuzz_plan: a secondary disk in a pool no host has was planned
 * anyway, and its create-volume failed on every apply.  Placement now
 * wants every disk's pool, and a VM already deployed that gains such a
 * disk is refused with the reason.
 */
static void
test_place__a_disk_pool_the_host_lacks_is_refused_not_failed(void **state)
{
	dc *d = dc_new("kind: appliance\nname: q\nvms:\n"
		       "  - {name: vm, template: debian-12, disks: [{name: fast, size: 1GiB, pool: ssd}]}\n");
	const plan *p = dc_plan(d);

	(void)state;
	assert_int_equal(p->ops->len, 0);
	assert_int_equal(p->errors->len, 1);
	assert_string_equal(p->errors->pdata[0],
			    "no host can carry q.vm (hv1 has no pool 'ssd', hv2 has no pool 'ssd', hv3 has no pool 'ssd')");
	dc_spec(d, "kind: appliance\nname: q\nvms:\n  - {name: vm, template: debian-12}\n");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: q\nvms:\n"
		   "  - {name: vm, template: debian-12, disks: [{name: fast, size: 1GiB, pool: ssd}]}\n");
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 1);
	assert_non_null(strstr(p->errors->pdata[0], "q.vm: disk 'fast' goes in pool 'ssd', which hv"));
	dc_free(d);
}

static void
test_place__spread_and_pack(void **state)
{
	dc *d = dc_new("kind: appliance\nname: s\nvms:\n  - {name: a, template: debian-12}\n"
		       "  - {name: b, template: debian-12}\n---\n"
		       "kind: appliance\nname: p\nplacement: pack\nvms:\n  - {name: a, template: debian-12}\n"
		       "  - {name: b, template: debian-12}\n");
	const plan *p = dc_plan(d);

	(void)state;
	assert_string_not_equal(find_op(p, OP_DEFINE, "s.a")->host, find_op(p, OP_DEFINE, "s.b")->host);
	assert_string_equal(find_op(p, OP_DEFINE, "p.a")->host, find_op(p, OP_DEFINE, "p.b")->host);
	assert_non_null(strstr(find_op(p, OP_DEFINE, "p.b")->reason, "pack: the fullest host that fits"));
	dc_free(d);
}

static void
test_place__vcpus_count_against_capacity(void **state)
{
	dc *d = dc_new("kind: appliance\nname: c\nvms:\n  - {name: big, template: debian-12, cpus: 9}\n");
	const plan *p = dc_plan(d);

	(void)state;
	assert_int_equal(p->ops->len, 0);
	assert_string_equal(p->errors->pdata[0],
			    "no host can carry c.big (hv1 lacks vCPUs, hv2 lacks vCPUs, hv3 lacks vCPUs)");
	dc_free(d);
}

static void
test_place__layer_infeasible_on_the_live_hosts_is_one_error(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *node = g_build_filename(dir, "hv3.xml", NULL);
	g_autofree char *spec = g_build_filename(dir, "s.yaml", NULL);
	g_autofree char *text = NULL;
	pass_options o = { .path = spec, .connect = "test:///default" };
	g_autoptr(GError) err = NULL;
	pass p;

	(void)state;
	/* hv3 has no copy of the base image: validation cannot know that. */
	node_variant("examples/webstack/hosts/hv3.xml", node, "debian-12.qcow2", "other.qcow2", true);
	text = g_strdup_printf("kind: host\nname: hv1\nuri: test://" SRCDIR "/examples/webstack/hosts/hv1.xml\n---\n"
			       "kind: host\nname: hv2\nuri: test://" SRCDIR "/examples/webstack/hosts/hv2.xml\n---\n"
			       "kind: host\nname: hv3\nuri: test://%s\n---\n"
			       "kind: template\nname: t\npool: default\nvolume: debian-12.qcow2\n---\n"
			       "kind: appliance\nname: a\nlayers: [web]\nvms:\n"
			       "  - {name: w1, template: t, layer: web}\n  - {name: w2, template: t, layer: web}\n"
			       "  - {name: w3, template: t, layer: web}\n  - {name: solo, template: t}\n---\n"
			       "kind: appliance\nname: b\nvms:\n  - {name: other, template: t}\n", node);
	tu_write(spec, text);
	assert_true(pass_run(&p, &o, NULL, NULL, &err));
	assert_int_equal(p.plan->errors->len, 1);
	assert_string_equal(p.plan->errors->pdata[0],
			    "layer 'web' of appliance 'a' needs 3 distinct hosts, only 2 are eligible "
			    "(hv3 has no base volume 'debian-12.qcow2' in pool 'default', and no template says "
			    "where to copy it from (source: {host: ...}))");
	/* Appliance a is held whole (deployed together, never half); the
	 * rest of the fleet is planned and counted. */
	assert_null(find_op(p.plan, OP_DEFINE, "a.w1"));
	assert_null(find_op(p.plan, OP_DEFINE, "a.solo"));
	assert_non_null(find_op(p.plan, OP_DEFINE, "b.other"));
	assert_int_equal(p.plan->n_create, 1);
	assert_true(has_note(p.plan, "appliance 'a' is held back by the errors above"));
	pass_release(&p);
	tu_rmtree(dir);
}

/* The three hosts with hv3 in maintenance, then @appliances. */
static void
spec_with_maintenance(dc *d, const char *appliances)
{
	g_autofree char *text = g_strconcat(dc_base_spec, appliances, NULL);
	GString *g = g_string_new(text);

	g_string_replace(g, "hosts/hv3.xml\n", "hosts/hv3.xml\nmaintenance: true\n", 1);
	tu_write(d->spec, g->str);
	g_string_free(g, TRUE);
}

#define LOSS_HOST(n, extra) \
	"kind: host\nname: " n "\nuri: test://" SRCDIR "/examples/webstack/hosts/" n ".xml\n" extra "---\n"
#define LOSS_TEMPLATES \
	"kind: template\nname: debian-12\npool: default\nvolume: debian-12.qcow2\nmemory: 1GiB\n---\n" \
	"kind: persistent-template\nname: db-data\nfrom: debian-12\nsize: 20GiB\n---\n"
#define LOSS_APPS \
	"kind: appliance\nname: h\nvms:\n" \
	"  - {name: a, template: debian-12, restart: on-failure}\n" \
	"  - {name: n, template: debian-12, restart: never}\n" \
	"  - {name: p, persistent: db-data, restart: always}\n"

static void
test_place__lost_host_restarts_only_what_may_come_back(void **state)
{
	dc *d = dc_new("");
	host_conn *hv3;
	const plan *p;

	(void)state;
	/* Everything lands on hv3. */
	tu_write(d->spec, LOSS_HOST("hv1", "maintenance: true\n") LOSS_HOST("hv2", "maintenance: true\n")
		 LOSS_HOST("hv3", "") LOSS_TEMPLATES LOSS_APPS);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "h.p")->host->name, "hv3");
	/* hv3 dies with its disks out of reach: its connection is gone and
	 * cannot be made again. */
	hv3 = g_hash_table_lookup(d->hosts->by_name, "hv3");
	g_clear_pointer(&hv3->virt, virt_host_free);
	g_free(hv3->uri);
	hv3->uri = g_strdup("test:///nonexistent/hv3.xml");
	tu_write(d->spec, LOSS_HOST("hv1", "") LOSS_HOST("hv2", "") LOSS_HOST("hv3", "")
		 LOSS_TEMPLATES LOSS_APPS);
	/* Unreachable only: it may still run them; nothing is made. */
	p = dc_plan(d);
	assert_int_equal(p->ops->len, 0);
	assert_true(has_note(p, "h.a: not created while host hv3 is unreachable"));
	/* Declared lost: a comes back elsewhere on a fresh disk; n (never) and
	 * p (its data is on hv3) wait, and the plan says why. */
	tu_write(d->spec, LOSS_HOST("hv1", "") LOSS_HOST("hv2", "") LOSS_HOST("hv3", "state: lost\n")
		 LOSS_TEMPLATES LOSS_APPS);
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	assert_true(has_note(p, "h.n: waits: seen on no host that answers, host hv3 is lost, and its restart policy is never"));
	assert_true(has_note(p, "h.p: waits: its persistent volume default/persistent-db-data.qcow2 is on no host that answers"));
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		assert_string_equal(op->domain, "h.a");
		assert_string_not_equal(op->host, "hv3");
	}
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_non_null(dc_domain(d, "h.a"));
	assert_null(dc_domain(d, "h.n"));
	assert_null(dc_domain(d, "h.p"));
	assert_false(dc_has_volume(d, "hv1", "persistent-db-data.qcow2"));
	assert_false(dc_has_volume(d, "hv2", "persistent-db-data.qcow2"));
	dc_free(d);
}

static void
test_place__maintenance_moves_template_vms_away_one_copy_at_a_time(void **state)
{
	static const char *const app =
		"kind: appliance\nname: m\nplacement: pack\nvms:\n"
		"  - {name: x, template: debian-12}\n  - {name: y, template: debian-12}\n";
	dc *d = dc_new(app);
	const plan *p;
	const plan_op *undef, *def;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "m.x")->host->name, "hv3");  /* pack: the fullest */
	spec_with_maintenance(d, app);
	p = dc_plan(d);
	undef = find_op(p, OP_UNDEFINE, "m.x");
	def = find_op(p, OP_DEFINE, "m.x");
	assert_non_null(undef);
	assert_string_equal(undef->host, "hv3");
	assert_string_not_equal(def->host, "hv3");
	/* Never two copies: the new definition waits for the old one to go. */
	assert_true(depends_on(def, undef));
	assert_non_null(strstr(def->reason, "moved from hv3 (its host is in maintenance)"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	assert_string_not_equal(dc_domain(d, "m.x")->host->name, "hv3");
	assert_string_not_equal(dc_domain(d, "m.y")->host->name, "hv3");
	dc_free(d);
}

/* Whether a note of @p says @what. */
static bool
noted(const plan *p, const char *what)
{
	for (guint i = 0; i < p->notes->len; i++)
		if (strstr(p->notes->pdata[i], what))
			return true;
	return false;
}

/*
 * A VM with snapshots stays on a host in maintenance: libvirt migrates no
 * domain with snapshots, and a cold move would lose them.  The pass reads
 * the snapshots of a VM that may move (its definition is up to date: they
 * would not be read otherwise): a note, no op.  A snapshot taken after
 * the plan is caught by the move's first op, which checks before it runs:
 * it fails saying why, and nothing of the VM is touched.  Once the
 * snapshot is gone, the VM moves.
 */
static void
test_place__a_vm_with_snapshots_does_not_move(void **state)
{
	static const char *const app =
		"kind: appliance\nname: m\nplacement: pack\nvms:\n  - {name: x, template: debian-12}\n";
	dc *d = dc_new(app);
	host_conn *hv3 = g_hash_table_lookup(d->hosts->by_name, "hv3");
	g_autoptr(GError) err = NULL;
	g_autoptr(GPtrArray) snaps = NULL;
	const plan_op *first;
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "m.x")->host->name, "hv3");
	assert_true(virt_snapshot_create(hv3->virt, "m.x", "keep", "an operator's", &err));
	spec_with_maintenance(d, app);
	p = dc_plan(d);
	if (!noted(p, "m.x must move off hv3 (its host is in maintenance), but it has snapshots (keep)"))
		fail_msg("no note: %s", dc_plan_text(d));
	assert_int_equal(p->ops->len, 0);
	assert_int_equal(p->errors->len, 0);

	/* Planned while it had none; one is taken before the run. */
	assert_true(virt_snapshot_delete(hv3->virt, "m.x", "keep", &err));
	p = dc_plan(d);
	first = find_op(p, OP_SHUTDOWN, "m.x");
	assert_non_null(first);
	assert_true(first->moves_vm);
	assert_true(virt_snapshot_create(hv3->virt, "m.x", "late", "an operator's", &err));
	assert_int_equal(dc_apply_planned(d), EXEC_FAILED);
	first = find_op(d->last.plan, OP_SHUTDOWN, "m.x");
	assert_int_equal(first->status, OPST_FAILED);
	assert_non_null(strstr(first->error, "'m.x' has snapshots: it stays on its host"));
	assert_string_equal(dc_domain(d, "m.x")->host->name, "hv3");
	assert_int_equal(dc_domain(d, "m.x")->state, VIRT_DOM_RUNNING);
	assert_true(virt_snapshot_list(hv3->virt, "m.x", &snaps, &err));
	assert_int_equal(snaps->len, 1);
	assert_true(dc_has_volume(d, "hv3", "m.x--system.qcow2"));

	assert_true(virt_snapshot_delete(hv3->virt, "m.x", "late", &err));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_not_equal(dc_domain(d, "m.x")->host->name, "hv3");
	dc_free(d);
}

/* The MACs of @domain's NICs and its UUID, as its host defines it now. */
static GStrv
dom_nics(dc *d, const char *domain, char *uuid)
{
	const obs_domain *o = dc_domain(d, domain);
	host_conn *hc;
	g_autofree char *xml = NULL;
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	domxml_info info;

	assert_non_null(o);
	memcpy(uuid, o->uuid, 37);
	hc = g_hash_table_lookup(d->hosts->by_name, o->host->name);
	assert_true(virt_domain_xml(hc->virt, domain, true, &xml, NULL));
	assert_true(domxml_parse(xml, &info));
	for (guint i = 0; i < info.nics->len; i++) {
		const char *mac = strrchr(info.nics->pdata[i], ' ') + 1;

		assert_true(g_str_has_prefix(mac, "52:54:00:"));
		g_strv_builder_add(b, mac);
	}
	domxml_info_release(&info);
	return g_strv_builder_end(b);
}

/*
 * A NIC's MAC is made once and kept: libvirt gives an interface without
 * one a new address at every definition, and the guest then sees a new
 * NIC (its network configuration lost).  Through a redefinition with a
 * restart, a cold move to another host (UUID kept too), a NIC removed
 * before it, and a domain lost and made again from history.
 */
static void
test_nics__macs_and_uuid_survive_every_change(void **state)
{
	static const char *const fmt =
		"kind: appliance\nname: m\nplacement: pack\nvms:\n"
		"  - {name: x, template: debian-12, memory: %s, nics: [%s{network: default}]}\n";
	g_autofree char *v1 = g_strdup_printf(fmt, "1GiB", "{network: default}, ");
	g_autofree char *v2 = g_strdup_printf(fmt, "2GiB", "{network: default}, ");
	g_autofree char *v3 = g_strdup_printf(fmt, "2GiB", "");
	dc *d = dc_new(v1);
	char uuid0[37], uuid[37];
	g_auto(GStrv) macs0 = NULL, macs = NULL, last = NULL;
	g_autoptr(GHashTable) recorded = NULL;
	host_conn *hc;

	(void)state;
	d->use_history = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	macs0 = dom_nics(d, "m.x", uuid0);
	assert_int_equal(g_strv_length(macs0), 2);
	assert_string_not_equal(macs0[0], macs0[1]);
	/* Redefined (memory raised: a restart). */
	dc_spec(d, v2);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	macs = dom_nics(d, "m.x", uuid);
	assert_true(g_strv_equal((const char *const *)macs, (const char *const *)macs0));
	assert_string_equal(uuid, uuid0);
	/* Moved cold off its host (in maintenance). */
	assert_string_equal(dc_domain(d, "m.x")->host->name, "hv3");
	spec_with_maintenance(d, v2);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_not_equal(dc_domain(d, "m.x")->host->name, "hv3");
	g_strfreev(macs);
	macs = dom_nics(d, "m.x", uuid);
	assert_true(g_strv_equal((const char *const *)macs, (const char *const *)macs0));
	assert_string_equal(uuid, uuid0);
	/* The first NIC removed: NICs have no identity in a spec, so the one
	 * left is the first on its network, and has the first's address. */
	spec_with_maintenance(d, v3);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	g_strfreev(macs);
	macs = dom_nics(d, "m.x", uuid);
	assert_int_equal(g_strv_length(macs), 1);
	assert_string_equal(macs[0], macs0[0]);
	/* History has what was defined last. */
	recorded = history_nic_macs(d->hist);
	last = g_strdupv(g_hash_table_lookup(recorded, "m.x"));
	assert_non_null(last);
	assert_int_equal(g_strv_length(last), 1);
	assert_true(g_str_has_suffix(last[0], macs0[0]));
	/* The domain gone behind strata's back: made again, same address. */
	hc = g_hash_table_lookup(d->hosts->by_name, dc_domain(d, "m.x")->host->name);
	assert_true(virt_destroy(hc->virt, "m.x", NULL));
	assert_true(virt_undefine(hc->virt, "m.x", NULL));
	obs_cache_clear(d->cache);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	g_strfreev(macs);
	macs = dom_nics(d, "m.x", uuid);
	assert_string_equal(macs[0], macs0[0]);
	dc_free(d);
}

/*
 * The operator picks the host (CloudStack's manual migration): a VM that
 * names its host goes there, and moves when the name changes; a VM whose
 * host lacks a tag it now requires moves too.  The test driver cannot
 * migrate live: the moves here are cold (e2e migrates live).
 */
static void
test_place__the_operator_picks_the_host(void **state)
{
	dc *d = dc_new("kind: appliance\nname: o\nvms:\n  - {name: x, template: debian-12, host: hv2}\n");
	const plan *p;
	const plan_op *def;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "o.x")->host->name, "hv2");
	dc_spec(d, "kind: appliance\nname: o\nvms:\n  - {name: x, template: debian-12, host: hv3}\n");
	p = dc_plan(d);
	def = find_op(p, OP_DEFINE, "o.x");
	assert_non_null(def);
	assert_string_equal(def->host, "hv3");
	assert_non_null(strstr(def->reason, "moved from hv2 (the spec names another host)"));
	assert_true(depends_on(def, find_op(p, OP_UNDEFINE, "o.x")));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "o.x")->host->name, "hv3");
	dc_assert_no_changes(d);
	/* hv3 has no tag ssd: requiring it moves the VM to a host that has. */
	dc_spec(d, "kind: appliance\nname: o\nvms:\n  - {name: x, template: debian-12, requires: [ssd]}\n");
	p = dc_plan(d);
	def = find_op(p, OP_DEFINE, "o.x");
	assert_non_null(def);
	assert_non_null(strstr(def->reason, "(its host lacks a tag it requires)"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_not_equal(dc_domain(d, "o.x")->host->name, "hv3");
	dc_assert_no_changes(d);
	dc_free(d);
}

/* A NIC with a `mac` of its own never lends it to one without: reordered,
 * the two keep two addresses. */
static void
test_nics__an_explicit_mac_is_never_given_to_another_nic(void **state)
{
	dc *d = dc_new("kind: appliance\nname: m\nvms:\n  - {name: x, template: debian-12, nics: "
		       "[{network: default}, {network: default, mac: \"52:54:00:aa:bb:cc\"}]}\n");
	char uuid[37];
	g_auto(GStrv) before = NULL, after = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	before = dom_nics(d, "m.x", uuid);
	assert_string_equal(before[1], "52:54:00:aa:bb:cc");
	dc_spec(d, "kind: appliance\nname: m\nvms:\n  - {name: x, template: debian-12, nics: "
		   "[{network: default, mac: \"52:54:00:aa:bb:cc\"}, {network: default}]}\n");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	after = dom_nics(d, "m.x", uuid);
	assert_string_equal(after[0], "52:54:00:aa:bb:cc");
	assert_string_equal(after[1], before[0]);
	dc_free(d);
}

/* A pinned VM's host is taken first: its layer mates go elsewhere, where
 * spec order alone would have put one on it. */
static void
test_place__a_pinned_vm_takes_its_host_before_its_layer_mates(void **state)
{
	dc *d = dc_new("kind: appliance\nname: l\nlayers: [ha]\nplacement: pack\nvms:\n"
		       "  - {name: y, template: debian-12, layer: ha}\n  - {name: w, template: debian-12, layer: ha}\n"
		       "  - {name: x, template: debian-12, layer: ha, host: hv3}\n");
	const plan *p;

	(void)state;
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "l.x")->host->name, "hv3");
	assert_string_not_equal(dc_domain(d, "l.y")->host->name, "hv3");
	assert_string_not_equal(dc_domain(d, "l.w")->host->name, "hv3");
	dc_free(d);
}

/*
 * A host retagged under a VM that cannot move (its persistent volume is
 * there): a note, the VM stays, and the rest of its appliance is planned
 * as usual; a move the tags ask for never holds the appliance back.
 */
static void
test_place__a_tag_move_that_cannot_be_made_is_a_note(void **state)
{
	static const char *const apps =
		"kind: appliance\nname: r\nvms:\n  - {name: p, persistent: db-data, requires: [ssd], host: %s}\n"
		"  - {name: w, template: debian-12, memory: %s}\n";
	g_autofree char *v1 = g_strdup_printf(apps, "hv1", "1GiB");
	g_autofree char *text = NULL, *pinless = NULL;
	dc *d = dc_new(v1);
	const plan *p;
	GString *g;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "r.p")->host->name, "hv1");
	/* hv1 loses tag ssd; r.p is no longer pinned; r.w changes. */
	pinless = g_strdup("kind: appliance\nname: r\nvms:\n  - {name: p, persistent: db-data, requires: [ssd]}\n"
			   "  - {name: w, template: debian-12, memory: 2GiB}\n");
	text = g_strconcat(dc_base_spec, pinless, NULL);
	g = g_string_new(text);
	g_string_replace(g, "hosts/hv1.xml\ntags: [ssd]", "hosts/hv1.xml\ntags: [hdd]", 1);
	tu_write(d->spec, g->str);
	g_string_free(g, TRUE);
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	assert_true(has_note(p, "r.p must move off hv1 (its host lacks a tag it requires), but its persistent volume lives there"));
	assert_null(find_op(p, OP_UNDEFINE, "r.p"));
	assert_non_null(find_op(p, OP_DEFINE, "r.w"));
	dc_free(d);
}

static void
test_place__joining_a_layer_moves_the_later_vm(void **state)
{
	dc *d = dc_new("kind: appliance\nname: l\nplacement: pack\nvms:\n"
		       "  - {name: x, template: debian-12}\n  - {name: y, template: debian-12}\n");
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: l\nplacement: pack\nlayers: [ha]\nvms:\n"
		   "  - {name: x, template: debian-12, layer: ha}\n  - {name: y, template: debian-12, layer: ha}\n");
	p = dc_plan(d);
	assert_null(find_op(p, OP_UNDEFINE, "l.x"));
	assert_non_null(find_op(p, OP_UNDEFINE, "l.y"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	{
		/* Each dc_domain plans again: keep the first answer. */
		g_autofree char *hx = g_strdup(dc_domain(d, "l.x")->host->name);

		assert_string_not_equal(hx, dc_domain(d, "l.y")->host->name);
	}
	/* Renaming the layer changes nothing on the hosts. */
	dc_spec(d, "kind: appliance\nname: l\nplacement: pack\nlayers: [front]\nvms:\n"
		   "  - {name: x, template: debian-12, layer: front}\n  - {name: y, template: debian-12, layer: front}\n");
	dc_assert_no_changes(d);
	dc_free(d);
}

static void
test_place__moves_refused_for_data_and_for_disruption_never(void **state)
{
	static const char *const app =
		"kind: appliance\nname: r\nplacement: pack\nvms:\n  - {name: db, persistent: db-data}\n---\n"
		"kind: appliance\nname: n\nplacement: pack\ndisruption: never\nvms:\n  - {name: web, template: debian-12}\n";
	dc *d = dc_new(app);
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_string_equal(dc_domain(d, "r.db")->host->name, "hv3");
	assert_string_equal(dc_domain(d, "n.web")->host->name, "hv3");
	spec_with_maintenance(d, app);
	p = dc_plan(d);
	assert_int_equal(p->ops->len, 0);
	assert_int_equal(p->errors->len, 2);
	assert_string_equal(p->errors->pdata[0],
			    "r.db must move off hv3 (its host is in maintenance), but its persistent volume lives there; strata does not copy persistent volumes between hosts (if other hosts see pool 'default' as the same storage, declare it with kind: pool)");
	assert_string_equal(p->errors->pdata[1],
			    "n.web must move off hv3 (its host is in maintenance), and appliance 'n' sets disruption: never");
	dc_free(d);
}

static void
test_domxml__no_spec_value_adds_markup(void **state)
{
	desired_vm vm = { 0 };
	desired_disk sys = { .role = DISK_SYSTEM, .name = "system", .pool = "default",
			     .volume = "x.y--system.qcow2", .target = "vda" };
	g_autofree char *xml = NULL;
	domxml_info info;

	(void)state;
	vm.domain = "x.y";
	vm.appliance = "x";
	vm.vm = "y";
	vm.template = "t";
	vm.title = "</title><devices><disk type='file'/></devices><title>";
	vm.cpus = 1;
	vm.memory = 1 << 30;
	vm.disks = g_ptr_array_new();
	vm.nics = g_ptr_array_new();
	g_ptr_array_add(vm.disks, &sys);
	xml = domxml_domain(&vm, "kvm", "0123456789abcdef", NULL, NULL);
	assert_null(strstr(xml, "<disk type='file'"));
	assert_null(strstr(xml, "<disk type=\"file\""));
	assert_true(domxml_parse(xml, &info));
	assert_true(info.managed);
	assert_string_equal(info.hash, "0123456789abcdef");
	assert_int_equal(info.volumes->len, 1);
	domxml_info_release(&info);
	tu_assert_golden(xml, "tests/data/domxml/kvm-escaped-title.xml");
	g_ptr_array_unref(vm.disks);
	g_ptr_array_unref(vm.nics);
}

static void
test_domxml__golden_per_driver_type(void **state)
{
	static const char *const types[] = { "test", "qemu", "kvm" };
	g_autoptr(spec_source) src = NULL;
	g_autoptr(desired_state) want = NULL;
	spec_diags diags;

	(void)state;
	spec_diags_init(&diags);
	src = spec_load("examples/webstack", &diags);
	spec_validate(src, &diags);
	want = desired_build(src);
	for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
		desired_vm *vm = g_hash_table_lookup(want->vm_by_domain, "webstack.db");
		g_autofree char *hash = desired_vm_hash(vm, types[i]);
		g_autofree char *xml = domxml_domain(vm, types[i], hash, NULL, NULL);
		g_autofree char *golden = g_strdup_printf("tests/data/domxml/webstack-db-%s.xml", types[i]);

		tu_assert_golden(xml, golden);
	}
	spec_diags_release(&diags);
}

/* What a detach names: the device as the domain has it, without the
 * addresses and aliases the live and the inactive definition may give it
 * differently; nothing for a value that could reach into the XPath. */
static void
test_domxml__a_detach_finds_the_device_as_the_domain_has_it(void **state)
{
	static const char *const xml =
		"<domain><devices>"
		"<disk type='volume' device='disk'><source pool='p' volume='a.vm--data.qcow2'/>"
		"<target dev='vdb' bus='virtio'/><alias name='virtio-disk1'/>"
		"<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></disk>"
		"<interface type='network'><mac address='52:54:00:AB:cd:01'/><source network='n'/>"
		"<alias name='net0'/><address type='pci' slot='0x03'/></interface>"
		"<interface type='network'><mac address='52:54:00:00:00:02'/><source network='n'/></interface>"
		"<interface type='network'><mac address='52:54:00:00:00:02'/><source network='m'/></interface>"
		"</devices></domain>";
	g_autofree char *disk = domxml_find_device(xml, "vdb");
	g_autofree char *nic = domxml_find_device(xml, "52:54:00:ab:CD:01");

	(void)state;
	assert_non_null(disk);
	assert_non_null(strstr(disk, "volume=\"a.vm--data.qcow2\""));
	assert_null(strstr(disk, "address"));
	assert_null(strstr(disk, "alias"));
	assert_true(domxml_disk_is(disk, "p", "a.vm--data.qcow2"));
	assert_false(domxml_disk_is(disk, "p", "a.vm--logs.qcow2"));
	assert_non_null(nic);
	assert_non_null(strstr(nic, "52:54:00:AB:cd:01"));
	assert_null(strstr(nic, "address type"));
	assert_null(domxml_find_device(xml, "vdc"));
	assert_null(domxml_find_device(xml, "52:54:00:00:00:02"));  /* two: none */
	assert_null(domxml_find_device(xml, "vdb' or '1'='1"));
	assert_null(domxml_find_device(xml, ""));
}

/* A running domain differs from its definition in what only a boot
 * changes; devices in another order, or a balloon moved without a
 * maximum, are no difference. */
static void
test_domxml__restart_required_is_what_a_boot_would_change(void **state)
{
	static const char *const config =
		"<domain><memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>1048576</currentMemory>"
		"<vcpu current='2'>4</vcpu><devices>"
		"<disk type='volume' device='disk'><source pool='p' volume='s'/><target dev='vda'/></disk>"
		"<interface type='network'><mac address='52:54:00:00:00:01'/><source network='n'/></interface>"
		"<interface type='network'><mac address='52:54:00:00:00:02'/><source network='n'/></interface>"
		"</devices></domain>";
	static const char *const reordered =
		"<domain><memory unit='KiB'>2097152</memory><currentMemory unit='KiB'>1048576</currentMemory>"
		"<vcpu current='2'>4</vcpu><devices>"
		"<disk type='volume' device='disk'><source pool='p' volume='s'/><target dev='vda'/></disk>"
		"<interface type='network'><mac address='52:54:00:00:00:02'/><source network='n'/></interface>"
		"<interface type='network'><mac address='52:54:00:00:00:01'/><source network='n'/></interface>"
		"</devices></domain>";
	static const char *const more =
		"<domain><memory unit='KiB'>1048576</memory><vcpu current='3'>4</vcpu><devices>"
		"<disk type='volume' device='disk'><source pool='p' volume='s'/><target dev='vda'/></disk>"
		"<disk type='volume' device='disk'><source pool='p' volume='d'/><target dev='vdb'/></disk>"
		"</devices></domain>";
	domxml_info c, l;
	g_autofree char *same = NULL, *differs = NULL;

	(void)state;
	assert_true(domxml_parse(config, &c));
	assert_true(domxml_parse(reordered, &l));
	same = domxml_running_differs(&c, &l);
	assert_null(same);
	domxml_info_release(&l);
	assert_true(domxml_parse(more, &l));
	differs = domxml_running_differs(&c, &l);
	assert_string_equal(differs, "3 of at most 4 vCPUs running, 2 of at most 4 defined; its disks differ "
			    "from its definition's; its NICs differ from its definition's");
	domxml_info_release(&l);
	domxml_info_release(&c);
}

/*
 * A running domain's drive, console and boot order as libvirt's live XML
 * shows them (a port QEMU picked, the listen attribute beside the
 * element, a source index, a tray the guest opened) are what the
 * definition says; other media, console or boot order are not.
 */
static void
test_domxml__live_media_console_and_boot_order_read_as_defined(void **state)
{
#define DEV(cd, gfx, boot) \
	"<domain><vcpu>1</vcpu><memory unit='KiB'>1048576</memory><devices>" \
	"<disk type='volume' device='disk'><source pool='p' volume='s'/><target dev='vda'/>" boot "</disk>" \
	"<disk type='volume' device='cdrom'>" cd "<target dev='hdc' bus='ide'/><readonly/></disk>" gfx "</devices></domain>"
	static const char *const config =
		DEV("<source pool='p' volume='install.iso'/>",
		    "<graphics type='vnc' autoport='yes'><listen type='address' address='127.0.0.1'/></graphics>",
		    "<boot order='1'/>");
	static const char *const live =
		DEV("<source pool='p' volume='install.iso' index='2'/>",
		    "<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>"
		    "<listen type='address' address='127.0.0.1'/></graphics>",
		    "<boot order='1'/><alias name='virtio-disk0'/>");
	static const char *const tray_open =
		DEV("<source pool='p' volume='install.iso' index='2'/>",
		    "<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'/>", "<boot order='1'/>");
	static const char *const other =
		DEV("<source pool='p' volume='rescue.iso'/>", "<graphics type='spice' port='5902' listen='::1'/>", "");
	domxml_info c, l;
	g_autofree char *same = NULL, *same_open = NULL, *differs = NULL;
	unsigned port;
	g_autofree char *type = NULL, *address = NULL;

	(void)state;
	assert_true(domxml_parse(config, &c));
	assert_string_equal(c.cdrom, "p/install.iso");
	assert_string_equal(c.console, "vnc 127.0.0.1");
	assert_string_equal(c.boot, "disk");
	assert_true(domxml_parse(live, &l));
	same = domxml_running_differs(&c, &l);
	assert_null(same);
	domxml_info_release(&l);
	assert_true(domxml_parse(tray_open, &l));
	same_open = domxml_running_differs(&c, &l);
	assert_null(same_open);
	domxml_info_release(&l);
	assert_true(domxml_parse(other, &l));
	differs = domxml_running_differs(&c, &l);
	assert_string_equal(differs, "its CD-ROM holds p/rescue.iso, p/install.iso defined; its console is spice ::1 "
			    "running, vnc 127.0.0.1 defined; it booted in order , disk defined");
	domxml_info_release(&l);
	domxml_info_release(&c);
	/* A definition's port is -1 until QEMU picks one: no console yet. */
	assert_false(domxml_console(config, &type, &address, &port));
	assert_false(domxml_console("<domain><devices><graphics type='vnc' port='-1'/></devices></domain>",
				    &type, &address, &port));
	assert_true(domxml_console(live, &type, &address, &port));
	assert_string_equal(type, "vnc");
	assert_string_equal(address, "127.0.0.1");
	assert_int_equal(port, 5901);
#undef DEV
}

/* Targets are counted per bus, as libvirt names them past the 26th
 * (vdz, vdaa); a SCSI disk among virtio ones moves none of them, and the
 * definition names its controller. */
static void
test_desired__disk_targets_per_bus(void **state)
{
	g_autoptr(GString) yaml = g_string_new("kind: template\nname: t\npool: default\nvolume: b.qcow2\n---\n"
					       "kind: appliance\nname: a\nvms:\n  - name: vm\n    template: t\n"
					       "    disks:\n");
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *file = g_build_filename(dir, "spec.yaml", NULL);
	g_autoptr(spec_source) src = NULL;
	g_autoptr(desired_state) want = NULL;
	g_autofree char *xml = NULL;
	const desired_vm *vm;
	spec_diags diags;

	(void)state;
	for (int i = 0; i < 30; i++)
		g_string_append_printf(yaml, "      - {name: d%d, size: 1GiB%s}\n", i, i == 1 ? ", bus: scsi" : "");
	tu_write(file, yaml->str);
	spec_diags_init(&diags);
	src = spec_load(dir, &diags);
	spec_validate(src, &diags);
	assert_int_equal(diags.errors, 0);
	want = desired_build(src);
	vm = g_hash_table_lookup(want->vm_by_domain, "a.vm");
	assert_string_equal(((desired_disk *)vm->disks->pdata[0])->target, "vda");
	assert_string_equal(((desired_disk *)vm->disks->pdata[1])->target, "vdb");
	assert_string_equal(((desired_disk *)vm->disks->pdata[2])->target, "sda");
	assert_string_equal(((desired_disk *)vm->disks->pdata[3])->target, "vdc");
	assert_string_equal(((desired_disk *)vm->disks->pdata[26])->target, "vdz");
	assert_string_equal(((desired_disk *)vm->disks->pdata[27])->target, "vdaa");
	assert_string_equal(((desired_disk *)vm->disks->pdata[30])->target, "vdad");
	xml = domxml_domain(vm, "kvm", "h", NULL, NULL);
	assert_non_null(strstr(xml, "<target dev=\"sda\" bus=\"scsi\"/>"));
	assert_non_null(strstr(xml, "<controller type=\"scsi\" index=\"0\" model=\"virtio-scsi\"/>"));
	spec_diags_release(&diags);
	tu_rmtree(dir);
}

static void
note_done(const plan_op *op, guint done, guint total, gpointer user)
{
	(void)done;
	(void)total;
	if (op->status == OPST_DONE)
		g_ptr_array_add(user, g_strdup_printf("%s %s", op_kind_name(op->kind), op->domain));
}

/*
 * Waiting for a guest holds no worker: with one worker, a stop whose guest
 * takes 1.5 s to answer the button (the fault hook) and an independent
 * start: the start is done first.  When the stop's wait held the only
 * worker, the start came after it.
 */
static void
test_exec__a_stop_waiting_for_its_guest_holds_no_worker(void **state)
{
	dc *d = dc_new("kind: appliance\nname: w\nvms:\n"
		       "  - {name: x, template: debian-12}\n  - {name: y, template: debian-12, state: stopped}\n");
	g_autoptr(GPtrArray) order = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;
	exec_options eo;
	plan *p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: appliance\nname: w\nvms:\n"
		   "  - {name: x, template: debian-12, state: stopped}\n  - {name: y, template: debian-12}\n");
	p = (plan *)dc_plan(d);
	assert_int_equal(p->ops->len, 2);
	/* The worker takes the stop first: the start can only overtake it. */
	assert_int_equal(((plan_op *)p->ops->pdata[0])->kind, OP_SHUTDOWN);
	exec_options_init(&eo);
	eo.parallel = 1;
	eo.shutdown_timeout_ms = 10000;
	eo.progress = note_done;
	eo.progress_user = order;
	g_setenv("STRATA_INJECT", "stop-delay=1500", TRUE);
	assert_int_equal(exec_plan(p, d->hosts, d->hist, history_run_begin(d->hist, "test", 0, NULL),
				   d->cache, &eo, &err), EXEC_CONVERGED);
	g_unsetenv("STRATA_INJECT");
	assert_int_equal(order->len, 2);
	assert_string_equal(order->pdata[0], "start w.y");
	assert_string_equal(order->pdata[1], "shutdown w.x");
	dc_assert_no_changes(d);
	dc_free(d);
}


/* ---- shared storage against the test driver --------------------------- */

/* A test-driver node with a dir pool named default-pool, as test:///default has. */
static char *
node_with_default_pool(const char *dir)
{
	char *file = g_build_filename(dir, "node.xml", NULL);

	tu_write(file, "<node><cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>"
		       "<active>4</active></cpu><memory>8388608</memory>"
		       "<pool type='dir'><name>default-pool</name><capacity unit='GiB'>100</capacity>"
		       "<available unit='GiB'>100</available>"
		       "<target><path>/var/lib/strata-sim/peer</path></target></pool></node>");
	return file;
}

/* Hosts hv1 (test:///default) and hv2 (a node of its own), from a source
 * *@src the caller keeps while the hosts live (they borrow its documents). */
static host_set *
two_hosts(const char *dir, const char *extra, spec_source **src)
{
	g_autofree char *node = node_with_default_pool(dir);
	g_autofree char *text = g_strdup_printf("kind: host\nname: hv1\nuri: test:///default\n---\n"
						"kind: host\nname: hv2\nuri: test://%s\n---\n%s", node, extra);
	g_autofree char *spec = g_build_filename(dir, "spec.yaml", NULL);
	g_autoptr(GError) err = NULL;
	spec_diags diags;
	host_set *hosts;

	tu_write(spec, text);
	spec_diags_init(&diags);
	*src = spec_load(spec, &diags);
	spec_validate(*src, &diags);
	assert_int_equal(diags.errors, 0);
	spec_diags_release(&diags);
	hosts = hosts_open(*src, NULL, false, HOSTS_CONNECT_DEADLINE_MS, &err);
	assert_non_null(hosts);
	return hosts;
}

static virt_host *
conn_of(host_set *hosts, const char *name)
{
	return ((host_conn *)g_hash_table_lookup(hosts->by_name, name))->virt;
}

/* Whether a probe volume is left in @pool on @v. */
static bool
probe_left(virt_host *v, const char *pool)
{
	g_autoptr(GPtrArray) pools = NULL, vols = NULL;
	g_autoptr(GError) err = NULL;
	bool left = false;

	assert_true(virt_pool_refresh(v, pool, &err));
	assert_true(virt_list_pools(v, &pools, &vols, &err));
	for (guint i = 0; i < vols->len; i++)
		left |= g_str_has_prefix(((virt_vol *)vols->pdata[i])->name, SHARE_PROBE_PREFIX);
	return left;
}

/*
 * A pool declared shared by two hosts that do not see one storage: the
 * probe says so, naming the hosts, on every plan; its volume is gone from
 * both afterwards.
 */
static void
test_shared__a_declaration_the_probe_contradicts_is_an_error(void **state)
{
	dc *d = dc_new("kind: pool\nname: default\nhosts: [hv1, hv2]\nshared: true\n---\n"
		       "kind: appliance\nname: a\nvms:\n  - {name: w, template: debian-12}\n");
	const plan *p;

	(void)state;
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 1);
	assert_non_null(strstr(p->errors->pdata[0], "pool 'default' is declared shared by hv1,hv2, but a probe volume made through hv1 is not seen through hv2"));
	assert_false(probe_left(conn_of(d->hosts, "hv1"), "default"));
	assert_false(probe_left(conn_of(d->hosts, "hv2"), "default"));
	/* Said again on the next pass (from what is known: it is probed again
	 * 5 minutes later, in case a mount was fixed). */
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 1);
	dc_free(d);
}

/* Two connections to one test-driver node are two hosts that really see
 * one storage: the probe verifies the declaration, and a verified member
 * is not probed again on the same connection. */
static void
test_shared__a_declaration_the_probe_confirms_is_kept_per_connection(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autoptr(spec_source) src = NULL;
	host_set *hosts = two_hosts(dir, "kind: pool\nname: default-pool\nhosts: [hv1, hv2]\nshared: true\n", &src);
	host_conn *hv2 = g_hash_table_lookup(hosts->by_name, "hv2");
	g_autoptr(GError) err = NULL;
	g_autoptr(desired_state) want = NULL;
	g_autoptr(obs_cache) cache = obs_cache_new();
	observed *o;
	const char *why;
	unsigned before;

	(void)state;
	virt_host_free(hv2->virt);
	hv2->virt = virt_host_open("test:///default?as-hv2", false, &err);
	assert_non_null(hv2->virt);
	want = desired_build(src);
	o = observe(hosts, want, cache);
	assert_int_equal(obs_pool_shared(o, want, "default-pool", o->hosts->pdata[0], o->hosts->pdata[1], &why),
			 SHARE_YES);
	observed_free(o);
	before = hosts_calls(hosts);
	o = observe(hosts, want, cache);
	assert_int_equal(obs_pool_shared(o, want, "default-pool", o->hosts->pdata[0], o->hosts->pdata[1], &why),
			 SHARE_YES);
	observed_free(o);
	/* hv2 reconnects: its side is probed again (a create, refreshes, a
	 * delete: 11 calls for two members); the pass after that probes not. */
	{
		unsigned again = hosts_calls(hosts) - before, probed;

		virt_host_free(hv2->virt);
		hv2->virt = virt_host_open("test:///default?as-hv2-again", false, &err);
		before = hosts_calls(hosts);
		o = observe(hosts, want, cache);
		assert_int_equal(obs_pool_shared(o, want, "default-pool", o->hosts->pdata[0],
						 o->hosts->pdata[1], &why), SHARE_YES);
		observed_free(o);
		probed = hosts_calls(hosts) - before;
		assert_int_equal(probed, again + 11);
		before = hosts_calls(hosts);
		observed_free(observe(hosts, want, cache));
		assert_int_equal(hosts_calls(hosts) - before, again);
	}
	assert_false(probe_left(conn_of(hosts, "hv1"), "default-pool"));
	hosts_free(hosts);
	tu_rmtree(dir);
}

/* Delete @volume on hv1 as a move's old copy, the VM gone to @peer (or,
 * with @members, from a pool shared with those). */
static plan_op *
delete_on_hv1(plan *p, host_set *hosts, const char *dir, const char *volume, const char *peer,
	      const char *const *members)
{
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autoptr(GError) err = NULL;
	history *hist = history_open(db, &err);
	g_autoptr(obs_cache) cache = obs_cache_new();
	plan_op *op = plan_append_oneshot(p, OP_VOL_DELETE, "hv1", NULL, "the VM moved to another host");

	if (!hist)
		fail_msg("history: %s", err->message);
	exec_options eo;
	gint64 run;

	op->pool = g_strdup("default-pool");
	op->volume = g_strdup(volume);
	op->peer = g_strdup(peer);
	op->members = g_strdupv((char **)members);
	exec_options_init(&eo);
	run = history_run_begin(hist, "test", 0, &err);
	exec_plan(p, hosts, hist, run, cache, &eo, &err);
	history_close(hist);
	return op;
}

static bool
volume_there(virt_host *v, const char *volume)
{
	g_autoptr(GError) err = NULL;

	return virt_vol_exists(v, "default-pool", volume, &err) == 1;
}

/*
 * The last guard on a move's delete: the old host's copy goes only if the
 * two hosts do not see the pool as one storage.  Here they do, and nothing
 * declared it (two hypervisors mounting one NFS export at the same path,
 * with no kind: pool): the copy is the volume the VM now uses, and is kept.
 */
static void
test_shared__a_move_never_deletes_the_copy_its_target_sees(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autoptr(spec_source) src = NULL;
	host_set *hosts = two_hosts(dir, "", &src);
	host_conn *hv2 = g_hash_table_lookup(hosts->by_name, "hv2");
	g_autofree char *xml = domxml_volume("m.w--system.qcow2", 1 << 20, NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(plan) p = plan_new(), q = plan_new();
	plan_op *op;

	(void)state;
	/* Separate storage: the old copy is deleted. */
	assert_true(virt_vol_create(conn_of(hosts, "hv1"), "default-pool", xml, NULL, &err));
	op = delete_on_hv1(p, hosts, dir, "m.w--system.qcow2", "hv2", NULL);
	assert_int_equal(op->status, OPST_DONE);
	assert_false(volume_there(conn_of(hosts, "hv1"), "m.w--system.qcow2"));

	/* One storage: kept, and the op says why. */
	virt_host_free(hv2->virt);
	hv2->virt = virt_host_open("test:///default?as-hv2", false, &err);
	assert_non_null(hv2->virt);
	assert_true(virt_vol_create(conn_of(hosts, "hv1"), "default-pool", xml, NULL, &err));
	op = delete_on_hv1(q, hosts, dir, "m.w--system.qcow2", "hv2", NULL);
	assert_int_equal(op->status, OPST_FAILED);
	assert_non_null(strstr(op->error, "default-pool/m.w--system.qcow2 is kept: hv1 and hv2 see pool 'default-pool' as one storage"));
	assert_true(volume_there(conn_of(hosts, "hv1"), "m.w--system.qcow2"));
	assert_false(probe_left(conn_of(hosts, "hv1"), "default-pool"));
	assert_true(virt_vol_delete(conn_of(hosts, "hv1"), "default-pool", "m.w--system.qcow2", &err));
	hosts_free(hosts);
	tu_rmtree(dir);
}

/* What probes found outlives the process: a later run (a one-shot apply
 * after a host died) knows which members were seen sharing the pool, and
 * a standing refutation. */
static void
test_shared__what_probes_found_is_kept_in_history(void **state)
{
	static const char *const members[] = { "hv1", "hv2", NULL };
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autoptr(GError) err = NULL;
	g_autoptr(GHashTable) shares = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, share_state_free);
	history *hist = history_open(db, &err);
	share_state *s = share_state_new("san", members);

	(void)state;
	assert_non_null(hist);
	g_hash_table_add(s->ever, g_strdup("hv1"));
	g_hash_table_add(s->ever, g_strdup("hv2"));
	s->all_agreed = true;
	s->gen = 1;
	g_hash_table_insert(shares, g_strdup("san"), s);
	assert_true(history_shares_sync(hist, shares, &err));
	history_close(hist);

	hist = history_open(db, &err);
	s = share_state_new("san", members);  /* a new process knows nothing */
	g_hash_table_insert(shares, g_strdup("san"), s);
	assert_true(history_shares_sync(hist, shares, &err));
	assert_true(s->history);
	assert_int_equal(g_hash_table_size(s->ever), 2);
	assert_null(s->refuted);
	/* Refuted: the members seen before are void, the finding stays. */
	s->refuted = g_strdup("pool 'san' ... not seen through hv2");
	s->gen = 2;
	assert_true(history_shares_sync(hist, shares, &err));
	history_close(hist);
	hist = history_open(db, &err);
	s = share_state_new("san", members);
	g_hash_table_insert(shares, g_strdup("san"), s);
	assert_true(history_shares_sync(hist, shares, &err));
	assert_string_equal(s->refuted, "pool 'san' ... not seen through hv2");
	assert_int_equal(g_hash_table_size(s->ever), 0);
	/* Another declaration (the member list changed, in another order):
	 * the pool's refutation stands until a probe of every member agrees,
	 * and the members seen before under any declaration are void. */
	{
		static const char *const other[] = { "hv3", "hv1", NULL };
		share_state *o = share_state_new("san", other);

		g_hash_table_insert(shares, g_strdup("san"), o);
		assert_true(history_shares_sync(hist, shares, &err));
		assert_string_equal(o->declared, "hv1,hv3");
		assert_non_null(o->refuted);
		assert_int_equal(g_hash_table_size(o->ever), 0);
		g_clear_pointer(&o->refuted, g_free);
		g_hash_table_add(o->ever, g_strdup("hv1"));
		g_hash_table_add(o->ever, g_strdup("hv3"));
		o->all_agreed = true;
		o->gen = 99;
		assert_true(history_shares_sync(hist, shares, &err));
		assert_null(o->refuted);
	}
	history_close(hist);
	tu_rmtree(dir);
}

/*
 * On a pool declared shared, a volume is every member's: before it is
 * deleted through one, each other member is asked whether a domain there
 * uses it; a member not connected keeps it.  (Two connections to one node
 * stand for two hosts on one storage.)
 */
static void
test_shared__a_delete_on_a_shared_pool_asks_every_member(void **state)
{
	static const char *const hv2[] = { "hv2", NULL };
	g_autofree char *dir = tu_mkdtemp();
	g_autoptr(spec_source) src = NULL;
	host_set *hosts = two_hosts(dir, "", &src);
	host_conn *c2 = g_hash_table_lookup(hosts->by_name, "hv2");
	g_autofree char *xml = domxml_volume("s.w--data.qcow2", 1 << 20, NULL);
	g_autofree char *dom = g_strdup_printf(
		"<domain type='test'><name>rescue</name><memory>1024</memory><os><type>hvm</type></os>"
		"<devices><disk type='volume'><source pool='default-pool' volume='s.w--data.qcow2'/>"
		"<target dev='vda'/></disk></devices></domain>");
	g_autoptr(GError) err = NULL;
	g_autoptr(plan) p = plan_new(), q = plan_new();
	virt_host *away = c2->virt;
	plan_op *op;

	(void)state;
	assert_true(virt_vol_create(conn_of(hosts, "hv1"), "default-pool", xml, NULL, &err));
	c2->virt = NULL;  /* hv2 does not answer */
	op = delete_on_hv1(p, hosts, dir, "s.w--data.qcow2", NULL, hv2);
	assert_int_equal(op->status, OPST_FAILED);
	assert_non_null(strstr(op->error, "is kept: pool 'default-pool' is shared with hv2, which is not connected"));
	virt_host_free(away);
	c2->virt = virt_host_open("test:///default?as-hv2", false, &err);
	assert_non_null(c2->virt);
	assert_true(virt_define(c2->virt, dom, NULL, &err));
	op = delete_on_hv1(q, hosts, dir, "s.w--data.qcow2", NULL, hv2);
	assert_int_equal(op->status, OPST_FAILED);
	assert_non_null(strstr(op->error, "is kept: domain rescue on hv2, which shares pool 'default-pool', uses it now"));
	assert_true(volume_there(conn_of(hosts, "hv1"), "s.w--data.qcow2"));
	assert_true(virt_undefine(c2->virt, "rescue", &err));
	assert_true(virt_vol_delete(conn_of(hosts, "hv1"), "default-pool", "s.w--data.qcow2", &err));
	hosts_free(hosts);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exec__a_stop_waiting_for_its_guest_holds_no_worker),
		cmocka_unit_test(test_apply__fresh_deploy_converges_then_plans_nothing),
		cmocka_unit_test(test_plan__after_orders_starts_and_reverses_stops),
		cmocka_unit_test(test_plan__paused_vm_stopped_while_its_after_partner_restarts),
		cmocka_unit_test(test_plan__a_cycle_is_an_error_naming_its_vms_never_an_abort),
		cmocka_unit_test(test_plan__add_remove_rename_vm),
		cmocka_unit_test(test_apply__every_state_reaches_every_other),
		cmocka_unit_test(test_plan__resize_live_and_with_restart),
		cmocka_unit_test(test_plan__vcpus_and_memory_change_live_within_their_maxima),
		cmocka_unit_test(test_plan__disruption_never_waits_for_the_next_boot),
		cmocka_unit_test(test_plan__template_change_rebuilds_the_system_disk),
		cmocka_unit_test(test_persistent__volume_outlives_its_vm_and_serves_another_appliance),
		cmocka_unit_test(test_persistent__deleted_only_by_its_own_state),
		cmocka_unit_test(test_persistent__an_unlisted_pool_hides_nothing),
		cmocka_unit_test(test_persistent__moved_to_another_pool_is_refused_not_recreated),
		cmocka_unit_test(test_undeploy_redeploy__persistent_kept_template_disks_fresh),
		cmocka_unit_test(test_safety__unmanaged_domains_are_left_alone),
		cmocka_unit_test(test_plan__a_refusal_holds_back_its_appliance_only),
		cmocka_unit_test(test_plan__pmsuspended_wakes_up_io_error_pause_waits),
		cmocka_unit_test(test_plan__a_stop_shows_its_hard_power_off),
		cmocka_unit_test(test_virt__define_validates_against_the_schema),
		cmocka_unit_test(test_safety__a_volume_named_like_a_vms_disk_is_not_its),
		cmocka_unit_test(test_safety__a_disk_another_domain_uses_is_never_deleted),
		cmocka_unit_test(test_safety__a_disk_attached_by_hand_stays),
		cmocka_unit_test(test_safety__a_domain_on_two_hosts_is_named_on_both),
		cmocka_unit_test(test_safety__unreadable_capabilities_make_the_host_unknown),
		cmocka_unit_test(test_exec__a_refused_shutdown_is_an_error),
		cmocka_unit_test(test_safety__a_disk_used_since_the_plan_was_made_is_not_deleted),
		cmocka_unit_test(test_shared__a_declaration_the_probe_contradicts_is_an_error),
		cmocka_unit_test(test_shared__a_declaration_the_probe_confirms_is_kept_per_connection),
		cmocka_unit_test(test_shared__a_move_never_deletes_the_copy_its_target_sees),
		cmocka_unit_test(test_shared__what_probes_found_is_kept_in_history),
		cmocka_unit_test(test_shared__a_delete_on_a_shared_pool_asks_every_member),
		cmocka_unit_test(test_safety__the_last_guard_sees_paths_and_names_put_back),
		cmocka_unit_test(test_safety__removing_every_managed_vm_is_refused),
		cmocka_unit_test(test_safety__removing_most_of_the_fleet_waits_for_confirmation),
		cmocka_unit_test(test_exec__a_failing_op_skips_only_its_dependents),
		cmocka_unit_test(test_crash__between_intent_and_result_is_adopted),
		cmocka_unit_test(test_crash__a_vm_goes_where_the_crashed_run_sent_it),
		cmocka_unit_test(test_apply__a_pmsuspended_vm_is_stopped_without_a_resume),
		cmocka_unit_test(test_safety__base_with_backing_file_outside_its_pool_is_refused),
		cmocka_unit_test(test_place__a_disk_pool_the_host_lacks_is_refused_not_failed),
		cmocka_unit_test(test_place__spread_and_pack),
		cmocka_unit_test(test_place__vcpus_count_against_capacity),
		cmocka_unit_test(test_place__layer_infeasible_on_the_live_hosts_is_one_error),
		cmocka_unit_test(test_place__maintenance_moves_template_vms_away_one_copy_at_a_time),
		cmocka_unit_test(test_place__a_vm_with_snapshots_does_not_move),
		cmocka_unit_test(test_place__lost_host_restarts_only_what_may_come_back),
		cmocka_unit_test(test_place__joining_a_layer_moves_the_later_vm),
		cmocka_unit_test(test_place__the_operator_picks_the_host),
		cmocka_unit_test(test_nics__an_explicit_mac_is_never_given_to_another_nic),
		cmocka_unit_test(test_place__a_pinned_vm_takes_its_host_before_its_layer_mates),
		cmocka_unit_test(test_place__a_tag_move_that_cannot_be_made_is_a_note),
		cmocka_unit_test(test_nics__macs_and_uuid_survive_every_change),
		cmocka_unit_test(test_place__moves_refused_for_data_and_for_disruption_never),
		cmocka_unit_test(test_domxml__no_spec_value_adds_markup),
		cmocka_unit_test(test_domxml__golden_per_driver_type),
		cmocka_unit_test(test_desired__disk_targets_per_bus),
		cmocka_unit_test(test_domxml__a_detach_finds_the_device_as_the_domain_has_it),
		cmocka_unit_test(test_domxml__restart_required_is_what_a_boot_would_change),
		cmocka_unit_test(test_domxml__live_media_console_and_boot_order_read_as_defined),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("reconcile", tests, NULL, NULL);
}
