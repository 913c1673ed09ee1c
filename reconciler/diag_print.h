/*
 * diag_print.h - show spec diagnostics as text, JSON or GitHub annotations
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <stdio.h>

#include "cli.h"
#include "../spec/diag.h"

/* Text and GitHub lines go to @out; JSON is one document on @out. */
void diag_print(FILE *out, output_format fmt, const spec_diags *diags);

/* GitHub workflow commands need %, CR, LF (and in properties : ,) escaped. */
char *diag_github_escape(const char *s, gboolean property);
