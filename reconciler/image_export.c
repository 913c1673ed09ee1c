/*
 * image_export.c - a template's image, converted and uploaded
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image_export.h"

#define MiB (1024 * 1024)
/* The end of a command's output kept in the log. */
#define OUTPUT_TAIL 2000

char *
image_upload_line(const char *command, const char *file, const char *name, const char *region,
		  const char *sha256, GError **error)
{
	static const char *const keys[] = { "{file}", "{name}", "{region}", "{sha256}" };
	const char *values[] = { file, name, region ? region : "", sha256 };
	GString *out = g_string_new(NULL);
	const char *p = command;

	while (*p) {
		const char *open = strchr(p, '{');
		const char *close = open ? strchr(open, '}') : NULL;
		g_autofree char *q = NULL;
		size_t i;

		if (!open || !close) {
			g_string_append(out, p);
			break;
		}
		g_string_append_len(out, p, open - p);
		for (i = 0; i < G_N_ELEMENTS(keys); i++)
			if (strncmp(open, keys[i], (size_t)(close - open + 1)) == 0 &&
			    strlen(keys[i]) == (size_t)(close - open + 1))
				break;
		if (i == G_N_ELEMENTS(keys)) {
			g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED,
				    "unknown placeholder %.*s in the upload command; use %s", (int)(close - open + 1),
				    open, IMAGE_PLACEHOLDERS);
			g_string_free(out, TRUE);
			return NULL;
		}
		q = g_shell_quote(values[i]);
		g_string_append(out, q);
		p = close + 1;
	}
	return g_string_free(out, FALSE);
}

/*
 * Run @argv under coreutils' timeout (@secs, then a kill 10 s later); its
 * output (both streams) in *@output.  The output goes through a file, not
 * a pipe: a command that leaves a process behind holding it (a daemon it
 * started) would keep a pipe open, and the wait, past the deadline.
 */
static bool run_to(const char *const *argv, unsigned secs, int fd, int *status, GError **error);
static char *file_tail(int fd);

static bool
run(const char *const *argv, unsigned secs, int *status, char **output, GError **error)
{
	g_autofree char *log = NULL;
	int fd = g_file_open_tmp("strata-run-XXXXXX", &log, error);
	bool ok;

	if (fd < 0)
		return false;
	ok = run_to(argv, secs, fd, status, error);
	if (ok)
		*output = file_tail(fd);
	close(fd);
	unlink(log);
	return ok;
}

/* The last OUTPUT_TAIL bytes written to @fd: a chatty command's output is
 * not read whole. */
static char *
file_tail(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > OUTPUT_TAIL ? end - OUTPUT_TAIL : 0;
	char *buf = g_malloc0(OUTPUT_TAIL + 1);
	ssize_t n = end > 0 ? pread(fd, buf, (size_t)(end - from), from) : 0;

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

/* The child's stdout and stderr: @fd; and the signals the daemon blocks
 * (it reads them from a signalfd) unblocked, so that `timeout` can end
 * what it runs.  Only async-signal-safe calls. */
static void
to_fd(gpointer data)
{
	int fd = GPOINTER_TO_INT(data);
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
}

static bool
run_to(const char *const *argv, unsigned secs, int fd, int *status, GError **error)
{
	g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);

	g_ptr_array_add(a, g_strdup("timeout"));
	g_ptr_array_add(a, g_strdup("-k"));
	g_ptr_array_add(a, g_strdup("10"));
	g_ptr_array_add(a, g_strdup_printf("%u", secs));
	for (guint i = 0; argv[i]; i++)
		g_ptr_array_add(a, g_strdup(argv[i]));
	g_ptr_array_add(a, NULL);
	return g_spawn_sync(NULL, (char **)a->pdata, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL,
			    to_fd, GINT_TO_POINTER(fd), NULL, NULL, status, error);
}

static const char *
tail(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > OUTPUT_TAIL ? s + n - OUTPUT_TAIL : s ? s : "";
}

/* What a command's end says: "exit 3", "killed at its 600 s deadline". */
static char *
ended(int status, unsigned secs)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 124)
		return g_strdup_printf("stopped at its %u s deadline", secs);
	if (WIFEXITED(status))
		return g_strdup_printf("exit %d", WEXITSTATUS(status));
	return g_strdup_printf("killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static bool
qemu_img(const char *const *args, const char *what, GError **error)
{
	g_autofree char *output = NULL;
	int status = 0;

	g_autofree char *how = NULL;

	if (!run(args, 3600, &status, &output, error))
		return false;
	if (g_spawn_check_wait_status(status, NULL))
		return true;
	how = ended(status, 3600);
	g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "qemu-img could not %s (%s): %s", what, how,
		    output ? g_strstrip(output) : "");
	return false;
}

/* Azure takes a fixed VHD whose virtual size is a whole number of MiB: the
 * raw image is grown to the next MiB (zeros), then converted.  The source's
 * format is given (never guessed from content). */
