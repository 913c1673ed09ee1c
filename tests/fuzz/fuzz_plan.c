/*
 * fuzz_plan.c - libFuzzer harness over the planner: plan, apply, plan again
 *
 * The input bytes are read by a small reader that yields zeros once they run
 * out, so every input decodes, the same way each time, into:
 *
 *  - a spec (YAML, loaded and validated like any source): 1-3 hosts, two
 *    templates, two persistent templates (sometimes `state: deleted`), 1-3
 *    appliances of 1-6 VMs with random states, layers, `after` lists,
 *    secondary disks, restart policies, tags, CD-ROM images and consoles.  A spec that does not validate
 *    (an `after` cycle, say) is skipped: refusing it is fuzz_spec's job.
 *  - per host, a libvirt test-driver node file: capacity, pools and volumes
 *    (template bases present or not, VM disks, stale and leftover disks,
 *    persistent volumes in their pool or another, foreign images) and
 *    domains running, paused, shut off, pmsuspended or with a managed save.
 *    Managed domains are built with domxml_domain, as strata builds them,
 *    current or outdated (resized, other template, stale hash, disks
 *    missing, disks defined at another size), some on two hosts; VMs that left the spec are still there;
 *    foreign domains use volumes of every kind, some under a VM's name.
 *    A host may not answer, and may be declared lost.
 *
 * Why node files and real connections rather than an `observed` built by
 * hand: the planner's input is what observe makes of libvirt, and the
 * property that matters -- apply, observe, plan again: nothing left to do
 * -- needs the real executor on a real (simulated) hypervisor anyway.
 * Node files are also the only way to get pmsuspended and managed-save
 * domains on the test driver (its API cannot PM-suspend, and it reads
 * <test:runstate> only from node files).  A file URI gives each
 * connection a private driver, so each input starts from its own hosts.
 * The price is speed: 30 to 60 inputs a second under ASan and UBSan on
 * two cores, below that when the machine is busy (most of it is ASan's
 * allocator and LeakSanitizer's checks of new inputs).  An `observed`
 * built by hand would be faster, but would test neither observe nor
 * the executor, and could not check property 3.
 *
 * Properties; a violation prints the spec, the node files and the plans,
 * and aborts:
 *  1. planning terminates, never aborts, and the ops are in an order where
 *     every dependency comes first; no cycle is reported;
 *  2. no volume is deleted that a domain on that host uses, except by the
 *     plan that undefines that domain first, or rebuilds the domain's own
 *     disk after stopping it; never a template base; a persistent volume
 *     only when its persistent template says `state: deleted`; no error
 *     or note has a missing part ("(null)"); never an operator's CD-ROM
 *     image (iso*.iso), in a drive or not;
 *  3. a plan without errors (what `strata apply` carries out) that applies
 *     completely leaves nothing to do: observing and planning again gives
 *     no operation and no error.
 *
 * FUZZ_PLAN_VERBOSE=1 prints every decoded input and its plans (turning a
 * crash into a unit test); FUZZ_PLAN_STATS=1 prints, at exit, how inputs
 * ended and why applies failed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <libxml/xmlerror.h>

#include "../../reconciler/domxml.h"
#include "../../reconciler/exec.h"
#include "../../reconciler/pass.h"
#include "../../reconciler/plan_show.h"
#include "../../reconciler/observe_snapshot.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HOSTS 3
#define TEST_NS "http://libvirt.org/schemas/domain/test/1.0"

/* ---- the reader -------------------------------------------------------- */

typedef struct {
	const uint8_t *p;
	size_t n;
} reader;

/* 0 .. n-1; 0 once the input is used up, so a short input is a plain world. */
static unsigned
pick(reader *r, unsigned n)
{
	unsigned v;

	if (n <= 1 || r->n == 0)
		return 0;
	v = *r->p++;
	r->n--;
	return v % n;
}

/* Rarely (never once the input is used up). */
static bool
one_in(reader *r, unsigned n)
{
	return pick(r, n) == 1;
}

/* ---- what the harness knows of the world it made ----------------------- */

typedef struct {
	char *domain;
	char *key;          /* "pool/volume" */
} use;

typedef struct {
	char name[8];
	bool reachable;
	bool has_fast;      /* a second pool, "fast" */
	unsigned cpus;
	uint64_t mem_kib;
	GPtrArray *vols;    /* char *: "pool/name", in order */
	GHashTable *vol_set;
	GString *domains;   /* <domain> elements */
	GPtrArray *uses;    /* use *: every disk of every domain defined here */
	GHashTable *names;  /* domains defined here */
	GHashTable *active; /* those running, paused or pmsuspended */
} fhost;

typedef struct {
	reader r;
	guint n_hosts;
	fhost hosts[MAX_HOSTS];
	GString *yaml;
	GHashTable *bases;  /* "pool/volume" of the templates' bases */
	guint uuid_seq;
	/* So that most specs validate (an invalid one tests nothing here): */
	bool ssd;           /* some host has tag ssd */
	guint deleted;      /* persistent templates that say state: deleted */
	guint eligible;     /* hosts up and not in maintenance */
	guint in_layer;     /* VMs of the current appliance in its layer */
	/* Retention: template t2, captured from a0.v0, at version @t2_version
	 * (0: none) with keep: @t2_keep; "host/default/t2-vK.qcow2" -> checksum
	 * of the versions history says strata made (plan_options.made). */
	guint t2_version, t2_keep;
	bool t0_disk;       /* template t0 has a disk "td" on base0-td.qcow2 */
	bool a0v0_done;
	GHashTable *made;
} world;

static char *workdir;
static bool verbose;

static struct {
	unsigned inputs, invalid, refused, applied, converged, partial, checked, snapshots, retired,
		 captured_late;
	GHashTable *failures;   /* "kind: error" -> count */
	GHashTable *refusals;   /* diagnostic code of an invalid spec -> count */
	GHashTable *errors;     /* a plan error, names left out -> count */
} stats;

static void
use_free(gpointer p)
{
	use *u = p;

	g_free(u->domain);
	g_free(u->key);
	g_free(u);
}

