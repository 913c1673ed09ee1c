/*
 * source_verify.c - signed commits and tags of a Git source
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gpgme.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "source_verify.h"

G_DEFINE_QUARK(strata-verify-error-quark, verify_error)

#define DEFAULT_TIMEOUT_S 30
#define PGP_BEGIN "-----BEGIN PGP SIGNATURE-----"
#define SSH_BEGIN "-----BEGIN SSH SIGNATURE-----"

struct verifier {
	verify_mode mode;
	char *keyring;
	char *allowed_signers;
	char **signers;          /* NULL: no allowlist */
	char *tag_pattern;
	unsigned timeout_s;
	char *gnupghome;         /* ours, made and removed here */
	int home_fd;             /* @gnupghome opened and flock'ed, or -1 */
};

static const char *const mode_names[] = {
	[VERIFY_OFF] = "off",
	[VERIFY_HEAD] = "head",
	[VERIFY_RANGE] = "range",
	[VERIFY_TAG] = "tag",
};

bool
verify_mode_parse(const char *name, verify_mode *mode)
{
	for (guint i = 0; i < G_N_ELEMENTS(mode_names); i++) {
		if (g_strcmp0(name, mode_names[i]) == 0) {
			*mode = (verify_mode)i;
			return true;
		}
	}
	return false;
}

const char *
verify_mode_name(verify_mode mode)
{
	return (guint)mode < G_N_ELEMENTS(mode_names) ? mode_names[mode] : "?";
}

void
verify_verdict_release(verify_verdict *vd)
{
	g_free(vd->target);
	g_free(vd->ref);
	g_free(vd->commit);
	g_free(vd->tag);
	g_free(vd->key_id);
	g_free(vd->signer);
	g_free(vd->reason);
	memset(vd, 0, sizeof(*vd));
}

/* ---- the private GNUPGHOME --------------------------------------------- */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0 && errno != ENOENT)
		g_warning("cannot remove %s: %s", path, g_strerror(errno));
	return 0;
}

static void
rm_tree(const char *path)
{
	if (path)
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Every key in the keyring is the operator's choice, so trust is not
 * asked of gpg's web of trust ("always").  no-autostart: verifying needs
 * no gpg-agent nor dirmngr, and none is left running in the folder we
 * remove; no key is ever fetched from a keyserver.
 */
static const char gpg_conf[] = "trust-model always\nno-autostart\n";

static gpgme_ctx_t
gpg_context(const verifier *v, GError **error)
{
	gpgme_ctx_t ctx = NULL;
	gpgme_error_t e;

	e = gpgme_new(&ctx);
	if (!e)
		e = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP);
	if (!e)
		e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, v->gnupghome);
	if (e) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED,
			    "cannot run gpg through gpgme: %s (is gnupg installed?)", gpgme_strerror(e));
		gpgme_release(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * @path made afresh, mode 0700, and locked (flock on the folder) for as
 * long as the verifier lives.  One left by a daemon that crashed is
 * removed first; one that another strata holds locked is not touched.
 */
static bool
make_home(verifier *v, const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);
			g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED,
				    "%s is in use by another strata (locked)", path);
			return false;
		}
		rm_tree(path);
		close(fd);
	} else if (errno != ENOENT) {
		/* A file or a symlink there: not ours to remove. */
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED,
			    "%s: %s; it should be strata's own folder: remove it", path,
			    errno == ENOTDIR || errno == ELOOP ? "not a folder" : g_strerror(errno));
		return false;
	}
	if (mkdir(path, 0700) < 0) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "cannot make %s: %s", path,
			    g_strerror(errno));
		return false;
	}
	v->home_fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (v->home_fd < 0 || flock(v->home_fd, LOCK_EX | LOCK_NB) < 0) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "cannot lock %s: %s", path,
			    g_strerror(errno));
		return false;
	}
	/* Ours only once locked: verifier_free removes the folder it names,
	 * and one another strata locked between our mkdir and our lock is
	 * that strata's live home. */
	v->gnupghome = g_strdup(path);
	return true;
}

/* Whether the home gpg is pointed at is still the folder this verifier
 * locked: one removed or replaced under it would make gpg answer "no
 * public key", a verdict that is none. */
static bool
home_intact(const verifier *v)
{
	struct stat a, b;

	if (stat(v->gnupghome, &b) != 0 || !S_ISDIR(b.st_mode))
		return false;
	/* A private temporary home (no folder asked for) is not locked. */
	return v->home_fd < 0 ||
	       (fstat(v->home_fd, &a) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino);
}

