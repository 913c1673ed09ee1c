/*
 * desired.h - what the spec asks of each VM, flattened for diff and plan
 *
 * Pure: built from a validated spec_source alone.  A desired_vm carries
 * everything that goes into its domain definition; its hash (see domxml.h)
 * is what ownership metadata records, so a changed spec is a changed hash.
 *
 * Volume names are strata's own and make ownership structural:
 *   <appliance>.<vm>--system.qcow2   a template VM's system disk
 *   <appliance>.<vm>--<disk>.qcow2   a secondary disk
 *   persistent-<name>.qcow2          a persistent template's volume
 * Domain names always contain a '.', persistent names never do, so no
 * persistent volume can ever carry a domain's prefix.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "../spec/spec.h"

typedef enum {
	DISK_SYSTEM,       /* overlay or clone of a template base: dies with the VM */
	DISK_SECONDARY,    /* dies with the VM */
	DISK_PERSISTENT,   /* a persistent template's volume: never deleted here */
} disk_role;

typedef struct {
	disk_role role;
	char *name;        /* "system" or the disk's spec name */
	char *pool;
	char *volume;
	uint64_t capacity; /* bytes; 0 = the base volume's size */
	char *base;        /* the template base volume it is made from, or NULL */
	char *target;      /* vda, vdb, ... (virtio); sda, sdb, ... (SCSI) */
	bool scsi;         /* on a virtio-scsi controller (bus: scsi) */
} desired_disk;

typedef struct {
	char *network;
	char *mac;         /* NULL: libvirt chooses */
} desired_nic;

typedef struct {
	char *domain;      /* <appliance>.<vm> */
	char *appliance;
	char *vm;
	char *title;       /* display name or NULL */
	char *template;    /* the template its size and base come from */
	char *persistent;  /* persistent template name or NULL */
	unsigned cpus;
	uint64_t memory;
	unsigned max_cpus;   /* max_cpus as written (VM or template), 0 if not:
				vCPUs may then be added live up to it */
	uint64_t max_memory; /* the same for memory, 0 if not written */
	int state;         /* enum spec_vm_state, VM_UNDEPLOYED for undeployed appliances */
	char *layer;       /* NULL when in no layer */
	char *host;        /* the host it must run on (the operator's choice), or NULL */
	GPtrArray *after;  /* char *: VM names in the same appliance */
	GPtrArray *requires; /* char *: tags */
	int placement;     /* enum spec_placement */
	int restart;       /* enum spec_restart */
	unsigned shutdown_timeout_s; /* graceful, then a hard power-off */
	bool heal;
	bool never_disrupt;
	GPtrArray *disks;  /* desired_disk *, system disk first */
	GPtrArray *nics;   /* desired_nic * */
	GPtrArray *snapshots; /* char *: named snapshots it should have */
	char *revert_id;   /* revert: {id, snapshot}, or NULL: reverted once per id */
	char *revert_snapshot;
	bool disk_change_deletes_snapshots; /* on_disk_change: delete-snapshots */
	char *cdrom_pool;  /* the operator's image in its CD-ROM drive (hdc), */
	char *cdrom_volume; /* or NULL: no drive */
	bool cdrom_ejected; /* a drive, empty */
	GPtrArray *boot;   /* char *: "cdrom", "disk" in order; empty: the disk */
	char *console;     /* "vnc", "spice", or NULL: none */
	char *console_listen; /* the address it listens on */
	char *console_password; /* from the spec's password_file, or NULL */
	char *console_verifier; /* what the definition records of it (yescrypt,
				   desired_console_verifier), or NULL */
	/* Every boot strata makes starts on fresh disks from the template
	 * (on_reboot destroy: a guest's reboot stops it, and strata starts it
	 * again on new disks).  The spec allows it only on a template VM
	 * without disks of its own or snapshots. */
	bool reset_on_reboot;
	/* First-boot data: a cloud-init NoCloud seed (volume label cidata) in
	 * a second drive (hdd), the volume <domain>--cidata.iso in the system
	 * disk's pool, written by strata.  NULL parts are absent; meta-data is
	 * never absent (strata writes one when the spec gives none). */
	GBytes *seed[SPEC_SEED_PARTS];
	char *seed_digest; /* SHA-256 of the parts, or NULL: no cloud_init */
	char *seed_pool;
	char *seed_volume;
} desired_vm;

/*
 * What a definition records of @domain's console password: yescrypt, as
 * /etc/shadow keeps a password, salted by the domain's name (the same
 * password, the same verifier); NULL if crypt fails.
 */
char *desired_console_verifier(const char *domain, const char *password);

/* The seed volume of @domain: "<domain>--cidata.iso". */
char *desired_seed_volume(const char *domain);

typedef struct {
	char *name;
	char *pool;
	char *volume;      /* persistent-<name>.qcow2 */
	char *base;        /* the template base it is copied from */
	char *base_pool;
	uint64_t size;     /* 0 = the base's size */
	bool deleted;      /* state: deleted */
} desired_ptemplate;

/* A template's base image, and where strata fetches it for a host that
 * lacks it. */
