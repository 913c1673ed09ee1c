/*
 * test_copy.c - template bases copied to the hosts that lack them, and
 * template libraries
 *
 * Two test-driver hosts: hv1 holds the base `gold.qcow2`, hv2 has the same
 * pool, empty, and the tag the VM requires.  The test driver cannot stream
 * a volume (virStorageVolDownload is not in it), so here a copy is planned
 * and attempted, and fails cleanly; the streaming itself is proved on real
 * libvirtd by the end-to-end suite (tests/e2e/scenarios/templates.sh).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recon.h"
#include "../../reconciler/domxml.h"
#include "../../reconciler/image_export.h"

#define SHA_A "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

#define VOL(name) "<volume type='file'><name>" name "</name><capacity unit='GiB'>2</capacity>" \
		  "<allocation unit='MiB'>300</allocation><target><format type='qcow2'/></target></volume>"

static char *
node(const char *dir, const char *name, const char *volumes)
{
	char *file = g_strdup_printf("%s/%s.xml", dir, name);
	g_autofree char *text = g_strdup_printf(
		"<node><cpu><mhz>2400</mhz><model>x86_64</model><nodes>1</nodes><sockets>1</sockets>"
		"<cores>8</cores><threads>1</threads><active>8</active></cpu><memory>8388608</memory>"
		"<pool type='dir'><name>default</name><capacity unit='GiB'>100</capacity>"
		"<available unit='GiB'>100</available>"
		"<target><path>/var/lib/strata-sim/%s/default</path></target>%s</pool></node>",
		name, volumes);

	tu_write(file, text);
	return file;
}

typedef struct {
	char *nodes;   /* folder of the node files, and the library's */
	dc *d;
} fixture;

/* Documents added to every spec of the fixture (a library). */
static const char *extra_docs = "";

/* The spec: hv1 with gold.qcow2 (and silver.qcow2), hv2 with silver.qcow2
 * only, template gold with @template_extra (a source, a checksum), template
 * silver, and appliance a with @vms (on hv2: they require tag fast). */
static char *
spec_text(fixture *f, const char *template_extra, const char *vms)
{
	g_autofree char *src = node(f->nodes, "src", VOL("gold.qcow2") VOL("silver.qcow2") VOL("gold-data.qcow2"));
	g_autofree char *dst = node(f->nodes, "dst", VOL("silver.qcow2"));

	return g_strdup_printf("kind: host\nname: hv1\nuri: test://%s\n---\n"
			       "kind: host\nname: hv2\nuri: test://%s\ntags: [fast]\n---\n"
			       "kind: template\nname: gold\npool: default\nvolume: gold.qcow2\n%s---\n"
			       "kind: template\nname: silver\npool: default\nvolume: silver.qcow2\n---\n"
			       "%s"
			       "kind: appliance\nname: a\nvms:\n%s",
			       src, dst, template_extra, extra_docs, vms);
}

static fixture *
fixture_with(const char *template_extra, const char *vms)
{
	fixture *f = g_new0(fixture, 1);
	g_autofree char *spec = NULL;

	f->nodes = tu_mkdtemp();
	if (*extra_docs) {  /* the library folder, in the nodes' */
		g_autofree char *lib = g_build_filename(f->nodes, "lib", NULL);

		g_autofree char *marker = g_build_filename(lib, "strata-library", NULL);

		g_mkdir(lib, 0755);
		tu_write(marker, "");
		extra_docs = g_strdup_printf(extra_docs, lib);
	}
	spec = spec_text(f, template_extra, vms);
	f->d = dc_new_spec(spec);
	f->d->use_history = true;
	return f;
}

/* @template_extra: keys added to template gold; one VM, a.w, on gold. */
static fixture *
fixture_new(const char *template_extra)
{
	return fixture_with(template_extra, "  - {name: w, template: gold, requires: [fast]}\n");
}

static void
fixture_free(fixture *f)
{
	dc_free(f->d);
	tu_rmtree(f->nodes);
	g_free(f->nodes);
	g_free(f);
}

static const plan_op *
find_kind(const plan *p, op_kind kind)
{
	for (guint i = 0; i < p->ops->len; i++)
		if (((plan_op *)p->ops->pdata[i])->kind == kind)
			return p->ops->pdata[i];
	return NULL;
}

static const plan_op *
find_op_of(const plan *p, op_kind kind, const char *domain)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == kind && g_strcmp0(op->domain, domain) == 0)
			return op;
	}
	return NULL;
}

static guint
count_kind(const plan *p, op_kind kind)
{
	guint n = 0;

	for (guint i = 0; i < p->ops->len; i++)
		n += ((plan_op *)p->ops->pdata[i])->kind == kind;
	return n;
}

/* Carry out the latest plan, whatever its outcome. */
static exec_result
dc_apply_planned_may_fail(dc *d)
{
	g_autoptr(GError) err = NULL;
	exec_options eo;
	gint64 run;

	exec_options_init(&eo);
	eo.backoff_ms = 1;
	run = history_run_begin(d->hist, "test", 0, &err);
	return exec_plan(d->last.plan, d->hosts, d->hist, run, d->cache, &eo, &err);
}

static bool
has_dep(const plan_op *op, const plan_op *on)
{
	for (guint i = 0; i < op->deps->len; i++)
		if (op->deps->pdata[i] == on)
			return true;
	return false;
}

/* Whether @op waits on @on, directly or not. */
static bool
waits_on(const plan_op *op, const plan_op *on)
{
	for (guint i = 0; i < op->deps->len; i++)
		if (op->deps->pdata[i] == on || waits_on(op->deps->pdata[i], on))
			return true;
	return false;
}

/*
 * The VM can only go to hv2, which lacks the base: the plan copies it there
 * from hv1 first, once, and the VM's disk is an overlay of the copy's path.
 */
static void
test_copy__a_host_lacking_the_base_gets_it_copied_first(void **state)
{
	fixture *f = fixture_new("source: {host: hv1}\n");
	const plan *p = dc_plan(f->d);
	const plan_op *copy = find_kind(p, OP_VOL_COPY);
	const plan_op *create = find_kind(p, OP_VOL_CREATE);
	g_autofree char *desc = NULL;

	(void)state;
	assert_int_equal(p->errors->len, 0);
	assert_non_null(copy);
	assert_string_equal(copy->host, "hv2");
	assert_string_equal(copy->peer, "hv1");
	assert_string_equal(copy->pool, "default");
	assert_string_equal(copy->volume, "gold.qcow2");
	assert_null(copy->hash);
	assert_int_equal(copy->value, 300 * 1024 * 1024);
	desc = op_describe(copy);
	assert_string_equal(desc, "copy-volume default/gold.qcow2 from hv1 (300.0 MiB)");
	assert_non_null(create);
	assert_string_equal(create->host, "hv2");
	assert_true(has_dep(create, copy));
	assert_true(copy->id < create->id);
	assert_non_null(strstr(create->xml, "<path>/var/lib/strata-sim/dst/default/gold.qcow2</path>"));
	fixture_free(f);
}

/* One copy per host and base, however many VMs are built on it. */
static void
test_copy__one_copy_serves_every_vm_on_the_host(void **state)
{
	fixture *f = fixture_with("source: {host: hv1}\n",
				  "  - {name: w, template: gold, requires: [fast]}\n"
				  "  - {name: x, template: gold, requires: [fast]}\n"
				  "  - {name: y, template: gold, requires: [fast]}\n");
	const plan *p = dc_plan(f->d);
	const plan_op *copy = find_kind(p, OP_VOL_COPY);

	(void)state;
	assert_int_equal(p->errors->len, 0);
	assert_int_equal(count_kind(p, OP_VOL_COPY), 1);
	assert_int_equal(count_kind(p, OP_VOL_CREATE), 3);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_CREATE)
			assert_true(has_dep(op, copy));
	}
	fixture_free(f);
}

