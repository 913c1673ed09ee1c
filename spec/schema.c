/*
 * schema.c - key tables and the decoder that applies them
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "schema.h"

typedef enum {
	T_IGNORE,   /* `kind`: already used to pick the table */
	T_NAME,     /* RFC 1123 label */
	T_IDENT,    /* pool, volume, network: [A-Za-z0-9][A-Za-z0-9._-]* */
	T_TEXT,     /* free text for people (display names) */
	T_STR,      /* URIs, times, time zones: no control characters */
	T_DOC,      /* a document (cloud-init data): lines and tabs allowed */
	T_INT,
	T_SIZE,
	T_BOOL,
	T_ENUM,
	T_NUM,
	T_NAMES,    /* list of names */
	T_INTS,     /* list of integers */
	T_END,      /* schedule end: a count or a date */
	T_TABLE,    /* nested mapping decoded into the same struct */
	T_OBJLIST,  /* list of mappings, each a new struct */
} field_type;

typedef struct table table;

typedef struct {
	const char *key;
	field_type type;
	bool required;
	size_t off;
	int64_t min, max;
	const char *const *enums;   /* NULL-terminated, for T_ENUM */
	const table *sub;           /* T_TABLE, T_OBJLIST */
	size_t off2;                /* T_END: where the date goes */
} field;

struct table {
	const char *what;           /* for messages: "host", "VM", "disk" */
	const field *fields;
	size_t n;
	size_t size;                /* T_OBJLIST element size */
	size_t pos_off;             /* where the element keeps its position */
	void (*init)(void *obj);
	void (*fini)(void *obj);    /* frees what no field of the table holds */
	size_t invalid_off;         /* bool set when a value was bad, or 0 */
};

typedef struct {
	const char *file;
	spec_diags *diags;
} decoder;

#define KiB 1024LL
#define MiB (1024LL * KiB)
#define GiB (1024LL * MiB)
#define TiB (1024LL * GiB)
#define SIZE_MAX_BYTES (64LL * TiB)

const char *const spec_vm_state_names[] = {
	"running", "stopped", "paused", "saved", "undeployed", NULL };
const char *const spec_restart_names[] = {
	"on-failure", "always", "never", NULL };
const char *const spec_disk_bus_names[] = { "virtio", "scsi", NULL };
const char *const spec_on_disk_change_names[] = { "refuse", "delete-snapshots", NULL };
const char *const spec_console_names[] = { "vnc", "spice", NULL };
const char *const spec_seed_keys[] = { "user_data", "meta_data", "network_config", NULL };
const char *const spec_seed_files[] = { "user-data", "meta-data", "network-config", NULL };
const char *const spec_action_names[] = {
	"terminate", "undeploy", "hold", "release", "stop", "suspend",
	"resume", "reboot", "poweroff", "snapshot-create", "snapshot-delete",
	NULL };
const char *const spec_repeat_names[] = {
	"none", "hourly", "weekly", "monthly", "yearly", NULL };
const char *const spec_appliance_state_names[] = {
	"deployed", "undeployed", NULL };
static const char *const host_state_names[] = { "up", "lost", NULL };
const char *const spec_lock_manager_names[] = { "none", "virtlockd", "sanlock", NULL };
static const char *const ptemplate_state_names[] = {
	"present", "deleted", NULL };
static const char *const placement_names[] = { "spread", "pack", NULL };
static const char *const disruption_names[] = { "allowed", "never", NULL };
static const char *const catch_up_names[] = { "once", "skip", NULL };

/* ---- defaults ---------------------------------------------------------- */

static void
host_init(void *p)
{
	spec_host *h = p;

	h->overcommit_cpus.v = 1.0;
	h->overcommit_memory.v = 1.0;
	h->state.v = HOST_UP;
}

static void
template_init(void *p)
{
	spec_template *t = p;

	t->cpus.v = 1;
	t->memory.v = 1 * GiB;
	t->version.v = 1;
	t->disks = g_ptr_array_new();
}

static void
ptemplate_init(void *p)
{
	spec_ptemplate *t = p;

	t->state.v = PTEMPLATE_PRESENT;
}

static void
appliance_init(void *p)
{
	spec_appliance *a = p;

	a->state.v = APPLIANCE_DEPLOYED;
	a->placement.v = PLACEMENT_SPREAD;
	a->heal.v = 1;
	a->disruption.v = DISRUPTION_ALLOWED;
	a->vms = g_ptr_array_new();
	a->schedule = g_ptr_array_new();
}

static void
vm_init(void *p)
{
	spec_vm *vm = p;

	vm->restart.v = RESTART_ON_FAILURE;
	vm->state.v = VM_RUNNING;
	vm->shutdown_timeout.v = SPEC_SHUTDOWN_TIMEOUT_S;
	vm->disks = g_ptr_array_new();
	vm->nics = g_ptr_array_new();
}

static void
vm_fini(void *p)
{
	spec_vm *vm = p;

	for (int i = 0; i < SPEC_SEED_PARTS; i++)
		g_clear_pointer(&vm->ci_bytes[i], g_bytes_unref);
	g_clear_pointer(&vm->console_password, g_bytes_unref);
}

static void
sched_init(void *p)
{
	spec_sched *s = p;

	s->repeat.v = REPEAT_NONE;
	s->catch_up.v = CATCH_UP_ONCE;
}

/* ---- tables: one row per key ------------------------------------------- */

#define TABLE(w, f, ...) \
	{ .what = w, .fields = f, .n = G_N_ELEMENTS(f), __VA_ARGS__ }