static void
world_init(world *w, const uint8_t *data, size_t size)
{
	memset(w, 0, sizeof(*w));
	w->r.p = data;
	w->r.n = size;
	w->yaml = g_string_new(NULL);
	w->bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	w->made = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 0; i < MAX_HOSTS; i++) {
		fhost *h = &w->hosts[i];

		h->vols = g_ptr_array_new_with_free_func(g_free);
		h->vol_set = g_hash_table_new(g_str_hash, g_str_equal);
		h->domains = g_string_new(NULL);
		h->uses = g_ptr_array_new_with_free_func(use_free);
		h->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		h->active = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	}
}

static void
world_release(world *w)
{
	for (guint i = 0; i < MAX_HOSTS; i++) {
		fhost *h = &w->hosts[i];

		g_hash_table_unref(h->vol_set);
		g_ptr_array_unref(h->vols);
		g_string_free(h->domains, TRUE);
		g_ptr_array_unref(h->uses);
		g_hash_table_unref(h->names);
		g_hash_table_unref(h->active);
	}
	g_string_free(w->yaml, TRUE);
	g_hash_table_unref(w->bases);
	g_hash_table_unref(w->made);
}

static fhost *
any_host(world *w)
{
	return &w->hosts[pick(&w->r, w->n_hosts)];
}

/* ---- the spec ---------------------------------------------------------- */

static void
gen_hosts(world *w)
{
	reader *r = &w->r;

	w->n_hosts = 1 + pick(r, MAX_HOSTS);
	for (guint i = 0; i < w->n_hosts; i++) {
		fhost *h = &w->hosts[i];
		static const unsigned cpus[] = { 64, 64, 8, 2 };
		static const uint64_t gib[] = { 256, 256, 16, 2 };
		unsigned size = pick(r, 4);
		bool out;

		g_snprintf(h->name, sizeof(h->name), "h%u", i);
		h->reachable = !one_in(r, 12);
		h->has_fast = !one_in(r, 6);
		h->cpus = cpus[size];
		h->mem_kib = gib[size] << 20;
		/* A host that does not answer: a node file that is not there. */
		g_string_append_printf(w->yaml, "kind: host\nname: %s\nuri: test://%s/%s%s.xml\n",
				       h->name, workdir, h->reachable ? "" : "gone-", h->name);
		if (one_in(r, 2)) {
			g_string_append(w->yaml, "tags: [ssd]\n");
			w->ssd = true;
		}
		/* The only host in maintenance refuses every VM: keep it rare. */
		out = one_in(r, w->n_hosts > 1 ? 8 : 32);
		if (out)
			g_string_append(w->yaml, "maintenance: true\n");
		if ((!h->reachable && !one_in(r, 3)) || one_in(r, 16)) {
			g_string_append(w->yaml, "state: lost\n");
			out = true;
		}
		w->eligible += !out;
		g_string_append(w->yaml, "---\n");
	}
}

/* Now and then a pool declared shared by some hosts: under the test
 * driver (one node each) the probe refutes it, and nothing may act on it.
 * Rarely: a refuted pool is an error on every plan, and a plan with an
 * error is not carried out here, so it costs the convergence checks. */
static void
gen_pool(world *w)
{
	reader *r = &w->r;
	guint n;

	if (w->n_hosts < 2 || !one_in(r, 16))
		return;
	n = 2 + pick(r, w->n_hosts - 1);
	g_string_append_printf(w->yaml, "kind: pool\nname: %s\nhosts: [", one_in(r, 2) ? "fast" : "default");
	for (guint i = 0; i < n; i++)
		g_string_append_printf(w->yaml, "%s%s", i ? ", " : "", w->hosts[i].name);
	g_string_append(w->yaml, "]\nshared: true\n---\n");
}

static void
gen_templates(world *w)
{
	reader *r = &w->r;
	const char *pool1 = one_in(r, 3) ? "fast" : "default";

	/* Now and then a base says where to copy it from: placement may then
	 * pick a host that lacks it, and the plan copies it there first.  The
	 * test driver cannot stream, so such an apply ends partly and is not
	 * checked to converge: at 1 in 4 those checks fell from ~385 to 143 per
	 * 30 s, hence 1 in 16. */
	g_autofree char *source = one_in(r, 16) ? g_strdup_printf("source: {host: %s}\n", any_host(w)->name)
					      : g_strdup("");

	w->t0_disk = one_in(r, 6);
	g_string_append_printf(w->yaml,
		"kind: template\nname: t0\npool: default\nvolume: base0.qcow2\nmemory: 256MiB\n%s%s%s---\n"
		"kind: template\nname: t1\npool: %s\nvolume: base1.qcow2\nmemory: 512MiB\ncpus: 2\n%s---\n",
		one_in(r, 4) ? "disk_size: 128MiB\n" : "", source,
		w->t0_disk ? "disks: [{name: td, volume: base0-td.qcow2}]\n" : "", pool1,
		one_in(r, 4) ? "disk_size: 256MiB\n" : "");
	/* Now and then a template captured from a0.v0 (which is then built
	 * from a template), at a later version with keep: old versions lie
	 * on the hosts, some made by strata (gen_versions). */
	if (one_in(r, 6)) {
		w->t2_version = 2 + pick(r, 4);
		w->t2_keep = 1 + pick(r, 3);
		g_string_append_printf(w->yaml, "kind: template\nname: t2\npool: default\nversion: %u\nkeep: %u\n"
				       "source: {vm: a0.v0}\nmemory: 256MiB\n---\n", w->t2_version, w->t2_keep);
	}
	g_hash_table_add(w->bases, g_strdup("default/base0.qcow2"));
	if (w->t0_disk)
		g_hash_table_add(w->bases, g_strdup("default/base0-td.qcow2"));
	g_hash_table_add(w->bases, g_strdup_printf("%s/base1.qcow2", pool1));
	for (guint i = 0; i < 2; i++) {
		bool deleted;
		guint from = pick(r, 2);

		/* Not from a template with disks: refused (one volume). */
		g_string_append_printf(w->yaml, "kind: persistent-template\nname: p%u\nfrom: t%u\n%s%s",
				       i, w->t0_disk ? 1 : from, one_in(r, 4) ? "pool: fast\n" : "",
				       one_in(r, 4) ? "size: 128MiB\n" : "");
		deleted = one_in(r, 5);
		if (deleted)
			w->deleted |= 1u << i;
		g_string_append(w->yaml, deleted ? "state: deleted\n---\n" : "---\n");
	}
}