static bool
import_keyring(verifier *v, const char *home, GError **error)
{
	g_autofree char *conf = NULL;
	gpgme_ctx_t ctx = NULL;
	gpgme_data_t data = NULL;
	gpgme_import_result_t r;
	gpgme_error_t e;
	bool ok = false;

	if (home ? !make_home(v, home, error)
		 : !(v->gnupghome = g_dir_make_tmp("strata-gnupg-XXXXXX", error)))
		return false;
	conf = g_build_filename(v->gnupghome, "gpg.conf", NULL);
	if (!g_file_set_contents(conf, gpg_conf, -1, error))
		return false;
	ctx = gpg_context(v, error);
	if (!ctx)
		return false;
	e = gpgme_data_new_from_file(&data, v->keyring, 1);
	if (e) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_CONFIG,
			    "--verify-keyring %s: cannot read it: %s; give a file of OpenPGP public keys "
			    "(gpg --export --armor KEYID > FILE)", v->keyring, gpgme_strerror(e));
		goto out;
	}
	e = gpgme_op_import(ctx, data);
	r = e ? NULL : gpgme_op_import_result(ctx);
	if (!r || r->imported + r->unchanged == 0) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_CONFIG,
			    "--verify-keyring %s: holds no OpenPGP public key gpg can read%s%s; give a file "
			    "made by 'gpg --export [--armor] KEYID'", v->keyring, e ? ": " : "",
			    e ? gpgme_strerror(e) : "");
		goto out;
	}
	if (r->not_imported)
		g_warning("--verify-keyring %s: %d key%s not imported (gpg could not read or use %s); "
			  "they cannot sign", v->keyring, r->not_imported, r->not_imported == 1 ? " was" : "s were",
			  r->not_imported == 1 ? "it" : "them");
	ok = true;
out:
	gpgme_data_release(data);
	gpgme_release(ctx);
	return ok;
}

/* ---- configuration ------------------------------------------------------ */

static bool
config_error(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool
config_error(GError **error, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error_literal(error, VERIFY_ERROR, VERIFY_ERROR_CONFIG, msg);
	return false;
}

static bool
readable_file(const char *flag, const char *path, const char *what, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool ok;

	if (fd < 0)
		return config_error(error, "%s %s: %s; give the %s file", flag, path, g_strerror(errno), what);
	ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	if (!ok)
		return config_error(error, "%s %s: not a regular file; give the %s file", flag, path, what);
	return true;
}

/* At least one line that is not blank nor a comment, or nobody may sign. */
static bool
check_allowed_signers(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) err = NULL;
	g_auto(GStrv) lines = NULL;

	if (!readable_file("--verify-allowed-signers", path, "SSH allowed signers", error))
		return false;
	if (!g_file_get_contents(path, &text, NULL, &err))
		return config_error(error, "--verify-allowed-signers %s: %s", path, err->message);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i]; i++) {
		const char *l = g_strstrip(lines[i]);

		if (l[0] && l[0] != '#')
			return true;
	}
	return config_error(error, "--verify-allowed-signers %s: names no signer; add lines "
			    "'PRINCIPAL namespaces=\"git\" ssh-ed25519 AAAA…' (ssh-keygen(1), ALLOWED SIGNERS)",
			    path);
}

verifier *
verifier_new(const verify_options *o, GError **error)
{
	g_autoptr(GPtrArray) signers = g_ptr_array_new_with_free_func(g_free);
	verifier *v = g_new0(verifier, 1);

	v->home_fd = -1;
	v->mode = o->mode;
	v->keyring = g_strdup(o->keyring);
	v->allowed_signers = g_strdup(o->allowed_signers);
	v->tag_pattern = g_strdup(o->tag_pattern ? o->tag_pattern : "*");
	v->timeout_s = o->timeout_s ? o->timeout_s : DEFAULT_TIMEOUT_S;
	for (guint i = 0; o->signers && o->signers[i]; i++)
		g_ptr_array_add(signers, g_strdup(o->signers[i]));
	if (signers->len) {
		g_ptr_array_add(signers, NULL);
		v->signers = (char **)g_ptr_array_free(g_steal_pointer(&signers), FALSE);
	}
	if (v->mode == VERIFY_OFF) {
		if (o->keyring || o->allowed_signers || v->signers || o->tag_pattern) {
			config_error(error, "--verify-keyring, --verify-allowed-signers, --verify-signer and "
				     "--verify-tag-pattern need --verify head, range or tag");
			goto fail;
		}
		return v;
	}
	if (!o->keyring && !o->allowed_signers) {
		config_error(error, "--verify %s needs the keys that may sign: --verify-keyring FILE "
			     "(OpenPGP) and/or --verify-allowed-signers FILE (SSH)", verify_mode_name(v->mode));
		goto fail;
	}
	if (o->tag_pattern && v->mode != VERIFY_TAG) {
		config_error(error, "--verify-tag-pattern applies to --verify tag only");
		goto fail;
	}
	if (o->allowed_signers && !check_allowed_signers(o->allowed_signers, error))
		goto fail;
	if (o->keyring) {
		if (!readable_file("--verify-keyring", o->keyring, "OpenPGP public keys", error))
			goto fail;
		if (!gpgme_check_version(NULL)) {
			g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "gpgme cannot be initialised");
			goto fail;
		}
		if (!import_keyring(v, o->gnupghome, error))
			goto fail;
	}
	return v;
fail:
	verifier_free(v);
	return NULL;
}

void
verifier_free(verifier *v)
{
	if (!v)
		return;
	rm_tree(v->gnupghome);
	if (v->home_fd >= 0)
		close(v->home_fd);
	g_free(v->gnupghome);
	g_free(v->keyring);
	g_free(v->allowed_signers);
	g_strfreev(v->signers);
	g_free(v->tag_pattern);
	g_free(v);
}

verify_mode
verifier_mode(const verifier *v)
{
	return v ? v->mode : VERIFY_OFF;
}

bool
verifier_wants_tags(const verifier *v)
{
	return v && v->mode == VERIFY_TAG;
}

/* ---- one signature ------------------------------------------------------ */

