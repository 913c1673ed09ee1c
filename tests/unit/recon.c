/*
 * recon.c - a simulated datacenter for reconcile tests
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <string.h>

#include "recon.h"
#include "../../reconciler/observe_snapshot.h"

const char *const dc_base_spec =
	"kind: host\nname: hv1\nuri: test://" SRCDIR "/examples/webstack/hosts/hv1.xml\ntags: [ssd]\n---\n"
	"kind: host\nname: hv2\nuri: test://" SRCDIR "/examples/webstack/hosts/hv2.xml\ntags: [ssd]\n---\n"
	"kind: host\nname: hv3\nuri: test://" SRCDIR "/examples/webstack/hosts/hv3.xml\n---\n"
	"kind: template\nname: debian-12\npool: default\nvolume: debian-12.qcow2\nmemory: 1GiB\n---\n"
	"kind: template\nname: debian-13\npool: default\nvolume: debian-12.qcow2\nmemory: 1GiB\ncpus: 2\n---\n"
	"kind: persistent-template\nname: db-data\nfrom: debian-12\nsize: 20GiB\n---\n";

void
dc_spec(dc *d, const char *appliances)
{
	g_autofree char *text = g_strconcat(dc_base_spec, appliances, NULL);

	tu_write(d->spec, text);
}

static dc *dc_open(dc *d);

dc *
dc_new(const char *appliances)
{
	dc *d = g_new0(dc, 1);

	d->dir = tu_mkdtemp();
	d->spec = g_build_filename(d->dir, "spec.yaml", NULL);
	dc_spec(d, appliances);
	return dc_open(d);
}

dc *
dc_new_spec(const char *text)
{
	dc *d = g_new0(dc, 1);

	d->dir = tu_mkdtemp();
	d->spec = g_build_filename(d->dir, "spec.yaml", NULL);
	tu_write(d->spec, text);
	return dc_open(d);
}

static dc *
dc_open(dc *d)
{
	g_autofree char *db = NULL;
	g_autoptr(GError) err = NULL;
	spec_diags diags;
	g_autoptr(spec_source) src = NULL;

	spec_diags_init(&diags);
	src = spec_load(d->spec, &diags);
	spec_validate(src, &diags);
	assert_int_equal(diags.errors, 0);
	spec_diags_release(&diags);
	d->hosts = hosts_open(src, "test:///default", false, HOSTS_CONNECT_DEADLINE_MS, &err);
	assert_non_null(d->hosts);
	d->cache = obs_cache_new();
	db = g_build_filename(d->dir, "strata.db", NULL);
	d->hist = history_open(db, &err);
	assert_non_null(d->hist);
	return d;
}

void
dc_free(dc *d)
{
	pass_release(&d->last);
	history_close(d->hist);
	obs_cache_free(d->cache);
	hosts_free(d->hosts);
	tu_rmtree(d->dir);
	g_free(d->spec);
	g_free(d->dir);
	g_free(d);
}

static char *
plan_shown(const plan *p, output_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	plan_show(f, fmt, p);
	fclose(f);
	return buf;
}

/*
 * Every plan a test makes is made again from a snapshot of what its pass
 * observed, written and read back as `strata observe` and `strata plan
 * --observed` do: the two must be the same, byte for byte, in text and in
 * JSON, and the snapshot must cover the revision.  (Passes that read a
 * writer's history plan with what a snapshot does not carry.)
 */
static void
dc_check_snapshot(dc *d, const pass_options *live)
{
	g_autofree char *file = g_build_filename(d->dir, "observed.json", NULL);
	g_autofree char *text = observe_snapshot_write(d->last.have, NULL, g_get_real_time() / G_USEC_PER_SEC);
	pass_options o = *live;
	g_autoptr(GError) err = NULL;
	pass p;

	o.observed_file = file;
	o.hist = NULL;
	assert_true(g_file_set_contents(file, text, -1, NULL));
	if (!pass_run(&p, &o, NULL, NULL, &err))
		fail_msg("plan from the snapshot failed: %s", err ? err->message : "invalid spec");
	for (guint i = 0; i < p.snapshot_gaps->len; i++)
		print_error("gap: %s\n", (char *)p.snapshot_gaps->pdata[i]);
	assert_int_equal(p.snapshot_gaps->len, 0);
	for (output_format fmt = OUTPUT_TEXT; fmt <= OUTPUT_JSON; fmt++) {
		g_autofree char *want = plan_shown(d->last.plan, fmt);
		g_autofree char *got = plan_shown(p.plan, fmt);

		assert_string_equal(got, want);
	}
	pass_release(&p);
}

const plan *
dc_plan(dc *d)
{
	pass_options o = { .path = d->spec, .connect = "test:///default",
			   .hist = d->use_history ? d->hist : NULL,
			   .plan = { .allow_empty = d->allow_empty,
				     .allow_removal = d->allow_removal } };
	g_autoptr(GError) err = NULL;

	pass_release(&d->last);
	if (!pass_run(&d->last, &o, d->hosts, d->cache, &err)) {
		for (guint i = 0; i < d->last.diags.items->len; i++)
			print_error("%s\n", spec_diag_format(d->last.diags.items->pdata[i]));
		fail_msg("pass failed: %s", err ? err->message : "invalid spec");
	}
	if (!o.hist)
		dc_check_snapshot(d, &o);
	return d->last.plan;
}

char *
dc_plan_text(dc *d)
{
	return plan_shown(dc_plan(d), OUTPUT_TEXT);
}

exec_result
dc_apply(dc *d)
{
	dc_plan(d);
	return dc_apply_planned(d);
}

exec_result
dc_apply_planned(dc *d)
{
	plan *p = d->last.plan;
	g_autoptr(GError) err = NULL;
	exec_options eo;
	exec_result r;
	gint64 run;

	for (guint i = 0; i < p->errors->len; i++)
		print_error("plan error: %s\n", (char *)p->errors->pdata[i]);
	assert_int_equal(p->errors->len, 0);
	exec_options_init(&eo);
	eo.shutdown_timeout_ms = 2000;
	run = history_run_begin(d->hist, "test", 0, &err);
	assert_true(run > 0);
	r = exec_plan(p, d->hosts, d->hist, run, d->cache, &eo, &err);
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];

		if (op->status == OPST_FAILED)
			print_error("op %u %s %s failed: %s\n", op->id, op_kind_name(op->kind),
				    op->domain ? op->domain : op->volume, op->error);
	}
	return r;
}

const obs_domain *
dc_domain(dc *d, const char *name)
{
	dc_plan(d);
	return g_hash_table_lookup(d->last.have->domain_by_name, name);
}

bool
dc_has_volume(dc *d, const char *host, const char *volume)
{
	obs_host *h;

	dc_plan(d);
	h = observed_host(d->last.have, host);
	return h && obs_host_has_volume(h, "default", volume);
}

void
dc_assert_no_changes(dc *d)
{
	g_autofree char *text = dc_plan_text(d);

	assert_string_equal(text, "No changes. The hosts match the spec.\n");
}

void
dc_assert_plan_has(dc *d, const char *what)
{
	g_autofree char *text = dc_plan_text(d);

	if (!strstr(text, what))
		fail_msg("the plan lacks '%s':\n%s", what, text);
}
