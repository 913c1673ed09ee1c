/*
 * test_observe_snapshot.c - plans from a snapshot of what the hosts ran
 *
 * Every plan the reconcile tests make is made again from a snapshot
 * (recon.c): that is where "the same plan, byte for byte" is held.  Here:
 * what a snapshot written by hand or by another tool must not get past
 * (tests/data/observed/bad, each file with the message it must give), a
 * revision newer than the snapshot, which must make the plan partial and
 * say why, and the commands as a CI job runs them.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "recon.h"
#include "../../reconciler/observe_snapshot.h"

#define DATA "tests/data/observed/"

static void
test_corpus__each_bad_snapshot_is_refused_saying_where(void **state)
{
	g_autoptr(GDir) dir = g_dir_open(DATA "bad", 0, NULL);
	const char *name;
	guint n = 0;

	(void)state;
	assert_non_null(dir);
	while ((name = g_dir_read_name(dir))) {
		g_autofree char *file = NULL, *expected_file = NULL, *expected = NULL;
		g_autoptr(GError) err = NULL;
		gint64 taken;
		observed *o;

		if (!g_str_has_suffix(name, ".json"))
			continue;
		file = g_strconcat(DATA "bad/", name, NULL);
		expected_file = g_strdup_printf("%.*s.expected", (int)strlen(file) - 5, file);
		assert_true(g_file_get_contents(expected_file, &expected, NULL, NULL));
		g_strchomp(expected);
		o = observe_snapshot_load(file, &taken, &err);
		if (o || !strstr(err->message, expected) || !strstr(err->message, file) ||
		    !strstr(err->message, "write it again with `strata observe`"))
			fail_msg("%s: expected an error with '%s', got %s", file, expected,
				 o ? "a snapshot" : err->message);
		/* Nothing of the input reaches a terminal as a control character. */
		for (const char *c = err->message; *c; c = g_utf8_next_char(c))
			if (g_unichar_iscntrl(g_utf8_get_char(c)))
				fail_msg("%s: the message holds a control character: %s", file, err->message);
		n++;
	}
	assert_true(n >= 30);
}

/* The good file of the corpus reads, and writes back to the same text. */
static void
test_read__a_snapshot_written_again_is_the_same(void **state)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *again = NULL, *twice = NULL;
	g_autoptr(observed) o = NULL, back = NULL;
	gint64 taken = 0, taken2 = 0;

	(void)state;
	o = observe_snapshot_load(DATA "good.json", &taken, &err);
	assert_non_null(o);
	assert_int_equal(taken, 1795494600);  /* 2026-11-24T04:30:00Z */
	assert_int_equal(o->hosts->len, 1);
	assert_true(obs_host_has_volume(o->hosts->pdata[0], "default", "debian-12.qcow2"));
	/* The indexes are rebuilt: the domain uses its system disk. */
	assert_true(obs_host_volume_used(o->hosts->pdata[0], "default", "hello.vm--system.qcow2", NULL));
	assert_false(obs_host_volume_used(o->hosts->pdata[0], "default", "debian-12.qcow2", NULL));
	assert_int_equal(obs_host_capacity(o->hosts->pdata[0], "default", "debian-12.qcow2"), 2147483648);
	again = observe_snapshot_write(o, NULL, taken);
	back = observe_snapshot_parse("again", again, -1, &taken2, &err);
	assert_non_null(back);
	twice = observe_snapshot_write(back, NULL, taken2);
	assert_string_equal(twice, again);
	assert_non_null(strstr(again, "\"hello.vm--system.qcow2\""));
}

/* Plan revision @text of @d's source from @snapshot. */
static void
plan_from(dc *d, const char *snapshot, pass *p)
{
	pass_options o = { .path = d->spec, .observed_file = snapshot };
	g_autoptr(GError) err = NULL;

	if (!pass_run(p, &o, NULL, NULL, &err))
		fail_msg("plan from the snapshot failed: %s", err ? err->message : "invalid spec");
}

