/*
 * test_cli_reconcile.c - `strata plan`, `apply` and `history` as users run them
 *
 * The real binary on the examples: exit codes, output formats, the
 * history database it leaves.  A one-shot apply on the test driver always
 * starts from empty hosts (the driver keeps state only per connection).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <gio/gio.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "../../reconciler/cli.h"

static void
test_plan__detailed_exitcode_says_changes(void **state)
{
	tu_result plain = TU_RUN(NULL, "plan", "examples/webstack");
	tu_result detailed = TU_RUN(NULL, "plan", "--detailed-exitcode", "examples/webstack");

	(void)state;
	assert_int_equal(plain.status, 0);
	assert_non_null(strstr(plain.out, "Plan: 3 to create, 0 to change, 0 to remove (10 operations)."));
	assert_non_null(strstr(plain.out, "+ define webstack.db on hv1"));
	assert_int_equal(detailed.status, 2);
	tu_result_release(&plain);
	tu_result_release(&detailed);
}

static void
test_plan__json_and_dot(void **state)
{
	tu_result json = TU_RUN(NULL, "plan", "-o", "json", "examples/minimal");
	tu_result dot = TU_RUN(NULL, "plan", "-o", "dot", "examples/minimal");
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
	tu_result_release(&json);
	tu_result_release(&dot);
}

/* For a pull request: the plan as Markdown, the exit codes unchanged;
 * the schedule lines stay the text plan's, and no other verb takes it. */
static void
test_plan__markdown_for_a_pull_request(void **state)
{
	tu_result md = TU_RUN(NULL, "plan", "-o", "markdown", "examples/webstack");
	tu_result detailed = TU_RUN(NULL, "plan", "-o", "markdown", "--detailed-exitcode", "examples/webstack");
	tu_result validate = TU_RUN(NULL, "validate", "-o", "markdown", "examples/webstack");
	tu_result help = TU_RUN(NULL, "plan", "--help");

	(void)state;
	assert_int_equal(md.status, 0);
	assert_true(g_str_has_prefix(md.out, "### strata plan\n\n**Impact:** 0 destroys-data, "));
	assert_non_null(strstr(md.out, "**Plan:** 3 to create, 0 to change, 0 to remove (10 operations)."));
	assert_non_null(strstr(md.out, "| 3 | + define | webstack.db | hv1 | in-place | "));
	assert_non_null(strstr(md.out, "```mermaid\n"));
	assert_null(strstr(md.out, "schedule:"));
	assert_int_equal(detailed.status, 2);
	assert_string_equal(detailed.out, md.out);
	assert_int_equal(validate.status, 64);
	assert_non_null(strstr(help.out, "markdown"));
	tu_result_release(&md);
	tu_result_release(&detailed);
	tu_result_release(&validate);
	tu_result_release(&help);
}

/* Where a console is: read from the running domain on the host that runs
 * it (a test-driver host whose file defines a running VM with a VNC
 * console on port 5907, and one without a console). */
