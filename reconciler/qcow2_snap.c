/*
 * qcow2_snap.c - the snapshot table of a qcow2 image, read from its bytes
 *
 * The layout is QEMU's docs/interop/qcow2.txt: big-endian; the header's
 * nb_snapshots at byte 60 and snapshots_offset at 64; each entry a 40-byte
 * fixed part, its extra data (vm_state_size_large first when there are 8
 * bytes of it), its id and name, padded to 8 bytes (not the last one
 * when the table ends the file: QEMU does not write that padding).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "qcow2_snap.h"
#include "virt.h"

#define ENTRY_FIXED 40
#define EXTRA_MAX 1024          /* QEMU's QCOW_MAX_SNAPSHOT_EXTRA_DATA */

static guint64
be64(const guint8 *p)
{
	guint64 v;

	memcpy(&v, p, sizeof(v));
	return GUINT64_FROM_BE(v);
}

static guint32
be32(const guint8 *p)
{
	guint32 v;

	memcpy(&v, p, sizeof(v));
	return GUINT32_FROM_BE(v);
}

static guint16
be16(const guint8 *p)
{
	guint16 v;

	memcpy(&v, p, sizeof(v));
	return GUINT16_FROM_BE(v);
}

bool
qcow2_table_at(const guint8 *head, gsize len, guint64 *offset, guint32 *count)
{
	/* Version 1 has the same magic and another layout. */
	if (len < QCOW2_HEADER_LEN || memcmp(head, "QFI\xfb", 4) != 0 ||
	    (be32(head + 4) != 2 && be32(head + 4) != 3))
		return false;
	*count = be32(head + 60);
	*offset = be64(head + 64);
	return true;
}

static bool
malformed(GError **error, guint32 i, const char *what)
{
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the image's snapshot table is malformed at entry %u: %s",
		    i + 1, what);
	return false;
}

/* One entry at @p (@left bytes there): its name and memory size, and its
 * length padded; false with *need (more bytes) or @error. */
static bool
entry(const guint8 *p, gsize left, gsize at, guint32 i, bool last, char **name, guint64 *size,
      gsize *length, gsize *need, GError **error)
{
	guint32 extra;
	guint16 id_len, name_len;
	gsize n;

	if (left < ENTRY_FIXED) {
		*need = at + ENTRY_FIXED;
		return false;
	}
	id_len = be16(p + 12);
	name_len = be16(p + 14);
	extra = be32(p + 36);
	if (extra > EXTRA_MAX)
		return malformed(error, i, "more extra data than QEMU writes");
	n = ENTRY_FIXED + extra + id_len + name_len;
	/* Padded to 8 bytes, but the last entry's padding may lie past the
	 * end of the file (QEMU does not write it). */
	if (!last)
		n = (n + 7) & ~(gsize)7;
	if (left < n) {
		*need = at + n;
		return false;
	}
	*size = extra >= 8 ? be64(p + ENTRY_FIXED) : be32(p + 32);
	*name = g_strndup((const char *)p + ENTRY_FIXED + extra + id_len, name_len);
	if (strlen(*name) != name_len) {
		g_clear_pointer(name, g_free);
		return malformed(error, i, "a NUL in its name");
	}
	*length = n;
	return true;
}

bool
qcow2_table_sizes(const guint8 *table, gsize len, guint32 count, GHashTable *sizes,
		  gsize *need, GError **error)
{
	gsize at = 0;

	*need = 0;
	if (count > QCOW2_SNAPSHOTS_MAX) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the image's snapshot table counts %u "
			    "snapshots, more than QEMU allows (%u)", count, QCOW2_SNAPSHOTS_MAX);
		return false;
	}
	for (guint32 i = 0; i < count; i++) {
		g_autofree char *name = NULL;
		guint64 size, *have;
		gsize n;

		if (!entry(table + at, len - at, at, i, i + 1 == count, &name, &size, &n, need, error))
			return false;
		at += n;
		/* A name twice in one image (QEMU keeps ids unique, not names):
		 * the larger. */
		have = g_hash_table_lookup(sizes, name);
		if (!have) {
			have = g_new0(guint64, 1);
			g_hash_table_insert(sizes, g_steal_pointer(&name), have);
		}
		*have = MAX(*have, size);
	}
	return true;
}
