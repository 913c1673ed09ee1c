/*
 * virt_backup.c - a template captured from a running VM: its system disk
 * copied at one instant by a libvirt push backup job, with no stop
 *
 * QEMU copies the disk as the guest sees it at the job's start (its backing
 * chain flattened) into a new qcow2 file in the template's pool, while the
 * guest keeps running and writing; what it writes after the start is not in
 * the copy.  The copy is crash-consistent: what a power cut at that instant
 * would have left on the disk.  The job runs on the host; this thread only
 * waits for it, one job-info call every BACKUP_POLL_MS, and aborts it at
 * its deadline.  Whatever fails once the job began, the job is aborted and
 * waited for, then the file it made is deleted through the pool; a job
 * that cannot be stopped leaves its file, and the error says so.  Only
 * into a file pool, and never over a volume: libvirt refuses a target
 * file that exists (no REUSE_EXTERNAL), and strata looks first.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>

#include "domxml.h"
#include "virt.h"
#include "virt_internal.h"

#define BACKUP_POLL_MS 200

/* The job's time: a minute, and ten seconds per GiB (at least ~100 MiB/s). */
static gint64
backup_deadline(unsigned long long capacity)
{
	return g_get_monotonic_time() +
	       (60 + 10 * (gint64)(capacity >> 30)) * G_USEC_PER_SEC;
}

/* @pool's folder on @h, or NULL with @error: a file pool only (a logical
 * pool's target is /dev/VG, where a file must not be written). */
static char *
pool_folder(virt_host *h, virStoragePoolPtr p, const char *pool, GError **error)
{
	g_autofree char *type = NULL;
	char *xml, *path;

	virt_count(h);
	if (!(xml = virStoragePoolGetXMLDesc(p, 0))) {
		virt_fail(error, "cannot read pool", pool);
		return NULL;
	}
	type = virt_xpath_string(xml, "string(/pool/@type)");
	path = virt_xpath_string(xml, "string(/pool/target/path)");
	free(xml);
	if (!type || (strcmp(type, "dir") && strcmp(type, "fs") && strcmp(type, "netfs")) || !path ||
	    path[0] != '/') {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "pool '%s' is not a file pool (dir, fs, netfs): "
			    "a live capture writes a file; capture into a file pool, or without live", pool);
		g_free(path);
		return NULL;
	}
	return path;
}

/* Whether @pool/@name is absent, the pool read afresh: a capture never
 * writes over a volume. */
static bool
absent(virt_host *h, virStoragePoolPtr p, const char *pool, const char *name, GError **error)
{
	virStorageVolPtr v;

	virt_count(h);
	if (virStoragePoolRefresh(p, 0) < 0)
		return virt_fail(error, "cannot read again pool", pool);
	virt_count(h);
	if (!(v = virStorageVolLookupByName(p, name))) {
		virResetLastError();
		return true;
	}
	virStorageVolFree(v);
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "volume %s/%s exists already: a capture never "
		    "writes over one", pool, name);
	return false;
}

/* The backup XML for @dom's disk on @src_pool/@src_vol, copied into @file. */
static char *
backup_xml(virt_host *h, virDomainPtr dom, const char *src_pool, const char *src_vol,
	   const char *file, GError **error)
{
	char *xml, *out;

	virt_count(h);
	if (!(xml = virDomainGetXMLDesc(dom, 0))) {
		virt_fail(error, "cannot read domain", virDomainGetName(dom));
		return NULL;
	}
	out = domxml_backup(xml, src_pool, src_vol, file);
	free(xml);
	if (!out)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "domain %s has no single disk on volume %s/%s "
			    "to capture", virDomainGetName(dom), src_pool, src_vol);
	return out;
}

/* How the job ended, once libvirt reports none under way. */
static bool
backup_outcome(virt_host *h, virDomainPtr dom, GError **error)
{
	virTypedParameterPtr params = NULL;
	int n = 0, type = VIR_DOMAIN_JOB_NONE;
	const char *msg = NULL;

	int op = -1;

	virt_count(h);
	if (virDomainGetJobStats(dom, &type, &params, &n, VIR_DOMAIN_JOB_STATS_COMPLETED) < 0)
		return virt_fail(error, "cannot read the backup job's outcome of domain", virDomainGetName(dom));
	/* Another job's outcome (one begun since by someone else) is not ours. */
	if (virTypedParamsGetInt(params, n, VIR_DOMAIN_JOB_OPERATION, &op) == 1 &&
	    op != VIR_DOMAIN_JOB_OPERATION_BACKUP) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the last job of %s is not strata's backup "
			    "(operation %d): its outcome is unknown", virDomainGetName(dom), op);
		type = VIR_DOMAIN_JOB_NONE;
	} else if (type != VIR_DOMAIN_JOB_COMPLETED) {
		virTypedParamsGetString(params, n, VIR_DOMAIN_JOB_ERRMSG, &msg);
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the backup job of %s ended without "
			    "completing (%s)", virDomainGetName(dom), msg ? msg : "libvirt gives no reason");
	}
	virTypedParamsFree(params, n);
	return type == VIR_DOMAIN_JOB_COMPLETED;
}

/* Whether no job is under way on @dom any more: aborted, and waited for
 * (BACKUP_STOP_S at most), so that the file it writes can be deleted. */
