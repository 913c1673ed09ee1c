/*
 * exec.c - carry out a plan: a bounded worker pool over the DAG
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "domxml.h"
#include "exec.h"
#include "fault.h"
#include "handoff.h"
#include "image_export.h"
#include "library.h"
#include "seed_iso.h"
#include "waiter.h"

typedef struct {
	plan_op *op;
	virt_host *virt;
	waiter *waiter;      /* where a graceful stop waits for its guest */
	const exec_options *opts;
	GAsyncQueue *done;
	int wake;            /* eventfd: a result waits */
	char uuid[37];       /* DEFINE: the domain's UUID */
	GPtrArray *members;         /* VOL_DELETE on a shared pool: virt_host * of
				       the other members (NULL: not connected) */
	virt_host *peer;            /* VOL_DELETE after a move: where the VM went;
				       MIGRATE with pools to refresh: its target */
	const char *dest_uri;       /* MIGRATE: the target host's URI ... */
	const char *migration_uri;  /* ... and where its data goes */
	/* The outcome, written by the worker and put on the op by the loop
	 * (collect): a worker never writes the plan the loop reads. */
	bool ok;
	unsigned attempts;
	char *error;
	/* SHUTDOWN: the button is pressed and the guest not yet off: the job
	 * goes to the waiter, and a notice (a job of its own) tells the loop
	 * the worker is free. */
	virt_stop stop;
	bool waits;
	bool notice;
	bool unchanged;      /* see plan_op.unchanged */
	virt_copy copy;      /* VOL_COPY: what crossed, and its checksum */
	image_result image;  /* IMAGE_EXPORT */
} job;

void
exec_options_init(exec_options *o)
{
	memset(o, 0, sizeof(*o));
	o->parallel = EXEC_PARALLEL_DEFAULT;
	o->per_host = 4;
	o->retries = 4;
	o->backoff_ms = 100;
	o->shutdown_timeout_ms = 0;  /* each VM's shutdown_timeout */
}

const char *
exec_result_name(exec_result r)
{
	return r == EXEC_CONVERGED ? "converged" : r == EXEC_PARTIAL ? "partial" : "failed";
}

/* Built here, in the worker: libarchive's writer uses a temporary file. */
static bool
write_seed(virt_host *v, const plan_op *op, GError **error)
{
	g_autoptr(GBytes) image = seed_iso_build(op->seed, error);

	return image && virt_seed_write(v, op->pool, op->volume, image, error);
}

/*
 * The planner keeps any volume a definition used when the pass observed the
 * host; a domain defined since (a rescue VM an operator made from the disk)
 * is caught here, just before the delete, and the op fails saying who.
 */
/*
 * After a move, the old host's copy goes only if the two hosts do not see
 * the pool as one storage: if they do (a sharing nobody declared), it is
 * the very volume the VM now uses.  Proved by a probe made through the new
 * host; a probe that cannot tell keeps the volume.
 */
static bool
vol_not_shared_with_peer(job *j, GError **error)
{
	plan_op *op = j->op;
	share_probe *p;
	bool ok = false;

	if (!j->peer) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
			    "%s/%s is kept: host %s, where the VM went, is not connected, so strata cannot tell "
			    "whether the two see pool '%s' as one storage; nothing was deleted",
			    op->pool, op->volume, op->peer, op->pool);
		return false;
	}
	p = share_probe_new(op->pool, op->peer, j->peer);
	share_probe_add(p, op->host, j->virt);
	share_probe_run(p);
	if (p->error)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
			    "%s/%s is kept: strata cannot tell whether %s and %s see pool '%s' as one storage (%s); nothing was deleted",
			    op->pool, op->volume, op->host, op->peer, op->pool, p->error);
	else if (p->seen->len)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
			    "%s/%s is kept: %s and %s see pool '%s' as one storage (a probe volume made through %s "
			    "is seen through %s), so it is the volume the VM uses on %s; nothing was deleted. "
			    "Declare the pool shared (kind: pool) so that moves on it copy nothing",
			    op->pool, op->volume, op->host, op->peer, op->pool, op->peer, op->host, op->peer);
	else
		ok = true;
	share_probe_free(p);
	return ok;
}

/*
 * On a pool declared shared, the volume is every member's: each is asked,
 * from a fresh read of the pool and of its domains' definitions, whether
 * a domain there uses it (by name or by path).  A member not connected, or
 * that cannot tell, keeps it.
 */
