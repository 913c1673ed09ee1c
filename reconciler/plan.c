/*
 * plan.c - desired + observed -> a DAG of operations
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <string.h>

#include "domxml.h"
#include "place.h"
#include "plan.h"
#include "vm_change.h"

/* What a domain is doing, as far as a plan cares. */
typedef enum { RUN_OFF, RUN_RUNNING, RUN_PAUSED, RUN_SAVED } run_state;

typedef struct {
	const desired_state *want;
	const observed *have;
	const plan_options *opts;
	plan *p;
	place_state *ps;
	GHashTable *start_op;     /* domain -> op that brings it up */
	GHashTable *stop_op;      /* domain -> op that takes it down */
	GHashTable *undefines;    /* host name -> GPtrArray of UNDEFINE ops */
	GHashTable *duplicates;   /* domain names seen on two hosts */
	GHashTable *removal_stops;/* host -> shutdowns of VMs being removed */
	GHashTable *new_starts;   /* host -> defines of new VMs */
	GHashTable *blocked;      /* domains of layers that cannot be placed */
	GHashTable *bases;        /* "pool/volume" of every base in the source */
	GHashTable *copies;       /* "host/pool/volume" -> index in p->ops of
				     its VOL_COPY: one per base and host */
	GHashTable *captures;     /* "pool/volume" -> its VOL_CAPTURE (never
				     dropped: made before any VM is planned) */
	GHashTable *capture_start; /* domain -> plan_op *[2]: the SHUTDOWN before
				     and the START after its captures (NULL, NULL:
				     not stopped for them): a template's disks
				     are captured in one stop */
	GHashTable *gates;        /* domain -> plan_op: every op of the domain
				     planned after it waits for it (snapshots
				     taken or let go of before a change) */
	GHashTable *settled;      /* domains whose snapshot declarations hold
				     once this plan is carried out: their
				     definition records the whole hash */
	GHashTable *held;         /* appliances whose operations are held back */
	GHashTable *tallies;      /* appliance -> guint[3]: its VMs counted in
				     n_create, n_change, n_remove */
	bool refuse_all;          /* an error that concerns the whole plan */
	const char *unreachable;  /* a host we cannot see, if any */
	char *vanished;           /* the name of a host gone from the source */
	const char *lost;         /* a host declared lost that does not answer */
	unsigned managed;         /* managed domains on reachable hosts */
	unsigned removed;
} planner;

static const char *const kind_names[] = {
	"create-volume", "delete-volume", "define", "undefine", "start",
	"shutdown", "suspend", "resume", "save", "discard-save", "set-memory",
	"reboot", "snapshot-create", "snapshot-delete", "migrate", "pm-wakeup",
	"copy-volume", "export-template", "export-image", "capture-volume", "set-vcpus",
	"attach", "detach", "resize-disk", "snapshot-revert", "change-media",
	"write-seed", "set-console-password",
};
static const char *const impact_names[] = {
	"in-place", "restart", "hard-stop", "replace", "destroys-data",
};
static const char *const status_names[] = {
	"pending", "running", "done", "failed", "skipped",
};

const char *
op_kind_name(op_kind k)
{
	return kind_names[k];
}

const char *
op_impact_name(op_impact i)
{
	return impact_names[i];
}

const char *
op_status_name(op_status s)
{
	return status_names[s];
}

char
op_symbol(const plan_op *op)
{
	switch (op->kind) {
	case OP_VOL_CREATE:
	case OP_VOL_COPY:
	case OP_LIB_EXPORT:
	case OP_IMAGE_EXPORT:
	case OP_VOL_CAPTURE:
		return '+';
	case OP_DEFINE:
		return op->redefines ? '~' : '+';
	case OP_VOL_DELETE:
	case OP_UNDEFINE:
		return '-';
	default:
		return '~';
	}
}

char *
plan_size_text(uint64_t bytes)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	guint i = 0;

	while (v >= 1024 && i + 1 < G_N_ELEMENTS(unit)) {
		v /= 1024;
		i++;
	}
	return i ? g_strdup_printf("%.1f %s", v, unit[i])
		 : g_strdup_printf("%" G_GUINT64_FORMAT " bytes", bytes);
}

char *
op_describe(const plan_op *op)
{
	if (op->kind == OP_VOL_CREATE || op->kind == OP_VOL_DELETE)
		return g_strdup_printf("%s %s/%s", op_kind_name(op->kind), op->pool, op->volume);
	if (op->kind == OP_VOL_COPY) {
		g_autofree char *size = plan_size_text(op->value);

		return g_strdup_printf("%s %s/%s from %s%s (%s)", op_kind_name(op->kind), op->pool,
				       op->volume, op->library ? "library " : "",
				       op->library ? op->library : op->peer, size);
	}
	if (op->kind == OP_LIB_EXPORT) {
		g_autofree char *size = plan_size_text(op->value);

		return g_strdup_printf("%s %s version %u from %s/%s into library %s (%s)", op_kind_name(op->kind),
				       op->export->template, op->export->version, op->pool, op->volume,
				       op->library, size);
	}
	if (op->kind == OP_VOL_CAPTURE)
		return g_strdup_printf("%s %s/%s from %s's disk %s/%s%s", op_kind_name(op->kind), op->pool,
				       op->volume, op->domain, op->file, op->clone_from,
				       op->live ? ", live (a point-in-time copy; it keeps running)" : "");
	if (op->kind == OP_IMAGE_EXPORT)
		return g_strdup_printf("%s %s version %u from %s/%s as %s %s/%s%s", op_kind_name(op->kind),
				       op->export->template, op->export->version, op->pool, op->volume,
				       op->export->format, op->file, op->export->file_name,
				       op->export->command ? ", then uploaded" : "");
	if (op->kind == OP_SET_MEMORY)
		return g_strdup_printf("%s %s to %" G_GUINT64_FORMAT " MiB",
				       op_kind_name(op->kind), op->domain, op->value >> 20);
	if (op->kind == OP_SET_VCPUS)
		return g_strdup_printf("%s %s to %" G_GUINT64_FORMAT, op_kind_name(op->kind), op->domain,
				       op->value);
	if (op->kind == OP_ATTACH || op->kind == OP_DETACH)
		return g_strdup_printf("%s %s %s %s", op_kind_name(op->kind), op->domain,
				       strchr(op->device, ':') ? "NIC" : "disk", op->device);
	if (op->kind == OP_DISK_RESIZE) {
		g_autofree char *size = plan_size_text(op->value);

		return g_strdup_printf("%s %s %s to %s", op_kind_name(op->kind), op->domain, op->device, size);
	}
	if (op->kind == OP_MEDIA)
		return g_strdup_printf("%s %s %s: %s", op_kind_name(op->kind), op->domain, op->device,
				       op->file ? op->file : "eject");
	if (op->kind == OP_SEED)
		return g_strdup_printf("%s %s into %s/%s (first-boot data %.12s)", op_kind_name(op->kind),
				       op->domain, op->pool, op->volume, op->digest);
	if (op->kind == OP_SNAPSHOT_REVERT)
		return g_strdup_printf("%s %s to '%s' (revert %s)", op_kind_name(op->kind), op->domain,
				       op->snapshot, op->revert_id);
	if ((op->kind == OP_SNAPSHOT_CREATE || op->kind == OP_SNAPSHOT_DELETE) && op->one_snapshot)
		return g_strdup_printf("%s %s '%s'", op_kind_name(op->kind), op->domain, op->snapshot);
	if (op->kind == OP_MIGRATE)
		return g_strdup_printf("%s %s to %s%s (aborted after %" G_GUINT64_FORMAT " s)",
				       op_kind_name(op->kind), op->domain, op->target,
				       op->shared ? ", disks on shared storage" : "", op->value);
	return g_strdup_printf("%s %s", op_kind_name(op->kind), op->domain);
}

static void
op_free(gpointer p)
{
	plan_op *op = p;

	g_free(op->host);
	g_free(op->target);
	g_free(op->peer);
	g_strfreev(op->refresh);
	g_strfreev(op->members);
	g_free(op->domain);
	g_free(op->appliance);
	g_free(op->vm);
	g_free(op->pool);
	g_free(op->volume);
	g_free(op->clone_from);
	g_free(op->library);
	g_free(op->file);
	g_free(op->image);
	if (op->export) {
		g_free(op->export->template);
		g_free(op->export->format);
		g_free(op->export->file_name);
		g_free(op->export->source_format);
		g_free(op->export->command);
		g_free(op->export->region);
		g_strfreev(op->export->volumes);
		g_strfreev(op->export->formats);
		g_free(op->export->sizes);
		g_free(op->export);
	}
	g_free(op->xml);
	g_free(op->hash);
	g_free(op->reason);
	g_free(op->snapshot);
	g_free(op->revert_id);
	g_free(op->device);
	g_free(op->error);
	g_free(op->digest);
	g_free(op->log);
	for (int i = 0; i < SPEC_SEED_PARTS; i++)
		if (op->seed[i])
			g_bytes_unref(op->seed[i]);
	g_ptr_array_unref(op->deps);
	g_free(op);
}

void
plan_free(plan *p)
{
	if (!p)
		return;
	g_ptr_array_unref(p->ops);
	g_ptr_array_unref(p->notes);
	g_ptr_array_unref(p->errors);
	g_free(p);
}

plan *
plan_new(void)
{
	plan *p = g_new0(plan, 1);

	p->ops = g_ptr_array_new_with_free_func(op_free);
	p->notes = g_ptr_array_new_with_free_func(g_free);
	p->errors = g_ptr_array_new_with_free_func(g_free);
	return p;
}

static plan_op *
op_add(planner *pl, op_kind kind, op_impact impact, const char *host,
       const char *domain, plan_op *after, const char *reason)
{
	plan_op *op = g_new0(plan_op, 1);

	op->kind = kind;
	op->impact = impact;
	op->host = g_strdup(host);
	op->domain = g_strdup(domain);
	op->reason = g_strdup(reason);
	op->deps = g_ptr_array_new();
	if (after)
		g_ptr_array_add(op->deps, after);
	if (domain && pl->gates) {
		plan_op *gate = g_hash_table_lookup(pl->gates, domain);

		if (gate && gate != after)
			g_ptr_array_add(op->deps, gate);
	}
	if (domain) {
		g_auto(GStrv) parts = g_strsplit(domain, ".", 2);

		op->appliance = g_strdup(parts[0]);
		op->vm = g_strdup(parts[1]);
	}
	g_ptr_array_add(pl->p->ops, op);
	return op;
}

/* Count a VM in @counter (one of the plan's), and for its appliance. */
static void
tally(planner *pl, const char *appliance, guint *counter)
{
	guint *t = appliance ? g_hash_table_lookup(pl->tallies, appliance) : NULL;

	(*counter)++;
	if (!appliance)
		return;
	if (!t) {
		t = g_new0(guint, 3);
		g_hash_table_insert(pl->tallies, (gpointer)appliance, t);
	}
	t[counter == &pl->p->n_create ? 0 : counter == &pl->p->n_change ? 1 : 2]++;
}

static void
dep(plan_op *op, plan_op *on)
{
	if (op && on && op != on)
		g_ptr_array_add(op->deps, on);
}

static GPtrArray *
host_list(GHashTable *by_host, const char *host)
{
	GPtrArray *list = g_hash_table_lookup(by_host, host);

	if (!list) {
		list = g_ptr_array_new();
		g_hash_table_insert(by_host, (gpointer)host, list);
	}
	return list;
}

static GPtrArray *
removal_stops(planner *pl, const char *host)
{
	return host_list(pl->removal_stops, host);
}

G_GNUC_PRINTF(2, 3) static void
note(planner *pl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(pl->p->notes, g_strdup_vprintf(fmt, ap));
	va_end(ap);
}

/*
 * What cannot be done, and why.  @scope is the appliance it concerns: its
 * operations are held back while the rest of the fleet proceeds (NULL: the
 * whole plan is refused; "": reported, nothing held).
 */
G_GNUC_PRINTF(3, 4) static void
refuse(planner *pl, const char *scope, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_ptr_array_add(pl->p->errors, g_strdup_vprintf(fmt, ap));
	va_end(ap);
	if (!scope)
		pl->refuse_all = true;
	else if (*scope)
		g_hash_table_add(pl->held, (gpointer)scope);
}

static run_state
run_state_of(const obs_domain *d)
{
	switch (d->state) {
	case VIRT_DOM_RUNNING:
	case VIRT_DOM_BLOCKED:
	case VIRT_DOM_SHUTDOWN:
		return RUN_RUNNING;
	case VIRT_DOM_PAUSED:
	case VIRT_DOM_PMSUSPENDED:
		return RUN_PAUSED;
	default:
		return d->managed_save ? RUN_SAVED : RUN_OFF;
	}
}

static run_state
run_state_wanted(int vm_state)
{
	switch (vm_state) {
	case VM_RUNNING:
		return RUN_RUNNING;
	case VM_PAUSED:
		return RUN_PAUSED;
	case VM_SAVED:
		return RUN_SAVED;
	default:
		return RUN_OFF;
	}
}

/* The state a VM should be in now: the spec's, unless an override holds. */
static int
wanted(const planner *pl, const desired_vm *vm)
{
	gpointer st;

	if (pl->opts->overrides &&
	    g_hash_table_lookup_extended(pl->opts->overrides, vm->domain, NULL, &st))
		return GPOINTER_TO_INT(st);
	return vm->state;
}

static plan_op *
vm_op(planner *pl, op_kind kind, op_impact impact, const char *host,
      const char *domain, plan_op **last, const char *reason)
{
	*last = op_add(pl, kind, impact, host, domain, *last, reason);
	if (kind == OP_SHUTDOWN) {
		/* Say what a stop may cost: after its timeout, a hard power-off
		 * (the VM's own timeout; a removed VM gets the default). */
		const desired_vm *vm = g_hash_table_lookup(pl->want->vm_by_domain, domain);

		if ((*last)->impact < IMPACT_HARD_STOP)
			(*last)->impact = IMPACT_HARD_STOP;
		(*last)->value = vm ? vm->shutdown_timeout_s : SPEC_SHUTDOWN_TIMEOUT_S;
	}
	if (kind == OP_SAVE) {
		/* Seconds before the save is aborted: writing the guest's memory
		 * out, a minute and 10 s per GiB (the VM's, else one GiB). */
		const desired_vm *vm = g_hash_table_lookup(pl->want->vm_by_domain, domain);
		uint64_t gib = vm ? (desired_vm_max_memory(vm) + (1ULL << 30) - 1) >> 30 : 1;

		(*last)->value = 60 + 10 * gib;
	}
	if (kind == OP_START || kind == OP_RESUME)
		g_hash_table_insert(pl->start_op, (gpointer)(*last)->domain, *last);
	if (kind == OP_SHUTDOWN)
		g_hash_table_insert(pl->stop_op, (gpointer)(*last)->domain, *last);
	return *last;
}

/* Suspended to RAM by the guest's own power management (counted as
 * paused): it cannot be resumed to shut down, only woken or powered off. */
static bool
pm_suspended(const planner *pl, const char *host, const char *domain)
{
	const obs_domain *d = pl->have ? g_hash_table_lookup(pl->have->domain_by_name, domain) : NULL;

	return d && strcmp(d->host->name, host) == 0 && d->state == VIRT_DOM_PMSUSPENDED;
}

/*
 * Every state can be reached from every other (spec/README.md); these are the
 * steps a careful operator would take.  Returns the last op, or @last.
 */
static plan_op *
plan_state_why(planner *pl, const char *host, const char *domain, run_state from,
	       run_state to, op_impact impact, plan_op *last, const char *why)
{
	if (from == to)
		return last;
	switch (from) {
	case RUN_OFF:
		vm_op(pl, OP_START, impact, host, domain, &last, why);
		if (to == RUN_PAUSED)
			vm_op(pl, OP_SUSPEND, impact, host, domain, &last, why);
		else if (to == RUN_SAVED)
			vm_op(pl, OP_SAVE, impact, host, domain, &last, why);
		break;
	case RUN_RUNNING:
		vm_op(pl, to == RUN_OFF ? OP_SHUTDOWN : to == RUN_PAUSED ? OP_SUSPEND : OP_SAVE,
		      to == RUN_OFF ? IMPACT_RESTART : impact, host, domain, &last, why);
		break;
	case RUN_PAUSED:
		if (to == RUN_SAVED) {
			vm_op(pl, OP_SAVE, impact, host, domain, &last, why);
			break;
		}
		if (to == RUN_OFF) {
			/* Resumed only so that the guest can shut down cleanly: a
			 * step of stopping, not a start.  Counted as a start it
			 * would wait for the starts of the VMs this one comes
			 * `after`, and a partner restarted in the same plan
			 * starts only after this VM's shutdown: a cycle. */
			if (!pm_suspended(pl, host, domain))
				last = op_add(pl, OP_RESUME, impact, host, domain, last, why);
			vm_op(pl, OP_SHUTDOWN, IMPACT_RESTART, host, domain, &last, why);
			break;
		}
		vm_op(pl, OP_RESUME, impact, host, domain, &last, why);
		break;
	case RUN_SAVED:
		if (to == RUN_OFF) {
			vm_op(pl, OP_DISCARD_SAVE, IMPACT_DESTROYS_DATA, host, domain, &last,
			      "desired state stopped: the saved memory image is discarded");
			break;
		}
		vm_op(pl, OP_START, impact, host, domain, &last, "restore saved state");
		if (to == RUN_PAUSED)
			vm_op(pl, OP_SUSPEND, impact, host, domain, &last, why);
		break;
	}
	return last;
}

static plan_op *
plan_state(planner *pl, const char *host, const char *domain, run_state from,
	   run_state to, op_impact impact, plan_op *last)
{
	return plan_state_why(pl, host, domain, from, to, impact, last, "desired state");
}

/* ---- volumes ----------------------------------------------------------- */


static const virt_vol *
host_volume(const obs_host *h, const char *pool, const char *name)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, name);

	return g_hash_table_lookup(h->vol_by_key, key);
}

/* Where a file pool keeps @volume: its path, as libvirt keys it. */
static char *
copy_path(const obs_host *h, const char *pool, const char *volume)
{
	const virt_pool *p = obs_host_pool(h, pool);

	return p && p->path ? g_build_filename(p->path, volume, NULL) : NULL;
}

static plan_op *plan_import(planner *pl, const desired_base *b, obs_host *h);
static const char *export_failed_lately(planner *pl, const char *key);
static bool copy_source_marked(planner *pl, const desired_vm *vm, const desired_base *b,
			       const obs_host *src);

/* The size of @d's base: on @h, or where @copy brings it from. */
static uint64_t
base_capacity(planner *pl, const desired_disk *d, const obs_host *h, const plan_op *copy)
{
	const desired_base *b = desired_base_of(pl->want, d->pool, d->base);
	g_autofree char *why = NULL;
	const lib_entry *e;

	if (!copy)
		return obs_host_capacity(h, d->pool, d->base);
	if (copy->kind == OP_VOL_CAPTURE || (!copy->library && copy->deps->len))
		return 0;  /* not made yet: the system disk takes the VM's own size */
	if (!copy->library)
		return obs_host_capacity(obs_host_named(pl->have, copy->peer), d->pool, d->base);
	e = b ? obs_library_entry(pl->have, b, &why) : NULL;
	return e ? ((const lib_disk *)e->disks->pdata[b->index])->virtual_size : 0;
}

/* The format of @d's base, "raw" or "qcow2": on @h, or where @copy brings
 * it from (a capture makes qcow2); qcow2 when nothing says. */
