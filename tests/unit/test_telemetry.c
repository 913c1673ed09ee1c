/*
 * test_telemetry.c - metrics text, log lines, and notifications to a real
 * HTTP receiver (signed webhooks, Alertmanager alerts that resolve, a
 * receiver that hangs)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <json-glib/json-glib.h>
#include <string.h>

#include "testutil.h"
#include "http_sink.h"
#include "../../reconciler/log.h"
#include "../../reconciler/metrics.h"
#include "../../reconciler/notify.h"
#include "../../reconciler/telemetry.h"

#define LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
test_metrics__text_format(void **state)
{
	metrics *m = metrics_new();
	static const double b[] = { 0.05, 1 };
	metric_family *c = metrics_family(m, "t_total", "Help with \\ and\nnewline.", METRIC_COUNTER,
					  LABELS("name"), NULL, 0);
	metric_family *h = metrics_family(m, "t_seconds", "A histogram.", METRIC_HISTOGRAM, NULL, b, 2);
	metric_family *g = metrics_family(m, "t_empty", "No series yet.", METRIC_GAUGE, LABELS("x"), NULL, 0);
	g_autofree char *text = NULL;

	(void)state;
	(void)g;
	metrics_inc(c, 1, LABELS("b"));
	metrics_inc(c, 2, LABELS("a \"q\" \\ \n"));
	metrics_observe(h, 0.01, NULL);
	metrics_observe(h, 0.5, NULL);
	metrics_observe(h, 7, NULL);
	text = metrics_render(m);
	assert_string_equal(text,
		"# HELP t_total Help with \\\\ and\\nnewline.\n"
		"# TYPE t_total counter\n"
		"t_total{name=\"a \\\"q\\\" \\\\ \\n\"} 2\n"
		"t_total{name=\"b\"} 1\n"
		"# HELP t_seconds A histogram.\n"
		"# TYPE t_seconds histogram\n"
		"t_seconds_bucket{le=\"0.05\"} 1\n"
		"t_seconds_bucket{le=\"1\"} 2\n"
		"t_seconds_bucket{le=\"+Inf\"} 3\n"
		"t_seconds_sum 7.51\n"
		"t_seconds_count 3\n"
		"# HELP t_empty No series yet.\n"
		"# TYPE t_empty gauge\n");
	metrics_free(m);
}

/* A gauge set whole: cleared and set again, old series gone. */
static void
test_metrics__view_replaces_hosts_and_vms(void **state)
{
	telemetry *t = telemetry_new("9.9");
	g_autofree char *one = NULL, *two = NULL;

	(void)state;
	telemetry_snapshot_taken(t, "w", "a", 100);
	telemetry_snapshot_taken(t, "w", "gone", 100);
	telemetry_view_begin(t);
	telemetry_host(t, "hv1", true, 8, 1024, 2, 512);
	telemetry_vm(t, "w", "a", "hv1", "running", "running");
	telemetry_view_end(t);
	one = metrics_render(telemetry_metrics(t));
	assert_non_null(strstr(one, "strata_vm_info{appliance=\"w\",vm=\"a\",host=\"hv1\",state=\"running\","
				    "desired_state=\"running\"} 1\n"));
	assert_non_null(strstr(one, "strata_host_vcpus_allocated{host=\"hv1\"} 2\n"));
	assert_non_null(strstr(one, "strata_build_info{version=\"9.9\"} 1\n"));
	/* A VM no longer in the view loses its snapshot time; one still there keeps it. */
	assert_non_null(strstr(one, "strata_last_successful_snapshot_timestamp_seconds{appliance=\"w\",vm=\"a\"} 100\n"));
	assert_null(strstr(one, "vm=\"gone\""));
	telemetry_view_begin(t);
	telemetry_host(t, "hv1", false, 0, 0, 0, 0);
	telemetry_vm(t, "w", "a", NULL, "unknown", "running");
	telemetry_view_end(t);
	two = metrics_render(telemetry_metrics(t));
	assert_null(strstr(two, "host=\"hv1\",state=\"running\""));
	assert_non_null(strstr(two, "strata_host_up{host=\"hv1\"} 0\n"));
	/* An unreachable host's capacity is unknown: no series, not a zero. */
	assert_null(strstr(two, "strata_host_vcpus{host=\"hv1\"}"));
	telemetry_free(t);
}

