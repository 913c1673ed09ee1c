/*
 * cmd_console.c - `strata console PATH APP.VM`: where a VM's console is
 *
 * Finds the host that runs the VM as a plan would (read-only connections),
 * reads the running domain's XML there, and prints where its graphical
 * console listens: the port is the one QEMU took (autoport), known only
 * while it runs.  A console on the loopback of a remote host is reached
 * through SSH: the tunnel to open is printed with it.
 *
 * With --serial it attaches the terminal to the VM's serial console
 * instead, through libvirt (a read-write connection): one thread, on
 * libvirt's event loop, moves bytes both ways; the terminal is raw while
 * it does, and Ctrl-] ends the session.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "cli_vm.h"
#include "domxml.h"
#include "json_out.h"
#include "loop.h"
#include "virt_console.h"

typedef struct {
	const char *vm;
	const char *host;
	char *type;
	char *address;      /* where it listens */
	unsigned port;
	char *uri;          /* what a viewer opens */
	char *tunnel;       /* the SSH command that reaches it, or NULL */
} console_at;

static void
console_at_clear(console_at *c)
{
	g_free(c->type);
	g_free(c->address);
	g_free(c->uri);
	g_free(c->tunnel);
}

/* Whether @address is a loopback one, or the wildcard, however written. */
static bool
address_is(const char *address, bool loopback)
{
	unsigned char b[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, address, b) == 1)
		return loopback ? b[0] == 127 : !memcmp(b, "\0\0\0\0", 4);
	if (inet_pton(AF_INET6, address, b) == 1)
		return !memcmp(b, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) && b[15] == (loopback ? 1 : 0);
	return loopback ? strcmp(address, "localhost") == 0 : !*address;
}

static bool
loopback(const char *address)
{
	return address_is(address, true);
}

static bool
wildcard(const char *address)
{
	return address_is(address, false);
}

/* The host name of a remote libvirt URI (qemu+ssh://user@hv1/system), and
 * its user in @user; NULL for a local one. */
static char *
remote_host(const char *uri, char **user)
{
	g_autoptr(GUri) u = g_uri_parse(uri, G_URI_FLAGS_NONE, NULL);
	const char *h = u ? g_uri_get_host(u) : NULL;

	*user = NULL;
	if (!h || !*h || strcmp(h, "localhost") == 0)
		return NULL;
	*user = g_strdup(g_uri_get_user(u));
	return g_strdup(h);
}

/* A literal IPv6 address goes in brackets in a URI. */
static char *
uri_of(const char *type, const char *address, unsigned port)
{
	bool v6 = strchr(address, ':') != NULL;

	return g_strdup_printf("%s://%s%s%s:%u", type, v6 ? "[" : "", address, v6 ? "]" : "", port);
}

char *
console_uri(const char *type, const char *listen, unsigned port, const char *host_uri, char **tunnel)
{
	g_autofree char *user = NULL;
	g_autofree char *remote = remote_host(host_uri, &user);
	const char *address = listen;

	*tunnel = NULL;
	if (remote && wildcard(address))
		address = remote;  /* it listens on every interface of that host */
	else if (wildcard(address))
		address = "127.0.0.1";
	if (remote && loopback(address)) {
		bool v6 = strchr(address, ':') != NULL;

		*tunnel = g_strdup_printf("ssh -N -L %u:%s:%u %s%s%s", port, v6 ? "[::1]" : address, port,
					  user ? user : "", user ? "@" : "", remote);
		address = v6 ? "::1" : "127.0.0.1";
	}
	return uri_of(type, address, port);
}

static void
show_text(const console_at *c)
{
	printf("%s on %s: %s console at %s\n", c->vm, c->host, c->type, c->uri);
	if (c->tunnel)
		printf("it listens on the host's loopback: open the tunnel first, then connect:\n  %s\n", c->tunnel);
}

static void
show_json(const console_at *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_out_string(b, "vm", c->vm);
	json_out_string(b, "host", c->host);
	json_out_string(b, "type", c->type);
	json_out_string(b, "listen", c->address);
	json_out_int(b, "port", c->port);
	json_out_string(b, "uri", c->uri);
	json_out_string(b, "tunnel", c->tunnel);
	json_builder_end_object(b);
	json_out_print(stdout, b);
}

/* Where @v's console is, or false with a message printed. */
static bool
find_console(const cli_vm *v, console_at *c)
{
	const obs_domain *d = v->domain;
	g_autoptr(GError) err = NULL;
	g_autofree char *xml = NULL;

	if (d->state != VIRT_DOM_RUNNING && d->state != VIRT_DOM_PAUSED) {
		fprintf(stderr, "strata console: %s on %s is not running: its console's port is chosen when it "
			"starts\n", d->name, d->host->name);
		return false;
	}
	if (!virt_domain_xml(v->conn->virt, d->name, false, &xml, &err)) {
		fprintf(stderr, "strata console: %s\n", err->message);
		return false;
	}
	c->vm = d->name;
	c->host = d->host->name;
	if (!domxml_console(xml, &c->type, &c->address, &c->port)) {
		fprintf(stderr, "strata console: %s on %s has no graphical console; declare one with "
			"console: {type: vnc}\n", d->name, d->host->name);
		return false;
	}
	c->uri = console_uri(c->type, c->address, c->port, v->conn->uri, &c->tunnel);
	return true;
}

