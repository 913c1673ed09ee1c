/*
 * metrics_http.h - serve /metrics over HTTP, on a thread of its own
 *
 * libmicrohttpd (LGPL, in Debian, used by systemd-journal-remote) answers
 * scrapes on its internal thread: a slow or stuck scraper never touches
 * the daemon's loop, which only updates the registry (metrics.h).  A scrape
 * renders the registry under its lock and sends the copy.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "metrics.h"

typedef struct metrics_server metrics_server;

/*
 * Listen on @address: "HOST:PORT", "[IPV6]:PORT", or ":PORT"/"PORT" for
 * 127.0.0.1 (the loopback unless told otherwise).  PORT 0 picks a free
 * one (metrics_server_port says which).  Fails with a message naming the
 * address when it cannot be parsed or bound.
 */
metrics_server *metrics_server_start(metrics *m, const char *address, GError **error);
guint16 metrics_server_port(const metrics_server *s);
/* Whether @address has the form metrics_server_start takes (no lookup). */
bool metrics_address_ok(const char *address);
/* Stops answering, waits for the scrape in progress, frees. */
void metrics_server_stop(metrics_server *s);
