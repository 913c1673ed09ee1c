/*
 * observe.h - one snapshot of what every host really runs
 *
 * Per host: domains with their state (one bulk stats call), which of them
 * hold a managed save (one call), node capacity (two calls), pools and
 * volumes (one call, plus two per pool), and the size and backing file of
 * the template bases in use (three calls each).  A domain's XML is read only when strata does not know its
 * definition yet, or when the hash it knows differs from the desired one;
 * what it learns is kept in an obs_cache for the next pass.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "desired.h"
#include "hosts.h"
#include "library.h"
#include "pool_share.h"
#include "virt.h"

typedef struct obs_host obs_host;

typedef struct {
	char *name;
	char uuid[37];
	int state;               /* virt_dom_state */
	int reason;
	bool managed_save;
	bool managed;            /* carries strata's metadata */
	char *appliance;
	char *vm;
	char *hash;
	char *template;
	GStrv volumes;           /* what its definition uses: "pool/volume" */
	GStrv paths;             /* and host paths (file and block disks) */
	bool refs_known;         /* its definition was read: the two above hold */
	GStrv nics;              /* "NETWORK MAC" of each interface its definition
				    has (MAC "" when none), or NULL if not read */
	GStrv disks;             /* "TARGET SOURCE SIZE" of each disk its definition
				    has (domxml_disk_split), or NULL if not read */
	GStrv released;          /* "pool/volume" of volumes its disks let go of
				    while its running VM held them (recorded in
				    its metadata: domxml_with_released) */
	char *title;
	char *restart_required;  /* how the running VM differs from its definition
				    in what only a boot changes, or NULL */
	bool detailed;           /* XML was read this pass: the fields below hold */
	unsigned cpus;           /* its definition's, for the next boot */
	uint64_t memory;
	unsigned max_cpus;       /* what it may be given while it runs */
	uint64_t max_memory;
	char *cdrom;             /* its CD-ROM drive's image, "" when empty,
				    NULL when it has no drive (domxml_info) */
	char *console;           /* "TYPE ADDRESS" of its console, or NULL */
	char *boot;              /* its boot order, "cdrom,disk" */
	char *seed;              /* the digest of the first-boot data in its seed
				    drive, "" unrecorded, NULL: no drive */
	bool reset_on_reboot;    /* a reboot stops it (domxml_info) */
	char *console_verifier;  /* what strata recorded of its console password */
	GPtrArray *snaps;        /* virt_snap *, by time: read with its definition
				    when a change to it is due (its hash differs
				    from the wanted one), else NULL */
	obs_host *host;
} obs_domain;

/*
 * Observed state is plain data: nothing in it reaches a live connection,
 * so plan and place can be table-tested from states written by hand.
 */
struct obs_host {
	guint index;             /* position in observed.hosts */
	char *name;
	const spec_host *spec;   /* its host document (borrowed from the revision
				    observed), NULL for the implicit host */
	char *domain_type;       /* "test", "kvm" or "qemu"; NULL when unreachable */
	char *error;             /* why it is unreachable, or NULL */
	bool reachable;
	guint64 serial;          /* the connection observed (virt_host_serial) */
	virt_node node;
	GPtrArray *domains;      /* obs_domain * */
	GPtrArray *pools;        /* virt_pool * */
	GPtrArray *vols;         /* virt_vol * */
	GHashTable *vol_by_key;  /* "pool/name" -> virt_vol * */
	GHashTable *vols_of;     /* domain name -> GPtrArray of its virt_vol *:
				    the volumes its definition uses that carry
				    the names strata gives its disks */
	GHashTable *users;       /* "pool/name" -> GPtrArray of obs_domain *
				    whose definitions use that volume */
	bool refs_known;         /* every domain's definition was read */
	GHashTable *details;     /* "pool/name" -> virt_vol_detail *: the bases
				    in use, and persistent volumes about to be used */
	char *uri_digest;        /* read from a snapshot: its URI's SHA-256, or NULL */
};

typedef struct {
	GPtrArray *hosts;             /* obs_host *, in host_set order */
	GHashTable *domain_by_name;   /* first seen wins; duplicates are errors */
	GPtrArray *duplicates;        /* obs_domain *: same name on another host */
	GHashTable *shares;           /* pool name -> share_state *: what is known
					 of each declared shared pool */
	unsigned xml_reads;           /* how many domain XMLs this pass read */
	GPtrArray *libraries;         /* lib_index *, one per library document */
} observed;

