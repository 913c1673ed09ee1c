/*
 * vm_change.c - what changes in a defined VM, and how it can be made
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "domxml.h"
#include "plan.h"
#include "vm_change.h"

static void
change_free(gpointer p)
{
	vm_change *c = p;

	g_free(c->why);
	g_free(c->device);
	g_free(c->network);
	g_free(c->media);
	g_free(c);
}

G_GNUC_PRINTF(3, 4)
static vm_change *
add(GPtrArray *out, change_kind kind, const char *fmt, ...)
{
	vm_change *c = g_new0(vm_change, 1);
	va_list ap;

	c->kind = kind;
	va_start(ap, fmt);
	c->why = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_ptr_array_add(out, c);
	return c;
}

static void
classify(vm_change *c, change_class cls)
{
	c->cls = cls;
}

static void
cpus_change(GPtrArray *out, const desired_vm *vm, const obs_domain *o)
{
	vm_change *c;

	if (vm->cpus == o->cpus)
		return;
	if (vm->max_cpus && vm->cpus > o->cpus && vm->cpus <= o->max_cpus && !o->restart_required) {
		c = add(out, CH_VCPUS, "%u → %u vCPUs within max %u", o->cpus, vm->cpus, o->max_cpus);
		classify(c, CHANGE_LIVE);
		return;
	}
	if (o->restart_required)
		c = add(out, CH_VCPUS, "%u → %u vCPUs (the running VM differs from its definition until it "
			"restarts: %s)", o->cpus, vm->cpus, o->restart_required);
	else if (vm->cpus < o->cpus)
		c = add(out, CH_VCPUS, "%u → %u vCPUs (vCPUs are added live, not removed: the guest "
			"would have to give them back)", o->cpus, vm->cpus);
	else if (vm->max_cpus)
		c = add(out, CH_VCPUS, "%u → %u vCPUs, beyond the running maximum of %u", o->cpus,
			vm->cpus, o->max_cpus);
	else
		c = add(out, CH_VCPUS, "%u → %u vCPUs (set max_cpus to add them live)", o->cpus, vm->cpus);
	classify(c, CHANGE_NEXT_BOOT);
}

static void
memory_change(GPtrArray *out, const desired_vm *vm, const obs_domain *o)
{
	uint64_t max = MAX(o->max_memory, o->memory);
	vm_change *c;

	if (vm->memory == o->memory)
		return;
	if (!o->restart_required && (vm->memory < o->memory || (vm->max_memory && vm->memory <= o->max_memory))) {
		c = add(out, CH_MEMORY, "%" G_GUINT64_FORMAT " → %" G_GUINT64_FORMAT " MiB within max %"
			G_GUINT64_FORMAT " MiB", o->memory >> 20, vm->memory >> 20, max >> 20);
		classify(c, CHANGE_LIVE);
		return;
	}
	if (o->restart_required)
		c = add(out, CH_MEMORY, "%" G_GUINT64_FORMAT " → %" G_GUINT64_FORMAT " MiB (the running VM differs "
			"from its definition until it restarts: %s)", o->memory >> 20, vm->memory >> 20,
			o->restart_required);
	else
		c = add(out, CH_MEMORY, "%" G_GUINT64_FORMAT " → %" G_GUINT64_FORMAT " MiB, beyond the running "
			"maximum of %" G_GUINT64_FORMAT " MiB%s", o->memory >> 20, vm->memory >> 20, max >> 20,
			vm->max_memory ? "" : " (set max_memory to add it live)");
	classify(c, CHANGE_NEXT_BOOT);
}

/* The maxima are part of the machine: a VM without them has max = what it
 * boots with, and its vCPU or memory change says so already. */
static void
maxima_change(GPtrArray *out, const desired_vm *vm, const obs_domain *o)
{
	unsigned cpus = desired_vm_max_cpus(vm);
	uint64_t mem = desired_vm_max_memory(vm);
	vm_change *c;

	if (cpus != o->max_cpus && (vm->max_cpus || o->max_cpus != o->cpus)) {
		c = add(out, CH_MAXIMA, "max_cpus %u → %u (the maxima are part of the machine)",
			o->max_cpus, cpus);
		classify(c, CHANGE_NEXT_BOOT);
	}
	if (o->max_memory && mem != o->max_memory && (vm->max_memory || o->max_memory != o->memory)) {
		c = add(out, CH_MAXIMA, "max_memory %" G_GUINT64_FORMAT " → %" G_GUINT64_FORMAT " MiB (the "
			"maxima are part of the machine)", o->max_memory >> 20, mem >> 20);
		classify(c, CHANGE_NEXT_BOOT);
	}
}

