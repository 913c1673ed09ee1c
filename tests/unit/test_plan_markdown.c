/*
 * test_plan_markdown.c - `strata plan -o markdown`, the pull-request comment
 *
 * Real plans from the test driver's datacenter, as Markdown; then the
 * same through a real Markdown parser (cmark-gfm, GitHub's fork of
 * cmark, with its table extension) to HTML, as a pull request shows it.
 * A plan built by hand carries hostile text (HTML, Markdown, Mermaid and
 * table syntax) where a spec or a host could put it.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "recon.h"

#define GOLDEN(name) SRCDIR "/tests/data/plan/" name ".md"

static const char *const before =
	"kind: appliance\nname: t\nvms:\n  - {name: vm, template: debian-12}\n---\n"
	"kind: appliance\nname: r\nvms:\n  - {name: vm, template: debian-12}\n---\n"
	"kind: appliance\nname: n\ndisruption: never\nvms:\n  - {name: vm, template: debian-12}\n---\n"
	"kind: appliance\nname: shop\nvms:\n"
	"  - {name: db, persistent: db-data, memory: 2GiB, disks: [{name: scratch, size: 5GiB}], requires: [ssd]}\n"
	"  - {name: app1, template: debian-12, after: [db]}\n"
	"  - {name: app2, template: debian-12, after: [db]}\n";

/* A template changed (destroys-data, replace), a restart, a rebuild refused
 * by disruption: never, a VM removed (hard-stop, destroys-data). */
static const char *const after =
	"kind: appliance\nname: t\nvms:\n  - {name: vm, template: debian-13}\n---\n"
	"kind: appliance\nname: r\nvms:\n  - {name: vm, template: debian-12, cpus: 3}\n---\n"
	"kind: appliance\nname: n\ndisruption: never\nvms:\n  - {name: vm, template: debian-13}\n---\n"
	"kind: appliance\nname: shop\nvms:\n"
	"  - {name: db, persistent: db-data, memory: 2GiB, disks: [{name: scratch, size: 5GiB}], requires: [ssd]}\n"
	"  - {name: app1, template: debian-12, after: [db]}\n";

static const char *const refusal =
	"n.vm: the change needs the VM rebuilt from its new template, and appliance 'n' sets disruption: never";

/* The fleet deployed, then changed: its plan (owned by @d). */
static const plan *
fleet_change(dc **out)
{
	dc *d = dc_new(before);

	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	dc_spec(d, after);
	*out = d;
	return dc_plan(d);
}

static guint
count(const char *haystack, const char *needle)
{
	guint n = 0;

	for (const char *s = haystack; (s = strstr(s, needle)); s += strlen(needle))
		n++;
	return n;
}

/* @needle is in @text, before @mark (which is there too). */
static void
assert_before(const char *text, const char *needle, const char *mark)
{
	const char *at = strstr(text, needle), *m = strstr(text, mark);

	if (!at || !m || at > m)
		print_error("expected '%s' before '%s' in:\n%s\n", needle, mark, text);
	assert_non_null(at);
	assert_non_null(m);
	assert_true(at < m);
}

static void
test_markdown__counts_errors_and_data_loss_are_never_folded(void **state)
{
	dc *d = NULL;
	const plan *p = fleet_change(&d);
	g_autofree char *md = plan_markdown(p);
	g_autofree char *summary = plan_summary(p);
	g_autofree char *plan_line = g_strdup_printf("**Plan:** %s (%u operations).", summary, p->ops->len);
	g_autofree char *escaped = g_markup_escape_text(refusal, -1);
	g_autofree char *error_line = g_strdup_printf("- **error:** %s\n", escaped);
	guint n[5] = { 0 };
	g_autofree char *impact_line = NULL;

	(void)state;
	/* The plan has what the summary is for: otherwise it proves little. */
	for (guint i = 0; i < p->ops->len; i++)
		n[((plan_op *)p->ops->pdata[i])->impact]++;
	assert_int_equal(n[IMPACT_DESTROYS_DATA], 2);
	assert_true(n[IMPACT_REPLACE] > 0 && n[IMPACT_RESTART] > 0 && n[IMPACT_HARD_STOP] > 0);
	assert_int_equal(p->errors->len, 1);
	impact_line = g_strdup_printf("**Impact:** %u destroys-data, %u replace, %u hard-stop, %u restart, %u in-place",
				      n[IMPACT_DESTROYS_DATA], n[IMPACT_REPLACE], n[IMPACT_HARD_STOP],
				      n[IMPACT_RESTART], n[IMPACT_IN_PLACE]);
	assert_true(g_str_has_prefix(md, "### strata plan\n\n"));
	assert_before(md, error_line, "<details>");
	assert_before(md, impact_line, "<details>");
	assert_before(md, plan_line, "<details>");
	assert_before(md, "**Destroys data:**\n\n", "<details>");
	assert_before(md, "delete-volume default/t.vm--system.qcow2 on hv", "<details>");
	assert_before(md, "delete-volume default/shop.app2--system.qcow2 on hv", "<details>");
	assert_true(g_str_has_suffix(md, "</details>\n"));
	tu_assert_golden(md, GOLDEN("fleet-change"));
	dc_free(d);
}

