/*
 * load.c - find and read a source's files, hand each to the YAML reader
 *
 * The tree walk refuses what could make a spec reach outside its source
 * (symlinks leaving the tree) or hang the loader (FIFOs, devices), and it
 * bounds the number of files and the depth of folders.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schema.h"
#include "spec.h"
#include "yaml_read.h"

typedef struct {
	spec_source *src;
	spec_diags *diags;
	char *real_root;        /* resolved root, for the symlink check */
	GHashTable *seen_dirs;  /* "dev:ino" of folders walked, against loops */
	unsigned files;
} walker;

static void
load_bytes(spec_source *src, const char *name, const char *buf, size_t len,
	   spec_diags *diags)
{
	g_autoptr(GPtrArray) docs = NULL;
	const char *file;
	bool ok;

	g_ptr_array_add(src->files, g_strdup(name));
	file = src->files->pdata[src->files->len - 1];
	g_checksum_update(src->digest, (const guchar *)name, (gssize)strlen(name) + 1);
	g_checksum_update(src->digest, (const guchar *)&len, sizeof(len));
	g_checksum_update(src->digest, (const guchar *)buf, (gssize)len);
	docs = yaml_read(file, buf, len, diags, &ok);
	/* The document the reader stopped in is partial: checking its keys
	 * would only add noise to the real problem. */
	if (!ok && docs->len)
		g_ptr_array_set_size(docs, docs->len - 1);
	for (guint i = 0; i < docs->len; i++)
		schema_decode_document(src, file, docs->pdata[i], diags);
}

void
spec_source_add_buffer(spec_source *src, const char *name, const char *buf,
		       size_t len, spec_diags *diags)
{
	unsigned errors = diags->errors;

	load_bytes(src, name, buf, len, diags);
	src->load_errors += diags->errors - errors;
}

spec_source *
spec_load_buffer(const char *name, const char *buf, size_t len,
		 spec_diags *diags)
{
	spec_source *src = spec_source_new(name);
	unsigned errors = diags->errors;

	load_bytes(src, name, buf, len, diags);
	src->load_errors = diags->errors - errors;
	spec_read_side_files(src, NULL, NULL, diags);
	return src;
}

/* Read a regular file; never blocks on a FIFO, never reads past the cap. */
static void
load_file(walker *w, const char *path)
{
	g_autofree char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		spec_error(w->diags, path, SPEC_NOPOS, "unreadable",
			   "cannot read: %s", g_strerror(errno));
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		spec_error(w->diags, path, SPEC_NOPOS, "not-a-file",
			   "not a regular file; spec files must be plain files");
		close(fd);
		return;
	}
	if (st.st_size > SPEC_MAX_FILE_BYTES) {
		spec_error(w->diags, path, SPEC_NOPOS, "file-too-large",
			   "file is %lld bytes; the limit is %u bytes (4 MiB): split it",
			   (long long)st.st_size, SPEC_MAX_FILE_BYTES);
		close(fd);
		return;
	}
	buf = g_malloc(SPEC_MAX_FILE_BYTES + 1);
	for (;;) {
		ssize_t n = read(fd, buf + len, SPEC_MAX_FILE_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			spec_error(w->diags, path, SPEC_NOPOS, "unreadable",
				   "cannot read: %s", g_strerror(errno));
			close(fd);
			return;
		}
		if (n == 0 || (len += (size_t)n) > SPEC_MAX_FILE_BYTES)
			break;
	}
	close(fd);
	load_bytes(w->src, path, buf, len, w->diags);
}

static bool
is_spec_name(const char *name)
{
	return name[0] != '.' &&
	       (g_str_has_suffix(name, ".yaml") || g_str_has_suffix(name, ".yml"));
}

static gint
name_cmp(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted entry names of @dir, so the load order never depends on the fs. */
static GPtrArray *
dir_names(const char *dir, spec_diags *diags)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d) {
		spec_error(diags, dir, SPEC_NOPOS, "unreadable",
			   "cannot read folder: %s", g_strerror(errno));
		return names;
	}
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			g_ptr_array_add(names, g_strdup(e->d_name));
	closedir(d);
	g_ptr_array_sort(names, name_cmp);
	return names;
}

static bool
inside_root(walker *w, const char *path)
{
	g_autofree char *real = realpath(path, NULL);
	size_t n = strlen(w->real_root);

	if (!real)
		return true;  /* dangling: reported as unreadable when opened */
	return strncmp(real, w->real_root, n) == 0 &&
	       (real[n] == '/' || real[n] == '\0' || strcmp(w->real_root, "/") == 0);
}

static void walk_dir(walker *w, const char *dir, unsigned depth);

