/*
 * virt.c - the one place that talks to libvirt (with virt_copy.c, which
 * streams volumes between hosts)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <json-glib/json-glib.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "handoff.h"
#include "virt_internal.h"


static guint64 next_serial;  /* under serial_lock */
G_LOCK_DEFINE_STATIC(serial_lock);

G_DEFINE_QUARK(strata-virt-error-quark, virt_error)

/* libvirt prints every error to stderr by default; we report our own. */
static void
virt_quiet(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err;
}

void
virt_init(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		xmlInitParser();
		virInitialize();
		virSetErrorFunc(NULL, virt_quiet);
		g_once_init_leave(&done, 1);
	}
}

static void
count(virt_host *h)
{
	g_atomic_int_inc(&h->calls);
}

static bool
is_transient(virErrorPtr e)
{
	if (!e)
		return false;
	switch (e->code) {
	case VIR_ERR_RPC:
	case VIR_ERR_NO_CONNECT:
	case VIR_ERR_OPERATION_TIMEOUT:
	case VIR_ERR_AGENT_UNRESPONSIVE:
		return true;
	case VIR_ERR_SYSTEM_ERROR:
		return e->domain == VIR_FROM_RPC;
	default:
		return e->message && strstr(e->message, "asynchronous jobs running");
	}
}

/* Turn libvirt's thread-local last error into a GError. */
static bool
fail(GError **error, const char *what, const char *subject)
{
	virErrorPtr e = virGetLastError();
	virt_error_code code = VIRT_ERROR_FAILED;

	if (e && (e->code == VIR_ERR_NO_DOMAIN || e->code == VIR_ERR_NO_STORAGE_VOL ||
		  e->code == VIR_ERR_NO_STORAGE_POOL))
		code = VIRT_ERROR_NOT_FOUND;
	else if (is_transient(e))
		code = VIRT_ERROR_TRANSIENT;
	g_set_error(error, VIRT_ERROR, code, "%s '%s': %s", what, subject,
		    e && e->message ? e->message : "unknown libvirt error");
	virResetLastError();
	return false;
}

char *
virt_resolve_uri(const char *uri, const char *spec_file)
{
	g_autofree char *dir = NULL;
	g_autofree char *abs = NULL;
	g_autofree char *canon = NULL;
	g_autofree char *cwd = NULL;

	if (!g_str_has_prefix(uri, "test:") || g_str_has_prefix(uri, "test://"))
		return g_strdup(uri);
	dir = g_path_get_dirname(spec_file);
	cwd = g_get_current_dir();
	abs = g_path_is_absolute(dir) ? g_build_filename(dir, uri + 5, NULL)
				      : g_build_filename(cwd, dir, uri + 5, NULL);
	canon = g_canonicalize_filename(abs, NULL);
	return g_strdup_printf("test://%s", canon);
}

static char *
xpath_string(const char *xml, const char *expr)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "caps.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR |
				      XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx = NULL;
	xmlChar *s = NULL;
	char *out = NULL;

	if (!doc)
		return NULL;
	ctx = xmlXPathNewContext(doc);
	if (ctx) {
		xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);

		if (r) {
			s = xmlXPathCastToString(r);
			xmlXPathFreeObject(r);
		}
		xmlXPathFreeContext(ctx);
	}
	if (s && *s)
		out = g_strdup((const char *)s);
	xmlFree(s);
	xmlFreeDoc(doc);
	return out;
}

char *
virt_xpath_string(const char *xml, const char *expr)
{
	return xpath_string(xml, expr);
}

/*
 * What the host is: driver, host UUID, whether it offers KVM.  Facts that
 * cannot be read make the host unknown, never a guess: taking "qemu" for a
 * KVM host would redefine and restart every VM on it, and again when the
 * capabilities came back.
 */
static bool
host_probe(virt_host *h, GError **error)
{
	const char *driver;
	g_autofree char *caps = NULL;

	count(h);
	driver = virConnectGetType(h->conn);
	/* The injected failure takes the real path below, test driver or not. */
	if (driver && g_ascii_strcasecmp(driver, "test") == 0 && !fault_injected("capabilities")) {
		h->domain_type = g_strdup("test");
		virResetLastError();
		return true;
	}
	count(h);
	caps = fault_injected("capabilities") ? NULL : virConnectGetCapabilities(h->conn);
	if (!driver || !caps)
		return fail(error, "cannot read the capabilities of", h->uri);
	h->host_uuid = xpath_string(caps, "string(/capabilities/host/uuid)");
	/* The host, not this machine, says whether it has KVM: a remote
	 * hypervisor's /dev/kvm is not ours. */
	h->domain_type = xpath_string(caps,
		"string(/capabilities/guest/arch[@name='x86_64']/domain[@type='kvm']/@type)");
	if (!h->domain_type)
		h->domain_type = g_strdup("qemu");
	return true;
}

