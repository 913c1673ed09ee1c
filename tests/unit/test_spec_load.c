/*
 * test_spec_load.c - reading sources: files, folders, bounds, hostile input
 *
 * The inputs too large or too special to keep in the corpus (a 4 MiB file,
 * 10,001 documents, a FIFO) are made here at run time.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "../../spec/schema.h"

static const char *const host_doc =
	"kind: host\nname: hv1\nuri: test:///default\n";

static void
test_size__units_and_bare_bytes(void **state)
{
	int64_t n;
	const char *why;

	(void)state;
	assert_true(spec_parse_size("512MiB", &n, &why));
	assert_int_equal(n, 512LL << 20);
	assert_true(spec_parse_size("2GiB", &n, &why));
	assert_int_equal(n, 2LL << 30);
	assert_true(spec_parse_size("10GB", &n, &why));
	assert_int_equal(n, 10000000000LL);
	assert_true(spec_parse_size("1048576", &n, &why));
	assert_int_equal(n, 1048576);
	assert_true(spec_parse_size("4 KiB", &n, &why));
	assert_int_equal(n, 4096);
}

static void
test_size__rejects_ambiguous_fraction_negative_overflow(void **state)
{
	int64_t n;
	const char *why = NULL;

	(void)state;
	assert_false(spec_parse_size("2G", &n, &why));
	assert_non_null(strstr(why, "ambiguous"));
	assert_false(spec_parse_size("1.5GiB", &n, &why));
	assert_non_null(strstr(why, "whole numbers"));
	assert_false(spec_parse_size("-1", &n, &why));
	assert_false(spec_parse_size("9223372036854775807GiB", &n, &why));
	assert_non_null(strstr(why, "too large"));
	assert_false(spec_parse_size("99999999999999999999999", &n, &why));
	assert_false(spec_parse_size("", &n, &why));
}

static void
test_name__rfc1123_labels(void **state)
{
	char long_name[65];

	(void)state;
	assert_true(spec_name_ok("web-1"));
	assert_true(spec_name_ok("a"));
	assert_false(spec_name_ok("Web"));
	assert_false(spec_name_ok("-web"));
	assert_false(spec_name_ok("web-"));
	assert_false(spec_name_ok("we_b"));
	assert_false(spec_name_ok("a<b"));
	assert_false(spec_name_ok(""));
	memset(long_name, 'a', 64);
	long_name[64] = '\0';
	assert_false(spec_name_ok(long_name));
	long_name[63] = '\0';
	assert_true(spec_name_ok(long_name));
}

static void
test_suggest__close_words_only(void **state)
{
	static const char *const keys[] = { "memory", "cpus", "disks" };

	(void)state;
	assert_string_equal(spec_suggest("memroy", keys, 3), "memory");
	assert_string_equal(spec_suggest("cpu", keys, 3), "cpus");
	assert_null(spec_suggest("colour", keys, 3));
}

static char *
load_text(const char *text, size_t len, unsigned *errors)
{
	return tu_buffer_text("<stdin>", text, len, errors);
}

static void
test_load__file_over_4mib_is_refused_without_parsing(void **state)
{
	gsize len = SPEC_MAX_FILE_BYTES + 1;
	g_autofree char *big = g_malloc(len);
	g_autofree char *out = NULL;
	unsigned errors;

	(void)state;
	memset(big, '#', len);
	out = load_text(big, len, &errors);
	assert_int_equal(errors, 1);
	assert_non_null(strstr(out, "[file-too-large]"));
}

static void
test_load__more_than_10000_documents_is_refused(void **state)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *out = NULL;
	unsigned errors;

	(void)state;
	for (int i = 0; i <= SPEC_MAX_DOCUMENTS; i++)
		g_string_append(s, "---\n");
	out = load_text(s->str, s->len, &errors);
	assert_true(errors >= 1);
	assert_non_null(strstr(out, "<stdin>:10001:1: error: more than 10000 documents"));
}

static void
test_load__80000_tags_are_refused_by_count(void **state)
{
	/* Once quadratic (11 s); refused now before any item is looked at. */
	g_autoptr(GString) s = g_string_new("kind: host\nname: hv1\nuri: test:///a\ntags: [");
	g_autofree char *out = NULL;
	unsigned errors;

	(void)state;
	for (int i = 0; i < 80000; i++)
		g_string_append_printf(s, "%st%d", i ? ", " : "", i);
	g_string_append(s, "]\n");
	out = load_text(s->str, s->len, &errors);
	assert_int_equal(errors, 1);
	assert_string_equal(out, "<stdin>:4:7: error: 'tags' has 80000 entries; the limit is 1000 [too-many]\n");
}

