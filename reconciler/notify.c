/*
 * notify.c - webhook and Alertmanager delivery, one thread per receiver
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <curl/curl.h>
#include <pthread.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "handoff.h"
#include "json_out.h"
#include "mono_wait.h"
#include "notify.h"
#include "telemetry.h"

typedef struct notifier notifier;

typedef struct {
	char *body;              /* webhook: the JSON to POST */
	JsonNode *alert;         /* alertmanager: labels, annotations */
	char *key;               /* alertmanager: the alert's identity */
	bool resolved;
	bool stop;
} item;

typedef struct {
	notifier *n;
	const char *name;        /* "webhook", "alertmanager": the metric's label */
	char *url;               /* where it POSTs */
	char *shown;             /* @url without password or query, for logs */
	int attempts;
	char *hmac_key;
	gsize hmac_len;
	char *token;
	GAsyncQueue *q;          /* item * */
	GThread *thread;
	GHashTable *active;      /* alertmanager, its thread's: key -> item * firing */
	CURL *curl;              /* its thread's */
} receiver;

struct notifier {
	telemetry *t;
	unsigned timeout_ms, retry_ms, resend_ms;
	GPtrArray *receivers;    /* receiver * */
	/* pthread's, which ThreadSanitizer sees (handoff.h): */
	pthread_mutex_t lock;
	pthread_cond_t stopped;  /* on CLOCK_MONOTONIC */
	bool stopping;           /* under lock: backoffs end at once */
};

static void
item_free(gpointer p)
{
	item *i = p;

	if (!i)
		return;
	g_free(i->body);
	if (i->alert)
		json_node_unref(i->alert);
	g_free(i->key);
	g_free(i);
}

static char *
utc_now(gint64 offset_s)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autoptr(GDateTime) t = g_date_time_add_seconds(now, (gdouble)offset_s);

	return g_date_time_format_iso8601(t);
}

/* ---- HTTP --------------------------------------------------------------- */

static size_t
discard(char *p, size_t size, size_t n, void *data)
{
	(void)p;
	(void)data;
	return size * n;
}

static bool stopping(notifier *n);

/* libcurl asks about once a second: a stopping notifier ends the attempt. */
static int
on_progress(void *data, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return stopping(data) ? 1 : 0;
}

/* One POST: true on 2xx; *@permanent when trying again cannot help. */
static bool
post_once(receiver *r, const char *url, const char *body, bool *permanent)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	g_autofree char *sig = NULL, *auth = NULL;
	long code = 0;
	CURLcode rc;

	if (r->hmac_key) {
		g_autofree char *hex = g_compute_hmac_for_string(G_CHECKSUM_SHA256, (const guchar *)r->hmac_key,
								 r->hmac_len, body, -1);

		sig = g_strdup_printf("X-Strata-Signature: sha256=%s", hex);
		h = curl_slist_append(h, sig);
	}
	if (r->token) {
		auth = g_strdup_printf("Authorization: Bearer %s", r->token);
		h = curl_slist_append(h, auth);
	}
	curl_easy_reset(r->curl);
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);  /* threads: no SIGALRM */
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, (long)r->n->timeout_ms);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)r->n->timeout_ms);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, r->n);
	rc = curl_easy_perform(r->curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		g_debug("notify %s: %s", r->name, curl_easy_strerror(rc));
	else if (code < 200 || code > 299)
		g_debug("notify %s: HTTP %ld", r->name, code);
	/* A request refused as such stays refused; 408 and 429 say "later". */
	*permanent = rc == CURLE_OK && code >= 400 && code < 500 && code != 408 && code != 429;
	return rc == CURLE_OK && code >= 200 && code <= 299;
}

static bool
stopping(notifier *n)
{
	bool s;

	pthread_mutex_lock(&n->lock);
	s = n->stopping;
	pthread_mutex_unlock(&n->lock);
	return s;
}

/* Wait @ms unless the notifier stops meanwhile; false if it did. */
static bool
wait_or_stop(notifier *n, unsigned ms)
{
	gint64 until = g_get_monotonic_time() + (gint64)ms * 1000;
	bool s;

	pthread_mutex_lock(&n->lock);
	while (!n->stopping && mono_cond_wait_until(&n->stopped, &n->lock, until))
		;
	s = n->stopping;
	pthread_mutex_unlock(&n->lock);
	return !s;
}

