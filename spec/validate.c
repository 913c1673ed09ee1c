/*
 * validate.c - the checks that span documents
 *
 * Each check reads the model and adds diagnostics; none stops the others,
 * so a source with five mistakes gets five messages in one run.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <string.h>

#include "spec.h"

typedef struct {
	spec_source *src;
	spec_diags *diags;
	GHashTable *zones;  /* IANA name -> GTimeZone: each zone file read once */
	GHashTable *host_tags;  /* spec_host * -> set of its tags */
	GHashTable *all_tags;   /* every host's tags */
	GHashTable *macs;       /* lowercase MAC -> its first mac_owner */
} checker;

/* Where a persistent template is used, to report a second binding. */
typedef struct {
	const spec_appliance *app;
	const spec_vm *vm;
} binding;

/* ---- names ------------------------------------------------------------- */

static GHashTable *
index_objects(checker *c, GPtrArray *objs, const char *what)
{
	GHashTable *idx = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < objs->len; i++) {
		spec_obj *o = objs->pdata[i];
		spec_obj *first;

		if (!o->name.v)
			continue;
		first = g_hash_table_lookup(idx, o->name.v);
		if (first) {
			spec_error(c->diags, o->file, o->name.pos, "duplicate-name",
				   "%s '%s' is already defined at %s:%u:%u; names must be unique",
				   what, o->name.v, first->file, first->name.pos.line,
				   first->name.pos.col);
			continue;
		}
		g_hash_table_insert(idx, o->name.v, o);
	}
	return idx;
}

static GPtrArray *
names_of(GHashTable *idx)
{
	GPtrArray *names = g_ptr_array_new();
	GHashTableIter it;
	gpointer k;

	g_hash_table_iter_init(&it, idx);
	while (g_hash_table_iter_next(&it, &k, NULL))
		g_ptr_array_add(names, k);
	return names;
}

/* A reference that names nothing: say so, and guess what was meant. */
static void
report_dangling(checker *c, const char *file, const spec_str *ref,
		const char *what, const char *missing, GPtrArray *candidates)
{
	const char *guess = NULL;

	/* A guess costs a pass over the candidates: only for messages kept. */
	if (candidates && !spec_diags_full(c->diags))
		guess = spec_suggest(ref->v, (const char *const *)candidates->pdata,
				     candidates->len);

	if (guess)
		spec_error(c->diags, file, ref->pos, "unknown-reference",
			   "%s '%s' %s (did you mean '%s'?)", what, ref->v, missing, guess);
	else
		spec_error(c->diags, file, ref->pos, "unknown-reference",
			   "%s '%s' %s", what, ref->v, missing);
}

static void *
resolve(checker *c, const char *file, const spec_str *ref, GHashTable *idx,
	const char *what)
{
	g_autoptr(GPtrArray) names = NULL;
	void *obj;

	if (!ref->v)
		return NULL;
	obj = g_hash_table_lookup(idx, ref->v);
	if (obj)
		return obj;
	if (!spec_diags_full(c->diags))
		names = names_of(idx);
	report_dangling(c, file, ref, what, "is not defined", names);
	return NULL;
}

/* ---- hosts ------------------------------------------------------------- */

/* Tag sets, so matching a VM's `requires` costs one lookup per tag. */
static void
index_tags(checker *c)
{
	c->host_tags = g_hash_table_new_full(NULL, NULL, NULL,
					     (GDestroyNotify)g_hash_table_unref);
	c->all_tags = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < c->src->hosts->len; i++) {
		spec_host *h = c->src->hosts->pdata[i];
		GHashTable *tags = g_hash_table_new(g_str_hash, g_str_equal);

		for (guint j = 0; j < spec_list_len(&h->tags); j++) {
			g_hash_table_add(tags, (gpointer)spec_list_str(&h->tags, j));
			g_hash_table_add(c->all_tags, (gpointer)spec_list_str(&h->tags, j));
		}
		g_hash_table_insert(c->host_tags, h, tags);
	}
}

static void
check_hosts(checker *c)
{
	g_autoptr(GHashTable) uris = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < c->src->hosts->len; i++) {
		spec_host *h = c->src->hosts->pdata[i];
		spec_host *first;

		if (!h->uri.v)
			continue;
		first = g_hash_table_lookup(uris, h->uri.v);
		if (first) {
			spec_error(c->diags, h->obj.file, h->uri.pos, "duplicate-uri",
				   "host '%s' has the same uri as host '%s'; each hypervisor is described once",
				   h->obj.name.v ? h->obj.name.v : "?",
				   first->obj.name.v ? first->obj.name.v : "?");
			continue;
		}
		g_hash_table_insert(uris, h->uri.v, h);
	}
}

/* ---- pools ------------------------------------------------------------- */

/*
 * A shared pool names at least two hosts, each defined, each once.  Whether
 * they really see the same storage is checked on the live hosts (a probe
 * volume), not here.
 */
static void
check_pool(checker *c, const spec_pool *p)
{
	g_autoptr(GPtrArray) names = NULL;
	guint n = spec_list_len(&p->hosts);

	/* (A host listed twice is the list's own error, duplicate-item.) */
	for (guint i = 0; i < n; i++) {
		const spec_str *h = &g_array_index(p->hosts.items, spec_str, i);

		if (g_hash_table_contains(c->src->host_by_name, h->v))
			continue;
		if (!names && !spec_diags_full(c->diags))
			names = names_of(c->src->host_by_name);
		report_dangling(c, p->obj.file, h, "host", c->src->hosts->len ? "is not defined" :
				"is not defined: the source has no host documents, and a shared pool needs two",
				names);
	}
	if (p->shared.set && p->shared.v && p->hosts.set && n < 2)
		spec_error(c->diags, p->obj.file, p->hosts.pos, "pool-hosts",
			   "pool '%s' is declared shared but names %u host%s; list every host that mounts it (at least two)",
			   p->obj.name.v ? p->obj.name.v : "?", n, n == 1 ? "" : "s");
}

static void
check_pools(checker *c)
{
	for (guint i = 0; i < c->src->pools->len; i++)
		check_pool(c, c->src->pools->pdata[i]);
}

static bool
host_has_tag(const checker *c, const spec_host *h, const char *tag)
{
	return g_hash_table_contains(g_hash_table_lookup(c->host_tags, h), tag);
}

/* Why @h cannot carry @vm, or NULL if it can. */
static char *
host_ineligible(const checker *c, const spec_host *h, const spec_vm *vm)
{
	if (h->state.v == HOST_LOST)
		return g_strdup_printf("%s is lost", h->obj.name.v);
	if (h->maintenance.v)
		return g_strdup_printf("%s is in maintenance", h->obj.name.v);
	if (vm->host.v && strcmp(vm->host.v, h->obj.name.v) != 0)
		return g_strdup_printf("%s is not %s, the host VM '%s' names", h->obj.name.v, vm->host.v,
				       vm->name.v ? vm->name.v : "?");
	for (guint i = 0; i < spec_list_len(&vm->requires); i++) {
		const char *tag = spec_list_str(&vm->requires, i);

		if (!host_has_tag(c, h, tag))
			return g_strdup_printf("%s lacks tag '%s'", h->obj.name.v, tag);
	}
	return NULL;
}

/* ---- templates --------------------------------------------------------- */

