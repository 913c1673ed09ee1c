/*
 * test_snapshot.c - declared snapshots, reverts, and the disks they hold
 *
 * libvirt's test driver keeps snapshots (with the definition and state
 * each was taken in) and reverts to them, so the whole declare, take,
 * revert and delete cycle runs here for real; the bytes of a revert are
 * proved on QEMU by the end-to-end suite (tests/e2e/scenarios/snapshot.sh).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "recon.h"

#define VM(extra) "kind: appliance\nname: s\nvms:\n  - {name: a, template: debian-12" extra "}\n"

static virt_host *
host_of(dc *d, const char *domain)
{
	const obs_domain *o = dc_domain(d, domain);
	host_conn *c;

	assert_non_null(o);
	c = g_hash_table_lookup(d->hosts->by_name, o->host->name);
	assert_non_null(c);
	return c->virt;
}

static GPtrArray *
snapshots(dc *d, const char *domain)
{
	GPtrArray *list = NULL;
	g_autoptr(GError) err = NULL;

	if (!virt_snapshot_list(host_of(d, domain), domain, &list, &err))
		fail_msg("cannot list snapshots: %s", err->message);
	return list;
}

static const virt_snap *
find(const GPtrArray *list, const char *name)
{
	for (guint i = 0; i < list->len; i++)
		if (strcmp(((const virt_snap *)list->pdata[i])->name, name) == 0)
			return list->pdata[i];
	return NULL;
}

static void
assert_refused(dc *d, const char *what)
{
	const plan *p = dc_plan(d);

	for (guint i = 0; i < p->errors->len; i++)
		if (strstr(p->errors->pdata[i], what))
			return;
	fail_msg("no plan error says '%s' (%u errors)", what, p->errors->len);
}

/* A VM that exists, then declares @decl: converged. */
static dc *
vm_with(const char *decl)
{
	dc *d = dc_new(VM(""));

	d->use_history = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, decl);
	return d;
}

static void
test_snapshot__declared_ones_are_taken_once_and_deleted_when_undeclared(void **state)
{
	dc *d = vm_with(VM(", snapshots: [clean, before-upgrade]"));
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) after = NULL;
	const virt_snap *s;

	(void)state;
	dc_assert_plan_has(d, "snapshot-create s.a 'clean'");
	dc_assert_plan_has(d, "snapshot-create s.a 'before-upgrade'");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	list = snapshots(d, "s.a");
	assert_int_equal(list->len, 2);
	s = find(list, "clean");
	assert_non_null(s);
	assert_string_equal(s->description, VIRT_SNAP_DECLARED);
	assert_true(virt_snap_ours(s));
	dc_assert_no_changes(d);
	/* Dropped from the list: deleted, as data is, and said so. */
	dc_spec(d, VM(", snapshots: [clean]"));
	dc_assert_plan_has(d, "snapshot-delete s.a 'before-upgrade' on hv1  [destroys-data]");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	after = snapshots(d, "s.a");
	assert_int_equal(after->len, 1);
	assert_non_null(find(after, "clean"));
	dc_assert_no_changes(d);
	dc_free(d);
}