static void
test_console__prints_where_a_running_vm_console_listens(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *spec = g_build_filename(dir, "hosts.yaml", NULL);
	g_autofree char *text = g_strdup_printf("kind: host\nname: hv1\nuri: test://%s/tests/data/hosts/console.xml\n",
						SRCDIR);
	tu_result json, plain, none, off, usage, serial, serial_off, serial_json, force;

	(void)state;
	tu_write(spec, text);
	/* --serial needs a driver that relays consoles: the test driver does
	 * not, and says so (QEMU does: tests/e2e/scenarios/console.sh). */
	serial = TU_RUN(NULL, "console", "--serial", spec, "m.a");
	serial_off = TU_RUN(NULL, "console", "--serial", spec, "m.c");
	serial_json = TU_RUN(NULL, "console", "--serial", spec, "m.a", "-o", "json");
	force = TU_RUN(NULL, "console", "--force", spec, "m.a");
	assert_int_equal(serial.status, 1);
	assert_non_null(strstr(serial.err, "cannot open the serial console of 'm.a'"));
	assert_non_null(strstr(serial.err, "not supported"));
	assert_int_equal(serial_off.status, 1);
	assert_non_null(strstr(serial_off.err, "m.c on hv1 is not running"));
	assert_int_equal(serial_json.status, 64);
	assert_int_equal(force.status, 64);
	assert_non_null(strstr(force.err, "--force goes with --serial"));
	tu_result_release(&serial);
	tu_result_release(&serial_off);
	tu_result_release(&serial_json);
	tu_result_release(&force);
	json = TU_RUN(NULL, "console", spec, "m.a", "-o", "json");
	plain = TU_RUN(NULL, "console", spec, "m.a");
	none = TU_RUN(NULL, "console", spec, "m.b");
	off = TU_RUN(NULL, "console", spec, "m.c");
	usage = TU_RUN(NULL, "console", spec);
	assert_int_equal(json.status, 0);
	assert_non_null(strstr(json.out, "\"port\" : 5907"));
	assert_non_null(strstr(json.out, "\"uri\" : \"vnc://127.0.0.1:5907\""));
	assert_non_null(strstr(json.out, "\"tunnel\" : null"));
	assert_string_equal(plain.out, "m.a on hv1: vnc console at vnc://127.0.0.1:5907\n");
	assert_int_equal(none.status, 1);
	assert_non_null(strstr(none.err, "m.b on hv1 has no graphical console"));
	assert_int_equal(off.status, 1);
	assert_non_null(strstr(off.err, "m.c on hv1 is not running"));
	assert_string_equal(off.out, "");
	assert_int_equal(usage.status, 64);
	tu_result_release(&off);
	tu_result_release(&json);
	tu_result_release(&plain);
	tu_result_release(&none);
	tu_result_release(&usage);
}

/* A console on a remote host's loopback is reached through SSH; one on
 * every interface at the host's name; a local one as it is. */
static void
test_console__a_remote_loopback_console_needs_a_tunnel(void **state)
{
	static const struct {
		const char *listen, *uri, *want, *tunnel;
	} cases[] = {
		{ "127.0.0.1", "qemu+ssh://ops@hv1.example/system", "vnc://127.0.0.1:5901",
		  "ssh -N -L 5901:127.0.0.1:5901 ops@hv1.example" },
		{ "::1", "qemu+ssh://hv1.example/system", "vnc://[::1]:5901", "ssh -N -L 5901:[::1]:5901 hv1.example" },
		{ "0.0.0.0", "qemu+tls://hv1.example/system", "vnc://hv1.example:5901", NULL },
		{ "10.0.0.5", "qemu+ssh://hv1.example/system", "vnc://10.0.0.5:5901", NULL },
		{ "127.0.0.1", "qemu:///system", "vnc://127.0.0.1:5901", NULL },
		{ "::", "qemu:///system", "vnc://127.0.0.1:5901", NULL },
	};

	(void)state;
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *tunnel = NULL;
		g_autofree char *uri = console_uri("vnc", cases[i].listen, 5901, cases[i].uri, &tunnel);

		assert_string_equal(uri, cases[i].want);
		if (cases[i].tunnel)
			assert_string_equal(tunnel, cases[i].tunnel);
		else
			assert_null(tunnel);
	}
}

static void
test_plan__invalid_source_changes_nothing_and_exits_1(void **state)
{
	tu_result r = TU_RUN(NULL, "plan", "tests/data/spec/bad/after-cycle.yaml");

	(void)state;
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "[after-cycle]"));
	assert_non_null(strstr(r.err, "nothing is planned"));
	assert_string_equal(r.out, "");
	tu_result_release(&r);
}

static void
test_apply__examples_converge_and_leave_history(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	tu_result dry = TU_RUN(NULL, "apply", "--dry-run", "--db", db, "examples/webstack");
	tu_result apply, hist;
	g_autoptr(JsonParser) parser = json_parser_new();
	JsonArray *rows;

	(void)state;
	/* A dry run shows the plan and touches nothing, not even history. */
	assert_int_equal(dry.status, 0);
	assert_non_null(strstr(dry.out, "Plan: 3 to create"));
	assert_null(strstr(dry.out, "[1/"));
	assert_false(g_file_test(db, G_FILE_TEST_EXISTS));
	apply = TU_RUN(NULL, "apply", "--yes", "--db", db, "examples/webstack");
	hist = TU_RUN(NULL, "history", "--db", db, "--vm", "webstack.app1", "-o", "json");
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
	tu_result_release(&dry);
	tu_result_release(&apply);
	tu_result_release(&hist);
	tu_rmtree(dir);
}

