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

bool
fault_injected(const char *name)
{
	const char *spec = g_getenv("STRATA_INJECT");
	g_auto(GStrv) names = NULL;

	if (!spec)
		return false;
	names = g_strsplit(spec, ",", -1);
	return g_strv_contains((const char *const *)names, name);
}

unsigned
fault_delay_ms(const char *name)
{
	const char *spec = g_getenv("STRATA_INJECT");
	g_auto(GStrv) items = NULL;
	size_t n = strlen(name);

	if (!spec)
		return 0;
	items = g_strsplit(spec, ",", -1);
	for (guint i = 0; items[i]; i++)
		if (strncmp(items[i], name, n) == 0 && items[i][n] == '=')
			return (unsigned)g_ascii_strtoull(items[i] + n + 1, NULL, 10);
	return 0;
}
