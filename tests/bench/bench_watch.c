/*
 * bench_watch.c - `strata watch`: reaction latency and idle cost
 *
 * Latency: 200 edits of a watched folder, and 200 commits to a local Git
 * repository; for each, the time from the write (or the commit) to the
 * intent of the first libvirt operation it caused, as history records it.
 * Goals (issue #4): folder p99 <= debounce + 30 ms, local commit p99 <=
 * 300 ms.
 *
 * Idle: `strata watch` on 10,000 VMs over 100 simulated hosts, converged,
 * then left alone for BENCH_IDLE_SECONDS (default 60): CPU time, context
 * switches (wake-ups) of all its threads, and RSS.  Goal: RSS <= 64 MiB.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <git2.h>
#include <gio/gio.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../reconciler/daemon.h"
#include "../../reconciler/loop.h"
#include "benchgen.h"

#define EDITS 200
#define DEBOUNCE_MS 20

static const char *const spec_head =
	"kind: host\nname: hv1\nuri: test://" SRCDIR "/examples/webstack/hosts/hv1.xml\n---\n"
	"kind: template\nname: t\npool: default\nvolume: debian-12.qcow2\n---\n"
	"kind: appliance\nname: lat\nvms:\n  - {name: vm, template: t, memory: %dMiB}\n"
	"  - {name: keep, template: t}\n";

static void
tick(gpointer data)
{
	(void)data;
}

static gint64
last_intent(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	gint64 t = 0;

	sqlite3_prepare_v2(db, "SELECT min(intent) FROM ops WHERE run = (SELECT max(run) FROM ops)",
			   -1, &st, NULL);
	if (sqlite3_step(st) == SQLITE_ROW)
		t = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return t;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *ms, int n)
{
	qsort(ms, (size_t)n, sizeof(double), cmp_double);
	printf("latency (%s): %d edits, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", what, n,
	       ms[n / 2], ms[(n * 99) / 100], ms[n - 1]);
}

/* Drive @d until a new run has finished (its first op is in history). */
static bool
wait_run(daemon_state *d, guint runs_before)
{
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	while (g_get_monotonic_time() < end) {
		daemon_iterate(d);
		if (daemon_runs(d) > runs_before && daemon_idle(d))
			return true;
	}
	return false;
}

static git_oid
commit_all(git_repository *r, const char *msg)
{
	git_index *idx = NULL;
	git_tree *tree = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_oid tree_id, id, head;

	git_repository_index(&idx, r);
	git_index_add_all(idx, NULL, 0, NULL, NULL);
	git_index_write(idx);
	git_index_write_tree(&tree_id, idx);
	git_tree_lookup(&tree, r, &tree_id);
	git_signature_now(&sig, "Bench", "bench@example.invalid");
	if (git_reference_name_to_id(&head, r, "HEAD") == 0)
		git_commit_lookup(&parent, r, &head);
	git_commit_create_v(&id, r, "HEAD", sig, sig, NULL, msg, tree, parent ? 1 : 0, parent);
	git_commit_free(parent);
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(idx);
	return id;
}

