/*
 * cmd_observe.c - `strata observe`: what the hosts run, as a snapshot
 *
 * The snapshot (observe_snapshot.h) lets `strata plan --observed` plan
 * where the hypervisors cannot be reached, a CI runner say.  Connections
 * are read-only: observing changes nothing.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <stdio.h>

#include "cli.h"
#include "diag_print.h"
#include "observe_snapshot.h"
#include "pass.h"

static void
show_summary(const observed *o)
{
	for (guint i = 0; i < o->hosts->len; i++) {
		const obs_host *h = o->hosts->pdata[i];

		if (!h->reachable) {
			printf("%s: unknown (%s)\n", h->name, h->error);
			continue;
		}
		printf("%s: %s, %u domains, %u pools, %u volumes\n", h->name, h->domain_type,
		       h->domains->len, h->pools ? h->pools->len : 0, h->vols ? h->vols->len : 0);
	}
}

int
cmd_observe(int argc, char **argv)
{
	g_autofree char *format = NULL, *connect = NULL;
	GOptionEntry entries[] = {
		{ "connect", 'c', 0, G_OPTION_ARG_STRING, &connect,
		  "libvirt URI of the host when the source has no host documents (default test:///default)", "URI" },
		{ "output", 'o', 0, G_OPTION_ARG_STRING, &format,
		  "Output: text (a line per host, default), json (the snapshot)", "FORMAT" },
		{ NULL },
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("PATH — record what the hosts run, for plans elsewhere");
	g_autoptr(GError) err = NULL;
	pass_options po = { 0 };
	output_format fmt;
	pass p;
	guint unknown = 0;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Observes the hosts of the source at PATH over read-only connections, as plan\n"
		"does, and prints what it found.  With -o json the output is a snapshot that\n"
		"`strata plan --observed FILE PATH` plans from without reaching the hosts:\n"
		"per host its node capacity, pools, volumes, the details of the volumes the\n"
		"revision reads, and its domains (state, strata's metadata, what their\n"
		"definitions use).  It holds no domain XML and no secret; of each host's URI\n"
		"only a digest (an unreachable host's error has <uri> in its place).\n\n"
		"A host that does not answer is recorded as unknown (a plan from the\n"
		"snapshot is then partial) and named on standard error.\n\n"
		"Exit status: 0 success, 1 error (invalid source), 64 usage error.");
	if (!cli_parse(ctx, &argc, &argv, NULL, 0) || !cli_output_format(format, "text|json", &fmt))
		return STRATA_EXIT_USAGE;
	if (argc != 2) {
		fprintf(stderr, "strata observe: give exactly one PATH\nTry 'strata observe --help'.\n");
		return STRATA_EXIT_USAGE;
	}
	po.path = argv[1];
	po.connect = connect ? connect : "test:///default";
	po.readonly = TRUE;
	if (!pass_run(&p, &po, NULL, NULL, &err)) {
		diag_print(stderr, OUTPUT_TEXT, &p.diags);
		fprintf(stderr, "strata observe: %s\n",
			err ? err->message : "the source is invalid; nothing is observed");
		pass_release(&p);
		return STRATA_EXIT_ERROR;
	}
	for (guint i = 0; i < p.have->hosts->len; i++) {
		const obs_host *h = p.have->hosts->pdata[i];

		if (!h->reachable && ++unknown)
			fprintf(stderr, "strata observe: %s did not answer (%s): it is unknown in the snapshot\n",
				h->name, h->error);
	}
	if (fmt == OUTPUT_JSON) {
		g_autofree char *text = observe_snapshot_write(p.have, p.hosts, g_get_real_time() / G_USEC_PER_SEC);

		fputs(text, stdout);
	} else {
		show_summary(p.have);
	}
	pass_release(&p);
	return fflush(stdout) == 0 ? STRATA_EXIT_OK : STRATA_EXIT_ERROR;
}