#define F(k, t, req, st, member, ...) \
	{ .key = k, .type = t, .required = req, \
	  .off = offsetof(st, member), __VA_ARGS__ }

static const field reserve_fields[] = {
	F("memory", T_SIZE, false, spec_host, reserve_memory, .max = SIZE_MAX_BYTES),
	F("cpus", T_INT, false, spec_host, reserve_cpus, .max = 4096),
};
static const table reserve_table = TABLE("reserve", reserve_fields);

static const field overcommit_fields[] = {
	F("cpus", T_NUM, false, spec_host, overcommit_cpus, .min = 1, .max = 64),
	F("memory", T_NUM, false, spec_host, overcommit_memory, .min = 1, .max = 4),
};
static const table overcommit_table = TABLE("overcommit", overcommit_fields);

static const field host_fields[] = {
	F("kind", T_IGNORE, true, spec_host, obj),
	F("name", T_NAME, true, spec_host, obj.name),
	F("uri", T_STR, true, spec_host, uri),
	F("migration_uri", T_STR, false, spec_host, migration_uri),
	F("migration_timeout", T_INT, false, spec_host, migration_timeout, .min = 10, .max = 86400),
	F("tags", T_NAMES, false, spec_host, tags),
	F("reserve", T_TABLE, false, spec_host, obj, .sub = &reserve_table),
	F("overcommit", T_TABLE, false, spec_host, obj, .sub = &overcommit_table),
	F("maintenance", T_BOOL, false, spec_host, maintenance),
	F("state", T_ENUM, false, spec_host, state, .enums = host_state_names),
	F("lock_manager", T_ENUM, false, spec_host, lock_manager, .enums = spec_lock_manager_names),
};

static const field source_fields[] = {
	F("host", T_NAME, false, spec_template, source_host),
	F("library", T_NAME, false, spec_template, source_library),
	F("vm", T_STR, false, spec_template, source_vm),
	F("live", T_BOOL, false, spec_template, source_live),
};
static const table source_table = TABLE("source", source_fields);

const char *const spec_image_format_names[] = { "qcow2", "raw", "vmdk", "vhd", NULL };

static const field upload_fields[] = {
	F("command", T_STR, true, spec_export, upload_command),
	F("region", T_STR, false, spec_export, upload_region),
	F("timeout", T_INT, false, spec_export, upload_timeout, .min = 1, .max = 86400),
	F("attempts", T_INT, false, spec_export, upload_attempts, .min = 1, .max = 10),
};
static const table upload_table = TABLE("upload", upload_fields);

static const field export_fields[] = {
	F("kind", T_IGNORE, true, spec_export, obj),
	F("name", T_NAME, true, spec_export, obj.name),
	F("template", T_NAME, true, spec_export, template),
	F("format", T_ENUM, true, spec_export, format, .enums = spec_image_format_names),
	F("path", T_STR, true, spec_export, path),
	F("upload", T_TABLE, false, spec_export, obj, .sub = &upload_table),
};

static void
export_init(void *p)
{
	spec_export *e = p;

	e->upload_timeout.v = 600;
	e->upload_attempts.v = 3;
}

static const field library_fields[] = {
	F("kind", T_IGNORE, true, spec_library, obj),
	F("name", T_NAME, true, spec_library, obj.name),
	F("path", T_STR, true, spec_library, path),
	F("export", T_NAMES, false, spec_library, export),
};

static const field tdisk_fields[] = {
	F("name", T_NAME, true, spec_tdisk, name),
	F("volume", T_IDENT, false, spec_tdisk, volume),
};
static const table tdisk_table = TABLE("template disk", tdisk_fields, .size = sizeof(spec_tdisk),
	.pos_off = offsetof(spec_tdisk, pos));

static const field template_fields[] = {
	F("kind", T_IGNORE, true, spec_template, obj),
	F("name", T_NAME, true, spec_template, obj.name),
	F("pool", T_IDENT, true, spec_template, pool),
	F("volume", T_IDENT, false, spec_template, volume),
	F("cpus", T_INT, false, spec_template, cpus, .min = 1, .max = 1024),
	F("memory", T_SIZE, false, spec_template, memory, .min = MiB, .max = SIZE_MAX_BYTES),
	F("max_cpus", T_INT, false, spec_template, max_cpus, .min = 1, .max = 1024),
	F("max_memory", T_SIZE, false, spec_template, max_memory, .min = MiB, .max = SIZE_MAX_BYTES),
	F("disk_size", T_SIZE, false, spec_template, disk_size, .min = MiB, .max = SIZE_MAX_BYTES),
	F("source", T_TABLE, false, spec_template, obj, .sub = &source_table,
	  .off2 = offsetof(spec_template, source_pos)),
	F("sha256", T_STR, false, spec_template, sha256),
	F("version", T_INT, false, spec_template, version, .min = 1, .max = 1000000),
	F("keep", T_INT, false, spec_template, keep, .min = 1, .max = 1000),
	F("disks", T_OBJLIST, false, spec_template, disks, .sub = &tdisk_table, .max = 16),
};

static const field pool_fields[] = {
	F("kind", T_IGNORE, true, spec_pool, obj),
	F("name", T_IDENT, true, spec_pool, obj.name),
	F("hosts", T_NAMES, true, spec_pool, hosts),
	F("shared", T_BOOL, true, spec_pool, shared),
};

static const field ptemplate_fields[] = {
	F("kind", T_IGNORE, true, spec_ptemplate, obj),
	F("name", T_NAME, true, spec_ptemplate, obj.name),
	F("from", T_NAME, true, spec_ptemplate, from),
	F("pool", T_IDENT, false, spec_ptemplate, pool),
	F("size", T_SIZE, false, spec_ptemplate, size, .min = MiB, .max = SIZE_MAX_BYTES),
	F("state", T_ENUM, false, spec_ptemplate, state, .enums = ptemplate_state_names),
};