/*
 * A running VM whose template changes to a base its host lacks: it is
 * stopped only once the copy is there, so a copy that fails leaves it
 * running where it is.
 */
static void
test_copy__a_running_vm_is_stopped_only_after_the_copy(void **state)
{
	fixture *f = fixture_with("source: {host: hv1}\n", "  - {name: w, template: silver, requires: [fast]}\n");
	g_autofree char *spec = NULL;
	const plan *p;
	const plan_op *copy, *stop;

	(void)state;
	assert_int_equal(dc_apply(f->d), EXEC_CONVERGED);
	spec = spec_text(f, "source: {host: hv1}\n", "  - {name: w, template: gold, requires: [fast]}\n");
	tu_write(f->d->spec, spec);
	p = dc_plan(f->d);
	assert_int_equal(p->errors->len, 0);
	copy = find_kind(p, OP_VOL_COPY);
	stop = find_kind(p, OP_SHUTDOWN);
	assert_non_null(copy);
	assert_non_null(stop);
	assert_string_equal(stop->domain, "a.w");
	assert_true(has_dep(stop, copy));
	/* The copy fails (the test driver cannot stream): the VM runs on. */
	dc_apply_planned_may_fail(f->d);
	assert_int_equal(stop->status, OPST_SKIPPED);
	assert_int_equal(dc_domain(f->d, "a.w")->state, VIRT_DOM_RUNNING);
	fixture_free(f);
}

/* Without a source, a missing base is refused, saying how to fix it. */
static void
test_copy__without_a_source_a_missing_base_is_refused(void **state)
{
	fixture *f = fixture_new("");
	const plan *p = dc_plan(f->d);

	(void)state;
	assert_null(find_kind(p, OP_VOL_COPY));
	assert_null(find_kind(p, OP_DEFINE));
	assert_int_equal(p->errors->len, 1);
	assert_non_null(strstr(p->errors->pdata[0], "hv2 has no base volume 'gold.qcow2' in pool 'default', "
			       "and no template says where to copy it from (source: {host: ...})"));
	fixture_free(f);
}

/* A declared checksum goes with the copy, which must match it. */
static void
test_copy__a_declared_checksum_is_what_the_copy_must_have(void **state)
{
	fixture *f = fixture_new("source: {host: hv1}\nsha256: " SHA_A "\n");
	const plan *p = dc_plan(f->d);
	const plan_op *copy = find_kind(p, OP_VOL_COPY);

	(void)state;
	assert_non_null(copy);
	assert_string_equal(copy->hash, SHA_A);
	fixture_free(f);
}

/*
 * The test driver cannot stream: the copy fails, says why, leaves no
 * volume on hv2 and no mark of a half copy, and nothing is built on the
 * missing base.  The next plan tries again.
 */
static void
test_copy__a_failed_copy_leaves_nothing_behind(void **state)
{
	fixture *f = fixture_new("source: {host: hv1}\n");
	const plan *p = dc_plan(f->d);
	g_autoptr(GHashTable) unverified = NULL;
	const plan_op *copy;

	(void)state;
	assert_int_equal(dc_apply_planned_may_fail(f->d), EXEC_FAILED);
	copy = find_kind(p, OP_VOL_COPY);
	assert_int_equal(copy->status, OPST_FAILED);
	assert_non_null(strstr(copy->error, "cannot read volume 'gold.qcow2': this function is not supported by the connection driver: virStorageVolDownload"));
	assert_false(copy->partial);
	assert_int_equal(find_kind(p, OP_VOL_CREATE)->status, OPST_SKIPPED);
	assert_false(dc_has_volume(f->d, "hv2", "gold.qcow2"));
	unverified = history_unverified_copies(f->d->hist);
	assert_int_equal(g_hash_table_size(unverified), 0);
	p = dc_plan(f->d);
	assert_non_null(find_kind(p, OP_VOL_COPY));
	fixture_free(f);
}

/*
 * strata died in the middle of a copy: its intent is recorded, its result
 * never, and a volume of the name is on hv2 (half of it, perhaps).
 * Nothing is built on it until it is deleted; then it is copied again.
 */
static void
test_copy__a_copy_cut_short_is_not_built_on(void **state)
{
	fixture *f = fixture_new("source: {host: hv1}\n");
	const plan *p = dc_plan(f->d);
	plan_op *copy = (plan_op *)find_kind(p, OP_VOL_COPY);
	host_conn *hv2 = g_hash_table_lookup(f->d->hosts->by_name, "hv2");
	g_autoptr(GError) err = NULL;
	g_autofree char *expect = NULL;
	gint64 run, row;

	(void)state;
	run = history_run_begin(f->d->hist, "test", 0, &err);
	assert_true(history_intents(f->d->hist, run, &copy, 1, &row, &err));
	expect = g_strdup_printf("base volume 'gold.qcow2' in pool 'default' on hv2 is a copy that run %"
				 G_GINT64_FORMAT " began and did not verify", run);
	assert_true(virt_vol_create(hv2->virt, "default",
				    "<volume><name>gold.qcow2</name><capacity>1048576</capacity></volume>",
				    NULL, &err));
	p = dc_plan(f->d);
	assert_null(find_kind(p, OP_VOL_COPY));
	assert_null(find_kind(p, OP_VOL_CREATE));
	assert_int_equal(p->errors->len, 1);
	assert_non_null(strstr(p->errors->pdata[0], expect));
	assert_true(virt_vol_delete(hv2->virt, "default", "gold.qcow2", &err));
	p = dc_plan(f->d);
	assert_int_equal(p->errors->len, 0);
	assert_non_null(find_kind(p, OP_VOL_COPY));
	fixture_free(f);
}

/*
 * A base copied once is expected, at its source, to keep the checksum
 * recorded then: the next copy must match it.
 */
static void
test_copy__the_next_copy_must_match_the_recorded_checksum(void **state)
{
	fixture *f = fixture_new("source: {host: hv1}\n");
	const plan *p = dc_plan(f->d);
	plan_op *copy = (plan_op *)find_kind(p, OP_VOL_COPY);
	g_autoptr(GError) err = NULL;
	gint64 run, row;

	(void)state;
	run = history_run_begin(f->d->hist, "test", 0, &err);
	assert_true(history_intents(f->d->hist, run, &copy, 1, &row, &err));
	copy->status = OPST_DONE;
	copy->digest = g_strdup(SHA_A);
	copy->length = 5;
	assert_true(history_results(f->d->hist, &copy, &row, 1, &err));
	p = dc_plan(f->d);
	copy = (plan_op *)find_kind(p, OP_VOL_COPY);
	assert_non_null(copy);  /* hv2 still lacks it: the test driver made none */
	assert_string_equal(copy->hash, SHA_A);
	fixture_free(f);
}

/* ---- libraries ---------------------------------------------------------- */

#define SHA_B "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"

static void
write_index(fixture *f, const char *entries)
{
	g_autofree char *file = g_build_filename(f->nodes, "lib", "index.json", NULL);
	g_autofree char *text = g_strdup_printf("{\"format\": 1, \"templates\": [%s]}", entries);

	tu_write(file, text);
}

static const char *const gold_v2 =
	"{\"name\": \"gold\", \"version\": 2, \"cpus\": 1, \"memory\": 1073741824, \"made\": \"2026-11-24T00:00:00Z\", "
	"\"disks\": [{\"file\": \"gold/2/disk0.qcow2\", \"format\": \"qcow2\", \"virtual_size\": 2147483648, "
	"\"bytes\": 5242880, \"sha256\": \"" SHA_B "\"}]}";

static fixture *
library_fixture(const char *template_extra)
{
	fixture *f;

	extra_docs = "kind: library\nname: central\npath: %s\n---\n";
	f = fixture_new(template_extra);
	return f;
}

static void
library_fixture_free(fixture *f)
{
	g_free((char *)extra_docs);
	extra_docs = "";
	fixture_free(f);
}

