/*
 * virt_snapshot.c - a domain's snapshots: take, list, revert, delete
 *
 * strata writes who took a snapshot into its description (VIRT_SNAP_*):
 * a declaration reverts or deletes only snapshots strata took, never one
 * an operator made by hand with virsh, whose meaning strata cannot know.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "virt_internal.h"

void
virt_snap_free(gpointer p)
{
	virt_snap *s = p;

	g_free(s->name);
	g_free(s->parent);
	g_free(s->state);
	g_free(s->description);
	g_free(s);
}

bool
virt_snap_ours(const virt_snap *s)
{
	return (s->description && g_str_has_prefix(s->description, "taken by strata")) ||
	       g_str_has_prefix(s->name, "strata-");
}

bool
virt_snapshot_create(virt_host *h, const char *name, const char *snapshot,
		     const char *description, GError **error)
{
	g_autofree char *xml = NULL;
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = xmlNewNode(NULL, BAD_CAST "domainsnapshot");
	xmlChar *buf = NULL;
	virDomainPtr dom;
	virDomainSnapshotPtr snap;
	int len = 0;

	/* Built as a tree, like every XML strata hands libvirt. */
	xmlDocSetRootElement(doc, root);
	xmlNewTextChild(root, NULL, BAD_CAST "name", BAD_CAST snapshot);
	xmlNewTextChild(root, NULL, BAD_CAST "description", BAD_CAST description);
	xmlDocDumpMemory(doc, &buf, &len);
	xml = g_strndup((const char *)buf, (gsize)len);
	xmlFree(buf);
	xmlFreeDoc(doc);
	if (!(dom = virt_domain_lookup(h, name, error)))
		return false;
	virt_count(h);
	snap = virDomainSnapshotCreateXML(dom, xml, 0);
	if (!snap)
		virt_fail(error, "cannot snapshot", name);
	else
		virDomainSnapshotFree(snap);
	virDomainFree(dom);
	return snap != NULL;
}

static gint
snap_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(virDomainSnapshotGetName(*(virDomainSnapshotPtr const *)a),
		      virDomainSnapshotGetName(*(virDomainSnapshotPtr const *)b));
}

bool
virt_snapshots_prune(virt_host *h, const char *name, const char *prefix, guint keep,
		     GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	virDomainSnapshotPtr *snaps = NULL;
	g_autoptr(GPtrArray) ours = g_ptr_array_new();
	bool ok = true;
	int n;

	if (!dom)
		return false;
	virt_count(h);
	n = virDomainListAllSnapshots(dom, &snaps, 0);
	if (n < 0) {
		virt_fail(error, "cannot list the snapshots of", name);
		virDomainFree(dom);
		return false;
	}
	for (int i = 0; i < n; i++)
		if (g_str_has_prefix(virDomainSnapshotGetName(snaps[i]), prefix))
			g_ptr_array_add(ours, snaps[i]);
	g_ptr_array_sort(ours, snap_cmp);
	for (guint i = 0; ok && ours->len > keep && i < ours->len - keep; i++) {
		virt_count(h);
		if (virDomainSnapshotDelete(ours->pdata[i], 0) < 0)
			ok = virt_fail(error, "cannot delete a snapshot of", name);
	}
	for (int i = 0; i < n; i++)
		virDomainSnapshotFree(snaps[i]);
	free(snaps);
	virDomainFree(dom);
	return ok;
}

int
virt_snapshot_count(virt_host *h, const char *name, const char *prefix)
{
	virDomainPtr dom = virt_domain_lookup(h, name, NULL);
	virDomainSnapshotPtr *snaps = NULL;
	int n, matching = 0;

	if (!dom)
		return -1;
	virt_count(h);
	n = virDomainListAllSnapshots(dom, &snaps, 0);
	for (int i = 0; i < n; i++) {
		matching += g_str_has_prefix(virDomainSnapshotGetName(snaps[i]), prefix);
		virDomainSnapshotFree(snaps[i]);
	}
	free(snaps);
	virDomainFree(dom);
	return n < 0 ? -1 : matching;
}

static char *
eval(xmlXPathContextPtr ctx, const char *expr)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, ctx);
	xmlChar *s = r ? xmlXPathCastToString(r) : NULL;
	char *out = s && *s ? g_strdup((const char *)s) : NULL;

	xmlFree(s);
	xmlXPathFreeObject(r);
	return out;
}

