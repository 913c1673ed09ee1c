/*
 * domxml.c - domain and volume XML, built and read with libxml2
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <string.h>

#include "domxml.h"

static xmlNodePtr
child(xmlNodePtr parent, const char *name, const char *text)
{
	/* xmlNewTextChild escapes @text; xmlNewChild would not. */
	return xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text);
}

static void
prop(xmlNodePtr node, const char *name, const char *value)
{
	xmlNewProp(node, BAD_CAST name, BAD_CAST value);
}

static xmlNodePtr
child_num(xmlNodePtr parent, const char *name, uint64_t n)
{
	char buf[32];

	g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, n);
	return child(parent, name, buf);
}

static void
child_num_prop(xmlNodePtr node, const char *name, uint64_t n)
{
	char buf[32];

	g_snprintf(buf, sizeof(buf), "%" G_GUINT64_FORMAT, n);
	prop(node, name, buf);
}

static char *
doc_to_string(xmlDocPtr doc)
{
	xmlChar *buf = NULL;
	int len = 0;
	char *out;

	xmlDocDumpFormatMemoryEnc(doc, &buf, &len, "UTF-8", 1);
	/* Drop the XML declaration: libvirt keeps its own. */
	out = g_strdup(strstr((char *)buf, "?>\n") ? strstr((char *)buf, "?>\n") + 3
						   : (char *)buf);
	xmlFree(buf);
	return out;
}

/* The rank (from 1) of @dev in @vm's boot order, 0 if it is not in it;
 * without one, the system disk alone, as before boot orders existed. */
static guint
boot_rank(const desired_vm *vm, const char *dev)
{
	if (!vm->boot || !vm->boot->len)
		return strcmp(dev, "disk") == 0;
	for (guint i = 0; i < vm->boot->len; i++)
		if (strcmp(vm->boot->pdata[i], dev) == 0)
			return i + 1;
	return 0;
}

static void
set_boot(xmlNodePtr dev, guint rank)
{
	if (rank)
		child_num_prop(child(dev, "boot", NULL), "order", rank);
}

static void
add_disk(xmlNodePtr devices, const desired_disk *d, guint boot)
{
	xmlNodePtr disk = child(devices, "disk", NULL);
	xmlNodePtr n;

	prop(disk, "type", "volume");
	prop(disk, "device", "disk");
	n = child(disk, "driver", NULL);
	prop(n, "name", "qemu");
	prop(n, "type", "qcow2");
	n = child(disk, "source", NULL);
	prop(n, "pool", d->pool);
	prop(n, "volume", d->volume);
	n = child(disk, "target", NULL);
	prop(n, "dev", d->target);
	prop(n, "bus", d->scsi ? "scsi" : "virtio");
	set_boot(disk, boot);
}

/*
 * The CD-ROM drive: IDE, on the i440FX machine (domain_doc pins it for a
 * VM with a drive: q35 has no IDE), read-only, the operator's volume in
 * it, or no <source> when it is empty.  An eject is this without its
 * source, as virsh change-media --eject sends it.
 */
static void
add_drive(xmlNodePtr devices, const char *target, const char *pool, const char *volume, guint boot)
{
	xmlNodePtr disk = child(devices, "disk", NULL);
	xmlNodePtr n;

	prop(disk, "type", "volume");
	prop(disk, "device", "cdrom");
	n = child(disk, "driver", NULL);
	prop(n, "name", "qemu");
	prop(n, "type", "raw");
	if (volume) {
		n = child(disk, "source", NULL);
		prop(n, "pool", pool);
		prop(n, "volume", volume);
	}
	n = child(disk, "target", NULL);
	prop(n, "dev", target);
	prop(n, "bus", "ide");
	child(disk, "readonly", NULL);
	set_boot(disk, boot);
}

static void
add_cdrom(xmlNodePtr devices, const char *pool, const char *volume, guint boot)
{
	add_drive(devices, DOMXML_CDROM_TARGET, pool, volume, boot);
}

static void
add_console(xmlNodePtr devices, const desired_vm *vm)
{
	xmlNodePtr g = child(devices, "graphics", NULL);
	xmlNodePtr l;

	prop(g, "type", vm->console);
	prop(g, "autoport", "yes");
	l = child(g, "listen", NULL);
	prop(l, "type", "address");
	prop(l, "address", vm->console_listen);
	/* In the definition, which libvirt shows to no read-only client; its
	 * metadata keeps the verifier (what a later spec is compared with). */
	if (vm->console_password)
		prop(g, "passwd", vm->console_password);
}

