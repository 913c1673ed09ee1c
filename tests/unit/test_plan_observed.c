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
#include "../../reconciler/domxml.h"
#include "../../reconciler/plan.h"
#include "../../reconciler/plan_show.h"

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
vol_in(obs_host *h, const char *pool, const char *name)
{
	virt_vol *v = g_new0(virt_vol, 1);

	v->pool = g_strdup(pool);
	v->name = g_strdup(name);
	v->key = g_strdup_printf("/var/lib/libvirt/%s/%s", pool, name);
	g_ptr_array_add(h->vols, v);
	g_hash_table_insert(h->vol_by_key, g_strdup_printf("%s/%s", pool, name), v);
}

/* A dir pool @name on @h, listed, with the template base in it. */
static void
pool_add(obs_host *h, const char *name)
{
	virt_pool *pool = g_new0(virt_pool, 1);
	virt_vol_detail *base = g_new0(virt_vol_detail, 1);

	pool->name = g_strdup(name);
	pool->type = g_strdup("dir");
	pool->path = g_strdup_printf("/var/lib/libvirt/%s", name);
	pool->active = pool->listed = pool->sized = true;
	pool->capacity = pool->available = 1ULL << 40;
	g_ptr_array_add(h->pools, pool);
	vol_in(h, name, "base.qcow2");
	base->capacity = 1ULL << 30;
	g_hash_table_insert(h->details, g_strdup_printf("%s/base.qcow2", name), base);
}

/* Host @name as observe would leave it: reachable (or not), with the
 * template's base in pool default, and nothing running. */
static obs_host *
host_add(table *t, const char *name, const char *type, bool reachable)
{
	obs_host *h = g_new0(obs_host, 1);

	h->index = t->have->hosts->len;
	h->serial = h->index + 1;
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
		pool_add(h, "default");
		pool_add(h, "san");
	}
	g_ptr_array_add(t->have->hosts, h);
	return h;
}

/* VM @domain on @h in @state (and @reason), defined by strata for a host
 * of type @defined_for, with its disks (listed on @h) as the spec says. */
static obs_domain *
vm_at(table *t, obs_host *h, const char *domain, int state, int reason, const char *defined_for)
{
	const desired_vm *vm = g_hash_table_lookup(t->want->vm_by_domain, domain);
	obs_domain *d = g_new0(obs_domain, 1);
	GPtrArray *own = g_ptr_array_new();

	d->name = g_strdup(domain);
	memcpy(d->uuid, "6b1e8f2a-0000-4000-8000-000000000001", 37);
	d->state = state;
	d->reason = reason;
	d->managed = true;
	d->appliance = g_strdup(vm->appliance);
	d->vm = g_strdup(vm->vm);
	d->hash = desired_vm_hash(vm, defined_for);
	d->template = g_strdup(vm->template);
	d->volumes = g_new0(char *, vm->disks->len + 1);
	d->refs_known = true;
	d->host = h;
	g_ptr_array_add(h->domains, d);
	g_hash_table_insert(t->have->domain_by_name, d->name, d);
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *disk = vm->disks->pdata[i];
		g_autofree char *key = g_strdup_printf("%s/%s", disk->pool, disk->volume);
		GPtrArray *users = g_ptr_array_new();

		d->volumes[i] = g_strdup(key);
		if (!g_hash_table_contains(h->vol_by_key, key))
			vol_in(h, disk->pool, disk->volume);
		if (disk->role != DISK_PERSISTENT)
			g_ptr_array_add(own, g_hash_table_lookup(h->vol_by_key, key));
		g_ptr_array_add(users, d);
		g_hash_table_insert(h->users, g_strdup(key), users);
	}
	g_hash_table_insert(h->vols_of, g_strdup(domain), own);
	return d;
}

static obs_domain *
vm_on(table *t, obs_host *h, int state, int reason, const char *defined_for)
{
	return vm_at(t, h, "a.vm", state, reason, defined_for);
}

static table *
table_new_from(const char *text)
{
	table *t = g_new0(table, 1);
	g_autofree char *file = NULL;
	spec_diags diags;

	t->dir = tu_mkdtemp();
	file = g_build_filename(t->dir, "spec.yaml", NULL);
	tu_write(file, text);
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

static table *
table_new(void)
{
	return table_new_from(spec_text);
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
			g_strfreev(d->nics);
			g_strfreev(d->disks);
			g_strfreev(d->released);
			g_free(d->title);
			g_free(d->restart_required);
			g_free(d->cdrom);
			g_free(d->console);
			g_free(d->boot);
			g_free(d->seed);
			g_free(d->console_verifier);
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
	g_clear_pointer(&t->have->shares, g_hash_table_unref);
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


/* ---- shared pools ------------------------------------------------------ */

/*
 * Three hosts; pool san declared shared by hv1 and hv2 (@declared), while
 * hv3 has a local pool of the same name and path.  hv1 carries @hv1 (extra
 * host keys); the appliance's VMs are @vms.
 */
static table *
shared_table(bool declared, const char *hv1, const char *vms)
{
	g_autofree char *text = g_strdup_printf(
		"kind: host\nname: hv1\nuri: test:///default\n%s---\n"
		"kind: host\nname: hv2\nuri: test:///a\n---\n"
		"kind: host\nname: hv3\nuri: test:///b\n---\n"
		"%s"
		"kind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 512MiB\n---\n"
		"kind: template\nname: ts\npool: san\nvolume: base.qcow2\nmemory: 512MiB\n---\n"
		"kind: persistent-template\nname: pdata\nfrom: ts\n---\n"
		"kind: appliance\nname: s\nvms:\n%s",
		hv1, declared ? "kind: pool\nname: san\nhosts: [hv1, hv2]\nshared: true\n---\n" : "", vms);

	return table_new_from(text);
}

/* What the probes found of pool san: @verified hosts seen together on
 * their present connections, or @refuted; @can_probe as observe sets it. */
static void
share_as(table *t, const char *const *verified, const char *refuted, bool can_probe)
{
	static const char *const members[] = { "hv1", "hv2", NULL };
	share_state *st = share_state_new("san", members);

	st->can_probe = can_probe;
	st->refuted = g_strdup(refuted);
	for (guint i = 0; verified && verified[i]; i++) {
		guint64 serial = observed_host(t->have, verified[i])->serial;

		g_hash_table_insert(st->serial, g_strdup(verified[i]), g_memdup2(&serial, sizeof(serial)));
	}
	t->have->shares = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, share_state_free);
	g_hash_table_insert(t->have->shares, g_strdup("san"), st);
}

static const char *const both[] = { "hv1", "hv2", NULL };

/* @h lists @domain's disks as well: it sees the same storage. */
static void
lists_disks(table *t, obs_host *h, const char *domain)
{
	const desired_vm *vm = g_hash_table_lookup(t->want->vm_by_domain, domain);

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		vol_in(h, d->pool, d->volume);
	}
}

static const plan_op *
op_of(const plan *p, op_kind kind)
{
	for (guint i = 0; i < p->ops->len; i++)
		if (((plan_op *)p->ops->pdata[i])->kind == kind)
			return p->ops->pdata[i];
	return NULL;
}

