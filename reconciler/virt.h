/*
 * virt.h - the one place that talks to libvirt
 *
 * A virt_host is one connection to one hypervisor.  Reads are bulk calls,
 * so a pass costs a number of round trips that grows with hosts and pools,
 * never with VMs; every call is counted (virt_host_calls) so benchmarks and
 * tests can hold us to that.  Mutations take a domain or volume by name and
 * report failures as GError: VIRT_ERROR_TRANSIENT for what is worth a
 * retry (connection reset, timeouts, busy pools), VIRT_ERROR_FAILED else.
 *
 * A virt_host may be used from several threads at once (libvirt
 * connections are thread-safe; errors are per thread).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define VIRT_ERROR virt_error_quark()
GQuark virt_error_quark(void);

typedef enum {
	VIRT_ERROR_FAILED,
	VIRT_ERROR_TRANSIENT,
	VIRT_ERROR_NOT_FOUND,
} virt_error_code;

/* libvirt's virDomainState values, kept as they are. */
typedef enum {
	VIRT_DOM_NOSTATE = 0,
	VIRT_DOM_RUNNING = 1,
	VIRT_DOM_BLOCKED = 2,
	VIRT_DOM_PAUSED = 3,
	VIRT_DOM_SHUTDOWN = 4,
	VIRT_DOM_SHUTOFF = 5,
	VIRT_DOM_CRASHED = 6,
	VIRT_DOM_PMSUSPENDED = 7,
} virt_dom_state;

typedef struct virt_host virt_host;

/* Lifecycle events, libvirt's virDomainEventType values kept as they are. */
typedef enum {
	VIRT_EV_DEFINED = 0,
	VIRT_EV_UNDEFINED = 1,
	VIRT_EV_STARTED = 2,
	VIRT_EV_SUSPENDED = 3,
	VIRT_EV_RESUMED = 4,
	VIRT_EV_STOPPED = 5,
	VIRT_EV_SHUTDOWN = 6,
	VIRT_EV_PMSUSPENDED = 7,
	VIRT_EV_CRASHED = 8,
	VIRT_EV_DEVICE = 9,        /* strata's: a device added to or removed from a
				      running domain (DEVICE_ADDED, DEVICE_REMOVED) */
	VIRT_EV_GUEST_RESET = 10,  /* strata's: QEMU stops because its guest reset
				      (reboot) under on_reboot destroy; the
				      STOPPED event follows */
	VIRT_EV_COUNT,
	VIRT_EV_CLOSED = 100,      /* the connection to the host closed (domain NULL) */
} virt_event;

/* Why a domain is shut off (virDomainShutoffReason), kept by libvirt. */
typedef enum {
	VIRT_SHUTOFF_UNKNOWN = 0,
	VIRT_SHUTOFF_SHUTDOWN = 1,  /* the guest shut itself down */
	VIRT_SHUTOFF_DESTROYED = 2,
	VIRT_SHUTOFF_CRASHED = 3,
	VIRT_SHUTOFF_MIGRATED = 4,
	VIRT_SHUTOFF_SAVED = 5,
	VIRT_SHUTOFF_FAILED = 6,
	VIRT_SHUTOFF_FROM_SNAPSHOT = 7,
	VIRT_SHUTOFF_DAEMON = 8,
} virt_shutoff_reason;

/* virDomainPausedReason values strata acts on. */
#define VIRT_PAUSED_IOERROR 5
#define VIRT_PAUSED_STARTING_UP 11  /* being started (someone's start under way) */

/* Why a domain stopped (virDomainEventStoppedDetailType). */
typedef enum {
	VIRT_STOP_SHUTDOWN = 0,    /* the guest shut itself down */
	VIRT_STOP_DESTROYED = 1,   /* powered off from the host */
	VIRT_STOP_CRASHED = 2,
	VIRT_STOP_MIGRATED = 3,
	VIRT_STOP_SAVED = 4,
	VIRT_STOP_FAILED = 5,      /* the emulator failed */
	VIRT_STOP_FROM_SNAPSHOT = 6,
} virt_stop_detail;

typedef void (*virt_event_fn)(virt_host *h, const char *domain, int event,
			      int detail, gpointer data);

typedef struct {
	char *name;
	char uuid[37];
	int state;           /* virt_dom_state */
	int reason;
	bool managed_save;   /* shut off with a saved memory image */
} virt_dom;

typedef struct {
	char *pool;
	char *name;
	char *key;           /* for dir/fs/netfs pools: the file's path */
} virt_vol;

typedef struct {
	char *name;
	char *type;          /* "dir", "logical", ... */
	char *path;          /* target path, where the pool has one */
	bool active;
	bool listed;         /* active and its volumes listed: absence means absent */
	bool sized;          /* active, and the two below were read */
	uint64_t capacity;   /* bytes */
	uint64_t available;  /* bytes free for new volumes */
} virt_pool;