static void
test_cli__usage_errors_exit_64(void **state)
{
	tu_result a = TU_RUN(NULL, "plan");
	tu_result b = TU_RUN(NULL, "apply", "--parallel", "x", "examples/minimal");
	tu_result c = TU_RUN(NULL, "plan", "-o", "github", "examples/minimal");
	tu_result d = TU_RUN(NULL, "history", "--since", "yesterday");

	(void)state;
	assert_int_equal(a.status, 64);
	assert_int_equal(b.status, 64);
	assert_int_equal(c.status, 64);
	assert_int_equal(d.status, 64);
	tu_result_release(&a);
	tu_result_release(&b);
	tu_result_release(&c);
	tu_result_release(&d);
}

/* Another program's SQLite file, or no SQLite at all: said in one line. */
static void
test_cli__a_foreign_database_is_named_not_migrated(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *db = g_build_filename(dir, "other.db", NULL);
	g_autofree char *text = g_build_filename(dir, "notes.txt", NULL);
	g_autofree char *want = NULL;
	sqlite3 *s = NULL;
	tu_result a, h, t;

	(void)state;
	assert_int_equal(sqlite3_open(db, &s), SQLITE_OK);
	assert_int_equal(sqlite3_exec(s, "CREATE TABLE invoices (id INTEGER)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(s);
	tu_write(text, "not a database at all, but long enough to be read as one ......\n");
	a = TU_RUN(NULL, "apply", "--yes", "--db", db, "examples/minimal");
	h = TU_RUN(NULL, "history", "--db", db);
	t = TU_RUN(NULL, "history", "--db", text);
	want = g_strdup_printf("%s is not a strata database; give another --db", db);
	assert_int_equal(a.status, 1);
	assert_non_null(strstr(a.err, want));
	assert_null(strstr(a.err, "CREATE"));
	assert_int_equal(h.status, 1);
	assert_non_null(strstr(h.err, want));
	assert_int_equal(t.status, 1);
	assert_non_null(strstr(t.err, "is not a strata database"));
	tu_result_release(&a);
	tu_result_release(&h);
	tu_result_release(&t);
	tu_rmtree(dir);
}

/* A usage error that names @option and the range it accepts, exit 64. */
static void
assert_range_error(tu_result r, const char *option, const char *range)
{
	g_autofree char *want = g_strdup_printf("%s must be a whole number from %s", option, range);

	if (!strstr(r.err, want))
		print_error("expected '%s' in:\n%s", want, r.err);
	assert_int_equal(r.status, 64);
	assert_non_null(strstr(r.err, want));
	assert_null(strstr(r.err, "give exactly one PATH"));
	tu_result_release(&r);
}

static void
test_cli__out_of_range_options_are_named(void **state)
{
	/* Were any check missing, these would fail fast rather than act:
	 * apply only plans (--dry-run), watch cannot open its database. */
	const char *db = "/nonexistent/strata.db";

	(void)state;
	assert_range_error(TU_RUN(NULL, "apply", "--dry-run", "--parallel", "-5", "examples/minimal"),
			   "--parallel", "1 to 1024, not -5");
	assert_range_error(TU_RUN(NULL, "apply", "--dry-run", "-p", "0", "examples/minimal"),
			   "--parallel", "1 to 1024, not 0");
	assert_range_error(TU_RUN(NULL, "watch", "--db", db, "--parallel", "0", "examples/minimal"),
			   "--parallel", "1 to 1024, not 0");
	assert_range_error(TU_RUN(NULL, "watch", "--db", db, "--debounce", "-1", "examples/minimal"),
			   "--debounce", "1 to 60000, not -1");
	assert_range_error(TU_RUN(NULL, "watch", "--db", db, "--resync", "0", "examples/minimal"),
			   "--resync", "1 to 86400, not 0");
	assert_range_error(TU_RUN(NULL, "watch", "--db", db, "--interval", "0", "--git", "file:///nonexistent"),
			   "--interval", "1 to 86400, not 0");
	assert_range_error(TU_RUN(NULL, "schedule", "--count", "0", "--offline", "examples/minimal"),
			   "--count", "1 to 10000, not 0");
}

/* @r failed with @status and said @want on stderr. */
static void
assert_refused(tu_result r, int status, const char *want)
{
	if (!strstr(r.err, want))
		print_error("expected '%s' in:\n%s", want, r.err);
	assert_int_equal(r.status, status);
	assert_non_null(strstr(r.err, want));
	tu_result_release(&r);
}

/*
 * The observability flags: a malformed one is a usage error naming it
 * (exit 64), before anything starts; a secret file that cannot be read or
 * a metrics port taken is an error that says so (exit 1), never a daemon
 * that runs without what was asked for.
 */
static void
test_cli__watch_observability_flags_are_checked(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autofree char *empty = g_build_filename(dir, "key", NULL);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	g_autofree char *taken = NULL;

	(void)state;
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--metrics-address", "localhost", "examples/minimal"),
		       64, "--metrics-address 'localhost': give HOST:PORT");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--metrics-address", "[::1]", "examples/minimal"),
		       64, "--metrics-address '[::1]'");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--metrics-address", ":99999", "examples/minimal"),
		       64, "--metrics-address ':99999'");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--metrics-address", "[::1]:70000", "examples/minimal"),
		       64, "--metrics-address '[::1]:70000'");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--log-format", "xml", "examples/minimal"),
		       64, "--log-format: 'xml' is not a format: use auto, text, json or journal");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--notify-webhook", "ftp://h/", "examples/minimal"),
		       64, "--notify-webhook 'ftp://h/': give an http:// or https:// URL");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--notify-alertmanager", "am:9093", "examples/minimal"),
		       64, "--notify-alertmanager 'am:9093'");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--notify-token-file", empty, "examples/minimal"),
		       64, "go with --notify-webhook");
	tu_write(empty, "\n");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--metrics-address", "off", "--notify-webhook",
			      "http://127.0.0.1:1/", "--notify-hmac-key-file", empty, "examples/minimal"),
		       1, "the file is empty");
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--metrics-address", "off", "--notify-webhook",
			      "http://127.0.0.1:1/", "--notify-token-file", "/nonexistent/token", "examples/minimal"),
		       1, "--notify-token-file: ");
	/* A port someone else listens on, asked for: an error, not a warning. */
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	taken = g_strdup_printf("127.0.0.1:%u", ntohs(a.sin_port));
	assert_refused(TU_RUN(NULL, "watch", "--db", db, "--metrics-address", taken, "examples/minimal"),
		       1, "cannot listen: Address already in use");
	close(fd);
	tu_rmtree(dir);
}

