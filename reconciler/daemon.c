/*
 * daemon.c - `strata watch`: keep the hosts converged to a living source
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "daemon.h"
#include "diag_print.h"
#include "exec.h"
#include "history.h"
#include "json_out.h"
#include "log.h"
#include "loop.h"
#include "metrics_http.h"
#include "pass.h"
#include "plan_show.h"
#include "source_dir.h"
#include "schedule.h"
#include "offload.h"
#include "scheduler.h"
#include "source_git.h"
#include "observe_snapshot.h"
#include "source_verify.h"
#include "telemetry.h"

#define DRAIN_LIMIT_MS 30000

typedef struct {
	int state;                 /* enum spec_vm_state that holds */
	char *hash;                /* the VM's desired hash when it began */
	char *why;
	gint64 until;              /* monotonic µs it ends at (crash-loop
				      backoff, not persisted), or 0 */
	bool alerted;              /* a vm_held event was sent: its end is news */
} hold;

/* Crashes of one VM within CRASH_WINDOW_US, for the crash-loop backoff. */
typedef struct {
	guint n;
	gint64 first;
} crash_count;

#define CRASH_LOOP_AFTER 3
#define CRASH_WINDOW_US (10 * 60 * G_USEC_PER_SEC)
#define CRASH_BACKOFF_MAX_S 300

struct daemon_state {
	daemon_options o;
	history *hist;
	obs_cache *cache;
	host_set *hosts;
	GArray *event_ids;         /* per host, in host order */
	source_dir *source;        /* the folder, or a local repository's refs */
	source_git *git;
	int git_timer;
	offload *fetches;          /* Git fetches report here */
	int fetch_watch;
	bool fetching;
	char *fetch_again;         /* the trigger of a fetch asked for during one */
	verifier *verifier;        /* signatures a Git revision needs, or NULL */
	char *verified;            /* the last commit verified with the keys
				      given now: the one loaded (NULL: none,
				      nothing is loaded) */
	char *verified_target;     /* ... and what was judged for it (head or tag) */
	char *verified_ref;        /* ... and the ref that named it */
	char *base;                /* where a range begins: the anchor (the last
				      commit verified for this source, in any
				      mode, before this start), then each
				      commit verified */
	verify_verdict refused;    /* the last refusal (target NULL: none) */
	gint64 refused_at;         /* Unix seconds */
	verify_verdict unchecked;  /* the last check that could not be made
				      (ok false, unchecked true; target NULL:
				      none); tried again at a later fetch */
	gint64 unchecked_at;       /* Unix seconds */
	gint64 check_retry_at;     /* monotonic µs: not tried again before */
	guint check_retry_ms;      /* the backoff that led to @check_retry_at */
	guint verifications;       /* verifier runs since start */
	scheduler *sched;
	int sched_timer;
	control_server *control;
	spec_source *good;         /* the revision in force */
	desired_state *want;       /* desired state of @good */
	char *good_digest;         /* short, for people */
	char *good_full;
	gint64 revision;
	GHashTable *holds;         /* domain -> hold * */
	GHashTable *rebooting;     /* domains whose next stop is a reboot, not a
				      power-off: QEMU said its guest reset, or
				      strata asked for the reboot */
	GHashTable *crashes;       /* domain -> crash_count * */
	GHashTable *judge_hosts;   /* hosts whose stops were not seen live: just
				      (re)connected, judged once by the next pass */
	char *approved;            /* digest of the revision `strata approve` confirmed */
	char *bad_full;            /* digest of the last invalid revision recorded */
	spec_source *next_src;     /* a valid revision loaded during a run */
	char *next_rev;
	int backoff_timer;         /* the soonest crash-loop backoff ends */
	GHashTable *expected;      /* domain -> events strata itself caused */
	pass pass;                 /* the reconcile under way */
	int observe_watch;         /* its hosts answering (pass.observing) */
	int observe_timer;         /* ... or their deadline */
	int connect_watch;         /* connection attempts ending (hosts_fd) */
	gint64 grace_began;        /* a pass first waited for attempts */
	guint gave_way;            /* passes dropped in a row for a newer revision */
	bool late_hosts;           /* connected hosts the last pass had no answer from */
	guint late_retry_ms;
	int connect_fd;
	executor *exec;
	gint64 run;
	int exec_watch;
	int kick_timer;            /* "reconcile soon" */
	int closed_timer;          /* a host's connection closed */
	int resync_timer;
	int drain_timer;
	int watchdog_timer;
	int signal_fd;
	int signal_watch;
	guint retry_ms;            /* backoff after a run that did not converge */
	bool pending;
	bool suspended;
	bool quitting;
	bool drain_expired;      /* SIGTERM's drain limit passed with ops running */
	bool drain_cut;          /* ... or a second signal cut the wait short */
	bool done;
	guint runs;
	GPtrArray *status;         /* JSON objects (JsonNode *) from the last pass */
	GPtrArray *status_hosts;   /* the same, one per host */
	GPtrArray *status_pools;   /* and one per declared shared pool */
	GPtrArray *status_templates; /* and one per template base */
	GPtrArray *oneshots;       /* oneshot *: scheduled, for the next reconcile */
	snapshot_file *snapshot;   /* --observed-snapshot, or NULL */
	int snapshot_watch;
	gint64 snapshot_due;       /* monotonic µs: the next pass at or after it
				      reads every definition and is written */
	bool snapshot_pass;        /* the pass under way is one */
	/* What operators are told (telemetry.h, notify.h): */
	telemetry *tm;
	metrics_server *metrics;   /* --metrics-address, or NULL */
	notifier *notifier;        /* receivers, or NULL */
	gint64 pass_began;         /* monotonic µs */
	bool run_failing;          /* the last run did not converge */
	bool revision_bad;         /* an invalid revision was the last news */
	bool unverified_said;      /* a refused signature was the last news */
	bool removal_said;         /* a removal held was said */
	char *settled_full;        /* the revision of the last pass that ended
				      in sync or converged: a run after it on
				      the same revision heals drift */
	GHashTable *host_said;     /* host -> "up", "unreachable" or "lost" */
	GHashTable *sched_failing; /* "domain action" of failed scheduled actions */
};

/*
 * A scheduled reboot or snapshot, due until it is carried out: a VM not
 * running (reboot) or not deployed, or an op that fails, leaves it queued
 * for the next pass, with the reason logged once.
 */
typedef struct {
	char *domain;
	op_kind kind;
	char *snapshot;
	guint keep;
	char *why;
	const plan_op *op;         /* in the run under way, or NULL */
	bool waiting_said;         /* "waits" was logged */
} oneshot;

static void
oneshot_free(gpointer p)
{
	oneshot *o = p;

	g_free(o->domain);
	g_free(o->snapshot);
	g_free(o->why);
	g_free(o);
}

static void tell(daemon_state *d, gint64 run, const char *event, const char *alert, bool resolved,
		 const char *severity, const char *domain, const char *host, const char *action,
		 const char *fmt, ...) G_GNUC_PRINTF(10, 11);

/* A scheduled action's result: a metric; a failure, and the first success
 * after one, news. */
static void
oneshot_news(daemon_state *d, const oneshot *o, bool done)
{
	const char *action = op_kind_name(o->kind);
	g_autofree char *key = g_strdup_printf("%s %s", o->domain, action);
	const char *vm = NULL;
	g_autofree char *app = domain_split(o->domain, &vm);

	telemetry_schedule_run(d->tm, action, done ? "done" : o->op->status == OPST_FAILED ? "failed" : "skipped");
	if (done && o->kind == OP_SNAPSHOT_CREATE && app)
		telemetry_snapshot_taken(d->tm, app, vm, g_get_real_time() / G_USEC_PER_SEC);
	if (done && g_hash_table_remove(d->sched_failing, key))
		tell(d, d->run, "scheduled_action_ok", "StrataScheduledActionFailed", true, "warning", o->domain,
		     NULL, action, "%s: %s carried out", o->domain, o->why);
	else if (!done && o->op->status == OPST_FAILED &&
		 g_hash_table_add(d->sched_failing, g_steal_pointer(&key)))
		tell(d, d->run, "scheduled_action_failed", "StrataScheduledActionFailed", false, "warning",
		     o->domain, NULL, action, "%s: %s failed: %s", o->domain, o->why,
		     o->op->error ? o->op->error : "?");
}

/* After a run: what was carried out leaves the queue; the rest stays due. */
static void
oneshots_settle(daemon_state *d, bool ran)
{
	for (guint i = d->oneshots->len; i-- > 0;) {
		oneshot *o = d->oneshots->pdata[i];

		if (!o->op)
			continue;
		if (ran)
			oneshot_news(d, o, o->op->status == OPST_DONE);
		if (ran && o->op->status == OPST_DONE) {
			g_ptr_array_remove_index(d->oneshots, i);
			continue;
		}
		log_about(G_LOG_LEVEL_MESSAGE, o->domain, NULL, NULL, "%s: %s: not carried out (%s); stays due", o->domain, o->why,
			  !ran ? "the run did not start" : o->op->error ? o->op->error : "skipped");
		o->op = NULL;
	}
}

/* A newer fire of the same action for the same VM replaces a waiting one. */
static void
oneshot_queue(daemon_state *d, oneshot *n)
{
	size_t len = n->snapshot ? strlen(n->snapshot) : 0;
	size_t stem = n->kind == OP_SNAPSHOT_CREATE && len > 16 ? len - 16 : len;

	for (guint i = 0; i < d->oneshots->len; i++) {
		oneshot *o = d->oneshots->pdata[i];

		if (!o->op && o->kind == n->kind && strcmp(o->domain, n->domain) == 0 &&
		    (!n->snapshot || (o->snapshot && strncmp(o->snapshot, n->snapshot, stem) == 0))) {
			g_ptr_array_index(d->oneshots, i) = n;
			oneshot_free(o);
			return;
		}
	}
	g_ptr_array_add(d->oneshots, n);
}

static void reconcile_start(daemon_state *d);
static void schedule_arm(daemon_state *d);

/* A run is under way: its hosts are being observed, or its plan carried
 * out.  Either way threads use the revision and the connections, which
 * must not change until it ends. */
static bool
busy(const daemon_state *d)
{
	return d->pass.observing || d->exec;
}

static gint64
real_now(void)
{
	return g_get_real_time() / G_USEC_PER_SEC;
}

/* ---- systemd notification, without libsystemd: one datagram ---------- */

static void
notify(const char *msg)
{
	const char *path = g_getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';  /* abstract namespace */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* Never waits: a notification socket whose queue is full (a manager
	 * not reading it) must not stop the loop; the datagram is dropped. */
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path))) < 0)
		g_debug("sd_notify: %s", g_strerror(errno));
	close(fd);
}

/* ---- events for operators (notify.h) ------------------------------------ */

/*
 * One event to every receiver: @alert fires (or, @resolved, ends) that
 * Alertmanager alert; NULL is news only.  @run is the run it is about, or
 * 0.  @domain ("app.vm") names the appliance and VM.  Never blocks: the
 * receivers' threads deliver.
 */
static void
tell(daemon_state *d, gint64 run, const char *event, const char *alert, bool resolved, const char *severity,
     const char *domain, const char *host, const char *action, const char *fmt, ...)
{
	g_autofree char *summary = NULL, *app = NULL;
	notify_event e = { .event = event, .alert = alert, .resolved = resolved, .severity = severity,
			   .revision = d->good_digest, .host = host, .action = action };
	va_list ap;

	if (!d->notifier)
		return;
	va_start(ap, fmt);
	summary = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	e.appliance = app = domain_split(domain, &e.vm);
	e.summary = summary;
	e.run = run;
	notify_send(d->notifier, &e);
}

static void
on_watchdog(gpointer data)
{
	(void)data;
	notify("WATCHDOG=1");
}

char *
daemon_socket_path(const char *db)
{
	if (g_str_has_suffix(db, ".db"))
		return g_strdup_printf("%.*s.sock", (int)strlen(db) - 3, db);
	return g_strconcat(db, ".sock", NULL);
}

/* ---- holds: states that hold instead of the spec's --------------------- */

static void
hold_free(gpointer p)
{
	hold *h = p;

	g_free(h->hash);
	g_free(h->why);
	g_free(h);
}

static void
hold_load(const char *domain, int state, const char *hash, const char *why, gpointer data)
{
	daemon_state *d = data;
	hold *h = g_new0(hold, 1);

	h->state = state;
	h->hash = g_strdup(hash);
	h->why = g_strdup(why);
	g_hash_table_replace(d->holds, g_strdup(domain), h);
}