virt_host *
virt_host_open(const char *uri, bool readonly, GError **error)
{
	virt_host *h;
	virConnectPtr conn;

	virt_init();
	conn = readonly ? virConnectOpenReadOnly(uri) : virConnectOpen(uri);
	if (!conn) {
		fail(error, "cannot connect to", uri);
		return NULL;
	}
	h = g_atomic_rc_box_new0(virt_host);
	h->conn = conn;
	h->uri = g_strdup(uri);
	h->device_ids[0] = h->device_ids[1] = -1;
	h->reset_id = -1;
	G_LOCK(serial_lock);
	h->serial = ++next_serial;
	G_UNLOCK(serial_lock);
	if (!host_probe(h, error)) {
		virt_host_free(h);
		return NULL;
	}
	return h;
}

static void on_close(virConnectPtr conn, int reason, void *opaque);

static void
virt_host_clear(gpointer p)
{
	virt_host *h = p;

	HANDOFF_TAKE(h);
	if (h->conn && h->close_registered)
		virConnectUnregisterCloseCallback(h->conn, on_close);
	if (h->conn)
		virConnectClose(h->conn);
	g_free(h->uri);
	g_free(h->domain_type);
	g_free(h->host_uuid);
}

virt_host *
virt_host_ref(virt_host *h)
{
	return g_atomic_rc_box_acquire(h);
}

void
virt_host_free(virt_host *h)
{
	if (!h)
		return;
	HANDOFF_SEND(h);
	g_atomic_rc_box_release_full(h, virt_host_clear);
}

const char *
virt_host_uri(const virt_host *h)
{
	return h->uri;
}

const char *
virt_host_domain_type(const virt_host *h)
{
	return h->domain_type;
}

const char *
virt_host_uuid(const virt_host *h)
{
	return h->host_uuid;
}

bool
virt_host_claim(virt_host *h)
{
	return g_atomic_int_compare_and_exchange(&h->observed, 0, 1);
}

void
virt_host_unclaim(virt_host *h)
{
	g_atomic_int_set(&h->observed, 0);
}

unsigned
virt_host_calls(const virt_host *h)
{
	return (unsigned)g_atomic_int_get(&((virt_host *)h)->calls);
}

void
virt_dom_free(gpointer p)
{
	virt_dom *d = p;

	if (!d)
		return;
	g_free(d->name);
	g_free(d);
}

void
virt_vol_free(gpointer p)
{
	virt_vol *v = p;

	if (!v)
		return;
	g_free(v->pool);
	g_free(v->name);
	g_free(v->key);
	g_free(v);
}

void
virt_pool_free(gpointer p)
{
	virt_pool *pool = p;

	if (!pool)
		return;
	g_free(pool->name);
	g_free(pool->type);
	g_free(pool->path);
	g_free(pool);
}

/* Names of the domains that hold a managed-save image: one call. */
static GHashTable *
managed_save_names(virt_host *h)
{
	GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	virDomainPtr *doms = NULL;
	int n;

	count(h);
	n = virConnectListAllDomains(h->conn, &doms, VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE);
	for (int i = 0; i < n; i++) {
		g_hash_table_add(names, g_strdup(virDomainGetName(doms[i])));
		virDomainFree(doms[i]);
	}
	free(doms);
	virResetLastError();
	return names;
}

bool
virt_list_domains(virt_host *h, GPtrArray **out, GError **error)
{
	g_autoptr(GHashTable) saved = NULL;
	virDomainStatsRecordPtr *recs = NULL;
	GPtrArray *list;
	int n;

	count(h);
	n = virConnectGetAllDomainStats(h->conn, VIR_DOMAIN_STATS_STATE, &recs, 0);
	if (n < 0)
		return fail(error, "cannot list domains on", h->uri);
	saved = managed_save_names(h);
	list = g_ptr_array_new_with_free_func(virt_dom_free);
	for (int i = 0; i < n; i++) {
		virt_dom *d = g_new0(virt_dom, 1);

		d->name = g_strdup(virDomainGetName(recs[i]->dom));
		virDomainGetUUIDString(recs[i]->dom, d->uuid);
		for (int j = 0; j < recs[i]->nparams; j++) {
			virTypedParameterPtr p = &recs[i]->params[j];

			if (strcmp(p->field, "state.state") == 0)
				d->state = p->value.i;
			else if (strcmp(p->field, "state.reason") == 0)
				d->reason = p->value.i;
		}
		d->managed_save = g_hash_table_contains(saved, d->name);
		g_ptr_array_add(list, d);
	}
	virDomainStatsRecordListFree(recs);
	*out = list;
	return true;
}

