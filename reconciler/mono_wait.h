/*
 * mono_wait.h - condition variables timed on g_get_monotonic_time's clock
 *
 * The threads that wait with a deadline (observers, the waiter, the
 * notifier's backoff, the lease keeper) use pthread conditions, which
 * ThreadSanitizer sees (handoff.h), on CLOCK_MONOTONIC: a deadline is a
 * g_get_monotonic_time() value, and a change of the wall clock moves none.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <pthread.h>
#include <stdbool.h>

void mono_cond_init(pthread_cond_t *c);

/* Wait on @c (@m held) until woken or until @until (monotonic µs);
 * false once the deadline has passed. */
bool mono_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, gint64 until);