/* The observed disk on @target, split; false if there is none. */
static bool
observed_disk(const obs_domain *o, const char *target, char **source, uint64_t *size)
{
	for (guint i = 0; o->disks && o->disks[i]; i++) {
		g_autofree char *t = NULL;
		char *s = NULL;

		if (!domxml_disk_split(o->disks[i], &t, &s, size))
			continue;
		if (strcmp(t, target) == 0) {
			*source = s;
			return true;
		}
		g_free(s);
	}
	return false;
}

static void
size_change(GPtrArray *out, const desired_disk *d, uint64_t recorded, bool resizable)
{
	g_autofree char *from = plan_size_text(recorded);
	g_autofree char *to = plan_size_text(d->capacity);
	vm_change *c;

	/* Secondary disks only: a system disk is made at least as large as
	 * its base, which its recorded size does not say; a persistent volume
	 * is its template's.  A size strata did not record is not known
	 * without a call per disk. */
	if (d->role != DISK_SECONDARY || !recorded || !d->capacity || recorded == d->capacity)
		return;
	if (d->capacity < recorded) {
		c = add(out, CH_DISK_SHRINK, "disk '%s' (%s) %s → %s: a disk is never shrunk (what is "
			"written past %s would be lost); set its size back", d->name, d->target, from, to, to);
		classify(c, CHANGE_REFUSED);
		return;
	}
	if (!resizable) {
		/* Recorded in a definition alone, it would never be made. */
		c = add(out, CH_DISK_SHRINK, "disk '%s' (%s) %s → %s: a disk grows while its VM runs or "
			"is off, not while it is paused, and on a host whose driver resizes (not libvirt's "
			"test driver)", d->name, d->target, from, to);
		classify(c, CHANGE_REFUSED);
		return;
	}
	c = add(out, CH_DISK_GROW, "grow disk '%s' (%s) %s → %s", d->name, d->target, from, to);
	c->disk = d;
	c->device = g_strdup(d->target);
	c->size = d->capacity;
	classify(c, CHANGE_LIVE);
}

/* The target of the observed disk whose source is @source, or NULL. */
static char *
observed_target(const obs_domain *o, const char *source, uint64_t *size)
{
	for (guint i = 0; o->disks && o->disks[i]; i++) {
		char *t = NULL;
		g_autofree char *s = NULL;

		if (!domxml_disk_split(o->disks[i], &t, &s, size))
			continue;
		if (strcmp(s, source) == 0)
			return t;
		g_free(t);
	}
	return NULL;
}

static bool
volume_wanted(const desired_vm *vm, const char *source)
{
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		g_autofree char *want = g_strdup_printf("%s/%s", d->pool, d->volume);

		if (strcmp(want, source) == 0)
			return true;
	}
	return false;
}

/*
 * Disks are matched by volume, never by target: targets follow the spec's
 * order (vda, vdb, ...), so a disk dropped from the middle shifts the ones
 * after it, and a live detach by target would take the wrong one.  A disk
 * whose target shifts waits for the next boot; one whose volume no disk of
 * the spec names is detached; one the definition lacks is attached, live
 * where its target is free once the detaches are done.
 */
