/*
 * yaml_read.c - libyaml events to a bounded ynode tree
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>
#include <yaml.h>

#include "yaml_read.h"

/* Mappings larger than this check duplicate keys through a hash table. */
#define MAP_LINEAR_MAX 16

typedef struct {
	ynode *node;
	GHashTable *keys;   /* only for large mappings */
} frame;

typedef struct {
	const char *file;
	spec_diags *diags;
	GPtrArray *docs;
	GArray *stack;      /* frame */
	ydoc *doc;          /* document being built */
	bool failed;
} reader;

void
ynode_free(ynode *n)
{
	if (!n)
		return;
	g_free(n->value);
	if (n->items)
		g_ptr_array_unref(n->items);
	g_free(n);
}

static void
ydoc_free(gpointer p)
{
	ydoc *doc = p;

	if (!doc)
		return;
	ynode_free(doc->root);
	g_free(doc);
}

static spec_pos
mark_pos(yaml_mark_t m)
{
	return (spec_pos){ (unsigned)m.line + 1, (unsigned)m.column + 1 };
}

static ynode *
ynode_new(ynode_type type, yaml_mark_t m)
{
	ynode *n = g_new0(ynode, 1);

	n->type = type;
	n->pos = mark_pos(m);
	if (type != YNODE_SCALAR)
		n->items = g_ptr_array_new_with_free_func((GDestroyNotify)ynode_free);
	return n;
}

static void
reader_fail(reader *r, spec_pos pos, const char *code, const char *msg)
{
	spec_error(r->diags, r->file, pos, code, "%s", msg);
	r->failed = true;
}

/* Only YAML's core schema tags: no language-specific objects (!!python/…). */
static bool
tag_ok(const yaml_char_t *tag)
{
	static const char *const core[] = {
		"!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:int",
		"tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
		"tag:yaml.org,2002:null", "tag:yaml.org,2002:seq",
		"tag:yaml.org,2002:map", NULL,
	};

	return !tag || g_strv_contains(core, (const char *)tag);
}

static bool
map_key_seen(frame *f, const char *key)
{
	GPtrArray *items = f->node->items;

	if (items->len / 2 < MAP_LINEAR_MAX) {
		for (guint i = 0; i + 1 < items->len; i += 2) {
			ynode *k = items->pdata[i];

			if (k->type == YNODE_SCALAR && strcmp(k->value, key) == 0)
				return true;
		}
		return false;
	}
	if (!f->keys) {
		f->keys = g_hash_table_new(g_str_hash, g_str_equal);
		for (guint i = 0; i + 1 < items->len; i += 2) {
			ynode *k = items->pdata[i];

			g_hash_table_add(f->keys, k->value);
		}
	}
	return g_hash_table_contains(f->keys, key);
}

/* Attach @n to the open sequence or mapping, or make it the document root. */
static bool
reader_attach(reader *r, ynode *n)
{
	frame *f;
	GPtrArray *items;

	if (r->stack->len == 0) {
		r->doc->root = n;
		return true;
	}
	f = &g_array_index(r->stack, frame, r->stack->len - 1);
	items = f->node->items;
	if (f->node->type == YNODE_MAP && items->len % 2 == 0) {
		if (n->type != YNODE_SCALAR) {
			reader_fail(r, n->pos, "yaml-complex-key",
				    "mapping keys must be plain strings, not lists or mappings");
			ynode_free(n);
			return false;
		}
		if (map_key_seen(f, n->value)) {
			g_autofree char *m = g_strdup_printf(
				"duplicate key '%s'; each key may appear once per mapping",
				n->value);
			reader_fail(r, n->pos, "duplicate-key", m);
			ynode_free(n);
			return false;
		}
		if (f->keys)
			g_hash_table_add(f->keys, n->value);
	}
	g_ptr_array_add(items, n);
	return true;
}

static bool
reader_push(reader *r, ynode *n)
{
	frame f = { n, NULL };

	if (r->stack->len >= SPEC_MAX_DEPTH) {
		g_autofree char *m = g_strdup_printf(
			"nesting deeper than %d levels; flatten the document",
			SPEC_MAX_DEPTH);
		reader_fail(r, n->pos, "too-deep", m);
		ynode_free(n);
		return false;
	}
	if (!reader_attach(r, n))
		return false;
	g_array_append_val(r->stack, f);
	return true;
}