static bool
convert(const char *src, const char *src_format, const char *dst, const char *format, GError **error)
{
	g_autofree char *raw = g_strconcat(dst, ".raw", NULL);
	const char *f = src_format ? src_format : "qcow2";
	struct stat st;
	bool ok;

	if (strcmp(format, "qcow2") == 0 || strcmp(format, "raw") == 0)
		return qemu_img((const char *const[]){ "qemu-img", "convert", "-q", "-f", f, "-O", format, src, dst,
						       NULL }, format[0] == 'q' ? "convert to qcow2" : "convert to raw",
				error);
	if (strcmp(format, "vmdk") == 0)
		return qemu_img((const char *const[]){ "qemu-img", "convert", "-q", "-f", f, "-O", "vmdk", "-o",
						       "subformat=streamOptimized", src, dst, NULL },
				"convert to a streamOptimized vmdk", error);
	/* vhd */
	if (!qemu_img((const char *const[]){ "qemu-img", "convert", "-q", "-f", f, "-O", "raw", src, raw, NULL },
		      "convert to raw", error))
		return false;
	ok = stat(raw, &st) == 0 && truncate(raw, (st.st_size + MiB - 1) / MiB * MiB) == 0;
	if (!ok)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot round %s up to a MiB: %s",
			    raw, g_strerror(errno));
	ok = ok && qemu_img((const char *const[]){ "qemu-img", "convert", "-q", "-f", "raw", "-O", "vpc", "-o",
						   "subformat=fixed,force_size=on", raw, dst, NULL },
			    "convert to a fixed vhd", error);
	unlink(raw);
	return ok;
}

static bool
hash_file(const char *file, char out[65], uint64_t *bytes, GError **error)
{
	g_autofree char *buf = g_malloc(1 << 20);
	gnutls_hash_hd_t h;
	unsigned char d[32];
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 || gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot hash %s: %s", file, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	*bytes = 0;
	while ((n = read(fd, buf, 1 << 20)) > 0) {
		gnutls_hash(h, buf, (size_t)n);
		*bytes += (uint64_t)n;
	}
	close(fd);
	gnutls_hash_deinit(h, d);
	for (int i = 0; i < 32; i++)
		g_snprintf(out + 2 * i, 3, "%02x", d[i]);
	if (n < 0) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot read %s: %s", file, g_strerror(errno));
		return false;
	}
	return true;
}

/* The upload, attempted @t->attempts times, backing off 1 s, 2 s, 4 s ...
 * Every attempt's end and output go into the log. */
static bool
upload(const image_target *t, const char *file, image_result *out, GError **error)
{
	g_autofree char *line = image_upload_line(t->command, file, t->file_name, t->region, out->sha256,
						  error);
	GString *log = g_string_new(NULL);
	bool ok = false;

	if (!line) {
		g_string_free(log, TRUE);
		return false;
	}
	for (unsigned i = 0; i < MAX(t->attempts, 1) && !ok; i++) {
		g_autofree char *output = NULL, *how = NULL;
		int status = 0;

		if (i)
			g_usleep((gulong)(1u << (i - 1)) * G_USEC_PER_SEC);
		if (!run((const char *const[]){ "/bin/sh", "-c", line, NULL }, t->timeout_s, &status, &output,
			 error))
			break;
		ok = g_spawn_check_wait_status(status, NULL);
		how = ended(status, t->timeout_s);
		if (output)
			g_strstrip(output);
		g_string_append_printf(log, "%supload attempt %u: %s%s%s", log->len ? "; " : "", i + 1, how,
				       output && *output ? ": " : "", output ? output : "");
	}
	out->log = g_strdup(tail(log->str));
	if (!ok && error && !*error)
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "the upload command failed (%s); the "
			    "converted file stays at %s", out->log, file);
	g_string_free(log, TRUE);
	return ok;
}

/*
 * Everything is made in a folder of its own, private (0700) and fresh,
 * inside the target's: whoever can write the target folder cannot plant
 * a link where strata writes.  Only the finished file is moved out.
 */
bool
image_export(virt_host *h, const char *pool, const char *volume, const image_target *t,
	     image_result *out, GError **error)
{
	g_autofree char *final = g_build_filename(t->path, t->file_name, NULL);
	g_autofree char *work = NULL, *tmp = NULL, *image = NULL;
	virt_copy copy = { 0 };
	bool ok;
	int fd;

	memset(out, 0, sizeof(*out));
	if (g_mkdir_with_parents(t->path, 0755) < 0) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot make %s: %s", t->path, g_strerror(errno));
		return false;
	}
	work = g_build_filename(t->path, ".strata-export-XXXXXX", NULL);
	if (!g_mkdtemp_full(work, 0700)) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot make a folder in %s: %s", t->path,
			    g_strerror(errno));
		return false;
	}
	tmp = g_build_filename(work, t->file_name, NULL);
	image = g_build_filename(work, "source", NULL);
	fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot write %s: %s", image, g_strerror(errno));
		rmdir(work);
		return false;
	}
	ok = virt_vol_download_file(h, pool, volume, fd, &copy, error);
	close(fd);
	ok = ok && convert(image, t->source_format, tmp, t->format, error) &&
	     hash_file(tmp, out->sha256, &out->bytes, error);
	unlink(image);
	if (ok && (chmod(tmp, 0644) < 0 || rename(tmp, final) < 0)) {
		g_set_error(error, VIRT_ERROR, VIRT_ERROR_FAILED, "cannot move %s into place: %s", final,
			    g_strerror(errno));
		ok = false;
	}
	unlink(tmp);
	rmdir(work);
	if (!ok)
		return false;
	return !t->command || upload(t, final, out, error);
}