/* Maintenance on hv1: a running VM whose disks are on the verified shared
 * pool migrates live to hv2 with nothing copied, made or deleted, even
 * though hv3 has more room (its san is other storage). */
/* The VM of spec @old (appliance a, one VM) as strata defined it for a KVM
 * host, read back from that XML as the observer reads it, on @h of @t. */
static void
give_password(table *t, const char *password)
{
	desired_vm *vm = g_hash_table_lookup(t->want->vm_by_domain, "a.vm");

	if (!password)
		return;
	vm->console_password = g_strdup(password);
	vm->console_verifier = desired_console_verifier(vm->domain, password);
}

static obs_domain *
vm_defined_with(table *t, obs_host *h, const char *old, int state, const char *password)
{
	table *was = table_new_from(old);
	const desired_vm *vm = g_hash_table_lookup(was->want->vm_by_domain, "a.vm");
	GStrv macs = g_new0(char *, vm->nics->len + 1);
	g_autofree char *hash = NULL;
	g_autofree char *xml = NULL;
	domxml_info info;
	obs_domain *d;
	GStrv v;

	give_password(was, password);
	hash = desired_vm_hash(vm, "kvm");
	for (guint i = 0; i < vm->nics->len; i++)
		macs[i] = g_strdup_printf("52:54:00:00:00:%02x", i + 1);
	xml = domxml_domain(vm, "kvm", hash, "6b1e8f2a-0000-4000-8000-000000000001", (const char *const *)macs);
	g_strfreev(macs);
	assert_true(domxml_parse(xml, &info));
	d = g_new0(obs_domain, 1);
	d->name = g_strdup("a.vm");
	memcpy(d->uuid, "6b1e8f2a-0000-4000-8000-000000000001", 37);
	d->state = state;
	d->reason = 1;
	d->managed = true;
	d->appliance = g_strdup("a");
	d->vm = g_strdup("vm");
	d->template = g_strdup(info.template);
	d->refs_known = true;
	d->host = h;
	g_ptr_array_add(h->domains, d);
	g_hash_table_insert(t->have->domain_by_name, d->name, d);
	g_hash_table_insert(h->vols_of, g_strdup("a.vm"), g_ptr_array_new());
	d->hash = g_strdup(info.hash);
	d->detailed = true;
	d->snaps = g_ptr_array_new_with_free_func(virt_snap_free);  /* read with it: none */
	d->cpus = info.cpus;
	d->memory = info.memory;
	d->max_cpus = info.max_cpus;
	d->max_memory = info.max_memory;
	d->title = g_strdup(info.title);
	d->cdrom = g_strdup(info.cdrom);
	d->console = g_strdup(info.console);
	d->boot = g_strdup(info.boot);
	d->seed = g_strdup(info.seed);
	d->reset_on_reboot = info.reset_on_reboot;
	d->console_verifier = g_strdup(info.console_verifier);
	g_ptr_array_add(info.nics, NULL);
	d->nics = g_strdupv((char **)info.nics->pdata);
	g_ptr_array_add(info.disks, NULL);
	d->disks = g_strdupv((char **)info.disks->pdata);
	/* The volumes it used, listed on the host and as its own. */
	d->volumes = g_new0(char *, info.volumes->len + 1);
	for (guint i = 0; i < info.volumes->len; i++) {
		const char *key = info.volumes->pdata[i];
		GPtrArray *own = g_hash_table_lookup(h->vols_of, "a.vm");
		const virt_vol *vol;

		d->volumes[i] = g_strdup(key);
		if (!g_hash_table_contains(h->vol_by_key, key)) {
			v = g_strsplit(key, "/", 2);
			vol_in(h, v[0], v[1]);
			g_strfreev(v);
		}
		vol = g_hash_table_lookup(h->vol_by_key, key);
		/* Its own by name, as the observer counts them: an image in its
		 * CD-ROM drive is used, not owned. */
		if (desired_volume_owned_by(vol->name, "a.vm") && !g_ptr_array_find(own, vol, NULL))
			g_ptr_array_add(own, (gpointer)vol);
		if (!g_hash_table_contains(h->users, key)) {
			GPtrArray *users = g_ptr_array_new();

			g_ptr_array_add(users, d);
			g_hash_table_insert(h->users, g_strdup(key), users);
		}
	}
	domxml_info_release(&info);
	table_free(was);
	return d;
}

static obs_domain *
vm_defined_from(table *t, obs_host *h, const char *old, int state)
{
	return vm_defined_with(t, h, old, state, NULL);
}

static char *
shown(const plan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	plan_show(f, OUTPUT_TEXT, p);
	fclose(f);
	return buf;
}

#define LIVE_VM(disp, extra) \
	"kind: host\nname: hv1\nuri: test:///default\n---\n" \
	"kind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 512MiB\n---\n" \
	"kind: appliance\nname: a\ndisruption: " disp "\nvms:\n  - {name: vm, template: t, max_cpus: 4, " \
	"max_memory: 2GiB, " extra "}\n"

/*
 * Golden plans for every class of change to a VM that runs on a KVM host:
 * live (devices attached and detached, a disk grown, vCPUs added), next
 * boot (a NIC moved to another network: a restart where the appliance
 * allows it, the definition alone and "restart required" where it does
 * not), refused (a disk shrunk), and a grow on a VM shut off.
 */
