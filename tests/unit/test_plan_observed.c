/*
 * test_plan_observed.c - the planner from observed states written by hand
 *
 * Observed state is plain data (observe.h): no connection, no libvirt.  So
 * the states a test driver cannot produce — a guest that suspended itself
 * to RAM, a pause on an I/O error, a host that is KVM rather than plain
 * QEMU, a host that did not answer — are written here as they would be
 * observed, and the plan is checked against them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "testutil.h"
#include "../../reconciler/plan.h"

static const char *const spec_text =
	"kind: host\nname: hv1\nuri: test:///default\n---\n"
	"kind: host\nname: hv2\nuri: test:///other\n---\n"
	"kind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 512MiB\n---\n"
	"kind: appliance\nname: a\nvms:\n  - {name: vm, template: t}\n";

typedef struct {
	char *dir;
	spec_source *src;
	desired_state *want;
	observed *have;
} table;

static void
vol_add(obs_host *h, const char *name)
{
	virt_vol *v = g_new0(virt_vol, 1);

	v->pool = g_strdup("default");
	v->name = g_strdup(name);
	v->key = g_strdup_printf("/var/lib/libvirt/images/%s", name);
	g_ptr_array_add(h->vols, v);
	g_hash_table_insert(h->vol_by_key, g_strdup_printf("default/%s", name), v);
}

/* Host @name as observe would leave it: reachable (or not), with the
 * template's base in pool default, and nothing running. */
static obs_host *
host_add(table *t, const char *name, const char *type, bool reachable)
{
	obs_host *h = g_new0(obs_host, 1);
	virt_pool *pool = g_new0(virt_pool, 1);
	virt_vol_detail *base = g_new0(virt_vol_detail, 1);

	h->index = t->have->hosts->len;
	h->name = g_strdup(name);
	h->spec = g_hash_table_lookup(t->src->host_by_name, name);
	h->domain_type = reachable ? g_strdup(type) : NULL;
	h->error = reachable ? NULL : g_strdup("no answer within 60 s");
	h->reachable = reachable;
	h->refs_known = reachable;
	h->node = (virt_node){ .cpus = 16, .memory = 64ULL << 30, .free_memory = 64ULL << 30 };
	h->domains = g_ptr_array_new();
	h->pools = g_ptr_array_new_with_free_func(virt_pool_free);
	h->vols = g_ptr_array_new_with_free_func(virt_vol_free);
	h->vol_by_key = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	h->vols_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					   (GDestroyNotify)g_ptr_array_unref);
	h->users = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					 (GDestroyNotify)g_ptr_array_unref);
	h->details = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (reachable) {
		pool->name = g_strdup("default");
		pool->type = g_strdup("dir");
		pool->path = g_strdup("/var/lib/libvirt/images");
		pool->active = pool->listed = true;
		g_ptr_array_add(h->pools, pool);
		vol_add(h, "base.qcow2");
		base->capacity = 1ULL << 30;
		g_hash_table_insert(h->details, g_strdup("default/base.qcow2"), base);
	} else {
		virt_pool_free(pool);
		g_free(base);
	}
	g_ptr_array_add(t->have->hosts, h);
	return h;
}

/* VM a.vm on @h in @state (and @reason), defined by strata for a host of
 * type @defined_for, its system disk in pool default. */
static obs_domain *
vm_on(table *t, obs_host *h, int state, int reason, const char *defined_for)
{
	const desired_vm *vm = g_hash_table_lookup(t->want->vm_by_domain, "a.vm");
	obs_domain *d = g_new0(obs_domain, 1);
	g_autofree char *disk = desired_volume_name("a.vm", "system");
	g_autofree char *key = g_strdup_printf("default/%s", disk);
	GPtrArray *own = g_ptr_array_new();
	GPtrArray *users = g_ptr_array_new();

	d->name = g_strdup("a.vm");
	memcpy(d->uuid, "6b1e8f2a-0000-4000-8000-000000000001", 37);
	d->state = state;
	d->reason = reason;
	d->managed = true;
	d->appliance = g_strdup("a");
	d->vm = g_strdup("vm");
	d->hash = desired_vm_hash(vm, defined_for);
	d->template = g_strdup("t");
	d->volumes = g_new0(char *, 2);
	d->volumes[0] = g_strdup(key);
	d->refs_known = true;
	d->host = h;
	g_ptr_array_add(h->domains, d);
	g_hash_table_insert(t->have->domain_by_name, d->name, d);
	vol_add(h, disk);
	g_ptr_array_add(own, g_hash_table_lookup(h->vol_by_key, key));
	g_hash_table_insert(h->vols_of, g_strdup("a.vm"), own);
	g_ptr_array_add(users, d);
	g_hash_table_insert(h->users, g_strdup(key), users);
	return d;
}

static table *
table_new(void)
{
	table *t = g_new0(table, 1);
	g_autofree char *file = NULL;
	spec_diags diags;

	t->dir = tu_mkdtemp();
	file = g_build_filename(t->dir, "spec.yaml", NULL);
	tu_write(file, spec_text);
	spec_diags_init(&diags);
	t->src = spec_load(t->dir, &diags);
	spec_validate(t->src, &diags);
	assert_int_equal(diags.errors, 0);
	spec_diags_release(&diags);
	t->want = desired_build(t->src);
	t->have = g_new0(observed, 1);
	t->have->hosts = g_ptr_array_new();
	t->have->domain_by_name = g_hash_table_new(g_str_hash, g_str_equal);
	t->have->duplicates = g_ptr_array_new();
	return t;
}