static void
pool_describe(virStoragePoolPtr pool, virt_pool *out)
{
	char *xml = virStoragePoolGetXMLDesc(pool, 0);

	if (!xml)
		return;
	out->type = xpath_string(xml, "string(/pool/@type)");
	out->path = xpath_string(xml, "string(/pool/target/path)");
	free(xml);
}

/* False when the listing failed: the pool's content is then unknown. */
static bool
list_volumes(virt_host *h, virStoragePoolPtr pool, GPtrArray *vols)
{
	virStorageVolPtr *v = NULL;
	int n;

	count(h);
	n = virStoragePoolListAllVolumes(pool, &v, 0);
	for (int i = 0; i < n; i++) {
		virt_vol *vol = g_new0(virt_vol, 1);

		vol->pool = g_strdup(virStoragePoolGetName(pool));
		vol->name = g_strdup(virStorageVolGetName(v[i]));
		vol->key = g_strdup(virStorageVolGetKey(v[i]));
		g_ptr_array_add(vols, vol);
		virStorageVolFree(v[i]);
	}
	free(v);
	virResetLastError();
	return n >= 0;
}

bool
virt_list_pools(virt_host *h, GPtrArray **pools_out, GPtrArray **vols_out,
		GError **error)
{
	virStoragePoolPtr *pools = NULL;
	virStoragePoolInfo info;
	GPtrArray *plist, *vlist;
	int n;

	count(h);
	n = virConnectListAllStoragePools(h->conn, &pools, 0);
	if (n < 0)
		return fail(error, "cannot list storage pools on", h->uri);
	plist = g_ptr_array_new_with_free_func(virt_pool_free);
	vlist = g_ptr_array_new_with_free_func(virt_vol_free);
	for (int i = 0; i < n; i++) {
		virt_pool *p = g_new0(virt_pool, 1);

		p->name = g_strdup(virStoragePoolGetName(pools[i]));
		count(h);
		pool_describe(pools[i], p);
		count(h);
		/* State and size in one call. */
		if (virStoragePoolGetInfo(pools[i], &info) == 0) {
			p->active = info.state == VIR_STORAGE_POOL_RUNNING;
			p->capacity = info.capacity;
			p->available = info.available;
			p->sized = p->active;
		} else {
			virResetLastError();
		}
		p->listed = p->active && list_volumes(h, pools[i], vlist);
		g_ptr_array_add(plist, p);
		virStoragePoolFree(pools[i]);
	}
	free(pools);
	*pools_out = plist;
	*vols_out = vlist;
	return true;
}

bool
virt_pool_set_active(virt_host *h, const char *pool, bool active, GError **error)
{
	virStoragePoolPtr p;
	int rc;

	count(h);
	p = virStoragePoolLookupByName(h->conn, pool);
	if (!p)
		return fail(error, "cannot find pool", pool);
	count(h);
	rc = active ? virStoragePoolCreate(p, 0) : virStoragePoolDestroy(p);
	if (rc < 0)
		fail(error, active ? "cannot start pool" : "cannot stop pool", pool);
	virStoragePoolFree(p);
	return rc >= 0;
}

bool
virt_node_info(virt_host *h, virt_node *out, GError **error)
{
	virNodeInfo info;
	unsigned long long free_mem;

	count(h);
	if (virNodeGetInfo(h->conn, &info) < 0)
		return fail(error, "cannot read node info of", h->uri);
	count(h);
	free_mem = virNodeGetFreeMemory(h->conn);
	out->cpus = info.cpus;
	out->memory = (uint64_t)info.memory * 1024;
	out->free_memory = free_mem ? free_mem : out->memory;
	virResetLastError();
	return true;
}

typedef struct {
	virt_host *h;
	virt_event_fn fn;
	gpointer data;
} event_sink;

static int
on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void *opaque)
{
	event_sink *sink = opaque;

	(void)conn;
	if (event >= 0 && event < VIRT_EV_DEVICE)  /* a newer libvirt's are not ours */
		sink->fn(sink->h, virDomainGetName(dom), event, detail, sink->data);
	return 0;
}

/* A device added or removed while the domain runs: someone's hot-plug, a
 * guest that let go of a device late, or strata's own attach or detach. */
static void
on_device(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
	event_sink *sink = opaque;

	(void)conn;
	(void)alias;
	sink->fn(sink->h, virDomainGetName(dom), VIRT_EV_DEVICE, 0, sink->data);
}

