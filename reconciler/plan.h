/*
 * plan.h - the difference between desired and observed, as a DAG of ops
 *
 * Pure: plan_build reads a desired_state and an observed snapshot and
 * returns operations with their dependencies; nothing is called.  Every
 * op says what it costs the VM (its impact) and why it is there.
 *
 * The rules that protect data live here:
 *  - only domains carrying strata's metadata are ever touched;
 *  - a VM is never created while some host is unreachable (it may be
 *    running there) unless that host is declared lost, and nothing is
 *    planned on an unreachable host;
 *  - a volume is deleted (vol_delete_blocker) only if the definition of
 *    the domain it goes with uses it and it carries the name strata gives
 *    that domain's disks, no other definition on the host uses it (as
 *    observed; see observe.h for what that covers), and it is neither a
 *    persistent volume nor a template base; a persistent volume goes only
 *    by its own `state: deleted`;
 *  - a plan that would remove every managed VM, or more than a set share
 *    of them, is refused unless allowed; an error holds back the
 *    appliance it concerns, and a plan that cannot be ordered runs not
 *    at all.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#pragma once

#include "desired.h"
#include "observe.h"

typedef enum {
	OP_VOL_CREATE,
	OP_VOL_DELETE,
	OP_DEFINE,
	OP_UNDEFINE,
	OP_START,
	OP_SHUTDOWN,      /* graceful, then power off at the timeout */
	OP_SUSPEND,
	OP_RESUME,
	OP_SAVE,          /* managed save */
	OP_DISCARD_SAVE,  /* drop a managed-save image */
	OP_SET_MEMORY,    /* live balloon change */
	OP_REBOOT,        /* scheduled one-shots: */
	OP_SNAPSHOT_CREATE,
	OP_SNAPSHOT_DELETE,
	OP_MIGRATE,       /* live, from host to target, disks copied */
	OP_PM_WAKEUP,     /* wake a guest that suspended itself (S3) */
	OP_VOL_COPY,      /* a template base, from host peer (or a library) to host */
	OP_LIB_EXPORT,    /* a template base, from host into a library */
	OP_IMAGE_EXPORT,  /* a template base, converted for a public cloud */
	OP_VOL_CAPTURE,   /* a template base, made from a VM's system disk */
	OP_SET_VCPUS,     /* live vCPU change, within the defined maximum */
	OP_ATTACH,        /* a disk or NIC (op->xml), live and in the definition */
	OP_DETACH,        /* op->device (a disk's target, a NIC's MAC), live and
			     in the definition, done once the guest let it go */
	OP_DISK_RESIZE,   /* op->device to op->value bytes: live (block resize)
			     on a running VM, the volume itself on one shut off */
	OP_SNAPSHOT_REVERT, /* op->snapshot, declared as revert op->revert_id */
	OP_MEDIA,         /* the CD-ROM drive op->device given op->xml (its media,
			     or none): live and in the definition; op->file
			     names the media ("pool/volume"), NULL: an eject */
	OP_SEED,          /* the first-boot data (op->seed) written into
			     op->pool/op->volume as a NoCloud image, the
			     volume made or grown as needed; op->digest: the
			     data's.  The guest reads it at its next boot */
	OP_CONSOLE_PASSWORD, /* the running VM's console given op->xml (its
			     graphics, with the new password); the definition
			     follows */
	OP_KIND_COUNT,
} op_kind;

/* How long a detach waits for the guest to let the device go. */
#define DETACH_DEADLINE_S 30

typedef enum {
	IMPACT_IN_PLACE,
	IMPACT_RESTART,
	IMPACT_HARD_STOP,  /* graceful, then powered off hard at a timeout */
	IMPACT_REPLACE,
	IMPACT_DESTROYS_DATA,
} op_impact;

typedef enum {
	OPST_PENDING,
	OPST_RUNNING,
	OPST_DONE,
	OPST_FAILED,
	OPST_SKIPPED,     /* a dependency failed */
} op_status;

/* LIB_EXPORT: the library entry it adds; IMAGE_EXPORT: the target. */
typedef struct {
	char *template;
	unsigned version;
	unsigned cpus;
	uint64_t memory;
	char *format;
	uint64_t virtual_size;
	char *file_name;          /* IMAGE_EXPORT: in the folder op->file */
	char *source_format;      /* IMAGE_EXPORT: the base's, as libvirt says */
	char *command;            /* IMAGE_EXPORT: upload, or NULL */
	char *region;
	unsigned timeout_s;
	unsigned attempts;
	/* LIB_EXPORT: every disk of the template, in order, system disk first */
	guint n_disks;
	GStrv volumes;
	GStrv formats;
	uint64_t *sizes;
} plan_export;

