/*
 * history.h - every run and operation, recorded in SQLite
 *
 * The rule that makes a crash safe: an operation's intent is committed
 * before the libvirt call that carries it out, and its result after.  A
 * process killed at any point leaves rows whose result is NULL; the next
 * history_open marks them `interrupted` (and their runs too), so history
 * says exactly which operations may or may not have happened.  The next
 * run observes the hosts and adopts whatever they did.
 *
 * WAL journal, synchronous=FULL, schema versioned by PRAGMA user_version.
 * Only the thread that opened it may use a history.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "plan.h"

#define HISTORY_ERROR history_error_quark()
GQuark history_error_quark(void);

typedef struct history history;

history *history_open(const char *path, GError **error);
void history_close(history *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(history, history_close)

/* Operations interrupted by a crash that history_open found, if any. */
unsigned history_interrupted(const history *h);

gint64 history_revision(history *h, const char *source, const char *revision,
			GError **error);
gint64 history_run_begin(history *h, const char *trigger, gint64 revision,
			 GError **error);
bool history_run_end(history *h, gint64 run, const char *result,
		     const char *summary, GError **error);

/* Intents of @ops (one transaction), before any of them is carried out. */
bool history_intents(history *h, gint64 run, plan_op **ops, guint n,
		     gint64 *row_ids, GError **error);
/* Results of @ops (one transaction), with their VM accounting. */
bool history_results(history *h, plan_op **ops, const gint64 *row_ids, guint n,
		     GError **error);

typedef struct {
	char *vm;             /* NULL: every VM */
	gint64 since_us;      /* 0: from the start */
	guint limit;          /* 0: no limit */
} history_query;

/* Ops as JSON-ready rows: a GPtrArray of GHashTable (column -> string). */
GPtrArray *history_ops(history *h, const history_query *q, GError **error);
