/*
 * place.h - where a new VM goes
 *
 * Pure.  One narrow interface: given the VM and the hosts as observed plus
 * what this plan already placed, pick a host or say why none fits.  This
 * first version honours maintenance, lost hosts, tags, layers (one host per
 * VM of a layer), capacity (memory and vCPUs after reserve and overcommit;
 * pool space for new volumes, a shared pool's counted once),
 * a persistent volume that already lives on a host (or on a pool it shares
 * with others: then any of them), the host a crashed run
 * had sent a new VM's define or disk to (it may still land there), and
 * spread/pack.  It is
 * deterministic (ties go to the first host in spec order) and stable: it
 * only places new VMs, and never moves one that runs.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "desired.h"
#include "observe.h"

typedef struct place_state place_state;

/* Seed with what already runs: memory committed and layer members. */
/* @cut_short: see plan_options (borrowed; may be NULL). */
place_state *place_state_new(const desired_state *want, const observed *have,
			     GHashTable *cut_short);
void place_state_free(place_state *ps);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(place_state, place_state_free)

/* Record that @vm lives on @host (placed now, or found there). */
void place_commit(place_state *ps, const desired_vm *vm, const obs_host *host);

/*
 * Choose a host for @vm: a new VM (@from NULL), or one that must leave
 * @from, which goes to a host sharing its disks' pools with @from when one
 * fits (nothing is copied).  Returns NULL and sets *why (owned) when none
 * is eligible; *because (owned) says why the chosen host was picked.
 */
obs_host *place_vm(place_state *ps, const desired_vm *vm, const obs_host *from,
		   char **because, char **why);

/*
 * Can the deployed @members (desired_vm *) of one layer have a host each,
 * whatever else fills the hosts?  False with *why (owned) naming the layer,
 * how many hosts it needs, and why the others are not eligible.
 */
bool place_layer_feasible(place_state *ps, GPtrArray *members, char **why);

/* Whether host document @s (NULL: the implicit host) has @tag. */
bool place_has_tag(const spec_host *s, const char *tag);
