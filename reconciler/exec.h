/*
 * exec.h - carry out a plan: a bounded worker pool over the DAG
 *
 * The calling thread owns the plan, the history and the order of things
 * (workers write only their job; the loop puts the outcome on the op):
 * it hands ready operations to a GThreadPool (at most `parallel` at once,
 * at most `per_host` heavy ones on one host), commits each batch's intents to history
 * before any of them starts, and records results as they come back.  A
 * failed op skips its dependents only; everything independent still runs.
 * Transient libvirt errors are retried with capped exponential backoff.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "history.h"
#include "hosts.h"
#include "observe.h"
#include "plan.h"

/* Operations at once unless told otherwise (apply and watch --parallel). */
#define EXEC_PARALLEL_DEFAULT 16

typedef enum {
	EXEC_CONVERGED,   /* every op done */
	EXEC_PARTIAL,     /* some done, some failed or skipped */
	EXEC_FAILED,      /* nothing done, or history could not be written */
} exec_result;

typedef void (*exec_progress_fn)(const plan_op *op, guint done, guint total,
				 gpointer user);

typedef struct {
	guint parallel;           /* default EXEC_PARALLEL_DEFAULT */
	guint per_host;           /* default 4, heavy ops only (see exec.c) */
	guint retries;            /* transient errors; default 4 */
	guint backoff_ms;         /* first retry delay; default 100, capped at 5 s */
	guint shutdown_timeout_ms;/* graceful shutdown before power-off; 0 (the
				     default): each VM's shutdown_timeout */
	exec_progress_fn progress;/* called on the calling thread as ops finish */
	gpointer progress_user;
} exec_options;

void exec_options_init(exec_options *o);

/*
 * Run @p against @hosts, recording into @hist under @run.  @cache learns
 * the definitions it makes, so the next observe needs no XML read.
 * Blocks until every op has finished or been skipped.
 */
exec_result exec_plan(plan *p, host_set *hosts, history *hist, gint64 run,
		      obs_cache *cache, const exec_options *opts, GError **error);

/*
 * The same, for an event loop: exec_new starts dispatching; whenever
 * exec_fd() is readable, exec_step(x, false) takes the results in and
 * dispatches what became ready; it returns true once the plan is done.
 * exec_drain() stops dispatching (in-flight ops still finish: SIGTERM).
 * exec_finish frees the executor and says how it went.
 */
typedef struct executor executor;
executor *exec_new(plan *p, host_set *hosts, history *hist, gint64 run,
		   obs_cache *cache, const exec_options *opts);
int exec_fd(const executor *x);
bool exec_step(executor *x, bool block);
void exec_drain(executor *x);
guint exec_skip_starts(executor *x, const char *domain, const char *why);
exec_result exec_finish(executor *x, GError **error);

const char *exec_result_name(exec_result r);