static void
walk_entry(walker *w, const char *path, const char *name, unsigned depth)
{
	struct stat lst, st;
	bool is_link;

	if (lstat(path, &lst) < 0) {
		int err = errno;

		/* Listed, then gone or replaced (an editor renaming, a
		 * checkout): the tree changed while read.  Skipping a spec file
		 * would make a revision without it; this one is invalid, and
		 * the change's own event brings the next read.  Any entry that
		 * cannot be reached otherwise (a folder readable but not
		 * searchable) may hold spec files: invalid too, whatever its
		 * name. */
		if (err == ENOENT || err == ENOTDIR) {
			if (is_spec_name(name))
				spec_error(w->diags, path, SPEC_NOPOS, "changed-while-read",
					   "the file went away while the source was read (%s); it is read "
					   "again at the next change", g_strerror(err));
			return;
		}
		spec_error(w->diags, path, SPEC_NOPOS, "unreadable",
			   "listed in its folder but cannot be reached: %s%s", g_strerror(err),
			   err == EACCES ? "; give the folder search (x) permission" : "");
		return;
	}
	is_link = S_ISLNK(lst.st_mode);
	if (is_link && !inside_root(w, path)) {
		bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);

		if (dir || is_spec_name(name))
			spec_error(w->diags, path, SPEC_NOPOS, "symlink-escape",
				   "symbolic link points outside the source tree; copy the file in instead");
		return;
	}
	if (stat(path, &st) < 0) {
		/* A dangling link not named as a spec file is nothing to read;
		 * one that cannot be followed otherwise may lead to a folder. */
		if (is_spec_name(name) || (errno != ENOENT && errno != ENOTDIR))
			spec_error(w->diags, path, SPEC_NOPOS, "unreadable",
				   "cannot read: %s", g_strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		walk_dir(w, path, depth + 1);
		return;
	}
	if (!is_spec_name(name))
		return;
	if (++w->files > SPEC_MAX_FILES) {
		if (w->files == SPEC_MAX_FILES + 1)
			spec_error(w->diags, path, SPEC_NOPOS, "too-many-files",
				   "more than %d spec files in the source", SPEC_MAX_FILES);
		return;
	}
	load_file(w, path);
}
static void
walk_dir(walker *w, const char *dir, unsigned depth)
{
	g_autoptr(GPtrArray) names = NULL;
	g_autofree char *key = NULL;
	struct stat st;

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT && errno != ENOTDIR)  /* gone: the change's event reloads */
			spec_error(w->diags, dir, SPEC_NOPOS, "unreadable", "cannot read the folder: %s",
				   g_strerror(errno));
		return;
	}
	key = g_strdup_printf("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
	if (g_hash_table_contains(w->seen_dirs, key))
		return;  /* a loop through a symlink inside the tree */
	g_hash_table_add(w->seen_dirs, g_steal_pointer(&key));
	if (depth > SPEC_MAX_DIR_DEPTH) {
		spec_error(w->diags, dir, SPEC_NOPOS, "too-deep",
			   "folders nested deeper than %d levels", SPEC_MAX_DIR_DEPTH);
		return;
	}
	names = dir_names(dir, w->diags);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *path = g_build_filename(dir, names->pdata[i], NULL);

		walk_entry(w, path, names->pdata[i], depth);
	}
}

/* Whether open file @fd is inside the source, by the path the kernel has
 * for it. */
static bool
opened_inside_root(walker *w, int fd)
{
	g_autofree char *link = g_strdup_printf("/proc/self/fd/%d", fd);
	g_autofree char *real = g_file_read_link(link, NULL);
	size_t n = strlen(w->real_root);

	return real && strncmp(real, w->real_root, n) == 0 &&
	       (real[n] == '/' || strcmp(w->real_root, "/") == 0);
}

/*
 * A file beside spec file @file: resolved in @file's folder, refused if
 * its real path leaves the source (a symlink out), read like a spec file
 * (never blocking on a FIFO, never past the cap).
 */
static GBytes *
read_beside(void *ctx, const char *file, const char *rel, char **why)
{
	walker *w = ctx;
	g_autofree char *dir = g_path_get_dirname(file);
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd;

	if (!inside_root(w, path)) {
		*why = g_strdup("its real path is outside the source (a symbolic link out of it); copy the file in");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		/* Where it was looked for: relative to the spec file's folder. */
		*why = g_strdup_printf("%s (looked for '%s')", g_strerror(errno), path);
		return NULL;
	}
	/* The file opened, not the name checked: a link swapped in between
	 * the check and the open is caught here. */
	if (!opened_inside_root(w, fd)) {
		*why = g_strdup("its real path is outside the source (a symbolic link out of it); copy the file in");
		close(fd);
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*why = g_strdup("not a regular file; name a file");
		close(fd);
		return NULL;
	}
	buf = g_malloc(SPEC_MAX_SIDE_FILE_BYTES + 1);
	for (;;) {
		ssize_t n = read(fd, buf + len, SPEC_MAX_SIDE_FILE_BYTES + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = g_strdup(g_strerror(errno));
			close(fd);
			return NULL;
		}
		if (n == 0 || (len += (size_t)n) > SPEC_MAX_SIDE_FILE_BYTES)
			break;
	}
	close(fd);
	return g_bytes_new_take(g_realloc(g_steal_pointer(&buf), len ? len : 1), len);
}

spec_source *
spec_load(const char *path, spec_diags *diags)
{
	g_autofree char *root = g_strdup(path);
	walker w = { .diags = diags };
	unsigned errors = diags->errors;
	struct stat st;
	size_t n = strlen(root);

	/* "examples/webstack/" and "examples/webstack" name the same files. */
	while (n > 1 && root[n - 1] == '/')
		root[--n] = '\0';
	w.src = spec_source_new(root);
	if (stat(root, &st) < 0) {
		spec_error(diags, root, SPEC_NOPOS, "unreadable",
			   "cannot read: %s", g_strerror(errno));
	} else if (!S_ISDIR(st.st_mode)) {
		g_autofree char *dir = g_path_get_dirname(root);

		/* One file: what it names beside itself is in its folder. */
		w.real_root = realpath(dir, NULL);
		load_file(&w, root);
	} else {
		w.real_root = realpath(root, NULL);
		w.seen_dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
		walk_dir(&w, root, 0);
		g_hash_table_unref(w.seen_dirs);
	}
	w.src->load_errors = diags->errors - errors;
	if (w.real_root)
		spec_read_side_files(w.src, read_beside, &w, diags);
	else  /* unreadable: said above; a file it names is said too */
		spec_read_side_files(w.src, NULL, NULL, diags);
	free(w.real_root);
	return w.src;
}