/* `after`: earlier VMs (acyclic), now and then any (maybe a cycle). */
static void
gen_after(world *w, guint self, guint n)
{
	reader *r = &w->r;
	guint count = pick(r, 3), mask = 0;

	for (guint i = 0; i < count; i++) {
		guint to = one_in(r, 8) ? pick(r, n) : self ? pick(r, self) : self;

		if (to != self)
			mask |= 1u << to;
	}
	if (!mask)
		return;
	g_string_append(w->yaml, "    after: [");
	for (guint i = 0, first = 1; i < n; i++)
		if (mask & (1u << i)) {
			g_string_append_printf(w->yaml, "%sv%u", first ? "" : ", ", i);
			first = 0;
		}
	g_string_append(w->yaml, "]\n");
}

static void
gen_vm(world *w, guint i, guint n, bool layers, guint *ptemplates_used)
{
	static const char *const states[] = { "running", "running", "running", "stopped",
					      "paused", "saved", "undeployed" };
	static const char *const restarts[] = { "on-failure", "always", "never" };
	static const char *const memory[] = { "256MiB", "512MiB", "1GiB" };
	reader *r = &w->r;
	guint pt = pick(r, 2);

	g_string_append_printf(w->yaml, "  - name: v%u\n", i);
	/* A persistent template serves one VM: a second use is invalid, and
	 * so is a use of one that says state: deleted (now and then).  a0.v0,
	 * which t2 is captured from, is built from a template. */
	if (!(w->t2_version && !w->a0v0_done) && one_in(r, 4) && !(*ptemplates_used & (1u << pt)) &&
	    (!(w->deleted & (1u << pt)) || one_in(r, 8))) {
		*ptemplates_used |= 1u << pt;
		g_string_append_printf(w->yaml, "    persistent: p%u\n", pt);
	} else {
		g_string_append_printf(w->yaml, "    template: t%u\n", pick(r, 2));
	}
	w->a0v0_done = true;
	if (one_in(r, 4))
		g_string_append_printf(w->yaml, "    cpus: %u\n", 1 + pick(r, 4));
	if (one_in(r, 4))
		g_string_append_printf(w->yaml, "    memory: %s\n", memory[pick(r, 3)]);
	if (one_in(r, 3))
		g_string_append_printf(w->yaml, "    disks: [{name: d0, size: 64MiB}%s]\n",
				       one_in(r, 2) ? ", {name: d1, size: 64MiB, pool: fast}" : "");
	/* A layer needs a host per member (now and then one too many). */
	if (layers && !one_in(r, 3) && (w->in_layer < w->eligible || one_in(r, 8))) {
		g_string_append(w->yaml, "    layer: l0\n");
		w->in_layer++;
	}
	gen_after(w, i, n);
	if (one_in(r, 6) && (w->ssd || one_in(r, 8)))
		g_string_append(w->yaml, "    requires: [ssd]\n");
	/* The operator's host, the maxima of live changes, NICs with and
	 * without a MAC of their own on one network. */
	if (one_in(r, 8))
		g_string_append_printf(w->yaml, "    host: h%u\n", pick(r, w->n_hosts));
	if (one_in(r, 6))
		g_string_append(w->yaml, "    max_cpus: 8\n");
	if (one_in(r, 6))
		g_string_append(w->yaml, "    max_memory: 2GiB\n");
	if (one_in(r, 6))
		g_string_append_printf(w->yaml, "    nics: [%s{network: default, mac: \"52:54:00:00:01:%02x\"}%s]\n",
				       one_in(r, 2) ? "{network: default}, " : "", i & 0xff,
				       one_in(r, 2) ? ", {network: default}" : "");
	/* Installation media: the operator's image, on most hosts, in or out
	 * of the drive; booted from first now and then; a console. */
	if (one_in(r, 5)) {
		g_string_append_printf(w->yaml, "    cdrom: {pool: default, volume: iso%u.iso%s}\n", pick(r, 2),
				       one_in(r, 3) ? ", ejected: true" : "");
		if (one_in(r, 2))
			g_string_append(w->yaml, "    boot: [cdrom, disk]\n");
	}
	if (one_in(r, 6))
		g_string_append(w->yaml, one_in(r, 2) ? "    console: {type: vnc}\n"
						      : "    console: {type: spice, listen: '::1'}\n");
	g_string_append_printf(w->yaml, "    restart: %s\n", restarts[pick(r, 3)]);
	g_string_append_printf(w->yaml, "    state: %s\n", states[pick(r, G_N_ELEMENTS(states))]);
}

static void
gen_appliances(world *w)
{
	reader *r = &w->r;
	guint n = 1 + pick(r, 3), used = 0;

	for (guint a = 0; a < n; a++) {
		guint vms = 1 + pick(r, 6);
		bool layers = one_in(r, 3);

		w->in_layer = 0;

		g_string_append_printf(w->yaml, "kind: appliance\nname: a%u\n", a);
		if (one_in(r, 10))
			g_string_append(w->yaml, "state: undeployed\n");
		if (layers)
			g_string_append(w->yaml, "layers: [l0]\n");
		if (one_in(r, 3))
			g_string_append(w->yaml, "placement: pack\n");
		if (one_in(r, 10))
			g_string_append(w->yaml, "heal: false\n");
		if (one_in(r, 10))
			g_string_append(w->yaml, "disruption: never\n");
		g_string_append(w->yaml, "vms:\n");
		for (guint i = 0; i < vms; i++)
			gen_vm(w, i, vms, layers, &used);
		g_string_append(w->yaml, "---\n");
	}
}

/* ---- the hosts --------------------------------------------------------- */

static void
add_volume(fhost *h, const char *pool, const char *name)
{
	char *key;

	if (strcmp(pool, "default") != 0 && (strcmp(pool, "fast") != 0 || !h->has_fast))
		return;
	key = g_strdup_printf("%s/%s", pool, name);
	if (!g_hash_table_add(h->vol_set, key)) {
		g_free(key);
		return;
	}
	g_ptr_array_add(h->vols, key);
}

/* running, paused, shut off, pmsuspended, shut off with a managed save */
static const int runstates[] = { VIRT_DOM_RUNNING, VIRT_DOM_RUNNING, VIRT_DOM_PAUSED,
				 VIRT_DOM_SHUTOFF, VIRT_DOM_PMSUSPENDED, -1 };

/*
 * @xml as a node-file domain in state @pick_state of runstates; false if
 * the host has a domain of that name already (the node file would not load).
 */