static void
watch_devices(virt_host *h, const event_sink *sink)
{
	static const int ids[] = { VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED };

	for (guint i = 0; i < G_N_ELEMENTS(ids); i++) {
		event_sink *own;

		if (h->device_ids[i] >= 0)
			continue;  /* watched already: never twice */
		own = g_memdup2(sink, sizeof(*sink));

		h->device_ids[i] = virConnectDomainEventRegisterAny(h->conn, NULL, ids[i],
								    VIR_DOMAIN_EVENT_CALLBACK(on_device), own, g_free);
		if (h->device_ids[i] < 0) {
			g_free(own);
			virResetLastError();
		}
	}
}

/*
 * A guest that reboots under <on_reboot>destroy</on_reboot> stops: QEMU's
 * SHUTDOWN event says why ({"guest": true, "reason": "guest-reset"}, or
 * "guest-shutdown" for a power-off), and libvirt's STOPPED event that
 * follows it does not (SHUTDOWN for both).  libvirt passes QEMU's own
 * events on only through libvirt-qemu; it queues this one before the
 * lifecycle events that follow (one queue, one connection), so the
 * reason is known when the STOPPED event comes.  A host without it (the
 * test driver, another hypervisor) tells no reboot from a power-off.
 */
static void
on_qemu_shutdown(virConnectPtr conn, virDomainPtr dom, const char *event, long long seconds,
		 unsigned int micros, const char *details, void *opaque)
{
	event_sink *sink = opaque;
	g_autoptr(JsonParser) p = json_parser_new();
	JsonNode *root;
	const char *reason = NULL;

	(void)conn;
	(void)event;
	(void)seconds;
	(void)micros;
	if (!details || !json_parser_load_from_data(p, details, -1, NULL))
		return;
	root = json_parser_get_root(p);
	if (root && JSON_NODE_HOLDS_OBJECT(root))
		reason = json_object_get_string_member_with_default(json_node_get_object(root), "reason", NULL);
	/* A reset asked through the monitor (virsh reset) stops it too; a
	 * subsystem reset never does. */
	if (reason && (strcmp(reason, "guest-reset") == 0 || strcmp(reason, "host-qmp-system-reset") == 0))
		sink->fn(sink->h, virDomainGetName(dom), VIRT_EV_GUEST_RESET, 0, sink->data);
}

static void
watch_resets(virt_host *h, const event_sink *sink)
{
	event_sink *own;

	if (h->reset_id >= 0 || strcmp(h->domain_type, "test") == 0)
		return;
	own = g_memdup2(sink, sizeof(*sink));
	h->reset_id = virConnectDomainQemuMonitorEventRegister(h->conn, NULL, "SHUTDOWN", on_qemu_shutdown,
								own, g_free, 0);
	if (h->reset_id < 0) {
		g_warning("%s: no QEMU events (%s): a guest's reboot under reset_on_reboot reads as a "
			  "power-off (held)", h->uri, virGetLastErrorMessage());
		g_free(own);
		virResetLastError();
	}
}

/* libvirtd went away (restarted, killed, network): say so now, not at the
 * next periodic resync, so the daemon reconnects and re-registers. */
static void
on_close(virConnectPtr conn, int reason, void *opaque)
{
	event_sink *sink = opaque;

	(void)conn;
	g_atomic_int_set(&sink->h->closed, 1);
	sink->fn(sink->h, NULL, VIRT_EV_CLOSED, reason, sink->data);
}

int
virt_events_start(virt_host *h, virt_event_fn fn, gpointer data)
{
	event_sink *sink = g_new0(event_sink, 1);
	int id;

	sink->h = h;
	sink->fn = fn;
	sink->data = data;
	/* Keepalive needs the event loop; the test driver has none to keep. */
	if (strcmp(h->domain_type, "test") != 0) {
		event_sink *closed = g_memdup2(sink, sizeof(*sink));

		virConnectSetKeepAlive(h->conn, 5, 3);
		if (virConnectRegisterCloseCallback(h->conn, on_close, closed, g_free) < 0) {
			g_free(closed);
			virResetLastError();
		} else {
			h->close_registered = true;
		}
	}
	watch_devices(h, sink);
	watch_resets(h, sink);
	id = virConnectDomainEventRegisterAny(h->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
					      VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle),
					      sink, g_free);
	if (id < 0) {
		g_free(sink);
		virResetLastError();
	}
	return id;
}

void
virt_events_stop(virt_host *h, int id)
{
	if (id >= 0)
		virConnectDomainEventDeregisterAny(h->conn, id);
	for (guint i = 0; i < G_N_ELEMENTS(h->device_ids); i++) {
		if (h->device_ids[i] >= 0)
			virConnectDomainEventDeregisterAny(h->conn, h->device_ids[i]);
		h->device_ids[i] = -1;
	}
	if (h->reset_id >= 0)
		virConnectDomainQemuMonitorEventDeregister(h->conn, h->reset_id);
	h->reset_id = -1;
	/* Its data is the caller's, who may go while a late observer still
	 * holds the connection open. */
	if (h->close_registered) {
		virConnectUnregisterCloseCallback(h->conn, on_close);
		h->close_registered = false;
	}
}