static void
test_log__text_and_json_lines(void **state)
{
	const GLogField f[] = {
		{ "MESSAGE", "w.a: held stopped:\nthe guest shut itself down", -1 },
		{ "STRATA_APPLIANCE", "w", -1 }, { "STRATA_VM", "a", -1 }, { "STRATA_HOST", "hv1", -1 },
	};
	g_autofree char *text = NULL, *json = NULL;
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o;

	(void)state;
	log_set_revision("3f2a9c1d0e4b");
	text = log_render(LOG_TEXT, G_LOG_LEVEL_WARNING, f, G_N_ELEMENTS(f), "T");
	/* One line, ending in its newline, whatever the message held. */
	assert_string_equal(text, "T warning [3f2a9c1d0e4b] w.a: held stopped: the guest shut itself down\n");
	json = log_render(LOG_JSON, G_LOG_LEVEL_MESSAGE, f, G_N_ELEMENTS(f), "T");
	assert_int_equal(json[strlen(json) - 1], '\n');
	assert_ptr_equal(strchr(json, '\n'), json + strlen(json) - 1);  /* one line */
	assert_true(json_parser_load_from_data(p, json, -1, NULL));
	o = json_node_get_object(json_parser_get_root(p));
	assert_string_equal(json_object_get_string_member(o, "level"), "notice");
	assert_string_equal(json_object_get_string_member(o, "revision"), "3f2a9c1d0e4b");
	assert_string_equal(json_object_get_string_member(o, "appliance"), "w");
	assert_string_equal(json_object_get_string_member(o, "vm"), "a");
	assert_string_equal(json_object_get_string_member(o, "host"), "hv1");
	assert_false(json_object_has_member(o, "op"));
	log_set_revision(NULL);
	g_free(text);
	text = log_render(LOG_TEXT, G_LOG_LEVEL_MESSAGE, f, 1, "T");
	assert_non_null(strstr(text, " [no revision] "));
}

static JsonObject *
parse_object(JsonParser *p, const char *json)
{
	assert_true(json_parser_load_from_data(p, json, -1, NULL));
	return json_node_get_object(json_parser_get_root(p));
}

static void
test_notify__webhook_signed_with_hmac_and_token(void **state)
{
	http_sink *sink = http_sink_new(false);
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *key = g_build_filename(dir, "key", NULL);
	g_autofree char *tok = g_build_filename(dir, "token", NULL);
	g_autofree char *url = http_sink_url(sink, "/hook");
	telemetry *t = telemetry_new("x");
	notify_options o = { .webhook_url = url, .hmac_key_file = key, .token_file = tok };
	notify_event e = { .event = "vm_held", .alert = "StrataVMHeld", .severity = "warning",
			   .summary = "w.b: held stopped", .appliance = "w", .vm = "b", .run = 7 };
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonParser) p = json_parser_new();
	g_autofree char *want = NULL, *metrics_text = NULL;
	notifier *n;
	http_req *r;
	JsonObject *body;

	(void)state;
	tu_write(key, "s3cret\n");  /* the editor's newline is not the key's */
	tu_write(tok, "tok-1\n");
	n = notify_new(&o, t, &err);
	assert_non_null(n);
	notify_send(n, &e);
	r = http_sink_pop(sink, 5000);
	assert_non_null(r);
	assert_string_equal(r->path, "/hook");
	want = g_compute_hmac_for_string(G_CHECKSUM_SHA256, (const guchar *)"s3cret", 6, r->body, -1);
	assert_non_null(r->signature);
	assert_string_equal(r->signature + strlen("sha256="), want);
	assert_true(g_str_has_prefix(r->signature, "sha256="));
	assert_string_equal(r->auth, "Bearer tok-1");
	body = parse_object(p, r->body);
	assert_string_equal(json_object_get_string_member(body, "event"), "vm_held");
	assert_string_equal(json_object_get_string_member(body, "vm"), "b");
	assert_int_equal(json_object_get_int_member(body, "run"), 7);
	assert_int_equal(strlen(json_object_get_string_member(body, "id")), 36);
	assert_true(json_object_get_null_member(body, "host"));
	http_req_free(r);
	/* Counted once curl has read the answer (the sink records first). */
	for (int i = 0; i < 500 && !(metrics_text && strstr(metrics_text, "result=\"sent\"} 1\n")); i++) {
		g_free(metrics_text);
		g_usleep(10000);
		metrics_text = metrics_render(telemetry_metrics(t));
	}
	assert_non_null(strstr(metrics_text, "strata_notifications_total{receiver=\"webhook\",result=\"sent\"} 1\n"));
	notify_free(n);
	telemetry_free(t);
	http_sink_free(sink);
	tu_rmtree(dir);
}

static void
test_notify__an_empty_secret_file_is_refused(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *key = g_build_filename(dir, "key", NULL);
	notify_options o = { .webhook_url = "http://127.0.0.1:1/", .hmac_key_file = key };
	g_autoptr(GError) err = NULL;

	(void)state;
	tu_write(key, "\n");
	assert_null(notify_new(&o, NULL, &err));
	assert_non_null(strstr(err->message, "empty"));
	g_clear_error(&err);
	o.hmac_key_file = "/nonexistent/key";
	assert_null(notify_new(&o, NULL, &err));
	assert_non_null(strstr(err->message, "/nonexistent/key"));
	tu_rmtree(dir);
}

/* Alertmanager: a problem fires, its end resolves (endsAt not after now),
 * with the same labels; news that starts nothing is not sent. */