static bool
add_domain(fhost *h, const char *name, const char *xml, guint pick_state)
{
	int st = runstates[pick_state];
	g_autofree char *tail = g_strdup_printf("<test:runstate>%d</test:runstate>%s</domain>",
						st < 0 ? VIRT_DOM_SHUTOFF : st,
						st < 0 ? "<test:hasmanagedsave/>" : "");
	GString *x;

	if (!g_hash_table_add(h->names, g_strdup(name)))
		return false;
	x = g_string_new(xml);
	g_string_replace(x, "<domain ", "<domain xmlns:test=\"" TEST_NS "\" ", 1);
	g_string_replace(x, "</domain>", tail, 1);
	g_string_append(h->domains, x->str);
	g_string_append_c(h->domains, '\n');
	g_string_free(x, TRUE);
	if (st == VIRT_DOM_RUNNING || st == VIRT_DOM_PAUSED || st == VIRT_DOM_PMSUSPENDED)
		g_hash_table_add(h->active, g_strdup(name));
	return true;
}

static void
add_use(fhost *h, const char *domain, const char *pool, const char *volume)
{
	use *u = g_new0(use, 1);

	u->domain = g_strdup(domain);
	u->key = g_strdup_printf("%s/%s", pool, volume);
	g_ptr_array_add(h->uses, u);
}

static char *
next_uuid(world *w)
{
	return g_strdup_printf("00000000-0000-4000-8000-%012x", ++w->uuid_seq);
}

/* A managed domain of @vm on @h as strata defined it, now or in the past. */
static void
define_managed(world *w, fhost *h, const desired_vm *vm)
{
	reader *r = &w->r;
	desired_vm old = *vm;
	g_autoptr(GPtrArray) disks = g_ptr_array_new();
	g_autofree char *hash = NULL, *xml = NULL, *uuid = next_uuid(w);
	guint variant = pick(r, 8);
	desired_disk resized[8];

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		/* 7: defined at another size (the spec grew or shrank it). */
		if (variant == 7 && i > 0 && i <= G_N_ELEMENTS(resized)) {
			resized[i - 1] = *d;
			resized[i - 1].capacity = one_in(r, 2) ? d->capacity / 2 : d->capacity * 2;
			g_ptr_array_add(disks, &resized[i - 1]);
		} else if (i == 0 || variant != 6) {
			g_ptr_array_add(disks, vm->disks->pdata[i]);
		}
	}
	old.disks = disks;
	if (variant == 3) {
		old.cpus = 1 + pick(r, 4);
		old.memory = (uint64_t)(1 + pick(r, 4)) << 28;
	}
	if (variant == 4 && !vm->persistent)
		old.template = strcmp(vm->template, "t0") == 0 ? "t1" : "t0";
	/* 2: defined with other media, or none; without its console. */
	if (variant == 2) {
		old.cdrom_pool = "default";
		old.cdrom_volume = one_in(r, 3) ? NULL : one_in(r, 2) ? "iso0.iso" : "iso1.iso";
		old.cdrom_ejected = one_in(r, 2);
		old.console = NULL;
	}
	hash = variant == 5 ? g_strdup("0123456789abcdef") : desired_vm_hash(&old, "test");
	xml = domxml_domain(&old, "test", hash, uuid, NULL);
	if (!add_domain(h, vm->domain, xml, pick(r, G_N_ELEMENTS(runstates))))
		return;
	if (old.cdrom_volume && !old.cdrom_ejected)
		add_use(h, vm->domain, old.cdrom_pool, old.cdrom_volume);
	for (guint i = 0; i < disks->len; i++) {
		const desired_disk *d = disks->pdata[i];

		add_use(h, vm->domain, d->pool, d->volume);
		if (!one_in(r, 8))
			add_volume(h, d->pool, d->volume);
	}
	if (one_in(r, 4)) {
		g_autofree char *stale = desired_volume_name(vm->domain, "old");

		add_volume(h, "default", stale);
	}
}

/* Each desired VM: not deployed, deployed (once or twice), or leftovers. */
static void
gen_desired_domains(world *w, const desired_state *want)
{
	reader *r = &w->r;

	for (guint i = 0; i < want->vms->len; i++) {
		const desired_vm *vm = want->vms->pdata[i];
		const desired_disk *sys = vm->disks->pdata[0];
		fhost *h = any_host(w);

		if (pick(r, 4) == 0) {
			if (one_in(r, 6))
				add_volume(h, sys->pool, sys->volume);  /* an earlier run's */
			continue;
		}
		if (h->reachable)
			define_managed(w, h, vm);
		if (one_in(r, 16)) {
			fhost *other = any_host(w);

			if (other != h && other->reachable)
				define_managed(w, other, vm);
		}
	}
}

/* VMs that left the spec, with their disks. */
static void
gen_removed_domains(world *w)
{
	reader *r = &w->r;
	guint n = pick(r, 3);

	for (guint i = 0; i < n; i++) {
		fhost *h = any_host(w);
		desired_disk sys = { .role = DISK_SYSTEM, .name = "system", .pool = "default",
				     .base = "base0.qcow2", .target = "vda" };
		desired_vm vm = { .cpus = 1, .memory = 256 << 20, .template = "t0" };
		const char *app = one_in(r, 2) ? "old" : "a0";
		g_autofree char *domain = g_strdup_printf("%s.gone%u", app, i);
		g_autofree char *vol = desired_volume_name(domain, "system");
		g_autofree char *uuid = next_uuid(w);
		g_autofree char *xml = NULL;
		g_autoptr(GPtrArray) disks = g_ptr_array_new();
		g_autoptr(GPtrArray) nics = g_ptr_array_new();

		if (!h->reachable)
			continue;
		sys.volume = vol;
		g_ptr_array_add(disks, &sys);
		vm.domain = domain;
		vm.appliance = (char *)app;
		vm.vm = domain + strlen(app) + 1;
		vm.disks = disks;
		vm.nics = nics;
		xml = domxml_domain(&vm, "test", "fedcba9876543210", uuid, NULL);
		if (!add_domain(h, domain, xml, pick(r, G_N_ELEMENTS(runstates))))
			continue;
		add_use(h, domain, "default", vol);
		if (!one_in(r, 6))
			add_volume(h, "default", vol);
	}
}

