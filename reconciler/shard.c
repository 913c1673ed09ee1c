/*
 * shard.c - shard owners by rendezvous hashing, lease timing
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <gio/gio.h>
#include <string.h>
#include <time.h>

#include "shard.h"

char *
shard_of_host(const char *host, const char *pinned)
{
	return pinned && *pinned ? g_strconcat("pin:", pinned, NULL) : g_strconcat("host:", host, NULL);
}

/* SHA-256 of "daemon\nshard", its first 8 bytes: the same on every
 * machine and every release, unlike g_str_hash. */
static guint64
score(const char *daemon, const char *shard)
{
	g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
	guint8 d[32];
	gsize len = sizeof(d);
	guint64 s = 0;

	g_checksum_update(c, (const guchar *)daemon, (gssize)strlen(daemon));
	g_checksum_update(c, (const guchar *)"\n", 1);
	g_checksum_update(c, (const guchar *)shard, (gssize)strlen(shard));
	g_checksum_get_digest(c, d, &len);
	for (int i = 0; i < 8; i++)
		s = s << 8 | d[i];
	return s;
}

const char *
shard_owner(const char *shard, const char *const *daemons, guint n)
{
	const char *best = NULL;
	guint64 best_score = 0;

	for (guint i = 0; i < n; i++) {
		guint64 s = score(daemons[i], shard);

		/* Equal scores (never seen in practice): the smaller name. */
		if (!best || s > best_score || (s == best_score && strcmp(daemons[i], best) < 0)) {
			best = daemons[i];
			best_score = s;
		}
	}
	return best;
}

bool
lease_timing_ok(const lease_timing *t, GError **error)
{
	if (t->renew_every_ms == 0 || t->renew_deadline_ms < 2 * t->renew_every_ms) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the renew deadline (%u ms) must allow two renewals (every %u ms)",
			    t->renew_deadline_ms, t->renew_every_ms);
		return false;
	}
	if (t->renew_deadline_ms + LEASE_MARGIN_MIN_MS > t->duration_ms) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the renew deadline (%u ms) must be shorter than the lease (%u ms) by a "
			    "margin of %u ms at least: a daemon must stop acting before another may "
			    "take its shards", t->renew_deadline_ms, t->duration_ms, LEASE_MARGIN_MIN_MS);
		return false;
	}
	return true;
}

gint64
lease_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

gint64
lease_act_until(const lease_timing *t, gint64 sent_us)
{
	return sent_us + (gint64)t->renew_deadline_ms * 1000;
}
