/*
 * source_dir.c - a folder of specs, watched with inotify
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <dirent.h>
#include <errno.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loop.h"
#include "source_dir.h"

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | \
		    IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB)

struct source_dir {
	char *path;
	int fd;
	int watch;            /* loop handle of fd */
	int timer;            /* debounce */
	int retry;            /* the root is gone: look for it again */
	int root_wd;          /* the root folder's watch, or -1 */
	unsigned debounce_ms;
	GHashTable *dirs;     /* wd -> folder path */
	source_changed_fn fn;
	gpointer data;
};

static void
watch_tree(source_dir *s, const char *dir, unsigned depth)
{
	DIR *d;
	struct dirent *e;
	int wd;

	if (depth > 32)
		return;
	/* The root may be a link (a deployment swapping versions); below it,
	 * links are never followed. */
	wd = inotify_add_watch(s->fd, dir, WATCH_MASK | IN_ONLYDIR |
			       (depth ? IN_DONT_FOLLOW : 0));
	if (wd < 0)
		return;
	if (depth == 0)
		s->root_wd = wd;
	g_hash_table_insert(s->dirs, GINT_TO_POINTER(wd), g_strdup(dir));
	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		g_autofree char *sub = NULL;
		struct stat st;

		/* Version-control internals are not part of a source. */
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, ".git") == 0)
			continue;
		sub = g_build_filename(dir, e->d_name, NULL);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			watch_tree(s, sub, depth + 1);
	}
	closedir(d);
}

static void
rewatch(source_dir *s)
{
	GHashTableIter it;
	gpointer wd;

	g_hash_table_iter_init(&it, s->dirs);
	while (g_hash_table_iter_next(&it, &wd, NULL))
		inotify_rm_watch(s->fd, GPOINTER_TO_INT(wd));
	g_hash_table_remove_all(s->dirs);
	s->root_wd = -1;
	watch_tree(s, s->path, 0);
	/* Still gone: look again each second until it is back. */
	loop_timer_set(s->retry, s->root_wd < 0 ? 1000 : -1);
}

void
source_dir_rewatch(source_dir *s)
{
	rewatch(s);
}

static void
on_retry(gpointer data)
{
	source_dir *s = data;

	rewatch(s);
	if (s->root_wd >= 0)
		loop_timer_set(s->timer, (int)s->debounce_ms);
}

static void
on_debounce(gpointer data)
{
	source_dir *s = data;

	loop_timer_set(s->timer, -1);
	s->fn(s->data);
}

static void
on_inotify(int fd, gpointer data)
{
	source_dir *s = data;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool overflow = false, root_gone = false;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			const char *dir = g_hash_table_lookup(s->dirs, GINT_TO_POINTER(ev->wd));

			if (ev->mask & IN_Q_OVERFLOW)
				overflow = true;
			if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
			    dir && ev->len && strcmp(ev->name, ".git") != 0) {
				g_autofree char *sub = g_build_filename(dir, ev->name, NULL);

				watch_tree(s, sub, 1);
			}
			/* The folder itself deleted, moved away or replaced. */
			if (ev->wd == s->root_wd && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)))
				root_gone = true;
			if (ev->mask & IN_IGNORED)
				g_hash_table_remove(s->dirs, GINT_TO_POINTER(ev->wd));
			p += sizeof(*ev) + ev->len;
		}
	}
	if (overflow || root_gone)
		rewatch(s);  /* events were lost, or the folder replaced: reload all */
	loop_timer_set(s->timer, (int)s->debounce_ms);
}

source_dir *
source_dir_new(const char *path, unsigned debounce_ms, source_changed_fn fn,
	       gpointer data, GError **error)
{
	source_dir *s = g_new0(source_dir, 1);

	s->path = g_strdup(path);
	s->watch = s->timer = s->retry = s->root_wd = -1;
	s->fn = fn;
	s->data = data;
	s->debounce_ms = MAX(debounce_ms, 1u);
	s->dirs = g_hash_table_new_full(NULL, NULL, NULL, g_free);
	s->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot watch %s: %s", path, g_strerror(errno));
		source_dir_free(s);
		return NULL;
	}
	watch_tree(s, path, 0);
	if (g_hash_table_size(s->dirs) == 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_DIRECTORY,
			    "cannot watch %s: not a readable folder", path);
		source_dir_free(s);
		return NULL;
	}
	s->watch = loop_watch(s->fd, on_inotify, s);
	s->timer = loop_timer(-1, on_debounce, s);
	s->retry = loop_timer(-1, on_retry, s);
	return s;
}

void
source_dir_free(source_dir *s)
{
	if (!s)
		return;
	loop_unwatch(s->watch);
	loop_timer_remove(s->timer);
	loop_timer_remove(s->retry);
	if (s->fd >= 0)
		close(s->fd);
	g_hash_table_unref(s->dirs);
	g_free(s->path);
	g_free(s);
}