bool
virt_host_closed(virt_host *h)
{
	return g_atomic_int_get(&h->closed) != 0;
}

bool
virt_host_alive(virt_host *h)
{
	return virConnectIsAlive(h->conn) == 1;
}

virDomainPtr
virt_domain_lookup(virt_host *h, const char *name, GError **error)
{
	virDomainPtr d;

	count(h);
	d = virDomainLookupByName(h->conn, name);
	if (!d)
		fail(error, "no domain", name);
	return d;
}

bool
virt_domain_xml(virt_host *h, const char *name, bool inactive, char **out,
		GError **error)
{
	virDomainPtr d = virt_domain_lookup(h, name, error);
	char *xml;

	if (!d)
		return false;
	count(h);
	xml = virDomainGetXMLDesc(d, inactive ? VIR_DOMAIN_XML_INACTIVE : 0);
	if (!xml)
		fail(error, "cannot read the definition of", name);
	virDomainFree(d);
	if (!xml)
		return false;
	*out = g_strdup(xml);
	free(xml);
	return true;
}

static virStoragePoolPtr
pool_lookup(virt_host *h, const char *pool, GError **error)
{
	virStoragePoolPtr p;

	count(h);
	p = virStoragePoolLookupByName(h->conn, pool);
	if (!p)
		fail(error, "no storage pool", pool);
	return p;
}

bool
virt_volume_detail(virt_host *h, const char *pool, const char *name,
		   virt_vol_detail *out, GError **error)
{
	virStoragePoolPtr p = pool_lookup(h, pool, error);
	virStorageVolPtr v;
	g_autofree char *cap = NULL, *unit = NULL;
	char *xml = NULL;

	if (!p)
		return false;
	count(h);
	v = virStorageVolLookupByName(p, name);
	if (v) {
		count(h);
		xml = virStorageVolGetXMLDesc(v, 0);
	}
	if (!xml)
		fail(error, "cannot read volume", name);
	if (v)
		virStorageVolFree(v);
	virStoragePoolFree(p);
	if (!xml)
		return false;
	cap = xpath_string(xml, "string(/volume/capacity)");
	unit = xpath_string(xml, "string(/volume/capacity/@unit)");
	out->capacity = cap ? g_ascii_strtoull(cap, NULL, 10) : 0;
	if (unit && strcmp(unit, "bytes") != 0 && strcmp(unit, "B") != 0)
		out->capacity = 0;  /* libvirt reports bytes; anything else is not trusted */
	g_free(cap);
	cap = xpath_string(xml, "string(/volume/allocation)");
	out->allocation = cap ? g_ascii_strtoull(cap, NULL, 10) : 0;
	out->backing = xpath_string(xml, "string(/volume/backingStore/path)");
	out->format = xpath_string(xml, "string(/volume/target/format/@type)");
	free(xml);
	return true;
}

bool
virt_define(virt_host *h, const char *xml, char *uuid_out, GError **error)
{
	/* Validated against libvirt's schema: what it would drop or reject
	 * later is rejected here, with its reason.  The schema is parsed for
	 * every call (~7 ms); a hypervisor pays it in libvirtd, but the
	 * built-in test driver would in strata's own process, 10x the cost
	 * of a simulated apply, so simulations skip it. */
	return virt_define_flags(h, xml, strcmp(h->domain_type, "test") != 0, uuid_out, error);
}

bool
virt_define_flags(virt_host *h, const char *xml, bool validate, char *uuid_out, GError **error)
{
	virDomainPtr d;

	count(h);
	d = virDomainDefineXMLFlags(h->conn, xml, validate ? VIR_DOMAIN_DEFINE_VALIDATE : 0);
	if (!d)
		return fail(error, "cannot define domain on", h->uri);
	if (uuid_out)
		virDomainGetUUIDString(d, uuid_out);
	virDomainFree(d);
	return true;
}

/* Run @fn on the domain named @name; the common shape of most mutations. */
#define WITH_DOMAIN(h, name, error, what, call)                 \
	do {                                                    \
		virDomainPtr dom = virt_domain_lookup((h), (name), (error));\
		int rc;                                         \
		if (!dom)                                       \
			return false;                           \
		count(h);                                       \
		rc = (call);                                    \
		if (rc < 0)                                     \
			fail((error), (what), (name));          \
		virDomainFree(dom); /* resets the last error */ \
		return rc >= 0;                                 \
	} while (0)