static void
hold_set(daemon_state *d, const desired_vm *vm, int state, const char *why)
{
	hold *h = g_new0(hold, 1), *was = g_hash_table_lookup(d->holds, vm->domain);

	h->state = state;
	h->hash = desired_vm_hash(vm, "any");
	h->why = g_strdup(why);
	h->alerted = was && was->alerted;  /* its alert ends when this hold does */
	g_hash_table_replace(d->holds, g_strdup(vm->domain), h);
	history_hold_put(d->hist, vm->domain, state, h->hash, why);
	log_about(G_LOG_LEVEL_MESSAGE, vm->domain, NULL, NULL, "%s: held %s: %s", vm->domain, spec_vm_state_names[state], why);
	/* A run planned before this event may be about to start it. */
	if (d->exec && state != VM_RUNNING && exec_skip_starts(d->exec, vm->domain, why))
		log_about(G_LOG_LEVEL_MESSAGE, vm->domain, NULL, NULL, "%s: its pending start in this run is skipped",
			  vm->domain);
}

/* A VM held because its guest stopped or crashed: news, and an alert. */
static void
held_news(daemon_state *d, const desired_vm *vm)
{
	hold *h = g_hash_table_lookup(d->holds, vm->domain);

	if (!h)
		return;
	h->alerted = true;
	tell(d, 0, "vm_held", "StrataVMHeld", false, "warning", vm->domain, NULL, NULL, "%s: held %s: %s",
	     vm->domain, spec_vm_state_names[h->state], h->why);
}

/*
 * Holds kept from the last run (history): a VM held because its guest
 * stopped or crashed is still a problem, and an alert sent before the
 * restart ends by itself at its endsAt: say it again.  A scheduled hold
 * (its reason says "scheduled") is no problem.
 */
static void
holds_news_at_start(daemon_state *d)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, d->holds);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		hold *h = v;

		if (g_str_has_prefix(h->why, "scheduled "))
			continue;
		h->alerted = true;
		tell(d, 0, "vm_held", "StrataVMHeld", false, "warning", k, NULL, NULL, "%s: held %s: %s",
		     (char *)k, spec_vm_state_names[h->state], h->why);
	}
}

static void
released_news(daemon_state *d, const char *domain, const hold *h, const char *why)
{
	if (h->alerted)
		tell(d, 0, "vm_released", "StrataVMHeld", true, "warning", domain, NULL, NULL,
		     "%s: hold released: %s", domain, why);
}

/* A hold ends when the VM's spec changes; the overrides table is for plan. */
static GHashTable *
holds_refresh(daemon_state *d)
{
	GHashTable *overrides = g_hash_table_new(g_str_hash, g_str_equal);
	GHashTableIter it;
	gpointer k, v;

	gint64 now = g_get_monotonic_time(), soonest = G_MAXINT64;

	g_hash_table_iter_init(&it, d->holds);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		desired_vm *vm = g_hash_table_lookup(d->want->vm_by_domain, k);
		g_autofree char *hash = vm ? desired_vm_hash(vm, "any") : NULL;
		hold *h = v;

		if (h->until && now >= h->until) {
			log_about(G_LOG_LEVEL_MESSAGE, k, NULL, NULL, "%s: crash-loop backoff over: restarting", (char *)k);
			released_news(d, k, h, "crash-loop backoff over");
			g_hash_table_iter_remove(&it);
			continue;
		}
		if (h->until)
			soonest = MIN(soonest, h->until);
		if (!hash || strcmp(hash, h->hash) != 0) {
			log_about(G_LOG_LEVEL_MESSAGE, k, NULL, NULL, "%s: hold released: its spec changed", (char *)k);
			released_news(d, k, h, "its spec changed");
			history_hold_drop(d->hist, k);
			g_hash_table_iter_remove(&it);
			continue;
		}
		g_hash_table_insert(overrides, k, GINT_TO_POINTER(h->state));
	}
	if (soonest != G_MAXINT64)
		loop_timer_set(d->backoff_timer, (int)MAX((soonest - now) / 1000, 10));
	return overrides;
}

/*
 * A guest that keeps crashing is restarted with exponential backoff: after
 * CRASH_LOOP_AFTER crashes within ten minutes, it waits 10 s, then 20 s, …
 * up to five minutes, held stopped meanwhile (status says until when).
 * Returns whether it is held.
 */
static bool
crash_backoff(daemon_state *d, const desired_vm *vm)
{
	gint64 now = g_get_monotonic_time();
	crash_count *c = g_hash_table_lookup(d->crashes, vm->domain);
	hold *h;
	guint delay;

	if (!c) {
		c = g_new0(crash_count, 1);
		g_hash_table_insert(d->crashes, g_strdup(vm->domain), c);
	}
	if (!c->n || now - c->first > CRASH_WINDOW_US) {
		c->n = 0;
		c->first = now;
	}
	if (++c->n < CRASH_LOOP_AFTER)
		return false;
	delay = MIN(10u << MIN(c->n - CRASH_LOOP_AFTER, 5u), (guint)CRASH_BACKOFF_MAX_S);
	h = g_new0(hold, 1);
	h->state = VM_STOPPED;
	h->hash = desired_vm_hash(vm, "any");
	h->why = g_strdup_printf("crash loop: %u crashes in %" G_GINT64_FORMAT " s; restarted again in %u s",
				 c->n, (now - c->first) / G_USEC_PER_SEC, delay);
	h->until = now + (gint64)delay * G_USEC_PER_SEC;
	g_hash_table_replace(d->holds, g_strdup(vm->domain), h);
	log_about(G_LOG_LEVEL_MESSAGE, vm->domain, NULL, NULL, "%s: held stopped: %s", vm->domain, h->why);
	return true;
}

static void
on_backoff(gpointer data)
{
	daemon_request(data, "crash-loop backoff over");
}

/* ---- revisions --------------------------------------------------------- */

static void
record_invalid(daemon_state *d, spec_source *src, spec_diags *diags, const char *rev)
{
	g_autofree char *summary = NULL;
	GString *s = g_string_new(NULL);
	gint64 revision, run;

	for (guint i = 0; i < diags->items->len; i++) {
		g_autofree char *line = spec_diag_format(diags->items->pdata[i]);

		g_warning("invalid revision %s: %s", rev, line);
		g_string_append_printf(s, "%s%s", i ? "\n" : "", line);
	}
	summary = g_string_free(s, FALSE);
	(void)src;
	revision = history_revision(d->hist, d->git ? d->o.git_url : d->o.path, rev, NULL);
	run = history_run_begin(d->hist, "source", revision, NULL);
	if (run > 0)
		history_run_end(d->hist, run, "invalid", summary, NULL);
	g_warning("revision %s is invalid: nothing changes, %s stays in force", rev,
		  d->good_digest ? d->good_digest : "no revision");
	telemetry_source_failure(d->tm, "invalid");
	d->revision_bad = true;
	tell(d, 0, "revision_invalid", "StrataRevisionInvalid", false, "warning", NULL, NULL, NULL,
	     "revision %s is invalid (%u problem%s): nothing changes, %s stays in force", rev,
	     diags->items->len, diags->items->len == 1 ? "" : "s",
	     d->good_digest ? d->good_digest : "no revision");
}

static bool
hosts_changed(const host_set *set, const spec_source *src)
{
	if (!set)
		return true;
	if (src->hosts->len == 0)
		return set->hosts->len != 1 || ((host_conn *)set->hosts->pdata[0])->spec != NULL ||
		       strcmp(((host_conn *)set->hosts->pdata[0])->name, "default") != 0;
	if (set->hosts->len != src->hosts->len)
		return true;
	for (guint i = 0; i < src->hosts->len; i++) {
		const spec_host *sh = src->hosts->pdata[i];
		host_conn *h = g_hash_table_lookup(set->by_name, sh->obj.name.v);
		g_autofree char *uri = virt_resolve_uri(sh->uri.v, sh->obj.file);

		if (!h || strcmp(h->uri, uri) != 0)
			return true;
	}
	return false;
}

static void on_domain_event(virt_host *h, const char *domain, int event, int detail,
			    gpointer data);

static void on_connected(int fd, gpointer data);

/* Attempts report through the set's fd (the same across revisions while
 * the set is made from the last one). */
static void
connect_watch(daemon_state *d)
{
	int fd = d->hosts ? hosts_fd(d->hosts) : -1;

	if (fd == d->connect_fd)
		return;
	loop_unwatch(d->connect_watch);
	d->connect_watch = fd >= 0 ? loop_watch(fd, on_connected, d) : -1;
	d->connect_fd = fd;
}

static void
hosts_connect(daemon_state *d, const spec_source *src)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(host_set) old = g_steal_pointer(&d->hosts);

	if (old) {
		for (guint i = 0; i < old->hosts->len; i++) {
			host_conn *h = old->hosts->pdata[i];

			if (h->virt)
				virt_events_stop(h->virt, g_array_index(d->event_ids, int, i));
		}
		obs_cache_clear(d->cache);
	}
	/* Hosts whose URI is unchanged keep their connection. */
	d->hosts = hosts_reopen(src, d->o.connect, false, old, &err);
	g_array_set_size(d->event_ids, 0);
	connect_watch(d);
	if (!d->hosts) {
		g_warning("%s", err->message);
		return;
	}
	for (guint i = 0; i < d->hosts->hosts->len; i++) {
		host_conn *h = d->hosts->hosts->pdata[i];
		int id = h->virt ? virt_events_start(h->virt, on_domain_event, d) : -1;

		if (h->virt)  /* stops before now were not seen: judged once */
			g_hash_table_add(d->judge_hosts, g_strdup(h->name));
		g_array_append_val(d->event_ids, id);
	}
	hosts_reconnect(d->hosts);  /* the new ones, off the loop */
}

/* A valid revision read after an invalid or refused one: that alert ends,
 * whether the revision is new or the one in force again. */
static void
source_mended(daemon_state *d)
{
	if (d->revision_bad)
		tell(d, 0, "revision_ok", "StrataRevisionInvalid", true, "warning", NULL, NULL, NULL,
		     "revision %s valid and in force", d->good_digest);
	if (d->unverified_said)
		tell(d, 0, "revision_ok", "StrataRevisionUnverified", true, "critical", NULL, NULL, NULL,
		     "revision %s verified and in force", d->good_digest);
	d->revision_bad = d->unverified_said = false;
	g_clear_pointer(&d->bad_full, g_free);  /* the same mistake again is news again */
}

/* Read the source as it is now: the folder, or the fetched commit. */
static spec_source *
read_source(daemon_state *d, spec_diags *diags, char **rev)
{
	g_autoptr(GError) err = NULL;
	git_revision gr = { 0 };
	spec_source *src;

	if (!d->git) {
		src = spec_load(d->o.path, diags);
		spec_validate(src, diags);
		*rev = g_strdup_printf("dir:%.12s", spec_source_digest(src));
		return src;
	}
	if (d->verifier && !d->verified) {
		g_debug("no verified commit yet: nothing to load");
		return NULL;
	}
	/* With verification, the commit last verified, not the branch's. */
	src = source_git_load_commit(d->git, d->verifier ? d->verified : NULL, diags, &gr, &err);
	if (!src) {
		g_warning("%s", err->message);
		return NULL;
	}
	spec_validate(src, diags);
	*rev = g_strdup_printf("git:%s %s: %s", gr.commit, gr.author ? gr.author : "?",
			       gr.subject ? gr.subject : "");
	git_revision_release(&gr);
	return src;
}

static void adopt_revision(daemon_state *d, spec_source *src, const char *rev,
			   const char *trigger);

/* Load the source; adopt it if it is valid and new. */
static void
load_revision(daemon_state *d, const char *trigger)
{
	g_autofree char *rev = NULL;
	spec_diags diags;
	spec_source *src;

	if (d->fetching)  /* the mirror is the fetch's; its end loads */
		return;
	spec_diags_init(&diags);
	src = read_source(d, &diags, &rev);
	if (src && !diags.errors && d->next_src && d->good_full &&
	    strcmp(spec_source_digest(src), d->good_full) == 0) {
		/* Back to the revision in force before the waiting one came. */
		g_clear_pointer(&d->next_src, spec_source_free);
		g_clear_pointer(&d->next_rev, g_free);
		g_message("the revision waiting for the run's end was reverted; %s stays", d->good_digest);
	}
	if (!src || (d->good_digest && strcmp(spec_source_digest(src), d->good_full) == 0) ||
	    (d->next_src && strcmp(spec_source_digest(src), spec_source_digest(d->next_src)) == 0) ||
	    (diags.errors && g_strcmp0(spec_source_digest(src), d->bad_full) == 0)) {
		/* Touched, not changed; or the invalid revision already recorded
		 * (a Git poll finds the same bad commit each time). */
		if (src && !diags.errors && d->good_full && strcmp(spec_source_digest(src), d->good_full) == 0)
			source_mended(d);
		spec_source_free(src);
		spec_diags_release(&diags);
		return;
	}
	if (diags.errors) {
		g_free(d->bad_full);
		d->bad_full = g_strdup(spec_source_digest(src));
		record_invalid(d, src, &diags, rev);
		spec_source_free(src);
		spec_diags_release(&diags);
		return;
	}
	spec_diags_release(&diags);
	if (busy(d)) {
		/* The run in flight reads the spec and the connections it was
		 * planned with (host_conn.spec borrows from d->good): the new
		 * revision waits beside them and is adopted when it ends. */
		if (d->next_src)
			spec_source_free(d->next_src);
		g_free(d->next_rev);
		d->next_src = src;
		d->next_rev = g_steal_pointer(&rev);
		g_message("revision %s loaded; in force when the run in flight ends", d->next_rev);
		return;
	}
	/* Newer than one still waiting (a pass gave way without a run). */
	g_clear_pointer(&d->next_src, spec_source_free);
	g_clear_pointer(&d->next_rev, g_free);
	adopt_revision(d, src, rev, trigger);
}