static void
disk_changes(GPtrArray *out, const desired_vm *vm, const obs_domain *o, bool devices_live, bool resizable)
{
	const char *no_live = devices_live ? "" : " (not live: the host's driver attaches nothing "
						   "live, or the VM is paused)";
	change_class device_cls = devices_live ? CHANGE_LIVE : CHANGE_NEXT_BOOT;

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		g_autofree char *want = g_strdup_printf("%s/%s", d->pool, d->volume);
		g_autofree char *target = NULL, *taken = NULL;
		uint64_t size = 0;
		vm_change *c;

		target = observed_target(o, want, &size);
		if (target && strcmp(target, d->target) != 0) {
			c = add(out, CH_DISK_OTHER, "disk '%s' moves from %s to %s", d->name, target, d->target);
			classify(c, CHANGE_NEXT_BOOT);
		} else if (target) {
			size_change(out, d, size, resizable);
		} else if (i == 0 || (observed_disk(o, d->target, &taken, &size) && volume_wanted(vm, taken))) {
			c = add(out, CH_DISK_OTHER, "disk '%s' as %s, where %s is now", d->name, d->target,
				taken ? taken : "another disk");
			classify(c, CHANGE_NEXT_BOOT);
		} else if (o->restart_required && device_cls == CHANGE_LIVE) {
			/* Its running disks are not the defined ones (a detach the
			 * guest has not completed may still hold this target). */
			c = add(out, CH_DISK_ATTACH, "attach disk '%s' as %s (the running VM's disks differ from "
				"its definition until it restarts)", d->name, d->target);
			c->disk = d;
			c->device = g_strdup(d->target);
			classify(c, CHANGE_NEXT_BOOT);
		} else {
			c = add(out, CH_DISK_ATTACH, "attach disk '%s' as %s%s", d->name, d->target, no_live);
			c->disk = d;
			c->device = g_strdup(d->target);
			classify(c, device_cls);
		}
	}
	for (guint i = 0; o->disks && o->disks[i]; i++) {
		g_autofree char *target = NULL, *source = NULL;
		uint64_t size;
		vm_change *c;

		if (!domxml_disk_split(o->disks[i], &target, &source, &size) || volume_wanted(vm, source))
			continue;
		c = add(out, CH_DISK_DETACH, "detach disk %s (%s)%s", target, source, no_live);
		c->device = g_strdup(target);
		classify(c, device_cls);
	}
}

/* "NETWORK MAC" split; the MAC lowered. */
static bool
nic_split(const char *nic, char **network, char **mac)
{
	const char *sp = strrchr(nic, ' ');

	if (!sp)
		return false;
	*network = g_strndup(nic, (gsize)(sp - nic));
	*mac = g_ascii_strdown(sp + 1, -1);
	return true;
}

static bool
mac_taken(const obs_domain *o, GStrv macs, const char *mac)
{
	for (guint i = 0; macs[i]; i++)
		if (g_ascii_strcasecmp(macs[i], mac) == 0)
			return true;
	for (guint i = 0; o->nics && o->nics[i]; i++) {
		const char *sp = strrchr(o->nics[i], ' ');

		if (sp && g_ascii_strcasecmp(sp + 1, mac) == 0)
			return true;
	}
	return false;
}

/* A MAC for NIC @i of @o's domain, from its UUID, @network and @i: the
 * same on every pass, so a plan shown is the plan made. */
static char *
derived_mac(const obs_domain *o, GStrv macs, const char *network, guint i)
{
	/* Fewer than 2^16 addresses can be taken (NICs of one VM): one of the
	 * first 2^16 + 1 seeds is free unless the hash repeats itself, and
	 * the last one tried is taken then (a duplicate libvirt refuses). */
	for (guint salt = 0;; salt++) {
		g_autofree char *seed = g_strdup_printf("%s\x1f%s\x1f%u\x1f%u", o->uuid, network, i, salt);
		g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
		guint8 digest[32];
		gsize len = sizeof(digest);
		char *mac;

		g_checksum_update(sum, (const guchar *)seed, -1);
		g_checksum_get_digest(sum, digest, &len);
		mac = g_strdup_printf("52:54:00:%02x:%02x:%02x", digest[0], digest[1], digest[2]);
		if (!mac_taken(o, macs, mac) || salt == G_MAXUINT16)
			return mac;
		g_free(mac);
	}
}

static bool
observed_nic(const obs_domain *o, const char *mac, char **network)
{
	for (guint i = 0; o->nics && o->nics[i]; i++) {
		g_autofree char *m = NULL;
		char *n = NULL;

		if (!nic_split(o->nics[i], &n, &m))
			continue;
		if (g_ascii_strcasecmp(m, mac) == 0) {
			*network = n;
			return true;
		}
		g_free(n);
	}
	return false;
}

static bool
nic_wanted(const desired_vm *vm, GStrv macs, const char *mac)
{
	for (guint i = 0; i < vm->nics->len; i++)
		if (g_ascii_strcasecmp(macs[i], mac) == 0)
			return true;
	return false;
}