static void
test_notify__alertmanager_fires_then_resolves(void **state)
{
	http_sink *sink = http_sink_new(false);
	g_autofree char *url = http_sink_url(sink, "/am/");
	telemetry *t = telemetry_new("x");
	notify_options o = { .alertmanager_url = url };
	notify_event fire = { .event = "host_unreachable", .alert = "StrataHostUnreachable",
			      .severity = "critical", .summary = "host hv2 unreachable", .host = "hv2" };
	notify_event news = { .event = "drift_healed", .severity = "info", .summary = "healed" };
	notify_event end = fire;
	g_autoptr(GError) err = NULL;
	g_autoptr(JsonParser) p1 = json_parser_new();
	g_autoptr(JsonParser) p2 = json_parser_new();
	notifier *n = notify_new(&o, t, &err);
	http_req *r1, *r2;
	JsonObject *a1, *a2;
	g_autoptr(GDateTime) ends = NULL;
	g_autoptr(GDateTime) now = NULL;

	(void)state;
	end.event = "host_back";
	end.resolved = true;
	end.severity = "warning";  /* Alertmanager knows alerts by every label */
	notify_send(n, &fire);
	notify_send(n, &news);
	notify_send(n, &end);
	r1 = http_sink_pop(sink, 5000);
	r2 = http_sink_pop(sink, 5000);
	assert_non_null(r1);
	assert_non_null(r2);
	assert_null(http_sink_pop(sink, 300));  /* the news went nowhere */
	assert_string_equal(r1->path, "/am/api/v2/alerts");
	assert_true(json_parser_load_from_data(p1, r1->body, -1, NULL));
	assert_true(json_parser_load_from_data(p2, r2->body, -1, NULL));
	a1 = json_array_get_object_element(json_node_get_array(json_parser_get_root(p1)), 0);
	a2 = json_array_get_object_element(json_node_get_array(json_parser_get_root(p2)), 0);
	assert_string_equal(json_object_get_string_member(json_object_get_object_member(a1, "labels"),
							  "alertname"), "StrataHostUnreachable");
	assert_string_equal(json_object_get_string_member(json_object_get_object_member(a1, "labels"),
							  "host"), "hv2");
	/* The alert as it fired (severity included), its start, an end now. */
	assert_true(json_node_equal(json_object_get_member(a1, "labels"),
				    json_object_get_member(a2, "labels")));
	assert_string_equal(json_object_get_string_member(a1, "startsAt"),
			    json_object_get_string_member(a2, "startsAt"));
	ends = g_date_time_new_from_iso8601(json_object_get_string_member(a2, "endsAt"), NULL);
	now = g_date_time_new_now_utc();
	assert_non_null(ends);
	assert_true(g_date_time_compare(ends, now) <= 0);
	http_req_free(r1);
	http_req_free(r2);
	notify_free(n);
	telemetry_free(t);
	http_sink_free(sink);
}

/*
 * A receiver that accepts and never answers: notify_send returns at once
 * every time (the loop never waits on it), the queue fills, and what does
 * not fit is dropped and counted.  Stopping ends at the attempt's deadline.
 */
static void
test_notify__a_hanging_receiver_delays_nothing(void **state)
{
	http_sink *sink = http_sink_new(true);
	g_autofree char *url = http_sink_url(sink, "/");
	telemetry *t = telemetry_new("x");
	notify_options o = { .webhook_url = url, .timeout_ms = 500 };
	notify_event e = { .event = "run_failed", .severity = "warning", .summary = "s" };
	g_autoptr(GError) err = NULL;
	notifier *n = notify_new(&o, t, &err);
	g_autofree char *text = NULL, *want = NULL;

	(void)state;
	for (int i = 0; i < NOTIFY_QUEUE_MAX + 10; i++)
		notify_send(n, &e);
	text = metrics_render(telemetry_metrics(t));
	/* The thread holds one; the queue NOTIFY_QUEUE_MAX; the rest drop. */
	assert_non_null(strstr(text, "strata_notifications_dropped_total{receiver=\"webhook\"}"));
	assert_true(http_sink_accepted(sink) <= 1);
	/* The first is under way (the receiver took it and hangs) before the
	 * stop, which must cut it: a stop that came first would find nothing
	 * to cut. */
	for (int i = 0; i < 500 && http_sink_accepted(sink) == 0; i++)
		g_usleep(10000);
	assert_int_equal(http_sink_accepted(sink), 1);
	notify_free(n);
	g_free(text);
	text = metrics_render(telemetry_metrics(t));
	want = g_strdup_printf("strata_notifications_total{receiver=\"webhook\",result=\"failed\"} 1\n");
	assert_non_null(strstr(text, want));
	telemetry_free(t);
	http_sink_free(sink);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics__text_format),
		cmocka_unit_test(test_metrics__view_replaces_hosts_and_vms),
		cmocka_unit_test(test_log__text_and_json_lines),
		cmocka_unit_test(test_notify__webhook_signed_with_hmac_and_token),
		cmocka_unit_test(test_notify__an_empty_secret_file_is_refused),
		cmocka_unit_test(test_notify__alertmanager_fires_then_resolves),
		cmocka_unit_test(test_notify__a_hanging_receiver_delays_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