static void
reader_pop(reader *r)
{
	frame *f = &g_array_index(r->stack, frame, r->stack->len - 1);

	if (f->keys)
		g_hash_table_unref(f->keys);
	g_array_set_size(r->stack, r->stack->len - 1);
}

static bool
reader_scalar(reader *r, yaml_event_t *ev)
{
	ynode *n;

	if (ev->data.scalar.length > SPEC_MAX_SCALAR) {
		g_autofree char *m = g_strdup_printf(
			"value is %zu bytes long; the limit is %d (longer cloud-init data goes in a file "
			"beside the spec: user_data_file)",
			ev->data.scalar.length, SPEC_MAX_SCALAR);
		reader_fail(r, mark_pos(ev->start_mark), "too-long", m);
		return false;
	}
	if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length) {
		reader_fail(r, mark_pos(ev->start_mark), "nul-byte",
			    "value contains a NUL character (\\0)");
		return false;
	}
	n = ynode_new(YNODE_SCALAR, ev->start_mark);
	n->value = g_strndup((const char *)ev->data.scalar.value,
			     ev->data.scalar.length);
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	return reader_attach(r, n);
}

/* Refuse what we do not support before it can cost anything. */
static bool
reader_check_event(reader *r, yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		reader_fail(r, mark_pos(ev->start_mark), "yaml-alias",
			    "YAML aliases (*name) are not supported; write the value out");
		return false;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return true;
	}
	if (anchor) {
		reader_fail(r, mark_pos(ev->start_mark), "yaml-anchor",
			    "YAML anchors (&name) are not supported; write the value out");
		return false;
	}
	if (!tag_ok(tag)) {
		g_autofree char *m = g_strdup_printf(
			"YAML tag '%s' is not supported; remove it", (const char *)tag);
		reader_fail(r, mark_pos(ev->start_mark), "yaml-tag", m);
		return false;
	}
	return true;
}

static bool
reader_document_start(reader *r, yaml_event_t *ev)
{
	if (r->docs->len >= SPEC_MAX_DOCUMENTS) {
		g_autofree char *m = g_strdup_printf(
			"more than %d documents in one file; split it", SPEC_MAX_DOCUMENTS);
		reader_fail(r, mark_pos(ev->start_mark), "too-many-documents", m);
		return false;
	}
	r->doc = g_new0(ydoc, 1);
	r->doc->pos = mark_pos(ev->start_mark);
	g_ptr_array_add(r->docs, r->doc);
	return true;
}

static bool
reader_event(reader *r, yaml_event_t *ev)
{
	if (!reader_check_event(r, ev))
		return false;
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		return reader_document_start(r, ev);
	case YAML_SCALAR_EVENT:
		return reader_scalar(r, ev);
	case YAML_SEQUENCE_START_EVENT:
		return reader_push(r, ynode_new(YNODE_SEQ, ev->start_mark));
	case YAML_MAPPING_START_EVENT:
		return reader_push(r, ynode_new(YNODE_MAP, ev->start_mark));
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		reader_pop(r);
		return true;
	default:
		return true;
	}
}

/* Bytes of the line break at @s (YAML's: \n, \r\n, \r, NEL, LS, PS), or 0. */
static size_t
break_len(const char *s, size_t n)
{
	if (s[0] == '\r' && n >= 2 && s[1] == '\n')
		return 2;
	if (s[0] == '\n' || s[0] == '\r')
		return 1;
	if (n >= 2 && memcmp(s, "\xc2\x85", 2) == 0)
		return 2;
	if (n >= 3 && (memcmp(s, "\xe2\x80\xa8", 3) == 0 ||
		       memcmp(s, "\xe2\x80\xa9", 3) == 0))
		return 3;
	return 0;
}

/*
 * The line and column of byte @off, counted as libyaml counts its marks:
 * characters, not bytes, and no column for a byte-order mark.  The bytes
 * before @off are valid UTF-8 (the reader stopped at the first bad one).
 */
