/*
 * seed_iso.h - a cloud-init NoCloud seed, as an ISO 9660 image
 *
 * The image cloud-init's NoCloud source looks for: a filesystem labelled
 * `cidata` holding `user-data`, `meta-data` and, when given,
 * `network-config`, at its root.  Built in memory with libarchive's ISO
 * 9660 writer (BSD-licensed, in Debian, used by bsdtar; libisofs would
 * serve as well but is GPL, and spawning genisoimage or xorriso would put
 * a program and a temporary folder of secrets on the path).  Joliet and
 * Rock Ridge names keep the lowercase file names cloud-init reads.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

#include "../spec/spec.h"

#define SEED_ISO_LABEL "cidata"

/* The image of @parts (NULL parts are left out), or NULL with @error. */
GBytes *seed_iso_build(GBytes *const parts[SPEC_SEED_PARTS], GError **error);

/*
 * The files of ISO image @iso by name ("user-data" -> GBytes), read back
 * with libarchive, and its volume label in @label: how the tests check
 * what a guest will read.  NULL with @error if it is not an ISO image.
 */
GHashTable *seed_iso_read(GBytes *iso, char **label, GError **error);
