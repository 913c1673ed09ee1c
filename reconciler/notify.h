/*
 * notify.h - tell people what the daemon saw: webhooks and Alertmanager
 *
 * The loop hands each event to notify_send, which copies it into every
 * receiver's queue and returns: delivery happens on one thread per
 * receiver (libcurl, a 5 s deadline per attempt, 4 attempts 1, 2 and 4 s
 * apart), so a receiver that hangs delays nothing but its own queue.  A
 * queue holds at most NOTIFY_QUEUE_MAX events; past that an event is
 * dropped and counted (strata_notifications_dropped_total).
 *
 * Receivers:
 *   webhook       a JSON POST per event (README.md, "Notifications", gives the
 *                 schema); with a key, signed: X-Strata-Signature:
 *                 sha256=HEX, the HMAC-SHA256 of the body; with a token,
 *                 Authorization: Bearer TOKEN
 *   alertmanager  POST URL/api/v2/alerts, one attempt each.  An event that starts a problem
 *                 (a failed run, an unreachable host, ...) fires an alert,
 *                 sent again every minute with endsAt 5 minutes ahead while
 *                 it lasts; the event that ends it sends endsAt = now, so
 *                 the alert resolves.  Events that start nothing (drift
 *                 healed) are not sent to Alertmanager.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct telemetry telemetry;  /* telemetry.h */

#define NOTIFY_QUEUE_MAX 1000

typedef struct {
	const char *webhook_url;
	const char *hmac_key_file;     /* key for the webhook's signature */
	const char *token_file;        /* bearer token for the webhook */
	const char *alertmanager_url;
	unsigned timeout_ms;           /* per attempt; 0: 5000 */
	unsigned retry_ms;             /* first backoff; 0: 1000 */
	unsigned resend_ms;            /* Alertmanager: firing alerts again; 0: 60000 */
} notify_options;

/*
 * One event.  @alert is the Alertmanager alert it fires (or resolves, with
 * @resolved), or NULL for news only.  The alert's identity is @alert with
 * @appliance, @vm, @host and @action, the labels given.
 */
typedef struct {
	const char *event;       /* run_failed, run_recovered, drift_healed, vm_held,
				    vm_released, host_unreachable, host_back, host_lost,
				    revision_invalid, revision_unverified, revision_ok,
				    scheduled_action_failed, scheduled_action_ok,
				    removal_held, removal_released */
	const char *alert;
	bool resolved;
	const char *severity;    /* critical, warning, info */
	const char *summary;
	const char *revision;
	const char *appliance, *vm, *host, *action;
	gint64 run;              /* 0: none */
} notify_event;

typedef struct notifier notifier;

/* NULL with no receiver given; fails when a secret file cannot be read. */
notifier *notify_new(const notify_options *o, telemetry *t, GError **error);
void notify_send(notifier *n, const notify_event *e);
/* Stops the threads: an attempt under way is cut within about a second. */
void notify_free(notifier *n);

/* For tests: the webhook body of @e, as sent (id and time given). */
char *notify_webhook_body(const notify_event *e, const char *id, const char *time);