static const char *
base_format(planner *pl, const desired_disk *d, const obs_host *h, const plan_op *copy)
{
	const desired_base *b = desired_base_of(pl->want, d->pool, d->base);
	g_autofree char *why = NULL;
	const char *f = NULL;
	const lib_entry *e;

	if (!copy)
		f = obs_host_format(h, d->pool, d->base);
	else if (copy->kind != OP_VOL_CAPTURE && !copy->library && !copy->deps->len)
		f = obs_host_format(obs_host_named(pl->have, copy->peer), d->pool, d->base);
	else if (copy->library && b && (e = obs_library_entry(pl->have, b, &why)))
		f = ((const lib_disk *)e->disks->pdata[b->index])->format;
	return f && !strcmp(f, "raw") ? "raw" : "qcow2";
}

/* The VOL_COPY planned for @key, if it is still in the plan (an all-or-
 * nothing creation may have dropped it since). */
static plan_op *
copy_planned(planner *pl, const char *key, const char *host, const desired_base *b)
{
	gpointer at;
	plan_op *op;

	if (!g_hash_table_lookup_extended(pl->copies, key, NULL, &at) ||
	    GPOINTER_TO_UINT(at) >= pl->p->ops->len)
		return NULL;
	op = pl->p->ops->pdata[GPOINTER_TO_UINT(at)];
	return op->kind == OP_VOL_COPY && strcmp(op->host, host) == 0 &&
	       strcmp(op->pool, b->pool) == 0 && strcmp(op->volume, b->volume) == 0 ? op : NULL;
}

/* A copy of @b planned onto another member of a pool @h is verified to
 * share: the same file, so @h's copy too (two members copying would have
 * the second fail, having found the file made). */
static plan_op *
copy_on_sharer(planner *pl, const desired_base *b, const obs_host *h)
{
	const char *const *members = desired_pool_sharers(pl->want, b->pool, h->name);

	for (guint i = 0; members && members[i]; i++) {
		const obs_host *m = observed_host(pl->have, members[i]);
		g_autofree char *key = NULL;
		const char *why;
		plan_op *op;

		if (!m || m == h || obs_pool_shared(pl->have, pl->want, b->pool, h, m, &why) != SHARE_YES)
			continue;
		key = g_strdup_printf("%s/%s/%s", m->name, b->pool, b->volume);
		if ((op = copy_planned(pl, key, m->name, b)))
			return op;
	}
	return NULL;
}

/*
 * The copy of @d's base onto @h, once per host and base, or NULL (and a
 * refusal) when it cannot be copied.  It is created on @h before anything
 * is built on it; the source keeps its own.
 */
static plan_op *
plan_copy(planner *pl, const desired_vm *vm, const desired_disk *d, obs_host *h)
{
	const desired_base *b = desired_base_of(pl->want, d->pool, d->base);
	g_autofree char *key = g_strdup_printf("%s/%s/%s", h->name, d->pool, d->base);
	g_autofree char *why = NULL;
	g_autofree char *reason = NULL;
	const obs_host *src;
	plan_op *op = b ? copy_planned(pl, key, h->name, b) : NULL;

	if (op || (b && (op = copy_on_sharer(pl, b, h))))
		return op;
	why = b ? obs_base_copy_blocker(pl->have, b, h)
		: g_strdup_printf("base volume '%s' is not in pool '%s' on %s", d->base, d->pool, h->name);
	if (why) {
		refuse(pl, vm->appliance, "%s: %s", vm->domain, why);
		return NULL;
	}
	src = obs_base_source(pl->have, b);
	if (b->source_library) {
		op = plan_import(pl, b, h);
	} else if (!src) {
		/* Captured this pass: built on where it is made, copied from
		 * there elsewhere. */
		g_autofree char *base_key = g_strdup_printf("%s/%s", b->pool, b->volume);
		plan_op *cap = g_hash_table_lookup(pl->captures, base_key);

		if (!cap && !g_hash_table_contains(pl->have->domain_by_name, vm->domain)) {
			/* A new VM waits alone: held with its appliance, the VM
			 * captured from may be held too, and wait for ever. */
			note(pl, "%s: waits for template %s, not captured yet from VM %s (see above)",
			     vm->domain, b->template, b->source_vm);
			return NULL;
		}
		if (!cap) {  /* a VM rebuilt onto it: its appliance holds, it is not torn down */
			refuse(pl, vm->appliance, "%s: template %s is not captured yet from VM %s (see the "
			       "plan's notes)", vm->domain, b->template, b->source_vm);
			return NULL;
		}
		if (strcmp(cap->host, h->name) == 0)
			return cap;
		op = op_add(pl, OP_VOL_COPY, IMPACT_IN_PLACE, h->name, NULL, cap,
			    "base captured this run, missing here: copied from where it was made");
		op->pool = g_strdup(b->pool);
		op->volume = g_strdup(b->volume);
		op->peer = g_strdup(cap->host);
		op->value = cap->value;
	} else if (copy_source_marked(pl, vm, b, src)) {
		return NULL;
	} else {
		reason = g_strdup_printf("base of template %s, missing on %s: copied from %s%s", b->template,
					 h->name, src->name, b->sha256 ? ", checksum declared" : "");
		op = op_add(pl, OP_VOL_COPY, IMPACT_IN_PLACE, h->name, NULL, NULL, reason);
		op->pool = g_strdup(b->pool);
		op->volume = g_strdup(b->volume);
		op->peer = g_strdup(src->name);
		op->hash = g_strdup(b->sha256);
		op->value = obs_host_allocation(src, b->pool, b->volume);
	}
	g_hash_table_insert(pl->copies, g_steal_pointer(&key), GUINT_TO_POINTER(pl->p->ops->len - 1));
	return op;
}

/* ---- capture: a template made from a VM's disk -------------------------- */

static const char *must_move(planner *pl, const desired_vm *vm, const obs_domain *o);

/*
 * Why @vm cannot be captured now, or NULL.  Only a VM that matches its
 * spec is captured: stopped (graceful) if it runs, its disk copied, then
 * started again; any other change to it in the same plan would fight
 * those steps.
 */
static const char *
capture_waits(planner *pl, const desired_vm *vm, const obs_domain *o, bool live)
{
	g_autofree char *hash = desired_vm_hash(vm, o->host->domain_type);
	run_state from = run_state_of(o);

	if (!o->host->reachable)
		return "its host does not answer";
	if (must_move(pl, vm, o))
		return "it is about to move";
	if (!o->hash || strcmp(o->hash, hash) != 0)
		return "its definition does not match its spec yet";
	if (from != run_state_wanted(wanted(pl, vm)))
		return "its state does not match its spec yet";
	if (from != RUN_RUNNING && from != RUN_OFF)
		return "it is paused or saved; strata captures a VM that runs or is shut off";
	if (from == RUN_RUNNING && vm->never_disrupt && !live)
		return "it runs, and its appliance sets disruption: never (a capture stops it; "
		       "source: {vm: ..., live: true} copies it while it runs)";
	return NULL;
}

#define CAPTURE_RETRY_US (3600 * (gint64)G_USEC_PER_SEC)

/* What the last capture of @b said, if it failed within the hour. */
static const char *
capture_failed_lately(planner *pl, const desired_base *b)
{
	g_autofree char *key = g_strdup_printf("%s/%s", b->pool, b->volume);
	const char *failed = pl->opts->failed_captures ? g_hash_table_lookup(pl->opts->failed_captures, key)
						       : NULL;

	if (!failed || g_get_real_time() - g_ascii_strtoll(failed, NULL, 10) > CAPTURE_RETRY_US)
		return NULL;
	return strchr(failed, ' ') + 4;  /* past "TIME_US at " */
}

static void
plan_capture(planner *pl, const desired_base *b)
{
	const desired_vm *vm = g_hash_table_lookup(pl->want->vm_by_domain, b->source_vm);
	obs_domain *o = g_hash_table_lookup(pl->have->domain_by_name, b->source_vm);
	const desired_disk *sys = NULL;
	g_autofree char *why = NULL, *key = NULL;
	const char *wait, *disk = b->disk ? b->disk : "system";
	plan_op *stop = NULL, *cap, **around;
	bool live;

	if (!vm || !o) {
		note(pl, "template %s: not captured yet: VM %s is not deployed", b->template, b->source_vm);
		return;
	}
	/* The VM's disk of the template disk's name (validation checks it has one). */
	for (guint i = 0; i < vm->disks->len && !sys; i++)
		if (!strcmp(((desired_disk *)vm->disks->pdata[i])->name, disk))
			sys = vm->disks->pdata[i];
	if (!sys) {
		refuse(pl, vm->appliance, "template %s cannot be captured from %s: it has no disk '%s'", b->template,
		       b->source_vm, disk);
		return;
	}
	key = g_strdup_printf("%s/%s", b->pool, b->volume);
	if (pl->opts->captured && (wait = g_hash_table_lookup(pl->opts->captured, key))) {
		note(pl, "template %s version %u was captured before (sha256 %s), and no host that answers "
		     "holds it now; a version is captured once: raise version to capture again",
		     b->template, b->version, wait);
		return;
	}
	if ((wait = capture_failed_lately(pl, b))) {
		note(pl, "template %s: not captured from VM %s again yet: the last try failed (%s); "
		     "strata tries again an hour after it", b->template, b->source_vm, wait);
		return;
	}
	if ((wait = capture_waits(pl, vm, o, b->live))) {
		note(pl, "template %s: not captured yet from VM %s: %s", b->template, b->source_vm, wait);
		return;
	}
	if (!obs_host_pool(o->host, b->pool) || !obs_host_pool_allows_backing(o->host, b->pool)) {
		refuse(pl, vm->appliance, "template %s cannot be captured from %s: pool '%s' on %s is missing "
		       "or not a file pool", b->template, b->source_vm, b->pool, o->host->name);
		return;
	}
	why = g_strdup_printf("capture of template %s version %u: stopped while its disk is copied",
			      b->template, b->version);
	live = b->live && run_state_of(o) == RUN_RUNNING;
	around = g_hash_table_lookup(pl->capture_start, vm->domain);
	if (around) {
		stop = around[0];  /* another disk of the template: the same stop */
	} else if (run_state_of(o) == RUN_RUNNING && !live) {
		stop = plan_state_why(pl, o->host->name, vm->domain, RUN_RUNNING, RUN_OFF, IMPACT_RESTART, NULL, why);
		/* A guest that does not shut down is not powered off: a disk
		 * copied from a VM cut off is no template. */
		stop->no_force = true;
		stop->impact = IMPACT_RESTART;
	}
	g_free(why);
	why = live ? g_strdup_printf("template %s version %u, captured once from %s's disk %s while it "
				     "runs: a point-in-time copy (crash-consistent, as if its power were cut at "
				     "that instant), flattened, then hashed", b->template, b->version, vm->domain,
				     disk) :
		     g_strdup_printf("template %s version %u, captured once from %s's disk %s (flattened), "
				     "then hashed", b->template, b->version, vm->domain, disk);
	cap = op_add(pl, OP_VOL_CAPTURE, IMPACT_IN_PLACE, o->host->name, vm->domain, stop, why);
	cap->live = live;
	cap->pool = g_strdup(b->pool);
	cap->volume = g_strdup(b->volume);
	cap->clone_from = g_strdup(sys->volume);
	cap->file = g_strdup(sys->pool);
	cap->value = obs_host_capacity(o->host, sys->pool, sys->volume);
	if (around && around[1]) {
		dep(around[1], cap);
	} else if (!around) {
		around = g_new0(plan_op *, 2);
		around[0] = stop;
		g_hash_table_insert(pl->capture_start, vm->domain, around);
	}
	if (stop && !around[1]) {
		/* Whatever becomes of the captures, the VM runs again. */
		around[1] = plan_state_why(pl, o->host->name, vm->domain, RUN_OFF, RUN_RUNNING,
					   IMPACT_IN_PLACE, cap, "back to its desired state after the capture");
		around[1]->after_any = true;
	}
	tally(pl, vm->appliance, &pl->p->n_change);
	g_hash_table_insert(pl->captures, g_strdup_printf("%s/%s", b->pool, b->volume), cap);
}

/* ---- retention: old captured versions ---------------------------------- */

static GHashTable *bases_of(const desired_state *want);

#define RETIRE_RETRY_US (3600 * (gint64)G_USEC_PER_SEC)

/* The version k of "<template>-v<k>.qcow2" (of a template's disk:
 * "<template>-v<k>-<disk>.qcow2"), or 0 if @name is not one. */
static unsigned
captured_version(const desired_base *b, const char *name)
{
	g_autofree char *prefix = g_strdup_printf("%s-v", b->template);
	g_autofree char *suffix = b->disk ? g_strdup_printf("-%s.qcow2", b->disk) : g_strdup(".qcow2");
	const char *p = g_str_has_prefix(name, prefix) ? name + strlen(prefix) : NULL;
	char *end = NULL;
	guint64 k = p && g_ascii_isdigit(*p) ? g_ascii_strtoull(p, &end, 10) : 0;

	return end && strcmp(end, suffix) == 0 && k <= G_MAXUINT ? (unsigned)k : 0;
}

/* Why no old version of @b may go from any host in this plan, or NULL. */
static char *
retire_blocked(planner *pl, const desired_base *b, bool at_rest)
{
	bool current = false;

	if (!at_rest)
		return g_strdup("the plan changes or refuses something: old versions go in a pass that has nothing else to do");
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		const obs_host *h = pl->have->hosts->pdata[i];
		g_autofree char *made = g_strdup_printf("%s/%s/%s", h->name, b->pool, b->volume);

		if (!h->reachable || !h->refs_known)
			return g_strdup_printf("host %s does not answer, or its domains could not all be read: "
					       "a VM there may still use one", h->name);
		current = current || (obs_host_has_volume(h, b->pool, b->volume) && pl->opts->made &&
				      g_hash_table_contains(pl->opts->made, made));
	}
	if (!current)
		return g_strdup_printf("version %u is not yet held, as strata made it, by any host", b->version);
	return NULL;
}

/* Whether a domain on any host uses a volume @key ("pool/name") by name. */
static const char *
used_anywhere(planner *pl, const char *key)
{
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		const obs_host *h = pl->have->hosts->pdata[i];

		if (g_hash_table_contains(h->users, key))
			return h->name;
	}
	return NULL;
}

/* The recorded checksum of @made, or NULL (with a note) when it may not go
 * now: never made by strata, or kept by the last look within the hour. */
static char *
retire_sha256(planner *pl, const desired_base *b, const char *made)
{
	const char *rec = pl->opts->made ? g_hash_table_lookup(pl->opts->made, made) : NULL;
	const char *sp = rec ? strchr(rec, ' ') : NULL;

	if (!rec)
		return NULL;  /* not strata's: never touched, and nothing to say */
	if (sp && g_get_real_time() - g_ascii_strtoll(sp + 1, NULL, 10) <= RETIRE_RETRY_US) {
		note(pl, "template %s: %s is kept for now: %s; strata looks again an hour later",
		     b->template, made, strchr(sp + 1, ' ') ? strchr(sp + 1, ' ') + 1 : "?");
		return NULL;
	}
	return sp ? g_strndup(rec, (gsize)(sp - rec)) : g_strdup(rec);
}

/* Whether @h is the member of a pool declared shared that deletes @v:
 * the first, in the declaration's order, that lists it (the others would
 * find it gone). */
static bool
retires_through(planner *pl, const obs_host *h, const virt_vol *v)
{
	const char *const *members = desired_pool_sharers(pl->want, v->pool, h->name);

	for (guint i = 0; members && members[i]; i++) {
		const obs_host *m = observed_host(pl->have, members[i]);

		if (m && obs_host_has_volume(m, v->pool, v->name))
			return m == h;
	}
	return true;
}

/* Every host other than @h, by name: exec asks each, just before the
 * delete, whether anything there stands on the file. */
static GStrv
other_hosts(planner *pl, const obs_host *h)
{
	g_autoptr(GStrvBuilder) sb = g_strv_builder_new();

	for (guint i = 0; i < pl->have->hosts->len; i++) {
		const obs_host *o = pl->have->hosts->pdata[i];

		if (o != h)
			g_strv_builder_add(sb, o->name);
	}
	return g_strv_builder_end(sb);
}

/*
 * `keep: N`: a volume <template>-v<k>.qcow2 with k <= version - N goes from
 * a host when strata made it there (history, with its checksum), no
 * template names it, and no domain on any host uses a volume of that name.
 * Exec then hashes it, and asks every host afresh whether any disk or
 * volume stands on the file or on its own copy: see exec's retire().
 */
static void
plan_retire(planner *pl, const desired_base *b, const obs_host *h)
{
	for (guint i = 0; h->vols && i < h->vols->len; i++) {
		const virt_vol *v = h->vols->pdata[i];
		unsigned k = strcmp(v->pool, b->pool) == 0 ? captured_version(b, v->name) : 0;
		g_autofree char *made = NULL, *key = NULL, *why = NULL, *sha = NULL;
		const char *user;
		plan_op *op;

		if (!k || k > b->version || b->version - k < b->keep)
			continue;
		key = g_strdup_printf("%s/%s", v->pool, v->name);
		made = g_strdup_printf("%s/%s/%s", h->name, v->pool, v->name);
		if (g_hash_table_contains(pl->bases, key) || g_hash_table_contains(pl->want->bases, key))
			continue;  /* a template names it */
		if ((user = used_anywhere(pl, key))) {
			note(pl, "template %s: %s is kept: a domain on %s uses %s", b->template, made, user, key);
			continue;
		}
		if (!retires_through(pl, h, v) || !(sha = retire_sha256(pl, b, made)))
			continue;
		why = g_strdup_printf("template %s version %u, older than the %u kept (keep: %u); strata made it "
				      "here (sha256 %.12s…) and no domain uses it", b->template, k, b->keep, b->keep, sha);
		op = op_add(pl, OP_VOL_DELETE, IMPACT_DESTROYS_DATA, h->name, NULL, NULL, why);
		op->pool = g_strdup(v->pool);
		op->volume = g_strdup(v->name);
		op->hash = g_steal_pointer(&sha);
		op->members = other_hosts(pl, h);
		op->retire = true;
		tally(pl, NULL, &pl->p->n_remove);
	}
}

static void
plan_retirements(planner *pl)
{
	GHashTableIter it;
	gpointer v;
	bool at_rest = pl->p->ops->len == 0 && pl->p->errors->len == 0;

	if (!pl->bases)
		pl->bases = bases_of(pl->want);
	g_hash_table_iter_init(&it, pl->want->bases);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const desired_base *b = v;
		g_autofree char *blocked = NULL;

		if (!b->keep || !b->source_vm || b->version <= b->keep)
			continue;
		if ((blocked = retire_blocked(pl, b, at_rest))) {
			if (at_rest)
				note(pl, "template %s: old versions are kept for now: %s", b->template, blocked);
			continue;
		}
		for (guint i = 0; i < pl->have->hosts->len; i++)
			plan_retire(pl, b, pl->have->hosts->pdata[i]);
	}
}

/* Templates captured from a VM that no host holds yet: before any VM is
 * planned, so that those built on them wait for the capture. */
static void
plan_captures(planner *pl)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, pl->want->bases);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const desired_base *b = v;

		if (b->source_vm && !obs_base_source(pl->have, b))
			plan_capture(pl, b);
	}
}

/* ---- template libraries ------------------------------------------------ */

/* The copy of @b's image from its library onto @h (checked copyable). */
static plan_op *
plan_import(planner *pl, const desired_base *b, obs_host *h)
{
	g_autofree char *why = NULL;
	const lib_entry *e = obs_library_entry(pl->have, b, &why);
	const lib_disk *d = e->disks->pdata[b->index];
	const lib_index *x = obs_library(pl->have, b->source_library);
	g_autofree char *reason = g_strdup_printf("base of template %s version %u, missing on %s: copied from "
						  "library %s, checksum from its index", b->template,
						  b->version, h->name, x->name);
	plan_op *op = op_add(pl, OP_VOL_COPY, IMPACT_IN_PLACE, h->name, NULL, NULL, reason);

	op->pool = g_strdup(b->pool);
	op->volume = g_strdup(b->volume);
	op->library = g_strdup(x->name);
	op->file = g_strdup(x->path);
	op->image = g_strdup(d->file);
	op->hash = g_strdup(d->sha256);
	op->value = d->bytes;
	return op;
}

