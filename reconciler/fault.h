/*
 * fault.h - crash points for the end-to-end suite.
 *
 * STRATA_FAULT=POINT:N makes the process kill itself (SIGKILL, as a power
 * cut or the OOM killer would) the Nth time it reaches POINT.  Used only to
 * cut strata at an exact operation boundary, which no outside kill can hit
 * reliably.  Unset, a point costs one load of a static.
 *
 * Points: op-intent (an op's intent is committed, libvirt not yet called),
 * op-done (libvirt did it, the result is not yet recorded).
 */
#ifndef STRATA_FAULT_H
#define STRATA_FAULT_H

#include <stdbool.h>

void fault_point(const char *point);

/*
 * STRATA_INJECT=NAME[,NAME...] makes a libvirt call fail as if the host
 * refused it: faults the test driver cannot produce, for tests only.
 * Read at each call (they are rare).  Names: capabilities (reading a
 * host's capabilities at connect), shutdown (a power-button press).
 */
bool fault_injected(const char *name);

/* NAME=MS in STRATA_INJECT: a delay, else 0.  stop-delay=MS holds every
 * graceful stop that long first (a guest slow to answer the button);
 * observe-stall-HOST=MS holds the observation of host HOST that long (a
 * libvirtd stuck in a call). */
unsigned fault_delay_ms(const char *name);

#endif