static const field disk_fields[] = {
	F("name", T_NAME, true, spec_disk, name),
	F("size", T_SIZE, true, spec_disk, size, .min = MiB, .max = SIZE_MAX_BYTES),
	F("pool", T_IDENT, false, spec_disk, pool),
	F("bus", T_ENUM, false, spec_disk, bus, .enums = spec_disk_bus_names),
};
static const table disk_table = TABLE("disk", disk_fields, .size = sizeof(spec_disk),
	.pos_off = offsetof(spec_disk, pos));

static const field nic_fields[] = {
	F("network", T_IDENT, true, spec_nic, network),
	F("mac", T_STR, false, spec_nic, mac),
};
static const table nic_table = TABLE("NIC", nic_fields, .size = sizeof(spec_nic),
	.pos_off = offsetof(spec_nic, pos));

static const field revert_fields[] = {
	F("id", T_NAME, true, spec_vm, revert_id),
	F("snapshot", T_NAME, true, spec_vm, revert_snapshot),
};
static const table revert_table = TABLE("revert", revert_fields);

static const field cdrom_fields[] = {
	F("pool", T_IDENT, true, spec_vm, cdrom_pool),
	F("volume", T_IDENT, true, spec_vm, cdrom_volume),
	F("ejected", T_BOOL, false, spec_vm, cdrom_ejected),
};
static const table cdrom_table = TABLE("cdrom", cdrom_fields);

static const field console_fields[] = {
	F("type", T_ENUM, true, spec_vm, console_type, .enums = spec_console_names),
	F("listen", T_STR, false, spec_vm, console_listen),
	F("password_file", T_STR, false, spec_vm, console_password_file),
};
static const table console_table = TABLE("console", console_fields);

static const field cloud_init_fields[] = {
	F("user_data", T_DOC, false, spec_vm, ci_text[SEED_USER_DATA]),
	F("user_data_file", T_STR, false, spec_vm, ci_file[SEED_USER_DATA]),
	F("meta_data", T_DOC, false, spec_vm, ci_text[SEED_META_DATA]),
	F("meta_data_file", T_STR, false, spec_vm, ci_file[SEED_META_DATA]),
	F("network_config", T_DOC, false, spec_vm, ci_text[SEED_NETWORK_CONFIG]),
	F("network_config_file", T_STR, false, spec_vm, ci_file[SEED_NETWORK_CONFIG]),
};
static const table cloud_init_table = TABLE("cloud_init", cloud_init_fields);

static const field vm_fields[] = {
	F("name", T_NAME, true, spec_vm, name),
	F("template", T_NAME, false, spec_vm, template),
	F("persistent", T_NAME, false, spec_vm, persistent),
	F("display_name", T_TEXT, false, spec_vm, display_name),
	F("cpus", T_INT, false, spec_vm, cpus, .min = 1, .max = 1024),
	F("memory", T_SIZE, false, spec_vm, memory, .min = MiB, .max = SIZE_MAX_BYTES),
	F("max_cpus", T_INT, false, spec_vm, max_cpus, .min = 1, .max = 1024),
	F("max_memory", T_SIZE, false, spec_vm, max_memory, .min = MiB, .max = SIZE_MAX_BYTES),
	F("disks", T_OBJLIST, false, spec_vm, disks, .sub = &disk_table, .max = 64),
	F("nics", T_OBJLIST, false, spec_vm, nics, .sub = &nic_table, .max = 32),
	F("layer", T_NAME, false, spec_vm, layer),
	F("host", T_NAME, false, spec_vm, host),
	F("after", T_NAMES, false, spec_vm, after),
	F("requires", T_NAMES, false, spec_vm, requires),
	F("restart", T_ENUM, false, spec_vm, restart, .enums = spec_restart_names),
	F("state", T_ENUM, false, spec_vm, state, .enums = spec_vm_state_names),
	F("shutdown_timeout", T_INT, false, spec_vm, shutdown_timeout, .min = 1, .max = 3600),
	F("snapshots", T_NAMES, false, spec_vm, snapshots),
	F("revert", T_TABLE, false, spec_vm, name, .sub = &revert_table,
	  .off2 = offsetof(spec_vm, revert_pos)),
	F("on_disk_change", T_ENUM, false, spec_vm, on_disk_change, .enums = spec_on_disk_change_names),
	F("cdrom", T_TABLE, false, spec_vm, name, .sub = &cdrom_table,
	  .off2 = offsetof(spec_vm, cdrom_pos)),
	F("boot", T_NAMES, false, spec_vm, boot),
	F("console", T_TABLE, false, spec_vm, name, .sub = &console_table,
	  .off2 = offsetof(spec_vm, console_pos)),
	F("cloud_init", T_TABLE, false, spec_vm, name, .sub = &cloud_init_table,
	  .off2 = offsetof(spec_vm, ci_pos)),
	F("reset_on_reboot", T_BOOL, false, spec_vm, reset_on_reboot),
};
static const table vm_table = TABLE("VM", vm_fields, .size = sizeof(spec_vm),
	.pos_off = offsetof(spec_vm, pos), .init = vm_init, .fini = vm_fini);

