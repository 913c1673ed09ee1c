/*
 * handoff.h - tell ThreadSanitizer about hand-offs GLib makes out of its sight
 *
 * GLib's thread pool, queues and GMutex synchronise through futexes that
 * ThreadSanitizer cannot see: the hand-offs they make (a job to a worker,
 * its result back) are told to it here, so that its reports are the races
 * strata has, not the ones GLib prevents.  Locks that guard data shared
 * between threads are pthread mutexes, which it sees.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define HANDOFF_SEND(p) __tsan_release(p)
#define HANDOFF_TAKE(p) __tsan_acquire(p)
#else
#define HANDOFF_SEND(p) ((void)(p))
#define HANDOFF_TAKE(p) ((void)(p))
#endif