/* What strata knows of domains it has seen: uuid -> definition summary. */
typedef struct obs_cache obs_cache;
obs_cache *obs_cache_new(void);
/* Reference-counted, like the desired state, for late observer threads. */
obs_cache *obs_cache_ref(obs_cache *c);
void obs_cache_free(obs_cache *c);
/* Remember the definition strata just gave domain @uuid. */
void obs_cache_remember(obs_cache *c, const char *host, const char *uuid, const char *xml);
/* Forget what strata knew of every domain: the next pass reads them all
 * (a definition changed behind strata's back). */
void obs_cache_clear(obs_cache *c);
/* Forget the domains strata does not manage (the periodic resync). */
void obs_cache_forget_unmanaged(obs_cache *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(obs_cache, obs_cache_free)

/*
 * Observing runs one thread per reachable host, each with its own
 * references to the connection, @want and @cache, so a host that misses
 * the deadline costs the caller nothing: it is unknown for this pass
 * ("no answer within N s"), and its thread, when its calls return, drops
 * what it found.  observe_begin reads @hosts on the calling thread only;
 * nothing of @hosts is touched after it returns.
 *
 * A declared shared pool whose members are not all verified on their
 * present connections is probed (pool_share.h) by the thread of its first
 * connected member, after that host has answered and released it: the
 * pass waits for the probe up to the same deadline, and a probe late for
 * it leaves the pool unverified, never the host unknown.  So a host may
 * see its next pass's observer while a probe of the last one still runs
 * there (at most one probe per pool; one silent for 3 minutes is given up).
 */
#define OBSERVE_DEADLINE_MS 60000
typedef struct observation observation;
observation *observe_begin(host_set *hosts, desired_state *want, obs_cache *cache,
			   guint deadline_ms);
/* Readable (an eventfd) each time a host answers: for an event loop. */
int observe_fd(const observation *ob);
/* Every host answered; consumes the fd's count. */
bool observe_complete(observation *ob);
/* Monotonic µs at which the hosts yet to answer are given up. */
gint64 observe_deadline(const observation *ob);
/* Block until every host answered or the deadline passed. */
void observe_wait(observation *ob);
/* What came, hosts yet to answer unknown; frees @ob (late threads keep
 * their own reference). */
observed *observe_end(observation *ob);
/* begin, wait, end: for one-shot commands and tests. */
observed *observe(host_set *hosts, desired_state *want, obs_cache *cache);
void observed_free(observed *o);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(observed, observed_free)

/*
 * An observation put together from recorded data (observe_snapshot.h):
 * a host is filled in (reachable, node, pools, vols, domains), indexed
 * with obs_host_index, given the details it had, then added, in host set
 * order.  The indexes are built by the same code as a live observation's.
 */
observed *observed_new(void);
obs_host *obs_host_new(const char *name);
void obs_host_index(obs_host *h);
/* @d is taken (allocated as observe does: g_new0, strings g_strdup). */
void obs_host_put_detail(obs_host *h, const char *pool, const char *vol, virt_vol_detail *d);
void observed_add_host(observed *o, obs_host *h);
/* A host with nothing observed, and why: unknown, never empty. */
obs_host *obs_host_unknown(const char *name, const char *why);
void obs_host_free(obs_host *h);

obs_host *observed_host(const observed *o, const char *name);
bool obs_host_has_volume(const obs_host *h, const char *pool, const char *name);
const virt_pool *obs_host_pool(const obs_host *h, const char *pool);
/*
 * Whether @pool's content on @h is known: it exists, is active, and its
 * volumes were listed.  An inactive pool or a failed listing is unknown,
 * never empty: nothing is made on the strength of a volume's absence.
 */
bool obs_host_pool_known(const obs_host *h, const char *pool);
/* A pool of @h (reachable) whose content is unknown, or NULL. */
const char *obs_host_unknown_pool(const obs_host *h);
/*
 * The volumes @domain's definition uses on @h that carry the names strata
 * gives its disks (borrowed; may be NULL).  Ownership comes from the
 * definition: a volume merely named like one is not the domain's.
 */
GPtrArray *obs_host_domain_volumes(const obs_host *h, const char *domain);
/*
 * Whether any domain on @h other than @except (NULL: any) uses the volume,
 * managed or not, by pool and name or by key (a path, an rbd image), in
 * its definition or, when it runs, its live definition with the backing
 * chains, as observed at this pass (definitions are cached; other tools'
 * are read again at each resync and on their events).  True as well when
 * some definition on @h could not be read.  A use that begins between
 * this observation and the delete is caught by obs_volume_user_now.
 */
bool obs_host_volume_used(const obs_host *h, const char *pool, const char *name,
			  const char *except);
/*
 * The last guard before a volume is deleted: whether a domain on host @v
 * uses @pool/@volume now, from a fresh listing of its domains and a fresh
 * read of each definition (and live definition, when it runs), other than
 * @except (the domain whose system disk is rebuilt).  Nothing comes from a
 * cache: a domain defined, redefined or given a disk live since the pass
 * observed the host is seen.  Four calls plus one or two per domain on the
 * host: deletes are rare, and none is undone.  *@user is the first user's
 * name (a definition that cannot be read counts as a use; a domain gone
 * meanwhile does not), or NULL.  False with @error if the host cannot list
 * its domains or find the volume.  Not seen: a shut-off domain whose disk
 * is an overlay backed by the volume (its definition names the overlay).
 */
bool obs_volume_user_now(virt_host *v, const char *pool, const char *volume, const char *except,
			 char **user, GError **error);
/*
 * Whether anything on @v stands on the file @path (an old template
 * version, before retention deletes it), read afresh: every active pool is
 * refreshed and each of its volumes' backing file compared (a stopped
 * VM's overlay names its base nowhere in the domain's definition); every
 * domain's disks, and backing chains of running ones, compared by path and
 * (with @pool) by @pool/@volume.  *@user says what stands on it, or NULL.
 * Counted as standing on it, because what they are built on cannot be
 * read: an inactive pool, a disk file outside every pool, a disk that is
 * neither a file nor a volume.  One call per volume and one or two per
 * domain: only before an old version is deleted.
 */
bool obs_file_user_now(virt_host *v, const char *path, const char *pool, const char *volume,
		       char **user, GError **error);

/* share_between for two observed hosts. */
share_verdict obs_pool_shared(const observed *o, const desired_state *want, const char *pool,
			      const obs_host *a, const obs_host *b, const char **why);

/* Whether @pool on @h holds files a qcow2 overlay can be built on (dir,
 * fs, netfs): a system disk there is an overlay of its base, not a copy. */
bool obs_host_pool_allows_backing(const obs_host *h, const char *pool);
/* Declared `state: lost` and not answering: what ran there may come back
 * elsewhere. */
bool obs_host_lost(const obs_host *h);

uint64_t obs_host_capacity(const obs_host *h, const char *pool, const char *vol);
/* Bytes @vol takes on disk (a copy moves about that), 0 if not read. */
uint64_t obs_host_allocation(const obs_host *h, const char *pool, const char *vol);
/* Its format as libvirt reads it ("qcow2"), NULL if not read. */
const char *obs_host_format(const obs_host *h, const char *pool, const char *vol);
const obs_host *obs_host_named(const observed *o, const char *name);
/* The index of library @name as read this pass (->error if it could not
 * be), or NULL if the source has no such library. */
const lib_index *obs_library(const observed *o, const char *name);
/*
 * Why @b cannot be copied onto @h from its source host, or NULL if it can
 * (free the reason): it names no source, the source does not answer or
 * lacks it, it leans on a backing file, or @h's pool is not a file pool.
 */
char *obs_base_copy_blocker(const observed *o, const desired_base *b, const obs_host *h);
/* The host @b is copied from: its source host, or for a base captured
 * from a VM, a host that answers and holds it alone; NULL if none. */
const obs_host *obs_base_source(const observed *o, const desired_base *b);
/* The library entry @b is copied from, or NULL and why not (free it). */
const lib_entry *obs_library_entry(const observed *o, const desired_base *b, char **why);
/*
 * The backing file of @vol when it lies outside its pool (a VM built on it
 * could read a host file through it), else NULL.  Only for volumes whose
 * details were read.
 */
const char *obs_host_unsafe_backing(const obs_host *h, const char *pool,
				    const char *vol);
