/*
 * observe_snapshot.h - what the hosts ran, written down for a plan elsewhere
 *
 * A CI runner that must not reach the hypervisors plans from a snapshot:
 * `strata observe PATH -o json` (or a daemon, every so often) writes what
 * an observation found -- per host its state, node capacity, pools,
 * volumes, the details of the volumes planning reads, and its domains
 * with what strata's metadata and their definitions say -- and
 * `strata plan --observed FILE PATH` plans from it with no connection.
 *
 * The snapshot is plain data, nothing more than what planning reads: no
 * domain XML, no URI (one may carry a user name), no secret.  The indexes
 * a plan looks volumes and users up in are rebuilt by observe.c's own
 * code, so the plan from a snapshot is the plan the live hosts gave.
 *
 * It is exact for the revision it was taken with.  A newer revision may
 * need what the observation did not read (the details of a base no
 * template used then, a definition whose hash differs, a library or host
 * added since): observe_snapshot_bind says which, and the plan is then
 * partial, never silently different.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "observe.h"

#define OBSERVE_SNAPSHOT_FORMAT 1
/* A snapshot larger than this is refused, not read into memory. */
#define OBSERVE_SNAPSHOT_MAX (256u << 20)

/* The snapshot of @o taken at @taken (Unix seconds), as JSON text. */
char *observe_snapshot_write(const observed *o, gint64 taken);

/*
 * Read a snapshot (@what names it in messages, "observed.json").  Strict:
 * a member missing or of the wrong type is an error naming its JSON path.
 * Hosts keep the snapshot's order; ->spec is NULL until bound.
 */
observed *observe_snapshot_parse(const char *what, const char *text, gssize len,
				 gint64 *taken, GError **error);
/* The same from a regular file, OBSERVE_SNAPSHOT_MAX at most. */
observed *observe_snapshot_load(const char *file, gint64 *taken, GError **error);

/*
 * The observation @src's hosts would give, from @snap (consumed): hosts
 * in the order a live pass observes them, each pointed at its document;
 * a host, library or shared pool the snapshot does not cover is unknown.
 * What @want needs that the snapshot lacks is added to @gaps (char *).
 */
observed *observe_snapshot_bind(observed *snap, const spec_source *src,
				const desired_state *want, GPtrArray *gaps);

/*
 * A snapshot file a daemon keeps up to date.  Each write runs on a thread
 * of its own (the file may be on a share that hangs) and replaces the file
 * whole (a temporary file, synced, renamed over it), so a CI job fetching
 * it reads the old snapshot or the new, never half.  One write at a time:
 * while one is under way, snapshot_file_write refuses the next.
 */
typedef struct snapshot_file snapshot_file;
snapshot_file *snapshot_file_new(const char *path);
void snapshot_file_free(snapshot_file *f);
/* Readable when a write has ended: call snapshot_file_done. */
int snapshot_file_fd(const snapshot_file *f);
bool snapshot_file_busy(const snapshot_file *f);
/* Begin writing @text (taken); false if a write is under way or no
 * thread could start (@error). */
bool snapshot_file_write(snapshot_file *f, char *text, GError **error);
/* The outcome of the write that ended: false with @error if it failed. */
bool snapshot_file_done(snapshot_file *f, GError **error);
