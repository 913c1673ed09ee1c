/*
 * source_git.c - specs read straight from a Git commit
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <git2.h>
#include <gio/gio.h>
#include <string.h>

#include "source_git.h"
#include "../spec/yaml_read.h"

struct source_git {
	char *url;
	char *branch;
	char *subdir;            /* "" for the whole tree */
	char *display_root;      /* prefix of file names in diagnostics */
	char *local_refs;        /* <local repo>/.git/refs, for a local URL */
	bool tags;               /* fetch every tag too (signed tags) */
	git_repository *mirror;
};

static bool
git_fail(GError **error, const char *what)
{
	const git_error *e = git_error_last();

	g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what,
		    e && e->message ? e->message : "unknown libgit2 error");
	return false;
}

/* A local path or file:// URL: the folder it names, else NULL. */
static char *
local_path(const char *url)
{
	if (g_str_has_prefix(url, "file://"))
		return g_strdup(url + 7);
	if (url[0] == '/' || g_str_has_prefix(url, "./") || g_str_has_prefix(url, "../"))
		return g_canonicalize_filename(url, NULL);
	return NULL;
}

source_git *
source_git_new(const char *url, const char *branch, const char *subdir,
	       const char *mirror, GError **error)
{
	source_git *g = g_new0(source_git, 1);
	g_autofree char *local = local_path(url);
	git_remote *remote = NULL;

	git_libgit2_init();
	g->url = local && !g_str_has_prefix(url, "file://") ? g_strdup(local) : g_strdup(url);
	g->branch = g_strdup(branch ? branch : "main");
	g->subdir = g_strdup(subdir ? subdir : "");
	if (local) {
		g_autofree char *dotgit = g_build_filename(local, ".git", NULL);

		g->display_root = g_build_filename(local, g->subdir, NULL);
		g->local_refs = g_file_test(dotgit, G_FILE_TEST_IS_DIR)
					? g_build_filename(dotgit, "refs", NULL)
					: g_build_filename(local, "refs", NULL);
	} else {
		g->display_root = g_strdup(g->subdir);
	}
	if (git_repository_open_bare(&g->mirror, mirror) < 0) {
		if (git_repository_init(&g->mirror, mirror, 1) < 0 ||
		    git_remote_create(&remote, g->mirror, "origin", g->url) < 0) {
			git_fail(error, "cannot create the mirror repository");
			source_git_free(g);
			return NULL;
		}
		git_remote_free(remote);
	} else if (git_remote_set_url(g->mirror, "origin", g->url) < 0) {
		git_fail(error, "cannot point the mirror at the URL");
		source_git_free(g);
		return NULL;
	}
	return g;
}

void
source_git_free(source_git *g)
{
	if (!g)
		return;
	git_repository_free(g->mirror);
	g_free(g->url);
	g_free(g->branch);
	g_free(g->subdir);
	g_free(g->display_root);
	g_free(g->local_refs);
	g_free(g);
}

const char *
source_git_url(const source_git *g)
{
	return g->url;
}

const char *
source_git_branch(const source_git *g)
{
	return g->branch;
}

const char *
source_git_subdir(const source_git *g)
{
	return g->subdir;
}

const char *
source_git_local_refs(const source_git *g)
{
	return g->local_refs;
}

/* ssh-agent for SSH; nothing else is offered, and nothing is skipped. */
static int
credentials(git_credential **out, const char *url, const char *user,
	    unsigned int allowed, void *payload)
{
	(void)url;
	(void)payload;
	if (allowed & GIT_CREDENTIAL_SSH_KEY)
		return git_credential_ssh_key_from_agent(out, user ? user : "git");
	return GIT_PASSTHROUGH;
}

void
source_git_fetch_tags(source_git *g, bool tags)
{
	g->tags = tags;
}

git_repository *
source_git_repository(source_git *g)
{
	return g->mirror;
}

char *
source_git_branch_ref(const source_git *g)
{
	return g_strdup_printf("refs/remotes/origin/%s", g->branch);
}