/* Whether @b on @h is a copy or capture begun and never verified. */
static bool
marked(planner *pl, const obs_host *h, const desired_base *b)
{
	g_autofree char *key = g_strdup_printf("%s/%s/%s", h->name, b->pool, b->volume);

	return pl->opts->unverified_copies && g_hash_table_contains(pl->opts->unverified_copies, key);
}

/* Whether @h answers and holds @b alone (no backing file), not a copy
 * never verified. */
static bool
holds_alone(planner *pl, const obs_host *h, const desired_base *b)
{
	g_autofree char *key = g_strdup_printf("%s/%s", b->pool, b->volume);
	const virt_vol_detail *d = h && h->reachable ? g_hash_table_lookup(h->details, key) : NULL;

	return d && !d->backing && g_hash_table_contains(h->vol_by_key, key) && !marked(pl, h, b);
}

static const desired_base **template_bases(planner *pl, const desired_base *b);

/* A host that holds @b alone (@every_disk: and every other base of its
 * template), its source host first. */
static const obs_host *
export_host(planner *pl, const desired_base *b, bool every_disk)
{
	g_autofree const desired_base **all = every_disk ? template_bases(pl, b) : NULL;
	const obs_host *src = obs_host_named(pl->have, b->source_host);

	for (guint i = 0; (all || !every_disk) && i <= pl->have->hosts->len; i++) {
		const obs_host *h = i ? pl->have->hosts->pdata[i - 1] : src;
		bool every = h != NULL && holds_alone(pl, h, b);

		for (guint k = 0; every && all && k < b->n_disks; k++)
			every = holds_alone(pl, h, all[k]);
		if (every)
			return h;
	}
	return NULL;
}

/* Whether a disk of @b's template is captured in this plan. */
static bool
being_captured(planner *pl, const desired_base *b)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, pl->want->bases);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const desired_base *o = v;
		g_autofree char *key = g_strdup_printf("%s/%s", o->pool, o->volume);

		if (!strcmp(o->template, b->template) && g_hash_table_contains(pl->captures, key))
			return true;
	}
	return false;
}

/* Every base of @b's template, in disk order (system first), or NULL. */
static const desired_base **
template_bases(planner *pl, const desired_base *b)
{
	const desired_base **all = g_new0(const desired_base *, b->n_disks + 1);
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, pl->want->bases);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const desired_base *o = v;

		if (!strcmp(o->template, b->template) && o->index < b->n_disks)
			all[o->index] = o;
	}
	for (guint i = 0; i < b->n_disks; i++)
		if (!all[i]) {
			g_free(all);
			return NULL;
		}
	return all;
}

/*
 * The LIB_EXPORT of every disk of @b's template from @h, in order, or NULL
 * (and a refusal) when @h lacks one alone or one is neither qcow2 nor raw.
 */
static plan_op *
lib_export_disks(planner *pl, const desired_library *l, const desired_base *b, const obs_host *h)
{
	g_autofree const desired_base **all = template_bases(pl, b);
	g_autoptr(GStrvBuilder) vols = g_strv_builder_new(), fmts = g_strv_builder_new();
	uint64_t *sizes = g_new0(uint64_t, b->n_disks);
	uint64_t bytes = 0;
	plan_op *op;

	for (guint i = 0; all && i < b->n_disks; i++) {
		g_autofree char *key = g_strdup_printf("%s/%s", all[i]->pool, all[i]->volume);
		const virt_vol_detail *d = g_hash_table_lookup(h->details, key);
		const char *format = obs_host_format(h, all[i]->pool, all[i]->volume);

		if (!d || d->backing || !g_hash_table_contains(h->vol_by_key, key) || strcmp(all[i]->pool, b->pool) ||
		    marked(pl, h, all[i])) {
			refuse(pl, "", "template %s version %u is not exported to library '%s': %s, which holds its "
			       "base, lacks the base %s of its disk %s, or holds it with a backing file", b->template,
			       b->version, l->name, h->name, key, all[i]->disk ? all[i]->disk : "system");
			g_free(sizes);
			return NULL;
		}
		if (!format || (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0)) {
			refuse(pl, "", "template %s version %u is not exported to library '%s': its base %s on %s "
			       "is %s, and a library holds qcow2 and raw images", b->template, b->version, l->name,
			       key, h->name, format ? format : "of a format libvirt does not say");
			g_free(sizes);
			return NULL;
		}
		g_strv_builder_add(vols, all[i]->volume);
		g_strv_builder_add(fmts, format);
		sizes[i] = obs_host_capacity(h, all[i]->pool, all[i]->volume);
		bytes += obs_host_allocation(h, all[i]->pool, all[i]->volume);
	}
	if (!all) {
		refuse(pl, "", "template %s version %u is not exported to library '%s': a base of one of its "
		       "disks is named by another template too", b->template, b->version, l->name);
		g_free(sizes);
		return NULL;
	}
	op = op_add(pl, OP_LIB_EXPORT, IMPACT_IN_PLACE, h->name, NULL, NULL,
		    "exported once per version; the library's index gets its checksums");
	op->value = bytes;
	op->export = g_new0(plan_export, 1);
	op->export->n_disks = b->n_disks;
	op->export->volumes = g_strv_builder_end(vols);
	op->export->formats = g_strv_builder_end(fmts);
	op->export->sizes = sizes;
	return op;
}

static void
plan_export_template(planner *pl, const desired_library *l, const char *template)
{
	const desired_base *b = desired_base_of_template(pl->want, template);
	const lib_index *x = obs_library(pl->have, l->name);
	g_autofree char *key = NULL;
	const char *why;
	const obs_host *h;
	plan_op *op;

	if (!b || !x)
		return;
	if (x->error) {
		refuse(pl, "", "template %s is not exported: library '%s' cannot be read: %s", template,
		       l->name, x->error);
		return;
	}
	if (lib_index_find(x, template, b->version))
		return;  /* exported once per version; never rewritten */
	key = g_strdup_printf("library:%s/%s/%u", l->name, template, b->version);
	if ((why = export_failed_lately(pl, key))) {
		note(pl, "template %s version %u: not exported to library '%s' again yet: the last try failed "
		     "(%s); strata tries again an hour after it", template, b->version, l->name, why);
		return;
	}
	if (being_captured(pl, b)) {
		note(pl, "template %s version %u: exported to library '%s' in the pass after its capture",
		     template, b->version, l->name);
		return;
	}
	h = export_host(pl, b, true);
	if (!h) {
		refuse(pl, "", "template %s version %u is not exported to library '%s': no host that answers "
		       "holds its base %s/%s%s alone and verified (a copy begun and never verified is not "
		       "exported); copy it there, or delete a half copy by hand", template, b->version, l->name,
		       b->pool, b->volume, b->n_disks > 1 ? " and every base of its disks" : "");
		return;
	}
	if (!(op = lib_export_disks(pl, l, b, h)))
		return;
	op->pool = g_strdup(b->pool);
	op->volume = g_strdup(b->volume);
	op->library = g_strdup(l->name);
	op->file = g_strdup(l->path);
	op->export->template = g_strdup(template);
	op->export->version = b->version;
	op->export->cpus = b->cpus;
	op->export->memory = b->memory;
	op->export->format = g_strdup(op->export->formats[0]);
	op->export->virtual_size = op->export->sizes[0];
}

/*
 * A template's image for a public cloud, once per export and template
 * version: the file is named by both, so that a target that refuses a name
 * twice (Azure) never sees one twice.
 */
static void
plan_image_export(planner *pl, const desired_export *e)
{
	const desired_base *b = desired_base_of_template(pl->want, e->template);
	g_autofree char *key = NULL;
	const char *why;
	const obs_host *h;
	plan_op *op;

	if (!b)
		return;
	key = g_strdup_printf("%s/%s/%u", e->name, e->template, b->version);
	if (pl->opts->done_exports && g_hash_table_contains(pl->opts->done_exports, key))
		return;
	g_free(key);
	key = g_strdup_printf("export:%s/%s/%u", e->name, e->template, b->version);
	if ((why = export_failed_lately(pl, key))) {
		note(pl, "export %s of template %s version %u: not tried again yet: the last try failed (%s); "
		     "strata tries again an hour after it", e->name, e->template, b->version, why);
		return;
	}
	h = export_host(pl, b, false);
	if (!h) {
		refuse(pl, "", "export %s: template %s version %u is not exported: no host that answers "
		       "holds its base %s/%s alone", e->name, e->template, b->version, b->pool, b->volume);
		return;
	}
	op = op_add(pl, OP_IMAGE_EXPORT, IMPACT_IN_PLACE, h->name, NULL, NULL,
		    "converted on this machine, once per template version; the template is only read");
	op->pool = g_strdup(b->pool);
	op->volume = g_strdup(b->volume);
	op->library = g_strdup(e->name);
	op->file = g_strdup(e->path);
	op->value = obs_host_allocation(h, b->pool, b->volume);
	op->export = g_new0(plan_export, 1);
	op->export->template = g_strdup(e->template);
	op->export->version = b->version;
	op->export->format = g_strdup(e->format);
	op->export->file_name = g_strdup_printf("%s-%s-v%u.%s", e->name, e->template, b->version, e->format);
	op->export->source_format = g_strdup(obs_host_format(h, b->pool, b->volume));
	op->export->command = g_strdup(e->command);
	op->export->region = g_strdup(e->region);
	op->export->timeout_s = e->timeout_s;
	op->export->attempts = e->attempts;
}

/* The last try of export @key ("export:NAME/T/V") if it failed within the
 * hour: why, else NULL. */
static const char *
export_failed_lately(planner *pl, const char *key)
{
	const char *failed = pl->opts->failed_exports ? g_hash_table_lookup(pl->opts->failed_exports, key) : NULL;

	if (!failed || g_get_real_time() - g_ascii_strtoll(failed, NULL, 10) > CAPTURE_RETRY_US)
		return NULL;
	return strchr(failed, ' ') + 1;
}

/* What each library should hold from this source and does not yet. */
static void
plan_exports(planner *pl)
{
	for (guint i = 0; pl->want->libraries && i < pl->want->libraries->len; i++) {
		const desired_library *l = pl->want->libraries->pdata[i];

		for (guint j = 0; l->exports[j]; j++)
			plan_export_template(pl, l, l->exports[j]);
	}
	for (guint i = 0; pl->want->exports && i < pl->want->exports->len; i++)
		plan_image_export(pl, pl->want->exports->pdata[i]);
}

/* A source whose base is itself a copy or capture never verified is not
 * copied from: half an image must not spread. */
static bool
copy_source_marked(planner *pl, const desired_vm *vm, const desired_base *b, const obs_host *src)
{
	g_autofree char *key = g_strdup_printf("%s/%s/%s", src->name, b->pool, b->volume);
	gint64 *run = pl->opts->unverified_copies ? g_hash_table_lookup(pl->opts->unverified_copies, key)
						  : NULL;

	if (run)
		refuse(pl, vm->appliance, "%s: base volume '%s' on %s, where it would be copied from, was made "
		       "by run %" G_GINT64_FORMAT " and never verified: nothing is copied from it. Delete it "
		       "(virsh vol-delete --pool %s %s) and strata makes it again", vm->domain, b->volume,
		       src->name, *run, b->pool, b->volume);
	return run != NULL;
}

/* Where a copy was begun and never verified, nothing is built. */
static bool
unverified_copy(planner *pl, const desired_vm *vm, const desired_disk *d, const obs_host *h)
{
	g_autofree char *key = g_strdup_printf("%s/%s/%s", h->name, d->pool, d->base);
	gint64 *run = pl->opts->unverified_copies ? g_hash_table_lookup(pl->opts->unverified_copies, key)
						  : NULL;

	if (!run)
		return false;
	refuse(pl, vm->appliance, "%s: base volume '%s' in pool '%s' on %s is a copy that run %" G_GINT64_FORMAT
	       " began and did not verify: it may be half a copy, and nothing is built on it. "
	       "Delete it (virsh vol-delete --pool %s %s) and strata copies it again",
	       vm->domain, d->base, d->pool, h->name, *run, d->pool, d->base);
	return true;
}

/* A VOL_CREATE for @d on @h, or NULL (and a refusal) if its base is missing
 * and cannot be copied there. */
static plan_op *
plan_disk(planner *pl, const desired_vm *vm, const desired_disk *d, obs_host *h,
	  op_impact impact)
{
	const virt_vol *base = d->base ? host_volume(h, d->pool, d->base) : NULL;
	uint64_t cap = d->capacity;
	g_autofree char *backing = NULL;
	plan_op *copy = NULL;
	plan_op *op;

	if (!obs_host_pool(h, d->pool)) {
		refuse(pl, vm->appliance, "%s: disk '%s' goes in pool '%s', which %s does not have", vm->domain,
		       d->name, d->pool, h->name);
		return NULL;
	}
	if (!obs_host_pool_known(h, d->pool)) {
		refuse(pl, vm->appliance, "%s: pool '%s' on %s is inactive or could not be listed; nothing is made "
		       "in it until its content is known", vm->domain, d->pool, h->name);
		return NULL;
	}
	if (d->base && !base && !(copy = plan_copy(pl, vm, d, h)))
		return NULL;
	if (base && unverified_copy(pl, vm, d, h))
		return NULL;
	if (base && obs_host_unsafe_backing(h, d->pool, d->base)) {
		refuse(pl, vm->appliance, "%s: base volume '%s' on %s has a backing file outside pool '%s' (%s); refused",
		       vm->domain, d->base, h->name, d->pool,
		       obs_host_unsafe_backing(h, d->pool, d->base));
		return NULL;
	}
	if (d->base)
		cap = MAX(cap, base_capacity(pl, d, h, copy));
	op = op_add(pl, OP_VOL_CREATE, impact, h->name, vm->domain, NULL,
		    d->role == DISK_PERSISTENT ? "persistent volume, made once from its template" :
		    d->role == DISK_SYSTEM ? "system disk from the template" :
		    d->base ? "disk from the template's base of that disk" : "secondary disk");
	op->pool = g_strdup(d->pool);
	op->volume = g_strdup(d->volume);
	/* A copied base is a file of the pool: its path is known before it
	 * exists. */
	if (d->base && d->role != DISK_PERSISTENT && obs_host_pool_allows_backing(h, d->pool))
		backing = base ? g_strdup(base->key) : copy_path(h, d->pool, d->base);
	if (d->base && !backing)
		op->clone_from = g_strdup(d->base);
	op->xml = domxml_overlay(d->volume, cap, backing, base_format(pl, d, h, copy));
	dep(op, copy);
	if (copy && strcmp(copy->host, h->name) != 0) {
		/* Copied through another member of the shared pool: read it
		 * again here first. */
		const char *pools[] = { d->pool, NULL };

		op->refresh = g_strdupv((char **)pools);
	}
	/* A VM replaced or moved cold is stopped only once its new base is
	 * there: a copy that fails leaves it running where it was. */
	if (copy)
		dep(g_hash_table_lookup(pl->stop_op, vm->domain), copy);
	if (d->role == DISK_PERSISTENT) {
		/* A persistent volume belongs to no domain: it outlives them. */
		g_clear_pointer(&op->domain, g_free);
		g_clear_pointer(&op->vm, g_free);
		g_clear_pointer(&op->appliance, g_free);
	}
	return op;
}

/* Every template and persistent-template base the source names. */
static GHashTable *
bases_of(const desired_state *want)
{
	GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; i < want->vms->len; i++) {
		const desired_vm *vm = want->vms->pdata[i];

		for (guint k = 0; k < vm->disks->len; k++) {
			const desired_disk *d = vm->disks->pdata[k];

			/* the system disk's (a persistent volume's too), and the
			 * template's other disks' */
			if (d->base)
				g_hash_table_add(set, g_strdup_printf("%s/%s", d->pool, d->base));
		}
	}
	for (guint i = 0; i < want->ptemplates->len; i++) {
		const desired_ptemplate *t = want->ptemplates->pdata[i];

		if (t->base)
			g_hash_table_add(set, g_strdup_printf("%s/%s", t->base_pool, t->base));
	}
	return set;
}

/*
 * On a pool declared shared, the volume is every member's: each must
 * answer, and none may use it (any domain, even one named like @domain:
 * a stale copy on another member).
 */
static const char *
shared_pool_blocker(planner *pl, const obs_host *h, const char *pool, const char *volume)
{
	const char *const *members = desired_pool_sharers(pl->want, pool, h->name);

	for (guint i = 0; members && members[i]; i++) {
		const obs_host *m = observed_host(pl->have, members[i]);

		if (!m || m == h)
			continue;
		if (!m->reachable)
			return "the pool is declared shared, and a host that shares it does not answer (it may use it)";
		if (!m->refs_known || obs_host_volume_used(m, pool, volume, NULL))
			return "the pool is declared shared, and a domain on another host that shares it uses it (or may)";
	}
	return NULL;
}

/*
 * Why @volume on @h must not be deleted along with @domain, or NULL.  The
 * one gate every volume deletion passes: persistent volumes and template
 * bases never, and no volume that a definition on the host other than
 * @domain's uses (managed or not), nor any while a definition there could
 * not be read.
 */
static const char *
vol_delete_blocker(planner *pl, const obs_host *h, const char *domain,
		   const char *pool, const char *volume)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, volume);

	if (g_str_has_prefix(volume, "persistent-") ||
	    g_hash_table_contains(pl->want->ptemplate_by_volume, volume))
		return "it is a persistent volume";
	if (!pl->bases)
		pl->bases = bases_of(pl->want);
	if (g_hash_table_contains(pl->bases, key))
		return "it is a template's base image";
	if (!h->refs_known)
		return "a definition on the host could not be read, so it may be in use";
	if (obs_host_volume_used(h, pool, volume, domain))
		return "another domain's definition uses it";
	return shared_pool_blocker(pl, h, pool, volume);
}

/* The members of @pool's shared declaration other than @h, or NULL. */
static GStrv
other_members(planner *pl, const obs_host *h, const char *pool)
{
	const char *const *members = desired_pool_sharers(pl->want, pool, h->name);
	g_autoptr(GStrvBuilder) b = NULL;

	if (!members)
		return NULL;
	b = g_strv_builder_new();
	for (guint i = 0; members[i]; i++)
		if (strcmp(members[i], h->name) != 0)
			g_strv_builder_add(b, members[i]);
	return g_strv_builder_end(b);
}

/*
 * @moved_to: the host the VM moves to, when the delete is a move's.  A move
 * never deletes from a pool declared shared (the volume may be the one the
 * VM uses over there), and exec checks that the two hosts do not see the
 * pool as one storage before it deletes (a sharing nobody declared).
 */
static plan_op *
plan_vol_delete(planner *pl, const obs_host *h, const char *domain, const char *pool,
		const char *volume, plan_op *after, const char *reason, const obs_host *moved_to)
{
	const char *keep = vol_delete_blocker(pl, h, domain, pool, volume);
	plan_op *op;

	if (!keep && moved_to && desired_pool_sharers(pl->want, pool, h->name))
		keep = "the pool is declared shared, and a move never deletes from a shared pool";
	if (keep) {
		note(pl, "%s/%s on %s is kept: %s", pool, volume, h->name, keep);
		return after;
	}
	op = op_add(pl, OP_VOL_DELETE, IMPACT_DESTROYS_DATA, h->name, domain, after, reason);
	op->pool = g_strdup(pool);
	op->volume = g_strdup(volume);
	op->peer = moved_to ? g_strdup(moved_to->name) : NULL;
	op->members = other_members(pl, h, pool);
	return op;
}

