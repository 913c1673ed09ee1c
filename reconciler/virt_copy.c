/*
 * virt_copy.c - a volume copied from one host to another through strata
 *
 * The image leaves the source host by libvirt's volume download stream and
 * enters the destination by its upload stream, both sparse where the pools
 * allow: a hole crosses as its length, not as zeros.  No shell on either
 * host, no file on this machine.  Its SHA-256 is computed on the way (holes
 * read as zeros, so it is the checksum sha256sum gives for the file), with
 * GnuTLS: GLib's GChecksum hashes ~290 MB/s here, GnuTLS (SHA-NI) ~1,600,
 * and the hash is on the path of every byte.
 *
 * The destination volume is made empty and raw, and the bytes written into
 * it are the source's exactly; a pool refresh then lets libvirt read its
 * real format from its content (file pools do).  Whatever goes wrong after
 * it was made, it is deleted: a half-copied base must never be built on.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virt_internal.h"

/* out_fd for a copy that is only hashed. */
#define DISCARD (-2)

/* libvirt's largest stream message payload. */
#define CHUNK (256 * 1024)

static const char zeros[CHUNK];

typedef struct {
	virt_host *src, *dst;      /* NULL: that end is a file */
	const char *pool;
	const char *name;
	const char *from_what;     /* the source, for messages */
	virStorageVolPtr from;
	virStorageVolPtr to;       /* made on the destination: deleted on failure */
	virStreamPtr in, out;
	int in_fd, out_fd;         /* the file ends, else -1 */
	off_t in_pos, in_size, out_pos;
	gnutls_hash_hd_t hash;
	virt_copy *res;
} copy_job;

static bool
hash_zeros(copy_job *c, uint64_t n)
{
	while (n) {
		size_t k = MIN(n, (uint64_t)CHUNK);

		if (gnutls_hash(c->hash, zeros, k) < 0)
			return false;
		n -= k;
	}
	return true;
}

static bool
send_all(copy_job *c, const char *buf, size_t n, GError **error)
{
	while (n) {
		int k;

		virt_count(c->dst);
		k = virStreamSend(c->out, buf, n);
		if (k < 0)
			return virt_fail(error, "cannot write to volume", c->name);
		buf += k;
		n -= (size_t)k;
	}
	return true;
}

/*
 * Three threads, so that reading from the source, hashing and writing to
 * the destination overlap, as the processes of a shell pipe do: in one
 * thread a 1 GiB copy took 4.5 s, against 2.2-3.7 s for `virsh
 * vol-download | virsh vol-upload` (which hashes nothing).  The caller's
 * thread receives into chunks and hands each to a sender and to a hasher,
 * each taking them in order; the last of the two to be done with a chunk
 * gives it back.  PIPE_CHUNKS bounds the memory (4 MiB).
 */
#define PIPE_CHUNKS 16

typedef struct {
	char *buf;
	int n;              /* bytes of data in buf; 0 with hole > 0: a hole */
	long long hole;
	bool end;           /* no more: the sender and the hasher stop */
	gint users;         /* atomic: of the sender and the hasher, those not done */
} chunk;

typedef struct {
	copy_job *c;
	GAsyncQueue *to_send;  /* chunk *: received, to send */
	GAsyncQueue *to_hash;  /* chunk *: received, to hash */
	GAsyncQueue *empty;    /* chunk *: free */
	gint failed;           /* atomic: the sender or the hasher failed; all stop */
	GError *error;         /* the sender's, read after the joins */
	bool hash_failed;      /* the hasher's, read after the joins */
} pipeline;

static void
chunk_done(pipeline *pl, chunk *k)
{
	if (g_atomic_int_dec_and_test(&k->users))
		g_async_queue_push(pl->empty, k);
}

/* Into a file (or nowhere, for a copy only hashed): a hole is skipped
 * (the file stays sparse there), data is written at its place. */
static bool
write_file_chunk(pipeline *pl, const chunk *k)
{
	copy_job *c = pl->c;
	size_t done = 0;

	while (c->out_fd >= 0 && !k->hole && done < (size_t)k->n) {
		ssize_t w = pwrite(c->out_fd, k->buf + done, (size_t)k->n - done, c->out_pos + (off_t)done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			g_set_error(&pl->error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot write the copy of %s: %s",
				    c->name, g_strerror(errno));
			return false;
		}
		done += (size_t)w;
	}
	c->out_pos += k->hole ? k->hole : k->n;
	return true;
}

