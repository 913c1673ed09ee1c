/*
 * virt_console.h - a VM's serial console as a byte stream, on the loop
 *
 * libvirt relays the console (QEMU's pty) through a stream on a
 * read-write connection; this reads and writes it without blocking, on
 * libvirt's event loop (loop.h), so that one thread serves the terminal
 * and the guest both.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "virt.h"

typedef struct virt_console virt_console;

/*
 * Called on the loop's thread with what the guest wrote (@len > 0), or
 * once at the end (@data NULL): @why NULL when the console closed (the VM
 * stopped or left the host), else what ended it (taken over by another
 * client, a lost connection).  Nothing is called after the end.
 */
typedef void (*virt_console_fn)(const char *data, gsize len, const char *why, gpointer user);

/*
 * Open the first serial console of the running domain @name on @h, which
 * must be a read-write connection, and deliver it to @fn from the loop
 * (loop_init before @h was opened), which it watches for its close (@h is
 * the console's alone).  Another client's session is refused (libvirt's
 * "safe" mode), unless @force, which takes it over.
 */
virt_console *virt_console_open(virt_host *h, const char *name, bool force,
				virt_console_fn fn, gpointer user, GError **error);

/* Send @len bytes to the guest (queued when the stream cannot take them
 * now, which only an in-process driver says: a remote connection sends
 * before it returns).  False once the console ended. */
bool virt_console_send(virt_console *c, const char *data, gsize len);

/* Close it (the stream is aborted if still open); no call comes after. */
void virt_console_close(virt_console *c);