static void
add_disks(xmlNodePtr devices, const desired_vm *vm)
{
	bool scsi = false;

	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		add_disk(devices, d, i == 0 ? boot_rank(vm, "disk") : 0);
		scsi |= d->scsi;
	}
	if (vm->cdrom_volume)
		add_cdrom(devices, vm->cdrom_pool, vm->cdrom_ejected ? NULL : vm->cdrom_volume,
			  boot_rank(vm, "cdrom"));
	/* The seed never boots: the guest boots its disk and reads it. */
	if (vm->seed_volume)
		add_drive(devices, DOMXML_SEED_TARGET, vm->seed_pool, vm->seed_volume, 0);
	/* Named, or libvirt picks its default model (lsilogic, for which
	 * guests lack a driver more often than not). */
	if (scsi) {
		xmlNodePtr c = child(devices, "controller", NULL);

		prop(c, "type", "scsi");
		prop(c, "index", "0");
		prop(c, "model", "virtio-scsi");
	}
}

static void
add_nic(xmlNodePtr devices, const char *network, const char *mac)
{
	xmlNodePtr n = child(devices, "interface", NULL);

	prop(n, "type", "network");
	if (mac && *mac)
		prop(child(n, "mac", NULL), "address", mac);
	if (network)
		prop(child(n, "source", NULL), "network", network);
	if (network)
		prop(child(n, "model", NULL), "type", "virtio");
}

static void
add_nics(xmlNodePtr devices, const desired_vm *vm, const char *const *macs)
{
	for (guint i = 0; i < vm->nics->len; i++) {
		const desired_nic *nic = vm->nics->pdata[i];

		add_nic(devices, nic->network, nic->mac ? nic->mac : macs ? macs[i] : NULL);
	}
}

/* The XML of the one device @build adds to a <devices> node. */
static char *
device_xml(void (*build)(xmlNodePtr, gconstpointer, gconstpointer), gconstpointer a, gconstpointer b)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr devices = xmlNewNode(NULL, BAD_CAST "devices");
	xmlNodePtr dev;
	char *xml;

	xmlDocSetRootElement(doc, devices);
	build(devices, a, b);
	dev = xmlFirstElementChild(devices);
	xmlUnlinkNode(dev);
	xmlDocSetRootElement(doc, dev);
	xmlFreeNode(devices);
	xml = doc_to_string(doc);
	xmlFreeDoc(doc);
	return xml;
}

static void
build_disk(xmlNodePtr devices, gconstpointer d, gconstpointer unused)
{
	(void)unused;
	add_disk(devices, d, 0);
}

static void
build_cdrom(xmlNodePtr devices, gconstpointer vm, gconstpointer unused)
{
	const desired_vm *v = vm;

	(void)unused;
	add_cdrom(devices, v->cdrom_pool, v->cdrom_ejected ? NULL : v->cdrom_volume, boot_rank(v, "cdrom"));
}

static void
build_console(xmlNodePtr devices, gconstpointer vm, gconstpointer unused)
{
	(void)unused;
	add_console(devices, vm);
}

char *
domxml_graphics(const desired_vm *vm)
{
	return vm->console ? device_xml(build_console, vm, NULL) : NULL;
}

char *
domxml_cdrom(const desired_vm *vm)
{
	return vm->cdrom_volume ? device_xml(build_cdrom, vm, NULL) : NULL;
}

static void
build_nic(xmlNodePtr devices, gconstpointer network, gconstpointer mac)
{
	add_nic(devices, network, mac);
}

char *
domxml_disk(const desired_disk *d)
{
	return device_xml(build_disk, d, NULL);
}

char *
domxml_nic(const char *network, const char *mac)
{
	return device_xml(build_nic, network, mac);
}

char *
domxml_find_device(const char *xml, const char *device)
{
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr r;
	g_autofree char *lower = g_ascii_strdown(device, -1);
	g_autofree char *expr = NULL;
	char *out = NULL;

	/* Pasted into an expression: only what a target or a MAC holds. */
	if (!*lower || strspn(lower, "abcdefghijklmnopqrstuvwxyz0123456789:") != strlen(lower))
		return NULL;
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return NULL;
	expr = g_strdup_printf("/domain/devices/disk[target/@dev='%s'] | /domain/devices/interface"
			       "[translate(mac/@address, 'ABCDEF', 'abcdef')='%s']", lower, lower);
	ctx = xmlXPathNewContext(doc);
	r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	if (r && r->nodesetval && r->nodesetval->nodeNr == 1) {
		xmlBufferPtr buf = xmlBufferCreate();
		xmlNodePtr dev = r->nodesetval->nodeTab[0];

		/* The live and the inactive definition may give one device other
		 * addresses and aliases; libvirt matches on those when given. */
		for (xmlNodePtr c = dev->children, next; c; c = next) {
			next = c->next;
			if (c->type == XML_ELEMENT_NODE && (xmlStrEqual(c->name, BAD_CAST "address") ||
							   xmlStrEqual(c->name, BAD_CAST "alias"))) {
				xmlUnlinkNode(c);
				xmlFreeNode(c);
			}
		}
		xmlNodeDump(buf, doc, r->nodesetval->nodeTab[0], 0, 0);
		out = g_strdup((const char *)xmlBufferContent(buf));
		xmlBufferFree(buf);
	}
	if (r)
		xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return out;
}