typedef struct {
	uint64_t capacity;
	uint64_t allocation; /* bytes it takes on disk */
	char *format;        /* "qcow2", "raw", ... or NULL */
	char *backing;       /* backing file of the image, or NULL */
} virt_vol_detail;

typedef struct {
	unsigned cpus;
	uint64_t memory;     /* bytes */
	uint64_t free_memory;
} virt_node;

/*
 * libvirt and libxml2 set up, once per process; virt_host_open does it,
 * but whoever starts threads that open connections calls it first:
 * libxml2's global set-up is not safe from two threads at once.
 */
void virt_init(void);

/*
 * Open @uri.  A test-driver URI written relative to a spec file
 * (`test:hosts/hv1.xml`) must be resolved first with virt_resolve_uri.
 */
virt_host *virt_host_open(const char *uri, bool readonly, GError **error);
/*
 * A connection is reference-counted: a thread still waiting on a host that
 * missed its deadline keeps the connection it uses.  virt_host_free drops
 * a reference; the last one closes the connection, on whichever thread
 * drops it.
 */
virt_host *virt_host_ref(virt_host *h);
void virt_host_free(virt_host *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virt_host, virt_host_free)

/* `test:REL` → `test:///ABS` against @spec_file's folder; others unchanged. */
char *virt_resolve_uri(const char *uri, const char *spec_file);

const char *virt_host_uri(const virt_host *h);
/* "test", "kvm" or "qemu": follows the driver and /dev/kvm. */
const char *virt_host_domain_type(const virt_host *h);
/* The hypervisor's host UUID from its capabilities, or NULL. */
const char *virt_host_uuid(const virt_host *h);
unsigned virt_host_calls(const virt_host *h);
/* One observer at a time per connection: false if one still reads it. */
bool virt_host_claim(virt_host *h);
void virt_host_unclaim(virt_host *h);

/*
 * Lifecycle events of every domain on @h, and its devices added or removed
 * while it runs (VIRT_EV_DEVICE), delivered on the event loop (loop.h must
 * be initialised before the connection is opened); also turns on
 * keepalive.  Returns an id for virt_events_stop, or -1.
 */
/* @fn gets lifecycle and device events on the loop thread, and
 * VIRT_EV_CLOSED (domain NULL) from whichever thread noticed: it must only
 * do thread-safe things. */
int virt_events_start(virt_host *h, virt_event_fn fn, gpointer data);
bool virt_host_closed(virt_host *h);
/* Stop them all: the lifecycle, device and close callbacks (whose data may
 * not outlive the caller, though the connection may: it is shared). */
void virt_events_stop(virt_host *h, int id);
/* False once the connection is closed (keepalive timeout, daemon gone). */
bool virt_host_alive(virt_host *h);

/* Observation: bulk reads. */
bool virt_list_domains(virt_host *h, GPtrArray **out, GError **error);
bool virt_list_pools(virt_host *h, GPtrArray **pools, GPtrArray **vols,
		     GError **error);
bool virt_node_info(virt_host *h, virt_node *out, GError **error);
bool virt_domain_xml(virt_host *h, const char *name, bool inactive,
		     char **out, GError **error);
/* Capacity and backing file of one volume (free out->backing). */
bool virt_volume_detail(virt_host *h, const char *pool, const char *name,
			virt_vol_detail *out, GError **error);

/* A graceful shutdown presses the power button again this often. */
#define VIRT_SHUTDOWN_REPRESS_MS 3000

void virt_dom_free(gpointer p);
void virt_vol_free(gpointer p);
void virt_pool_free(gpointer p);

/* Mutations. */
/* @uuid_out (37 bytes, or NULL) receives the domain's UUID. */
bool virt_define(virt_host *h, const char *xml, char *uuid_out, GError **error);
/* The same, saying whether libvirt validates @xml against its schema
 * (virt_define does on every driver but the built-in test driver). */
bool virt_define_flags(virt_host *h, const char *xml, bool validate, char *uuid_out,
		       GError **error);
bool virt_undefine(virt_host *h, const char *name, GError **error);
bool virt_start(virt_host *h, const char *name, GError **error);
/*
 * A graceful stop in two halves, so that waiting for the guest holds no
 * thread: virt_stop_begin presses the power button (*@off when nothing is
 * left to wait for: it was off, could not hear the button and was
 * powered off, or was off right after the press); virt_stop_step then takes one look, given the domain's
 * @state from a listing made at @now (-1: not listed, gone): it presses
 * again every VIRT_SHUTDOWN_REPRESS_MS and powers off at the deadline.
 * It returns true once the stop has ended, *@ok saying how.
 */
