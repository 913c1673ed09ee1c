/*
 * log.c - one GLib log writer for every verb: text, JSON or the journal
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <json-glib/json-glib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json_out.h"
#include "log.h"

static log_format the_format = LOG_TEXT;
static FILE *the_out;
static bool installed;
/* pthread's, which ThreadSanitizer sees: */
static pthread_mutex_t revision_lock = PTHREAD_MUTEX_INITIALIZER;
static char *the_revision;

/* The journal's field names and the JSON keys they become. */
static const struct {
	const char *field, *key;
} about_keys[] = {
	{ "STRATA_APPLIANCE", "appliance" },
	{ "STRATA_VM", "vm" },
	{ "STRATA_HOST", "host" },
	{ "STRATA_OP", "op" },
};

bool
log_format_parse(const char *s, log_format *out)
{
	static const char *const names[] = { "auto", "text", "json", "journal" };

	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		if (g_strcmp0(s, names[i]) == 0) {
			*out = (log_format)i;
			return true;
		}
	}
	return false;
}

void
log_set_revision(const char *rev)
{
	pthread_mutex_lock(&revision_lock);
	g_free(the_revision);
	the_revision = g_strdup(rev);
	pthread_mutex_unlock(&revision_lock);
}

static char *
revision_copy(void)
{
	char *r;

	pthread_mutex_lock(&revision_lock);
	r = g_strdup(the_revision);
	pthread_mutex_unlock(&revision_lock);
	return r;
}

/* syslog's names, which are also the journal's priorities GLib uses. */
static const char *
level_name(GLogLevelFlags level)
{
	if (level & G_LOG_LEVEL_ERROR)
		return "error";
	if (level & G_LOG_LEVEL_CRITICAL)
		return "critical";
	if (level & G_LOG_LEVEL_WARNING)
		return "warning";
	if (level & G_LOG_LEVEL_MESSAGE)
		return "notice";
	if (level & G_LOG_LEVEL_INFO)
		return "info";
	return "debug";
}

static const char *
level_priority(GLogLevelFlags level)
{
	if (level & G_LOG_LEVEL_ERROR)
		return "3";
	if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
		return "4";
	if (level & G_LOG_LEVEL_MESSAGE)
		return "5";
	if (level & G_LOG_LEVEL_INFO)
		return "6";
	return "7";
}

static const char *
field(const GLogField *fields, gsize n, const char *key)
{
	for (gsize i = 0; i < n; i++)
		if (g_strcmp0(fields[i].key, key) == 0 && fields[i].length < 0)
			return fields[i].value;
	return NULL;
}

/* RFC 3339 local time with milliseconds: sortable and unambiguous. */
static char *
time_now(void)
{
	g_autoptr(GDateTime) t = g_date_time_new_now_local();
	g_autofree char *s = g_date_time_format(t, "%Y-%m-%dT%H:%M:%S");
	g_autofree char *z = g_date_time_format(t, "%:z");

	return g_strdup_printf("%s.%03d%s", s, g_date_time_get_microsecond(t) / 1000, z);
}

/* Every line one line: a message's own newlines would split an event. */
static char *
one_line(const char *msg)
{
	char *s = g_strdup(msg ? msg : "");

	g_strchomp(s);
	for (char *p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return s;
}

static char *
render_text(GLogLevelFlags level, const GLogField *fields, gsize n, const char *time,
	    const char *rev)
{
	g_autofree char *msg = one_line(field(fields, n, "MESSAGE"));

	return g_strdup_printf("%s%s%s [%s] %s\n", time ? time : "", time ? " " : "",
			       level_name(level), rev ? rev : "no revision", msg);
}

static char *
render_json(GLogLevelFlags level, const GLogField *fields, gsize n, const char *time,
	    const char *rev)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	/* A libvirt error may carry bytes that are not UTF-8: JSON must not. */
	g_autofree char *msg = g_utf8_make_valid(field(fields, n, "MESSAGE") ? field(fields, n, "MESSAGE") : "", -1);
	g_autofree char *line = NULL;

	json_builder_begin_object(b);
	if (time)
		json_out_string(b, "time", time);
	json_out_string(b, "level", level_name(level));
	json_out_string(b, "revision", rev);
	json_out_string(b, "message", msg);
	for (size_t i = 0; i < G_N_ELEMENTS(about_keys); i++)
		if (field(fields, n, about_keys[i].field))
			json_out_string(b, about_keys[i].key, field(fields, n, about_keys[i].field));
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	line = json_to_string(root, FALSE);
	return g_strconcat(line, "\n", NULL);
}

char *
log_render(log_format f, GLogLevelFlags level, const GLogField *fields, gsize n,
	   const char *time)
{
	g_autofree char *rev = revision_copy();

	return f == LOG_JSON ? render_json(level, fields, n, time, rev)
			     : render_text(level, fields, n, time, rev);
}

static GLogWriterOutput
write_journal(GLogLevelFlags level, const GLogField *fields, gsize n)
{
	g_autofree char *rev = revision_copy();
	g_autofree GLogField *out = g_new0(GLogField, n + 1);

	memcpy(out, fields, n * sizeof(*fields));
	out[n] = (GLogField){ "STRATA_REVISION", rev ? rev : "", -1 };
	return g_log_writer_journald(level, out, n + 1, NULL);
}

static GLogWriterOutput
writer(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
	g_autofree char *time = NULL, *line = NULL;

	(void)data;
	if (g_log_writer_default_would_drop(level, field(fields, n, "GLIB_DOMAIN")))
		return G_LOG_WRITER_HANDLED;
	if (the_format == LOG_JOURNAL && write_journal(level, fields, n) == G_LOG_WRITER_HANDLED)
		return G_LOG_WRITER_HANDLED;
	time = time_now();
	line = log_render(the_format == LOG_JSON ? LOG_JSON : LOG_TEXT, level, fields, n, time);
	/* One fputs of the whole line: lines of several threads never mix. */
	fputs(line, the_out);
	fflush(the_out);
	return G_LOG_WRITER_HANDLED;
}

void
log_init(log_format f, FILE *err)
{
	the_out = err;
	if (f == LOG_AUTO)
		f = g_log_writer_is_journald(fileno(err)) ? LOG_JOURNAL : LOG_TEXT;
	the_format = f;
	/* GLib takes a writer once per process; a verb's --log-format
	 * changes only the format main's call chose. */
	if (!installed)
		g_log_set_writer_func(writer, NULL, NULL);
	installed = true;
}

char *
domain_split(const char *domain, const char **vm)
{
	const char *dot = domain ? strchr(domain, '.') : NULL;

	if (!dot)
		return NULL;
	*vm = dot + 1;
	return g_strndup(domain, (gsize)(dot - domain));
}

void
log_about(GLogLevelFlags level, const char *domain, const char *host, const char *op,
	  const char *fmt, ...)
{
	g_autofree char *msg = NULL, *app = NULL;
	const char *vm = NULL;
	GLogField f[7];
	gsize n = 0;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	f[n++] = (GLogField){ "MESSAGE", msg, -1 };
	f[n++] = (GLogField){ "PRIORITY", level_priority(level), -1 };
	if ((app = domain_split(domain, &vm))) {
		f[n++] = (GLogField){ "STRATA_APPLIANCE", app, -1 };
		f[n++] = (GLogField){ "STRATA_VM", vm, -1 };
	}
	if (host)
		f[n++] = (GLogField){ "STRATA_HOST", host, -1 };
	if (op)
		f[n++] = (GLogField){ "STRATA_OP", op, -1 };
	g_log_structured_array(level, f, n);
}
