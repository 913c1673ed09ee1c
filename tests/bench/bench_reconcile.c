/*
 * bench_reconcile.c - plan and apply 10,000 VMs over 100 simulated hosts
 *
 * Writes 100 test-driver node files and a source of 1,000 appliances of
 * 10 VMs, then measures in one process (the test driver keeps state only
 * as long as its connections): a cold plan (parse + observe + diff), the
 * apply (operations per second), a no-op plan after it, and the libvirt
 * calls each pass made.  Goals (issue #3): no-op plan <= 1 s, apply >=
 * 2,000 ops/s, calls per pass O(hosts).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <malloc.h>
#include <string.h>
#include <sys/resource.h>

#include "../../reconciler/exec.h"
#include "../../reconciler/observe_snapshot.h"
#include "../../reconciler/pass.h"
#include "benchgen.h"


static double
current_rss_mib(void)
{
	g_autofree char *text = NULL;
	const char *p;

	if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL) ||
	    !(p = strstr(text, "VmRSS:")))
		return 0;
	return (double)g_ascii_strtoull(p + 6, NULL, 10) / 1024.0;
}

static double
ms_since(gint64 t0)
{
	return (double)(g_get_monotonic_time() - t0) / 1000.0;
}

int
main(void)
{
	g_autofree char *dir = g_dir_make_tmp("strata-bench-XXXXXX", NULL);
	g_autofree char *spec = g_build_filename(dir, "spec.yaml", NULL);
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autofree char *cmd = NULL;
	g_autoptr(obs_cache) cache = obs_cache_new();
	g_autoptr(GError) err = NULL;
	g_autoptr(history) hist = NULL;
	pass_options po = { .path = spec, .connect = "test:///default" };
	exec_options eo;
	host_set *hosts;
	pass p;
	double cold_ms, apply_ms, noop_ms;
	unsigned ops, cold_calls, noop_calls, reads;
	exec_result r;
	struct rusage ru;
	double hosts_rss;
	gint64 t0;

	benchgen_source(dir);
	hist = history_open(db, &err);

	t0 = g_get_monotonic_time();
	if (!pass_run(&p, &po, NULL, cache, &err) || p.plan->errors->len) {
		fprintf(stderr, "bench: cold plan failed: %s\n", err ? err->message :
			p.plan && p.plan->errors->len ? (char *)p.plan->errors->pdata[0] : "invalid spec");
		return 1;
	}
	cold_ms = ms_since(t0);
	cold_calls = p.calls;
	ops = p.plan->ops->len;
	/* Keep the connections: the simulated hosts live as long as they do. */
	hosts = p.hosts;
	p.own_hosts = false;

	exec_options_init(&eo);
	t0 = g_get_monotonic_time();
	r = exec_plan(p.plan, hosts, hist, history_run_begin(hist, "bench", 0, NULL), cache, &eo, &err);
	apply_ms = ms_since(t0);
	if (r != EXEC_CONVERGED) {
		for (guint i = 0; i < p.plan->ops->len; i++) {
			plan_op *op = p.plan->ops->pdata[i];

			if (op->status == OPST_FAILED) {
				fprintf(stderr, "bench: %s %s: %s\n", op_kind_name(op->kind),
					op->domain, op->error);
				break;
			}
		}
		fprintf(stderr, "bench: apply did not converge\n");
		return 1;
	}
	pass_release(&p);

	t0 = g_get_monotonic_time();
	if (!pass_run(&p, &po, hosts, cache, &err))
		return 1;
	noop_ms = ms_since(t0);
	noop_calls = p.calls;
	reads = p.have->xml_reads;
	if (p.plan->ops->len) {
		fprintf(stderr, "bench: plan after apply is not empty (%u ops)\n", p.plan->ops->len);
		return 1;
	}
	pass_release(&p);
	/* Where a no-op pass spends its time: observing, or planning. */
	{
		g_autoptr(GError) e2 = NULL;
		spec_diags diags;
		spec_source *src;
		desired_state *want;
		observed *have;
		plan *pl;
		plan_options popts = { 0 };
		gint64 t1, t2, t3;

		spec_diags_init(&diags);
		src = spec_load(spec, &diags);
		spec_validate(src, &diags);
		hosts_bind(hosts, src);
		t1 = g_get_monotonic_time();
		want = desired_build(src);
		have = observe(hosts, want, cache);
		t2 = g_get_monotonic_time();
		pl = plan_build(want, have, &popts);
		t3 = g_get_monotonic_time();
		printf("no-op pass split: desired+observe %.0f ms, plan %.0f ms (%u ops)\n",
		       (double)(t2 - t1) / 1000.0, (double)(t3 - t2) / 1000.0, pl->ops->len);
		/* The same pass from a snapshot, as a CI runner plans it
		 * (issue #18): written, read back, bound, planned. */
		{
			g_autoptr(GPtrArray) gaps = g_ptr_array_new_with_free_func(g_free);
			g_autofree char *text = NULL;
			observed *snap, *bound;
			plan *sp;
			gint64 taken, t4, t5, t6, t6b, t7;

			t4 = g_get_monotonic_time();
			text = observe_snapshot_write(have, hosts, 0);
			t5 = g_get_monotonic_time();
			snap = observe_snapshot_parse("bench", text, -1, &taken, &e2);
			t6 = g_get_monotonic_time();
			bound = snap ? observe_snapshot_bind(snap, src, "test:///default", want, gaps) : NULL;
			t6b = g_get_monotonic_time();
			sp = bound ? plan_build(want, bound, &popts) : NULL;
			t7 = g_get_monotonic_time();
			printf("snapshot of %d VMs: %zu KiB, written in %.0f ms, read in %.0f ms, "
			       "bound in %.0f ms, planned in %.0f ms (%u ops, %u gaps)\n", APPLIANCES * VMS,
			       strlen(text) / 1024, (double)(t5 - t4) / 1000.0, (double)(t6 - t5) / 1000.0,
			       (double)(t6b - t6) / 1000.0, (double)(t7 - t6b) / 1000.0,
			       sp ? sp->ops->len : 0, gaps->len);
			plan_free(sp);
			observed_free(bound);
		}
		plan_free(pl);
		observed_free(have);
		desired_free(want);
		spec_source_free(src);
		spec_diags_release(&diags);
	}
	obs_cache_clear(cache);
	malloc_trim(0);
	hosts_rss = current_rss_mib();
	hosts_free(hosts);
	getrusage(RUSAGE_SELF, &ru);

	printf("plan (cold): %d VMs on %d hosts: %.0f ms, %u libvirt calls (%.1f per host), %u ops planned\n",
	       APPLIANCES * VMS, HOSTS, cold_ms, cold_calls, (double)cold_calls / HOSTS, ops);
	printf("apply: %u ops in %.0f ms = %.0f ops/s (parallel %u, per host %u, history synchronous=FULL)\n",
	       ops, apply_ms, ops / (apply_ms / 1000.0), eo.parallel, eo.per_host);
	printf("plan (no-op, after apply): %.0f ms, %u libvirt calls (%.1f per host), %u domain XML reads\n",
	       noop_ms, noop_calls, (double)noop_calls / HOSTS, reads);
	printf("peak RSS: %.0f MiB; RSS with only the 100 simulated hosts (10,000 test-driver domains) left: %.0f MiB\n",
	       ru.ru_maxrss / 1024.0, hosts_rss);
	cmd = g_strdup_printf("rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
