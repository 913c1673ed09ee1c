/*
 * test_cli_validate.c - `strata validate` as CI pipelines call it
 *
 * Runs the real binary: exit codes, the three output formats, stdin.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "../../reconciler/diag_print.h"

static void
test_validate__examples_exit_0(void **state)
{
	tu_result r = TU_RUN(NULL, "validate", "examples/webstack", "examples/minimal");

	(void)state;
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "examples/webstack: valid: 3 files, 6 documents"));
	assert_non_null(strstr(r.out, "examples/minimal: valid"));
	assert_string_equal(r.err, "");
	tu_result_release(&r);
}

static void
test_validate__invalid_exits_1_with_file_line_col(void **state)
{
	tu_result r = TU_RUN(NULL, "validate", "tests/data/spec/bad/dangling-template.yaml");

	(void)state;
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err,
		"tests/data/spec/bad/dangling-template.yaml:10:15: error: template 'debain' is not defined (did you mean 'debian'?) [unknown-reference]"));
	assert_non_null(strstr(r.err, "1 error\n"));
	tu_result_release(&r);
}

static void
test_validate__json_lists_every_diagnostic(void **state)
{
	tu_result r = TU_RUN(NULL, "validate", "-o", "json",
			   "tests/data/spec/bad/many-problems-one-pass.yaml");
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root, *first;
	JsonArray *diags;

	(void)state;
	assert_int_equal(r.status, 1);
	assert_true(json_parser_load_from_data(parser, r.out, -1, NULL));
	root = json_node_get_object(json_parser_get_root(parser));
	assert_false(json_object_get_boolean_member(root, "valid"));
	assert_int_equal(json_object_get_int_member(root, "errors"), 7);
	diags = json_object_get_array_member(root, "diagnostics");
	assert_int_equal(json_array_get_length(diags), 7);
	first = json_array_get_object_element(diags, 0);
	assert_string_equal(json_object_get_string_member(first, "file"),
			    "tests/data/spec/bad/many-problems-one-pass.yaml");
	assert_int_equal(json_object_get_int_member(first, "line"), 2);
	assert_int_equal(json_object_get_int_member(first, "column"), 7);
	assert_string_equal(json_object_get_string_member(first, "code"), "bad-name");
	assert_string_equal(json_object_get_string_member(first, "severity"), "error");
	tu_result_release(&r);
}

static void
test_validate__json_on_valid_source(void **state)
{
	tu_result r = TU_RUN(NULL, "validate", "-o", "json", "examples/minimal");
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root;

	(void)state;
	assert_int_equal(r.status, 0);
	assert_true(json_parser_load_from_data(parser, r.out, -1, NULL));
	root = json_node_get_object(json_parser_get_root(parser));
	assert_true(json_object_get_boolean_member(root, "valid"));
	assert_int_equal(json_array_get_length(
		json_object_get_array_member(root, "diagnostics")), 0);
	tu_result_release(&r);
}

static void
test_validate__github_annotations(void **state)
{
	tu_result r = TU_RUN(NULL, "validate", "-o", "github",
			   "tests/data/spec/bad/after-self.yaml",
			   "tests/data/spec/bad/empty-source");

	(void)state;
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out,
		"::error file=tests/data/spec/bad/after-self.yaml,line=11,col=13,title=strata after-cycle::VM 'a' cannot start after itself\n"
		"::error file=tests/data/spec/bad/empty-source,title=strata empty-source::no documents found; an empty source is refused so that it can never remove anything (check the path)\n");
	tu_result_release(&r);
}

static void
test_github_escape__workflow_command_rules(void **state)
{
	g_autofree char *prop = diag_github_escape("a:b,c%d\n", TRUE);
	g_autofree char *msg = diag_github_escape("50% done:\r\nok, yes", FALSE);

	(void)state;
	assert_string_equal(prop, "a%3Ab%2Cc%25d%0A");
	assert_string_equal(msg, "50%25 done:%0D%0Aok, yes");
}

static void
test_validate__reads_stdin(void **state)
{
	tu_result ok = TU_RUN("kind: host\nname: hv1\nuri: test:///default\n", "validate", "-");
	tu_result bad = TU_RUN("kind: host\nname: hv1\nuri: [x]\n", "validate", "-");

	(void)state;
	assert_int_equal(ok.status, 0);
	assert_non_null(strstr(ok.out, "-: valid: 1 file, 1 document (1 host"));
	assert_int_equal(bad.status, 1);
	assert_non_null(strstr(bad.err, "<stdin>:3:6: error: 'uri' expects a string, got a list [wrong-type]"));
	tu_result_release(&ok);
	tu_result_release(&bad);
}

/*
 * A file or folder its folder lists but that cannot be reached (lstat
 * fails: the folder can be read but not searched) makes the source
 * invalid; it was skipped, and the rest made a smaller valid revision.  Run as an unprivileged user, since
 * root's permission checks would let the read through.
 */