static void
test_observed__every_class_of_change_has_its_plan(void **state)
{
	static const struct {
		const char *name, *from, *to;
		int state;
	} cases[] = {
		{ "live: a disk and a NIC attached, a disk grown, vCPUs added",
		  LIVE_VM("allowed", "cpus: 1, disks: [{name: data, size: 1GiB}]"),
		  LIVE_VM("allowed", "cpus: 2, disks: [{name: data, size: 2GiB}, {name: logs, size: 1GiB}], "
				     "nics: [{network: default}]"), VIRT_DOM_RUNNING },
		{ "live: a disk and a NIC detached",
		  LIVE_VM("allowed", "cpus: 1, disks: [{name: data, size: 1GiB}, {name: logs, size: 1GiB}], "
				     "nics: [{network: default}, {network: backup}]"),
		  LIVE_VM("allowed", "cpus: 1, disks: [{name: data, size: 1GiB}], nics: [{network: default}]"),
		  VIRT_DOM_RUNNING },
		{ "next boot, disruption allowed: restarted",
		  LIVE_VM("allowed", "cpus: 1, nics: [{network: default}]"),
		  LIVE_VM("allowed", "cpus: 1, nics: [{network: backup, mac: '52:54:00:00:00:01'}]"),
		  VIRT_DOM_RUNNING },
		{ "next boot, disruption never: the definition alone, restart required",
		  LIVE_VM("never", "cpus: 1, nics: [{network: default}]"),
		  LIVE_VM("never", "cpus: 1, disks: [{name: data, size: 1GiB}], "
				   "nics: [{network: backup, mac: '52:54:00:00:00:01'}]"), VIRT_DOM_RUNNING },
		{ "refused: a disk shrunk",
		  LIVE_VM("allowed", "cpus: 1, disks: [{name: data, size: 2GiB}]"),
		  LIVE_VM("allowed", "cpus: 1, disks: [{name: data, size: 1GiB}]"), VIRT_DOM_RUNNING },
		{ "a disk dropped from the middle, disruption never: the dropped one detached, the other "
		  "moves at the next boot",
		  LIVE_VM("never", "cpus: 1, disks: [{name: data, size: 1GiB}, {name: logs, size: 1GiB}]"),
		  LIVE_VM("never", "cpus: 1, disks: [{name: logs, size: 1GiB}]"), VIRT_DOM_RUNNING },
		{ "paused, disruption never: a detach waits for the next boot (the guest cannot answer)",
		  LIVE_VM("never", "cpus: 1, state: paused, disks: [{name: data, size: 1GiB}]"),
		  LIVE_VM("never", "cpus: 1, state: paused"), VIRT_DOM_PAUSED },
		{ "to be stopped: no live change first, the definition once it is off",
		  LIVE_VM("allowed", "cpus: 1"),
		  LIVE_VM("allowed", "cpus: 2, state: stopped, disks: [{name: data, size: 1GiB}]"), VIRT_DOM_RUNNING },
		{ "to be stopped, disruption never: the stop the spec asks for, then the definition",
		  LIVE_VM("never", "cpus: 1"),
		  LIVE_VM("never", "cpus: 2, state: stopped"), VIRT_DOM_RUNNING },
		{ "shut off: the volume grown, then the definition",
		  LIVE_VM("allowed", "cpus: 1, state: stopped, disks: [{name: data, size: 1GiB}]"),
		  LIVE_VM("allowed", "cpus: 1, state: stopped, disks: [{name: data, size: 3GiB}]"),
		  VIRT_DOM_SHUTOFF },
	};
	g_autoptr(GString) all = g_string_new(NULL);

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		table *t = table_new_from(cases[i].to);
		g_autofree char *text = NULL;
		plan *p;

		vm_defined_from(t, host_add(t, "hv1", "kvm", true), cases[i].from, cases[i].state);
		p = plan_of(t);
		text = shown(p);
		g_string_append_printf(all, "## %s\n%s", cases[i].name, text);
		plan_free(p);
		table_free(t);
	}
	tu_assert_golden(all->str, "tests/data/plan/live-change-classes.plan");
}

#define CD_VM(disp, extra) \
	"kind: host\nname: hv1\nuri: test:///default\n---\n" \
	"kind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 512MiB\n---\n" \
	"kind: appliance\nname: a\ndisruption: " disp "\nvms:\n  - {name: vm, template: t" extra "}\n"
#define CD(more) ", cdrom: {pool: default, volume: installer.iso" more "}"

/*
 * Golden plans for the CD-ROM drive, the console and the boot order on a
 * KVM host: media ejected or swapped live (the image stays: it is the
 * operator's), a console and a drive at the next boot, a boot order under
 * disruption: never (the definition alone), an image the host lacks
 * (refused), and nothing to do once they match.
 */
static void
test_observed__media_console_and_boot_order_have_their_plans(void **state)
{
	static const struct {
		const char *name, *from, *to;
		int state;
		const char *restart_required;
	} cases[] = {
		{ "paused: the disc ejected live (QEMU changes media on a paused VM)",
		  CD_VM("allowed", CD("") ", state: paused"), CD_VM("allowed", CD(", ejected: true") ", state: paused"),
		  VIRT_DOM_PAUSED, NULL },
		{ "running unlike its definition, disruption never: the eject waits for the boot",
		  CD_VM("never", CD("")), CD_VM("never", CD(", ejected: true")), VIRT_DOM_RUNNING,
		  "it booted in order disk,cdrom, disk defined" },
		{ "running: the disc ejected live",
		  CD_VM("allowed", CD("")), CD_VM("allowed", CD(", ejected: true")), VIRT_DOM_RUNNING, NULL },
		{ "running: another disc put in live",
		  CD_VM("allowed", CD("")), CD_VM("allowed", ", cdrom: {pool: default, volume: rescue.iso}"),
		  VIRT_DOM_RUNNING, NULL },
		{ "running: a drive, a console and a boot order added: restarted",
		  CD_VM("allowed", ""), CD_VM("allowed", CD("") ", boot: [cdrom, disk], console: {type: vnc}"),
		  VIRT_DOM_RUNNING, NULL },
		{ "running, disruption never: a new boot order with an eject, in the definition alone",
		  CD_VM("never", CD("") ", boot: [cdrom, disk]"),
		  CD_VM("never", CD(", ejected: true") ", boot: [disk, cdrom]"), VIRT_DOM_RUNNING, NULL },
		{ "shut off: a console moved to another address, in the definition",
		  CD_VM("allowed", ", state: stopped, console: {type: vnc}"),
		  CD_VM("allowed", ", state: stopped, console: {type: vnc, listen: 10.0.0.5}"), VIRT_DOM_SHUTOFF, NULL },
		{ "an image the host lacks: refused",
		  CD_VM("allowed", ""), CD_VM("allowed", ", cdrom: {pool: default, volume: missing.iso}"),
		  VIRT_DOM_RUNNING, NULL },
		{ "as declared: nothing to do",
		  CD_VM("allowed", CD("") ", boot: [cdrom, disk], console: {type: spice}"),
		  CD_VM("allowed", CD("") ", boot: [cdrom, disk], console: {type: spice}"), VIRT_DOM_RUNNING, NULL },
	};
	g_autoptr(GString) all = g_string_new(NULL);

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		table *t = table_new_from(cases[i].to);
		obs_host *h = host_add(t, "hv1", "kvm", true);
		g_autofree char *text = NULL;
		plan *p;

		vol_in(h, "default", "rescue.iso");
		vm_defined_from(t, h, cases[i].from, cases[i].state)->restart_required =
			g_strdup(cases[i].restart_required);
		if (!obs_host_has_volume(h, "default", "installer.iso"))
			vol_in(h, "default", "installer.iso");
		p = plan_of(t);
		text = shown(p);
		g_string_append_printf(all, "## %s\n%s", cases[i].name, text);
		/* The image is never the VM's to delete. */
		for (guint j = 0; j < p->ops->len; j++)
			assert_int_not_equal(((const plan_op *)p->ops->pdata[j])->kind, OP_VOL_DELETE);
		plan_free(p);
		table_free(t);
	}
	tu_assert_golden(all->str, "tests/data/plan/media-console-boot.plan");
}

#define SEED(user) ", cloud_init: {user_data: \"#cloud-config\\nhostname: " user "\\n\"}"

/*
 * Golden plans for first-boot data on a KVM host: the seed written before
 * the definition of a new VM; data changed (the seed rewritten, the
 * definition: no restart, the guest reads it at its next boot); a drive
 * added (a restart, or the definition alone under disruption: never); the
 * volume deleted by hand (written again, nothing else); the data dropped
 * (the drive at the next boot, the volume after the definition); an
 * undeploy (the volume goes with the VM).
 */