static void
gen_persistent_volumes(world *w, const desired_state *want)
{
	reader *r = &w->r;

	for (guint i = 0; i < want->ptemplates->len; i++) {
		const desired_ptemplate *t = want->ptemplates->pdata[i];
		guint where = pick(r, 3);
		fhost *h = any_host(w);

		if (where == 1)
			add_volume(h, t->pool, t->volume);
		else if (where == 2)  /* the template's pool changed since */
			add_volume(h, strcmp(t->pool, "default") == 0 ? "fast" : "default", t->volume);
	}
}

/*
 * Domains strata did not make, using volumes of every kind present on the
 * host (a base, a persistent volume, a VM's disk) or images of their own;
 * some carry a desired VM's name.
 */
static void
gen_foreign_domains(world *w, const desired_state *want, fhost *h)
{
	reader *r = &w->r;
	guint n = pick(r, 3);

	for (guint i = 0; i < n; i++) {
		g_autoptr(GString) x = g_string_new(NULL);
		g_autofree char *uuid = next_uuid(w);
		g_autofree char *name = NULL;
		guint disks = pick(r, 3);

		if (one_in(r, 6) && want->vms->len)
			name = g_strdup(((desired_vm *)want->vms->pdata[pick(r, want->vms->len)])->domain);
		else
			name = g_strdup_printf("foreign-%s-%u", h->name, i);
		g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);

		g_string_append_printf(x, "<domain type=\"test\"><name>%s</name><uuid>%s</uuid>"
				       "<memory unit=\"KiB\">262144</memory><os><type>hvm</type></os><devices>",
				       name, uuid);
		for (guint j = 0; j < disks; j++) {
			g_autofree char *own = g_strdup_printf("default/foreign-%s-%u-%u.img", h->name, i, j);
			const char *key = own;
			g_auto(GStrv) pv = NULL;

			if (h->vols->len && !one_in(r, 3))
				key = h->vols->pdata[pick(r, h->vols->len)];
			pv = g_strsplit(key, "/", 2);
			if (key == own)
				add_volume(h, pv[0], pv[1]);
			g_ptr_array_add(keys, g_strdup(key));
			g_string_append_printf(x, "<disk type=\"volume\" device=\"disk\"><source pool=\"%s\" volume=\"%s\"/>"
					       "<target dev=\"vd%c\" bus=\"virtio\"/></disk>", pv[0], pv[1], 'a' + j);
		}
		g_string_append(x, "</devices></domain>");
		if (!add_domain(h, name, x->str, pick(r, G_N_ELEMENTS(runstates))))
			continue;
		for (guint j = 0; j < keys->len; j++) {
			g_auto(GStrv) pv = g_strsplit(keys->pdata[j], "/", 2);

			add_use(h, name, pv[0], pv[1]);
		}
	}
}

static void
pool_xml(GString *out, const fhost *h, const char *pool, guint n)
{
	g_string_append_printf(out,
		"<pool type=\"dir\"><name>%s</name><uuid>35bb2ad9-388a-cdfe-461a-b8907f6e%04x</uuid>"
		"<capacity unit=\"GiB\">500</capacity><allocation unit=\"GiB\">10</allocation>"
		"<available unit=\"GiB\">490</available><target><path>/var/lib/strata-fuzz/%s/%s</path></target>\n",
		pool, n, h->name, pool);
	for (guint i = 0; i < h->vols->len; i++) {
		g_auto(GStrv) pv = g_strsplit(h->vols->pdata[i], "/", 2);

		if (strcmp(pv[0], pool) == 0)
			g_string_append_printf(out,
				"<volume type=\"file\"><name>%s</name><capacity unit=\"MiB\">64</capacity>"
				"<allocation unit=\"MiB\">1</allocation><target><format type=\"qcow2\"/></target></volume>\n",
				pv[1]);
	}
	g_string_append(out, "</pool>\n");
}

static char *
node_xml(const fhost *h)
{
	GString *x = g_string_new(NULL);

	g_string_append_printf(x, "<node>\n<cpu><mhz>2400</mhz><model>x86_64</model><nodes>1</nodes>"
			       "<sockets>1</sockets><cores>%u</cores><threads>1</threads><active>%u</active></cpu>\n"
			       "<memory>%" G_GUINT64_FORMAT "</memory>\n", h->cpus, h->cpus, h->mem_kib);
	pool_xml(x, h, "default", 1);
	if (h->has_fast)
		pool_xml(x, h, "fast", 2);
	g_string_append(x, h->domains->str);
	g_string_append(x, "</node>\n");
	return g_string_free(x, FALSE);
}

/* Versions of t2 on the hosts, before the domains (which may use them):
 * the current one on the first host, made by strata there (so that no
 * capture is planned, which the test driver could not hash); older ones
 * here and there, two in three made by strata. */
static void
gen_versions(world *w)
{
	reader *r = &w->r;

	for (guint i = 0; w->t2_version && i < w->n_hosts; i++) {
		for (guint k = 1; k <= w->t2_version; k++) {
			g_autofree char *name = g_strdup_printf("t2-v%u.qcow2", k);
			bool current = k == w->t2_version && i == 0;

			if (!current && one_in(r, 2))
				continue;
			add_volume(&w->hosts[i], "default", name);
			if (current || !one_in(r, 3))
				g_hash_table_insert(w->made, g_strdup_printf("%s/default/%s", w->hosts[i].name, name),
						    g_strdup_printf("%064u", k));
		}
	}
}

static void
gen_hosts_state(world *w, const desired_state *want)
{
	reader *r = &w->r;

	for (guint i = 0; i < w->n_hosts; i++) {
		fhost *h = &w->hosts[i];

		if (!one_in(r, 12))
			add_volume(h, "default", "base0.qcow2");
		for (guint k = 0; k < 2; k++) {
			g_autofree char *iso = g_strdup_printf("iso%u.iso", k);

			if (!one_in(r, 4))
				add_volume(h, "default", iso);
		}
		if (w->t0_disk && !one_in(r, 12))
			add_volume(h, "default", "base0-td.qcow2");
		if (!one_in(r, 12)) {
			GHashTableIter it;
			gpointer key;

			g_hash_table_iter_init(&it, w->bases);
			while (g_hash_table_iter_next(&it, &key, NULL))
				if (strstr(key, "base1")) {
					g_auto(GStrv) pv = g_strsplit(key, "/", 2);

					add_volume(h, pv[0], pv[1]);
				}
		}
	}
	gen_versions(w);
	gen_persistent_volumes(w, want);
	gen_desired_domains(w, want);
	gen_removed_domains(w);
	for (guint i = 0; i < w->n_hosts; i++)
		if (w->hosts[i].reachable)
			gen_foreign_domains(w, want, &w->hosts[i]);
}

