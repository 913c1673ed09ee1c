/*
 * control.c - the daemon's control socket, and the client the CLI uses
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "daemon.h"
#include "loop.h"

#define REQUEST_MAX 256

struct control_server {
	char *path;
	int fd;
	int watch;
	bool bound;
	struct stat st;        /* the socket we bound, removed only if still there */
	struct daemon_state *d;
	GHashTable *clients;   /* ctl_client * being served */
	int backoff;           /* timer re-watching fd after EMFILE, or -1 */
};

static bool
address(const char *path, struct sockaddr_un *sa, GError **error)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "control socket path too long (%zu bytes, limit %zu): %s; use --socket",
			    strlen(path), sizeof(sa->sun_path) - 1, path);
		return false;
	}
	memcpy(sa->sun_path, path, strlen(path));
	return true;
}

static bool
peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

static char *
answer(control_server *c, const char *verb)
{
	if (strcmp(verb, "status") == 0)
		return daemon_status_json(c->d);
	if (strcmp(verb, "schedule") == 0)
		return daemon_schedule_json(c->d);
	if (strcmp(verb, "reconcile") == 0) {
		daemon_reconcile_now(c->d);
		return g_strdup("{\"ok\": true, \"reconcile\": \"requested\"}");
	}
	if (strcmp(verb, "approve") == 0)
		return g_strdup(daemon_approve(c->d) ? "{\"ok\": true, \"approved\": \"the revision in force\"}"
						     : "{\"ok\": false, \"error\": \"no revision in force\"}");
	if (strcmp(verb, "suspend") == 0 || strcmp(verb, "resume") == 0) {
		daemon_suspend(c->d, strcmp(verb, "suspend") == 0);
		return g_strdup_printf("{\"ok\": true, \"state\": \"%s\"}",
				       daemon_suspended(c->d) ? "suspended" : "running");
	}
	return g_strdup("{\"ok\": false, \"error\": \"unknown verb; use status, reconcile, approve, suspend or resume\"}");
}

/*
 * One request per connection, served without ever blocking the loop: the
 * socket is non-blocking, each client has its own watch (reading its
 * request, then writing the answer) and a deadline.  Credentials are
 * taken at accept.  A client that has not finished within
 * CLIENT_DEADLINE_MS is cut, and at most MAX_CLIENTS are served at once.
 */
#define CLIENT_DEADLINE_MS 1000
#define MAX_CLIENTS 64
#define ACCEPT_BACKOFF_MS 100

typedef struct {
	control_server *c;
	int fd;
	int watch;
	int timer;
	bool allowed;
	char in[REQUEST_MAX + 1];
	size_t in_len;
	char *out;             /* the answer and its newline, once known */
	size_t out_len;
	size_t out_off;
} ctl_client;

static void
client_close(ctl_client *cl)
{
	loop_unwatch(cl->watch);
	loop_timer_remove(cl->timer);
	close(cl->fd);
	g_hash_table_remove(cl->c->clients, cl);
	g_free(cl->out);
	g_free(cl);
}

static bool client_read(ctl_client *cl);
static bool client_write(ctl_client *cl);

/*
 * The deadline.  The loop may have been busy past it (a pass on the loop):
 * a request waiting unread is still read and answered, without blocking,
 * before the client is cut.
 */
static void
on_client_deadline(gpointer data)
{
	ctl_client *cl = data;

	if (!cl->out)
		client_read(cl);
	if (cl->out)
		client_write(cl);
	else
		g_debug("control: a client sent no request within %d ms", CLIENT_DEADLINE_MS);
	client_close(cl);
}

static void
client_answer(ctl_client *cl)
{
	g_autofree char *reply = NULL;

	cl->in[cl->in_len] = '\0';
	if (!cl->allowed)
		reply = g_strdup("{\"ok\": false, \"error\": \"permission denied\"}");
	else
		reply = answer(cl->c, g_strstrip(cl->in));
	cl->out = g_strconcat(reply, "\n", NULL);
	cl->out_len = strlen(cl->out);
}