static bool
vm_has_volume(const desired_vm *vm, const char *pool, const char *volume)
{
	if (vm && vm->seed_volume && strcmp(vm->seed_pool, pool) == 0 && strcmp(vm->seed_volume, volume) == 0)
		return true;
	for (guint i = 0; vm && i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		if (strcmp(d->pool, pool) == 0 && strcmp(d->volume, volume) == 0)
			return true;
	}
	return false;
}

/* Volumes named for @domain on @h that @vm (NULL: removed) no longer has. */
static void
plan_stale_volumes(planner *pl, const obs_host *h, const char *domain,
		   const desired_vm *vm, plan_op *after, const char *reason,
		   const obs_host *moved_to)
{
	GPtrArray *vols = obs_host_domain_volumes(h, domain);

	for (guint i = 0; vols && i < vols->len; i++) {
		const virt_vol *v = vols->pdata[i];

		if (!vm_has_volume(vm, v->pool, v->name))
			plan_vol_delete(pl, h, domain, v->pool, v->name, after, reason, moved_to);
	}
}

/* ---- VMs --------------------------------------------------------------- */

/* Whether @mac is one of @vm's NICs' own `mac` (any case). */
static bool
mac_claimed(const desired_vm *vm, const char *mac)
{
	for (guint i = 0; i < vm->nics->len; i++) {
		const desired_nic *n = vm->nics->pdata[i];

		if (n->mac && g_ascii_strcasecmp(n->mac, mac) == 0)
			return true;
	}
	return false;
}

/* The MAC of the @k-th interface on @network in @nics ("NETWORK MAC"
 * each) whose address no NIC of @vm claims as its own, or NULL. */
static const char *
kth_mac(const desired_vm *vm, const char *const *nics, const char *network, guint k)
{
	for (guint i = 0; nics && nics[i]; i++) {
		const char *sp = strrchr(nics[i], ' ');

		if (!sp || !sp[1] || (gsize)(sp - nics[i]) != strlen(network) ||
		    strncmp(nics[i], network, (gsize)(sp - nics[i])) != 0 || mac_claimed(vm, sp + 1))
			continue;
		if (k-- == 0)
			return sp + 1;
	}
	return NULL;
}

/*
 * The MAC of each NIC of @vm: the spec's; else the address the same NIC
 * has in @prev's definition (the domain as a host shows it), else the one
 * history recorded when strata last defined it; else "" (exec makes one,
 * and history records it before the definition).  NICs have no identity
 * in a spec: one without a `mac` is matched by its rank among those
 * without one on its network, against the addresses no `mac` of the VM
 * claims.  So a NIC keeps its address across every redefinition, rebuild
 * and move, and no two NICs of a VM ever get one address.
 */
static GStrv
nic_macs(const planner *pl, const desired_vm *vm, const obs_domain *prev)
{
	const char *const *known[] = {
		prev ? (const char *const *)prev->nics : NULL,
		pl->opts->macs ? g_hash_table_lookup(pl->opts->macs, vm->domain) : NULL,
	};
	GStrv out = g_new0(char *, vm->nics->len + 1);

	for (guint i = 0; i < vm->nics->len; i++) {
		const desired_nic *n = vm->nics->pdata[i];
		const char *mac = n->mac;
		guint k = 0;

		for (guint j = 0; j < i; j++) {
			const desired_nic *e = vm->nics->pdata[j];

			k += !e->mac && strcmp(e->network, n->network) == 0;
		}
		for (guint s = 0; !mac && s < G_N_ELEMENTS(known); s++)
			mac = kth_mac(vm, known[s], n->network, k);
		out[i] = g_strdup(mac ? mac : "");
	}
	return out;
}

/* @prev: the domain @vm was (on @h or elsewhere), whose identity it
 * keeps; @macs: its NICs' (nic_macs). */
static plan_op *
plan_define_macs(planner *pl, const desired_vm *vm, const obs_host *h, const obs_domain *prev,
		 op_impact impact, plan_op *after, const char *reason, const char *const *macs)
{
	const char *type = h->domain_type;
	plan_op *op = op_add(pl, OP_DEFINE, impact, h->name, vm->domain, after, reason);

	/* Snapshot declarations still to carry out stay out of the recorded
	 * hash: the next pass reads the definition and the snapshots again. */
	op->hash = g_hash_table_contains(pl->settled, vm->domain) ? desired_vm_hash(vm, type)
								  : desired_vm_hash_before_snapshots(vm, type);
	op->redefines = prev && prev->host == h;
	/* Its UUID too, on a cold move as a live one keeps it: the guest
	 * sees the same machine (SMBIOS UUID, licences bound to it). */
	op->xml = domxml_domain(vm, type, op->hash, prev ? prev->uuid : NULL, macs);
	return op;
}

static plan_op *
plan_define(planner *pl, const desired_vm *vm, const obs_host *h, const obs_domain *prev,
	    op_impact impact, plan_op *after, const char *reason)
{
	g_auto(GStrv) macs = nic_macs(pl, vm, prev);

	return plan_define_macs(pl, vm, h, prev, impact, after, reason, (const char *const *)macs);
}

/*
 * The image in @vm's drive, which must be on @h: libvirt resolves the
 * volume when the VM starts or its media change, and fails then without
 * it; strata copies no image of the operator's.  The appliance waits.
 */
static bool
media_missing(planner *pl, const desired_vm *vm, const obs_host *h)
{
	if (!vm->cdrom_volume || vm->cdrom_ejected || obs_host_has_volume(h, vm->cdrom_pool, vm->cdrom_volume))
		return false;
	refuse(pl, vm->appliance, "%s: its CD-ROM image %s/%s is not on %s; put it into pool '%s' there "
	       "(virsh vol-upload), or set cdrom ejected: true", vm->domain, vm->cdrom_pool, vm->cdrom_volume,
	       h->name, vm->cdrom_pool);
	return true;
}

/*
 * @vm's first-boot data written into its seed volume on @h after @after,
 * unless definition @o there records the same data and the volume is
 * there (@o NULL: a VM new on @h).  Nothing the running guest sees
 * changes until its next boot, when cloud-init reads the seed again.
 */
static plan_op *
plan_seed(planner *pl, const desired_vm *vm, const obs_host *h, const obs_domain *o, plan_op *after)
{
	bool there = obs_host_has_volume(h, vm->seed_pool, vm->seed_volume);
	const char *keep;
	plan_op *op;

	/* A definition served from the cache has the hash wanted: its data. */
	if (!vm->seed_digest || (o && there && (!o->detailed || g_strcmp0(o->seed, vm->seed_digest) == 0)))
		return after;
	/* Never over a volume that is not this seed: one another domain
	 * uses, a persistent one or a base named so (an operator's choice). */
	if (there && (keep = vol_delete_blocker(pl, h, vm->domain, vm->seed_pool, vm->seed_volume))) {
		refuse(pl, vm->appliance, "%s: its first-boot data goes into %s/%s on %s, and %s; strata will not "
		       "overwrite it (rename that volume)", vm->domain, vm->seed_pool, vm->seed_volume, h->name, keep);
		return after;
	}
	op = op_add(pl, OP_SEED, IMPACT_IN_PLACE, h->name, vm->domain, after,
		    !o || !o->seed ? "first-boot data (a cloud-init NoCloud seed)" :
		    !there ? "its first-boot data volume is missing" :
		    "first-boot data changed: the guest reads it at its next boot");
	op->pool = g_strdup(vm->seed_pool);
	op->volume = g_strdup(vm->seed_volume);
	op->digest = g_strdup(vm->seed_digest);
	for (int i = 0; i < SPEC_SEED_PARTS; i++)
		op->seed[i] = vm->seed[i] ? g_bytes_ref(vm->seed[i]) : NULL;
	return op;
}

/* Volumes, definition and start of @vm on @h, all after @after (or not). */
/* @shared: pools whose volumes of @vm exist, listed on @h or not (a
 * move on shared storage): none is made, and @h reads them again first. */
static bool
plan_create_on(planner *pl, const desired_vm *vm, obs_host *h, const obs_domain *prev,
	       const char *reason, plan_op *after, GStrv shared)
{
	g_autoptr(GPtrArray) vols = g_ptr_array_new();
	guint before = pl->p->ops->len;
	plan_op *def;

	if (media_missing(pl, vm, h))
		return false;
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		plan_op *vol;

		if (obs_host_has_volume(h, d->pool, d->volume) ||
		    (shared && g_strv_contains((const char *const *)shared, d->pool)))
			continue;  /* adopt what an earlier run made, or the shared one */
		vol = plan_disk(pl, vm, d, h, IMPACT_IN_PLACE);
		if (!vol) {
			g_ptr_array_set_size(pl->p->ops, before);  /* all or nothing */
			return false;
		}
		dep(vol, after);
		g_ptr_array_add(vols, vol);
	}
	def = plan_define(pl, vm, h, prev, IMPACT_IN_PLACE, plan_seed(pl, vm, h, NULL, after), reason);
	/* Another member made those: this host reads the pools again first. */
	def->refresh = g_strdupv(shared);
	for (guint i = 0; i < vols->len; i++)
		dep(def, vols->pdata[i]);
	plan_state(pl, h->name, vm->domain, RUN_OFF, run_state_wanted(wanted(pl, vm)),
		   IMPACT_IN_PLACE, def);
	g_ptr_array_add(host_list(pl->new_starts, h->name), def);
	return true;
}

static bool
pinned_anywhere(const planner *pl, const desired_disk *sys)
{
	for (guint i = 0; i < pl->have->hosts->len; i++)
		if (obs_host_has_volume(pl->have->hosts->pdata[i], sys->pool, sys->volume))
			return true;
	return false;
}

/* A reachable host with a pool whose content is unknown, or NULL. */
static const obs_host *
hidden_pool(const planner *pl)
{
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		const obs_host *h = pl->have->hosts->pdata[i];

		if (obs_host_unknown_pool(h))
			return h;
	}
	return NULL;
}

/* A persistent volume of this name in some other pool: the VM's data. */
static const virt_vol *
persistent_elsewhere(const planner *pl, const desired_disk *sys, const obs_host **where)
{
	for (guint i = 0; sys->role == DISK_PERSISTENT && i < pl->have->hosts->len; i++) {
		const obs_host *h = pl->have->hosts->pdata[i];

		for (guint j = 0; h->vols && j < h->vols->len; j++) {
			const virt_vol *v = h->vols->pdata[j];

			if (strcmp(v->name, sys->volume) == 0 && strcmp(v->pool, sys->pool) != 0) {
				*where = h;
				return v;
			}
		}
	}
	return NULL;
}

/*
 * A persistent VM seen on no host that answers comes back only on the
 * same volume: on a host that shares its pool with the lost host (by
 * declaration, not refuted) and lists the volume.  A same-named volume on
 * a host that does not share the pool is another disk.
 */
static bool
locks_disks(const obs_host *h)
{
	return h->spec && h->spec->lock_manager.set && h->spec->lock_manager.v != LOCK_NONE;
}

/* Without a lock manager, only the fencing behind `state: lost` keeps a
 * second QEMU off the disk: said where it matters. */
static void
note_unlocked(planner *pl, const desired_vm *vm, const obs_host *lost, const obs_host *h)
{
	if (locks_disks(lost) && locks_disks(h))
		return;
	note(pl, "%s: restarts on the same volume with no lock manager declared on %s%s%s: only the fencing of %s "
	     "keeps a second QEMU off the disk (configure virtlockd with a shared lockspace, or sanlock)",
	     vm->domain, locks_disks(lost) ? "" : lost->name, locks_disks(lost) || locks_disks(h) ? "" : " and ",
	     locks_disks(h) ? "" : h->name, lost->name);
}

/*
 * The lost host @vm's disks were on, as far as shared storage tells: one
 * that shares a disk's pool with an answering host listing that disk (the
 * listings of a lost member's pools are read afresh each pass).  NULL: no
 * disk of it is on storage a lost host shares; it is placed as new.
 * *@why: why a lost host's sharing could not be taken, if one was met.
 */
static const obs_host *
failover_source(planner *pl, const desired_vm *vm, const char **why)
{
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		const obs_host *lost = pl->have->hosts->pdata[i];

		for (guint j = 0; obs_host_lost(lost) && j < pl->have->hosts->len; j++) {
			const obs_host *h = pl->have->hosts->pdata[j];

			for (guint k = 0; h->reachable && k < vm->disks->len; k++) {
				const desired_disk *d = vm->disks->pdata[k];
				share_verdict v;

				if (!obs_host_has_volume(h, d->pool, d->volume))
					continue;
				v = obs_pool_shared(pl->have, pl->want, d->pool, lost, h, why);
				if (v == SHARE_YES || v == SHARE_ASSUMED)
					return lost;
			}
		}
	}
	return NULL;
}

static bool
shared_with_lost(planner *pl, const desired_vm *vm)
{
	const desired_disk *sys = vm->disks->pdata[0];
	const char *why = NULL;

	if (failover_source(pl, vm, &why))
		return true;
	note(pl, "%s: waits: host %s is lost and its persistent volume %s/%s is on no answering host that shares pool '%s' with it (%s)",
	     vm->domain, pl->lost, sys->pool, sys->volume, sys->pool,
	     why ? why : "declare the pool with kind: pool if it is shared storage");
	return false;
}

/*
 * While a host is declared lost, a VM seen on no host that answers may have
 * been running there.  It comes back elsewhere only if its policy says so
 * and its disks can be had: a template VM's are made afresh; a persistent
 * volume that no answering host has is on the lost host, and an empty one
 * would hide it.
 */
static bool
restart_after_loss(planner *pl, const desired_vm *vm)
{
	const desired_disk *sys = vm->disks->pdata[0];

	if (vm->restart == RESTART_NEVER) {
		note(pl, "%s: waits: seen on no host that answers, host %s is lost, and its restart policy is never",
		     vm->domain, pl->lost);
		return false;
	}
	if (sys->role == DISK_PERSISTENT && !pinned_anywhere(pl, sys)) {
		note(pl, "%s: waits: its persistent volume %s/%s is on no host that answers (lost host %s may hold it); strata will not make an empty one",
		     vm->domain, sys->pool, sys->volume, pl->lost);
		return false;
	}
	if (sys->role == DISK_PERSISTENT && !shared_with_lost(pl, vm))
		return false;
	return true;
}

/*
 * A failover from @lost to @h: the pools of @vm's disks that the two share
 * (*@shared, NULL if none), whose volumes it restarts on as they are.  A
 * disk @h lists on a pool whose sharing with @lost is unverified or
 * refuted may be the VM's or another: refused.
 */
static bool
failover_disks(planner *pl, const desired_vm *vm, const obs_host *lost, const obs_host *h,
	       GStrv *shared)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	bool any = false;

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		const char *why = NULL;
		share_verdict v = obs_pool_shared(pl->have, pl->want, d->pool, lost, h, &why);

		if (!obs_host_has_volume(h, d->pool, d->volume))
			continue;  /* not there: made afresh, as on any redeploy */
		if (v == SHARE_YES || v == SHARE_ASSUMED) {
			g_strv_builder_add(b, d->pool);
			any = true;
		} else if (v != SHARE_NO) {
			refuse(pl, vm->appliance, "%s: %s lists %s/%s, but whether pool '%s' there is the storage lost host %s "
			       "used is not known (%s); strata will not restart the VM on a disk that may be another",
			       vm->domain, h->name, d->pool, d->volume, d->pool, lost->name, why);
			return false;
		}
	}
	if (any) {
		*shared = g_strv_builder_end(b);
		note_unlocked(pl, vm, lost, h);
	}
	return true;
}

static void
plan_create(planner *pl, const desired_vm *vm)
{
	g_autofree char *because = NULL, *why = NULL, *reason = NULL;
	const desired_disk *sys = vm->disks->pdata[0];
	const virt_vol *other;
	const obs_host *where = NULL, *lost;
	const char *unshared = NULL;
	g_auto(GStrv) shared = NULL;
	obs_host *h;

	if (pl->unreachable) {
		note(pl, "%s: not created while host %s is unreachable (it may be running there)",
		     vm->domain, pl->unreachable);
		return;
	}
	if (pl->lost && !restart_after_loss(pl, vm))
		return;
	if (sys->role == DISK_PERSISTENT && !pinned_anywhere(pl, sys) && (where = hidden_pool(pl))) {
		refuse(pl, vm->appliance, "%s: its persistent volume is on no host that lists its pools, and pool '%s' on %s "
		       "is inactive or could not be listed: it may be there, so no empty one is made",
		       vm->domain, obs_host_unknown_pool(where), where->name);
		return;
	}
	other = persistent_elsewhere(pl, sys, &where);
	if (other && !pinned_anywhere(pl, sys)) {
		refuse(pl, vm->appliance, "%s: its persistent volume exists as %s/%s on %s, not in pool '%s' where its template now says; "
		       "strata will not make an empty one beside it (move the volume, or set the pool back)",
		       vm->domain, other->pool, other->name, where->name, sys->pool);
		return;
	}
	lost = pl->lost ? failover_source(pl, vm, &unshared) : NULL;
	h = place_vm(pl->ps, vm, lost, &because, &why);
	if (!h) {
		refuse(pl, vm->appliance, "%s", why);
		return;
	}
	if (lost && !failover_disks(pl, vm, lost, h, &shared))
		return;
	reason = !pl->lost ? g_strdup_printf("new VM, placed on %s: %s", h->name, because) :
		 shared ? g_strdup_printf("seen on no host that answers while %s is lost: restarted on its disks "
					  "on shared storage, placed on %s: %s", lost->name, h->name, because)
			: g_strdup_printf("seen on no host that answers while %s is lost: deployed afresh, placed on %s: %s",
					  pl->lost, h->name, because);
	/* Its listing of a lost member's pools was read afresh this pass: what
	 * it lists is adopted, what it does not is made. */
	if (plan_create_on(pl, vm, h, NULL, reason, NULL, NULL))
		tally(pl, vm->appliance, &pl->p->n_create);
}

/* A move only the tags ask for: one that cannot be made leaves the VM
 * where it is, with a note, rather than holding its appliance back (a
 * host retagged under a persistent VM must not stop every other change). */
static const char MOVE_FOR_TAGS[] = "its host lacks a tag it requires";

/* Why @vm must leave the host it runs on, or NULL. */
static const char *
must_move(planner *pl, const desired_vm *vm, const obs_domain *o)
{
	const spec_host *s = o->host->spec;

	bool pinned_here = vm->host && strcmp(vm->host, o->host->name) == 0;
	bool past_vm = false;

	/* The operator's choice stands, maintenance or not. */
	if (s && s->maintenance.v && !pinned_here)
		return "its host is in maintenance";
	if (vm->host && !pinned_here)
		return "the spec names another host";
	for (guint i = 0; s && i < vm->requires->len; i++)
		if (!place_has_tag(s, vm->requires->pdata[i]))
			return MOVE_FOR_TAGS;
	if (!vm->layer || pinned_here)
		return NULL;
	/* Two VMs of a layer on one host: the later one in the spec moves,
	 * unless the other is pinned there. */
	for (guint i = 0; i < pl->want->vms->len; i++) {
		const desired_vm *mate = pl->want->vms->pdata[i];
		const obs_domain *mo;

		if (mate == vm) {
			past_vm = true;
			continue;
		}
		if (!mate->layer || strcmp(mate->appliance, vm->appliance) != 0 ||
		    strcmp(mate->layer, vm->layer) != 0)
			continue;
		mo = g_hash_table_lookup(pl->have->domain_by_name, mate->domain);
		if (!mo || mo->host != o->host)
			continue;
		if (mate->host && strcmp(mate->host, o->host->name) == 0)
			return "another VM of its layer is pinned to the host";
		if (!past_vm)  /* an earlier one: @vm is the later */
			return "another VM of its layer shares the host";
	}
	return NULL;
}