typedef struct plan_op plan_op;
struct plan_op {
	unsigned id;              /* 1-based, in plan order */
	op_kind kind;
	op_impact impact;
	char *host;
	char *target;             /* MIGRATE: the host it goes to */
	bool redefines;           /* DEFINE: of a domain its host has already */
	bool shared;              /* MIGRATE: its disks stay where they are, on
				     pools both hosts share; nothing is copied */
	GStrv refresh;            /* MIGRATE: pools its target, DEFINE: pools its
				     host, reads again first (shared pools, where
				     another member made the volumes) */
	GStrv members;            /* VOL_DELETE on a pool declared shared: the
				     other members, each asked just before
				     whether a domain there uses the volume */
	char *peer;               /* VOL_DELETE after a move: the host the VM
				     went to; exec makes sure the two do not
				     see the pool as one storage first.
				     VOL_COPY: the host it is copied from */
	char *domain;             /* NULL for persistent-volume ops */
	char *appliance;
	char *vm;
	char *pool;               /* volume ops */
	char *volume;
	char *clone_from;         /* VOL_CREATE by copying this volume */
	char *library;            /* VOL_COPY from, LIB_EXPORT into: its name */
	char *file;               /* VOL_COPY from a library: the image file;
				     LIB_EXPORT: the library's folder;
				     VOL_CAPTURE: the pool of clone_from */
	char *image;              /* VOL_COPY from a library: the image, relative
				     to the library's folder (op->file) */
	plan_export *export;      /* LIB_EXPORT */
	bool after_any;           /* runs once its steps ended, a capture among
				     them failed or not: a VM started again
				     after a capture, whatever became of it */
	bool no_force;            /* SHUTDOWN: never powered off at the timeout
				     (before a capture: a clean disk, or none) */
	bool live;                /* VOL_CAPTURE of a running VM from a
				     point-in-time copy (a backup job): no stop */
	bool retire;              /* VOL_DELETE of an old captured version
				     (keep: N): exec hashes it against @hash,
				     then asks every host (@members too)
				     whether anything stands on it */
	bool rebuild;             /* VOL_DELETE of @domain's system disk, which
				     stays defined: the last guard before the
				     delete ignores that domain's use of it */
	char *xml;                /* DEFINE: domain XML; VOL_CREATE: volume XML */
	char *hash;               /* DEFINE: the hash it records; VOL_COPY: the
				     sha256 the copy must have, or NULL */
	uint64_t value;           /* VOL_COPY: bytes on disk at the source; SET_MEMORY: bytes; SNAPSHOT_CREATE: snapshots kept;
				     SHUTDOWN: seconds to a power-off; MIGRATE, SAVE:
				     seconds to an abort */
	char *snapshot;           /* SNAPSHOT_*: the name, or the prefix to prune */
	bool one_snapshot;        /* SNAPSHOT_DELETE: the one named, not a prefix;
				     SNAPSHOT_CREATE: a declared one (no retention) */
	char *revert_id;          /* SNAPSHOT_REVERT: the declaration's id */
	bool snapshots_may_go;    /* DISK_RESIZE: on_disk_change: delete-snapshots */
	bool moves_vm;            /* RESUME, PM_WAKEUP, SHUTDOWN, UNDEFINE, MIGRATE
				     on the host a VM leaves: fails while the VM
				     has snapshots (the plan may not have read
				     them; libvirt migrates no domain with any) */
	char *device;             /* DETACH, DISK_RESIZE: the disk's target or the
				     NIC's MAC */
	bool next_boot;           /* DEFINE of a running VM that is not restarted
				     after it: it runs unlike its definition
				     (restart required) until it is */
	GBytes *seed[SPEC_SEED_PARTS]; /* SEED: the data, never shown or recorded */
	char *reason;
	GPtrArray *deps;          /* plan_op *, borrowed */
	/* Filled by exec: */
	op_status status;
	char *error;
	unsigned attempts;
	gint64 started_us, ended_us; /* monotonic: when it was handed to a worker,
					when its result came back (0: never) */
	bool unchanged;           /* done, but it found nothing to do (a stop of a
				     VM already off): no event follows */
	char *digest;             /* VOL_COPY: the sha256 the copy had;
				     IMAGE_EXPORT: the converted file's;
				     SEED: the data's (set by the planner) */
	char *log;                /* IMAGE_EXPORT: what its upload attempts did */
	uint64_t length;          /* VOL_COPY: bytes in the image */
	uint64_t moved;           /* VOL_COPY: data bytes that crossed */
	bool partial;             /* VOL_COPY failed and what it made stayed */
};

