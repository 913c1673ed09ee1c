/*
 * virt_device.c - devices of a running domain: attach, detach, grow, media
 *
 * A detach is a request to the guest: QEMU unplugs a PCI device only once
 * the guest's OS lets it go (a SCSI disk it removes at once), and libvirt
 * reports the end with a DEVICE_REMOVED event, or DEVICE_REMOVAL_FAILED.
 * virt_detach waits for either up to its deadline, and reads the live
 * definition once a second as well: the event needs an event loop (the
 * daemon's runs one; a one-shot `strata apply` has none), and an event
 * missed in between must not cost the whole deadline.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <libvirt/virterror.h>

#include "domxml.h"
#include "virt_internal.h"

/*
 * A SCSI disk needs a controller: without one libvirt adds its default
 * model (lsilogic on x86, for which guests lack a driver more often than
 * not), so the one strata's definitions name is attached first.
 */
static bool
scsi_controller(virt_host *h, virDomainPtr dom, const char *name, GError **error)
{
	static const char *const controller = "<controller type='scsi' index='0' model='virtio-scsi'/>";
	char *xml;
	bool has;

	virt_count(h);
	xml = virDomainGetXMLDesc(dom, 0);
	if (!xml)
		return virt_fail(error, "cannot read the definition of", name);
	has = strstr(xml, "<controller type='scsi'") != NULL;
	free(xml);
	virt_count(h);
	if (!has && virDomainAttachDeviceFlags(dom, controller, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG) < 0)
		return virt_fail(error, "cannot attach a SCSI controller to", name);
	return true;
}

bool
virt_attach(virt_host *h, const char *name, const char *xml, GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	int rc;

	if (!dom)
		return false;
	if (strstr(xml, "bus=\"scsi\"") && !scsi_controller(h, dom, name, error)) {
		virDomainFree(dom);
		return false;
	}
	virt_count(h);
	rc = virDomainAttachDeviceFlags(dom, xml, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG);
	if (rc < 0)
		virt_fail(error, "cannot attach a device to", name);
	virDomainFree(dom);
	return rc >= 0;
}

bool
virt_domain_active_now(virt_host *h, const char *name, bool *active, GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	int rc;

	if (!dom)
		return false;
	virt_count(h);
	rc = virDomainIsActive(dom);
	if (rc < 0)
		virt_fail(error, "cannot read the state of", name);
	*active = rc == 1;
	virDomainFree(dom);
	return rc >= 0;
}

/* One device of @name updated to @xml with @flags; @what says what
 * failed. */
static bool
update_device(virt_host *h, const char *name, const char *xml, unsigned flags, const char *what,
	      GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	int rc;

	if (!dom)
		return false;
	virt_count(h);
	rc = virDomainUpdateDeviceFlags(dom, xml, flags);
	if (rc < 0)
		virt_fail(error, what, name);
	virDomainFree(dom);
	return rc >= 0;
}

bool
virt_change_media(virt_host *h, const char *name, const char *xml, GError **error)
{
	/* FORCE: a guest that locked its tray (a mounted disc) does not keep
	 * media the spec took out. */
	return update_device(h, name, xml, VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
			     VIR_DOMAIN_DEVICE_MODIFY_FORCE, "cannot change the CD-ROM media of", error);
}

/* The running domain's graphics given @xml: QEMU's set_password; the
 * definition that follows carries it to the next boot. */
bool
virt_console_password(virt_host *h, const char *name, const char *xml, GError **error)
{
	return update_device(h, name, xml, VIR_DOMAIN_AFFECT_LIVE, "cannot set the console password of", error);
}

/*
 * What the event callbacks tell the waiting worker.  Reference-counted:
 * libvirt may still be running a callback on its event thread when the
 * worker deregisters it, and releases the callback's reference (its free
 * function) only once that is done.
 */
typedef struct {
	GMutex lock;
	GCond cond;
	bool removed;
	bool failed;
	char *alias;         /* of a removal that failed */
} removal;

static void
removal_clear(gpointer p)
{
	removal *r = p;

	g_free(r->alias);
	g_cond_clear(&r->cond);
	g_mutex_clear(&r->lock);
}

