/*
 * metrics.c - the metrics registry and its text exposition
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "metrics.h"

struct metrics {
	pthread_mutex_t lock;      /* recursive: a batch holds it over calls;
				      pthread's, which ThreadSanitizer sees */
	GPtrArray *families;       /* metric_family *, in declaration order */
};

typedef struct {
	char **values;             /* label values */
	double value;              /* counter, gauge */
	guint64 *counts;           /* histogram: per bucket, not cumulative */
	guint64 count;
	double sum;
} series;

struct metric_family {
	metrics *m;
	char *name, *help;
	metric_type type;
	GStrv labels;
	guint n_labels;
	double *buckets;
	guint n_buckets;
	GHashTable *series;        /* joined label values -> series * */
};

static void
series_free(gpointer p)
{
	series *s = p;

	g_strfreev(s->values);
	g_free(s->counts);
	g_free(s);
}

static void
family_free(gpointer p)
{
	metric_family *f = p;

	g_free(f->name);
	g_free(f->help);
	g_strfreev(f->labels);
	g_free(f->buckets);
	g_hash_table_unref(f->series);
	g_free(f);
}

metrics *
metrics_new(void)
{
	metrics *m = g_new0(metrics, 1);
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&m->lock, &a);
	pthread_mutexattr_destroy(&a);
	m->families = g_ptr_array_new_with_free_func(family_free);
	return m;
}

void
metrics_free(metrics *m)
{
	if (!m)
		return;
	g_ptr_array_unref(m->families);
	pthread_mutex_destroy(&m->lock);
	g_free(m);
}

metric_family *
metrics_family(metrics *m, const char *name, const char *help, metric_type type,
	       const char *const *labels, const double *buckets, guint n_buckets)
{
	metric_family *f = g_new0(metric_family, 1);

	f->m = m;
	f->name = g_strdup(name);
	f->help = g_strdup(help);
	f->type = type;
	f->labels = g_strdupv((char **)(labels ? labels : (const char *const[]){ NULL }));
	f->n_labels = g_strv_length(f->labels);
	if (type == METRIC_HISTOGRAM) {
		f->buckets = g_memdup2(buckets, n_buckets * sizeof(double));
		f->n_buckets = n_buckets;
	}
	f->series = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, series_free);
	pthread_mutex_lock(&m->lock);
	g_ptr_array_add(m->families, f);
	pthread_mutex_unlock(&m->lock);
	return f;
}

/* The series of @values, made on first use.  Called with the lock held. */
static series *
series_of(metric_family *f, const char *const *values)
{
	g_autoptr(GString) key = g_string_new(NULL);
	series *s;

	for (guint i = 0; i < f->n_labels; i++) {
		g_string_append(key, values[i] ? values[i] : "");
		g_string_append_c(key, '\x1f');
	}
	s = g_hash_table_lookup(f->series, key->str);
	if (s)
		return s;
	s = g_new0(series, 1);
	s->values = g_new0(char *, f->n_labels + 1);
	for (guint i = 0; i < f->n_labels; i++)
		s->values[i] = g_strdup(values[i] ? values[i] : "");
	if (f->type == METRIC_HISTOGRAM)
		s->counts = g_new0(guint64, f->n_buckets + 1);
	g_hash_table_insert(f->series, g_string_free(g_steal_pointer(&key), FALSE), s);
	return s;
}

void
metrics_inc(metric_family *f, double by, const char *const *values)
{
	pthread_mutex_lock(&f->m->lock);
	series_of(f, values)->value += by;
	pthread_mutex_unlock(&f->m->lock);
}

void
metrics_set(metric_family *f, double v, const char *const *values)
{
	pthread_mutex_lock(&f->m->lock);
	series_of(f, values)->value = v;
	pthread_mutex_unlock(&f->m->lock);
}

void
metrics_observe(metric_family *f, double v, const char *const *values)
{
	series *s;
	guint b = 0;

	pthread_mutex_lock(&f->m->lock);
	s = series_of(f, values);
	while (b < f->n_buckets && v > f->buckets[b])
		b++;
	s->counts[b]++;
	s->count++;
	s->sum += v;
	pthread_mutex_unlock(&f->m->lock);
}

void
metrics_retain(metric_family *f, gboolean (*keep)(const char *const *values, gpointer data),
	       gpointer data)
{
	GHashTableIter it;
	gpointer v;

	pthread_mutex_lock(&f->m->lock);
	g_hash_table_iter_init(&it, f->series);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (!keep((const char *const *)((series *)v)->values, data))
			g_hash_table_iter_remove(&it);
	pthread_mutex_unlock(&f->m->lock);
}

