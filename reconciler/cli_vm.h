/*
 * cli_vm.h - where one VM runs, for the verbs about it (snapshots, console)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "pass.h"

typedef struct {
	pass pass;                /* the read-only pass it was found by */
	const obs_domain *domain; /* borrowed from the pass */
	const host_conn *conn;    /* its host's connection, connected */
} cli_vm;

/*
 * Observe the hosts of the source at @path over read-only connections, as
 * plan does (@connect: the host when the source names none), and find the
 * domain named @name there.  False after printing why, as
 * "strata @verb: …" (the pass is released then); else cli_vm_release.
 */
bool cli_vm_find(cli_vm *v, const char *verb, const char *path, const char *connect, const char *name);
void cli_vm_release(cli_vm *v);
