/*
 * testutil.c - helpers shared by strata's cmocka tests
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

void
tu_chdir_srcdir(void)
{
	if (chdir(SRCDIR) != 0) {
		perror(SRCDIR);
		abort();
	}
}

char *
tu_validate_text(const char *path, unsigned *errors)
{
	g_autoptr(spec_source) src = NULL;
	GString *out = g_string_new(NULL);
	spec_diags diags;

	spec_diags_init(&diags);
	src = spec_load(path, &diags);
	spec_validate(src, &diags);
	for (guint i = 0; i < diags.items->len; i++) {
		g_autofree char *line = spec_diag_format(diags.items->pdata[i]);

		g_string_append_printf(out, "%s\n", line);
	}
	if (errors)
		*errors = diags.errors;
	spec_diags_release(&diags);
	return g_string_free(out, FALSE);
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
