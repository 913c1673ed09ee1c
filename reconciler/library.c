/*
 * library.c - a template library's index, and images in and out of it
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json_in.h"
#include "library.h"

#define INDEX "index.json"
/* What makes a folder without an index a library (a new one): a share not
 * mounted is an empty folder on the local disk, where nothing may land. */
#define MARKER "strata-library"
#define LOCK ".index.lock"
#define FORMAT 1
/* An index is a list, not an archive: bigger than this is not one. */
#define INDEX_MAX (16 << 20)
/* How long an export waits for another installation's index update. */
#define LOCK_WAIT_S 60

/*
 * Everything in the library is opened beneath its folder's descriptor
 * with openat2: no symlink and no ".." on the way, so that whoever can
 * write the share cannot send a read or a write (as root) elsewhere.
 */
static int
beneath(int root, const char *rel, int flags, mode_t mode)
{
	struct open_how how = { .flags = (guint64)(flags | O_CLOEXEC), .mode = mode,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };

	return (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
}

static int
open_root(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "library folder %s: %s (is the share mounted?)",
			    path, g_strerror(errno));
	return fd;
}

/* Whether the folder @root holds an index or the marker: a library,
 * not a share that is not mounted. */
static bool
is_library(int root, const char *path, GError **error)
{
	struct stat st;

	if (fstatat(root, INDEX, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
	    fstatat(root, MARKER, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	if (errno != ENOENT) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "library folder %s: %s", path, g_strerror(errno));
		return false;
	}
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "library folder %s holds neither %s nor the marker "
		    "file %s: if it is a share, it is not mounted (nothing is written to the local disk under "
		    "its mount point); for a new library, create the marker: touch %s/%s", path, INDEX, MARKER,
		    path, MARKER);
	return false;
}

/* A regular file beneath @root, opened without blocking (a FIFO would
 * hold the caller), or -1 and why. */
static int
open_regular(int root, const char *rel, const char *path, GError **error)
{
	int fd = beneath(root, rel, O_RDONLY | O_NONBLOCK, 0);
	struct stat st;

	if (fd < 0) {
		g_set_error(error, VIRT_ERROR, errno == ENOENT ? VIRT_ERROR_NOT_FOUND : VIRT_ERROR_FAILED,
			    "%s/%s: %s%s", path, rel, g_strerror(errno),
			    errno == ELOOP || errno == EXDEV ? " (a symlink or a path out of the library: refused)" : "");
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s/%s: not a regular file", path, rel);
		close(fd);
		return -1;
	}
	return fd;
}

/* At most @max bytes of a regular file beneath @root. */
static char *
read_regular(int root, const char *rel, const char *path, gsize max, gsize *len, GError **error)
{
	int fd = open_regular(root, rel, path, error);
	GString *s;
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		return NULL;
	s = g_string_new(NULL);
	while ((n = read(fd, buf, sizeof(buf))) > 0 && s->len <= max)
		g_string_append_len(s, buf, n);
	close(fd);
	if (n < 0 || s->len > max) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s/%s: %s", path, rel,
			    n < 0 ? g_strerror(errno) : "too large for an index");
		g_string_free(s, TRUE);
		return NULL;
	}
	*len = s->len;
	return g_string_free(s, FALSE);
}

static void
disk_free(gpointer p)
{
	lib_disk *d = p;

	g_free(d->file);
	g_free(d->format);
	g_free(d->sha256);
	g_free(d);
}

static void
entry_free(gpointer p)
{
	lib_entry *e = p;

	g_free(e->name);
	g_free(e->made);
	g_free(e->made_by);
	g_ptr_array_unref(e->disks);
	g_free(e);
}

void
lib_index_free(lib_index *x)
{
	if (!x)
		return;
	g_free(x->name);
	g_free(x->path);
	g_ptr_array_unref(x->entries);
	g_free(x->error);
	g_free(x);
}

static lib_index *
index_new(const char *name, const char *path)
{
	lib_index *x = g_new0(lib_index, 1);

	x->name = g_strdup(name);
	x->path = g_strdup(path);
	x->entries = g_ptr_array_new_with_free_func(entry_free);
	return x;
}

/* ---- reading, strictly ------------------------------------------------- */

typedef json_in reader;

