/*
 * test_waiter.c - the thread that waits on guests and on deadlines
 *
 * On libvirt's test driver, which answers every virDomainAbortJob with an
 * error ("not supported"): the waiter sees a refusal as it sees QEMU's
 * "no job is active on the domain" before a migration's job begins.  The
 * abort that QEMU accepts, and the op's message then, are proved by the
 * end-to-end suite (migration_past_its_deadline_is_aborted).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <pthread.h>
#include <unistd.h>

#include "testutil.h"
#include "../../reconciler/waiter.h"

static virt_host *
test_host(void)
{
	g_autoptr(GError) err = NULL;
	virt_host *h = virt_host_open("test:///default", false, &err);

	if (!h)
		fail_msg("cannot open the test driver: %s", err ? err->message : "?");
	return h;
}

static void
no_round(GPtrArray *batch)
{
	(void)batch;
}

/* The migration call runs on past its deadline and every abort is
 * refused: the waiter asks again, WAITER_ABORT_RETRY_MS apart, until the
 * call returns, and then never again. */
static void
test_waiter__a_refused_abort_is_asked_again_while_the_job_runs(void **state)
{
	virt_host *h = test_host();
	waiter *w = waiter_new(no_round);
	deadline_watch dw = { .virt = h, .domain = "test", .deadline = g_get_monotonic_time() };
	guint after;

	(void)state;
	waiter_watch(w, &dw);
	g_usleep(1500 * 1000);
	assert_false(waiter_unwatch(w, &dw));
	/* At about 0, 600 and 1200 ms (the round after each 500 ms); a
	 * loaded machine may lose one.  One ask only would be 1. */
	assert_in_range(dw.refused, 2, 3);
	assert_false(dw.aborted);
	after = dw.refused;
	g_usleep(WAITER_ABORT_RETRY_MS * 2 * 1000);
	assert_int_equal(dw.refused, after);
	waiter_free(w);
	virt_host_free(h);
}

/* Before its deadline a job is left alone. */
static void
test_waiter__a_job_within_its_deadline_is_left_alone(void **state)
{
	virt_host *h = test_host();
	waiter *w = waiter_new(no_round);
	deadline_watch dw = { .virt = h, .domain = "test",
			      .deadline = g_get_monotonic_time() + 60 * G_USEC_PER_SEC };

	(void)state;
	waiter_watch(w, &dw);
	g_usleep(WAITER_ABORT_RETRY_MS * 2 * 1000);
	assert_false(waiter_unwatch(w, &dw));
	assert_int_equal(dw.refused, 0);
	waiter_free(w);
	virt_host_free(h);
}

/* pthread, not GMutex: ThreadSanitizer sees it. */
typedef struct {
	pthread_mutex_t lock;
	guint rounds;       /* rounds this item was in */
	guint ends_after;   /* it leaves the batch at that round */
	bool done;
	gint64 ended;       /* when, on the waiter's thread */
} item;

static void
count_round(GPtrArray *batch)
{
	for (guint i = 0; i < batch->len;) {
		item *it = batch->pdata[i];

		pthread_mutex_lock(&it->lock);
		if (++it->rounds < it->ends_after) {
			pthread_mutex_unlock(&it->lock);
			i++;
			continue;
		}
		g_ptr_array_remove_index_fast(batch, i);
		it->done = true;
		it->ended = g_get_monotonic_time();
		pthread_mutex_unlock(&it->lock);
	}
}

/* When @it ended (monotonic, as the waiter saw it); fails after 10 s
 * from @t0. */
static gint64
wait_done(item *it, gint64 t0)
{
	gint64 t;

	pthread_mutex_lock(&it->lock);
	while (!it->done) {
		pthread_mutex_unlock(&it->lock);
		assert_true(g_get_monotonic_time() < t0 + 10 * G_USEC_PER_SEC);
		g_usleep(10 * 1000);
		pthread_mutex_lock(&it->lock);
	}
	t = it->ended;
	pthread_mutex_unlock(&it->lock);
	return t;
}

/* An item handed over is looked at each round until its round function
 * says it ended, and rounds keep their pace (WAIT_ROUND_MS, 200 ms): two
 * items that end at their 3rd and 5th round both end, the second about
 * 400 ms after the first. */
static void
test_waiter__items_are_looked_at_each_round_until_they_end(void **state)
{
	waiter *w = waiter_new(count_round);
	item a = { .ends_after = 3 }, b = { .ends_after = 5 };
	gint64 t0 = g_get_monotonic_time(), ta, tb;

	(void)state;
	pthread_mutex_init(&a.lock, NULL);
	pthread_mutex_init(&b.lock, NULL);
	waiter_add(w, &a);
	waiter_add(w, &b);
	ta = wait_done(&a, t0);
	tb = wait_done(&b, t0);
	assert_int_equal(a.rounds, 3);
	assert_int_equal(b.rounds, 5);
	assert_true(tb - ta >= 300 * 1000);     /* two rounds apart, not at once */
	waiter_free(w);
	pthread_mutex_destroy(&a.lock);
	pthread_mutex_destroy(&b.lock);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waiter__a_refused_abort_is_asked_again_while_the_job_runs),
		cmocka_unit_test(test_waiter__a_job_within_its_deadline_is_left_alone),
		cmocka_unit_test(test_waiter__items_are_looked_at_each_round_until_they_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
