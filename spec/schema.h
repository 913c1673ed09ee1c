/*
 * schema.h - the key tables: YAML documents to the typed model
 *
 * Each kind of document is a table with one row per key: its name, type,
 * whether it is required, where it goes in the model and the bounds of its
 * value.  Decoding walks the document once, against the table, and reports
 * every unknown key (with a "did you mean"), wrong type and bad value it
 * meets; it never stops at the first.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "model.h"
#include "yaml_read.h"

/* Items in one list of names or numbers (`tags`, `after`, `days`, ...). */
#define SPEC_MAX_LIST 1000

/* Decode one document into @src.  Problems go to @diags. */
void schema_decode_document(spec_source *src, const char *file,
			    const ydoc *doc, spec_diags *diags);

/* Parse a size such as "512MiB", "2GiB", "10GB" or "1048576" into bytes. */
bool spec_parse_size(const char *s, int64_t *out, const char **why);

/* Lowercase RFC 1123 label, at most 63 characters. */
bool spec_name_ok(const char *s);