/* A base from a library: copied from the image its index lists for the
 * template's version, with the index's checksum. */
static void
test_library__a_base_is_pulled_from_the_library(void **state)
{
	fixture *f = library_fixture("version: 2\nsource: {library: central}\n");
	const plan *p;
	const plan_op *copy;
	g_autofree char *desc = NULL, *file = NULL;

	(void)state;
	write_index(f, gold_v2);
	p = dc_plan(f->d);
	assert_int_equal(p->errors->len, 0);
	copy = find_kind(p, OP_VOL_COPY);
	assert_non_null(copy);
	assert_string_equal(copy->host, "hv2");
	assert_string_equal(copy->library, "central");
	assert_null(copy->peer);
	file = g_build_filename(f->nodes, "lib", NULL);
	assert_string_equal(copy->file, file);
	assert_string_equal(copy->image, "gold/2/disk0.qcow2");
	assert_string_equal(copy->hash, SHA_B);
	desc = op_describe(copy);
	assert_string_equal(desc, "copy-volume default/gold.qcow2 from library central (5.0 MiB)");
	assert_true(has_dep(find_kind(p, OP_VOL_CREATE), copy));
	assert_non_null(strstr(find_kind(p, OP_VOL_CREATE)->xml, "<capacity unit=\"bytes\">2147483648</capacity>"));
	library_fixture_free(f);
}

/* The refusals say what is wrong and where to look. */
static void
test_library__what_the_library_lacks_is_refused_with_the_reason(void **state)
{
	static const struct {
		const char *template_extra;
		const char *index;     /* NULL: no index.json at all */
		const char *expect;
	} cases[] = {
		{ "version: 3\nsource: {library: central}\n", "GOLD",
		  "hv2 has no base volume 'gold.qcow2' in pool 'default', and library 'central' has no template 'gold' version 3 (versions there: 2)" },
		{ "version: 2\nsource: {library: central}\n", NULL,
		  "library 'central' has no template 'gold' version 2 (versions there: none)" },
		{ "version: 2\nsource: {library: central}\nsha256: " SHA_A "\n", "GOLD",
		  "library 'central' lists template 'gold' version 2 with sha256 " SHA_B ", not the declared " SHA_A },
		{ "version: 2\nsource: {library: central}\n", "{\"format\": 1, \"templates\": [}",
		  "library 'central' cannot be read: " },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		fixture *f = library_fixture(cases[i].template_extra);
		const plan *p;

		if (cases[i].index && strcmp(cases[i].index, "GOLD") == 0)
			write_index(f, gold_v2);
		else if (cases[i].index) {
			g_autofree char *file = g_build_filename(f->nodes, "lib", "index.json", NULL);

			tu_write(file, cases[i].index);
		}
		p = dc_plan(f->d);
		assert_null(find_kind(p, OP_VOL_COPY));
		assert_null(find_kind(p, OP_DEFINE));
		assert_int_equal(p->errors->len, 1);
		if (!strstr(p->errors->pdata[0], cases[i].expect))
			fail_msg("case %zu: '%s' lacks '%s'", i, (char *)p->errors->pdata[0], cases[i].expect);
		library_fixture_free(f);
	}
}

/* Exported once per version, from a host that holds the base. */
static void
test_library__a_template_is_exported_once_per_version(void **state)
{
	fixture *f;
	const plan *p;
	const plan_op *ex;
	g_autofree char *desc = NULL;

	(void)state;
	extra_docs = "kind: library\nname: central\npath: %s\nexport: [gold]\n---\n";
	f = fixture_with("version: 2\nsource: {host: hv1}\n", "  - {name: w, template: silver}\n");
	p = dc_plan(f->d);
	ex = find_kind(p, OP_LIB_EXPORT);
	assert_non_null(ex);
	assert_string_equal(ex->host, "hv1");
	assert_string_equal(ex->export->template, "gold");
	assert_int_equal(ex->export->version, 2);
	assert_string_equal(ex->export->format, "qcow2");
	assert_int_equal(ex->export->virtual_size, 2ULL << 30);
	desc = op_describe(ex);
	assert_string_equal(desc, "export-template gold version 2 from default/gold.qcow2 into library central (300.0 MiB)");
	write_index(f, gold_v2);
	p = dc_plan(f->d);
	assert_null(find_kind(p, OP_LIB_EXPORT));
	library_fixture_free(f);
}

/* The index is input anyone with the share may write: read strictly. */
static void
test_library__a_hostile_index_is_refused_saying_where(void **state)
{
	static const struct {
		const char *json;
		const char *expect;
	} cases[] = {
		{ "{\"format\": 1, \"templates\": [", "idx:1:" },
		{ "[]", "idx: top level: not an object" },
		{ "{\"format\": 2, \"templates\": []}", "format 2 is not one this strata reads" },
		{ "{\"format\": 1}", "idx: templates: not a list" },
		{ "{\"format\": 1, \"templates\": [{\"name\": \"g\"}]}", "idx: templates[0].made: missing" },
		{ "{\"format\": 1, \"templates\": [{\"name\": \"g\", \"made\": \"x\", \"version\": \"2\"}]}",
		  "templates[0].version: not an integer" },
		{ "{\"format\": 1, \"templates\": [{\"name\": \"g\", \"made\": \"x\", \"version\": 1, \"cpus\": 1, "
		  "\"memory\": 1, \"disks\": [{\"file\": \"../../etc/shadow\", \"format\": \"raw\", \"sha256\": \"" SHA_A "\", "
		  "\"virtual_size\": 1, \"bytes\": 1}]}]}",
		  "templates[0].disks[0]: file '../../etc/shadow' is not a relative path inside the library" },
		{ "{\"format\": 1, \"templates\": [{\"name\": \"g\", \"made\": \"x\", \"version\": 1, \"cpus\": 1, "
		  "\"memory\": 1, \"disks\": [{\"file\": \"/etc/shadow\", \"format\": \"raw\", \"sha256\": \"" SHA_A "\", "
		  "\"virtual_size\": 1, \"bytes\": 1}]}]}",
		  "file '/etc/shadow' is not a relative path inside the library" },
		{ "{\"format\": 1, \"templates\": [{\"name\": \"g\", \"made\": \"x\", \"version\": 1, \"cpus\": 1, "
		  "\"memory\": 1, \"disks\": [{\"file\": \"g/1/d\", \"format\": \"vmdk\", \"sha256\": \"" SHA_A "\", "
		  "\"virtual_size\": 1, \"bytes\": 1}]}]}",
		  "format 'vmdk' is neither qcow2 nor raw" },
		{ "{\"format\": 1, \"templates\": [{\"name\": \"g\", \"made\": \"x\", \"version\": 1, \"cpus\": 1, "
		  "\"memory\": 1, \"disks\": [{\"file\": \"g/1/d\", \"format\": \"raw\", \"sha256\": \"ABC\", "
		  "\"virtual_size\": 1, \"bytes\": 1}]}]}",
		  "templates[0].disks[0]: sha256 is not 64 lowercase hexadecimal digits" },
		{ "{\"format\": 1, \"templates\": [{\"name\": \"g\", \"made\": \"x\", \"version\": 1, \"cpus\": 1, "
		  "\"memory\": 1, \"disks\": []}]}",
		  "templates[0].disks: not a list of at least one disk" },
	};

	GString *deep = g_string_new("{\"format\": 1, \"templates\": ");
	g_autoptr(lib_index) bomb = NULL;

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(lib_index) x = lib_index_parse("central", "/lib", "idx", cases[i].json, -1);

		assert_non_null(x->error);
		if (!strstr(x->error, cases[i].expect))
			fail_msg("case %zu: '%s' lacks '%s'", i, x->error, cases[i].expect);
		assert_int_equal(x->entries->len, 0);
	}
	/* 200 KB of brackets overflowed the stack of json-glib's recursive
	 * parser: refused before it parses. */
	for (int i = 0; i < 200000; i++)
		g_string_append_c(deep, '[');
	for (int i = 0; i < 200000; i++)
		g_string_append_c(deep, ']');
	g_string_append_c(deep, '}');
	bomb = lib_index_parse("central", "/lib", "idx", deep->str, (gssize)deep->len);
	assert_non_null(bomb->error);
	assert_non_null(strstr(bomb->error, "idx:1: nested deeper than 64 levels"));
	g_string_free(deep, TRUE);
}