static void
test_validate__a_listed_file_that_cannot_be_reached_is_invalid(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *src = g_build_filename(dir, "src", NULL);
	g_autofree char *sub = g_build_filename(src, "more", NULL);
	g_autofree char *a = g_build_filename(src, "a.yaml", NULL);
	g_autofree char *b = g_build_filename(sub, "b.yaml", NULL);
	g_autofree char *deeper = g_build_filename(sub, "deeper", NULL);
	const char *bin = g_getenv("STRATA_BIN") ? g_getenv("STRATA_BIN") : SRCDIR "/strata";
	const char *as_root[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
				  bin, "validate", src, NULL };
	const char *as_user[] = { bin, "validate", src, NULL };
	g_autofree char *out = NULL, *errs = NULL;
	int status = 0;

	(void)state;
	const char *probe[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "test", "-x",
				bin, NULL };

	if (geteuid() == 0 && (!g_spawn_sync(NULL, (char **)probe, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
					     NULL, NULL, &status, NULL) ||
			       !g_spawn_check_wait_status(status, NULL))) {
		tu_rmtree(dir);
		skip();  /* no setpriv, or uid 65534 cannot reach the binary */
	}
	assert_int_equal(g_mkdir_with_parents(deeper, 0755), 0);
	tu_write(a, "kind: template\nname: t\npool: default\nvolume: t.qcow2\nmemory: 1GiB\n");
	tu_write(b, "kind: appliance\nname: x\nvms:\n  - {name: v, template: t}\n");
	assert_int_equal(chmod(dir, 0755), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(src, 65534, 65534), 0);
		assert_int_equal(chown(sub, 65534, 65534), 0);
		assert_int_equal(chown(a, 65534, 65534), 0);
		assert_int_equal(chown(b, 65534, 65534), 0);
		assert_int_equal(chown(deeper, 65534, 65534), 0);
	}
	assert_int_equal(chmod(sub, 0644), 0);   /* readable, not searchable */
	assert_true(g_spawn_sync(NULL, (char **)(geteuid() == 0 ? as_root : as_user), NULL,
				 G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errs, &status, NULL));
	assert_false(g_spawn_check_wait_status(status, NULL));
	assert_non_null(strstr(errs, "more/b.yaml: error: listed in its folder but cannot be reached: "
				     "Permission denied; give the folder search (x) permission [unreadable]"));
	/* A folder in it, whatever its name, may hold spec files. */
	assert_non_null(strstr(errs, "more/deeper: error: listed in its folder but cannot be reached: "
				     "Permission denied; give the folder search (x) permission [unreadable]"));
	assert_int_equal(chmod(sub, 0755), 0);
	tu_rmtree(dir);
}

static void
test_validate__usage_errors_exit_64(void **state)
{
	tu_result none = TU_RUN(NULL, "validate");
	tu_result fmt = TU_RUN(NULL, "validate", "-o", "xml", "examples/minimal");
	tu_result opt = TU_RUN(NULL, "validate", "--bogus", "examples/minimal");
	tu_result verb = TU_RUN(NULL, "frobnicate");
	tu_result help = TU_RUN(NULL, "validate", "--help");

	(void)state;
	assert_int_equal(none.status, 64);
	assert_int_equal(fmt.status, 64);
	assert_non_null(strstr(fmt.err, "unknown output format 'xml'"));
	assert_int_equal(opt.status, 64);
	assert_int_equal(verb.status, 64);
	assert_int_equal(help.status, 0);
	assert_non_null(strstr(help.out, "Exit status: 0 valid, 1 invalid, 64 usage error"));
	tu_result_release(&none);
	tu_result_release(&fmt);
	tu_result_release(&opt);
	tu_result_release(&verb);
	tu_result_release(&help);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate__examples_exit_0),
		cmocka_unit_test(test_validate__invalid_exits_1_with_file_line_col),
		cmocka_unit_test(test_validate__json_lists_every_diagnostic),
		cmocka_unit_test(test_validate__json_on_valid_source),
		cmocka_unit_test(test_validate__github_annotations),
		cmocka_unit_test(test_github_escape__workflow_command_rules),
		cmocka_unit_test(test_validate__reads_stdin),
		cmocka_unit_test(test_validate__usage_errors_exit_64),
		cmocka_unit_test(test_validate__a_listed_file_that_cannot_be_reached_is_invalid),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("cli_validate", tests, NULL, NULL);
}