/* A live move needs QEMU at both ends (the test driver cannot migrate), a
 * running VM, and a current definition (@hash, the desired one; else it is
 * rebuilt anyway). */
static bool
can_migrate_live(const obs_domain *o, const char *hash, const obs_host *to)
{
	const char *type = o->host->domain_type;

	return strcmp(type, "test") != 0 && to->reachable && to->domain_type &&
	       strcmp(type, to->domain_type) == 0 &&
	       run_state_of(o) == RUN_RUNNING && o->hash && strcmp(o->hash, hash) == 0;
}

/* Seconds before a live migration is aborted: the source host's setting,
 * else a minute and 10 s per GiB moved, memory and (@copy) every disk
 * copied whole (about 100 MiB/s, with room to converge). */
static uint64_t
migrate_deadline_s(const desired_vm *vm, const obs_host *from, bool copy)
{
	uint64_t bytes = desired_vm_max_memory(vm);  /* what the guest may hold */

	if (from->spec && from->spec->migration_timeout.v)
		return (uint64_t)from->spec->migration_timeout.v;
	for (guint i = 0; copy && i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		bytes += d->capacity ? d->capacity
				     : obs_host_capacity(from, d->pool, d->base ? d->base : d->volume);
	}
	return 60 + 10 * ((bytes + (1ULL << 30) - 1) >> 30);
}

/* Every disk the domain's definition uses, not only the spec's, is a
 * volume of a pool @o's host and @to share (a migration without copying
 * takes them all as they are). */
static bool
observed_disks_shared(planner *pl, const desired_vm *vm, const obs_domain *o, const obs_host *to)
{
	g_autofree char *cd = desired_vm_cdrom(vm);

	if (!o->refs_known || (o->paths && o->paths[0]))
		return false;
	for (guint i = 0; o->volumes && o->volumes[i]; i++) {
		g_autofree char *pool = g_strndup(o->volumes[i], strcspn(o->volumes[i], "/"));
		const char *why;
		share_verdict v;

		/* The image in its drive is read-only, and on the target host
		 * too (placement made sure): not a disk to share or copy. */
		if (g_strcmp0(o->volumes[i], cd) == 0 || g_strcmp0(o->volumes[i], o->cdrom) == 0)
			continue;
		v = obs_pool_shared(pl->have, pl->want, pool, o->host, to, &why);
		if (v != SHARE_YES && v != SHARE_ASSUMED)
			return false;
	}
	return true;
}

/*
 * How @vm's disks stand between @o's host and @to: all on pools the two are
 * declared to share (1), none (0), or neither (-1, *@why): some shared and
 * some not, or a declaration not verified yet or refuted by its probe.
 */
static int
disks_shared(planner *pl, const desired_vm *vm, const obs_domain *o, const obs_host *to,
	     const char **why)
{
	const obs_host *from = o->host;
	guint shared = 0;

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		const char *w = NULL;
		share_verdict v = obs_pool_shared(pl->have, pl->want, d->pool, from, to, &w);

		if (v == SHARE_UNVERIFIED || v == SHARE_REFUTED) {
			*why = w;
			return -1;
		}
		if (v == SHARE_ASSUMED)
			note(pl, "pool '%s' is taken as shared by %s and %s: %s", d->pool, from->name,
			     to->name, w);
		shared += v != SHARE_NO;
	}
	if (shared && shared < vm->disks->len) {
		*why = "some of its disks are on a pool the two hosts share and some are not; strata moves a VM whose disks are all shared, or all copied";
		return -1;
	}
	if (shared && !observed_disks_shared(pl, vm, o, to)) {
		*why = "its definition has a disk outside the spec (attached by hand) that is not a volume of a pool the two hosts share; "
		       "strata does not move it without copying, nor copy it (detach it, or move the VM by hand)";
		return -1;
	}
	return shared ? 1 : 0;
}

/* A cold move's first half: stopped (a saved image goes with the
 * definition) and undefined on its host; returns the undefine. */
static plan_op *
leave_host(planner *pl, const obs_domain *o, op_impact impact, const char *why)
{
	run_state from = run_state_of(o);
	plan_op *last = plan_state_why(pl, o->host->name, o->name, from == RUN_SAVED ? RUN_OFF : from,
				       RUN_OFF, impact, NULL, "stopped to move");

	if (last)
		g_ptr_array_add(removal_stops(pl, o->host->name), last);
	return op_add(pl, OP_UNDEFINE, impact, o->host->name, o->name, last, why);
}

/* The pools of @vm's disks, each once. */
static GStrv
disk_pools(const desired_vm *vm)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		if (g_hash_table_add(seen, d->pool))
			g_strv_builder_add(b, d->pool);
	}
	return g_strv_builder_end(b);
}

/*
 * A move on shared storage: the disks stay where they are, and both hosts
 * see them.  Live when it can be (no disk copied), else a stop, an
 * undefine, and a define and start on the new host.  No volume is made
 * or deleted either way.
 */
static void
plan_move_shared(planner *pl, const desired_vm *vm, obs_domain *o, obs_host *h,
		 const char *hash, const char *why, const char *because)
{
	obs_host *old = o->host;
	g_autofree char *reason = NULL;
	g_auto(GStrv) pools = disk_pools(vm);
	plan_op *last;

	if (can_migrate_live(o, hash, h)) {
		reason = g_strdup_printf("live, from %s (%s), placed on %s: %s; its disks stay on shared storage",
					 old->name, why, h->name, because);
		last = op_add(pl, OP_MIGRATE, IMPACT_IN_PLACE, old->name, vm->domain, NULL, reason);
		last->target = g_strdup(h->name);
		last->shared = true;
		last->refresh = g_strdupv(pools);
		last->value = migrate_deadline_s(vm, old, false);
		tally(pl, vm->appliance, &pl->p->n_change);
		return;
	}
	last = leave_host(pl, o, IMPACT_RESTART, why);
	reason = g_strdup_printf("moved from %s (%s), placed on %s: %s; its disks stay on shared storage",
				 old->name, why, h->name, because);
	plan_create_on(pl, vm, h, o, reason, last, pools);
	tally(pl, vm->appliance, &pl->p->n_change);
}

/*
 * A live move: the VM's disks are made on the new host (the system disk
 * on the template's base there, as on a deploy), libvirt migrates the
 * running VM with its disks' content, and the old host's
 * copies of those throw-away disks are deleted once it has arrived.  There
 * is one running copy at every moment; the guest does not restart.
 */
static void
plan_migrate(planner *pl, const desired_vm *vm, obs_domain *o, obs_host *h,
	     const char *why, const char *because)
{
	g_autofree char *reason = g_strdup_printf("live, from %s (%s), placed on %s: %s",
						  o->host->name, why, h->name, because);
	g_autoptr(GPtrArray) vols = g_ptr_array_new();
	plan_op *mig;

	/* A disk left on the target by an earlier, failed migration is
	 * reused: the copy overwrites it whole. */
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		if (!obs_host_has_volume(h, d->pool, d->volume))
			g_ptr_array_add(vols, plan_disk(pl, vm, d, h, IMPACT_IN_PLACE));
	}
	mig = op_add(pl, OP_MIGRATE, IMPACT_IN_PLACE, o->host->name, vm->domain, NULL, reason);
	mig->target = g_strdup(h->name);
	mig->value = migrate_deadline_s(vm, o->host, true);
	for (guint i = 0; i < vols->len; i++)
		dep(mig, vols->pdata[i]);
	/* Read-only, so not copied: the target has its own, written first. */
	dep(mig, plan_seed(pl, vm, h, NULL, NULL));
	plan_stale_volumes(pl, o->host, vm->domain, NULL, mig, "the VM moved to another host", h);
	tally(pl, vm->appliance, &pl->p->n_change);
}

/*
 * A move, as a careful operator does it by hand.  A running VM on QEMU
 * migrates live with its disks.  Otherwise a cold move: stop the VM, remove
 * it and its disks from the old host, then deploy it on the new one — never
 * two copies at once; only for VMs whose one disk is the template's
 * throw-away system disk.  A persistent volume never moves: it is the VM's
 * data, and strata keeps one copy of it, where it is.
 */
/* A move that cannot be made: an error that holds the appliance back; for
 * a move only the tags ask for, a note, the VM left where it is (false:
 * the caller goes on with what else the VM needs). */
static bool
move_blocked(planner *pl, const desired_vm *vm, const char *why, const char *fmt, ...)
	G_GNUC_PRINTF(4, 5);

static bool
move_blocked(planner *pl, const desired_vm *vm, const char *why, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	if (why == MOVE_FOR_TAGS) {
		note(pl, "%s; it stays where it is", msg);
		return false;
	}
	refuse(pl, vm->appliance, "%s", msg);
	return true;
}

static bool plan_move_path(planner *pl, const desired_vm *vm, obs_domain *o, const char *hash,
			   const char *why);
static char *snap_names(const obs_domain *o);

/*
 * A VM with snapshots stays where it is: libvirt migrates no domain that
 * has any, and a cold move would lose them (their record goes with the
 * definition, their data with a system disk made anew).  The pass reads
 * the snapshots of every VM that may move (observe.c's may_move): with
 * some, a note, and the VM is kept up to date where it is (so a snapshot
 * no longer declared is deleted, and the move follows).  Not read (a
 * listing that failed, a plan from a snapshot file): the ops that leave
 * the old host check at once before they run (moves_vm), as a resize
 * does; that check also catches a snapshot taken since the pass.
 */
static bool
plan_move(planner *pl, const desired_vm *vm, obs_domain *o, const char *hash,
	  const char *why)
{
	guint first = pl->p->ops->len;
	bool planned;

	if (o->snaps && o->snaps->len && !vm->never_disrupt) {
		g_autofree char *names = snap_names(o);

		note(pl, "%s must move off %s (%s), but it has snapshots (%s): libvirt migrates no domain with "
		     "snapshots, and a move would lose them; it stays until they are gone (no longer "
		     "declared, or deleted with virsh snapshot-delete)", vm->domain, o->host->name, why, names);
		return false;
	}
	planned = plan_move_path(pl, vm, o, hash, why);
	for (guint i = first; i < pl->p->ops->len; i++) {
		plan_op *op = pl->p->ops->pdata[i];

		/* Not the old host's volume deletes: they run once it is gone. */
		if (g_strcmp0(op->domain, vm->domain) == 0 && strcmp(op->host, o->host->name) == 0 &&
		    (op->kind == OP_RESUME || op->kind == OP_PM_WAKEUP || op->kind == OP_SHUTDOWN ||
		     op->kind == OP_UNDEFINE || op->kind == OP_MIGRATE))
			op->moves_vm = true;
	}
	return planned;
}

static bool
plan_move_path(planner *pl, const desired_vm *vm, obs_domain *o, const char *hash,
	       const char *why)
{
	const desired_disk *sys = vm->disks->pdata[0];
	obs_host *old = o->host, *h;
	g_autofree char *because = NULL, *nowhere = NULL, *reason = NULL;
	const char *unshared = NULL;
	plan_op *last;

	if (vm->never_disrupt) {
		return move_blocked(pl, vm, why, "%s must move off %s (%s), and appliance '%s' sets disruption: never",
		       vm->domain, old->name, why, vm->appliance);
	}
	if (sys->role == DISK_PERSISTENT && !desired_pool_sharers(pl->want, sys->pool, old->name)) {
		return move_blocked(pl, vm, why, "%s must move off %s (%s), but its persistent volume lives there; strata does not copy persistent volumes between hosts (if other hosts see pool '%s' as the same storage, declare it with kind: pool)",
		       vm->domain, old->name, why, sys->pool);
	}
	h = place_vm(pl->ps, vm, old, &because, &nowhere);
	if (!h) {
		return move_blocked(pl, vm, why, "%s must move off %s (%s): %s", vm->domain, old->name, why, nowhere);
	}
	switch (disks_shared(pl, vm, o, h, &unshared)) {
	case 1:
		plan_move_shared(pl, vm, o, h, hash, why, because);
		return true;
	case -1:
		return move_blocked(pl, vm, why, "%s must move off %s (%s) to %s, but %s", vm->domain, old->name,
		       why, h->name, unshared);
	}
	if (sys->role == DISK_PERSISTENT) {
		return move_blocked(pl, vm, why, "%s must move off %s (%s), but %s does not share pool '%s' with it; strata does not copy persistent volumes between hosts",
		       vm->domain, old->name, why, h->name, sys->pool);
	}
	if (can_migrate_live(o, hash, h)) {
		plan_migrate(pl, vm, o, h, why, because);
		return true;
	}
	if (vm->disks->len > 1) {
		return move_blocked(pl, vm, why, "%s must move off %s (%s), but it is not running on QEMU to migrate live and its secondary disks live there; strata does not copy stopped volumes between hosts",
		       vm->domain, old->name, why);
	}
	last = leave_host(pl, o, IMPACT_REPLACE, why);
	plan_stale_volumes(pl, old, vm->domain, NULL, last, "the VM moves to another host", h);
	reason = g_strdup_printf("moved from %s (%s), placed on %s: %s", old->name, why,
				 h->name, because);
	plan_create_on(pl, vm, h, o, reason, last, NULL);
	tally(pl, vm->appliance, &pl->p->n_change);
	return true;
}

static bool
template_changed(const desired_vm *vm, const obs_domain *o)
{
	const desired_disk *sys = vm->disks->pdata[0];

	return sys->role == DISK_SYSTEM && o->template &&
	       strcmp(o->template, vm->template) != 0;
}

static bool rebuilt_with_template(const desired_disk *d);

/* A disk of @vm whose volume the definition on @h uses in another pool:
 * the spec moved it.  With @replace, not one the new template rebuilds. */
static const desired_disk *
moved_disk(const obs_host *h, const desired_vm *vm, bool replace, const virt_vol **old)
{
	GPtrArray *vols = obs_host_domain_volumes(h, vm->domain);

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		if (replace && rebuilt_with_template(d))
			continue;
		for (guint j = 0; vols && j < vols->len; j++) {
			const virt_vol *v = vols->pdata[j];

			if (strcmp(v->name, d->volume) == 0 && strcmp(v->pool, d->pool) != 0) {
				*old = v;
				return d;
			}
		}
	}
	return NULL;
}

/* One live op of @c on @o after @last; NULL (and a refusal) if a volume
 * it needs cannot be made. */
