/*
 * mono_wait.c - condition variables timed on the monotonic clock
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <time.h>

#include "mono_wait.h"

void
mono_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

bool
mono_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, gint64 until)
{
	/* g_get_monotonic_time is CLOCK_MONOTONIC, as the condition's clock. */
	struct timespec ts = { .tv_sec = until / G_USEC_PER_SEC,
			       .tv_nsec = (until % G_USEC_PER_SEC) * 1000 };

	return pthread_cond_timedwait(c, m, &ts) != ETIMEDOUT;
}
