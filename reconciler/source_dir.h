/*
 * source_dir.h - a folder of specs, watched with inotify
 *
 * Every folder of the tree is watched (new ones as they appear).  Any
 * event re-arms a debounce timer; when it fires, the owner reloads the
 * whole source and compares digests, so editor habits — write to a temp
 * file and rename, backup files, vim's 4913 probe, `sed -i`, emacs locks,
 * a ConfigMap's `..data` symlink swap — all end in one reload, and a
 * reload whose files did not change triggers nothing.  An inotify queue
 * overflow re-adds every watch and reloads; so does the folder itself being
 * deleted, moved away or replaced (looked for again every second while it
 * is gone).  The folder may be a symlink; links below it are not followed.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

typedef struct source_dir source_dir;
typedef void (*source_changed_fn)(gpointer data);

source_dir *source_dir_new(const char *path, unsigned debounce_ms,
			   source_changed_fn fn, gpointer data, GError **error);
void source_dir_free(source_dir *s);
/* Watch the tree afresh (the periodic resync: a symlinked folder swapped
 * to another target sends no event). */
void source_dir_rewatch(source_dir *s);