/* A checksum as sha256sum prints it: 64 lowercase hexadecimal digits. */
static bool
is_sha256(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");

	return n == 64 && s[n] == '\0';
}

/* The VM a template is captured from: APPLIANCE.VM, defined, and not built
 * on the template itself. */
static void
check_capture(checker *c, const spec_template *t)
{
	g_auto(GStrv) parts = g_strsplit(t->source_vm.v, ".", 2);
	const spec_appliance *a = parts[0] && parts[1] ? g_hash_table_lookup(c->src->appliance_by_name, parts[0]) : NULL;

	if (!parts[0] || !parts[1]) {
		spec_error(c->diags, t->obj.file, t->source_vm.pos, "bad-value",
			   "source vm '%s' is not APPLIANCE.VM (for example shop.app1)", t->source_vm.v);
		return;
	}
	if (!a) {
		spec_error(c->diags, t->obj.file, t->source_vm.pos, "unknown-reference",
			   "source vm '%s': appliance '%s' is not defined", t->source_vm.v, parts[0]);
		return;
	}
	for (guint i = 0; i < a->vms->len; i++) {
		const spec_vm *vm = a->vms->pdata[i];

		if (g_strcmp0(vm->name.v, parts[1]) != 0)
			continue;
		if (g_strcmp0(vm->template.v, t->obj.name.v) == 0)
			spec_error(c->diags, t->obj.file, t->source_vm.pos, "capture-loop",
				   "template '%s' is captured from VM '%s', which is built on it", t->obj.name.v,
				   t->source_vm.v);
		else if (!vm->template.v)
			spec_error(c->diags, t->obj.file, t->source_vm.pos, "bad-value",
				   "source vm '%s' boots from a persistent volume; strata captures the system disk "
				   "of a VM built from a template", t->source_vm.v);
		return;
	}
	spec_error(c->diags, t->obj.file, t->source_vm.pos, "unknown-reference",
		   "source vm '%s': appliance '%s' has no VM '%s'", t->source_vm.v, parts[0], parts[1]);
}

/* The VM @t is captured from, or NULL. */
static const spec_vm *
capture_vm(checker *c, const spec_template *t)
{
	g_auto(GStrv) parts = t->source_vm.v ? g_strsplit(t->source_vm.v, ".", 2) : NULL;
	const spec_appliance *a = parts && parts[0] && parts[1] ?
				  g_hash_table_lookup(c->src->appliance_by_name, parts[0]) : NULL;

	for (guint i = 0; a && i < a->vms->len; i++)
		if (g_strcmp0(((spec_vm *)a->vms->pdata[i])->name.v, parts[1]) == 0)
			return a->vms->pdata[i];
	return NULL;
}

/* Whether @vm has a disk named @name: its own, or its template's. */
static bool
vm_has_disk(checker *c, const spec_vm *vm, const char *name)
{
	const spec_template *t = vm->template.v ? g_hash_table_lookup(c->src->template_by_name, vm->template.v)
						: NULL;

	for (guint i = 0; i < vm->disks->len; i++)
		if (g_strcmp0(((spec_disk *)vm->disks->pdata[i])->name.v, name) == 0)
			return true;
	for (guint i = 0; t && i < t->disks->len; i++)
		if (g_strcmp0(((spec_tdisk *)t->disks->pdata[i])->name.v, name) == 0)
			return true;
	return false;
}

/*
 * A template's disks beside its system disk: each named once ("system" is
 * the boot disk's), each its own base; on a captured template strata names
 * them, and the VM captured from must have a disk of each name.
 */
static void
check_template_disks(checker *c, spec_template *t)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	const spec_vm *from = capture_vm(c, t);

	if (t->disks->len && t->source_live.set && t->source_live.v)
		spec_error(c->diags, t->obj.file, t->source_live.pos, "bad-value",
			   "a live capture copies one disk at one instant, and template '%s' has %u more; "
			   "capture it with a stop (remove live)", t->obj.name.v ? t->obj.name.v : "?", t->disks->len);
	for (guint i = 0; i < t->disks->len; i++) {
		spec_tdisk *d = t->disks->pdata[i];

		if (!d->name.v)
			continue;
		if (!strcmp(d->name.v, "system") || g_hash_table_contains(seen, d->name.v)) {
			spec_error(c->diags, t->obj.file, d->name.pos, "duplicate-name",
				   "disk name '%s' is %s in template '%s'; give each disk its own name", d->name.v,
				   strcmp(d->name.v, "system") ? "used twice" : "reserved for the boot disk",
				   t->obj.name.v ? t->obj.name.v : "?");
			continue;
		}
		g_hash_table_add(seen, d->name.v);
		if (t->source_vm.v && d->volume.v)
			spec_error(c->diags, t->obj.file, d->volume.pos, "bad-value",
				   "template '%s' is captured from a VM: strata names its disks' volumes "
				   "(%s-v<N>-%s.qcow2); remove volume", t->obj.name.v ? t->obj.name.v : "?",
				   t->obj.name.v ? t->obj.name.v : "NAME", d->name.v);
		else if (t->source_vm.v && t->obj.name.v)
			d->volume.v = g_strdup_printf("%s-v%" G_GINT64_FORMAT "-%s.qcow2", t->obj.name.v, t->version.v,
						      d->name.v);
		else if (!d->volume.v)
			spec_error(c->diags, t->obj.file, d->pos, "missing-key",
				   "disk '%s' of template '%s' is missing required key 'volume' (its base in pool "
				   "'%s')", d->name.v, t->obj.name.v ? t->obj.name.v : "?", t->pool.v ? t->pool.v : "?");
		if (from && !vm_has_disk(c, from, d->name.v))
			spec_error(c->diags, t->obj.file, d->name.pos, "unknown-reference",
				   "template '%s' captures disk '%s' of VM '%s', which has no disk of that name; "
				   "name one of the VM's disks, or give VM '%s' a disk '%s'",
				   t->obj.name.v ? t->obj.name.v : "?", d->name.v, t->source_vm.v, t->source_vm.v,
				   d->name.v);
		if (g_regex_match_simple("^v[0-9]+(-|$)", d->name.v, 0, 0))
			spec_error(c->diags, t->obj.file, d->name.pos, "bad-value",
				   "disk name '%s' reads as a version in a captured base's name "
				   "(<template>-v<N>-<disk>.qcow2); give the disk another name", d->name.v);
		if (d->volume.v && t->volume.v && !strcmp(d->volume.v, t->volume.v))
			spec_error(c->diags, t->obj.file, d->volume.pos, "duplicate-name",
				   "disk '%s' of template '%s' names the template's own base '%s'; each disk has its "
				   "own base", d->name.v, t->obj.name.v ? t->obj.name.v : "?", d->volume.v);
	}
}

/* Two templates naming one base must agree on where it comes from and on
 * its checksum: the first is @a. */