/* A duplicate entry is refused; a missing folder says so; an empty one is
 * no library (a share not mounted); with the marker, an empty library. */
static void
test_library__folders_and_duplicates(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *marker = g_build_filename(dir, "strata-library", NULL);
	g_autofree char *dup = g_strdup_printf("{\"format\": 1, \"templates\": [%s, %s]}", gold_v2, gold_v2);
	g_autoptr(lib_index) d = lib_index_parse("central", dir, "idx", dup, -1);
	g_autoptr(lib_index) missing = lib_index_read("central", "/nonexistent/strata-lib");
	g_autoptr(lib_index) unmounted = lib_index_read("central", dir);
	g_autoptr(lib_index) empty = NULL;
	g_autofree char *versions = NULL;

	(void)state;
	assert_non_null(strstr(d->error, "template 'gold' version 2 is listed twice"));
	assert_non_null(strstr(missing->error, "library folder /nonexistent/strata-lib: No such file or directory (is the share mounted?)"));
	assert_non_null(strstr(unmounted->error, "holds neither index.json nor the marker file strata-library"));
	tu_write(marker, "");
	empty = lib_index_read("central", dir);
	assert_null(empty->error);
	assert_int_equal(empty->entries->len, 0);
	versions = lib_index_versions(empty, "gold");
	assert_string_equal(versions, "none");
	tu_rmtree(dir);
}

/*
 * Whoever can write the share cannot send strata elsewhere: an index that
 * is a symlink or a FIFO is refused (a FIFO without blocking), and so is
 * an image reached through a symlinked folder.
 */
static void
test_library__links_and_fifos_in_the_share_are_refused(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *outside = tu_mkdtemp();
	g_autofree char *idx = g_build_filename(dir, "index.json", NULL);
	g_autofree char *target = g_build_filename(outside, "secret", NULL);
	g_autofree char *link = g_build_filename(dir, "gold", NULL);
	g_autoptr(GError) err = NULL;
	virt_copy out = { 0 };

	(void)state;
	tu_write(target, "{\"format\": 1, \"templates\": []}");
	assert_int_equal(symlink(target, idx), 0);
	{
		g_autoptr(lib_index) x = lib_index_read("central", dir);

		assert_non_null(x->error);
		assert_non_null(strstr(x->error, "a symlink or a path out of the library: refused"));
	}
	assert_int_equal(unlink(idx), 0);
	assert_int_equal(mkfifo(idx, 0600), 0);
	{
		g_autoptr(lib_index) x = lib_index_read("central", dir);

		assert_non_null(x->error);
		assert_non_null(strstr(x->error, "index.json: not a regular file"));
	}
	assert_int_equal(symlink(outside, link), 0);
	assert_false(lib_import(dir, "gold/secret", NULL, "default", "gold.qcow2", SHA_A, &out, &err));
	assert_non_null(strstr(err->message, "a symlink or a path out of the library: refused"));
	tu_rmtree(dir);
	tu_rmtree(outside);
}

/* ---- capture ------------------------------------------------------------ */

static bool
has_note_with(const plan *p, const char *text)
{
	for (guint i = 0; i < p->notes->len; i++)
		if (strstr(p->notes->pdata[i], text))
			return true;
	return false;
}

/*
 * A running VM captured as a template: stopped, its disk copied, started
 * again whatever became of the copy.  Here the copy fails (the test
 * driver cannot stream the new volume back to hash it): the volume is
 * deleted, the VM runs again, and the capture is not tried again at the
 * next pass (each try stops the VM) but said to wait.
 */
static void
test_capture__a_failed_capture_starts_the_vm_again_and_waits(void **state)
{
	static const char *const src_only =
		"kind: appliance\nname: a\nvms:\n  - {name: src, template: debian-12}\n";
	static const char *const with_capture =
		"kind: template\nname: cap\npool: default\nsource: {vm: a.src}\n---\n"
		"kind: appliance\nname: a\nvms:\n  - {name: src, template: debian-12}\n"
		"  - {name: copy, template: cap}\n";
	dc *d = dc_new(src_only);
	g_autofree char *host = NULL;
	const plan *p;
	const plan_op *stop, *cap, *start;

	(void)state;
	d->use_history = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, with_capture);
	p = dc_plan(d);
	stop = find_op_of(p, OP_SHUTDOWN, "a.src");
	cap = find_kind(p, OP_VOL_CAPTURE);
	start = find_op_of(p, OP_START, "a.src");
	assert_non_null(stop);
	assert_non_null(cap);
	assert_non_null(start);
	assert_string_equal(cap->volume, "cap-v1.qcow2");
	assert_string_equal(cap->clone_from, "a.src--system.qcow2");
	assert_string_equal(cap->host, stop->host);
	assert_true(has_dep(cap, stop));
	assert_true(has_dep(start, cap));
	assert_true(start->after_any);
	assert_non_null(find_op_of(p, OP_DEFINE, "a.copy"));
	assert_int_equal(dc_apply_planned_may_fail(d), EXEC_PARTIAL);
	assert_int_equal(cap->status, OPST_FAILED);
	assert_non_null(strstr(cap->error, "the captured volume was deleted"));
	assert_int_equal(start->status, OPST_DONE);
	host = g_strdup(cap->host);  /* the plan goes with the next look */
	assert_int_equal(dc_domain(d, "a.src")->state, VIRT_DOM_RUNNING);
	assert_false(dc_has_volume(d, host, "cap-v1.qcow2"));
	p = dc_plan(d);
	assert_null(find_kind(p, OP_VOL_CAPTURE));
	assert_null(find_op_of(p, OP_SHUTDOWN, "a.src"));
	assert_true(has_note_with(p, "template cap: not captured from VM a.src again yet: the last try failed"));
	dc_free(d);
}

/*
 * source: {vm, live: true} on a running VM: no stop and no start, one
 * capture op marked live, allowed under disruption: never (nothing is
 * disrupted).  The test driver has no backup jobs: the op fails saying so,
 * leaves no volume, the VM runs on, and the next plan waits.
 */
static void
test_capture__live_never_stops_the_vm(void **state)
{
	static const char *const live_spec =
		"kind: template\nname: cap\npool: default\nsource: {vm: a.src, live: true}\n---\n"
		"kind: appliance\nname: a\ndisruption: never\nvms:\n  - {name: src, template: debian-12}\n";
	dc *d = dc_new("kind: appliance\nname: a\ndisruption: never\nvms:\n  - {name: src, template: debian-12}\n");
	g_autofree char *host = NULL, *why = NULL;
	const plan *p;
	const plan_op *cap;

	(void)state;
	d->use_history = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, live_spec);
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	cap = find_kind(p, OP_VOL_CAPTURE);
	assert_non_null(cap);
	assert_true(cap->live);
	assert_int_equal(cap->deps->len, 0);
	assert_null(find_op_of(p, OP_SHUTDOWN, "a.src"));
	assert_null(find_op_of(p, OP_START, "a.src"));
	assert_int_equal(p->ops->len, 1);
	assert_int_equal(dc_apply_planned_may_fail(d), EXEC_FAILED);
	why = g_strdup(cap->error);
	host = g_strdup(cap->host);
	assert_non_null(strstr(why, "cannot begin a backup job of domain 'a.src'"));
	assert_int_equal(dc_domain(d, "a.src")->state, VIRT_DOM_RUNNING);
	assert_false(dc_has_volume(d, host, "cap-v1.qcow2"));
	p = dc_plan(d);
	assert_null(find_kind(p, OP_VOL_CAPTURE));
	assert_true(has_note_with(p, "template cap: not captured from VM a.src again yet: the last try failed"));

	/* without live, disruption: never refuses to stop it for a capture */
	dc_spec(d, "kind: template\nname: cap2\npool: default\nsource: {vm: a.src}\n---\n"
		   "kind: appliance\nname: a\ndisruption: never\nvms:\n  - {name: src, template: debian-12}\n");
	p = dc_plan(d);
	assert_null(find_kind(p, OP_VOL_CAPTURE));
	assert_true(has_note_with(p, "source: {vm: ..., live: true} copies it while it runs"));
	dc_free(d);
}

