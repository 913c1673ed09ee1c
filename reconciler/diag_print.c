/*
 * diag_print.c - show spec diagnostics as text, JSON or GitHub annotations
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "json_out.h"

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

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "valid");
	json_builder_add_boolean_value(b, diags->errors == 0);
	json_out_int(b, "errors", diags->errors);
	json_out_int(b, "warnings", diags->warnings);
	json_builder_set_member_name(b, "diagnostics");
	json_builder_begin_array(b);
	for (guint i = 0; i < diags->items->len; i++) {
		const spec_diag *d = diags->items->pdata[i];
		gboolean has_pos = d->pos.line && d->pos.line != G_MAXUINT;

		json_builder_begin_object(b);
		json_out_string(b, "file", d->file);
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
		json_out_string(b, "severity", d->severity == SPEC_ERROR ? "error" : "warning");
		json_out_string(b, "code", d->code);
		json_out_string(b, "message", d->message);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	json_out_print(out, b);
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