/* The key that ends a serial session: Ctrl-], as telnet and virsh. */
#define CONSOLE_ESCAPE 0x1d

/* The signals that end a session, the terminal restored; blocked in every
 * thread before any starts, read from a signalfd on the loop. */
static const int session_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

typedef struct {
	virt_console *con;
	int in_watch;           /* stdin, or -1 once it ended */
	int sig_watch;
	bool raw;               /* the terminal is raw: restore it */
	struct termios saved;
	bool done;
	int rc;
	char *end;              /* what ended it, said on stderr */
} serial_session;

static void
session_end(serial_session *s, int rc, char *why)
{
	if (s->done) {
		g_free(why);
		return;
	}
	s->done = true;
	s->rc = rc;
	s->end = why;
}

/* All of @len bytes to stdout, at once (stdio writes what a short write
 * left; the session's signals are blocked, so no write is interrupted). */
static bool
write_out(const char *data, gsize len)
{
	return fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0;
}

static void
on_guest(const char *data, gsize len, const char *why, gpointer user)
{
	serial_session *s = user;

	if (data && !write_out(data, len))
		session_end(s, STRATA_EXIT_ERROR, g_strdup_printf("cannot write to standard output: %s",
								   g_strerror(errno)));
	else if (!data && why)
		session_end(s, STRATA_EXIT_ERROR, g_strdup_printf("the console ended: %s (as it does when another "
								   "client takes it over with --force, or the "
								   "host's connection is lost)", why));
	else if (!data)
		session_end(s, STRATA_EXIT_OK, g_strdup("the console closed (the VM stopped or left the host)"));
}

static void
stop_reading(serial_session *s)
{
	loop_unwatch(s->in_watch);
	s->in_watch = -1;
}

/* Keys for the guest, up to Ctrl-]; stdin's end only stops the reading
 * (what the guest says is still shown). */
static void
on_stdin(int fd, gpointer user)
{
	serial_session *s = user;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	const char *esc;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		stop_reading(s);
		return;
	}
	esc = memchr(buf, CONSOLE_ESCAPE, (size_t)n);
	if (!virt_console_send(s->con, buf, esc ? (gsize)(esc - buf) : (gsize)n))
		return;         /* on_guest says why */
	if (esc)
		session_end(s, STRATA_EXIT_OK, NULL);
}

static void
on_signal(int fd, gpointer user)
{
	serial_session *s = user;
	struct signalfd_siginfo si;

	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	session_end(s, STRATA_EXIT_OK, g_strdup_printf("ended by %s", strsignal((int)si.ssi_signo)));
}

/* A terminal on stdin goes raw: every key, Ctrl-C too, is the guest's. */
static void
terminal_raw(serial_session *s)
{
	struct termios raw;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s->saved) < 0)
		return;
	raw = s->saved;
	cfmakeraw(&raw);
	s->raw = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
}

static void
terminal_restore(serial_session *s)
{
	if (s->raw)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &s->saved);
	s->raw = false;
}

/* Attach to @v's serial console until Ctrl-], its end or a signal read
 * from @sig_fd. */
static int
attach_serial(const cli_vm *v, bool force, int sig_fd)
{
	const obs_domain *d = v->domain;
	serial_session s = { .in_watch = -1, .sig_watch = -1 };
	g_autoptr(GError) err = NULL;
	virt_host *rw;

	signal(SIGPIPE, SIG_IGN);  /* a closed stdout is a write error: the terminal is restored */
	if (d->state != VIRT_DOM_RUNNING && d->state != VIRT_DOM_PAUSED) {
		fprintf(stderr, "strata console: %s on %s is not running: start it first\n", d->name, d->host->name);
		return STRATA_EXIT_ERROR;
	}
	/* A signal while the hosts were read (blocked, not yet watched) ends
	 * it before anything is opened. */
	{
		struct signalfd_siginfo si;

		if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			fprintf(stderr, "strata console: ended by %s\n", strsignal((int)si.ssi_signo));
			return STRATA_EXIT_OK;
		}
	}
	/* The console needs a read-write connection; the pass's are read-only. */
	rw = virt_host_open(v->conn->uri, false, &err);
	s.con = rw ? virt_console_open(rw, d->name, force, on_guest, &s, &err) : NULL;
	if (!s.con) {
		fprintf(stderr, "strata console: %s%s\n", err->message,
			strstr(err->message, "Active console session") ?
			"; another client has it: --force takes it over" : "");
		virt_host_free(rw);
		return STRATA_EXIT_ERROR;
	}
	s.sig_watch = loop_watch(sig_fd, on_signal, &s);
	s.in_watch = loop_watch(STDIN_FILENO, on_stdin, &s);
	fprintf(stderr, "Connected to the serial console of %s on %s; Ctrl-] ends the session.\n",
		d->name, d->host->name);
	terminal_raw(&s);
	while (!s.done)
		loop_iterate();
	terminal_restore(&s);
	loop_unwatch(s.in_watch);
	loop_unwatch(s.sig_watch);
	virt_console_close(s.con);
	virt_host_free(rw);
	if (s.end)
		fprintf(stderr, "\nstrata console: %s\n", s.end);
	g_free(s.end);
	return s.rc;
}