static bool
send_chunk(pipeline *pl, const chunk *k)
{
	copy_job *c = pl->c;

	if (c->out_fd >= 0 || c->out_fd == DISCARD) {
		if (!write_file_chunk(pl, k))
			return false;
	} else if (k->hole) {
		virt_count(c->dst);
		if (virStreamSendHole(c->out, k->hole, 0) < 0)
			return virt_fail(&pl->error, "cannot write to volume", c->name);
	} else if (!send_all(c, k->buf, (size_t)k->n, &pl->error)) {
		return false;
	}
	c->res->length += k->hole ? (uint64_t)k->hole : (uint64_t)k->n;
	c->res->moved += k->hole ? 0 : (uint64_t)k->n;
	return true;
}

/* The sender: c->out, c->out_pos, c->res's counts are its alone until
 * the reader has joined it. */
static gpointer
sender(gpointer data)
{
	pipeline *pl = data;

	for (;;) {
		chunk *k = g_async_queue_pop(pl->to_send);
		bool end = k->end;

		if (!end && !g_atomic_int_get(&pl->failed) && !send_chunk(pl, k))
			g_atomic_int_set(&pl->failed, 1);
		chunk_done(pl, k);
		if (end)
			return NULL;
	}
}

/* The hasher: c->hash is its alone until the reader has joined it. */
static gpointer
hasher(gpointer data)
{
	pipeline *pl = data;

	for (;;) {
		chunk *k = g_async_queue_pop(pl->to_hash);
		bool end = k->end;

		if (!end && !pl->hash_failed &&
		    (k->hole ? !hash_zeros(pl->c, (uint64_t)k->hole)
			     : gnutls_hash(pl->c->hash, k->buf, (size_t)k->n) < 0)) {
			pl->hash_failed = true;
			g_atomic_int_set(&pl->failed, 1);
		}
		chunk_done(pl, k);
		if (end)
			return NULL;
	}
}

static bool
file_failed(copy_job *c, const char *what, GError **error)
{
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot %s %s: %s", what, c->from_what,
		    g_strerror(errno));
	return false;
}

/* From a file: its holes as holes (SEEK_DATA/SEEK_HOLE), its data in
 * chunks. */
static bool
read_file_chunk(copy_job *c, chunk *k, GError **error)
{
	off_t data, hole;
	ssize_t n;

	if (c->in_pos >= c->in_size) {
		k->end = true;
		return true;
	}
	data = lseek(c->in_fd, c->in_pos, SEEK_DATA);
	if (data < 0 && errno != ENXIO)
		return file_failed(c, "read", error);
	if (data < 0 || data > c->in_pos) {  /* a hole, to the end if no data follows */
		k->hole = (data < 0 ? c->in_size : data) - c->in_pos;
		c->in_pos += k->hole;
		return true;
	}
	hole = lseek(c->in_fd, c->in_pos, SEEK_HOLE);
	if (hole < 0)
		return file_failed(c, "read", error);
	do
		n = pread(c->in_fd, k->buf, (size_t)MIN((off_t)CHUNK, hole - c->in_pos), c->in_pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return file_failed(c, "read", error);
	if (n == 0) {  /* shorter than it was: the file changed under us */
		errno = EIO;
		return file_failed(c, "read all of", error);
	}
	k->n = (int)n;
	c->in_pos += n;
	return true;
}

/* Receive one chunk into @k: data, a hole, or the end. */
static bool
read_chunk(copy_job *c, chunk *k, GError **error)
{
	unsigned flags = c->res->sparse ? VIR_STREAM_RECV_STOP_AT_HOLE : 0;
	int n;

	k->n = 0;
	k->hole = 0;
	k->end = false;
	if (c->in_fd >= 0)
		return read_file_chunk(c, k, error);
	virt_count(c->src);
	n = virStreamRecvFlags(c->in, k->buf, CHUNK, flags);
	if (n == -3) {
		virt_count(c->src);
		if (virStreamRecvHole(c->in, &k->hole, 0) < 0)
			return virt_fail(error, "cannot read from volume", c->name);
		return true;
	}
	if (n < 0)
		return virt_fail(error, "cannot read from volume", c->name);
	k->n = n;
	k->end = n == 0;
	return true;
}

/* Data and holes from @in to @out, hashed on the way, until the end. */
static bool
pump(copy_job *c, GError **error)
{
	pipeline pl = { .c = c, .to_send = g_async_queue_new(), .to_hash = g_async_queue_new(),
			.empty = g_async_queue_new() };
	chunk chunks[PIPE_CHUNKS];
	GThread *ts, *th;
	bool ok = true;
	chunk *k;

	for (int i = 0; i < PIPE_CHUNKS; i++) {
		chunks[i].buf = g_malloc(CHUNK);
		g_async_queue_push(pl.empty, &chunks[i]);
	}
	ts = g_thread_new("strata-send", sender, &pl);
	th = g_thread_new("strata-hash", hasher, &pl);
	for (;;) {
		k = g_async_queue_pop(pl.empty);
		g_atomic_int_set(&k->users, 2);
		if (g_atomic_int_get(&pl.failed) || !(ok = read_chunk(c, k, error)))
			k->end = true;  /* the sender and the hasher stop; so do we */
		g_async_queue_push(pl.to_send, k);
		g_async_queue_push(pl.to_hash, k);
		if (k->end)
			break;
	}
	g_thread_join(ts);
	g_thread_join(th);
	if (ok && pl.error) {
		g_propagate_error(error, pl.error);
		ok = false;
	} else if (pl.error) {
		g_error_free(pl.error);
	}
	if (ok && pl.hash_failed) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot hash volume '%s'", c->name);
		ok = false;
	}
	for (int i = 0; i < PIPE_CHUNKS; i++)
		g_free(chunks[i].buf);
	g_async_queue_unref(pl.to_send);
	g_async_queue_unref(pl.to_hash);
	g_async_queue_unref(pl.empty);
	return ok;
}