static void
write_nodes(world *w)
{
	for (guint i = 0; i < w->n_hosts; i++) {
		fhost *h = &w->hosts[i];
		g_autofree char *path = g_strdup_printf("%s/%s.xml", workdir, h->name);
		g_autofree char *xml = NULL;
		FILE *f;

		if (!h->reachable)
			continue;
		xml = node_xml(h);
		/* Not g_file_set_contents: its fsync would cost more than the input. */
		f = fopen(path, "w");
		if (!f || fputs(xml, f) < 0 || fclose(f) != 0)
			abort();
		if (verbose)
			fprintf(stderr, "==== node %s\n%s", h->name, xml);
	}
}

/* ---- the properties ---------------------------------------------------- */

static const world *current;
static const plan *shown[2];

G_GNUC_NORETURN G_GNUC_PRINTF(1, 2) static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\nfuzz_plan: property violated: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n==== spec\n%s", current->yaml->str);
	for (guint i = 0; i < current->n_hosts; i++)
		if (current->hosts[i].reachable) {
			g_autofree char *xml = node_xml(&current->hosts[i]);

			fprintf(stderr, "==== node %s\n%s", current->hosts[i].name, xml);
		}
	for (guint i = 0; i < 2; i++)
		if (shown[i]) {
			fprintf(stderr, "==== plan %u\n", i + 1);
			plan_show(stderr, OUTPUT_TEXT, shown[i]);
		}
	abort();
}

static void
check_order(const plan *p)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->id != i + 1)
			die("op %u is numbered %u", i + 1, op->id);
		for (guint j = 0; j < op->deps->len; j++)
			if (((plan_op *)op->deps->pdata[j])->id >= op->id)
				die("op %u depends on op %u, which comes later", op->id,
				    ((plan_op *)op->deps->pdata[j])->id);
	}
	for (guint i = 0; i < p->errors->len; i++)
		if (strstr(p->errors->pdata[i], "cannot be ordered"))
			die("the planner built a cycle: %s", (char *)p->errors->pdata[i]);
}

static bool
waits_for(const plan_op *op, const plan_op *on)
{
	for (guint i = 0; i < op->deps->len; i++)
		if (op->deps->pdata[i] == on || waits_for(op->deps->pdata[i], on))
			return true;
	return false;
}

static const plan_op *
op_on(const plan *p, op_kind kind, const char *host, const char *domain)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == kind && strcmp(op->host, host) == 0 && g_strcmp0(op->domain, domain) == 0)
			return op;
	}
	return NULL;
}

/*
 * The delete of @key by @del may go ahead of @u's domain only if the plan
 * takes that domain off the host first, or rebuilds the domain's own disk
 * once it is stopped (a template change).
 */
static void
check_user(const plan *p, const fhost *h, const plan_op *del, const use *u)
{
	const plan_op *gone = op_on(p, OP_UNDEFINE, h->name, u->domain);
	const plan_op *stop = op_on(p, OP_SHUTDOWN, h->name, u->domain);

	if (!gone)
		gone = op_on(p, OP_MIGRATE, h->name, u->domain);
	if (gone && waits_for(del, gone))
		return;
	if (op_on(p, OP_DEFINE, h->name, u->domain) && desired_volume_owned_by(del->volume, u->domain) &&
	    (!g_hash_table_contains(h->active, u->domain) || (stop && waits_for(del, stop))))
		return;
	die("op %u deletes %s on %s, which domain %s uses, and the plan does not remove that domain first",
	    del->id, u->key, h->name, u->domain);
}

static void
check_delete(const world *w, const desired_state *want, const plan *p, const plan_op *del)
{
	g_autofree char *key = g_strdup_printf("%s/%s", del->pool, del->volume);
	const desired_ptemplate *t = g_hash_table_lookup(want->ptemplate_by_volume, del->volume);

	if (g_hash_table_contains(w->bases, key))
		die("op %u deletes template base %s on %s", del->id, key, del->host);
	if (g_str_has_suffix(del->volume, ".iso"))
		die("op %u deletes the operator's image %s on %s", del->id, key, del->host);
	/* A move (the domain defined or migrated elsewhere by this plan) never
	 * deletes from a pool declared shared: it may be the copy it uses. */
	for (guint i = 0; del->domain && desired_pool_sharers(want, del->pool, del->host) && i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if ((op->kind == OP_DEFINE || op->kind == OP_MIGRATE) && g_strcmp0(op->domain, del->domain) == 0 &&
		    strcmp(op->kind == OP_MIGRATE ? op->target : op->host, del->host) != 0)
			die("op %u deletes %s on %s, a pool declared shared, while op %u moves %s to %s",
			    del->id, key, del->host, op->id, del->domain,
			    op->kind == OP_MIGRATE ? op->target : op->host);
	}
	if (g_str_has_prefix(del->volume, "persistent-") &&
	    (!t || !t->deleted || strcmp(t->pool, del->pool) != 0))
		die("op %u deletes persistent volume %s on %s, and its template does not say state: deleted",
		    del->id, key, del->host);
	for (guint i = 0; i < w->n_hosts; i++) {
		const fhost *h = &w->hosts[i];

		if (strcmp(h->name, del->host) != 0)
			continue;
		for (guint j = 0; j < h->uses->len; j++) {
			const use *u = h->uses->pdata[j];

			if (strcmp(u->key, key) == 0)
				check_user(p, h, del, u);
		}
	}
}

/*
 * A capture waits for its VM to be as its spec says: deployed, on the host
 * it stays on, with the definition and the run state the spec gives (plan.c
 * capture_waits). When the plan that converged brought X there, the next
 * plan may capture from X, and do nothing else to anything else.
 */
static const char *const capture_waits_done[] = {
	"not captured yet: VM %s is not deployed",
	"not captured yet from VM %s: it is about to move",
	"not captured yet from VM %s: its definition does not match its spec yet",
	"not captured yet from VM %s: its state does not match its spec yet",
};

static bool
capture_waited(const plan *first, const char *domain)
{
	for (guint k = 0; k < G_N_ELEMENTS(capture_waits_done); k++) {
		g_autofree char *waited = g_strdup_printf(capture_waits_done[k], domain);

		for (guint j = 0; j < first->notes->len; j++)
			if (strstr(first->notes->pdata[j], waited))
				return true;
	}
	return false;
}