bool
virt_undefine(virt_host *h, const char *name, GError **error)
{
	/* Managed-save images and snapshot metadata go with the definition;
	 * NVRAM too where the driver has it.  Volumes are never touched here. */
	unsigned flags = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
			 VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
			 (strcmp(h->domain_type, "test") ? VIR_DOMAIN_UNDEFINE_NVRAM : 0);

	WITH_DOMAIN(h, name, error, "cannot undefine", virDomainUndefineFlags(dom, flags));
}

bool
virt_start(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot start", virDomainCreate(dom));
}

bool
virt_destroy(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot power off", virDomainDestroy(dom));
}

bool
virt_suspend(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot pause", virDomainSuspend(dom));
}

/* A guest its own power management suspended to RAM is woken, not
 * resumed: libvirt refuses virDomainResume for it. */
static int
resume_or_wake(virt_host *h, virDomainPtr dom)
{
	int state = 0, reason = 0;

	count(h);
	if (virDomainGetState(dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_PMSUSPENDED) {
		count(h);
		return virDomainPMWakeup(dom, 0);
	}
	count(h);
	return virDomainResume(dom);
}

bool
virt_resume(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot resume", resume_or_wake(h, dom));
}

bool
virt_managed_save(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot save", virDomainManagedSave(dom, 0));
}

bool
virt_managed_save_remove(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot discard the saved state of",
		    virDomainManagedSaveRemove(dom, 0));
}

bool
virt_set_vcpus(virt_host *h, const char *name, unsigned n, bool live,
	       GError **error)
{
	unsigned flags = live ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG;

	WITH_DOMAIN(h, name, error, "cannot set vCPUs of",
		    virDomainSetVcpusFlags(dom, n, flags));
}

bool
virt_set_memory(virt_host *h, const char *name, uint64_t bytes, bool live,
		GError **error)
{
	unsigned flags = live ? VIR_DOMAIN_AFFECT_LIVE : VIR_DOMAIN_AFFECT_CONFIG;

	WITH_DOMAIN(h, name, error, "cannot set memory of",
		    virDomainSetMemoryFlags(dom, bytes / 1024, flags));
}

/*
 * Press the power button.  A press libvirt refuses is an error only while
 * the guest runs (the request never left); in any other state the guest is
 * on its way down already, or cannot see a button, and the caller's
 * deadline decides.
 */
static bool
press_power_button(virt_host *h, virDomainPtr dom, const char *name, GError **error)
{
	int state = 0, reason = 0;

	count(h);
	if (!fault_injected("shutdown") && virDomainShutdown(dom) == 0)
		return true;
	fail(error, "cannot ask to shut down", name);
	count(h);
	if (virDomainGetState(dom, &state, &reason, 0) == 0 && state != VIR_DOMAIN_RUNNING) {
		g_clear_error(error);
		return true;
	}
	return false;
}

/*
 * Graceful first; a guest that ignores ACPI is powered off at the deadline.
 * The button is pressed again every VIRT_SHUTDOWN_REPRESS_MS: a guest still
 * in its firmware, or an OS not yet listening, drops the first press (as
 * OpenStack's shutdown_retry_interval does for the same reason).  A paused
 * guest, or one suspended to RAM, cannot see the button: powered off at
 * once.  The fault hook stop-delay=MS holds the first press that long (a
 * guest slow to answer, on a driver whose guests answer at once); the
 * deadline starts at the press.
 */
bool
virt_stop_begin(virt_host *h, const char *name, unsigned timeout_ms, virt_stop *s, bool *off,
		GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	gint64 now = g_get_monotonic_time();
	int state = 0, reason = 0;
	bool ok = true;

	bool no_force = s->no_force;

	*off = false;
	if (!dom)
		return false;
	memset(s, 0, sizeof(*s));
	s->no_force = no_force;
	s->timeout_ms = timeout_ms;
	s->press_at = now + (gint64)fault_delay_ms("stop-delay") * 1000;
	count(h);
	if (virDomainGetState(dom, &state, &reason, 0) < 0) {
		ok = fail(error, "cannot read the state of", name);
	} else if (state == VIR_DOMAIN_SHUTOFF) {
		*off = true;
		s->was_off = true;
	} else if (state == VIR_DOMAIN_PMSUSPENDED || state == VIR_DOMAIN_PAUSED) {
		count(h);
		ok = virDomainDestroy(dom) == 0 || fail(error, "cannot power off", name);
		*off = ok;
	} else if (s->press_at <= now) {
		ok = press_power_button(h, dom, name, error);
		s->pressed = true;
		s->deadline = now + (gint64)timeout_ms * 1000;
		s->repress = now + VIRT_SHUTDOWN_REPRESS_MS * 1000;
		/* One more look: a guest already on its way down (or a driver
		 * whose guests answer at once) needs no waiting at all. */
		count(h);
		*off = ok && virDomainGetState(dom, &state, &reason, 0) == 0 &&
		       state == VIR_DOMAIN_SHUTOFF;
	}
	virDomainFree(dom);
	return ok;
}

