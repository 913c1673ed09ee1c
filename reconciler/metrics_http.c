/*
 * metrics_http.c - the /metrics endpoint (libmicrohttpd)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <gio/gio.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics_http.h"

struct metrics_server {
	metrics *m;
	struct MHD_Daemon *mhd;
	int fd;
	guint16 port;
};

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned code, const char *type, char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(
		strlen(body), body, g_free);
	enum MHD_Result ok;

	if (!r) {
		g_free(body);
		return MHD_NO;  /* out of memory: MHD drops the connection */
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ok = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload, size_t *upload_size, void **state)
{
	metrics_server *s = cls;

	(void)version;
	(void)upload;
	/* A request body is neither wanted nor read: answer at its head. */
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	(void)state;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
			     g_strdup("only GET /metrics\n"));  /* reply() adds Allow */
	if (strcmp(url, "/metrics") == 0)
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
			     metrics_render(s->m));
	if (strcmp(url, "/") == 0)
		return reply(c, MHD_HTTP_OK, "text/html; charset=utf-8",
			     g_strdup("<html><body><a href=\"/metrics\">strata metrics</a></body></html>\n"));
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
		     g_strdup("not found: strata serves /metrics\n"));
}

/* "HOST:PORT", "[V6]:PORT", ":PORT", "PORT" -> host (NULL: 127.0.0.1), port. */
static bool
split_address(const char *address, char **host, char **port)
{
	const char *colon;

	if (address[0] == '[') {
		const char *end = strchr(address, ']');

		if (!end || end[1] != ':' || !end[2])
			return false;
		*host = g_strndup(address + 1, (gsize)(end - address - 1));
		*port = g_strdup(end + 2);
	} else {
		colon = strrchr(address, ':');
		*host = colon && colon > address ? g_strndup(address, (gsize)(colon - address)) : NULL;
		*port = g_strdup(colon ? colon + 1 : address);
	}
	if (!g_ascii_string_to_unsigned(*port, 10, 0, 65535, NULL, NULL)) {
		g_clear_pointer(host, g_free);
		g_clear_pointer(port, g_free);
		return false;
	}
	return true;
}

bool
metrics_address_ok(const char *address)
{
	g_autofree char *host = NULL, *port = NULL;

	return split_address(address, &host, &port);
}

static int
listen_on(const char *address, GError **error)
{
	g_autofree char *host = NULL, *port = NULL;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res = NULL;
	int rc, fd = -1, err = 0, one = 1;

	if (!split_address(address, &host, &port)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "--metrics-address '%s': not HOST:PORT, [IPV6]:PORT or :PORT (or off)", address);
		return -1;
	}
	rc = getaddrinfo(host ? host : "127.0.0.1", port, &hints, &res);
	if (rc != 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "--metrics-address '%s': %s", address, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 16) < 0) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
			    "--metrics-address %s: cannot listen: %s%s", address, g_strerror(err),
			    err == EADDRINUSE ? " (another strata watch? give each its own port, "
						"or --metrics-address off)" : "");
	return fd;
}

static guint16
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

metrics_server *
metrics_server_start(metrics *m, const char *address, GError **error)
{
	metrics_server *s;
	int fd = listen_on(address, error);

	if (fd < 0)
		return NULL;
	s = g_new0(metrics_server, 1);
	s->m = m;
	s->fd = fd;
	s->port = bound_port(fd);
	/* Its own thread; a handful of scrapers at once, each given 10 s. */
	s->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC, 0, NULL, NULL,
				  on_request, s,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				  MHD_OPTION_END);
	if (!s->mhd) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "--metrics-address %s: the HTTP server did not start", address);
		close(fd);
		g_free(s);
		return NULL;
	}
	return s;
}

guint16
metrics_server_port(const metrics_server *s)
{
	return s->port;
}

void
metrics_server_stop(metrics_server *s)
{
	if (!s)
		return;
	/* Quiesced, the listening socket is ours again: closed after the
	 * stop, which waits for MHD's thread. */
	MHD_socket fd = MHD_quiesce_daemon(s->mhd);

	MHD_stop_daemon(s->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	g_free(s);
}