/* `console --serial`: the signals are blocked before the pass starts its
 * threads, so that none of them takes one and dies with the terminal raw;
 * unblocked again (a pending one then acts) once the terminal is back. */
static int
serial_session_run(const char *path, const char *connect, const char *name, bool force)
{
	sigset_t set;
	cli_vm v;
	int fd, rc;

	fd = loop_signalfd(session_signals, G_N_ELEMENTS(session_signals));
	if (fd < 0) {
		fprintf(stderr, "strata console: cannot watch for signals: %s\n", g_strerror(errno));
		rc = STRATA_EXIT_ERROR;
	} else {
		loop_init();  /* before any connection: the stream is served by it */
		rc = STRATA_EXIT_ERROR;
		if (cli_vm_find(&v, "console", path, connect, name)) {
			rc = attach_serial(&v, force, fd);
			cli_vm_release(&v);
		}
		close(fd);
	}
	sigemptyset(&set);
	for (guint i = 0; i < G_N_ELEMENTS(session_signals); i++)
		sigaddset(&set, session_signals[i]);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return rc;
}

int
cmd_console(int argc, char **argv)
{
	g_autofree char *format = NULL, *connect = NULL;
	gboolean serial = FALSE, force = FALSE;
	GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &connect,
		  "libvirt URI of the host when the source has no host documents (default test:///default)", "URI" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json", "FORMAT" },
		{ "serial", 0, 0, G_OPTION_ARG_NONE, &serial, "Attach to the VM's serial console (Ctrl-] ends it)", NULL },
		{ "force", 0, 0, G_OPTION_ARG_NONE, &force, "With --serial: take the console over from another client", NULL },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PATH APP.VM — where a VM's console listens, or its serial console");
	console_at c = { 0 };
	output_format fmt;
	bool found;
	cli_vm v;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Finds the host of the source at PATH that runs APP.VM (read-only connections,\n"
		"as plan) and prints where the VM's graphical console (spec: console) listens,\n"
		"as a URI for a VNC or SPICE viewer: vnc://127.0.0.1:5900.  The port is\n"
		"chosen when the VM starts, so the VM must be running.  A console on the\n"
		"loopback of a remote host is reached through SSH: the tunnel to open is\n"
		"printed as well (json: \"tunnel\", null when none is needed).\n\n"
		"With --serial, attaches this terminal to the VM's serial console instead\n"
		"(a read-write connection to its host: libvirt relays QEMU's pty).  The\n"
		"terminal is raw meanwhile, so every key, Ctrl-C too, goes to the guest;\n"
		"Ctrl-] ends the session.  When standard input is not a terminal its bytes\n"
		"are sent as they are (a Ctrl-] byte still ends the session), and its end\n"
		"stops only the sending: what the guest writes is shown until Ctrl-],\n"
		"SIGINT/SIGTERM/SIGHUP, or the VM stops.\n"
		"Another client's session is refused; --force takes it over (that\n"
		"client's session ends).\n\n"
		"Exit status: 0 success (with --serial: ended by Ctrl-], a signal, or the\n"
		"VM stopping), 1 error (invalid source, no such VM, no console, not\n"
		"running, host unreachable, console held or taken over), 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, NULL, 0) || !cli_output_format(format, "text|json", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc != 3) {
		fprintf(stderr, "strata console: give a PATH and an APP.VM\nTry 'strata console --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	if ((force && !serial) || (serial && fmt == OUTPUT_JSON)) {
		fprintf(stderr, "strata console: %s\nTry 'strata console --help'.\n",
			force && !serial ? "--force goes with --serial" : "--serial has no JSON output: it is a session");
		return STRATA_EXIT_USAGE;
	}
	if (serial)
		return serial_session_run(argv[1], connect, argv[2], force);
	if (!cli_vm_find(&v, "console", argv[1], connect, argv[2]))
		return STRATA_EXIT_ERROR;
	found = find_console(&v, &c);
	if (found && fmt == OUTPUT_JSON)
		show_json(&c);
	else if (found)
		show_text(&c);
	console_at_clear(&c);
	cli_vm_release(&v);
	if (!found)
		return STRATA_EXIT_ERROR;
	return fflush(stdout) == 0 ? STRATA_EXIT_OK : STRATA_EXIT_ERROR;
}