static xmlDocPtr
domain_doc(const desired_vm *vm, const char *type, const char *hash,
	   const char *uuid, const char *const *macs)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr dom = xmlNewNode(NULL, BAD_CAST "domain");
	xmlNodePtr meta, mark, os, n, devices;
	xmlNsPtr ns;
	bool test = strcmp(type, "test") == 0;

	xmlDocSetRootElement(doc, dom);
	prop(dom, "type", type);
	child(dom, "name", vm->domain);
	if (uuid)
		child(dom, "uuid", uuid);
	if (vm->title)
		child(dom, "title", vm->title);
	meta = child(dom, "metadata", NULL);
	mark = xmlNewChild(meta, NULL, BAD_CAST "vm", NULL);
	ns = xmlNewNs(mark, BAD_CAST STRATA_XMLNS, BAD_CAST "strata");
	xmlSetNs(mark, ns);
	prop(mark, "appliance", vm->appliance);
	prop(mark, "vm", vm->vm);
	if (!vm->persistent)
		prop(mark, "template", vm->template);
	if (hash)
		prop(mark, "hash", hash);
	/* What the seed volume holds (the digest of the data, never the data):
	 * the data changed when the spec's differs. */
	if (vm->seed_digest)
		prop(mark, "seed", vm->seed_digest);
	if (vm->console_verifier)
		prop(mark, "console-password", vm->console_verifier);
	/* The size each secondary disk was defined with: what a later spec's
	 * size is compared with (a disk grows; reading every volume's size on
	 * every pass would cost a call per disk).  A system disk is made at
	 * least as large as its base, which this would not say. */
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];
		xmlNodePtr sized;

		if (!d->capacity || d->role != DISK_SECONDARY)
			continue;
		sized = xmlNewChild(mark, ns, BAD_CAST "disk", NULL);
		prop(sized, "target", d->target);
		child_num_prop(sized, "size", d->capacity);
	}
	/* The maxima are what the VM may be given while it runs; without
	 * them, as before they existed (the same XML, the same hash). */
	n = child_num(dom, "memory", desired_vm_max_memory(vm) / 1024);
	prop(n, "unit", "KiB");
	n = child_num(dom, "currentMemory", vm->memory / 1024);
	prop(n, "unit", "KiB");
	n = child_num(dom, "vcpu", desired_vm_max_cpus(vm));
	prop(n, "placement", "static");
	if (desired_vm_max_cpus(vm) > vm->cpus) {
		g_autofree char *cur = g_strdup_printf("%u", vm->cpus);

		prop(n, "current", cur);
	}
	os = child(dom, "os", NULL);
	n = child(os, "type", "hvm");
	if (!test)
		prop(n, "arch", "x86_64");
	/* Its IDE drives need i440FX; QEMU's default machine may be q35. */
	if (!test && (vm->cdrom_volume || vm->seed_volume))
		prop(n, "machine", "pc");
	if (!test)
		child(child(dom, "features", NULL), "acpi", NULL);
	child(dom, "on_poweroff", "destroy");
	/* Destroyed, not restarted, so that no boot ever reads the old disk:
	 * strata makes a new one and starts the VM again. */
	child(dom, "on_reboot", vm->reset_on_reboot ? "destroy" : "restart");
	child(dom, "on_crash", "destroy");
	devices = child(dom, "devices", NULL);
	add_disks(devices, vm);
	add_nics(devices, vm, macs);
	if (vm->console)
		add_console(devices, vm);
	if (!test) {
		prop(child(devices, "serial", NULL), "type", "pty");
		prop(child(devices, "console", NULL), "type", "pty");
	}
	return doc;
}

char *
domxml_domain(const desired_vm *vm, const char *domain_type, const char *hash,
	      const char *uuid, const char *const *macs)
{
	xmlDocPtr doc = domain_doc(vm, domain_type, hash, uuid, macs);
	char *xml = doc_to_string(doc);

	xmlFreeDoc(doc);
	return xml;
}

/* A locally administered unicast address in QEMU's range, as libvirt
 * picks them (52:54:00, then three random bytes). */
static char *
random_mac(void)
{
	guint32 r = g_random_int();

	return g_strdup_printf("52:54:00:%02x:%02x:%02x", r & 0xff, (r >> 8) & 0xff, (r >> 16) & 0xff);
}

static bool
has_mac(xmlNodePtr iface)
{
	for (xmlNodePtr c = iface->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "mac")) {
			xmlChar *a = xmlGetProp(c, BAD_CAST "address");
			bool set = a && *a;

			xmlFree(a);
			if (set)
				return true;
		}
	}
	return false;
}

