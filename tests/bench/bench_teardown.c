/*
 * bench_teardown.c - stop 1,000 VMs whose guests take 5 s to power off
 *
 * On the test driver (10 simulated hosts, 100 appliances of 10 VMs): deploy,
 * then the same source with every VM `state: stopped`, applied with the
 * fault hook stop-delay=5000 (each guest answers the power button 5 s after
 * it is pressed).  When a waiting stop held a worker, this cost
 * ceil(1000 / parallel) waves of 5 s (about 315 s at parallel 16); waiting
 * now holds none, so the goal is about one guest's time: <= 15 s.  Also
 * printed: the libvirt calls the stops made, which grow with hosts and
 * rounds of the waiter, not with VMs times seconds.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>

#include "../../reconciler/exec.h"
#include "../../reconciler/pass.h"
#include "benchgen.h"

#define T_HOSTS 10
#define T_APPS 100
#define T_VMS 10
#define STOP_DELAY_MS 5000

static bool
apply(const char *spec, host_set **hosts, obs_cache *cache, history *hist, double *ms,
      unsigned *ops, unsigned *calls)
{
	pass_options po = { .path = spec, .connect = "test:///default" };
	g_autoptr(GError) err = NULL;
	exec_options eo;
	exec_result r;
	unsigned before;
	gint64 t0;
	pass p;

	po.plan.allow_removal = true;
	if (!pass_run(&p, &po, *hosts, cache, &err) || p.plan->errors->len) {
		fprintf(stderr, "bench: plan failed: %s\n", err ? err->message :
			p.plan && p.plan->errors->len ? (char *)p.plan->errors->pdata[0] : "invalid spec");
		return false;
	}
	if (!*hosts) {  /* keep the connections: the simulated hosts live with them */
		*hosts = p.hosts;
		p.own_hosts = false;
	}
	exec_options_init(&eo);
	*ops = p.plan->ops->len;
	before = hosts_calls(*hosts);
	t0 = g_get_monotonic_time();
	r = exec_plan(p.plan, *hosts, hist, history_run_begin(hist, "bench", 0, NULL), cache, &eo, &err);
	*ms = (double)(g_get_monotonic_time() - t0) / 1000.0;
	*calls = hosts_calls(*hosts) - before;
	pass_release(&p);
	if (r != EXEC_CONVERGED)
		fprintf(stderr, "bench: apply did not converge (%s)\n", exec_result_name(r));
	return r == EXEC_CONVERGED;
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
	g_autoptr(history) hist = history_open(db, &err);
	host_set *hosts = NULL;
	double deploy_ms, stop_ms;
	unsigned ops, stops, calls, stop_calls;
	int rc = 1;

	if (!hist) {
		fprintf(stderr, "bench: %s\n", err->message);
		return 1;
	}
	benchgen_flat(dir, T_HOSTS, T_APPS, T_VMS, "");
	if (!apply(spec, &hosts, cache, hist, &deploy_ms, &ops, &calls))
		goto out;
	benchgen_flat(dir, T_HOSTS, T_APPS, T_VMS, ", state: stopped");
	g_setenv("STRATA_INJECT", "stop-delay=" G_STRINGIFY(STOP_DELAY_MS), TRUE);
	if (!apply(spec, &hosts, cache, hist, &stop_ms, &stops, &stop_calls))
		goto out;
	g_unsetenv("STRATA_INJECT");
	printf("teardown (test driver): %u VMs on %d hosts, each guest 5 s to answer: stopped in %.1f s "
	       "(goal <= 15 s; one wave per %u VMs would be %.0f s), %u libvirt calls\n",
	       stops, T_HOSTS, stop_ms / 1000.0, EXEC_PARALLEL_DEFAULT,
	       (double)((stops + EXEC_PARALLEL_DEFAULT - 1) / EXEC_PARALLEL_DEFAULT) * STOP_DELAY_MS / 1000.0,
	       stop_calls);
	rc = 0;
out:
	hosts_free(hosts);
	cmd = g_strdup_printf("rm -rf '%s'", dir);
	return system(cmd) == 0 ? rc : 1;
}