static bool
is_hex64(const char *s)
{
	return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* A file named by the index stays in the folder: relative, no "..", no
 * control characters. */
static bool
safe_file(const char *f)
{
	g_auto(GStrv) parts = NULL;

	if (!*f || f[0] == '/' || strlen(f) > 1024)
		return false;
	for (const char *c = f; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == '\\')
			return false;
	parts = g_strsplit(f, "/", -1);
	for (guint i = 0; parts[i]; i++)
		if (!*parts[i] || strcmp(parts[i], ".") == 0 || strcmp(parts[i], "..") == 0)
			return false;
	return true;
}

static lib_disk *
read_disk(reader *r, JsonNode *n)
{
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
	lib_disk *d;
	const char *file, *format, *sha;

	if (!o) {
		json_in_bad(r, "not an object");
		return NULL;
	}
	d = g_new0(lib_disk, 1);
	if (!(file = json_in_string(r, o, "file")) || !(format = json_in_string(r, o, "format")) ||
	    !(sha = json_in_string(r, o, "sha256")) ||
	    !json_in_uint(r, o, "virtual_size", 1, &d->virtual_size) || !json_in_uint(r, o, "bytes", 0, &d->bytes))
		goto fail;
	if (!safe_file(file)) {
		json_in_bad(r, "file '%s' is not a relative path inside the library", file);
		goto fail;
	}
	if (strcmp(format, "qcow2") != 0 && strcmp(format, "raw") != 0) {
		json_in_bad(r, "format '%s' is neither qcow2 nor raw", format);
		goto fail;
	}
	if (!is_hex64(sha)) {
		json_in_bad(r, "sha256 is not 64 lowercase hexadecimal digits");
		goto fail;
	}
	d->file = g_strdup(file);
	d->format = g_strdup(format);
	d->sha256 = g_strdup(sha);
	return d;
fail:
	disk_free(d);
	return NULL;
}

static lib_entry *
read_entry(reader *r, JsonNode *n)
{
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
	JsonNode *disks;
	lib_entry *e;
	const char *name, *made;
	const char *by;
	uint64_t version, cpus;

	if (!o) {
		json_in_bad(r, "not an object");
		return NULL;
	}
	e = g_new0(lib_entry, 1);
	e->disks = g_ptr_array_new_with_free_func(disk_free);
	if (!(name = json_in_string(r, o, "name")) || !(made = json_in_string(r, o, "made")) ||
	    !json_in_uint(r, o, "version", 1, &version) || !json_in_uint(r, o, "cpus", 1, &cpus) ||
	    !json_in_uint(r, o, "memory", 1, &e->memory))
		goto fail;
	if (version > G_MAXUINT || cpus > 1024) {
		json_in_bad(r, "version or cpus out of range");
		goto fail;
	}
	e->name = g_strdup(name);
	e->made = g_strdup(made);
	by = json_object_has_member(o, "made_by") ? json_in_string(r, o, "made_by") : NULL;
	e->made_by = g_strdup(by);
	e->version = (unsigned)version;
	e->cpus = (unsigned)cpus;
	disks = json_object_get_member(o, "disks");
	json_in_enter(r, "disks");
	if (!disks || !JSON_NODE_HOLDS_ARRAY(disks) || !json_array_get_length(json_node_get_array(disks))) {
		json_in_bad(r, "not a list of at least one disk");
		goto fail;
	}
	for (guint i = 0; i < json_array_get_length(json_node_get_array(disks)); i++) {
		gsize old = r->where->len;
		lib_disk *d;

		g_string_append_printf(r->where, "[%u]", i);
		d = read_disk(r, json_array_get_element(json_node_get_array(disks), i));
		if (!d)
			goto fail;
		g_ptr_array_add(e->disks, d);
		g_string_truncate(r->where, old);
	}
	return e;
fail:
	entry_free(e);
	return NULL;
}

static void
read_templates(reader *r, lib_index *x, JsonNode *root)
{
	JsonObject *o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
	JsonNode *list;
	uint64_t format;

	if (!o) {
		json_in_bad(r, "not an object");
		return;
	}
	if (!json_in_uint(r, o, "format", 1, &format))
		return;
	if (format != FORMAT) {
		json_in_bad(r, "format %" G_GUINT64_FORMAT " is not one this strata reads (%d)", format, FORMAT);
		return;
	}
	list = json_object_get_member(o, "templates");
	json_in_enter(r, "templates");
	if (!list || !JSON_NODE_HOLDS_ARRAY(list)) {
		json_in_bad(r, "not a list");
		return;
	}
	for (guint i = 0; i < json_array_get_length(json_node_get_array(list)); i++) {
		gsize old = r->where->len;
		lib_entry *e;

		g_string_append_printf(r->where, "[%u]", i);
		e = read_entry(r, json_array_get_element(json_node_get_array(list), i));
		if (!e)
			return;
		if (lib_index_find(x, e->name, e->version)) {
			json_in_bad(r, "template '%s' version %u is listed twice", e->name, e->version);
			entry_free(e);
			return;
		}
		g_ptr_array_add(x->entries, e);
		g_string_truncate(r->where, old);
	}
}

lib_index *
lib_index_parse(const char *name, const char *path, const char *what, const char *json, gssize len)
{
	lib_index *x = index_new(name, path);
	g_autoptr(JsonParser) p = json_parser_new_immutable();
	g_autoptr(GError) err = NULL;
	reader r;

	json_in_init(&r, what);
	if (!json_in_parse(p, what, json, len, &err))
		r.error = g_strdup(err->message);
	else
		read_templates(&r, x, json_parser_get_root(p));
	if (r.error) {
		g_ptr_array_set_size(x->entries, 0);
		x->error = g_strdup_printf("%s; fix or restore the index (strata reads nothing from a "
					   "library it cannot read, and writes nothing to it)", r.error);
		g_free(r.error);
	}
	json_in_release(&r);
	return x;
}

static lib_index *
index_read_at(int root, const char *name, const char *path)
{
	g_autofree char *file = g_build_filename(path, INDEX, NULL);
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	gsize len = 0;
	lib_index *x;

	text = read_regular(root, INDEX, path, INDEX_MAX, &len, &err);
	if (!text && g_error_matches(err, VIRT_ERROR, VIRT_ERROR_NOT_FOUND)) {
		x = index_new(name, path);  /* nothing exported yet, or not mounted */
		g_clear_error(&err);
		if (!is_library(root, path, &err))
			x->error = g_strdup(err->message);
		return x;
	}
	if (!text) {
		x = index_new(name, path);
		x->error = g_strdup(err->message);
		return x;
	}
	return lib_index_parse(name, path, file, text, (gssize)len);
}

lib_index *
lib_index_unknown(const char *name, const char *path, char *error)
{
	lib_index *x = index_new(name, path);

	x->error = error;
	return x;
}

lib_index *
lib_index_read(const char *name, const char *path)
{
	g_autoptr(GError) err = NULL;
	int root = open_root(path, &err);
	lib_index *x;

	if (root < 0) {
		x = index_new(name, path);
		x->error = g_strdup(err->message);
		return x;
	}
	x = index_read_at(root, name, path);
	close(root);
	return x;
}

const lib_entry *
lib_index_find(const lib_index *x, const char *name, unsigned version)
{
	for (guint i = 0; i < x->entries->len; i++) {
		const lib_entry *e = x->entries->pdata[i];

		if (e->version == version && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

char *
lib_index_versions(const lib_index *x, const char *name)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < x->entries->len; i++) {
		const lib_entry *e = x->entries->pdata[i];

		if (strcmp(e->name, name) == 0)
			g_string_append_printf(s, "%s%u", s->len ? ", " : "", e->version);
	}
	if (!s->len)
		g_string_append(s, "none");
	return g_string_free(s, FALSE);
}

/* ---- writing ----------------------------------------------------------- */

static void
build_entry(JsonBuilder *b, const lib_entry *e)
{
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "name");
	json_builder_add_string_value(b, e->name);
	json_builder_set_member_name(b, "version");
	json_builder_add_int_value(b, e->version);
	json_builder_set_member_name(b, "cpus");
	json_builder_add_int_value(b, e->cpus);
	json_builder_set_member_name(b, "memory");
	json_builder_add_int_value(b, (gint64)e->memory);
	json_builder_set_member_name(b, "made");
	json_builder_add_string_value(b, e->made);
	if (e->made_by) {
		json_builder_set_member_name(b, "made_by");
		json_builder_add_string_value(b, e->made_by);
	}
	json_builder_set_member_name(b, "disks");
	json_builder_begin_array(b);
	for (guint i = 0; i < e->disks->len; i++) {
		const lib_disk *d = e->disks->pdata[i];

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "file");
		json_builder_add_string_value(b, d->file);
		json_builder_set_member_name(b, "format");
		json_builder_add_string_value(b, d->format);
		json_builder_set_member_name(b, "virtual_size");
		json_builder_add_int_value(b, (gint64)d->virtual_size);
		json_builder_set_member_name(b, "bytes");
		json_builder_add_int_value(b, (gint64)d->bytes);
		json_builder_set_member_name(b, "sha256");
		json_builder_add_string_value(b, d->sha256);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
}

JsonNode *
lib_index_to_json(const lib_index *x)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "format");
	json_builder_add_int_value(b, FORMAT);
	json_builder_set_member_name(b, "templates");
	json_builder_begin_array(b);
	for (guint i = 0; i < x->entries->len; i++)
		build_entry(b, x->entries->pdata[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);
	return json_builder_get_root(b);
}

