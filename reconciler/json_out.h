/*
 * json_out.h - small helpers shared by every verb's JSON output
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>
#include <stdio.h>

/* Print the document @b holds, pretty, with a final newline. */
void json_out_print(FILE *out, JsonBuilder *b);

/* "name": value, with NULL as JSON null. */
void json_out_string(JsonBuilder *b, const char *name, const char *value);
void json_out_int(JsonBuilder *b, const char *name, gint64 value);