static void
test_load__bom_is_accepted(void **state)
{
	g_autofree char *text = g_strdup_printf("\xef\xbb\xbf%s", host_doc);
	g_autofree char *out = NULL;
	unsigned errors;

	(void)state;
	out = load_text(text, strlen(text), &errors);
	assert_string_equal(out, "");
	assert_int_equal(errors, 0);
}

static void
test_load__deep_nesting_costs_nothing(void **state)
{
	/* 100,000 open brackets: refused at depth 64, not parsed further. */
	size_t n = 100000;
	g_autofree char *text = g_malloc(n + 8);
	g_autofree char *out = NULL;
	unsigned errors;

	(void)state;
	memcpy(text, "a: ", 3);
	memset(text + 3, '[', n);
	text[n + 3] = '\0';
	out = load_text(text, strlen(text), &errors);
	assert_int_equal(errors, 1);
	assert_non_null(strstr(out, "[too-deep]"));
}

static void
test_load__fifo_is_refused_without_blocking(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *fifo = g_build_filename(dir, "pipe.yaml", NULL);
	g_autofree char *ok = g_build_filename(dir, "ok.yaml", NULL);
	g_autofree char *out = NULL;
	g_autofree char *expect = NULL;
	unsigned errors;

	(void)state;
	assert_int_equal(mkfifo(fifo, 0600), 0);
	tu_write(ok, host_doc);
	out = tu_validate_text(dir, &errors);
	expect = g_strdup_printf("%s: error: not a regular file; spec files must be plain files [not-a-file]\n",
				 fifo);
	assert_string_equal(out, expect);
	tu_rmtree(dir);
}

static void
test_load__editor_leftovers_are_not_read(void **state)
{
	static const char *const junk[] = {
		".webstack.yaml.swp", "webstack.yaml~", ".#webstack.yaml",
		"4913", "#webstack.yaml#", "webstack.yaml.orig", "notes.txt",
	};
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *ok = g_build_filename(dir, "hosts.yml", NULL);
	g_autofree char *out = NULL;
	unsigned errors;

	(void)state;
	tu_write(ok, host_doc);
	for (size_t i = 0; i < G_N_ELEMENTS(junk); i++) {
		g_autofree char *p = g_build_filename(dir, junk[i], NULL);

		tu_write(p, "kind: [broken\n");
	}
	out = tu_validate_text(dir, &errors);
	assert_string_equal(out, "");
	assert_int_equal(errors, 0);
	tu_rmtree(dir);
}

static void
test_load__symlink_inside_tree_is_followed_once(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *sub = g_build_filename(dir, "sub", NULL);
	g_autofree char *file = g_build_filename(sub, "hosts.yaml", NULL);
	g_autofree char *loop = g_build_filename(sub, "loop", NULL);
	g_autoptr(spec_source) src = NULL;
	spec_diags diags;

	(void)state;
	assert_int_equal(mkdir(sub, 0700), 0);
	tu_write(file, host_doc);
	assert_int_equal(symlink("..", loop), 0);  /* a loop inside the tree */
	spec_diags_init(&diags);
	src = spec_load(dir, &diags);
	spec_validate(src, &diags);
	assert_int_equal(diags.errors, 0);
	assert_int_equal(src->hosts->len, 1);
	spec_diags_release(&diags);
	tu_rmtree(dir);
}