void
metrics_clear(metric_family *f)
{
	pthread_mutex_lock(&f->m->lock);
	g_hash_table_remove_all(f->series);
	pthread_mutex_unlock(&f->m->lock);
}

void
metrics_batch_begin(metrics *m)
{
	pthread_mutex_lock(&m->lock);
}

void
metrics_batch_end(metrics *m)
{
	pthread_mutex_unlock(&m->lock);
}

/* ---- the text format ---------------------------------------------------- */

/* A label value: backslash, double quote and newline escaped. */
static void
append_label_value(GString *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			g_string_append_c(out, '\\');
		if (*p == '\n') {
			g_string_append(out, "\\n");
			continue;
		}
		g_string_append_c(out, *p);
	}
}

/* HELP text: backslash and newline escaped. */
static void
append_help(GString *out, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			g_string_append(out, "\\\\");
		else if (*p == '\n')
			g_string_append(out, "\\n");
		else
			g_string_append_c(out, *p);
	}
}

/* The shortest %g (locale-free) that reads back as @v: 0.05, not
 * 0.050000000000000003. */
static const char *
shortest(char *buf, size_t size, double v)
{
	for (int digits = 6; digits < 17; digits++) {
		char fmt[8];

		g_snprintf(fmt, sizeof(fmt), "%%.%dg", digits);
		g_ascii_formatd(buf, (int)size, fmt, v);
		if (g_ascii_strtod(buf, NULL) == v)
			return buf;
	}
	return g_ascii_formatd(buf, (int)size, "%.17g", v);
}

/* As Prometheus parses numbers: +Inf, -Inf, NaN, or decimal. */
static void
append_number(GString *out, double v)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	if (isnan(v))
		g_string_append(out, "NaN");
	else if (isinf(v))
		g_string_append(out, v > 0 ? "+Inf" : "-Inf");
	else
		g_string_append(out, shortest(buf, sizeof(buf), v));
}

/* name{a="x",b="y"[,le="0.5"]} value */
static void
append_sample(GString *out, const metric_family *f, const char *suffix, const series *s,
	      const char *le, double v)
{
	bool any = f->n_labels > 0 || le;

	g_string_append(out, f->name);
	g_string_append(out, suffix);
	if (any)
		g_string_append_c(out, '{');
	for (guint i = 0; i < f->n_labels; i++) {
		g_string_append_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		append_label_value(out, s->values[i]);
		g_string_append_c(out, '"');
	}
	if (le)
		g_string_append_printf(out, "%sle=\"%s\"", f->n_labels ? "," : "", le);
	if (any)
		g_string_append_c(out, '}');
	g_string_append_c(out, ' ');
	append_number(out, v);
	g_string_append_c(out, '\n');
}

static void
append_histogram(GString *out, const metric_family *f, const series *s)
{
	guint64 cumulative = 0;
	char le[G_ASCII_DTOSTR_BUF_SIZE];

	for (guint b = 0; b < f->n_buckets; b++) {
		cumulative += s->counts[b];
		append_sample(out, f, "_bucket", s, shortest(le, sizeof(le), f->buckets[b]),
			      (double)cumulative);
	}
	append_sample(out, f, "_bucket", s, "+Inf", (double)s->count);
	append_sample(out, f, "_sum", s, NULL, s->sum);
	append_sample(out, f, "_count", s, NULL, (double)s->count);
}

static gint
by_key(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
append_family(GString *out, const metric_family *f)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	g_autoptr(GPtrArray) keys = g_ptr_array_new();
	GHashTableIter it;
	gpointer k;

	g_string_append_printf(out, "# HELP %s ", f->name);
	append_help(out, f->help);
	g_string_append_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
	g_hash_table_iter_init(&it, f->series);
	while (g_hash_table_iter_next(&it, &k, NULL))
		g_ptr_array_add(keys, k);
	g_ptr_array_sort(keys, by_key);  /* the same order every scrape */
	for (guint i = 0; i < keys->len; i++) {
		const series *s = g_hash_table_lookup(f->series, keys->pdata[i]);

		if (f->type == METRIC_HISTOGRAM)
			append_histogram(out, f, s);
		else
			append_sample(out, f, "", s, NULL, s->value);
	}
}

char *
metrics_render(metrics *m)
{
	GString *out = g_string_sized_new(4096);

	pthread_mutex_lock(&m->lock);
	for (guint i = 0; i < m->families->len; i++)
		append_family(out, m->families->pdata[i]);
	pthread_mutex_unlock(&m->lock);
	return g_string_free(out, FALSE);
}
