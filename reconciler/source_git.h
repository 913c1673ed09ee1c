/*
 * source_git.h - specs read straight from a Git commit
 *
 * A bare mirror beside the database (strata.db -> strata.git) is fetched
 * from URL; the spec files are read from the branch's commit tree, never
 * from a checkout, so a symlink in the repository can never reach a host
 * file (symlinks are refused, with a diagnostic).  Fetches are forced
 * (+refs/heads/B), so a force-push is followed.  TLS certificates and SSH
 * host keys are checked by libgit2; SSH keys come from ssh-agent.  No
 * option turns checks off.  Signed commits and tags are judged by
 * source_verify.h, on the mirror, between a fetch and a load.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <git2.h>
#include <glib.h>

#include "../spec/spec.h"

typedef struct source_git source_git;

typedef struct {
	char *commit;        /* 40 hex digits */
	char *author;
	char *subject;
} git_revision;

source_git *source_git_new(const char *url, const char *branch, const char *subdir,
			   const char *mirror, GError **error);
void source_git_free(source_git *g);

/* Fetch now; false (and @error) when the remote cannot be reached. */
bool source_git_fetch(source_git *g, GError **error);
/* Fetch every tag too (forced, pruned), for signed tags; before a fetch. */
void source_git_fetch_tags(source_git *g, bool tags);
/* The mirror, for the verifier: only while no fetch runs, or on the
 * fetch's own thread. */
git_repository *source_git_repository(source_git *g);
/* "refs/remotes/origin/BRANCH": the branch as the mirror holds it. */
char *source_git_branch_ref(const source_git *g);
/* Whether the mirror holds the branch already (from an earlier run). */
bool source_git_fetched(source_git *g);

/*
 * The branch's current commit as a spec source (files named
 * "SUBDIR/NAME.yaml", or under the local work tree for a local URL).  A
 * host's `test:REL` node file is read from the same commit and copied into
 * the mirror's test-nodes/ folder, its URI made absolute.  NULL with
 * @error when the branch does not exist yet.
 */
spec_source *source_git_load(source_git *g, spec_diags *diags, git_revision *rev,
			     GError **error);
/* The same for commit @commit_id (40 hex) instead of the branch's: a
 * verified commit, which the branch may have moved past. */
spec_source *source_git_load_commit(source_git *g, const char *commit_id, spec_diags *diags,
				    git_revision *rev, GError **error);
void git_revision_release(git_revision *rev);

/* The folder whose changes mean "a local commit happened", or NULL. */
const char *source_git_local_refs(const source_git *g);
/* What the source is: its URL (a local path canonical), branch and
 * subfolder ("" for the top), as the daemon records them. */
const char *source_git_url(const source_git *g);
const char *source_git_branch(const source_git *g);
const char *source_git_subdir(const source_git *g);
