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

#include "hosts.h"
#include "observe.h"
#include "plan.h"

#define HISTORY_ERROR history_error_quark()
GQuark history_error_quark(void);

/* history_still_there's reasons (SQLite's own codes are the others). */
enum {
	HISTORY_ERROR_REPLACED = 1000,   /* removed or replaced: for good */
	HISTORY_ERROR_UNWRITABLE,        /* not writable now: retried */
};

typedef struct history history;

/*
 * Open @path for writing: takes the one writer's lock (a second writer,
 * `strata watch` or `strata apply`, gets G_IO_ERROR_BUSY naming the
 * holder's pid), creates and migrates the database, and marks what a crash
 * left interrupted.  A file that is not a strata database is refused.
 */
history *history_open(const char *path, GError **error);
/* For readers (`strata history`): no lock, no migration, no marking. */
history *history_open_readonly(const char *path, GError **error);
/* Where the writer's lock of database @db lives. */
char *history_lock_path(const char *db);
/* False (and why) when the database file was removed or replaced since it
 * was opened: what is written then would reach nobody. */
bool history_still_there(const history *h, GError **error);
void history_close(history *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(history, history_close)

/*
 * Which managed domains each reachable host of @have runs, kept so that a
 * host whose document disappears is not forgotten while it may still run
 * them (written only when a host's list changes).
 */
bool history_host_vms_record(history *h, const observed *have, GError **error);
/*
 * What this pass's probes found of the declared shared pools (@shares:
 * pool -> share_state *), recorded once per outcome, and what history knows
 * read back into each state: the members ever seen sharing the pool under
 * that declaration, and a refutation no probe of every member has lifted.
 * A failover onto a member that cannot be probed (lost) rests on that.
 */
bool history_shares_sync(history *h, GHashTable *shares, GError **error);
/*
 * Hosts that ran managed domains at the last look but that @hosts no
 * longer names, each as "NAME (why)"; empty when there are none.
 */
GPtrArray *history_vanished_hosts(history *h, const host_set *hosts);

/* The kind ("shutdown", "start", …) of the last operation strata carried
 * out (result done) on domain @domain (appliance.vm), or NULL. */
char *history_last_op(history *h, const char *domain);

/* Every operation without a result (the ones still running) is recorded
 * `interrupted` with @why, and its run too: strata is leaving them. */
bool history_abandon_running(history *h, const char *why, GError **error);

/*
 * What history_open found cut short by a crash: "appliance.vm" -> the host
 * where a define or volume create of it was sent and never answered (it
 * may still land there).  Borrowed; NULL for a reader.
 */
GHashTable *history_cut_short(const history *h);
/* "host/pool/volume" -> run id (gint64 *): base copies begun and never
 * verified (plan_options.unverified_copies).  A new table, the caller's. */
GHashTable *history_unverified_copies(history *h);
/* "EXPORT/TEMPLATE/VERSION" of every image export done
 * (plan_options.done_exports).  A new table, the caller's. */
GHashTable *history_done_exports(history *h);
/* "APP.VM/ID" of every revert carried out, or cut short by a crash (it may
 * have been made, and is never made twice). */
GHashTable *history_reverts_done(history *h);
/* "pool/volume" -> "TIME_US at ISO, capture failed: why" of captures
 * that failed (plan_options.failed_captures).  A new table. */
GHashTable *history_failed_captures(history *h);
/* "pool/volume" -> sha256 of every base captured from a VM (never
 * captured twice: plan_options.captured).  A new table. */
GHashTable *history_captured(history *h);
/* domain -> GStrv of "NETWORK MAC" in NIC order: what strata last defined
 * each domain with (plan_options.macs). */
GHashTable *history_nic_macs(history *h);
/* "export:NAME/TEMPLATE/VERSION" or "library:NAME/TEMPLATE/VERSION" ->
 * "TIME_US export failed: why" of exports whose last try failed
 * (plan_options.failed_exports).  A new table. */
GHashTable *history_failed_exports(history *h);
/* "host/pool/volume" -> "SHA256" of every base strata made there (copied
 * or captured, verified) and has not retired: the only ones retention may
 * delete.  "SHA256 TIME_US why" when the checks before its delete last
 * kept it (plan_options.made).  A new table. */
GHashTable *history_made(history *h);
/* Every base copied or copied from, as rows (column -> text, NULL
 * columns absent): host, pool, volume, sha256, bytes, moved, source, run,
 * time. */
GPtrArray *history_images(history *h, GError **error);
/* The checksum recorded for a base on @host (copied there, or copied from
 * there), or NULL. */
char *history_image_sha256(history *h, const char *host, const char *pool, const char *volume);

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

/*
 * Scheduled actions.  State per entry (and per VM for relative entries,
 * else vm NULL): the planned time of its last fire and how many fired.
 * Written before the fire acts, so a restart never fires twice; each
 * fire is then listed per VM with history_schedule_log.
 */
bool history_schedule_get(history *h, const char *entry, const char *vm,
			  gint64 *last_fire, guint *fires);
bool history_schedule_fired(history *h, const char *entry, const char *appliance,
			    const char *vm, const char *action, gint64 planned,
			    guint fires, GError **error);
/* One fire of one entry for one VM: planned and actual time, result. */
void history_schedule_log(history *h, const char *entry, const char *appliance,
			  const char *vm, const char *action, gint64 planned,
			  gint64 actual, const char *result);
/* When strata first started @appliance.@vm (µs), or 0. */
gint64 history_first_start(history *h, const char *appliance, const char *vm);

/*
 * A signature verification of a Git source (source_verify.h): what was
 * judged (the head commit, or a tag object), the commit it applies or
 * refuses, and the key seen, for one source (URL, branch, subfolder;
 * NULL branch or path recorded as "").  Refusals are kept for people; the
 * last success for the source, whatever the mode, is the anchor: where
 * the next range begins, and what is in force at start once verified
 * again with the keys of the day.  @unchecked: no verdict (ssh-keygen or
 * gpg could not check), not a refusal.
 */
typedef struct {
	const char *mode;
	const char *target;
	const char *commit;
	const char *tag;
	bool ok;
	const char *key_id;
	const char *signer;
	const char *reason;
	const char *url;
	const char *branch;
	const char *path;
	const char *ref;
	bool unchecked;
} history_signature;

bool history_signature_record(history *h, const history_signature *s, GError **error);
/* The last commit verified for the source @url, @branch, @path, in any
 * mode: the mode, what was judged, the commit and the tag ref (or NULL).
 * False when there is none (rows from before migration 8 name no source
 * and never match). */
bool history_signature_verified(history *h, const char *url, const char *branch, const char *path,
				char **mode, char **target, char **commit, char **ref);

/* Holds (daemon.h): a desired state that overrides the spec's, kept here
 * so a restart does not undo a scheduled power-off. */
typedef void (*history_hold_fn)(const char *domain, int state, const char *hash,
				const char *why, gpointer data);
bool history_hold_put(history *h, const char *domain, int state, const char *hash,
		      const char *why);
bool history_hold_drop(history *h, const char *domain);
void history_holds(history *h, history_hold_fn fn, gpointer data);

typedef struct {
	char *vm;             /* NULL: every VM */
	gint64 since_us;      /* 0: from the start */
	guint limit;          /* 0: no limit */
} history_query;

/* Ops as JSON-ready rows: a GPtrArray of GHashTable (column -> string). */
GPtrArray *history_ops(history *h, const history_query *q, GError **error);