bool
source_git_fetched(source_git *g)
{
	g_autofree char *ref = g_strdup_printf("refs/remotes/origin/%s", g->branch);
	git_oid oid;

	return git_reference_name_to_id(&oid, g->mirror, ref) == 0;
}

bool
source_git_fetch(source_git *g, GError **error)
{
	git_fetch_options opts;
	g_autofree char *spec = g_strdup_printf("+refs/heads/%s:refs/remotes/origin/%s",
						g->branch, g->branch);
	char *specs[] = { spec, "+refs/tags/*:refs/tags/*" };
	/* Tags forced and pruned like the branch: the mirror holds what the
	 * remote says now, and the verifier judges that. */
	git_strarray refspecs = { specs, g->tags ? 2 : 1 };
	git_remote *remote = NULL;
	bool ok;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.callbacks.credentials = credentials;
	opts.prune = GIT_FETCH_PRUNE;
	if (git_remote_lookup(&remote, g->mirror, "origin") < 0)
		return git_fail(error, "no remote");
	ok = git_remote_fetch(remote, &refspecs, &opts, NULL) == 0;
	if (!ok)
		git_fail(error, g->url);
	git_remote_free(remote);
	return ok;
}

typedef struct {
	source_git *g;
	spec_source *src;
	spec_diags *diags;
	unsigned files;
	unsigned entries;    /* tree entries visited, files or not */
	GHashTable *rel_of;  /* a loaded file's display name -> its path in the subdir's tree */
	git_tree *tree;      /* the subdir's tree, for files beside the specs */
} walk_ctx;

/* A tree can name one subtree many times ("git bomb": ten entries naming
 * the same tree, ten levels deep, are 10^10 visits): visits are bounded
 * whatever the depth. */
#define WALK_MAX_ENTRIES (10u * SPEC_MAX_FILES)

static bool
spec_name(const char *name)
{
	return name[0] != '.' && (g_str_has_suffix(name, ".yaml") || g_str_has_suffix(name, ".yml"));
}

/* A file that would be left out makes the revision invalid, never smaller. */
#define walk_error(w, path, code, ...)                                          \
	do {                                                                    \
		spec_error((w)->diags, (path), SPEC_NOPOS, (code), __VA_ARGS__); \
		(w)->src->load_errors++;                                        \
	} while (0)

static void
load_blob(walk_ctx *w, const git_tree_entry *e, const char *display)
{
	git_odb *odb = NULL;
	git_blob *blob = NULL;
	git_object_t type;
	size_t len = 0;

	if (++w->files > SPEC_MAX_FILES) {
		if (w->files == SPEC_MAX_FILES + 1)
			walk_error(w, display, "too-many-files", "more than %u spec files; split the source",
				   (unsigned)SPEC_MAX_FILES);
		return;
	}
	/* The size from the object's header: a huge blob is never loaded. */
	if (git_repository_odb(&odb, w->g->mirror) < 0 ||
	    git_odb_read_header(&len, &type, odb, git_tree_entry_id(e)) < 0) {
		git_odb_free(odb);
		walk_error(w, display, "unreadable", "cannot read the file from the repository");
		return;
	}
	git_odb_free(odb);
	if (len > SPEC_MAX_FILE_BYTES) {
		walk_error(w, display, "file-too-large", "%zu bytes, more than the %u a spec file may have; split it",
			   len, (unsigned)SPEC_MAX_FILE_BYTES);
		return;
	}
	if (git_blob_lookup(&blob, w->g->mirror, git_tree_entry_id(e)) < 0) {
		walk_error(w, display, "unreadable", "cannot read the file from the repository");
		return;
	}
	spec_source_add_buffer(w->src, display, git_blob_rawcontent(blob),
			       (size_t)git_blob_rawsize(blob), w->diags);
	git_blob_free(blob);
}

static void walk_tree(walk_ctx *w, const git_tree *tree, const char *rel, unsigned depth);