static bool
vol_unused_by_members(job *j, GError **error)
{
	plan_op *op = j->op;

	for (guint i = 0; op->members && op->members[i]; i++) {
		virt_host *m = j->members->pdata[i];
		g_autofree char *user = NULL;
		g_autoptr(GError) err = NULL;

		if (!m || !virt_pool_refresh(m, op->pool, &err) ||
		    (!obs_volume_user_now(m, op->pool, op->volume, NULL, &user, &err) &&
		     !g_error_matches(err, VIRT_ERROR, VIRT_ERROR_NOT_FOUND))) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
				    "%s/%s is kept: pool '%s' is shared with %s, which %s; nothing was deleted",
				    op->pool, op->volume, op->pool, op->members[i],
				    !m ? "is not connected" : "cannot say whether a domain there uses it");
			return false;
		}
		if (user) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
				    "%s/%s is kept: domain %s on %s, which shares pool '%s', uses it now; nothing was deleted",
				    op->pool, op->volume, user, op->members[i], op->pool);
			return false;
		}
	}
	return true;
}

/*
 * Whether anything on host @name (@m) stands on @path, the file to go, or
 * on the host's own copy of the version (the same pool and name): a
 * version goes from every host or from none, and a host's pool may be the
 * same storage as another's, declared or not, at another path.
 */
static bool
retire_unused_on(plan_op *op, const char *name, virt_host *m, const char *path, bool self, GError **error)
{
	g_autofree char *user = NULL, *own = NULL;
	g_autoptr(GError) err = NULL;
	bool ok;

	ok = m && obs_file_user_now(m, path, self ? op->pool : NULL, op->volume, &user, &err);
	if (ok && !user && !self && virt_vol_key(m, op->pool, op->volume, &own, NULL) && own && own[0] == '/')
		ok = obs_file_user_now(m, own, op->pool, op->volume, &user, &err);
	if (!ok) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s/%s is kept: host %s %s%s; nothing was deleted, "
			    "and strata looks again in an hour", op->pool, op->volume, name,
			    m ? "cannot say whether anything there stands on it: " : "is not connected",
			    m ? err->message : "");
		return false;
	}
	if (user) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s/%s is kept: on %s, %s stands on it%s; nothing "
			    "was deleted, and strata looks again in an hour (remove it or rebase it onto a kept "
			    "version, or raise keep)", op->pool, op->volume, name, user,
			    own ? " (on that host's copy of the version)" : "");
		return false;
	}
	return true;
}

/*
 * An old template version (keep: N): every host is asked afresh whether
 * anything stands on it (retire_unused_on); its bytes must still be those
 * strata made (a volume someone made since under the same name is not
 * strata's); and as hashing takes long, every host is asked again after
 * it, and the volume deleted at once.
 */
static bool
retire(job *j, GError **error)
{
	plan_op *op = j->op;
	g_autofree char *path = NULL;
	g_autoptr(GError) err = NULL;
	guint n = op->members ? g_strv_length(op->members) : 0;
	virt_copy sum = { 0 };

	if (!virt_vol_key(j->virt, op->pool, op->volume, &path, error))
		return false;
	if (!path || path[0] != '/') {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s/%s is kept: it is not a file whose users "
			    "strata can look for; nothing was deleted", op->pool, op->volume);
		return false;
	}
	for (guint i = 0; i <= n; i++)
		if (!retire_unused_on(op, i ? op->members[i - 1] : op->host, i ? j->members->pdata[i - 1] : j->virt,
				      path, i == 0, error))
			return false;
	if (!virt_vol_hash(j->virt, op->pool, op->volume, op->hash, &sum, &err)) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s/%s is kept: its bytes are not shown to be "
			    "those strata made there (%s); nothing was deleted, and strata looks again in an hour "
			    "(delete it by hand if it is not needed)", op->pool, op->volume, err->message);
		return false;
	}
	for (guint i = 0; i <= n; i++)
		if (!retire_unused_on(op, i ? op->members[i - 1] : op->host, i ? j->members->pdata[i - 1] : j->virt,
				      path, i == 0, error))
			return false;
	return virt_vol_delete(j->virt, op->pool, op->volume, error);
}

static bool
vol_delete_unused(job *j, GError **error)
{
	plan_op *op = j->op;
	g_autofree char *user = NULL;

	if (op->retire)
		return retire(j, error);

	if (op->peer && !vol_not_shared_with_peer(j, error))
		return false;
	/* A disk made anew for a boot (reset_on_reboot) follows no stop of
	 * strata's: the VM was off when observed, and someone may have
	 * started it since. */
	if (op->rebuild && op->domain) {
		bool active = false;
		g_autoptr(GError) e = NULL;

		if (virt_domain_active_now(j->virt, op->domain, &active, &e) && active) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
				    "%s/%s is kept: %s runs on it now (started since it was seen off); nothing was "
				    "deleted", op->pool, op->volume, op->domain);
			return false;
		}
	}
	if (op->members && !vol_unused_by_members(j, error))
		return false;

	if (!obs_volume_user_now(j->virt, op->pool, op->volume, op->rebuild ? op->domain : NULL,
				 &user, error))
		return false;
	if (user) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
			    "%s/%s is kept: domain %s on %s uses it now; nothing was deleted",
			    op->pool, op->volume, user, op->host);
		return false;
	}
	return virt_vol_delete(j->virt, op->pool, op->volume, error);
}

