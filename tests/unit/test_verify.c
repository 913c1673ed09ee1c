/*
 * test_verify.c - signed commits and tags: real keys, real signatures
 *
 * The keys are made here, once for the file (gpg --quick-gen-key,
 * ssh-keygen), and every commit and tag is made and signed by the real
 * git: nothing is mocked.  Key holders:
 *
 *   alice   OpenPGP and SSH, in the keyring and the allowed signers
 *   bob     the same (an allowed key that an allowlist can leave out)
 *   mallory OpenPGP and SSH, in neither
 *   old     OpenPGP, made and used in 2020 (faked time) with a one-day
 *           expiry: expired now
 *   carol   OpenPGP, revoked in the keyring after she signed
 *   dave    SSH, allowed only before 2020 (valid-before)
 *   sam     OpenPGP, a primary key and two signing subkeys, in the keyring
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <git2.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "../../reconciler/daemon.h"
#include "../../reconciler/loop.h"
#include "../../reconciler/source_verify.h"

typedef struct {
	char *dir;
	char *gnupg;          /* alice, bob, mallory (secret); carol and old public */
	char *gnupg_old;      /* old, at a faked time in 2020 */
	char *gnupg_carol;    /* carol, not revoked there */
	char *keyring;        /* public: alice, bob, old, carol (revoked) */
	char *alice_fpr;
	char *sam_fpr[3];     /* primary, first and second signing subkey */
	char *allowed;        /* SSH allowed signers: alice, bob, dave */
	char *ssh[4];         /* alice, bob, mallory, dave private keys */
} keys;

static keys K;

enum { SSH_ALICE, SSH_BOB, SSH_MALLORY, SSH_DAVE };

/* Run @argv (no shell) with @env added; its stdout; fails the test on a
 * non-zero exit. */
static char *
run_env(const char *const *env, const char *const *argv)
{
	g_auto(GStrv) envp = g_get_environ();
	g_autofree char *out = NULL, *err = NULL;
	g_autoptr(GError) e = NULL;
	int status = 0;

	envp = g_environ_setenv(envp, "GIT_CONFIG_GLOBAL", "/dev/null", TRUE);
	envp = g_environ_setenv(envp, "GIT_CONFIG_NOSYSTEM", "1", TRUE);
	for (guint i = 0; env && env[i]; i += 2)
		envp = g_environ_setenv(envp, env[i], env[i + 1], TRUE);
	if (!g_spawn_sync(NULL, (char **)argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_STDIN_FROM_DEV_NULL, NULL,
			  NULL, &out, &err, &status, &e))
		fail_msg("%s: %s", argv[0], e->message);
	if (!g_spawn_check_wait_status(status, NULL))
		fail_msg("%s %s failed: %s", argv[0], argv[1], err);
	return g_steal_pointer(&out);
}

#define RUN(env, ...) g_free(run_env((env), (const char *const[]){ __VA_ARGS__, NULL }))
#define RUN_OUT(env, ...) run_env((env), (const char *const[]){ __VA_ARGS__, NULL })

static void
gen_pgp(const char *home, const char *uid, const char *expiry)
{
	RUN(NULL, "gpg", "--batch", "--homedir", home, "--passphrase", "", "--quick-gen-key", uid, "ed25519",
	    "sign", expiry);
}

static char *
fpr_of(const char *home, const char *email)
{
	g_autofree char *out = RUN_OUT(NULL, "gpg", "--batch", "--homedir", home, "--with-colons",
				       "--list-keys", email);
	char *f = strstr(out, "\nfpr:::::::::");

	assert_non_null(f);
	return g_strndup(f + 13, 40);
}

static char *
mkhome(const char *name, const char *conf)
{
	char *home = g_build_filename(K.dir, name, NULL);

	assert_int_equal(g_mkdir(home, 0700), 0);
	if (conf) {
		g_autofree char *path = g_build_filename(home, "gpg.conf", NULL);

		tu_write(path, conf);
	}
	return home;
}

/* A revoked copy of carol's key in @home: her revocation certificate,
 * which gpg stores with a ':' before its armor so that it is not
 * imported by mistake. */
static void
revoke_carol(const char *home, const char *carol_home, const char *fpr)
{
	g_autofree char *cert = g_strdup_printf("%s/openpgp-revocs.d/%s.rev", carol_home, fpr);
	g_autofree char *text = NULL, *armed = NULL, *path = g_build_filename(K.dir, "carol.rev", NULL);
	char *colon;

	assert_true(g_file_get_contents(cert, &text, NULL, NULL));
	colon = strstr(text, ":-----BEGIN");
	assert_non_null(colon);
	tu_write(path, colon + 1);
	RUN(NULL, "gpg", "--batch", "--homedir", home, "--import", path);
}

static char *
ssh_key(const char *name)
{
	char *path = g_build_filename(K.dir, name, NULL);

	RUN(NULL, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path);
	return path;
}

static char *
pub_of(const char *key)
{
	g_autofree char *path = g_strconcat(key, ".pub", NULL);
	char *text = NULL;

	assert_true(g_file_get_contents(path, &text, NULL, NULL));
	return g_strchomp(text);
}

static int
keys_make(void **state)
{
	g_autofree char *carol_fpr = NULL, *carol_pub = NULL, *old_pub = NULL;
	g_autofree char *a = NULL, *b = NULL, *d = NULL, *signers = NULL;

	(void)state;
	git_libgit2_init();
	K.dir = tu_mkdtemp();
	K.gnupg = mkhome("gnupg", NULL);
	K.gnupg_old = mkhome("gnupg-old", "faked-system-time 20200101T000000\n");
	K.gnupg_carol = mkhome("gnupg-carol", NULL);
	gen_pgp(K.gnupg, "Alice <alice@example.org>", "1y");
	gen_pgp(K.gnupg, "Bob <bob@example.org>", "1y");
	gen_pgp(K.gnupg, "Mallory <mallory@example.org>", "1y");
	gen_pgp(K.gnupg_old, "Old <old@example.org>", "1d");
	gen_pgp(K.gnupg_carol, "Carol <carol@example.org>", "1y");
	K.alice_fpr = fpr_of(K.gnupg, "alice@example.org");
	gen_pgp(K.gnupg, "Sam <sam@example.org>", "1y");
	K.sam_fpr[0] = fpr_of(K.gnupg, "sam@example.org");
	for (int i = 0; i < 2; i++)
		RUN(NULL, "gpg", "--batch", "--homedir", K.gnupg, "--passphrase", "", "--quick-add-key",
		    K.sam_fpr[0], "ed25519", "sign", "1y");
	{
		g_autofree char *out = RUN_OUT(NULL, "gpg", "--batch", "--homedir", K.gnupg, "--with-colons",
					       "--list-keys", "sam@example.org");
		const char *at = out;

		/* fpr lines: the primary's, then one after each sub line. */
		for (int i = 0; i < 3; i++) {
			at = strstr(at, "\nfpr:::::::::");
			assert_non_null(at);
			at += 13;
			if (i)
				K.sam_fpr[i] = g_strndup(at, 40);
		}
	}
	carol_fpr = fpr_of(K.gnupg_carol, "carol@example.org");
	/* The keyring the verifier gets: everybody's public key but mallory's. */
	carol_pub = g_build_filename(K.dir, "carol.asc", NULL);
	old_pub = g_build_filename(K.dir, "old.asc", NULL);
	RUN(NULL, "gpg", "--batch", "--homedir", K.gnupg_carol, "--armor", "--output", carol_pub, "--export",
	    "carol@example.org");
	RUN(NULL, "gpg", "--batch", "--homedir", K.gnupg_old, "--armor", "--output", old_pub, "--export",
	    "old@example.org");
	RUN(NULL, "gpg", "--batch", "--homedir", K.gnupg, "--import", carol_pub, old_pub);
	revoke_carol(K.gnupg, K.gnupg_carol, carol_fpr);
	K.keyring = g_build_filename(K.dir, "keyring.asc", NULL);
	RUN(NULL, "gpg", "--batch", "--homedir", K.gnupg, "--armor", "--output", K.keyring, "--export",
	    "alice@example.org", "bob@example.org", "old@example.org", "carol@example.org", "sam@example.org");
	K.ssh[SSH_ALICE] = ssh_key("ssh-alice");
	K.ssh[SSH_BOB] = ssh_key("ssh-bob");
	K.ssh[SSH_MALLORY] = ssh_key("ssh-mallory");
	K.ssh[SSH_DAVE] = ssh_key("ssh-dave");
	a = pub_of(K.ssh[SSH_ALICE]);
	b = pub_of(K.ssh[SSH_BOB]);
	d = pub_of(K.ssh[SSH_DAVE]);
	signers = g_strdup_printf("# who may sign the fleet's specs\n"
				  "alice@example.org namespaces=\"git\" %s\n"
				  "bob@example.org namespaces=\"git\" %s\n"
				  "dave@example.org namespaces=\"git\",valid-before=\"20200101\" %s\n", a, b, d);
	K.allowed = g_build_filename(K.dir, "allowed_signers", NULL);
	tu_write(K.allowed, signers);
	return 0;
}