static void
walk_entry(walk_ctx *w, const git_tree_entry *e, const char *rel, unsigned depth)
{
	const char *name = git_tree_entry_name(e);
	git_filemode_t mode = git_tree_entry_filemode(e);
	g_autofree char *sub = g_build_filename(rel, name, NULL);
	g_autofree char *display = g_build_filename(w->g->display_root, sub, NULL);
	git_tree *child = NULL;

	if (mode == GIT_FILEMODE_TREE) {
		if (name[0] == '.')
			return;  /* dot-folders are not part of a source */
		if (depth >= SPEC_MAX_DIR_DEPTH) {
			walk_error(w, display, "too-deep", "folders nested deeper than %u; flatten the source",
				   (unsigned)SPEC_MAX_DIR_DEPTH);
			return;
		}
		if (git_tree_lookup(&child, w->g->mirror, git_tree_entry_id(e)) < 0) {
			walk_error(w, display, "unreadable", "cannot read the folder from the repository");
			return;
		}
		walk_tree(w, child, sub, depth + 1);
		git_tree_free(child);
		return;
	}
	if (!spec_name(name))
		return;
	if (mode == GIT_FILEMODE_LINK) {
		spec_error(w->diags, display, SPEC_NOPOS, "symlink-escape",
			   "symbolic links in a Git source are not followed; commit the file itself");
		return;
	}
	g_hash_table_insert(w->rel_of, g_strdup(display), g_strdup(sub));
	load_blob(w, e, display);
}

/*
 * Our own walk, not git_tree_walk: libgit2 recurses without a bound, and a
 * commit nesting folders 100,000 deep overflowed the stack (at every start,
 * since the mirror keeps the commit).  Depth is limited as in the folder
 * source, and visits are counted (see WALK_MAX_ENTRIES).
 */
static void
walk_tree(walk_ctx *w, const git_tree *tree, const char *rel, unsigned depth)
{
	for (size_t i = 0; i < git_tree_entrycount(tree); i++) {
		if (++w->entries > WALK_MAX_ENTRIES) {
			if (w->entries == WALK_MAX_ENTRIES + 1)
				walk_error(w, w->g->display_root[0] ? w->g->display_root : ".", "too-many-files",
					   "the commit's tree has more than %u entries; split the repository",
					   WALK_MAX_ENTRIES);
			return;
		}
		walk_entry(w, git_tree_entry_byindex(tree, i), rel, depth);
	}
}

/* @blob's bytes in the mirror's test-nodes/ folder, named by its path in
 * the tree and its id: written once (atomically, never through a symlink),
 * so an unchanged node file keeps its URI and its host its connection, and
 * two files alike at two paths stay two hosts. */