static void
check_same_base(checker *c, const spec_template *a, const spec_template *b)
{
	const char *what = g_strcmp0(a->source_host.v, b->source_host.v) ? "source host" :
			   g_strcmp0(a->source_library.v, b->source_library.v) ? "source library" :
			   g_strcmp0(a->source_vm.v, b->source_vm.v) ? "source vm" :
			   a->sha256.v && b->sha256.v && strcmp(a->sha256.v, b->sha256.v) ? "sha256" :
			   g_strcmp0(a->source_library.v, NULL) && a->version.v != b->version.v ? "version" : NULL;

	if (what)
		spec_error(c->diags, b->obj.file, b->obj.name.pos, "base-conflict",
			   "template '%s' names base %s/%s as template '%s' does (%s:%u), but with another %s; "
			   "give both the same, or give one its own volume", b->obj.name.v, b->pool.v, b->volume.v,
			   a->obj.name.v, a->obj.file, a->obj.name.pos.line, what);
}

/*
 * Where a base comes from is a host or a library of the source; the
 * checksum, when given, is the one every copy must have.
 */
static void
check_templates(checker *c)
{
	g_autoptr(GHashTable) by_base = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GHashTable) disk_bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GHashTable) seen_disks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

	for (guint i = 0; i < c->src->templates->len; i++) {
		const spec_template *t = c->src->templates->pdata[i];

		for (guint k = 0; t->pool.v && k < t->disks->len; k++) {
			const spec_tdisk *d = t->disks->pdata[k];

			if (d->volume.v)
				g_hash_table_insert(disk_bases, g_strdup_printf("%s/%s", t->pool.v, d->volume.v),
						    (gpointer)t);
		}
	}

	for (guint i = 0; i < c->src->templates->len; i++) {
		spec_template *t = c->src->templates->pdata[i];
		g_autofree char *base = NULL;
		const spec_template *first;

		if (t->source_host.v)
			resolve(c, t->obj.file, &t->source_host, c->src->host_by_name, "host");
		if (t->source_library.v)
			resolve(c, t->obj.file, &t->source_library, c->src->library_by_name, "library");
		if (t->source_pos.line && !t->source_host.v && !t->source_library.v && !t->source_vm.v)
			spec_error(c->diags, t->obj.file, t->source_pos, "missing-key",
				   "source names neither a host, a library nor a VM; give {host: NAME}, "
				   "{library: NAME} or {vm: APPLIANCE.VM}, or remove it");
		if (!!t->source_host.v + !!t->source_library.v + !!t->source_vm.v > 1)
			spec_error(c->diags, t->obj.file, t->source_pos, "source-conflict",
				   "source names more than one of host, library and vm; give one");
		if (t->source_vm.v)
			check_capture(c, t);
		if (t->keep.set && !t->source_vm.v)
			spec_error(c->diags, t->obj.file, t->keep.pos, "bad-value",
				   "keep applies to a template captured from a VM (source: {vm: ...}), whose "
				   "versions strata names and makes; remove it");
		if (t->source_vm.v && t->sha256.v)
			spec_error(c->diags, t->obj.file, t->sha256.pos, "bad-checksum",
				   "template '%s' is captured from a VM: its checksum is known once it is made "
				   "(strata records it); remove sha256", t->obj.name.v);
		if (t->source_live.set && !t->source_vm.v)
			spec_error(c->diags, t->obj.file, t->source_live.pos, "bad-value",
				   "live applies to a template captured from a VM (source: {vm: APPLIANCE.VM, "
				   "live: true}); remove it");
		if (t->keep.set && t->source_vm.v && t->volume.v)
			spec_error(c->diags, t->obj.file, t->keep.pos, "bad-value",
				   "keep retires versions strata names (%s-v<N>.qcow2), and volume names this one "
				   "itself; remove volume, or remove keep", t->obj.name.v ? t->obj.name.v : "NAME");
		if (t->source_vm.v && !t->volume.v && t->obj.name.v) {
			/* strata names what it captures: by template and version */
			t->volume.v = g_strdup_printf("%s-v%" G_GINT64_FORMAT ".qcow2", t->obj.name.v, t->version.v);
			t->volume.pos = t->source_pos;
		}
		check_template_disks(c, t);
		if (!t->volume.v && !t->volume.pos.line && !t->source_vm.v && t->obj.name.v)
			spec_error(c->diags, t->obj.file, t->obj.pos, "missing-key",
				   "template is missing required key 'volume' (only a template captured from a VM "
				   "may leave it out: strata names that one)");
		if (t->sha256.v && !is_sha256(t->sha256.v)) {
			g_autofree char *shown = spec_clip(t->sha256.v);

			spec_error(c->diags, t->obj.file, t->sha256.pos, "bad-checksum",
				   "sha256 '%s' is not a SHA-256 checksum; give the 64 lowercase hexadecimal "
				   "digits sha256sum prints for the base volume", shown);
		}
		if (!t->pool.v || !t->volume.v)
			continue;
		base = g_strdup_printf("%s/%s", t->pool.v, t->volume.v);
		first = g_hash_table_lookup(by_base, base);
		if (g_hash_table_contains(disk_bases, base) && g_hash_table_lookup(disk_bases, base) != t)
			spec_error(c->diags, t->obj.file, t->volume.pos, "base-conflict",
				   "template '%s' names base %s, which a template's disk names too; give each its "
				   "own volume", t->obj.name.v ? t->obj.name.v : "?", base);
		else if (first)
			check_same_base(c, first, t);
		else
			g_hash_table_insert(by_base, g_steal_pointer(&base), t);
	}
	/* A template's disk has a base of its own: shared, it would be one
	 * template's and another's at once (its place in a library entry). */
	for (guint i = 0; i < c->src->templates->len; i++) {
		const spec_template *t = c->src->templates->pdata[i];

		for (guint k = 0; t->pool.v && k < t->disks->len; k++) {
			const spec_tdisk *d = t->disks->pdata[k];
			g_autofree char *key = d->volume.v ? g_strdup_printf("%s/%s", t->pool.v, d->volume.v) : NULL;

			if (!key || (t->volume.v && !strcmp(d->volume.v, t->volume.v)))
				continue;  /* its own base: said above */
			if (g_hash_table_contains(by_base, key) || g_hash_table_contains(seen_disks, key))
				spec_error(c->diags, t->obj.file, d->volume.pos, "base-conflict",
					   "disk '%s' of template '%s' names base %s, which another disk or template "
					   "names too; give each disk its own volume", d->name.v ? d->name.v : "?",
					   t->obj.name.v ? t->obj.name.v : "?", key);
			else
				g_hash_table_add(seen_disks, g_steal_pointer(&key));
		}
	}
}

/* ---- libraries ---------------------------------------------------------- */

/* A library is a folder strata reads and writes: an absolute path, and it
 * exports only templates it does not import. */
static void
check_libraries(checker *c)
{
	for (guint i = 0; i < c->src->libraries->len; i++) {
		spec_library *l = c->src->libraries->pdata[i];

		if (l->path.v && !g_path_is_absolute(l->path.v))
			spec_error(c->diags, l->obj.file, l->path.pos, "relative-path",
				   "library path '%s' is relative; give the folder's absolute path (a relative "
				   "one would depend on the folder strata was started from)", l->path.v);
		for (guint j = 0; j < spec_list_len(&l->export); j++) {
			const spec_str *name = &g_array_index(l->export.items, spec_str, j);
			const spec_template *t = resolve(c, l->obj.file, name, c->src->template_by_name, "template");

			if (t && g_strcmp0(t->source_library.v, l->obj.name.v) == 0)
				spec_error(c->diags, l->obj.file, name->pos, "export-loop",
					   "library '%s' exports template '%s', which comes from it; a template is "
					   "exported from the hosts that hold it", l->obj.name.v, name->v);
		}
	}
}