bool
virt_stop_step(virt_host *h, const char *name, int state, gint64 now, virt_stop *s, bool *ok,
	       GError **error)
{
	virDomainPtr dom;

	*ok = true;
	if (state < 0 || state == VIR_DOMAIN_SHUTOFF)
		return true;  /* off, or gone: nothing left running */
	if (s->pressed ? now < s->repress && now < s->deadline : now < s->press_at)
		return false;  /* nothing due: no call */
	dom = virt_domain_lookup(h, name, error);
	if (!dom) {
		*ok = g_error_matches(*error, VIRT_ERROR, VIRT_ERROR_NOT_FOUND);
		if (*ok)
			g_clear_error(error);
		return true;
	}
	if (!s->pressed) {
		*ok = press_power_button(h, dom, name, error);
		s->pressed = true;
		s->deadline = now + (gint64)s->timeout_ms * 1000;
		s->repress = now + VIRT_SHUTDOWN_REPRESS_MS * 1000;
		virDomainFree(dom);
		return !*ok;
	}
	if (now >= s->deadline && s->no_force) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s did not shut down within %u s, and is not "
			    "powered off: what comes next needs a clean stop", name, s->timeout_ms / 1000);
		*ok = false;
		virDomainFree(dom);
		return true;
	}
	if (now >= s->deadline) {
		count(h);
		*ok = virDomainDestroy(dom) == 0 || fail(error, "cannot power off", name);
		/* The state came from a listing made a moment ago: a guest that
		 * went off (or went away) since cannot be powered off, and needs
		 * not be. */
		if (!*ok && (g_error_matches(*error, VIRT_ERROR, VIRT_ERROR_NOT_FOUND) ||
			     virDomainIsActive(dom) == 0)) {
			g_clear_error(error);
			*ok = true;
		}
		virDomainFree(dom);
		return true;
	}
	if (now >= s->repress) {
		/* A later press may meet the guest powering off: only the
		 * deadline decides now. */
		s->repress = now + VIRT_SHUTDOWN_REPRESS_MS * 1000;
		count(h);
		if (virDomainShutdown(dom) < 0)
			virResetLastError();
	}
	virDomainFree(dom);
	return false;
}

bool
virt_shutdown(virt_host *h, const char *name, unsigned timeout_ms, GError **error)
{
	virt_stop s = { 0 };  /* no_force is read by virt_stop_begin */
	bool off, ok = true;

	if (!virt_stop_begin(h, name, timeout_ms, &s, &off, error))
		return false;
	while (!off) {
		virDomainPtr dom = virt_domain_lookup(h, name, NULL);
		int state = -1, reason = 0;

		if (dom) {
			count(h);
			if (virDomainGetState(dom, &state, &reason, 0) < 0)
				state = VIR_DOMAIN_RUNNING;  /* unknown: the deadline decides */
			virDomainFree(dom);
		}
		off = virt_stop_step(h, name, state, g_get_monotonic_time(), &s, &ok, error);
		if (!off)
			g_usleep(100 * 1000);
	}
	return ok;
}

bool
virt_pm_wakeup(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot wake up", virDomainPMWakeup(dom, 0));
}

bool
virt_reboot(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot reboot", virDomainReboot(dom, 0));
}

/*
 * Live migration, peer to peer: the source libvirtd talks to @dest_uri
 * itself, so it must reach it under that name.  The domain arrives defined
 * (and leaves no definition behind); its disks are copied whole through
 * QEMU's NBD mirror into volumes the plan made first.  Whole, not only the
 * top layer (NON_SHARED_INC): libvirt 9 refuses the incremental copy for
 * disks given as pool volumes, which is how strata defines them.  @migration_uri (tcp://ADDRESS) says where the data goes when
 * the target's hostname is not the way to reach it.
 *
 * @shared: the disks are on pools both hosts see, verified by strata's
 * probe: nothing is copied.  libvirt judges shared storage by filesystem
 * type (NFS, GFS2, OCFS2, Ceph...) and refuses one it does not know as
 * shared (a bind mount, a cluster filesystem it has no test for) unless
 * told VIR_MIGRATE_UNSAFE; the probe is the better test, so strata says so.
 */