static int
keys_drop(void **state)
{
	(void)state;
	/* Signing started a gpg-agent in each home: stop them before the
	 * folders go. */
	RUN(NULL, "gpgconf", "--homedir", K.gnupg, "--kill", "all");
	RUN(NULL, "gpgconf", "--homedir", K.gnupg_old, "--kill", "all");
	RUN(NULL, "gpgconf", "--homedir", K.gnupg_carol, "--kill", "all");
	tu_rmtree(K.dir);
	g_free(K.dir);
	g_free(K.gnupg);
	g_free(K.gnupg_old);
	g_free(K.gnupg_carol);
	g_free(K.keyring);
	g_free(K.alice_fpr);
	for (guint i = 0; i < G_N_ELEMENTS(K.sam_fpr); i++)
		g_free(K.sam_fpr[i]);
	g_free(K.allowed);
	for (guint i = 0; i < G_N_ELEMENTS(K.ssh); i++)
		g_free(K.ssh[i]);
	memset(&K, 0, sizeof(K));
	return 0;
}

/* ---- repositories ------------------------------------------------------- */

typedef enum { SIGN_NONE, SIGN_PGP, SIGN_SSH } sign_kind;

typedef struct {
	sign_kind kind;
	const char *home;   /* PGP: GNUPGHOME */
	const char *who;    /* PGP: the key's email; SSH: a K.ssh key */
} signing;

static const signing unsigned_ = { SIGN_NONE, NULL, NULL };

static signing
pgp(const char *who)
{
	return (signing){ SIGN_PGP, K.gnupg, who };
}

static signing
ssh(int which)
{
	return (signing){ SIGN_SSH, NULL, K.ssh[which] };
}

static char *
repo_new(void)
{
	char *dir = tu_mkdtemp();

	RUN(NULL, "git", "init", "-q", "-b", "main", dir);
	return dir;
}

static void
git_signed(const char *repo, signing s, const char *const *tail)
{
	const char *env[] = { "GNUPGHOME", s.home ? s.home : K.gnupg, NULL };
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *key = NULL;

	g_ptr_array_add(argv, g_strdup("git"));
	g_ptr_array_add(argv, g_strdup("-C"));
	g_ptr_array_add(argv, g_strdup(repo));
	g_ptr_array_add(argv, g_strdup("-c"));
	g_ptr_array_add(argv, g_strdup("user.name=Test Operator"));
	g_ptr_array_add(argv, g_strdup("-c"));
	g_ptr_array_add(argv, g_strdup("user.email=op@example.invalid"));
	if (s.kind == SIGN_SSH) {
		g_ptr_array_add(argv, g_strdup("-c"));
		g_ptr_array_add(argv, g_strdup("gpg.format=ssh"));
		key = g_strconcat(s.who, ".pub", NULL);
	} else if (s.kind == SIGN_PGP) {
		key = g_strdup(s.who);
	}
	if (key) {
		g_ptr_array_add(argv, g_strdup("-c"));
		g_ptr_array_add(argv, g_strdup_printf("user.signingkey=%s", key));
	}
	for (guint i = 0; tail[i]; i++)
		g_ptr_array_add(argv, g_strdup(tail[i]));
	g_ptr_array_add(argv, NULL);
	g_free(run_env(env, (const char *const *)argv->pdata));
}

/* Commit a change to spec.yaml, signed as @s; its id. */
static char *
commit(const char *repo, signing s, const char *text)
{
	g_autofree char *file = g_build_filename(repo, "spec.yaml", NULL);
	const char *sign = s.kind == SIGN_NONE ? "--no-gpg-sign" : "-S";

	tu_write(file, text);
	git_signed(repo, s, (const char *const[]){ "add", "spec.yaml", NULL });
	git_signed(repo, s, (const char *const[]){ "commit", "-q", sign, "-m", text, NULL });
	return g_strchomp(RUN_OUT(NULL, "git", "-C", repo, "rev-parse", "HEAD"));
}

static char *
commit_n(const char *repo, signing s, int n)
{
	g_autofree char *text = g_strdup_printf("# change %d\n", n);

	return commit(repo, s, text);
}

/* An annotated tag @name on HEAD, signed as @s (or not). */
static void
tag(const char *repo, signing s, const char *name)
{
	if (s.kind == SIGN_NONE)
		git_signed(repo, s, (const char *const[]){ "tag", "-a", "-m", name, name, NULL });
	else
		git_signed(repo, s, (const char *const[]){ "tag", "-s", "-m", name, name, NULL });
}

typedef struct {
	verify_mode mode;
	bool pgp;                   /* with the keyring */
	bool ssh;                   /* with the allowed signers */
	const char *const *signers;
	const char *pattern;
	unsigned timeout_s;
	const char *gnupghome;
} setup;

static verifier *
verifier_for(setup s)
{
	verify_options o = { .mode = s.mode, .keyring = s.pgp ? K.keyring : NULL,
			     .allowed_signers = s.ssh ? K.allowed : NULL, .signers = s.signers,
			     .tag_pattern = s.pattern, .timeout_s = s.timeout_s, .gnupghome = s.gnupghome };
	g_autoptr(GError) err = NULL;
	verifier *v = verifier_new(&o, &err);

	if (!v)
		fail_msg("verifier_new: %s", err->message);
	return v;
}

/* Judge the repository's branch (or newest tag) against @old. */
static void
judge(setup s, const char *repo, const char *old, verify_verdict *vd)
{
	verifier *v = verifier_for(s);
	git_repository *r = NULL;
	g_autofree char *target = NULL, *ref = NULL;
	g_autoptr(GError) err = NULL;

	assert_int_equal(git_repository_open(&r, repo), 0);
	if (!verifier_target(v, r, "refs/heads/main", &target, &ref, &err))
		fail_msg("verifier_target: %s", err->message);
	verifier_verify(v, r, old, target, ref, vd);
	git_repository_free(r);
	verifier_free(v);
}