/* ---- exports ------------------------------------------------------------ */

/* Every {placeholder} of an upload command is one strata fills in. */
static void
check_placeholders(checker *c, const spec_export *e)
{
	static const char *const known[] = { "{file}", "{name}", "{region}", "{sha256}" };
	const char *p = e->upload_command.v;

	while (p && (p = strchr(p, '{'))) {
		const char *close = strchr(p, '}');
		size_t n = close ? (size_t)(close - p + 1) : strlen(p);
		bool ok = false;

		for (size_t i = 0; i < G_N_ELEMENTS(known) && close; i++)
			ok |= strlen(known[i]) == n && strncmp(p, known[i], n) == 0;
		if (!ok) {
			spec_error(c->diags, e->obj.file, e->upload_command.pos, "bad-placeholder",
				   "upload command has '%.*s', which is not a placeholder strata fills in; use "
				   "{file}, {name}, {region} or {sha256}", (int)MIN(n, 40), p);
			return;
		}
		p = close + 1;
	}
}

static void
check_exports(checker *c)
{
	for (guint i = 0; i < c->src->exports->len; i++) {
		spec_export *e = c->src->exports->pdata[i];

		resolve(c, e->obj.file, &e->template, c->src->template_by_name, "template");
		if (e->path.v && !g_path_is_absolute(e->path.v))
			spec_error(c->diags, e->obj.file, e->path.pos, "relative-path",
				   "export path '%s' is relative; give the folder's absolute path (a relative "
				   "one would depend on the folder strata was started from)", e->path.v);
		if (e->upload_command.v && !e->upload_command.v[strspn(e->upload_command.v, " \t")])
			spec_error(c->diags, e->obj.file, e->upload_command.pos, "empty-command",
				   "upload command is empty; give the command line, or remove upload");
		check_placeholders(c, e);
	}
}

/* ---- persistent templates ---------------------------------------------- */

static void
check_ptemplates(checker *c)
{
	for (guint i = 0; i < c->src->ptemplates->len; i++) {
		spec_ptemplate *p = c->src->ptemplates->pdata[i];
		const spec_template *t = resolve(c, p->obj.file, &p->from, c->src->template_by_name, "template");

		if (t && t->disks->len)
			spec_error(c->diags, p->obj.file, p->from.pos, "bad-value",
				   "persistent template '%s' is made from template '%s', which has %u disk(s) beside "
				   "its system disk; a persistent template keeps one volume: make it from a template "
				   "with one disk", p->obj.name.v ? p->obj.name.v : "?", p->from.v, t->disks->len);
	}
}

/* ---- layers: a bipartite matching of the layer's VMs onto hosts -------- */

typedef struct {
	const checker *c;
	GPtrArray *vms;      /* spec_vm * of one layer that will be deployed */
	GPtrArray *hosts;    /* spec_host * */
	int *host_vm;        /* host index -> vm index, or -1 */
	bool *visited;
} matching;

/* host_ineligible() without the message: this runs hosts × VMs times. */
static bool
can_carry(const checker *c, const spec_host *h, const spec_vm *vm)
{
	if (h->state.v == HOST_LOST || h->maintenance.v)
		return false;
	if (vm->host.v && strcmp(vm->host.v, h->obj.name.v) != 0)
		return false;
	for (guint i = 0; i < spec_list_len(&vm->requires); i++)
		if (!host_has_tag(c, h, spec_list_str(&vm->requires, i)))
			return false;
	return true;
}

static bool
match_augment(matching *m, guint v)
{
	for (guint h = 0; h < m->hosts->len; h++) {
		if (m->visited[h] || !can_carry(m->c, m->hosts->pdata[h], m->vms->pdata[v]))
			continue;
		m->visited[h] = true;
		if (m->host_vm[h] < 0 || match_augment(m, (guint)m->host_vm[h])) {
			m->host_vm[h] = (int)v;
			return true;
		}
	}
	return false;
}

static guint
match_count(const checker *c, GPtrArray *vms, GPtrArray *hosts)
{
	matching m = { c, vms, hosts, NULL, NULL };
	guint matched = 0;

	m.host_vm = g_new(int, hosts->len + 1);
	m.visited = g_new(bool, hosts->len + 1);
	for (guint h = 0; h < hosts->len; h++)
		m.host_vm[h] = -1;
	for (guint v = 0; v < vms->len; v++) {
		memset(m.visited, 0, sizeof(bool) * (hosts->len + 1));
		if (match_augment(&m, v))
			matched++;
	}
	g_free(m.host_vm);
	g_free(m.visited);
	return matched;
}

/* The hosts that can carry none of @vms, with the reason, for the message. */
static char *
ineligible_summary(const checker *c, GPtrArray *hosts, GPtrArray *vms)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint h = 0; h < hosts->len; h++) {
		g_autofree char *why = NULL;
		bool any = false;

		for (guint v = 0; v < vms->len && !any; v++)
			any = can_carry(c, hosts->pdata[h], vms->pdata[v]);
		if (any)
			continue;
		why = host_ineligible(c, hosts->pdata[h], vms->pdata[0]);
		g_string_append_printf(s, "%s%s", s->len ? ", " : "", why);
	}
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static bool
vm_deployed(const spec_appliance *a, const spec_vm *vm)
{
	return a->state.v == APPLIANCE_DEPLOYED && vm->state.v != VM_UNDEPLOYED;
}

static void
check_layer(checker *c, const spec_appliance *a, const spec_str *layer)
{
	g_autoptr(GPtrArray) vms = g_ptr_array_new();
	g_autoptr(GPtrArray) implicit = NULL;
	GPtrArray *hosts = c->src->hosts;
	g_autofree char *why = NULL;
	guint fit;

	for (guint i = 0; i < a->vms->len; i++) {
		spec_vm *vm = a->vms->pdata[i];

		if (vm->layer.v && strcmp(vm->layer.v, layer->v) == 0 &&
		    vm_deployed(a, vm))
			g_ptr_array_add(vms, vm);
	}
	if (vms->len < 2)
		return;
	if (hosts->len == 0) {
		spec_error(c->diags, a->obj.file, layer->pos, "layer-infeasible",
			   "layer '%s' needs %u distinct hosts, but the source has no host documents (one implicit host); add a host document per hypervisor",
			   layer->v, vms->len);
		return;
	}
	fit = match_count(c, vms, hosts);
	if (fit == vms->len)
		return;
	why = ineligible_summary(c, hosts, vms);
	spec_error(c->diags, a->obj.file, layer->pos, "layer-infeasible",
		   "layer '%s' needs %u distinct hosts, only %u %s eligible%s%s%s",
		   layer->v, vms->len, fit, fit == 1 ? "is" : "are",
		   *why ? " (" : "", why, *why ? ")" : "");
}

/* ---- VMs --------------------------------------------------------------- */

static bool
list_has(const spec_list *l, const char *s)
{
	for (guint i = 0; i < spec_list_len(l); i++)
		if (strcmp(spec_list_str(l, i), s) == 0)
			return true;
	return false;
}