static bool
capture_after_deploy(const plan *first, const plan *again)
{
	bool captured = false;

	for (guint i = 0; i < again->ops->len; i++) {
		const plan_op *op = again->ops->pdata[i];

		if (!op->domain || !capture_waited(first, op->domain))
			return false;
		if (op->kind != OP_VOL_CAPTURE && op->kind != OP_SHUTDOWN && op->kind != OP_START)
			return false;
		captured = captured || op->kind == OP_VOL_CAPTURE;
	}
	return captured && !again->errors->len;
}

/* An old version goes only in a plan of retirements alone, only one
 * strata made there, older than the kept ones, with its recorded checksum
 * to check (check_delete has checked that no domain uses it). */
static void
check_retire(const world *w, const plan *p, const plan_op *del)
{
	g_autofree char *made = g_strdup_printf("%s/%s/%s", del->host, del->pool, del->volume);
	const char *sha = g_hash_table_lookup(w->made, made);
	unsigned k = 0;

	for (guint i = 0; i < p->ops->len; i++)
		if (!((plan_op *)p->ops->pdata[i])->retire)
			die("op %u retires %s in a plan that does more (op %u)", del->id, made, i + 1);
	if (!sha || g_strcmp0(del->hash, sha) != 0)
		die("op %u retires %s, which strata did not make there (or with another checksum)", del->id, made);
	if (strcmp(del->pool, "default") != 0 || sscanf(del->volume, "t2-v%u.qcow2", &k) != 1 ||
	    k + w->t2_keep > w->t2_version)
		die("op %u retires %s: not a version older than the %u kept of %u", del->id, made, w->t2_keep,
		    w->t2_version);
}

static void
check_plan(const world *w, const desired_state *want, const plan *p)
{
	/* A message built from a missing string says "(null)": what is wrong
	 * is then never said (a cache that answered for another VM did). */
	for (guint i = 0; i < p->errors->len; i++)
		if (strstr(p->errors->pdata[i], "(null)"))
			die("error with a missing part: %s", (char *)p->errors->pdata[i]);
	for (guint i = 0; i < p->notes->len; i++)
		if (strstr(p->notes->pdata[i], "(null)"))
			die("note with a missing part: %s", (char *)p->notes->pdata[i]);
	check_order(p);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_DELETE)
			check_delete(w, want, p, op);
		if (op->retire)
			check_retire(w, p, op);
	}
}

/* ---- one input --------------------------------------------------------- */

static void
tally_key(GHashTable *t, const char *key)
{
	gpointer n = g_hash_table_lookup(t, key);

	g_hash_table_insert(t, g_strdup(key), GUINT_TO_POINTER(GPOINTER_TO_UINT(n) + 1));
}

static void
count_failures(const plan *p)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		g_autofree char *why = NULL;

		if (op->status != OPST_FAILED)
			continue;
		why = g_strdup_printf("%s: %s", op_kind_name(op->kind), op->error);
		tally_key(stats.failures, why);
	}
}

static void
count_errors(const plan *p)
{
	static GRegex *names;

	if (!names)
		names = g_regex_new("[a-z0-9-]+\\.[a-z0-9.-]+|'[^']*'|\\bh[0-9]\\b|[0-9]+", 0, 0, NULL);
	for (guint i = 0; i < p->errors->len; i++) {
		g_autofree char *shape = g_regex_replace_literal(names, p->errors->pdata[i], -1, 0,
								 "_", 0, NULL);

		tally_key(stats.errors, shape);
	}
}

static exec_result
apply(pass *ps, host_set *hosts, obs_cache *cache, bool serial)
{
	g_autoptr(GError) err = NULL;
	history *hist = history_open(":memory:", &err);
	exec_options eo;
	exec_result r;
	gint64 run;

	if (!hist)
		die("history: %s", err->message);
	exec_options_init(&eo);
	eo.shutdown_timeout_ms = 0;   /* a guest that ignores shutdown is powered off at once */
	if (serial)
		eo.parallel = 1;
	run = history_run_begin(hist, "fuzz", 0, &err);
	r = exec_plan(ps->plan, hosts, hist, run, cache, &eo, &err);
	history_close(hist);
	if (verbose)
		for (guint i = 0; i < ps->plan->ops->len; i++) {
			const plan_op *op = ps->plan->ops->pdata[i];
			g_autofree char *what = op_describe(op);

			fprintf(stderr, "  op %u %s on %s: %s%s%s\n", op->id, what, op->host,
				op_status_name(op->status), op->error ? ": " : "", op->error ? op->error : "");
		}
	return r;
}

/* Apply @ps's plan; if all of it succeeds, the next pass has nothing to do. */
static void
converge(world *w, const desired_state *want, pass *ps, spec_source *src, host_set *hosts,
	 obs_cache *cache, const plan_options *po)
{
	bool fresh_cache = one_in(&w->r, 2);  /* a new `strata apply`, or the daemon's next pass */
	pass again;
	exec_result r;

	stats.applied++;
	r = apply(ps, hosts, cache, one_in(&w->r, 4));
	if (r != EXEC_CONVERGED) {
		stats.partial++;
		count_failures(ps->plan);
		return;
	}
	stats.converged++;
	if (fresh_cache)
		obs_cache_clear(cache);
	pass_plan(&again, src, hosts, cache, po, NULL);
	shown[1] = again.plan;
	if (verbose) {
		fprintf(stderr, "==== plan 2\n");
		plan_show(stderr, OUTPUT_TEXT, again.plan);
	}
	check_order(again.plan);
	check_plan(w, want, again.plan);
	/* Retirements come in the pass after the one that converged. */
	if (again.plan->ops->len && !again.plan->errors->len && ((plan_op *)again.plan->ops->pdata[0])->retire)
		stats.retired++;
	else if (capture_after_deploy(ps->plan, again.plan))
		stats.captured_late++;
	else if (again.plan->ops->len || again.plan->errors->len)
		die("the plan applied completely, and planning again still finds %u operations and %u errors",
		    again.plan->ops->len, again.plan->errors->len);
	stats.checked++;
	shown[1] = NULL;
	pass_release(&again);
}

static char *
shown_as(const plan *p, output_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	plan_show(f, fmt, p);
	fclose(f);
	return buf;
}