#define HEAD_PGP ((setup){ .mode = VERIFY_HEAD, .pgp = true })
#define HEAD_SSH ((setup){ .mode = VERIFY_HEAD, .ssh = true })
#define HEAD_BOTH ((setup){ .mode = VERIFY_HEAD, .pgp = true, .ssh = true })
#define RANGE_BOTH ((setup){ .mode = VERIFY_RANGE, .pgp = true, .ssh = true })

static void
assert_refused(const verify_verdict *vd, const char *commit_id, const char *why)
{
	if (vd->ok || !vd->reason || !strstr(vd->reason, why))
		fail_msg("expected a refusal saying \"%s\", got %s: %s", why, vd->ok ? "ok" : "refused",
			 vd->reason ? vd->reason : "(no reason)");
	if (commit_id)
		assert_string_equal(vd->commit, commit_id);
}

/* ---- accepted ----------------------------------------------------------- */

static void
test_verify__a_head_signed_with_openpgp_is_accepted(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL, *c2 = NULL;
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, unsigned_, 1);
	c2 = commit_n(repo, pgp("alice@example.org"), 2);
	judge(HEAD_PGP, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_null(vd.reason);
	assert_string_equal(vd.commit, c2);
	assert_string_equal(vd.target, c2);
	assert_string_equal(vd.key_id, K.alice_fpr);
	assert_string_equal(vd.signer, "alice@example.org");
	assert_int_equal(vd.checked, 1);
	verify_verdict_release(&vd);
	/* The same commit, with an allowlist naming alice's fingerprint. */
	{
		const char *const only[] = { K.alice_fpr, NULL };

		judge((setup){ .mode = VERIFY_HEAD, .pgp = true, .signers = only }, repo, NULL, &vd);
		assert_true(vd.ok);
		assert_string_equal(vd.signer, K.alice_fpr);
		verify_verdict_release(&vd);
	}
	tu_rmtree(repo);
}

static void
test_verify__a_head_signed_with_ssh_is_accepted(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL, *pub = NULL;
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, ssh(SSH_ALICE), 1);
	judge(HEAD_SSH, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.commit, c1);
	assert_string_equal(vd.signer, "alice@example.org");
	assert_non_null(vd.key_id);
	assert_true(g_str_has_prefix(vd.key_id, "SHA256:"));
	verify_verdict_release(&vd);
	/* Both kinds configured: the SSH one still answers for an SSH signature. */
	judge(HEAD_BOTH, repo, NULL, &vd);
	assert_true(vd.ok);
	verify_verdict_release(&vd);
	/* Without the allowed signers, an SSH signature cannot be judged. */
	judge(HEAD_PGP, repo, NULL, &vd);
	assert_refused(&vd, c1, "no --verify-allowed-signers");
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

