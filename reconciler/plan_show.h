/*
 * plan_show.h - a plan for people (text), machines (JSON) and Graphviz (dot)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <stdio.h>

#include "cli.h"
#include "plan.h"

void plan_show(FILE *out, output_format fmt, const plan *p);

/* "3 to create, 1 to change, 1 to remove" */
char *plan_summary(const plan *p);
