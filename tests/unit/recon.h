/*
 * recon.h - a simulated datacenter for reconcile tests
 *
 * Three libvirt test-driver hosts (the webstack example's node files) kept
 * open across passes, a real SQLite history in a temporary folder, and a
 * spec written by the test.  plan() and apply() run the same code as the
 * CLI; nothing is mocked.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "testutil.h"
#include "../../reconciler/exec.h"
#include "../../reconciler/pass.h"
#include "../../reconciler/plan_show.h"

typedef struct {
	char *dir;          /* temporary folder: spec and history */
	char *spec;         /* the spec file in it */
	host_set *hosts;
	obs_cache *cache;
	history *hist;
	pass last;          /* the latest pass, released by the next */
	bool allow_empty;
	bool allow_removal;
	bool use_history;   /* plans read the history, as `strata apply` does */
} dc;

/* Hosts hv1..hv3 plus template debian-12 and persistent template db-data. */
extern const char *const dc_base_spec;

dc *dc_new(const char *appliances);
/* The same with a whole spec of the test's own (its hosts, its templates);
 * the file is @d->spec, in @d->dir. */
dc *dc_new_spec(const char *text);
void dc_free(dc *d);

/* Replace the spec's appliances (the hosts and templates stay). */
void dc_spec(dc *d, const char *appliances);

/* Plan against the live hosts; the plan as text, as `strata plan` prints it. */
char *dc_plan_text(dc *d);
const plan *dc_plan(dc *d);

/* Plan and carry it out; returns the result. */
exec_result dc_apply(dc *d);
/* Carry out the latest plan as it is, without planning again. */
exec_result dc_apply_planned(dc *d);

/* The plan as text is "No changes…"; it holds @what (else it is shown). */
void dc_assert_no_changes(dc *d);
void dc_assert_plan_has(dc *d, const char *what);

/* The observed domain @name, or NULL; from a fresh observation. */
const obs_domain *dc_domain(dc *d, const char *name);
bool dc_has_volume(dc *d, const char *host, const char *volume);
