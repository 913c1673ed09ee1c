/*
 * pass.h - one reconcile pass up to the plan: source -> observe -> diff
 *
 * The same steps serve `plan`, `apply` and the daemon.  A pass never acts:
 * it loads and validates the source (an invalid or empty source stops it
 * before anything is observed), builds the desired state, observes the
 * hosts and computes the plan.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "desired.h"
#include "history.h"
#include "hosts.h"
#include "observe.h"
#include "plan.h"

typedef struct {
	spec_source *src;
	spec_diags diags;
	desired_state *want;
	host_set *hosts;         /* owned unless the caller passed its own */
	bool own_hosts;
	obs_cache *own_cache;    /* when the caller keeps none */
	observed *have;
	plan *plan;
	unsigned calls;          /* libvirt calls made by observe */
	unsigned calls_before;
	observation *observing;  /* between pass_plan_begin and pass_plan_end */
	history *read_hist;      /* pass_options.hist_read, borrowed */
	gint64 snapshot_taken;   /* pass_options.observed_file: when it was taken */
	GPtrArray *snapshot_gaps;/* char *: what the plan needed that it lacks */
} pass;

typedef struct {
	const char *path;        /* the source */
	const char *connect;     /* implicit host when the source has none */
	bool readonly;           /* plans open read-only connections */
	plan_options plan;
	history *hist;           /* the writer's history, or NULL (see pass_plan) */
	history *hist_read;      /* without @hist: a history only read from, for
				    what the plan learns there (copies never
				    verified, checksums, exports done) */
	const char *observed_file; /* plan from this snapshot (observe_snapshot.h),
				    opening no connection */
} pass_options;

/*
 * Load, validate, observe (or read o->observed_file), plan.  A snapshot
 * that lacks what the revision needs makes the plan partial, each gap a
 * note.  Returns false with diagnostics in
 * p->diags (an invalid source) or @error (hosts); p is filled as far as it
 * got and must be released with pass_release either way.  @hosts and
 * @cache may be NULL (one-shot) or kept by the caller across passes.
 */
bool pass_run(pass *p, const pass_options *o, host_set *hosts, obs_cache *cache,
	      GError **error);
void pass_release(pass *p);

/*
 * The second half of pass_run for a source already loaded and validated
 * (the daemon's last good revision, borrowed: p->src stays NULL).  With
 * @hist, hosts gone from the source that ran managed domains hold creation
 * back (plan_options.vanished), and what each host runs is recorded.
 */
void pass_plan(pass *p, spec_source *src, host_set *hosts, obs_cache *cache,
	       const plan_options *opts, history *hist);

/*
 * pass_plan in two halves, for an event loop: begin starts the hosts'
 * observer threads and returns (observe_fd(p->observing) says when one
 * answers); end takes what came by then (a host yet to answer is unknown
 * for this pass) and plans, on the caller's thread, which also reads and
 * writes @hist.  Between the two the caller keeps @src, @hosts and @cache
 * alive and does not rebind @hosts.
 */
void pass_plan_begin(pass *p, spec_source *src, host_set *hosts, obs_cache *cache,
		     guint deadline_ms);
void pass_plan_end(pass *p, const plan_options *opts, history *hist);
/* Plan again from the same observation (with other holds, say). */
void pass_replan(pass *p, const plan_options *opts, history *hist);