/* What a signature covers and when its object says it was made. */
typedef struct {
	const char *sig;
	size_t sig_len;
	const char *data;
	size_t data_len;
	gint64 when;      /* committer or tagger time, Unix seconds */
} signed_blob;

/* The outcome of one signature: ok, or why not. */
typedef struct {
	bool ok;
	bool unchecked;   /* could not check: no verdict (see verify_verdict) */
	char *key_id;
	char *signer;
	char *reason;
} sig_result;

static void
sig_result_release(sig_result *r)
{
	g_free(r->key_id);
	g_free(r->signer);
	g_free(r->reason);
	memset(r, 0, sizeof(*r));
}

static bool
listed(const verifier *v, const char *identity)
{
	for (guint i = 0; v->signers && v->signers[i]; i++)
		if (g_ascii_strcasecmp(v->signers[i], identity) == 0)
			return true;
	return false;
}

/* The allowlist entry @key answers to (a fingerprint, a user id's email),
 * or NULL.  A fingerprint is the primary key's (any subkey of it may
 * sign) or the one subkey that made the signature, @signing: naming one
 * subkey does not admit its siblings. */
static const char *
pgp_allowed_as(const verifier *v, gpgme_key_t key, const char *signing)
{
	if (key->subkeys && key->subkeys->fpr && listed(v, key->subkeys->fpr))
		return key->subkeys->fpr;
	for (gpgme_subkey_t s = key->subkeys; s; s = s->next)
		if (s->fpr && signing && g_ascii_strcasecmp(s->fpr, signing) == 0 && listed(v, s->fpr))
			return s->fpr;
	for (gpgme_user_id_t u = key->uids; u; u = u->next)
		if (!u->revoked && !u->invalid && u->email && listed(v, u->email))
			return u->email;
	return NULL;
}

static char *
pgp_first_email(gpgme_key_t key)
{
	for (gpgme_user_id_t u = key->uids; u; u = u->next)
		if (!u->revoked && !u->invalid && u->email && u->email[0])
			return g_strdup(u->email);
	return key->uids && key->uids->uid ? g_strdup(key->uids->uid) : NULL;
}

/* Why gpg's verdict on @s is not a good signature, or NULL when it is. */
static char *
pgp_refusal(gpgme_signature_t s)
{
	gpgme_error_t code = gpg_err_code(s->status);

	if ((s->summary & GPGME_SIGSUM_KEY_REVOKED) || code == GPG_ERR_CERT_REVOKED)
		return g_strdup("the key that made the signature is revoked");
	if ((s->summary & GPGME_SIGSUM_KEY_EXPIRED) || code == GPG_ERR_KEY_EXPIRED)
		return g_strdup("the key that made the signature has expired");
	if ((s->summary & GPGME_SIGSUM_SIG_EXPIRED) || code == GPG_ERR_SIG_EXPIRED)
		return g_strdup("the signature has expired");
	if ((s->summary & GPGME_SIGSUM_KEY_MISSING) || code == GPG_ERR_NO_PUBKEY)
		return g_strdup("the key that made the signature is not in --verify-keyring");
	if (code != GPG_ERR_NO_ERROR || (s->summary & GPGME_SIGSUM_RED))
		return g_strdup_printf("bad OpenPGP signature: %s", gpgme_strerror(s->status));
	return NULL;
}

/* One signature of @r judged: good, by a key of the keyring, allowed. */
static void
pgp_judge(const verifier *v, gpgme_ctx_t ctx, gpgme_signature_t s, sig_result *r)
{
	gpgme_key_t key = NULL;
	gpgme_error_t e;
	const char *as;

	r->key_id = g_strdup(s->fpr);
	r->reason = pgp_refusal(s);
	if (r->reason)
		return;
	e = gpgme_get_key(ctx, s->fpr, &key, 0);
	if (e && gpg_err_code(e) != GPG_ERR_EOF) {
		r->unchecked = true;
		r->reason = g_strdup_printf("could not check: gpg cannot list the key: %s", gpgme_strerror(e));
		return;
	}
	if (e || !key) {
		r->reason = g_strdup("the key that made the signature is not in --verify-keyring");
		return;
	}
	/* The primary key's fingerprint names the key, even for a subkey's
	 * signature. */
	if (key->fpr) {
		g_free(r->key_id);
		r->key_id = g_strdup(key->fpr);
	}
	as = v->signers ? pgp_allowed_as(v, key, s->fpr) : NULL;
	if (v->signers && !as) {
		g_autofree char *who = pgp_first_email(key);

		r->reason = g_strdup_printf("signed by %s, whose key is in the keyring but not among "
					    "--verify-signer", who ? who : r->key_id);
	} else {
		r->signer = as ? g_strdup(as) : pgp_first_email(key);
		r->ok = true;
	}
	gpgme_key_unref(key);
}

/* gpgme errors that judge the signature's bytes (malformed), as opposed
 * to gpg failing to run. */
static bool
pgp_data_error(gpgme_error_t e)
{
	switch (gpg_err_code(e)) {
	case GPG_ERR_NO_DATA:
	case GPG_ERR_BAD_DATA:
	case GPG_ERR_INV_DATA:
	case GPG_ERR_INV_PACKET:
	case GPG_ERR_BAD_SIGNATURE:
	case GPG_ERR_UNKNOWN_PACKET:
	case GPG_ERR_UNSUPPORTED_ALGORITHM:
	case GPG_ERR_DIGEST_ALGO:
	case GPG_ERR_PUBKEY_ALGO:
		return true;
	default:
		return false;
	}
}