/* Some of the answer; true when the client is done with. */
static bool
client_write(ctl_client *cl)
{
	ssize_t n = send(cl->fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return errno != EAGAIN && errno != EINTR;
	cl->out_off += (size_t)n;
	return cl->out_off == cl->out_len;
}

/* Some of the request; true when the client is gone. */
static bool
client_read(ctl_client *cl)
{
	ssize_t n = recv(cl->fd, cl->in + cl->in_len, REQUEST_MAX - cl->in_len, MSG_DONTWAIT);

	if (n < 0)
		return errno != EAGAIN && errno != EINTR;
	cl->in_len += (size_t)n;
	/* Up to the newline (a request may come in pieces), the size limit,
	 * or the end of what the client sends. */
	if (n == 0 || memchr(cl->in, '\n', cl->in_len) || cl->in_len == REQUEST_MAX)
		client_answer(cl);
	return false;
}

static void
on_client(int fd, gpointer data)
{
	ctl_client *cl = data;
	bool had_answer = cl->out != NULL;

	(void)fd;
	if (!had_answer && client_read(cl)) {
		client_close(cl);
		return;
	}
	if (!cl->out)
		return;  /* more of the request to come */
	/* Sent at once, mostly: the socket's buffer takes a whole answer. */
	if (client_write(cl)) {
		client_close(cl);
		return;
	}
	if (!had_answer)
		loop_watch_write(cl->watch, true);
}

static void on_accept(int fd, gpointer data);

static void
on_accept_again(gpointer data)
{
	control_server *c = data;

	loop_timer_remove(c->backoff);
	c->backoff = -1;
	c->watch = loop_watch(c->fd, on_accept, c);
}

/* Out of descriptors: the listening socket stays readable, so it is
 * unwatched for a while instead of spinning the loop. */
static void
accept_back_off(control_server *c, int err)
{
	g_warning("control: cannot accept a client (%s); waiting %d ms", g_strerror(err),
		  ACCEPT_BACKOFF_MS);
	loop_unwatch(c->watch);
	c->watch = -1;
	c->backoff = loop_timer(ACCEPT_BACKOFF_MS, on_accept_again, c);
}

static void
on_accept(int fd, gpointer data)
{
	control_server *c = data;
	ctl_client *cl;
	int client;

	while ((client = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		if (g_hash_table_size(c->clients) >= MAX_CLIENTS) {
			static const char busy[] = "{\"ok\": false, \"error\": \"busy: too many clients at once; "
						   "try again\"}\n";

			if (send(client, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				g_debug("control: a client turned away went first");
			close(client);
			continue;
		}
		cl = g_new0(ctl_client, 1);
		cl->c = c;
		cl->fd = client;
		cl->allowed = peer_allowed(client);
		cl->watch = loop_watch(client, on_client, cl);
		cl->timer = loop_timer(CLIENT_DEADLINE_MS, on_client_deadline, cl);
		g_hash_table_add(c->clients, cl);
		if (!cl->allowed) {
			client_answer(cl);  /* said at once, whatever it sends */
			if (client_write(cl))
				client_close(cl);
			else
				loop_watch_write(cl->watch, true);
		}
	}
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
		accept_back_off(c, errno);
}

/* Whether something listens on the socket at @path. */
static bool
answers(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0 || !address(path, &sa, NULL)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * The writer's lock is held, so a socket at @path that nobody answers on
 * is a dead daemon's and may go; anything else there (a file, a link, someone else's socket) is
 * not ours to remove.
 */
static bool
clear_stale(const char *path, GError **error)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ||
		       (g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
				    "cannot use %s: %s", path, g_strerror(errno)), false);
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "%s exists and is not a socket of this user; strata will not replace it "
			    "(give another --socket)", path);
		return false;
	}
	if (answers(path)) {
		/* Another database's daemon, given the same --socket. */
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
			    "another strata watch serves %s; give another --socket", path);
		return false;
	}
	return unlink(path) == 0 || errno == ENOENT;
}

