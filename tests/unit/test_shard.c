/*
 * test_shard.c - shard owners and lease timing: properties over random fleets
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "testutil.h"
#include "../../reconciler/shard.h"

#define FLEETS 200
#define GOLDEN_HV001 "strata-b"
#define GOLDEN_RACK2 "strata-c"

static GPtrArray *
names(GRand *r, const char *prefix, guint n)
{
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < n; i++)
		g_ptr_array_add(a, g_strdup_printf("%s%u-%u", prefix, i, g_rand_int(r)));
	return a;
}

/*
 * Over random fleets: every shard has one owner among the daemons; a
 * daemon that leaves moves only the shards it owned; one that joins takes
 * shards and moves no other.
 */
static void
test_shard__rendezvous_moves_only_what_it_must(void **state)
{
	GRand *r = g_rand_new_with_seed(20261125);

	(void)state;
	for (int f = 0; f < FLEETS; f++) {
		guint nd = (guint)g_rand_int_range(r, 2, 8), ns = (guint)g_rand_int_range(r, 1, 60);
		g_autoptr(GPtrArray) daemons = names(r, "d", nd);
		g_autoptr(GPtrArray) shards = names(r, "hv", ns);
		g_autoptr(GPtrArray) fewer = g_ptr_array_new();
		g_autoptr(GPtrArray) more = g_ptr_array_new();
		const char *gone = daemons->pdata[g_rand_int_range(r, 0, (gint32)nd)];
		const char *joined = "d-new";

		for (guint i = 0; i < nd; i++) {
			if (daemons->pdata[i] != gone)
				g_ptr_array_add(fewer, daemons->pdata[i]);
			g_ptr_array_add(more, daemons->pdata[i]);
		}
		g_ptr_array_add(more, (gpointer)joined);
		for (guint s = 0; s < ns; s++) {
			const char *sh = shards->pdata[s];
			const char *o = shard_owner(sh, (const char *const *)daemons->pdata, nd);
			const char *o_fewer = shard_owner(sh, (const char *const *)fewer->pdata, fewer->len);
			const char *o_more = shard_owner(sh, (const char *const *)more->pdata, more->len);

			assert_non_null(o);
			assert_true(g_ptr_array_find(daemons, o, NULL));
			if (o != gone)
				assert_ptr_equal(o_fewer, o);  /* not its shard: it stays */
			assert_true(g_ptr_array_find(fewer, o_fewer, NULL));
			assert_true(g_ptr_array_find(more, o_more, NULL));
			if (o_more != joined)
				assert_ptr_equal(o_more, o);   /* only the newcomer takes */
		}
	}
	g_rand_free(r);
}

/* Spread: 3 daemons, 300 shards, none with fewer than 60 or more than 140. */
static void
test_shard__shards_are_spread(void **state)
{
	const char *const daemons[] = { "strata-a", "strata-b", "strata-c" };
	guint count[3] = { 0 };

	(void)state;
	for (int s = 0; s < 300; s++) {
		g_autofree char *shard = g_strdup_printf("hv%03d", s);
		const char *o = shard_owner(shard, daemons, 3);

		for (int d = 0; d < 3; d++)
			count[d] += o == daemons[d];
	}
	for (int d = 0; d < 3; d++) {
		if (count[d] < 60 || count[d] > 140)
			fail_msg("%s owns %u of 300 shards", daemons[d], count[d]);
	}
	assert_null(shard_owner("hv1", daemons, 0));
	/* The same answer whatever the order the daemons are listed in. */
	{
		const char *const reversed[] = { "strata-c", "strata-b", "strata-a" };

		for (int s = 0; s < 50; s++) {
			g_autofree char *shard = g_strdup_printf("hv%03d", s);

			assert_string_equal(shard_owner(shard, daemons, 3), shard_owner(shard, reversed, 3));
		}
	}
	/* The same owners on every machine and release (SHA-256, not a
	 * process-seeded hash): a daemon upgraded mid-fleet agrees. */
	assert_string_equal(shard_owner("hv001", daemons, 3), GOLDEN_HV001);
	assert_string_equal(shard_owner("rack-2", daemons, 3), GOLDEN_RACK2);
	{
		g_autofree char *own = shard_of_host("hv1", NULL), *empty = shard_of_host("hv1", "");
		g_autofree char *pinned = shard_of_host("hv1", "rack-2"), *named = shard_of_host("rack-2", NULL);

		assert_string_equal(own, "host:hv1");
		assert_string_equal(empty, "host:hv1");
		assert_string_equal(pinned, "pin:rack-2");
		assert_string_not_equal(named, pinned);  /* a host named rack-2 is not in it */
	}
}

static void
test_lease__timing_keeps_the_deadline_inside_the_lease(void **state)
{
	const lease_timing def = LEASE_TIMING_DEFAULT;
	const lease_timing too_long = { 10000, 10000, 3000 };
	const lease_timing too_rare = { 15000, 5000, 3000 };
	g_autoptr(GError) err = NULL;

	(void)state;
	assert_true(lease_timing_ok(&def, NULL));
	assert_false(lease_timing_ok(&too_long, &err));
	assert_non_null(strstr(err->message, "shorter than the lease"));
	g_clear_error(&err);
	assert_false(lease_timing_ok(&too_rare, &err));
	assert_non_null(strstr(err->message, "two renewals"));
	/* Measured from before the renewal was sent, never from its answer. */
	assert_int_equal(lease_act_until(&def, 1000000), 1000000 + 10000 * 1000);
	/* A margin too thin for a renewal's travel: refused. */
	{
		const lease_timing thin = { 15000, 14900, 3000 };

		g_clear_error(&err);
		assert_false(lease_timing_ok(&thin, &err));
		assert_non_null(strstr(err->message, "margin"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shard__rendezvous_moves_only_what_it_must),
		cmocka_unit_test(test_shard__shards_are_spread),
		cmocka_unit_test(test_lease__timing_keeps_the_deadline_inside_the_lease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