char *
domxml_fill_macs(const char *xml)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr r;
	char *out = NULL;

	if (!doc)
		return NULL;
	ctx = xmlXPathNewContext(doc);
	r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/interface", ctx);
	for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		xmlNodePtr iface = r->nodesetval->nodeTab[i];
		g_autofree char *mac = NULL;
		xmlNodePtr m = xmlNewNode(NULL, BAD_CAST "mac");

		if (has_mac(iface)) {
			xmlFreeNode(m);
			continue;
		}
		mac = random_mac();
		prop(m, "address", mac);
		/* First among the interface's children, where libvirt puts it. */
		if (iface->children)
			xmlAddPrevSibling(iface->children, m);
		else
			xmlAddChild(iface, m);
		if (!out)
			out = g_strdup("");  /* something changed */
	}
	if (out) {
		g_free(out);
		out = doc_to_string(doc);
	}
	if (r)
		xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return out;
}

char *
domxml_volume(const char *name, uint64_t capacity, const char *backing_path)
{
	return domxml_overlay(name, capacity, backing_path, "qcow2");
}

char *
domxml_overlay(const char *name, uint64_t capacity, const char *backing_path, const char *backing_format)
{
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr vol = xmlNewNode(NULL, BAD_CAST "volume");
	xmlNodePtr n;
	char *xml;

	xmlDocSetRootElement(doc, vol);
	child(vol, "name", name);
	n = child_num(vol, "capacity", capacity);
	prop(n, "unit", "bytes");
	prop(child(child(vol, "target", NULL), "format", NULL), "type", "qcow2");
	if (backing_path) {
		n = child(vol, "backingStore", NULL);
		child(n, "path", backing_path);
		prop(child(n, "format", NULL), "type", backing_format);
	}
	xml = doc_to_string(doc);
	xmlFreeDoc(doc);
	return xml;
}

static char *
xp_string(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	xmlChar *s;
	char *out = NULL;

	if (!r)
		return NULL;
	s = xmlXPathCastToString(r);
	if (s && *s)
		out = g_strdup((const char *)s);
	xmlFree(s);
	xmlXPathFreeObject(r);
	return out;
}

static uint64_t
xp_number(xmlXPathContextPtr ctx, const char *expr)
{
	g_autofree char *s = xp_string(ctx, expr);

	return s ? g_ascii_strtoull(s, NULL, 10) : 0;
}

/* /domain/@what in bytes: KiB is the default unit; honour the units
 * libvirt emits. */
static uint64_t
memory_bytes(xmlXPathContextPtr ctx, const char *what)
{
	g_autofree char *unit_expr = g_strdup_printf("string(/domain/%s/@unit)", what);
	g_autofree char *expr = g_strdup_printf("string(/domain/%s)", what);
	g_autofree char *unit = xp_string(ctx, unit_expr);
	uint64_t n = xp_number(ctx, expr);

	if (!unit || strcmp(unit, "KiB") == 0 || strcmp(unit, "k") == 0)
		return n * 1024;
	if (strcmp(unit, "MiB") == 0 || strcmp(unit, "M") == 0)
		return n << 20;
	if (strcmp(unit, "GiB") == 0 || strcmp(unit, "G") == 0)
		return n << 30;
	return n;
}

static void
add_attr(GPtrArray *to, xmlNodePtr n, const char *attr)
{
	xmlChar *v = xmlGetProp(n, BAD_CAST attr);

	if (v)
		g_ptr_array_add(to, g_strdup((const char *)v));
	xmlFree(v);
}

/*
 * What the definition's disks use: pool volumes ("pool/volume") and host
 * paths (file and block disks: another tool's domain may reach a volume
 * by its path).  Only a volume nobody uses may ever be deleted.
 */
static void
parse_volumes(xmlXPathContextPtr ctx, domxml_info *out)
{
	/* Every source of every disk, the backing chain's too (a live
	 * definition lists it): an overlay made on a volume uses it. */
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk//source", ctx);

	out->volumes = g_ptr_array_new_with_free_func(g_free);
	out->paths = g_ptr_array_new_with_free_func(g_free);
	if (!r)
		return;
	for (int i = 0; r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		xmlNodePtr n = r->nodesetval->nodeTab[i];
		xmlChar *pool = xmlGetProp(n, BAD_CAST "pool");
		xmlChar *vol = xmlGetProp(n, BAD_CAST "volume");

		if (pool && vol)
			g_ptr_array_add(out->volumes, g_strdup_printf("%s/%s", pool, vol));
		add_attr(out->paths, n, "file");
		add_attr(out->paths, n, "dev");
		add_attr(out->paths, n, "name");  /* network disks: rbd pool/image, … */
		xmlFree(pool);
		xmlFree(vol);
	}
	xmlXPathFreeObject(r);
}