/*
 * A live migration or a managed save, aborted by the waiter at the op's
 * deadline (op->value seconds, from the plan): the VM stays as it was (on
 * the source, running) and the op fails saying so.
 */
static bool
with_deadline(job *j, GError **error)
{
	plan_op *op = j->op;
	deadline_watch dw = { .virt = j->virt, .domain = op->domain,
			      .deadline = g_get_monotonic_time() + (gint64)op->value * G_USEC_PER_SEC };
	bool ok;

	waiter_watch(j->waiter, &dw);
	ok = op->kind == OP_MIGRATE ? virt_migrate(j->virt, op->domain, j->dest_uri, j->migration_uri, op->shared, error)
				    : virt_managed_save(j->virt, op->domain, error);
	if (waiter_unwatch(j->waiter, &dw) && ok)
		g_warning("%s: its %s ended although libvirt took its abort", op->domain, op_kind_name(op->kind));
	else if (dw.aborted && !ok) {
		g_autofree char *why = g_strdup((*error)->message);

		g_clear_error(error);
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
			    "aborted at its deadline (%" G_GUINT64_FORMAT " s%s%s): %s; %s stays as it was on %s",
			    op->value, op->kind == OP_MIGRATE ? "; migration_timeout of host " : "",
			    op->kind == OP_MIGRATE ? op->host : "", why, op->domain, op->host);
	}
	return ok;
}

/*
 * Shared pools the op's volumes are on, read again from their storage on
 * the host that will open them: another member made or moved them since
 * that host's libvirtd last read the pool, and a volume it does not list
 * cannot be started from.  A refresh that fails fails the op (libvirt may
 * have stopped the pool: nothing is started on it).
 */
static bool
refresh_pools(job *j, GError **error)
{
	plan_op *op = j->op;
	virt_host *on = op->kind == OP_MIGRATE ? j->peer : j->virt;

	for (guint i = 0; op->refresh && op->refresh[i]; i++) {
		if (!on) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "host %s is not connected", op->target);
			return false;
		}
		if (!virt_pool_refresh(on, op->refresh[i], error))
			return false;
	}
	return true;
}

/* Scheduled snapshots end in their time, so retention keeps the newest
 * (the prefix is the name without it); declared ones are kept as named. */
static bool
snapshot_create(virt_host *v, const plan_op *op, GError **error)
{
	size_t len = strlen(op->snapshot);
	g_autofree char *prefix = NULL;

	if (op->one_snapshot)
		return virt_snapshot_create(v, op->domain, op->snapshot, VIRT_SNAP_DECLARED, error);
	if (!virt_snapshot_create(v, op->domain, op->snapshot, VIRT_SNAP_SCHEDULED, error))
		return false;
	if (!op->value || len <= 16)
		return true;
	prefix = g_strndup(op->snapshot, len - 16);
	return virt_snapshots_prune(v, op->domain, prefix, (guint)op->value, error);
}

/* Whether @op's VM has no snapshots (two calls: a lookup, a count); else
 * @error says @unknown or @some about it. */
static bool
no_snapshots(virt_host *v, const plan_op *op, const char *unknown, const char *some, GError **error)
{
	int n = virt_snapshot_count(v, op->domain, "");

	if (n == 0)
		return true;
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, n < 0 ? "cannot list the snapshots of '%s'; %s"
							  : "'%s' has snapshots: %s", op->domain, n < 0 ? unknown : some);
	return false;
}

/*
 * The last check before a disk grows: the plan reads a VM's snapshots only
 * when its definition changes, and a size is not part of it.  While it has
 * snapshots its disks keep their size unless the spec lets them go.
 */
static bool
resize_allowed(virt_host *v, const plan_op *op, GError **error)
{
	return op->snapshots_may_go ||
	       no_snapshots(v, op, "a disk does not grow without knowing it has none",
			    "its disks keep their size (set on_disk_change: delete-snapshots to let them go, "
			    "or delete them first)", error);
}

/* The last check before a VM starts to leave its host (plan_move). */
static bool
move_allowed(virt_host *v, const plan_op *op, GError **error)
{
	return no_snapshots(v, op, "a VM does not leave its host without knowing it has none",
			    "it stays on its host (libvirt migrates no domain with snapshots, and a move would "
			    "lose them); delete them first", error);
}

