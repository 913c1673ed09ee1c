/*
 * handoff.h - tell ThreadSanitizer about hand-offs GLib makes out of its sight
 *
 * GLib's thread pool, queues and GMutex synchronise through futexes that
 * ThreadSanitizer cannot see: the hand-offs they make (a job to a worker,
 * its result back) are told to it here, so that its reports are the races
 * strata has, not the ones GLib prevents.  Locks that guard data shared
 * between threads are pthread mutexes, which it sees.  The same goes for
 * the last reference of a g_atomic_rc_box: its count is decremented
 * inside GLib, so each release is told (SEND before dropping a reference,
 * TAKE in the function that frees), as a reference count must order
 * every holder's last use before the free.
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