/*
 * Each disk (not a CD-ROM) as "TARGET SOURCE SIZE", in the definition's
 * order: SOURCE is "pool/volume", or the host path of a file or block
 * disk; SIZE the size strata defined it with (its metadata), 0 if none.
 */
static void
parse_disks(xmlXPathContextPtr ctx, domxml_info *out)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk[@device='disk' or not(@device)]", ctx);

	out->disks = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		xmlNodePtr save = ctx->node;
		g_autofree char *target = NULL, *pool = NULL, *vol = NULL, *path = NULL, *size_expr = NULL;
		uint64_t size;

		ctx->node = r->nodesetval->nodeTab[i];
		target = xp_string(ctx, "string(target/@dev)");
		pool = xp_string(ctx, "string(source/@pool)");
		vol = xp_string(ctx, "string(source/@volume)");
		path = xp_string(ctx, "string(source/@file | source/@dev)");
		ctx->node = save;
		if (!target || strchr(target, ' '))
			continue;
		size_expr = g_strdup_printf("string(/domain/metadata/s:vm/s:disk[@target='%s']/@size)", target);
		size = strspn(target, "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(target) ?
		       xp_number(ctx, size_expr) : 0;
		if (pool && vol)
			g_ptr_array_add(out->disks, g_strdup_printf("%s %s/%s %" G_GUINT64_FORMAT, target,
								    pool, vol, size));
		else
			g_ptr_array_add(out->disks, g_strdup_printf("%s %s %" G_GUINT64_FORMAT, target,
								    path ? path : "-", size));
	}
	if (r)
		xmlXPathFreeObject(r);
}

/* The volumes strata recorded as let go of by this domain's disks while
 * its running VM still held them: "pool/volume" each. */
static void
parse_released(xmlXPathContextPtr ctx, domxml_info *out)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/metadata/s:vm/s:released", ctx);

	out->released = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		xmlChar *pool = xmlGetProp(r->nodesetval->nodeTab[i], BAD_CAST "pool");
		xmlChar *vol = xmlGetProp(r->nodesetval->nodeTab[i], BAD_CAST "volume");

		if (pool && vol && !strchr((char *)pool, '/') && !strchr((char *)vol, '/'))
			g_ptr_array_add(out->released, g_strdup_printf("%s/%s", pool, vol));
		xmlFree(pool);
		xmlFree(vol);
	}
	if (r)
		xmlXPathFreeObject(r);
}

/* Each network interface's network and MAC, in the definition's order. */
static void
parse_nics(xmlXPathContextPtr ctx, domxml_info *out)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/interface", ctx);

	out->nics = g_ptr_array_new_with_free_func(g_free);
	for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		xmlNodePtr save = ctx->node;
		char *net, *mac;

		ctx->node = r->nodesetval->nodeTab[i];
		net = xp_string(ctx, "string(source/@network)");
		mac = xp_string(ctx, "string(mac/@address)");
		ctx->node = save;
		g_ptr_array_add(out->nics, g_strdup_printf("%s %s", net ? net : "", mac ? mac : ""));
		g_free(net);
		g_free(mac);
	}
	if (r)
		xmlXPathFreeObject(r);
}

/* The image in strata's CD-ROM drive (hdc, the one a media change names):
 * "pool/volume", a path, "" when empty. */
static void
parse_cdrom(xmlXPathContextPtr ctx, domxml_info *out)
{
#define CD "/domain/devices/disk[@device='cdrom'][target/@dev='" DOMXML_CDROM_TARGET "'][1]"
	g_autofree char *n = xp_string(ctx, "string(count(" CD "))");
	g_autofree char *pool = NULL, *vol = NULL, *path = NULL;

	if (!n || strcmp(n, "0") == 0)
		return;
	pool = xp_string(ctx, "string(" CD "/source/@pool)");
	vol = xp_string(ctx, "string(" CD "/source/@volume)");
	path = xp_string(ctx, "string(" CD "/source/@file | " CD "/source/@dev)");
#undef CD
	out->cdrom = pool && vol ? g_strdup_printf("%s/%s", pool, vol) : g_strdup(path ? path : "");
}

/* The seed drive (hdd): the digest its data had, as strata recorded it. */
static void
parse_seed(xmlXPathContextPtr ctx, domxml_info *out)
{
	g_autofree char *n = xp_string(ctx, "string(count(/domain/devices/disk[@device='cdrom']"
					    "[target/@dev='" DOMXML_SEED_TARGET "']))");
	char *digest;

	if (!n || strcmp(n, "0") == 0)
		return;
	digest = xp_string(ctx, "string(/domain/metadata/s:vm/@seed)");
	out->seed = digest ? digest : g_strdup("");
}

