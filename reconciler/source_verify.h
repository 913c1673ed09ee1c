/*
 * source_verify.h - signed commits and tags of a Git source
 *
 * Which keys may sign is configured outside the watched repository (the
 * daemon's flags), so a commit cannot bring its own keys.  A verifier is
 * made once at start: it checks its files and imports the OpenPGP keyring
 * into a private GNUPGHOME of its own (never the user's), removed by
 * verifier_free (the daemon's lives beside its database, not in /tmp where
 * tmpfiles aging could delete it under a long-running daemon).  After that it is read-only, and verifier_verify may run
 * on any one thread at a time per repository (the daemon runs it on the
 * Git fetch's thread: it spawns gpg and ssh-keygen, and waits for them).
 *
 * OpenPGP signatures are checked with gpgme against the keyring: a revoked
 * or expired key, or an expired signature, is refused with that reason.
 * SSH signatures are checked with `ssh-keygen -Y` against an allowed
 * signers file, at the time the commit (or tag) says it was made, so
 * valid-after and valid-before hold.  An optional allowlist narrows who
 * may sign: an OpenPGP fingerprint (the primary key's, which admits every
 * subkey of it, or the very subkey that signed) or user id email, or an
 * SSH principal.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include <git2.h>
#include <glib.h>
#include <stdbool.h>

#define VERIFY_ERROR verify_error_quark()
GQuark verify_error_quark(void);

enum {
	VERIFY_ERROR_CONFIG = 1,   /* a flag or file is wrong: a usage error */
	VERIFY_ERROR_FAILED,       /* something else went wrong */
};

typedef enum {
	VERIFY_OFF,
	VERIFY_HEAD,    /* the new head commit is signed */
	VERIFY_RANGE,   /* every commit since the last verified one is */
	VERIFY_TAG,     /* the newest matching tag is signed; its commit applies */
} verify_mode;

/* At most this many commits are checked for one new head (range mode);
 * a push of more is refused whole, rather than holding the fetch for
 * minutes. */
#define VERIFY_RANGE_MAX 1000

typedef struct {
	verify_mode mode;
	const char *keyring;          /* OpenPGP public keys, armored or binary */
	const char *allowed_signers;  /* ssh-keygen's ALLOWED SIGNERS format */
	const char *const *signers;   /* allowlist, NULL-terminated; NULL: anyone the files allow */
	const char *tag_pattern;      /* tag mode: glob over tag names; NULL: "*" */
	unsigned timeout_s;           /* one ssh-keygen run; 0: 30 */
	const char *gnupghome;        /* where to make the private GNUPGHOME (a
					 stale one there is removed first, and it
					 is locked while in use); NULL: a new
					 folder in the temporary directory */
} verify_options;

typedef struct verifier verifier;

/* "head", "range", "tag" (and "off"); false for anything else. */
bool verify_mode_parse(const char *name, verify_mode *mode);
const char *verify_mode_name(verify_mode mode);

/*
 * Check @o (a file that is missing or holds no key is a VERIFY_ERROR_CONFIG
 * naming it) and import the keyring.  Blocks while gpg imports: call it
 * before any loop runs.
 */
verifier *verifier_new(const verify_options *o, GError **error);
void verifier_free(verifier *v);
verify_mode verifier_mode(const verifier *v);
/* Whether tags must be fetched (tag mode). */
bool verifier_wants_tags(const verifier *v);

typedef struct {
	bool ok;
	bool unchecked;  /* not ok because it could not be checked (ssh-keygen
			    or gpg could not run, timed out, no room for
			    temporary files): try again later, this is no
			    verdict on the signature */
	char *target;    /* what was judged: the head commit, or the tag object */
	char *ref;       /* the ref that named it (refs/heads/B, refs/tags/T) */
	char *commit;    /* ok: the commit to apply; refused: the commit (or the
			    tag's commit) at fault */
	char *tag;       /* tag mode: the tag ref's short name (the signed tag
			    object must carry the same name) */
	char *key_id;    /* the key seen (OpenPGP fingerprint, SSH SHA256:…), or NULL */
	char *signer;    /* the allowed identity that signed, or NULL */
	char *reason;    /* refused: why, for people; NULL when ok */
	guint checked;   /* signatures checked */
} verify_verdict;

void verify_verdict_release(verify_verdict *vd);

/*
 * What a verification would judge now: the commit @branch_ref names, or
 * in tag mode the newest tag matching the pattern (by tagger time; a
 * lightweight tag by its commit's time; a tie by the greater name).
 * Its object id in @target (40 hex), the ref naming it in @ref (NULL:
 * not wanted).  False with @error when there is nothing to judge (no
 * branch, no matching tag).
 */
bool verifier_target(const verifier *v, git_repository *repo, const char *branch_ref,
		     char **target, char **ref, GError **error);

/*
 * Judge @target (from verifier_target) against @old_commit, the last
 * verified commit (NULL on a first run).  Head mode checks @target; range
 * mode every commit reachable from it and not from @old_commit (only the
 * head when @old_commit is NULL or no longer in the repository), at most
 * VERIFY_RANGE_MAX; tag mode checks the tag's own signature and that the
 * tag object's own name is @ref's (a signed tag copied under another
 * name is refused), and applies its commit whether or not that is
 * signed.  Always fills @vd.
 */
void verifier_verify(const verifier *v, git_repository *repo, const char *old_commit,
		     const char *target, const char *ref, verify_verdict *vd);

/*
 * The anchor (the last commit verified for this source, in any mode)
 * judged again with the keys given now, before it is loaded at start:
 * in head and range mode @commit itself must be signed by an allowed key;
 * in tag mode the tag selection runs again (verifier_target, then
 * verifier_verify: @commit is not looked at).  Always fills @vd.
 */
void verifier_verify_anchor(const verifier *v, git_repository *repo, const char *commit,
			    verify_verdict *vd);