bool
virt_migrate(virt_host *h, const char *name, const char *dest_uri,
	     const char *migration_uri, bool shared, GError **error)
{
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0;
	unsigned flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST |
			 VIR_MIGRATE_UNDEFINE_SOURCE |
			 (shared ? VIR_MIGRATE_UNSAFE : VIR_MIGRATE_NON_SHARED_DISK);
	bool ok;

	if (migration_uri &&
	    virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI, migration_uri) < 0) {
		fail(error, "cannot migrate", name);
		return false;
	}
	{
		virDomainPtr dom = virt_domain_lookup(h, name, error);

		ok = dom != NULL;
		if (dom) {
			count(h);
			ok = virDomainMigrateToURI3(dom, dest_uri, params, (unsigned)n, flags) == 0;
			if (!ok)
				fail(error, "cannot migrate", name);
			virDomainFree(dom);
		}
	}
	virTypedParamsFree(params, n);
	return ok;
}

bool
virt_abort_job(virt_host *h, const char *name, GError **error)
{
	WITH_DOMAIN(h, name, error, "cannot abort the job of", virDomainAbortJob(dom));
}

bool
virt_vol_create(virt_host *h, const char *pool, const char *xml,
		const char *clone_from, GError **error)
{
	virStoragePoolPtr p = pool_lookup(h, pool, error);
	virStorageVolPtr src = NULL, v = NULL;

	if (!p)
		return false;
	if (clone_from) {
		count(h);
		src = virStorageVolLookupByName(p, clone_from);
		if (!src) {
			fail(error, "no volume", clone_from);
			virStoragePoolFree(p);
			return false;
		}
	}
	count(h);
	v = src ? virStorageVolCreateXMLFrom(p, xml, src, 0)
		: virStorageVolCreateXML(p, xml, 0);
	if (!v)
		fail(error, "cannot create a volume in pool", pool);
	if (src)
		virStorageVolFree(src);
	virStoragePoolFree(p);
	if (!v)
		return false;
	virStorageVolFree(v);
	return true;
}

/* @pool/@name, looked up (two calls), or NULL with @error. */
static virStorageVolPtr
vol_lookup(virt_host *h, const char *pool, const char *name, GError **error)
{
	virStoragePoolPtr p = pool_lookup(h, pool, error);
	virStorageVolPtr v;

	if (!p)
		return NULL;
	count(h);
	v = virStorageVolLookupByName(p, name);
	if (!v)
		fail(error, "no volume", name);
	virStoragePoolFree(p);
	return v;
}

bool
virt_vol_key(virt_host *h, const char *pool, const char *name, char **key,
	     GError **error)
{
	virStorageVolPtr v = vol_lookup(h, pool, name, error);

	if (!v)
		return false;
	*key = g_strdup(virStorageVolGetKey(v));  /* kept by the lookup: no call */
	virStorageVolFree(v);
	return true;
}

guint64
virt_host_serial(const virt_host *h)
{
	return h->serial;
}

bool
virt_pool_refresh(virt_host *h, const char *pool, GError **error)
{
	virStoragePoolPtr p = pool_lookup(h, pool, error);
	bool ok;

	if (!p)
		return false;
	count(h);
	ok = virStoragePoolRefresh(p, 0) == 0;
	if (!ok)
		fail(error, "cannot refresh pool", pool);
	virStoragePoolFree(p);
	return ok;
}

int
virt_vol_exists(virt_host *h, const char *pool, const char *name, GError **error)
{
	virStoragePoolPtr p = pool_lookup(h, pool, error);
	virStorageVolPtr v;
	virErrorPtr e;
	int rc = 1;

	if (!p)
		return -1;
	count(h);
	v = virStorageVolLookupByName(p, name);
	if (v) {
		virStorageVolFree(v);
	} else if ((e = virGetLastError()) && e->code == VIR_ERR_NO_STORAGE_VOL) {
		virResetLastError();
		rc = 0;
	} else {
		fail(error, "cannot look for volume", name);
		rc = -1;
	}
	virStoragePoolFree(p);
	return rc;
}

bool
virt_vol_delete(virt_host *h, const char *pool, const char *name,
		GError **error)
{
	virStorageVolPtr v = vol_lookup(h, pool, name, error);
	int rc;

	if (!v)
		return false;
	count(h);
	rc = virStorageVolDelete(v, 0);
	if (rc < 0)
		fail(error, "cannot delete volume", name);
	virStorageVolFree(v);
	return rc >= 0;
}

/* ---- for virt_copy.c (virt_internal.h) --------------------------------- */

void
virt_count(virt_host *h)
{
	count(h);
}

bool
virt_fail(GError **error, const char *what, const char *subject)
{
	return fail(error, what, subject);
}

virStoragePoolPtr
virt_pool_lookup(virt_host *h, const char *pool, GError **error)
{
	return pool_lookup(h, pool, error);
}
