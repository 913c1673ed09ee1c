/*
 * json_in.h - strict reading of JSON that strata did not write itself
 *
 * A library's index and an observed snapshot come from folders and CI
 * artifacts, so they are read as hostile: every member has the type it
 * must have, a missing or wrong one is an error that names the file and
 * the member's JSON path ("observed.json: hosts[0].pools[2].capacity: not
 * an integer"), and the first error stops the reading.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <json-glib/json-glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
	const char *what;     /* the file, for messages */
	GString *where;       /* JSON path of the member being read */
	char *error;          /* the first error, or NULL */
} json_in;

/* Deeper than this is refused before parsing: json-glib parses
 * recursively, and 200 KB of "[" would overflow the stack. */
#define JSON_IN_MAX_DEPTH 64

/*
 * Parse @text with @p: refused, with @error naming @what and where, when
 * it nests deeper than JSON_IN_MAX_DEPTH or does not parse.  Control
 * characters the parser's message would echo are replaced.
 */
bool json_in_parse(JsonParser *p, const char *what, const char *text, gssize len, GError **error);
/* @s with every control character (C0, DEL, C1) replaced by '?'. */
char *json_in_printable(const char *s);

void json_in_init(json_in *r, const char *what);
/* Frees the path, not the error: take r->error first. */
void json_in_release(json_in *r);

/* Record an error at the current path (the first one only); false. */
bool json_in_bad(json_in *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Enter member @key, or element @i, of the current path; json_in_leave
 * goes back to the length json_in_enter returned. */
gsize json_in_enter(json_in *r, const char *key);
gsize json_in_enter_index(json_in *r, guint i);
void json_in_leave(json_in *r, gsize old);

/* Member @key: a string (borrowed), required; no control characters. */
const char *json_in_string(json_in *r, JsonObject *o, const char *key);
/* The same, where a missing member or null means NULL; *@ok false on an error. */
const char *json_in_string_or_null(json_in *r, JsonObject *o, const char *key, bool *ok);
bool json_in_uint(json_in *r, JsonObject *o, const char *key, uint64_t min, uint64_t *out);
/* An integer within [@min, @max]. */
bool json_in_range(json_in *r, JsonObject *o, const char *key, uint64_t min, uint64_t max,
		   uint64_t *out);
bool json_in_bool(json_in *r, JsonObject *o, const char *key, bool *out);
/* Member @key: an object / an array, required. */
JsonObject *json_in_object(json_in *r, JsonObject *o, const char *key);
JsonArray *json_in_array(json_in *r, JsonObject *o, const char *key);
/* Element @n as an object, at the current path. */
JsonObject *json_in_as_object(json_in *r, JsonNode *n);
/* Member @key: an array of strings, or null (*@out NULL). */
bool json_in_strv(json_in *r, JsonObject *o, const char *key, GStrv *out);