/* Put @src in force (no run may be in flight: it frees what runs use). */
static void
revision_in_force(daemon_state *d, spec_source *src, const char *rev, const char *trigger)
{
	g_assert(!busy(d));
	if (hosts_changed(d->hosts, src))
		hosts_connect(d, src);
	g_free(d->good_digest);
	g_free(d->good_full);
	d->good_full = g_strdup(spec_source_digest(src));
	d->good_digest = g_strdup_printf("%.12s", d->good_full);
	log_set_revision(d->good_digest);
	d->revision = history_revision(d->hist, d->git ? d->o.git_url : d->o.path, rev, NULL);
	desired_free(d->want);
	spec_source_free(d->good);
	d->good = src;
	d->want = desired_build(src);
	g_message("revision %s in force (%s)", rev, trigger);
	telemetry_source(d->tm, d->good_digest, d->verifier != NULL);
	source_mended(d);
	scheduler_check(d->sched, d->good, d->o.now());
	schedule_arm(d);
}

/* The same, and reconcile to it. */
static void
adopt_revision(daemon_state *d, spec_source *src, const char *rev, const char *trigger)
{
	revision_in_force(d, src, rev, trigger);
	daemon_request(d, trigger);
}

/* ---- signatures -------------------------------------------------------- */

static void
record_refused(daemon_state *d, const verify_verdict *vd)
{
	g_autofree char *rev = NULL, *summary = NULL;
	gint64 revision, run;

	summary = g_strdup_printf("signature refused (%s): %s%s%s%s%s", verify_mode_name(verifier_mode(d->verifier)),
				  vd->reason, vd->key_id ? "; key " : "", vd->key_id ? vd->key_id : "",
				  vd->tag ? "; tag " : "", vd->tag ? vd->tag : "");
	rev = g_strdup_printf("git:%s (not applied: signature refused)", vd->commit);
	revision = history_revision(d->hist, d->o.git_url, rev, NULL);
	run = history_run_begin(d->hist, "source", revision, NULL);
	if (run > 0)
		history_run_end(d->hist, run, "refused", summary, NULL);
	g_warning("commit %s%s%s%s refused: %s; %s stays in force", vd->commit, vd->tag ? " (tag " : "",
		  vd->tag ? vd->tag : "", vd->tag ? ")" : "", summary,
		  d->good_digest ? d->good_digest : "no revision");
	telemetry_source_failure(d->tm, "unverified");
	d->unverified_said = true;
	tell(d, 0, "revision_unverified", "StrataRevisionUnverified", false, "critical", NULL, NULL, NULL,
	     "commit %s refused: %s; %s stays in force", vd->commit, summary,
	     d->good_digest ? d->good_digest : "no revision");
}

#define RETRY_FIRST_S 30
#define RETRY_MAX_S 3600

static void
record_check(daemon_state *d, const verify_verdict *vd)
{
	history_signature hs = { verify_mode_name(verifier_mode(d->verifier)), vd->target, vd->commit,
				 vd->tag, vd->ok, vd->key_id, vd->signer, vd->reason,
				 source_git_url(d->git), source_git_branch(d->git), source_git_subdir(d->git),
				 vd->ref, vd->unchecked };
	g_autoptr(GError) err = NULL;

	d->verifications++;
	if (!history_signature_record(d->hist, &hs, &err))
		g_warning("%s", err->message);
}

/*
 * On the loop: a verdict from the fetch's thread.  A commit verified is
 * the one loaded from now on; one refused leaves the last verified in
 * force, and is remembered (until a newer head verifies) so that it is
 * not judged again.  One that could not be checked (no verdict: gpg or
 * ssh-keygen failed to run, timed out) is recorded, and judged again at a
 * fetch after a backoff (30 s, doubling to an hour); it is never
 * remembered as refused.  @anchor: the check at start of the commit last
 * verified before it; refused, nothing is loaded until a head verifies.
 */
static void
take_verdict(daemon_state *d, verify_verdict *vd, bool anchor)
{
	/* Nothing to judge at start (tag mode, no tag matches yet): no
	 * refusal to record; the first fetch looks again. */
	if (anchor && !vd->target && !vd->unchecked) {
		g_debug("nothing verified to start from: %s", vd->reason ? vd->reason : "no target");
		verify_verdict_release(vd);
		return;
	}
	record_check(d, vd);
	if (vd->unchecked) {
		bool same = d->unchecked.target && g_strcmp0(d->unchecked.target, vd->target) == 0 &&
			    g_strcmp0(d->unchecked.ref, vd->ref) == 0;

		guint first_ms = d->o.verify_retry_ms ? d->o.verify_retry_ms : RETRY_FIRST_S * 1000;

		d->check_retry_ms = same ? MIN(d->check_retry_ms * 2, RETRY_MAX_S * 1000) : first_ms;
		d->check_retry_at = g_get_monotonic_time() + (gint64)d->check_retry_ms * 1000;
		g_warning("%s %s%s%s%s could not be checked, tried again at a fetch %u s from now or later: %s",
			  anchor ? "the last verified commit" : "commit", vd->commit ? vd->commit : "?",
			  vd->tag ? " (tag " : "", vd->tag ? vd->tag : "", vd->tag ? ")" : "", d->check_retry_ms / 1000,
			  vd->reason);
		verify_verdict_release(&d->unchecked);
		d->unchecked = *vd;
		memset(vd, 0, sizeof(*vd));
		d->unchecked_at = real_now();
		return;
	}
	verify_verdict_release(&d->unchecked);
	if (!vd->ok) {
		if (anchor) {
			g_autofree char *why = g_strdup_printf(
				"the last verified commit does not verify with the keys given now (nothing "
				"is in force until a new head verifies): %s", vd->reason);

			g_free(vd->reason);
			vd->reason = g_steal_pointer(&why);
		}
		record_refused(d, vd);
		verify_verdict_release(&d->refused);
		d->refused = *vd;
		memset(vd, 0, sizeof(*vd));
		d->refused_at = real_now();
		return;
	}
	g_message("commit %s verified (%s%s%s%skey %s, %u signature%s checked)", vd->commit,
		  anchor ? "again at start, " : "", vd->tag ? "tag " : "", vd->tag ? vd->tag : "",
		  vd->tag ? ", " : "", vd->key_id ? vd->key_id : "?", vd->checked, vd->checked == 1 ? "" : "s");
	/* What status shows is the head's state: a refusal that a newer
	 * verified head replaced is history's, not status's. */
	verify_verdict_release(&d->refused);
	g_free(d->verified);
	g_free(d->verified_target);
	g_free(d->verified_ref);
	g_free(d->base);
	d->base = g_strdup(vd->commit);
	d->verified = g_steal_pointer(&vd->commit);
	d->verified_target = g_steal_pointer(&vd->target);
	d->verified_ref = g_steal_pointer(&vd->ref);
}

/*
 * Fetching runs off the loop (offload.h): libgit2 1.5 has no timeout, and a
 * remote that accepts and never answers would hold the loop, signals and
 * all.  One fetch at a time; a trigger during one asks for another after
 * it.  The mirror is the fetch's until it ends: nothing else reads it
 * meanwhile (load_revision waits for the fetch's end).
 */
typedef struct {
	source_git *git;
	char *trigger;
	bool ok;
	char *error;
	/* Signature verification, on the same thread after the fetch: it runs
	 * gpg and ssh-keygen, and waits for them. */
	const verifier *verifier;  /* NULL: none */
	char *anchor;              /* set: no fetch, judge the anchor again
				      (verifier_verify_anchor) */
	bool anchor_job;
	char *old_commit;          /* where a range begins, or NULL */
	char *old_target;          /* what was judged for the commit in force */
	char *old_ref;
	char *refused_target;      /* the last refused, not judged again */
	char *refused_ref;
	char *skip_target;         /* could not be checked, and its backoff runs */
	char *skip_ref;
	bool judged;               /* @verdict holds a new judgement */
	bool at_verified;          /* what is to judge is what is in force */
	verify_verdict verdict;
} fetch_job;

static void
fetch_job_free(gpointer p)
{
	fetch_job *f = p;

	g_free(f->trigger);
	g_free(f->error);
	g_free(f->anchor);
	g_free(f->old_commit);
	g_free(f->old_target);
	g_free(f->old_ref);
	g_free(f->refused_target);
	g_free(f->refused_ref);
	g_free(f->skip_target);
	g_free(f->skip_ref);
	verify_verdict_release(&f->verdict);
	g_free(f);
}

/*
 * What the mirror holds now, judged unless it was already: the last
 * verified and the last refused are not judged again, so a refused head
 * costs one verification, not one per fetch.
 */
static void
fetch_verify(fetch_job *f)
{
	g_autofree char *branch = source_git_branch_ref(f->git);
	g_autofree char *target = NULL, *ref = NULL;
	g_autoptr(GError) err = NULL;
	git_repository *repo = source_git_repository(f->git);

	if (!verifier_target(f->verifier, repo, branch, &target, &ref, &err)) {
		g_debug("signatures: %s", err->message);
		return;
	}
	/* The anchor verified at start names no ref (head and range mode). */
	if (f->old_target && strcmp(target, f->old_target) == 0 && (!f->old_ref || strcmp(ref, f->old_ref) == 0)) {
		f->at_verified = true;
		return;
	}
	/* A refusal of the anchor at start names no ref: its commit is not
	 * judged again whatever ref now names it. */
	if ((f->refused_target && strcmp(target, f->refused_target) == 0 &&
	     (!f->refused_ref || strcmp(ref, f->refused_ref) == 0)) ||
	    (f->skip_target && strcmp(target, f->skip_target) == 0 && g_strcmp0(ref, f->skip_ref) == 0))
		return;
	verifier_verify(f->verifier, repo, f->old_commit, target, ref, &f->verdict);
	f->judged = true;
}

static gpointer
fetch_run(gpointer p)
{
	fetch_job *f = p;
	g_autoptr(GError) err = NULL;

	if (f->anchor_job) {
		/* At start, before any fetch: the anchor, with today's keys. */
		verifier_verify_anchor(f->verifier, source_git_repository(f->git), f->anchor, &f->verdict);
		f->judged = f->ok = true;
		return NULL;
	}
	f->ok = source_git_fetch(f->git, &err);
	if (!f->ok)
		f->error = g_strdup(err->message);
	/* Even after a failed fetch: what an earlier one brought may not have
	 * been judged (the daemon stopped first). */
	if (f->verifier)
		fetch_verify(f);
	return NULL;
}

/* Fetch, then load; an unreachable remote keeps the revision in force. */
static void
fetch_and_load(daemon_state *d, const char *trigger)
{
	g_autoptr(GError) err = NULL;
	fetch_job *f;

	if (!d->git) {
		load_revision(d, trigger);
		return;
	}
	if (d->fetching) {
		g_free(d->fetch_again);
		d->fetch_again = g_strdup(trigger);
		return;
	}
	f = g_new0(fetch_job, 1);
	f->git = d->git;
	f->trigger = g_strdup(trigger);
	f->verifier = d->verifier;
	f->old_commit = g_strdup(d->base);
	f->old_target = g_strdup(d->verified_target);
	f->old_ref = g_strdup(d->verified_ref);
	f->refused_target = g_strdup(d->refused.target);
	f->refused_ref = g_strdup(d->refused.ref);
	if (d->unchecked.target && g_get_monotonic_time() < d->check_retry_at) {
		f->skip_target = g_strdup(d->unchecked.target);
		f->skip_ref = g_strdup(d->unchecked.ref);
	}
	if (!offload_run(d->fetches, fetch_run, f, &err)) {
		g_warning("cannot fetch (%s); the revision in force stays", err->message);
		telemetry_source_failure(d->tm, "fetch");
		fetch_job_free(f);
		load_revision(d, trigger);
		return;
	}
	d->fetching = true;
}

/*
 * At start: judge the anchor again with the keys given now, on the fetch's
 * thread, before anything is loaded; the start's fetch waits for it
 * (fetch_again).  Nothing is in force until it (or a new head) verifies.
 */