static void
check_vm_source(checker *c, const spec_appliance *a, const spec_vm *vm,
		GHashTable *bound)
{
	const char *file = a->obj.file;
	spec_ptemplate *p;
	binding *first;

	if (!vm->template.v == !vm->persistent.v) {
		spec_error(c->diags, file, vm->pos, "vm-source",
			   "VM '%s' needs exactly one of 'template' or 'persistent'",
			   vm->name.v ? vm->name.v : "?");
		return;
	}
	if (vm->template.v) {
		resolve(c, file, &vm->template, c->src->template_by_name, "template");
		return;
	}
	p = resolve(c, file, &vm->persistent, c->src->ptemplate_by_name,
		    "persistent template");
	if (!p)
		return;
	if (p->state.v == PTEMPLATE_DELETED)
		spec_error(c->diags, file, vm->persistent.pos, "persistent-deleted",
			   "persistent template '%s' has state: deleted but VM '%s' boots from it; set it to present or remove the VM",
			   p->obj.name.v, vm->name.v ? vm->name.v : "?");
	first = g_hash_table_lookup(bound, p->obj.name.v);
	if (first) {
		spec_error(c->diags, file, vm->persistent.pos, "persistent-bound-twice",
			   "persistent template '%s' is bound to %s.%s and %s.%s; it may serve one VM of one appliance",
			   p->obj.name.v, first->app->obj.name.v,
			   first->vm->name.v ? first->vm->name.v : "?",
			   a->obj.name.v ? a->obj.name.v : "?",
			   vm->name.v ? vm->name.v : "?");
		return;
	}
	first = g_new(binding, 1);
	*first = (binding){ a, vm };
	g_hash_table_insert(bound, p->obj.name.v, first);
}

static void
check_vm_requires(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	const spec_host *named = vm->host.v ? resolve(c, a->obj.file, &vm->host, c->src->host_by_name, "host")
					    : NULL;

	for (guint i = 0; named && i < spec_list_len(&vm->requires); i++)
		if (!host_has_tag(c, named, spec_list_str(&vm->requires, i)))
			spec_error(c->diags, a->obj.file, vm->host.pos, "host-lacks-tag",
				   "VM '%s' names host '%s', which lacks tag '%s' the VM requires; name "
				   "another host, or drop the tag", vm->name.v ? vm->name.v : "?", vm->host.v,
				   spec_list_str(&vm->requires, i));
	for (guint i = 0; i < spec_list_len(&vm->requires); i++) {
		const spec_str *tag = &g_array_index(vm->requires.items, spec_str, i);

		if (!g_hash_table_contains(c->all_tags, tag->v))
			spec_error(c->diags, a->obj.file, tag->pos, "unknown-tag",
				   "VM '%s' requires tag '%s', which no host has",
				   vm->name.v ? vm->name.v : "?", tag->v);
	}
}

static void
check_vm_disks(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	const char *vm_name = vm->name.v ? vm->name.v : "?";
	const spec_template *t = vm->template.v ? g_hash_table_lookup(c->src->template_by_name, vm->template.v)
						: NULL;

	/* The template's disks are the VM's too, under their names. */
	for (guint i = 0; t && i < t->disks->len; i++) {
		spec_tdisk *td = t->disks->pdata[i];

		for (guint j = 0; td->name.v && j < vm->disks->len; j++) {
			spec_disk *d = vm->disks->pdata[j];

			if (g_strcmp0(d->name.v, td->name.v) == 0)
				spec_error(c->diags, a->obj.file, d->name.pos, "duplicate-name",
					   "disk name '%s' in VM '%s' is a disk of its template '%s' (%s:%u); give "
					   "the VM's own disk another name", d->name.v, vm_name, t->obj.name.v,
					   t->obj.file, td->name.pos.line);
		}
	}

	for (guint i = 0; i < vm->disks->len; i++) {
		spec_disk *d = vm->disks->pdata[i];
		spec_disk *first;

		if (!d->name.v)
			continue;
		/* "system" is the boot disk's name in the domain and in history. */
		if (strcmp(d->name.v, "system") == 0) {
			spec_error(c->diags, a->obj.file, d->name.pos, "duplicate-name",
				   "disk name 'system' is reserved for the boot disk in VM '%s'",
				   vm_name);
			continue;
		}
		/* Two disks of one name would be one volume. */
		first = g_hash_table_lookup(seen, d->name.v);
		if (first)
			spec_error(c->diags, a->obj.file, d->name.pos, "duplicate-name",
				   "disk name '%s' is used twice in VM '%s' (first at %u:%u); each disk names its own volume",
				   d->name.v, vm_name, first->name.pos.line, first->name.pos.col);
		else
			g_hash_table_insert(seen, d->name.v, d);
	}
}

/*
 * Scheduled snapshots are named strata-<entry>-<time>: a declared one with
 * such a name could be pruned by a schedule's retention.
 */
static void
check_vm_snapshots(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	for (guint i = 0; i < spec_list_len(&vm->snapshots); i++) {
		const spec_str *s = &g_array_index(vm->snapshots.items, spec_str, i);

		if (g_str_has_prefix(s->v, "strata-"))
			spec_error(c->diags, a->obj.file, s->pos, "bad-name",
				   "snapshot name '%s' begins with 'strata-', which scheduled snapshots use "
				   "(their retention could delete it); choose another name", s->v);
	}
	if (vm->revert_pos.line && vm->state.v == VM_UNDEPLOYED)
		spec_error(c->diags, a->obj.file, vm->revert_pos, "bad-value",
			   "VM '%s' has a 'revert' but state: undeployed (an undeployed VM has no snapshots); "
			   "remove one of the two", vm->name.v ? vm->name.v : "?");
}

/* ---- installation media, boot order, console ----------------------- */

static bool
is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Each listed once: the schema refuses a repeated item. */
static void
check_vm_boot(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	for (guint i = 0; i < spec_list_len(&vm->boot); i++) {
		const spec_str *b = &g_array_index(vm->boot.items, spec_str, i);

		if (strcmp(b->v, "cdrom") != 0 && strcmp(b->v, "disk") != 0) {
			g_autofree char *shown = spec_clip(b->v);

			spec_error(c->diags, a->obj.file, b->pos, "bad-value",
				   "boot device '%s' is not one strata knows; use cdrom or disk", shown);
		} else if (strcmp(b->v, "cdrom") == 0 && !vm->cdrom_pos.line) {
			spec_error(c->diags, a->obj.file, b->pos, "bad-value",
				   "VM '%s' boots from 'cdrom' but has no cdrom; add cdrom: {pool, volume} or "
				   "remove it from boot", vm->name.v ? vm->name.v : "?");
		}
	}
}

/*
 * The image in a drive is the operator's: strata deletes only volumes it
 * made for a VM, named <appliance>.<vm>--<disk>, and one of those in a
 * drive would go with that VM.  A console listens on an address, never a
 * name: a name could resolve to another interface than the one meant.
 */