typedef struct {
	unsigned timeout_ms;
	bool was_off;        /* off at the first look: nothing was done */
	bool pressed;
	gint64 press_at;     /* monotonic µs of the first press */
	gint64 repress;
	gint64 deadline;     /* power off then */
	bool no_force;       /* at the deadline, fail instead (set before
				virt_stop_begin, which keeps it) */
} virt_stop;
bool virt_stop_begin(virt_host *h, const char *name, unsigned timeout_ms, virt_stop *s,
		     bool *off, GError **error);
bool virt_stop_step(virt_host *h, const char *name, int state, gint64 now, virt_stop *s,
		    bool *ok, GError **error);
/* Both, waiting on the calling thread (one state read per 100 ms). */
bool virt_shutdown(virt_host *h, const char *name, unsigned timeout_ms,
		   GError **error);
bool virt_destroy(virt_host *h, const char *name, GError **error);
bool virt_suspend(virt_host *h, const char *name, GError **error);
bool virt_resume(virt_host *h, const char *name, GError **error);
bool virt_managed_save(virt_host *h, const char *name, GError **error);
bool virt_managed_save_remove(virt_host *h, const char *name, GError **error);
/* The CD-ROM drive of @xml (disk XML, its target naming it) given that
 * XML's media, or none: live and in the definition, forced (a guest's
 * tray lock does not keep the disc). */
bool virt_change_media(virt_host *h, const char *name, const char *xml, GError **error);
/* Whether domain @name runs (or is paused) now: one call; false with
 * @error when it cannot be read. */
bool virt_domain_active_now(virt_host *h, const char *name, bool *active, GError **error);
/* The running domain @name's console given graphics @xml (a new password),
 * live only. */
bool virt_console_password(virt_host *h, const char *name, const char *xml, GError **error);

/*
 * Write @image (a first-boot data image) into volume @name of @pool, made
 * empty and raw if missing, in place otherwise: what lies past the image
 * is zeroed.  The upload stream; the test driver has none (an error).
 */
bool virt_seed_write(virt_host *h, const char *pool, const char *name, GBytes *image, GError **error);
/* Device XML @xml attached live and to the definition. */
bool virt_attach(virt_host *h, const char *name, const char *xml, GError **error);
/*
 * The disk whose target, or the NIC whose MAC, is @device detached live and
 * from the definition; true once the guest let it go (libvirt's
 * DEVICE_REMOVED, or the live definition without it), an error at
 * DEVICE_REMOVAL_FAILED or after @deadline_s.  A device already gone is
 * done.  Blocks the calling thread up to @deadline_s: executor threads
 * only.
 */
bool virt_detach(virt_host *h, const char *name, const char *device, unsigned deadline_s,
		 GError **error);
/* Disk @target of domain @name grown to @bytes: by QEMU (block resize)
 * while it runs, else volume @pool/@volume; never shrunk (an error). */
bool virt_disk_grow(virt_host *h, const char *name, const char *target, const char *pool,
		    const char *volume, uint64_t bytes, GError **error);
bool virt_set_vcpus(virt_host *h, const char *name, unsigned n, bool live,
		    GError **error);
bool virt_set_memory(virt_host *h, const char *name, uint64_t bytes,
		     bool live, GError **error);
bool virt_reboot(virt_host *h, const char *name, GError **error);
bool virt_pm_wakeup(virt_host *h, const char *name, GError **error);
bool virt_migrate(virt_host *h, const char *name, const char *dest_uri,
		  const char *migration_uri, bool shared, GError **error);
/* Abort @name's job under way (a migration): its call returns an error,
 * and the domain stays where it was. */
bool virt_abort_job(virt_host *h, const char *name, GError **error);
/*
 * Snapshots (virt_snapshot.c).  strata marks the ones it takes in their
 * description: only those may be reverted or deleted by a declaration.
 */
#define VIRT_SNAP_SCHEDULED "taken by strata (scheduled)"
#define VIRT_SNAP_DECLARED "taken by strata (declared)"
typedef struct {
	char *name;
	char *parent;            /* NULL for a root */
	gint64 created;          /* Unix seconds */
	char *state;             /* the domain's state when taken ("running", "shutoff") */
	char *description;       /* NULL when none */
	bool external;           /* a disk or the memory is in another file */
	bool current;
} virt_snap;
void virt_snap_free(gpointer p);
/* Whether strata took @s (by its description, or a scheduled one's name). */
bool virt_snap_ours(const virt_snap *s);
/* Take snapshot @snapshot of @name, described as @description. */
bool virt_snapshot_create(virt_host *h, const char *name, const char *snapshot,
			  const char *description, GError **error);