static void
anchor_check(daemon_state *d)
{
	g_autoptr(GError) err = NULL;
	fetch_job *f = g_new0(fetch_job, 1);

	f->git = d->git;
	f->trigger = g_strdup("start");
	f->verifier = d->verifier;
	f->anchor_job = true;
	f->anchor = g_strdup(d->base);
	if (!offload_run(d->fetches, fetch_run, f, &err)) {
		g_warning("cannot check the last verified commit (%s): nothing is in force until a head "
			  "verifies", err->message);
		fetch_job_free(f);
		return;
	}
	d->fetching = true;
}

/* A fetch ended: load what it brought. */
static void
on_fetched(int fd, gpointer data)
{
	daemon_state *d = data;
	fetch_job *f;

	(void)fd;
	while ((f = offload_take(d->fetches))) {
		d->fetching = false;
		if (!f->ok) {
			g_warning("fetch failed, %s stays in force: %s",
				  d->good_digest ? d->good_digest : "no revision", f->error);
			telemetry_source_failure(d->tm, "fetch");
		}
		if (f->judged)
			take_verdict(d, &f->verdict, f->anchor_job);
		else if (f->at_verified && (d->refused.target || d->unchecked.target)) {
			/* The branch (or tag) is back at the commit in force: a
			 * refusal since is no longer the head's state. */
			g_message("back at the verified %s: the last refusal is history's now", d->verified);
			verify_verdict_release(&d->refused);
			verify_verdict_release(&d->unchecked);
		}
		load_revision(d, f->trigger);
		fetch_job_free(f);
	}
	if (d->fetch_again && !d->fetching) {
		g_autofree char *again = g_steal_pointer(&d->fetch_again);

		fetch_and_load(d, again);
	}
}

static void
on_git_timer(gpointer data)
{
	fetch_and_load(data, "git poll");
}

static void
on_source_changed(gpointer data)
{
	daemon_state *d = data;

	if (d->git)
		fetch_and_load(d, "local commit");
	else
		load_revision(d, "source changed");
}

/* ---- libvirt events ---------------------------------------------------- */

static void daemon_request_event(daemon_state *d, const char *why);

/*
 * Which lifecycle events a successful op of strata's own causes, so they are
 * not read as drift.  Kept per event type, not as a count: a QEMU start
 * reports RESUMED then STARTED, a shutdown SHUTDOWN then STOPPED, and a
 * count consumed by the first would leave the second looking like somebody
 * else's doing (and a later real event swallowed in its place).
 */
#define EV(e) (1u << (e))
static const guint op_events[OP_KIND_COUNT] = {
	[OP_START] = EV(VIRT_EV_STARTED) | EV(VIRT_EV_RESUMED),
	[OP_RESUME] = EV(VIRT_EV_RESUMED),
	[OP_PM_WAKEUP] = EV(VIRT_EV_STARTED),
	[OP_SHUTDOWN] = EV(VIRT_EV_SHUTDOWN) | EV(VIRT_EV_STOPPED),
	[OP_SAVE] = EV(VIRT_EV_SUSPENDED) | EV(VIRT_EV_STOPPED),
	[OP_SUSPEND] = EV(VIRT_EV_SUSPENDED),
	[OP_DEFINE] = EV(VIRT_EV_DEFINED),
	/* No device events: an attach may add a controller too, a detach may
	 * end after its deadline or cause none; each device event costs one
	 * pass that finds nothing to do instead of a miscounted expectation
	 * that would swallow somebody else's. */
	[OP_UNDEFINE] = EV(VIRT_EV_UNDEFINED),
	/* Paused, stopped and undefined on the source; defined, started and
	 * resumed on the target. */
	[OP_MIGRATE] = EV(VIRT_EV_SUSPENDED) | EV(VIRT_EV_STOPPED) | EV(VIRT_EV_UNDEFINED) |
		       EV(VIRT_EV_DEFINED) | EV(VIRT_EV_STARTED) | EV(VIRT_EV_RESUMED),
};
#undef EV

typedef struct {
	guint8 n[VIRT_EV_COUNT];
} expect_set;

static void
expect_add(daemon_state *d, const plan_op *op, int sign)
{
	guint mask = op_events[op->kind];
	expect_set *e;

	if (!mask || !op->domain)
		return;
	e = g_hash_table_lookup(d->expected, op->domain);
	if (!e) {
		if (sign < 0)
			return;
		e = g_new0(expect_set, 1);
		g_hash_table_insert(d->expected, g_strdup(op->domain), e);
	}
	for (guint ev = 0; ev < VIRT_EV_COUNT; ev++)
		if (mask & (1u << ev))
			e->n[ev] = (guint8)CLAMP((int)e->n[ev] + sign, 0, 255);
}

static bool
expected(daemon_state *d, const char *domain, int event)
{
	expect_set *e = g_hash_table_lookup(d->expected, domain);

	if (!e || event < 0 || event >= VIRT_EV_COUNT || !e->n[event])
		return false;
	e->n[event]--;
	return true;
}

static void
on_stopped(daemon_state *d, desired_vm *vm, int detail)
{
	bool crash = detail == VIRT_STOP_CRASHED || detail == VIRT_STOP_FAILED;
	bool reboot = g_hash_table_remove(d->rebooting, vm->domain);

	if (reboot && detail == VIRT_STOP_SHUTDOWN) {
		/* A reboot, not a power-off: no hold; the pass starts it again
		 * (on new disks: the planner's, for a VM found shut off). */
		log_about(G_LOG_LEVEL_MESSAGE, vm->domain, NULL, NULL, "%s: its guest rebooted; it is started again%s", vm->domain,
			  vm->reset_on_reboot ? " on disks made anew from its template" : "");
		daemon_request_event(d, "a guest rebooted");
		return;
	}
	/* A hold still asks for a pass: nothing is started, but the status
	 * shows the stop and the hold at once, not at the next event. */
	if (detail == VIRT_STOP_SHUTDOWN && vm->state == VM_RUNNING) {
		/* The guest shut itself down: only `always` brings it back. */
		if (vm->restart != RESTART_ALWAYS) {
			hold_set(d, vm, VM_STOPPED, "the guest shut itself down");
			held_news(d, vm);
		}
	} else if (crash && vm->restart == RESTART_NEVER) {
		hold_set(d, vm, VM_STOPPED, "it crashed and its restart policy is never");
		held_news(d, vm);
	} else if (crash && crash_backoff(d, vm)) {
		held_news(d, vm);
	}
	daemon_request_event(d, crash ? "crash" : "stopped outside strata");
}

static void
on_domain_event(virt_host *h, const char *domain, int event, int detail, gpointer data)
{
	daemon_state *d = data;
	desired_vm *vm;

	(void)h;
	if (event == VIRT_EV_CLOSED) {
		/* May come from an executor thread (the call that found the
		 * socket closed): only the thread-safe wake-up here. */
		loop_timer_set(d->closed_timer, 0);
		return;
	}
	vm = d->want ? g_hash_table_lookup(d->want->vm_by_domain, domain) : NULL;
	g_debug("event %d/%d on %s", event, detail, domain);
	if (expected(d, domain, event))
		return;  /* strata's own doing */
	if (!vm) {
		/* Not strata's, but what it uses decides which volumes may go. */
		if (event == VIRT_EV_DEFINED || event == VIRT_EV_UNDEFINED || event == VIRT_EV_DEVICE)
			obs_cache_clear(d->cache);
		return;
	}
	switch (event) {
	case VIRT_EV_STOPPED:
		on_stopped(d, vm, detail);
		break;
	case VIRT_EV_GUEST_RESET:
		g_hash_table_add(d->rebooting, g_strdup(domain));
		break;  /* the STOPPED event that follows acts */
	case VIRT_EV_CRASHED:
	case VIRT_EV_SHUTDOWN:
		break;  /* the STOPPED event that follows decides */
	case VIRT_EV_STARTED:
	case VIRT_EV_RESUMED:
		/* Started by someone: a hold keeping it stopped ends.  QEMU reports
		 * RESUMED before STARTED; either may be the first we see. */
		g_hash_table_remove(d->rebooting, domain);  /* it did not stop */
		hold *was = g_hash_table_lookup(d->holds, domain);

		if (was)
			released_news(d, domain, was, "it was started");
		if (g_hash_table_remove(d->holds, domain)) {
			history_hold_drop(d->hist, domain);
			log_about(G_LOG_LEVEL_MESSAGE, domain, NULL, NULL, "%s: hold released: it was started", domain);
		}
		daemon_request_event(d, "started outside strata");
		break;
	case VIRT_EV_DEFINED:
		obs_cache_clear(d->cache);  /* redefined behind our back: read afresh */
		daemon_request_event(d, "redefined outside strata");
		break;
	case VIRT_EV_DEVICE:
		/* Hot-plugged by someone, a device its guest let go of late, or
		 * strata's own attach or detach: what it runs with is read
		 * afresh (restart required, volumes in use). */
		obs_cache_clear(d->cache);
		daemon_request_event(d, "a device was added or removed");
		break;
	default:
		daemon_request_event(d, "drift");
		break;
	}
}

/* ---- scheduled actions ------------------------------------------------- */

static void
on_fire(const spec_appliance *a, const spec_sched *s, const char *vm, int state,
	gint64 planned, gpointer data)
{
	daemon_state *d = data;
	g_autofree char *domain = g_strdup_printf("%s.%s", a->obj.name.v, vm);
	desired_vm *dvm = g_hash_table_lookup(d->want->vm_by_domain, domain);
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(planned);
	g_autofree char *when = g_date_time_format_iso8601(t);
	g_autofree char *why = g_strdup_printf("scheduled %s at %s", spec_action_names[s->action.v], when);

	if (!dvm)
		return;
	if (state < 0) {
		oneshot *o = g_new0(oneshot, 1);
		g_autofree char *id = schedule_entry_id(a, s);
		g_autofree char *stamp = g_date_time_format(t, "%Y%m%dT%H%M%SZ");

		o->domain = g_steal_pointer(&domain);
		o->why = g_steal_pointer(&why);
		o->kind = s->action.v == ACTION_REBOOT ? OP_REBOOT :
			  s->action.v == ACTION_SNAPSHOT_CREATE ? OP_SNAPSHOT_CREATE : OP_SNAPSHOT_DELETE;
		/* Snapshot names carry the entry and the time: retention can
		 * find the oldest of its own, and nobody else's. */
		o->snapshot = o->kind == OP_SNAPSHOT_CREATE ? g_strdup_printf("strata-%s-%s", id, stamp)
							    : g_strdup("strata-");
		o->keep = s->keep.set ? (guint)s->keep.v : 0;
		oneshot_queue(d, o);
		daemon_request(d, o->why);
		return;
	}
	/* Holds until the next scheduled action for the VM or a spec change:
	 * self-heal does not undo a scheduled power-off. */
	hold_set(d, dvm, state, why);
	telemetry_schedule_run(d->tm, spec_action_names[s->action.v], "done");
	daemon_request(d, why);
}

static void
on_sched_timer(gpointer data)
{
	daemon_state *d = data;

	if (d->good)
		scheduler_check(d->sched, d->good, d->o.now());
	schedule_arm(d);
}

void
daemon_schedule_check(daemon_state *d)
{
	on_sched_timer(d);
}

/* One timer, for the next fire; nothing polls. */
static void
schedule_arm(daemon_state *d)
{
	gint64 now = d->o.now(), next = d->good ? scheduler_next(d->sched, d->good, now) : 0;

	if (!next) {
		loop_timer_set(d->sched_timer, -1);
		return;
	}
	/* libvirt timers take int milliseconds: re-arm at most daily. */
	loop_timer_set(d->sched_timer, (int)CLAMP((next - now) * 1000, 0, 86400000));
}

char *
daemon_schedule_json(daemon_state *d)
{
	return scheduler_json(d->sched, d->good, d->o.now(), 5);
}

/* ---- reconcile --------------------------------------------------------- */

/* A run's ops are about to happen: their events are ours.  What the run
 * before expected is forgotten; its events have long arrived. */
static bool
reboot_stops(daemon_state *d, const char *domain)
{
	const obs_domain *o = d->pass.have ? g_hash_table_lookup(d->pass.have->domain_by_name, domain) : NULL;

	return o && o->reset_on_reboot && !o->restart_required;
}

static void
expect_events(daemon_state *d, const plan *p)
{
	g_hash_table_remove_all(d->expected);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		const desired_vm *vm = op->domain ? g_hash_table_lookup(d->want->vm_by_domain, op->domain) : NULL;

		expect_add(d, op, +1);
		if (op->kind == OP_START)
			g_hash_table_remove(d->rebooting, op->domain);  /* its stop was seen, or never comes */
		/* libvirt answers a reboot of a domain whose on_reboot is destroy
		 * with an ACPI power-off (QEMU then says guest-shutdown, not
		 * guest-reset): the stop that follows is this reboot.  Only
		 * when the running domain has it (defined, not yet booted, it
		 * reboots in place and no stop comes). */
		if (op->kind == OP_REBOOT && vm && vm->reset_on_reboot && reboot_stops(d, op->domain))
			g_hash_table_add(d->rebooting, g_strdup(op->domain));
	}
}

