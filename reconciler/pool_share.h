/*
 * pool_share.h - shared pools: the probe that checks a declaration, and
 * the verdict plan and place act on
 *
 * A pool is shared only when a `kind: pool` document says so; strata never
 * guesses it from paths or keys (two local `dir` pools at one path are two
 * disks).  The declaration is checked on the live hosts: a small uniquely
 * named volume is made through one member, the pool is refreshed on the
 * others, and each says whether it sees it; the volume is then deleted.
 * A member is verified for the connection it was probed on: a reconnect
 * probes again.  A declaration a probe contradicts is refuted: nothing is
 * moved or failed over on it, and each pass probes again until a probe of
 * every member agrees.  A probe that cannot tell proves nothing.  What
 * probes found is kept in history (history_shares_sync), so that a member
 * that cannot be probed now counts only if it was seen sharing before.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "desired.h"
#include "virt.h"

/* Probe volumes carry this prefix.  No spec names a volume so (strata's own
 * are `<appliance>.<vm>--<disk>` and `persistent-<name>`), so nothing plans
 * on one; a probe left by a crash mid-probe is inert and may be deleted by
 * hand. */
#define SHARE_PROBE_PREFIX "strata-probe-"

/* What strata knows of one declared pool, kept across passes. */
typedef struct {
	char *pool;
	char *declared;          /* the member list, sorted and joined: another
				    list forgets what was known */
	guint n_members;
	GHashTable *serial;      /* host -> guint64 *: the connection on which a
				    probe saw it share the pool with the others */
	GHashTable *ever;        /* host -> NULL: seen sharing the pool under this
				    declaration, at any time (from history) */
	bool history;            /* @ever and a stored refutation were read */
	char *refuted;           /* a probe's finding against the declaration, or
				    NULL; cleared only by a probe that covers
				    every member and agrees */
	bool all_agreed;         /* the last probe covered every member and agreed */
	char *unproven;          /* the last probe could not tell, and why */
	guint64 gen;             /* bumped by each probe's outcome */
	bool can_probe;          /* this pass: two members connected, read-write */
	bool probing;            /* in the cache: a probe is under way */
	guint64 probe_id;        /* the newest probe's; an older one's outcome
				    (given up as hung) is ignored */
	gint64 probe_began;      /* monotonic µs, the newest probe's start */
} share_state;

share_state *share_state_new(const char *pool, const char *const *hosts);
/* @hosts joined in name order (share_state.declared). */
char *share_declared(const char *const *hosts);
share_state *share_state_copy(const share_state *s);
void share_state_free(gpointer s);

/* One probe: made through @from, looked for through every other member. */
typedef struct {
	guint64 id;
	char *pool;
	char *declared;          /* the declaration it checks (share_state's) */
	char *from;
	virt_host *from_virt;    /* a reference of its own */
	GPtrArray *names;        /* char *: the other members probed */
	GPtrArray *virts;        /* virt_host *, references, as @names */
	/* Filled by share_probe_run: */
	GPtrArray *seen;         /* char *: members that saw the volume */
	GPtrArray *unseen;       /* char *: members that did not */
	char *error;             /* why the probe could not tell, or NULL */
	GHashTable *serials;     /* host -> guint64 *: the connections probed */
} share_probe;

share_probe *share_probe_new(const char *pool, const char *from, virt_host *from_virt);
void share_probe_add(share_probe *p, const char *name, virt_host *v);
void share_probe_free(gpointer p);
/* Blocking: a few calls per member.  On an observer's thread. */
void share_probe_run(share_probe *p);
/* Fold a probe's outcome into @s: verified members, or the finding. */
void share_state_learn(share_state *s, const share_probe *p);

typedef enum {
	SHARE_NO,          /* not declared for both hosts */
	SHARE_YES,         /* declared, and both verified on their connections */
	SHARE_ASSUMED,     /* declared and not contradicted; a side that cannot be
			      probed now (down, lost, or read-only connections) was
			      seen sharing it before (or, without history, as
			      strata plan has none, is taken as declared) */
	SHARE_UNVERIFIED,  /* declared, not verified: probing possible and not
			      done or inconclusive, or a side never seen sharing */
	SHARE_REFUTED,     /* a probe contradicted it */
} share_verdict;

/* Plain data about one host for the verdict: no connection. */
typedef struct {
	const char *name;
	bool reachable;
	guint64 serial;
} share_host;

/*
 * Whether @a and @b see @pool as one storage.  Pure.  @states maps pool
 * name -> share_state (NULL: nothing known).  *@why says why not, or why
 * only assumed (borrowed or static).
 */
share_verdict share_between(const desired_state *want, GHashTable *states, const char *pool,
			    const share_host *a, const share_host *b, const char **why);