/* The backup job's XML: the disk on the volume copied into the file, as
 * qcow2; every other disk, CD-ROMs too, left out; no job unless exactly one
 * disk is on the volume. */
static void
test_capture__backup_xml_copies_one_disk(void **state)
{
	static const char *const dom =
		"<domain type='kvm'><name>a.src</name><devices>"
		"<disk type='volume' device='disk'><source pool='default' volume='a.src--system.qcow2'/>"
		"<target dev='vda' bus='virtio'/></disk>"
		"<disk type='volume' device='disk'><source pool='default' volume='a.src--data.qcow2'/>"
		"<target dev='vdb' bus='virtio'/></disk>"
		"<disk type='file' device='cdrom'><source file='/iso/x&amp;y.iso'/><target dev='sda' bus='sata'/></disk>"
		"</devices></domain>";
	g_autofree char *xml = domxml_backup(dom, "default", "a.src--system.qcow2", "/pool/cap-v1&.qcow2");
	g_autofree char *none = domxml_backup(dom, "default", "other.qcow2", "/pool/x.qcow2");

	(void)state;
	assert_non_null(xml);
	assert_string_equal(xml,
		"<domainbackup mode=\"push\">\n"
		"  <disks>\n"
		"    <disk name=\"vda\" backup=\"yes\" type=\"file\">\n"
		"      <target file=\"/pool/cap-v1&amp;.qcow2\"/>\n"
		"      <driver type=\"qcow2\"/>\n"
		"    </disk>\n"
		"    <disk name=\"vdb\" backup=\"no\"/>\n"
		"    <disk name=\"sda\" backup=\"no\"/>\n"
		"  </disks>\n"
		"</domainbackup>\n");
	assert_null(none);
}

static void
vol_make(dc *d, const char *host, const char *xml)
{
	host_conn *hc = g_hash_table_lookup(d->hosts->by_name, host);
	g_autoptr(GError) err = NULL;

	assert_true(virt_vol_create(hc->virt, "default", xml, NULL, &err));
}

/*
 * A raw base: the system disk's overlay names its backing file as raw, on a
 * host that holds it and on one it is copied to (the source's format).
 * Named qcow2, qemu-img could not open it, and no VM on a raw base was made.
 */
static void
test_copy__an_overlay_on_a_raw_base_says_raw(void **state)
{
	dc *d = dc_new("kind: template\nname: plain\npool: default\nvolume: plain.img\nsource: {host: hv1}\n---\n"
		       "kind: appliance\nname: r\nvms:\n  - {name: a, template: plain, host: hv1}\n"
		       "  - {name: b, template: plain, host: hv2}\n");
	const plan *p;
	guint overlays = 0;

	(void)state;
	vol_make(d, "hv1", "<volume><name>plain.img</name><capacity>1048576</capacity>"
		 "<target><format type='raw'/></target></volume>");
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	assert_non_null(find_kind(p, OP_VOL_COPY));
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind != OP_VOL_CREATE || !g_str_has_suffix(op->volume, "--system.qcow2"))
			continue;
		assert_non_null(strstr(op->xml, "/plain.img</path>\n    <format type=\"raw\"/>"));
		overlays++;
	}
	assert_int_equal(overlays, 2);
	dc_free(d);
}

/* Record that strata made @volume on @host (as a verified copy would). */
static void
record_made(dc *d, const char *host, const char *volume)
{
	plan_op op = { .kind = OP_VOL_COPY, .host = (char *)host, .pool = "default", .volume = (char *)volume,
		       .peer = "elsewhere", .status = OPST_PENDING };
	plan_op *ops = &op;
	g_autoptr(GError) err = NULL;
	gint64 run, row;

	op.deps = g_ptr_array_new();
	run = history_run_begin(d->hist, "test", 0, &err);
	assert_true(history_intents(d->hist, run, &ops, 1, &row, &err));
	op.status = OPST_DONE;
	op.digest = SHA_A;
	assert_true(history_results(d->hist, &ops, &row, 1, &err));
	g_ptr_array_unref(op.deps);
}

/*
 * A folder that holds neither an index nor the marker is no library: a
 * share not mounted reads as an empty folder on the local disk, where no
 * export may land.  Nothing is exported into it, and the plan says why.
 */
static void
test_library__a_folder_without_index_or_marker_is_refused(void **state)
{
	fixture *f;
	const plan *p;
	g_autofree char *marker = NULL;
	bool said = false;

	(void)state;
	extra_docs = "kind: library\nname: central\npath: %s\nexport: [gold]\n---\n";
	f = fixture_with("version: 2\nsource: {host: hv1}\n", "  - {name: w, template: silver}\n");
	assert_non_null(find_kind(dc_plan(f->d), OP_LIB_EXPORT));
	marker = g_build_filename(f->nodes, "lib", "strata-library", NULL);
	assert_int_equal(g_unlink(marker), 0);
	p = dc_plan(f->d);
	assert_null(find_kind(p, OP_LIB_EXPORT));
	for (guint i = 0; i < p->notes->len; i++)
		said = said || strstr(p->notes->pdata[i], "holds neither index.json nor the marker file strata-library: "
				      "if it is a share, it is not mounted");
	for (guint i = 0; i < p->errors->len; i++)
		said = said || strstr(p->errors->pdata[i], "holds neither index.json nor the marker file strata-library");
	assert_true(said);
	library_fixture_free(f);
}

/* ---- templates with more disks ---------------------------------------- */

/*
 * A template with a disk beside its system disk: the VM gets that disk
 * too, an overlay on its own base, named by the template's disk; each base
 * missing on the VM's host is copied there first, and the overlay waits
 * for its copy.
 */
static void
test_template_disks__each_disk_on_its_base_copied_where_missing(void **state)
{
	fixture *f = fixture_new("source: {host: hv1}\ndisks: [{name: data, volume: gold-data.qcow2}]\n");
	const plan *p = dc_plan(f->d);
	const plan_op *data_copy = NULL, *data_disk = NULL, *def;
	guint copies = 0;

	(void)state;
	assert_int_equal(p->errors->len, 0);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_COPY) {
			copies++;
			assert_string_equal(op->host, "hv2");
			assert_string_equal(op->peer, "hv1");
			if (!strcmp(op->volume, "gold-data.qcow2"))
				data_copy = op;
		}
		if (op->kind == OP_VOL_CREATE && !strcmp(op->volume, "a.w--data.qcow2"))
			data_disk = op;
	}
	assert_int_equal(copies, 2);
	assert_non_null(data_copy);
	assert_non_null(data_disk);
	assert_true(has_dep(data_disk, data_copy));
	assert_non_null(strstr(data_disk->xml, "<path>/var/lib/strata-sim/dst/default/gold-data.qcow2</path>"));
	def = find_op_of(p, OP_DEFINE, "a.w");
	assert_non_null(def);
	assert_non_null(strstr(def->xml, "volume=\"a.w--data.qcow2\""));
	assert_non_null(strstr(def->xml, "<target dev=\"vdb\""));
	fixture_free(f);
}

/*
 * A VM moved onto a template that has a disk of the name of the VM's own
 * disk: the volume is the VM's data, not its old template's, and is never
 * rebuilt from the new template's base; the change is refused saying so.
 */
