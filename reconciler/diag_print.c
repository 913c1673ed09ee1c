/*
 * diag_print.c - show spec diagnostics as text, JSON or GitHub annotations
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <json-glib/json-glib.h>

#include "diag_print.h"

char *
diag_github_escape(const char *s, gboolean property)
{
	GString *out = g_string_new(NULL);

	for (; *s; s++) {
		switch (*s) {
		case '%': g_string_append(out, "%25"); break;
		case '\r': g_string_append(out, "%0D"); break;
		case '\n': g_string_append(out, "%0A"); break;
		case ':':
			g_string_append(out, property ? "%3A" : ":");
			break;
		case ',':
			g_string_append(out, property ? "%2C" : ",");
			break;
		default: g_string_append_c(out, *s);
		}
	}
	return g_string_free(out, FALSE);
}

static void
print_github(FILE *out, const spec_diag *d)
{
	g_autofree char *file = diag_github_escape(d->file, TRUE);
	g_autofree char *title = g_strdup_printf("strata %s", d->code);
	g_autofree char *etitle = diag_github_escape(title, TRUE);
	g_autofree char *msg = diag_github_escape(d->message, FALSE);
	const char *level = d->severity == SPEC_ERROR ? "error" : "warning";

	if (d->pos.line && d->pos.line != G_MAXUINT)
		fprintf(out, "::%s file=%s,line=%u,col=%u,title=%s::%s\n", level,
			file, d->pos.line, d->pos.col, etitle, msg);
	else
		fprintf(out, "::%s file=%s,title=%s::%s\n", level, file, etitle, msg);
}

static void
print_json(FILE *out, const spec_diags *diags)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "valid");
	json_builder_add_boolean_value(b, diags->errors == 0);
	json_builder_set_member_name(b, "errors");
	json_builder_add_int_value(b, diags->errors);
	json_builder_set_member_name(b, "warnings");
	json_builder_add_int_value(b, diags->warnings);
	json_builder_set_member_name(b, "diagnostics");
	json_builder_begin_array(b);
	for (guint i = 0; i < diags->items->len; i++) {
		const spec_diag *d = diags->items->pdata[i];
		gboolean has_pos = d->pos.line && d->pos.line != G_MAXUINT;

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "file");
		json_builder_add_string_value(b, d->file);
		json_builder_set_member_name(b, "line");
		if (has_pos)
			json_builder_add_int_value(b, d->pos.line);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "column");
		if (has_pos)
			json_builder_add_int_value(b, d->pos.col);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "severity");
		json_builder_add_string_value(b, d->severity == SPEC_ERROR ? "error" : "warning");
		json_builder_set_member_name(b, "code");
		json_builder_add_string_value(b, d->code);
		json_builder_set_member_name(b, "message");
		json_builder_add_string_value(b, d->message);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	fprintf(out, "%s\n", text);
}

void
diag_print(FILE *out, output_format fmt, const spec_diags *diags)
{
	if (fmt == OUTPUT_JSON) {
		print_json(out, diags);
		return;
	}
	for (guint i = 0; i < diags->items->len; i++) {
		const spec_diag *d = diags->items->pdata[i];

		if (fmt == OUTPUT_GITHUB) {
			print_github(out, d);
		} else {
			g_autofree char *line = spec_diag_format(d);

			fprintf(out, "%s\n", line);
		}
	}
}