static char *
node_file(source_git *g, const char *tree_path, const git_oid *id, const void *buf, size_t len,
	  GError **error)
{
	char hex[GIT_OID_HEXSZ + 1];
	g_autofree char *dir = g_build_filename(git_repository_path(g->mirror), "test-nodes", NULL);
	g_autofree char *where = g_compute_checksum_for_string(G_CHECKSUM_SHA256, tree_path, -1);
	g_autofree char *path = NULL;

	git_oid_tostr(hex, sizeof(hex), id);
	path = g_strdup_printf("%s/%.16s-%s.xml", dir, where, hex);
	if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
		return g_steal_pointer(&path);
	if (g_mkdir_with_parents(dir, 0700) < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot make %s: %s",
			    dir, g_strerror(errno));
		return NULL;
	}
	if (!g_file_set_contents_full(path, buf, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
		return NULL;
	return g_steal_pointer(&path);
}

/*
 * @sh's `test:REL` node file, read from @root (the commit's tree) beside the
 * spec file that names it, and copied out: a bare or remote repository has
 * no folder to resolve REL against, and a work tree's copy may differ from
 * the commit.  The URI becomes test://ABS; a node file missing from the
 * commit makes the revision invalid, said at the URI.
 */
static void
resolve_test_node(walk_ctx *w, git_tree *root, spec_host *sh)
{
	const char *rel = g_hash_table_lookup(w->rel_of, sh->obj.file);
	g_autofree char *rel_dir = NULL, *base = NULL, *path = NULL, *out = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	g_autoptr(GError) err = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	git_odb *odb = NULL;
	git_object_t type;
	size_t len = 0;

	rel_dir = g_path_get_dirname(rel ? rel : ".");
	base = g_build_filename("/", w->g->subdir, rel_dir, NULL);
	path = g_canonicalize_filename(sh->uri.v + 5, base);  /* "/a/b.xml": never above the root */
	/* A symlink is a blob too: its target's name, never followed. */
	if (git_tree_entry_bypath(&e, root, path + 1) < 0 || git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
	    git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
		spec_error(w->diags, sh->obj.file, sh->uri.pos, "no-such-file",
			   "'%s' is not a file of this commit (looked for '%s'); commit the test-driver node file "
			   "with the spec", sh->uri.v + 5, path + 1);
		w->src->load_errors++;
		git_tree_entry_free(e);
		return;
	}
	if (git_repository_odb(&odb, w->g->mirror) < 0 ||
	    git_odb_read_header(&len, &type, odb, git_tree_entry_id(e)) < 0 || len > SPEC_MAX_FILE_BYTES ||
	    git_blob_lookup(&blob, w->g->mirror, git_tree_entry_id(e)) < 0 ||
	    !(out = node_file(w->g, path, git_tree_entry_id(e), git_blob_rawcontent(blob),
			      (size_t)git_blob_rawsize(blob), &err))) {
		spec_error(w->diags, sh->obj.file, sh->uri.pos, "unreadable",
			   "cannot copy '%s' out of the commit: %s", path + 1,
			   err ? err->message : len > SPEC_MAX_FILE_BYTES ? "larger than 4 MiB" : "unreadable");
		w->src->load_errors++;
	} else {
		g_free(sh->uri.v);
		sh->uri.v = g_strdup_printf("test://%s", out);
		/* A commit that changes only a node file is a new revision. */
		git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
		g_checksum_update(w->src->digest, (const guchar *)path, (gssize)strlen(path) + 1);
		g_checksum_update(w->src->digest, (const guchar *)hex, (gssize)strlen(hex));
	}
	git_blob_free(blob);
	git_odb_free(odb);
	git_tree_entry_free(e);
}

/*
 * A file beside spec file @file (cloud-init data), from the commit, never
 * from a work tree: resolved in @file's folder of the source's tree
 * (no '..': checked before), a blob that is not a link, under the cap.
 */
static GBytes *
read_beside(void *ctx, const char *file, const char *rel, char **why)
{
	walk_ctx *w = ctx;
	const char *spec_rel = g_hash_table_lookup(w->rel_of, file);
	g_autofree char *dir = g_path_get_dirname(spec_rel ? spec_rel : ".");
	g_autofree char *base = g_build_filename("/", dir, NULL);
	/* "/a/./b//c" -> "/a/b/c"; never above the root ('..' was refused). */
	g_autofree char *abs = g_canonicalize_filename(rel, base);
	const char *path = abs + 1;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	git_odb *odb = NULL;
	git_object_t type;
	size_t len = 0;
	GBytes *out = NULL;

	if (git_tree_entry_bypath(&e, w->tree, path) < 0 || git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		*why = g_strdup_printf("it is not a file of this commit (looked for '%s'); commit it with the spec",
				       path);
	} else if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
		*why = g_strdup("symbolic links in a Git source are not followed; commit the file itself");
	} else if (git_repository_odb(&odb, w->g->mirror) < 0 ||
		   git_odb_read_header(&len, &type, odb, git_tree_entry_id(e)) < 0 ||
		   (len <= SPEC_MAX_SIDE_FILE_BYTES && git_blob_lookup(&blob, w->g->mirror, git_tree_entry_id(e)) < 0)) {
		*why = g_strdup("cannot read it from the repository");
	} else if (len > SPEC_MAX_SIDE_FILE_BYTES) {
		*why = g_strdup_printf("it has %zu bytes; the limit is %u (1 MiB)", len, SPEC_MAX_SIDE_FILE_BYTES);
	} else {
		out = g_bytes_new(git_blob_rawcontent(blob), (gsize)git_blob_rawsize(blob));
	}
	git_blob_free(blob);
	git_odb_free(odb);
	git_tree_entry_free(e);
	return out;
}

