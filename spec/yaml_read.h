/*
 * yaml_read.h - bytes to a bounded tree of YAML nodes with positions
 *
 * libyaml does the parsing; this module only keeps what the schema needs
 * (scalars, sequences, mappings, each with line and column) and enforces
 * the bounds that keep hostile input cheap: nesting depth, scalar length,
 * documents per file.  Anchors and aliases are refused outright, so an
 * alias bomb costs nothing.  Duplicate keys are reported here.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <stddef.h>

#include "diag.h"

#define SPEC_MAX_FILE_BYTES   (4u * 1024 * 1024)
#define SPEC_MAX_DEPTH        64
#define SPEC_MAX_DOCUMENTS    10000
#define SPEC_MAX_SCALAR       4096

typedef enum {
	YNODE_SCALAR,
	YNODE_SEQ,
	YNODE_MAP,
} ynode_type;

typedef struct ynode ynode;
struct ynode {
	ynode_type type;
	spec_pos pos;
	char *value;        /* scalars */
	bool plain;         /* scalar was unquoted: may be a number or bool */
	GPtrArray *items;   /* seq: values; map: key, value, key, value ... */
};

/* A document is a root node (NULL for an empty document) and its start. */
typedef struct {
	ynode *root;
	spec_pos pos;
} ydoc;

void ynode_free(ynode *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ynode, ynode_free)

/*
 * Parse @len bytes of @buf (named @file in diagnostics) into documents.
 * Returns an array of ydoc* (free with g_ptr_array_unref); on a syntax or
 * bound error the diagnostic is added and the documents before it are
 * still returned, so the caller can report more than one problem.
 */
GPtrArray *yaml_read(const char *file, const char *buf, size_t len,
		     spec_diags *diags, bool *ok);

static inline const char *
ynode_type_name(ynode_type t)
{
	return t == YNODE_SCALAR ? "a scalar" :
	       t == YNODE_SEQ ? "a list" : "a mapping";
}
