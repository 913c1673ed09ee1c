/*
 * metrics.h - a registry of Prometheus metrics, rendered in text format 0.0.4
 *
 * Families are declared once, with their label names; series are made
 * when first updated.  Every call may come from any thread: one lock
 * guards the registry, held for an update (a hash lookup) or one render,
 * never across I/O.  metrics_batch_begin/end hold it over several calls,
 * so that a scrape never sees a set of gauges half replaced.
 *
 * Label values must come from a bounded set (names from the spec, kinds,
 * results): never error text.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

typedef struct metrics metrics;
typedef struct metric_family metric_family;

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

metrics *metrics_new(void);
void metrics_free(metrics *m);

/*
 * Declare a family.  @labels is NULL-terminated (or NULL: none); @buckets,
 * for a histogram, ascending upper bounds, @n_buckets of them (+Inf is
 * implied).  The family lives as long as @m.
 */
metric_family *metrics_family(metrics *m, const char *name, const char *help, metric_type type,
			      const char *const *labels, const double *buckets, guint n_buckets);

/* Label values, as many as the family's labels, in their order. */
void metrics_inc(metric_family *f, double by, const char *const *values);
void metrics_set(metric_family *f, double v, const char *const *values);
void metrics_observe(metric_family *f, double v, const char *const *values);
/* Forget the series of @f that @keep does not want (their label values). */
void metrics_retain(metric_family *f, gboolean (*keep)(const char *const *values, gpointer data),
		    gpointer data);
/* Forget every series of @f (a gauge set whole each pass). */
void metrics_clear(metric_family *f);

void metrics_batch_begin(metrics *m);
void metrics_batch_end(metrics *m);

/* The text exposition format, version 0.0.4. */
char *metrics_render(metrics *m);