static bool
run_once(job *j, GError **error)
{
	plan_op *op = j->op;
	virt_host *v = j->virt;

	if (!refresh_pools(j, error))
		return false;
	if (op->moves_vm && !move_allowed(v, op, error))
		return false;
	switch (op->kind) {
	case OP_VOL_CREATE:
		return virt_vol_create(v, op->pool, op->xml, op->clone_from, error);
	case OP_VOL_DELETE:
		return vol_delete_unused(j, error);
	case OP_VOL_CAPTURE:
		if (op->live)
			return virt_vol_capture_live(v, op->domain, op->file, op->clone_from, op->pool, op->volume,
						     &j->copy, error);
		return virt_vol_capture(v, op->pool, op->volume, op->file, op->clone_from, &j->copy, error);
	case OP_IMAGE_EXPORT: {
		image_target t = { .path = op->file, .file_name = op->export->file_name,
				   .format = op->export->format, .source_format = op->export->source_format,
				   .command = op->export->command,
				   .region = op->export->region, .timeout_s = op->export->timeout_s,
				   .attempts = op->export->attempts };
		bool ok;

		g_clear_pointer(&j->image.log, g_free);
		ok = image_export(v, op->pool, op->volume, &t, &j->image, error);
		memcpy(j->copy.sha256, j->image.sha256, sizeof(j->copy.sha256));
		j->copy.length = j->image.bytes;
		return ok;
	}
	case OP_LIB_EXPORT: {
		lib_export_of x = { .host = op->host, .pool = op->pool, .template = op->export->template,
				    .version = op->export->version, .cpus = op->export->cpus,
				    .memory = op->export->memory, .n = op->export->n_disks,
				    .volumes = (const char *const *)op->export->volumes,
				    .formats = (const char *const *)op->export->formats,
				    .sizes = op->export->sizes };

		return lib_export(op->file, v, &x, &j->copy, error);
	}
	case OP_VOL_COPY:
		if (op->library)
			return lib_import(op->file, op->image, v, op->pool, op->volume, op->hash, &j->copy, error);
		if (!j->peer) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_TRANSIENT, "host %s, where the base is "
				    "copied from, is not connected", op->peer);
			return false;
		}
		return virt_vol_copy(j->peer, v, op->pool, op->volume, op->hash, &j->copy, error);
	case OP_DEFINE:
		return virt_define(v, op->xml, j->uuid, error);
	case OP_UNDEFINE:
		return virt_undefine(v, op->domain, error);
	case OP_START:
		return virt_start(v, op->domain, error);
	case OP_SHUTDOWN: {
		/* The VM's own timeout; the option overrides it (tests). */
		bool off;

		j->stop.no_force = op->no_force;
		if (!virt_stop_begin(v, op->domain,
				     j->opts->shutdown_timeout_ms ? j->opts->shutdown_timeout_ms :
				     op->value ? (guint)op->value * 1000 : SPEC_SHUTDOWN_TIMEOUT_S * 1000,
				     &j->stop, &off, error))
			return false;
		j->waits = !off;
		j->unchanged = j->stop.was_off;
		return true;
	}
	case OP_SUSPEND:
		return virt_suspend(v, op->domain, error);
	case OP_RESUME:
		return virt_resume(v, op->domain, error);
	case OP_SAVE:
		return with_deadline(j, error);
	case OP_DISCARD_SAVE:
		return virt_managed_save_remove(v, op->domain, error);
	case OP_SET_MEMORY:
		return virt_set_memory(v, op->domain, op->value, true, error);
	case OP_SET_VCPUS:
		return virt_set_vcpus(v, op->domain, (unsigned)op->value, true, error);
	case OP_ATTACH:
		return virt_attach(v, op->domain, op->xml, error);
	case OP_DETACH:
		return virt_detach(v, op->domain, op->device, (unsigned)op->value, error);
	case OP_MEDIA:
		return virt_change_media(v, op->domain, op->xml, error);
	case OP_CONSOLE_PASSWORD:
		return virt_console_password(v, op->domain, op->xml, error);
	case OP_SEED:
		return write_seed(v, op, error);
	case OP_DISK_RESIZE:
		if (!resize_allowed(v, op, error))
			return false;
		return virt_disk_grow(v, op->domain, op->device, op->pool, op->volume, op->value, error);
	case OP_REBOOT:
		return virt_reboot(v, op->domain, error);
	case OP_PM_WAKEUP:
		return virt_pm_wakeup(v, op->domain, error);
	case OP_MIGRATE:
		return with_deadline(j, error);
	case OP_SNAPSHOT_CREATE:
		return snapshot_create(v, op, error);
	case OP_SNAPSHOT_DELETE:
		return op->one_snapshot ? virt_snapshot_delete(v, op->domain, op->snapshot, error)
					: virt_snapshots_prune(v, op->domain, op->snapshot, 0, error);
	case OP_SNAPSHOT_REVERT:
		return virt_snapshot_revert(v, op->domain, op->snapshot, error);
	default:
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "unknown operation");
		return false;
	}
}