static void
test_verify__a_signed_range_is_accepted(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *base = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
	verify_verdict vd;

	(void)state;
	base = commit_n(repo, unsigned_, 1);  /* before verification began */
	c2 = commit_n(repo, pgp("alice@example.org"), 2);
	c3 = commit_n(repo, ssh(SSH_BOB), 3);
	c4 = commit_n(repo, pgp("bob@example.org"), 4);
	judge(RANGE_BOTH, repo, base, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.commit, c4);
	assert_int_equal(vd.checked, 3);
	verify_verdict_release(&vd);
	/* A first run (nothing verified yet) judges the head alone: the
	 * unsigned base does not count. */
	judge(RANGE_BOTH, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_int_equal(vd.checked, 1);
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

/* ---- refused ------------------------------------------------------------ */

/* A push longer than VERIFY_RANGE_MAX is refused before any is checked
 * (the commits made with libgit2: a thousand runs of git would be slow). */
static void
test_verify__a_range_too_long_is_refused_whole(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *base = NULL;
	git_repository *r = NULL;
	git_signature *who = NULL;
	git_commit *parent = NULL;
	git_tree *tree = NULL;
	git_oid id;
	verify_verdict vd;

	(void)state;
	base = commit_n(repo, pgp("alice@example.org"), 1);
	assert_int_equal(git_repository_open(&r, repo), 0);
	assert_int_equal(git_signature_now(&who, "Test Operator", "op@example.invalid"), 0);
	assert_int_equal(git_oid_fromstr(&id, base), 0);
	for (guint i = 0; i <= VERIFY_RANGE_MAX; i++) {
		g_autofree char *msg = g_strdup_printf("unsigned %u", i);

		assert_int_equal(git_commit_lookup(&parent, r, &id), 0);
		assert_int_equal(git_commit_tree(&tree, parent), 0);
		assert_int_equal(git_commit_create_v(&id, r, "refs/heads/main", who, who, NULL, msg, tree, 1,
						     parent), 0);
		git_tree_free(tree);
		git_commit_free(parent);
	}
	git_signature_free(who);
	git_repository_free(r);
	judge(RANGE_BOTH, repo, base, &vd);
	assert_refused(&vd, NULL, "more than 1000 new commits");
	assert_int_equal(vd.checked, 0);
	verify_verdict_release(&vd);
	/* One fewer is checked, and the first unsigned one named. */
	RUN(NULL, "git", "-C", repo, "update-ref", "refs/heads/main", "main~1");
	judge(RANGE_BOTH, repo, base, &vd);
	assert_refused(&vd, NULL, "the commit is not signed");
	assert_int_equal(vd.checked, 1);
	{
		g_autofree char *range = g_strdup_printf("%s..main", base);
		g_autofree char *list = RUN_OUT(NULL, "git", "-C", repo, "rev-list", "--reverse", range);

		assert_int_equal(strlen(list), (GIT_OID_HEXSZ + 1) * VERIFY_RANGE_MAX);
		list[GIT_OID_HEXSZ] = '\0';  /* the oldest, the base's child */
		assert_string_equal(vd.commit, list);
	}
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

static void
test_verify__an_unsigned_commit_under_a_signed_head(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL;
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, pgp("alice@example.org"), 1);
	c2 = commit_n(repo, unsigned_, 2);
	c3 = commit_n(repo, pgp("alice@example.org"), 3);
	/* Range mode refuses, naming the unsigned commit. */
	judge(RANGE_BOTH, repo, c1, &vd);
	assert_refused(&vd, c2, "not signed");
	assert_string_equal(vd.target, c3);
	verify_verdict_release(&vd);
	/* Head mode looks at the head only, and accepts. */
	judge(HEAD_BOTH, repo, c1, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.commit, c3);
	verify_verdict_release(&vd);
	/* An unsigned head is refused in either. */
	{
		g_autofree char *c4 = commit_n(repo, unsigned_, 4);

		judge(HEAD_BOTH, repo, c3, &vd);
		assert_refused(&vd, c4, "the commit is not signed");
		verify_verdict_release(&vd);
	}
	tu_rmtree(repo);
}

static void
test_verify__a_force_push_judges_what_the_last_verified_does_not_reach(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
	verify_verdict vd;

	(void)state;
	a = commit_n(repo, pgp("alice@example.org"), 1);
	b = commit_n(repo, pgp("alice@example.org"), 2);
	/* Rewritten from a: c unsigned, d signed; b (verified) is no ancestor. */
	RUN(NULL, "git", "-C", repo, "reset", "-q", "--hard", a);
	c = commit_n(repo, unsigned_, 3);
	d = commit_n(repo, ssh(SSH_ALICE), 4);
	judge(RANGE_BOTH, repo, b, &vd);
	assert_refused(&vd, c, "not signed");
	verify_verdict_release(&vd);
	/* Rewritten again, every new commit signed: accepted, a not judged
	 * again (b reaches it). */
	RUN(NULL, "git", "-C", repo, "reset", "-q", "--hard", a);
	g_free(c);
	g_free(d);
	c = commit_n(repo, ssh(SSH_BOB), 5);
	d = commit_n(repo, pgp("bob@example.org"), 6);
	judge(RANGE_BOTH, repo, b, &vd);
	assert_true(vd.ok);
	assert_int_equal(vd.checked, 2);
	assert_string_equal(vd.commit, d);
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

static void
test_verify__an_expired_key_is_refused(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL;
	verify_verdict vd;

	(void)state;
	/* Signed in 2020 with a key that expired a day later. */
	c1 = commit_n(repo, (signing){ SIGN_PGP, K.gnupg_old, "old@example.org" }, 1);
	judge(HEAD_PGP, repo, NULL, &vd);
	assert_refused(&vd, c1, "has expired");
	assert_non_null(vd.key_id);
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

static void
test_verify__a_revoked_key_is_refused(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL;
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, (signing){ SIGN_PGP, K.gnupg_carol, "carol@example.org" }, 1);
	judge(HEAD_PGP, repo, NULL, &vd);
	assert_refused(&vd, c1, "revoked");
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

static void
test_verify__keys_not_allowed_are_refused(void **state)
{
	g_autofree char *repo = repo_new();
	const char *const only_alice[] = { "alice@example.org", NULL };
	const setup alice_only = { .mode = VERIFY_HEAD, .pgp = true, .ssh = true, .signers = only_alice };
	verify_verdict vd;

	(void)state;
	/* OpenPGP: a key not in the keyring. */
	g_free(commit_n(repo, pgp("mallory@example.org"), 1));
	judge(HEAD_BOTH, repo, NULL, &vd);
	assert_refused(&vd, NULL, "not in --verify-keyring");
	verify_verdict_release(&vd);
	/* SSH: a key not in the allowed signers. */
	g_free(commit_n(repo, ssh(SSH_MALLORY), 2));
	judge(HEAD_BOTH, repo, NULL, &vd);
	assert_refused(&vd, NULL, "not allowed by --verify-allowed-signers");
	assert_true(g_str_has_prefix(vd.key_id, "SHA256:"));
	verify_verdict_release(&vd);
	/* SSH: a key allowed only before 2020, signing now. */
	g_free(commit_n(repo, ssh(SSH_DAVE), 3));
	judge(HEAD_BOTH, repo, NULL, &vd);
	assert_refused(&vd, NULL, "not allowed by --verify-allowed-signers");
	assert_non_null(strstr(vd.reason, "valid-before"));
	verify_verdict_release(&vd);
	/* Both kinds: in the files, not in the allowlist. */
	g_free(commit_n(repo, pgp("bob@example.org"), 4));
	judge(HEAD_BOTH, repo, NULL, &vd);
	assert_true(vd.ok);
	verify_verdict_release(&vd);
	judge(alice_only, repo, NULL, &vd);
	assert_refused(&vd, NULL, "bob@example.org, whose key is in the keyring but not among --verify-signer");
	verify_verdict_release(&vd);
	g_free(commit_n(repo, ssh(SSH_BOB), 5));
	judge(HEAD_BOTH, repo, NULL, &vd);
	assert_true(vd.ok);
	verify_verdict_release(&vd);
	judge(alice_only, repo, NULL, &vd);
	assert_refused(&vd, NULL, "signed by bob@example.org, not among --verify-signer");
	verify_verdict_release(&vd);
	/* And alice passes the same allowlist, both ways. */
	g_free(commit_n(repo, ssh(SSH_ALICE), 6));
	judge(alice_only, repo, NULL, &vd);
	assert_true(vd.ok);
	verify_verdict_release(&vd);
	g_free(commit_n(repo, pgp("alice@example.org"), 7));
	judge(alice_only, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.signer, "alice@example.org");
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

/* A commit whose signed bytes were changed after signing (the signature
 * copied onto another commit) is a bad signature, not an unsigned one. */
static void
test_verify__a_signature_over_other_bytes_is_refused(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL, *raw = NULL, *forged = NULL, *path = NULL, *id = NULL;
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, pgp("alice@example.org"), 1);
	raw = RUN_OUT(NULL, "git", "-C", repo, "cat-file", "commit", c1);
	path = g_build_filename(repo, "forged", NULL);
	{
		/* the same headers and signature, another message */
		char *msg = strstr(raw, "\n\n");

		assert_non_null(msg);
		msg[2] = '\0';
		forged = g_strconcat(raw, "deploy mallory's VM\n", NULL);
	}
	tu_write(path, forged);
	id = g_strchomp(RUN_OUT(NULL, "git", "-C", repo, "hash-object", "-t", "commit", "-w", path));
	RUN(NULL, "git", "-C", repo, "update-ref", "refs/heads/main", id);
	judge(HEAD_PGP, repo, NULL, &vd);
	assert_refused(&vd, id, "bad OpenPGP signature");
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

/* ---- tags --------------------------------------------------------------- */

static void
test_verify__a_signed_tag_on_an_unsigned_commit_in_tag_mode_only(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL, *c2 = NULL, *c3 = NULL;
	const setup tags = { .mode = VERIFY_TAG, .pgp = true, .ssh = true, .pattern = "v*" };
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, unsigned_, 1);
	tag(repo, pgp("alice@example.org"), "v1");
	judge(tags, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.commit, c1);
	assert_string_equal(vd.tag, "v1");
	assert_string_equal(vd.signer, "alice@example.org");
	assert_string_not_equal(vd.target, c1);  /* the tag object was judged */
	verify_verdict_release(&vd);
	/* The same unsigned commit is refused by head and range. */
	judge(HEAD_BOTH, repo, NULL, &vd);
	assert_refused(&vd, c1, "not signed");
	verify_verdict_release(&vd);
	judge(RANGE_BOTH, repo, NULL, &vd);
	assert_refused(&vd, c1, "not signed");
	verify_verdict_release(&vd);
	/* A newer tag outside the pattern changes nothing; a newer one inside
	 * it, signed by SSH, is the one applied.  Tagger times are seconds:
	 * wait for the next one. */
	c2 = commit_n(repo, unsigned_, 2);
	sleep(1);
	tag(repo, unsigned_, "scratch");
	judge(tags, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.tag, "v1");
	verify_verdict_release(&vd);
	sleep(1);
	tag(repo, ssh(SSH_BOB), "v2");
	judge(tags, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.tag, "v2");
	assert_string_equal(vd.commit, c2);
	assert_string_equal(vd.signer, "bob@example.org");
	verify_verdict_release(&vd);
	/* The newest matching tag unsigned, or by a stranger: refused, even
	 * with a signed older one there. */
	sleep(1);
	tag(repo, unsigned_, "v3");
	judge(tags, repo, NULL, &vd);
	assert_refused(&vd, c2, "the tag is not signed");
	assert_string_equal(vd.tag, "v3");
	verify_verdict_release(&vd);
	sleep(1);
	tag(repo, ssh(SSH_MALLORY), "v4");
	judge(tags, repo, NULL, &vd);
	assert_refused(&vd, c2, "not allowed by --verify-allowed-signers");
	verify_verdict_release(&vd);
	/* A lightweight tag counts by its commit's time: a newer commit. */
	sleep(1);
	c3 = commit_n(repo, pgp("alice@example.org"), 3);
	RUN(NULL, "git", "-C", repo, "tag", "v5");
	judge(tags, repo, NULL, &vd);
	assert_refused(&vd, c3, "lightweight");
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

/*
 * A pusher without alice's key copies her signed tag dev-42 (on an
 * experimental commit) to refs/tags/release-2: the pattern release-*
 * matches the ref, but the signed object says it is dev-42.
 */
static void
test_verify__a_signed_tag_copied_under_another_name_is_refused(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL, *c2 = NULL, *dev = NULL;
	const setup releases = { .mode = VERIFY_TAG, .pgp = true, .ssh = true, .pattern = "release-*" };
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, unsigned_, 1);
	tag(repo, pgp("alice@example.org"), "release-1");
	sleep(1);
	c2 = commit_n(repo, unsigned_, 2);  /* experimental */
	tag(repo, pgp("alice@example.org"), "dev-42");
	judge(releases, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.tag, "release-1");
	assert_string_equal(vd.ref, "refs/tags/release-1");
	assert_string_equal(vd.commit, c1);
	verify_verdict_release(&vd);
	dev = g_strchomp(RUN_OUT(NULL, "git", "-C", repo, "rev-parse", "refs/tags/dev-42"));
	RUN(NULL, "git", "-C", repo, "update-ref", "refs/tags/release-2", dev);
	judge(releases, repo, NULL, &vd);
	assert_refused(&vd, c2, "holds a tag object named 'dev-42', not 'release-2'");
	assert_string_equal(vd.tag, "release-2");
	assert_string_equal(vd.ref, "refs/tags/release-2");
	assert_string_equal(vd.target, dev);
	assert_false(vd.unchecked);
	verify_verdict_release(&vd);
	/* The same tag object under its own name is fine. */
	RUN(NULL, "git", "-C", repo, "update-ref", "-d", "refs/tags/release-2");
	judge((setup){ .mode = VERIFY_TAG, .pgp = true, .pattern = "dev-*" }, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.commit, c2);
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

/* Naming one subkey's fingerprint admits that subkey, not its siblings;
 * the primary's admits them all. */
static void
test_verify__a_subkey_fingerprint_admits_that_subkey_only(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *with_second = g_strconcat(K.sam_fpr[2], "!", NULL);
	const char *const first[] = { K.sam_fpr[1], NULL };
	const char *const second[] = { K.sam_fpr[2], NULL };
	const char *const primary[] = { K.sam_fpr[0], NULL };
	verify_verdict vd;

	(void)state;
	g_free(commit_n(repo, pgp(with_second), 1));
	judge((setup){ .mode = VERIFY_HEAD, .pgp = true, .signers = first }, repo, NULL, &vd);
	assert_refused(&vd, NULL, "not among --verify-signer");
	verify_verdict_release(&vd);
	judge((setup){ .mode = VERIFY_HEAD, .pgp = true, .signers = second }, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.signer, K.sam_fpr[2]);
	verify_verdict_release(&vd);
	judge((setup){ .mode = VERIFY_HEAD, .pgp = true, .signers = primary }, repo, NULL, &vd);
	assert_true(vd.ok);
	assert_string_equal(vd.signer, K.sam_fpr[0]);
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

/* A folder holding a fake ssh-keygen: while FOLDER/hang exists it sleeps
 * 100 s, else it runs the real one. */
static char *
fake_ssh_keygen(void)
{
	g_autofree char *real = g_find_program_in_path("ssh-keygen");
	g_autofree char *script = NULL, *path = NULL;
	char *dir = g_build_filename(K.dir, "fakebin", NULL);

	assert_non_null(real);
	g_mkdir(dir, 0700);
	path = g_build_filename(dir, "ssh-keygen", NULL);
	script = g_strdup_printf("#!/bin/sh\nif [ -e '%s/hang' ]; then exec sleep 100; fi\nexec '%s' \"$@\"\n",
				 dir, real);
	tu_write(path, script);
	assert_int_equal(chmod(path, 0755), 0);
	return dir;
}

static char *
path_with(const char *dir)
{
	g_autofree char *old = g_strdup(g_getenv("PATH"));
	g_autofree char *path = g_strconcat(dir, ":", old, NULL);

	g_setenv("PATH", path, TRUE);
	return g_steal_pointer(&old);
}

/*
 * ssh-keygen that does not answer is ended by timeout(1) at the time
 * limit, even though the daemon blocks SIGTERM in every thread (children
 * inherit the mask), and the result is "could not check", no verdict.
 */
static void
test_verify__a_stuck_ssh_keygen_is_ended_and_is_no_verdict(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *bin = fake_ssh_keygen();
	g_autofree char *hang = g_build_filename(bin, "hang", NULL);
	g_autofree char *old_path = NULL;
	sigset_t block, was;
	gint64 t0, took;
	verify_verdict vd;

	(void)state;
	g_free(commit_n(repo, ssh(SSH_ALICE), 1));
	tu_write(hang, "");
	old_path = path_with(bin);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &was);  /* as the daemon does */
	t0 = g_get_monotonic_time();
	judge((setup){ .mode = VERIFY_HEAD, .ssh = true, .timeout_s = 1 }, repo, NULL, &vd);
	took = g_get_monotonic_time() - t0;
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	g_setenv("PATH", old_path, TRUE);
	g_unlink(hang);
	assert_false(vd.ok);
	if (!vd.unchecked || !strstr(vd.reason, "did not answer within 1 s"))
		fail_msg("expected no verdict (timed out), got: %s", vd.reason);
	assert_true(took < 4 * G_USEC_PER_SEC);
	verify_verdict_release(&vd);
	tu_rmtree(repo);
}

/* The private GNUPGHOME where it is asked for (the daemon's beside its
 * database): a stale one removed first, mode 0700, locked while in use,
 * removed at the end. */
static void
test_verify__the_gnupg_home_is_made_where_asked_and_locked(void **state)
{
	g_autofree char *home = g_build_filename(K.dir, "strata.gnupg", NULL);
	g_autofree char *stale = g_build_filename(home, "stale", NULL);
	g_autoptr(GError) err = NULL;
	verify_options o = { .mode = VERIFY_HEAD, .keyring = K.keyring, .gnupghome = home };
	verifier *v, *second;
	struct stat st;

	(void)state;
	assert_int_equal(g_mkdir(home, 0755), 0);
	tu_write(stale, "left by a crash\n");
	v = verifier_new(&o, &err);
	if (!v)
		fail_msg("verifier_new: %s", err->message);
	assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));
	assert_int_equal(stat(home, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	second = verifier_new(&o, &err);
	assert_null(second);
	assert_non_null(strstr(err->message, "in use by another strata"));
	assert_true(g_file_test(home, G_FILE_TEST_IS_DIR));  /* the second did not touch it */
	{
		/* It verifies from there. */
		g_autofree char *repo = repo_new();
		g_autofree char *c1 = commit_n(repo, pgp("alice@example.org"), 1);
		git_repository *r = NULL;
		verify_verdict vd;

		assert_int_equal(git_repository_open(&r, repo), 0);
		verifier_verify(v, r, NULL, c1, "refs/heads/main", &vd);
		assert_true(vd.ok);
		verify_verdict_release(&vd);
		/* Removed under it, then made again empty: gpg would answer "no
		 * public key"; that is no verdict, never a refusal. */
		tu_rmtree(home);
		assert_int_equal(g_mkdir(home, 0700), 0);
		verifier_verify(v, r, NULL, c1, "refs/heads/main", &vd);
		assert_false(vd.ok);
		assert_true(vd.unchecked);
		assert_non_null(strstr(vd.reason, "is gone or replaced"));
		verify_verdict_release(&vd);
		git_repository_free(r);
		tu_rmtree(repo);
	}
	verifier_free(v);
	assert_false(g_file_test(home, G_FILE_TEST_EXISTS));
}

/* An allowed signers file being rewritten (empty for a moment) or gone:
 * no verdict, tried again later; the signature is not refused. */
static void
test_verify__an_allowed_signers_file_being_rewritten_is_no_verdict(void **state)
{
	g_autofree char *repo = repo_new();
	g_autofree char *c1 = NULL, *saved = NULL;
	verify_verdict vd;

	(void)state;
	c1 = commit_n(repo, ssh(SSH_ALICE), 1);
	assert_true(g_file_get_contents(K.allowed, &saved, NULL, NULL));
	{
		verifier *v = verifier_for(HEAD_SSH);
		git_repository *r = NULL;

		assert_int_equal(git_repository_open(&r, repo), 0);
		tu_write(K.allowed, "");
		verifier_verify(v, r, NULL, c1, "refs/heads/main", &vd);
		assert_false(vd.ok);
		assert_true(vd.unchecked);
		assert_non_null(strstr(vd.reason, "is empty now"));
		verify_verdict_release(&vd);
		assert_int_equal(unlink(K.allowed), 0);
		verifier_verify(v, r, NULL, c1, "refs/heads/main", &vd);
		assert_true(vd.unchecked);
		verify_verdict_release(&vd);
		tu_write(K.allowed, saved);
		verifier_verify(v, r, NULL, c1, "refs/heads/main", &vd);
		assert_true(vd.ok);
		verify_verdict_release(&vd);
		git_repository_free(r);
		verifier_free(v);
	}
	tu_rmtree(repo);
}

/* ---- the daemon --------------------------------------------------------- */

static const char *const spec_hosts =
	"kind: host\nname: hv1\nuri: test://" SRCDIR "/examples/webstack/hosts/hv1.xml\n---\n"
	"kind: template\nname: deb\npool: default\nvolume: debian-12.qcow2\nmemory: 512MiB\n---\n"
	"kind: appliance\nname: w\nvms:\n  - {name: a, template: deb}\n";

static void
tick(gpointer data)
{
	(void)data;
}

typedef bool (*daemon_cond)(daemon_state *d);

/* Drive the daemon's loop until @cond holds or @ms pass. */
static bool
drive(daemon_state *d, daemon_cond cond, int ms)
{
	int t = loop_timer(10, tick, NULL);
	gint64 end = g_get_monotonic_time() + (gint64)ms * 1000;
	bool ok;

	while (!(ok = cond && cond(d)) && g_get_monotonic_time() < end)
		daemon_iterate(d);
	loop_timer_remove(t);
	return ok;
}

static JsonObject *
status_of(daemon_state *d, JsonParser *p)
{
	g_autofree char *json = daemon_status_json(d);

	assert_true(json_parser_load_from_data(p, json, -1, NULL));
	return json_node_get_object(json_parser_get_root(p));
}

static char *
status_string(daemon_state *d, const char *object, const char *member)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o = status_of(d, p);
	JsonNode *n;

	for (char **path = g_strsplit(object, ".", -1), **it = path; *it || (g_strfreev(path), 0); it++) {
		n = json_object_get_member(o, *it);
		if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
			g_strfreev(path);
			return NULL;
		}
		o = json_node_get_object(n);
	}
	return g_strdup(json_object_get_string_member_with_default(o, member, NULL));
}

static gint64
verifications(daemon_state *d)
{
	g_autoptr(JsonParser) p = json_parser_new();
	JsonObject *o = status_of(d, p);
	JsonObject *sg = json_object_get_object_member(o, "signatures");

	return json_object_get_int_member(sg, "verifications");
}

static bool
has_revision(daemon_state *d)
{
	return daemon_revision(d) != NULL && daemon_idle(d) && daemon_runs(d) > 0;
}

static bool
has_refusal(daemon_state *d)
{
	g_autofree char *r = status_string(d, "signatures.refused", "commit");

	return r != NULL;
}

static char *want_refused;
static gint64 want_verifications;

static gint64 verifications(daemon_state *d);

static bool
verified_n(daemon_state *d)
{
	return verifications(d) >= want_verifications;
}

static bool
refused_is(daemon_state *d)
{
	g_autofree char *r = status_string(d, "signatures.refused", "commit");

	return g_strcmp0(r, want_refused) == 0;
}

static int
count_rows(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int n = -1;

	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static daemon_state *
daemon_with(const char *repo, const char *db, setup s, unsigned retry_ms)
{
	daemon_options o = { .connect = "test:///default", .debounce_ms = 50, .resync_s = 300,
			     .git_url = repo, .git_branch = "main", .git_interval_s = 3600, .db = db,
			     .verify_retry_ms = retry_ms };
	g_autoptr(GError) err = NULL;
	daemon_state *d;

	o.verifier = verifier_for(s);
	d = daemon_new(&o, &err);
	if (!d)
		fail_msg("daemon_new: %s", err->message);
	return d;
}

static daemon_state *
daemon_on(const char *repo, const char *db, verify_mode mode)
{
	return daemon_with(repo, db, (setup){ .mode = mode, .pgp = true, .ssh = true }, 0);
}

/*
 * The daemon end to end: an unsigned head is not applied, the previous
 * revision stays, history and status say why, and fetching the same head
 * again does not verify it again.  A restart keeps the verified commit in
 * force and the range anchored where it was.
 */
static void
test_verify__the_daemon_keeps_the_last_verified_revision(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *repo = g_build_filename(dir, "repo", NULL);
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autofree char *good = NULL, *bad = NULL, *later = NULL, *rev = NULL, *text = NULL;
	g_autofree char *reason = NULL, *verified = NULL;
	daemon_state *d;

	(void)state;
	RUN(NULL, "git", "init", "-q", "-b", "main", repo);
	good = commit(repo, ssh(SSH_ALICE), spec_hosts);
	d = daemon_on(repo, db, VERIFY_RANGE);
	assert_true(drive(d, has_revision, 10000));
	rev = g_strdup(daemon_revision(d));
	verified = status_string(d, "signatures", "verified");
	assert_string_equal(verified, good);
	assert_int_equal(verifications(d), 1);
	assert_false(has_refusal(d));

	/* An unsigned commit: judged once, refused, not applied. */
	text = g_strconcat(spec_hosts, "  - {name: b, template: deb}\n", NULL);
	bad = commit(repo, unsigned_, text);
	want_refused = bad;
	daemon_reconcile_now(d);
	assert_true(drive(d, refused_is, 10000));
	assert_true(drive(d, has_revision, 10000));
	assert_string_equal(daemon_revision(d), rev);
	reason = status_string(d, "signatures.refused", "reason");
	assert_string_equal(reason, "the commit is not signed");
	g_free(verified);
	verified = status_string(d, "signatures", "verified");
	assert_string_equal(verified, good);
	assert_int_equal(verifications(d), 2);
	/* Fetched again and again: not judged again, not recorded again. */
	daemon_reconcile_now(d);
	drive(d, NULL, 500);
	daemon_reconcile_now(d);
	drive(d, NULL, 500);
	assert_int_equal(verifications(d), 2);
	assert_string_equal(daemon_revision(d), rev);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM signature_checks WHERE ok = 0"), 1);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM signature_checks WHERE ok = 1"), 1);
	{
		g_autofree char *sql = g_strdup_printf(
			"SELECT count(*) FROM signature_checks WHERE ok = 0 AND commit_id = '%s' "
			"AND reason = 'the commit is not signed' AND mode = 'range'", bad);

		assert_int_equal(count_rows(db, sql), 1);
	}
	assert_int_equal(count_rows(db, "SELECT count(*) FROM runs WHERE result = 'refused' "
				    "AND summary LIKE 'signature refused (range): the commit is not signed%'"), 1);
	/* The VM the refused commit adds was never made. */
	assert_int_equal(count_rows(db, "SELECT count(*) FROM ops WHERE vm = 'b'"), 0);

	/* A signed commit on top: a new head, judged again; the range still
	 * holds the unsigned one, so it is refused too. */
	{
		g_autofree char *more = g_strconcat(text, "# signed, on top\n", NULL);

		later = commit(repo, pgp("alice@example.org"), more);
	}
	daemon_reconcile_now(d);
	want_verifications = 3;
	assert_true(drive(d, verified_n, 10000));
	assert_int_equal(verifications(d), 3);
	assert_true(refused_is(d));  /* the commit at fault, not the head */
	assert_true(drive(d, has_revision, 10000));
	assert_int_equal(count_rows(db, "SELECT count(*) FROM signature_checks WHERE ok = 0"), 2);
	assert_string_equal(daemon_revision(d), rev);

	/* A restart: the verified commit is judged again with the keys of
	 * the day and goes in force, the refused head judged once more (the
	 * keys may have changed). */
	daemon_free(d);
	d = daemon_on(repo, db, VERIFY_RANGE);
	assert_true(drive(d, has_revision, 10000));
	assert_string_equal(daemon_revision(d), rev);
	want_verifications = 2;
	assert_true(drive(d, verified_n, 10000));
	assert_true(refused_is(d));
	assert_int_equal(verifications(d), 2);
	/* Head mode, on the same database: the anchor is the range's
	 * verified commit (any mode), and the signed head is judged alone,
	 * and applied. */
	daemon_free(d);
	d = daemon_on(repo, db, VERIFY_HEAD);
	g_free(verified);
	verified = NULL;
	assert_true(drive(d, has_revision, 10000));
	for (gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC; g_get_monotonic_time() < end;) {
		g_free(verified);
		verified = status_string(d, "signatures", "verified");
		if (g_strcmp0(verified, later) == 0)
			break;
		drive(d, NULL, 50);
	}
	assert_string_equal(verified, later);
	assert_true(drive(d, has_revision, 10000));
	assert_string_not_equal(daemon_revision(d), rev);
	assert_false(has_refusal(d));
	/* Refused, then replaced by a signed head: status shows the head's
	 * state, history keeps both. */
	g_free(bad);
	bad = commit(repo, unsigned_, "# not signed\n");
	want_refused = bad;
	daemon_reconcile_now(d);
	assert_true(drive(d, refused_is, 10000));
	g_free(later);
	later = commit(repo, ssh(SSH_ALICE), spec_hosts);
	daemon_reconcile_now(d);
	want_verifications = 4;
	assert_true(drive(d, verified_n, 10000));
	assert_false(has_refusal(d));
	g_free(verified);
	verified = status_string(d, "signatures", "verified");
	assert_string_equal(verified, later);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM signature_checks WHERE ok = 0"), 4);
	daemon_free(d);
	want_refused = NULL;
	tu_rmtree(dir);
}

static bool
no_revision_and_judged(daemon_state *d)
{
	return verifications(d) >= want_verifications && daemon_revision(d) == NULL;
}

static bool
no_refusal(daemon_state *d)
{
	return !has_refusal(d);
}

/*
 * What goes in force at start is the last commit verified for this source
 * in any mode, judged again with the keys given now.  Range mode verified
 * R; a run in head mode applied H; back in range mode, H (not R) is in
 * force while the unsigned commit on top is refused.  Restarted with keys
 * that no longer admit H: nothing is in force.  And a branch reset to the
 * verified commit clears the refusal from status.
 */
static void
test_verify__the_anchor_at_start_is_the_last_verified_judged_again(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *repo = g_build_filename(dir, "repo", NULL);
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autofree char *r = NULL, *h = NULL, *u = NULL, *rev_r = NULL, *rev_h = NULL, *text = NULL;
	g_autofree char *reason = NULL, *verified = NULL;
	daemon_state *d;

	(void)state;
	RUN(NULL, "git", "init", "-q", "-b", "main", repo);
	r = commit(repo, ssh(SSH_ALICE), spec_hosts);
	d = daemon_on(repo, db, VERIFY_RANGE);
	assert_true(drive(d, has_revision, 10000));
	rev_r = g_strdup(daemon_revision(d));
	daemon_free(d);
	text = g_strconcat(spec_hosts, "  - {name: b, template: deb}\n", NULL);
	h = commit(repo, pgp("alice@example.org"), text);
	d = daemon_on(repo, db, VERIFY_HEAD);
	want_verifications = 2;  /* r again at start, then h */
	assert_true(drive(d, verified_n, 10000));
	assert_true(drive(d, has_revision, 10000));
	verified = status_string(d, "signatures", "verified");
	assert_string_equal(verified, h);
	rev_h = g_strdup(daemon_revision(d));
	assert_string_not_equal(rev_h, rev_r);
	daemon_free(d);

	/* Back in range mode, an unsigned commit on top. */
	u = commit(repo, unsigned_, "# not signed\n");
	d = daemon_on(repo, db, VERIFY_RANGE);
	want_refused = u;
	assert_true(drive(d, refused_is, 10000));
	assert_true(drive(d, has_revision, 10000));
	assert_string_equal(daemon_revision(d), rev_h);
	g_free(verified);
	verified = status_string(d, "signatures", "verified");
	assert_string_equal(verified, h);
	/* Nothing of R's was applied again: the VM b that H adds stays. */
	assert_int_equal(count_rows(db, "SELECT count(*) FROM ops WHERE vm = 'b' AND kind LIKE '%undefine%'"), 0);
	/* The branch reset to the verified commit: the refusal is history's. */
	RUN(NULL, "git", "-C", repo, "update-ref", "refs/heads/main", h);
	daemon_reconcile_now(d);
	assert_true(drive(d, no_refusal, 10000));
	assert_string_equal(daemon_revision(d), rev_h);
	daemon_free(d);

	/* OpenPGP no longer given: H (signed with it) is not in force, nor is
	 * anything else. */
	RUN(NULL, "git", "-C", repo, "update-ref", "refs/heads/main", u);
	d = daemon_with(repo, db, (setup){ .mode = VERIFY_RANGE, .ssh = true }, 0);
	want_verifications = 2;  /* h at start, then u */
	assert_true(drive(d, no_revision_and_judged, 10000));
	drive(d, NULL, 500);
	assert_null(daemon_revision(d));
	assert_int_equal(daemon_runs(d), 0);
	assert_null(status_string(d, "signatures", "verified"));
	daemon_free(d);
	{
		g_autofree char *sql = g_strdup_printf(
			"SELECT count(*) FROM signature_checks WHERE ok = 0 AND commit_id = '%s' AND "
			"reason LIKE 'signed with OpenPGP, and no --verify-keyring was given'", h);

		assert_int_equal(count_rows(db, sql), 1);
	}
	want_refused = NULL;
	tu_rmtree(dir);
}

static bool
has_unchecked(daemon_state *d)
{
	g_autofree char *c = status_string(d, "signatures.unchecked", "commit");

	return c != NULL;
}

static bool
verified_and_applied(daemon_state *d)
{
	g_autofree char *v = status_string(d, "signatures", "verified");

	return v && has_revision(d);
}

/*
 * A check that could not be made (ssh-keygen stuck past its time limit)
 * is recorded, shown, not remembered as a refusal, and tried again at a
 * later fetch, where it verifies.
 */
static void
test_verify__the_daemon_tries_again_what_it_could_not_check(void **state)
{
	g_autofree char *dir = tu_mkdtemp();
	g_autofree char *repo = g_build_filename(dir, "repo", NULL);
	g_autofree char *db = g_build_filename(dir, "strata.db", NULL);
	g_autofree char *bin = fake_ssh_keygen();
	g_autofree char *hang = g_build_filename(bin, "hang", NULL);
	g_autofree char *good = NULL, *old_path = NULL, *reason = NULL;
	daemon_state *d;

	(void)state;
	RUN(NULL, "git", "init", "-q", "-b", "main", repo);
	good = commit(repo, ssh(SSH_ALICE), spec_hosts);
	tu_write(hang, "");
	old_path = path_with(bin);
	d = daemon_with(repo, db, (setup){ .mode = VERIFY_RANGE, .ssh = true, .timeout_s = 1 }, 200);
	assert_true(drive(d, has_unchecked, 5000));
	reason = status_string(d, "signatures.unchecked", "reason");
	assert_non_null(strstr(reason, "did not answer within 1 s"));
	assert_false(has_refusal(d));
	assert_null(daemon_revision(d));
	assert_int_equal(count_rows(db, "SELECT count(*) FROM signature_checks WHERE unchecked = 1 AND ok = 0"), 1);
	assert_int_equal(count_rows(db, "SELECT count(*) FROM runs WHERE result = 'refused'"), 0);
	/* Working again: the next fetch after the backoff checks it. */
	g_unlink(hang);
	drive(d, NULL, 300);
	daemon_reconcile_now(d);
	assert_true(drive(d, verified_and_applied, 10000));
	assert_false(has_unchecked(d));
	assert_false(has_refusal(d));
	daemon_free(d);
	g_setenv("PATH", old_path, TRUE);
	tu_rmtree(dir);
}

/* ---- bad configuration -------------------------------------------------- */

static void
assert_config_error(const verify_options *o, const char *needle)
{
	g_autoptr(GError) err = NULL;
	verifier *v = verifier_new(o, &err);

	assert_null(v);
	assert_non_null(err);
	assert_true(g_error_matches(err, VERIFY_ERROR, VERIFY_ERROR_CONFIG));
	if (!strstr(err->message, needle))
		fail_msg("expected \"%s\" in: %s", needle, err->message);
}

static void
test_verify__bad_configuration_is_a_usage_error(void **state)
{
	g_autofree char *garbage = g_build_filename(K.dir, "garbage.asc", NULL);
	g_autofree char *empty = g_build_filename(K.dir, "empty_signers", NULL);
	verify_mode m;

	(void)state;
	tu_write(garbage, "this is not a key\n");
	tu_write(empty, "# nobody yet\n\n");
	assert_false(verify_mode_parse("heads", &m));
	assert_false(verify_mode_parse("", &m));
	assert_true(verify_mode_parse("range", &m));
	assert_int_equal(m, VERIFY_RANGE);
	assert_config_error(&(verify_options){ .mode = VERIFY_HEAD, .keyring = "/nonexistent/keys.asc" },
			    "--verify-keyring /nonexistent/keys.asc: No such file or directory");
	assert_config_error(&(verify_options){ .mode = VERIFY_HEAD, .keyring = garbage },
			    "holds no OpenPGP public key");
	assert_config_error(&(verify_options){ .mode = VERIFY_HEAD, .keyring = K.dir }, "not a regular file");
	assert_config_error(&(verify_options){ .mode = VERIFY_HEAD, .allowed_signers = "/nonexistent/allowed" },
			    "--verify-allowed-signers /nonexistent/allowed: No such file or directory");
	assert_config_error(&(verify_options){ .mode = VERIFY_HEAD, .allowed_signers = empty }, "names no signer");
	assert_config_error(&(verify_options){ .mode = VERIFY_RANGE }, "needs the keys that may sign");
	assert_config_error(&(verify_options){ .mode = VERIFY_OFF, .keyring = K.keyring },
			    "need --verify head, range or tag");
	assert_config_error(&(verify_options){ .mode = VERIFY_HEAD, .keyring = K.keyring, .tag_pattern = "v*" },
			    "--verify tag only");
}

/* The same at the command line: exit 64, the file named, no crash. */
static void
test_verify__strata_watch_refuses_bad_flags_with_64(void **state)
{
	g_autofree char *db = g_build_filename(K.dir, "cli.db", NULL);
	tu_result r;

	(void)state;
	r = TU_RUN(NULL, "watch", "--db", db, "--git", K.dir, "--verify", "sometimes", "--verify-keyring",
		   K.keyring);
	assert_int_equal(r.status, 64);
	assert_non_null(strstr(r.err, "--verify: 'sometimes' is not a mode: use head, range or tag"));
	tu_result_release(&r);
	r = TU_RUN(NULL, "watch", "--db", db, "--git", K.dir, "--verify", "head", "--verify-keyring",
		   "/nonexistent/keys.asc");
	assert_int_equal(r.status, 64);
	assert_non_null(strstr(r.err, "/nonexistent/keys.asc"));
	tu_result_release(&r);
	r = TU_RUN(NULL, "watch", "--db", db, "--git", K.dir, "--verify", "range", "--verify-allowed-signers",
		   "/nonexistent/allowed");
	assert_int_equal(r.status, 64);
	assert_non_null(strstr(r.err, "/nonexistent/allowed"));
	tu_result_release(&r);
	r = TU_RUN(NULL, "watch", "--db", db, K.dir, "--verify", "head", "--verify-keyring", K.keyring);
	assert_int_equal(r.status, 64);
	assert_non_null(strstr(r.err, "--verify needs --git"));
	tu_result_release(&r);
	/* Nothing was started: no database. */
	assert_false(g_file_test(db, G_FILE_TEST_EXISTS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify__a_head_signed_with_openpgp_is_accepted),
		cmocka_unit_test(test_verify__a_head_signed_with_ssh_is_accepted),
		cmocka_unit_test(test_verify__a_signed_range_is_accepted),
		cmocka_unit_test(test_verify__an_unsigned_commit_under_a_signed_head),
		cmocka_unit_test(test_verify__a_range_too_long_is_refused_whole),
		cmocka_unit_test(test_verify__a_force_push_judges_what_the_last_verified_does_not_reach),
		cmocka_unit_test(test_verify__an_expired_key_is_refused),
		cmocka_unit_test(test_verify__a_revoked_key_is_refused),
		cmocka_unit_test(test_verify__keys_not_allowed_are_refused),
		cmocka_unit_test(test_verify__a_signature_over_other_bytes_is_refused),
		cmocka_unit_test(test_verify__a_signed_tag_on_an_unsigned_commit_in_tag_mode_only),
		cmocka_unit_test(test_verify__a_signed_tag_copied_under_another_name_is_refused),
		cmocka_unit_test(test_verify__a_subkey_fingerprint_admits_that_subkey_only),
		cmocka_unit_test(test_verify__a_stuck_ssh_keygen_is_ended_and_is_no_verdict),
		cmocka_unit_test(test_verify__the_gnupg_home_is_made_where_asked_and_locked),
		cmocka_unit_test(test_verify__an_allowed_signers_file_being_rewritten_is_no_verdict),
		cmocka_unit_test(test_verify__the_daemon_keeps_the_last_verified_revision),
		cmocka_unit_test(test_verify__the_anchor_at_start_is_the_last_verified_judged_again),
		cmocka_unit_test(test_verify__the_daemon_tries_again_what_it_could_not_check),
		cmocka_unit_test(test_verify__bad_configuration_is_a_usage_error),
		cmocka_unit_test(test_verify__strata_watch_refuses_bad_flags_with_64),
	};

	tu_chdir_srcdir();
	return cmocka_run_group_tests(tests, keys_make, keys_drop);
}