static void
pgp_verify(const verifier *v, const signed_blob *b, sig_result *r)
{
	g_autoptr(GError) err = NULL;
	gpgme_data_t sig = NULL, data = NULL;
	gpgme_verify_result_t res;
	gpgme_ctx_t ctx;
	gpgme_error_t e;

	if (!v->gnupghome) {
		r->reason = g_strdup("signed with OpenPGP, and no --verify-keyring was given");
		return;
	}
	if (!home_intact(v)) {
		r->unchecked = true;
		r->reason = g_strdup_printf("could not check: %s, where the keyring was imported, is gone or "
					    "replaced; restart strata to import it again", v->gnupghome);
		return;
	}
	ctx = gpg_context(v, &err);
	if (!ctx) {
		r->unchecked = true;
		r->reason = g_strdup_printf("could not check: %s", err->message);
		return;
	}
	e = gpgme_data_new_from_mem(&sig, b->sig, b->sig_len, 0);
	if (!e)
		e = gpgme_data_new_from_mem(&data, b->data, b->data_len, 0);
	if (!e)
		e = gpgme_op_verify(ctx, sig, data, NULL);
	res = e ? NULL : gpgme_op_verify_result(ctx);
	if (e && !pgp_data_error(e)) {
		/* gpg did not run, or failed on our side (its home gone, no
		 * room): no verdict on the signature. */
		r->unchecked = true;
		r->reason = g_strdup_printf("could not check the OpenPGP signature: %s", gpgme_strerror(e));
	} else if (!res || !res->signatures) {
		r->reason = g_strdup_printf("the OpenPGP signature cannot be read: %s",
					    e ? gpgme_strerror(e) : "no signature in it");
	} else {
		/* One good and allowed signature is enough; else the first
		 * one's reason is told. */
		sig_result first = { 0 };

		for (gpgme_signature_t s = res->signatures; s && !r->ok; s = s->next) {
			sig_result_release(r);
			pgp_judge(v, ctx, s, r);
			if (!r->ok && !first.reason) {
				first = *r;
				memset(r, 0, sizeof(*r));
			}
		}
		if (!r->ok) {
			sig_result_release(r);
			*r = first;
		} else {
			sig_result_release(&first);
		}
	}
	gpgme_data_release(sig);
	gpgme_data_release(data);
	gpgme_release(ctx);
}

/* ---- SSH: ssh-keygen -Y ------------------------------------------------- */

typedef struct {
	char *dir;         /* private temporary folder */
	char *sig;         /* the signature, a file in it */
	char *data;        /* the signed bytes */
	char *signers;     /* the allowed signers, copied in once per check */
} ssh_files;

static void
ssh_files_release(ssh_files *f)
{
	rm_tree(f->dir);
	g_free(f->dir);
	g_free(f->sig);
	g_free(f->data);
	g_free(f->signers);
}

static bool
blank(const char *s)
{
	for (; *s; s++)
		if (!g_ascii_isspace(*s))
			return false;
	return true;
}

/* Allowed signers files are small; one larger is not one. */
#define SIGNERS_MAX (1u << 20)

/*
 * The allowed signers file as it is now, copied beside the signature: the
 * three ssh-keygen runs read one content, and a file that cannot be read
 * or is empty (being rewritten by configuration management, say) is no
 * verdict on the signature, where ssh-keygen would say "no principal
 * matched" and the head would be refused.
 */
static bool
ssh_signers_copy(const verifier *v, ssh_files *f, GError **error)
{
	g_autofree char *text = NULL;
	gsize len = 0;

	if (!g_file_get_contents(v->allowed_signers, &text, &len, error))
		return false;
	if (len > SIGNERS_MAX || blank(text)) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "%s is %s now", v->allowed_signers,
			    len > SIGNERS_MAX ? "larger than 1 MiB" : "empty");
		return false;
	}
	f->signers = g_build_filename(f->dir, "allowed_signers", NULL);
	return g_file_set_contents(f->signers, text, (gssize)len, error);
}

static bool
ssh_files_write(const signed_blob *b, ssh_files *f, GError **error)
{
	f->dir = g_dir_make_tmp("strata-verify-XXXXXX", error);
	if (!f->dir)
		return false;
	f->sig = g_build_filename(f->dir, "sig", NULL);
	f->data = g_build_filename(f->dir, "data", NULL);
	return g_file_set_contents(f->sig, b->sig, (gssize)b->sig_len, error) &&
	       g_file_set_contents(f->data, b->data, (gssize)b->data_len, error);
}

/* ssh-keygen's complaint on one line, for a reason: its first lines say
 * why ("key is not yet valid: …"), its last one what followed. */