/* A new file beneath @dir with a name no one can guess ahead. */
static int
create_temp(int dir, const char *stem, char **name, GError **error)
{
	for (int i = 0; i < 8; i++) {
		int fd;

		g_free(*name);
		*name = g_strdup_printf(".%s.partial-%08x%08x", stem, g_random_int(), g_random_int());
		fd = beneath(dir, *name, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : (g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
							   "cannot create a file in the library: %s",
							   g_strerror(errno)), -1);
	}
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot create a file in the library");
	return -1;
}

static bool
write_all(int fd, const char *text, size_t n)
{
	while (n) {
		ssize_t w = write(fd, text, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		text += w;
		n -= (size_t)w;
	}
	return true;
}

/* The index with @x's entries, written whole beside it and renamed over
 * it: a reader sees the old index or the new, never half. */
static bool
index_write(int root, const lib_index *x, GError **error)
{
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) top = lib_index_to_json(x);
	g_autofree char *file = g_build_filename(x->path, INDEX, NULL);
	g_autofree char *text = NULL, *tmp = NULL;
	bool ok;
	int fd;

	json_generator_set_root(g, top);
	json_generator_set_pretty(g, TRUE);
	text = json_generator_to_data(g, NULL);
	fd = create_temp(root, INDEX, &tmp, error);
	if (fd < 0)
		return false;
	ok = write_all(fd, text, strlen(text)) && fsync(fd) == 0;
	close(fd);
	if (ok && renameat(root, tmp, root, INDEX) == 0 && fsync(root) == 0)
		return true;
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot write %s: %s", file, g_strerror(errno));
	unlinkat(root, tmp, 0);
	return false;
}

