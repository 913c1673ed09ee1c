/*
 * offload.h - a blocking call on a thread of its own, its outcome back on
 * the loop
 *
 * For calls that have no timeout of their own (libvirt's virConnectOpen,
 * libgit2's fetch): the loop never waits for them.  A job runs on a
 * detached thread; when it returns, the job is queued in the mailbox and
 * the mailbox's fd becomes readable; the loop takes it with offload_take.
 * The mailbox is reference-counted, and every job still running holds a
 * reference: its owner may drop it at any time, and a job that returns
 * afterwards (or never) touches nothing of the owner's.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

typedef struct offload offload;

/* @free_job frees a job nobody took (the mailbox went first). */
offload *offload_new(GDestroyNotify free_job);
offload *offload_ref(offload *o);
void offload_unref(offload *o);
/* An eventfd, readable while jobs wait to be taken. */
int offload_fd(const offload *o);
/* Run @fn(@job) on a new thread; false (with @error) if none could start. */
bool offload_run(offload *o, GThreadFunc fn, gpointer job, GError **error);
/* A finished job, or NULL: on the owner's thread. */
gpointer offload_take(offload *o);
/* Wait at most until @deadline (monotonic µs) for a finished job. */
gpointer offload_take_until(offload *o, gint64 deadline);
