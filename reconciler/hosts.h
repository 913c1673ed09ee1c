/*
 * hosts.h - the set of hypervisors a source names, one connection each
 *
 * Host documents give the hosts; a source without any runs on one
 * implicit host, `--connect URI` (default test:///default).  Two host
 * documents that reach the same hypervisor are refused.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "../spec/spec.h"
#include "virt.h"

typedef struct {
	char *name;              /* host document name, or "default" */
	const spec_host *spec;   /* NULL for the implicit host */
	char *uri;               /* resolved */
	virt_host *virt;         /* NULL when unreachable */
	char *error;             /* why it is unreachable */
	bool readonly;
	gint64 next_try;         /* monotonic µs: no reconnect before */
	guint backoff_ms;
	bool close_reported;     /* its close was logged */
} host_conn;

typedef struct {
	GPtrArray *hosts;        /* host_conn *, in spec order */
	GHashTable *by_name;
} host_set;

/*
 * Connect to every host of @src (read-only for plans).  An unreachable
 * host is kept, with its error, so the plan can hold its VMs back instead
 * of mistaking them for missing.  Fails only on a configuration error.
 */
host_set *hosts_open(const spec_source *src, const char *default_uri,
		     bool readonly, GError **error);
/*
 * The same, keeping @old's connections to the hosts whose URI is unchanged
 * (they move to the new set; @old keeps the rest, for the caller to free).
 */
host_set *hosts_reopen(const spec_source *src, const char *default_uri,
		       bool readonly, host_set *old, GError **error);
void hosts_free(host_set *set);

/*
 * Point the hosts at the documents of @src, a newer revision of the same
 * source (host_conn.spec borrows from it).  Hosts @src no longer names
 * keep spec NULL; hosts it adds are not connected here.
 */
void hosts_bind(host_set *set, const spec_source *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(host_set, hosts_free)

unsigned hosts_calls(const host_set *set);

/*
 * Reopen the hosts whose connection is gone (never made, or closed by a
 * keepalive timeout), each no more often than its backoff allows (1 s,
 * doubling to 60 s).  Returns the hosts that came back (borrowed).
 */
GPtrArray *hosts_reconnect(host_set *set);