static bool
has_gap(const pass *p, const char *part)
{
	for (guint i = 0; i < p->plan->notes->len; i++)
		if (g_str_has_prefix(p->plan->notes->pdata[i], "snapshot: ") &&
		    strstr(p->plan->notes->pdata[i], part))
			return true;
	return false;
}

static char *
snapshot_of(dc *d)
{
	g_autofree char *text = observe_snapshot_write(d->last.have, d->hosts, 0);
	char *file = g_build_filename(d->dir, "taken.json", NULL);

	assert_true(g_file_set_contents(file, text, -1, NULL));
	return file;
}

static const char *const app_v1 =
	"kind: appliance\nname: shop\nvms:\n"
	"  - {name: web, template: debian-12, cpus: 1}\n";

/*
 * A daemon's pass takes definitions it knows from its cache: a snapshot
 * of such a pass has not read them.  A revision that changes that VM
 * needs the definition; the plan from the snapshot must say so and be
 * partial, not plan the change blind.
 */
static void
test_gap__a_changed_vm_whose_definition_the_snapshot_did_not_read(void **state)
{
	dc *d = dc_new(app_v1);
	g_autofree char *file = NULL;
	pass p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_plan(d);  /* from the cache: nothing read */
	assert_int_equal(d->last.have->xml_reads, 0);
	file = snapshot_of(d);
	dc_spec(d, "kind: appliance\nname: shop\nvms:\n  - {name: web, template: debian-12, cpus: 2}\n");
	plan_from(d, file, &p);
	assert_true(p.plan->partial);
	assert_true(has_gap(&p, "has not read the definition of shop.web"));
	pass_release(&p);
	/* The same revision from a snapshot of a pass that read it: no gap. */
	obs_cache_clear(d->cache);
	dc_plan(d);
	g_free(file);
	file = snapshot_of(d);
	plan_from(d, file, &p);
	assert_false(p.plan->partial);
	assert_int_equal(p.snapshot_gaps->len, 0);
	pass_release(&p);
	dc_free(d);
}

/*
 * A persistent volume no VM uses, about to be given to one: a live pass
 * reads its details (a backing file outside its pool is refused), so a
 * snapshot taken while no VM wanted it lacks what the plan must check.
 */
static void
test_gap__a_persistent_volume_about_to_be_used(void **state)
{
	static const char *const with_db =
		"kind: appliance\nname: shop\nvms:\n  - {name: db, persistent: db-data}\n";
	dc *d = dc_new(with_db);
	g_autofree char *file = NULL;
	pass p;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, app_v1);
	d->allow_empty = d->allow_removal = true;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);  /* db goes, its volume stays */
	dc_plan(d);
	file = snapshot_of(d);
	dc_spec(d, with_db);
	plan_from(d, file, &p);
	assert_true(p.plan->partial);
	assert_true(has_gap(&p, "no details of default/persistent-db-data.qcow2"));
	pass_release(&p);
	dc_free(d);
}

/* A host and a library the snapshot never saw are unknown, and say so. */
static void
test_gap__a_host_and_a_library_added_since(void **state)
{
	dc *d = dc_new(app_v1);
	g_autofree char *file = NULL, *text = NULL, *lib = NULL;
	pass p;

	(void)state;
	dc_plan(d);
	file = snapshot_of(d);
	lib = g_build_filename(d->dir, "library", NULL);
	assert_int_equal(mkdir(lib, 0755), 0);
	/* hv1 now names another hypervisor: its snapshot is not of it. */
	g_auto(GStrv) parts = g_strsplit(dc_base_spec, "/examples/webstack/hosts/hv1.xml", 2);
	g_autofree char *base = g_strjoinv("/examples/webstack/hosts/other.xml", parts);

	text = g_strdup_printf("%skind: host\nname: hv4\nuri: test:///default\n---\n"
			       "kind: library\nname: shelf\npath: %s\n---\n%s", base, lib, app_v1);
	assert_true(g_file_set_contents(d->spec, text, -1, NULL));
	plan_from(d, file, &p);
	assert_true(p.plan->partial);
	assert_false(observed_host(p.have, "hv4")->reachable);
	assert_string_equal(observed_host(p.have, "hv4")->error, "not in the observed snapshot");
	assert_true(has_gap(&p, "no index of library 'shelf'"));
	assert_false(observed_host(p.have, "hv1")->reachable);
	assert_true(has_gap(&p, "host hv1 points at another URI"));
	assert_true(observed_host(p.have, "hv2")->reachable);
	pass_release(&p);
	dc_free(d);
}