static void
job_done(job *j)
{
	guint64 one = 1;
	/* @j belongs to the loop once it is handed off: read what is needed
	 * before. */
	int wake = j->wake;
	GAsyncQueue *done = j->done;
	void *pool_end = done;

	HANDOFF_SEND(j);
	g_async_queue_push(done, j);
	if (write(wake, &one, sizeof(one)) < 0) {
		/* the counter is only a wake-up; the queue holds the result */
	}
	/* The last use of @wake: exec_finish closes it only after the pool
	 * has joined this worker. */
	HANDOFF_SEND(pool_end);
}


/* Name -> state of @v's domains, or NULL when they cannot be listed. */
static GHashTable *
states_of(virt_host *v)
{
	g_autoptr(GPtrArray) doms = NULL;
	GHashTable *t;

	if (!virt_list_domains(v, &doms, NULL))
		return NULL;
	t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	for (guint i = 0; i < doms->len; i++) {
		virt_dom *d = doms->pdata[i];

		g_hash_table_insert(t, g_strdup(d->name), GINT_TO_POINTER(d->state + 1));
	}
	return t;
}

/* One look at every stop of @batch (all on the waiter's host: one
 * listing); the ended ones leave it, with their result on the loop's
 * queue. */
static void
stops_round(GPtrArray *batch)
{
	g_autoptr(GHashTable) t = batch->len ? states_of(((job *)batch->pdata[0])->virt) : NULL;
	gint64 now = g_get_monotonic_time();

	for (guint i = 0; i < batch->len;) {
		job *j = batch->pdata[i];
		g_autoptr(GError) err = NULL;
		int state;
		bool ok;

		/* Not listed: gone.  No listing: taken as running, so the press
		 * and the deadline still come (and say why if the host is gone). */
		state = t ? GPOINTER_TO_INT(g_hash_table_lookup(t, j->op->domain)) - 1 : VIRT_DOM_RUNNING;
		if (!virt_stop_step(j->virt, j->op->domain, state, now, &j->stop, &ok, &err)) {
			i++;
			continue;
		}
		g_ptr_array_remove_index_fast(batch, i);
		j->ok = ok;
		if (ok)
			fault_point("op-done");
		else
			j->error = g_strdup(err ? err->message : "the stop failed");
		job_done(j);
	}
}

/* The worker is free: the loop hears it before the stop's end. */
static void
hand_to_waiter(job *j)
{
	job *n = g_new0(job, 1);

	n->op = j->op;
	n->done = j->done;
	n->wake = j->wake;
	n->notice = true;
	job_done(n);
	waiter_add(j->waiter, j);  /* the waiter's from here */
}

/* Worker thread: the op with retries; the result goes back on the queue. */
static void
job_run(gpointer data, gpointer user)
{
	job *j = data;
	guint delay;

	(void)user;
	HANDOFF_TAKE(j);
	delay = j->opts->backoff_ms;
	for (;;) {
		g_autoptr(GError) err = NULL;

		j->attempts++;
		fault_point("op-intent");
		if (run_once(j, &err)) {
			if (j->waits) {
				hand_to_waiter(j);
				return;
			}
			fault_point("op-done");
			j->ok = true;
			break;
		}
		/* A revert that lost its connection may have been made: made
		 * again, it would throw away what the guest wrote since. */
		if (!g_error_matches(err, VIRT_ERROR, VIRT_ERROR_TRANSIENT) ||
		    j->attempts > j->opts->retries || j->op->kind == OP_SNAPSHOT_REVERT) {
			j->error = g_strdup(err->message);
			break;
		}
		g_usleep((gulong)delay * 1000);
		delay = MIN(delay * 2, 5000u);
	}
	job_done(j);
}

struct executor {
	plan *p;
	host_set *hosts;
	history *hist;
	gint64 run;
	obs_cache *cache;
	const exec_options *opts;
	GThreadPool *pool;
	GHashTable *waiters;      /* host name (the plan's) -> waiter *, made on
				     first use: a host whose listing hangs holds
				     only its own stops and deadlines */
	guint waiting;            /* stops with the waiter */
	GAsyncQueue *done;
	GHashTable *row_of;       /* op -> history row id */
	GHashTable *host_busy;    /* host name -> count in flight */
	guint in_flight;
	guint finished;
	int wake;
	bool stop;                /* history failed, or draining: no new work */
	GError *error;
	exec_options own_opts;
};

