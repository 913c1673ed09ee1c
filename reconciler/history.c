/*
 * history.c - every run and operation, recorded in SQLite
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domxml.h"
#include "history.h"

G_DEFINE_QUARK(strata-history-error-quark, history_error)

#define HISTORY_NOTHING_TO_DO "nothing to do: it was so already"

struct history {
	sqlite3 *db;
	unsigned interrupted;
	char *path;
	int lock_fd;           /* the writer's lock; -1 when read-only */
	GHashTable *host_seen; /* host -> digest of its managed domains last written */
	GHashTable *share_gen; /* "pool\x1fdeclared" -> guint64 *: the probe
				  outcome last written */
	GHashTable *cut_short; /* "appliance.vm" -> host: a define or volume
				  create a crashed run had sent there */
	bool ready;            /* opened: dev and ino below hold */
	dev_t dev;             /* the file opened, to notice it replaced */
	ino_t ino;
};

/* Migrations, in order; user_version counts how many have run. */
static const char *const migrations[] = {
	"CREATE TABLE revisions ("
	"  id INTEGER PRIMARY KEY, source TEXT NOT NULL, revision TEXT NOT NULL,"
	"  time INTEGER NOT NULL);"
	"CREATE TABLE runs ("
	"  id INTEGER PRIMARY KEY, trigger TEXT NOT NULL, revision INTEGER REFERENCES revisions(id),"
	"  started INTEGER NOT NULL, ended INTEGER, result TEXT, summary TEXT);"
	"CREATE TABLE ops ("
	"  id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs(id), seq INTEGER NOT NULL,"
	"  host TEXT NOT NULL, appliance TEXT, vm TEXT, kind TEXT NOT NULL, impact TEXT NOT NULL,"
	"  args TEXT, reason TEXT, intent INTEGER NOT NULL, started INTEGER, ended INTEGER,"
	"  result TEXT, error TEXT);"
	"CREATE INDEX ops_vm ON ops(appliance, vm);"
	"CREATE INDEX ops_intent ON ops(intent);"
	"CREATE TABLE vms ("
	"  appliance TEXT NOT NULL, vm TEXT NOT NULL, first_deploy INTEGER, last_state TEXT,"
	"  last_change INTEGER, running_us INTEGER NOT NULL DEFAULT 0, running_since INTEGER,"
	"  removed INTEGER, PRIMARY KEY (appliance, vm));",
	/* 2: scheduled actions */
	"ALTER TABLE vms ADD COLUMN first_start INTEGER;"
	"CREATE TABLE schedule_state ("
	"  entry TEXT NOT NULL, vm TEXT NOT NULL DEFAULT '', appliance TEXT NOT NULL,"
	"  action TEXT NOT NULL, last_fire INTEGER NOT NULL, fires INTEGER NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (entry, vm));"
	"CREATE TABLE schedule_fires ("
	"  id INTEGER PRIMARY KEY, entry TEXT NOT NULL, appliance TEXT NOT NULL, vm TEXT,"
	"  action TEXT NOT NULL, planned INTEGER NOT NULL, actual INTEGER NOT NULL, result TEXT NOT NULL);"
	"CREATE TABLE holds ("
	"  domain TEXT PRIMARY KEY, state INTEGER NOT NULL, hash TEXT NOT NULL, why TEXT NOT NULL);",
	/* 3: which managed domains each host ran at the last look */
	"CREATE TABLE host_vms ("
	"  host TEXT NOT NULL, domain TEXT NOT NULL, PRIMARY KEY (host, domain));",
	/* 4: what probes found of declared shared pools, per declaration */
	"CREATE TABLE pool_members ("
	"  pool TEXT NOT NULL, declared TEXT NOT NULL, host TEXT NOT NULL, verified INTEGER NOT NULL,"
	"  PRIMARY KEY (pool, declared, host));"
	"CREATE TABLE pool_refutations ("
	"  pool TEXT NOT NULL, declared TEXT NOT NULL, finding TEXT NOT NULL, time INTEGER NOT NULL,"
	"  PRIMARY KEY (pool, declared));",
	/* 5: template bases strata copied or copied from, with their checksums;
	 * sha256 NULL: a copy begun and not verified (it may be half made) */
	"CREATE TABLE images ("
	"  host TEXT NOT NULL, pool TEXT NOT NULL, volume TEXT NOT NULL, sha256 TEXT,"
	"  bytes INTEGER, moved INTEGER, source TEXT, run INTEGER, time INTEGER NOT NULL,"
	"  PRIMARY KEY (host, pool, volume));",
	/* 6: what an export's upload did, why a capture failed */
	"ALTER TABLE images ADD COLUMN note TEXT;",
	/* 7: each signature verification of a Git source's new head or tag:
	 * the last one ok is where the next range begins */
	"CREATE TABLE signature_checks ("
	"  id INTEGER PRIMARY KEY, time INTEGER NOT NULL, mode TEXT NOT NULL, target TEXT NOT NULL,"
	"  commit_id TEXT NOT NULL, tag TEXT, ok INTEGER NOT NULL, key_id TEXT, signer TEXT,"
	"  reason TEXT);",
	/* 8: which source each check was for (the anchor at start is the last
	 * verified commit of this URL, branch and subfolder, in any mode), the
	 * ref judged, and checks that could not be made (no verdict) */
	"ALTER TABLE signature_checks ADD COLUMN source_url TEXT;"
	"ALTER TABLE signature_checks ADD COLUMN source_branch TEXT;"
	"ALTER TABLE signature_checks ADD COLUMN source_path TEXT;"
	"ALTER TABLE signature_checks ADD COLUMN ref TEXT;"
	"ALTER TABLE signature_checks ADD COLUMN unchecked INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX signature_checks_source ON signature_checks(source_url, source_branch, source_path, ok);",
	/* 9: the MAC address of each NIC of each domain strata defined, as
	 * recorded with the define's intent: kept across every redefinition */
	"CREATE TABLE IF NOT EXISTS nic_macs ("
	"  domain TEXT NOT NULL, ordinal INTEGER NOT NULL, network TEXT NOT NULL, mac TEXT NOT NULL,"
	"  PRIMARY KEY (domain, ordinal));",
	/* 10: retention (keep: N): when an old version strata made was
	 * deleted (the row stays, so that the version is never captured
	 * again under the same number), or when and why the checks just
	 * before its delete kept it */
	"ALTER TABLE images ADD COLUMN retired INTEGER;"
	"ALTER TABLE images ADD COLUMN retire_kept INTEGER;"
	"ALTER TABLE images ADD COLUMN retire_note TEXT;",
};