static void
check_vm_media(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	if (vm->cdrom_volume.v && strstr(vm->cdrom_volume.v, "--"))
		spec_error(c->diags, a->obj.file, vm->cdrom_volume.pos, "bad-value",
			   "cdrom volume '%s' is named like a disk strata makes for a VM (<appliance>.<vm>--<disk>), "
			   "which goes with that VM; put the image in a volume of its own name", vm->cdrom_volume.v);
	if (vm->console_password_file.v && !c->src->side_files_read)
		spec_error(c->diags, a->obj.file, vm->console_password_file.pos, "unreadable",
			   "'password_file' was not read with this source; nothing is built without it");
	if (vm->console_listen.v && !is_ip_literal(vm->console_listen.v)) {
		g_autofree char *shown = spec_clip(vm->console_listen.v);

		spec_error(c->diags, a->obj.file, vm->console_listen.pos, "bad-value",
			   "console listen '%s' is not an IP address; write one such as 127.0.0.1 or ::1 "
			   "(a host name could resolve to another interface)", shown);
	}
	check_vm_boot(c, a, vm);
}

/*
 * cloud_init: each part inline or from a file, not both; at least one.
 * A file's bytes were read at load time (spec_read_side_files); a source
 * that skipped that step would lose them silently, so it is said here.
 */
static void
check_vm_cloud_init(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	bool any = false;

	if (!vm->ci_pos.line)
		return;
	for (int i = 0; i < SPEC_SEED_PARTS; i++) {
		const spec_str *text = &vm->ci_text[i], *file = &vm->ci_file[i];

		any |= text->v || file->v || text->pos.line || file->pos.line;
		if (text->v && file->v)
			spec_error(c->diags, a->obj.file, file->pos, "conflict",
				   "'%s' and '%s_file' are both given; keep one (the text, or the file it is in)",
				   spec_seed_keys[i], spec_seed_keys[i]);
		else if (file->v && !c->src->side_files_read)
			spec_error(c->diags, a->obj.file, file->pos, "unreadable",
				   "'%s_file' was not read with this source; nothing is built without it",
				   spec_seed_keys[i]);
	}
	if (!any)
		spec_error(c->diags, a->obj.file, vm->ci_pos, "missing-key",
			   "cloud_init gives no data; write user_data, meta_data or network_config (or their "
			   "*_file forms), or remove cloud_init");
}

/*
 * reset_on_reboot throws the system disk away at every boot and makes it
 * again from the template: only what the template makes may be thrown
 * away.  A persistent VM's disk is its data; a disk of the VM's own would
 * either keep data across boots (the reset a lie) or lose it; snapshots
 * live inside the disk that goes.
 */
static void
check_vm_reset(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	const char *name = vm->name.v ? vm->name.v : "?";

	if (!vm->reset_on_reboot.v)
		return;
	if (vm->persistent.v)
		spec_error(c->diags, a->obj.file, vm->reset_on_reboot.pos, "conflict",
			   "VM '%s' is persistent and has reset_on_reboot: its system disk is its data, which a "
			   "reset would throw away at every boot; use template: instead, or remove reset_on_reboot",
			   name);
	if (vm->disks && vm->disks->len) {
		const spec_disk *d = vm->disks->pdata[0];

		spec_error(c->diags, a->obj.file, d->pos, "conflict",
			   "VM '%s' has reset_on_reboot and a disk of its own ('%s'), which a reset would either "
			   "wipe at every boot or leave out of it; remove the disks (keep data on another VM) or "
			   "remove reset_on_reboot", name, d->name.v ? d->name.v : "?");
	}
	if (spec_list_len(&vm->snapshots))
		spec_error(c->diags, a->obj.file, vm->snapshots.pos, "conflict",
			   "VM '%s' has reset_on_reboot and declared snapshots: they live inside the system disk, "
			   "which every boot throws away; remove one of the two", name);
	if (vm->revert_pos.line)
		spec_error(c->diags, a->obj.file, vm->revert_pos, "conflict",
			   "VM '%s' has reset_on_reboot and a revert: every boot starts from the template, with "
			   "no snapshot to revert to; remove one of the two", name);
}

/* Whether schedule entry @s acts on VM @vm (no `vms`: every VM). */
static bool
sched_covers(const spec_sched *s, const char *vm)
{
	if (!s->vms.set)
		return true;
	for (guint j = 0; j < spec_list_len(&s->vms); j++)
		if (strcmp(g_array_index(s->vms.items, spec_str, j).v, vm) == 0)
			return true;
	return false;
}

/* A scheduled snapshot of a VM reset at every boot would go at its next
 * boot: refused, not taken to be lost. */
static void
check_sched_reset(checker *c, const spec_appliance *a, const spec_sched *s)
{
	if (s->action.v != ACTION_SNAPSHOT_CREATE)
		return;
	for (guint i = 0; i < a->vms->len; i++) {
		const spec_vm *vm = a->vms->pdata[i];

		if (vm->name.v && vm->reset_on_reboot.v && sched_covers(s, vm->name.v))
			spec_error(c->diags, a->obj.file, s->vms.set ? s->vms.pos : s->pos, "conflict",
				   "snapshot-create %s VM '%s', which has reset_on_reboot: its snapshots would "
				   "go with its system disk at its next boot; %s", s->vms.set ? "names" : "covers",
				   vm->name.v, s->vms.set ? "remove it from vms" : "list in vms the VMs to snapshot");
	}
}

static void
check_vm_refs(checker *c, const spec_appliance *a, const spec_vm *vm,
	      GHashTable *vms, GPtrArray *vm_names)
{
	GPtrArray *layers = g_ptr_array_new();

	for (guint i = 0; i < spec_list_len(&a->layers); i++)
		g_ptr_array_add(layers, (gpointer)spec_list_str(&a->layers, i));
	if (vm->layer.v && !list_has(&a->layers, vm->layer.v))
		report_dangling(c, a->obj.file, &vm->layer, "layer",
				"is not declared in the appliance's 'layers'", layers);
	g_ptr_array_unref(layers);

	for (guint i = 0; i < spec_list_len(&vm->after); i++) {
		const spec_str *dep = &g_array_index(vm->after.items, spec_str, i);

		if (vm->name.v && strcmp(dep->v, vm->name.v) == 0)
			spec_error(c->diags, a->obj.file, dep->pos, "after-cycle",
				   "VM '%s' cannot start after itself", vm->name.v);
		else if (!g_hash_table_contains(vms, dep->v))
			report_dangling(c, a->obj.file, dep, "VM", "is not in this appliance", vm_names);
	}
}

/* ---- NICs: MAC addresses --------------------------------------------- */

/* Where a MAC address was first given, to name it in a duplicate's message. */
typedef struct {
	const char *file;
	spec_pos pos;
	const char *app;
	const char *vm;
} mac_owner;

#define MAC_EXAMPLE "such as 52:54:00:12:34:56"

/* Why @s is not a MAC address a NIC may have, or NULL. */
static const char *
mac_problem(const char *s)
{
	bool zero = true;
	guint8 b[6];

	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;

		if (!g_ascii_isxdigit(p[0]) || !g_ascii_isxdigit(p[1]) ||
		    p[2] != (i < 5 ? ':' : '\0'))
			return "is not six pairs of hex digits separated by ':'; write it like 52:54:00:12:34:56";
		b[i] = (guint8)(g_ascii_xdigit_value(p[0]) << 4 | g_ascii_xdigit_value(p[1]));
		zero = zero && b[i] == 0;
	}
	/* The lowest bit of the first byte marks a group (multicast) address. */
	if (b[0] & 1)
		return "is a multicast address (the lowest bit of its first byte is set); a NIC needs a unicast one, " MAC_EXAMPLE;
	if (zero)
		return "is all zeros; give a real one, " MAC_EXAMPLE ", or remove 'mac' and strata makes one, once";
	return NULL;
}