/* An op that failed, never ran, or found nothing to do (a stop of a VM
 * already off) causes no event: expecting one would swallow a real one
 * later (seen under emulation: a crash taken for strata's own stop). */
static void
expect_forget_failed(daemon_state *d, const plan *p)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->status != OPST_DONE || op->unchanged)
			expect_add(d, op, -1);
		if (op->kind == OP_REBOOT && op->status != OPST_DONE)
			g_hash_table_remove(d->rebooting, op->domain);
	}
}

static bool
unreachable(const observed *have)
{
	for (guint i = 0; i < have->hosts->len; i++)
		if (!((obs_host *)have->hosts->pdata[i])->reachable)
			return true;
	return false;
}

/* Every member that answers was seen sharing the pool on its present
 * connection (and at least two did). */
static bool
verified_now(const observed *have, const share_state *s)
{
	g_auto(GStrv) members = g_strsplit(s->declared, ",", -1);
	guint seen = 0;

	for (guint i = 0; members[i]; i++) {
		const obs_host *h = observed_host(have, members[i]);
		guint64 *serial = g_hash_table_lookup(s->serial, members[i]);

		if (!h || !h->reachable)
			continue;
		if (!serial || *serial != h->serial)
			return false;
		seen++;
	}
	return seen >= 2;
}

/* Each declared shared pool: its members and what the probes found. */
static void
status_capture_pools(daemon_state *d)
{
	const observed *have = d->pass.have;
	g_autoptr(GList) pools = have->shares ? g_hash_table_get_keys(have->shares) : NULL;

	g_ptr_array_set_size(d->status_pools, 0);
	pools = g_list_sort(pools, (GCompareFunc)strcmp);
	for (GList *l = pools; l; l = l->next) {
		const share_state *s = g_hash_table_lookup(have->shares, l->data);
		g_autoptr(JsonBuilder) b = json_builder_new();

		json_builder_begin_object(b);
		json_out_string(b, "name", s->pool);
		json_out_string(b, "hosts", s->declared);
		json_out_string(b, "state", s->refuted ? "refuted" :
				verified_now(have, s) ? "verified" : "unverified");
		json_out_string(b, "finding", s->refuted ? s->refuted : s->unproven);
		json_builder_end_object(b);
		g_ptr_array_add(d->status_pools, json_builder_get_root(b));
	}
}

/* Each template's base: its version, where it comes from, and on which
 * hosts it is, with the checksum recorded for each copy. */
static void
status_capture_templates(daemon_state *d)
{
	const observed *have = d->pass.have;
	g_autoptr(GList) keys = g_hash_table_get_keys(d->want->bases);

	g_ptr_array_set_size(d->status_templates, 0);
	keys = g_list_sort(keys, (GCompareFunc)strcmp);
	for (GList *l = keys; l; l = l->next) {
		const desired_base *base = g_hash_table_lookup(d->want->bases, l->data);
		g_autofree char *key = g_strdup_printf("%s/%s", base->pool, base->volume);
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autofree char *from = base->source_host ? g_strdup_printf("host %s", base->source_host) :
					base->source_library ? g_strdup_printf("library %s", base->source_library) :
					base->source_vm ? g_strdup_printf("vm %s", base->source_vm) : NULL;

		json_builder_begin_object(b);
		json_out_string(b, "template", base->template);
		json_out_int(b, "version", base->version);
		json_out_string(b, "base", key);
		json_out_string(b, "source", from);
		json_builder_set_member_name(b, "copies");
		json_builder_begin_array(b);
		for (guint i = 0; i < have->hosts->len; i++) {
			const obs_host *h = have->hosts->pdata[i];
			g_autofree char *sha = NULL;

			if (!h->reachable || !g_hash_table_contains(h->vol_by_key, key))
				continue;
			sha = history_image_sha256(d->hist, h->name, base->pool, base->volume);
			json_builder_begin_object(b);
			json_out_string(b, "host", h->name);
			json_out_string(b, "sha256", sha);
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
		json_builder_end_object(b);
		g_ptr_array_add(d->status_templates, json_builder_get_root(b));
	}
}

/* A host's state changed since the last pass: news, and an alert. */
static void
host_news(daemon_state *d, const obs_host *h)
{
	const char *now = h->reachable ? "up" : obs_host_lost(h) ? "lost" : "unreachable";
	const char *was = g_hash_table_lookup(d->host_said, h->name);

	if (g_strcmp0(was, now) == 0)
		return;
	if (g_strcmp0(was, "unreachable") == 0)
		tell(d, 0, "host_back", "StrataHostUnreachable", true, "critical", NULL, h->name, NULL,
		     "host %s %s", h->name, now);
	if (g_strcmp0(was, "lost") == 0)
		tell(d, 0, "host_back", "StrataHostLost", true, "critical", NULL, h->name, NULL,
		     "host %s %s", h->name, now);
	if (g_str_equal(now, "unreachable"))
		tell(d, 0, "host_unreachable", "StrataHostUnreachable", false, "critical", NULL, h->name,
		     NULL, "host %s unreachable: %s", h->name, h->error ? h->error : "?");
	else if (g_str_equal(now, "lost"))
		tell(d, 0, "host_lost", "StrataHostLost", false, "critical", NULL, h->name, NULL,
		     "host %s declared lost: its HA VMs may restart elsewhere", h->name);
	g_hash_table_replace(d->host_said, g_strdup(h->name), (gpointer)now);
}

/* A VM gone from the source: its failed scheduled action's alert ends. */
static void
sched_failing_prune(daemon_state *d)
{
	GHashTableIter it;
	gpointer k;

	g_hash_table_iter_init(&it, d->sched_failing);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		g_auto(GStrv) parts = g_strsplit(k, " ", 2);  /* "domain action" */

		if (g_hash_table_contains(d->want->vm_by_domain, parts[0]))
			continue;
		tell(d, 0, "scheduled_action_ok", "StrataScheduledActionFailed", true, "warning", parts[0],
		     NULL, parts[1], "%s is no longer in the source", parts[0]);
		g_hash_table_iter_remove(&it);
	}
}

/* A host gone from the source: an alert about it ends. */
static void
hosts_gone_news(daemon_state *d, const observed *have)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, d->host_said);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		bool seen = false;

		for (guint i = 0; i < have->hosts->len && !seen; i++)
			seen = g_str_equal(((const obs_host *)have->hosts->pdata[i])->name, k);
		if (seen)
			continue;
		if (!g_str_equal(v, "up"))
			tell(d, 0, "host_back", g_str_equal(v, "lost") ? "StrataHostLost" : "StrataHostUnreachable",
			     true, "critical", NULL, k, NULL, "host %s is no longer in the source", (char *)k);
		g_hash_table_iter_remove(&it);
	}
}

/* Hosts' capacity, and what the running managed VMs on each take. */
static void
telemetry_hosts(daemon_state *d)
{
	const observed *have = d->pass.have;

	for (guint i = 0; i < have->hosts->len; i++) {
		const obs_host *h = have->hosts->pdata[i];
		unsigned vcpus = 0;
		uint64_t memory = 0;

		for (guint j = 0; h->reachable && j < h->domains->len; j++) {
			const obs_domain *o = h->domains->pdata[j];
			const desired_vm *vm = g_hash_table_lookup(d->want->vm_by_domain, o->name);

			if (vm && (o->state == VIRT_DOM_RUNNING || o->state == VIRT_DOM_PAUSED)) {
				vcpus += vm->cpus;
				memory += vm->memory;
			}
		}
		telemetry_host(d->tm, h->name, h->reachable, h->node.cpus, h->node.memory, vcpus, memory);
		host_news(d, h);
	}
	hosts_gone_news(d, have);
}

static void
status_capture(daemon_state *d)
{
	const observed *have = d->pass.have;

	g_ptr_array_set_size(d->status, 0);
	g_ptr_array_set_size(d->status_hosts, 0);
	for (guint i = 0; i < have->hosts->len; i++) {
		const obs_host *h = have->hosts->pdata[i];
		g_autoptr(JsonBuilder) b = json_builder_new();

		json_builder_begin_object(b);
		json_out_string(b, "name", h->name);
		json_out_string(b, "state", h->reachable ? "up" : "unknown");
		json_out_string(b, "error", h->error);
		/* Declared: libvirt has no call that says which lock manager
		 * its QEMU driver uses. */
		json_out_string(b, "lock_manager", h->spec && h->spec->lock_manager.set ?
				spec_lock_manager_names[h->spec->lock_manager.v] : NULL);
		json_builder_end_object(b);
		g_ptr_array_add(d->status_hosts, json_builder_get_root(b));
	}
	status_capture_pools(d);
	status_capture_templates(d);
	sched_failing_prune(d);
	telemetry_view_begin(d->tm);
	telemetry_hosts(d);
	for (guint i = 0; i < d->want->vms->len; i++) {
		desired_vm *vm = d->want->vms->pdata[i];
		obs_domain *o = g_hash_table_lookup(have->domain_by_name, vm->domain);
		hold *h = g_hash_table_lookup(d->holds, vm->domain);
		g_autoptr(JsonBuilder) b = json_builder_new();
		static const char *const states[] = {
			"unknown", "running", "running", "paused", "stopping", "stopped",
			"crashed", "suspended",
		};
		bool unknown = !o && (unreachable(have) || d->pass.plan->partial);
		const char *observed_state = unknown ? "unknown" : !o ? "undeployed" :
			(o->state == VIRT_DOM_PAUSED && o->reason == VIRT_PAUSED_IOERROR) ?
			"paused (I/O error)" :
			(o->state == VIRT_DOM_SHUTOFF && o->managed_save) ? "saved" :
			(o->state >= 0 && o->state <= 7) ? states[o->state] : "unknown";

		json_builder_begin_object(b);
		json_out_string(b, "appliance", vm->appliance);
		json_out_string(b, "vm", vm->vm);
		json_out_string(b, "host", o ? o->host->name : NULL);
		json_out_string(b, "desired", spec_vm_state_names[vm->state]);
		json_out_string(b, "observed", observed_state);
		json_out_string(b, "override", h ? spec_vm_state_names[h->state] : NULL);
		json_out_string(b, "override_reason", h ? h->why : NULL);
		json_out_string(b, "restart_required", o ? o->restart_required : NULL);
		json_builder_end_object(b);
		g_ptr_array_add(d->status, json_builder_get_root(b));
		telemetry_vm(d->tm, vm->appliance, vm->vm, o ? o->host->name : NULL, observed_state,
			     spec_vm_state_names[vm->state]);
	}
	telemetry_view_end(d->tm);
}

/* A pass ended with @result (telemetry.h); one that found the hosts as
 * the revision wants them settles it. */
static void
pass_result(daemon_state *d, const char *result)
{
	double took = (double)(g_get_monotonic_time() - d->pass_began) / 1e6;

	telemetry_reconcile(d->tm, result, took, real_now());
	if (g_str_equal(result, "in_sync") || g_str_equal(result, "converged")) {
		g_free(d->settled_full);
		d->settled_full = g_strdup(d->good_full);
	}
}

/* Whether @p changes anything besides scheduled one-shots. */
static bool
plan_heals(const plan *p)
{
	for (guint i = 0; i < p->ops->len; i++) {
		op_kind k = ((const plan_op *)p->ops->pdata[i])->kind;

		if (k != OP_REBOOT && k != OP_SNAPSHOT_CREATE && k != OP_SNAPSHOT_DELETE)
			return true;
	}
	return false;
}

/*
 * Run news: a failure (once, not at every retry), the first success after
 * one, and drift healed: a run that converged on the revision the last
 * settled pass already had (so not a new revision deployed).  Called
 * before pass_result settles this run.
 */
static void
run_news(daemon_state *d, exec_result r, const char *summary)
{
	if (r != EXEC_CONVERGED) {
		if (!d->run_failing)
			tell(d, d->run, "run_failed", "StrataRunFailed", false, "warning", NULL, NULL, NULL,
			     "run %" G_GINT64_FORMAT " %s: %s", d->run, exec_result_name(r), summary);
		d->run_failing = true;
		return;
	}
	if (d->run_failing)
		tell(d, d->run, "run_recovered", "StrataRunFailed", true, "warning", NULL, NULL, NULL,
		     "run %" G_GINT64_FORMAT " converged after a failure: %s", d->run, summary);
	else if (g_strcmp0(d->settled_full, d->good_full) == 0 && plan_heals(d->pass.plan))
		tell(d, d->run, "drift_healed", NULL, false, "info", NULL, NULL, NULL,
		     "run %" G_GINT64_FORMAT " healed drift: %s", d->run, summary);
	d->run_failing = false;
}