/* The source's download stream, sparse if its pool takes it. */
static bool
open_source(copy_job *c, GError **error)
{
	virStoragePoolPtr p = virt_pool_lookup(c->src, c->pool, error);

	if (!p)
		return false;
	virt_count(c->src);
	c->from = virStorageVolLookupByName(p, c->name);
	if (!c->from)
		virt_fail(error, "no volume", c->name);  /* before the free resets it */
	virStoragePoolFree(p);
	if (!c->from)
		return false;
	for (int sparse = 1; sparse >= 0; sparse--) {
		g_clear_error(error);
		virt_count(c->src);
		c->in = virStreamNew(c->src->conn, 0);
		if (!c->in)
			return virt_fail(error, "cannot open a stream for volume", c->name);
		virt_count(c->src);
		if (virStorageVolDownload(c->from, c->in, 0, 0,
					  sparse ? VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM : 0) == 0) {
			c->res->sparse = sparse;
			return true;
		}
		/* Read before the stream goes: freeing it clears the error.  A
		 * pool that cannot stream sparse is read whole. */
		virt_fail(error, "cannot read volume", c->name);
		virStreamFree(c->in);
		c->in = NULL;
	}
	return false;
}

/* An empty raw file of the name on the destination, and its upload stream. */
static bool
open_destination(copy_job *c, GError **error)
{
	virStoragePoolPtr p = virt_pool_lookup(c->dst, c->pool, error);
	g_autofree char *xml = NULL;
	g_autofree char *esc = g_markup_escape_text(c->name, -1);

	if (!p)
		return false;
	xml = g_strdup_printf("<volume><name>%s</name><capacity unit='bytes'>0</capacity>"
			      "<allocation unit='bytes'>0</allocation>"
			      "<target><format type='raw'/></target></volume>", esc);
	virt_count(c->dst);
	c->to = virStorageVolCreateXML(p, xml, 0);
	if (!c->to)
		virt_fail(error, "cannot create volume", c->name);  /* before the free resets it */
	virStoragePoolFree(p);
	if (!c->to)
		return false;
	virt_count(c->dst);
	c->out = virStreamNew(c->dst->conn, 0);
	if (!c->out)
		return virt_fail(error, "cannot open a stream for volume", c->name);
	virt_count(c->dst);
	if (virStorageVolUpload(c->to, c->out, 0, 0,
				c->res->sparse ? VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM : 0) < 0) {
		virt_fail(error, "cannot write volume", c->name);
		virStreamFree(c->out);
		c->out = NULL;
		return false;
	}
	return true;
}

static bool
finish(copy_job *c, GError **error)
{
	bool ok = true;

	if (c->out_fd >= 0) {  /* a trailing hole sets the size; then to disk */
		if (ftruncate(c->out_fd, c->out_pos) < 0 || fsync(c->out_fd) < 0) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot write the copy of %s: %s",
				    c->name, g_strerror(errno));
			return false;
		}
	}
	if (!c->in)
		goto out;
	virt_count(c->src);
	ok = virStreamFinish(c->in) == 0 || virt_fail(error, "cannot finish reading volume", c->name);
	virStreamFree(c->in);
	c->in = NULL;
	if (!ok)
		return false;