static void
test_load__trailing_slash_names_the_same_files(void **state)
{
	g_autofree char *a = tu_validate_text("examples/webstack/", NULL);
	g_autofree char *b = tu_validate_text("examples/webstack", NULL);

	(void)state;
	assert_string_equal(a, b);
}

static void
test_load__missing_path_is_an_error(void **state)
{
	unsigned errors;
	g_autofree char *out = tu_validate_text("no/such/dir", &errors);

	(void)state;
	assert_int_equal(errors, 1);
	assert_string_equal(out, "no/such/dir: error: cannot read: No such file or directory [unreadable]\n");
}

static void
test_load__model_has_defaults_and_values(void **state)
{
	g_autoptr(spec_source) src = NULL;
	spec_appliance *a;
	spec_vm *db, *app2;
	spec_host *hv3;
	spec_diags diags;

	(void)state;
	spec_diags_init(&diags);
	src = spec_load("examples/webstack", &diags);
	spec_validate(src, &diags);
	assert_int_equal(diags.errors, 0);
	a = g_hash_table_lookup(src->appliance_by_name, "webstack");
	assert_non_null(a);
	assert_int_equal(a->vms->len, 3);
	assert_int_equal(a->heal.v, 1);                 /* default */
	assert_int_equal(a->placement.v, PLACEMENT_SPREAD);
	db = a->vms->pdata[0];
	app2 = a->vms->pdata[2];
	assert_string_equal(db->persistent.v, "db-primary");
	assert_int_equal(spec_vm_memory(src, db), 2LL << 30);   /* own */
	assert_int_equal(spec_vm_cpus(src, db), 1);             /* from template */
	assert_int_equal(((spec_disk *)db->disks->pdata[0])->size.v, 5LL << 30);
	assert_string_equal(((spec_nic *)db->nics->pdata[0])->network.v, "default");
	assert_int_equal(app2->restart.v, RESTART_ON_FAILURE);  /* default */
	assert_int_equal(app2->state.v, VM_RUNNING);
	assert_string_equal(spec_list_str(&app2->after, 0), "db");
	hv3 = g_hash_table_lookup(src->host_by_name, "hv3");
	assert_int_equal(hv3->reserve_memory.v, 1LL << 30);
	assert_true(hv3->overcommit_cpus.v == 1.0);
	/* Schedules are resolved against the appliance's time zone. */
	assert_int_equal(((spec_sched *)a->schedule->pdata[0])->at_unix,
			 1795806000);  /* 2026-11-27T19:00:00Z */
	spec_diags_release(&diags);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size__units_and_bare_bytes),
		cmocka_unit_test(test_size__rejects_ambiguous_fraction_negative_overflow),
		cmocka_unit_test(test_name__rfc1123_labels),
		cmocka_unit_test(test_suggest__close_words_only),
		cmocka_unit_test(test_load__file_over_4mib_is_refused_without_parsing),
		cmocka_unit_test(test_load__more_than_10000_documents_is_refused),
		cmocka_unit_test(test_load__80000_tags_are_refused_by_count),
		cmocka_unit_test(test_load__bom_is_accepted),
		cmocka_unit_test(test_load__deep_nesting_costs_nothing),
		cmocka_unit_test(test_load__fifo_is_refused_without_blocking),
		cmocka_unit_test(test_load__editor_leftovers_are_not_read),
		cmocka_unit_test(test_load__symlink_inside_tree_is_followed_once),
		cmocka_unit_test(test_load__trailing_slash_names_the_same_files),
		cmocka_unit_test(test_load__missing_path_is_an_error),
		cmocka_unit_test(test_load__model_has_defaults_and_values),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("spec_load", tests, NULL, NULL);
}