static void
test_template_disks__a_vms_own_disk_is_never_rebuilt_as_the_templates(void **state)
{
	fixture *f = fixture_with("source: {host: hv1}\ndisks: [{name: data, volume: gold-data.qcow2}]\n",
				  "  - {name: w, template: silver, requires: [fast], disks: [{name: data, size: 64MiB}]}\n");
	g_autofree char *moved = NULL;
	const plan *p;

	(void)state;
	assert_int_equal(dc_apply(f->d), EXEC_CONVERGED);
	assert_true(dc_has_volume(f->d, "hv2", "a.w--data.qcow2"));
	moved = spec_text(f, "source: {host: hv1}\ndisks: [{name: data, volume: gold-data.qcow2}]\n",
			  "  - {name: w, template: gold, requires: [fast]}\n");
	tu_write(f->d->spec, moved);
	p = dc_plan(f->d);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		assert_false(op->kind == OP_VOL_DELETE && !strcmp(op->volume, "a.w--data.qcow2"));
	}
	assert_true(p->errors->len > 0);
	assert_non_null(strstr(p->errors->pdata[0], "is not a disk of its old template silver (its own data, "
				"maybe); strata will not replace it"));
	fixture_free(f);
}

/*
 * From a library, each base of a template with a disk is pulled from its
 * own image of the entry, in order, checked against its own checksum; an
 * entry with another count of disks is refused with both numbers.
 */
static void
test_template_disks__pulled_from_a_library_by_their_order(void **state)
{
	static const char *const md =
		"{\"name\": \"gold\", \"version\": 2, \"cpus\": 1, \"memory\": 1073741824, \"made\": \"2026-11-24T00:00:00Z\", "
		"\"disks\": [{\"file\": \"gold/2/disk0.qcow2\", \"format\": \"qcow2\", \"virtual_size\": 2147483648, "
		"\"bytes\": 5242880, \"sha256\": \"" SHA_B "\"}, {\"file\": \"gold/2/disk1.qcow2\", \"format\": \"raw\", "
		"\"virtual_size\": 1048576, \"bytes\": 4096, \"sha256\": \"" SHA_A "\"}]}";
	fixture *f = library_fixture("version: 2\nsource: {library: central}\n"
				     "disks: [{name: data, volume: gold-data.qcow2}]\n");
	const plan *p;
	const plan_op *sys = NULL, *data = NULL, *disk = NULL;

	(void)state;
	write_index(f, md);
	p = dc_plan(f->d);
	assert_int_equal(p->errors->len, 0);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_COPY && !strcmp(op->volume, "gold.qcow2"))
			sys = op;
		if (op->kind == OP_VOL_COPY && !strcmp(op->volume, "gold-data.qcow2"))
			data = op;
		if (op->kind == OP_VOL_CREATE && !strcmp(op->volume, "a.w--data.qcow2"))
			disk = op;
	}
	assert_non_null(sys);
	assert_non_null(data);
	assert_string_equal(sys->image, "gold/2/disk0.qcow2");
	assert_string_equal(sys->hash, SHA_B);
	assert_string_equal(data->image, "gold/2/disk1.qcow2");
	assert_string_equal(data->hash, SHA_A);
	assert_non_null(disk);
	assert_non_null(strstr(disk->xml, "gold-data.qcow2</path>\n    <format type=\"raw\"/>"));
	write_index(f, gold_v2);  /* one disk: the template has two */
	p = dc_plan(f->d);
	assert_null(find_kind(p, OP_VOL_COPY));
	assert_true(p->errors->len > 0);
	assert_non_null(strstr(p->errors->pdata[0], "with 1 disk(s), and the template has 2"));
	library_fixture_free(f);
}

/*
 * A captured template with a disk beside its system disk: both are
 * captured from the VM's disks of those names in one stop, the VM started
 * again after both, and strata names the disk's base by template, version
 * and disk.  A VM on the template waits for both captures.
 */
static void
test_template_disks__captured_in_one_stop(void **state)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n"
		       "  - {name: src, template: debian-12, disks: [{name: data, size: 64MiB}]}\n");
	const plan *p;
	const plan_op *stop, *start, *sys_cap = NULL, *data_cap = NULL;
	guint stops = 0, caps = 0;

	(void)state;
	d->use_history = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, "kind: template\nname: cap\npool: default\nsource: {vm: a.src}\ndisks: [{name: data}]\n---\n"
		   "kind: appliance\nname: a\nvms:\n"
		   "  - {name: src, template: debian-12, disks: [{name: data, size: 64MiB}]}\n"
		   "  - {name: copy, template: cap}\n");
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		stops += op->kind == OP_SHUTDOWN;
		if (op->kind != OP_VOL_CAPTURE)
			continue;
		caps++;
		if (!strcmp(op->volume, "cap-v1.qcow2"))
			sys_cap = op;
		if (!strcmp(op->volume, "cap-v1-data.qcow2"))
			data_cap = op;
	}
	assert_int_equal(stops, 1);
	assert_int_equal(caps, 2);
	assert_non_null(sys_cap);
	assert_non_null(data_cap);
	assert_string_equal(sys_cap->clone_from, "a.src--system.qcow2");
	assert_string_equal(data_cap->clone_from, "a.src--data.qcow2");
	stop = find_op_of(p, OP_SHUTDOWN, "a.src");
	start = find_op_of(p, OP_START, "a.src");
	assert_true(has_dep(sys_cap, stop) && has_dep(data_cap, stop));
	assert_true(has_dep(start, sys_cap) && has_dep(start, data_cap));
	assert_true(start->after_any);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->kind == OP_VOL_CREATE && !strcmp(op->volume, "a.copy--data.qcow2")) {
			assert_true(waits_on(op, data_cap));
			stops++;
		}
	}
	assert_int_equal(stops, 2);  /* the one stop, and a.copy's data disk */
	dc_free(d);
}

/* ---- retention ------------------------------------------------------- */

static const char *const keep1_spec =
	"kind: template\nname: cap\nversion: 2\nkeep: 1\npool: default\nsource: {vm: a.src}\n---\n"
	"kind: appliance\nname: a\nvms:\n  - {name: src, template: debian-12}\n";


static void
cap_make(dc *d, const char *host, unsigned version)
{
	g_autofree char *xml = g_strdup_printf("<volume><name>cap-v%u.qcow2</name><capacity>1048576</capacity>"
					       "</volume>", version);

	vol_make(d, host, xml);
}

/* A converged datacenter with a.src deployed; @other is a host it is not
 * on, holding versions 1 and 2 of template cap, both made by strata. */
static dc *
keep_world(char **other)
{
	dc *d = dc_new("kind: appliance\nname: a\nvms:\n  - {name: src, template: debian-12}\n");

	d->use_history = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	*other = g_strdup(strcmp(dc_domain(d, "a.src")->host->name, "hv3") ? "hv3" : "hv1");
	cap_make(d, *other, 1);
	cap_make(d, *other, 2);
	record_made(d, *other, "cap-v1.qcow2");
	record_made(d, *other, "cap-v2.qcow2");
	return d;
}

static guint
count_retirements(const plan *p)
{
	guint n = 0;

	for (guint i = 0; i < p->ops->len; i++)
		n += ((plan_op *)p->ops->pdata[i])->kind == OP_VOL_DELETE;
	return n;
}

/*
 * keep: 1 at version 2: version 1 is planned to go from the host where
 * strata made it, and only there: never the current version, never a
 * version 1 strata did not make (on the VM's own host), never while the
 * plan does anything else, never while a domain anywhere uses it.
 */