static const char *
one_line(char *text)
{
	g_strstrip(text);
	for (char *p = text; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return text;
}

typedef struct {
	int in, out, err;
} child_fds;

/*
 * In the child, before exec: only async-signal-safe calls.  The daemon
 * blocks SIGTERM, SIGINT and SIGHUP in every thread (they are read from a
 * signalfd), and a child inherits that mask: `timeout` could then not end
 * ssh-keygen with SIGTERM.  Every signal is unblocked and the usual ones
 * get their default action back (an ignored one would stay ignored across
 * exec).
 */
static void
child_setup(gpointer p)
{
	static const int reset[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGCHLD };
	const child_fds *c = p;
	struct sigaction dfl;
	sigset_t none;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (unsigned i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		sigaction(reset[i], &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	dup2(c->in, STDIN_FILENO);
	dup2(c->out, STDOUT_FILENO);
	dup2(c->err, STDERR_FILENO);
}

/* What a child wrote, up to 64 KiB (find-principals prints one line per
 * principal: a file of many is not cut short). */
#define READ_BACK_MAX (64 * 1024)

static char *
read_back(int fd)
{
	char *buf = g_malloc(READ_BACK_MAX + 1);
	size_t len = 0;

	while (len < READ_BACK_MAX) {
		ssize_t n = pread(fd, buf + len, READ_BACK_MAX - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/*
 * ssh-keygen with @args, standard input from @input (or /dev/null), under
 * coreutils' timeout (then a kill 5 s later), so a stuck one holds this
 * thread for a bounded time.  Its exit status, and what it printed.  No
 * shell: the argv goes to exec as it is.
 */
static bool
ssh_keygen(const verifier *v, const char *const *args, const char *input, int *status, char **out,
	   char **err_text, GError **error)
{
	g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
	child_fds c = { -1, -1, -1 };
	bool ok = false;

	g_ptr_array_add(argv, g_strdup("timeout"));
	g_ptr_array_add(argv, g_strdup("-k"));
	g_ptr_array_add(argv, g_strdup("5"));
	g_ptr_array_add(argv, g_strdup_printf("%u", v->timeout_s));
	g_ptr_array_add(argv, g_strdup("ssh-keygen"));
	for (guint i = 0; args[i]; i++)
		g_ptr_array_add(argv, g_strdup(args[i]));
	g_ptr_array_add(argv, NULL);
	c.in = open(input ? input : "/dev/null", O_RDONLY | O_CLOEXEC);
	c.out = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	c.err = open(g_get_tmp_dir(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (c.in < 0 || c.out < 0 || c.err < 0) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "cannot run ssh-keygen: %s",
			    g_strerror(errno));
		goto out;
	}
	if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, child_setup, &c,
			  NULL, NULL, status, error))
		goto out;
	*out = read_back(c.out);
	*err_text = read_back(c.err);
	/* timeout(1): 124 timed out (137 when the kill 5 s later was
	 * needed), 125 it failed, 126 and 127 ssh-keygen could not be run.
	 * ssh-keygen itself exits 0, 1 or 255. */
	if (WIFSIGNALED(*status) ||
	    (WIFEXITED(*status) && (WEXITSTATUS(*status) == 124 || WEXITSTATUS(*status) == 137))) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "ssh-keygen did not answer within %u s",
			    v->timeout_s);
	} else if (WIFEXITED(*status) && WEXITSTATUS(*status) >= 125 && WEXITSTATUS(*status) <= 127) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "cannot run ssh-keygen under timeout "
			    "(exit %d): %s", WEXITSTATUS(*status), one_line(*err_text));
	} else {
		ok = true;
	}
	if (!ok) {
		g_clear_pointer(out, g_free);
		g_clear_pointer(err_text, g_free);
	}
out:
	for (int *fd = &c.in; fd <= &c.err; fd++)
		if (*fd >= 0)
			close(*fd);
	return ok;
}

/* "SHA256:…" from "Good "git" signature … key SHA256:…". */
static char *
ssh_key_of(const char *out)
{
	const char *k = strstr(out, "SHA256:");
	size_t n = k ? strcspn(k, " \t\r\n") : 0;

	return k ? g_strndup(k, n) : NULL;
}

/*
 * Three steps: the signature matches the data (check-novalidate, which
 * also names the key); which principals of the allowed signers file the
 * key is, at the object's time (find-principals); and a full verify as
 * one of them that the allowlist admits.
 */
