/*
 * virt_console.c - a VM's serial console as a byte stream, on the loop
 *
 * virDomainOpenConsole on a non-blocking stream, read and written from
 * stream events on libvirt's event loop, as virsh's console does: a read
 * takes what is there (-2: nothing more now), a write what the stream
 * accepts, the rest waiting for the stream to be writable again (on a
 * remote connection, which is every real host's, libvirt's client sends
 * a stream's data before it returns: nothing waits).
 *
 * libvirt's client tells no stream that its connection closed: the
 * connection's close callback ends the console (keepalive finds a host
 * that stopped answering, 5 s x 3, about 20 s).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <libvirt/virterror.h>

#include "virt_console.h"
#include "virt_internal.h"

#define CONSOLE_CHUNK 4096

struct virt_console {
	virConnectPtr conn;     /* borrowed from the virt_host */
	virStreamPtr st;
	bool close_registered;  /* our close callback is on conn */
	int lost_timer;         /* armed when the connection closed, or -1 */
	bool opened;            /* the console is attached to the stream */
	bool watched;           /* the stream event callback is registered */
	bool ended;
	bool failed;            /* it ended on an error: abort, not finish */
	GByteArray *out;        /* for the guest, not yet taken */
	virt_console_fn fn;
	gpointer user;
};

/* Read events, and write ones while something waits to be sent. */
static void
want(virt_console *c)
{
	int events = VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP;

	if (c->out->len)
		events |= VIR_STREAM_EVENT_WRITABLE;
	if (c->watched)
		virStreamEventUpdateCallback(c->st, events);
}

/* The end, told once: @why NULL for a console that closed. */
static void
end(virt_console *c, const char *why)
{
	/* A copy: @why may be libvirt's last error, which the next call resets. */
	g_autofree char *said = g_strdup(why);

	if (c->ended)
		return;
	c->ended = true;
	c->failed = said != NULL;
	if (c->watched) {
		virStreamEventRemoveCallback(c->st);
		c->watched = false;
	}
	c->fn(NULL, 0, said, c->user);
}

static const char *
last_error(const char *otherwise)
{
	return virGetLastErrorCode() != VIR_ERR_OK ? virGetLastErrorMessage() : otherwise;
}

/* Everything the stream has now. */
static void
drain(virt_console *c)
{
	char buf[CONSOLE_CHUNK];

	while (!c->ended) {
		int n = virStreamRecv(c->st, buf, sizeof(buf));

		if (n == -2)
			return;
		if (n == 0) {
			end(c, NULL);
			return;
		}
		if (n < 0) {
			end(c, last_error("the console stream failed"));
			return;
		}
		c->fn(buf, (gsize)n, NULL, c->user);
	}
}

/* As much of what waits as the stream takes now. */
static void
flush(virt_console *c)
{
	while (!c->ended && c->out->len) {
		int n = virStreamSend(c->st, (const char *)c->out->data, MIN(c->out->len, CONSOLE_CHUNK));

		if (n == -2)
			break;
		if (n < 0) {
			end(c, last_error("the console stream failed"));
			return;
		}
		g_byte_array_remove_range(c->out, 0, (guint)n);
	}
	want(c);
}

static void
on_stream(virStreamPtr st, int events, void *opaque)
{
	virt_console *c = opaque;

	(void)st;
	if (events & VIR_STREAM_EVENT_READABLE)
		drain(c);
	if (!c->ended && (events & VIR_STREAM_EVENT_WRITABLE))
		flush(c);
	if (!c->ended && (events & (VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP)))
		end(c, events & VIR_STREAM_EVENT_ERROR ? last_error("the console stream failed") : NULL);
}

static void
on_lost(int timer, void *opaque)
{
	virt_console *c = opaque;

	virEventRemoveTimeout(timer);
	c->lost_timer = -1;
	end(c, "the connection to the host was lost");
}

/* In libvirt's close path: the end is told from the loop, after it. */
static void
on_conn_close(virConnectPtr conn, int reason, void *opaque)
{
	virt_console *c = opaque;

	(void)conn;
	(void)reason;
	if (!c->ended && c->lost_timer < 0)
		c->lost_timer = virEventAddTimeout(0, on_lost, c, NULL);
}

virt_console *
virt_console_open(virt_host *h, const char *name, bool force,
		  virt_console_fn fn, gpointer user, GError **error)
{
	virDomainPtr dom = virt_domain_lookup(h, name, error);
	virt_console *c;

	if (!dom)
		return NULL;
	/* A host that stops answering ends the session (5 s x 3), as in the
	 * daemon; drivers without keepalive (the test driver) refuse it. */
	if (virConnectSetKeepAlive(h->conn, 5, 3) < 0)
		virResetLastError();
	c = g_new0(virt_console, 1);
	c->conn = h->conn;
	c->lost_timer = -1;
	c->fn = fn;
	c->user = user;
	c->out = g_byte_array_new();
	/* Watched before the console opens: a close between the two is seen. */
	virt_count(h);
	if (virConnectRegisterCloseCallback(h->conn, on_conn_close, c, NULL) < 0) {
		virt_fail(error, "cannot watch the connection of", name);
		virDomainFree(dom);
		virt_console_close(c);
		return NULL;
	}
	c->close_registered = true;
	virt_count(h);
	c->st = virStreamNew(h->conn, VIR_STREAM_NONBLOCK);
	virt_count(h);
	if (!c->st || virDomainOpenConsole(dom, NULL, c->st, force ? VIR_DOMAIN_CONSOLE_FORCE
									 : VIR_DOMAIN_CONSOLE_SAFE) < 0) {
		virt_fail(error, "cannot open the serial console of", name);
		virDomainFree(dom);
		virt_console_close(c);
		return NULL;
	}
	virDomainFree(dom);
	c->opened = true;
	if (virStreamEventAddCallback(c->st, VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR |
				      VIR_STREAM_EVENT_HANGUP, on_stream, c, NULL) < 0) {
		virt_fail(error, "cannot watch the serial console of", name);
		virt_console_close(c);
		return NULL;
	}
	c->watched = true;
	return c;
}

bool
virt_console_send(virt_console *c, const char *data, gsize len)
{
	if (c->ended)
		return false;
	g_byte_array_append(c->out, (const guint8 *)data, (guint)len);
	flush(c);
	return !c->ended;
}

void
virt_console_close(virt_console *c)
{
	if (!c)
		return;
	if (c->close_registered)
		virConnectUnregisterCloseCallback(c->conn, on_conn_close);
	if (c->lost_timer >= 0)
		virEventRemoveTimeout(c->lost_timer);
	if (c->watched)
		virStreamEventRemoveCallback(c->st);
	/* Finish a stream the console closed, abort any other: either way
	 * libvirt releases the console for the next client. */
	if (c->opened && c->ended && !c->failed)
		virStreamFinish(c->st);
	else if (c->opened)
		virStreamAbort(c->st);
	if (c->st)
		virStreamFree(c->st);
	g_byte_array_unref(c->out);
	g_free(c);
}