#define ATTEMPTS 4

/* Up to ATTEMPTS tries, backing off; *@tries says how many were made. */
static bool
post(receiver *r, const char *url, const char *body, int *tries)
{
	unsigned backoff = r->n->retry_ms;

	for (*tries = 1; *tries <= r->attempts; ++*tries) {
		bool permanent = false;

		if (post_once(r, url, body, &permanent))
			return true;
		if (permanent || *tries == r->attempts || !wait_or_stop(r->n, backoff))
			break;
		backoff *= 2;
	}
	return false;
}

static void
deliver(receiver *r, const char *url, const char *body)
{
	int tries = 0;
	bool ok = post(r, url, body, &tries);

	telemetry_notification(r->n->t, r->name, ok);
	if (!ok)
		g_warning("notification to %s (%s) not delivered (%d attempt%s; G_MESSAGES_DEBUG=all says why)",
			  r->name, r->shown, tries, tries == 1 ? "" : "s");
}

/* ---- Alertmanager ------------------------------------------------------- */

/* [{labels, annotations, startsAt, endsAt}] for @alerts (item *). */
static char *
alerts_body(GPtrArray *alerts, gint64 ends_in_s)
{
	g_autoptr(JsonArray) a = json_array_new();
	g_autoptr(JsonNode) root = json_node_new(JSON_NODE_ARRAY);
	g_autofree char *ends = utc_now(ends_in_s);

	for (guint i = 0; i < alerts->len; i++) {
		item *it = alerts->pdata[i];
		JsonObject *o = json_object_ref(json_node_get_object(it->alert));

		json_object_set_string_member(o, "endsAt", ends);
		json_array_add_object_element(a, o);
	}
	json_node_set_array(root, a);
	return json_to_string(root, FALSE);
}

/*
 * An event for Alertmanager.  Alertmanager knows an alert by all of its
 * labels: a resolution sends the alert exactly as it fired (same labels,
 * same startsAt), with endsAt now.  One attempt each: a firing alert is
 * sent again every resend period anyway, and one whose resolution is lost
 * ends by itself at its endsAt, at most five periods later.
 */
static void
am_take(receiver *r, item *it)
{
	g_autoptr(GPtrArray) one = g_ptr_array_new();
	item *was = g_hash_table_lookup(r->active, it->key);
	g_autofree char *body = NULL;

	if (it->resolved) {
		if (was) {  /* nothing fired, nothing to resolve */
			g_ptr_array_add(one, was);
			body = alerts_body(one, 0);
			deliver(r, r->url, body);
			g_hash_table_remove(r->active, it->key);
		}
		item_free(it);
		return;
	}
	/* A firing alert keeps the startsAt of its first event. */
	if (was)
		json_object_set_string_member(json_node_get_object(it->alert), "startsAt",
			json_object_get_string_member(json_node_get_object(was->alert), "startsAt"));
	g_ptr_array_add(one, it);
	body = alerts_body(one, (gint64)r->n->resend_ms * 5 / 1000);
	g_hash_table_replace(r->active, g_strdup(it->key), it);
	deliver(r, r->url, body);
}

static void
am_resend(receiver *r)
{
	g_autoptr(GPtrArray) all = g_ptr_array_new();
	g_autofree char *body = NULL;
	GHashTableIter i;
	gpointer v;

	g_hash_table_iter_init(&i, r->active);
	while (g_hash_table_iter_next(&i, NULL, &v))
		g_ptr_array_add(all, v);
	if (!all->len)
		return;
	body = alerts_body(all, (gint64)r->n->resend_ms * 5 / 1000);
	deliver(r, r->url, body);
}

/* ---- the receivers' threads --------------------------------------------- */