out:
	if (!c->out)
		return true;
	virt_count(c->dst);
	ok = virStreamFinish(c->out) == 0 || virt_fail(error, "cannot finish writing volume", c->name);
	virStreamFree(c->out);
	c->out = NULL;
	return ok;
}

static void
hex_digest(gnutls_hash_hd_t h, char out[65])
{
	unsigned char d[32];

	gnutls_hash_deinit(h, d);
	for (int i = 0; i < 32; i++)
		g_snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool
checked(copy_job *c, const char *expect, GError **error)
{
	if (!expect || strcmp(expect, c->res->sha256) == 0)
		return true;
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
		    "checksum mismatch for %s/%s from %s: sha256 %s, expected %s",
		    c->pool, c->name, c->from_what, c->res->sha256, expect);
	return false;
}

/*
 * libvirt reads the copy's format from its content.  A refresh that fails
 * (another volume of the pool being built: "asynchronous jobs running")
 * does not undo a verified copy: libvirt refreshes the pool itself when an
 * upload ends, and the next pass observes it.
 */
static bool
refreshed(copy_job *c)
{
	virStoragePoolPtr p = virt_pool_lookup(c->dst, c->pool, NULL);

	if (p) {
		virt_count(c->dst);
		if (virStoragePoolRefresh(p, 0) < 0)
			g_message("%s: pool '%s' not refreshed after copying %s: %s", virt_host_uri(c->dst),
				  c->pool, c->name, virGetLastErrorMessage());
		virStoragePoolFree(p);
	}
	virResetLastError();
	return true;
}

/*
 * The copy, as libvirt now reads it, must have no backing file of its own:
 * checked at the source when planned, but the source may have been
 * rewritten since (a qcow2 header naming /dev/sda would let a VM built on
 * the copy read it).  A declared or recorded checksum already rules that
 * out; without one, this does.
 */
static bool
stands_alone(copy_job *c, GError **error)
{
	char *xml;
	bool alone;

	virt_count(c->dst);
	xml = virStorageVolGetXMLDesc(c->to, 0);
	if (!xml)
		return virt_fail(error, "cannot read the copy", c->name);
	alone = !strstr(xml, "<backingStore");
	free(xml);
	if (!alone)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
			    "the copy of %s/%s has a backing file of its own (its source changed since it was "
			    "checked): strata copies only a base that stands alone", c->pool, c->name);
	return alone;
}

/* Whatever failed, the destination keeps nothing half-made. */
static void
undo(copy_job *c, GError **error)
{
	GError *del = NULL;

	if (c->in) {
		virStreamAbort(c->in);
		virStreamFree(c->in);
	}
	if (c->out) {
		virStreamAbort(c->out);
		virStreamFree(c->out);
	}
	if (!c->to)
		return;
	virt_count(c->dst);
	if (virStorageVolDelete(c->to, 0) == 0) {
		g_prefix_error(error, "the partial copy was deleted: ");
		return;
	}
	virt_fail(&del, "cannot delete", c->name);
	c->res->partial = true;
	g_prefix_error(error, "the partial copy %s/%s could NOT be deleted (%s), and strata will not "
		       "build on it; delete it by hand: ", c->pool, c->name, del->message);
	g_error_free(del);
}

/* Both ends set up in @c (a host or a file each): stream, hash, check. */
static bool
run(copy_job *c, const char *expect_sha256, GError **error)
{
	virt_copy *out = c->res;
	bool ok, partial;

	/* A partial copy an earlier attempt could not delete stays said. */
	partial = out->partial;
	memset(out, 0, sizeof(*out));
	out->partial = partial;
	if (gnutls_hash_init(&c->hash, GNUTLS_DIG_SHA256) < 0) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "no SHA-256 in GnuTLS");
		return false;
	}
	if (c->in_fd >= 0)
		out->sparse = true;  /* a file's holes are found with SEEK_HOLE */
	ok = (c->in_fd >= 0 || open_source(c, error)) &&
	     (c->out_fd >= 0 || c->out_fd == DISCARD || open_destination(c, error)) &&
	     pump(c, error) && finish(c, error);
	hex_digest(c->hash, out->sha256);
	ok = ok && checked(c, expect_sha256, error) &&
	     (c->out_fd >= 0 || c->out_fd == DISCARD || (refreshed(c) && stands_alone(c, error)));
	if (!ok)
		undo(c, error);
	if (c->from)
		virStorageVolFree(c->from);
	if (c->to)
		virStorageVolFree(c->to);
	return ok;
}

