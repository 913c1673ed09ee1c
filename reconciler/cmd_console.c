/*
 * cmd_console.c - `strata console PATH APP.VM`: where a VM's console is
 *
 * Finds the host that runs the VM as a plan would (read-only connections),
 * reads the running domain's XML there, and prints where its graphical
 * console listens: the port is the one QEMU took (autoport), known only
 * while it runs.  A console on the loopback of a remote host is reached
 * through SSH: the tunnel to open is printed with it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_vm.h"
#include "domxml.h"
#include "json_out.h"

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

int
cmd_console(int argc, char **argv)
{
	g_autofree char *format = NULL, *connect = NULL;
	GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &connect,
		  "libvirt URI of the host when the source has no host documents (default test:///default)", "URI" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format, "Output: text (default), json", "FORMAT" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PATH APP.VM — where a VM's console listens");
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
		"Exit status: 0 success, 1 error (invalid source, no such VM, no console,\n"
		"not running, host unreachable), 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, NULL, 0) || !cli_output_format(format, "text|json", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc != 3) {
		fprintf(stderr, "strata console: give a PATH and an APP.VM\nTry 'strata console --help'.\n");
		return STRATA_EXIT_USAGE;
	}
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
