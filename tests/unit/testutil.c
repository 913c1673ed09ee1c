/*
 * testutil.c - helpers shared by strata's cmocka tests
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>

#include "testutil.h"

void
tu_chdir_srcdir(void)
{
	if (chdir(SRCDIR) != 0) {
		perror(SRCDIR);
		abort();
	}
}

static char *
diags_text(spec_source *src, spec_diags *diags, unsigned *errors)
{
	GString *out = g_string_new(NULL);

	spec_validate(src, diags);
	for (guint i = 0; i < diags->items->len; i++) {
		g_autofree char *line = spec_diag_format(diags->items->pdata[i]);

		g_string_append_printf(out, "%s\n", line);
	}
	if (errors)
		*errors = diags->errors;
	spec_diags_release(diags);
	spec_source_free(src);
	return g_string_free(out, FALSE);
}

char *
tu_validate_text(const char *path, unsigned *errors)
{
	spec_diags diags;

	spec_diags_init(&diags);
	return diags_text(spec_load(path, &diags), &diags, errors);
}

char *
tu_buffer_text(const char *name, const char *text, size_t len, unsigned *errors)
{
	spec_diags diags;

	spec_diags_init(&diags);
	return diags_text(spec_load_buffer(name, text, len, &diags), &diags, errors);
}

static char *
bytes_str(GBytes *b)
{
	gsize n = 0;
	const char *data = g_bytes_get_data(b, &n);

	return data ? g_strndup(data, n) : g_strdup("");
}

tu_result
tu_run(const char *input, const char *const *args)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	g_autoptr(GSubprocess) proc = NULL;
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) in = g_bytes_new(input ? input : "", input ? strlen(input) : 0);
	g_autoptr(GBytes) out = NULL, errb = NULL;
	tu_result r = { 0 };

	/* The sanitizer run points STRATA_BIN at its own build of strata. */
	g_ptr_array_add(argv, (gpointer)(g_getenv("STRATA_BIN") ? g_getenv("STRATA_BIN")
							  : SRCDIR "/strata"));
	for (; *args; args++)
		g_ptr_array_add(argv, (gpointer)*args);
	g_ptr_array_add(argv, NULL);
	proc = g_subprocess_newv((const char *const *)argv->pdata,
				 G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
				 G_SUBPROCESS_FLAGS_STDERR_PIPE, &err);
	assert_non_null(proc);
	assert_true(g_subprocess_communicate(proc, in, NULL, &out, &errb, &err));
	r.status = g_subprocess_get_exit_status(proc);
	r.out = bytes_str(out);
	r.err = bytes_str(errb);
	return r;
}

void
tu_result_release(tu_result *r)
{
	g_free(r->out);
	g_free(r->err);
}

void
tu_assert_golden(const char *actual, const char *path)
{
	g_autofree char *expected = NULL;
	g_autoptr(GError) err = NULL;

	if (g_strcmp0(g_getenv("STRATA_REGEN"), "1") == 0) {
		g_file_set_contents(path, actual, -1, &err);
		assert_null(err);
		return;
	}
	if (!g_file_get_contents(path, &expected, NULL, &err)) {
		print_error("golden file %s: %s (run with STRATA_REGEN=1 to create it)\n",
			    path, err->message);
		fail();
	}
	if (strcmp(expected, actual) != 0) {
		print_error("output differs from %s\n--- expected\n%s--- actual\n%s",
			    path, expected, actual);
		fail();
	}
}

char *
tu_mkdtemp(void)
{
	g_autoptr(GError) err = NULL;
	char *dir = g_dir_make_tmp("strata-test-XXXXXX", &err);

	assert_non_null(dir);
	return dir;
}

void
tu_rmtree(const char *path)
{
	g_autofree char *cmd = NULL;
	g_autofree char *quoted = g_shell_quote(path);

	if (!path || !g_str_has_prefix(path, g_get_tmp_dir()))
		return;  /* never anything outside the temporary folder */
	cmd = g_strdup_printf("rm -rf %s", quoted);
	if (system(cmd) != 0)
		print_error("could not remove %s\n", path);
}

void
tu_write(const char *path, const char *text)
{
	g_autoptr(GError) err = NULL;

	g_file_set_contents(path, text, -1, &err);
	assert_null(err);
}
