/*
 * pass.c - one reconcile pass up to the plan: source -> observe -> diff
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "observe_snapshot.h"
#include "pass.h"

/* On the caller's thread: what the plan needs from history, then the
 * hosts' threads start. */
static void
pass_begin(pass *p, const spec_source *src, obs_cache *cache, guint deadline_ms)
{
	p->want = desired_build(src);
	if (!cache)
		cache = p->own_cache = obs_cache_new();
	p->calls_before = hosts_calls(p->hosts);
	p->observing = observe_begin(p->hosts, p->want, cache, deadline_ms);
}

/*
 * A base copied before is expected to have the checksum recorded then, at
 * its source: a base changed in place would give new VMs other bytes than
 * the ones already built on it.  A declared checksum stands first.
 */
static void
expect_recorded_checksums(plan *pl, history *hist)
{
	for (guint i = 0; i < pl->ops->len; i++) {
		plan_op *op = pl->ops->pdata[i];

		if (op->kind == OP_VOL_COPY && !op->hash)
			op->hash = history_image_sha256(hist, op->peer, op->pool, op->volume);
	}
}

void
pass_replan(pass *p, const plan_options *opts, history *hist)
{
	history *known = hist ? hist : p->read_hist;
	g_autoptr(GPtrArray) vanished = hist ? history_vanished_hosts(hist, p->hosts) : NULL;
	g_autoptr(GHashTable) unverified = known ? history_unverified_copies(known) : NULL;
	g_autoptr(GHashTable) exported = known ? history_done_exports(known) : NULL;
	g_autoptr(GHashTable) failed = known ? history_failed_captures(known) : NULL;
	g_autoptr(GHashTable) captured = known ? history_captured(known) : NULL;
	g_autoptr(GHashTable) failed_exports = known ? history_failed_exports(known) : NULL;
	g_autoptr(GHashTable) macs = known ? history_nic_macs(known) : NULL;
	g_autoptr(GHashTable) made = known ? history_made(known) : NULL;
	g_autoptr(GHashTable) reverts = known ? history_reverts_done(known) : NULL;
	plan_options po = *opts;

	g_clear_pointer(&p->plan, plan_free);
	po.vanished = vanished;
	po.unverified_copies = unverified;
	po.done_exports = exported;
	po.failed_captures = failed;
	po.captured = captured;
	po.failed_exports = failed_exports;
	po.macs = macs;
	po.reverts_done = reverts;
	/* Without a history, what the caller knows of what strata made (the
	 * planner fuzzer's own record). */
	if (known)
		po.made = made;
	if (hist)
		po.cut_short = history_cut_short(hist);
	p->plan = plan_build(p->want, p->have, &po);
	if (known)
		expect_recorded_checksums(p->plan, known);
}

void
pass_plan_end(pass *p, const plan_options *opts, history *hist)
{
	/* Approximate: a connection gone meanwhile takes its count along, and
	 * one made meanwhile brings its probe's. */
	unsigned now_calls = hosts_calls(p->hosts);

	p->have = observe_end(g_steal_pointer(&p->observing));
	p->calls = now_calls > p->calls_before ? now_calls - p->calls_before : 0;
	if (hist && !history_host_vms_record(hist, p->have, NULL))
		g_warning("history: cannot record which VMs each host runs");
	if (hist && !history_shares_sync(hist, p->have->shares, NULL))
		g_warning("history: cannot record what the shared-pool probes found");
	pass_replan(p, opts, hist);
}

static void
pass_observe(pass *p, const spec_source *src, obs_cache *cache, const plan_options *opts,
	     history *hist)
{
	pass_begin(p, src, cache, OBSERVE_DEADLINE_MS);
	observe_wait(p->observing);
	pass_plan_end(p, opts, hist);
}

void
pass_plan_begin(pass *p, spec_source *src, host_set *hosts, obs_cache *cache,
		guint deadline_ms)
{
	memset(p, 0, sizeof(*p));
	spec_diags_init(&p->diags);
	p->hosts = hosts;
	hosts_bind(hosts, src);
	pass_begin(p, src, cache, deadline_ms);
}

void
pass_plan(pass *p, spec_source *src, host_set *hosts, obs_cache *cache,
	  const plan_options *opts, history *hist)
{
	pass_plan_begin(p, src, hosts, cache, OBSERVE_DEADLINE_MS);
	observe_wait(p->observing);
	pass_plan_end(p, opts, hist);
}

/* The observation a snapshot gives this revision, and the plan from it. */
static bool
pass_from_snapshot(pass *p, const pass_options *o, GError **error)
{
	observed *snap = observe_snapshot_load(o->observed_file, &p->snapshot_taken, error);

	if (!snap)
		return false;
	p->want = desired_build(p->src);
	p->snapshot_gaps = g_ptr_array_new_with_free_func(g_free);
	p->have = observe_snapshot_bind(snap, p->src, o->connect, p->want, p->snapshot_gaps);
	pass_replan(p, &o->plan, NULL);
	/* Not the plan the hosts would give: say what is missing, and never
	 * let --detailed-exitcode read it as complete. */
	for (guint i = 0; i < p->snapshot_gaps->len; i++)
		g_ptr_array_add(p->plan->notes, g_strdup_printf("snapshot: %s; observe again with this revision",
								 (char *)p->snapshot_gaps->pdata[i]));
	if (p->snapshot_gaps->len)
		p->plan->partial = true;
	return true;
}

bool
pass_run(pass *p, const pass_options *o, host_set *hosts, obs_cache *cache,
	 GError **error)
{
	memset(p, 0, sizeof(*p));
	spec_diags_init(&p->diags);
	p->read_hist = o->hist_read;
	p->src = spec_load(o->path, &p->diags);
	spec_validate(p->src, &p->diags);
	if (p->diags.errors)
		return false;  /* the last good revision stays in force */
	if (o->observed_file)
		return pass_from_snapshot(p, o, error);
	p->hosts = hosts;
	if (p->hosts)
		hosts_bind(p->hosts, p->src);
	if (!p->hosts) {
		p->hosts = hosts_open(p->src, o->connect, o->readonly, HOSTS_CONNECT_DEADLINE_MS, error);
		p->own_hosts = true;
		if (!p->hosts)
			return false;
	}
	pass_observe(p, p->src, cache, &o->plan, o->hist);
	return true;
}

void
pass_release(pass *p)
{
	plan_free(p->plan);
	if (p->observing)
		observed_free(observe_end(p->observing));
	observed_free(p->have);
	obs_cache_free(p->own_cache);
	if (p->own_hosts)
		hosts_free(p->hosts);
	desired_free(p->want);
	spec_source_free(p->src);
	spec_diags_release(&p->diags);
	g_clear_pointer(&p->snapshot_gaps, g_ptr_array_unref);
	memset(p, 0, sizeof(*p));
}