/* "TYPE ADDRESS" of the first graphical console, and its port in @port. */
static char *
graphics(xmlXPathContextPtr ctx, unsigned *port)
{
	g_autofree char *type = xp_string(ctx, "string(/domain/devices/graphics[1]/@type)");
	g_autofree char *addr = xp_string(ctx, "string(/domain/devices/graphics[1]/listen[@type='address'][1]/@address)");

	if (!type)
		return NULL;
	if (!addr)
		addr = xp_string(ctx, "string(/domain/devices/graphics[1]/@listen)");
	if (port) {
		/* -1 in a definition: chosen when it starts. */
		g_autofree char *p = xp_string(ctx, "string(/domain/devices/graphics[1]/@port)");
		gint64 n = p ? g_ascii_strtoll(p, NULL, 10) : 0;

		*port = n >= 1 && n <= 65535 ? (unsigned)n : 0;
	}
	return g_strdup_printf("%s %s", type, addr ? addr : "");
}

/* The devices with a boot order, by order: "cdrom", "disk", or the
 * element's name (an interface boots from the network). */
static void
parse_boot(xmlXPathContextPtr ctx, domxml_info *out)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/*[boot/@order]", ctx);
	g_autoptr(GPtrArray) by_order = g_ptr_array_new();
	g_autoptr(GString) s = g_string_new(NULL);

	for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		xmlNodePtr dev = r->nodesetval->nodeTab[i];
		xmlNodePtr save = ctx->node;
		g_autofree char *dt = NULL;
		guint order;

		ctx->node = dev;
		order = (guint)xp_number(ctx, "string(boot/@order)");
		dt = xp_string(ctx, "string(@device)");
		ctx->node = save;
		if (!order || order > 64)
			continue;
		if (by_order->len < order)
			g_ptr_array_set_size(by_order, order);
		by_order->pdata[order - 1] = !xmlStrEqual(dev->name, BAD_CAST "disk") ? (gpointer)dev->name :
					     g_strcmp0(dt, "cdrom") == 0 ? (gpointer)"cdrom" : (gpointer)"disk";
	}
	for (guint i = 0; i < by_order->len; i++)
		if (by_order->pdata[i])
			g_string_append_printf(s, "%s%s", s->len ? "," : "", (const char *)by_order->pdata[i]);
	out->boot = g_strdup(s->str);
	if (r)
		xmlXPathFreeObject(r);
}

bool
domxml_console(const char *xml, char **type, char **address, unsigned *port)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx;
	g_autofree char *g = NULL;
	const char *sp;

	*type = *address = NULL;
	*port = 0;
	if (!doc)
		return false;
	ctx = xmlXPathNewContext(doc);
	g = graphics(ctx, port);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	if (!g || !*port || !(sp = strchr(g, ' ')))
		return false;
	*type = g_strndup(g, (gsize)(sp - g));
	*address = g_strdup(sp + 1);
	return true;
}

bool
domxml_parse(const char *xml, domxml_info *out)
{
	xmlDocPtr doc;
	xmlXPathContextPtr ctx;

	memset(out, 0, sizeof(*out));
	doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc)
		return false;
	ctx = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST STRATA_XMLNS);
	out->appliance = xp_string(ctx, "string(/domain/metadata/s:vm/@appliance)");
	out->vm = xp_string(ctx, "string(/domain/metadata/s:vm/@vm)");
	out->hash = xp_string(ctx, "string(/domain/metadata/s:vm/@hash)");
	out->template = xp_string(ctx, "string(/domain/metadata/s:vm/@template)");
	out->managed = out->appliance && out->vm;
	/* <vcpu current='N'>MAX</vcpu>, <memory>MAX</memory> and
	 * <currentMemory>N</currentMemory>: what it boots with, and the
	 * most it may be given while it runs. */
	out->max_cpus = (unsigned)xp_number(ctx, "string(/domain/vcpu)");
	out->cpus = (unsigned)xp_number(ctx, "string(/domain/vcpu/@current)");
	if (!out->cpus)
		out->cpus = out->max_cpus;
	out->max_memory = memory_bytes(ctx, "memory");
	out->memory = memory_bytes(ctx, "currentMemory");
	if (!out->memory)
		out->memory = out->max_memory;
	out->title = xp_string(ctx, "string(/domain/title)");
	parse_released(ctx, out);
	parse_volumes(ctx, out);
	parse_disks(ctx, out);
	parse_nics(ctx, out);
	parse_cdrom(ctx, out);
	parse_seed(ctx, out);
	out->reset_on_reboot = xp_number(ctx, "string(count(/domain[on_reboot='destroy']))") > 0;
	out->console = graphics(ctx, NULL);
	out->console_verifier = xp_string(ctx, "string(/domain/metadata/s:vm/@console-password)");
	parse_boot(ctx, out);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return true;
}