static void
test_snapshot__a_snapshot_taken_by_hand_is_never_deleted(void **state)
{
	dc *d = vm_with(VM(""));
	g_autoptr(GPtrArray) list = NULL;

	(void)state;
	assert_true(virt_snapshot_create(host_of(d, "s.a"), "s.a", "mine", "taken by an operator", NULL));
	/* A change that reads the snapshots: the operator's is not strata's. */
	dc_spec(d, VM(", snapshots: [ours]"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, VM(""));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	list = snapshots(d, "s.a");
	assert_int_equal(list->len, 1);
	assert_non_null(find(list, "mine"));
	dc_free(d);
}

static void
test_snapshot__a_revert_is_made_once_per_id(void **state)
{
	dc *d = vm_with(VM(", snapshots: [clean]"));
	const obs_domain *o;
	const plan *p;
	bool found = false;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	/* Something changes after the snapshot: the VM is stopped. */
	dc_spec(d, VM(", snapshots: [clean], state: stopped"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, VM(", snapshots: [clean], state: stopped, revert: {id: r1, snapshot: clean}"));
	p = dc_plan(d);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_SNAPSHOT_REVERT) {
			found = true;
			assert_int_equal(op->impact, IMPACT_DESTROYS_DATA);
			assert_string_equal(op->revert_id, "r1");
			assert_string_equal(op->snapshot, "clean");
		}
	}
	assert_true(found);
	assert_int_equal(dc_apply_planned(d), EXEC_CONVERGED);
	/* Back in the state it was taken in, then the declared one: off. */
	o = dc_domain(d, "s.a");
	assert_int_equal(o->state, VIRT_DOM_SHUTOFF);
	dc_assert_no_changes(d);
	/* The revision stays, and another change reads the VM's definition
	 * and snapshots again: history says r1 was made, never again. */
	dc_spec(d, VM(", snapshots: [clean], state: stopped, memory: 2GiB, revert: {id: r1, snapshot: clean}"));
	p = dc_plan(d);
	for (guint i = 0; i < p->ops->len; i++)
		assert_int_not_equal(((const plan_op *)p->ops->pdata[i])->kind, OP_SNAPSHOT_REVERT);
	assert_int_equal(dc_apply_planned(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	/* A new id reverts again. */
	dc_spec(d, VM(", snapshots: [clean], state: stopped, revert: {id: r2, snapshot: clean}"));
	dc_assert_plan_has(d, "snapshot-revert s.a to 'clean' (revert r2) on hv1  [destroys-data]");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_assert_no_changes(d);
	dc_free(d);
}

static void
test_snapshot__reverting_a_missing_or_foreign_snapshot_is_refused(void **state)
{
	dc *d = vm_with(VM(", snapshots: [clean], revert: {id: r1, snapshot: nope}"));

	(void)state;
	assert_refused(d, "revert 'r1' to snapshot 'nope' cannot be made: it has no snapshot 'nope' (it has: none)");
	assert_true(virt_snapshot_create(host_of(d, "s.a"), "s.a", "byhand", "an operator's", NULL));
	dc_spec(d, VM(", revert: {id: r1, snapshot: byhand}"));
	assert_refused(d, "snapshot 'byhand' was not taken by strata");
	dc_free(d);
}

static void
test_snapshot__a_running_vm_is_not_reverted_under_disruption_never(void **state)
{
	dc *d = dc_new("kind: appliance\nname: s\ndisruption: never\nvms:\n"
		       "  - {name: a, template: debian-12, snapshots: [clean]}\n");

	(void)state;
	d->use_history = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);  /* a new VM's snapshots: the next pass */
	dc_assert_no_changes(d);
	dc_spec(d, "kind: appliance\nname: s\ndisruption: never\nvms:\n"
		   "  - {name: a, template: debian-12, snapshots: [clean], revert: {id: r1, snapshot: clean}}\n");
	assert_refused(d, "sets disruption: never");
	dc_free(d);
}

static void
test_snapshot__disks_do_not_change_while_snapshots_exist(void **state)
{
	dc *d = vm_with(VM(", snapshots: [clean]"));
	g_autoptr(GPtrArray) list = NULL;
	const plan *p;
	guint del = 0, attach = 0;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, VM(", snapshots: [clean], disks: [{name: data, size: 1GiB}]"));
	assert_refused(d, "while it has snapshots (clean)");
	/* An operator's snapshot is never strata's to delete. */
	assert_true(virt_snapshot_create(host_of(d, "s.a"), "s.a", "mine", "an operator's", NULL));
	dc_spec(d, VM(", snapshots: [clean], on_disk_change: delete-snapshots, disks: [{name: data, size: 1GiB}]"));
	assert_refused(d, "snapshot 'mine' was not taken by strata, which deletes only its own");
	{
		GError *e = NULL;

		assert_true(virt_snapshot_delete(host_of(d, "s.a"), "s.a", "mine", &e));
	}
	/* Reverting in the revision that changes the disks: refused. */
	dc_spec(d, VM(", snapshots: [clean], revert: {id: r9, snapshot: clean}, disks: [{name: data, size: 1GiB}]"));
	assert_refused(d, "its disks change in the same revision");
	/* Allowed to let them go: deleted first, then the disk; the declared
	 * one is taken again, of the new disks, at the next pass. */
	dc_spec(d, VM(", snapshots: [clean], on_disk_change: delete-snapshots, disks: [{name: data, size: 1GiB}]"));
	p = dc_plan(d);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_SNAPSHOT_DELETE) {
			assert_int_equal(op->impact, IMPACT_DESTROYS_DATA);
			assert_int_equal(attach, 0);  /* before any change of the disks */
			del++;
		}
		if (op->kind == OP_VOL_CREATE || op->kind == OP_DEFINE || op->kind == OP_ATTACH)
			attach++;
	}
	assert_int_equal(del, 1);
	assert_true(attach > 0);
	assert_int_equal(dc_apply_planned(d), EXEC_CONVERGED);
	dc_assert_plan_has(d, "snapshot-create s.a 'clean'");
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	list = snapshots(d, "s.a");
	assert_int_equal(list->len, 1);
	dc_assert_no_changes(d);
	dc_free(d);
}

static void
test_snapshot__the_revert_is_recorded_in_history(void **state)
{
	dc *d = vm_with(VM(", snapshots: [clean]"));
	g_autoptr(GHashTable) done = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, VM(", snapshots: [clean], revert: {id: fix-1, snapshot: clean}"));
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	done = history_reverts_done(d->hist);
	assert_true(g_hash_table_contains(done, "s.a/fix-1"));
	assert_int_equal(g_hash_table_size(done), 1);
	dc_assert_no_changes(d);
	dc_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot__declared_ones_are_taken_once_and_deleted_when_undeclared),
		cmocka_unit_test(test_snapshot__a_snapshot_taken_by_hand_is_never_deleted),
		cmocka_unit_test(test_snapshot__a_revert_is_made_once_per_id),
		cmocka_unit_test(test_snapshot__reverting_a_missing_or_foreign_snapshot_is_refused),
		cmocka_unit_test(test_snapshot__a_running_vm_is_not_reverted_under_disruption_never),
		cmocka_unit_test(test_snapshot__disks_do_not_change_while_snapshots_exist),
		cmocka_unit_test(test_snapshot__the_revert_is_recorded_in_history),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
