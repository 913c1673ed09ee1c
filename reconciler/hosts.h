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
	bool connecting;         /* an attempt runs (on its own thread) */
	bool ever_connected;
	bool was_connected;      /* a connection was made before the last one */
	guint connect_gen;       /* which attempt is this host's */
	guint abandoned;         /* attempts given up that have not returned */
	gint64 connect_began;    /* monotonic µs */
} host_conn;

typedef struct offload offload;

typedef struct {
	GPtrArray *hosts;        /* host_conn *, in spec order */
	GHashTable *by_name;
	offload *attempts;       /* connection attempts report here; shared
				    with the sets reopened from this one */
} host_set;

/*
 * Connecting never blocks the caller: each attempt runs virt_host_open on
 * a thread of its own (virConnectOpen has no timeout; a host that accepts
 * and never answers holds it forever), at most one per host at a time,
 * and reports through hosts_fd.  An unreachable host is kept, with its
 * error, so the plan holds its VMs back instead of taking them for
 * missing.
 */

/*
 * Connect to every host of @src (read-only for plans) in parallel, waiting
 * at most @deadline_ms: a host that has not answered by then is
 * unreachable ("no answer within N s") for whoever uses this set.  Fails
 * only on a configuration error (two hosts reaching one hypervisor).
 */
#define HOSTS_CONNECT_DEADLINE_MS 60000
/* The daemon gives an attempt up after the same time, and begins no new
 * one while this many given up have not returned. */
#define HOSTS_ATTEMPTS_ABANDONED_MAX 2
host_set *hosts_open(const spec_source *src, const char *default_uri, bool readonly,
		     guint deadline_ms, GError **error);
/*
 * The hosts of @src, keeping @old's connections (and attempts under way)
 * to the hosts whose URI is unchanged: they move to the new set; @old
 * keeps the rest, for the caller to free.  New hosts are not connected
 * yet: hosts_reconnect begins that.
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
 * Begin an attempt for each host whose connection is gone (never made, or
 * closed by a keepalive timeout) and whose backoff allows (1 s, doubling
 * to 60 s).  Returns at once.
 */
void hosts_reconnect(host_set *set);
/* Readable when an attempt has ended: call hosts_connected. */
int hosts_fd(const host_set *set);
/* Take the attempts' outcomes in; returns the hosts that came back
 * (borrowed).  On the thread that owns @set. */
GPtrArray *hosts_connected(host_set *set);
/* When the newest attempt still running began (monotonic µs), or 0. */
gint64 hosts_newest_attempt(const host_set *set);