static const field sched_fields[] = {
	F("action", T_ENUM, true, spec_sched, action, .enums = spec_action_names),
	F("vms", T_NAMES, false, spec_sched, vms),
	F("at", T_STR, false, spec_sched, at),
	F("repeat", T_ENUM, false, spec_sched, repeat, .enums = spec_repeat_names),
	F("hours", T_INT, false, spec_sched, hours, .min = 1, .max = 168),
	F("days", T_INTS, false, spec_sched, days, .min = 0, .max = 365),
	F("end", T_END, false, spec_sched, end_count, .min = 1, .max = 1000000,
	  .off2 = offsetof(spec_sched, end_date)),
	F("keep", T_INT, false, spec_sched, keep, .min = 1, .max = 1000),
	F("after_start", T_INT, false, spec_sched, after_start, .min = 0,
	  .max = 10LL * 366 * 24 * 3600),
	F("catch_up", T_ENUM, false, spec_sched, catch_up, .enums = catch_up_names),
};
static const table sched_table = TABLE("schedule entry", sched_fields,
	.size = sizeof(spec_sched), .pos_off = offsetof(spec_sched, pos),
	.init = sched_init, .invalid_off = offsetof(spec_sched, invalid));

static const field appliance_fields[] = {
	F("kind", T_IGNORE, true, spec_appliance, obj),
	F("name", T_NAME, true, spec_appliance, obj.name),
	F("state", T_ENUM, false, spec_appliance, state, .enums = spec_appliance_state_names),
	F("layers", T_NAMES, false, spec_appliance, layers),
	F("placement", T_ENUM, false, spec_appliance, placement, .enums = placement_names),
	F("timezone", T_STR, false, spec_appliance, timezone),
	F("heal", T_BOOL, false, spec_appliance, heal),
	F("disruption", T_ENUM, false, spec_appliance, disruption, .enums = disruption_names),
	F("vms", T_OBJLIST, true, spec_appliance, vms, .sub = &vm_table, .max = 1000),
	F("schedule", T_OBJLIST, false, spec_appliance, schedule, .sub = &sched_table, .max = 1000),
};

#undef F

typedef struct {
	const char *kind;
	table table;
	size_t list_off;            /* which spec_source array it joins */
} kind_row;

static const kind_row kinds[] = {
	{ "host", TABLE("host", host_fields, .size = sizeof(spec_host),
			.init = host_init),
	  offsetof(spec_source, hosts) },
	{ "template", TABLE("template", template_fields,
			    .size = sizeof(spec_template), .init = template_init),
	  offsetof(spec_source, templates) },
	{ "persistent-template", TABLE("persistent template", ptemplate_fields,
				       .size = sizeof(spec_ptemplate),
				       .init = ptemplate_init),
	  offsetof(spec_source, ptemplates) },
	{ "appliance", TABLE("appliance", appliance_fields,
			     .size = sizeof(spec_appliance), .init = appliance_init),
	  offsetof(spec_source, appliances) },
	{ "pool", TABLE("pool", pool_fields, .size = sizeof(spec_pool)),
	  offsetof(spec_source, pools) },
	{ "library", TABLE("library", library_fields, .size = sizeof(spec_library)),
	  offsetof(spec_source, libraries) },
	{ "export", TABLE("export", export_fields, .size = sizeof(spec_export), .init = export_init),
	  offsetof(spec_source, exports) },
};

#undef TABLE

/* ---- scalar checks ----------------------------------------------------- */

bool
spec_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_islower(s[i]) && !g_ascii_isdigit(s[i]) && s[i] != '-')
			return false;
	return true;
}

static bool
ident_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255 || !g_ascii_isalnum(s[0]) || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!g_ascii_isalnum(s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

typedef struct {
	const char *unit;
	int64_t factor;
} unit_row;

static const unit_row units[] = {
	{ "", 1 }, { "B", 1 },
	{ "KiB", KiB }, { "MiB", MiB }, { "GiB", GiB }, { "TiB", TiB },
	{ "kB", 1000LL }, { "KB", 1000LL }, { "MB", 1000000LL },
	{ "GB", 1000000000LL }, { "TB", 1000000000000LL },
};

bool
spec_parse_size(const char *s, int64_t *out, const char **why)
{
	const char *p = s;
	guint64 n = 0;
	const char *unit;

	if (!g_ascii_isdigit(*p)) {
		*why = "a size is a whole number with an optional unit, e.g. 512MiB or 2GiB";
		return false;
	}
	for (; g_ascii_isdigit(*p); p++) {
		if (n > (G_MAXINT64 - 9) / 10) {
			*why = "size is too large";
			return false;
		}
		n = n * 10 + (guint64)(*p - '0');
	}
	unit = p;
	while (*unit == ' ')
		unit++;
	for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
		if (strcmp(unit, units[i].unit) != 0)
			continue;
		if (n > (guint64)G_MAXINT64 / (guint64)units[i].factor) {
			*why = "size is too large";
			return false;
		}
		*out = (int64_t)n * units[i].factor;
		return true;
	}
	if (*unit == '.' || *unit == ',')
		*why = "sizes are whole numbers; use a smaller unit (1536MiB, not 1.5GiB)";
	else if (strlen(unit) == 1 && strchr("kKmMgGtT", *unit))
		*why = "unit is ambiguous; write KiB/MiB/GiB/TiB (powers of 1024) or kB/MB/GB/TB (powers of 1000)";
	else
		*why = "unknown unit; use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB";
	return false;
}

/* ---- the decoder ------------------------------------------------------- */

static void decode_map(decoder *d, const table *t, const ynode *map, void *base,
		       const char *where);

static const char *
control_kind(gunichar c)
{
	if (c == 0x2028)
		return "line separator";
	if (c == 0x2029)
		return "paragraph separator";
	return "control character";
}

