/*
 * plan_markdown.c - a plan as a pull-request comment (GitHub, GitLab)
 *
 * What a reviewer must see is never folded away: the counts by impact,
 * the errors (what is refused, and why), the notes and every operation
 * that destroys data.  The full list of operations and the DAG (a Mermaid
 * graph) sit in a <details> block.
 *
 * Every string of a plan may carry text from a spec or from a host
 * (names, paths, libvirt's messages), and the comment is rendered as HTML
 * for everyone who opens the pull request: each string is escaped for the
 * place it lands in, so that a spec can put neither HTML nor Markdown
 * into the comment, nor mention anyone or link anything.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "plan_show.h"

/* Mermaid draws more as an unreadable wall, and GitHub refuses a
 * diagram of more than 500 edges: past this the graph is left out. */
#define MD_GRAPH_MAX_OPS 100

/* The impacts from worst to mildest: the order of the counts line. */
static const op_impact impact_order[] = {
	IMPACT_DESTROYS_DATA, IMPACT_REPLACE, IMPACT_HARD_STOP, IMPACT_RESTART, IMPACT_IN_PLACE,
};

/*
 * @s as Markdown inline text (a list item, a table cell).  A line break
 * would end the item or the row: it becomes a space.  The characters that
 * open inline syntax (code, emphasis, links and images, strikethrough,
 * GitHub's math), a heading or end a table cell are backslash-escaped,
 * which CommonMark allows for any ASCII punctuation; then HTML's own
 * specials become entities, so that no tag of the spec's is ever one,
 * whatever the renderer does with raw HTML.
 */
/* U+2060 WORD JOINER: invisible, and no word boundary. */
#define MD_WJ "\xe2\x81\xa0"

/*
 * Whether a link or a reference begins at @s in @start: GitHub and GitLab
 * link @user (and notify them), #12, !3, %milestone, &epic, ~label and
 * $snippet after rendering, so a backslash does not stop them, and GFM
 * autolinks http://... and www.... A word joiner after the marker keeps
 * the text as it reads and breaks the link.
 */
static gsize
md_link_start(const char *start, const char *s)
{
	if (strchr("@#!%&~$", *s))
		return 1;
	if (s[0] == ':' && s[1] == '/' && s[2] == '/')
		return 1;
	if ((s == start || !g_ascii_isalnum(s[-1])) && g_ascii_strncasecmp(s, "www.", 4) == 0)
		return 3;
	return 0;
}

static void
md_text(GString *out, const char *s)
{
	g_autoptr(GString) md = g_string_new(NULL);
	g_autofree char *html = NULL;
	const char *start = s;

	for (; s && *s; s++) {
		gsize link = md_link_start(start, s);

		if (*s == '\n' || *s == '\r') {
			g_string_append_c(md, ' ');
			continue;
		}
		if (strchr("\\`*_[]|~#!$", *s))
			g_string_append_c(md, '\\');
		if (link > 1) {
			g_string_append_len(md, s, (gssize)link);
			s += link - 1;
		} else {
			g_string_append_c(md, *s);
		}
		if (link)
			g_string_append(md, MD_WJ);
	}
	html = g_markup_escape_text(md->str, -1);
	g_string_append(out, html);
}

/*
 * @s inside a double-quoted Mermaid label.  Mermaid has entity codes of
 * its own (#quot;, #60;): a quote would end the label, '#' start a code,
 * '<' and '>' make HTML of the label, and a backtick could begin the
 * fence that closes the code block around the graph.
 */
static void
mermaid_text(GString *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '"': g_string_append(out, "#quot;"); break;
		case '#': g_string_append(out, "#35;"); break;
		case '&': g_string_append(out, "#38;"); break;
		case '<': g_string_append(out, "#60;"); break;
		case '>': g_string_append(out, "#62;"); break;
		case '`': g_string_append(out, "#96;"); break;
		case '\n':
		case '\r': g_string_append_c(out, ' '); break;
		default: g_string_append_c(out, *s);
		}
	}
}

/* What @op acts on: its description less the kind that starts it. */
static char *
op_target(const plan_op *op)
{
	g_autofree char *what = op_describe(op);
	const char *kind = op_kind_name(op->kind);

	if (g_str_has_prefix(what, kind) && what[strlen(kind)] == ' ')
		return g_strdup(what + strlen(kind) + 1);
	return g_steal_pointer(&what);
}

/* "hard-stop after 120 s": when a graceful stop turns into a power-off. */
static char *
op_impact_text(const plan_op *op)
{
	if (op->impact == IMPACT_HARD_STOP)
		return g_strdup_printf("%s after %u s", op_impact_name(op->impact), (unsigned)op->value);
	return g_strdup(op_impact_name(op->impact));
}

/* "1, 2": the ids @op waits for. */
static void
append_deps(GString *out, const plan_op *op)
{
	for (guint j = 0; j < op->deps->len; j++)
		g_string_append_printf(out, "%s%u", j ? ", " : "", ((plan_op *)op->deps->pdata[j])->id);
}