static plan_op *
plan_live_op(planner *pl, const desired_vm *vm, const obs_domain *o, const vm_change *c,
	     plan_op *last, bool *ok)
{
	const char *host = o->host->name;
	g_autofree char *why = g_strdup_printf("live: %s", c->why);
	plan_op *op = NULL;

	switch (c->kind) {
	case CH_VCPUS:
		op = op_add(pl, OP_SET_VCPUS, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->value = vm->cpus;
		break;
	case CH_MEMORY:
		op = op_add(pl, OP_SET_MEMORY, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->value = vm->memory;
		break;
	case CH_DISK_ATTACH:
		if (!obs_host_has_volume(o->host, c->disk->pool, c->disk->volume)) {
			plan_op *vol = plan_disk(pl, vm, c->disk, o->host, IMPACT_IN_PLACE);

			if (!vol)
				return *ok = false, last;
			dep(vol, last);
			last = vol;
		}
		op = op_add(pl, OP_ATTACH, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->xml = domxml_disk(c->disk);
		op->device = g_strdup(c->device);
		break;
	case CH_NIC_ATTACH:
		op = op_add(pl, OP_ATTACH, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->xml = domxml_nic(c->network, c->device);
		op->device = g_strdup(c->device);
		break;
	case CH_DISK_DETACH:
	case CH_NIC_DETACH:
		op = op_add(pl, OP_DETACH, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->device = g_strdup(c->device);
		op->value = DETACH_DEADLINE_S;
		break;
	case CH_DISK_GROW:
		op = op_add(pl, OP_DISK_RESIZE, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->device = g_strdup(c->device);
		op->pool = g_strdup(c->disk->pool);
		op->volume = g_strdup(c->disk->volume);
		op->value = c->size;
		op->snapshots_may_go = vm->disk_change_deletes_snapshots;
		break;
	case CH_MEDIA:
		op = op_add(pl, OP_MEDIA, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->device = g_strdup(c->device);
		op->file = g_strdup(c->media);
		op->xml = domxml_cdrom(vm);
		break;
	case CH_CONSOLE_PASSWORD:
		op = op_add(pl, OP_CONSOLE_PASSWORD, IMPACT_IN_PLACE, host, vm->domain, last, why);
		op->xml = domxml_graphics(vm);
		break;
	default:
		return last;  /* in the definition only (a title) */
	}
	return op;
}

/*
 * The live changes of @changes on running @o, one after another, detaches
 * first (a disk that goes frees its target before one comes), the vCPUs
 * and memory last.  The definition comes after them: a live change that
 * fails leaves the old definition, so the next pass sees the difference
 * again, rather than a running VM silently unlike its spec.
 */
static plan_op *
plan_live(planner *pl, const desired_vm *vm, const obs_domain *o, const GPtrArray *changes, bool *ok)
{
	static const change_kind order[] = {
		CH_DISK_DETACH, CH_NIC_DETACH, CH_DISK_ATTACH, CH_NIC_ATTACH, CH_DISK_GROW, CH_MEDIA, CH_VCPUS,
		CH_MEMORY, CH_CONSOLE_PASSWORD,
	};
	plan_op *last = NULL;

	*ok = true;
	for (guint k = 0; k < G_N_ELEMENTS(order); k++)
		for (guint i = 0; i < changes->len && *ok; i++) {
			const vm_change *c = changes->pdata[i];

			if (c->kind == order[k] && c->cls == CHANGE_LIVE)
				last = plan_live_op(pl, vm, o, c, last, ok);
		}
	return last;
}

/* Disks of @vm that grow, on a VM shut off (or being restarted): the
 * volumes themselves, after @last. */
static plan_op *
plan_grow_volumes(planner *pl, const desired_vm *vm, const obs_domain *o, const GPtrArray *changes,
		  plan_op *last)
{
	for (guint i = 0; changes && i < changes->len; i++) {
		const vm_change *c = changes->pdata[i];
		g_autofree char *why = NULL;
		plan_op *op;

		if (c->kind != CH_DISK_GROW)
			continue;
		why = g_strdup_printf("%s (the volume, the VM being off)", c->why);
		op = op_add(pl, OP_DISK_RESIZE, IMPACT_IN_PLACE, o->host->name, vm->domain, last, why);
		op->device = g_strdup(c->device);
		op->pool = g_strdup(c->disk->pool);
		op->volume = g_strdup(c->disk->volume);
		op->value = c->size;
		op->snapshots_may_go = vm->disk_change_deletes_snapshots;
		last = op;
	}
	return last;
}

/* A refused change holds the appliance back: true if there was one. */
static bool
refuse_changes(planner *pl, const desired_vm *vm, const GPtrArray *changes)
{
	g_autofree char *why = changes ? vm_changes_why(changes, CHANGE_REFUSED, "") : NULL;

	if (why)
		refuse(pl, vm->appliance, "%s: %s", vm->domain, why);
	return why != NULL;
}

/* A VOL_CREATE of @d for @vm is in the plan already (a live attach's). */
static bool
disk_planned(planner *pl, const desired_vm *vm, const desired_disk *d)
{
	for (guint i = 0; i < pl->p->ops->len; i++) {
		const plan_op *op = pl->p->ops->pdata[i];

		if (op->kind == OP_VOL_CREATE && g_strcmp0(op->domain, vm->domain) == 0 &&
		    g_strcmp0(op->volume, d->volume) == 0 && g_strcmp0(op->pool, d->pool) == 0)
			return true;
	}
	return false;
}

/*
 * A running VM whose changes can all be made live, or whose appliance
 * forbids the restart the others need (those wait for the next boot: the
 * VM runs unlike its definition, "restart required", until it restarts).
 */
static plan_op *
plan_update_live(planner *pl, const desired_vm *vm, obs_domain *o, run_state from,
		 const GPtrArray *changes, GStrv macs)
{
	g_autofree char *boot = vm_changes_why(changes, CHANGE_NEXT_BOOT, "next boot: ");
	g_autofree char *why = NULL;
	bool ok;
	plan_op *last = plan_live(pl, vm, o, changes, &ok);
	plan_op *def;

	if (!ok)
		return NULL;
	if (boot)
		why = g_strdup_printf("%s; restart required: appliance '%s' sets disruption: never",
				      boot, vm->appliance);
	else if (last)
		why = g_strdup("the new definition for the next boot, once the live changes are made");
	else if (o->restart_required)
		why = g_strdup_printf("the definition; restart required: %s", o->restart_required);
	else
		why = vm_changes_why(changes, CHANGE_LIVE, "live: ");
	last = plan_seed(pl, vm, o->host, o, last);
	def = plan_define_macs(pl, vm, o->host, o, IMPACT_IN_PLACE, last,
			       why ? why : "definition changed in what the running VM does not see",
			       (const char *const *)macs);
	/* Volumes the definition names that the host lacks (a disk for the
	 * next boot): made before it, or it would never start. */
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		plan_op *vol;

		if (obs_host_has_volume(o->host, d->pool, d->volume) || disk_planned(pl, vm, d))
			continue;
		if (!(vol = plan_disk(pl, vm, d, o->host, IMPACT_IN_PLACE)))
			return NULL;
		dep(def, vol);
	}
	/* Read again on each pass while the running VM differs from it. */
	def->next_boot = boot != NULL || o->restart_required != NULL;
	return plan_state(pl, o->host->name, vm->domain, from, run_state_wanted(wanted(pl, vm)),
			  IMPACT_IN_PLACE, def);
}

/* Whether @vm is to stay running or paused: live changes are for a VM
 * that goes on, not one about to stop. */
static bool
stays_up(const planner *pl, const desired_vm *vm)
{
	run_state to = run_state_wanted(wanted(pl, vm));

	return to == RUN_RUNNING || to == RUN_PAUSED;
}

/* Whether the template @o was built from (in the spec still) has a disk
 * of @d's name: then @o's volume of that name was made from it. */
static bool
old_template_disk(planner *pl, const obs_domain *o, const desired_disk *d)
{
	GHashTableIter it;
	gpointer v;

	if (!o->template)
		return false;
	g_hash_table_iter_init(&it, pl->want->bases);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const desired_base *b = v;

		if (!strcmp(b->template, o->template) && b->disk && !strcmp(b->disk, d->name))
			return true;
	}
	return false;
}

/* Whether @d is made from the VM's template (its system disk, or a disk
 * of the template on its base), and so rebuilt when the template changes;
 * a persistent volume and the VM's own disks are kept. */
static bool
rebuilt_with_template(const desired_disk *d)
{
	return d->role == DISK_SYSTEM || (d->role == DISK_SECONDARY && d->base);
}

/* Whether vm_changes lists every change: the definition was read, or its
 * hash is the one wanted (only a disk's size changed). */
static bool
changes_complete(const desired_vm *vm, const obs_domain *o)
{
	g_autofree char *hash = NULL;

	if (o->detailed)
		return true;
	hash = desired_vm_hash(vm, o->host->domain_type);
	return o->hash && strcmp(o->hash, hash) == 0;
}

/* ---- snapshots: declared, reverted, and the disks they hold ----------- */

static const virt_snap *
snap_named(const obs_domain *o, const char *name)
{
	for (guint i = 0; o->snaps && i < o->snaps->len; i++) {
		const virt_snap *s = o->snaps->pdata[i];

		if (strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

/* "a, b", or "none": said when a snapshot is missing. */
static char *
snap_names(const obs_domain *o)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; o->snaps && i < o->snaps->len; i++)
		g_string_append_printf(s, "%s%s", i ? ", " : "", ((const virt_snap *)o->snaps->pdata[i])->name);
	return g_strdup(s->len ? s->str : "none");
}

/* The state a revert leaves the VM in: the one it was taken in. */
static run_state
snap_run_state(const virt_snap *s)
{
	if (g_strcmp0(s->state, "running") == 0)
		return RUN_RUNNING;
	if (g_strcmp0(s->state, "paused") == 0)
		return RUN_PAUSED;
	return RUN_OFF;
}

/* Every declared snapshot is there (or about to be, when @planned). */
static bool
snapshots_all_there(const desired_vm *vm, const obs_domain *o)
{
	for (guint i = 0; i < vm->snapshots->len; i++)
		if (!snap_named(o, vm->snapshots->pdata[i]))
			return false;
	return true;
}

static bool
revert_due(const planner *pl, const desired_vm *vm)
{
	g_autofree char *key = NULL;

	if (!vm->revert_id)
		return false;
	key = g_strdup_printf("%s/%s", vm->domain, vm->revert_id);
	return !pl->opts->reverts_done || !g_hash_table_contains(pl->opts->reverts_done, key);
}

/* Why the revert @vm declares cannot be made now, or NULL. */
static char *
revert_problem(const planner *pl, const desired_vm *vm, const obs_domain *o, const virt_snap *s)
{
	run_state from = run_state_of(o);
	g_autofree char *names = NULL;

	if (!o->snaps)
		return g_strdup("its snapshots could not be read (the next pass tries again)");
	if (!s) {
		names = snap_names(o);
		return g_strdup_printf("it has no snapshot '%s' (it has: %s); name one it has, or remove 'revert'",
				       vm->revert_snapshot, names);
	}
	if (!virt_snap_ours(s))
		return g_strdup_printf("snapshot '%s' was not taken by strata, which reverts only its own "
				       "(what it holds is somebody else's to judge); revert it by hand with "
				       "virsh snapshot-revert", s->name);
	if (s->external)
		return g_strdup_printf("snapshot '%s' is external (its disks are other files); libvirt 9.0 "
				       "reverts internal snapshots only", s->name);
	if (from == RUN_SAVED)
		return g_strdup("the VM is saved (managed save): its saved memory would be restored over the "
				"reverted disks; declare it running or stopped first");
	if ((from == RUN_RUNNING || from == RUN_PAUSED) && vm->never_disrupt)
		return g_strdup_printf("the VM runs and appliance '%s' sets disruption: never (a revert replaces "
				       "what it runs); stop it first, or allow disruption", vm->appliance);
	(void)pl;
	return NULL;
}

/*
 * A revert declared and not yet made: the revert, then the definition the
 * spec wants (libvirt brings back the one the snapshot was taken with),
 * then the declared state from the snapshot's.  True when @vm's plan for
 * this pass ends here (a revert planned or refused).
 */
static bool disks_about_to_change(planner *pl, const desired_vm *vm, const obs_domain *o);

static bool
plan_revert(planner *pl, const desired_vm *vm, obs_domain *o)
{
	const virt_snap *s;
	g_autofree char *why = NULL;
	g_autofree char *reason = NULL;
	plan_op *op, *def;

	if (!revert_due(pl, vm))
		return false;
	s = snap_named(o, vm->revert_snapshot);
	if (!why && disks_about_to_change(pl, vm, o))
		why = g_strdup("its disks change in the same revision (the revert would bring back the old ones); "
			       "make the revert first, then the change");
	if (why || (why = revert_problem(pl, vm, o, s))) {
		refuse(pl, vm->appliance, "%s: revert '%s' to snapshot '%s' cannot be made: %s", vm->domain,
		       vm->revert_id, vm->revert_snapshot, why);
		return true;
	}
	reason = g_strdup_printf("revert '%s': back to snapshot '%s' (taken %s); what its disks hold now is lost",
				 vm->revert_id, s->name, s->state ? s->state : "?");
	op = op_add(pl, OP_SNAPSHOT_REVERT, IMPACT_DESTROYS_DATA, o->host->name, vm->domain, NULL, reason);
	op->snapshot = g_strdup(s->name);
	op->revert_id = g_strdup(vm->revert_id);
	if (snapshots_all_there(vm, o))
		g_hash_table_add(pl->settled, vm->domain);
	def = plan_define(pl, vm, o->host, o, IMPACT_IN_PLACE, plan_seed(pl, vm, o->host, o, op),
			  "after a revert: the definition the spec wants");
	plan_state(pl, o->host->name, vm->domain, snap_run_state(s), run_state_wanted(wanted(pl, vm)),
		   IMPACT_IN_PLACE, def);
	tally(pl, vm->appliance, &pl->p->n_change);
	return true;
}

/*
 * Declared snapshots the VM lacks are taken; ones strata took for an
 * earlier declaration and the spec no longer lists are deleted.  Every
 * later op of the VM waits for these.
 */
static void
plan_declared_snapshots(planner *pl, const desired_vm *vm, const obs_domain *o)
{
	plan_op *last = NULL;

	if (!o->snaps) {
		if (desired_vm_declares_snapshots(vm) && o->detailed)
			note(pl, "%s: its snapshots could not be read; its snapshot declarations wait", vm->domain);
		return;
	}
	for (guint i = 0; i < o->snaps->len; i++) {
		const virt_snap *s = o->snaps->pdata[i];

		if (g_strcmp0(s->description, VIRT_SNAP_DECLARED) != 0 ||
		    g_ptr_array_find_with_equal_func(vm->snapshots, s->name, g_str_equal, NULL))
			continue;
		last = op_add(pl, OP_SNAPSHOT_DELETE, IMPACT_DESTROYS_DATA, o->host->name, vm->domain, last,
			      "no longer declared in 'snapshots'");
		last->snapshot = g_strdup(s->name);
		last->one_snapshot = true;
	}
	for (guint i = 0; i < vm->snapshots->len; i++) {
		const char *name = vm->snapshots->pdata[i];

		if (snap_named(o, name))
			continue;
		last = op_add(pl, OP_SNAPSHOT_CREATE, IMPACT_IN_PLACE, o->host->name, vm->domain, last,
			      "declared in 'snapshots'");
		last->snapshot = g_strdup(name);
		last->one_snapshot = true;
	}
	g_hash_table_add(pl->settled, vm->domain);
	if (last)
		g_hash_table_insert(pl->gates, vm->domain, last);
}

static bool
changes_disks(const GPtrArray *changes)
{
	for (guint i = 0; changes && i < changes->len; i++) {
		const vm_change *c = changes->pdata[i];

		/* A size alone is checked just before the resize. */
		if (c->kind >= CH_DISK_ATTACH && c->kind <= CH_DISK_OTHER && c->kind != CH_DISK_GROW)
			return true;
	}
	return false;
}

/*
 * CloudStack's rule: while a VM has snapshots its disks do not change (a
 * revert would bring back disks that no longer match its definition),
 * unless the spec lets the snapshots go first.  True when refused.
 */
static bool
snapshots_hold_disks(planner *pl, const desired_vm *vm, const obs_domain *o,
		     const GPtrArray *changes, bool replace)
{
	g_autofree char *names = NULL;
	plan_op *last = g_hash_table_lookup(pl->gates, vm->domain);
	g_autofree char *hash = NULL;

	if (!replace && !changes_disks(changes))
		return false;
	if (!o->snaps) {
		/* Read whenever the hash differs; a size alone is checked again
		 * just before the call. */
		hash = desired_vm_hash(vm, o->host->domain_type);
		if (!o->hash || strcmp(o->hash, hash) != 0)
			refuse(pl, vm->appliance, "%s: its disks change, and its snapshots could not be read "
			       "(a VM with snapshots keeps its disks); the next pass tries again", vm->domain);
		return !o->hash || strcmp(o->hash, hash) != 0;
	}
	if (!o->snaps->len)
		return false;
	names = snap_names(o);
	for (guint i = 0; vm->disk_change_deletes_snapshots && i < o->snaps->len; i++) {
		const virt_snap *s = o->snaps->pdata[i];

		if (!virt_snap_ours(s)) {
			refuse(pl, vm->appliance, "%s: its disks change while it has snapshots (%s), and snapshot '%s' "
			       "was not taken by strata, which deletes only its own; delete it by hand first",
			       vm->domain, names, s->name);
			return true;
		}
	}
	if (!vm->disk_change_deletes_snapshots) {
		refuse(pl, vm->appliance, "%s: its disks change (%s) while it has snapshots (%s): a revert would "
		       "bring back disks that no longer match; set on_disk_change: delete-snapshots to let them "
		       "go, or delete them first", vm->domain, replace ? "a new template" : "a disk added, "
		       "removed or changed", names);
		return true;
	}
	for (guint i = 0; i < o->snaps->len; i++) {
		const virt_snap *s = o->snaps->pdata[i];

		last = op_add(pl, OP_SNAPSHOT_DELETE, IMPACT_DESTROYS_DATA, o->host->name, vm->domain, last,
			      "on_disk_change: delete-snapshots; its disks change");
		last->snapshot = g_strdup(s->name);
		last->one_snapshot = true;
	}
	g_hash_table_insert(pl->gates, vm->domain, last);
	/* Declared ones are taken again at the next pass, of the new disks. */
	g_hash_table_remove(pl->settled, vm->domain);
	return false;
}

/* Whether the definition @vm wants changes @o's disks (a new template, a
 * disk added, removed or moved): declared snapshots wait for it. */
static bool
disks_about_to_change(planner *pl, const desired_vm *vm, const obs_domain *o)
{
	run_state from = run_state_of(o);
	g_auto(GStrv) macs = NULL;
	g_autoptr(GPtrArray) changes = NULL;

	if (template_changed(vm, o))
		return true;
	if (!o->disks)
		return false;
	macs = nic_macs(pl, vm, o);
	changes = vm_changes(vm, o, macs, from == RUN_RUNNING || from == RUN_PAUSED,
			     strcmp(o->host->domain_type, "test") != 0);
	return changes_disks(changes);
}

/*
 * Whether the disks made from @vm's template cannot be made anew on @o's
 * host (refused, with the reason): one the new template names that was
 * not the old template's, or one something else still needs.
 */
static bool
rebuild_refused(planner *pl, const desired_vm *vm, const obs_domain *o)
{
	const obs_host *h = o->host;
	const char *why;

	/* A disk-only snapshot made by hand leaves the domain on an overlay
	 * of its disk: the disk is then no longer the one to make anew. */
	for (guint i = 0; o->volumes && o->volumes[i]; i++) {
		g_auto(GStrv) pv = g_strsplit(o->volumes[i], "/", 2);

		if (pv[1] && !vm_has_volume(vm, pv[0], pv[1]) &&
		    (!vm->cdrom_volume || strcmp(pv[1], vm->cdrom_volume) != 0)) {
			refuse(pl, vm->appliance, "%s: its disks must be made anew, and its definition uses %s, "
			       "which the spec does not name (a snapshot's overlay?); strata will not remake its "
			       "disks under it: put the definition back as strata made it", vm->domain, o->volumes[i]);
			return true;
		}
	}

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		if (!rebuilt_with_template(d) || !obs_host_has_volume(h, d->pool, d->volume))
			continue;
		if (i && !old_template_disk(pl, o, d)) {
			/* The VM's own disk of that name, or one of unknown origin:
			 * its data is not the old template's to throw away. */
			refuse(pl, vm->appliance, "%s: its new template %s has a disk '%s', and the VM's volume %s/%s "
			       "is not a disk of its old template %s (its own data, maybe); strata will not replace "
			       "it: give the template's disk another name, or move the volume away by hand",
			       vm->domain, vm->template, d->name, d->pool, d->volume, o->template ? o->template : "?");
			return true;
		}
		if (!(why = vol_delete_blocker(pl, h, vm->domain, d->pool, d->volume)))
			continue;
		refuse(pl, vm->appliance, "%s: its disk %s %s/%s must be made anew from %s, but %s",
		       vm->domain, d->name, d->pool, d->volume,
		       template_changed(vm, o) ? "the new template" : "its template (reset_on_reboot)", why);
		return true;
	}
	return false;
}

/* The disks made from @vm's template deleted and made again, after
 * @last: for a new template, or (@reset) a start on fresh disks. */
static plan_op *
plan_rebuild(planner *pl, const desired_vm *vm, const obs_domain *o, plan_op *last, bool reset)
{
	obs_host *h = o->host;

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		plan_op *vol;

		if (!rebuilt_with_template(d))
			continue;
		/* The old disk, if it is where the new one goes; one in another
		 * pool goes after the new definition, as any disk it drops. */
		if (obs_host_has_volume(h, d->pool, d->volume)) {
			plan_op *before = last;

			last = plan_vol_delete(pl, h, vm->domain, d->pool, d->volume, last,
					       reset ? (i ? "reset_on_reboot: the template's disk is made anew for this boot" :
							    "reset_on_reboot: the system disk is made anew for this boot") :
					       i ? "template changed: the template's disk is rebuilt on its base" :
						   "template changed: the system disk is rebuilt", NULL);
			if (last != before)
				last->rebuild = true;
		}
		vol = plan_disk(pl, vm, d, h, IMPACT_REPLACE);
		dep(vol, last);
		last = vol;
	}
	return last;
}

/* Whether @vm starts from @from on fresh disks: reset_on_reboot, and a
 * boot, not a restore of saved memory (which runs on the disk it left). */
static bool
resets(const planner *pl, const desired_vm *vm, run_state from)
{
	return vm->reset_on_reboot && from != RUN_SAVED && stays_up(pl, vm);
}

static plan_op *
plan_redefine(planner *pl, const desired_vm *vm, obs_domain *o, run_state from)
{
	obs_host *h = o->host;
	const desired_disk *sys = vm->disks->pdata[0];
	bool active = from == RUN_RUNNING || from == RUN_PAUSED;
	bool new_template = template_changed(vm, o);
	/* A VM reset on reboot that starts again starts on fresh disks. */
	bool replace = new_template || resets(pl, vm, from == RUN_SAVED ? RUN_OFF : from);
	op_impact impact = replace ? IMPACT_REPLACE : active ? IMPACT_RESTART : IMPACT_IN_PLACE;
	g_auto(GStrv) macs = nic_macs(pl, vm, o);
	g_autoptr(GPtrArray) changes = o->disks ? vm_changes(vm, o, macs, active, strcmp(h->domain_type, "test") != 0)
						: NULL;
	g_autofree char *boot = NULL;
	const desired_disk *moved;
	const virt_vol *old = NULL;
	plan_op *last = NULL, *def;

	if (refuse_changes(pl, vm, changes) || snapshots_hold_disks(pl, vm, o, changes, replace) ||
	    media_missing(pl, vm, h))
		return NULL;
	if (sys->role == DISK_PERSISTENT && !obs_host_has_volume(h, sys->pool, sys->volume)) {
		/* Making a fresh one would hide the VM's data, which is elsewhere. */
		refuse(pl, vm->appliance, "%s: its persistent volume %s/%s is not on %s, where the VM is; strata does not move volumes between pools or hosts",
		       vm->domain, sys->pool, sys->volume, h->name);
		return NULL;
	}
	if ((moved = moved_disk(h, vm, replace, &old))) {
		refuse(pl, vm->appliance, "%s: disk '%s' would move from pool '%s' to pool '%s'; strata does not "
		       "move volumes between pools (move it, or set its pool back)", vm->domain,
		       moved->name, old->pool, moved->pool);
		return NULL;
	}
	/* Known changes, none needing a boot, or a boot the appliance forbids:
	 * made live, the rest waiting for the next boot. */
	if (active && stays_up(pl, vm) && !new_template && changes && changes_complete(vm, o) &&
	    (!vm_changes_any(changes, CHANGE_NEXT_BOOT) || vm->never_disrupt))
		return plan_update_live(pl, vm, o, from, changes, macs);
	if (replace && rebuild_refused(pl, vm, o))
		return NULL;
	/* A VM the spec stops anyway is not disrupted by changing it once off. */
	if (vm->never_disrupt && ((active && (replace || stays_up(pl, vm))) || from == RUN_SAVED)) {
		refuse(pl, vm->appliance, "%s: the change needs the VM %s, and appliance '%s' sets disruption: never",
		       vm->domain, new_template ? "rebuilt from its new template" : "restarted",
		       vm->appliance);
		return NULL;
	}
	if (active)
		last = plan_state(pl, h->name, vm->domain, from, RUN_OFF, impact, NULL);
	else if (from == RUN_SAVED)
		vm_op(pl, OP_DISCARD_SAVE, IMPACT_DESTROYS_DATA, h->name, vm->domain, &last,
		      "the saved memory image cannot be restored into a changed definition");
	if (replace)
		last = plan_rebuild(pl, vm, o, last, !new_template);
	last = plan_grow_volumes(pl, vm, o, changes, last);
	last = plan_seed(pl, vm, h, o, last);
	if (active && changes)
		boot = vm_changes_why(changes, CHANGE_NEXT_BOOT, "restart: ");
	def = plan_define_macs(pl, vm, h, o, impact, last,
			       new_template ? "template changed" : boot ? boot : "definition changed",
			       (const char *const *)macs);
	/* Disks the new definition names that the host lacks (a new disk, a
	 * disk in another pool); the system disk was rebuilt above if so. */
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		if (replace && rebuilt_with_template(d))
			continue;  /* rebuilt above */
		if (!obs_host_has_volume(h, d->pool, d->volume))
			dep(def, plan_disk(pl, vm, d, h, IMPACT_IN_PLACE));
	}
	return plan_state(pl, h->name, vm->domain, RUN_OFF, run_state_wanted(wanted(pl, vm)),
			  impact, def);
}

/* A disk whose size the spec changed, on a definition whose hash did not
 * (the size is not in it: a new hash would redefine every VM). */
static bool
disks_resized(const desired_vm *vm, const obs_domain *o)
{
	g_auto(GStrv) macs = g_new0(char *, 1);
	g_autoptr(GPtrArray) changes = NULL;
	obs_domain sizes = *o;

	if (!o->disks)
		return false;
	sizes.detailed = false;
	changes = vm_changes(vm, &sizes, macs, false, false);
	return changes->len > 0;
}

/* Whether running @o uses @pool/@volume live only: a detach its guest has
 * not completed (its definition, read with the live one's volumes added,
 * names it, but not among the definition's own disks). */
static bool
attached_live_only(const obs_domain *o, const char *pool, const char *volume)
{
	g_autofree char *source = g_strdup_printf("%s/%s", pool, volume);

	if (o->state == VIRT_DOM_SHUTOFF || !o->detailed || !o->disks ||
	    !o->volumes || !g_strv_contains((const char *const *)o->volumes, source))
		return false;
	for (guint i = 0; o->disks[i]; i++) {
		g_autofree char *target = NULL, *src = NULL;
		uint64_t size;

		if (domxml_disk_split(o->disks[i], &target, &src, &size) && strcmp(src, source) == 0)
			return false;
	}
	return true;
}

/*
 * Whether running @o keeps disk @pool/@volume, which its definition names,
 * after this plan: no stop comes before its new definition and no live
 * detach of that disk.  (A detach waiting for the next boot.)
 */
static bool
kept_running(planner *pl, const obs_domain *o, const char *pool, const char *volume)
{
	g_autofree char *source = g_strdup_printf("%s/%s", pool, volume);

	if (o->state == VIRT_DOM_SHUTOFF || g_hash_table_contains(pl->stop_op, o->name))
		return false;
	for (guint i = 0; o->disks && o->disks[i]; i++) {
		g_autofree char *target = NULL, *src = NULL;
		uint64_t size;

		if (!domxml_disk_split(o->disks[i], &target, &src, &size) || strcmp(src, source) != 0)
			continue;
		for (guint j = 0; j < pl->p->ops->len; j++) {
			const plan_op *op = pl->p->ops->pdata[j];

			if (op->kind == OP_DETACH && strcmp(op->domain, o->name) == 0 &&
			    strcmp(op->device, target) == 0)
				return false;
		}
		return true;
	}
	return false;
}

/* The last DEFINE of @domain on @host in the plan so far, or NULL. */
static plan_op *
define_of(planner *pl, const char *domain, const char *host)
{
	for (guint i = pl->p->ops->len; i-- > 0;) {
		plan_op *op = pl->p->ops->pdata[i];

		if (op->kind == OP_DEFINE && g_strcmp0(op->domain, domain) == 0 && strcmp(op->host, host) == 0)
			return op;
	}
	return NULL;
}

/* Volumes @o recorded as let go of that are still on its host and still
 * not in @vm's spec: carried into its next definition. */
static void
carry_released(const obs_domain *o, const desired_vm *vm, GPtrArray *to)
{
	for (guint i = 0; o->released && o->released[i]; i++) {
		g_auto(GStrv) pv = g_strsplit(o->released[i], "/", 2);

		if (pv[0] && pv[1] && obs_host_has_volume(o->host, pv[0], pv[1]) &&
		    !vm_has_volume(vm, pv[0], pv[1]) &&
		    !g_ptr_array_find_with_equal_func(to, o->released[i], g_str_equal, NULL))
			g_ptr_array_add(to, g_strdup(o->released[i]));
	}
}

/*
 * The volumes of @o's disks the spec dropped, deleted after @after (the
 * new definition without them).  One the running VM still holds (its
 * guest did not let go, or the detach waits for the next boot) stays,
 * said in a note, and is recorded in the new definition's metadata as let
 * go of: once nothing uses it, plan_released_volumes deletes it.  Nothing
 * else would: no definition names it any more, and a volume is never
 * taken for a domain's by its name alone.
 */
static bool
is_seed_volume(const char *domain, const char *volume)
{
	g_autofree char *seed = desired_seed_volume(domain);

	return strcmp(seed, volume) == 0;
}

static void
plan_dropped_volumes(planner *pl, obs_domain *o, const desired_vm *vm, plan_op *after)
{
	GPtrArray *vols = obs_host_domain_volumes(o->host, o->name);
	g_autoptr(GPtrArray) released = g_ptr_array_new_with_free_func(g_free);
	plan_op *def = define_of(pl, o->name, o->host->name);

	for (guint i = 0; vols && i < vols->len; i++) {
		const virt_vol *v = vols->pdata[i];
		bool held;

		if (vm_has_volume(vm, v->pool, v->name))
			continue;
		if (is_seed_volume(o->name, v->name)) {
			/* A CD-ROM drive: no unplug, only a boot lets it go. */
			if (o->state != VIRT_DOM_SHUTOFF && !g_hash_table_contains(pl->stop_op, o->name))
				note(pl, "%s: %s/%s is kept while the running VM still has its drive; deleted once "
				     "it restarts without it", o->name, v->pool, v->name);
			else
				plan_vol_delete(pl, o->host, o->name, v->pool, v->name, after,
						"first-boot data no longer in the spec", NULL);
			continue;
		}
		held = kept_running(pl, o, v->pool, v->name) || attached_live_only(o, v->pool, v->name);
		if (held && def) {
			note(pl, "%s: %s/%s is kept while the running VM still has it attached; deleted once it "
			     "lets go of it (its guest answers the unplug, or it restarts)", o->name, v->pool, v->name);
			g_ptr_array_add(released, g_strdup_printf("%s/%s", v->pool, v->name));
		} else if (held) {
			note(pl, "%s: %s/%s is kept while the running VM still has it attached", o->name, v->pool,
			     v->name);
		} else {
			plan_vol_delete(pl, o->host, o->name, v->pool, v->name, after,
					"disk no longer in the spec", NULL);
		}
	}
	carry_released(o, vm, released);
	if (def && released->len) {
		char *xml;

		g_ptr_array_add(released, NULL);
		xml = domxml_with_released(def->xml, (const char *const *)released->pdata);
		g_ptr_array_set_size(released, released->len - 1);
		if (xml) {
			g_free(def->xml);
			def->xml = xml;
		}
	}
}

static bool
paused_by_io_error(const obs_domain *o)
{
	return o->state == VIRT_DOM_PAUSED && o->reason == VIRT_PAUSED_IOERROR;
}

/* A definition up to date whose seed volume is gone (deleted by hand): it
 * is written again, or the VM would not start. */
static plan_op *
seed_lost(planner *pl, const desired_vm *vm, const obs_domain *o)
{
	if (!vm->seed_volume || obs_host_has_volume(o->host, vm->seed_pool, vm->seed_volume))
		return NULL;
	return plan_seed(pl, vm, o->host, o, NULL);
}

static void
plan_update(planner *pl, const desired_vm *vm, obs_domain *o)
{
	obs_host *h = o->host;
	const char *type = h->domain_type;
	g_autofree char *hash = desired_vm_hash(vm, type);
	run_state from = run_state_of(o);
	guint before = pl->p->ops->len;
	const char *move = must_move(pl, vm, o);
	plan_op *last;
	bool redefined;

	if (move && o->host->reachable && plan_move(pl, vm, o, hash, move))
		return;
	if (!vm->heal && o->hash && strcmp(o->hash, hash) == 0 &&
	    from != run_state_wanted(wanted(pl, vm))) {
		note(pl, "%s: drift (state) reported only: appliance '%s' sets heal: false",
		     vm->domain, vm->appliance);
		return;
	}
	if (o->state == VIRT_DOM_PAUSED && o->reason == VIRT_PAUSED_STARTING_UP) {
		/* Someone's start is under way (slow under emulation): it is not
		 * paused, and acting now would fight it.  Its STARTED event, or
		 * the next pass, sees how it ends. */
		note(pl, "%s: being started; looked at again once it is", vm->domain);
		return;
	}
	if (paused_by_io_error(o) && wanted(pl, vm) != VM_PAUSED) {
		/* Resuming into the same failing storage pauses it again (and
		 * did, every 250 ms): the operator must look first. */
		note(pl, "%s: paused by an I/O error on its storage; not resumed until it is fixed "
		     "(then resume it by hand, or change its spec)", vm->domain);
		return;
	}
	redefined = !o->hash || strcmp(o->hash, hash) != 0 || disks_resized(vm, o);
	if (redefined && plan_revert(pl, vm, o))
		return;
	if (redefined && !disks_about_to_change(pl, vm, o))
		plan_declared_snapshots(pl, vm, o);
	else if (redefined && desired_vm_declares_snapshots(vm))
		note(pl, "%s: its declared snapshots are taken once its disks have changed", vm->domain);
	if (redefined)
		last = plan_redefine(pl, vm, o, from);
	else if (o->state == VIRT_DOM_PMSUSPENDED && wanted(pl, vm) == VM_RUNNING)
		/* The guest suspended itself to RAM: only a wake-up brings it
		 * back (a resume fails on every pass). */
		last = op_add(pl, OP_PM_WAKEUP, IMPACT_IN_PLACE, h->name, vm->domain, seed_lost(pl, vm, o),
			      "the guest suspended itself; desired state running");
	else if (from == RUN_OFF && resets(pl, vm, from) && rebuild_refused(pl, vm, o))
		return;
	else if (from == RUN_OFF && resets(pl, vm, from))
		last = plan_state(pl, h->name, vm->domain, from, run_state_wanted(wanted(pl, vm)), IMPACT_IN_PLACE,
				  plan_rebuild(pl, vm, o, seed_lost(pl, vm, o), true));
	else
		last = plan_state(pl, h->name, vm->domain, from, run_state_wanted(wanted(pl, vm)),
				  IMPACT_IN_PLACE, seed_lost(pl, vm, o));
	/* A disk leaves with the definition that used it: only after a new
	 * definition without it (one attached by hand to an unchanged
	 * definition is in use, and stays). */
	if (redefined && last)
		plan_dropped_volumes(pl, o, vm, last);
	if (pl->p->ops->len > before)
		tally(pl, vm->appliance, &pl->p->n_change);
	else if (o->restart_required)
		note(pl, "%s: restart required: %s (its definition waits for the next boot)", vm->domain,
		     o->restart_required);
}

/*
 * libvirt's records of a domain's snapshots go with its definition; the
 * internal snapshots themselves stay inside a persistent volume, which
 * outlives the domain.  Said, so nobody thinks them gone (or kept whole).
 */
static void
note_snapshots_kept(planner *pl, const obs_domain *o)
{
	for (guint i = 0; o->volumes && o->volumes[i]; i++) {
		const char *vol = strchr(o->volumes[i], '/');

		if (vol && g_str_has_prefix(vol + 1, "persistent-"))
			note(pl, "%s: libvirt's list of its snapshots goes with its definition; the snapshots "
			     "themselves stay inside %s (qemu-img snapshot -l)", o->name, o->volumes[i]);
	}
}

static void
plan_remove(planner *pl, obs_domain *o, bool vanished, const char *reason)
{
	obs_host *h = o->host;
	run_state from = run_state_of(o);
	GPtrArray *undefs;
	plan_op *last;

	/* Undefining drops a managed-save image anyway: no separate discard. */
	last = plan_state_why(pl, h->name, o->name, from == RUN_SAVED ? RUN_OFF : from,
			      RUN_OFF, IMPACT_RESTART, NULL, "stopped before removal");
	if (last)
		g_ptr_array_add(removal_stops(pl, h->name), last);

	/* A saved VM's memory image goes with its definition. */
	last = op_add(pl, OP_UNDEFINE, from == RUN_SAVED ? IMPACT_DESTROYS_DATA : IMPACT_IN_PLACE,
		      h->name, o->name, last, reason);
	if (from == RUN_SAVED) {
		g_free(last->reason);
		last->reason = g_strdup_printf("%s; its saved memory image is discarded", reason);
	}
	note_snapshots_kept(pl, o);
	undefs = host_list(pl->undefines, h->name);
	g_ptr_array_add(undefs, last);
	plan_stale_volumes(pl, h, o->name, NULL, last,
			   "non-persistent disk of a removed VM", NULL);
	tally(pl, o->appliance, &pl->p->n_remove);
	/* Only what vanished from the source counts towards "everything
	 * removed": an explicit `state: undeployed` is not a lost folder. */
	if (vanished)
		pl->removed++;
}

/* ---- the passes -------------------------------------------------------- */

/*
 * A layer that cannot be kept apart on the hosts there are is an error
 * for the layer as a whole, checked before any of its VMs is placed.
 */
static void
check_layers(planner *pl)
{
	g_autoptr(GHashTable) layers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							      (GDestroyNotify)g_ptr_array_unref);
	GHashTableIter it;
	gpointer key, members;

	for (guint i = 0; i < pl->want->vms->len; i++) {
		desired_vm *vm = pl->want->vms->pdata[i];
		g_autofree char *k = NULL;
		GPtrArray *list;

		if (!vm->layer || wanted(pl, vm) == VM_UNDEPLOYED)
			continue;
		k = g_strdup_printf("%s/%s", vm->appliance, vm->layer);
		list = g_hash_table_lookup(layers, k);
		if (!list) {
			list = g_ptr_array_new();
			g_hash_table_insert(layers, g_steal_pointer(&k), list);
		}
		g_ptr_array_add(list, vm);
	}
	g_hash_table_iter_init(&it, layers);
	while (g_hash_table_iter_next(&it, &key, &members)) {
		GPtrArray *list = members;
		g_autofree char *why = NULL;
		bool creating = false;

		for (guint i = 0; i < list->len; i++)
			creating |= !g_hash_table_contains(pl->have->domain_by_name,
							   ((desired_vm *)list->pdata[i])->domain);
		if (list->len < 2 || !creating || pl->unreachable ||
		    place_layer_feasible(pl->ps, list, &why))
			continue;
		refuse(pl, ((desired_vm *)list->pdata[0])->appliance, "%s", why);
		for (guint i = 0; i < list->len; i++)
			g_hash_table_add(pl->blocked, ((desired_vm *)list->pdata[i])->domain);
	}
}

static void
plan_desired(planner *pl)
{
	guint n = pl->want->vms->len;

	check_layers(pl);
	/* VMs the spec pins to a host first, then the rest in spec order: a
	 * pinned VM's host is taken before a layer mate could be put there. */
	for (guint k = 0; k < 2 * n; k++) {
		desired_vm *vm = pl->want->vms->pdata[k % n];
		obs_domain *o;

		if ((k < n) != (vm->host != NULL))
			continue;
		o = g_hash_table_lookup(pl->have->domain_by_name, vm->domain);
		if (o && g_hash_table_contains(pl->duplicates, vm->domain))
			continue;
		if (!o && g_hash_table_contains(pl->blocked, vm->domain))
			continue;
		if (o && !o->managed) {
			refuse(pl, vm->appliance, "%s: a domain of that name exists on %s and is not managed by strata; rename one of them",
			       vm->domain, o->host->name);
			continue;
		}
		if (wanted(pl, vm) == VM_UNDEPLOYED) {
			if (o)
				plan_remove(pl, o, false, "desired state undeployed");
			continue;
		}
		if (!o)
			plan_create(pl, vm);
		else
			plan_update(pl, vm, o);
	}
}

static void
plan_observed(planner *pl)
{
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		obs_host *h = pl->have->hosts->pdata[i];

		for (guint j = 0; j < h->domains->len; j++) {
			obs_domain *d = h->domains->pdata[j];

			if (!d->managed) {
				note(pl, "ignored: domain '%s' on %s is not managed by strata",
				     d->name, h->name);
				continue;
			}
			pl->managed++;
			if (g_hash_table_contains(pl->duplicates, d->name))
				continue;
			if (!g_hash_table_contains(pl->want->vm_by_domain, d->name))
				plan_remove(pl, d, true, "no longer in the spec");
		}
	}
}

/*
 * A volume a VM's disk let go of after the pass that dropped it from the
 * definition (a detach its guest ignored, completed by a restart or late):
 * deleted once no definition on its host uses it, live ones included, and
 * no disk of the VM's spec names it.  Only volumes the domain's own
 * metadata records as let go of (plan_dropped_volumes), by exact pool and
 * name: never one taken for the VM's by its name.  vol_delete_blocker
 * still applies, and exec asks every domain again just before the delete.
 */
static void
plan_released_volumes(planner *pl)
{
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		obs_host *h = pl->have->hosts->pdata[i];

		for (guint j = 0; h->reachable && h->refs_known && j < h->domains->len; j++) {
			const obs_domain *d = h->domains->pdata[j];
			const desired_vm *vm = g_hash_table_lookup(pl->want->vm_by_domain, d->name);

			for (guint k = 0; vm && d->managed && d->released && d->released[k]; k++) {
				g_auto(GStrv) pv = g_strsplit(d->released[k], "/", 2);

				if (!pv[0] || !pv[1] || !obs_host_has_volume(h, pv[0], pv[1]) ||
				    !obs_host_pool_known(h, pv[0]) || vm_has_volume(vm, pv[0], pv[1]) ||
				    obs_host_volume_used(h, pv[0], pv[1], NULL))
					continue;
				plan_vol_delete(pl, h, d->name, pv[0], pv[1], NULL,
						"its VM let go of it after its disk left the spec", NULL);
			}
		}
	}
}