/* Start `strata watch` on @src; returns once its first run has begun. */
static GSubprocess *
watch_spawn(const char *src, const char *db, GDataInputStream **err_out)
{
	const char *argv[] = { g_getenv("STRATA_BIN") ? g_getenv("STRATA_BIN") : SRCDIR "/strata",
			       "watch", "--db", db, src, NULL };
	GSubprocess *p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL);
	GDataInputStream *in;
	char *line;

	assert_non_null(p);
	in = g_data_input_stream_new(g_subprocess_get_stderr_pipe(p));
	while ((line = g_data_input_stream_read_line(in, NULL, NULL, NULL))) {
		bool started = strstr(line, "] run 1: ") != NULL;
		bool invalid = strstr(line, "invalid revision") != NULL;

		if (invalid)
			fail_msg("watch refused the test source: %s", line);
		g_free(line);
		if (started)
			break;
	}
	*err_out = in;
	return p;
}

static void
test_watch__status_over_the_socket_then_sigterm_exits_0(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autoptr(GDataInputStream) err = NULL;
	g_autoptr(GSubprocess) p = watch_spawn("examples/webstack", db, &err);
	tu_result st = { 0 };
	char *line;
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	(void)state;
	do {
		tu_result_release(&st);
		g_usleep(50000);
		st = TU_RUN(NULL, "status", "--db", db);
	} while ((st.status != 0 || !strstr(st.out, "webstack.app2            hv1      running     running")) &&
		 g_get_monotonic_time() < end);
	assert_int_equal(st.status, 0);
	assert_non_null(strstr(st.out, "webstack.db              hv1      running     running"));
	{
		/* One writer: apply refuses, names the daemon, says what to do. */
		g_autofree char *pid = g_strdup_printf("(pid %s)", g_subprocess_get_identifier(p));
		tu_result ap = TU_RUN(NULL, "apply", "--yes", "--db", db, "examples/webstack");
		tu_result hi = TU_RUN(NULL, "history", "--db", db);

		assert_int_equal(ap.status, 1);
		assert_non_null(strstr(ap.err, pid));
		assert_non_null(strstr(ap.err, "ask it instead: strata reconcile"));
		/* Readers open it read-only and need no lock. */
		assert_int_equal(hi.status, 0);
		if (geteuid() == 0) {
			/* Another user is told why, not "no daemon". */
			const char *argv[] = { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
					       g_getenv("STRATA_BIN") ? g_getenv("STRATA_BIN") : SRCDIR "/strata",
					       "status", "--db", db, NULL };
			g_autofree char *out = NULL, *errs = NULL;
			int status = 0;

			assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
						 &out, &errs, &status, NULL));
			assert_false(g_spawn_check_wait_status(status, NULL));
			assert_non_null(strstr(errs, "permission denied on"));
		}
		tu_result_release(&ap);
		tu_result_release(&hi);
	}
	g_subprocess_send_signal(p, SIGTERM);
	while ((line = g_data_input_stream_read_line(err, NULL, NULL, NULL)))
		g_free(line);
	assert_true(g_subprocess_wait(p, NULL, NULL));
	assert_true(g_subprocess_get_if_exited(p));
	assert_int_equal(g_subprocess_get_exit_status(p), 0);
	tu_result_release(&st);
	tu_rmtree(dir);
}

