/*
 * spec.h - the strata spec library: load a source, validate it
 *
 * Pure: no libvirt, no network, no I/O besides reading the source's files.
 * A load never stops at the first problem; it collects every diagnostic it
 * can, so one run of `strata validate` shows them all.
 *
 *   g_autoptr(spec_source) src = NULL;
 *   spec_diags diags;
 *
 *   spec_diags_init(&diags);
 *   src = spec_load(path, &diags);
 *   spec_validate(src, &diags);
 *   if (diags.errors) ... the source must not be acted on ...
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "diag.h"
#include "model.h"

#define SPEC_MAX_FILES     10000
#define SPEC_MAX_DIR_DEPTH 32

/*
 * Load a file, or a directory tree of *.yaml / *.yml files (dotfiles and
 * editor leftovers are not read; symlinks may not leave the tree).  Always
 * returns a source, possibly incomplete when @diags holds errors.
 */
spec_source *spec_load(const char *path, spec_diags *diags);

/* Load one file's bytes, named @name in diagnostics (e.g. "<stdin>"). */
spec_source *spec_load_buffer(const char *name, const char *buf, size_t len,
			      spec_diags *diags);

/*
 * Add one file's bytes to @src: for sources that are not folders, such as
 * the tree of a Git commit (see spec_source_new in model.h).
 */
void spec_source_add_buffer(spec_source *src, const char *name, const char *buf,
			    size_t len, spec_diags *diags);

/* The most bytes a file beside the spec (cloud-init data) may have. */
#define SPEC_MAX_SIDE_FILE_BYTES (1024u * 1024)
/* The most they may come to in all, each naming counted (memory). */
#define SPEC_MAX_SIDE_TOTAL_BYTES (64u * 1024 * 1024)

/*
 * Read @rel, which spec file @file names (a relative path, checked to
 * have no '..'), from the source, relative to @file's folder and never
 * outside the source: its bytes, or NULL with the reason in @why.
 */
typedef GBytes *(*spec_file_reader)(void *ctx, const char *file, const char *rel, char **why);

/*
 * Give each VM's cloud-init parts named as files their bytes, read by
 * @read (NULL: a source that has no folder, standard input, where naming
 * one is an error).  Each file read
 * joins @src's digest, so a change of it alone is a new revision.  The
 * bytes are never put into a message.  spec_load calls it; a source
 * assembled with spec_source_add_buffer calls it once all are added.
 */
void spec_read_side_files(spec_source *src, spec_file_reader read, void *ctx, spec_diags *diags);

/*
 * Check everything that spans documents: names, references, layers,
 * `after` cycles, schedules.  Builds the name indexes of @src.
 */
void spec_validate(spec_source *src, spec_diags *diags);

/*
 * The time zone called @name: "UTC", or an IANA name such as Europe/Paris
 * that the zone database ($TZDIR, else /usr/share/zoneinfo) holds as a
 * regular file of zone data.  Judged by its characters before any file is
 * looked at: never a path, never a POSIX TZ string (spec/README.md).  NULL
 * when refused, with the reason in @why (may be NULL; free it).
 */
GTimeZone *spec_timezone_new(const char *name, char **why);

/* @a's time zone; UTC when it names none, or none that is accepted. */
GTimeZone *spec_appliance_timezone(const spec_appliance *a);