typedef struct {
	char *template;
	char *pool;
	char *volume;
	char *source_host;  /* NULL: never copied from a host ... */
	char *source_library; /* ... nor a library ... */
	char *source_vm;    /* ... nor captured from this VM ("app.vm"): it must
			       be on every host */
	char *sha256;       /* declared checksum, or NULL */
	unsigned version;   /* the template's */
	unsigned keep;      /* captured versions kept (0: all) */
	char *disk;         /* NULL: the template's system disk; else the name
			       of its disk beside it (spec: template disks) */
	guint index;        /* 0: the system disk; k: the template's k-th disk */
	guint n_disks;      /* the template's disks, its system disk counted */
	bool live;          /* captured while it runs, from a point-in-time copy */
	unsigned cpus;      /* the template's, for a library's index */
	uint64_t memory;
} desired_base;

/* A template's image for a public cloud (kind: export). */
typedef struct {
	char *name;
	char *template;
	char *format;       /* qcow2, raw, vmdk, vhd */
	char *path;
	char *command;      /* upload command line, or NULL */
	char *region;
	unsigned timeout_s;
	unsigned attempts;
} desired_export;

/* A template library and what this source exports into it. */
typedef struct {
	char *name;
	char *path;
	GStrv exports;      /* template names */
} desired_library;

/* Why an observation reads a volume's details. */
typedef enum {
	DETAIL_BASE = 1,             /* a template base, or a persistent volume's */
	DETAIL_PERSISTENT,           /* a persistent volume: only while no domain
					uses it (before it is given to a VM) */
} desired_detail;

typedef struct {
	GPtrArray *vms;              /* desired_vm *, in spec order */
	GHashTable *vm_by_domain;    /* domain name -> desired_vm * */
	GPtrArray *ptemplates;       /* desired_ptemplate * */
	GHashTable *ptemplate_by_volume;
	GHashTable *shared_pools;    /* pool name -> GStrv: the hosts declared
					to see it as one storage */
	GHashTable *bases;           /* "pool/volume" -> desired_base *, owned */
	GHashTable *details;         /* "pool/volume" -> desired_detail: what an
					observation reads the details of */
	GPtrArray *libraries;        /* desired_library * */
	GPtrArray *exports;          /* desired_export * */
} desired_state;

/*
 * The desired state is self-contained (it borrows nothing from @src) and
 * reference-counted: an observer thread that outlives its pass keeps the
 * one it was given.  desired_free drops a reference.
 */
desired_state *desired_build(const spec_source *src);
/* The hosts declared to share @pool when @host (NULL: any) is one of
 * them, else NULL.  A declaration only: observe_* says whether it holds. */
const char *const *desired_pool_sharers(const desired_state *d, const char *pool,
					const char *host);
/* The template base @pool/@volume, or NULL when no template names it. */
const desired_base *desired_base_of(const desired_state *d, const char *pool,
				    const char *volume);
/* The library named @name, or NULL. */
const desired_library *desired_library_named(const desired_state *d, const char *name);
/* The base of template @name, or NULL. */
const desired_base *desired_base_of_template(const desired_state *d, const char *name);
desired_state *desired_ref(desired_state *d);
void desired_free(desired_state *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(desired_state, desired_free)

/*
 * The hash of everything that goes into @vm's definition on a host of
 * @domain_type: 16 hex digits.  Computed from the fields, not from the XML,
 * so it is cheap enough for every VM on every pass; DESIRED_DEF_VERSION
 * changes it when the way definitions are built changes.
 */
#define DESIRED_DEF_VERSION 1
char *desired_vm_hash(const desired_vm *vm, const char *domain_type);
/*
 * The same without the VM's snapshot declarations (`snapshots`, `revert`):
 * what a definition records until they are carried out, so that the
 * next pass reads it, and its snapshots, again.
 */
char *desired_vm_hash_before_snapshots(const desired_vm *vm, const char *domain_type);
/* Whether the VM declares snapshots or a revert. */
bool desired_vm_declares_snapshots(const desired_vm *vm);
/* "pool/volume" of the image @vm's drive holds, "" when it is empty,
 * NULL when it has no drive: as domxml_info.cdrom reads it back. */
char *desired_vm_cdrom(const desired_vm *vm);
/* @vm's boot order, "cdrom,disk" (domxml_info.boot reads it back). */
char *desired_vm_boot(const desired_vm *vm);
/* @vm's console, "TYPE ADDRESS", or NULL (domxml_info.console). */
char *desired_vm_console(const desired_vm *vm);
/* What the VM may be given while it runs: max_cpus/max_memory, else its
 * vCPUs and memory.  Placement reserves these. */
unsigned desired_vm_max_cpus(const desired_vm *vm);
uint64_t desired_vm_max_memory(const desired_vm *vm);

char *desired_volume_name(const char *domain, const char *disk);
char *desired_persistent_volume(const char *ptemplate);

/* True when @volume is a non-persistent volume of domain @domain. */
gboolean desired_volume_owned_by(const char *volume, const char *domain);