static gpointer
receiver_run(gpointer data)
{
	receiver *r = data;
	gint64 resend_at = g_get_monotonic_time() + (gint64)r->n->resend_ms * 1000;

	r->curl = curl_easy_init();
	for (;;) {
		gint64 wait = MAX(resend_at - g_get_monotonic_time(), 0);
		item *it = r->active ? g_async_queue_timeout_pop(r->q, (guint64)wait)
				     : g_async_queue_pop(r->q);

		if (it)
			HANDOFF_TAKE(it);

		if (!it) {  /* the resend period ended */
			am_resend(r);
			resend_at = g_get_monotonic_time() + (gint64)r->n->resend_ms * 1000;
			continue;
		}
		if (it->stop) {
			item_free(it);
			break;
		}
		if (r->active) {
			am_take(r, it);
			continue;
		}
		deliver(r, r->url, it->body);
		item_free(it);
	}
	curl_easy_cleanup(r->curl);
	return NULL;
}

static bool
read_secret(const char *path, const char *what, char **out, gsize *len, GError **error)
{
	g_autoptr(GError) err = NULL;
	char *s = NULL;

	if (!g_file_get_contents(path, &s, len, &err)) {
		g_set_error(error, G_FILE_ERROR, err->code, "%s: %s; give a file that holds the secret", what, err->message);
		return false;
	}
	/* A trailing newline is the editor's, not the secret's. */
	while (*len && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
		s[--*len] = '\0';
	if (!*len) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s %s: the file is empty", what, path);
		g_free(s);
		return false;
	}
	*out = s;
	return true;
}

static void
receiver_free(gpointer p)
{
	receiver *r = p;

	if (r->thread) {
		item *stop = g_new0(item, 1);

		stop->stop = true;
		HANDOFF_SEND(stop);
		g_async_queue_push_front(r->q, stop);
		g_thread_join(r->thread);
	}
	g_async_queue_unref(r->q);
	if (r->active)
		g_hash_table_unref(r->active);
	g_free(r->url);
	g_free(r->shown);
	if (r->hmac_key)
		memset(r->hmac_key, 0, r->hmac_len);
	g_free(r->hmac_key);
	g_free(r->token);
	g_free(r);
}

/* @url for a log line: a webhook URL's query or password is a secret. */
static char *
url_shown(const char *url)
{
	g_autoptr(GUri) u = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);

	return u ? g_uri_to_string_partial(u, G_URI_HIDE_PASSWORD | G_URI_HIDE_QUERY |
					      G_URI_HIDE_FRAGMENT | G_URI_HIDE_AUTH_PARAMS)
		 : g_strdup("(the URL given)");
}

static receiver *
receiver_new(notifier *n, const char *name, const char *url, int attempts)
{
	receiver *r = g_new0(receiver, 1);

	r->n = n;
	r->name = name;
	r->url = g_strdup(url);
	r->shown = url_shown(url);
	r->attempts = attempts;
	r->q = g_async_queue_new_full(item_free);
	return r;
}

notifier *
notify_new(const notify_options *o, telemetry *t, GError **error)
{
	notifier *n;
	receiver *w = NULL, *am = NULL;

	if (!o->webhook_url && !o->alertmanager_url)
		return NULL;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	n = g_new0(notifier, 1);
	n->t = t;
	n->timeout_ms = o->timeout_ms ? o->timeout_ms : 5000;
	n->retry_ms = o->retry_ms ? o->retry_ms : 1000;
	n->resend_ms = o->resend_ms ? o->resend_ms : 60000;
	n->receivers = g_ptr_array_new_with_free_func(receiver_free);
	pthread_mutex_init(&n->lock, NULL);
	mono_cond_init(&n->stopped);
	if (o->webhook_url) {
		gsize len = 0;

		w = receiver_new(n, "webhook", o->webhook_url, ATTEMPTS);
		g_ptr_array_add(n->receivers, w);
		if ((o->hmac_key_file &&
		     !read_secret(o->hmac_key_file, "--notify-hmac-key-file", &w->hmac_key, &w->hmac_len, error)) ||
		    (o->token_file && !read_secret(o->token_file, "--notify-token-file", &w->token, &len, error))) {
			notify_free(n);
			return NULL;
		}
	}
	if (o->alertmanager_url) {
		g_autofree char *url = g_strconcat(o->alertmanager_url,
						   g_str_has_suffix(o->alertmanager_url, "/") ? "" : "/",
						   "api/v2/alerts", NULL);

		am = receiver_new(n, "alertmanager", url, 1);
		am->active = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, item_free);
		g_ptr_array_add(n->receivers, am);
	}
	for (guint i = 0; i < n->receivers->len; i++) {
		receiver *r = n->receivers->pdata[i];

		r->thread = g_thread_new("strata-notify", receiver_run, r);
	}
	return n;
}

