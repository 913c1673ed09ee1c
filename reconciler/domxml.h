/*
 * domxml.h - domain and volume XML, built and read with libxml2
 *
 * Every value from a spec goes into the tree as a text node or an
 * attribute value, never pasted into markup, so no spec value can add an
 * element or attribute.  strata's ownership mark lives in <metadata> in its
 * own namespace: appliance, VM and the hash of the desired definition.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "desired.h"

#define STRATA_XMLNS "https://strata.invalid/xmlns/domain/1"

/*
 * The domain XML for @vm on a host of @domain_type ("test", "qemu",
 * "kvm"), with @hash (desired_vm_hash) in its metadata.  @uuid (or NULL)
 * keeps an existing domain's identity when it is redefined, and @macs (or
 * NULL: one per NIC of @vm, "" for none) its NICs' MAC addresses.
 */
char *domxml_domain(const desired_vm *vm, const char *domain_type,
		    const char *hash, const char *uuid, const char *const *macs);

/* One device, for a live attach (AFFECT_LIVE|AFFECT_CONFIG): a disk as the
 * domain XML has it, a NIC on @network with @mac. */
char *domxml_disk(const desired_disk *d);
/* The CD-ROM drive of @vm as it should be now (its media, or none when
 * ejected), for a live media change; NULL if @vm has no drive. */
#define DOMXML_CDROM_TARGET "hdc"
/* The drive of the cloud-init seed (first-boot data): read-only, no boot. */
#define DOMXML_SEED_TARGET "hdd"
char *domxml_cdrom(const desired_vm *vm);
/* @vm's graphics element, with its password: a live password change
 * (virDomainUpdateDeviceFlags); NULL if it has no console. */
char *domxml_graphics(const desired_vm *vm);
char *domxml_nic(const char *network, const char *mac);
/* The element of the disk whose target is @device, or of the interface
 * whose MAC is @device (any case), in domain @xml: what a detach names, as
 * the domain has it.  NULL if there is not exactly one. */
char *domxml_find_device(const char *xml, const char *device);
/* A push backup job's XML for domain @xml: the disk on volume
 * @pool/@volume copied into @file (qcow2, flattened), every other disk left
 * out.  NULL unless exactly one disk is on that volume. */
char *domxml_backup(const char *xml, const char *pool, const char *volume, const char *file);
/* Whether disk element @disk (domxml_find_device) is volume @pool/@volume. */
bool domxml_disk_is(const char *disk, const char *pool, const char *volume);

/*
 * @xml with a MAC address given to each interface that has none, or NULL
 * when every one has its own.  Generated here, once, rather than by
 * libvirt at each definition: a definition without a MAC gets a new one
 * from libvirt every time, and the guest sees a new NIC.
 */
char *domxml_fill_macs(const char *xml);

/* A volume of @capacity bytes; an overlay on @backing_path when given. */
char *domxml_volume(const char *name, uint64_t capacity,
		    const char *backing_path);
/* The same with the backing file's format (a raw base too). */
char *domxml_overlay(const char *name, uint64_t capacity, const char *backing_path,
		     const char *backing_format);

/*
 * Where a running domain's graphical console listens, from its live XML:
 * type ("vnc", "spice"), address and port.  False when it has none, or
 * no port (a definition's is -1 until QEMU picks one at its start).
 */
bool domxml_console(const char *xml, char **type, char **address, unsigned *port);

/* What strata reads back from a domain's XML. */
typedef struct {
	bool managed;       /* carries strata's metadata */
	char *appliance;
	char *vm;
	char *hash;
	char *template;     /* the template its system disk was made from */
	unsigned cpus;      /* what it boots with */
	uint64_t memory;    /* bytes */
	unsigned max_cpus;  /* the most it may be given while it runs */
	uint64_t max_memory;
	GPtrArray *volumes; /* char *: "pool/volume" of its volume disks */
	GPtrArray *paths;   /* char *: host paths of its file and block disks */
	GPtrArray *nics;    /* char *: "NETWORK MAC" of each network interface, in
			       order (MAC "" when it has none) */
	GPtrArray *disks;   /* char *: "TARGET SOURCE SIZE" of each disk, in order
			       (domxml_disk_split) */
	char *title;
	GPtrArray *released; /* char *: "pool/volume" its disks let go of while
				the running VM still held them (domxml_with_released) */
	char *cdrom;        /* its CD-ROM drive's image, "pool/volume" (the
			       source's file or device when not a volume),
			       "" when empty, NULL when it has no drive */
	char *console;      /* "TYPE ADDRESS" of its graphical console, or NULL */
	char *console_verifier; /* what strata recorded of its password
				   (desired_console_verifier), or NULL */
	char *seed;         /* the digest of the first-boot data its seed drive
			       holds (strata's metadata), NULL when it has no
			       seed drive; "" for a drive without the record */
	char *boot;         /* its boot order: "cdrom,disk", "disk", ... */
	bool reset_on_reboot; /* <on_reboot>destroy</on_reboot>: a reboot
				 stops it (strata starts it on new disks) */
	char *running_differs; /* set by the observer, not the parser: how the
				  running domain differs (domxml_running_differs) */
} domxml_info;

bool domxml_parse(const char *xml, domxml_info *out);
/*
 * Domain @xml (domxml_domain) with @released ("pool/volume" each) recorded
 * in strata's metadata: volumes of disks the spec dropped that the running
 * VM still held when this definition was made.  Nothing else ties them to
 * the domain once it lets go (no definition uses them), and only a volume
 * recorded so is ever deleted for that reason.  NULL if @xml has no mark.
 */
char *domxml_with_released(const char *xml, const char *const *released);
/* The parts of a "TARGET SOURCE SIZE" disk; false if it is not one. */
bool domxml_disk_split(const char *disk, char **target, char **source, uint64_t *size);
/*
 * How a running domain (@live: its live XML) differs from its definition
 * (@config) in what only a boot changes: vCPUs, the maxima, disks,
 * NICs, the CD-ROM drive, the console, the boot order and what a reboot
 * does; NULL when it does not.  The balloon's current memory is left
 * out: a guest without a balloon driver never reaches its target, and a
 * restart would not change that.
 */
char *domxml_running_differs(const domxml_info *config, const domxml_info *live);
void domxml_info_release(domxml_info *info);