static void
resolve_test_nodes(walk_ctx *w, git_commit *commit)
{
	git_tree *root = NULL;

	if (git_commit_tree(&root, commit) < 0)
		return;
	for (guint i = 0; i < w->src->hosts->len; i++) {
		spec_host *sh = w->src->hosts->pdata[i];

		if (sh->uri.v && g_str_has_prefix(sh->uri.v, "test:") && !g_str_has_prefix(sh->uri.v, "test://"))
			resolve_test_node(w, root, sh);
	}
	git_tree_free(root);
}

static bool
load_tree(source_git *g, git_commit *commit, git_tree **out, GError **error)
{
	git_tree *tree = NULL;
	git_tree_entry *sub = NULL;

	if (git_commit_tree(&tree, commit) < 0)
		return git_fail(error, "cannot read the commit's tree");
	if (!g->subdir[0]) {
		*out = tree;
		return true;
	}
	if (git_tree_entry_bypath(&sub, tree, g->subdir) < 0 ||
	    git_tree_entry_type(sub) != GIT_OBJECT_TREE ||
	    git_tree_lookup(out, g->mirror, git_tree_entry_id(sub)) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "the commit has no folder '%s'", g->subdir);
		git_tree_entry_free(sub);
		git_tree_free(tree);
		return false;
	}
	git_tree_entry_free(sub);
	git_tree_free(tree);
	return true;
}

spec_source *
source_git_load(source_git *g, spec_diags *diags, git_revision *rev, GError **error)
{
	return source_git_load_commit(g, NULL, diags, rev, error);
}

spec_source *
source_git_load_commit(source_git *g, const char *commit_id, spec_diags *diags, git_revision *rev,
		       GError **error)
{
	g_autofree char *ref = g_strdup_printf("refs/remotes/origin/%s", g->branch);
	git_oid oid;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	g_autoptr(GHashTable) rel_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	walk_ctx w = { g, NULL, diags, 0, 0, rel_of, NULL };
	g_autoptr(GError) tree_err = NULL;
	char hex[GIT_OID_HEXSZ + 1];

	if (commit_id) {
		if (git_oid_fromstr(&oid, commit_id) < 0) {
			g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "'%s' is not a commit id", commit_id);
			return NULL;
		}
	} else if (git_reference_name_to_id(&oid, g->mirror, ref) < 0) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "branch '%s' not fetched yet from %s", g->branch, g->url);
		return NULL;
	}
	if (git_commit_lookup(&commit, g->mirror, &oid) < 0) {
		git_fail(error, "cannot read the commit");
		return NULL;
	}
	git_oid_tostr(hex, sizeof(hex), &oid);
	rev->commit = g_strdup(hex);
	rev->author = g_strdup(git_commit_author(commit)->name);
	rev->subject = g_strdup(git_commit_summary(commit));
	w.src = spec_source_new(g->display_root[0] ? g->display_root : ".");
	if (!load_tree(g, commit, &tree, &tree_err)) {
		/* A commit without the folder is a revision too: an invalid one. */
		spec_error(diags, w.src->root, SPEC_NOPOS, "unreadable", "%s", tree_err->message);
		w.src->load_errors++;
		git_commit_free(commit);
		return w.src;
	}
	walk_tree(&w, tree, "", 0);
	resolve_test_nodes(&w, commit);
	w.tree = tree;
	spec_read_side_files(w.src, read_beside, &w, diags);
	git_tree_free(tree);
	git_commit_free(commit);
	return w.src;
}

void
git_revision_release(git_revision *rev)
{
	g_free(rev->commit);
	g_free(rev->author);
	g_free(rev->subject);
	memset(rev, 0, sizeof(*rev));
}
