/*
 * http_sink.c - a minimal HTTP/1.1 receiver for tests (one request per connection)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_sink.h"
#include "../../reconciler/handoff.h"

struct http_sink {
	int fd;
	guint16 port;
	bool hang;
	GThread *thread;
	GAsyncQueue *reqs;
	GArray *held;             /* fds a hanging sink keeps open */
	gint accepted;
	gint stop;
};

void
http_req_free(http_req *r)
{
	if (!r)
		return;
	g_free(r->path);
	g_free(r->body);
	g_free(r->signature);
	g_free(r->auth);
	g_free(r);
}

/* The value of header @name in @head (case-insensitive), or NULL. */
static char *
header(const char *head, const char *name)
{
	g_auto(GStrv) lines = g_strsplit(head, "\r\n", -1);
	size_t n = strlen(name);

	for (guint i = 1; lines[i]; i++)
		if (g_ascii_strncasecmp(lines[i], name, n) == 0 && lines[i][n] == ':')
			return g_strstrip(g_strdup(lines[i] + n + 1));
	return NULL;
}

/* Read one request from @fd: NULL when the peer went away first. */
static http_req *
read_request(int fd)
{
	GString *buf = g_string_new(NULL);
	char chunk[4096], *end;
	http_req *r;
	size_t want;

	while (!(end = strstr(buf->str, "\r\n\r\n"))) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n <= 0) {
			g_string_free(buf, TRUE);
			return NULL;
		}
		g_string_append_len(buf, chunk, n);
	}
	{
		g_autofree char *head = g_strndup(buf->str, (gsize)(end - buf->str));
		g_autofree char *len = header(head, "Content-Length");
		g_auto(GStrv) first = g_strsplit(head, " ", 3);
		size_t body_at = (size_t)(end - buf->str) + 4;

		want = body_at + (len ? strtoul(len, NULL, 10) : 0);
		while (buf->len < want) {
			ssize_t n = read(fd, chunk, sizeof(chunk));

			if (n <= 0)
				break;
			g_string_append_len(buf, chunk, n);
		}
		r = g_new0(http_req, 1);
		r->path = g_strdup(first[1] ? first[1] : "");
		r->body = g_strndup(buf->str + body_at, buf->len > body_at ? buf->len - body_at : 0);
		r->signature = header(head, "X-Strata-Signature");
		r->auth = header(head, "Authorization");
	}
	g_string_free(buf, TRUE);
	return r;
}

static gpointer
run(gpointer data)
{
	http_sink *s = data;
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		http_req *r;

		if (c < 0 || g_atomic_int_get(&s->stop)) {
			if (c >= 0)
				close(c);
			return NULL;
		}
		g_atomic_int_inc(&s->accepted);
		if (s->hang) {
			g_array_append_val(s->held, c);  /* never answered */
			continue;
		}
		r = read_request(c);
		if (r) {
			if (write(c, ok, sizeof(ok) - 1) < 0) {
				/* the client gave up: it is recorded anyway */
			}
			HANDOFF_SEND(r);  /* GLib's queue syncs out of TSan's sight */
			g_async_queue_push(s->reqs, r);
		}
		close(c);
	}
}

http_sink *
http_sink_new(bool hang)
{
	http_sink *s = g_new0(http_sink, 1);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	s->hang = hang;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	g_assert(s->fd >= 0);
	g_assert(bind(s->fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	g_assert(listen(s->fd, 64) == 0);
	g_assert(getsockname(s->fd, (struct sockaddr *)&a, &len) == 0);
	s->port = ntohs(a.sin_port);
	s->reqs = g_async_queue_new_full((GDestroyNotify)http_req_free);
	s->held = g_array_new(FALSE, FALSE, sizeof(int));
	s->thread = g_thread_new("http-sink", run, s);
	return s;
}

char *
http_sink_url(http_sink *s, const char *path)
{
	return g_strdup_printf("http://127.0.0.1:%u%s", s->port, path);
}

http_req *
http_sink_pop(http_sink *s, int ms)
{
	http_req *r = g_async_queue_timeout_pop(s->reqs, (guint64)ms * 1000);

	if (r)
		HANDOFF_TAKE(r);
	return r;
}

guint
http_sink_accepted(http_sink *s)
{
	return (guint)g_atomic_int_get(&s->accepted);
}

void
http_sink_free(http_sink *s)
{
	g_atomic_int_set(&s->stop, 1);
	shutdown(s->fd, SHUT_RDWR);  /* wakes accept */
	g_thread_join(s->thread);
	close(s->fd);
	for (guint i = 0; i < s->held->len; i++)
		close(g_array_index(s->held, int, i));
	g_array_unref(s->held);
	g_async_queue_unref(s->reqs);
	g_free(s);
}
