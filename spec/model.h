/*
 * model.h - the typed model of a strata source (spec/README.md)
 *
 * Every value keeps the position it was read from, so a check that runs
 * long after parsing (a dangling reference, an `after` cycle) can still
 * point at the exact line and column.  Fields are filled by the key tables
 * in schema.c; defaults are set by the *_init functions there.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "diag.h"

/* A value read from the source, with where it was read. */
typedef struct {
	char *v;            /* NULL when absent */
	spec_pos pos;
} spec_str;

typedef struct {
	int64_t v;
	bool set;
	spec_pos pos;
} spec_int;             /* integers, sizes in bytes, booleans, enums */

typedef struct {
	double v;
	bool set;
	spec_pos pos;
} spec_num;

typedef struct {
	GArray *items;      /* of spec_str, or of spec_int for int lists */
	bool set;
	spec_pos pos;
} spec_list;

/* What every document has: kind, name and where it came from. */
typedef struct {
	spec_str name;
	const char *file;   /* borrowed from spec_source.files */
	spec_pos pos;       /* start of the document */
} spec_obj;

enum spec_host_state { HOST_UP, HOST_LOST };
enum spec_lock_manager { LOCK_NONE, LOCK_VIRTLOCKD, LOCK_SANLOCK };
enum spec_ptemplate_state { PTEMPLATE_PRESENT, PTEMPLATE_DELETED };
enum spec_appliance_state { APPLIANCE_DEPLOYED, APPLIANCE_UNDEPLOYED };
enum spec_vm_state {
	VM_RUNNING, VM_STOPPED, VM_PAUSED, VM_SAVED, VM_UNDEPLOYED,
};
enum spec_restart { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NEVER };
enum spec_disk_bus { BUS_VIRTIO, BUS_SCSI };
enum spec_on_disk_change { ON_DISK_CHANGE_REFUSE, ON_DISK_CHANGE_DELETE_SNAPSHOTS };
enum spec_console { CONSOLE_VNC, CONSOLE_SPICE };

/* The parts of a cloud-init NoCloud seed, in the order of their keys. */
enum spec_seed_part { SEED_USER_DATA, SEED_META_DATA, SEED_NETWORK_CONFIG, SPEC_SEED_PARTS };

/* A graceful shutdown waits this long before powering off hard. */
#define SPEC_SHUTDOWN_TIMEOUT_S 60
enum spec_placement { PLACEMENT_SPREAD, PLACEMENT_PACK };
enum spec_disruption { DISRUPTION_ALLOWED, DISRUPTION_NEVER };
enum spec_repeat { REPEAT_NONE, REPEAT_HOURLY, REPEAT_WEEKLY, REPEAT_MONTHLY,
		   REPEAT_YEARLY };
enum spec_catch_up { CATCH_UP_ONCE, CATCH_UP_SKIP };
enum spec_action {
	ACTION_TERMINATE, ACTION_UNDEPLOY, ACTION_HOLD, ACTION_RELEASE,
	ACTION_STOP, ACTION_SUSPEND, ACTION_RESUME, ACTION_REBOOT,
	ACTION_POWEROFF, ACTION_SNAPSHOT_CREATE, ACTION_SNAPSHOT_DELETE,
};

typedef struct {
	spec_obj obj;
	spec_str uri;
	spec_str migration_uri;     /* where migration data reaches this host */
	spec_int migration_timeout; /* seconds a live migration away from this
				       host may take; 0: from the VM's memory */
	spec_list tags;
	spec_int reserve_memory;
	spec_int reserve_cpus;
	spec_num overcommit_cpus;   /* vCPUs per physical CPU; default 1 */
	spec_num overcommit_memory; /* default 1 */
	spec_int maintenance;
	spec_int state;             /* enum spec_host_state */
	spec_int lock_manager;      /* enum spec_lock_manager; unset: not declared */
} spec_host;

/*
 * A storage pool several hosts see as the same storage (NFS, a cluster
 * filesystem, shared LVM): declared, never guessed from paths, since two
 * local pools at equal paths are different disks.
 */
typedef struct {
	spec_obj obj;               /* name: the libvirt pool's, on every host */
	spec_list hosts;            /* the host documents that mount it */
	spec_int shared;            /* boolean, required */
} spec_pool;

