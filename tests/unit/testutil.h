/*
 * testutil.h - helpers shared by strata's cmocka tests
 *
 * Tests run from the source tree (SRCDIR); golden files are compared
 * byte for byte and rewritten instead when STRATA_REGEN=1 is set.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>

#include "../../spec/spec.h"

/* chdir to the source tree so paths in diagnostics are stable. */
void tu_chdir_srcdir(void);

/* Load and validate @path; return every diagnostic, one formatted line each. */
char *tu_validate_text(const char *path, unsigned *errors);

/* Load @len bytes named @name, validate; every diagnostic, one per line. */
char *tu_buffer_text(const char *name, const char *text, size_t len, unsigned *errors);

/* The result of running the strata binary (STRATA_BIN, else SRCDIR/strata). */
typedef struct {
	int status;
	char *out;
	char *err;
} tu_result;

tu_result tu_run(const char *input, const char *const *args);
void tu_result_release(tu_result *r);
#define TU_RUN(input, ...) tu_run((input), (const char *const[]){ __VA_ARGS__, NULL })

/* Compare @actual with the golden file @path (or rewrite it under REGEN). */
void tu_assert_golden(const char *actual, const char *path);

/* A fresh temporary folder, removed with its contents by tu_rmtree. */
char *tu_mkdtemp(void);
void tu_rmtree(const char *path);
void tu_write(const char *path, const char *text);