/* Two NICs with one address break both; compared without regard to case. */
static void
check_mac_unique(checker *c, const spec_appliance *a, const spec_vm *vm,
		 const spec_str *mac)
{
	g_autofree char *key = g_ascii_strdown(mac->v, -1);
	const mac_owner *first = g_hash_table_lookup(c->macs, key);
	mac_owner *own;

	if (first) {
		spec_error(c->diags, a->obj.file, mac->pos, "duplicate-mac",
			   "MAC address '%s' of VM '%s.%s' is already used by VM '%s.%s' at %s:%u:%u; each NIC needs its own",
			   mac->v, a->obj.name.v ? a->obj.name.v : "?",
			   vm->name.v ? vm->name.v : "?", first->app, first->vm,
			   first->file, first->pos.line, first->pos.col);
		return;
	}
	own = g_new(mac_owner, 1);
	*own = (mac_owner){ a->obj.file, mac->pos,
			    a->obj.name.v ? a->obj.name.v : "?",
			    vm->name.v ? vm->name.v : "?" };
	g_hash_table_insert(c->macs, g_steal_pointer(&key), own);
}

static void
check_vm_nics(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	for (guint i = 0; i < vm->nics->len; i++) {
		const spec_nic *n = vm->nics->pdata[i];
		const char *why;

		if (!n->mac.v)
			continue;
		why = mac_problem(n->mac.v);
		if (why) {
			g_autofree char *shown = spec_clip(n->mac.v);

			spec_error(c->diags, a->obj.file, n->mac.pos, "bad-mac",
				   "MAC address '%s' %s", shown, why);
			continue;
		}
		check_mac_unique(c, a, vm, &n->mac);
	}
}

/* The file a maximum was written in: the VM's appliance, or its template. */
static const char *
max_file(const spec_source *src, const spec_appliance *a, const spec_vm *vm, const spec_int *from)
{
	const spec_template *t = spec_vm_template(src, vm);

	return t && (from == &t->max_cpus || from == &t->max_memory) ? t->obj.file : a->obj.file;
}

/* A maximum below what the VM is given: libvirt would refuse the definition. */
static void
check_vm_maxima(checker *c, const spec_appliance *a, const spec_vm *vm)
{
	const spec_int *from = NULL;
	int64_t cpus = spec_vm_cpus(c->src, vm), mem = spec_vm_memory(c->src, vm);

	if (spec_vm_max_cpus(c->src, vm, &from) < cpus && from)
		spec_error(c->diags, max_file(c->src, a, vm, from), from->pos, "max-below-current",
			   "max_cpus %" G_GINT64_FORMAT " is below the %" G_GINT64_FORMAT " vCPUs of VM '%s'; "
			   "raise max_cpus to at least %" G_GINT64_FORMAT " (it bounds what is added while it runs)",
			   from->v, cpus, vm->name.v ? vm->name.v : "?", cpus);
	from = NULL;
	if (spec_vm_max_memory(c->src, vm, &from) < mem && from)
		spec_error(c->diags, max_file(c->src, a, vm, from), from->pos, "max-below-current",
			   "max_memory is below the memory of VM '%s' (%" G_GINT64_FORMAT " MiB); raise it to at least "
			   "that (it bounds what the balloon gives while it runs)",
			   vm->name.v ? vm->name.v : "?", mem >> 20);
}

/* ---- `after` cycles: depth-first search, reporting the cycle's path ---- */

enum { WHITE, GREY, BLACK };

static bool
after_dfs(checker *c, const spec_appliance *a, GHashTable *vms,
	  GHashTable *color, const spec_vm *vm, GPtrArray *path)
{
	g_hash_table_insert(color, (gpointer)vm, GINT_TO_POINTER(GREY));
	g_ptr_array_add(path, vm->name.v);
	for (guint i = 0; i < spec_list_len(&vm->after); i++) {
		const char *dep_name = spec_list_str(&vm->after, i);
		const spec_vm *dep = g_hash_table_lookup(vms, dep_name);
		int col;

		if (!dep || dep == vm)
			continue;
		col = GPOINTER_TO_INT(g_hash_table_lookup(color, dep));
		if (col == GREY) {
			g_autoptr(GString) s = g_string_new(NULL);
			guint start = 0;

			while (strcmp(path->pdata[start], dep->name.v) != 0)
				start++;
			for (guint j = start; j < path->len; j++)
				g_string_append_printf(s, "%s -> ", (char *)path->pdata[j]);
			g_string_append(s, dep->name.v);
			spec_error(c->diags, a->obj.file,
				   g_array_index(vm->after.items, spec_str, i).pos,
				   "after-cycle", "'after' forms a cycle: %s; no start order exists",
				   s->str);
			return true;
		}
		if (col == WHITE && after_dfs(c, a, vms, color, dep, path))
			return true;
	}
	g_ptr_array_set_size(path, path->len - 1);
	g_hash_table_insert(color, (gpointer)vm, GINT_TO_POINTER(BLACK));
	return false;
}

static void
check_after_cycles(checker *c, const spec_appliance *a, GHashTable *vms)
{
	g_autoptr(GHashTable) color = g_hash_table_new(NULL, NULL);
	g_autoptr(GPtrArray) path = g_ptr_array_new();

	for (guint i = 0; i < a->vms->len; i++) {
		spec_vm *vm = a->vms->pdata[i];

		if (!vm->name.v || g_hash_table_contains(color, vm))
			continue;
		if (after_dfs(c, a, vms, color, vm, path))
			return;  /* one cycle per appliance is enough to act on */
	}
}

/* ---- schedules --------------------------------------------------------- */

static GDateTime *
parse_time(checker *c, const spec_appliance *a, const spec_str *s,
	   GTimeZone *tz, const char *key)
{
	GDateTime *dt = g_date_time_new_from_iso8601(s->v, tz);

	if (!dt)
		spec_error(c->diags, a->obj.file, s->pos, "bad-time",
			   "'%s' is not an ISO 8601 time such as 2026-12-01T08:00:00+01:00", key);
	return dt;
}

static void
forbid(checker *c, const spec_appliance *a, bool present, spec_pos pos,
       const char *key, const char *why)
{
	if (present)
		spec_error(c->diags, a->obj.file, pos, "bad-schedule",
			   "'%s' %s", key, why);
}