static void
md_counts(GString *out, const plan *p)
{
	guint n[G_N_ELEMENTS(impact_order)] = { 0 };
	g_autofree char *summary = plan_summary(p);

	for (guint i = 0; i < p->ops->len; i++)
		for (guint k = 0; k < G_N_ELEMENTS(impact_order); k++)
			n[k] += ((plan_op *)p->ops->pdata[i])->impact == impact_order[k];
	g_string_append(out, "**Impact:** ");
	for (guint k = 0; k < G_N_ELEMENTS(impact_order); k++)
		g_string_append_printf(out, "%s%u %s", k ? ", " : "", n[k], op_impact_name(impact_order[k]));
	g_string_append_printf(out, "  \n**Plan:** %s (%u operation%s).\n\n", summary, p->ops->len,
			       p->ops->len == 1 ? "" : "s");
}

/* Errors first, then notes: each item starts with its label, so that no
 * text of the plan's ever begins a line (where Markdown reads lists,
 * headings and quotes). */
static void
md_messages(GString *out, const char *label, const GPtrArray *items)
{
	for (guint i = 0; i < items->len; i++) {
		g_string_append_printf(out, "- **%s:** ", label);
		md_text(out, items->pdata[i]);
		g_string_append_c(out, '\n');
	}
}

/* Destroying data is what a reviewer must never miss: listed unfolded. */
static void
md_destroys(GString *out, const plan *p)
{
	bool any = false;

	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		g_autofree char *what = NULL;

		if (op->impact != IMPACT_DESTROYS_DATA)
			continue;
		if (!any)
			g_string_append(out, "**Destroys data:**\n\n");
		any = true;
		what = op_describe(op);
		g_string_append_printf(out, "- %u: ", op->id);
		md_text(out, what);
		g_string_append(out, " on ");
		md_text(out, op->host);
		if (op->reason) {
			g_string_append(out, " (");
			md_text(out, op->reason);
			g_string_append_c(out, ')');
		}
		g_string_append_c(out, '\n');
	}
	if (any)
		g_string_append_c(out, '\n');
}

static void
md_op_row(GString *out, const plan_op *op)
{
	g_autofree char *target = op_target(op);
	g_autofree char *impact = op_impact_text(op);

	g_string_append_printf(out, "| %u | %c %s | ", op->id, op_symbol(op), op_kind_name(op->kind));
	md_text(out, target);
	g_string_append(out, " | ");
	md_text(out, op->host);
	g_string_append_printf(out, " | %s | ", impact);
	md_text(out, op->reason);
	g_string_append(out, " | ");
	append_deps(out, op);
	g_string_append(out, " |\n");
}

static void
md_table(GString *out, const plan *p)
{
	g_string_append(out, "| # | op | target | host | impact | reason | after |\n"
			     "|---:|---|---|---|---|---|---|\n");
	for (guint i = 0; i < p->ops->len; i++)
		md_op_row(out, p->ops->pdata[i]);
	g_string_append_c(out, '\n');
}

/* Nodes are the ops ("3 + start webstack.app1 on hv2"), edges their
 * dependencies; a class colours what replaces or destroys. */
static void
md_graph(GString *out, const plan *p)
{
	if (p->ops->len > MD_GRAPH_MAX_OPS) {
		g_string_append_printf(out, "The graph is left out: %u operations are more than %u.\n\n",
				       p->ops->len, MD_GRAPH_MAX_OPS);
		return;
	}
	g_string_append(out, "```mermaid\nflowchart LR\n"
			     "  classDef destroys stroke:#c00,stroke-width:3px\n"
			     "  classDef replaces stroke:#e80,stroke-width:2px\n");
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		g_autofree char *what = op_describe(op);

		g_string_append_printf(out, "  op%u[\"%u %c ", op->id, op->id, op_symbol(op));
		mermaid_text(out, what);
		g_string_append(out, " on ");
		mermaid_text(out, op->host);
		g_string_append(out, "\"]\n");
		for (guint j = 0; j < op->deps->len; j++)
			g_string_append_printf(out, "  op%u --> op%u\n", ((plan_op *)op->deps->pdata[j])->id, op->id);
		if (op->impact == IMPACT_DESTROYS_DATA || op->impact == IMPACT_REPLACE)
			g_string_append_printf(out, "  class op%u %s\n", op->id,
					       op->impact == IMPACT_DESTROYS_DATA ? "destroys" : "replaces");
	}
	g_string_append(out, "```\n\n");
}

char *
plan_markdown(const plan *p)
{
	GString *out = g_string_new("### strata plan\n\n");

	md_messages(out, "error", p->errors);
	md_messages(out, "note", p->notes);
	if (p->errors->len || p->notes->len)
		g_string_append_c(out, '\n');
	if (p->ops->len == 0) {
		g_string_append(out, p->errors->len ? "No operation is planned.\n" : p->partial
				? "No changes planned, but not every host answers: what runs there is unknown.\n"
				: "No changes. The hosts match the spec.\n");
		return g_string_free(out, FALSE);
	}
	md_counts(out, p);
	md_destroys(out, p);
	/* The blank line after <summary> makes what follows Markdown again. */
	g_string_append_printf(out, "<details><summary>%u operation%s, in order</summary>\n\n",
			       p->ops->len, p->ops->len == 1 ? "" : "s");
	md_table(out, p);
	md_graph(out, p);
	g_string_append(out, "</details>\n");
	return g_string_free(out, FALSE);
}