/* `after`: X starts once its dependencies run, and stops before them. */
static void
plan_after(planner *pl)
{
	for (guint i = 0; i < pl->want->vms->len; i++) {
		desired_vm *vm = pl->want->vms->pdata[i];

		for (guint j = 0; j < vm->after->len; j++) {
			g_autofree char *dep_dom = g_strdup_printf("%s.%s", vm->appliance,
								   (char *)vm->after->pdata[j]);

			dep(g_hash_table_lookup(pl->start_op, vm->domain),
			    g_hash_table_lookup(pl->start_op, dep_dom));
			dep(g_hash_table_lookup(pl->stop_op, dep_dom),
			    g_hash_table_lookup(pl->stop_op, vm->domain));
		}
	}
}

/*
 * A new VM on a host waits for the VMs leaving that host to stop: their
 * memory is free by then, and a renamed layer member never shares the host
 * with its predecessor, not even for a moment.
 */
static void
plan_make_room(planner *pl)
{
	GHashTableIter it;
	gpointer host, defs;

	g_hash_table_iter_init(&it, pl->new_starts);
	while (g_hash_table_iter_next(&it, &host, &defs)) {
		GPtrArray *stops = g_hash_table_lookup(pl->removal_stops, host);

		for (guint i = 0; stops && i < ((GPtrArray *)defs)->len; i++)
			for (guint j = 0; j < stops->len; j++)
				dep(((GPtrArray *)defs)->pdata[i], stops->pdata[j]);
	}
}

