/*
 * library.h - a template library: a folder of template images and an index
 *
 * A library is a folder on the machine strata runs on, local or a share
 * mounted there, that several strata installations (datacenters) may use:
 *
 *   index.json                      what is in it (below)
 *   strata-library                  a marker: a folder with neither file is
 *                                   not a library (a share not mounted)
 *   <template>/<version>/diskN.qcow2   the images, by template and version
 *                                   (disk0 the system disk, then the
 *                                   template's disks in order)
 *   .index.lock                     held (flock) while the index is rewritten
 *
 * index.json: {"format": 1, "templates": [{"name", "version", "cpus",
 * "memory" (bytes), "made" (ISO 8601), "made_by" (host it was exported
 * from), "disks": [{"file" (relative to the folder), "format",
 * "virtual_size", "bytes", "sha256"}]}]}.  Disks keep their order.  An
 * entry is added once, when its image is whole and synced, and never
 * changed: a new image is a new version.
 *
 * The index is input from a share anyone may write: it is read strictly;
 * every file is opened beneath the folder with openat2 (no symlink, no
 * "..": a planted link cannot send a read or a root write elsewhere),
 * regular files only (a FIFO would block), and the index lock is waited
 * for a minute at most.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdint.h>

#include "virt.h"

typedef struct {
	char *file;            /* relative to the library folder */
	char *format;          /* "qcow2" or "raw" */
	uint64_t virtual_size;
	uint64_t bytes;
	char *sha256;
} lib_disk;

typedef struct {
	char *name;
	unsigned version;
	unsigned cpus;
	uint64_t memory;
	char *made;
	char *made_by;
	GPtrArray *disks;      /* lib_disk *, in order */
} lib_entry;

typedef struct {
	char *name;            /* the library document's */
	char *path;            /* its folder */
	GPtrArray *entries;    /* lib_entry * */
	char *error;           /* it could not be read, and why; NULL if read */
} lib_index;

/* Read @path/index.json (none yet: an empty library).  Never NULL: a
 * library that cannot be read has ->error. */
lib_index *lib_index_read(const char *name, const char *path);
/* The index from JSON text (tests; @what names it in messages). */
lib_index *lib_index_parse(const char *name, const char *path, const char *what,
			   const char *json, gssize len);
/* The index as its index.json holds it (lib_index_parse reads it back). */
JsonNode *lib_index_to_json(const lib_index *x);
/* A library whose index could not be read now, and why (@error taken):
 * unknown, with no entries; nothing is copied from or into it. */
lib_index *lib_index_unknown(const char *name, const char *path, char *error);
void lib_index_free(lib_index *x);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(lib_index, lib_index_free)

const lib_entry *lib_index_find(const lib_index *x, const char *name, unsigned version);
/* "1, 2, 4" or "none": the versions of @name, for messages. */
char *lib_index_versions(const lib_index *x, const char *name);

/* What an export puts into a library: a template version's disks, in
 * order (the system disk first), from one host and pool. */
typedef struct {
	const char *host;
	const char *pool;
	const char *template;
	unsigned version;
	unsigned cpus;
	uint64_t memory;
	guint n;
	const char *const *volumes;
	const char *const *formats;  /* "qcow2" or "raw" */
	const uint64_t *sizes;       /* virtual sizes, bytes */
} lib_export_of;

/*
 * Export @x's disks from @h into the library at @path: each streamed into
 * a temporary file (sparse, hashed, synced), then, under the index lock,
 * all renamed into place (disk0, disk1, ... in order) and added to the
 * index as one entry, unless an entry for it appeared meanwhile (another
 * installation exported it first: its entry stands, ours is dropped).
 * @out gets the system disk's checksum and the sizes of all.
 */
bool lib_export(const char *path, virt_host *h, const lib_export_of *x, virt_copy *out,
		GError **error);

/* Copy library image @file (relative to the library at @path, opened
 * beneath it: no symlink on the way, a regular file) into @pool/@volume
 * on @dst; its checksum must be @sha256. */
bool lib_import(const char *path, const char *file, virt_host *dst, const char *pool,
		const char *volume, const char *sha256, virt_copy *out, GError **error);
