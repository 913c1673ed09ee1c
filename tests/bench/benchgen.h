/*
 * benchgen.h - the simulated datacenter the benchmarks share
 *
 * 100 test-driver hosts (node files hv000.xml ...) and spec.yaml with
 * 1,000 appliances of 10 VMs each (a layer of 3, `after` chains), all in
 * @dir, which the spec's relative `test:` URIs resolve against.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#define HOSTS 100
#define APPLIANCES 1000
#define VMS 10

void benchgen_source(const char *dir);

/* @hosts node files and a spec of @appliances appliances of @vms plain VMs
 * each, @vm_extra appended to every VM's flow mapping (", state: stopped"). */
void benchgen_flat(const char *dir, int hosts, int appliances, int vms, const char *vm_extra);