static void
removal_unref(void *p)
{
	g_atomic_rc_box_release_full(p, removal_clear);
}

static int
watch(virt_host *h, virDomainPtr dom, int event, virConnectDomainEventGenericCallback cb, removal *r)
{
	int id = virConnectDomainEventRegisterAny(h->conn, dom, event, cb, g_atomic_rc_box_acquire(r),
						  removal_unref);

	if (id < 0) {
		removal_unref(r);
		virResetLastError();
	}
	return id;
}

static void
on_removed(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	removal *r = opaque;

	(void)conn;
	(void)dom;
	(void)alias;
	g_mutex_lock(&r->lock);
	r->removed = true;
	g_cond_signal(&r->cond);
	g_mutex_unlock(&r->lock);
}

static void
on_removal_failed(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	removal *r = opaque;

	(void)conn;
	(void)dom;
	g_mutex_lock(&r->lock);
	r->failed = true;
	g_free(r->alias);
	r->alias = g_strdup(alias);
	g_cond_signal(&r->cond);
	g_mutex_unlock(&r->lock);
}

/* The element of @device in @dom's live (or inactive) definition, NULL if
 * it has none; false if the definition cannot be read. */
static bool
find_device(virt_host *h, virDomainPtr dom, const char *name, const char *device, bool inactive,
	    char **out, GError **error)
{
	char *xml;

	virt_count(h);
	xml = virDomainGetXMLDesc(dom, inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
	if (!xml)
		return virt_fail(error, "cannot read the definition of", name);
	*out = domxml_find_device(xml, device);
	free(xml);
	return true;
}

/* Wait until @device left @dom's live definition, a removal failed, or
 * @deadline (monotonic µs) passed. */
static bool
wait_removed(virt_host *h, virDomainPtr dom, const char *name, const char *device, removal *r,
	     gint64 deadline, unsigned deadline_s, GError **error)
{
	for (;;) {
		g_autofree char *still = NULL, *alias = NULL;
		bool failed;

		g_mutex_lock(&r->lock);
		if (!r->removed && !r->failed)
			g_cond_wait_until(&r->cond, &r->lock, MIN(deadline, g_get_monotonic_time() + G_USEC_PER_SEC));
		failed = r->failed;
		alias = g_strdup(r->alias);
		r->removed = false;  /* maybe another device's: the definition says */
		g_mutex_unlock(&r->lock);
		if (!find_device(h, dom, name, device, false, &still, error))
			return false;
		if (!still)
			return true;
		if (failed) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the guest of '%s' refused to release %s "
				    "(DEVICE_REMOVAL_FAILED for %s); it is gone from the definition and goes at "
				    "the next boot", name, device, alias ? alias : "?");
			return false;
		}
		if (g_get_monotonic_time() >= deadline) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the guest of '%s' did not release %s "
				    "within %u s (no DEVICE_REMOVED event); it is gone from the definition and "
				    "goes at the next boot", name, device, deadline_s);
			return false;
		}
	}
}

bool
virt_detach(virt_host *h, const char *name, const char *device, unsigned deadline_s, GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	g_autofree char *live = NULL, *config = NULL;
	removal *r = g_atomic_rc_box_new0(removal);
	int ids[2] = { -1, -1 };
	gint64 deadline;
	bool ok = false;
	int rc;

	g_mutex_init(&r->lock);
	g_cond_init(&r->cond);
	if (!dom) {
		removal_unref(r);
		return false;
	}
	if (!find_device(h, dom, name, device, false, &live, error) ||
	    !find_device(h, dom, name, device, true, &config, error))
		goto out;
	if (!live && !config) {
		ok = true;  /* gone already (a detach that ended after its deadline) */
		goto out;
	}
	/* Registered before the request, so its answer cannot come first.
	 * Without an event implementation these fail, and polling serves. */
	ids[0] = watch(h, dom, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK(on_removed), r);
	ids[1] = watch(h, dom, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVAL_FAILED,
		       VIR_DOMAIN_EVENT_CALLBACK(on_removal_failed), r);
	deadline = g_get_monotonic_time() + (gint64)deadline_s * G_USEC_PER_SEC;
	virt_count(h);
	rc = virDomainDetachDeviceFlags(dom, live ? live : config,
					live && config ? VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG :
					live ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG);
	if (rc < 0) {
		virt_fail(error, "cannot detach a device from", name);
		goto out;
	}
	ok = !live || wait_removed(h, dom, name, device, r, deadline, deadline_s, error);
out:
	for (guint i = 0; i < G_N_ELEMENTS(ids); i++)
		if (ids[i] >= 0)
			virConnectDomainEventDeregisterAny(h->conn, ids[i]);
	virDomainFree(dom);
	removal_unref(r);
	return ok;
}

