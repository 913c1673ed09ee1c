/*
 * control.h - the daemon's control socket, and the client the CLI uses
 *
 * A UNIX stream socket, mode 0600, beside the database.  A client sends
 * one verb on one line (status, reconcile, suspend, resume) and reads one
 * JSON document back; the connection then closes.  The daemon answers
 * only peers running as its own user or root (SO_PEERCRED).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>

struct daemon_state;
typedef struct control_server control_server;

control_server *control_listen(const char *path, struct daemon_state *d,
			       GError **error);
void control_free(control_server *c);

/* Client: send @verb, return the reply (owned), or NULL with @error. */
char *control_call(const char *path, const char *verb, GError **error);