static void
test_retention__planned_only_where_strata_made_it_at_rest(void **state)
{
	g_autofree char *other = NULL, *src_host = NULL;
	dc *d = keep_world(&other);
	const plan *p;
	const plan_op *op;

	(void)state;
	src_host = g_strdup(dc_domain(d, "a.src")->host->name);
	cap_make(d, src_host, 1);  /* not strata's */
	dc_spec(d, keep1_spec);
	p = dc_plan(d);
	assert_int_equal(p->errors->len, 0);
	assert_int_equal(count_retirements(p), 1);
	op = find_kind(p, OP_VOL_DELETE);
	assert_true(op->retire);
	assert_string_equal(op->host, other);
	assert_string_equal(op->volume, "cap-v1.qcow2");
	assert_string_equal(op->hash, SHA_A);
	assert_int_equal(op->impact, IMPACT_DESTROYS_DATA);
	assert_int_equal(g_strv_length(op->members), 2);  /* every other host is asked */
	assert_false(g_strv_contains((const char *const *)op->members, other));

	/* version 2, keep: 2 keeps both */
	dc_spec(d, "kind: template\nname: cap\nversion: 2\nkeep: 2\npool: default\nsource: {vm: a.src}\n---\n"
		   "kind: appliance\nname: a\nvms:\n  - {name: src, template: debian-12}\n");
	assert_int_equal(count_retirements(dc_plan(d)), 0);

	/* version 3, keep: 2: only version 1 goes, and not before version 3
	 * is held as strata made it */
	dc_spec(d, "kind: template\nname: cap\nversion: 3\nkeep: 2\npool: default\nsource: {vm: a.src}\n---\n"
		   "kind: appliance\nname: a\nvms:\n  - {name: src, template: debian-12}\n");
	p = dc_plan(d);
	assert_non_null(find_kind(p, OP_VOL_CAPTURE));  /* version 3 is made first */
	assert_int_equal(count_retirements(p), 0);
	cap_make(d, other, 3);
	record_made(d, other, "cap-v3.qcow2");
	p = dc_plan(d);
	assert_int_equal(count_retirements(p), 1);
	assert_string_equal(find_kind(p, OP_VOL_DELETE)->volume, "cap-v1.qcow2");
	dc_spec(d, keep1_spec);

	/* a plan that changes anything retires nothing, and says why */
	dc_spec(d, "kind: template\nname: cap\nversion: 2\nkeep: 1\npool: default\nsource: {vm: a.src}\n---\n"
		   "kind: appliance\nname: a\nvms:\n  - {name: src, template: debian-12}\n"
		   "  - {name: more, template: debian-12}\n");
	p = dc_plan(d);
	assert_non_null(find_op_of(p, OP_DEFINE, "a.more"));
	assert_int_equal(count_retirements(p), 0);
	dc_free(d);
}

/* A domain on any host that uses a volume of that name keeps the version
 * everywhere (a VM not yet rebuilt onto the new one). */
static void
test_retention__a_domain_anywhere_on_the_version_keeps_it(void **state)
{
	g_autofree char *other = NULL, *third = NULL, *xml = NULL;
	dc *d = keep_world(&other);
	host_conn *hc;
	g_autoptr(GError) err = NULL;
	const plan *p;

	(void)state;
	third = g_strdup(strcmp(other, "hv2") && strcmp(dc_domain(d, "a.src")->host->name, "hv2") ? "hv2" :
			 strcmp(other, "hv1") && strcmp(dc_domain(d, "a.src")->host->name, "hv1") ? "hv1" : "hv3");
	cap_make(d, third, 1);
	hc = g_hash_table_lookup(d->hosts->by_name, third);
	xml = g_strdup("<domain type='test'><name>handmade</name><memory>65536</memory><os><type>hvm</type></os>"
		       "<devices><disk type='volume' device='disk'><source pool='default' volume='cap-v1.qcow2'/>"
		       "<target dev='vda'/></disk></devices></domain>");
	assert_true(virt_define(hc->virt, xml, NULL, &err));
	dc_spec(d, keep1_spec);
	p = dc_plan(d);
	assert_int_equal(count_retirements(p), 0);
	assert_true(has_note_with(p, "is kept: a domain on "));
	dc_free(d);
}

/* Apply the one retirement planned in @d; return its error (it must fail). */
static char *
retire_kept(dc *d, const char *other)
{
	const plan *p;
	plan_op *op;
	char *why;

	dc_spec(d, keep1_spec);
	p = dc_plan(d);
	assert_int_equal(count_retirements(p), 1);
	op = (plan_op *)find_kind(p, OP_VOL_DELETE);
	assert_int_equal(dc_apply_planned_may_fail(d), EXEC_FAILED);
	assert_int_equal(op->status, OPST_FAILED);
	why = g_strdup(op->error);  /* the plan goes with the next look */
	assert_true(dc_has_volume(d, other, "cap-v1.qcow2"));
	return why;
}

/*
 * Just before the delete, every host is asked afresh: an overlay in a pool
 * built on the file keeps it (a stopped VM's disk names its base nowhere
 * in the domain's definition); the next plan waits an hour and says why.
 */
static void
test_retention__an_overlay_on_the_file_keeps_it(void **state)
{
	g_autofree char *other = NULL, *path = NULL, *xml = NULL, *why = NULL;
	dc *d = keep_world(&other);
	host_conn *hc = g_hash_table_lookup(d->hosts->by_name, other);
	g_autoptr(GError) err = NULL;
	const plan *p;

	(void)state;
	assert_true(virt_vol_key(hc->virt, "default", "cap-v1.qcow2", &path, &err));
	xml = g_strdup_printf("<volume><name>hand.qcow2</name><capacity>1048576</capacity><target><format "
			      "type='qcow2'/></target><backingStore><path>%s</path><format type='qcow2'/>"
			      "</backingStore></volume>", path);
	vol_make(d, other, xml);
	why = retire_kept(d, other);
	assert_non_null(strstr(why, "default/cap-v1.qcow2 is kept: on "));
	assert_non_null(strstr(why, "volume default/hand.qcow2 (its backing file is"));
	assert_non_null(strstr(why, "nothing was deleted"));
	p = dc_plan(d);
	assert_int_equal(count_retirements(p), 0);
	assert_true(has_note_with(p, "is kept for now: "));
	assert_true(has_note_with(p, "strata looks again an hour later"));
	dc_free(d);
}

/* An overlay on another host's own copy of the version keeps it here too:
 * a version goes from every host or from none (that host's pool may be
 * this one's storage under another path). */
static void
test_retention__an_overlay_on_another_hosts_copy_keeps_it(void **state)
{
	g_autofree char *other = NULL, *path = NULL, *xml = NULL, *why = NULL;
	dc *d = keep_world(&other);
	const char *third = !strcmp(other, "hv1") ? "hv2" : "hv1";
	host_conn *hc = g_hash_table_lookup(d->hosts->by_name, third);
	g_autoptr(GError) err = NULL;

	(void)state;
	cap_make(d, third, 1);  /* not strata's there: never retired there */
	assert_true(virt_vol_key(hc->virt, "default", "cap-v1.qcow2", &path, &err));
	xml = g_strdup_printf("<volume><name>hand.qcow2</name><capacity>1048576</capacity><target><format "
			      "type='qcow2'/></target><backingStore><path>%s</path><format type='qcow2'/>"
			      "</backingStore></volume>", path);
	vol_make(d, third, xml);
	why = retire_kept(d, other);
	assert_non_null(strstr(why, "volume default/hand.qcow2 (its backing file is"));
	assert_non_null(strstr(why, "(on that host's copy of the version)"));
	dc_free(d);
}

/* On another host, a disk file outside every pool keeps it: what that file
 * is built on cannot be read, and the other host may see the same storage. */
static void
test_retention__a_disk_outside_every_pool_keeps_it(void **state)
{
	g_autofree char *other = NULL, *why = NULL;
	dc *d = keep_world(&other);
	const char *third = !strcmp(other, "hv1") ? "hv2" : "hv1";
	host_conn *hc = g_hash_table_lookup(d->hosts->by_name, third);
	g_autoptr(GError) err = NULL;

	(void)state;
	assert_true(virt_define(hc->virt, "<domain type='test'><name>loose</name><memory>65536</memory><os>"
				"<type>hvm</type></os><devices><disk type='file' device='disk'><source "
				"file='/srv/elsewhere/loose.qcow2'/><target dev='vda'/></disk></devices></domain>",
				NULL, &err));
	why = retire_kept(d, other);
	assert_non_null(strstr(why, "domain loose (disk vda is /srv/elsewhere/loose.qcow2, outside every pool"));
	dc_free(d);
}