static void
ssh_verify(const verifier *v, const signed_blob *b, sig_result *r)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *out = NULL, *errs = NULL, *when = NULL;
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(b->when);
	g_auto(GStrv) principals = NULL;
	ssh_files f = { 0 };
	int status = 0;

	if (!v->allowed_signers) {
		r->reason = g_strdup("signed with SSH, and no --verify-allowed-signers was given");
		return;
	}
	if (!t) {
		r->reason = g_strdup("cannot check the SSH signature: its time is out of range");
		goto out;
	}
	if (!ssh_files_write(b, &f, &err) || !ssh_signers_copy(v, &f, &err)) {
		r->unchecked = true;
		r->reason = g_strdup_printf("could not check the SSH signature: %s", err->message);
		goto out;
	}
	when = g_date_time_format(t, "-Overify-time=%Y%m%d%H%M%SZ");
	{
		const char *const check[] = { "-Y", "check-novalidate", "-n", "git", "-s", f.sig, NULL };

		if (!ssh_keygen(v, check, f.data, &status, &out, &errs, &err)) {
			r->unchecked = true;
			r->reason = g_strdup_printf("could not check: %s", err->message);
			goto out;
		}
		r->key_id = ssh_key_of(out);
		if (!g_spawn_check_wait_status(status, NULL) || !r->key_id) {
			r->reason = g_strdup_printf("bad SSH signature: %s", one_line(errs));
			goto out;
		}
	}
	g_clear_pointer(&out, g_free);
	g_clear_pointer(&errs, g_free);
	{
		const char *const find[] = { "-Y", "find-principals", "-f", f.signers, "-s", f.sig,
					     when, NULL };

		if (!ssh_keygen(v, find, NULL, &status, &out, &errs, &err)) {
			r->unchecked = true;
			r->reason = g_strdup_printf("could not check: %s", err->message);
			goto out;
		}
		if (!g_spawn_check_wait_status(status, NULL)) {
			r->reason = g_strdup_printf("key %s is not allowed by --verify-allowed-signers at the "
						    "time of the signature: %s", r->key_id, one_line(errs));
			goto out;
		}
	}
	principals = g_strsplit(g_strstrip(out), "\n", -1);
	for (guint i = 0; principals[i]; i++) {
		const char *p = g_strstrip(principals[i]);
		const char *const verify[] = { "-Y", "verify", "-f", f.signers, "-I", p, "-n", "git",
					       "-s", f.sig, when, NULL };
		g_autofree char *vout = NULL, *verr = NULL;

		if (!p[0] || (v->signers && !listed(v, p)))
			continue;
		if (!ssh_keygen(v, verify, f.data, &status, &vout, &verr, &err)) {
			g_free(r->reason);
			r->unchecked = true;
			r->reason = g_strdup_printf("could not check: %s", err->message);
			goto out;
		}
		if (g_spawn_check_wait_status(status, NULL)) {
			r->signer = g_strdup(p);
			r->ok = true;
			goto out;
		}
		g_free(r->reason);
		r->reason = g_strdup_printf("not a valid \"git\" signature by %s: %s", p, one_line(verr));
	}
	if (!r->reason) {
		g_autofree char *who = g_strjoinv(", ", principals);

		r->reason = g_strdup_printf("signed by %s, not among --verify-signer", who);
	}
out:
	ssh_files_release(&f);
}

/* The signature's kind from its armor. */
static void
judge_blob(const verifier *v, const signed_blob *b, sig_result *r)
{
	if (b->sig_len >= strlen(PGP_BEGIN) && memcmp(b->sig, PGP_BEGIN, strlen(PGP_BEGIN)) == 0)
		pgp_verify(v, b, r);
	else if (b->sig_len >= strlen(SSH_BEGIN) && memcmp(b->sig, SSH_BEGIN, strlen(SSH_BEGIN)) == 0)
		ssh_verify(v, b, r);
	else
		r->reason = g_strdup("the signature is neither OpenPGP nor SSH (X.509 is not supported)");
}

/* ---- commits and tags --------------------------------------------------- */

static char *
git_reason(const char *what)
{
	const git_error *e = git_error_last();

	return g_strdup_printf("%s: %s", what, e && e->message ? e->message : "unknown libgit2 error");
}

static void
verify_commit(const verifier *v, git_repository *repo, const git_oid *id, sig_result *r)
{
	git_buf sig = { 0 }, data = { 0 };
	git_commit *c = NULL;
	signed_blob b = { 0 };
	int rc;

	if (git_commit_lookup(&c, repo, id) < 0) {
		r->reason = git_reason("cannot read the commit");
		return;
	}
	b.when = (gint64)git_commit_committer(c)->when.time;
	git_commit_free(c);
	rc = git_commit_extract_signature(&sig, &data, repo, (git_oid *)id, NULL);
	if (rc == GIT_ENOTFOUND) {
		r->reason = g_strdup("the commit is not signed");
	} else if (rc < 0) {
		r->reason = git_reason("cannot read the commit's signature");
	} else {
		b.sig = sig.ptr;
		b.sig_len = sig.size;
		b.data = data.ptr;
		b.data_len = data.size;
		judge_blob(v, &b, r);
	}
	git_buf_dispose(&sig);
	git_buf_dispose(&data);
}

/*
 * Where a tag's signature begins: as git does it, the last line of the
 * object that opens a signature armor.  libgit2 1.5 has no
 * git_tag_extract_signature.
 */
static size_t
tag_signature_at(const char *buf, size_t size)
{
	size_t at = size, len = 0;

	while (len < size) {
		const char *eol = memchr(buf + len, '\n', size - len);
		size_t rest = size - len;

		if ((rest >= strlen(PGP_BEGIN) && memcmp(buf + len, PGP_BEGIN, strlen(PGP_BEGIN)) == 0) ||
		    (rest >= strlen(SSH_BEGIN) && memcmp(buf + len, SSH_BEGIN, strlen(SSH_BEGIN)) == 0))
			at = len;
		len += eol ? (size_t)(eol - (buf + len)) + 1 : rest;
	}
	return at;
}

static void
verify_tag(const verifier *v, git_repository *repo, const git_tag *tag, sig_result *r)
{
	const git_signature *tagger = git_tag_tagger(tag);
	git_odb_object *obj = NULL;
	git_odb *odb = NULL;
	signed_blob b = { 0 };
	const char *raw;
	size_t size, at;

	if (git_repository_odb(&odb, repo) < 0 || git_odb_read(&obj, odb, git_tag_id(tag)) < 0) {
		r->reason = git_reason("cannot read the tag");
		git_odb_free(odb);
		return;
	}
	raw = git_odb_object_data(obj);
	size = git_odb_object_size(obj);
	at = tag_signature_at(raw, size);
	if (at == size) {
		r->reason = g_strdup("the tag is not signed");
	} else {
		b.data = raw;
		b.data_len = at;
		b.sig = raw + at;
		b.sig_len = size - at;
		b.when = tagger ? (gint64)tagger->when.time : 0;
		judge_blob(v, &b, r);
	}
	git_odb_object_free(obj);
	git_odb_free(odb);
}