/* A revision held for removing too many VMs: news while it waits. */
static void
removal_news(daemon_state *d, const plan *p)
{
	if (p->removal_held && !d->removal_said)
		tell(d, 0, "removal_held", "StrataRemovalHeld", false, "warning", NULL, NULL, NULL,
		     "revision %s removes too many managed VMs: held until confirmed",
		     d->good_digest ? d->good_digest : "?");
	else if (!p->removal_held && d->removal_said)
		tell(d, 0, "removal_released", "StrataRemovalHeld", true, "warning", NULL, NULL, NULL,
		     "revision %s: no removal held any more", d->good_digest ? d->good_digest : "?");
	d->removal_said = p->removal_held;
}

static void
reconcile_end(daemon_state *d)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *summary = plan_summary(d->pass.plan);
	exec_result r = exec_finish(d->exec, &err);

	expect_forget_failed(d, d->pass.plan);
	oneshots_settle(d, true);
	for (guint i = 0; i < d->pass.plan->ops->len; i++) {
		const plan_op *op = d->pass.plan->ops->pdata[i];

		if (op->status == OPST_FAILED)
			log_about(G_LOG_LEVEL_WARNING, op->domain, op->host, op_kind_name(op->kind),
				  "%s %s on %s failed: %s", op_kind_name(op->kind),
				  op->domain ? op->domain : op->volume, op->host,
				  op->error ? op->error : "?");
	}
	d->exec = NULL;
	loop_unwatch(d->exec_watch);
	d->exec_watch = -1;
	history_run_end(d->hist, d->run, exec_result_name(r), summary, NULL);
	if (err)
		g_warning("history: %s; no further change until it can be written", err->message);
	g_message("run %" G_GINT64_FORMAT " %s: %s", d->run, exec_result_name(r), summary);
	telemetry_run_ops(d->tm, d->pass.plan);
	run_news(d, r, summary);
	pass_result(d, r == EXEC_CONVERGED ? (d->pass.plan->errors->len ? "error" : "converged")
					   : exec_result_name(r));
	pass_release(&d->pass);
	schedule_arm(d);
	notify("STATUS=idle");
	if (d->quitting) {
		d->done = true;
		return;
	}
	if (d->next_src) {
		g_autofree char *rev = g_steal_pointer(&d->next_rev);

		adopt_revision(d, g_steal_pointer(&d->next_src), rev, "loaded during the run");
		/* A new revision is tried at once, not after a failure's backoff. */
		d->retry_ms = 0;
		d->pending = true;
	}
	/* Always look again: it verifies the run and refreshes the status.
	 * After a failure, back off so a broken op is not retried in a loop. */
	if (r == EXEC_CONVERGED || d->pending) {
		d->retry_ms = 0;
		daemon_request(d, d->pending ? "requested during the run" : "verify the run");
	} else {
		d->retry_ms = d->retry_ms ? MIN(d->retry_ms * 2, 300000u) : 1000u;
		g_message("retrying in %u ms", d->retry_ms);
		loop_timer_set(d->kick_timer, (int)d->retry_ms);
	}
}

static void
on_exec(int fd, gpointer data)
{
	daemon_state *d = data;

	(void)fd;
	if (d->exec && exec_step(d->exec, false))
		reconcile_end(d);
}

/* Hosts that are down get another try at their backoff, not at the resync. */
static void
retry_dead_hosts(daemon_state *d)
{
	gint64 next = G_MAXINT64, now = g_get_monotonic_time();

	for (guint i = 0; i < d->hosts->hosts->len; i++) {
		host_conn *h = d->hosts->hosts->pdata[i];

		if (!h->virt && !h->connecting && h->abandoned < HOSTS_ATTEMPTS_ABANDONED_MAX)
			next = MIN(next, h->next_try);
		if (h->connecting)  /* given up then, and tried again */
			next = MIN(next, h->connect_began + (gint64)HOSTS_CONNECT_DEADLINE_MS * 1000);
	}
	/* Connected hosts that did not answer the last pass in time: look
	 * again, backing off (1 s, doubling to 60 s), not at the next resync. */
	if (d->late_hosts) {
		d->late_retry_ms = MIN(MAX(d->late_retry_ms * 2, 1000u), 60000u);
		next = MIN(next, now + (gint64)d->late_retry_ms * 1000);
	} else {
		d->late_retry_ms = 0;
	}
	if (next != G_MAXINT64 && !busy(d))
		loop_timer_set(d->kick_timer, (int)MAX((next - now) / 1000, 100));
}

/* Scheduled one-shots join the plan, after whatever it does to their VM. */
static void
add_oneshots(daemon_state *d, plan *p)
{
	for (guint i = 0; i < d->oneshots->len; i++) {
		oneshot *o = d->oneshots->pdata[i];
		obs_domain *dom = g_hash_table_lookup(d->pass.have->domain_by_name, o->domain);
		plan_op *op;

		if (!dom || (o->kind == OP_REBOOT && dom->state != VIRT_DOM_RUNNING)) {
			if (!o->waiting_said)
				log_about(G_LOG_LEVEL_MESSAGE, o->domain, NULL, NULL, "%s: %s: stays due, the VM is not %s", o->domain, o->why,
					  dom ? "running" : "deployed");
			o->waiting_said = true;
			continue;
		}
		op = plan_append_oneshot(p, o->kind, dom->host->name, o->domain, o->why);
		op->snapshot = g_strdup(o->snapshot);
		op->value = o->keep;
		o->op = op;
	}
}

/* Connections made since last time go into service; attempts that failed
 * are said once per reason. */
static guint
take_connections(daemon_state *d)
{
	g_autoptr(GPtrArray) back = NULL;
	g_autoptr(GHashTable) before = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);

	for (guint i = 0; i < d->hosts->hosts->len; i++) {
		host_conn *h = d->hosts->hosts->pdata[i];

		g_hash_table_insert(before, h->name, g_strdup(h->error));
	}
	back = hosts_connected(d->hosts);
	for (guint i = 0; i < d->hosts->hosts->len; i++) {
		host_conn *h = d->hosts->hosts->pdata[i];

		if (!h->virt && !h->connecting && h->error &&
		    g_strcmp0(h->error, g_hash_table_lookup(before, h->name)) != 0)
			log_about(G_LOG_LEVEL_WARNING, NULL, h->name, NULL, "host %s unreachable: %s", h->name, h->error);
		if (!g_ptr_array_find(back, h, NULL))
			continue;
		g_array_index(d->event_ids, int, i) = virt_events_start(h->virt, on_domain_event, d);
		log_about(G_LOG_LEVEL_MESSAGE, NULL, h->name, NULL, "host %s %s", h->name, h->was_connected ? "reconnected" : "connected");
		/* What happened while it was away was not seen: judged once,
		 * and what strata knew of its definitions is read afresh. */
		g_hash_table_add(d->judge_hosts, g_strdup(h->name));
		obs_cache_clear(d->cache);
		/* A reboot whose stop was not seen is judged as unseen stops
		 * are: its mark would turn a later power-off into a restart. */
		g_hash_table_remove_all(d->rebooting);
	}
	return back->len;
}

static void
reconnect(daemon_state *d)
{
	take_connections(d);
	hosts_reconnect(d->hosts);
}

/*
 * An attempt ended.  A connection goes into service at once (the loop
 * owns the set; a run's workers and observers hold their own references),
 * and a pass follows: the host is known again, or it failed and passes no
 * longer wait for it.
 */
static void
on_connected(int fd, gpointer data)
{
	daemon_state *d = data;

	(void)fd;
	if (!d->hosts)
		return;
	take_connections(d);
	daemon_request_event(d, "a host connection attempt ended");
}

/*
 * The restart policy for stops this daemon did not see happen (it was not
 * running, or its connection was down): libvirt keeps why a domain shut
 * off.  A guest that shut itself down stays down unless restart: always,
 * a crash stays down under restart: never, as if the event had been seen.
 * Judged once per (re)connection of the host, and only for a VM that
 * strata's last carried-out op left running (after its own stop, define
 * or save, the stop is strata's).  Returns whether a hold was set (the
 * plan must be made again).
 */
static bool
judge_unseen_stops(daemon_state *d)
{
	bool held = false;

	for (guint i = 0; i < d->want->vms->len; i++) {
		desired_vm *vm = d->want->vms->pdata[i];
		obs_domain *o = g_hash_table_lookup(d->pass.have->domain_by_name, vm->domain);
		g_autofree char *last = NULL;
		bool crash, shutdown;

		if (!o || !o->managed || o->state != VIRT_DOM_SHUTOFF || o->managed_save ||
		    vm->state != VM_RUNNING || g_hash_table_contains(d->holds, vm->domain))
			continue;
		shutdown = o->reason == VIRT_SHUTOFF_SHUTDOWN && vm->restart != RESTART_ALWAYS;
		crash = (o->reason == VIRT_SHUTOFF_CRASHED || o->reason == VIRT_SHUTOFF_FAILED) &&
			vm->restart == RESTART_NEVER;
		if (!shutdown && !crash)
			continue;
		if (!g_hash_table_contains(d->judge_hosts, o->host->name))
			continue;  /* seen live there: events decided */
		/* Only a VM strata last left running can have stopped on its
		 * own: after strata's own stop, define or save it is strata's. */
		last = history_last_op(d->hist, vm->domain);
		if (!last || !(g_str_equal(last, "start") || g_str_equal(last, "resume") ||
			       g_str_equal(last, "pm-wakeup") || g_str_equal(last, "migrate")))
			continue;
		/* A reboot under reset_on_reboot stops the VM too, and libvirt
		 * records it as a shutdown: unseen, the two look alike. */
		hold_set(d, vm, VM_STOPPED, !shutdown ? "it crashed and its restart policy is never (libvirt's record)" :
			 vm->reset_on_reboot ? "the guest shut itself down or rebooted while strata was not watching "
					       "(libvirt records both as a shutdown); restart: always starts it again" :
			 "the guest shut itself down (libvirt's record)");
		held = true;
	}
	return held;
}

static void reconcile_observed(daemon_state *d);

/* A pass ended without a run: the revision that waited for it goes in
 * force now, before anything else can come in between. */
static bool
take_waiting_revision(daemon_state *d)
{
	g_autofree char *rev = NULL;

	if (!d->next_src || busy(d))
		return false;
	rev = g_steal_pointer(&d->next_rev);
	revision_in_force(d, g_steal_pointer(&d->next_src), rev, "loaded while observing");
	return true;
}

/*
 * A pass waits a little for attempts just begun (the first one at start,
 * a host added by a revision), so it does not report as unknown a host
 * about to answer; on_connected cuts the wait short.  A host still silent
 * after CONNECT_GRACE_MS is unknown for the passes until it answers.
 */
#define CONNECT_GRACE_MS 5000

static bool
connect_grace(daemon_state *d)
{
	gint64 now = g_get_monotonic_time();
	gint64 newest = hosts_newest_attempt(d->hosts);
	gint64 left = newest ? newest + CONNECT_GRACE_MS * 1000 - now : 0;

	/* At most the grace in all, per pass: attempts that come due one
	 * after another never put a pass off for longer. */
	if (!d->grace_began)
		d->grace_began = now;
	left = MIN(left, d->grace_began + CONNECT_GRACE_MS * 1000 - now);
	if (left <= 0) {
		d->grace_began = 0;
		return false;
	}
	loop_timer_set(d->kick_timer, (int)(left / 1000) + 1);
	return true;
}

static void
observe_stop_watching(daemon_state *d)
{
	loop_unwatch(d->observe_watch);
	d->observe_watch = -1;
	loop_timer_set(d->observe_timer, -1);
}

/* A host answered: plan once all have. */
static void
on_observed(int fd, gpointer data)
{
	daemon_state *d = data;

	(void)fd;
	if (d->pass.observing && observe_complete(d->pass.observing))
		reconcile_observed(d);
}

/* The deadline: the hosts yet to answer are unknown for this pass. */
static void
on_observe_deadline(gpointer data)
{
	daemon_state *d = data;

	if (d->pass.observing)
		reconcile_observed(d);
}

/*
 * A snapshot for plans elsewhere (observe_snapshot.h) is what a one-shot
 * `strata observe` would find: so the pass that writes it reads every
 * definition again, as a fresh cache does.  That costs a read or two per
 * domain, once per --observed-snapshot-interval, not at every pass.
 */