static int
latency(bool git)
{
	g_autofree char *dir = g_dir_make_tmp("strata-bench-XXXXXX", NULL);
	g_autofree char *src = g_build_filename(dir, git ? "repo" : "src", NULL);
	g_autofree char *file = g_build_filename(src, "spec.yaml", NULL);
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autofree char *text = g_strdup_printf(spec_head, 512);
	g_autofree char *cmd = NULL;
	daemon_options o = { .connect = "test:///default", .db = db, .debounce_ms = DEBOUNCE_MS,
			     .resync_s = 3600, .git_branch = "main", .git_interval_s = 3600 };
	git_repository *repo = NULL;
	g_autoptr(GError) err = NULL;
	double ms[EDITS];
	daemon_state *d;
	sqlite3 *sql = NULL;
	int timer, n = 0;

	g_mkdir_with_parents(src, 0700);
	g_file_set_contents(file, text, -1, NULL);
	if (git) {
		git_repository_init_options io;

		git_libgit2_init();
		git_repository_init_options_init(&io, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
		io.initial_head = "main";
		git_repository_init_ext(&repo, src, &io);
		commit_all(repo, "start");
		o.git_url = src;
	} else {
		o.path = src;
	}
	d = daemon_new(&o, &err);
	if (!d) {
		fprintf(stderr, "bench: %s\n", err->message);
		return 1;
	}
	timer = loop_timer(5, tick, NULL);
	wait_run(d, 0);
	sqlite3_open(db, &sql);
	for (int i = 0; i < EDITS; i++) {
		g_autofree char *next = g_strdup_printf(spec_head, 512 - 1 - i);
		g_autofree char *tmp = g_strconcat(file, ".tmp", NULL);
		guint runs = daemon_runs(d);
		gint64 t0;

		g_file_set_contents(tmp, next, -1, NULL);
		t0 = g_get_real_time();
		rename(tmp, file);
		if (git) {
			t0 = g_get_real_time();
			commit_all(repo, "shrink");
		}
		if (!wait_run(d, runs))
			continue;
		ms[n++] = (double)(last_intent(sql) - t0) / 1000.0;
	}
	loop_timer_remove(timer);
	sqlite3_close(sql);
	daemon_free(d);
	git_repository_free(repo);
	if (n)
		report(git ? "local git commit" : "folder, debounce " G_STRINGIFY(DEBOUNCE_MS) " ms", ms, n);
	cmd = g_strdup_printf("rm -rf '%s'", dir);
	return system(cmd) == 0 && n == EDITS ? 0 : 1;
}

typedef struct {
	guint64 cpu_ticks;
	GHashTable *switches;    /* thread id -> context switches so far */
	guint64 rss_kib;
} proc_use;

static proc_use
proc_read(GPid pid)
{
	g_autofree char *taskdir = g_strdup_printf("/proc/%d/task", (int)pid);
	g_autofree char *status = g_strdup_printf("/proc/%d/status", (int)pid);
	g_autofree char *stat = g_strdup_printf("/proc/%d/stat", (int)pid);
	g_autofree char *text = NULL;
	g_autoptr(GDir) tasks = g_dir_open(taskdir, 0, NULL);
	proc_use u = { 0, g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL), 0 };
	const char *tid;

	if (g_file_get_contents(stat, &text, NULL, NULL)) {
		g_auto(GStrv) f = g_strsplit(strrchr(text, ')') + 2, " ", -1);

		u.cpu_ticks = g_ascii_strtoull(f[11], NULL, 10) + g_ascii_strtoull(f[12], NULL, 10);
	}
	g_clear_pointer(&text, g_free);
	if (g_file_get_contents(status, &text, NULL, NULL) && strstr(text, "VmRSS:"))
		u.rss_kib = g_ascii_strtoull(strstr(text, "VmRSS:") + 6, NULL, 10);
	while (tasks && (tid = g_dir_read_name(tasks))) {
		g_autofree char *p = g_strdup_printf("%s/%s/status", taskdir, tid);
		g_autofree char *t = NULL;
		const char *v, *nv;

		guint64 n = 0;

		if (!g_file_get_contents(p, &t, NULL, NULL))
			continue;
		v = strstr(t, "\nvoluntary_ctxt_switches:");
		nv = strstr(t, "nonvoluntary_ctxt_switches:");
		if (v)
			n += g_ascii_strtoull(v + 25, NULL, 10);
		if (nv)
			n += g_ascii_strtoull(nv + 27, NULL, 10);
		g_hash_table_insert(u.switches, g_strdup(tid), GSIZE_TO_POINTER((gsize)n));
	}
	return u;
}

/* Wake-ups over the interval, per thread (idle pool threads may exit). */
static guint64
switches_delta(const proc_use *a, const proc_use *b)
{
	GHashTableIter it;
	gpointer tid, n;
	guint64 sum = 0;

	g_hash_table_iter_init(&it, b->switches);
	while (g_hash_table_iter_next(&it, &tid, &n)) {
		gsize before = GPOINTER_TO_SIZE(g_hash_table_lookup(a->switches, tid));

		sum += GPOINTER_TO_SIZE(n) - MIN(before, GPOINTER_TO_SIZE(n));
	}
	return sum;
}

static int
idle(void)
{
	g_autofree char *dir = g_dir_make_tmp("strata-bench-XXXXXX", NULL);
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autofree char *cmd = NULL;
	const char *secs_env = g_getenv("BENCH_IDLE_SECONDS");
	int secs = secs_env ? atoi(secs_env) : 60;
	const char *argv[] = { SRCDIR "/strata", "watch", "--db", db, dir, NULL };
	g_autoptr(GSubprocess) p = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	proc_use a, b;
	gint64 t0;
	char *line;
	GPid pid;
	int runs_done = 0;
	long hz = sysconf(_SC_CLK_TCK);

	benchgen_source(dir);
	t0 = g_get_monotonic_time();
	p = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL);
	in = g_data_input_stream_new(g_subprocess_get_stderr_pipe(p));
	/* Converged: the run, then the verification pass that plans nothing. */
	while (runs_done < 1 && (line = g_data_input_stream_read_line(in, NULL, NULL, NULL))) {
		runs_done += strstr(line, "run 1 converged") != NULL;
		g_free(line);
	}
	printf("watch: 10000 VMs on 100 hosts converged in %.1f s (from start)\n",
	       (double)(g_get_monotonic_time() - t0) / 1e6);
	g_usleep(2 * G_USEC_PER_SEC);  /* let the verification pass finish */
	pid = (GPid)atoi(g_subprocess_get_identifier(p));
	a = proc_read(pid);
	g_usleep((gulong)secs * G_USEC_PER_SEC);
	b = proc_read(pid);
	printf("watch idle %d s with 10000 VMs: CPU %.2f s, %" G_GUINT64_FORMAT
	       " context switches (threads alive at the end), RSS %.1f MiB\n", secs,
	       (double)(b.cpu_ticks - a.cpu_ticks) / (double)hz, switches_delta(&a, &b),
	       (double)b.rss_kib / 1024.0);
	g_hash_table_unref(a.switches);
	g_hash_table_unref(b.switches);
	g_subprocess_send_signal(p, SIGTERM);
	g_subprocess_wait(p, NULL, NULL);
	cmd = g_strdup_printf("rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}

int
main(void)
{
	int rc = 0;

	loop_init();
	rc |= latency(false);
	rc |= latency(true);
	rc |= idle();
	return rc;
}