/* PENDING ops whose dependencies failed are skipped, transitively. */
static guint
skip_orphans(executor *x, GPtrArray *skipped)
{
	guint n = 0;
	bool changed = true;

	while (changed) {
		changed = false;
		for (guint i = 0; i < x->p->ops->len; i++) {
			plan_op *op = x->p->ops->pdata[i];

			if (op->status != OPST_PENDING)
				continue;
			for (guint j = 0; j < op->deps->len; j++) {
				plan_op *d = op->deps->pdata[j];

				if ((d->status == OPST_FAILED && !(op->after_any && d->kind == OP_VOL_CAPTURE)) ||
				    d->status == OPST_SKIPPED) {
					op->status = OPST_SKIPPED;
					op->error = g_strdup_printf("skipped: step %u (%s) did not succeed",
								    d->id, op_kind_name(d->kind));
					g_ptr_array_add(skipped, op);
					changed = true;
					n++;
					break;
				}
			}
		}
	}
	return n;
}

static bool
ready(const plan_op *op)
{
	if (op->status != OPST_PENDING)
		return false;
	for (guint j = 0; j < op->deps->len; j++) {
		op_status s = ((plan_op *)op->deps->pdata[j])->status;

		if (s != OPST_DONE && !(op->after_any && s == OPST_FAILED &&
					((plan_op *)op->deps->pdata[j])->kind == OP_VOL_CAPTURE))
			return false;
	}
	return true;
}

/*
 * Ops that load a host: a start boots an emulator, a migration or a volume
 * copy moves data, a save writes the guest's memory.  At most per_host of
 * them at once on a host.  A shutdown mostly waits for the guest (and for
 * the kernel to reap QEMU), a define or a delete is bookkeeping: those are
 * bounded by `parallel` only, so a teardown is not queued behind waits.
 */
static bool
heavy(const plan_op *op)
{
	switch (op->kind) {
	case OP_START:
	case OP_MIGRATE:
	case OP_SAVE:
	case OP_RESUME:
	case OP_SNAPSHOT_CREATE:
	case OP_SNAPSHOT_REVERT:
		return true;
	case OP_VOL_CREATE:
		return op->clone_from != NULL;
	case OP_VOL_COPY:
	case OP_LIB_EXPORT:
	case OP_IMAGE_EXPORT:
	case OP_VOL_CAPTURE:
		return true;
	default:
		return false;
	}
}

static guint *
busy(executor *x, const char *host)
{
	guint *n = g_hash_table_lookup(x->host_busy, host);

	if (!n) {
		n = g_new0(guint, 1);
		g_hash_table_insert(x->host_busy, (gpointer)host, n);
	}
	return n;
}

static host_conn *
host_of(executor *x, const plan_op *op)
{
	return g_hash_table_lookup(x->hosts->by_name, op->host);
}

/* @host's waiter, made on first use (on the calling thread). */
static waiter *
waiter_of(executor *x, const char *host)
{
	waiter *w = g_hash_table_lookup(x->waiters, host);

	if (!w) {
		w = waiter_new(stops_round);
		g_hash_table_insert(x->waiters, (gpointer)host, w);
	}
	return w;
}

