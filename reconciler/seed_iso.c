/*
 * seed_iso.c - a cloud-init NoCloud seed, as an ISO 9660 image
 *
 * See seed_iso.h.  libarchive's writer keeps its work in a temporary file
 * of its own (unlinked at once, in $TMPDIR); the image comes back here in
 * memory, the data never in a named file.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <string.h>

#include "seed_iso.h"

static la_ssize_t
append(struct archive *a, void *ctx, const void *buf, size_t n)
{
	(void)a;
	g_byte_array_append(ctx, buf, (guint)n);
	return (la_ssize_t)n;
}

static bool
fail(GError **error, struct archive *a, const char *what)
{
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot %s the cloud-init seed image: %s",
		    what, archive_error_string(a) ? archive_error_string(a) : "unknown error");
	return false;
}

static bool
add_file(struct archive *a, const char *name, GBytes *data, GError **error)
{
	struct archive_entry *e = archive_entry_new();
	gsize n = 0;
	const void *p = g_bytes_get_data(data, &n);
	bool ok;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0444);
	archive_entry_set_size(e, (la_int64_t)n);
	/* A fixed time for the files (libarchive stamps the volume itself
	 * with the build's time: the digest is of the data, not the image). */
	archive_entry_set_mtime(e, 0, 0);
	ok = archive_write_header(a, e) == ARCHIVE_OK &&
	     (n == 0 || archive_write_data(a, p, n) == (la_ssize_t)n);
	archive_entry_free(e);
	return ok || fail(error, a, "build");
}

GBytes *
seed_iso_build(GBytes *const parts[SPEC_SEED_PARTS], GError **error)
{
	struct archive *a = archive_write_new();
	GByteArray *out = g_byte_array_new();
	bool ok;

	ok = archive_write_set_format_iso9660(a) == ARCHIVE_OK &&
	     archive_write_set_option(a, "iso9660", "volume-id", SEED_ISO_LABEL) == ARCHIVE_OK &&
	     archive_write_set_option(a, "iso9660", "joliet", "1") == ARCHIVE_OK &&
	     archive_write_set_option(a, "iso9660", "rockridge", "1") == ARCHIVE_OK &&
	     /* No 300 KiB of trailing zeros for old CD drives' read-ahead. */
	     archive_write_set_option(a, "iso9660", "pad", NULL) == ARCHIVE_OK &&
	     archive_write_set_bytes_in_last_block(a, 1) == ARCHIVE_OK &&
	     archive_write_open2(a, out, NULL, append, NULL, NULL) == ARCHIVE_OK;
	if (!ok)
		fail(error, a, "set up");
	for (int i = 0; ok && i < SPEC_SEED_PARTS; i++)
		if (parts[i])
			ok = add_file(a, spec_seed_files[i], parts[i], error);
	if (ok && archive_write_close(a) != ARCHIVE_OK)
		ok = fail(error, a, "finish");
	archive_write_free(a);
	if (!ok) {
		g_byte_array_free(out, TRUE);
		return NULL;
	}
	return g_byte_array_free_to_bytes(out);
}

GHashTable *
seed_iso_read(GBytes *iso, char **label, GError **error)
{
	GHashTable *files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						  (GDestroyNotify)g_bytes_unref);
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	gsize n = 0;
	const void *p = g_bytes_get_data(iso, &n);
	int rc;

	*label = NULL;
	archive_read_support_format_iso9660(a);
	if (archive_read_open_memory(a, p, n) != ARCHIVE_OK) {
		fail(error, a, "read");
		goto fail;
	}
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		la_int64_t size = archive_entry_size(e);
		g_autofree char *buf = NULL;

		if (archive_entry_filetype(e) != AE_IFREG)
			continue;
		buf = g_malloc((gsize)size + 1);
		if (archive_read_data(a, buf, (size_t)size) != size) {
			fail(error, a, "read");
			goto fail;
		}
		g_hash_table_insert(files, g_strdup(archive_entry_pathname(e)),
				    g_bytes_new(buf, (gsize)size));
	}
	if (rc != ARCHIVE_EOF) {
		fail(error, a, "read");
		goto fail;
	}
	archive_read_free(a);
	/* The primary descriptor's volume identifier: 32 bytes at 16*2048+40. */
	if (n >= 16 * 2048 + 72)
		*label = g_strchomp(g_strndup((const char *)p + 16 * 2048 + 40, 32));
	return files;
fail:
	archive_read_free(a);
	g_hash_table_unref(files);
	return NULL;
}