/* A snapshot's XML, read into @s; false when it cannot be parsed. */
static bool
snap_parse(const char *xml, virt_snap *s)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "snapshot.xml", NULL,
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	xmlXPathContextPtr ctx = doc ? xmlXPathNewContext(doc) : NULL;
	g_autofree char *created = NULL;
	g_autofree char *external = NULL;

	if (!ctx) {
		xmlFreeDoc(doc);
		return false;
	}
	s->parent = eval(ctx, "string(/domainsnapshot/parent/name)");
	s->state = eval(ctx, "string(/domainsnapshot/state)");
	s->description = eval(ctx, "string(/domainsnapshot/description)");
	created = eval(ctx, "string(/domainsnapshot/creationTime)");
	s->created = created ? g_ascii_strtoll(created, NULL, 10) : 0;
	external = eval(ctx, "string(count(/domainsnapshot/disks/disk[@snapshot='external'] | "
			"/domainsnapshot/memory[@snapshot='external']))");
	s->external = external && strcmp(external, "0") != 0;
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return true;
}

static gint
created_cmp(gconstpointer a, gconstpointer b)
{
	const virt_snap *x = *(virt_snap *const *)a, *y = *(virt_snap *const *)b;

	return x->created != y->created ? (x->created < y->created ? -1 : 1) : strcmp(x->name, y->name);
}

bool
virt_snapshot_list(virt_host *h, const char *name, GPtrArray **out, GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	virDomainSnapshotPtr *snaps = NULL;
	g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func(virt_snap_free);
	bool ok = true;
	int n;

	if (!dom)
		return false;
	virt_count(h);
	n = virDomainListAllSnapshots(dom, &snaps, 0);
	if (n < 0)
		ok = virt_fail(error, "cannot list the snapshots of", name);
	for (int i = 0; i < n; i++) {
		virt_snap *s = g_new0(virt_snap, 1);
		char *xml;

		s->name = g_strdup(virDomainSnapshotGetName(snaps[i]));
		g_ptr_array_add(list, s);
		virt_count(h);
		xml = ok ? virDomainSnapshotGetXMLDesc(snaps[i], 0) : NULL;
		if (ok && (!xml || !snap_parse(xml, s)))
			ok = xml ? (g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
						"cannot read snapshot '%s' of '%s'", s->name, name), false)
				 : virt_fail(error, "cannot read a snapshot of", name);
		s->current = ok && virDomainSnapshotIsCurrent(snaps[i], 0) == 1;
		free(xml);
		virDomainSnapshotFree(snaps[i]);
	}
	free(snaps);
	virDomainFree(dom);
	if (!ok)
		return false;
	g_ptr_array_sort(list, created_cmp);
	*out = g_steal_pointer(&list);
	return true;
}

/* Snapshot @snapshot of @name, or NULL with @error; *@dom to free. */
static virDomainSnapshotPtr
snap_lookup(virt_host *h, const char *name, const char *snapshot, virDomainPtr *dom,
	    GError **error)
{
	virDomainSnapshotPtr snap;

	if (!(*dom = virt_domain_lookup(h, name, error)))
		return NULL;
	virt_count(h);
	snap = virDomainSnapshotLookupByName(*dom, snapshot, 0);
	if (!snap) {
		virt_fail(error, "cannot find the snapshot of", name);
		virDomainFree(*dom);
		*dom = NULL;
	}
	return snap;
}

bool
virt_snapshot_revert(virt_host *h, const char *name, const char *snapshot, GError **error)
{
	virDomainPtr dom = NULL;
	virDomainSnapshotPtr snap = snap_lookup(h, name, snapshot, &dom, error);
	bool ok;

	if (!snap)
		return false;
	virt_count(h);
	/* No REVERT_FORCE: where libvirt judges a revert unsafe (a snapshot
	 * without a definition, a running VM whose ABI differs), it refuses,
	 * and strata says so rather than insisting. */
	ok = virDomainRevertToSnapshot(snap, 0) == 0 ||
	     virt_fail(error, "cannot revert to the snapshot of", name);
	virDomainSnapshotFree(snap);
	virDomainFree(dom);
	return ok;
}

bool
virt_snapshot_delete(virt_host *h, const char *name, const char *snapshot, GError **error)
{
	virDomainPtr dom = NULL;
	virDomainSnapshotPtr snap = snap_lookup(h, name, snapshot, &dom, error);
	bool ok;

	if (!snap)
		return false;
	virt_count(h);
	ok = virDomainSnapshotDelete(snap, 0) == 0 ||
	     virt_fail(error, "cannot delete a snapshot of", name);
	virDomainSnapshotFree(snap);
	virDomainFree(dom);
	return ok;
}