static void
check_days(checker *c, const spec_appliance *a, const spec_sched *s)
{
	static const int lo[] = { 0, 0, 0, 1, 0 }, hi[] = { 0, 0, 6, 31, 365 };
	int r = (int)s->repeat.v;

	if (r == REPEAT_NONE || r == REPEAT_HOURLY) {
		forbid(c, a, s->days.set, s->days.pos, "days",
		       "only applies to repeat: weekly, monthly or yearly");
		forbid(c, a, r == REPEAT_NONE && s->hours.set, s->hours.pos, "hours",
		       "only applies to repeat: hourly");
		if (r == REPEAT_HOURLY && !s->hours.set && !s->invalid)
			spec_error(c->diags, a->obj.file, s->repeat.pos, "bad-schedule",
				   "repeat: hourly needs 'hours' (every N hours, 1 to 168)");
		return;
	}
	forbid(c, a, s->hours.set, s->hours.pos, "hours", "only applies to repeat: hourly");
	if (spec_list_len(&s->days) == 0 && !s->invalid) {
		spec_error(c->diags, a->obj.file, s->repeat.pos, "bad-schedule",
			   "repeat: %s needs 'days' (%d to %d)", spec_repeat_names[r],
			   lo[r], hi[r]);
		return;
	}
	for (guint i = 0; i < spec_list_len(&s->days); i++) {
		const spec_int *d = &g_array_index(s->days.items, spec_int, i);

		if (d->v < lo[r] || d->v > hi[r])
			spec_error(c->diags, a->obj.file, d->pos, "bad-schedule",
				   "day %" G_GINT64_FORMAT " is out of range for repeat: %s (%d to %d%s)",
				   (gint64)d->v, spec_repeat_names[r], lo[r], hi[r],
				   r == REPEAT_WEEKLY ? ", 0 = Sunday" : "");
	}
}

static void
check_sched_times(checker *c, const spec_appliance *a, spec_sched *s, GTimeZone *tz)
{
	g_autoptr(GDateTime) at = NULL;
	g_autoptr(GDateTime) end = NULL;

	if (!s->at.v == !s->after_start.set) {
		spec_error(c->diags, a->obj.file, s->pos, "bad-schedule",
			   "a schedule entry needs exactly one of 'at' (a time) or 'after_start' (seconds after the VM starts)");
		return;
	}
	if (s->after_start.set) {
		forbid(c, a, s->repeat.set, s->repeat.pos, "repeat",
		       "cannot be combined with 'after_start'; use 'at' for repeating actions");
		return;
	}
	at = parse_time(c, a, &s->at, tz, "at");
	if (at)
		s->at_unix = g_date_time_to_unix(at);
	check_days(c, a, s);
	if (s->repeat.v == REPEAT_NONE) {
		forbid(c, a, s->end_count.set || s->end_date.v,
		       s->end_count.set ? s->end_count.pos : s->end_date.pos, "end",
		       "only applies to repeating actions");
		return;
	}
	if (!s->end_date.v)
		return;
	end = parse_time(c, a, &s->end_date, tz, "end");
	if (end)
		s->end_unix = g_date_time_to_unix(end);
	if (at && end && g_date_time_compare(end, at) <= 0)
		spec_error(c->diags, a->obj.file, s->end_date.pos, "bad-schedule",
			   "'end' is not after 'at'; the action would never run");
}

static void
check_schedule(checker *c, const spec_appliance *a, GHashTable *vms,
	       GPtrArray *vm_names, GTimeZone *tz)
{
	for (guint i = 0; i < a->schedule->len; i++) {
		spec_sched *s = a->schedule->pdata[i];

		for (guint j = 0; j < spec_list_len(&s->vms); j++) {
			const spec_str *v = &g_array_index(s->vms.items, spec_str, j);

			if (!g_hash_table_contains(vms, v->v))
				report_dangling(c, a->obj.file, v, "VM", "is not in this appliance", vm_names);
		}
		forbid(c, a, s->keep.set && s->action.v != ACTION_SNAPSHOT_CREATE,
		       s->keep.pos, "keep", "only applies to action: snapshot-create");
		if (s->action.set)
			check_sched_times(c, a, s, tz);
		check_sched_reset(c, a, s);
	}
}

/* ---- appliances -------------------------------------------------------- */

static GTimeZone *
appliance_tz(checker *c, const spec_appliance *a)
{
	g_autofree char *why = NULL;
	GTimeZone *tz;

	if (!a->timezone.v)
		return g_time_zone_new_utc();
	tz = g_hash_table_lookup(c->zones, a->timezone.v);
	if (tz)
		return g_time_zone_ref(tz);
	tz = spec_timezone_new(a->timezone.v, &why);
	if (!tz) {
		spec_error(c->diags, a->obj.file, a->timezone.pos, "bad-timezone",
			   "%s", why);
		return g_time_zone_new_utc();
	}
	g_hash_table_insert(c->zones, g_strdup(a->timezone.v), g_time_zone_ref(tz));
	return tz;
}

static void
check_appliance(checker *c, spec_appliance *a, GHashTable *bound)
{
	g_autoptr(GHashTable) vms = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) vm_names = g_ptr_array_new();
	g_autoptr(GTimeZone) tz = appliance_tz(c, a);

	for (guint i = 0; i < a->vms->len; i++) {
		spec_vm *vm = a->vms->pdata[i];

		if (!vm->name.v)
			continue;
		if (!g_hash_table_insert(vms, vm->name.v, vm))
			spec_error(c->diags, a->obj.file, vm->name.pos, "duplicate-name",
				   "VM '%s' is defined twice in appliance '%s'", vm->name.v,
				   a->obj.name.v ? a->obj.name.v : "?");
		else
			g_ptr_array_add(vm_names, vm->name.v);
	}
	for (guint i = 0; i < a->vms->len; i++) {
		spec_vm *vm = a->vms->pdata[i];

		check_vm_source(c, a, vm, bound);
		check_vm_refs(c, a, vm, vms, vm_names);
		check_vm_requires(c, a, vm);
		check_vm_disks(c, a, vm);
		check_vm_nics(c, a, vm);
		check_vm_maxima(c, a, vm);
		check_vm_snapshots(c, a, vm);
		check_vm_media(c, a, vm);
		check_vm_cloud_init(c, a, vm);
		check_vm_reset(c, a, vm);
	}
	check_after_cycles(c, a, vms);
	for (guint i = 0; i < spec_list_len(&a->layers); i++)
		check_layer(c, a, &g_array_index(a->layers.items, spec_str, i));
	check_schedule(c, a, vms, vm_names, tz);
}

void
spec_validate(spec_source *src, spec_diags *diags)
{
	checker c = { .src = src, .diags = diags };
	g_autoptr(GHashTable) bound = g_hash_table_new_full(g_str_hash, g_str_equal,
							     NULL, g_free);

	c.zones = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
					(GDestroyNotify)g_time_zone_unref);
	c.macs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	src->host_by_name = index_objects(&c, src->hosts, "host");
	src->template_by_name = index_objects(&c, src->templates, "template");
	src->ptemplate_by_name = index_objects(&c, src->ptemplates, "persistent template");
	src->appliance_by_name = index_objects(&c, src->appliances, "appliance");
	src->pool_by_name = index_objects(&c, src->pools, "pool");
	src->library_by_name = index_objects(&c, src->libraries, "library");
	src->export_by_name = index_objects(&c, src->exports, "export");
	if (src->documents == 0 && src->load_errors == 0)
		spec_error(diags, src->root, SPEC_NOPOS, "empty-source",
			   "no documents found; an empty source is refused so that it can never remove anything (check the path)");
	index_tags(&c);
	check_hosts(&c);
	check_templates(&c);
	check_libraries(&c);
	check_exports(&c);
	check_ptemplates(&c);
	check_pools(&c);
	for (guint i = 0; i < src->appliances->len; i++)
		check_appliance(&c, src->appliances->pdata[i], bound);
	g_hash_table_unref(c.zones);
	g_hash_table_unref(c.host_tags);
	g_hash_table_unref(c.all_tags);
	g_hash_table_unref(c.macs);
	spec_diags_sort(diags);
}
