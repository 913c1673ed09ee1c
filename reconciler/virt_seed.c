/*
 * virt_seed.c - a VM's first-boot data written into its seed volume
 *
 * Through libvirt's upload stream, so the host needs no shell and this
 * machine no file.  The volume is written in place, never deleted and made
 * again: QEMU keeps the file of a running VM open, and a guest that reboots
 * reads the new data only from that same file.  Bytes past the new image
 * (a longer old one) are overwritten with zeros: an old secret does not
 * linger in the tail.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libvirt/virterror.h>
#include <string.h>

#include "virt_internal.h"

#define CHUNK (256 * 1024)

static const char zeros[CHUNK];

static bool
send_all(virt_host *h, virStreamPtr st, const char *buf, size_t n, const char *name, GError **error)
{
	while (n) {
		int k;

		virt_count(h);
		k = virStreamSend(st, buf, MIN(n, (size_t)CHUNK));
		if (k < 0)
			return virt_fail(error, "cannot write volume", name);
		buf += k;
		n -= (size_t)k;
	}
	return true;
}

static bool
send_zeros(virt_host *h, virStreamPtr st, uint64_t n, const char *name, GError **error)
{
	while (n) {
		size_t k = (size_t)MIN(n, (uint64_t)CHUNK);

		if (!send_all(h, st, zeros, k, name, error))
			return false;
		n -= k;
	}
	return true;
}

/* @name in @p, made empty and raw if it is not there; its capacity in @cap. */
static virStorageVolPtr
seed_volume(virt_host *h, virStoragePoolPtr p, const char *name, uint64_t *cap, GError **error)
{
	g_autofree char *esc = g_markup_escape_text(name, -1);
	g_autofree char *xml = NULL;
	virStorageVolInfo info;
	virStorageVolPtr vol;

	*cap = 0;
	virt_count(h);
	vol = virStorageVolLookupByName(p, name);
	if (vol) {
		virt_count(h);
		if (virStorageVolGetInfo(vol, &info) < 0) {
			virt_fail(error, "cannot read volume", name);
			virStorageVolFree(vol);
			return NULL;
		}
		*cap = info.capacity;
		return vol;
	}
	xml = g_strdup_printf("<volume><name>%s</name><capacity unit='bytes'>0</capacity>"
			      "<allocation unit='bytes'>0</allocation>"
			      "<target><format type='raw'/></target></volume>", esc);
	virt_count(h);
	if ((vol = virStorageVolCreateXML(p, xml, 0)))
		return vol;
	/* There, but not listed yet (another host of a shared pool made it):
	 * read the pool again and find it. */
	virt_fail(error, "cannot create volume", name);
	virt_count(h);
	if (virStoragePoolRefresh(p, 0) == 0 && (virt_count(h), vol = virStorageVolLookupByName(p, name))) {
		g_clear_error(error);
		virt_count(h);
		if (virStorageVolGetInfo(vol, &info) == 0) {
			*cap = info.capacity;
			return vol;
		}
		virt_fail(error, "cannot read volume", name);
		virStorageVolFree(vol);
	}
	return NULL;
}

bool
virt_seed_write(virt_host *h, const char *pool, const char *name, GBytes *image, GError **error)
{
	virStoragePoolPtr p = virt_pool_lookup(h, pool, error);
	virStorageVolPtr vol = NULL;
	virStreamPtr st = NULL;
	gsize len = 0;
	const char *data = g_bytes_get_data(image, &len);
	uint64_t cap = 0;
	bool ok = false;

	if (!p)
		return false;
	if (!(vol = seed_volume(h, p, name, &cap, error)))
		goto out;
	virt_count(h);
	if (!(st = virStreamNew(h->conn, 0))) {
		virt_fail(error, "cannot open a stream for volume", name);
		goto out;
	}
	virt_count(h);
	if (virStorageVolUpload(vol, st, 0, 0, 0) < 0) {
		virt_fail(error, "cannot write volume", name);
		goto out;
	}
	ok = send_all(h, st, data, len, name, error) &&
	     send_zeros(h, st, cap > len ? cap - len : 0, name, error);
	virt_count(h);
	if (ok)
		ok = virStreamFinish(st) == 0 || virt_fail(error, "cannot finish writing volume", name);
	else
		virStreamAbort(st);
out:
	if (st)
		virStreamFree(st);
	if (vol)
		virStorageVolFree(vol);
	virStoragePoolFree(p);
	return ok;
}