void
domxml_info_release(domxml_info *info)
{
	g_free(info->appliance);
	g_free(info->vm);
	g_free(info->hash);
	g_free(info->template);
	if (info->volumes)
		g_ptr_array_unref(info->volumes);
	if (info->paths)
		g_ptr_array_unref(info->paths);
	if (info->nics)
		g_ptr_array_unref(info->nics);
	if (info->disks)
		g_ptr_array_unref(info->disks);
	if (info->released)
		g_ptr_array_unref(info->released);
	g_free(info->title);
	g_free(info->cdrom);
	g_free(info->seed);
	g_free(info->console);
	g_free(info->console_verifier);
	g_free(info->boot);
	g_free(info->running_differs);
	memset(info, 0, sizeof(*info));
}

bool
domxml_disk_split(const char *disk, char **target, char **source, uint64_t *size)
{
	const char *sp = strchr(disk, ' ');
	const char *last = strrchr(disk, ' ');
	char *end = NULL;

	if (!sp || last == sp || !sp[1] || !last[1])
		return false;
	*size = g_ascii_strtoull(last + 1, &end, 10);
	if (!end || *end)
		return false;
	*target = g_strndup(disk, (gsize)(sp - disk));
	*source = g_strndup(sp + 1, (gsize)(last - sp - 1));
	return true;
}

/* "TARGET SOURCE" of @disk, its size left out: what a running domain and
 * its definition are compared on. */
static char *
disk_identity(const char *disk)
{
	const char *last = strrchr(disk, ' ');

	return last ? g_strndup(disk, (gsize)(last - disk)) : g_strdup(disk);
}

/* Whether @a and @b hold the same strings in any order (a device attached
 * live comes last, wherever the definition puts it), through @key. */
static int
by_string(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
same_set(const GPtrArray *a, const GPtrArray *b, char *(*key)(const char *))
{
	g_autoptr(GPtrArray) x = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) y = g_ptr_array_new_with_free_func(g_free);

	if (a->len != b->len)
		return false;
	for (guint i = 0; i < a->len; i++) {
		g_ptr_array_add(x, key(a->pdata[i]));
		g_ptr_array_add(y, key(b->pdata[i]));
	}
	g_ptr_array_sort(x, by_string);
	g_ptr_array_sort(y, by_string);
	for (guint i = 0; i < x->len; i++)
		if (strcmp(x->pdata[i], y->pdata[i]) != 0)
			return false;
	return true;
}

static char *
nic_key(const char *nic)
{
	return g_ascii_strdown(nic, -1);
}

/* A console defined without an address takes the host's default, which
 * the live XML shows: only the type is compared then. */
static bool
console_differs(const char *config, const char *live)
{
	const char *sp = config ? strchr(config, ' ') : NULL;

	if (!config || !live)
		return config != live;
	if (sp && !sp[1])
		return strncmp(config, live, (size_t)(sp - config + 1)) != 0;
	return strcmp(config, live) != 0;
}

char *
domxml_running_differs(const domxml_info *config, const domxml_info *live)
{
	g_autoptr(GString) s = g_string_new(NULL);

	if ((config->cpus != live->cpus || config->max_cpus != live->max_cpus) &&
	    config->max_cpus == config->cpus && live->max_cpus == live->cpus)
		g_string_append_printf(s, "; %u vCPUs running, %u defined", live->cpus, config->cpus);
	else if (config->cpus != live->cpus || config->max_cpus != live->max_cpus)
		g_string_append_printf(s, "; %u of at most %u vCPUs running, %u of at most %u defined",
				       live->cpus, live->max_cpus, config->cpus, config->max_cpus);
	/* Without a max_memory (<memory> = <currentMemory>) a balloon moved
	 * down live leaves the running maximum above: nothing a boot fixes. */
	if (config->max_memory != live->max_memory && config->max_memory > config->memory)
		g_string_append_printf(s, "; at most %" G_GUINT64_FORMAT " MiB running, %" G_GUINT64_FORMAT
				       " MiB defined", live->max_memory >> 20, config->max_memory >> 20);
	if (!same_set(config->disks, live->disks, disk_identity))
		g_string_append(s, "; its disks differ from its definition's");
	if (!same_set(config->nics, live->nics, nic_key))
		g_string_append(s, "; its NICs differ from its definition's");
	/* A guest that opens the tray itself keeps the media in it. */
	if ((config->cdrom == NULL) != (live->cdrom == NULL))
		g_string_append_printf(s, "; it runs %s a CD-ROM drive", live->cdrom ? "with" : "without");
	else if (config->cdrom && strcmp(config->cdrom, live->cdrom) != 0)
		g_string_append_printf(s, "; its CD-ROM holds %s, %s defined", *live->cdrom ? live->cdrom : "nothing",
				       *config->cdrom ? config->cdrom : "nothing");
	/* Not the data: the seed volume is rewritten in place, and the
	 * running guest reads it at its next boot as any other. */
	if ((config->seed == NULL) != (live->seed == NULL))
		g_string_append_printf(s, "; it runs %s a first-boot data drive", live->seed ? "with" : "without");
	if (console_differs(config->console, live->console))
		g_string_append_printf(s, "; its console is %s running, %s defined",
				       live->console ? live->console : "none",
				       config->console ? config->console : "none");
	if (g_strcmp0(config->boot, live->boot) != 0)
		g_string_append_printf(s, "; it booted in order %s, %s defined", live->boot, config->boot);
	/* The running VM keeps the metadata it booted with: whether its
	 * console asks for a password is QEMU's from its start. */
	if (!config->console_verifier != !live->console_verifier)
		g_string_append_printf(s, "; its console runs %s a password", live->console_verifier ? "with" : "without");
	/* Until then a reboot of the guest does what the running VM says. */
	if (config->reset_on_reboot != live->reset_on_reboot)
		g_string_append_printf(s, "; a reboot %s it, %s defined",
				       live->reset_on_reboot ? "stops" : "restarts",
				       config->reset_on_reboot ? "stop" : "restart");
	return s->len ? g_strdup(s->str + 2) : NULL;
}