/* What was observed, written as a snapshot and read back, plans the same:
 * `strata plan --observed` is the live plan, byte for byte. */
static void
check_snapshot(const spec_source *src, const pass *ps, const plan_options *po)
{
	g_autofree char *text = observe_snapshot_write(ps->have, NULL, 0);
	g_autoptr(GPtrArray) gaps = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) err = NULL;
	g_autofree char *live = NULL, *again = NULL;
	observed *snap, *have;
	gint64 taken;
	plan *p;

	snap = observe_snapshot_parse("snapshot", text, -1, &taken, &err);
	if (!snap)
		die("a snapshot strata wrote does not read back: %s", err->message);
	have = observe_snapshot_bind(snap, src, "test:///default", ps->want, gaps);
	if (gaps->len)
		die("the snapshot of this very revision lacks something: %s", (char *)gaps->pdata[0]);
	p = plan_build(ps->want, have, po);
	for (output_format fmt = OUTPUT_TEXT; fmt <= OUTPUT_JSON; fmt++) {
		g_free(live);
		g_free(again);
		live = shown_as(ps->plan, fmt);
		again = shown_as(p, fmt);
		if (strcmp(live, again) != 0)
			die("the plan from a snapshot differs from the live plan:\n%s\n---- from the snapshot:\n%s",
			    live, again);
	}
	stats.snapshots++;
	plan_free(p);
	observed_free(have);
}

static void
run_world(world *w, spec_source *src)
{
	g_autoptr(desired_state) want = desired_build(src);
	g_autoptr(GError) err = NULL;
	g_autoptr(host_set) hosts = NULL;
	g_autoptr(obs_cache) cache = obs_cache_new();
	plan_options po = { .allow_empty = one_in(&w->r, 2), .allow_removal = one_in(&w->r, 2), .made = w->made };
	pass ps;

	gen_hosts_state(w, want);
	write_nodes(w);
	hosts = hosts_open(src, "test:///default", false, HOSTS_CONNECT_DEADLINE_MS, &err);
	if (!hosts)
		die("hosts: %s", err->message);
	pass_plan(&ps, src, hosts, cache, &po, NULL);
	shown[0] = ps.plan;
	if (verbose) {
		fprintf(stderr, "==== plan 1\n");
		plan_show(stderr, OUTPUT_TEXT, ps.plan);
	}
	check_plan(w, want, ps.plan);
	check_snapshot(src, &ps, &po);
	if (ps.plan->errors->len) {
		stats.refused++;   /* strata apply carries out no plan with errors */
		count_errors(ps.plan);
	}
	else
		converge(w, want, &ps, src, hosts, cache, &po);
	shown[0] = NULL;
	pass_release(&ps);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(spec_source) src = NULL;
	spec_diags diags;
	world w;

	stats.inputs++;
	world_init(&w, data, size);
	current = &w;
	gen_hosts(&w);
	gen_templates(&w);
	gen_pool(&w);
	gen_appliances(&w);
	if (verbose)
		fprintf(stderr, "==== spec\n%s", w.yaml->str);
	spec_diags_init(&diags);
	src = spec_load_buffer("fuzz.yaml", w.yaml->str, w.yaml->len, &diags);
	spec_validate(src, &diags);
	if (diags.errors) {
		stats.invalid++;
		tally_key(stats.refusals, ((spec_diag *)diags.items->pdata[0])->code);
	}
	else
		run_world(&w, src);
	spec_diags_release(&diags);
	world_release(&w);
	current = NULL;
	return 0;
}

static void
print_stats(void)
{
	GHashTableIter it;
	gpointer k, v;

	fprintf(stderr, "fuzz_plan: %u inputs: %u invalid specs, %u plans with errors, %u applied "
		"(%u completely, %u partly), %u checked to converge (%u of them then retiring old versions, "
		"%u then capturing from a VM the first plan deployed), %u planned again from a snapshot\n",
		stats.inputs, stats.invalid, stats.refused, stats.applied, stats.converged,
		stats.partial, stats.checked, stats.retired, stats.captured_late, stats.snapshots);
	fprintf(stderr, "invalid specs, by their first diagnostic:\n");
	g_hash_table_iter_init(&it, stats.refusals);
	while (g_hash_table_iter_next(&it, &k, &v))
		fprintf(stderr, "  %6u  %s\n", GPOINTER_TO_UINT(v), (char *)k);
	fprintf(stderr, "plan errors:\n");
	g_hash_table_iter_init(&it, stats.errors);
	while (g_hash_table_iter_next(&it, &k, &v))
		fprintf(stderr, "  %6u  %s\n", GPOINTER_TO_UINT(v), (char *)k);
	fprintf(stderr, "operations that failed in applies:\n");
	g_hash_table_iter_init(&it, stats.failures);
	while (g_hash_table_iter_next(&it, &k, &v))
		fprintf(stderr, "  %6u  %s\n", GPOINTER_TO_UINT(v), (char *)k);
}

static void
cleanup(void)
{
	for (guint i = 0; i < MAX_HOSTS; i++) {
		g_autofree char *path = g_strdup_printf("%s/h%u.xml", workdir, i);

		g_unlink(path);
	}
	g_rmdir(workdir);
}

/* libxml2 reports a node file that is not there (a host that does not
 * answer) on stderr, once per input; the plan says it already. */
static void
xml_quiet(void *ctx, const char *fmt, ...)
{
	(void)ctx;
	(void)fmt;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlSetGenericErrorFunc(NULL, xml_quiet);
	/*
	 * Each apply makes an executor with its own thread pool.  Its worker
	 * threads are kept for the next one instead of exiting: a thread that
	 * exits while libFuzzer looks for leaks shows its libxml2 and GLib
	 * per-thread state as leaked (seen once in 4,000 inputs), and
	 * starting threads anew costs time.
	 */
	g_thread_pool_set_max_unused_threads(-1);
	g_thread_pool_set_max_idle_time(0);
	workdir = g_dir_make_tmp("strata-fuzz-plan-XXXXXX", NULL);
	if (!workdir)
		abort();
	verbose = g_getenv("FUZZ_PLAN_VERBOSE") != NULL;
	stats.failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	stats.refusals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	stats.errors = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	atexit(cleanup);
	if (g_getenv("FUZZ_PLAN_STATS"))
		atexit(print_stats);
	return 0;
}