/* The index lock, waited for LOCK_WAIT_S at most: another installation
 * that holds it longer is stuck, and this export fails saying so. */
static int
lock_index(int root, const char *path, GError **error)
{
	int fd = beneath(root, LOCK, O_RDWR | O_CREAT, 0644);

	for (int i = 0; fd >= 0 && i < LOCK_WAIT_S * 10; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK)
			break;
		g_usleep(100 * 1000);
	}
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot lock library %s: %s", path,
		    fd < 0 || errno != EWOULDBLOCK ? g_strerror(errno) : "held by another for over a minute");
	if (fd >= 0)
		close(fd);
	return -1;
}

static char *
now_iso(void)
{
	g_autoptr(GDateTime) t = g_date_time_new_now_utc();

	return g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ");
}

/* Under the lock: add @e unless the index has it already; the images,
 * @tmp[i] in @dir, are renamed to @final[i] there first. */
static bool
index_add(int root, const char *path, int dir, char **tmp, char **final, lib_entry *e, GError **error)
{
	int lock = lock_index(root, path, error);
	g_autoptr(lib_index) x = NULL;
	bool ok = false;
	guint i;

	if (lock < 0)
		return false;
	x = index_read_at(root, "", path);
	if (x->error) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s", x->error);
		goto out;
	}
	if (lib_index_find(x, e->name, e->version)) {
		ok = true;  /* exported meanwhile by another installation: theirs stands */
		for (i = 0; tmp[i]; i++)
			unlinkat(dir, tmp[i], 0);
		goto out;
	}
	for (i = 0; tmp[i]; i++) {
		if (renameat(dir, tmp[i], dir, final[i]) < 0) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot move %s into place in %s: %s",
				    final[i], path, g_strerror(errno));
			while (i-- > 0)  /* no image without its entry */
				unlinkat(dir, final[i], 0);
			goto out;
		}
	}
	g_ptr_array_add(x->entries, e);
	ok = index_write(root, x, error);
	g_ptr_array_steal_index(x->entries, x->entries->len - 1);
out:
	close(lock);
	return ok;
}