static void
snapshot_begin(daemon_state *d)
{
	unsigned every = d->o.snapshot_interval_s ? d->o.snapshot_interval_s : 600;

	if (!d->snapshot || g_get_monotonic_time() < d->snapshot_due)
		return;
	if (snapshot_file_busy(d->snapshot)) {
		/* A share that hangs: said once per interval, so that the
		 * snapshot growing old is never silent. */
		g_warning("observed snapshot not written: the write begun %u s ago or more has not returned "
			  "(a share that hangs?); plans from %s grow old",
			  every, d->o.observed_snapshot);
		d->snapshot_due = g_get_monotonic_time() + (gint64)every * G_USEC_PER_SEC;
		return;
	}
	obs_cache_clear(d->cache);
	d->snapshot_pass = true;
}

/* On the loop: only the JSON text is made here; the file is written by a
 * thread of its own. */
static void
snapshot_end(daemon_state *d)
{
	unsigned every = d->o.snapshot_interval_s ? d->o.snapshot_interval_s : 600;
	g_autoptr(GError) err = NULL;

	if (!d->snapshot_pass)
		return;
	d->snapshot_pass = false;
	d->snapshot_due = g_get_monotonic_time() + (gint64)every * G_USEC_PER_SEC;
	if (!snapshot_file_write(d->snapshot, observe_snapshot_write(d->pass.have, d->hosts, d->o.now()), &err))
		g_warning("observed snapshot not written: %s", err->message);
}

static void
on_snapshot_written(int fd, gpointer data)
{
	daemon_state *d = data;
	g_autoptr(GError) err = NULL;

	(void)fd;
	if (!snapshot_file_done(d->snapshot, &err))
		g_warning("observed snapshot not written: %s", err->message);
}

/*
 * A run begins by observing: each host on its own thread (observe.h), so
 * the loop goes on answering signals, the control socket and the watchdog
 * while a slow host is read.  reconcile_observed plans once every host
 * answered, or at the deadline.
 */
static void
reconcile_start(daemon_state *d)
{
	guint deadline = d->o.observe_timeout_ms ? d->o.observe_timeout_ms : OBSERVE_DEADLINE_MS;

	d->pending = false;
	if (busy(d) || d->quitting)
		return;
	take_waiting_revision(d);  /* loaded while the last pass observed */
	if (!d->good || !d->hosts || d->suspended) {
		d->grace_began = 0;
		return;
	}
	reconnect(d);
	if (connect_grace(d))
		return;
	d->runs++;
	d->pass_began = g_get_monotonic_time();
	snapshot_begin(d);
	pass_plan_begin(&d->pass, d->good, d->hosts, d->cache, deadline);
	if (observe_complete(d->pass.observing)) {  /* no host to wait for */
		reconcile_observed(d);
		return;
	}
	d->observe_watch = loop_watch(observe_fd(d->pass.observing), on_observed, d);
	loop_timer_set(d->observe_timer, (int)deadline);
}

static void
reconcile_observed(daemon_state *d)
{
	g_autoptr(GHashTable) overrides = NULL;
	g_autoptr(GError) herr = NULL;
	plan_options po = { .allow_empty = d->o.allow_empty,
			    .max_removal_pct = d->o.max_removal_pct,
			    .allow_removal = d->approved && d->good_full &&
					     strcmp(d->approved, d->good_full) == 0 };
	exec_options eo;
	plan *p;

	observe_stop_watching(d);
	if (d->quitting || d->suspended) {
		/* Stopped or suspended while the hosts were read: nothing runs. */
		pass_release(&d->pass);
		take_waiting_revision(d);
		return;
	}
	overrides = holds_refresh(d);
	po.overrides = overrides;
	pass_plan_end(&d->pass, &po, d->hist);
	snapshot_end(d);
	if (d->next_src && d->gave_way < 2) {
		/* A revision came while the hosts were read: plan that one
		 * instead (this plan may undo what it keeps), but not for ever:
		 * after two in a row, the plan in hand runs. */
		d->gave_way++;
		pass_release(&d->pass);
		take_waiting_revision(d);
		daemon_request(d, "a revision loaded while observing");
		return;
	}
	d->gave_way = 0;
	if (judge_unseen_stops(d)) {
		g_hash_table_unref(overrides);
		overrides = holds_refresh(d);
		po.overrides = overrides;
		pass_replan(&d->pass, &po, d->hist);
	}
	/* Judged once: the hosts this pass saw.  One connected meanwhile, or
	 * unknown for this pass, is judged by the first pass that sees it. */
	d->late_hosts = false;
	for (guint i = 0; i < d->pass.have->hosts->len; i++) {
		const obs_host *h = d->pass.have->hosts->pdata[i];
		host_conn *c = g_hash_table_lookup(d->hosts->by_name, h->name);

		if (h->reachable)
			g_hash_table_remove(d->judge_hosts, h->name);
		else if (c && c->virt)
			d->late_hosts = true;  /* connected, and late */
	}
	p = d->pass.plan;
	telemetry_drift(d->tm, p);
	removal_news(d, p);
	add_oneshots(d, p);
	status_capture(d);
	for (guint i = 0; i < p->notes->len; i++) {
		const char *n = p->notes->pdata[i];

		/* A VM held back by a lost host is news; "ignored" lines are not. */
		if (strstr(n, ": waits: ") || strstr(n, "declared lost"))
			g_message("%s", n);
		else
			g_debug("%s", n);
	}
	for (guint i = 0; i < p->errors->len; i++)
		g_warning("%s", (char *)p->errors->pdata[i]);
	/* Errors hold back their appliances only (plan.h): the rest runs. */
	if (p->ops->len == 0) {
		if (!p->errors->len)
			g_debug("converged: %u libvirt calls", d->pass.calls);
		if (!p->errors->len && d->run_failing) {
			/* What failed is gone or mended itself: nothing left to do. */
			tell(d, 0, "run_recovered", "StrataRunFailed", true, "warning", NULL, NULL, NULL,
			     "the hosts are as the revision wants them after a failed run");
			d->run_failing = false;
		}
		pass_result(d, p->errors->len ? "error" : "in_sync");
		pass_release(&d->pass);
		/* A pass's snapshot and plan are gone: give the memory back
		 * while the daemon idles. */
		malloc_trim(0);
		if (take_waiting_revision(d) || d->pending)  /* came while the hosts were observed */
			daemon_request(d, "requested or loaded while observing");
		else
			retry_dead_hosts(d);
		return;
	}
	if (!history_still_there(d->hist, &herr) &&
	    g_error_matches(herr, HISTORY_ERROR, HISTORY_ERROR_REPLACED)) {
		/* Loudly, and for good: what this daemon writes now reaches
		 * no one, and a second daemon may already own the new file. */
		g_critical("%s", herr->message);
		oneshots_settle(d, false);
		pass_result(d, "failed");
		pass_release(&d->pass);
		return;
	}
	g_clear_error(&herr);
	d->run = history_run_begin(d->hist, "watch", d->revision, &herr);
	if (d->run < 0) {
		/* Disk full, say: nothing happens without its intent on record.
		 * Nothing else may come to wake us when space returns: retry. */
		d->retry_ms = d->retry_ms ? MIN(d->retry_ms * 2, 60000u) : 1000u;
		g_warning("history cannot be written (%s): nothing is changed; retrying in %u ms",
			  herr ? herr->message : "?", d->retry_ms);
		oneshots_settle(d, false);
		pass_result(d, "failed");
		pass_release(&d->pass);
		loop_timer_set(d->kick_timer, (int)d->retry_ms);
		return;
	}
	exec_options_init(&eo);
	if (d->o.parallel)
		eo.parallel = d->o.parallel;
	if (d->o.shutdown_timeout_ms)
		eo.shutdown_timeout_ms = d->o.shutdown_timeout_ms;
	expect_events(d, p);
	notify("STATUS=reconciling");
	g_message("run %" G_GINT64_FORMAT ": %u operations", d->run, p->ops->len);
	d->exec = exec_new(p, d->hosts, d->hist, d->run, d->cache, &eo);
	d->exec_watch = loop_watch(exec_fd(d->exec), on_exec, d);
	if (exec_step(d->exec, false))
		reconcile_end(d);
}

/* On the loop, after a connection closed: say which, and look again (the
 * pass reconnects, with backoff, and registers for events anew). */
static void
on_closed(gpointer data)
{
	daemon_state *d = data;

	loop_timer_set(d->closed_timer, -1);
	for (guint i = 0; d->hosts && i < d->hosts->hosts->len; i++) {
		host_conn *hc = d->hosts->hosts->pdata[i];

		if (hc->virt && virt_host_closed(hc->virt) && !hc->close_reported) {
			hc->close_reported = true;
			log_about(G_LOG_LEVEL_WARNING, NULL, hc->name, NULL,
				  "host %s: connection closed (libvirtd restarted or gone); reconnecting",
				  hc->name);
		}
	}
	daemon_request_event(d, "connection closed");
}

static void
on_kick(gpointer data)
{
	daemon_state *d = data;

	loop_timer_set(d->kick_timer, -1);
	reconcile_start(d);
}

void
daemon_request(daemon_state *d, const char *why)
{
	g_debug("reconcile requested: %s", why);
	if (busy(d)) {
		d->pending = true;
		return;
	}
	loop_timer_set(d->kick_timer, 0);
}

/* Lifecycle events come in bursts (RESUMED then STARTED; one per guest when
 * several crash): plan once the burst is over, with every event's
 * consequence (a hold, a release) already known. */
#define EVENT_SETTLE_MS 250

static void
daemon_request_event(daemon_state *d, const char *why)
{
	g_debug("reconcile requested: %s", why);
	if (busy(d)) {
		d->pending = true;
		return;
	}
	loop_timer_set(d->kick_timer, EVENT_SETTLE_MS);
}

void
daemon_reconcile_now(daemon_state *d)
{
	fetch_and_load(d, "control: reconcile");
	daemon_request(d, "control: reconcile");
}

/* The resync also reloads the source: a folder replaced behind a link
 * sends no event. */
static void
on_resync(gpointer data)
{
	daemon_state *d = data;

	if (d->source && !d->git) {
		source_dir_rewatch(d->source);
		load_revision(d, "periodic resync");
	}
	/* Events can be missed (a queue overflow, a client restart); other
	 * tools' definitions are few: read them afresh. */
	obs_cache_forget_unmanaged(d->cache);
	daemon_request(d, "periodic resync");
}

void
daemon_suspend(daemon_state *d, bool suspend)
{
	d->suspended = suspend;
	g_message("reconciling %s", suspend ? "suspended" : "resumed");
	if (!suspend)
		daemon_request(d, "resumed");
}

bool
daemon_suspended(const daemon_state *d)
{
	return d->suspended;
}

const char *
daemon_revision(const daemon_state *d)
{
	return d->good_digest;
}

/* What verification holds: the commit verified, the last refusal. */
static void
status_signatures(daemon_state *d, JsonBuilder *b)
{
	const verify_verdict *r = &d->refused;

	json_builder_set_member_name(b, "signatures");
	json_builder_begin_object(b);
	json_out_string(b, "mode", verify_mode_name(verifier_mode(d->verifier)));
	json_out_string(b, "verified", d->verified);
	json_out_int(b, "verifications", d->verifications);
	if (r->target) {
		json_builder_set_member_name(b, "refused");
		json_builder_begin_object(b);
		json_out_string(b, "commit", r->commit);
		json_out_string(b, "tag", r->tag);
		json_out_string(b, "key_id", r->key_id);
		json_out_string(b, "signer", r->signer);
		json_out_string(b, "reason", r->reason);
		json_out_int(b, "time", d->refused_at);
		json_builder_end_object(b);
	}
	if (d->unchecked.reason) {
		gint64 left = (d->check_retry_at - g_get_monotonic_time()) / G_USEC_PER_SEC;

		json_builder_set_member_name(b, "unchecked");
		json_builder_begin_object(b);
		json_out_string(b, "commit", d->unchecked.commit);
		json_out_string(b, "tag", d->unchecked.tag);
		json_out_string(b, "reason", d->unchecked.reason);
		json_out_int(b, "time", d->unchecked_at);
		json_out_int(b, "retry_in", left > 0 ? left : 0);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
}

char *
daemon_status_json(daemon_state *d)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_out_string(b, "revision", d->good_digest);
	json_out_string(b, "state", d->suspended ? "suspended" : d->exec ? "reconciling" :
					   d->pass.observing ? "observing" : "idle");
	json_out_int(b, "runs", d->runs);
	if (d->verifier)
		status_signatures(d, b);
	json_builder_set_member_name(b, "hosts");
	json_builder_begin_array(b);
	for (guint i = 0; i < d->status_hosts->len; i++)
		json_builder_add_value(b, json_node_copy(d->status_hosts->pdata[i]));
	json_builder_end_array(b);
	json_builder_set_member_name(b, "pools");
	json_builder_begin_array(b);
	for (guint i = 0; i < d->status_pools->len; i++)
		json_builder_add_value(b, json_node_copy(d->status_pools->pdata[i]));
	json_builder_end_array(b);
	json_builder_set_member_name(b, "templates");
	json_builder_begin_array(b);
	for (guint i = 0; i < d->status_templates->len; i++)
		json_builder_add_value(b, json_node_copy(d->status_templates->pdata[i]));
	json_builder_end_array(b);
	json_builder_set_member_name(b, "vms");
	json_builder_begin_array(b);
	for (guint i = 0; i < d->status->len; i++)
		json_builder_add_value(b, json_node_copy(d->status->pdata[i]));
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

/* ---- signals and lifetime ---------------------------------------------- */

static unsigned
drain_limit_ms(const daemon_state *d)
{
	return d->o.drain_limit_ms ? d->o.drain_limit_ms : DRAIN_LIMIT_MS;
}

static void
on_drain_limit(gpointer data)
{
	daemon_state *d = data;

	g_warning("operations still running %s; exiting anyway (history marks them interrupted)",
		  d->drain_cut ? "at a second signal" : "at the drain limit");
	d->drain_expired = true;
	d->done = true;
}

static void
on_signal(int fd, gpointer data)
{
	daemon_state *d = data;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			fetch_and_load(d, "SIGHUP");
			daemon_request(d, "SIGHUP");
			continue;
		}
		g_message("signal %u: stopping%s", si.ssi_signo,
			  d->exec ? " once the running operations finish" : "");
		daemon_quit(d);
	}
}

