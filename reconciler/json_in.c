/*
 * json_in.c - strict reading of JSON that strata did not write itself
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdarg.h>
#include <string.h>

#include <gio/gio.h>

#include "json_in.h"

void
json_in_init(json_in *r, const char *what)
{
	r->what = what;
	r->where = g_string_new(NULL);
	r->error = NULL;
}

void
json_in_release(json_in *r)
{
	g_string_free(r->where, TRUE);
	r->where = NULL;
}

bool
json_in_bad(json_in *r, const char *fmt, ...)
{
	va_list ap;
	g_autofree char *msg = NULL;

	if (r->error)
		return false;
	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	r->error = g_strdup_printf("%s: %s: %s", r->what, r->where->len ? r->where->str : "top level", msg);
	return false;
}

gsize
json_in_enter(json_in *r, const char *key)
{
	gsize old = r->where->len;
	g_autofree char *shown = json_in_printable(key);  /* a member name is input too */

	g_string_append_printf(r->where, r->where->len ? ".%s" : "%s", shown);
	return old;
}

gsize
json_in_enter_index(json_in *r, guint i)
{
	gsize old = r->where->len;

	g_string_append_printf(r->where, "[%u]", i);
	return old;
}

void
json_in_leave(json_in *r, gsize old)
{
	g_string_truncate(r->where, old);
}

static bool
control(gunichar c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

/* A string a terminal or a log may show: valid UTF-8 with no control
 * characters, C1 included (an escape sequence in a name would rewrite what
 * the operator reads; U+009B is a CSI of its own). */
static bool
printable(const char *s)
{
	if (!g_utf8_validate(s, -1, NULL))
		return false;
	for (; *s; s = g_utf8_next_char(s))
		if (control(g_utf8_get_char(s)))
			return false;
	return true;
}

char *
json_in_printable(const char *s)
{
	GString *out = g_string_new(NULL);
	g_autofree char *valid = g_utf8_make_valid(s, -1);

	for (const char *c = valid; *c; c = g_utf8_next_char(c)) {
		gunichar u = g_utf8_get_char(c);

		if (control(u))
			g_string_append_c(out, '?');
		else
			g_string_append_unichar(out, u);
	}
	return g_string_free(out, FALSE);
}

/* Whether @text nests arrays and objects at most @max deep (strings
 * skipped); *@line is the line where it went deeper. */
static bool
depth_ok(const char *text, gsize len, guint max, guint *line)
{
	guint depth = 0;
	bool in_string = false;

	*line = 1;
	for (gsize i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\n')
			(*line)++;
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max)
				return false;
		} else if ((c == ']' || c == '}') && depth) {
			depth--;
		}
	}
	return true;
}

bool
json_in_parse(JsonParser *p, const char *what, const char *text, gssize len, GError **error)
{
	gsize n = len < 0 ? strlen(text) : (gsize)len;
	g_autoptr(GError) err = NULL;
	g_autofree char *msg = NULL;
	guint line;

	if (!depth_ok(text, n, JSON_IN_MAX_DEPTH, &line)) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
			    "%s:%u: nested deeper than %d levels", what, line, JSON_IN_MAX_DEPTH);
		return false;
	}
	if (json_parser_load_from_data(p, text, (gssize)n, &err))
		return true;
	/* json-glib says "<data>:LINE:COL: Parse error: ..." */
	msg = json_in_printable(g_str_has_prefix(err->message, "<data>:") ? err->message + 7 : err->message);
	g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s:%s", what, msg);
	return false;
}

static const char *
string_at(json_in *r, JsonNode *n, bool null_ok, bool *ok)
{
	*ok = true;
	if (!n || JSON_NODE_HOLDS_NULL(n)) {
		if (null_ok)
			return NULL;
		return *ok = json_in_bad(r, "missing"), NULL;
	}
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_STRING)
		return *ok = json_in_bad(r, "not a string"), NULL;
	if (!printable(json_node_get_string(n)))
		return *ok = json_in_bad(r, "holds a control character"), NULL;
	return json_node_get_string(n);
}