static bool
db_fail(history *h, GError **error, const char *what)
{
	g_set_error(error, HISTORY_ERROR, sqlite3_errcode(h->db), "history database: %s: %s",
		    what, sqlite3_errmsg(h->db));
	return false;
}

static bool
exec_sql(history *h, const char *sql, GError **error)
{
	if (!history_still_there(h, error))
		return false;
	if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(h, error, sql);
	return true;
}

/* Every write that must land whole runs between these two. */
static bool
tx_begin(history *h, GError **error)
{
	return exec_sql(h, "BEGIN IMMEDIATE", error);
}

static bool
tx_end(history *h, bool ok, GError **error)
{
	if (ok && exec_sql(h, "COMMIT", error))
		return true;
	/* Directly, not through exec_sql's file check: a transaction left
	 * open when the file stopped being writable would wedge every later
	 * one. */
	if (!sqlite3_get_autocommit(h->db))
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	return false;
}

static int
user_version(history *h)
{
	sqlite3_stmt *st = NULL;
	int v = 0;

	if (sqlite3_prepare_v2(h->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static bool
migrate(history *h, GError **error)
{
	int v = user_version(h);

	if (v > (int)G_N_ELEMENTS(migrations)) {
		g_set_error(error, HISTORY_ERROR, 0,
			    "history database has schema version %d, newer than this strata (%d); upgrade strata",
			    v, (int)G_N_ELEMENTS(migrations));
		return false;
	}
	for (; v < (int)G_N_ELEMENTS(migrations); v++) {
		g_autofree char *bump = g_strdup_printf("PRAGMA user_version = %d", v + 1);

		if (!tx_begin(h, error) ||
		    !tx_end(h, exec_sql(h, migrations[v], error) && exec_sql(h, bump, error), error))
			return false;
	}
	return true;
}

static bool
mark_interrupted_why(history *h, const char *why, GError **error)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(h->db, "UPDATE ops SET result = 'interrupted', error = ? WHERE result IS NULL",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(h, error, "mark interrupted operations");
	sqlite3_bind_text(st, 1, why, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE) {
		db_fail(h, error, "mark interrupted operations");
		sqlite3_finalize(st);
		return false;
	}
	sqlite3_finalize(st);
	h->interrupted = (unsigned)sqlite3_changes(h->db);
	return exec_sql(h, "UPDATE runs SET result = 'interrupted' WHERE ended IS NULL", error);
}

/* Where a crashed run was making VMs: libvirtd may still carry out what
 * it had sent (a define, a volume copy) after strata died. */
static void
note_cut_short(history *h)
{
	sqlite3_stmt *st = NULL;

	h->cut_short = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (sqlite3_prepare_v2(h->db, "SELECT appliance || '.' || vm, host FROM ops WHERE result IS NULL "
			       "AND kind IN ('define', 'create-volume') AND vm IS NOT NULL ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	while (sqlite3_step(st) == SQLITE_ROW)
		g_hash_table_insert(h->cut_short, g_strdup((const char *)sqlite3_column_text(st, 0)),
				    g_strdup((const char *)sqlite3_column_text(st, 1)));
	sqlite3_finalize(st);
}

GHashTable *
history_cut_short(const history *h)
{
	return h->cut_short;
}

/* Rows a crash left without a result: say so, once and for all. */
static bool
mark_interrupted(history *h, GError **error)
{
	note_cut_short(h);
	return mark_interrupted_why(h, "strata stopped before the result was recorded; the next run observed "
				    "what happened", error);
}

bool
history_abandon_running(history *h, const char *why, GError **error)
{
	return mark_interrupted_why(h, why, error);
}

/*
 * Beside the database, hidden, and not named like it: `rm strata.db*`
 * takes the database and its WAL files but not the lock, so a second
 * writer on the same path is still refused.
 */
char *
history_lock_path(const char *db)
{
	g_autofree char *dir = g_path_get_dirname(db);
	g_autofree char *base = g_path_get_basename(db);
	g_autofree char *name = g_strdup_printf(".%s.lock", base);

	return g_build_filename(dir, name, NULL);
}

/*
 * One writer per database.  O_NOFOLLOW and the checks after open: a link
 * or a file planted in a shared folder is never truncated as root.
 */
static int
lock_take(const char *db, GError **error)
{
	g_autofree char *path = history_lock_path(db);
	g_autofree char *pid = NULL;
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot lock %s: %s", path, g_strerror(errno));
		return -1;
	}
	/* A hard link planted to another file would make us truncate it. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		g_set_error(error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "%s is not a lock file of this user; remove it if nothing uses it", path);
		close(fd);
		return -1;
	}
	/* flock, not fcntl: it also excludes a second writer in one process. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char buf[32] = "";
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		g_set_error(error, G_IO_ERROR, G_IO_ERROR_BUSY,
			    "another strata (pid %s) already writes to %s",
			    n > 0 ? g_strstrip(buf) : "unknown", db);
		close(fd);
		return -1;
	}
	pid = g_strdup_printf("%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
		g_warning("cannot write pid to %s", path);
	return fd;
}

/* A foreign SQLite file (or any other) is said to be one, not migrated. */
static bool
is_strata_db(history *h)
{
	sqlite3_stmt *st = NULL;
	bool ok = true;

	if (sqlite3_prepare_v2(h->db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
			       "AND name NOT LIKE 'sqlite_%' AND name NOT IN ('revisions', 'runs', 'ops', 'vms', 'holds', "
			       "'schedule_state', 'schedule_fires', 'host_vms', 'pool_members', 'pool_refutations', "
			       "'images', 'signature_checks', 'nic_macs')", -1, &st, NULL) != SQLITE_OK)
		return false;
	if (sqlite3_step(st) == SQLITE_ROW)
		ok = sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	return ok;
}

static history *
open_db(const char *path, bool writer, GError **error)
{
	history *h = g_new0(history, 1);
	int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
	struct stat st;

	h->lock_fd = -1;
	h->path = g_strdup(path);
	/* An in-memory database (the planner fuzzer's) has no file to share. */
	if (writer && strcmp(path, ":memory:") != 0 && (h->lock_fd = lock_take(path, error)) < 0)
		goto fail;
	if (sqlite3_open_v2(path, &h->db, flags, NULL) != SQLITE_OK) {
		db_fail(h, error, path);
		goto fail;
	}
	sqlite3_busy_timeout(h->db, 5000);
	if (!is_strata_db(h)) {
		g_set_error(error, HISTORY_ERROR, 0,
			    "%s is not a strata database; give another --db",
			    path);
		goto fail;
	}
	if (writer && (!exec_sql(h, "PRAGMA journal_mode = WAL", error) ||
		       !exec_sql(h, "PRAGMA synchronous = FULL", error)))
		goto fail;
	if (!exec_sql(h, "PRAGMA foreign_keys = ON", error))
		goto fail;
	if (writer && (!migrate(h, error) || !mark_interrupted(h, error)))
		goto fail;
	if (stat(path, &st) == 0) {
		h->dev = st.st_dev;
		h->ino = st.st_ino;
		h->ready = true;
	}
	return h;
fail:
	history_close(h);
	return NULL;
}

history *
history_open(const char *path, GError **error)
{
	return open_db(path, true, error);
}

history *
history_open_readonly(const char *path, GError **error)
{
	return open_db(path, false, error);
}

bool
history_still_there(const history *h, GError **error)
{
	static const char *const suffixes[] = { "", "-wal", "-shm" };
	struct stat st;

	if (!h->ready)
		return true;  /* being opened */
	if (stat(h->path, &st) != 0 || st.st_dev != h->dev || st.st_ino != h->ino) {
		g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_REPLACED,
			    "the database %s was removed or replaced while in use; nothing is changed "
			    "until strata is restarted on it", h->path);
		return false;
	}
	/* A file that can no longer be written (made immutable, say): SQLite
	 * would die of SIGBUS on its memory-mapped -shm file, not report it. */
	for (guint i = 0; h->lock_fd >= 0 && i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *f = g_strconcat(h->path, suffixes[i], NULL);

		if (access(f, W_OK) != 0 && errno != ENOENT) {
			g_set_error(error, HISTORY_ERROR, HISTORY_ERROR_UNWRITABLE,
				    "the database file %s cannot be written (%s); nothing is changed until it can",
				    f, g_strerror(errno));
			return false;
		}
	}
	return true;
}

void
history_close(history *h)
{
	if (!h)
		return;
	sqlite3_close(h->db);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	if (h->host_seen)
		g_hash_table_unref(h->host_seen);
	g_clear_pointer(&h->share_gen, g_hash_table_unref);
	if (h->cut_short)
		g_hash_table_unref(h->cut_short);
	g_free(h->path);
	g_free(h);
}

unsigned
history_interrupted(const history *h)
{
	return h->interrupted;
}

static sqlite3_stmt *
prepare(history *h, const char *sql, GError **error)
{
	sqlite3_stmt *st = NULL;

	/* The writer's every statement (a WAL reader writes its read marks
	 * into -shm too) first checks the files can take it; see
	 * history_still_there: a SIGBUS cannot be handled, an error can.
	 * Read-only openers (`strata history`) may lack write permission by
	 * design and are not checked. */
	if (!history_still_there(h, error))
		return NULL;
	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(h, error, sql);
		return NULL;
	}
	return st;
}

static gint64
insert(history *h, sqlite3_stmt *st, GError **error)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_fail(h, error, "insert");
		return -1;
	}
	return sqlite3_last_insert_rowid(h->db);
}

gint64
history_revision(history *h, const char *source, const char *revision, GError **error)
{
	sqlite3_stmt *st = prepare(h, "INSERT INTO revisions(source, revision, time) VALUES (?, ?, ?)", error);

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, revision, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, g_get_real_time());
	return insert(h, st, error);
}