void
notify_free(notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = true;
	pthread_cond_broadcast(&n->stopped);
	pthread_mutex_unlock(&n->lock);
	g_ptr_array_unref(n->receivers);
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->stopped);
	g_free(n);
}

/* ---- what is sent ------------------------------------------------------- */

char *
notify_webhook_body(const notify_event *e, const char *id, const char *time)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_out_string(b, "id", id);
	json_out_string(b, "time", time);
	json_out_string(b, "source", "strata");
	json_out_string(b, "event", e->event);
	json_out_string(b, "severity", e->severity);
	json_out_string(b, "summary", e->summary);
	json_out_string(b, "revision", e->revision);
	json_out_string(b, "appliance", e->appliance);
	json_out_string(b, "vm", e->vm);
	json_out_string(b, "host", e->host);
	json_out_string(b, "action", e->action);
	json_builder_set_member_name(b, "run");
	if (e->run > 0)
		json_builder_add_int_value(b, e->run);
	else
		json_builder_add_null_value(b);
	json_out_string(b, "alert", e->alert);
	json_builder_set_member_name(b, "resolved");
	json_builder_add_boolean_value(b, e->resolved);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return json_to_string(root, FALSE);
}

/* The alert: its identity labels, a summary, startsAt now. */
static item *
alert_item(const notify_event *e)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autofree char *now = utc_now(0);
	const struct {
		const char *name, *value;
	} labels[] = {
		{ "alertname", e->alert }, { "severity", e->severity }, { "appliance", e->appliance },
		{ "vm", e->vm }, { "host", e->host }, { "action", e->action },
		/* Two daemons sending to one Alertmanager keep their alerts apart. */
		{ "instance", g_get_host_name() },
	};
	item *it = g_new0(item, 1);
	GString *key = g_string_new(NULL);

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "labels");
	json_builder_begin_object(b);
	for (size_t i = 0; i < G_N_ELEMENTS(labels); i++) {
		if (!labels[i].value)
			continue;
		json_out_string(b, labels[i].name, labels[i].value);
		/* Severity is not identity: a resolution may say another. */
		if (i != 1)
			g_string_append_printf(key, "%s=%s\x1f", labels[i].name, labels[i].value);
	}
	json_out_string(b, "source", "strata");
	json_builder_end_object(b);
	json_builder_set_member_name(b, "annotations");
	json_builder_begin_object(b);
	json_out_string(b, "summary", e->summary);
	if (e->revision)
		json_out_string(b, "revision", e->revision);
	json_builder_end_object(b);
	json_out_string(b, "startsAt", now);
	json_builder_end_object(b);
	it->alert = json_builder_get_root(b);
	it->key = g_string_free(key, FALSE);
	it->resolved = e->resolved;
	return it;
}

/* A full queue drops the event, but never an alert's end: a dropped
 * resolution would leave the alert firing while strata runs. */
static void
enqueue(receiver *r, item *it)
{
	if (g_async_queue_length(r->q) >= NOTIFY_QUEUE_MAX && !(it->alert && it->resolved)) {
		telemetry_notification_dropped(r->n->t, r->name);
		item_free(it);
		return;
	}
	HANDOFF_SEND(it);  /* the receiver's thread owns it now */
	g_async_queue_push(r->q, it);
}

void
notify_send(notifier *n, const notify_event *e)
{
	g_autofree char *id = NULL, *now = NULL;

	if (!n)
		return;
	id = g_uuid_string_random();
	now = utc_now(0);
	for (guint i = 0; i < n->receivers->len; i++) {
		receiver *r = n->receivers->pdata[i];
		item *it;

		if (r->active && !e->alert)
			continue;  /* news, not a problem: no alert */
		if (r->active) {
			it = alert_item(e);
		} else {
			it = g_new0(item, 1);
			it->body = notify_webhook_body(e, id, now);
		}
		enqueue(r, it);
	}
}
