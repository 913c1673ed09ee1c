/*
 * vm_change.h - what changes in a defined VM, and how it can be made
 *
 * Pure.  Compares a VM as the spec wants it with its definition as a host
 * shows it (an obs_domain read this pass, or served from the cache with
 * its disks) and classifies each difference:
 *
 *  - live: made on the running VM (AFFECT_LIVE|AFFECT_CONFIG), nothing
 *    restarts: vCPUs added within max_cpus, memory within max_memory or
 *    down, a secondary disk or NIC attached or detached, a disk grown, the
 *    CD-ROM's media changed or ejected;
 *  - next boot: only a boot makes it (fewer vCPUs, new maxima, a disk
 *    given another volume or target, a NIC moved to another network, a
 *    CD-ROM drive added or removed, a console, a boot order, the drive of
 *    the first-boot data added or removed, or a device
 *    change on a host whose driver attaches nothing live);
 *  - refused: never made (a disk shrunk), with the reason.
 *
 * A template change (the system disk rebuilt) is the planner's: it is a
 * replace, whatever else changes.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "desired.h"
#include "observe.h"

typedef enum {
	CHANGE_LIVE,
	CHANGE_NEXT_BOOT,
	CHANGE_REFUSED,
} change_class;

typedef enum {
	CH_TITLE,
	CH_VCPUS,
	CH_MEMORY,
	CH_MAXIMA,
	CH_DISK_ATTACH,
	CH_DISK_DETACH,
	CH_DISK_GROW,
	CH_DISK_SHRINK,
	CH_DISK_OTHER,     /* another volume or target: next boot */
	CH_NIC_ATTACH,
	CH_NIC_DETACH,
	CH_NIC_OTHER,      /* another network: next boot */
	CH_MEDIA,          /* the image in the CD-ROM drive, or an eject */
	CH_DRIVE,          /* a CD-ROM drive added or removed: next boot */
	CH_CONSOLE,        /* a console added, removed or changed: next boot */
	CH_BOOT,           /* the boot order: next boot */
	CH_SEED_DRIVE,     /* the first-boot data drive added or removed: next boot */
	CH_SEED,           /* the first-boot data: "live" (its volume is written,
			      which the guest reads at its next boot; the
			      planner's OP_SEED), no restart */
	CH_CONSOLE_PASSWORD, /* the console's password changed: live (QEMU takes
			      a new one while it runs), and in the definition */
	CH_RESET,          /* reset_on_reboot turned on or off: next boot (what
			      a reboot does is QEMU's, set when it starts) */
} change_kind;

typedef struct {
	change_kind kind;
	change_class cls;
	char *why;                  /* "attach disk 'data' as vdc", ... */
	const desired_disk *disk;   /* DISK_ATTACH, DISK_GROW: the spec's disk */
	char *device;               /* a disk's target, a NIC's MAC */
	char *network;              /* NIC_ATTACH */
	char *media;                /* MEDIA: "pool/volume", or NULL: ejected */
	uint64_t size;              /* DISK_GROW: bytes */
} vm_change;

/*
 * The changes from @o (whose disks and NICs are known) to @vm, whose NICs
 * get @macs (one per NIC; one still "" is given a MAC here, derived from
 * the domain's UUID, its network and its rank, so the attach and the
 * definition after it name the same address).  @active: the VM runs (or
 * is paused); @live_devices: the host's driver attaches devices live.
 * Sizes are compared only where the definition recorded one.  Of a
 * definition not read this pass (@o not detailed: served from the cache,
 * its hash the one wanted) only the disks' sizes are compared.
 */
GPtrArray *vm_changes(const desired_vm *vm, const obs_domain *o, GStrv macs,
		      bool active, bool live_devices);

/* Whether any change of @changes is of @cls. */
bool vm_changes_any(const GPtrArray *changes, change_class cls);

/* @prefix and the reasons of the changes of @cls, joined by "; ", or NULL
 * if there are none. */
char *vm_changes_why(const GPtrArray *changes, change_class cls, const char *prefix);