/* ---- what to judge ------------------------------------------------------ */

typedef struct {
	const verifier *v;
	git_repository *repo;
	char *best;          /* object id, hex */
	char *best_name;     /* its ref, refs/tags/... */
	gint64 best_time;
} tag_pick;

static gint64
tag_time(git_repository *repo, const git_oid *id)
{
	git_object *o = NULL, *peeled = NULL;
	gint64 t = G_MININT64;

	if (git_object_lookup(&o, repo, id, GIT_OBJECT_ANY) < 0)
		return t;
	if (git_object_type(o) == GIT_OBJECT_TAG && git_tag_tagger((git_tag *)o))
		t = (gint64)git_tag_tagger((git_tag *)o)->when.time;
	else if (git_object_peel(&peeled, o, GIT_OBJECT_COMMIT) == 0)
		t = (gint64)git_commit_committer((git_commit *)peeled)->when.time;
	git_object_free(peeled);
	git_object_free(o);
	return t;
}

static int
tag_consider(const char *name, git_oid *id, void *payload)
{
	tag_pick *p = payload;
	const char *shortname = g_str_has_prefix(name, "refs/tags/") ? name + 10 : name;
	char hex[GIT_OID_HEXSZ + 1];
	gint64 t;

	if (!g_pattern_match_simple(p->v->tag_pattern, shortname))
		return 0;
	t = tag_time(p->repo, id);
	if (t == G_MININT64)
		return 0;
	if (p->best && (t < p->best_time || (t == p->best_time && strcmp(name, p->best_name) <= 0)))
		return 0;
	git_oid_tostr(hex, sizeof(hex), id);
	g_free(p->best);
	g_free(p->best_name);
	p->best = g_strdup(hex);
	p->best_name = g_strdup(name);
	p->best_time = t;
	return 0;
}

bool
verifier_target(const verifier *v, git_repository *repo, const char *branch_ref, char **target,
		char **ref, GError **error)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid oid;

	if (v->mode == VERIFY_TAG) {
		tag_pick p = { v, repo, NULL, NULL, 0 };

		git_tag_foreach(repo, tag_consider, &p);
		if (!p.best) {
			g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED,
				    "no tag matches '%s' (--verify-tag-pattern): nothing to apply yet",
				    v->tag_pattern);
			return false;
		}
		*target = p.best;
		if (ref)
			*ref = p.best_name;
		else
			g_free(p.best_name);
		return true;
	}
	if (git_reference_name_to_id(&oid, repo, branch_ref) < 0) {
		g_set_error(error, VERIFY_ERROR, VERIFY_ERROR_FAILED, "%s not fetched yet", branch_ref);
		return false;
	}
	git_oid_tostr(hex, sizeof(hex), &oid);
	*target = g_strdup(hex);
	if (ref)
		*ref = g_strdup(branch_ref);
	return true;
}

static void
take_result(verify_verdict *vd, sig_result *r, const git_oid *commit)
{
	char hex[GIT_OID_HEXSZ + 1];

	git_oid_tostr(hex, sizeof(hex), commit);
	g_free(vd->commit);
	g_free(vd->key_id);
	g_free(vd->signer);
	g_free(vd->reason);
	vd->commit = g_strdup(hex);
	vd->ok = r->ok;
	vd->unchecked = r->unchecked;
	vd->key_id = g_steal_pointer(&r->key_id);
	vd->signer = g_steal_pointer(&r->signer);
	vd->reason = g_steal_pointer(&r->reason);
	vd->checked++;
}

/*
 * A signed tag object says its own name ("tag NAME", inside what is
 * signed); the ref is only where somebody put it.  Anyone who can push
 * can copy alice's signed tag dev-42 to refs/tags/release-2: matched
 * against the pattern by its ref, it would apply dev-42's commit as a
 * release.  So the two must agree, as git's own fsck warns when they do
 * not.
 */
