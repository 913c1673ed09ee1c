/*
 * virt_internal.h - what the files that talk to libvirt (virt.c,
 * virt_copy.c, virt_device.c) share; nothing else includes it
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once
#include <libvirt/libvirt.h>

#include "virt.h"

struct virt_host {
	virConnectPtr conn;
	char *uri;
	char *domain_type;
	bool close_registered;
	int device_ids[2];        /* DEVICE_ADDED, DEVICE_REMOVED callbacks, or -1 */
	int reset_id;             /* QEMU's SHUTDOWN event callback, or -1 */
	gint closed;              /* atomic: libvirt reported the connection closed */
	char *host_uuid;
	gint calls;         /* atomic: workers count too */
	gint observed;      /* atomic: an observer reads the host */
	guint64 serial;     /* which connection this is, process-wide */
};

/* One more libvirt call made on @h (virt_host_calls). */
void virt_count(virt_host *h);
/* libvirt's thread-local last error as a GError: "@what '@subject': why". */
bool virt_fail(GError **error, const char *what, const char *subject);
virStoragePoolPtr virt_pool_lookup(virt_host *h, const char *pool, GError **error);
/* Domain @name on @h (one call), or NULL with @error. */
virDomainPtr virt_domain_lookup(virt_host *h, const char *name, GError **error);
/* The string XPath @expr gives in @xml, or NULL (empty or unreadable). */
char *virt_xpath_string(const char *xml, const char *expr);
