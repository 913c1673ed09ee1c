/*
 * model.c - effective values derived from the model
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include "model.h"

/* The template a VM's size comes from: its own, or its persistent one's. */
const spec_template *
spec_vm_template(const spec_source *src, const spec_vm *vm)
{
	const spec_ptemplate *p;

	if (!src->template_by_name)
		return NULL;
	if (vm->template.v)
		return g_hash_table_lookup(src->template_by_name, vm->template.v);
	if (!vm->persistent.v || !src->ptemplate_by_name)
		return NULL;
	p = g_hash_table_lookup(src->ptemplate_by_name, vm->persistent.v);
	return p && p->from.v ? g_hash_table_lookup(src->template_by_name, p->from.v)
			      : NULL;
}

int64_t
spec_vm_cpus(const spec_source *src, const spec_vm *vm)
{
	const spec_template *t;

	if (vm->cpus.set)
		return vm->cpus.v;
	t = spec_vm_template(src, vm);
	return t ? t->cpus.v : 1;
}

static int64_t
vm_max(const spec_int *own, const spec_int *tmpl, int64_t current, const spec_int **from)
{
	const spec_int *m = own->set ? own : tmpl && tmpl->set ? tmpl : NULL;

	if (from)
		*from = m;
	return m ? m->v : current;
}

int64_t
spec_vm_max_cpus(const spec_source *src, const spec_vm *vm, const spec_int **from)
{
	const spec_template *t = spec_vm_template(src, vm);

	return vm_max(&vm->max_cpus, t ? &t->max_cpus : NULL, spec_vm_cpus(src, vm), from);
}

int64_t
spec_vm_max_memory(const spec_source *src, const spec_vm *vm, const spec_int **from)
{
	const spec_template *t = spec_vm_template(src, vm);

	return vm_max(&vm->max_memory, t ? &t->max_memory : NULL, spec_vm_memory(src, vm), from);
}

int64_t
spec_vm_memory(const spec_source *src, const spec_vm *vm)
{
	const spec_template *t;

	if (vm->memory.set)
		return vm->memory.v;
	t = spec_vm_template(src, vm);
	return t ? t->memory.v : 1024LL * 1024 * 1024;
}