static void
table_free(table *t)
{
	for (guint i = 0; i < t->have->hosts->len; i++) {
		obs_host *h = t->have->hosts->pdata[i];

		for (guint j = 0; j < h->domains->len; j++) {
			obs_domain *d = h->domains->pdata[j];

			g_free(d->name);
			g_free(d->appliance);
			g_free(d->vm);
			g_free(d->hash);
			g_free(d->template);
			g_strfreev(d->volumes);
			g_free(d);
		}
		g_ptr_array_unref(h->domains);
		g_ptr_array_unref(h->pools);
		g_hash_table_unref(h->vol_by_key);
		g_hash_table_unref(h->vols_of);
		g_hash_table_unref(h->users);
		g_hash_table_unref(h->details);
		g_ptr_array_unref(h->vols);
		g_free(h->name);
		g_free(h->domain_type);
		g_free(h->error);
		g_free(h);
	}
	g_ptr_array_unref(t->have->hosts);
	g_hash_table_unref(t->have->domain_by_name);
	g_ptr_array_unref(t->have->duplicates);
	g_free(t->have);
	desired_free(t->want);
	spec_source_free(t->src);
	tu_rmtree(t->dir);
	g_free(t->dir);
	g_free(t);
}

static plan *
plan_of(table *t)
{
	plan_options po = { 0 };

	return plan_build(t->want, t->have, &po);
}

static const char *
op_kinds(const plan *p)
{
	static char buf[512];

	buf[0] = '\0';
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		g_strlcat(buf, i ? " " : "", sizeof(buf));
		g_strlcat(buf, op_kind_name(op->kind), sizeof(buf));
	}
	return buf;
}

static bool
has_note(const plan *p, const char *text)
{
	for (guint i = 0; i < p->notes->len; i++)
		if (strstr(p->notes->pdata[i], text))
			return true;
	return false;
}

/* A guest that suspended itself to RAM is woken, not resumed (a resume
 * fails on every pass) and not restarted. */
static void
test_observed__a_guest_suspended_to_ram_is_woken(void **state)
{
	table *t = table_new();
	plan *p;

	(void)state;
	vm_on(t, host_add(t, "hv1", "kvm", true), VIRT_DOM_PMSUSPENDED, 0, "kvm");
	host_add(t, "hv2", "kvm", true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "pm-wakeup");
	plan_free(p);
	table_free(t);
}

/* Paused by an I/O error: reported, never resumed into the same error. */
static void
test_observed__a_pause_on_an_io_error_is_left_to_the_operator(void **state)
{
	table *t = table_new();
	plan *p;

	(void)state;
	vm_on(t, host_add(t, "hv1", "kvm", true), VIRT_DOM_PAUSED, VIRT_PAUSED_IOERROR, "kvm");
	host_add(t, "hv2", "kvm", true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_true(has_note(p, "a.vm: paused by an I/O error"));
	plan_free(p);
	table_free(t);
	/* An ordinary pause is resumed. */
	t = table_new();
	vm_on(t, host_add(t, "hv1", "kvm", true), VIRT_DOM_PAUSED, 1, "kvm");
	host_add(t, "hv2", "kvm", true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "resume");
	plan_free(p);
	table_free(t);
}

/* A VM paused because someone's start is under way is left alone: a
 * hold or a plan acting on "paused" would fight that start. */
static void
test_observed__a_vm_being_started_is_left_alone(void **state)
{
	table *t = table_new();
	plan *p;

	(void)state;
	vm_on(t, host_add(t, "hv1", "kvm", true), VIRT_DOM_PAUSED, VIRT_PAUSED_STARTING_UP, "kvm");
	host_add(t, "hv2", "kvm", true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_true(has_note(p, "a.vm: being started"));
	plan_free(p);
	table_free(t);
}

/* The host's domain type is part of the definition: one made for plain
 * QEMU on a host that is KVM is redefined (and restarted to take it). */
static void
test_observed__kvm_and_qemu_definitions_differ(void **state)
{
	table *t = table_new();
	plan *p;

	(void)state;
	vm_on(t, host_add(t, "hv1", "kvm", true), VIRT_DOM_RUNNING, 1, "kvm");
	host_add(t, "hv2", "kvm", true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	plan_free(p);
	table_free(t);
	t = table_new();
	vm_on(t, host_add(t, "hv1", "kvm", true), VIRT_DOM_RUNNING, 1, "qemu");
	host_add(t, "hv2", "kvm", true);
	p = plan_of(t);
	assert_non_null(strstr(op_kinds(p), "define"));
	for (guint i = 0; i < p->ops->len; i++)
		assert_string_equal(((plan_op *)p->ops->pdata[i])->host, "hv1");
	plan_free(p);
	table_free(t);
}

/* A host that did not answer (its listing failed, or it missed the
 * deadline) is unknown, never empty: a VM seen nowhere else is not made
 * again elsewhere while it may run there. */
static void
test_observed__a_host_that_did_not_answer_is_unknown_not_empty(void **state)
{
	table *t = table_new();
	plan *p;

	(void)state;
	host_add(t, "hv1", "kvm", false);
	host_add(t, "hv2", "kvm", true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_true(p->partial);
	assert_true(has_note(p, "host hv1 is unreachable (no answer within 60 s)"));
	assert_true(has_note(p, "a.vm: not created while host hv1 is unreachable"));
	plan_free(p);
	table_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observed__a_guest_suspended_to_ram_is_woken),
		cmocka_unit_test(test_observed__a_pause_on_an_io_error_is_left_to_the_operator),
		cmocka_unit_test(test_observed__a_vm_being_started_is_left_alone),
		cmocka_unit_test(test_observed__kvm_and_qemu_definitions_differ),
		cmocka_unit_test(test_observed__a_host_that_did_not_answer_is_unknown_not_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
