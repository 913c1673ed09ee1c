/*
 * qcow2_snap.h - the snapshot table of a qcow2 image, read from its bytes
 *
 * libvirt says when an internal snapshot was taken and what its parent is,
 * but not how big it is; the image's own table does (what `qemu-img
 * snapshot -l` prints as VM SIZE: the guest memory saved with it).  Pure:
 * bytes in, sizes out; the bytes come from the host (virt_snapshot_size.c)
 * and are checked as any input is.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

/* The bytes of the header qcow2_table_at reads. */
#define QCOW2_HEADER_LEN 72
/* The most of a snapshot table strata reads (QEMU allows 64 MiB; 4 MiB is
 * thousands of snapshots with long names). */
#define QCOW2_TABLE_MAX (4u << 20)
/* QEMU's QCOW_MAX_SNAPSHOTS. */
#define QCOW2_SNAPSHOTS_MAX 65536u

/* Where the snapshot table of the image whose first @len bytes are @head
 * is, and how many entries it has; false if it is no qcow2 image (or
 * @len is short of QCOW2_HEADER_LEN). */
bool qcow2_table_at(const guint8 *head, gsize len, guint64 *offset, guint32 *count);

/*
 * Put each of the @count entries of one image's table (@len bytes read
 * from its offset) in @sizes, which the caller gives empty: name (char *)
 * -> memory state size in bytes (guint64 *).  False when the bytes do not
 * hold @count well-formed entries: *@need is then the bytes it would take
 * so far (more than @len: read more), or 0 with @error when it is
 * malformed (more than QCOW2_SNAPSHOTS_MAX entries among them).
 */
bool qcow2_table_sizes(const guint8 *table, gsize len, guint32 count, GHashTable *sizes,
		       gsize *need, GError **error);