typedef struct {
	GPtrArray *ops;           /* plan_op *, owned, a topological order */
	GPtrArray *notes;         /* char *: ignored, orphaned, waiting */
	GPtrArray *errors;        /* char *: what cannot be done, and why; the
				     ops of the appliances they concern (and
				     what waits for them) are left out, the
				     rest of the plan stands */
	unsigned n_create;
	unsigned n_change;
	unsigned n_remove;
	bool partial;             /* a host did not answer: what runs there is unknown */
	bool removal_held;        /* refused for removing too many managed VMs
				     (--max-removal, --allow-empty) */
} plan;

#define PLAN_MAX_REMOVAL_PCT 50

typedef struct {
	bool allow_empty;         /* allow removing every managed VM */
	/* A revision removing more than this share (percent; 0 = 50) of the
	 * managed VMs is held unless allow_removal says it was confirmed. */
	guint max_removal_pct;
	bool allow_removal;
	/* domain name -> GINT_TO_POINTER(enum spec_vm_state): states that hold
	 * instead of the spec's (a guest that shut itself down with restart:
	 * on-failure, a scheduled power-off).  Borrowed; may be NULL. */
	GHashTable *overrides;
	/* char *: hosts that ran managed domains at the last look but are
	 * gone from the source ("NAME (why)").  Their domains are unknown:
	 * nothing is created while there are any.  Borrowed; may be NULL. */
	const GPtrArray *vanished;
	/* "appliance.vm" -> host: a define or volume create a crashed run
	 * sent there, never answered.  A VM defined nowhere goes there, where
	 * the call may still land.  Borrowed; may be NULL. */
	GHashTable *cut_short;
	/* "host/pool/volume" -> run id (gint64 *): base copies a run began
	 * and never verified.  What is there may be half a copy: nothing is
	 * built on it.  Borrowed; may be NULL. */
	GHashTable *unverified_copies;
	/* "EXPORT/TEMPLATE/VERSION": images exported and uploaded already,
	 * never again (a cloud may refuse a name twice).  Borrowed; may be
	 * NULL. */
	GHashTable *done_exports;
	/* "pool/volume" -> "TIME_US at ISO, capture failed: why": a capture
	 * that failed is tried again an hour later, not at every pass (each
	 * try stops the VM).  Borrowed; may be NULL. */
	GHashTable *failed_captures;
	/* "pool/volume" -> sha256: versions captured already, never again
	 * (a version is one image).  Borrowed; may be NULL. */
	GHashTable *captured;
	/* history_failed_exports: an export that failed is tried again an
	 * hour later, not at every pass (each try streams the whole image).
	 * Borrowed; may be NULL. */
	GHashTable *failed_exports;
	/* domain -> GStrv of "NETWORK MAC", in NIC order: the addresses history
	 * recorded when strata last defined it, for a domain no host shows
	 * now (its host lost, say).  Borrowed; may be NULL. */
	GHashTable *macs;
	/* "host/pool/volume" of the bases strata made (history_made): old
	 * captured versions are deleted only among these.  Borrowed; may be
	 * NULL (then none is). */
	GHashTable *made;
	/* "APP.VM/ID" of reverts carried out (history_reverts_done): a
	 * revert is made once per id.  Borrowed; may be NULL (a plan without
	 * a history: a revert whose definition is not yet recorded shows). */
	GHashTable *reverts_done;
} plan_options;

plan *plan_build(const desired_state *want, const observed *have,
		 const plan_options *opts);
/* An empty plan: no ops, notes or errors. */
plan *plan_new(void);
void plan_free(plan *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(plan, plan_free)

/*
 * Put @p's ops in a topological order (stable: ops keep their order unless
 * a dependency says otherwise) and number them.  plan_build does it; it
 * is public for plans assembled or extended by hand.  Ops that wait on
 * each other in a cycle cannot be ordered: they and what waits on them
 * are dropped, an error naming the VMs and the steps of the cycle is
 * added to p->errors (a plan with errors is not carried out), and false
 * is returned.  Never an abort: a planner bug costs one pass, not the
 * daemon.
 */
bool plan_order(plan *p);

/*
 * Append a scheduled one-shot (reboot, snapshot-create, snapshot-delete)
 * for @domain on @host, after every op the plan has for that domain.
 */
plan_op *plan_append_oneshot(plan *p, op_kind kind, const char *host,
			     const char *domain, const char *reason);

const char *op_kind_name(op_kind k);
const char *op_impact_name(op_impact i);
const char *op_status_name(op_status s);
/* '+' creates, '-' removes, '~' changes in place. */
char op_symbol(const plan_op *op);
/* "300.0 MiB": binary units, plain spaces (GLib's g_format_size puts a
 * no-break space, which a terminal or a grep does not take for one). */
char *plan_size_text(uint64_t bytes);
/* "start webstack.app1", "create volume default/persistent-db.qcow2" */
char *op_describe(const plan_op *op);
