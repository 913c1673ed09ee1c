/*
 * plan_show.h - a plan for people (text), machines (JSON), Graphviz (dot)
 * and pull requests (Markdown, in plan_markdown.c)
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

/* A pull-request comment: counts by impact, errors and notes, then the ops
 * as a table and a Mermaid graph in a <details> block.  Every string of
 * the plan's is escaped: no HTML or Markdown of a spec's gets through. */
char *plan_markdown(const plan *p);