gint64
history_run_begin(history *h, const char *trigger, gint64 revision, GError **error)
{
	sqlite3_stmt *st = prepare(h, "INSERT INTO runs(trigger, revision, started) VALUES (?, ?, ?)", error);

	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, trigger, -1, SQLITE_TRANSIENT);
	if (revision > 0)
		sqlite3_bind_int64(st, 2, revision);
	sqlite3_bind_int64(st, 3, g_get_real_time());
	return insert(h, st, error);
}

bool
history_run_end(history *h, gint64 run, const char *result, const char *summary,
		GError **error)
{
	sqlite3_stmt *st = prepare(h, "UPDATE runs SET ended = ?, result = ?, summary = ? WHERE id = ?", error);
	int rc;

	if (!st)
		return false;
	sqlite3_bind_int64(st, 1, g_get_real_time());
	sqlite3_bind_text(st, 2, result, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, summary, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, run);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || db_fail(h, error, "end run");
}

static char *
op_args(const plan_op *op)
{
	if (op->kind == OP_VOL_COPY)
		return g_strdup_printf("%s/%s from %s%s%s%s", op->pool, op->volume,
				       op->library ? "library " : "", op->library ? op->library : op->peer,
				       op->hash ? " sha256=" : "", op->hash ? op->hash : "");
	if (op->kind == OP_VOL_CAPTURE)
		return g_strdup_printf("%s/%s from %s/%s%s", op->pool, op->volume, op->file, op->clone_from,
				       op->live ? " live" : "");
	if (op->kind == OP_LIB_EXPORT)
		return g_strdup_printf("%s version %u from %s/%s into library %s", op->export->template,
				       op->export->version, op->pool, op->volume, op->library);
	if (op->kind == OP_IMAGE_EXPORT)
		return g_strdup_printf("%s version %u from %s/%s as %s/%s", op->export->template,
				       op->export->version, op->pool, op->volume, op->file, op->export->file_name);
	if (op->kind == OP_SNAPSHOT_REVERT)
		return g_strdup_printf("snapshot=%s id=%s", op->snapshot, op->revert_id);
	if (op->kind == OP_MEDIA)
		return g_strdup_printf("device=%s media=%s", op->device, op->file ? op->file : "ejected");
	/* The digest, never the data (a secret, maybe). */
	if (op->kind == OP_SEED)
		return g_strdup_printf("%s/%s seed=%s", op->pool, op->volume, op->digest);
	if (op->one_snapshot)
		return g_strdup_printf("snapshot=%s", op->snapshot);
	if (op->volume)
		return g_strdup_printf("%s/%s%s%s", op->pool, op->volume,
				       op->clone_from ? " from " : "",
				       op->clone_from ? op->clone_from : "");
	if (op->hash)
		return g_strdup_printf("hash=%s", op->hash);
	if (op->kind == OP_SET_MEMORY)
		return g_strdup_printf("memory=%" G_GUINT64_FORMAT, op->value);
	if (op->kind == OP_SET_VCPUS)
		return g_strdup_printf("vcpus=%" G_GUINT64_FORMAT, op->value);
	if (op->kind == OP_ATTACH || op->kind == OP_DETACH)
		return g_strdup_printf("device=%s", op->device);
	if (op->kind == OP_DISK_RESIZE)
		return g_strdup_printf("device=%s size=%" G_GUINT64_FORMAT, op->device, op->value);
	if (op->kind == OP_MIGRATE)
		return g_strdup_printf("to=%s", op->target);
	return NULL;
}