static void
test_observed__first_boot_data_has_its_plans(void **state)
{
	static const struct {
		const char *name, *from, *to;
		int state;
		bool lost;
	} cases[] = {
		{ "a new VM: its seed, then its definition", NULL, CD_VM("allowed", SEED("a")), 0, false },
		{ "running: the user data changed: the seed rewritten and the definition, no restart",
		  CD_VM("allowed", SEED("a")), CD_VM("allowed", SEED("b")), VIRT_DOM_RUNNING, false },
		{ "running: first-boot data added: the seed, then a restart for its drive",
		  CD_VM("allowed", ""), CD_VM("allowed", SEED("a")), VIRT_DOM_RUNNING, false },
		{ "running, disruption never: first-boot data added: the seed and the definition alone",
		  CD_VM("never", ""), CD_VM("never", SEED("a")), VIRT_DOM_RUNNING, false },
		{ "running: the seed volume deleted by hand: written again, nothing else",
		  CD_VM("allowed", SEED("a")), CD_VM("allowed", SEED("a")), VIRT_DOM_RUNNING, true },
		{ "shut off: the data changed: the seed, then the definition",
		  CD_VM("allowed", ", state: stopped" SEED("a")), CD_VM("allowed", ", state: stopped" SEED("b")),
		  VIRT_DOM_SHUTOFF, false },
		{ "running: first-boot data dropped: restarted without the drive, then the volume deleted",
		  CD_VM("allowed", SEED("a")), CD_VM("allowed", ""), VIRT_DOM_RUNNING, false },
		{ "undeployed: the seed volume goes with the VM",
		  CD_VM("allowed", SEED("a")), CD_VM("allowed", ", state: undeployed" SEED("a")), VIRT_DOM_RUNNING,
		  false },
		{ "as declared: nothing to do", CD_VM("allowed", SEED("a")), CD_VM("allowed", SEED("a")),
		  VIRT_DOM_RUNNING, false },
	};
	g_autoptr(GString) all = g_string_new(NULL);

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		table *t = table_new_from(cases[i].to);
		obs_host *h = host_add(t, "hv1", "kvm", true);
		g_autofree char *text = NULL;
		plan *p;

		if (!obs_host_has_volume(h, "default", "base.qcow2"))
			vol_in(h, "default", "base.qcow2");
		if (cases[i].from)
			vm_defined_from(t, h, cases[i].from, cases[i].state);
		if (cases[i].lost) {
			g_hash_table_remove(h->vol_by_key, "default/a.vm--cidata.iso");
			g_ptr_array_set_size(g_hash_table_lookup(h->vols_of, "a.vm"), 0);
		}
		p = plan_of(t);
		text = shown(p);
		g_string_append_printf(all, "## %s\n%s", cases[i].name, text);
		/* Only an undeploy or a drop deletes it; nothing else is deleted
		 * but by the undeploy. */
		for (guint j = 0; j < p->ops->len; j++) {
			const plan_op *op = p->ops->pdata[j];

			if (op->kind == OP_VOL_DELETE && !strstr(cases[i].to, "undeployed"))
				assert_string_equal(op->volume, "a.vm--cidata.iso");
			if (op->kind == OP_SEED) {
				assert_non_null(op->seed[SEED_USER_DATA]);
				assert_non_null(op->seed[SEED_META_DATA]);
				assert_null(op->seed[SEED_NETWORK_CONFIG]);
			}
		}
		plan_free(p);
		table_free(t);
	}
	tu_assert_golden(all->str, "tests/data/plan/first-boot-data.plan");
}

/* The seed is never written over a volume of its name that another
 * domain uses: the appliance is held, saying why; nothing is written. */
static void
test_observed__a_seed_never_overwrites_another_domains_volume(void **state)
{
	table *t = table_new_from(CD_VM("allowed", SEED("a")));
	obs_host *h = host_add(t, "hv1", "kvm", true);
	obs_domain *other = g_new0(obs_domain, 1);
	GPtrArray *users = g_ptr_array_new();
	plan *p;

	(void)state;
	vol_in(h, "default", "base.qcow2");
	vol_in(h, "default", "a.vm--cidata.iso");
	other->name = g_strdup("someone-else");
	other->state = VIRT_DOM_RUNNING;
	other->refs_known = true;
	other->host = h;
	g_ptr_array_add(h->domains, other);
	g_hash_table_insert(t->have->domain_by_name, other->name, other);
	g_ptr_array_add(users, other);
	g_hash_table_insert(h->users, g_strdup("default/a.vm--cidata.iso"), users);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_int_equal(p->errors->len, 1);
	assert_non_null(strstr(p->errors->pdata[0], "a.vm: its first-boot data goes into default/a.vm--cidata.iso "
					      "on hv1, and another domain's definition uses it; strata will not "
					      "overwrite it"));
	plan_free(p);
	table_free(t);
}

/*
 * Golden plans for a console's password on a KVM host: set where there was
 * none (QEMU asks for one, or not, from its start: a restart), a new one
 * (set live, then the definition: no restart), the same one (nothing),
 * one shut off (the definition), removed (a restart).  The password is in
 * the live op's graphics and in no plan text.
 */
static void
test_observed__console_password_has_its_plans(void **state)
{
	static const struct {
		const char *name, *from_pw, *to_pw;
		int state;
	} cases[] = {
		{ "running: a password set: restarted (QEMU asks for one from its start)", NULL, "first-pw",
		  VIRT_DOM_RUNNING },
		{ "running: a new password: set live, then the definition", "first-pw", "second-p", VIRT_DOM_RUNNING },
		{ "running: the same password: nothing to do", "first-pw", "first-pw", VIRT_DOM_RUNNING },
		{ "shut off: a new password: the definition, then the start its state asks for", "first-pw", "second-p", VIRT_DOM_SHUTOFF },
		{ "running: the password removed: restarted", "first-pw", NULL, VIRT_DOM_RUNNING },
	};
	g_autoptr(GString) all = g_string_new(NULL);
	const char *spec = CD_VM("allowed", ", console: {type: vnc}");

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		table *t = table_new_from(spec);
		obs_host *h = host_add(t, "hv1", "kvm", true);
		g_autofree char *text = NULL;
		plan *p;

		vol_in(h, "default", "base.qcow2");
		give_password(t, cases[i].to_pw);
		vm_defined_with(t, h, spec, cases[i].state, cases[i].from_pw);
		p = plan_of(t);
		text = shown(p);
		g_string_append_printf(all, "## %s\n%s", cases[i].name, text);
		assert_null(strstr(text, "first-pw"));
		assert_null(strstr(text, "second-p"));
		for (guint j = 0; j < p->ops->len; j++) {
			const plan_op *op = p->ops->pdata[j];

			if (op->kind == OP_CONSOLE_PASSWORD)
				assert_non_null(strstr(op->xml, "passwd=\"second-p\""));
		}
		plan_free(p);
		table_free(t);
	}
	tu_assert_golden(all->str, "tests/data/plan/console-password.plan");
}

#define RESET ", reset_on_reboot: true"

/*
 * Golden plans for reset_on_reboot on a KVM host: a VM found shut off (a
 * reboot stops it) starts again on a system disk made anew from its
 * template; one restored from saved memory keeps its disk; turning it on
 * is a restart (onto a fresh disk), or the definition alone under
 * disruption: never; a running VM and one meant to stay off are left as
 * they are.  Nothing but the system disk is ever deleted, and only to be
 * made again before the start.
 */
