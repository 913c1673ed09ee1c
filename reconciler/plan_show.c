/*
 * plan_show.c - a plan for people (text), machines (JSON) and Graphviz (dot)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "json_out.h"
#include <string.h>

#include "plan_show.h"

char *
plan_summary(const plan *p)
{
	return g_strdup_printf("%u to create, %u to change, %u to remove",
			       p->n_create, p->n_change, p->n_remove);
}

static void
show_text(FILE *out, const plan *p)
{
	g_autofree char *summary = plan_summary(p);

	for (guint i = 0; i < p->notes->len; i++)
		fprintf(out, "note: %s\n", (char *)p->notes->pdata[i]);
	for (guint i = 0; i < p->errors->len; i++)
		fprintf(out, "error: %s\n", (char *)p->errors->pdata[i]);
	if (p->ops->len == 0) {
		fprintf(out, "%s", p->errors->len ? "" : p->partial
			? "No changes planned, but not every host answers: what runs there is unknown.\n"
			: "No changes. The hosts match the spec.\n");
		return;
	}
	fprintf(out, "%sstrata will perform these operations:\n\n",
		p->notes->len || p->errors->len ? "\n" : "");
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		g_autofree char *what = op_describe(op);
		g_autoptr(GString) deps = g_string_new(NULL);
		/* A stop says when it turns into a hard power-off. */
		g_autofree char *after = op->impact == IMPACT_HARD_STOP
			? g_strdup_printf(" after %u s]", (unsigned)op->value) : g_strdup("]");

		for (guint j = 0; j < op->deps->len; j++)
			g_string_append_printf(deps, "%s%u", j ? ", " : " (after ",
					       ((plan_op *)op->deps->pdata[j])->id);
		fprintf(out, "  %3u %c %s on %s%s%s%s\n", op->id, op_symbol(op), what, op->host,
			op->impact == IMPACT_IN_PLACE ? "" : "  [",
			op->impact == IMPACT_IN_PLACE ? "" : op_impact_name(op->impact),
			op->impact == IMPACT_IN_PLACE ? "" : after);
		fprintf(out, "        # %s%s%s\n", op->reason ? op->reason : "", deps->str,
			deps->len ? ")" : "");
	}
	fprintf(out, "\nPlan: %s (%u operation%s).\n", summary, p->ops->len,
		p->ops->len == 1 ? "" : "s");
}

static void
add_strings(JsonBuilder *b, const char *name, GPtrArray *items)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_array(b);
	for (guint i = 0; i < items->len; i++)
		json_builder_add_string_value(b, items->pdata[i]);
	json_builder_end_array(b);
}

static void
add_op(JsonBuilder *b, const plan_op *op)
{
	char sym[2] = { op_symbol(op), '\0' };

	json_builder_begin_object(b);
	json_out_int(b, "id", op->id);
	json_out_string(b, "action", sym);
	json_out_string(b, "kind", op_kind_name(op->kind));
	json_out_string(b, "impact", op_impact_name(op->impact));
	if (op->impact == IMPACT_HARD_STOP)
		json_out_int(b, "hard_stop_after_s", (gint64)op->value);
	if (op->kind == OP_MIGRATE || op->kind == OP_SAVE)
		json_out_int(b, "aborted_after_s", (gint64)op->value);
	json_out_string(b, "host", op->host);
	if (op->target)
		json_out_string(b, "target", op->target);
	if (op->kind == OP_MIGRATE) {
		json_builder_set_member_name(b, "shared_storage");
		json_builder_add_boolean_value(b, op->shared);
	}
	json_out_string(b, "domain", op->domain);
	json_out_string(b, "appliance", op->appliance);
	json_out_string(b, "vm", op->vm);
	json_out_string(b, "pool", op->pool);
	json_out_string(b, "volume", op->volume);
	json_out_string(b, "reason", op->reason);
	json_out_string(b, "status", op_status_name(op->status));
	if (op->error)
		json_out_string(b, "error", op->error);
	json_builder_set_member_name(b, "after");
	json_builder_begin_array(b);
	for (guint j = 0; j < op->deps->len; j++)
		json_builder_add_int_value(b, ((plan_op *)op->deps->pdata[j])->id);
	json_builder_end_array(b);
	json_builder_end_object(b);
}

static void
show_json(FILE *out, const plan *p)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "summary");
	json_builder_begin_object(b);
	json_out_int(b, "create", p->n_create);
	json_out_int(b, "change", p->n_change);
	json_out_int(b, "remove", p->n_remove);
	json_out_int(b, "operations", p->ops->len);
	json_builder_end_object(b);
	json_builder_set_member_name(b, "operations");
	json_builder_begin_array(b);
	for (guint i = 0; i < p->ops->len; i++)
		add_op(b, p->ops->pdata[i]);
	json_builder_end_array(b);
	add_strings(b, "notes", p->notes);
	add_strings(b, "errors", p->errors);
	json_builder_end_object(b);
	json_out_print(out, b);
}

/* DOT quoted strings: only '"' and '\' need escaping. */
static char *
dot_escape(const char *s)
{
	GString *out = g_string_new(NULL);

	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			g_string_append_c(out, '\\');
		g_string_append_c(out, *s);
	}
	return g_string_free(out, FALSE);
}

static void
show_dot(FILE *out, const plan *p)
{
	fprintf(out, "digraph plan {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		g_autofree char *what = op_describe(op);
		g_autofree char *esc = dot_escape(what);

		fprintf(out, "  op%u [label=\"%u %c %s\\non %s\"%s];\n", op->id, op->id, op_symbol(op),
			esc, op->host,
			op->impact == IMPACT_DESTROYS_DATA ? ", color=red" :
			op->impact != IMPACT_IN_PLACE ? ", color=orange" : "");
		for (guint j = 0; j < op->deps->len; j++)
			fprintf(out, "  op%u -> op%u;\n", ((plan_op *)op->deps->pdata[j])->id, op->id);
	}
	fprintf(out, "}\n");
}

void
plan_show(FILE *out, output_format fmt, const plan *p)
{
	if (fmt == OUTPUT_JSON)
		show_json(out, p);
	else if (fmt == OUTPUT_DOT)
		show_dot(out, p);
	else if (fmt == OUTPUT_MARKDOWN) {
		g_autofree char *md = plan_markdown(p);

		fputs(md, out);
	}
	else
		show_text(out, p);
}