static void
verify_tag_target(const verifier *v, git_repository *repo, const git_oid *id, const char *ref,
		  verify_verdict *vd)
{
	const char *shortname = ref && g_str_has_prefix(ref, "refs/tags/") ? ref + 10 : ref;
	git_tag *tag = NULL;
	sig_result r = { 0 };

	vd->tag = g_strdup(shortname);
	if (git_tag_lookup(&tag, repo, id) < 0) {
		vd->reason = g_strdup("the newest matching tag is a lightweight tag: it cannot be signed; "
				      "tag with 'git tag -s'");
		vd->commit = g_strdup(vd->target);
		return;
	}
	if (!shortname) {
		vd->tag = g_strdup(git_tag_name(tag));
	} else if (g_strcmp0(git_tag_name(tag), shortname) != 0) {
		git_object *peeled = NULL;
		char hex[GIT_OID_HEXSZ + 1] = "";

		if (git_tag_peel(&peeled, tag) == 0)
			git_oid_tostr(hex, sizeof(hex), git_object_id(peeled));
		git_object_free(peeled);
		vd->reason = g_strdup_printf("tag ref %s holds a tag object named '%s', not '%s': a tag "
					     "copied under another name is refused", ref, git_tag_name(tag),
					     shortname);
		vd->commit = g_strdup(hex[0] ? hex : vd->target);
		git_tag_free(tag);
		return;
	}
	if (git_tag_target_type(tag) != GIT_OBJECT_COMMIT) {
		vd->reason = g_strdup_printf("tag %s names a %s, not a commit", vd->tag,
					     git_object_type2string(git_tag_target_type(tag)));
		vd->commit = g_strdup(vd->target);
	} else {
		verify_tag(v, repo, tag, &r);
		take_result(vd, &r, git_tag_target_id(tag));
		vd->checked = 1;
	}
	sig_result_release(&r);
	git_tag_free(tag);
}

/*
 * The commits reachable from @head and not from @old, oldest first, into
 * @ids: counted before any is checked, so a push too long to check is
 * refused at once.  False (and why) when the walk fails.
 */
static bool
range_commits(git_repository *repo, const git_oid *old, const git_oid *head, GArray *ids, char **why)
{
	git_revwalk *walk = NULL;
	git_oid oid;
	bool ok = true;

	if (git_revwalk_new(&walk, repo) < 0 || git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
	    git_revwalk_push(walk, head) < 0 || git_revwalk_hide(walk, old) < 0) {
		*why = git_reason("cannot walk the new commits");
		ok = false;
	}
	while (ok && ids->len <= VERIFY_RANGE_MAX && git_revwalk_next(&oid, walk) == 0)
		g_array_append_val(ids, oid);
	git_revwalk_free(walk);
	return ok;
}

/* Every commit reachable from @head and not from @old (range_commits);
 * only @head on a first run or when @old is gone from the repository, or
 * when @head is one that @old reaches. */
static void
verify_range(const verifier *v, git_repository *repo, const char *old, const git_oid *head,
	     verify_verdict *vd)
{
	g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(git_oid));
	git_commit *oc = NULL;
	git_oid old_id;
	bool hide = old && git_oid_fromstr(&old_id, old) == 0 && git_commit_lookup(&oc, repo, &old_id) == 0;

	git_commit_free(oc);
	if (hide && !range_commits(repo, &old_id, head, ids, &vd->reason)) {
		vd->commit = g_strdup(vd->target);
		return;
	}
	if (ids->len > VERIFY_RANGE_MAX) {
		vd->reason = g_strdup_printf("more than %u new commits since the last verified one; "
					     "check them by hand, then restart once with --verify head",
					     VERIFY_RANGE_MAX);
		vd->commit = g_strdup(vd->target);
		return;
	}
	if (ids->len == 0)
		g_array_append_val(ids, *head);
	for (guint i = 0; i < ids->len; i++) {
		const git_oid *id = &g_array_index(ids, git_oid, i);
		sig_result r = { 0 };

		verify_commit(v, repo, id, &r);
		take_result(vd, &r, id);
		if (!vd->ok)
			return;
	}
	/* What applies is the head, whatever was checked last. */
	g_free(vd->commit);
	vd->commit = g_strdup(vd->target);
}

void
verifier_verify(const verifier *v, git_repository *repo, const char *old_commit, const char *target,
		const char *ref, verify_verdict *vd)
{
	git_oid id;

	memset(vd, 0, sizeof(*vd));
	vd->target = g_strdup(target);
	vd->ref = g_strdup(ref);
	if (git_oid_fromstr(&id, target) < 0) {
		vd->reason = g_strdup_printf("'%s' is not an object id", target);
		vd->commit = g_strdup(target);
		return;
	}
	switch (v->mode) {
	case VERIFY_TAG:
		verify_tag_target(v, repo, &id, ref, vd);
		break;
	case VERIFY_RANGE:
		verify_range(v, repo, old_commit, &id, vd);
		break;
	case VERIFY_HEAD:
	default: {
		sig_result r = { 0 };

		verify_commit(v, repo, &id, &r);
		take_result(vd, &r, &id);
		break;
	}
	}
	if (!vd->ok && !vd->reason)
		vd->reason = g_strdup("not verified");
}

void
verifier_verify_anchor(const verifier *v, git_repository *repo, const char *commit,
		       verify_verdict *vd)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *target = NULL, *ref = NULL;
	sig_result r = { 0 };
	git_oid id;

	if (v->mode == VERIFY_TAG) {
		if (verifier_target(v, repo, NULL, &target, &ref, &err)) {
			verifier_verify(v, repo, NULL, target, ref, vd);
		} else {
			memset(vd, 0, sizeof(*vd));
			vd->reason = g_strdup(err->message);
		}
		return;
	}
	memset(vd, 0, sizeof(*vd));
	vd->target = g_strdup(commit);
	vd->commit = g_strdup(commit);
	if (git_oid_fromstr(&id, commit) < 0) {
		vd->reason = g_strdup_printf("'%s' is not an object id", commit);
		return;
	}
	verify_commit(v, repo, &id, &r);
	take_result(vd, &r, &id);
	if (!vd->ok && !vd->reason)
		vd->reason = g_strdup("not verified");
}
