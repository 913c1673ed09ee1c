/*
 * fault.c - see fault.h.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <glib.h>

#include "fault.h"

static char *armed_point;
static gint armed_left;

static void
fault_init(void)
{
	const char *spec = g_getenv("STRATA_FAULT");
	const char *colon = spec ? strchr(spec, ':') : NULL;

	if (!colon || atoi(colon + 1) < 1)
		return;
	armed_point = g_strndup(spec, (gsize)(colon - spec));
	armed_left = atoi(colon + 1);
}

void
fault_point(const char *point)
{
	static gsize once;

	if (g_once_init_enter(&once)) {
		fault_init();
		g_once_init_leave(&once, 1);
	}
	if (!armed_point || strcmp(point, armed_point) != 0)
		return;
	if (g_atomic_int_dec_and_test(&armed_left)) {
		static const char msg[] = "strata: STRATA_FAULT: killed at a crash point\n";

		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* dying anyway */
		}
		kill(getpid(), SIGKILL);
	}
}

/* The STRATA_INJECT item NAME or NAME=VALUE: its value ("" without one),
 * or NULL when absent. */
static char *
inject_item(const char *name)
{
	const char *spec = g_getenv("STRATA_INJECT");
	g_auto(GStrv) items = spec ? g_strsplit(spec, ",", -1) : NULL;
	size_t n = strlen(name);

	for (guint i = 0; items && items[i]; i++)
		if (strncmp(items[i], name, n) == 0 && (items[i][n] == '\0' || items[i][n] == '='))
			return g_strdup(items[i][n] ? items[i] + n + 1 : "");
	return NULL;
}

bool
fault_injected(const char *name)
{
	g_autofree char *v = inject_item(name);

	return v != NULL;
}

unsigned
fault_delay_ms(const char *name)
{
	g_autofree char *v = inject_item(name);

	return v ? (unsigned)g_ascii_strtoull(v, NULL, 10) : 0;
}