/* Whether a domain on @h that this plan does not undefine uses @v. */
static bool
used_beyond(const obs_host *h, const virt_vol *v, const GPtrArray *undefs)
{
	g_autofree char *key = g_strdup_printf("%s/%s", v->pool, v->name);
	GPtrArray *users = g_hash_table_lookup(h->users, key);

	if (!h->refs_known)
		return true;
	for (guint i = 0; users && i < users->len; i++) {
		const obs_domain *d = users->pdata[i];
		bool going = false;

		for (guint k = 0; undefs && k < undefs->len; k++)
			going |= g_strcmp0(((plan_op *)undefs->pdata[k])->domain, d->name) == 0;
		if (!going)
			return true;
	}
	return false;
}

/*
 * A persistent volume on a pool declared shared is one volume, whichever
 * member lists it: deleted once, through the first member that lists it,
 * when every member answers and none keeps a domain that uses it.
 */
static bool
shared_delete_through(planner *pl, const obs_host *h, const virt_vol *v)
{
	const char *const *members = desired_pool_sharers(pl->want, v->pool, h->name);

	for (guint i = 0; members && members[i]; i++) {
		const obs_host *m = observed_host(pl->have, members[i]);
		GPtrArray *undefs = m ? g_hash_table_lookup(pl->undefines, m->name) : NULL;

		if (m == h)
			continue;
		if (!m || !m->reachable) {
			note(pl, "%s/%s is kept: pool '%s' is shared with %s, which does not answer (a VM there may use it)",
			     v->pool, v->name, v->pool, members[i]);
			return false;
		}
		if (used_beyond(m, v, undefs)) {
			note(pl, "%s/%s is kept: pool '%s' is shared with %s, where a definition that stays uses it, or one could not be read",
			     v->pool, v->name, v->pool, m->name);
			return false;
		}
		/* A member before @h that lists it deletes it. */
		if (m->index < h->index && obs_host_has_volume(m, v->pool, v->name))
			return false;
	}
	return true;
}

/* The delete waits for the members' undefines of the VMs that used it. */
static void
shared_delete_after(planner *pl, const obs_host *h, const virt_vol *v, plan_op *op)
{
	const char *const *members = desired_pool_sharers(pl->want, v->pool, h->name);

	for (guint i = 0; members && members[i]; i++) {
		GPtrArray *undefs = g_hash_table_lookup(pl->undefines, members[i]);

		for (guint k = 0; strcmp(members[i], h->name) != 0 && undefs && k < undefs->len; k++)
			dep(op, undefs->pdata[k]);
	}
}

static void
plan_persistent(planner *pl)
{
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		obs_host *h = pl->have->hosts->pdata[i];
		GPtrArray *undefs = g_hash_table_lookup(pl->undefines, h->name);

		for (guint j = 0; h->vols && j < h->vols->len; j++) {
			const virt_vol *v = h->vols->pdata[j];
			desired_ptemplate *t;
			plan_op *op;

			if (!g_str_has_prefix(v->name, "persistent-"))
				continue;
			t = g_hash_table_lookup(pl->want->ptemplate_by_volume, v->name);
			if (!t) {
				note(pl, "orphaned: persistent volume %s/%s on %s has no persistent-template document; it is kept",
				     v->pool, v->name, h->name);
				continue;
			}
			if (!t->deleted || strcmp(t->pool, v->pool) != 0)
				continue;
			if (used_beyond(h, v, undefs)) {
				note(pl, "%s/%s on %s is kept: a definition that stays on the host uses it, or one could not be read",
				     v->pool, v->name, h->name);
				continue;
			}
			if (!shared_delete_through(pl, h, v))
				continue;
			op = op_add(pl, OP_VOL_DELETE, IMPACT_DESTROYS_DATA, h->name, NULL, NULL,
				    "its persistent template says state: deleted");
			op->pool = g_strdup(v->pool);
			op->volume = g_strdup(v->name);
			op->members = other_members(pl, h, v->pool);
			for (guint k = 0; undefs && k < undefs->len; k++)
				dep(op, undefs->pdata[k]);
			shared_delete_after(pl, h, v, op);
			pl->p->n_remove++;
		}
	}
}

/* Kahn's algorithm, stable: ops keep their order unless a dependency says
 * otherwise.  What waits on a cycle is never placed. */
static GPtrArray *
sort_ready(const plan *p, GHashTable *placed)
{
	GPtrArray *sorted = g_ptr_array_new_full(p->ops->len, op_free);
	guint progress;

	do {
		progress = sorted->len;
		for (guint i = 0; i < p->ops->len; i++) {
			plan_op *op = p->ops->pdata[i];
			bool ready = !g_hash_table_contains(placed, op);

			for (guint j = 0; ready && j < op->deps->len; j++)
				ready = g_hash_table_contains(placed, op->deps->pdata[j]);
			if (!ready)
				continue;
			g_hash_table_add(placed, op);
			op->id = sorted->len + 1;
			g_ptr_array_add(sorted, op);
		}
	} while (sorted->len > progress && sorted->len < p->ops->len);
	return sorted;
}

/*
 * One cycle among the ops not placed.  Each of them waits for another
 * unplaced op (else it would have been placed), so following the first
 * such dependency must come back to an op already on the path.
 */
static GPtrArray *
find_cycle(const plan *p, GHashTable *placed)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
	GPtrArray *path = g_ptr_array_new();
	plan_op *op = NULL;
	guint from;

	for (guint i = 0; !op && i < p->ops->len; i++)
		if (!g_hash_table_contains(placed, p->ops->pdata[i]))
			op = p->ops->pdata[i];
	while (op && !g_hash_table_contains(seen, op)) {
		plan_op *next = NULL;

		g_hash_table_insert(seen, op, GUINT_TO_POINTER(path->len));
		g_ptr_array_add(path, op);
		for (guint j = 0; !next && j < op->deps->len; j++)
			if (!g_hash_table_contains(placed, op->deps->pdata[j]))
				next = op->deps->pdata[j];
		op = next;
	}
	from = op ? GPOINTER_TO_UINT(g_hash_table_lookup(seen, op)) : 0;
	g_ptr_array_remove_range(path, 0, from);
	return path;
}

/* "the plan cannot be ordered: steps of a.x, a.y wait on each other ..." */
static char *
cycle_error(const GPtrArray *cycle, guint dropped)
{
	g_autoptr(GString) vms = g_string_new(NULL);
	g_autoptr(GString) steps = g_string_new(NULL);
	g_autoptr(GHashTable) named = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < cycle->len; i++) {
		const plan_op *op = cycle->pdata[i];
		g_autofree char *what = op_describe(op);

		g_string_append_printf(steps, "%s%s", i ? ", then " : "", what);
		if (!op->domain || !g_hash_table_add(named, op->domain))
			continue;
		g_string_append_printf(vms, "%s%s", vms->len ? ", " : "", op->domain);
	}
	return g_strdup_printf("the plan cannot be ordered: steps of %s wait on each other in a cycle "
			       "(each waits for the next: %s, then the first again); "
			       "%u steps, the cycle's and those waiting on it, are left out; a plan with an error is not carried out",
			       vms->len ? vms->str : "persistent volumes", steps->str, dropped);
}

bool
plan_order(plan *p)
{
	g_autoptr(GHashTable) placed = g_hash_table_new(NULL, NULL);
	GPtrArray *sorted = sort_ready(p, placed);
	guint dropped = p->ops->len - sorted->len;

	if (dropped) {
		g_autoptr(GPtrArray) cycle = find_cycle(p, placed);

		g_ptr_array_add(p->errors, cycle_error(cycle, dropped));
		for (guint i = 0; i < p->ops->len; i++)
			if (!g_hash_table_contains(placed, p->ops->pdata[i]))
				op_free(p->ops->pdata[i]);
	}
	g_ptr_array_set_free_func(p->ops, NULL);
	g_ptr_array_unref(p->ops);
	p->ops = sorted;
	return dropped == 0;
}

static void
find_duplicates(planner *pl)
{
	for (guint i = 0; i < pl->have->duplicates->len; i++) {
		obs_domain *d = pl->have->duplicates->pdata[i];
		obs_domain *first = g_hash_table_lookup(pl->have->domain_by_name, d->name);

		g_hash_table_add(pl->duplicates, d->name);
		refuse(pl, d->appliance ? d->appliance : "", "domain '%s' is defined on both %s and %s; strata will not touch it until one is removed by hand",
		       d->name, first->host->name, d->host->name);
	}
	for (guint i = 0; i < pl->have->hosts->len; i++) {
		obs_host *h = pl->have->hosts->pdata[i];

		if (obs_host_lost(h)) {
			/* The operator says it is gone (and fenced): what ran there
			 * may come back elsewhere, per restart policy. */
			pl->lost = h->name;
			note(pl, "host %s is declared lost and does not answer: VMs seen on no other host restart elsewhere, per their restart policy",
			     h->name);
		} else if (!h->reachable) {
			pl->unreachable = h->name;
			pl->p->partial = true;
			note(pl, "host %s is unreachable (%s): its VMs are unknown and nothing is planned there",
			     h->name, h->error ? h->error : "no answer");
		}
	}
}

/*
 * A host removed from the source may still run what it ran: recreating
 * those VMs elsewhere would make second copies (a fresh, empty persistent
 * volume among them).  Treated as a host that does not answer.
 */
static void
plan_vanished(planner *pl)
{
	for (guint i = 0; pl->opts->vanished && i < pl->opts->vanished->len; i++) {
		const char *h = pl->opts->vanished->pdata[i];

		g_free(pl->vanished);
		pl->vanished = g_strndup(h, strcspn(h, " "));
		pl->unreachable = pl->vanished;
		pl->p->partial = true;
		note(pl, "host %s: its VMs are unknown and none is created elsewhere; put its document back "
		     "(state: lost if the machine is gone for good), or remove its VMs from it first", h);
	}
}

/* Whether @op is held: its appliance is, or it waits for an op that is. */
static bool
op_held(const planner *pl, const plan_op *op, GHashTable *dropped)
{
	if (op->appliance && g_hash_table_contains(pl->held, op->appliance))
		return true;
	for (guint i = 0; i < op->deps->len; i++)
		if (g_hash_table_contains(dropped, op->deps->pdata[i]))
			return true;
	return false;
}

/* A share of the fleet gone from the source at once is more likely a
 * mistake (a wrong branch, a half-copied folder) than an intent. */
static bool
too_many_removed(const planner *pl)
{
	guint pct = pl->opts->max_removal_pct ? pl->opts->max_removal_pct : PLAN_MAX_REMOVAL_PCT;

	/* Everything gone is the --allow-empty case, judged before. */
	return pl->removed > 0 && pl->removed < pl->managed && !pl->opts->allow_removal &&
	       (guint64)pl->removed * 100 > (guint64)pl->managed * pct;
}

/* Persistent volumes belong to no appliance: one made only for held VMs
 * is held too (no kept op waits for it). */
static void
hold_orphan_volumes(planner *pl, GHashTable *dropped)
{
	g_autoptr(GHashTable) needed = g_hash_table_new(NULL, NULL);

	for (guint i = 0; i < pl->p->ops->len; i++) {
		plan_op *op = pl->p->ops->pdata[i];

		for (guint j = 0; !g_hash_table_contains(dropped, op) && j < op->deps->len; j++)
			g_hash_table_add(needed, op->deps->pdata[j]);
	}
	for (guint i = 0; i < pl->p->ops->len; i++) {
		plan_op *op = pl->p->ops->pdata[i];
		bool for_held = false;

		if (op->appliance || op->kind != OP_VOL_CREATE || g_hash_table_contains(needed, op))
			continue;
		for (guint k = 0; k < pl->p->ops->len && !for_held; k++) {
			plan_op *o = pl->p->ops->pdata[k];

			for_held = g_hash_table_contains(dropped, o) && g_ptr_array_find(o->deps, op, NULL);
		}
		if (for_held)
			g_hash_table_add(dropped, op);
	}
}

/*
 * One refusal does not freeze the fleet: the operations of the appliances
 * an error concerns are held back, with everything that waits for them,
 * and the rest proceeds.  An error that concerns the whole plan (NULL
 * scope) holds everything.
 */
static void
hold_back(planner *pl)
{
	g_autoptr(GHashTable) dropped = g_hash_table_new(NULL, NULL);
	GPtrArray *kept;
	GHashTableIter it;
	gpointer app;
	bool grew = true;

	if (!pl->refuse_all && !g_hash_table_size(pl->held))
		return;
	while (grew) {  /* to a fixpoint: dependents of dependents */
		grew = false;
		for (guint i = 0; i < pl->p->ops->len; i++) {
			plan_op *op = pl->p->ops->pdata[i];

			if (!g_hash_table_contains(dropped, op) &&
			    (pl->refuse_all || op_held(pl, op, dropped)))
				grew = g_hash_table_add(dropped, op);
		}
	}
	hold_orphan_volumes(pl, dropped);
	kept = g_ptr_array_new_with_free_func(op_free);
	for (guint i = 0; i < pl->p->ops->len; i++) {
		plan_op *op = pl->p->ops->pdata[i];

		if (g_hash_table_contains(dropped, op))
			op_free(op);
		else
			g_ptr_array_add(kept, op);
	}
	g_ptr_array_set_free_func(pl->p->ops, NULL);
	g_ptr_array_unref(pl->p->ops);
	pl->p->ops = kept;
	if (pl->refuse_all) {
		pl->p->n_create = pl->p->n_change = pl->p->n_remove = 0;
		return;
	}
	g_hash_table_iter_init(&it, pl->held);
	while (g_hash_table_iter_next(&it, &app, NULL)) {
		guint *c = g_hash_table_lookup(pl->tallies, app);

		note(pl, "appliance '%s' is held back by the errors above; the rest proceeds", (char *)app);
		if (c) {
			pl->p->n_create -= c[0];
			pl->p->n_change -= c[1];
			pl->p->n_remove -= c[2];
		}
	}
}

/*
 * A declared-shared pool that its probe contradicted is an error said on
 * every plan, naming the hosts, until the mounts or the declaration are
 * fixed.  It holds nothing back by itself: what would act on the sharing
 * (a move, a failover) is refused where it is planned.  One never probed
 * is said to be taken as declared.
 */
static void
shared_pool_findings(planner *pl)
{
	g_autoptr(GList) pools = pl->have->shares ? g_hash_table_get_keys(pl->have->shares) : NULL;

	pools = g_list_sort(pools, (GCompareFunc)strcmp);
	for (GList *l = pools; l; l = l->next) {
		const share_state *s = g_hash_table_lookup(pl->have->shares, l->data);

		if (s->refuted)
			refuse(pl, "", "%s", s->refuted);
		else if (s->unproven)
			note(pl, "%s; nothing is moved or failed over on it until a probe agrees", s->unproven);
		else if (!s->can_probe && !g_hash_table_size(s->serial))
			note(pl, "pool '%s' is declared shared by %s; not probed on this pass (read-only connections, "
			     "as strata plan's, cannot make a probe volume; or fewer than two of them answer): "
			     "taken as declared here, verified by apply and watch before they act on it",
			     s->pool, s->declared);
	}
}

plan *
plan_build(const desired_state *want, const observed *have, const plan_options *opts)
{
	planner pl = { .want = want, .have = have, .opts = opts };

	pl.p = plan_new();
	pl.ps = place_state_new(want, have, opts->cut_short);
	pl.start_op = g_hash_table_new(g_str_hash, g_str_equal);
	pl.stop_op = g_hash_table_new(g_str_hash, g_str_equal);
	pl.undefines = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					     (GDestroyNotify)g_ptr_array_unref);
	pl.duplicates = g_hash_table_new(g_str_hash, g_str_equal);
	pl.blocked = g_hash_table_new(g_str_hash, g_str_equal);
	pl.held = g_hash_table_new(g_str_hash, g_str_equal);
	pl.tallies = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	pl.copies = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	pl.captures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	pl.capture_start = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	pl.gates = g_hash_table_new(g_str_hash, g_str_equal);
	pl.settled = g_hash_table_new(g_str_hash, g_str_equal);
	pl.removal_stops = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
						 (GDestroyNotify)g_ptr_array_unref);
	pl.new_starts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
					      (GDestroyNotify)g_ptr_array_unref);

	find_duplicates(&pl);
	shared_pool_findings(&pl);
	plan_vanished(&pl);
	plan_captures(&pl);
	plan_desired(&pl);
	plan_observed(&pl);
	plan_released_volumes(&pl);
	plan_after(&pl);
	plan_make_room(&pl);
	plan_persistent(&pl);
	plan_exports(&pl);
	plan_retirements(&pl);
	pl.p->removal_held = (pl.managed > 0 && pl.removed == pl.managed && !opts->allow_empty) ||
			     too_many_removed(&pl);
	if (pl.managed > 0 && pl.removed == pl.managed && !opts->allow_empty)
		refuse(&pl, NULL, "the plan would remove every managed VM (%u); refused without --allow-empty",
		       pl.managed);
	else if (too_many_removed(&pl))
		refuse(&pl, NULL, "the revision would remove %u of the %u managed VMs, more than %u%%; "
		       "nothing is changed until it is confirmed: strata apply --allow-removal, or "
		       "strata approve while strata watch runs", pl.removed, pl.managed,
		       opts->max_removal_pct ? opts->max_removal_pct : PLAN_MAX_REMOVAL_PCT);
	hold_back(&pl);
	if (!plan_order(pl.p)) {
		/* A planner bug: what was left could stop a VM whose start was
		 * in the cycle, so nothing of this plan runs. */
		g_ptr_array_set_size(pl.p->ops, 0);
		pl.p->n_create = pl.p->n_change = pl.p->n_remove = 0;
	}

	place_state_free(pl.ps);
	g_hash_table_unref(pl.start_op);
	g_hash_table_unref(pl.stop_op);
	g_hash_table_unref(pl.undefines);
	g_hash_table_unref(pl.duplicates);
	g_hash_table_unref(pl.blocked);
	g_clear_pointer(&pl.bases, g_hash_table_unref);
	g_clear_pointer(&pl.copies, g_hash_table_unref);
	g_clear_pointer(&pl.captures, g_hash_table_unref);
	g_clear_pointer(&pl.capture_start, g_hash_table_unref);
	g_clear_pointer(&pl.gates, g_hash_table_unref);
	g_clear_pointer(&pl.settled, g_hash_table_unref);
	g_hash_table_unref(pl.held);
	g_hash_table_unref(pl.tallies);
	g_free(pl.vanished);
	g_hash_table_unref(pl.removal_stops);
	g_hash_table_unref(pl.new_starts);
	return pl.p;
}

plan_op *
plan_append_oneshot(plan *p, op_kind kind, const char *host, const char *domain,
		    const char *reason)
{
	planner pl = { .p = p };
	plan_op *op = op_add(&pl, kind, IMPACT_IN_PLACE, host, domain, NULL, reason);

	for (guint i = 0; i + 1 < p->ops->len; i++) {
		plan_op *o = p->ops->pdata[i];

		if (g_strcmp0(o->domain, domain) == 0)
			dep(op, o);
	}
	op->id = p->ops->len;
	p->n_change++;
	return op;
}