static void
test_observed__reset_on_reboot_has_its_plans(void **state)
{
	static const struct {
		const char *name, *from, *to;
		int state;
		bool saved;
	} cases[] = {
		{ "shut off by a reboot: the system disk made anew, then started",
		  CD_VM("allowed", RESET), CD_VM("allowed", RESET), VIRT_DOM_SHUTOFF, false },
		{ "shut off by a reboot, with first-boot data: the seed kept, the system disk made anew",
		  CD_VM("allowed", RESET SEED("a")), CD_VM("allowed", RESET SEED("a")), VIRT_DOM_SHUTOFF, false },
		{ "shut off, memory changed too: the disk made anew, the definition, the start",
		  CD_VM("allowed", RESET), CD_VM("allowed", RESET ", memory: 1GiB"), VIRT_DOM_SHUTOFF, false },
		{ "saved: restored on the disk it left",
		  CD_VM("allowed", RESET), CD_VM("allowed", RESET), VIRT_DOM_SHUTOFF, true },
		{ "running: turned on: restarted onto a fresh disk",
		  CD_VM("allowed", ""), CD_VM("allowed", RESET), VIRT_DOM_RUNNING, false },
		{ "running, disruption never: turned on: the definition alone, restart required",
		  CD_VM("never", ""), CD_VM("never", RESET), VIRT_DOM_RUNNING, false },
		{ "shut off: turned off: the definition, then a start on the disk it has",
		  CD_VM("allowed", RESET), CD_VM("allowed", ""), VIRT_DOM_SHUTOFF, false },
		{ "shut off, desired stopped: nothing to do",
		  CD_VM("allowed", RESET ", state: stopped"), CD_VM("allowed", RESET ", state: stopped"),
		  VIRT_DOM_SHUTOFF, false },
		{ "running: nothing to do", CD_VM("allowed", RESET), CD_VM("allowed", RESET), VIRT_DOM_RUNNING, false },
	};
	g_autoptr(GString) all = g_string_new(NULL);

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		table *t = table_new_from(cases[i].to);
		obs_host *h = host_add(t, "hv1", "kvm", true);
		g_autofree char *text = NULL;
		obs_domain *d;
		plan *p;

		vol_in(h, "default", "base.qcow2");
		d = vm_defined_from(t, h, cases[i].from, cases[i].state);
		d->managed_save = cases[i].saved;
		p = plan_of(t);
		text = shown(p);
		g_string_append_printf(all, "## %s\n%s", cases[i].name, text);
		for (guint j = 0; j < p->ops->len; j++) {
			const plan_op *op = p->ops->pdata[j];

			if (op->kind != OP_VOL_DELETE)
				continue;
			/* The system disk alone, made again after, before the start. */
			assert_string_equal(op->volume, "a.vm--system.qcow2");
			assert_true(op->rebuild);
			assert_true(j + 1 < p->ops->len);
			assert_int_equal(((const plan_op *)p->ops->pdata[j + 1])->kind, OP_VOL_CREATE);
			assert_string_equal(((const plan_op *)p->ops->pdata[j + 1])->volume, "a.vm--system.qcow2");
		}
		plan_free(p);
		table_free(t);
	}
	tu_assert_golden(all->str, "tests/data/plan/reset-on-reboot.plan");
}

/*
 * A volume a VM's disk let go of late is deleted only if the domain's
 * metadata records it as let go of, nothing uses it and the spec does not
 * name it: never one merely named like the VM's disks (a copy in another
 * pool, a hand-made backup).
 */
static void
test_observed__only_a_volume_recorded_as_let_go_of_is_deleted(void **state)
{
	table *t = table_new_from(LIVE_VM("allowed", "cpus: 1"));
	obs_host *h = host_add(t, "hv1", "kvm", true);
	obs_domain *d = vm_defined_from(t, h, LIVE_VM("allowed", "cpus: 1"), VIRT_DOM_RUNNING);
	plan *p;

	(void)state;
	vol_in(h, "default", "a.vm--logs.qcow2");      /* recorded, unused: goes */
	vol_in(h, "san", "a.vm--logs.qcow2");          /* same name, other pool: stays */
	vol_in(h, "default", "a.vm--data.qcow2.bak");  /* named like its disks: stays */
	vol_in(h, "default", "a.vm--used.qcow2");      /* recorded, still in use: stays */
	g_hash_table_insert(h->users, g_strdup("default/a.vm--used.qcow2"), g_ptr_array_new());
	g_ptr_array_add(g_hash_table_lookup(h->users, "default/a.vm--used.qcow2"), d);
	d->released = g_strsplit("default/a.vm--logs.qcow2 default/a.vm--used.qcow2", " ", -1);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "delete-volume");
	assert_string_equal(((plan_op *)p->ops->pdata[0])->volume, "a.vm--logs.qcow2");
	assert_string_equal(((plan_op *)p->ops->pdata[0])->pool, "default");
	plan_free(p);
	table_free(t);
}

static void
test_shared__a_running_vm_migrates_without_copying(void **state)
{
	table *t = shared_table(true, "maintenance: true\n",
				"  - {name: w, template: ts, disks: [{name: data, size: 1GiB}]}\n");
	obs_host *hv1 = host_add(t, "hv1", "kvm", true), *hv2 = host_add(t, "hv2", "kvm", true);
	const plan_op *mig;
	plan *p;

	(void)state;
	host_add(t, "hv3", "kvm", true)->node.memory = 128ULL << 30;
	vm_at(t, hv1, "s.w", VIRT_DOM_RUNNING, 1, "kvm");
	lists_disks(t, hv2, "s.w");
	share_as(t, both, NULL, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "migrate");
	mig = op_of(p, OP_MIGRATE);
	assert_string_equal(mig->target, "hv2");
	assert_true(mig->shared);
	assert_int_equal(p->errors->len, 0);
	plan_free(p);
	table_free(t);
}

/* A persistent VM moves too, live, but only to a host that shares its
 * pool: hv3, with the most room, lists a volume of the same name in its
 * own san, which is another disk. */
static void
test_shared__a_persistent_vm_moves_only_within_its_pool(void **state)
{
	table *t = shared_table(true, "maintenance: true\n", "  - {name: p, persistent: pdata}\n");
	obs_host *hv1 = host_add(t, "hv1", "kvm", true), *hv2 = host_add(t, "hv2", "kvm", true);
	obs_host *hv3 = host_add(t, "hv3", "kvm", true);
	plan *p;

	(void)state;
	hv3->node.memory = 128ULL << 30;
	vm_at(t, hv1, "s.p", VIRT_DOM_RUNNING, 1, "kvm");
	lists_disks(t, hv2, "s.p");
	lists_disks(t, hv3, "s.p");
	share_as(t, both, NULL, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "migrate");
	assert_string_equal(op_of(p, OP_MIGRATE)->target, "hv2");
	assert_true(op_of(p, OP_MIGRATE)->shared);
	plan_free(p);
	table_free(t);
	/* Not declared: refused, saying how to declare it. */
	t = shared_table(false, "maintenance: true\n", "  - {name: p, persistent: pdata}\n");
	hv1 = host_add(t, "hv1", "kvm", true);
	hv2 = host_add(t, "hv2", "kvm", true);
	host_add(t, "hv3", "kvm", true);
	vm_at(t, hv1, "s.p", VIRT_DOM_RUNNING, 1, "kvm");
	lists_disks(t, hv2, "s.p");
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_int_equal(p->errors->len, 1);
	assert_non_null(strstr(p->errors->pdata[0], "declare it with kind: pool"));
	plan_free(p);
	table_free(t);
}

