/*
 * offload.c - a blocking call on a thread of its own, its outcome back on
 * the loop
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <sys/eventfd.h>
#include <unistd.h>

#include "handoff.h"
#include "offload.h"

struct offload {
	GAsyncQueue *done;   /* finished jobs */
	int fd;
};

typedef struct {
	offload *o;          /* the job's reference */
	GThreadFunc fn;
	gpointer job;
} runner;

static void
offload_clear(gpointer p)
{
	offload *o = p;

	HANDOFF_TAKE(o);
	g_async_queue_unref(o->done);
	close(o->fd);
}

offload *
offload_new(GDestroyNotify free_job)
{
	offload *o = g_atomic_rc_box_new0(offload);

	o->done = g_async_queue_new_full(free_job);
	o->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return o;
}

offload *
offload_ref(offload *o)
{
	return g_atomic_rc_box_acquire(o);
}

void
offload_unref(offload *o)
{
	if (!o)
		return;
	HANDOFF_SEND(o);
	g_atomic_rc_box_release_full(o, offload_clear);
}

int
offload_fd(const offload *o)
{
	return o->fd;
}

static gpointer
runner_main(gpointer p)
{
	runner *r = p;

	r->fn(r->job);
	HANDOFF_SEND(r->job);
	g_async_queue_push(r->o->done, r->job);
	eventfd_write(r->o->fd, 1);
	offload_unref(r->o);
	g_free(r);
	return NULL;
}

bool
offload_run(offload *o, GThreadFunc fn, gpointer job, GError **error)
{
	runner *r = g_new0(runner, 1);
	GThread *t;

	r->o = offload_ref(o);
	r->fn = fn;
	r->job = job;
	t = g_thread_try_new("offload", runner_main, r, error);
	if (!t) {
		offload_unref(r->o);
		g_free(r);
		return false;
	}
	g_thread_unref(t);  /* detached: it may never return */
	return true;
}

static gpointer
taken(gpointer job)
{
	if (job)
		HANDOFF_TAKE(job);
	return job;
}

gpointer
offload_take(offload *o)
{
	eventfd_t n;

	(void)eventfd_read(o->fd, &n);
	return taken(g_async_queue_try_pop(o->done));
}

gpointer
offload_take_until(offload *o, gint64 deadline)
{
	gint64 left = deadline - g_get_monotonic_time();

	return taken(g_async_queue_timeout_pop(o->done, left > 0 ? (guint64)left : 0));
}