/* One table row and one graph node per op, one edge per dependency. */
static void
test_markdown__every_op_has_a_row_a_node_and_its_edges(void **state)
{
	dc *d = NULL;
	const plan *p = fleet_change(&d);
	g_autofree char *md = plan_markdown(p);
	const char *graph;

	(void)state;
	assert_non_null(strstr(md, "| # | op | target | host | impact | reason | after |\n|---:|"));
	graph = strstr(md, "```mermaid\nflowchart LR\n");
	assert_non_null(graph);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		g_autofree char *row = g_strdup_printf("\n| %u | %c %s | ", op->id, op_symbol(op),
						       op_kind_name(op->kind));
		g_autofree char *node = g_strdup_printf("\n  op%u[\"%u %c %s ", op->id, op->id,
							op_symbol(op), op_kind_name(op->kind));

		assert_int_equal(count(md, row), 1);
		assert_int_equal(count(graph, node), 1);
		for (guint j = 0; j < op->deps->len; j++) {
			g_autofree char *edge = g_strdup_printf("\n  op%u --> op%u\n",
								((plan_op *)op->deps->pdata[j])->id, op->id);

			assert_int_equal(count(graph, edge), 1);
		}
	}
	/* A row lists what the op waits for, as the text plan does. */
	assert_non_null(strstr(md, "| - delete-volume | default/t.vm--system.qcow2 | hv1 | destroys-data | "
				   "template changed: the system disk is rebuilt | 1 |\n"));
	dc_free(d);
}

static void
test_markdown__no_changes_is_one_line(void **state)
{
	dc *d = dc_new(before);
	g_autofree char *md = NULL;

	(void)state;
	assert_int_equal(dc_apply(d), EXEC_CONVERGED);
	md = plan_markdown(dc_plan(d));
	assert_string_equal(md, "### strata plan\n\nNo changes. The hosts match the spec.\n");
	dc_free(d);
}

/*
 * A plan whose every string a spec or a host could have written holds
 * HTML, Markdown, table and Mermaid syntax.  Two ops on one domain (the
 * second waits for the first) make an edge.
 */
static plan *
hostile_plan(void)
{
	plan *p = plan_new();

	plan_append_oneshot(p, OP_REBOOT, "hv|1", "evil.\"vm\"",
			    "<script>alert(1)</script> a|b & `code` *em* [x](http://e.x) #1 $x$\n- item");
	plan_append_oneshot(p, OP_SNAPSHOT_CREATE, "hv|1", "evil.\"vm\"", "</details><img src=x onerror=alert(2)>");
	g_ptr_array_add(p->errors, g_strdup("<script>alert(3)</script> refused"));
	g_ptr_array_add(p->notes, g_strdup("<b>bold</b> note | ```"));
	/* A foreign domain's name reaches a note: no mention, reference or link. */
	g_ptr_array_add(p->notes, g_strdup("ignored: domain '@all @org/team #12 !3 www.evil.example https://x.example'"));
	return p;
}

/* In @md's Mermaid block: each label is one double-quoted string. */
static void
assert_mermaid_labels_quoted(const char *md)
{
	const char *graph = strstr(md, "```mermaid\n");
	const char *end = graph ? strstr(graph + 3, "\n```\n") : NULL;

	/* What is between the fences. */
	graph = graph ? graph + strlen("```mermaid\n") : NULL;
	g_autofree char *block = NULL;
	g_auto(GStrv) lines = NULL;

	assert_non_null(end);
	block = g_strndup(graph, end - graph);
	lines = g_strsplit(block, "\n", -1);
	for (guint i = 0; lines[i]; i++)
		if (strstr(lines[i], "[\""))
			assert_int_equal(count(lines[i], "\""), 2);
	assert_non_null(strstr(block, "evil.#quot;vm#quot; on hv|1\"]"));
	assert_null(strstr(block, "<"));
	assert_null(strstr(block, "`"));
}

static void
test_markdown__spec_text_is_escaped_where_it_lands(void **state)
{
	g_autoptr(plan) p = hostile_plan();
	g_autofree char *md = plan_markdown(p);

	(void)state;
	assert_null(strstr(md, "<script"));
	assert_null(strstr(md, "<img"));
	assert_null(strstr(md, "<b>"));
	assert_null(strstr(md, "</details><"));
	assert_non_null(strstr(md, "a\\|b"));
	assert_non_null(strstr(md, "- **error:** &lt;script&gt;alert(3)&lt;/script&gt; refused\n"));
	/* The line break in a reason does not end the row. */
	assert_non_null(strstr(md, "\\$\u2060x\\$\u2060 - item | "));
	assert_mermaid_labels_quoted(md);
}

