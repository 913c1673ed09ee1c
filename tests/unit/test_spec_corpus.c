/*
 * test_spec_corpus.c - every bad input gets its exact diagnostics
 *
 * Each entry of tests/data/spec/bad/ (a file or a folder) is loaded and
 * validated; the diagnostics must match NAME.expected exactly and hold at
 * least one error.  Each entry of tests/data/spec/good/ and examples/ must
 * validate with no diagnostic at all.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include "testutil.h"

#define BAD  "tests/data/spec/bad"
#define GOOD "tests/data/spec/good"

static void
test_bad_entry(void **state)
{
	const char *name = *state;
	g_autofree char *path = g_build_filename(BAD, name, NULL);
	g_autofree char *stem = g_strdup(path);
	g_autofree char *golden = NULL;
	g_autofree char *text = NULL;
	unsigned errors = 0;
	char *dot = strrchr(stem, '.');

	if (dot && strchr(dot, '/') == NULL)
		*dot = '\0';
	golden = g_strdup_printf("%s.expected", stem);
	text = tu_validate_text(path, &errors);
	assert_true(errors > 0);
	tu_assert_golden(text, golden);
}

static void
test_good_entry(void **state)
{
	const char *path = *state;
	g_autofree char *text = NULL;
	unsigned errors = 0;

	text = tu_validate_text(path, &errors);
	if (text[0])
		print_error("%s", text);
	assert_string_equal(text, "");
	assert_int_equal(errors, 0);
}

static GPtrArray *
entries(const char *dir, const char *prefix)
{
	GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d)))
		if (!g_str_has_suffix(n, ".expected") && n[0] != '.')
			g_ptr_array_add(names, prefix ? g_build_filename(prefix, n, NULL)
						      : g_strdup(n));
	g_ptr_array_sort(names, (GCompareFunc)g_strcmp0);
	return names;
}

int
main(void)
{
	g_autoptr(GPtrArray) bad = NULL, good = NULL, examples = NULL;
	g_autoptr(GArray) tests = g_array_new(FALSE, TRUE, sizeof(struct CMUnitTest));
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	int rc;

	tu_chdir_srcdir();
	bad = entries(BAD, NULL);
	good = entries(GOOD, GOOD);
	examples = entries("examples", "examples");
	/* The issue asks for at least 40 bad inputs; keep it honest. */
	if (bad->len < 40) {
		fprintf(stderr, "bad corpus has only %u entries\n", bad->len);
		return 1;
	}
	for (guint i = 0; i < bad->len; i++) {
		char *name = g_strdup_printf("bad/%s", (char *)bad->pdata[i]);
		struct CMUnitTest t = { .name = name,
					.test_func = test_bad_entry,
					.initial_state = bad->pdata[i] };
		g_ptr_array_add(names, name);
		g_array_append_val(tests, t);
	}
	g_ptr_array_extend_and_steal(good, g_steal_pointer(&examples));
	for (guint i = 0; i < good->len; i++) {
		char *name = g_strdup_printf("good/%s", (char *)good->pdata[i]);
		struct CMUnitTest t = { .name = name,
					.test_func = test_good_entry,
					.initial_state = good->pdata[i] };
		g_ptr_array_add(names, name);
		g_array_append_val(tests, t);
	}
	rc = _cmocka_run_group_tests("spec_corpus", (struct CMUnitTest *)tests->data,
				     tests->len, NULL, NULL);
	return rc;
}