static bool
no_control(decoder *d, const ynode *v, const char *key)
{
	gunichar c = spec_find_control(v->value);

	if (!c)
		return true;
	spec_error(d->diags, d->file, v->pos, "control-character",
		   "'%s' contains a %s (U+%04X); remove it", key, control_kind(c),
		   (unsigned)c);
	return false;
}

static const char *
want_scalar(decoder *d, const ynode *v, const char *key, const char *what)
{
	if (v->type != YNODE_SCALAR) {
		spec_error(d->diags, d->file, v->pos, "wrong-type",
			   "'%s' expects %s, got %s", key, what,
			   ynode_type_name(v->type));
		return NULL;
	}
	if (v->plain && (v->value[0] == '\0' || strcmp(v->value, "~") == 0 ||
			 strcmp(v->value, "null") == 0)) {
		spec_error(d->diags, d->file, v->pos, "missing-value",
			   "'%s' has no value; it expects %s", key, what);
		return NULL;
	}
	return no_control(d, v, key) ? v->value : NULL;
}

/*
 * A document for a program (cloud-init's user data): any text, lines and
 * tabs included, written best as a block scalar (`user_data: |`).  A
 * mapping is refused, not serialised: strata would have to choose the
 * quoting and the order of what cloud-init reads.
 */
static void
set_doc(decoder *d, const field *f, const ynode *v, spec_str *out)
{
	out->pos = v->pos;
	if (v->type != YNODE_SCALAR) {
		spec_error(d->diags, d->file, v->pos, "wrong-type",
			   "'%s' expects text, got %s; write it as a block scalar ('%s: |' and the "
			   "document indented below), as cloud-init reads it", f->key,
			   ynode_type_name(v->type), f->key);
		return;
	}
	for (const char *c = v->value; *c; c = g_utf8_next_char(c)) {
		gunichar u = g_utf8_get_char(c);

		if (u != '\n' && u != '\t' && spec_unichar_is_control(u)) {
			spec_error(d->diags, d->file, v->pos, "control-character",
				   "'%s' contains a %s (U+%04X); remove it, or put binary data in a "
				   "file beside the spec ('%s_file')", f->key, control_kind(u), (unsigned)u, f->key);
			return;
		}
	}
	out->v = g_strdup(v->value);
}

static void
set_str(decoder *d, const field *f, const ynode *v, spec_str *out)
{
	const char *what = f->type == T_NAME ? "a name" :
			   f->type == T_IDENT ? "an identifier" : "a string";
	const char *s = want_scalar(d, v, f->key, what);

	out->pos = v->pos;  /* given, even if refused: not "missing" too */
	if (!s)
		return;
	if (f->type == T_NAME && !spec_name_ok(s)) {
		g_autofree char *shown = spec_clip(s);

		spec_error(d->diags, d->file, v->pos, "bad-name",
			   "'%s' is not a valid name for '%s': use 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'",
			   shown, f->key);
		return;
	}
	/* Volume names are <appliance>.<vm>--<disk>.qcow2: with no '--' in
	 * any name, that split is unambiguous and two disks never collide. */
	if (f->type == T_NAME && strstr(s, "--")) {
		spec_error(d->diags, d->file, v->pos, "reserved-separator",
			   "'%s' contains '--', which is reserved as the separator in volume names (<appliance>.<vm>--<disk>.qcow2); use a single '-'",
			   s);
		return;
	}
	if (f->type == T_IDENT && !ident_ok(s)) {
		g_autofree char *shown = spec_clip(s);

		spec_error(d->diags, d->file, v->pos, "bad-identifier",
			   "'%s' is not a valid %s: use letters, digits, '.', '_' and '-', starting with a letter or digit (no paths)",
			   shown, f->key);
		return;
	}
	/* A quoted "" is no more a value than a bare `key:`. */
	if ((f->type == T_TEXT || f->type == T_STR) && !s[0]) {
		spec_error(d->diags, d->file, v->pos, "missing-value",
			   "'%s' is empty; give it a value%s", f->key,
			   f->required ? "" : " or remove the key");
		return;
	}
	if (f->type == T_TEXT && strlen(s) > 255) {
		spec_error(d->diags, d->file, v->pos, "too-long",
			   "'%s' is longer than 255 bytes", f->key);
		return;
	}
	g_free(out->v);
	out->v = g_strdup(s);
	out->pos = v->pos;
}

static bool
parse_int(decoder *d, const field *f, const ynode *v, int64_t *out)
{
	const char *s = want_scalar(d, v, f->key, "a whole number");
	gint64 n;

	if (!s)
		return false;
	if (!v->plain || !g_ascii_string_to_signed(s, 10, f->min, f->max, &n, NULL)) {
		spec_error(d->diags, d->file, v->pos, "bad-integer",
			   "'%s' must be a whole number from %" G_GINT64_FORMAT
			   " to %" G_GINT64_FORMAT ", not '%s'",
			   f->key, (gint64)f->min, (gint64)f->max, s);
		return false;
	}
	*out = n;
	return true;
}

static void
set_int(decoder *d, const field *f, const ynode *v, spec_int *out)
{
	int64_t n;

	if (!parse_int(d, f, v, &n))
		return;
	*out = (spec_int){ n, true, v->pos };
}

