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

/* Compare @actual with the golden file @path (or rewrite it under REGEN). */
void tu_assert_golden(const char *actual, const char *path);

/* A fresh temporary folder, removed with its contents by tu_rmtree. */
char *tu_mkdtemp(void);
void tu_rmtree(const char *path);
void tu_write(const char *path, const char *text);