/* A stopped VM on the shared pool moves cold: undefined here, defined
 * there, its volumes untouched. */
static void
test_shared__a_cold_move_leaves_the_volumes_alone(void **state)
{
	table *t = shared_table(true, "maintenance: true\n",
				"  - {name: w, template: ts, state: stopped}\n");
	obs_host *hv1 = host_add(t, "hv1", "kvm", true), *hv2 = host_add(t, "hv2", "kvm", true);
	plan *p;

	(void)state;
	host_add(t, "hv3", "kvm", true);
	vm_at(t, hv1, "s.w", VIRT_DOM_SHUTOFF, 1, "kvm");
	lists_disks(t, hv2, "s.w");
	share_as(t, both, NULL, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "undefine define");
	assert_string_equal(op_of(p, OP_DEFINE)->host, "hv2");
	plan_free(p);
	table_free(t);
}

/* A declaration the probe contradicted: an error naming the hosts on
 * every plan, and the move it would carry refused; nothing runs. */
static void
test_shared__a_refuted_declaration_moves_nothing(void **state)
{
	static const char finding[] = "pool 'san' is declared shared by hv1,hv2, but a probe volume made through hv1 is not seen through hv2";
	table *t = shared_table(true, "maintenance: true\n", "  - {name: p, persistent: pdata}\n");
	obs_host *hv1 = host_add(t, "hv1", "kvm", true), *hv2 = host_add(t, "hv2", "kvm", true);
	plan *p;

	(void)state;
	host_add(t, "hv3", "kvm", true);
	vm_at(t, hv1, "s.p", VIRT_DOM_RUNNING, 1, "kvm");
	lists_disks(t, hv2, "s.p");
	share_as(t, NULL, finding, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_int_equal(p->errors->len, 2);
	assert_string_equal(p->errors->pdata[0], finding);
	assert_non_null(strstr(p->errors->pdata[1], "s.p must move off hv1"));
	plan_free(p);
	table_free(t);
	/* Probing possible but not reported yet (its host missed the
	 * deadline): not acted on either. */
	t = shared_table(true, "maintenance: true\n", "  - {name: p, persistent: pdata}\n");
	hv1 = host_add(t, "hv1", "kvm", true);
	hv2 = host_add(t, "hv2", "kvm", true);
	host_add(t, "hv3", "kvm", true);
	vm_at(t, hv1, "s.p", VIRT_DOM_RUNNING, 1, "kvm");
	lists_disks(t, hv2, "s.p");
	share_as(t, NULL, NULL, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_non_null(strstr(p->errors->pdata[0], "not verified yet"));
	plan_free(p);
	table_free(t);
}

/* A template VM leaving a shared-pool member for a host outside the pool
 * is copied; its old disks stay (a move never deletes from a shared
 * pool).  Between two local pools the old disk is deleted, after exec's
 * probe of the two hosts (op->peer). */
static void
test_shared__a_copy_move_never_deletes_from_a_shared_pool(void **state)
{
	table *t = shared_table(true, "maintenance: true\n", "  - {name: w, template: ts}\n");
	obs_host *hv1;
	plan *p;

	(void)state;
	hv1 = host_add(t, "hv1", "kvm", true);
	host_add(t, "hv2", "kvm", true)->node.memory = 256ULL << 20;  /* too small */
	host_add(t, "hv3", "kvm", true);
	vm_at(t, hv1, "s.w", VIRT_DOM_RUNNING, 1, "kvm");
	share_as(t, both, NULL, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "create-volume migrate");
	assert_string_equal(op_of(p, OP_MIGRATE)->target, "hv3");
	assert_false(op_of(p, OP_MIGRATE)->shared);
	assert_true(has_note(p, "is kept: the pool is declared shared, and a move never deletes from a shared pool"));
	plan_free(p);
	table_free(t);

	t = shared_table(true, "maintenance: true\n", "  - {name: w, template: t}\n");
	hv1 = host_add(t, "hv1", "kvm", true);
	host_add(t, "hv2", "kvm", true);
	vm_at(t, hv1, "s.w", VIRT_DOM_RUNNING, 1, "kvm");
	share_as(t, both, NULL, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "create-volume migrate delete-volume");
	assert_string_equal(op_of(p, OP_VOL_DELETE)->host, "hv1");
	assert_string_equal(op_of(p, OP_VOL_DELETE)->peer, "hv2");
	plan_free(p);
	table_free(t);
}

/* hv1 declared lost: the persistent VM comes back on hv2, which shares
 * its pool, on the same volume (nothing made); never on hv3, whose
 * same-named volume is another disk, whichever host comes first and
 * though hv3 has more room.  Undeclared, it waits. */
static void
test_shared__a_persistent_vm_fails_over_within_its_pool(void **state)
{
	const char *vms = "  - {name: p, persistent: pdata, restart: always}\n";
	table *t;
	obs_host *hv2, *hv3;
	plan *p;

	(void)state;
	for (int hv3_first = 0; hv3_first < 2; hv3_first++) {
		t = shared_table(true, "state: lost\n", vms);
		host_add(t, "hv1", "kvm", false);
		hv3 = hv3_first ? host_add(t, "hv3", "kvm", true) : NULL;
		hv2 = host_add(t, "hv2", "kvm", true);
		hv3 = hv3 ? hv3 : host_add(t, "hv3", "kvm", true);
		hv3->node.memory = 128ULL << 30;
		lists_disks(t, hv2, "s.p");
		lists_disks(t, hv3, "s.p");
		share_as(t, NULL, NULL, false);
		p = plan_of(t);
		assert_string_equal(op_kinds(p), "define start");
		assert_string_equal(op_of(p, OP_DEFINE)->host, "hv2");
		assert_true(has_note(p, "s.p: restarts on the same volume with no lock manager declared on hv1 and hv2"));
		plan_free(p);
		table_free(t);
	}

	t = shared_table(false, "state: lost\n", vms);
	host_add(t, "hv1", "kvm", false);
	hv2 = host_add(t, "hv2", "kvm", true);
	host_add(t, "hv3", "kvm", true);
	lists_disks(t, hv2, "s.p");
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_true(has_note(p, "s.p: waits: host hv1 is lost and its persistent volume san/persistent-pdata.qcow2 is on no answering host that shares pool 'san' with it"));
	plan_free(p);
	table_free(t);
}

/* A persistent volume on a shared pool is one volume: `state: deleted`
 * deletes it once, and not while a member does not answer. */
static void
test_shared__a_shared_persistent_volume_is_deleted_once(void **state)
{
	const char *text = "kind: host\nname: hv1\nuri: test:///default\n---\n"
			   "kind: host\nname: hv2\nuri: test:///a\n---\n"
			   "kind: pool\nname: san\nhosts: [hv1, hv2]\nshared: true\n---\n"
			   "kind: template\nname: ts\npool: san\nvolume: base.qcow2\n---\n"
			   "kind: persistent-template\nname: pdata\nfrom: ts\nstate: deleted\n---\n"
			   "kind: appliance\nname: s\nvms:\n  - {name: w, template: ts, state: undeployed}\n";
	table *t = table_new_from(text);
	obs_host *hv1, *hv2;
	plan *p;

	(void)state;
	hv1 = host_add(t, "hv1", "kvm", true);
	hv2 = host_add(t, "hv2", "kvm", true);
	vol_in(hv1, "san", "persistent-pdata.qcow2");
	vol_in(hv2, "san", "persistent-pdata.qcow2");
	share_as(t, both, NULL, true);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "delete-volume");
	assert_string_equal(op_of(p, OP_VOL_DELETE)->host, "hv1");
	plan_free(p);
	table_free(t);

	t = table_new_from(text);
	hv1 = host_add(t, "hv1", "kvm", true);
	host_add(t, "hv2", "kvm", false);
	vol_in(hv1, "san", "persistent-pdata.qcow2");
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_true(has_note(p, "is kept: pool 'san' is shared with hv2, which does not answer"));
	plan_free(p);
	table_free(t);
}

/* With history, a lost member never seen sharing the pool is not taken on
 * trust: the VM waits, saying why. */
static void
test_shared__failover_needs_the_lost_host_seen_sharing_before(void **state)
{
	const char *vms = "  - {name: p, persistent: pdata, restart: always}\n";
	table *t = shared_table(true, "state: lost\n", vms);
	share_state *st;
	obs_host *hv2;
	plan *p;

	(void)state;
	host_add(t, "hv1", "kvm", false);
	hv2 = host_add(t, "hv2", "kvm", true);
	host_add(t, "hv3", "kvm", true);
	lists_disks(t, hv2, "s.p");
	share_as(t, NULL, NULL, false);
	st = g_hash_table_lookup(t->have->shares, "san");
	st->history = true;
	g_hash_table_add(st->ever, g_strdup("hv2"));
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "");
	assert_true(has_note(p, "strata has never seen this host share the pool"));
	plan_free(p);
	table_free(t);
	/* Seen before (both): it fails over. */
	t = shared_table(true, "state: lost\n", vms);
	host_add(t, "hv1", "kvm", false);
	hv2 = host_add(t, "hv2", "kvm", true);
	host_add(t, "hv3", "kvm", true);
	lists_disks(t, hv2, "s.p");
	share_as(t, NULL, NULL, false);
	st = g_hash_table_lookup(t->have->shares, "san");
	st->history = true;
	g_hash_table_add(st->ever, g_strdup("hv1"));
	g_hash_table_add(st->ever, g_strdup("hv2"));
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "define start");
	plan_free(p);
	table_free(t);
}