const char *
json_in_string(json_in *r, JsonObject *o, const char *key)
{
	gsize old = json_in_enter(r, key);
	bool ok;
	const char *v = string_at(r, json_object_get_member(o, key), false, &ok);

	if (ok)
		json_in_leave(r, old);
	return v;
}

const char *
json_in_string_or_null(json_in *r, JsonObject *o, const char *key, bool *ok)
{
	gsize old = json_in_enter(r, key);
	const char *v = string_at(r, json_object_get_member(o, key), true, ok);

	if (*ok)
		json_in_leave(r, old);
	return v;
}

bool
json_in_range(json_in *r, JsonObject *o, const char *key, uint64_t min, uint64_t max,
	      uint64_t *out)
{
	JsonNode *n = json_object_get_member(o, key);
	gsize old = json_in_enter(r, key);
	gint64 v;

	if (!n)
		return json_in_bad(r, "missing");
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
		return json_in_bad(r, "not an integer");
	v = json_node_get_int(n);
	if (v < 0 || (uint64_t)v < min)
		return json_in_bad(r, "%" G_GINT64_FORMAT " is below %" G_GUINT64_FORMAT, v, min);
	if ((uint64_t)v > max)
		return json_in_bad(r, "%" G_GINT64_FORMAT " is above %" G_GUINT64_FORMAT, v, max);
	*out = (uint64_t)v;
	json_in_leave(r, old);
	return true;
}

bool
json_in_uint(json_in *r, JsonObject *o, const char *key, uint64_t min, uint64_t *out)
{
	return json_in_range(r, o, key, min, G_MAXINT64, out);
}

bool
json_in_bool(json_in *r, JsonObject *o, const char *key, bool *out)
{
	JsonNode *n = json_object_get_member(o, key);
	gsize old = json_in_enter(r, key);

	if (!n)
		return json_in_bad(r, "missing");
	if (!JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_BOOLEAN)
		return json_in_bad(r, "not true or false");
	*out = json_node_get_boolean(n);
	json_in_leave(r, old);
	return true;
}

JsonObject *
json_in_as_object(json_in *r, JsonNode *n)
{
	if (!n || !JSON_NODE_HOLDS_OBJECT(n))
		return json_in_bad(r, "not an object"), NULL;
	return json_node_get_object(n);
}

JsonObject *
json_in_object(json_in *r, JsonObject *o, const char *key)
{
	gsize old = json_in_enter(r, key);
	JsonNode *n = json_object_get_member(o, key);
	JsonObject *v = n ? json_in_as_object(r, n) : (json_in_bad(r, "missing"), NULL);

	if (v)
		json_in_leave(r, old);
	return v;
}

JsonArray *
json_in_array(json_in *r, JsonObject *o, const char *key)
{
	gsize old = json_in_enter(r, key);
	JsonNode *n = json_object_get_member(o, key);

	if (!n)
		return json_in_bad(r, "missing"), NULL;
	if (!JSON_NODE_HOLDS_ARRAY(n))
		return json_in_bad(r, "not a list"), NULL;
	json_in_leave(r, old);
	return json_node_get_array(n);
}

bool
json_in_strv(json_in *r, JsonObject *o, const char *key, GStrv *out)
{
	JsonNode *n = json_object_get_member(o, key);
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	gsize old = json_in_enter(r, key);
	JsonArray *a;

	*out = NULL;
	if (!n)
		return json_in_bad(r, "missing");
	if (JSON_NODE_HOLDS_NULL(n))
		return json_in_leave(r, old), true;
	if (!JSON_NODE_HOLDS_ARRAY(n))
		return json_in_bad(r, "not a list or null");
	a = json_node_get_array(n);
	for (guint i = 0; i < json_array_get_length(a); i++) {
		gsize at = json_in_enter_index(r, i);
		bool ok;
		const char *s = string_at(r, json_array_get_element(a, i), false, &ok);

		if (!ok)
			return false;
		g_strv_builder_add(b, s);
		json_in_leave(r, at);
	}
	*out = g_strv_builder_end(b);
	json_in_leave(r, old);
	return true;
}
