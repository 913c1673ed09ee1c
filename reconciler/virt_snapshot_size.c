/*
 * virt_snapshot_size.c - how big a VM's internal snapshots are
 *
 * libvirt does not say; the qcow2 images do.  The header of each qcow2
 * disk's volume and then its snapshot table are downloaded (a few small
 * reads per disk, through the storage driver, so a remote host serves
 * them as a local one) and read by qcow2_snap.c.  Download needs a
 * read-write connection.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include "qcow2_snap.h"
#include "virt_internal.h"

/* Up to @len bytes of @vol (at @path) from @offset (fewer at its end)
 * into @out. */
static bool
read_range(virt_host *h, virStorageVolPtr vol, const char *path, guint64 offset, gsize len,
	   GByteArray *out, GError **error)
{
	virStreamPtr st;
	char buf[65536];
	int n;

	g_byte_array_set_size(out, 0);
	virt_count(h);
	st = virStreamNew(h->conn, 0);
	virt_count(h);
	if (!st || virStorageVolDownload(vol, st, offset, len, 0) < 0) {
		virt_fail(error, "cannot read", path);
		if (st)
			virStreamFree(st);
		return false;
	}
	/* The storage driver sends at most @len bytes, then the end. */
	while ((n = virStreamRecv(st, buf, sizeof(buf))) > 0 && out->len + (gsize)n <= len)
		g_byte_array_append(out, (const guint8 *)buf, (guint)n);
	if (n != 0 || virStreamFinish(st) < 0) {
		if (n > 0)
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s: more than asked for", path);
		else
			virt_fail(error, "cannot read", path);
		virStreamAbort(st);
		virStreamFree(st);
		return false;
	}
	virStreamFree(st);
	return true;
}

/* Add every entry of @from to @to, summing. */
static void
merge(GHashTable *to, GHashTable *from)
{
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, from);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		guint64 *sum = g_hash_table_lookup(to, k), add = *(guint64 *)v;

		if (!sum) {
			sum = g_new0(guint64, 1);
			g_hash_table_insert(to, g_strdup(k), sum);
		}
		*sum = *sum > G_MAXUINT64 - add ? G_MAXUINT64 : *sum + add;
	}
}

/* Add the snapshots of the qcow2 volume @vol (at @path) to @sizes.  The
 * table is read whole at once when its entries' fixed parts fit in 64
 * KiB, else in windows that double: a few reads, whatever it counts. */
static bool
volume_sizes(virt_host *h, virStorageVolPtr vol, const char *path, GHashTable *sizes, GError **error)
{
	g_autoptr(GByteArray) b = g_byte_array_new();
	guint64 offset;
	guint32 count;
	gsize want, need;

	if (!read_range(h, vol, path, 0, QCOW2_HEADER_LEN, b, error))
		return false;
	if (!qcow2_table_at(b->data, b->len, &offset, &count)) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s is not a qcow2 image of version 2 or 3", path);
		return false;
	}
	if (!count)
		return true;
	if (count > QCOW2_SNAPSHOTS_MAX) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s counts %u snapshots, more than QEMU allows",
			    path, count);
		return false;
	}
	want = MIN(MAX((gsize)65536, (gsize)count * 48), (gsize)QCOW2_TABLE_MAX);
	for (;;) {
		g_autoptr(GHashTable) mine = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

		if (!read_range(h, vol, path, offset, want, b, error))
			return false;
		if (qcow2_table_sizes(b->data, b->len, count, mine, &need, error)) {
			merge(sizes, mine);
			return true;
		}
		if (!need)
			return false;
		if (b->len < want || want >= QCOW2_TABLE_MAX) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the snapshot table of %s is %s", path,
				    b->len < want ? "cut short" : "larger than strata reads");
			return false;
		}
		want = MIN(MAX(need, want * 2), (gsize)QCOW2_TABLE_MAX);
	}
}

/* The volume of one disk source element (pool and volume, or a path),
 * or NULL with @error: a disk that is no volume of a pool cannot be read
 * (and might be the one that holds the memory). */
static virStorageVolPtr
source_volume(virt_host *h, xmlNodePtr n, GError **error)
{
	g_autofree char *pool = (char *)xmlGetProp(n, BAD_CAST "pool");
	g_autofree char *volume = (char *)xmlGetProp(n, BAD_CAST "volume");
	g_autofree char *file = (char *)xmlGetProp(n, BAD_CAST "file");
	g_autofree char *dev = (char *)xmlGetProp(n, BAD_CAST "dev");
	const char *what = file ? file : dev;
	virStorageVolPtr vol = NULL;

	if (pool && volume) {
		virStoragePoolPtr p = virt_pool_lookup(h, pool, error);

		if (!p)
			return NULL;
		virt_count(h);
		vol = virStorageVolLookupByName(p, volume);
		virStoragePoolFree(p);
		if (!vol)
			virt_fail(error, "cannot find volume", volume);
		return vol;
	}
	if (what) {
		virt_count(h);
		vol = virStorageVolLookupByPath(h->conn, what);
		if (!vol)
			virt_fail(error, "no pool holds disk", what);
		return vol;
	}
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "a qcow2 disk is neither a volume nor a file");
	return NULL;
}

bool
virt_snapshot_sizes(virt_host *h, const char *name, GHashTable **out, GError **error)
{
	g_autoptr(GHashTable) sizes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autofree char *xml = NULL;
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr r;
	bool ok = true;

	if (!virt_domain_xml(h, name, false, &xml, error))
		return false;
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	ctx = doc ? xmlXPathNewContext(doc) : NULL;
	/* The qcow2 disks' own images (the format libvirt was told, never
	 * guessed from a raw disk's first bytes, which its guest writes), not
	 * their backing chains: a snapshot is in the image the VM writes. */
	r = ctx ? xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk[@device='disk'][driver/@type='qcow2']/source",
					 ctx) : NULL;
	for (int i = 0; ok && r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		virStorageVolPtr vol = source_volume(h, r->nodesetval->nodeTab[i], error);
		char *path = NULL;

		if (vol) {
			virt_count(h);
			path = virStorageVolGetPath(vol);
		}
		ok = vol && path ? volume_sizes(h, vol, path, sizes, error)
				 : (vol ? virt_fail(error, "cannot read the path of a disk of", name) : false);
		free(path);
		if (vol)
			virStorageVolFree(vol);
	}
	if (!doc && ok)
		ok = (g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot read the definition of %s", name), false);
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	if (ok)
		*out = g_steal_pointer(&sizes);
	return ok;
}
