/*
 * timezone.c - IANA time zone names, checked before anything is opened
 *
 * GLib's g_time_zone_new_identifier() takes an absolute path or a path
 * relative to the zone database as readily as a zone name, and reads
 * anything it does not find as a POSIX TZ string.  A spec is untrusted
 * input, so a name is checked by its characters first, then found in the
 * zone database as a regular file holding zone data, and only then handed
 * to GLib: a spec can never make strata open /etc/shadow, block on a FIFO,
 * or read "UTC+5" as five hours *behind* UTC.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec.h"

#define TZ_HINT "use an IANA name such as Europe/Paris or UTC"

/* Where GLib looks for @name: $TZDIR, else the system's zone database. */
static char *
zone_path(const char *name)
{
	const char *dir = g_getenv("TZDIR");

	return g_build_filename(dir ? dir : "/usr/share/zoneinfo", name, NULL);
}

/*
 * A POSIX TZ string, or a legacy zone named like one: a letter followed by
 * a digit or a signed digit ("UTC+5", "EST5EDT", "Etc/GMT+5"), "<+05>-5",
 * or rules after a comma.  Their offsets have the sign backwards for a
 * reader, so none is accepted, not even those the zone database holds.
 */
static bool
posix_like(const char *s)
{
	if (strpbrk(s, "<>,"))
		return true;
	for (; *s; s++) {
		const char *next = s + 1;

		if (!g_ascii_isalpha(*s))
			continue;
		if (*next == '+' || *next == '-')
			next++;
		if (g_ascii_isdigit(*next))
			return true;
	}
	return false;
}

/* '..', '.' or an empty component: a path, not a name. */
static const char *
component_problem(const char *name)
{
	g_auto(GStrv) parts = g_strsplit(name, "/", -1);

	for (char **p = parts; *p; p++)
		if (strcmp(*p, "..") == 0)
			return "climbs out of the zone database with '..'";
	for (char **p = parts; *p; p++)
		if (!**p || strcmp(*p, ".") == 0)
			return "is not an IANA name (an empty or '.' part)";
	return NULL;
}

/* What is wrong with @name judged by its characters alone, or NULL. */
static const char *
name_problem(const char *name)
{
	const char *why;

	if (name[0] == '/')
		return "is a file path";
	why = component_problem(name);
	if (why)
		return why;
	if (posix_like(name))
		return "is written like a POSIX TZ offset, whose sign reads backwards (UTC+5 and Etc/GMT+5 are five hours behind UTC)";
	if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			 "0123456789/_+-") != strlen(name))
		return "has characters no IANA name has (letters, digits, '/', '_', '+' and '-' only)";
	return NULL;
}

/*
 * @path is a regular file that starts like zone data ("TZif").  Opened
 * non-blocking and checked again after opening, so a FIFO swapped in
 * after the stat cannot block us either.
 */
static bool
zone_file_ok(const char *path)
{
	char magic[4];
	struct stat st;
	ssize_t n;
	int fd;

	if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
		return false;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false;
	do
		n = read(fd, magic, sizeof(magic));
	while (n < 0 && errno == EINTR);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		n = -1;
	close(fd);
	return n == (ssize_t)sizeof(magic) && memcmp(magic, "TZif", 4) == 0;
}

GTimeZone *
spec_timezone_new(const char *name, char **why)
{
	g_autofree char *path = NULL;
	g_autofree char *shown = NULL;
	const char *problem;
	GTimeZone *tz = NULL;

	/* The default: GLib knows it without any file. */
	if (strcmp(name, "UTC") == 0)
		return g_time_zone_new_utc();
	problem = name_problem(name);
	if (!problem) {
		path = zone_path(name);
		if (zone_file_ok(path))
			tz = g_time_zone_new_identifier(name);
	}
	if (tz || !why)
		return tz;
	shown = spec_clip(name);
	if (problem)
		*why = g_strdup_printf("time zone '%s' %s; " TZ_HINT, shown, problem);
	else
		*why = g_strdup_printf("unknown time zone '%s'; " TZ_HINT, shown);
	return NULL;
}

GTimeZone *
spec_appliance_timezone(const spec_appliance *a)
{
	GTimeZone *tz = a->timezone.v ? spec_timezone_new(a->timezone.v, NULL) : NULL;

	return tz ? tz : g_time_zone_new_utc();
}
