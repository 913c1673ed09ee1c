/*
 * telemetry.h - the metrics the daemon exports, named the Prometheus way
 *
 * The daemon's loop calls these as things happen; metrics.h keeps them and
 * metrics_http.h serves them.  Every label takes its values from a bounded
 * set: names from the spec (appliances, VMs, hosts, actions), op kinds,
 * results, and the revision in force (one series at a time: an _info
 * gauge).  Never error text.
 *
 *   strata_build_info{version}                                  1
 *   strata_reconcile_duration_seconds                           histogram
 *   strata_reconciles_total{result}                             in_sync, converged,
 *                                                               partial, failed, error
 *   strata_last_successful_reconcile_timestamp_seconds          Unix time
 *   strata_source_info{revision,verified}                       1
 *   strata_source_failures_total{reason}                        fetch, invalid, unverified
 *   strata_drifted_resources{kind}                              vm, volume, template
 *   strata_operations_total{kind,result}                        done, failed, skipped
 *   strata_operation_duration_seconds{kind}                     histogram
 *   strata_host_up{host}                                        1 or 0
 *   strata_host_vcpus{host}, strata_host_memory_bytes{host}     capacity
 *   strata_host_vcpus_allocated{host},
 *   strata_host_memory_allocated_bytes{host}                    the running managed VMs'
 *   strata_scheduled_action_runs_total{action,result}           done, failed, skipped
 *   strata_last_successful_snapshot_timestamp_seconds{appliance,vm}
 *   strata_vm_info{appliance,vm,host,state,desired_state}       1
 *   strata_notifications_total{receiver,result}                 sent, failed
 *   strata_notifications_dropped_total{receiver}                queue full
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "plan.h"

typedef struct telemetry telemetry;

telemetry *telemetry_new(const char *version);
void telemetry_free(telemetry *t);
metrics *telemetry_metrics(telemetry *t);

/* A pass ended: @result one of the five above, @seconds since it began. */
void telemetry_reconcile(telemetry *t, const char *result, double seconds, gint64 now_s);
/* Every op of a run that ended: its kind, result and duration. */
void telemetry_run_ops(telemetry *t, const plan *p);
/* The resources a pass found differing, by kind (ops on them). */
void telemetry_drift(telemetry *t, const plan *p);

void telemetry_source(telemetry *t, const char *revision, bool verified);
void telemetry_source_failure(telemetry *t, const char *reason);

/* A pass's view of hosts and VMs, set whole (a scrape never sees half). */
void telemetry_view_begin(telemetry *t);
void telemetry_host(telemetry *t, const char *host, bool up, unsigned vcpus, uint64_t memory,
		    unsigned vcpus_allocated, uint64_t memory_allocated);
void telemetry_vm(telemetry *t, const char *appliance, const char *vm, const char *host,
		  const char *state, const char *desired);
void telemetry_view_end(telemetry *t);

void telemetry_schedule_run(telemetry *t, const char *action, const char *result);
void telemetry_snapshot_taken(telemetry *t, const char *appliance, const char *vm, gint64 when_s);

void telemetry_notification(telemetry *t, const char *receiver, bool sent);
void telemetry_notification_dropped(telemetry *t, const char *receiver);