/*
 * A base copy is recorded as begun (checksum NULL) with its intent, so that
 * a crash in the middle leaves a mark on what may be half a copy.
 */
static bool
image_begun(history *h, gint64 run, const plan_op *op, gint64 now, GError **error)
{
	sqlite3_stmt *st = prepare(h, "INSERT OR REPLACE INTO images(host, pool, volume, source, run, time) "
				   "VALUES (?, ?, ?, ?, ?, ?)", error);
	int rc;

	if (!st)
		return false;
	sqlite3_bind_text(st, 1, op->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, op->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, op->volume, -1, SQLITE_TRANSIENT);
	if (op->kind == OP_VOL_CAPTURE)
		sqlite3_bind_text(st, 4, g_strdup_printf("vm:%s", op->domain), -1, g_free);
	else if (op->library)
		sqlite3_bind_text(st, 4, g_strdup_printf("library:%s", op->library), -1, g_free);
	else
		sqlite3_bind_text(st, 4, op->peer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, run);
	sqlite3_bind_int64(st, 6, now);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || db_fail(h, error, "record a copy begun");
}

/*
 * Its outcome: verified, it gets its checksum (and the source's bytes are
 * recorded as having it too); failed with nothing left behind, the mark
 * goes; failed leaving a partial copy, the mark stays.
 */
static void
image_ended(history *h, const plan_op *op, gint64 now)
{
	sqlite3_stmt *st;

	if (op->status == OPST_DONE) {
		st = prepare(h, "UPDATE images SET sha256 = ?4, bytes = ?5, moved = ?6, time = ?7 "
			     "WHERE host = ?1 AND pool = ?2 AND volume = ?3", NULL);
	} else if (!op->partial && op->kind == OP_VOL_CAPTURE) {
		/* Kept, so that a capture that fails is not retried (the VM
		 * stopped again) at every pass: history_failed_captures. */
		st = prepare(h, "UPDATE images SET note = 'capture failed: ' || ?4, time = ?7 "
			     "WHERE host = ?1 AND pool = ?2 AND volume = ?3 AND sha256 IS NULL", NULL);
	} else if (!op->partial) {
		st = prepare(h, "DELETE FROM images WHERE host = ?1 AND pool = ?2 AND volume = ?3 "
			     "AND sha256 IS NULL", NULL);
	} else {
		return;
	}
	if (!st)
		return;
	sqlite3_bind_text(st, 1, op->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, op->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, op->volume, -1, SQLITE_TRANSIENT);
	if (op->status == OPST_DONE) {
		sqlite3_bind_text(st, 4, op->digest, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, (gint64)op->length);
		sqlite3_bind_int64(st, 6, (gint64)op->moved);
		sqlite3_bind_int64(st, 7, now);
	} else if (op->kind == OP_VOL_CAPTURE) {
		sqlite3_bind_text(st, 4, op->error ? op->error : "?", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 7, now);
	}
	sqlite3_step(st);
	sqlite3_finalize(st);
	if (op->status != OPST_DONE || op->library || op->kind == OP_VOL_CAPTURE)
		return;  /* from a library (its index holds the checksum), or made here */
	st = prepare(h, "INSERT OR IGNORE INTO images(host, pool, volume, sha256, bytes, time) "
		     "VALUES (?, ?, ?, ?, ?, ?)", NULL);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, op->peer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, op->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, op->volume, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, op->digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (gint64)op->length);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/* A retirement's outcome: done, the row says when (and stays); kept by
 * the checks just before the delete, it says when and why, so that the
 * plan waits an hour before it looks again (history_made). */