static void
set_size(decoder *d, const field *f, const ynode *v, spec_int *out)
{
	const char *s = want_scalar(d, v, f->key, "a size such as 2GiB");
	const char *why = NULL;
	int64_t n;

	if (!s)
		return;
	if (!spec_parse_size(s, &n, &why)) {
		spec_error(d->diags, d->file, v->pos, "bad-size",
			   "'%s': '%s' is not a size: %s", f->key, s, why);
		return;
	}
	if (n < f->min || n > f->max) {
		g_autofree char *lo = g_format_size_full((guint64)f->min, G_FORMAT_SIZE_IEC_UNITS);
		g_autofree char *hi = g_format_size_full((guint64)f->max, G_FORMAT_SIZE_IEC_UNITS);

		spec_error(d->diags, d->file, v->pos, "bad-size",
			   "'%s' must be from %s to %s, not '%s'", f->key, lo, hi, s);
		return;
	}
	*out = (spec_int){ n, true, v->pos };
}

static void
set_bool(decoder *d, const field *f, const ynode *v, spec_int *out)
{
	const char *s = want_scalar(d, v, f->key, "true or false");

	if (!s)
		return;
	if (v->plain && strcmp(s, "true") == 0)
		*out = (spec_int){ 1, true, v->pos };
	else if (v->plain && strcmp(s, "false") == 0)
		*out = (spec_int){ 0, true, v->pos };
	else
		spec_error(d->diags, d->file, v->pos, "bad-boolean",
			   "'%s' must be true or false (unquoted), not '%s'", f->key, s);
}

static void
set_enum(decoder *d, const field *f, const ynode *v, spec_int *out)
{
	const char *s = want_scalar(d, v, f->key, "one of its values");
	g_autofree char *choices = NULL;
	const char *guess;

	if (!s)
		return;
	for (int i = 0; f->enums[i]; i++) {
		if (strcmp(f->enums[i], s) == 0) {
			*out = (spec_int){ i, true, v->pos };
			return;
		}
	}
	choices = g_strjoinv(", ", (char **)f->enums);
	guess = spec_suggest(s, f->enums, g_strv_length((char **)f->enums));
	spec_error(d->diags, d->file, v->pos, "bad-value",
		   "'%s' must be one of %s, not '%s'%s%s%s", f->key, choices, s,
		   guess ? " (did you mean '" : "", guess ? guess : "",
		   guess ? "'?)" : "");
}

static void
set_num(decoder *d, const field *f, const ynode *v, spec_num *out)
{
	const char *s = want_scalar(d, v, f->key, "a number");
	char *end = NULL;
	double x;

	if (!s)
		return;
	errno = 0;
	x = g_ascii_strtod(s, &end);
	if (!v->plain || errno || *end || !isfinite(x) ||
	    x < (double)f->min || x > (double)f->max) {
		spec_error(d->diags, d->file, v->pos, "bad-number",
			   "'%s' must be a number from %" G_GINT64_FORMAT " to %"
			   G_GINT64_FORMAT ", not '%s'", f->key, (gint64)f->min,
			   (gint64)f->max, s);
		return;
	}
	*out = (spec_num){ x, true, v->pos };
}

static bool
want_seq(decoder *d, const field *f, const ynode *v, const char *what)
{
	if (v->type == YNODE_SEQ)
		return true;
	if (v->type == YNODE_SCALAR)
		spec_error(d->diags, d->file, v->pos, "wrong-type",
			   "'%s' expects a list of %s; write [%s]", f->key, what,
			   v->value[0] ? v->value : "...");
	else
		spec_error(d->diags, d->file, v->pos, "wrong-type",
			   "'%s' expects a list of %s, got a mapping", f->key, what);
	return false;
}

/* Lists are capped before any item is decoded, as scalars are. */
static bool
seq_len_ok(decoder *d, const field *f, const ynode *v, int64_t max)
{
	if ((int64_t)v->items->len <= max)
		return true;
	spec_error(d->diags, d->file, v->pos, "too-many",
		   "'%s' has %u entries; the limit is %" G_GINT64_FORMAT,
		   f->key, v->items->len, (gint64)max);
	return false;
}

static void
set_names(decoder *d, const field *f, const ynode *v, spec_list *out)
{
	g_autoptr(GHashTable) seen = NULL;
	field item = *f;

	if (!want_seq(d, f, v, "names") || !seq_len_ok(d, f, v, SPEC_MAX_LIST))
		return;
	item.type = T_NAME;
	out->items = g_array_new(FALSE, TRUE, sizeof(spec_str));
	out->set = true;
	out->pos = v->pos;
	/* A set, not a scan of the items so far: no list is quadratic. */
	seen = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < v->items->len; i++) {
		spec_str s = { 0 };

		set_str(d, &item, v->items->pdata[i], &s);
		if (!s.v)
			continue;
		if (g_hash_table_contains(seen, s.v)) {
			spec_error(d->diags, d->file, s.pos, "duplicate-item",
				   "'%s' is listed twice in '%s'", s.v, f->key);
			g_free(s.v);
			continue;
		}
		g_hash_table_add(seen, s.v);   /* borrowed: the list owns it */
		g_array_append_val(out->items, s);
	}
}

static void
set_ints(decoder *d, const field *f, const ynode *v, spec_list *out)
{
	if (!want_seq(d, f, v, "whole numbers") || !seq_len_ok(d, f, v, SPEC_MAX_LIST))
		return;
	out->items = g_array_new(FALSE, TRUE, sizeof(spec_int));
	out->set = true;
	out->pos = v->pos;
	for (guint i = 0; i < v->items->len; i++) {
		spec_int n = { 0 };

		set_int(d, f, v->items->pdata[i], &n);
		if (n.set)
			g_array_append_val(out->items, n);
	}
}