/* @md as HTML, by cmark-gfm with tables, raw HTML let through (--unsafe,
 * as GitHub lets <details> through): the escaping tested is strata's. */
static char *
render_html(const char *md)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *path = g_build_filename(dir, "plan.md", NULL);
	const char *argv[] = { "cmark-gfm", "--unsafe", "-e", "table", "-e", "autolink", path, NULL };
	g_autofree char *errs = NULL;
	g_autoptr(GError) err = NULL;
	char *html = NULL;
	int status = 0;

	tu_write(path, md);
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
			  &html, &errs, &status, &err))
		fail_msg("cannot run cmark-gfm (make deps installs it): %s", err->message);
	if (!g_spawn_check_wait_status(status, NULL))
		fail_msg("cmark-gfm failed: %s", errs);
	tu_rmtree(dir);
	return html;
}

static void
test_markdown__a_real_plan_renders_as_github_would(void **state)
{
	dc *d = NULL;
	const plan *p = fleet_change(&d);
	g_autofree char *md = plan_markdown(p);
	g_autofree char *html = render_html(md);
	g_autofree char *error_item = g_strdup_printf("<li><strong>error:</strong> %s</li>", refusal);
	g_autofree char *ops = g_strdup_printf("<details><summary>%u operations, in order</summary>\n<table>",
					       p->ops->len);
	g_autofree char *summary = plan_summary(p);

	(void)state;
	assert_before(html, "<h3>strata plan</h3>", "<details>");
	assert_before(html, "<strong>Impact:</strong> 2 destroys-data, ", "<details>");
	assert_before(html, summary, "<details>");
	assert_before(html, error_item, "<details>");
	assert_before(html, "<strong>Destroys data:</strong>", "<details>");
	/* The table is a table, in the block: a header, one row and 7
	 * cells per op. */
	assert_before(html, ops, "</details>");
	assert_int_equal(count(html, "<tr>"), p->ops->len + 1);
	assert_int_equal(count(html, "<td"), 7 * p->ops->len);
	assert_before(html, "<pre><code class=\"language-mermaid\">flowchart LR\n", "</details>");
	assert_non_null(strstr(html, "  op1 --&gt; op"));
	dc_free(d);
}

static void
test_markdown__hostile_text_renders_inert(void **state)
{
	g_autoptr(plan) p = hostile_plan();
	g_autofree char *md = plan_markdown(p);
	g_autofree char *html = render_html(md);

	(void)state;
	/* No tag of the plan's text is a tag, none closes <details> early. */
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "<b>"));
	assert_int_equal(count(html, "</details>"), 1);
	assert_non_null(strstr(html, "<li><strong>error:</strong> &lt;script&gt;alert(3)&lt;/script&gt; refused</li>"));
	assert_non_null(strstr(html, "&lt;img src=x onerror=alert(2)&gt;"));
	/* Nor Markdown: no emphasis, code, link or second list. */
	assert_null(strstr(html, "<em>"));
	assert_null(strstr(html, "<code>"));
	assert_null(strstr(html, "<a "));
	assert_int_equal(count(html, "<ul>"), 1);
	/* '|' in a cell stays in it: 2 rows of 7 cells, the host whole. */
	assert_int_equal(count(html, "<tr>"), 3);
	assert_int_equal(count(html, "<td"), 14);
	assert_non_null(strstr(html, "<td>hv|1</td>"));
	assert_non_null(strstr(html, "a|b &amp;\u2060 `code` *em* [x](http:\u2060//e.x) #\u20601 $\u2060x$\u2060 - item</td>"));
	assert_non_null(strstr(html, "<code class=\"language-mermaid\">"));
	/* Rendered with GitHub's autolinks: none; each marker has its joiner. */
	assert_null(strstr(html, "<a "));
	assert_non_null(strstr(html, "@\u2060all @\u2060org/team #\u206012 !\u20603 www\u2060.evil.example https:\u2060//x.example"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markdown__counts_errors_and_data_loss_are_never_folded),
		cmocka_unit_test(test_markdown__every_op_has_a_row_a_node_and_its_edges),
		cmocka_unit_test(test_markdown__no_changes_is_one_line),
		cmocka_unit_test(test_markdown__spec_text_is_escaped_where_it_lands),
		cmocka_unit_test(test_markdown__a_real_plan_renders_as_github_would),
		cmocka_unit_test(test_markdown__hostile_text_renders_inert),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests_name("plan_markdown", tests, NULL, NULL);
}