bool
virt_vol_copy(virt_host *src, virt_host *dst, const char *pool, const char *name,
	      const char *expect_sha256, virt_copy *out, GError **error)
{
	copy_job c = { .src = src, .dst = dst, .pool = pool, .name = name, .res = out,
		       .from_what = virt_host_uri(src), .in_fd = -1, .out_fd = -1 };

	return run(&c, expect_sha256, error);
}

bool
virt_vol_download_file(virt_host *src, const char *pool, const char *name, int fd,
		       virt_copy *out, GError **error)
{
	copy_job c = { .src = src, .pool = pool, .name = name, .res = out,
		       .from_what = virt_host_uri(src), .in_fd = -1, .out_fd = fd };

	return run(&c, NULL, error);
}

bool
virt_vol_hash(virt_host *h, const char *pool, const char *name, const char *expect_sha256,
	      virt_copy *out, GError **error)
{
	copy_job c = { .src = h, .pool = pool, .name = name, .res = out,
		       .from_what = virt_host_uri(h), .in_fd = -1, .out_fd = DISCARD };

	return run(&c, expect_sha256, error);
}

bool
virt_vol_upload_file(int fd, const char *what, virt_host *dst, const char *pool, const char *name,
		     const char *expect_sha256, virt_copy *out, GError **error)
{
	copy_job c = { .dst = dst, .pool = pool, .name = name, .res = out, .from_what = what,
		       .in_fd = fd, .out_fd = -1 };
	struct stat st;

	if (fstat(fd, &st) < 0) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot read %s: %s", what, g_strerror(errno));
		return false;
	}
	c.in_size = st.st_size;
	return run(&c, expect_sha256, error);
}

/*
 * A capture: libvirt copies @src_pool/@src_vol into a new @pool/@name
 * (qemu-img convert: the backing chain flattened), on the host; then the
 * new volume is read back through a download stream to hash it.  Whatever
 * fails after it was made, it is deleted.
 */
bool
virt_vol_capture(virt_host *h, const char *pool, const char *name, const char *src_pool,
		 const char *src_vol, virt_copy *out, GError **error)
{
	g_autofree char *esc = g_markup_escape_text(name, -1);
	g_autofree char *xml = NULL;
	virStoragePoolPtr sp = NULL, p = NULL;
	virStorageVolPtr from = NULL, made = NULL;
	virStorageVolInfo info;
	copy_job c = { .src = h, .dst = h, .pool = pool, .name = name, .res = out,
		       .from_what = virt_host_uri(h), .in_fd = -1, .out_fd = DISCARD };
	bool ok = false;

	if (!(sp = virt_pool_lookup(h, src_pool, error)) || !(p = virt_pool_lookup(h, pool, error)))
		goto out;
	virt_count(h);
	if (!(from = virStorageVolLookupByName(sp, src_vol))) {
		virt_fail(error, "no volume", src_vol);
		goto out;
	}
	virt_count(h);
	if (virStorageVolGetInfo(from, &info) < 0) {
		virt_fail(error, "cannot read volume", src_vol);
		goto out;
	}
	xml = g_strdup_printf("<volume><name>%s</name><capacity unit='bytes'>%llu</capacity>"
			      "<target><format type='qcow2'/></target></volume>", esc, info.capacity);
	virt_count(h);
	if (!(made = virStorageVolCreateXMLFrom(p, xml, from, 0))) {
		virt_fail(error, "cannot capture into volume", name);
		goto out;
	}
	ok = run(&c, NULL, error);
	if (!ok) {
		virt_count(h);
		if (virStorageVolDelete(made, 0) == 0) {
			g_prefix_error(error, "the captured volume was deleted: ");
		} else {
			out->partial = true;
			g_prefix_error(error, "the captured volume %s/%s could NOT be deleted; delete it by hand: ",
				       pool, name);
		}
	}
out:
	if (made)
		virStorageVolFree(made);
	if (from)
		virStorageVolFree(from);
	if (sp)
		virStoragePoolFree(sp);
	if (p)
		virStoragePoolFree(p);
	return ok;
}