/* When nothing stands on it, the bytes are checked against what strata
 * recorded before the delete: the test driver cannot stream them, so the
 * version is kept (on real libvirt, e2e's retention scenario deletes it). */
static void
test_retention__the_bytes_are_checked_before_the_delete(void **state)
{
	g_autofree char *other = NULL, *why = NULL;
	dc *d = keep_world(&other);

	(void)state;
	why = retire_kept(d, other);
	assert_non_null(strstr(why, "its bytes are not shown to be those strata made there"));
	assert_non_null(strstr(why, "virStorageVolDownload"));
	dc_free(d);
}

/* ---- exports ------------------------------------------------------------ */

/* Placeholders are filled with values quoted for the shell: a file name
 * with a space or a quote stays one argument; an unknown one is refused. */
static void
test_export__upload_line_quotes_what_it_fills_in(void **state)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *line = image_upload_line("up {file} s3://b/{name} --region {region} # {sha256}",
						  "/out/a b'c.vmdk", "a.vmdk", "eu-west-1", SHA_A, &err);
	g_autofree char *bad = NULL;

	(void)state;
	assert_string_equal(line, "up '/out/a b'\\''c.vmdk' s3://b/'a.vmdk' --region 'eu-west-1' # '" SHA_A "'");
	bad = image_upload_line("up {fiel}", "f", "n", NULL, SHA_A, &err);
	assert_null(bad);
	assert_non_null(strstr(err->message, "unknown placeholder {fiel} in the upload command"));
}

/* An image export is planned once per export and template version, on a
 * host holding the base, named by both. */
static void
test_export__planned_once_per_version(void **state)
{
	fixture *f;
	const plan *p;
	const plan_op *ex;
	g_autoptr(GError) err = NULL;
	g_autofree char *desc = NULL;
	plan_op *done;
	gint64 run, row;

	(void)state;
	extra_docs = "kind: export\nname: aws\ntemplate: gold\nformat: vmdk\npath: %s\n"
		     "upload: {command: \"up {file}\"}\n---\n";
	f = fixture_with("version: 3\nsource: {host: hv1}\n", "  - {name: w, template: silver}\n");
	p = dc_plan(f->d);
	ex = find_kind(p, OP_IMAGE_EXPORT);
	assert_non_null(ex);
	assert_string_equal(ex->host, "hv1");
	assert_string_equal(ex->export->file_name, "aws-gold-v3.vmdk");
	assert_string_equal(ex->export->command, "up {file}");
	assert_int_equal(ex->export->timeout_s, 600);
	assert_int_equal(ex->export->attempts, 3);
	desc = op_describe(ex);
	assert_non_null(strstr(desc, "export-image gold version 3 from default/gold.qcow2 as vmdk "));
	assert_true(g_str_has_suffix(desc, "/lib/aws-gold-v3.vmdk, then uploaded"));
	/* Done: recorded, and never planned again. */
	done = (plan_op *)ex;
	run = history_run_begin(f->d->hist, "test", 0, &err);
	assert_true(history_intents(f->d->hist, run, &done, 1, &row, &err));
	done->status = OPST_DONE;
	done->digest = g_strdup(SHA_A);
	assert_true(history_results(f->d->hist, &done, &row, 1, &err));
	p = dc_plan(f->d);
	assert_null(find_kind(p, OP_IMAGE_EXPORT));
	library_fixture_free(f);
}

/* An export that failed is not tried again at every pass (each try streams
 * and converts the whole image): the plan says it waits. */
static void
test_export__a_failed_export_waits_an_hour(void **state)
{
	fixture *f;
	const plan *p;
	plan_op *ex;
	g_autoptr(GError) err = NULL;
	gint64 run, row;

	(void)state;
	extra_docs = "kind: export\nname: aws\ntemplate: gold\nformat: vmdk\npath: %s\n---\n";
	f = fixture_with("version: 3\nsource: {host: hv1}\n", "  - {name: w, template: silver}\n");
	p = dc_plan(f->d);
	ex = (plan_op *)find_kind(p, OP_IMAGE_EXPORT);
	assert_non_null(ex);
	run = history_run_begin(f->d->hist, "test", 0, &err);
	assert_true(history_intents(f->d->hist, run, &ex, 1, &row, &err));
	ex->status = OPST_FAILED;
	ex->error = g_strdup("upload attempt 1: exit 3: denied");
	assert_true(history_results(f->d->hist, &ex, &row, 1, &err));
	p = dc_plan(f->d);
	assert_null(find_kind(p, OP_IMAGE_EXPORT));
	assert_true(has_note_with(p, "export aws of template gold version 3: not tried again yet: the last try "
				  "failed (export failed: upload attempt 1: exit 3: denied)"));
	library_fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy__a_host_lacking_the_base_gets_it_copied_first),
		cmocka_unit_test(test_copy__one_copy_serves_every_vm_on_the_host),
		cmocka_unit_test(test_copy__a_running_vm_is_stopped_only_after_the_copy),
		cmocka_unit_test(test_copy__without_a_source_a_missing_base_is_refused),
		cmocka_unit_test(test_copy__a_declared_checksum_is_what_the_copy_must_have),
		cmocka_unit_test(test_copy__a_failed_copy_leaves_nothing_behind),
		cmocka_unit_test(test_copy__a_copy_cut_short_is_not_built_on),
		cmocka_unit_test(test_copy__the_next_copy_must_match_the_recorded_checksum),
		cmocka_unit_test(test_library__a_base_is_pulled_from_the_library),
		cmocka_unit_test(test_library__what_the_library_lacks_is_refused_with_the_reason),
		cmocka_unit_test(test_library__a_template_is_exported_once_per_version),
		cmocka_unit_test(test_library__a_hostile_index_is_refused_saying_where),
		cmocka_unit_test(test_library__folders_and_duplicates),
		cmocka_unit_test(test_library__links_and_fifos_in_the_share_are_refused),
		cmocka_unit_test(test_capture__a_failed_capture_starts_the_vm_again_and_waits),
		cmocka_unit_test(test_copy__an_overlay_on_a_raw_base_says_raw),
		cmocka_unit_test(test_capture__live_never_stops_the_vm),
		cmocka_unit_test(test_capture__backup_xml_copies_one_disk),
		cmocka_unit_test(test_library__a_folder_without_index_or_marker_is_refused),
		cmocka_unit_test(test_template_disks__each_disk_on_its_base_copied_where_missing),
		cmocka_unit_test(test_template_disks__captured_in_one_stop),
		cmocka_unit_test(test_template_disks__pulled_from_a_library_by_their_order),
		cmocka_unit_test(test_template_disks__a_vms_own_disk_is_never_rebuilt_as_the_templates),
		cmocka_unit_test(test_retention__planned_only_where_strata_made_it_at_rest),
		cmocka_unit_test(test_retention__a_domain_anywhere_on_the_version_keeps_it),
		cmocka_unit_test(test_retention__an_overlay_on_the_file_keeps_it),
		cmocka_unit_test(test_retention__an_overlay_on_another_hosts_copy_keeps_it),
		cmocka_unit_test(test_retention__a_disk_outside_every_pool_keeps_it),
		cmocka_unit_test(test_retention__the_bytes_are_checked_before_the_delete),
		cmocka_unit_test(test_export__upload_line_quotes_what_it_fills_in),
		cmocka_unit_test(test_export__planned_once_per_version),
		cmocka_unit_test(test_export__a_failed_export_waits_an_hour),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