static spec_pos
offset_pos(const char *buf, size_t len, size_t off)
{
	spec_pos pos = { 1, 1 };
	size_t i = 0;

	off = MIN(off, len);
	if (off >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < off) {
		size_t brk = break_len(buf + i, off - i);

		if (brk) {
			pos.line++;
			pos.col = 1;
			i += brk;
			continue;
		}
		if (((guchar)buf[i] & 0xC0) != 0x80)
			pos.col++;
		i++;
	}
	return pos;
}

/*
 * libyaml's reader stops on bytes that are not UTF-8 and on characters
 * YAML does not allow raw (controls, U+FFFE...), and gives only a byte
 * offset for them (no mark).
 */
static void
reader_input_error(reader *r, yaml_parser_t *p, const char *buf, size_t len)
{
	size_t off = MIN(p->problem_offset, len);
	spec_pos pos = offset_pos(buf, len, off);
	gunichar c = g_utf8_get_char_validated(buf + off, (gssize)(len - off));

	if (c == (gunichar)-1 || c == (gunichar)-2)
		spec_error(r->diags, r->file, pos, "encoding",
			   "%s: the file is not valid UTF-8; save it as UTF-8",
			   p->problem ? p->problem : "invalid UTF-8");
	else
		spec_error(r->diags, r->file, pos, "control-character",
			   "%s U+%04X is not allowed in YAML; remove it",
			   spec_unichar_is_control(c) ? "control character" : "character",
			   (unsigned)c);
	r->failed = true;
}

/* libyaml's words, with a hint for the mistakes people really make. */
static void
reader_syntax_error(reader *r, yaml_parser_t *p, const char *buf, size_t len)
{
	spec_pos pos = mark_pos(p->problem_mark);
	size_t off = p->problem_mark.index;
	const char *hint = "";

	if (p->error == YAML_READER_ERROR) {
		reader_input_error(r, p, buf, len);
		return;
	}

	if (off < len && buf[off] == '\t')
		hint = " (a tab; YAML indents with spaces only)";
	spec_error(r->diags, r->file, pos, "yaml-syntax", "%s%s%s%s",
		   p->problem ? p->problem : "syntax error",
		   p->context ? " " : "", p->context ? p->context : "", hint);
	r->failed = true;
}

/* NUL bytes and non-UTF-8 encodings get a precise message, not libyaml's. */
static bool
reader_precheck(reader *r, const char *buf, size_t len)
{
	const char *nul = memchr(buf, '\0', len);

	if (len >= 2 && ((guchar)buf[0] == 0xFF || (guchar)buf[0] == 0xFE ||
			 buf[0] == '\0')) {
		reader_fail(r, SPEC_NOPOS, "encoding",
			    "file is not UTF-8 (UTF-16 or UTF-32?); save it as UTF-8");
		return false;
	}
	if (nul) {
		reader_fail(r, offset_pos(buf, len, (size_t)(nul - buf)), "nul-byte",
			    "file contains a NUL byte; is it a binary file?");
		return false;
	}
	return true;
}

GPtrArray *
yaml_read(const char *file, const char *buf, size_t len, spec_diags *diags,
	  bool *ok)
{
	reader r = { .file = file, .diags = diags };
	yaml_parser_t parser;
	yaml_event_t ev;
	bool done = false;

	r.docs = g_ptr_array_new_with_free_func(ydoc_free);
	r.stack = g_array_new(FALSE, TRUE, sizeof(frame));
	if (len > SPEC_MAX_FILE_BYTES) {
		g_autofree char *m = g_strdup_printf(
			"file is %zu bytes; the limit is %u bytes (4 MiB): split it",
			len, SPEC_MAX_FILE_BYTES);
		reader_fail(&r, SPEC_NOPOS, "file-too-large", m);
		goto out;
	}
	if (!reader_precheck(&r, buf, len))
		goto out;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && !r.failed) {
		if (!yaml_parser_parse(&parser, &ev)) {
			reader_syntax_error(&r, &parser, buf, len);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		reader_event(&r, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	while (r.stack->len)
		reader_pop(&r);
out:
	g_array_unref(r.stack);
	*ok = !r.failed;
	return r.docs;
}
