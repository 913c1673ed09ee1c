/*
 * benchgen.c - the simulated datacenter the benchmarks share
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <glib.h>

#include "benchgen.h"

static void
write_node(const char *dir, int h)
{
	g_autofree char *name = g_strdup_printf("hv%03d.xml", h);
	g_autofree char *path = g_build_filename(dir, name, NULL);
	g_autofree char *xml = g_strdup_printf(
		"<node><cpu><mhz>2400</mhz><model>x86_64</model><nodes>1</nodes><sockets>2</sockets>"
		"<cores>32</cores><threads>2</threads><active>128</active></cpu>"
		"<memory>%llu</memory>"
		"<pool type='dir'><name>default</name><uuid>35bb2ad9-388a-cdfe-461a-b8907f6e%04d</uuid>"
		"<capacity>109951162777600</capacity><allocation>1073741824</allocation>"
		"<available>108851651149824</available><target><path>/sim/hv%03d</path></target>"
		"<volume type='file'><name>base.qcow2</name><capacity unit='MiB'>512</capacity>"
		"<allocation unit='MiB'>256</allocation><target><format type='qcow2'/></target></volume>"
		"</pool></node>", 512ULL * 1024 * 1024, h, h);

	g_file_set_contents(path, xml, -1, NULL);
}

void
benchgen_flat(const char *dir, int hosts, int appliances, int vms, const char *vm_extra)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *path = g_build_filename(dir, "spec.yaml", NULL);

	for (int h = 0; h < hosts; h++) {
		write_node(dir, h);
		g_string_append_printf(s, "---\nkind: host\nname: hv%03d\nuri: test:hv%03d.xml\n", h, h);
	}
	g_string_append(s, "---\nkind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 1GiB\n");
	for (int a = 0; a < appliances; a++) {
		g_string_append_printf(s, "---\nkind: appliance\nname: app%04d\nvms:\n", a);
		for (int v = 0; v < vms; v++)
			g_string_append_printf(s, "  - {name: vm%d, template: t%s}\n", v, vm_extra);
	}
	g_file_set_contents(path, s->str, (gssize)s->len, NULL);
}

static void
write_spec(const char *dir)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *path = g_build_filename(dir, "spec.yaml", NULL);

	for (int h = 0; h < HOSTS; h++)
		g_string_append_printf(s, "---\nkind: host\nname: hv%03d\nuri: test:hv%03d.xml\n", h, h);
	g_string_append(s, "---\nkind: template\nname: t\npool: default\nvolume: base.qcow2\nmemory: 1GiB\n");
	for (int a = 0; a < APPLIANCES; a++) {
		g_string_append_printf(s, "---\nkind: appliance\nname: app%04d\nlayers: [web]\nvms:\n", a);
		for (int v = 0; v < VMS; v++)
			g_string_append_printf(s, "  - {name: vm%d, template: t%s%s}\n", v,
					       v < 3 ? ", layer: web" : "", v > 0 ? ", after: [vm0]" : "");
	}
	g_file_set_contents(path, s->str, (gssize)s->len, NULL);
}

void
benchgen_source(const char *dir)
{
	for (int h = 0; h < HOSTS; h++)
		write_node(dir, h);
	write_spec(dir);
}
