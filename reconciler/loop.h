/*
 * loop.h - the daemon's one event loop: libvirt's default implementation
 *
 * libvirt needs an event loop for domain events and keepalives; rather
 * than bridge it into another, strata runs everything on libvirt's own:
 * inotify, the control socket, the executor's wake-ups, timers and
 * signals (through a signalfd) are all handles and timeouts of it.  Every
 * callback runs on the loop's thread; none of them blocks for long.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef void (*loop_fd_fn)(int fd, gpointer data);
typedef void (*loop_timer_fn)(gpointer data);

/* Before any libvirt connection is opened. */
void loop_init(void);

/* Watch @fd for reading; returns a watch id (< 0 on failure). */
int loop_watch(int fd, loop_fd_fn fn, gpointer data);
/* Watch it for writing instead (@write), or for reading again. */
void loop_watch_write(int watch, bool write);
void loop_unwatch(int watch);

/* A timer firing every @ms milliseconds (-1: disarmed). */
int loop_timer(int ms, loop_timer_fn fn, gpointer data);
void loop_timer_set(int timer, int ms);
void loop_timer_remove(int timer);

/* A signalfd for @signals (blocked in the process); -1 on failure. */
int loop_signalfd(const int *signals, int n);

/* One iteration: wait for something, dispatch it. */
void loop_iterate(void);