bool
domxml_disk_is(const char *disk, const char *pool, const char *volume)
{
	xmlDocPtr doc = xmlReadMemory(disk, (int)strlen(disk), "disk.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx;
	g_autofree char *p = NULL, *v = NULL;

	if (!doc)
		return false;
	ctx = xmlXPathNewContext(doc);
	p = xp_string(ctx, "string(/disk/source/@pool)");
	v = xp_string(ctx, "string(/disk/source/@volume)");
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return g_strcmp0(p, pool) == 0 && g_strcmp0(v, volume) == 0;
}

char *
domxml_with_released(const char *xml, const char *const *released)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr r;
	char *out = NULL;

	if (!doc)
		return NULL;
	ctx = xmlXPathNewContext(doc);
	xmlXPathRegisterNs(ctx, BAD_CAST "s", BAD_CAST STRATA_XMLNS);
	r = xmlXPathEvalExpression(BAD_CAST "/domain/metadata/s:vm", ctx);
	if (r && r->nodesetval && r->nodesetval->nodeNr == 1) {
		xmlNodePtr mark = r->nodesetval->nodeTab[0];

		for (guint i = 0; released && released[i]; i++) {
			g_auto(GStrv) pv = g_strsplit(released[i], "/", 2);
			xmlNodePtr n;

			if (!pv[0] || !pv[1])
				continue;
			n = xmlNewChild(mark, mark->ns, BAD_CAST "released", NULL);
			prop(n, "pool", pv[0]);
			prop(n, "volume", pv[1]);
		}
		out = doc_to_string(doc);
	}
	if (r)
		xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return out;
}

/* One <disk> of a backup: @file set, the disk copied into it (qcow2);
 * NULL, left out. */
static void
backup_disk(xmlNodePtr disks, const char *target, const char *file)
{
	xmlNodePtr n = xmlNewChild(disks, NULL, BAD_CAST "disk", NULL);

	prop(n, "name", target);
	prop(n, "backup", file ? "yes" : "no");
	if (!file)
		return;
	prop(n, "type", "file");
	prop(xmlNewChild(n, NULL, BAD_CAST "target", NULL), "file", file);
	prop(xmlNewChild(n, NULL, BAD_CAST "driver", NULL), "type", "qcow2");
}

char *
domxml_backup(const char *xml, const char *pool, const char *volume, const char *file)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlDocPtr out = NULL;
	xmlXPathContextPtr ctx;
	xmlXPathObjectPtr r;
	xmlNodePtr disks;
	char *s = NULL;
	int chosen = 0;

	if (!doc)
		return NULL;
	ctx = xmlXPathNewContext(doc);
	r = xmlXPathEvalExpression(BAD_CAST "/domain/devices/disk", ctx);
	out = xmlNewDoc(BAD_CAST "1.0");
	xmlDocSetRootElement(out, xmlNewNode(NULL, BAD_CAST "domainbackup"));
	prop(xmlDocGetRootElement(out), "mode", "push");
	disks = xmlNewChild(xmlDocGetRootElement(out), NULL, BAD_CAST "disks", NULL);
	for (int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
		xmlNodePtr save = ctx->node;
		g_autofree char *target = NULL, *p = NULL, *v = NULL;
		bool it;

		ctx->node = r->nodesetval->nodeTab[i];
		target = xp_string(ctx, "string(target/@dev)");
		p = xp_string(ctx, "string(source/@pool)");
		v = xp_string(ctx, "string(source/@volume)");
		ctx->node = save;
		if (!target || !target[0])
			continue;
		it = g_strcmp0(p, pool) == 0 && g_strcmp0(v, volume) == 0;
		chosen += it;
		backup_disk(disks, target, it ? file : NULL);
	}
	if (chosen == 1)
		s = doc_to_string(out);
	if (r)
		xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(out);
	xmlFreeDoc(doc);
	return s;
}