static void
nic_changes(GPtrArray *out, const desired_vm *vm, const obs_domain *o, GStrv macs, bool devices_live)
{
	const char *no_live = devices_live ? "" : " (not live: the host's driver attaches nothing "
						   "live, or the VM is paused)";
	change_class device_cls = devices_live ? CHANGE_LIVE : CHANGE_NEXT_BOOT;

	for (guint i = 0; i < vm->nics->len; i++) {
		const desired_nic *n = vm->nics->pdata[i];
		g_autofree char *network = NULL;
		vm_change *c;

		if (!*macs[i]) {
			char *mac = derived_mac(o, macs, n->network, i);

			g_free(macs[i]);
			macs[i] = mac;
		}
		if (!observed_nic(o, macs[i], &network)) {
			c = add(out, CH_NIC_ATTACH, "attach NIC %s on network '%s'%s", macs[i], n->network, no_live);
			c->device = g_strdup(macs[i]);
			c->network = g_strdup(n->network);
			classify(c, device_cls);
		} else if (strcmp(network, n->network) != 0) {
			c = add(out, CH_NIC_OTHER, "NIC %s: network '%s' → '%s'", macs[i], network, n->network);
			classify(c, CHANGE_NEXT_BOOT);
		}
	}
	for (guint i = 0; o->nics && o->nics[i]; i++) {
		g_autofree char *network = NULL, *mac = NULL;
		vm_change *c;

		if (!nic_split(o->nics[i], &network, &mac) || nic_wanted(vm, macs, mac))
			continue;
		if (!*mac) {
			/* Nothing to name it by: only a new definition drops it. */
			c = add(out, CH_NIC_OTHER, "a NIC on network '%s' without a MAC goes", network);
			classify(c, CHANGE_NEXT_BOOT);
			continue;
		}
		c = add(out, CH_NIC_DETACH, "detach NIC %s on network '%s'%s", mac, network, no_live);
		c->device = g_strdup(mac);
		classify(c, device_cls);
	}
}

static const char *
media_text(const char *cdrom)
{
	return *cdrom ? cdrom : "empty";
}

/*
 * The media in a drive change live (QEMU's tray), forced: a guest that
 * locked its tray does not keep a disc the spec took out.  The update
 * names the drive with its boot order, which libvirt will not change
 * live: with a new order, the media wait for the boot as well.
 */
static void
media_changes(GPtrArray *out, const desired_vm *vm, const obs_domain *o, bool media_live)
{
	g_autofree char *want = desired_vm_cdrom(vm);
	g_autofree char *boot = desired_vm_boot(vm);
	g_autofree char *console = desired_vm_console(vm);
	/* Not known for a definition read before boot orders were: its own. */
	bool boot_kept = !o->boot || strcmp(boot, o->boot) == 0;
	vm_change *c;

	if (!want != !o->cdrom) {
		c = add(out, CH_DRIVE, "%s a CD-ROM drive (%s)", want ? "add" : "remove", DOMXML_CDROM_TARGET);
		classify(c, CHANGE_NEXT_BOOT);
	} else if (want && strcmp(want, o->cdrom) != 0) {
		/* A running VM unlike its definition may lack the drive or have
		 * another boot order live: the update would be refused. */
		bool live = media_live && boot_kept && !o->restart_required;
		g_autofree char *why = !media_live ? g_strdup(" (not live: the host's driver changes no media live)") :
				       !boot_kept ? g_strdup(" (with the new boot order)") :
				       o->restart_required ? g_strdup_printf(" (the running VM differs from its definition "
									     "until it restarts: %s)", o->restart_required) :
				       g_strdup("");

		c = add(out, CH_MEDIA, "CD-ROM %s → %s%s", media_text(o->cdrom), media_text(want), why);
		c->device = g_strdup(DOMXML_CDROM_TARGET);
		c->media = *want ? g_strdup(want) : NULL;
		classify(c, live ? CHANGE_LIVE : CHANGE_NEXT_BOOT);
	}
	if (g_strcmp0(console, o->console) != 0)
		classify(add(out, CH_CONSOLE, "console %s → %s", o->console ? o->console : "none",
			     console ? console : "none"), CHANGE_NEXT_BOOT);
	/* QEMU asks for a password, or not, from its start: only a new one
	 * is set live.  Neither says what the password is. */
	else if (console && !vm->console_verifier != !o->console_verifier)
		classify(add(out, CH_CONSOLE, "console password %s", vm->console_verifier ? "set" : "removed"),
			 CHANGE_NEXT_BOOT);
	else if (console && vm->console_verifier && strcmp(vm->console_verifier, o->console_verifier) != 0)
		/* A VM that runs unlike its definition may ask for none yet. */
		classify(add(out, CH_CONSOLE_PASSWORD, "a new console password"),
			 o->restart_required ? CHANGE_NEXT_BOOT : CHANGE_LIVE);
	if (!boot_kept)
		classify(add(out, CH_BOOT, "boot order %s → %s", o->boot ? o->boot : "?", boot), CHANGE_NEXT_BOOT);
}

