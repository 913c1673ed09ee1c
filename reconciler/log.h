/*
 * log.h - how strata's log lines look: on a terminal, in the journal, as JSON
 *
 * Every GLib log call (g_message, g_warning, ...) of every verb goes
 * through one writer, installed by log_init:
 *
 *   text     one line per event, always ending in a newline:
 *            2026-11-25T10:11:12.345+01:00 warning [3f2a9c1] host h1 unreachable: ...
 *   json     one JSON object per line: time, level, revision, message, and
 *            appliance, vm, host, op when the line is about one
 *   journal  native journald fields: MESSAGE, PRIORITY, STRATA_REVISION and
 *            STRATA_APPLIANCE, STRATA_VM, STRATA_HOST, STRATA_OP
 *   auto     journal when stderr is connected to the journal, else text
 *
 * Debug lines are dropped unless G_MESSAGES_DEBUG=all, as GLib's own
 * writer does (strata's messages carry no log domain).  The writer may be called from any thread;
 * the revision it prints is a copy kept under a lock (log_set_revision).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>

typedef enum { LOG_AUTO, LOG_TEXT, LOG_JSON, LOG_JOURNAL } log_format;

/* "auto", "text", "json", "journal"; false for anything else. */
bool log_format_parse(const char *s, log_format *out);

/* Install the writer; @err is where text and JSON lines go (stderr). */
void log_init(log_format f, FILE *err);

/* The revision every following line names (copied), or NULL: none. */
void log_set_revision(const char *rev);

/*
 * A line about one thing: @domain ("app.vm", split into appliance and VM),
 * @host and @op may each be NULL.  They become fields of the journal and
 * JSON; the text form shows only the message, which names them already.
 */
void log_about(GLogLevelFlags level, const char *domain, const char *host, const char *op,
	       const char *fmt, ...) G_GNUC_PRINTF(5, 6);

/* The appliance of domain @domain ("app.vm", newly allocated) and, in
 * *@vm, its VM (inside @domain); NULL for a name of another form.
 * Appliance and VM names hold no dot (the spec's name rule). */
char *domain_split(const char *domain, const char **vm);

/* For tests: render one event as @f would, without the time (NULL there). */
char *log_render(log_format f, GLogLevelFlags level, const GLogField *fields, gsize n,
		 const char *time);
