/*
 * test_cli_reconcile.c - `strata plan`, `apply` and `history` as users run them
 *
 * The real binary on the examples: exit codes, output formats, the
 * history database it leaves.  A one-shot apply on the test driver always
 * starts from empty hosts (the driver keeps state only per connection).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "testutil.h"

typedef struct {
	int status;
	char *out;
	char *err;
} run_result;

static char *
bytes_str(GBytes *b)
{
	gsize n = 0;
	const char *data = g_bytes_get_data(b, &n);

	return data ? g_strndup(data, n) : g_strdup("");
}

static run_result
run(const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) in = g_bytes_new("", 0);
	g_autoptr(GBytes) out = NULL, errb = NULL;
	run_result r = { 0 };

	g_ptr_array_add(argv, (gpointer)(g_getenv("STRATA_BIN") ? g_getenv("STRATA_BIN")
							  : SRCDIR "/strata"));
	for (; *args; args++)
		g_ptr_array_add(argv, (gpointer)*args);
	g_ptr_array_add(argv, NULL);
	proc = g_subprocess_newv((const char *const *)argv->pdata,
				 G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
				 G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
	assert_non_null(proc);
	assert_true(g_subprocess_communicate(proc, in, NULL, &out, &errb, &err));
	r.status = g_subprocess_get_exit_status(proc);
	r.out = bytes_str(out);
	r.err = bytes_str(errb);
	return r;
}

#define RUN(...) run((const char *const[]){ __VA_ARGS__, NULL })

static void
run_release(run_result *r)
{
	g_free(r->out);
	g_free(r->err);
}

static void
test_plan__detailed_exitcode_says_changes(void **state)
{
	run_result plain = RUN("plan", "examples/webstack");
	run_result detailed = RUN("plan", "--detailed-exitcode", "examples/webstack");

	(void)state;
	assert_int_equal(plain.status, 0);
	assert_non_null(strstr(plain.out, "Plan: 3 to create, 0 to change, 0 to remove (10 operations)."));
	assert_non_null(strstr(plain.out, "+ define webstack.db on hv1"));
	assert_int_equal(detailed.status, 2);
	run_release(&plain);
	run_release(&detailed);
}

static void
test_plan__json_and_dot(void **state)
{
	run_result json = RUN("plan", "-o", "json", "examples/minimal");
	run_result dot = RUN("plan", "-o", "dot", "examples/minimal");
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonObject *root, *summary, *op;
	JsonArray *ops;

	(void)state;
	assert_int_equal(json.status, 0);
	assert_true(json_parser_load_from_data(parser, json.out, -1, NULL));
	root = json_node_get_object(json_parser_get_root(parser));
	summary = json_object_get_object_member(root, "summary");
	assert_int_equal(json_object_get_int_member(summary, "create"), 1);
	ops = json_object_get_array_member(root, "operations");
	assert_int_equal(json_array_get_length(ops), 3);
	op = json_array_get_object_element(ops, 2);
	assert_string_equal(json_object_get_string_member(op, "kind"), "start");
	assert_string_equal(json_object_get_string_member(op, "host"), "node");
	assert_int_equal(json_array_get_int_element(json_object_get_array_member(op, "after"), 0), 2);
	assert_int_equal(dot.status, 0);
	assert_true(g_str_has_prefix(dot.out, "digraph plan {"));
	assert_non_null(strstr(dot.out, "op2 -> op3;"));
	run_release(&json);
	run_release(&dot);
}

static void
test_plan__invalid_source_changes_nothing_and_exits_1(void **state)
{
	run_result r = RUN("plan", "tests/data/spec/bad/after-cycle.yaml");

	(void)state;
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "[after-cycle]"));
	assert_non_null(strstr(r.err, "nothing is planned"));
	assert_string_equal(r.out, "");
	run_release(&r);
}

static void
test_apply__examples_converge_and_leave_history(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	run_result dry = RUN("apply", "--dry-run", "--db", db, "examples/webstack");
	run_result apply, hist;
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonArray *rows;

	(void)state;
	/* A dry run shows the plan and touches nothing, not even history. */
	assert_int_equal(dry.status, 0);
	assert_non_null(strstr(dry.out, "Plan: 3 to create"));
	assert_null(strstr(dry.out, "[1/"));
	assert_false(g_file_test(db, G_FILE_TEST_EXISTS));
	apply = RUN("apply", "--yes", "--db", db, "examples/webstack");
	hist = RUN("history", "--db", db, "--vm", "webstack.app1", "-o", "json");
	assert_int_equal(apply.status, 0);
	assert_non_null(strstr(apply.out, "[10/10] done"));
	assert_non_null(strstr(apply.out, "Apply converged: 3 to create, 0 to change, 0 to remove."));
	assert_int_equal(hist.status, 0);
	assert_true(json_parser_load_from_data(parser, hist.out, -1, NULL));
	rows = json_node_get_array(json_parser_get_root(parser));
	assert_int_equal(json_array_get_length(rows), 3);  /* volume, define, start */
	for (guint i = 0; i < 3; i++)
		assert_string_equal(json_object_get_string_member(
			json_array_get_object_element(rows, i), "result"), "done");
	run_release(&dry);
	run_release(&apply);
	run_release(&hist);
	tu_rmtree(dir);
}

static void
test_cli__usage_errors_exit_64(void **state)
{
	run_result a = RUN("plan");
	run_result b = RUN("apply", "--parallel", "x", "examples/minimal");
	run_result c = RUN("plan", "-o", "github", "examples/minimal");
	run_result d = RUN("history", "--since", "yesterday");

	(void)state;
	assert_int_equal(a.status, 64);
	assert_int_equal(b.status, 64);
	assert_int_equal(c.status, 64);
	assert_int_equal(d.status, 64);
	run_release(&a);
	run_release(&b);
	run_release(&c);
	run_release(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan__detailed_exitcode_says_changes),
		cmocka_unit_test(test_plan__json_and_dot),
		cmocka_unit_test(test_plan__invalid_source_changes_nothing_and_exits_1),
		cmocka_unit_test(test_apply__examples_converge_and_leave_history),
		cmocka_unit_test(test_cli__usage_errors_exit_64),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("cli_reconcile", tests, NULL, NULL);
}
