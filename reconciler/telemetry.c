/*
 * telemetry.c - strata's metric families and how the daemon's news updates them
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "telemetry.h"

struct telemetry {
	metrics *m;
	metric_family *build, *reconcile_seconds, *reconciles, *last_success;
	metric_family *source, *source_failures, *drift;
	metric_family *ops, *op_seconds;
	metric_family *host_up, *host_vcpus, *host_memory, *host_vcpus_alloc, *host_memory_alloc;
	metric_family *sched_runs, *last_snapshot, *vm_info;
	metric_family *notes, *notes_dropped;
	GHashTable *view_vms;      /* "appliance/vm" of the view being set */
};

#define LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* A pass takes from well under a second (test driver) to many minutes
 * (copies of template images): buckets over that whole range. */
static const double pass_buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900 };
static const double op_buckets[] = { 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800 };

static metric_family *
family(telemetry *t, const char *name, const char *help, metric_type type, const char *const *labels)
{
	return metrics_family(t->m, name, help, type, labels, NULL, 0);
}

static void
declare_reconcile(telemetry *t)
{
	t->reconcile_seconds = metrics_family(t->m, "strata_reconcile_duration_seconds",
		"How long a reconcile pass took: observing, planning and carrying out its operations.",
		METRIC_HISTOGRAM, NULL, pass_buckets, G_N_ELEMENTS(pass_buckets));
	t->reconciles = family(t, "strata_reconciles_total",
		"Reconcile passes by result: in_sync (nothing to do), converged (every operation done), "
		"partial, failed, error (the plan had errors; their appliances waited).",
		METRIC_COUNTER, LABELS("result"));
	t->last_success = family(t, "strata_last_successful_reconcile_timestamp_seconds",
		"When a pass last ended in_sync or converged (Unix time).", METRIC_GAUGE, NULL);
	t->drift = family(t, "strata_drifted_resources",
		"Resources the last pass found differing from the source, by kind.",
		METRIC_GAUGE, LABELS("kind"));
	t->ops = family(t, "strata_operations_total", "Operations carried out, by kind and result.",
			METRIC_COUNTER, LABELS("kind", "result"));
	t->op_seconds = metrics_family(t->m, "strata_operation_duration_seconds",
		"How long operations took, by kind.", METRIC_HISTOGRAM, LABELS("kind"),
		op_buckets, G_N_ELEMENTS(op_buckets));
}

static void
declare_source(telemetry *t)
{
	t->source = family(t, "strata_source_info",
		"The revision in force; verified is true when its signature was checked.",
		METRIC_GAUGE, LABELS("revision", "verified"));
	t->source_failures = family(t, "strata_source_failures_total",
		"Revisions not taken: fetch (the source could not be read), invalid, unverified.",
		METRIC_COUNTER, LABELS("reason"));
}

static void
declare_hosts(telemetry *t)
{
	t->host_up = family(t, "strata_host_up", "1 when the last pass observed the host, else 0.",
			    METRIC_GAUGE, LABELS("host"));
	t->host_vcpus = family(t, "strata_host_vcpus", "The host's logical CPUs.", METRIC_GAUGE,
			       LABELS("host"));
	t->host_memory = family(t, "strata_host_memory_bytes", "The host's memory.", METRIC_GAUGE,
				LABELS("host"));
	t->host_vcpus_alloc = family(t, "strata_host_vcpus_allocated",
		"vCPUs of the managed VMs running on the host.", METRIC_GAUGE, LABELS("host"));
	t->host_memory_alloc = family(t, "strata_host_memory_allocated_bytes",
		"Memory of the managed VMs running on the host.", METRIC_GAUGE, LABELS("host"));
	t->vm_info = family(t, "strata_vm_info",
		"One series per managed VM: where it is, its observed and its desired state.",
		METRIC_GAUGE, LABELS("appliance", "vm", "host", "state", "desired_state"));
}

static void
declare_rest(telemetry *t)
{
	t->sched_runs = family(t, "strata_scheduled_action_runs_total",
		"Scheduled actions carried out, by action and result.", METRIC_COUNTER,
		LABELS("action", "result"));
	t->last_snapshot = family(t, "strata_last_successful_snapshot_timestamp_seconds",
		"When a scheduled snapshot of the VM last succeeded (Unix time).", METRIC_GAUGE,
		LABELS("appliance", "vm"));
	t->notes = family(t, "strata_notifications_total", "Notifications delivered or given up, by receiver.",
			  METRIC_COUNTER, LABELS("receiver", "result"));
	t->notes_dropped = family(t, "strata_notifications_dropped_total",
		"Notifications dropped because the receiver's queue was full.", METRIC_COUNTER,
		LABELS("receiver"));
}

telemetry *
telemetry_new(const char *version)
{
	telemetry *t = g_new0(telemetry, 1);

	t->m = metrics_new();
	t->build = family(t, "strata_build_info", "The strata version running.", METRIC_GAUGE,
			  LABELS("version"));
	declare_reconcile(t);
	declare_source(t);
	declare_hosts(t);
	declare_rest(t);
	metrics_set(t->build, 1, LABELS(version));
	return t;
}

void
telemetry_free(telemetry *t)
{
	if (!t)
		return;
	metrics_free(t->m);
	g_free(t);
}

metrics *
telemetry_metrics(telemetry *t)
{
	return t->m;
}

