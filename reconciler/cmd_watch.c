/*
 * cmd_watch.c - `strata watch`: the daemon
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "daemon.h"
#include "exec.h"
#include "log.h"
#include "metrics_http.h"
#include "source_verify.h"

/*
 * The signature flags, checked before anything starts: a mode that does
 * not exist, a file that is missing or holds no key, is a usage error.
 */
/* An http:// or https:// URL, or none. */
static bool
notify_url_ok(const char *url, const char *flag)
{
	if (!url || g_str_has_prefix(url, "http://") || g_str_has_prefix(url, "https://"))
		return true;
	fprintf(stderr, "strata watch: %s '%s': give an http:// or https:// URL\n"
		"Try 'strata watch --help'.\n", flag, url);
	return false;
}

static bool
make_verifier(daemon_options *o, const char *git, const char *mode_name, const char *keyring,
	      const char *allowed, char **signers, const char *tag_pattern, const char *db, int *rc)
{
	/* The private GNUPGHOME lives beside the database (strata.gnupg next
	 * to strata.db), not in /tmp, where tmpfiles aging (10 days on
	 * Fedora and RHEL, PrivateTmp included) could delete it under a
	 * daemon that runs for months. */
	g_autofree char *home = g_str_has_suffix(db, ".db")
		? g_strdup_printf("%.*s.gnupg", (int)strlen(db) - 3, db)
		: g_strconcat(db, ".gnupg", NULL);
	verify_options vo = { .keyring = keyring, .allowed_signers = allowed,
			      .signers = (const char *const *)signers, .tag_pattern = tag_pattern,
			      .gnupghome = home };
	g_autoptr(GError) err = NULL;

	*rc = STRATA_EXIT_USAGE;
	if (mode_name && (!verify_mode_parse(mode_name, &vo.mode) || vo.mode == VERIFY_OFF)) {
		fprintf(stderr, "strata watch: --verify: '%s' is not a mode: use head, range or tag\n"
			"Try 'strata watch --help'.\n", mode_name);
		return false;
	}
	if (vo.mode != VERIFY_OFF && !git) {
		fprintf(stderr, "strata watch: --verify needs --git: a folder source has no signatures\n"
			"Try 'strata watch --help'.\n");
		return false;
	}
	o->verifier = verifier_new(&vo, &err);
	if (!o->verifier) {
		fprintf(stderr, "strata watch: %s\n", err->message);
		if (!g_error_matches(err, VERIFY_ERROR, VERIFY_ERROR_CONFIG))
			*rc = STRATA_EXIT_ERROR;
		return false;
	}
	if (vo.mode == VERIFY_OFF) {  /* nothing to verify: no verifier */
		verifier_free(o->verifier);
		o->verifier = NULL;
	}
	return true;
}

/*
 * SQLite maps the WAL index (-shm) into memory; if that file cannot be
 * grown or read any more (made immutable, its disk gone), the next access
 * raises SIGBUS, which no error code reports.  The daemon must not die
 * silently: say why, then die of the same signal (so systemd sees it).
 */
