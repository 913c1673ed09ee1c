/*
 * waiter.c - a thread per host that waits on guests and on deadlines
 *
 * One waiter per host of a run watches every graceful stop whose button
 * was pressed there, so that waiting for guests holds no worker and a
 * teardown takes about one guest's shutdown time, not one per `parallel`
 * guests.  Each round (WAIT_ROUND_MS) hands the waiting items to the
 * executor's round function, which lists the host's domains once (two
 * calls, whatever the number of VMs).  It also aborts the host's
 * migrations and saves past their deadline.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>

#include "mono_wait.h"
#include "waiter.h"

#define WAIT_ROUND_MS 200

struct waiter {
	pthread_mutex_t lock;   /* pthread: ThreadSanitizer sees it */
	pthread_cond_t cond;    /* on CLOCK_MONOTONIC */
	waiter_round_fn round;
	GPtrArray *jobs;        /* the items waiting */
	GPtrArray *watches;     /* deadline_watch *, of migrations running */
	guint64 next_id;        /* of the next watch */
	bool busy;              /* in a round, or waiting for the next */
	bool stop;
	GThread *thread;
};

/* @w's watch @id, if its worker still waits on it (a worker's watch
 * lives on its stack: the pointer alone could be a later one's). */
static deadline_watch *
watch_find(waiter *w, guint64 id)
{
	for (guint i = 0; i < w->watches->len; i++) {
		deadline_watch *dw = w->watches->pdata[i];

		if (dw->id == id)
			return dw;
	}
	return NULL;
}

typedef struct {
	virt_host *virt;
	char *domain;
	guint64 id;
	GError *err;
	bool first;             /* the first abort libvirt took */
} abort_call;

/*
 * Abort the jobs past their deadline.  Called with the waiter's lock held
 * (a worker takes its watch out only under it); the calls are made with it
 * released, on copies, so that a slow host holds no worker handing a stop
 * or a migration over.  An abort is due again WAITER_ABORT_RETRY_MS later
 * (asked at the first round after: 500 to 700 ms) for as long as the call
 * runs, refused or taken: libvirt takes an abort whatever the phase of
 * the migration, and one taken was seen not to end it (CI, twice: the
 * migration ran to its end, 90 s past a 10 s deadline, and no refusal
 * was said).  The first refusal is a warning.  An abort refused after libvirt's wait for the domain (up to
 * 30 s, when another call holds it) delays this host's stop rounds that
 * long, each time.
 */
static void
waiter_deadlines(waiter *w)
{
	g_autoptr(GArray) due = g_array_new(FALSE, TRUE, sizeof(abort_call));
	gint64 now = g_get_monotonic_time();

	for (guint i = 0; i < w->watches->len; i++) {
		deadline_watch *dw = w->watches->pdata[i];
		abort_call c = { NULL, NULL, dw->id, NULL, false };

		if (now < dw->deadline)
			continue;
		dw->deadline = now + WAITER_ABORT_RETRY_MS * 1000;
		c.virt = virt_host_ref(dw->virt);
		c.domain = g_strdup(dw->domain);
		g_array_append_val(due, c);
	}
	if (!due->len)
		return;
	pthread_mutex_unlock(&w->lock);
	for (guint i = 0; i < due->len; i++) {
		abort_call *c = &g_array_index(due, abort_call, i);

		virt_abort_job(c->virt, c->domain, &c->err);
	}
	pthread_mutex_lock(&w->lock);
	for (guint i = 0; i < due->len; i++) {
		abort_call *c = &g_array_index(due, abort_call, i);
		deadline_watch *dw = watch_find(w, c->id);

		if (dw && !c->err) {
			c->first = !dw->aborted;
			dw->aborted = true;
		} else if (!dw || dw->refused++) {
			g_clear_error(&c->err);  /* said already, or over */
		}
	}
	/* Said with the lock released: a slow stderr holds no worker. */
	pthread_mutex_unlock(&w->lock);
	for (guint i = 0; i < due->len; i++) {
		abort_call *c = &g_array_index(due, abort_call, i);

		if (c->err)
			g_warning("%s: past its deadline, and %s; asked again about every %d ms while it runs",
				  c->domain, c->err->message, WAITER_ABORT_RETRY_MS);
		else if (c->first)
			g_message("%s: past its deadline: its job is aborted (asked again while it runs)", c->domain);
		g_clear_error(&c->err);
		virt_host_free(c->virt);
		g_free(c->domain);
	}
	pthread_mutex_lock(&w->lock);
}

static gpointer
waiter_run(gpointer data)
{
	waiter *w = data;

	pthread_mutex_lock(&w->lock);
	while (!w->stop) {
		g_autoptr(GPtrArray) batch = NULL;
		gint64 next = g_get_monotonic_time() + WAIT_ROUND_MS * 1000;

		waiter_deadlines(w);
		/* waiter_deadlines lets the lock go: an end asked meanwhile was
		 * signalled to nobody. */
		if (w->stop)
			break;
		if (!w->jobs->len && !w->watches->len) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		batch = g_steal_pointer(&w->jobs);
		w->jobs = g_ptr_array_new();
		w->busy = true;
		pthread_mutex_unlock(&w->lock);
		w->round(batch);
		pthread_mutex_lock(&w->lock);
		g_ptr_array_extend_and_steal(w->jobs, g_steal_pointer(&batch));
		/* The rest of the round's time, whatever wakes it (only the
		 * end of the run does). */
		while (!w->stop && mono_cond_wait_until(&w->cond, &w->lock, next))
			;
		w->busy = false;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

waiter *
waiter_new(waiter_round_fn round)
{
	waiter *w = g_new0(waiter, 1);

	pthread_mutex_init(&w->lock, NULL);
	mono_cond_init(&w->cond);
	w->round = round;
	w->jobs = g_ptr_array_new();
	w->watches = g_ptr_array_new();
	w->thread = g_thread_new("waiter", waiter_run, w);
	return w;
}

/* The waiter is woken only from idle: stops handed over during a round
 * wait for the next one, so rounds keep their pace. */
void
waiter_add(waiter *w, gpointer item)
{
	pthread_mutex_lock(&w->lock);
	if (!w->jobs->len && !w->watches->len && !w->busy)
		pthread_cond_signal(&w->cond);
	g_ptr_array_add(w->jobs, item);
	pthread_mutex_unlock(&w->lock);
}

void
waiter_watch(waiter *w, deadline_watch *dw)
{
	pthread_mutex_lock(&w->lock);
	if (!w->jobs->len && !w->watches->len && !w->busy)
		pthread_cond_signal(&w->cond);
	dw->id = ++w->next_id;
	g_ptr_array_add(w->watches, dw);
	pthread_mutex_unlock(&w->lock);
}

bool
waiter_unwatch(waiter *w, deadline_watch *dw)
{
	bool aborted;

	pthread_mutex_lock(&w->lock);
	g_ptr_array_remove_fast(w->watches, dw);
	aborted = dw->aborted;
	pthread_mutex_unlock(&w->lock);
	return aborted;
}

void
waiter_free(waiter *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	g_thread_join(w->thread);
	g_ptr_array_unref(w->jobs);
	g_ptr_array_unref(w->watches);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	g_free(w);
}
