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
 * domain XML, no secret, and of a host's URI (one may carry a user name)
 * only its digest.  The indexes
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

/* 2: domains carry their NICs and their maxima */
#define OBSERVE_SNAPSHOT_FORMAT 4
/* A snapshot larger than this is refused, not read into memory: some
 * 40,000 VMs' worth (10,000 take 7.9 MB), and parsing takes about forty
 * times its size. */
#define OBSERVE_SNAPSHOT_MAX (32u << 20)

/*
 * The snapshot of @o taken at @taken (Unix seconds), as JSON text.  With
 * @hosts (the set @o was observed through), each host carries the SHA-256
 * of its URI, so that a plan for a revision that points a host elsewhere
 * knows the snapshot is not of it; and an unreachable host's error, which
 * libvirt writes with the URI in it, has the URI replaced by "<uri>".
 */
char *observe_snapshot_write(const observed *o, const host_set *hosts, gint64 taken);

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
 * in the order a live pass observes them, each pointed at its document
 * (@default_uri: the implicit host's, when @src has no host documents);
 * a host, library or shared pool the snapshot does not cover, or a host
 * whose URI is not the one observed, is unknown.
 * What @want needs that the snapshot lacks is added to @gaps (char *).
 */
observed *observe_snapshot_bind(observed *snap, const spec_source *src, const char *default_uri,
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