/* A template VM whose disk is on a pool shared with the lost host restarts
 * on that disk (its host reads the pool first); nothing is made. */
static void
test_shared__a_template_vm_fails_over_onto_its_shared_disk(void **state)
{
	table *t = shared_table(true, "state: lost\n", "  - {name: w, template: ts}\n");
	obs_host *hv2;
	plan *p;

	(void)state;
	host_add(t, "hv1", "kvm", false);
	hv2 = host_add(t, "hv2", "kvm", true);
	host_add(t, "hv3", "kvm", true)->node.memory = 128ULL << 30;
	lists_disks(t, hv2, "s.w");
	share_as(t, NULL, NULL, false);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "define start");
	assert_string_equal(op_of(p, OP_DEFINE)->host, "hv2");
	assert_non_null(strstr(op_of(p, OP_DEFINE)->reason, "restarted on its disks on shared storage"));
	plan_free(p);
	table_free(t);
	/* A VM whose disk no member lists (new, or never made) is made afresh,
	 * wherever placement puts it, while the host is lost. */
	t = shared_table(true, "state: lost\n", "  - {name: w, template: ts}\n");
	host_add(t, "hv1", "kvm", false);
	host_add(t, "hv2", "kvm", true);
	host_add(t, "hv3", "kvm", true);
	share_as(t, NULL, NULL, false);
	p = plan_of(t);
	assert_string_equal(op_kinds(p), "create-volume define start");
	plan_free(p);
	table_free(t);
}

/* A probe's outcome for pool san (members hv1, hv2, hv3): seen by @seen,
 * not by @unseen, or @error. */
static share_probe *
outcome(const char *const *seen, const char *const *unseen, const char *error)
{
	share_probe *p = share_probe_new("san", "hv1", NULL);
	guint64 serial = 7;

	p->declared = g_strdup("hv1,hv2,hv3");
	p->error = g_strdup(error);
	g_hash_table_insert(p->serials, g_strdup("hv1"), g_memdup2(&serial, sizeof(serial)));
	for (guint i = 0; seen && seen[i]; i++) {
		g_ptr_array_add(p->seen, g_strdup(seen[i]));
		g_hash_table_insert(p->serials, g_strdup(seen[i]), g_memdup2(&serial, sizeof(serial)));
	}
	for (guint i = 0; unseen && unseen[i]; i++)
		g_ptr_array_add(p->unseen, g_strdup(unseen[i]));
	return p;
}

/* What a probe teaches: a refutation voids what was seen before and
 * stays until a probe of every member agrees; a probe that cannot tell
 * changes nothing known. */
static void
test_shared__a_refutation_is_lifted_only_by_a_probe_of_every_member(void **state)
{
	static const char *const members[] = { "hv1", "hv2", "hv3", NULL };
	share_state *s = share_state_new("san", members);
	share_probe *p;

	(void)state;
	p = outcome((const char *const[]){ "hv2", NULL }, (const char *const[]){ "hv3", NULL }, NULL);
	share_state_learn(s, p);
	share_probe_free(p);
	assert_non_null(s->refuted);
	assert_non_null(strstr(s->refuted, "not seen through hv3 (it is seen through hv2)"));
	/* hv3 down: hv1 and hv2 agree; hv3 may be the odd one, so it stands. */
	p = outcome((const char *const[]){ "hv2", NULL }, NULL, NULL);
	share_state_learn(s, p);
	share_probe_free(p);
	assert_non_null(s->refuted);
	assert_true(g_hash_table_contains(s->ever, "hv2"));
	/* Cannot tell: nothing known changes. */
	p = outcome(NULL, NULL, "hv2 cannot tell whether it sees the probe: busy");
	share_state_learn(s, p);
	share_probe_free(p);
	assert_non_null(s->refuted);
	assert_non_null(strstr(s->unproven, "busy"));
	assert_true(g_hash_table_contains(s->serial, "hv2"));
	/* Every member agrees: lifted. */
	p = outcome((const char *const[]){ "hv2", "hv3", NULL }, NULL, NULL);
	share_state_learn(s, p);
	share_probe_free(p);
	assert_null(s->refuted);
	assert_null(s->unproven);
	assert_true(s->all_agreed);
	/* A later refutation voids every member seen before. */
	p = outcome(NULL, (const char *const[]){ "hv2", "hv3", NULL }, NULL);
	share_state_learn(s, p);
	share_probe_free(p);
	assert_int_equal(g_hash_table_size(s->ever), 0);
	assert_int_equal(g_hash_table_size(s->serial), 0);
	share_state_free(s);
}