/* Delete @name's snapshots whose names start with @prefix, oldest first
 * (names sort by time), keeping the newest @keep. */
bool virt_snapshots_prune(virt_host *h, const char *name, const char *prefix,
			  guint keep, GError **error);
/* How many snapshots of @name start with @prefix; -1 on error. */
int virt_snapshot_count(virt_host *h, const char *name, const char *prefix);
/* Every snapshot of @name (virt_snap *, by creation time): 2 + n calls. */
bool virt_snapshot_list(virt_host *h, const char *name, GPtrArray **out, GError **error);
/* Name -> guint64 * bytes of memory saved with each internal snapshot of
 * domain @name, read from the images of its qcow2 disks (summed over
 * them; false when one of them is no volume of a pool, or cannot be
 * read): virt_snapshot_size.c.  @h must be a read-write connection. */
bool virt_snapshot_sizes(virt_host *h, const char *name, GHashTable **out, GError **error);
/* Revert @name to @snapshot: its disks, and its memory and state when the
 * snapshot has them. */
bool virt_snapshot_revert(virt_host *h, const char *name, const char *snapshot, GError **error);
/* Delete the one snapshot @snapshot of @name (its children are kept). */
bool virt_snapshot_delete(virt_host *h, const char *name, const char *snapshot, GError **error);
bool virt_vol_create(virt_host *h, const char *pool, const char *xml,
		     const char *clone_from, GError **error);
/* @pool/@name's key: its path for file pools, pool/image for rbd. */
bool virt_vol_key(virt_host *h, const char *pool, const char *name, char **key,
		  GError **error);
bool virt_vol_delete(virt_host *h, const char *pool, const char *name,
		     GError **error);
/* Read @pool's content again from its storage (a file another host made
 * appears; one it deleted goes). */
bool virt_pool_refresh(virt_host *h, const char *pool, GError **error);
/* 1 when @pool/@name exists as this host last listed the pool, 0 when it
 * does not, -1 with @error when that cannot be told (no such pool, the
 * host does not answer). */
int virt_vol_exists(virt_host *h, const char *pool, const char *name, GError **error);
/* Which connection this is: a reconnect gives a new number. */
guint64 virt_host_serial(const virt_host *h);
/*
 * Copy @pool/@name from @src into the same pool on @dst, where it must not
 * exist, streaming through this process (sparse where both pools allow).
 * With @expect_sha256, a copy whose checksum differs fails.  On any
 * failure the destination volume is deleted (the error says if it could
 * not be).  Only for file pools (dir, fs, netfs): the copy is made raw and
 * its format read from its content by a refresh of @dst's pool.
 */
typedef struct {
	char sha256[65];     /* of the image's bytes, holes read as zeros */
	uint64_t length;     /* bytes in the image */
	uint64_t moved;      /* data bytes that crossed (holes did not) */
	bool sparse;         /* streamed sparse */
	bool partial;        /* failed, and the destination volume it made
				could not be deleted */
} virt_copy;
bool virt_vol_copy(virt_host *src, virt_host *dst, const char *pool, const char *name,
		   const char *expect_sha256, virt_copy *out, GError **error);
/* The same with a file at one end: @fd, open for writing (its holes kept,
 * its size set, synced; the caller removes it on failure) ... */
bool virt_vol_download_file(virt_host *src, const char *pool, const char *name, int fd,
			    virt_copy *out, GError **error);
/* A new volume @pool/@name made by libvirt from @src_pool/@src_vol on @h,
 * flattened (a template captured from a VM's disk), and hashed. */
bool virt_vol_capture(virt_host *h, const char *pool, const char *name, const char *src_pool,
		      const char *src_vol, virt_copy *out, GError **error);
/* The same from a running domain, with no stop: a push backup job copies
 * the disk on @src_pool/@src_vol, at one instant and flattened, into a new
 * qcow2 file @pool/@name (crash-consistent), which is then hashed. */
bool virt_vol_capture_live(virt_host *h, const char *domain, const char *src_pool,
			   const char *src_vol, const char *pool, const char *name, virt_copy *out,
			   GError **error);
/* The checksum of @pool/@name on @h, read through a download stream; with
 * @expect_sha256, false when it differs.  Nothing is changed either way. */
bool virt_vol_hash(virt_host *h, const char *pool, const char *name, const char *expect_sha256,
		   virt_copy *out, GError **error);
/* ... or open for reading (@what names it in messages). */
bool virt_vol_upload_file(int fd, const char *what, virt_host *dst, const char *pool,
			  const char *name, const char *expect_sha256, virt_copy *out,
			  GError **error);
/* Start (active) or stop a storage pool; its volumes stay where they are. */
bool virt_pool_set_active(virt_host *h, const char *pool, bool active, GError **error);