/* The first-boot data: its drive needs a boot, its volume is rewritten in
 * place whatever the VM does (the guest reads it when it boots). */
static void
seed_changes(GPtrArray *out, const desired_vm *vm, const obs_domain *o)
{
	if (!vm->seed_digest != !o->seed)
		classify(add(out, CH_SEED_DRIVE, "%s the first-boot data drive (%s)",
			     vm->seed_digest ? "add" : "remove", DOMXML_SEED_TARGET), CHANGE_NEXT_BOOT);
	else if (vm->seed_digest && strcmp(vm->seed_digest, o->seed) != 0)
		classify(add(out, CH_SEED, "first-boot data rewritten (the guest reads it at its next boot)"),
			 CHANGE_LIVE);
}

/* Only the sizes of the disks: a definition served from the cache, whose
 * hash is the one wanted, has nothing else to compare. */
static void
size_changes(GPtrArray *out, const desired_vm *vm, const obs_domain *o, bool resizable)
{
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		g_autofree char *source = NULL;
		g_autofree char *want = g_strdup_printf("%s/%s", d->pool, d->volume);
		uint64_t size = 0;

		if (observed_disk(o, d->target, &source, &size) && strcmp(source, want) == 0)
			size_change(out, d, size, resizable);
	}
}

GPtrArray *
vm_changes(const desired_vm *vm, const obs_domain *o, GStrv macs, bool active, bool live_devices)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(change_free);

	/* Off, everything goes into the definition; a paused guest cannot
	 * answer an unplug. */
	bool devices_live = !active || (live_devices && o->state != VIRT_DOM_PAUSED);
	/* Off, a grow goes to the volume, which a driver that resizes nothing
	 * (the test driver) cannot do either. */
	bool resizable = live_devices && (!active || o->state != VIRT_DOM_PAUSED);

	if (!o->detailed) {
		size_changes(out, vm, o, resizable);
		return out;
	}

	if (g_strcmp0(vm->title, o->title) != 0)
		classify(add(out, CH_TITLE, "title (a name libvirt shows, not the guest; in the definition, "
				 "shown for the running domain from its next start)"), CHANGE_LIVE);
	cpus_change(out, vm, o);
	memory_change(out, vm, o);
	maxima_change(out, vm, o);
	disk_changes(out, vm, o, devices_live, resizable);
	nic_changes(out, vm, o, macs, devices_live);
	/* QEMU changes media on a paused VM too: the guest takes no part. */
	media_changes(out, vm, o, !active || live_devices);
	seed_changes(out, vm, o);
	if (vm->reset_on_reboot != o->reset_on_reboot)
		classify(add(out, CH_RESET, "reset_on_reboot turned %s (%s)", vm->reset_on_reboot ? "on" : "off",
			     vm->reset_on_reboot ? "a reboot stops the VM; strata starts it on new disks"
						 : "a reboot restarts the VM on the disk it has"),
			 CHANGE_NEXT_BOOT);
	return out;
}

bool
vm_changes_any(const GPtrArray *changes, change_class cls)
{
	for (guint i = 0; i < changes->len; i++)
		if (((const vm_change *)changes->pdata[i])->cls == cls)
			return true;
	return false;
}

char *
vm_changes_why(const GPtrArray *changes, change_class cls, const char *prefix)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; i < changes->len; i++) {
		const vm_change *c = changes->pdata[i];

		if (c->cls == cls)
			g_string_append_printf(s, "%s%s", s->len ? "; " : prefix, c->why);
	}
	return s->len ? g_strdup(s->str) : NULL;
}