/* Pick what may start now, commit its intents, hand it to the pool. */
static bool
dispatch(executor *x, GError **error)
{
	g_autoptr(GPtrArray) batch = g_ptr_array_new();
	g_autofree gint64 *rows = NULL;

	for (guint i = 0; i < x->p->ops->len && x->in_flight + batch->len < x->opts->parallel; i++) {
		plan_op *op = x->p->ops->pdata[i];
		guint *b;

		if (!ready(op))
			continue;
		b = busy(x, op->host);
		if (heavy(op) && *b >= x->opts->per_host)
			continue;
		*b += heavy(op);
		op->status = OPST_RUNNING;
		op->started_us = g_get_monotonic_time();
		g_ptr_array_add(batch, op);
	}
	if (!batch->len)
		return true;
	/* A NIC's MAC is made here, once, and recorded with the intent: left
	 * to libvirt, each definition would get a new one. */
	for (guint i = 0; i < batch->len; i++) {
		plan_op *op = batch->pdata[i];
		char *filled = op->kind == OP_DEFINE && op->xml ? domxml_fill_macs(op->xml) : NULL;

		if (filled) {
			g_free(op->xml);
			op->xml = filled;
		}
	}
	rows = g_new(gint64, batch->len);
	/* No libvirt change without a recorded intent. */
	if (!history_intents(x->hist, x->run, (plan_op **)batch->pdata, batch->len, rows, error)) {
		for (guint i = 0; i < batch->len; i++) {
			plan_op *op = batch->pdata[i];

			op->status = OPST_PENDING;
			*busy(x, op->host) -= heavy(op);
		}
		return false;
	}
	for (guint i = 0; i < batch->len; i++) {
		plan_op *op = batch->pdata[i];
		job *j = g_new0(job, 1);
		host_conn *hc = host_of(x, op);

		g_hash_table_insert(x->row_of, op, g_memdup2(&rows[i], sizeof(gint64)));
		j->op = op;
		/* The job's own reference: a connection replaced while it runs
		 * stays open for it. */
		j->virt = hc && hc->virt ? virt_host_ref(hc->virt) : NULL;
		j->waiter = waiter_of(x, op->host);
		j->opts = x->opts;
		j->done = x->done;
		j->wake = x->wake;
		for (guint k = 0; op->kind == OP_VOL_DELETE && op->members && op->members[k]; k++) {
			host_conn *mc = g_hash_table_lookup(x->hosts->by_name, op->members[k]);

			if (!j->members)
				j->members = g_ptr_array_new_with_free_func((GDestroyNotify)virt_host_free);
			g_ptr_array_add(j->members, mc && mc->virt ? virt_host_ref(mc->virt) : NULL);
		}
		if (((op->kind == OP_VOL_DELETE || op->kind == OP_VOL_COPY) && op->peer) ||
		    (op->kind == OP_MIGRATE && op->refresh)) {
			host_conn *pc = g_hash_table_lookup(x->hosts->by_name,
							    op->kind == OP_MIGRATE ? op->target : op->peer);

			j->peer = pc && pc->virt ? virt_host_ref(pc->virt) : NULL;
		}
		if (op->kind == OP_MIGRATE) {
			host_conn *tc = g_hash_table_lookup(x->hosts->by_name, op->target);

			j->dest_uri = tc ? tc->uri : NULL;
			j->migration_uri = tc && tc->spec ? tc->spec->migration_uri.v : NULL;
		}
		x->in_flight++;
		if (!j->virt) {
			/* Its outcome goes through the job, like any worker's. */
			j->error = g_strdup_printf("host %s is not connected", op->host);
			job_done(j);
			continue;
		}
		HANDOFF_SEND(j);
		g_thread_pool_push(x->pool, j, NULL);
	}
	return true;
}

static void
record(executor *x, GPtrArray *finished)
{
	g_autofree gint64 *rows = g_new(gint64, finished->len + 1);
	guint n = 0;

	for (guint i = 0; i < finished->len; i++) {
		gint64 *row = g_hash_table_lookup(x->row_of, finished->pdata[i]);

		if (row)
			rows[n++] = *row;
	}
	/* Skipped ops never started: they have no intent row to update. */
	if (n == finished->len)
		history_results(x->hist, (plan_op **)finished->pdata, rows, n, NULL);
}

/* Take in every result available now (with @block, wait for the first). */
static void
collect(executor *x, bool block)
{
	g_autoptr(GPtrArray) finished = g_ptr_array_new();
	guint64 count;
	job *j;

	/* The wake-ups first, then the queue: a worker queues its result
	 * before it writes the eventfd, so every result queued after this
	 * read brings a wake-up of its own.  (The other way round, a result
	 * queued between an empty pop and the read lost its wake-up, and a
	 * run whose last op it was waited forever: seen once in CI.) */
	if (read(x->wake, &count, sizeof(count)) < 0) {
		/* nothing to read: results were taken in by an earlier call */
	}
	j = block ? g_async_queue_pop(x->done) : g_async_queue_try_pop(x->done);
	for (; j; j = g_async_queue_try_pop(x->done)) {
		plan_op *op;

		HANDOFF_TAKE(j);
		op = j->op;
		if (j->notice) {  /* its worker is free; the op runs on */
			x->in_flight--;
			x->waiting++;
			*busy(x, op->host) -= heavy(op);
			g_free(j);
			continue;
		}
		op->attempts += j->attempts;
		op->status = j->ok ? OPST_DONE : OPST_FAILED;
		op->ended_us = g_get_monotonic_time();
		op->unchanged = j->ok && j->unchanged;
		op->error = g_steal_pointer(&j->error);
		if (op->kind == OP_IMAGE_EXPORT)
			op->log = g_steal_pointer(&j->image.log);
		if (op->kind == OP_VOL_COPY || op->kind == OP_LIB_EXPORT || op->kind == OP_IMAGE_EXPORT ||
		    op->kind == OP_VOL_CAPTURE) {
			op->digest = j->copy.sha256[0] ? g_strdup(j->copy.sha256) : NULL;
			op->length = j->copy.length;
			op->moved = j->copy.moved;
			op->partial = j->copy.partial;
		}
		if (j->waits) {
			x->waiting--;
		} else {
			x->in_flight--;
			*busy(x, op->host) -= heavy(op);
		}
		/* A definition the running VM does not match yet is read again
		 * on each pass (restart required), never served from the cache. */
		if (op->status == OPST_DONE && op->kind == OP_DEFINE && j->uuid[0] && !op->next_boot)
			obs_cache_remember(x->cache, op->host, j->uuid, op->xml);
		g_ptr_array_add(finished, op);
		virt_host_free(j->virt);
		virt_host_free(j->peer);
		g_free(j->image.log);
		g_clear_pointer(&j->members, g_ptr_array_unref);
		g_free(j);
	}
	record(x, finished);
	for (guint i = 0; i < finished->len; i++) {
		x->finished++;
		if (x->opts->progress)
			x->opts->progress(finished->pdata[i], x->finished, x->p->ops->len,
					  x->opts->progress_user);
	}
}