static void
image_retired(history *h, const plan_op *op, gint64 now)
{
	sqlite3_stmt *st;

	if (op->status != OPST_DONE && op->status != OPST_FAILED)
		return;
	st = prepare(h, op->status == OPST_DONE ?
		     "UPDATE images SET retired = ?4, retire_kept = NULL, retire_note = NULL "
		     "WHERE host = ?1 AND pool = ?2 AND volume = ?3" :
		     "UPDATE images SET retire_kept = ?4, retire_note = ?5 "
		     "WHERE host = ?1 AND pool = ?2 AND volume = ?3", NULL);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, op->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, op->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, op->volume, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, now);
	if (op->status == OPST_FAILED)
		sqlite3_bind_text(st, 5, op->error ? op->error : "?", -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

/* An export, as a copy of the base: host "library:NAME" or "export:NAME",
 * pool TEMPLATE, volume "version N"; an image export's note says what
 * its upload did.  A failed one is recorded without a checksum, its note
 * saying why (history_failed_exports). */
static void
image_exported(history *h, const plan_op *op, gint64 now)
{
	sqlite3_stmt *st = prepare(h, "INSERT OR REPLACE INTO images(host, pool, volume, sha256, bytes, moved, "
				   "source, time, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", NULL);

	if (!st)
		return;
	sqlite3_bind_text(st, 1, g_strdup_printf("%s:%s", op->kind == OP_LIB_EXPORT ? "library" : "export",
						 op->library), -1, g_free);
	if (op->status == OPST_DONE)
		sqlite3_bind_text(st, 9, op->log, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_text(st, 9, g_strdup_printf("export failed: %s", op->error ? op->error : "?"), -1,
				  g_free);
	sqlite3_bind_text(st, 2, op->export->template, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, g_strdup_printf("version %u", op->export->version), -1, g_free);
	sqlite3_bind_text(st, 4, op->status == OPST_DONE ? op->digest : NULL, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, (gint64)op->length);
	sqlite3_bind_int64(st, 6, (gint64)op->moved);
	sqlite3_bind_text(st, 7, op->host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 8, now);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

GHashTable *
history_done_exports(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	sqlite3_stmt *st = prepare(h, "SELECT substr(host, 8) || '/' || pool || '/' || substr(volume, 9) "
				   "FROM images WHERE host LIKE 'export:%' AND sha256 IS NOT NULL", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW)
		g_hash_table_add(t, g_strdup((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return t;
}

GHashTable *
history_reverts_done(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	sqlite3_stmt *st = prepare(h, "SELECT appliance || '.' || vm || '/' || substr(args, instr(args, ' id=') + 4) "
				   "FROM ops WHERE kind = 'snapshot-revert' AND result IN ('done', 'interrupted') "
				   "AND appliance IS NOT NULL AND vm IS NOT NULL AND instr(args, ' id=') > 0",
				   NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW)
		g_hash_table_add(t, g_strdup((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return t;
}

GHashTable *
history_failed_exports(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	sqlite3_stmt *st = prepare(h, "SELECT host || '/' || pool || '/' || substr(volume, 9), time, note FROM images "
				   "WHERE sha256 IS NULL AND note LIKE 'export failed: %'", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW)
		g_hash_table_insert(t, g_strdup((const char *)sqlite3_column_text(st, 0)),
				    g_strdup_printf("%" G_GINT64_FORMAT " %s", (gint64)sqlite3_column_int64(st, 1),
						    (const char *)sqlite3_column_text(st, 2)));
	sqlite3_finalize(st);
	return t;
}

GHashTable *
history_made(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	sqlite3_stmt *st = prepare(h, "SELECT host || '/' || pool || '/' || volume, sha256, retire_kept, retire_note "
				   "FROM images WHERE sha256 IS NOT NULL AND source IS NOT NULL "
				   "AND host NOT LIKE '%:%' AND retired IS NULL", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *sha = (const char *)sqlite3_column_text(st, 1);

		g_hash_table_insert(t, g_strdup((const char *)sqlite3_column_text(st, 0)),
				    sqlite3_column_type(st, 2) == SQLITE_NULL ? g_strdup(sha) :
				    g_strdup_printf("%s %" G_GINT64_FORMAT " %s", sha,
						    (gint64)sqlite3_column_int64(st, 2),
						    (const char *)sqlite3_column_text(st, 3)));
	}
	sqlite3_finalize(st);
	return t;
}

GHashTable *
history_captured(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	sqlite3_stmt *st = prepare(h, "SELECT pool || '/' || volume, sha256 FROM images "
				   "WHERE sha256 IS NOT NULL AND source LIKE 'vm:%'", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW)
		g_hash_table_insert(t, g_strdup((const char *)sqlite3_column_text(st, 0)),
				    g_strdup((const char *)sqlite3_column_text(st, 1)));
	sqlite3_finalize(st);
	return t;
}

GHashTable *
history_failed_captures(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	sqlite3_stmt *st = prepare(h, "SELECT pool || '/' || volume, time, note FROM images "
				   "WHERE sha256 IS NULL AND note LIKE 'capture failed: %'", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		g_autoptr(GDateTime) when = g_date_time_new_from_unix_utc(sqlite3_column_int64(st, 1) / G_USEC_PER_SEC);
		g_autofree char *iso = when ? g_date_time_format_iso8601(when) : g_strdup("?");

		g_hash_table_insert(t, g_strdup((const char *)sqlite3_column_text(st, 0)),
				    g_strdup_printf("%" G_GINT64_FORMAT " at %s, %s", (gint64)sqlite3_column_int64(st, 1), iso,
						    (const char *)sqlite3_column_text(st, 2)));
	}
	sqlite3_finalize(st);
	return t;
}

GHashTable *
history_unverified_copies(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	sqlite3_stmt *st = prepare(h, "SELECT host || '/' || pool || '/' || volume, run FROM images "
				   "WHERE sha256 IS NULL AND coalesce(note, '') NOT LIKE 'capture failed: %' "
				   "AND coalesce(note, '') NOT LIKE 'export failed: %'", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		gint64 run = sqlite3_column_int64(st, 1);

		g_hash_table_insert(t, g_strdup((const char *)sqlite3_column_text(st, 0)),
				    g_memdup2(&run, sizeof(run)));
	}
	sqlite3_finalize(st);
	return t;
}

/* Every row @st gives, as column -> text (NULL columns absent); @st is
 * finalized. */
static GPtrArray *
rows_of(sqlite3_stmt *st)
{
	GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_hash_table_unref);

	while (sqlite3_step(st) == SQLITE_ROW) {
		GHashTable *row = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);

		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const unsigned char *v = sqlite3_column_text(st, c);

			if (v)
				g_hash_table_insert(row, (gpointer)g_intern_string(sqlite3_column_name(st, c)),
						    g_strdup((const char *)v));
		}
		g_ptr_array_add(rows, row);
	}
	sqlite3_finalize(st);
	return rows;
}

GPtrArray *
history_images(history *h, GError **error)
{
	sqlite3_stmt *st = prepare(h, "SELECT host, pool, volume, sha256, bytes, moved, source, run, time, "
				   "CASE WHEN retired IS NOT NULL THEN 'retired (keep)' "
				   "WHEN retire_note IS NOT NULL THEN 'kept: ' || retire_note ELSE note END AS note "
				   "FROM images ORDER BY pool, volume, time", error);

	if (!st)
		return NULL;
	return rows_of(st);
}

char *
history_image_sha256(history *h, const char *host, const char *pool, const char *volume)
{
	sqlite3_stmt *st = prepare(h, "SELECT sha256 FROM images WHERE host = ? AND pool = ? AND volume = ? "
				   "AND sha256 IS NOT NULL", NULL);
	char *sha = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, volume, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		sha = g_strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return sha;
}

/* The MACs a define gives its domain's NICs, recorded with its intent:
 * if the define happens, what it made is in history whatever follows. */
static bool
macs_record(history *h, const plan_op *op, GError **error)
{
	domxml_info info;
	sqlite3_stmt *del, *ins = NULL;
	bool ok;

	if (!op->xml || !domxml_parse(op->xml, &info))
		return true;
	del = prepare(h, "DELETE FROM nic_macs WHERE domain = ?", error);
	ok = del != NULL;
	if (ok) {
		sqlite3_bind_text(del, 1, op->domain, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(del) == SQLITE_DONE;
		ins = prepare(h, "INSERT INTO nic_macs(domain, ordinal, network, mac) VALUES (?, ?, ?, ?)", error);
		ok = ok && ins;
	}
	for (guint i = 0; ok && i < info.nics->len; i++) {
		const char *nic = info.nics->pdata[i], *sp = strrchr(nic, ' ');

		if (!sp || !sp[1])
			continue;  /* a MAC libvirt will pick: none to keep */
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, op->domain, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(ins, 2, (int)i);
		sqlite3_bind_text(ins, 3, nic, (int)(sp - nic), SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 4, sp + 1, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(ins) == SQLITE_DONE;
	}
	if (!ok && (!error || !*error))
		db_fail(h, error, "record MAC addresses");
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	domxml_info_release(&info);
	return ok;
}

GHashTable *
history_nic_macs(history *h)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
	g_autoptr(GHashTable) lists = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
							   (GDestroyNotify)g_strv_builder_unref);
	sqlite3_stmt *st = prepare(h, "SELECT domain, network, mac FROM nic_macs ORDER BY domain, ordinal", NULL);
	GHashTableIter it;
	gpointer k, b;

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *dom = (const char *)sqlite3_column_text(st, 0);
		GStrvBuilder *sb = g_hash_table_lookup(lists, dom);
		g_autofree char *nic = g_strdup_printf("%s %s", sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));

		if (!sb) {
			sb = g_strv_builder_new();
			g_hash_table_insert(lists, g_strdup(dom), sb);
		}
		g_strv_builder_add(sb, nic);
	}
	sqlite3_finalize(st);
	g_hash_table_iter_init(&it, lists);
	while (g_hash_table_iter_next(&it, &k, &b))
		g_hash_table_insert(t, g_strdup(k), g_strv_builder_end(b));
	return t;
}

static bool
history_intents_write(history *h, gint64 run, plan_op **ops, guint n, gint64 *row_ids,
		       GError **error)
{
	sqlite3_stmt *st;
	gint64 now = g_get_real_time();

	st = prepare(h, "INSERT INTO ops(run, seq, host, appliance, vm, kind, impact, args, reason, intent) "
		     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", error);
	if (!st)
		return false;
	for (guint i = 0; i < n; i++) {
		g_autofree char *args = op_args(ops[i]);

		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, run);
		sqlite3_bind_int(st, 2, (int)ops[i]->id);
		sqlite3_bind_text(st, 3, ops[i]->host, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 4, ops[i]->appliance, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 5, ops[i]->vm, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 6, op_kind_name(ops[i]->kind), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, op_impact_name(ops[i]->impact), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, args, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 9, ops[i]->reason, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 10, now);
		if (sqlite3_step(st) != SQLITE_DONE) {
			db_fail(h, error, "record intent");
			sqlite3_finalize(st);
			return false;
		}
		row_ids[i] = sqlite3_last_insert_rowid(h->db);
		if (ops[i]->kind == OP_DEFINE && !macs_record(h, ops[i], error)) {
			sqlite3_finalize(st);
			return false;
		}
		if ((ops[i]->kind == OP_VOL_COPY || ops[i]->kind == OP_VOL_CAPTURE) &&
		    !image_begun(h, run, ops[i], now, error)) {
			sqlite3_finalize(st);
			return false;
		}
	}
	sqlite3_finalize(st);
	return true;
}

bool
history_intents(history *h, gint64 run, plan_op **ops, guint n, gint64 *row_ids,
		GError **error)
{
	return tx_begin(h, error) &&
	       tx_end(h, history_intents_write(h, run, ops, n, row_ids, error), error);
}

/* VM accounting: first deploy, last state, time spent running. */
static void
account(history *h, const plan_op *op, gint64 now)
{
	static const char *const sql[] = {
		[OP_DEFINE] = "INSERT INTO vms(appliance, vm, first_deploy, last_state, last_change) "
			      "VALUES (?1, ?2, ?3, 'defined', ?3) ON CONFLICT(appliance, vm) DO UPDATE SET "
			      "first_deploy = coalesce(first_deploy, ?3), removed = NULL, last_change = ?3",
		[OP_START] = "UPDATE vms SET last_state = 'running', last_change = ?3, "
			     "first_start = coalesce(first_start, ?3), "
			     "running_since = coalesce(running_since, ?3) WHERE appliance = ?1 AND vm = ?2",
		[OP_SHUTDOWN] = "UPDATE vms SET last_state = 'stopped', last_change = ?3, "
				"running_us = running_us + coalesce(?3 - running_since, 0), running_since = NULL "
				"WHERE appliance = ?1 AND vm = ?2",
		[OP_UNDEFINE] = "UPDATE vms SET last_state = 'undeployed', last_change = ?3, removed = ?3, "
				"running_us = running_us + coalesce(?3 - running_since, 0), running_since = NULL "
				"WHERE appliance = ?1 AND vm = ?2",
	};
	op_kind k = (op->kind == OP_RESUME || op->kind == OP_PM_WAKEUP) ? OP_START :
		    (op->kind == OP_SUSPEND || op->kind == OP_SAVE) ? OP_SHUTDOWN : op->kind;
	sqlite3_stmt *st;

	if (!op->vm || k >= G_N_ELEMENTS(sql) || !sql[k])
		return;
	st = prepare(h, sql[k], NULL);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, op->appliance, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, op->vm, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

static bool
history_results_write(history *h, plan_op **ops, const gint64 *row_ids, guint n,
		       GError **error)
{
	sqlite3_stmt *st;
	gint64 now = g_get_real_time();

	st = prepare(h, "UPDATE ops SET started = coalesce(started, ?), ended = ?, result = ?, error = ? WHERE id = ?",
		     error);
	if (!st)
		return false;
	for (guint i = 0; i < n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, op_status_name(ops[i]->status), -1, SQLITE_STATIC);
		/* A done op that found nothing to do says so, and is no one's
		 * last act on the VM (history_last_op). */
		sqlite3_bind_text(st, 4, ops[i]->error ? ops[i]->error :
				  ops[i]->unchanged ? HISTORY_NOTHING_TO_DO : NULL, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 5, row_ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			db_fail(h, error, "record result");
			sqlite3_finalize(st);
			return false;
		}
		if (ops[i]->status == OPST_DONE)
			account(h, ops[i], now);
		if (ops[i]->kind == OP_VOL_COPY || ops[i]->kind == OP_VOL_CAPTURE)
			image_ended(h, ops[i], now);
		if (ops[i]->kind == OP_VOL_DELETE && ops[i]->retire)
			image_retired(h, ops[i], now);
		if ((ops[i]->kind == OP_LIB_EXPORT || ops[i]->kind == OP_IMAGE_EXPORT) &&
		    (ops[i]->status == OPST_DONE || ops[i]->status == OPST_FAILED))
			image_exported(h, ops[i], now);
	}
	sqlite3_finalize(st);
	return true;
}

bool
history_results(history *h, plan_op **ops, const gint64 *row_ids, guint n, GError **error)
{
	return tx_begin(h, error) &&
	       tx_end(h, history_results_write(h, ops, row_ids, n, error), error);
}

GPtrArray *
history_ops(history *h, const history_query *q, GError **error)
{
	g_autoptr(GString) sql = g_string_new(
		"SELECT ops.id, ops.run, runs.trigger, ops.seq, ops.host, ops.appliance, ops.vm, "
		"ops.kind, ops.impact, ops.args, ops.reason, ops.intent, ops.ended, ops.result, ops.error "
		"FROM ops JOIN runs ON runs.id = ops.run WHERE ops.intent >= ?1");
	sqlite3_stmt *st;

	if (q->vm)
		g_string_append(sql, " AND (ops.vm = ?2 OR ops.appliance || '.' || ops.vm = ?2)");
	g_string_append(sql, " ORDER BY ops.id");
	if (q->limit)
		g_string_append_printf(sql, " LIMIT %u", q->limit);
	st = prepare(h, sql->str, error);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, q->since_us);
	if (q->vm)
		sqlite3_bind_text(st, 2, q->vm, -1, SQLITE_TRANSIENT);
	return rows_of(st);
}

/* ---- scheduled actions ------------------------------------------------- */

bool
history_schedule_get(history *h, const char *entry, const char *vm, gint64 *last_fire,
		     guint *fires)
{
	sqlite3_stmt *st = prepare(h, "SELECT last_fire, fires FROM schedule_state "
				   "WHERE entry = ? AND vm = ?", NULL);
	bool found = false;

	if (!st)
		return false;
	sqlite3_bind_text(st, 1, entry, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, vm ? vm : "", -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*last_fire = sqlite3_column_int64(st, 0);
		*fires = (guint)sqlite3_column_int(st, 1);
		found = true;
	}
	sqlite3_finalize(st);
	return found;
}

static bool
history_schedule_fired_write(history *h, const char *entry, const char *appliance,
			     const char *vm, const char *action, gint64 planned,
			     guint fires, GError **error)
{
	sqlite3_stmt *st;

	st = prepare(h, "INSERT INTO schedule_state(entry, vm, appliance, action, last_fire, fires) "
		     "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(entry, vm) DO UPDATE SET "
		     "last_fire = ?5, fires = ?6", error);
	if (!st)
		return false;
	sqlite3_bind_text(st, 1, entry, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, vm ? vm : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, appliance, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, planned);
	sqlite3_bind_int(st, 6, (int)fires);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_finalize(st);
		db_fail(h, error, "schedule state");
		return false;
	}
	sqlite3_finalize(st);
	return true;
}

bool
history_schedule_fired(history *h, const char *entry, const char *appliance,
		       const char *vm, const char *action, gint64 planned, guint fires,
		       GError **error)
{
	return tx_begin(h, error) &&
	       tx_end(h, history_schedule_fired_write(h, entry, appliance, vm, action, planned, fires, error), error);
}

void
history_schedule_log(history *h, const char *entry, const char *appliance, const char *vm,
		     const char *action, gint64 planned, gint64 actual, const char *result)
{
	sqlite3_stmt *st = prepare(h, "INSERT INTO schedule_fires(entry, appliance, vm, action, "
				   "planned, actual, result) VALUES (?, ?, ?, ?, ?, ?, ?)", NULL);

	if (!st)
		return;
	sqlite3_bind_text(st, 1, entry, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, appliance, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, vm, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, planned);
	sqlite3_bind_int64(st, 6, actual);
	sqlite3_bind_text(st, 7, result, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		g_warning("history: cannot record a scheduled fire: %s", sqlite3_errmsg(h->db));
	sqlite3_finalize(st);
}

gint64
history_first_start(history *h, const char *appliance, const char *vm)
{
	sqlite3_stmt *st = prepare(h, "SELECT first_start FROM vms WHERE appliance = ? AND vm = ?", NULL);
	gint64 t = 0;

	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, appliance, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, vm, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		t = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return t;
}

/* ---- holds: desired states that outlive a restart ---------------------- */

bool
history_hold_put(history *h, const char *domain, int state, const char *hash,
		 const char *why)
{
	sqlite3_stmt *st = prepare(h, "INSERT OR REPLACE INTO holds(domain, state, hash, why) "
				   "VALUES (?, ?, ?, ?)", NULL);
	int rc;

	if (!st)
		return false;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 2, state);
	sqlite3_bind_text(st, 3, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, why, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE;
}

bool
history_hold_drop(history *h, const char *domain)
{
	sqlite3_stmt *st = prepare(h, "DELETE FROM holds WHERE domain = ?", NULL);
	int rc;

	if (!st)
		return false;
	sqlite3_bind_text(st, 1, domain, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE;
}

void
history_holds(history *h, history_hold_fn fn, gpointer data)
{
	sqlite3_stmt *st = prepare(h, "SELECT domain, state, hash, why FROM holds", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1),
		   (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
		   data);
	sqlite3_finalize(st);
}

/* ---- hosts and the managed domains they ran ----------------------------- */

static int
by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The managed domains of @oh, sorted, as one string: what is written. */
static char *
host_digest(const obs_host *oh)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; i < oh->domains->len; i++) {
		const obs_domain *d = oh->domains->pdata[i];

		if (d->managed)
			g_ptr_array_add(names, d->name);
	}
	g_ptr_array_sort(names, by_name);
	for (guint i = 0; i < names->len; i++)
		g_string_append_printf(s, "%s\n", (const char *)names->pdata[i]);
	return g_string_free(g_steal_pointer(&s), FALSE);
}

static bool
host_vms_write(history *h, const char *host, const char *digest)
{
	g_auto(GStrv) names = g_strsplit(digest, "\n", -1);
	sqlite3_stmt *del = prepare(h, "DELETE FROM host_vms WHERE host = ?", NULL);
	sqlite3_stmt *ins = prepare(h, "INSERT INTO host_vms(host, domain) VALUES (?, ?)", NULL);
	bool ok = del && ins;

	if (ok) {
		sqlite3_bind_text(del, 1, host, -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(del) == SQLITE_DONE;
	}
	for (guint i = 0; ok && names[i] && names[i][0]; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, host, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 2, names[i], -1, SQLITE_TRANSIENT);
		ok = sqlite3_step(ins) == SQLITE_DONE;
	}
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	return ok;
}

bool
history_host_vms_record(history *h, const observed *have, GError **error)
{
	if (!h->host_seen)
		h->host_seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	for (guint i = 0; i < have->hosts->len; i++) {
		const obs_host *oh = have->hosts->pdata[i];
		g_autofree char *digest = NULL;
		const char *seen;

		if (!oh->reachable)
			continue;  /* unknown is not empty */
		digest = host_digest(oh);
		seen = g_hash_table_lookup(h->host_seen, oh->name);
		if (seen && strcmp(seen, digest) == 0)
			continue;  /* nothing new: no write on a quiet pass */
		if (!tx_begin(h, error))
			return false;
		if (!host_vms_write(h, oh->name, digest)) {
			db_fail(h, error, "recording the hosts' domains");
			return tx_end(h, false, NULL);
		}
		if (!tx_end(h, true, error))
			return false;
		g_hash_table_insert(h->host_seen, g_strdup(oh->name), g_steal_pointer(&digest));
	}
	return true;
}

GPtrArray *
history_vanished_hosts(history *h, const host_set *hosts)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	sqlite3_stmt *st = prepare(h, "SELECT host, count(*), group_concat(domain, ', ') "
				      "FROM (SELECT * FROM host_vms ORDER BY domain) GROUP BY host", NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *host = (const char *)sqlite3_column_text(st, 0);

		if (g_hash_table_contains(hosts->by_name, host))
			continue;
		g_ptr_array_add(out, g_strdup_printf("%s (no longer in the source; it ran %d managed VM(s) at the last look: %s)",
						     host, sqlite3_column_int(st, 1),
						     (const char *)sqlite3_column_text(st, 2)));
	}
	sqlite3_finalize(st);
	return out;
}

char *
history_last_op(history *h, const char *domain)
{
	g_auto(GStrv) parts = g_strsplit(domain, ".", 2);
	sqlite3_stmt *st = prepare(h, "SELECT kind FROM ops WHERE appliance = ? AND vm = ? "
				      "AND result = 'done' AND error IS NULL ORDER BY id DESC LIMIT 1", NULL);
	char *kind = NULL;

	if (!st || !parts[0] || !parts[1]) {
		sqlite3_finalize(st);
		return NULL;
	}
	sqlite3_bind_text(st, 1, parts[0], -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, parts[1], -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		kind = g_strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return kind;
}

/* ---- shared pools ------------------------------------------------------ */

static bool
share_step(history *h, const char *sql, const share_state *s, const char *text)
{
	sqlite3_stmt *st = prepare(h, sql, NULL);
	bool ok;

	if (!st)
		return false;
	sqlite3_bind_text(st, 1, s->pool, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, s->declared, -1, SQLITE_TRANSIENT);
	if (text)
		sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, g_get_real_time() / G_USEC_PER_SEC);
	ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return ok;
}

/* A probe's outcome: a refutation voids the members seen before, under
 * any declaration of the pool; members seen sharing are added; a probe of
 * every member that agreed lifts the pool's refutation, whichever
 * declaration it was found under. */
static bool
share_write(history *h, const share_state *s)
{
	GHashTableIter it;
	gpointer host;
	bool ok = true;

	if (s->refuted)
		return share_step(h, "INSERT OR REPLACE INTO pool_refutations VALUES (?1, ?2, ?3, ?4)", s,
				  s->refuted) &&
		       share_step(h, "DELETE FROM pool_members WHERE pool = ?1", s, NULL);
	g_hash_table_iter_init(&it, s->ever);
	while (ok && g_hash_table_iter_next(&it, &host, NULL))
		ok = share_step(h, "INSERT OR REPLACE INTO pool_members VALUES (?1, ?2, ?3, ?4)", s, host);
	if (ok && s->all_agreed)
		ok = share_step(h, "DELETE FROM pool_refutations WHERE pool = ?1", s, NULL);
	return ok;
}

/* What history says of @s's declaration: members seen sharing, a standing
 * refutation. */
static void
share_read(history *h, share_state *s)
{
	sqlite3_stmt *st = prepare(h, "SELECT host FROM pool_members WHERE pool = ?1 AND declared = ?2", NULL);

	if (st) {
		sqlite3_bind_text(st, 1, s->pool, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, s->declared, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(st) == SQLITE_ROW)
			g_hash_table_add(s->ever, g_strdup((const char *)sqlite3_column_text(st, 0)));
		sqlite3_finalize(st);
	}
	/* A refutation stands for the pool, whatever its declaration now. */
	st = prepare(h, "SELECT finding FROM pool_refutations WHERE pool = ?1 "
			"ORDER BY time DESC LIMIT 1", NULL);
	if (st) {
		sqlite3_bind_text(st, 1, s->pool, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, s->declared, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(st) == SQLITE_ROW && !s->refuted)
			s->refuted = g_strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	s->history = true;
}

bool
history_shares_sync(history *h, GHashTable *shares, GError **error)
{
	GHashTableIter it;
	gpointer v;
	bool ok = true;

	if (!shares)
		return true;
	if (!h->share_gen)
		h->share_gen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_hash_table_iter_init(&it, shares);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		share_state *s = v;
		g_autofree char *key = g_strdup_printf("%s\x1f%s", s->pool, s->declared);
		guint64 *gen = g_hash_table_lookup(h->share_gen, key);

		if (s->gen && (!gen || *gen != s->gen)) {
			if (!tx_begin(h, error))
				return false;
			if (!tx_end(h, share_write(h, s), NULL)) {
				ok = db_fail(h, error, "recording what a probe found");
				continue;
			}
			g_hash_table_insert(h->share_gen, g_strdup(key), g_memdup2(&s->gen, sizeof(s->gen)));
		}
		share_read(h, s);
	}
	return ok;
}

/* ---- signature checks of a Git source ----------------------------------- */

bool
history_signature_record(history *h, const history_signature *s, GError **error)
{
	sqlite3_stmt *st = prepare(h, "INSERT INTO signature_checks(time, mode, target, commit_id, tag, ok, "
				   "key_id, signer, reason, source_url, source_branch, source_path, ref, "
				   "unchecked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", error);

	if (!st)
		return false;
	sqlite3_bind_int64(st, 1, g_get_real_time());
	sqlite3_bind_text(st, 2, s->mode, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, s->target ? s->target : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, s->commit ? s->commit : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, s->tag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 6, s->ok);
	sqlite3_bind_text(st, 7, s->key_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, s->signer, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, s->reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 10, s->url ? s->url : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 11, s->branch ? s->branch : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 12, s->path ? s->path : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 13, s->ref, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 14, s->unchecked);
	return insert(h, st, error) > 0;
}

static char *
column_dup(sqlite3_stmt *st, int i)
{
	return g_strdup((const char *)sqlite3_column_text(st, i));
}

bool
history_signature_verified(history *h, const char *url, const char *branch, const char *path,
			   char **mode, char **target, char **commit, char **ref)
{
	sqlite3_stmt *st = prepare(h, "SELECT mode, target, commit_id, ref FROM signature_checks "
				   "WHERE ok = 1 AND source_url = ?1 AND source_branch = ?2 AND source_path = ?3 "
				   "ORDER BY id DESC LIMIT 1", NULL);
	bool found = false;

	if (!st)
		return false;
	sqlite3_bind_text(st, 1, url ? url : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, branch ? branch : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, path ? path : "", -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*mode = column_dup(st, 0);
		*target = column_dup(st, 1);
		*commit = column_dup(st, 2);
		*ref = column_dup(st, 3);
		found = true;
	}
	sqlite3_finalize(st);
	return found;
}