/* @bytes for a disk now of @now bytes: never smaller (what is written
 * past the new end would be lost); equal is nothing to do. */
static bool
grow_checked(const char *name, const char *target, uint64_t now, uint64_t bytes, bool *nothing,
	     GError **error)
{
	*nothing = now == bytes;
	if (bytes < now) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "disk %s of '%s' is %" G_GUINT64_FORMAT
			    " bytes, more than the %" G_GUINT64_FORMAT " asked: a disk is never shrunk", target,
			    name, now, bytes);
		return false;
	}
	return true;
}

static bool
grow_live(virt_host *h, virDomainPtr dom, const char *name, const char *target, const char *pool,
	  const char *volume, uint64_t bytes, GError **error)
{
	virDomainBlockInfo info;
	g_autofree char *disk = NULL;
	g_autofree char *want = g_strdup_printf("%s/%s", pool, volume);
	bool nothing;

	/* Only the volume the spec names: the running VM may still have
	 * another on this target (a change waiting for its next boot). */
	if (!find_device(h, dom, name, target, false, &disk, error))
		return false;
	if (!disk || !domxml_disk_is(disk, pool, volume)) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "disk %s of running '%s' is not %s; nothing "
			    "was resized", target, name, want);
		return false;
	}
	virt_count(h);
	if (virDomainGetBlockInfo(dom, target, &info, 0) < 0)
		return virt_fail(error, "cannot read the size of a disk of", name);
	if (!grow_checked(name, target, info.capacity, bytes, &nothing, error))
		return false;
	virt_count(h);
	if (!nothing && virDomainBlockResize(dom, target, bytes, VIR_DOMAIN_BLOCK_RESIZE_BYTES) < 0)
		return virt_fail(error, "cannot grow a disk of", name);
	return true;
}

static bool
grow_volume(virt_host *h, const char *name, const char *pool, const char *volume, const char *target,
	    uint64_t bytes, GError **error)
{
	virStoragePoolPtr p = virt_pool_lookup(h, pool, error);
	virStorageVolPtr v;
	virStorageVolInfo info;
	bool ok = false, nothing;

	if (!p)
		return false;
	virt_count(h);
	v = virStorageVolLookupByName(p, volume);
	virStoragePoolFree(p);
	if (!v)
		return virt_fail(error, "no volume", volume);
	virt_count(h);
	if (virStorageVolGetInfo(v, &info) < 0)
		virt_fail(error, "cannot read the size of volume", volume);
	else if (grow_checked(name, target, info.capacity, bytes, &nothing, error))
		/* No SHRINK flag: libvirt itself refuses a smaller size. */
		ok = nothing || (virt_count(h), virStorageVolResize(v, bytes, 0) == 0) ||
		     virt_fail(error, "cannot grow volume", volume);
	virStorageVolFree(v);
	return ok;
}

bool
virt_disk_grow(virt_host *h, const char *name, const char *target, const char *pool, const char *volume,
	       uint64_t bytes, GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	int active;
	bool ok;

	if (!dom)
		return false;
	virt_count(h);
	active = virDomainIsActive(dom);
	if (active < 0)
		ok = virt_fail(error, "cannot read the state of", name);
	else if (active)
		/* QEMU holds the image: only it may resize it. */
		ok = grow_live(h, dom, name, target, pool, volume, bytes, error);
	else
		ok = grow_volume(h, name, pool, volume, target, bytes, error);
	virDomainFree(dom);
	return ok;
}