/* The socket at our path is still the one we bound (not a successor's). */
static bool
still_ours(const control_server *c)
{
	struct stat st;

	return lstat(c->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	       st.st_dev == c->st.st_dev && st.st_ino == c->st.st_ino;
}

control_server *
control_listen(const char *path, struct daemon_state *d, GError **error)
{
	control_server *c = g_new0(control_server, 1);
	struct sockaddr_un sa;
	mode_t old;

	c->path = g_strdup(path);
	c->d = d;
	c->watch = c->backoff = -1;
	c->clients = g_hash_table_new(NULL, NULL);
	if (!address(path, &sa, error))
		goto fail;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (!clear_stale(path, error))
		goto fail;
	old = umask(0077);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0600) < 0 || listen(c->fd, 16) < 0 || lstat(path, &c->st) < 0) {
		umask(old);
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot listen on %s: %s", path, g_strerror(errno));
		goto fail;
	}
	umask(old);
	c->bound = true;
	c->watch = loop_watch(c->fd, on_accept, c);
	return c;
fail:
	control_free(c);
	return NULL;
}

void
control_free(control_server *c)
{
	if (!c)
		return;
	if (c->clients) {
		g_autoptr(GList) clients = g_hash_table_get_keys(c->clients);

		for (GList *l = clients; l; l = l->next)
			client_close(l->data);
		g_hash_table_unref(c->clients);
	}
	loop_timer_remove(c->backoff);
	loop_unwatch(c->watch);
	if (c->fd > 0)
		close(c->fd);
	if (c->bound && still_ours(c))
		unlink(c->path);
	g_free(c->path);
	g_free(c);
}

/* Say why: a daemon that is not there, or a socket we may not use. */
static void
connect_failed(const char *path, GError **error)
{
	int err = errno;
	struct stat st;

	if ((err == EACCES || err == EPERM) && stat(path, &st) == 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "permission denied on %s: it belongs to uid %u (mode %04o); run as that user "
			    "(or root)", path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return;
	}
	if (err == EACCES || err == EPERM) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "permission denied on %s or a folder on its way; run as the daemon's user (or root)",
			    path);
		return;
	}
	g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err),
		    "no strata watch answers on %s: %s", path, g_strerror(err));
}

char *
control_call(const char *path, const char *verb, GError **error)
{
	struct timeval tv = { .tv_sec = 10 };
	struct sockaddr_un sa;
	GString *reply = g_string_new(NULL);
	g_autofree char *line = NULL;
	char buf[4096];
	ssize_t n;
	int fd, saved;

	if (!address(path, &sa, error))
		goto fail;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		connect_failed(path, error);
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* One write: the daemon answers on the first line it has, and a
	 * second write after its answer would meet a closed socket. */
	line = g_strconcat(verb, "\n", NULL);
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot talk to %s: %s", path, g_strerror(errno));
		close(fd);
		goto fail;
	}
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		g_string_append_len(reply, buf, n);
	saved = errno;
	close(fd);
	/* An answer ends with its newline: anything else (cut off, timed
	 * out, turned away) is no answer, never an empty success. */
	if (n < 0 || reply->len == 0 || reply->str[reply->len - 1] != '\n') {
		g_set_error(error, G_IO_ERROR, n < 0 ? g_io_error_from_errno(saved) : G_IO_ERROR_FAILED,
			    "no complete answer from the strata watch on %s%s%s", path,
			    n < 0 ? ": " : "", n < 0 ? g_strerror(saved) : "");
		goto fail;
	}
	return g_string_free(reply, FALSE);
fail:
	g_string_free(reply, TRUE);
	return NULL;
}