#define BACKUP_STOP_S 30

static bool
backup_stopped(virt_host *h, virDomainPtr dom)
{
	gint64 until = g_get_monotonic_time() + BACKUP_STOP_S * G_USEC_PER_SEC;
	virDomainJobInfo info;

	virt_count(h);
	virDomainAbortJob(dom);  /* fails when none runs: what follows tells */
	virResetLastError();
	for (;;) {
		virt_count(h);
		if (virDomainGetJobInfo(dom, &info) == 0 && info.type == VIR_DOMAIN_JOB_NONE)
			return true;
		virResetLastError();
		if (g_get_monotonic_time() > until)
			return false;
		g_usleep(BACKUP_POLL_MS * 1000);
	}
}

/* Until the job is no longer under way; aborted at @deadline. */
static bool
backup_wait(virt_host *h, virDomainPtr dom, gint64 deadline, GError **error)
{
	for (;;) {
		virDomainJobInfo info;

		virt_count(h);
		if (virDomainGetJobInfo(dom, &info) < 0)
			return virt_fail(error, "cannot follow the backup job of domain", virDomainGetName(dom));
		if (info.type == VIR_DOMAIN_JOB_NONE)
			return backup_outcome(h, dom, error);
		if (g_get_monotonic_time() > deadline) {
			virt_count(h);
			virDomainAbortJob(dom);
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the backup job of %s was aborted at "
				    "its deadline", virDomainGetName(dom));
			return false;
		}
		g_usleep(BACKUP_POLL_MS * 1000);
	}
}

/* The file a failed job made, deleted through its pool (read afresh),
 * once the job is stopped; if it cannot be, the file is said to be left. */
static void
backup_undo(virt_host *h, virDomainPtr dom, virStoragePoolPtr p, const char *pool, const char *name,
	    const char *file, virt_copy *out, GError **error)
{
	virStorageVolPtr v;
	bool read;

	if (!backup_stopped(h, dom)) {
		out->partial = true;
		g_prefix_error(error, "the backup job of %s could not be stopped, and the file it writes, %s, is "
			       "left; abort the job (virsh domjobabort) and delete the file by hand: ",
			       virDomainGetName(dom), file);
		return;
	}
	virt_count(h);
	read = virStoragePoolRefresh(p, 0) == 0;
	virt_count(h);
	if (!(v = virStorageVolLookupByName(p, name))) {
		virResetLastError();
		virt_count(h);
		if (!(v = virStorageVolLookupByPath(h->conn, file))) {
			virResetLastError();
			if (read)
				return;  /* the job made nothing */
			out->partial = true;
			g_prefix_error(error, "pool '%s' could not be read again, so whether the job left %s is "
				       "unknown; delete it by hand if it is there: ", pool, file);
			return;
		}
	}
	virt_count(h);
	if (virStorageVolDelete(v, 0) == 0) {
		g_prefix_error(error, "the captured volume was deleted: ");
	} else {
		out->partial = true;
		g_prefix_error(error, "the captured volume %s/%s could NOT be deleted; delete it by hand: ",
			       pool, name);
	}
	virStorageVolFree(v);
}

bool
virt_vol_capture_live(virt_host *h, const char *domain, const char *src_pool, const char *src_vol,
		      const char *pool, const char *name, virt_copy *out, GError **error)
{
	virDomainPtr dom = NULL;
	virStoragePoolPtr p = NULL;
	g_autofree char *folder = NULL, *file = NULL, *xml = NULL;
	unsigned long long capacity = 0;
	bool ok = false, began = false;

	/* A partial file an earlier attempt could not delete stays said. */
	bool partial = out->partial;

	memset(out, 0, sizeof(*out));
	out->partial = partial;
	if (!(dom = virt_domain_lookup(h, domain, error)) || !(p = virt_pool_lookup(h, pool, error)) ||
	    !(folder = pool_folder(h, p, pool, error)))
		goto out;
	if (!absent(h, p, pool, name, error))
		goto out;
	file = g_build_filename(folder, name, NULL);
	if (!(xml = backup_xml(h, dom, src_pool, src_vol, file, error)))
		goto out;
	{
		virt_vol_detail d = { 0 };

		if (!virt_volume_detail(h, src_pool, src_vol, &d, error))
			goto out;
		capacity = d.capacity;
		g_free(d.backing);
		g_free(d.format);
	}
	virt_count(h);
	if (virDomainBackupBegin(dom, xml, NULL, 0) < 0) {
		virt_fail(error, "cannot begin a backup job of domain", domain);
		goto out;
	}
	began = true;
	ok = backup_wait(h, dom, backup_deadline(capacity), error);
	if (ok) {
		virt_count(h);
		if (virStoragePoolRefresh(p, 0) < 0)
			ok = virt_fail(error, "cannot read again pool", pool);
	}
	ok = ok && virt_vol_hash(h, pool, name, NULL, out, error);
out:
	if (!ok && began) {
		/* Not retried at once: the job may still run. */
		if (*error)
			(*error)->code = VIRT_ERROR_FAILED;
		backup_undo(h, dom, p, pool, name, file, out, error);
	}
	if (p)
		virStoragePoolFree(p);
	if (dom)
		virDomainFree(dom);
	return ok;
}
