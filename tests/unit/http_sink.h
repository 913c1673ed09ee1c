/*
 * http_sink.h - a real HTTP receiver on 127.0.0.1 for the notification tests
 *
 * It accepts on its own thread and records each POST (path, body and the
 * headers strata signs or authenticates with), answering 200; a hanging
 * sink accepts and reads but never answers, as a stuck receiver does.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct http_sink http_sink;

typedef struct {
	char *path;
	char *body;
	char *signature;   /* X-Strata-Signature, or NULL */
	char *auth;        /* Authorization, or NULL */
} http_req;

http_sink *http_sink_new(bool hang);
/* http://127.0.0.1:PORT@path */
char *http_sink_url(http_sink *s, const char *path);
/* The next request, waiting up to @ms; NULL if none came. */
http_req *http_sink_pop(http_sink *s, int ms);
void http_req_free(http_req *r);
/* Connections accepted so far. */
guint http_sink_accepted(http_sink *s);
void http_sink_free(http_sink *s);
