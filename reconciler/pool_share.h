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
 * probes again.  A declaration a probe contradicts (or could not check)
 * is refuted: nothing is moved or failed over on it, and each pass probes
 * again until a probe agrees.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <glib.h>
#include <stdbool.h>

#include "desired.h"
#include "virt.h"

/* Probe volumes carry this prefix; the planner ignores such volumes. */
#define SHARE_PROBE_PREFIX "strata-probe-"

/* What strata knows of one declared pool, kept across passes. */
typedef struct {
	char *pool;
	char *declared;          /* the member list, joined: a new one forgets */
	GHashTable *serial;      /* host -> guint64 *: the connection on which a
				    probe saw it share the pool with the others */
	char *refuted;           /* the last probe's finding against it, or NULL */
	bool can_probe;          /* this pass: two members up, read-write */
} share_state;

share_state *share_state_new(const char *pool, const char *const *hosts);
share_state *share_state_copy(const share_state *s);
void share_state_free(gpointer s);

/* One probe: made through @from, looked for through every other member. */
typedef struct {
	char *pool;
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
	SHARE_ASSUMED,     /* declared, not contradicted, but could not be probed
			      (read-only connections, a member down or lost) */
	SHARE_UNVERIFIED,  /* declared, probing possible, not done yet */
	SHARE_REFUTED,     /* a probe contradicted it, or could not check it */
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