static void
test_watch__sigterm_mid_apply_leaves_no_op_running(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *src = g_build_filename(dir, "src", NULL);
	g_autofree char *spec = g_build_filename(src, "big.yaml", NULL);
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autoptr(GString) s = g_string_new("kind: host\nname: hv1\nuri: test://" SRCDIR
					    "/tests/data/hosts/big.xml\novercommit: {cpus: 16}\n---\n"
					    "kind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 16MiB\n");
	g_autoptr(GDataInputStream) err = NULL;
	g_autoptr(GSubprocess) p = NULL;
	tu_result hist;
	char *line;

	(void)state;
	for (int i = 0; i < 1500; i++)
		g_string_append_printf(s, "%s  - {name: vm%d, template: t}\n",
				       i % 500 ? "" : (i == 0 ? "---\nkind: appliance\nname: a0\nvms:\n" :
						       i == 500 ? "---\nkind: appliance\nname: a1\nvms:\n"
								: "---\nkind: appliance\nname: a2\nvms:\n"), i);
	g_mkdir_with_parents(src, 0700);
	tu_write(spec, s->str);
	p = watch_spawn(src, db, &err);
	g_subprocess_send_signal(p, SIGTERM);
	/* Keep reading its log, or a full pipe would stall it. */
	while ((line = g_data_input_stream_read_line(err, NULL, NULL, NULL)))
		g_free(line);
	assert_true(g_subprocess_wait(p, NULL, NULL));
	assert_int_equal(g_subprocess_get_exit_status(p), 0);
	/* Every op that was started has its result; none is left open. */
	hist = TU_RUN(NULL, "history", "--db", db, "-o", "json");
	assert_int_equal(hist.status, 0);
	assert_null(strstr(hist.out, "interrupted"));
	assert_non_null(strstr(hist.out, "\"result\" : \"done\""));
	tu_result_release(&hist);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan__detailed_exitcode_says_changes),
		cmocka_unit_test(test_plan__json_and_dot),
		cmocka_unit_test(test_plan__markdown_for_a_pull_request),
		cmocka_unit_test(test_console__prints_where_a_running_vm_console_listens),
		cmocka_unit_test(test_console__a_remote_loopback_console_needs_a_tunnel),
		cmocka_unit_test(test_plan__invalid_source_changes_nothing_and_exits_1),
		cmocka_unit_test(test_apply__examples_converge_and_leave_history),
		cmocka_unit_test(test_cli__usage_errors_exit_64),
		cmocka_unit_test(test_cli__a_foreign_database_is_named_not_migrated),
		cmocka_unit_test(test_cli__out_of_range_options_are_named),
		cmocka_unit_test(test_cli__watch_observability_flags_are_checked),
		cmocka_unit_test(test_watch__status_over_the_socket_then_sigterm_exits_0),
		cmocka_unit_test(test_watch__sigterm_mid_apply_leaves_no_op_running),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("cli_reconcile", tests, NULL, NULL);
}