/* `end: 5` is a count of repetitions; `end: 2026-12-25T00:00:00Z` a date. */
static void
set_end(decoder *d, const field *f, const ynode *v, void *base)
{
	if (v->type == YNODE_SCALAR && v->plain && g_ascii_isdigit(v->value[0]) &&
	    strspn(v->value, "0123456789") == strlen(v->value)) {
		set_int(d, f, v, G_STRUCT_MEMBER_P(base, f->off));
		return;
	}
	set_str(d, &(field){ .key = f->key, .type = T_STR }, v,
		G_STRUCT_MEMBER_P(base, f->off2));
}

static void
set_objlist(decoder *d, const field *f, const ynode *v, GPtrArray *out)
{
	const table *t = f->sub;

	if (v->type != YNODE_SEQ) {
		spec_error(d->diags, d->file, v->pos, "wrong-type",
			   "'%s' expects a list of %ss, got %s", f->key, t->what,
			   ynode_type_name(v->type));
		return;
	}
	if (!seq_len_ok(d, f, v, f->max))
		return;
	for (guint i = 0; i < v->items->len; i++) {
		const ynode *item = v->items->pdata[i];
		void *obj;

		if (item->type != YNODE_MAP) {
			spec_error(d->diags, d->file, item->pos, "wrong-type",
				   "each entry of '%s' must be a mapping (a %s), got %s",
				   f->key, t->what, ynode_type_name(item->type));
			continue;
		}
		obj = g_malloc0(t->size);
		if (t->init)
			t->init(obj);
		*(spec_pos *)G_STRUCT_MEMBER_P(obj, t->pos_off) = item->pos;
		g_ptr_array_add(out, obj);
		decode_map(d, t, item, obj, t->what);
	}
}

static void
decode_field(decoder *d, const field *f, const ynode *v, void *base)
{
	void *at = G_STRUCT_MEMBER_P(base, f->off);

	switch (f->type) {
	case T_IGNORE:
		break;
	case T_NAME:
	case T_IDENT:
	case T_TEXT:
	case T_STR:
		set_str(d, f, v, at);
		break;
	case T_DOC:
		set_doc(d, f, v, at);
		break;
	case T_INT:
		set_int(d, f, v, at);
		break;
	case T_SIZE:
		set_size(d, f, v, at);
		break;
	case T_BOOL:
		set_bool(d, f, v, at);
		break;
	case T_ENUM:
		set_enum(d, f, v, at);
		break;
	case T_NUM:
		set_num(d, f, v, at);
		break;
	case T_NAMES:
		set_names(d, f, v, at);
		break;
	case T_INTS:
		set_ints(d, f, v, at);
		break;
	case T_END:
		set_end(d, f, v, base);
		break;
	case T_TABLE:
		if (v->type != YNODE_MAP)
			spec_error(d->diags, d->file, v->pos, "wrong-type",
				   "'%s' expects a mapping, got %s", f->key,
				   ynode_type_name(v->type));
		else if (decode_map(d, f->sub, v, base, f->key), f->off2)
			*(spec_pos *)((char *)base + f->off2) = v->pos;  /* where it is: its presence counts */
		break;
	case T_OBJLIST:
		set_objlist(d, f, v, *(GPtrArray **)at);
		break;
	}
}

static void
report_unknown_key(decoder *d, const table *t, const ynode *k, const char *where)
{
	g_autofree char *shown = spec_clip(k->value);
	const char *keys[32];
	size_t n = MIN(t->n, G_N_ELEMENTS(keys));
	const char *guess;

	for (size_t i = 0; i < n; i++)
		keys[i] = t->fields[i].key;
	guess = spec_suggest(k->value, keys, n);
	if (strcmp(k->value, "password") == 0 || strcmp(k->value, "passwd") == 0)
		spec_error(d->diags, d->file, k->pos, "unknown-key",
			   "unknown key '%s' in %s: strata takes no secret from the spec text (it would be "
			   "in Git history and in every plan); remove it%s", shown, where,
			   strcmp(where, "console") == 0 ? ", and name a file beside the spec holding it with "
							    "password_file" : "");
	else if (guess)
		spec_error(d->diags, d->file, k->pos, "unknown-key",
			   "unknown key '%s' in %s (did you mean '%s'?)",
			   shown, where, guess);
	else
		spec_error(d->diags, d->file, k->pos, "unknown-key",
			   "unknown key '%s' in %s",
			   shown, where);
}

static void
decode_map(decoder *d, const table *t, const ynode *map, void *base,
	   const char *where)
{
	guint64 seen = 0;
	unsigned errors;

	for (guint i = 0; i + 1 < map->items->len; i += 2) {
		const ynode *k = map->items->pdata[i];
		const ynode *v = map->items->pdata[i + 1];
		size_t j;

		for (j = 0; j < t->n; j++)
			if (strcmp(t->fields[j].key, k->value) == 0)
				break;
		if (j == t->n) {
			report_unknown_key(d, t, k, where);
			continue;
		}
		seen |= G_GUINT64_CONSTANT(1) << j;
		errors = d->diags->errors;
		decode_field(d, &t->fields[j], v, base);
		if (t->invalid_off && d->diags->errors > errors)
			G_STRUCT_MEMBER(bool, base, t->invalid_off) = true;
	}
	for (size_t j = 0; j < t->n; j++)
		if (t->fields[j].required && !(seen & (G_GUINT64_CONSTANT(1) << j)))
			spec_error(d->diags, d->file, map->pos, "missing-key",
				   "%s is missing required key '%s'", where,
				   t->fields[j].key);
}

static const ynode *
map_get(const ynode *map, const char *key)
{
	for (guint i = 0; i + 1 < map->items->len; i += 2) {
		const ynode *k = map->items->pdata[i];

		if (strcmp(k->value, key) == 0)
			return map->items->pdata[i + 1];
	}
	return NULL;
}