typedef struct {
	spec_obj obj;
	spec_str pool;
	spec_str volume;
	spec_int cpus;
	spec_int memory;
	spec_int max_cpus;          /* unset: cpus (no vCPU added live) */
	spec_int max_memory;        /* unset: memory (no memory added live) */
	spec_int disk_size;
	spec_str source_host;       /* source: {host}: where strata copies the
				       base from to hosts that lack it ... */
	spec_str source_library;    /* ... or source: {library}: a library whose
				       index has this name and version ... */
	spec_str source_vm;         /* ... or source: {vm: APP.VM}: captured from
				       that VM's system disk, once per version */
	spec_int source_live;       /* source: {vm, live: true}: captured from a
				       point-in-time copy while it runs */
	spec_pos source_pos;        /* where `source` is; line 0: absent */
	spec_str sha256;            /* the base's expected checksum, or unset */
	spec_int version;           /* ≥ 1, default 1 */
	spec_int keep;              /* captured versions kept; unset: all */
	GPtrArray *disks;           /* spec_tdisk *: more disks, in order */
} spec_template;

enum spec_image_format { IMAGE_QCOW2, IMAGE_RAW, IMAGE_VMDK, IMAGE_VHD };

/*
 * A template's image exported for a public cloud: converted into a folder,
 * then handed to an upload command.
 */
typedef struct {
	spec_obj obj;
	spec_str template;
	spec_int format;            /* enum spec_image_format */
	spec_str path;              /* absolute folder */
	spec_str upload_command;    /* upload: {command, region, timeout} */
	spec_str upload_region;
	spec_int upload_timeout;    /* seconds */
	spec_int upload_attempts;
} spec_export;

/*
 * A template library: a folder on the machine strata runs on (local, or a
 * share mounted there) holding template images and an index.  `export`
 * names the templates this source puts into it.
 */
typedef struct {
	spec_obj obj;
	spec_str path;              /* absolute */
	spec_list export;           /* template names */
} spec_library;

/* A template's disk beside its system disk: every VM built on the template
 * gets one on this base. */
typedef struct {
	spec_str name;
	spec_pos pos;
	spec_str volume;            /* the base; unset on a captured template:
				       strata names it <template>-v<N>-<name>.qcow2 */
} spec_tdisk;

typedef struct {
	spec_obj obj;
	spec_str from;
	spec_str pool;
	spec_int size;
	spec_int state;             /* enum spec_ptemplate_state */
} spec_ptemplate;

typedef struct {
	spec_str name;
	spec_pos pos;
	spec_int size;
	spec_str pool;              /* default: the system disk's pool */
	spec_int bus;               /* enum spec_disk_bus */
} spec_disk;

typedef struct {
	spec_pos pos;
	spec_str network;
	spec_str mac;
} spec_nic;

typedef struct {
	spec_str name;
	spec_pos pos;
	spec_str template;
	spec_str persistent;
	spec_str display_name;
	spec_int cpus;              /* unset: from the template */
	spec_int memory;            /* unset: from the template */
	spec_int max_cpus;          /* unset: from the template, else cpus */
	spec_int max_memory;        /* unset: from the template, else memory */
	GPtrArray *disks;           /* spec_disk * */
	GPtrArray *nics;            /* spec_nic * */
	spec_str layer;
	spec_str host;              /* the host it must run on, or unset */
	spec_list after;
	spec_list requires;
	spec_int restart;           /* enum spec_restart */
	spec_int state;             /* enum spec_vm_state */
	spec_int shutdown_timeout;  /* seconds before a hard power-off */
	spec_list snapshots;        /* named snapshots it should have, taken once */
	spec_str revert_id;         /* revert: {id, snapshot}: done once per id */
	spec_str revert_snapshot;
	spec_pos revert_pos;        /* where `revert` is; line 0: absent */
	spec_int on_disk_change;    /* enum spec_on_disk_change */
	spec_str cdrom_pool;        /* cdrom: {pool, volume, ejected} */
	spec_str cdrom_volume;
	spec_int cdrom_ejected;
	spec_pos cdrom_pos;         /* where `cdrom` is; line 0: absent */
	spec_list boot;             /* boot devices in order: cdrom, disk */
	spec_int console_type;      /* console: {type, listen}: enum spec_console */
	spec_str console_listen;    /* an IP address; default 127.0.0.1 */
	spec_pos console_pos;       /* where `console` is; line 0: absent */
	spec_str console_password_file; /* a file beside the spec */
	GBytes *console_password;   /* filled by loading: its first line */
	spec_int reset_on_reboot;   /* bool: every boot on a fresh system disk */
	/* cloud_init: {user_data, meta_data, network_config}, each inline or
	 * as *_file: a file beside the spec file, inside the source. */
	spec_str ci_text[SPEC_SEED_PARTS];
	spec_str ci_file[SPEC_SEED_PARTS];
	spec_pos ci_pos;            /* where `cloud_init` is; line 0: absent */
	GBytes *ci_bytes[SPEC_SEED_PARTS]; /* filled by loading: the bytes of
					     each part given as a file */
} spec_vm;