static exec_result
tally(const plan *p)
{
	guint done = 0;

	for (guint i = 0; i < p->ops->len; i++)
		done += ((plan_op *)p->ops->pdata[i])->status == OPST_DONE;
	if (done == p->ops->len)
		return EXEC_CONVERGED;
	return done ? EXEC_PARTIAL : EXEC_FAILED;
}

executor *
exec_new(plan *p, host_set *hosts, history *hist, gint64 run, obs_cache *cache,
	 const exec_options *opts)
{
	executor *x = g_new0(executor, 1);

	x->p = p;
	x->hosts = hosts;
	x->hist = hist;
	x->run = run;
	x->cache = cache;
	x->own_opts = *opts;
	x->opts = &x->own_opts;
	x->done = g_async_queue_new();
	x->row_of = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	x->host_busy = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	x->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	x->waiters = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)waiter_free);
	x->pool = g_thread_pool_new(job_run, NULL, (gint)MAX(opts->parallel, 1u), FALSE, NULL);
	exec_step(x, false);
	return x;
}

int
exec_fd(const executor *x)
{
	return x->wake;
}

/* The daemon learned mid-run that @domain must not be started (its guest
 * shut itself down, say): its pending starts, and what waits on them, are
 * skipped.  An op already handed to libvirt cannot be taken back. */
guint
exec_skip_starts(executor *x, const char *domain, const char *why)
{
	guint n = 0;

	for (guint i = 0; i < x->p->ops->len; i++) {
		plan_op *op = x->p->ops->pdata[i];

		if (op->status != OPST_PENDING || !op->domain || strcmp(op->domain, domain) ||
		    (op->kind != OP_START && op->kind != OP_RESUME))
			continue;
		op->status = OPST_SKIPPED;
		op->error = g_strdup_printf("skipped: %s", why);
		x->finished++;
		n++;
	}
	return n;
}

void
exec_drain(executor *x)
{
	x->stop = true;
}

/* Skip what can no longer run, start what can; true when nothing is left. */
static bool
advance(executor *x)
{
	g_autoptr(GPtrArray) skipped = g_ptr_array_new();

	x->finished += skip_orphans(x, skipped);
	for (guint i = 0; x->opts->progress && i < skipped->len; i++)
		x->opts->progress(skipped->pdata[i], x->finished, x->p->ops->len,
				  x->opts->progress_user);
	/* History that cannot be written stops new work: no intent, no change. */
	if (!x->stop && !dispatch(x, &x->error))
		x->stop = true;
	return x->in_flight == 0 && x->waiting == 0;
}

bool
exec_step(executor *x, bool block)
{
	if (x->in_flight > 0 || x->waiting > 0)
		collect(x, block);
	return advance(x);
}

exec_result
exec_finish(executor *x, GError **error)
{
	exec_result r = x->error ? EXEC_FAILED : tally(x->p);

	g_thread_pool_free(x->pool, FALSE, TRUE);  /* joins every worker */
	g_hash_table_unref(x->waiters);            /* and the waiters */
	HANDOFF_TAKE(x->done);
	g_async_queue_unref(x->done);
	g_hash_table_unref(x->row_of);
	g_hash_table_unref(x->host_busy);
	close(x->wake);
	if (x->error)
		g_propagate_error(error, x->error);
	g_free(x);
	return r;
}

exec_result
exec_plan(plan *p, host_set *hosts, history *hist, gint64 run, obs_cache *cache,
	  const exec_options *opts, GError **error)
{
	executor *x = exec_new(p, hosts, hist, run, cache, opts);

	while (!exec_step(x, true))
		;
	return exec_finish(x, error);
}
