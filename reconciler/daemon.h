/*
 * daemon.h - `strata watch`: keep the hosts converged to a living source
 *
 * Everything happens on one event loop (loop.h): the source's changes,
 * libvirt's domain events, timers, the control socket and signals all
 * come down to "reconcile soon"; a reconcile plans from the loop and hands
 * its operations to the executor's worker pool, whose results come back
 * through the loop too.  Only one reconcile runs at a time; a request made
 * meanwhile runs once it has finished.
 *
 * Revisions are all or nothing: a new one is validated whole; an invalid
 * or empty one is recorded with its diagnostics and issues no operation,
 * and the last good revision stays in force.
 *
 * A Git source with a verifier (source_verify.h) loads only the commit
 * last verified: the fetch's thread judges a new head (or tag) after
 * fetching, the loop records the verdict; a refused one is recorded once,
 * shown by status, and leaves the last verified commit in force.  At
 * start, the commit last verified for this source (in any mode) is judged
 * again with the keys given now, on that thread, before it is loaded.
 *
 * Restart policy (README.md, "The daemon") uses the event detail: a guest that shut
 * itself down is restarted only with `restart: always`, a crash with
 * `always` or `on-failure`; otherwise the VM is held stopped (an override
 * that lasts until its spec changes or someone starts it).  A power-off
 * from outside strata is drift and healed like any other.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "notify.h"

typedef struct {
	const char *path;          /* the source folder (or NULL with git_url) */
	const char *git_url;       /* a Git repository instead of a folder */
	const char *git_branch;    /* default main */
	const char *git_subdir;    /* folder inside the repository */
	unsigned git_interval_s;   /* fetch period; default 60 */
	const char *connect;       /* implicit host when the source has none */
	const char *db;            /* history database */
	const char *socket;        /* control socket (default beside the database) */
	unsigned debounce_ms;      /* default 200 */
	unsigned resync_s;         /* full resync period; default 300 */
	unsigned parallel;
	unsigned shutdown_timeout_ms;
	unsigned drain_limit_ms;   /* SIGTERM: how long running ops may finish; default 30000 */
	unsigned observe_timeout_ms; /* a host not observed by then is unknown for
					the pass; default OBSERVE_DEADLINE_MS */
	bool allow_empty;
	unsigned max_removal_pct;  /* 0: PLAN_MAX_REMOVAL_PCT */
	const char *observed_snapshot; /* keep this snapshot file up to date, or NULL */
	unsigned snapshot_interval_s;  /* at most this often; default 600 */
	gint64 (*now)(void);       /* Unix seconds, for schedules; tests fake it */
	struct verifier *verifier; /* signatures a Git revision needs (source_verify.h),
				      or NULL; daemon_new takes it, failing or not */
	const char *metrics_address; /* serve /metrics there (metrics_http.h), or NULL */
	bool metrics_default;      /* the address was not asked for: one that cannot
				      be bound is a warning, not a failure */
	notify_options notify;     /* where events go (notify.h); none by default */
	const char *version;       /* strata_build_info's */
	unsigned verify_retry_ms;  /* a check that could not be made is tried
				      again at a fetch this long after (doubling
				      each time, at most an hour); default 30 s */
} daemon_options;

typedef struct daemon_state daemon_state;

/*
 * Take the database lock, open history and the control socket, load the
 * source and connect.  Fails (with a message) when another daemon holds
 * the database or the source cannot be watched.
 */
daemon_state *daemon_new(const daemon_options *o, GError **error);
void daemon_free(daemon_state *d);

/* Run until SIGTERM/SIGINT; in-flight operations finish first.  Exit code. */
int daemon_run(daemon_state *d);

/* What SIGTERM does: no new work; daemon_run returns when the running
 * operations finish, or at the drain limit (at once on a second call). */
void daemon_quit(daemon_state *d);

/*
 * After daemon_run: true if operations were still running at the drain
 * limit.  They are then recorded interrupted (committed) and the socket
 * removed; their workers still hold connections and would record their
 * results, so the caller exits at once (_exit) instead of daemon_free,
 * which waits for them.
 */
bool daemon_abandon(daemon_state *d);

/* For tests: one loop iteration; is anything left to do right now? */
void daemon_iterate(daemon_state *d);
bool daemon_idle(const daemon_state *d);
/* Confirm the revision in force: held by --max-removal, it may now proceed
 * (until the next revision, which is judged again).  False when nothing
 * is in force. */
bool daemon_approve(daemon_state *d);
guint daemon_runs(const daemon_state *d);   /* reconciles started so far */

/* For tests: the port /metrics is served on, 0 if none. */
guint16 daemon_metrics_port(const daemon_state *d);

/* For tests: run the schedule check now (what its timer does). */
void daemon_schedule_check(daemon_state *d);

/* For tests: a host connection, to act "behind strata's back". */
struct virt_host *daemon_host(daemon_state *d, const char *name);

/* The control verbs (control.c calls these). */
char *daemon_status_json(daemon_state *d);
char *daemon_schedule_json(daemon_state *d);
void daemon_request(daemon_state *d, const char *why);
/* `strata reconcile`: fetch a Git source first, then reconcile. */
void daemon_reconcile_now(daemon_state *d);
void daemon_suspend(daemon_state *d, bool suspend);
bool daemon_suspended(const daemon_state *d);
/* The revision in force (short digest), or NULL before the first good one. */
const char *daemon_revision(const daemon_state *d);

/* The socket path for database @db: strata.db -> strata.sock. */
char *daemon_socket_path(const char *db);