typedef struct {
	spec_pos pos;
	spec_int action;            /* enum spec_action */
	spec_list vms;              /* unset: every VM of the appliance */
	spec_str at;
	spec_int repeat;            /* enum spec_repeat */
	spec_int hours;
	spec_list days;             /* of spec_int */
	spec_int end_count;
	spec_str end_date;
	spec_int keep;
	spec_int after_start;
	spec_int catch_up;          /* enum spec_catch_up */
	bool invalid;               /* a key had a bad value: skip "needs" checks */
	/* Filled by validation: */
	int64_t at_unix;
	int64_t end_unix;
} spec_sched;

typedef struct {
	spec_obj obj;
	spec_int state;             /* enum spec_appliance_state */
	spec_list layers;
	spec_int placement;         /* enum spec_placement */
	spec_str timezone;          /* IANA; default UTC */
	spec_int heal;              /* default true */
	spec_int disruption;        /* enum spec_disruption */
	GPtrArray *vms;             /* spec_vm * */
	GPtrArray *schedule;        /* spec_sched * */
} spec_appliance;

typedef struct {
	char *root;                 /* as given by the user */
	GPtrArray *files;           /* char *: display paths, owned */
	GPtrArray *hosts;           /* spec_host * */
	GPtrArray *templates;       /* spec_template * */
	GPtrArray *ptemplates;      /* spec_ptemplate * */
	GPtrArray *appliances;      /* spec_appliance * */
	GPtrArray *pools;           /* spec_pool * */
	GPtrArray *libraries;       /* spec_library * */
	GPtrArray *exports;         /* spec_export * */
	unsigned documents;
	unsigned load_errors;       /* errors met while reading its files */
	bool side_files_read;       /* spec_read_side_files ran */
	guint64 side_bytes;         /* read so far, against SPEC_MAX_SIDE_TOTAL_BYTES */
	GChecksum *digest;          /* over every file's name and bytes */
	/* Indexes by name, built by validation; values borrowed. */
	GHashTable *host_by_name;
	GHashTable *template_by_name;
	GHashTable *ptemplate_by_name;
	GHashTable *appliance_by_name;
	GHashTable *pool_by_name;
	GHashTable *library_by_name;
	GHashTable *export_by_name;
} spec_source;

spec_source *spec_source_new(const char *root);
void spec_source_free(spec_source *src);

/*
 * A digest of everything the source was read from (names and bytes, in
 * load order): equal digests mean an edit changed nothing.  Borrowed.
 */
const char *spec_source_digest(spec_source *src);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(spec_source, spec_source_free)

/* Names for the enums, as written in the spec (for output and messages). */
extern const char *const spec_vm_state_names[];
extern const char *const spec_restart_names[];
extern const char *const spec_disk_bus_names[];
extern const char *const spec_on_disk_change_names[];
extern const char *const spec_console_names[];
/* "user_data", ...: the keys; "user-data", ...: the seed's file names. */
extern const char *const spec_seed_keys[];
extern const char *const spec_seed_files[];
extern const char *const spec_action_names[];
extern const char *const spec_repeat_names[];
extern const char *const spec_appliance_state_names[];
extern const char *const spec_image_format_names[];
extern const char *const spec_lock_manager_names[];

/* Effective values: the VM's own, else its template's. */
const spec_template *spec_vm_template(const spec_source *src,
				      const spec_vm *vm);
int64_t spec_vm_cpus(const spec_source *src, const spec_vm *vm);
int64_t spec_vm_memory(const spec_source *src, const spec_vm *vm);
/* The most vCPUs and memory the VM may be given while it runs: its own
 * max_cpus/max_memory, else its template's, else cpus/memory.  The
 * spec_int it came from in *@from (NULL when it is cpus/memory). */
int64_t spec_vm_max_cpus(const spec_source *src, const spec_vm *vm, const spec_int **from);
int64_t spec_vm_max_memory(const spec_source *src, const spec_vm *vm, const spec_int **from);

static inline const char *
spec_list_str(const spec_list *l, guint i)
{
	return g_array_index(l->items, spec_str, i).v;
}

static inline guint
spec_list_len(const spec_list *l)
{
	return l->items ? l->items->len : 0;
}