/* @h's pool @name has @mib MiB free. */
static void
pool_free_mib(obs_host *h, const char *name, uint64_t mib)
{
	for (guint i = 0; i < h->pools->len; i++) {
		virt_pool *p = h->pools->pdata[i];

		if (strcmp(p->name, name) == 0)
			p->available = mib << 20;
	}
}

/* Placement counts a shared pool's free space once: two persistent VMs,
 * each a copy of a 1 GiB base, do not both fit the 1.5 GiB that hv1 and
 * hv2 see of one storage; the second goes to hv3's own pool.  Undeclared,
 * each host's 1.5 GiB is its own and both fit there. */
static void
test_shared__placement_counts_a_shared_pool_once(void **state)
{
	for (int declared = 1; declared >= 0; declared--) {
		g_autofree char *text = g_strdup_printf(
			"kind: host\nname: hv1\nuri: test:///default\n---\n"
			"kind: host\nname: hv2\nuri: test:///a\n---\n"
			"kind: host\nname: hv3\nuri: test:///b\n---\n%s"
			"kind: template\nname: ts\npool: san\nvolume: base.qcow2\nmemory: 512MiB\n---\n"
			"kind: persistent-template\nname: pa\nfrom: ts\n---\n"
			"kind: persistent-template\nname: pb\nfrom: ts\n---\n"
			"kind: appliance\nname: s\nvms:\n  - {name: a, persistent: pa}\n  - {name: b, persistent: pb}\n",
			declared ? "kind: pool\nname: san\nhosts: [hv1, hv2]\nshared: true\n---\n" : "");
		table *t = table_new_from(text);
		obs_host *hv1 = host_add(t, "hv1", "kvm", true), *hv2 = host_add(t, "hv2", "kvm", true);
		const char *b_on = NULL;
		guint defines = 0;
		plan *p;

		host_add(t, "hv3", "kvm", true)->node.memory = 8ULL << 30;  /* the last choice */
		pool_free_mib(hv1, "san", 1536);
		pool_free_mib(hv2, "san", 1536);
		if (declared)
			share_as(t, both, NULL, true);
		p = plan_of(t);
		assert_int_equal(p->errors->len, 0);
		for (guint i = 0; i < p->ops->len; i++) {
			const plan_op *op = p->ops->pdata[i];

			if (op->kind != OP_DEFINE)
				continue;
			defines++;
			if (strcmp(op->domain, "s.a") == 0)
				assert_string_equal(op->host, "hv1");
			else
				b_on = op->host;
		}
		assert_int_equal(defines, 2);
		assert_string_equal(b_on, declared ? "hv3" : "hv2");
		plan_free(p);
		table_free(t);
	}
	(void)state;
}

/*
 * A base copied onto a pool two members are verified to share is copied
 * once: the VM on the other member is built on that copy, its pool read
 * again first (two copies of one file: the second found it made).
 */
static void
test_shared__a_base_is_copied_once_into_a_shared_pool(void **state)
{
	const char *text = "kind: host\nname: hv1\nuri: test:///default\n---\n"
			   "kind: host\nname: hv2\nuri: test:///a\n---\n"
			   "kind: host\nname: hv3\nuri: test:///b\n---\n"
			   "kind: pool\nname: san\nhosts: [hv1, hv2]\nshared: true\n---\n"
			   "kind: template\nname: gold\npool: san\nvolume: gold.qcow2\nmemory: 512MiB\n"
			   "source: {host: hv3}\n---\n"
			   "kind: appliance\nname: s\nvms:\n  - {name: a, template: gold, host: hv1}\n"
			   "  - {name: b, template: gold, host: hv2}\n";
	table *t = table_new_from(text);
	obs_host *hv3;
	virt_vol_detail *gold = g_new0(virt_vol_detail, 1);
	guint copies = 0, refreshed = 0;
	const plan_op *copy;
	plan *p;

	(void)state;
	host_add(t, "hv1", "kvm", true);
	host_add(t, "hv2", "kvm", true);
	hv3 = host_add(t, "hv3", "kvm", true);
	vol_in(hv3, "san", "gold.qcow2");
	gold->capacity = 1ULL << 30;
	g_hash_table_insert(hv3->details, g_strdup("san/gold.qcow2"), gold);
	share_as(t, both, NULL, true);
	p = plan_of(t);
	assert_int_equal(p->errors->len, 0);
	for (guint i = 0; i < p->ops->len; i++)
		copies += ((plan_op *)p->ops->pdata[i])->kind == OP_VOL_COPY;
	assert_int_equal(copies, 1);
	copy = op_of(p, OP_VOL_COPY);
	assert_string_equal(copy->peer, "hv3");
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind != OP_VOL_CREATE)
			continue;
		assert_true(g_ptr_array_find(op->deps, copy, NULL));
		if (strcmp(op->host, copy->host) != 0) {
			assert_non_null(op->refresh);
			assert_string_equal(op->refresh[0], "san");
			refreshed++;
		}
	}
	assert_int_equal(refreshed, 1);
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
		cmocka_unit_test(test_observed__every_class_of_change_has_its_plan),
		cmocka_unit_test(test_observed__media_console_and_boot_order_have_their_plans),
		cmocka_unit_test(test_observed__only_a_volume_recorded_as_let_go_of_is_deleted),
		cmocka_unit_test(test_shared__a_running_vm_migrates_without_copying),
		cmocka_unit_test(test_shared__a_persistent_vm_moves_only_within_its_pool),
		cmocka_unit_test(test_shared__a_cold_move_leaves_the_volumes_alone),
		cmocka_unit_test(test_shared__a_refuted_declaration_moves_nothing),
		cmocka_unit_test(test_shared__a_copy_move_never_deletes_from_a_shared_pool),
		cmocka_unit_test(test_shared__a_persistent_vm_fails_over_within_its_pool),
		cmocka_unit_test(test_shared__a_shared_persistent_volume_is_deleted_once),
		cmocka_unit_test(test_shared__failover_needs_the_lost_host_seen_sharing_before),
		cmocka_unit_test(test_shared__a_template_vm_fails_over_onto_its_shared_disk),
		cmocka_unit_test(test_shared__a_refutation_is_lifted_only_by_a_probe_of_every_member),
		cmocka_unit_test(test_shared__placement_counts_a_shared_pool_once),
		cmocka_unit_test(test_shared__a_base_is_copied_once_into_a_shared_pool),
		cmocka_unit_test(test_observed__first_boot_data_has_its_plans),
		cmocka_unit_test(test_observed__reset_on_reboot_has_its_plans),
		cmocka_unit_test(test_observed__console_password_has_its_plans),
		cmocka_unit_test(test_observed__a_seed_never_overwrites_another_domains_volume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