static void
on_sigbus(int sig)
{
	static const char msg[] =
		"strata watch: SIGBUS: a memory-mapped file could not be read or grown -- most likely the "
		"history database's -shm file (made immutable? its filesystem gone or full?); the "
		"database is unusable, stopping now. Operations in flight are marked interrupted at "
		"the next start.\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* dying anyway */
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
die_loudly_on_sigbus(void)
{
	struct sigaction sa = { .sa_handler = on_sigbus };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

int
cmd_watch(int argc, char **argv)
{
	g_autofree char *connect = NULL, *db = NULL, *sock = NULL, *git = NULL;
	g_autofree char *branch = NULL, *subdir = NULL, *snapshot = NULL;
	g_autofree char *log_fmt = NULL, *metrics_addr = NULL, *webhook = NULL, *hmac_key = NULL;
	g_autofree char *token = NULL, *alertmanager = NULL;
	g_autofree char *verify = NULL, *keyring = NULL, *allowed = NULL, *tag_pattern = NULL;
	g_auto(GStrv) signers = NULL;
	gint debounce = 200, resync = 300, parallel = EXEC_PARALLEL_DEFAULT, interval = 60;
	gint snapshot_every = 600;
	gboolean allow_empty = FALSE;
	gint max_removal = PLAN_MAX_REMOVAL_PCT;
	GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &connect,
		  "libvirt URI of the host when the source has no host documents (default test:///default)", "URI" },
		{ "db", 0, 0, G_OPTION_ARG_FILENAME, &db, "History database (default ./strata.db)", "PATH" },
		{ "socket", 0, 0, G_OPTION_ARG_FILENAME, &sock, "Control socket (default beside the database)", "PATH" },
		{ "debounce", 0, 0, G_OPTION_ARG_INT, &debounce, "Milliseconds to wait after an edit, 1 to 60000 (default 200)", "MS" },
		{ "resync", 0, 0, G_OPTION_ARG_INT, &resync, "Seconds between full resyncs, 1 to 86400 (default 300)", "S" },
		{ "parallel", 'p', 0, G_OPTION_ARG_INT, &parallel, "Operations at once, 1 to 1024 (default 16; at most 4 starts, migrations or copies per host)", "N" },
		{ "allow-empty", 0, 0, G_OPTION_ARG_NONE, &allow_empty, "Allow removing every managed VM", NULL },
		{ "max-removal", 0, 0, G_OPTION_ARG_INT, &max_removal,
		  "Hold a revision that removes more than this share of the managed VMs until 'strata approve', 1 to 100 (default 50)", "PCT" },
		{ "git", 0, 0, G_OPTION_ARG_STRING, &git,
		  "Watch a Git repository (file://, a local path, https://, ssh://) instead of PATH", "URL" },
		{ "branch", 0, 0, G_OPTION_ARG_STRING, &branch, "Branch to follow (default main)", "B" },
		{ "path", 0, 0, G_OPTION_ARG_STRING, &subdir, "Folder inside the repository", "SUBDIR" },
		{ "interval", 0, 0, G_OPTION_ARG_INT, &interval, "Seconds between fetches, 1 to 86400 (default 60)", "S" },
		{ "observed-snapshot", 0, 0, G_OPTION_ARG_FILENAME, &snapshot,
		  "Keep this file a snapshot of what the hosts run, for 'strata plan --observed' in CI", "FILE" },
		{ "observed-snapshot-interval", 0, 0, G_OPTION_ARG_INT, &snapshot_every,
		  "Seconds between snapshots, 10 to 86400 (default 600)", "S" },
		{ "verify", 0, 0, G_OPTION_ARG_STRING, &verify,
		  "Apply only signed Git revisions: head (the new head commit is signed), range (every new "
		  "commit is), tag (the newest tag matching --verify-tag-pattern is; its commit applies)", "MODE" },
		{ "verify-keyring", 0, 0, G_OPTION_ARG_FILENAME, &keyring,
		  "OpenPGP public keys that may sign (armored or binary; imported into a private GNUPGHOME)", "FILE" },
		{ "verify-allowed-signers", 0, 0, G_OPTION_ARG_FILENAME, &allowed,
		  "SSH keys that may sign, in ssh-keygen's allowed signers format", "FILE" },
		{ "verify-signer", 0, 0, G_OPTION_ARG_STRING_ARRAY, &signers,
		  "Only this signer (OpenPGP fingerprint or user id email, SSH principal); repeatable", "ID" },
		{ "verify-tag-pattern", 0, 0, G_OPTION_ARG_STRING, &tag_pattern,
		  "Tags considered by --verify tag, a glob (default *)", "GLOB" },
		{ "metrics-address", 0, 0, G_OPTION_ARG_STRING, &metrics_addr,
		  "Serve Prometheus metrics at http://ADDR/metrics: HOST:PORT, [IPV6]:PORT, :PORT "
		  "(on 127.0.0.1), or off (default 127.0.0.1:9747)", "ADDR" },
		{ "notify-webhook", 0, 0, G_OPTION_ARG_STRING, &webhook,
		  "POST a JSON document to URL for each event (a run failed, drift healed, a host "
		  "unreachable, ...)", "URL" },
		{ "notify-hmac-key-file", 0, 0, G_OPTION_ARG_FILENAME, &hmac_key,
		  "Sign webhook bodies: X-Strata-Signature: sha256=HMAC-SHA256 with the key in FILE", "FILE" },
		{ "notify-token-file", 0, 0, G_OPTION_ARG_FILENAME, &token,
		  "Send Authorization: Bearer TOKEN (read from FILE) with webhooks", "FILE" },
		{ "notify-alertmanager", 0, 0, G_OPTION_ARG_STRING, &alertmanager,
		  "Send alerts to the Alertmanager at URL (URL/api/v2/alerts); they resolve when "
		  "the problem ends", "URL" },
		{ "log-format", 0, 0, G_OPTION_ARG_STRING, &log_fmt,
		  "auto (the journal when stderr is connected to it, else text), text (time level "
		  "[revision] message), json (an object per line) or journal (structured fields)", "FORMAT" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("(PATH | --git URL) — keep the hosts converged to a source");
	/* The timers count milliseconds in an int: a day is far from its end. */
	const cli_range ranges[] = {
		{ "--debounce", &debounce, 1, 60000 },
		{ "--resync", &resync, 1, 86400 },
		{ "--parallel", &parallel, 1, CLI_PARALLEL_MAX },
		{ "--interval", &interval, 1, 86400 },
		{ "--max-removal", &max_removal, 1, 100 },
		{ "--observed-snapshot-interval", &snapshot_every, 10, 86400 },
	};
	g_autoptr(GError) err = NULL;
	daemon_options o = { 0 };
	daemon_state *d;
	int rc;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Watches PATH (inotify) or a Git branch (fetched every --interval seconds, at once\n"
		"after a commit to a local repository), libvirt's domain events and a periodic\n"
		"resync, and\n"
		"reconciles on each change.  An invalid revision changes nothing.  Control it\n"
		"with 'strata status', 'strata reconcile', 'strata suspend', 'strata resume' and\n"
		"'strata approve' (confirms a revision held by --max-removal).\n"
		"SIGTERM lets running operations finish for up to 30 s (a second SIGTERM: at once),\n"
		"then exits 0; what still runs is recorded interrupted and observed by the next\n"
		"start.  SIGHUP re-reads the source.\n\n"
		"With --verify, a Git revision applies only if signed by a key of --verify-keyring\n"
		"or --verify-allowed-signers (given here, never read from the repository); one\n"
		"refused is recorded in history, shown by 'strata status', and not tried again\n"
		"until the branch (or tag) moves.\n\n"
		"With --observed-snapshot, the first pass and then one pass every\n"
		"--observed-snapshot-interval seconds read every domain's definition again and\n"
		"write what they observed to FILE (replaced whole), for 'strata plan --observed'.\n\n"
		"Exit status: 0 stopped by a signal, 1 error, 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, ranges, G_N_ELEMENTS(ranges)))
		return STRATA_EXIT_USAGE;
	if (log_fmt) {
		log_format f;

		if (!log_format_parse(log_fmt, &f)) {
			fprintf(stderr, "strata watch: --log-format: '%s' is not a format: use auto, text, "
				"json or journal\nTry 'strata watch --help'.\n", log_fmt);
			return STRATA_EXIT_USAGE;
		}
		log_init(f, stderr);
	}
	if (metrics_addr && !g_str_equal(metrics_addr, "off") && !metrics_address_ok(metrics_addr)) {
		fprintf(stderr, "strata watch: --metrics-address '%s': give HOST:PORT, [IPV6]:PORT, :PORT "
			"(on 127.0.0.1) or off\nTry 'strata watch --help'.\n", metrics_addr);
		return STRATA_EXIT_USAGE;
	}
	if ((hmac_key || token) && !webhook) {
		fprintf(stderr, "strata watch: --notify-hmac-key-file and --notify-token-file go with "
			"--notify-webhook\nTry 'strata watch --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	if (!notify_url_ok(webhook, "--notify-webhook") || !notify_url_ok(alertmanager, "--notify-alertmanager"))
		return STRATA_EXIT_USAGE;
	if (argc != (git ? 1 : 2)) {
		fprintf(stderr, "strata watch: give exactly one PATH, or --git URL\nTry 'strata watch --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	if (!make_verifier(&o, git, verify, keyring, allowed, signers, tag_pattern, db ? db : "strata.db", &rc))
		return rc;
	o.path = git ? NULL : argv[1];
	o.git_url = git;
	o.git_branch = branch;
	o.git_subdir = subdir;
	o.git_interval_s = (unsigned)interval;
	o.connect = connect ? connect : "test:///default";
	o.db = db ? db : "strata.db";
	o.socket = sock;
	o.debounce_ms = (unsigned)debounce;
	o.resync_s = (unsigned)resync;
	o.parallel = (unsigned)parallel;
	o.allow_empty = allow_empty;
	o.max_removal_pct = (unsigned)max_removal;
	o.observed_snapshot = snapshot;
	o.snapshot_interval_s = (unsigned)snapshot_every;
	o.metrics_default = !metrics_addr;
	o.metrics_address = !metrics_addr ? "127.0.0.1:9747" :
			    g_str_equal(metrics_addr, "off") ? NULL : metrics_addr;
	o.notify.webhook_url = webhook;
	o.notify.hmac_key_file = hmac_key;
	o.notify.token_file = token;
	o.notify.alertmanager_url = alertmanager;
	o.version = STRATA_VERSION;
	die_loudly_on_sigbus();
	/* A scraper or receiver that hangs up mid-answer is not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	d = daemon_new(&o, &err);
	if (!d) {
		fprintf(stderr, "strata watch: %s\n", err->message);
		return STRATA_EXIT_ERROR;
	}
	rc = daemon_run(d);
	if (daemon_abandon(d)) {
		/* A worker may be inside a call that never returns. */
		fflush(NULL);
		_exit(rc);
	}
	daemon_free(d);
	return rc;
}