void
telemetry_reconcile(telemetry *t, const char *result, double seconds, gint64 now_s)
{
	metrics_observe(t->reconcile_seconds, seconds, NULL);
	metrics_inc(t->reconciles, 1, LABELS(result));
	if (g_str_equal(result, "in_sync") || g_str_equal(result, "converged"))
		metrics_set(t->last_success, (double)now_s, NULL);
}

static const char *
op_result(op_status s)
{
	return s == OPST_DONE ? "done" : s == OPST_FAILED ? "failed" : "skipped";
}

void
telemetry_run_ops(telemetry *t, const plan *p)
{
	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		const char *kind = op_kind_name(op->kind);

		metrics_inc(t->ops, 1, LABELS(kind, op_result(op->status)));
		if (op->started_us && op->ended_us >= op->started_us)
			metrics_observe(t->op_seconds, (double)(op->ended_us - op->started_us) / 1e6,
					LABELS(kind));
	}
}

/* Which kind of resource an op changes; NULL for a scheduled one-shot. */
static const char *
drift_kind(const plan_op *op, const char **key)
{
	switch (op->kind) {
	case OP_REBOOT:
	case OP_SNAPSHOT_CREATE:
	case OP_SNAPSHOT_DELETE:
		return NULL;
	case OP_VOL_COPY:
	case OP_LIB_EXPORT:
	case OP_IMAGE_EXPORT:
	case OP_VOL_CAPTURE:
		*key = op->volume;
		return "template";
	default:
		break;
	}
	*key = op->domain ? op->domain : op->volume;
	return op->domain ? "vm" : "volume";
}

void
telemetry_drift(telemetry *t, const plan *p)
{
	static const char *const kinds[] = { "vm", "volume", "template" };
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	guint count[G_N_ELEMENTS(kinds)] = { 0 };

	for (guint i = 0; i < p->ops->len; i++) {
		const plan_op *op = p->ops->pdata[i];
		const char *key = NULL, *kind = drift_kind(op, &key);

		if (!kind || !key || !g_hash_table_add(seen, g_strconcat(kind, "/", key, NULL)))
			continue;
		for (guint k = 0; k < G_N_ELEMENTS(kinds); k++)
			count[k] += g_str_equal(kind, kinds[k]);
	}
	for (guint k = 0; k < G_N_ELEMENTS(kinds); k++)
		metrics_set(t->drift, count[k], LABELS(kinds[k]));
}

void
telemetry_source(telemetry *t, const char *revision, bool verified)
{
	metrics_batch_begin(t->m);
	metrics_clear(t->source);
	metrics_set(t->source, 1, LABELS(revision, verified ? "true" : "false"));
	metrics_batch_end(t->m);
}

void
telemetry_source_failure(telemetry *t, const char *reason)
{
	metrics_inc(t->source_failures, 1, LABELS(reason));
}

/* Held until telemetry_view_end: hosts and VMs come and go with the
 * source, so their gauges are set whole each pass. */
void
telemetry_view_begin(telemetry *t)
{
	metrics_batch_begin(t->m);
	t->view_vms = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	metrics_clear(t->host_up);
	metrics_clear(t->host_vcpus);
	metrics_clear(t->host_memory);
	metrics_clear(t->host_vcpus_alloc);
	metrics_clear(t->host_memory_alloc);
	metrics_clear(t->vm_info);
}

void
telemetry_host(telemetry *t, const char *host, bool up, unsigned vcpus, uint64_t memory,
	       unsigned vcpus_allocated, uint64_t memory_allocated)
{
	metrics_set(t->host_up, up, LABELS(host));
	if (!up)
		return;  /* capacity unknown: no series rather than a zero */
	metrics_set(t->host_vcpus, vcpus, LABELS(host));
	metrics_set(t->host_memory, (double)memory, LABELS(host));
	metrics_set(t->host_vcpus_alloc, vcpus_allocated, LABELS(host));
	metrics_set(t->host_memory_alloc, (double)memory_allocated, LABELS(host));
}

void
telemetry_vm(telemetry *t, const char *appliance, const char *vm, const char *host,
	     const char *state, const char *desired)
{
	metrics_set(t->vm_info, 1, LABELS(appliance, vm, host ? host : "", state, desired));
	g_hash_table_add(t->view_vms, g_strconcat(appliance, "/", vm, NULL));
}

static gboolean
in_view(const char *const *values, gpointer data)
{
	g_autofree char *key = g_strconcat(values[0], "/", values[1], NULL);

	return g_hash_table_contains(data, key);
}

/* A VM gone from the source takes its last-snapshot series with it. */
void
telemetry_view_end(telemetry *t)
{
	metrics_retain(t->last_snapshot, in_view, t->view_vms);
	g_clear_pointer(&t->view_vms, g_hash_table_unref);
	metrics_batch_end(t->m);
}

void
telemetry_schedule_run(telemetry *t, const char *action, const char *result)
{
	metrics_inc(t->sched_runs, 1, LABELS(action, result));
}

void
telemetry_snapshot_taken(telemetry *t, const char *appliance, const char *vm, gint64 when_s)
{
	metrics_set(t->last_snapshot, (double)when_s, LABELS(appliance, vm));
}

void
telemetry_notification(telemetry *t, const char *receiver, bool sent)
{
	metrics_inc(t->notes, 1, LABELS(receiver, sent ? "sent" : "failed"));
}

void
telemetry_notification_dropped(telemetry *t, const char *receiver)
{
	metrics_inc(t->notes_dropped, 1, LABELS(receiver));
}