/* An unreachable host's error, as libvirt words it, names its URI: the
 * snapshot, published for CI, carries neither, only the URI's digest. */
static void
test_write__no_uri_in_a_snapshot(void **state)
{
	static const char uri[] = "qemu+ssh://operator@hv9.example/system";
	g_autoptr(observed) o = observed_new();
	g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);
	host_conn c = { .name = (char *)"hv9", .uri = (char *)uri };
	host_set hosts = { .by_name = by_name };
	g_autofree char *text = NULL, *digest = g_compute_checksum_for_string(G_CHECKSUM_SHA256, uri, -1);

	(void)state;
	g_hash_table_insert(by_name, c.name, &c);
	observed_add_host(o, obs_host_unknown("hv9", "cannot connect to 'qemu+ssh://operator@hv9.example/system': "
					       "Connection refused"));
	text = observe_snapshot_write(o, &hosts, 0);
	assert_null(strstr(text, "operator@"));
	assert_non_null(strstr(text, "cannot connect to '<uri>': Connection refused"));
	assert_non_null(strstr(text, digest));
}

static void
test_cli__observe_then_plan_without_the_hosts(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *file = g_build_filename(dir, "observed.json", NULL);
	g_autofree char *fifo = g_build_filename(dir, "fifo", NULL);
	tu_result obs = TU_RUN(NULL, "observe", "-o", "json", "examples/webstack");
	tu_result live = TU_RUN(NULL, "plan", "--detailed-exitcode", "examples/webstack");
	tu_result snap, both, missing, hung;

	(void)state;
	assert_int_equal(obs.status, 0);
	assert_true(g_file_set_contents(file, obs.out, -1, NULL));
	snap = TU_RUN(NULL, "plan", "--detailed-exitcode", "--observed", file, "examples/webstack");
	assert_int_equal(snap.status, 2);
	assert_string_equal(snap.out, live.out);
	assert_non_null(strstr(snap.err, "hosts as observed at "));
	both = TU_RUN(NULL, "plan", "--observed", file, "--connect", "test:///default", "examples/minimal");
	assert_int_equal(both.status, 64);
	missing = TU_RUN(NULL, "plan", "--observed", "/nonexistent/observed.json", "examples/minimal");
	assert_int_equal(missing.status, 1);
	assert_non_null(strstr(missing.err, "/nonexistent/observed.json"));
	/* A FIFO would block a read for ever: refused at once. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	hung = TU_RUN(NULL, "plan", "--observed", fifo, "examples/minimal");
	assert_int_equal(hung.status, 1);
	assert_non_null(strstr(hung.err, "not a regular file"));
	tu_result_release(&obs);
	tu_result_release(&live);
	tu_result_release(&snap);
	tu_result_release(&both);
	tu_result_release(&missing);
	tu_result_release(&hung);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus__each_bad_snapshot_is_refused_saying_where),
		cmocka_unit_test(test_read__a_snapshot_written_again_is_the_same),
		cmocka_unit_test(test_gap__a_changed_vm_whose_definition_the_snapshot_did_not_read),
		cmocka_unit_test(test_gap__a_persistent_volume_about_to_be_used),
		cmocka_unit_test(test_gap__a_host_and_a_library_added_since),
		cmocka_unit_test(test_write__no_uri_in_a_snapshot),
		cmocka_unit_test(test_cli__observe_then_plan_without_the_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