static const kind_row *
kind_lookup(decoder *d, const ynode *map)
{
	const ynode *kind = map_get(map, "kind");
	const char *names[G_N_ELEMENTS(kinds)];
	g_autofree char *shown = NULL;
	const char *guess;

	if (!kind) {
		spec_error(d->diags, d->file, map->pos, "missing-key",
			   "document has no 'kind'; add one of host, template, persistent-template, appliance, pool, library, export");
		return NULL;
	}
	if (kind->type != YNODE_SCALAR) {
		spec_error(d->diags, d->file, kind->pos, "wrong-type",
			   "'kind' expects a string, got %s", ynode_type_name(kind->type));
		return NULL;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
		names[i] = kinds[i].kind;
		if (strcmp(kinds[i].kind, kind->value) == 0)
			return &kinds[i];
	}
	guess = spec_suggest(kind->value, names, G_N_ELEMENTS(kinds));
	shown = spec_clip(kind->value);
	spec_error(d->diags, d->file, kind->pos, "unknown-kind",
		   "unknown kind '%s'%s%s%s; use host, template, persistent-template, appliance, pool, library or export",
		   shown, guess ? " (did you mean '" : "", guess ? guess : "",
		   guess ? "'?)" : "");
	return NULL;
}

void
schema_decode_document(spec_source *src, const char *file, const ydoc *doc,
		       spec_diags *diags)
{
	decoder d = { file, diags };
	const ynode *root = doc->root;
	const kind_row *row;
	spec_obj *obj;

	/* A stray `---` or a comment-only document is no document at all. */
	if (!root || (root->type == YNODE_SCALAR && root->plain && !root->value[0]))
		return;
	src->documents++;
	if (root->type != YNODE_MAP) {
		spec_error(diags, file, root->pos, "wrong-type",
			   "a document must be a mapping with 'kind' and 'name', got %s",
			   ynode_type_name(root->type));
		return;
	}
	row = kind_lookup(&d, root);
	if (!row)
		return;
	obj = g_malloc0(row->table.size);
	if (row->table.init)
		row->table.init(obj);
	obj->file = file;
	obj->pos = root->pos;
	g_ptr_array_add(G_STRUCT_MEMBER(GPtrArray *, src, row->list_off), obj);
	decode_map(&d, &row->table, root, obj, row->table.what);
}

/* ---- lifecycle: the tables also say what to free ----------------------- */

static void
free_by_table(const table *t, void *obj)
{
	for (size_t i = 0; i < t->n; i++) {
		const field *f = &t->fields[i];
		void *at = G_STRUCT_MEMBER_P(obj, f->off);
		spec_list *l = at;
		GPtrArray *objs;

		switch (f->type) {
		case T_NAME:
		case T_IDENT:
		case T_TEXT:
		case T_STR:
		case T_DOC:
			g_free(((spec_str *)at)->v);
			break;
		case T_END:
			g_free(G_STRUCT_MEMBER(spec_str, obj, f->off2).v);
			break;
		case T_NAMES:
			for (guint j = 0; l->items && j < l->items->len; j++)
				g_free(g_array_index(l->items, spec_str, j).v);
			/* fall through */
		case T_INTS:
			if (l->items)
				g_array_unref(l->items);
			break;
		case T_TABLE:
			free_by_table(f->sub, obj);
			break;
		case T_OBJLIST:
			objs = *(GPtrArray **)at;
			for (guint j = 0; objs && j < objs->len; j++) {
				free_by_table(f->sub, objs->pdata[j]);
				g_free(objs->pdata[j]);
			}
			if (objs)
				g_ptr_array_unref(objs);
			break;
		default:
			break;
		}
	}
	if (t->fini)
		t->fini(obj);
}

spec_source *
spec_source_new(const char *root)
{
	spec_source *src = g_new0(spec_source, 1);

	src->root = g_strdup(root);
	src->files = g_ptr_array_new_with_free_func(g_free);
	src->hosts = g_ptr_array_new();
	src->templates = g_ptr_array_new();
	src->ptemplates = g_ptr_array_new();
	src->appliances = g_ptr_array_new();
	src->pools = g_ptr_array_new();
	src->libraries = g_ptr_array_new();
	src->exports = g_ptr_array_new();
	src->digest = g_checksum_new(G_CHECKSUM_SHA256);
	return src;
}

void
spec_source_free(spec_source *src)
{
	if (!src)
		return;
	for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
		GPtrArray *list = G_STRUCT_MEMBER(GPtrArray *, src, kinds[k].list_off);

		for (guint i = 0; i < list->len; i++) {
			free_by_table(&kinds[k].table, list->pdata[i]);
			g_free(list->pdata[i]);
		}
		g_ptr_array_unref(list);
	}
	g_clear_pointer(&src->host_by_name, g_hash_table_unref);
	g_clear_pointer(&src->template_by_name, g_hash_table_unref);
	g_clear_pointer(&src->ptemplate_by_name, g_hash_table_unref);
	g_clear_pointer(&src->appliance_by_name, g_hash_table_unref);
	g_clear_pointer(&src->pool_by_name, g_hash_table_unref);
	g_clear_pointer(&src->library_by_name, g_hash_table_unref);
	g_clear_pointer(&src->export_by_name, g_hash_table_unref);
	g_ptr_array_unref(src->files);
	g_checksum_free(src->digest);
	g_free(src->root);
	g_free(src);
}

const char *
spec_source_digest(spec_source *src)
{
	return g_checksum_get_string(src->digest);
}