void
daemon_quit(daemon_state *d)
{
	if (d->quitting) {
		/* A second signal: the operator will not wait for the limit. */
		if (d->exec && !d->done) {
			d->drain_cut = true;
			on_drain_limit(d);
		}
		return;
	}
	notify("STOPPING=1");
	d->quitting = true;
	if (!d->exec) {
		d->done = true;
		return;
	}
	exec_drain(d->exec);
	d->drain_timer = loop_timer(drain_limit_ms(d), on_drain_limit, d);
}

daemon_state *
daemon_new(const daemon_options *o, GError **error)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGHUP };
	daemon_state *d = g_new0(daemon_state, 1);
	g_autofree char *sock = NULL;
	const char *wd_usec = g_getenv("WATCHDOG_USEC");

	d->o = *o;
	d->verifier = o->verifier;
	d->o.verifier = NULL;
	if (!d->o.now)
		d->o.now = real_now;
	d->exec_watch = d->kick_timer = d->resync_timer = d->drain_timer = d->closed_timer = -1;
	d->backoff_timer = d->observe_timer = d->observe_watch = -1;
	d->connect_watch = d->connect_fd = d->fetch_watch = d->snapshot_watch = -1;
	d->watchdog_timer = d->signal_watch = d->signal_fd = d->git_timer = d->sched_timer = -1;
	d->holds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, hold_free);
	d->rebooting = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d->crashes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	d->judge_hosts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d->expected = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	d->status = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	d->status_hosts = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	d->status_pools = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	d->status_templates = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
	d->oneshots = g_ptr_array_new_with_free_func(oneshot_free);
	d->event_ids = g_array_new(FALSE, TRUE, sizeof(int));
	d->cache = obs_cache_new();
	d->host_said = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d->sched_failing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	d->tm = telemetry_new(o->version ? o->version : "unknown");
	loop_init();
	d->hist = history_open(o->db, error);
	if (!d->hist)
		goto fail;
	history_holds(d->hist, hold_load, d);
	d->sched = scheduler_new(d->hist, on_fire, d);
	d->sched_timer = loop_timer(-1, on_sched_timer, d);
	sock = o->socket ? g_strdup(o->socket) : daemon_socket_path(o->db);
	d->control = control_listen(sock, d, error);
	if (!d->control)
		goto fail;
	/* Signals first: the worker threads inherit the blocked mask. */
	d->signal_fd = loop_signalfd(signals, G_N_ELEMENTS(signals));
	d->signal_watch = loop_watch(d->signal_fd, on_signal, d);
	/* After the signals are blocked: MHD's and the receivers' threads
	 * must not take a SIGTERM meant for the signalfd. */
	if (o->metrics_address) {
		g_autoptr(GError) merr = NULL;

		d->metrics = metrics_server_start(telemetry_metrics(d->tm), o->metrics_address, &merr);
		if (d->metrics)
			g_message("metrics served on port %u (--metrics-address %s), at /metrics",
				  metrics_server_port(d->metrics), o->metrics_address);
		else if (o->metrics_default)
			g_warning("metrics not served: %s", merr->message);
		else {
			g_propagate_error(error, g_steal_pointer(&merr));
			goto fail;
		}
	}
	d->notifier = notify_new(&o->notify, d->tm, error);
	if (!d->notifier && (o->notify.webhook_url || o->notify.alertmanager_url))
		goto fail;
	holds_news_at_start(d);
	d->kick_timer = loop_timer(-1, on_kick, d);
	d->observe_timer = loop_timer(-1, on_observe_deadline, d);
	d->backoff_timer = loop_timer(-1, on_backoff, d);
	d->closed_timer = loop_timer(-1, on_closed, d);
	d->resync_timer = loop_timer((int)(o->resync_s ? o->resync_s : 300) * 1000, on_resync, d);
	if (o->observed_snapshot) {
		d->snapshot = snapshot_file_new(o->observed_snapshot);
		d->snapshot_watch = loop_watch(snapshot_file_fd(d->snapshot), on_snapshot_written, d);
	}
	if (wd_usec && g_ascii_strtoull(wd_usec, NULL, 10) >= 2000)
		d->watchdog_timer = loop_timer((int)(g_ascii_strtoull(wd_usec, NULL, 10) / 2000),
					       on_watchdog, d);
	if (o->git_url) {
		g_autofree char *mirror = g_str_has_suffix(o->db, ".db")
			? g_strdup_printf("%.*s.git", (int)strlen(o->db) - 3, o->db)
			: g_strconcat(o->db, ".git", NULL);

		d->git = source_git_new(o->git_url, o->git_branch, o->git_subdir, mirror, error);
		if (!d->git)
			goto fail;
		if (d->verifier) {
			g_autofree char *mode = NULL, *target = NULL, *ref = NULL;

			/* The anchor: the commit last verified for this very
			 * source (URL, branch, subfolder), in any mode.  It is
			 * where a range begins; it goes in force only once
			 * judged again with the keys given now (below). */
			source_git_fetch_tags(d->git, verifier_wants_tags(d->verifier));
			if (history_signature_verified(d->hist, source_git_url(d->git), source_git_branch(d->git),
						       source_git_subdir(d->git), &mode, &target, &d->base, &ref))
				g_message("signatures: the last commit verified for this source is %s (%s mode)",
					  d->base, mode);
		}
		d->git_timer = loop_timer((int)(o->git_interval_s ? o->git_interval_s : 60) * 1000,
					  on_git_timer, d);
		d->fetches = offload_new(fetch_job_free);
		d->fetch_watch = loop_watch(offload_fd(d->fetches), on_fetched, d);
		/* A local repository: its refs change the moment a commit lands. */
		if (source_git_local_refs(d->git))
			d->source = source_dir_new(source_git_local_refs(d->git),
						   o->debounce_ms ? o->debounce_ms : 200,
						   on_source_changed, d, NULL);
		/* What the mirror holds goes in force now: a first fetch that
		 * never returns must not leave the daemon without a revision.
		 * With signatures, the anchor is judged again first, on the
		 * fetch's thread (gpg and ssh-keygen never run on the loop);
		 * the fetch follows it. */
		if (d->verifier && source_git_fetched(d->git) &&
		    (d->base || verifier_mode(d->verifier) == VERIFY_TAG))
			anchor_check(d);
		else if (source_git_fetched(d->git))
			load_revision(d, "start");
		fetch_and_load(d, "start");
	} else {
		d->source = source_dir_new(o->path, o->debounce_ms ? o->debounce_ms : 200,
					   on_source_changed, d, error);
		if (!d->source)
			goto fail;
		load_revision(d, "start");
	}
	notify("READY=1");
	return d;
fail:
	daemon_free(d);
	return NULL;
}

void
daemon_free(daemon_state *d)
{
	if (!d)
		return;
	if (d->exec) {
		exec_drain(d->exec);
		while (!exec_step(d->exec, true))
			;
		reconcile_end(d);
	}
	if (d->pass.observing) {  /* late hosts' threads keep what they use */
		observe_stop_watching(d);
		pass_release(&d->pass);
	}
	loop_timer_remove(d->observe_timer);
	loop_unwatch(d->connect_watch);
	if (d->hosts) {
		for (guint i = 0; i < d->hosts->hosts->len; i++) {
			host_conn *h = d->hosts->hosts->pdata[i];

			if (h->virt)
				virt_events_stop(h->virt, g_array_index(d->event_ids, int, i));
		}
	}
	loop_timer_remove(d->kick_timer);
	loop_timer_remove(d->backoff_timer);
	loop_timer_remove(d->closed_timer);
	loop_timer_remove(d->resync_timer);
	loop_timer_remove(d->drain_timer);
	loop_unwatch(d->snapshot_watch);
	snapshot_file_free(d->snapshot);
	loop_timer_remove(d->watchdog_timer);
	loop_unwatch(d->signal_watch);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	source_dir_free(d->source);
	loop_unwatch(d->fetch_watch);
	if (d->fetching) {
		/* A fetch under way uses the mirror: it gets 2 s to end, else
		 * the mirror is left to it (and to the exit). */
		fetch_job *f = offload_take_until(d->fetches, g_get_monotonic_time() + 2 * G_USEC_PER_SEC);

		d->fetching = f == NULL;
		if (f)
			fetch_job_free(f);
	}
	offload_unref(d->fetches);
	g_free(d->fetch_again);
	/* A fetch still running keeps the mirror and the verifier it uses
	 * (the GNUPGHOME stays behind then: the process is about to exit). */
	if (!d->fetching) {
		source_git_free(d->git);
		verifier_free(d->verifier);
	}
	g_free(d->verified);
	g_free(d->verified_target);
	g_free(d->verified_ref);
	g_free(d->base);
	verify_verdict_release(&d->refused);
	verify_verdict_release(&d->unchecked);
	loop_timer_remove(d->git_timer);
	loop_timer_remove(d->sched_timer);
	scheduler_free(d->sched);
	control_free(d->control);
	hosts_free(d->hosts);
	desired_free(d->want);
	spec_source_free(d->good);
	history_close(d->hist);
	obs_cache_free(d->cache);
	g_hash_table_unref(d->holds);
	g_hash_table_unref(d->rebooting);
	g_hash_table_unref(d->crashes);
	g_hash_table_unref(d->judge_hosts);
	g_free(d->approved);
	g_free(d->bad_full);
	spec_source_free(d->next_src);
	g_free(d->next_rev);
	g_hash_table_unref(d->expected);
	g_ptr_array_unref(d->status);
	g_ptr_array_unref(d->status_hosts);
	g_ptr_array_unref(d->status_pools);
	g_ptr_array_unref(d->status_templates);
	g_ptr_array_unref(d->oneshots);
	g_array_unref(d->event_ids);
	log_set_revision(NULL);
	/* Receivers first: their threads count into the telemetry. */
	notify_free(d->notifier);
	metrics_server_stop(d->metrics);
	telemetry_free(d->tm);
	g_hash_table_unref(d->host_said);
	g_hash_table_unref(d->sched_failing);
	g_free(d->settled_full);
	g_free(d->good_digest);
	g_free(d->good_full);
	g_free(d);
}

guint16
daemon_metrics_port(const daemon_state *d)
{
	return d->metrics ? metrics_server_port(d->metrics) : 0;
}

void
daemon_iterate(daemon_state *d)
{
	(void)d;
	loop_iterate();
}

bool
daemon_approve(daemon_state *d)
{
	if (!d->good_full)
		return false;
	g_free(d->approved);
	d->approved = g_strdup(d->good_full);
	g_message("revision %s approved: removals beyond --max-removal may proceed", d->good_digest);
	daemon_request(d, "approved");
	return true;
}

bool
daemon_idle(const daemon_state *d)
{
	return !busy(d) && !d->pending;
}

guint
daemon_runs(const daemon_state *d)
{
	return d->runs;
}

virt_host *
daemon_host(daemon_state *d, const char *name)
{
	host_conn *h = d->hosts ? g_hash_table_lookup(d->hosts->by_name, name) : NULL;

	return h ? h->virt : NULL;
}

int
daemon_run(daemon_state *d)
{
	while (!d->done)
		loop_iterate();
	return 0;
}

bool
daemon_abandon(daemon_state *d)
{
	g_autoptr(GError) err = NULL;

	if (!d->drain_expired || !d->exec)
		return false;
	/* Results already queued are recorded as what they are. */
	exec_step(d->exec, false);
	if (!history_abandon_running(d->hist, "strata was stopped and its drain limit passed while this ran; "
				     "the next run observes what happened", &err))
		g_warning("%s", err->message);
	g_clear_pointer(&d->control, control_free);
	return true;
}