/* @root/@name, made if missing, opened beneath @root. */
static int
subdir(int root, const char *name, const char *path, GError **error)
{
	int fd;

	if (mkdirat(root, name, 0755) < 0 && errno != EEXIST) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot make %s/%s: %s", path, name,
			    g_strerror(errno));
		return -1;
	}
	fd = beneath(root, name, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "%s/%s: %s%s", path, name, g_strerror(errno),
			    errno == ELOOP || errno == EXDEV || errno == ENOTDIR ?
			    " (a symlink, or not a folder: refused)" : "");
	return fd;
}

/* Disk @i of @x streamed into a new temporary file in @vdir: its
 * checksum and sizes added to @e's disks; *@tmp names the file. */
static bool
export_disk(const lib_export_of *x, guint i, virt_host *h, int vdir, const char *rel, const char *final,
	    char **tmp, lib_entry *e, virt_copy *out, GError **error)
{
	virt_copy one = { 0 };
	lib_disk *d;
	int fd = create_temp(vdir, final, tmp, error);
	bool ok;

	if (fd < 0)
		return false;
	ok = virt_vol_download_file(h, x->pool, x->volumes[i], fd, &one, error);
	close(fd);
	if (!ok)
		return false;
	d = g_new0(lib_disk, 1);
	d->file = g_strdup(rel);
	d->format = g_strdup(x->formats[i]);
	d->virtual_size = x->sizes[i];
	d->bytes = one.length;
	d->sha256 = g_strdup(one.sha256);
	g_ptr_array_add(e->disks, d);
	if (i == 0)  /* the op's checksum is the system disk's */
		memcpy(out->sha256, one.sha256, sizeof(out->sha256));
	out->length += one.length;
	out->moved += one.moved;
	out->sparse = one.sparse;
	return true;
}

bool
lib_export(const char *path, virt_host *h, const lib_export_of *x, virt_copy *out, GError **error)
{
	g_autofree char *ver = g_strdup_printf("%u", x->version);
	g_autoptr(GPtrArray) tmp = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GPtrArray) final = g_ptr_array_new_with_free_func(g_free);
	int root = -1, tdir = -1, vdir = -1;
	lib_entry e = { .name = (char *)x->template, .version = x->version, .cpus = x->cpus,
			.memory = x->memory, .made_by = (char *)x->host };
	bool ok = false;

	memset(out, 0, sizeof(*out));
	e.disks = g_ptr_array_new_with_free_func(disk_free);
	if ((root = open_root(path, error)) < 0 || !is_library(root, path, error) ||
	    (tdir = subdir(root, x->template, path, error)) < 0 || (vdir = subdir(tdir, ver, path, error)) < 0)
		goto out;
	ok = true;
	for (guint i = 0; ok && i < x->n; i++) {
		g_autofree char *rel = NULL;
		char *name = g_strdup_printf("disk%u.%s", i, x->formats[i]);
		char *t = NULL;

		g_ptr_array_add(final, name);
		rel = g_strdup_printf("%s/%s/%s", x->template, ver, name);
		ok = export_disk(x, i, h, vdir, rel, name, &t, &e, out, error);
		if (t)
			g_ptr_array_add(tmp, t);
	}
	g_ptr_array_add(tmp, NULL);
	g_ptr_array_add(final, NULL);
	if (ok) {
		e.made = now_iso();
		ok = index_add(root, path, vdir, (char **)tmp->pdata, (char **)final->pdata, &e, error);
		g_free(e.made);
	} else {
		g_prefix_error(error, "nothing was added to the library: ");
	}
	for (guint i = 0; !ok && tmp->pdata[i]; i++)
		unlinkat(vdir, tmp->pdata[i], 0);
out:
	g_ptr_array_unref(e.disks);
	for (int *f = (int[]){ vdir, tdir, root }, k = 0; k < 3; k++)
		if (f[k] >= 0)
			close(f[k]);
	return ok;
}

bool
lib_import(const char *path, const char *file, virt_host *dst, const char *pool, const char *volume,
	   const char *sha256, virt_copy *out, GError **error)
{
	g_autofree char *what = g_build_filename(path, file, NULL);
	int root = open_root(path, error);
	int fd = root < 0 ? -1 : open_regular(root, file, path, error);
	bool ok = false;

	if (fd >= 0) {
		ok = virt_vol_upload_file(fd, what, dst, pool, volume, sha256, out, error);
		close(fd);
	}
	if (root >= 0)
		close(root);
	return ok;
}
