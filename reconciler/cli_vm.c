/*
 * cli_vm.c - where one VM runs, for the verbs about it (snapshots, console)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>

#include "cli_vm.h"
#include "diag_print.h"

static bool
find(cli_vm *v, const char *verb, const char *name)
{
	pass *p = &v->pass;

	v->domain = g_hash_table_lookup(p->have->domain_by_name, name);
	if (!v->domain) {
		fprintf(stderr, "strata %s: no host runs a domain named '%s'%s\n", verb, name,
			p->plan && p->plan->partial ? " (a host did not answer)" : "");
		return false;
	}
	v->conn = g_hash_table_lookup(p->hosts->by_name, v->domain->host->name);
	if (!v->conn || !v->conn->virt) {
		fprintf(stderr, "strata %s: host %s is not connected\n", verb, v->domain->host->name);
		return false;
	}
	return true;
}

bool
cli_vm_find(cli_vm *v, const char *verb, const char *path, const char *connect, const char *name)
{
	g_autoptr(GError) err = NULL;
	pass_options po = { .path = path, .connect = connect ? connect : "test:///default", .readonly = TRUE };

	v->domain = NULL;
	v->conn = NULL;
	if (!pass_run(&v->pass, &po, NULL, NULL, &err)) {
		diag_print(stderr, OUTPUT_TEXT, &v->pass.diags);
		fprintf(stderr, "strata %s: %s\n", verb, err ? err->message : "the source is invalid");
		pass_release(&v->pass);
		return false;
	}
	if (!find(v, verb, name)) {
		pass_release(&v->pass);
		return false;
	}
	return true;
}

void
cli_vm_release(cli_vm *v)
{
	pass_release(&v->pass);
	v->domain = NULL;
	v->conn = NULL;
}
