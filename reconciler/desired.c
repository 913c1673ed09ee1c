/*
 * desired.c - spec model to the flat desired state of every VM
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <string.h>

#include "desired.h"
#include "handoff.h"

char *
desired_volume_name(const char *domain, const char *disk)
{
	return g_strdup_printf("%s--%s.qcow2", domain, disk);
}

char *
desired_persistent_volume(const char *ptemplate)
{
	return g_strdup_printf("persistent-%s.qcow2", ptemplate);
}

gboolean
desired_volume_owned_by(const char *volume, const char *domain)
{
	size_t n = strlen(domain);

	return strchr(domain, '.') && strncmp(volume, domain, n) == 0 &&
	       strncmp(volume + n, "--", 2) == 0;
}

bool
desired_vm_declares_snapshots(const desired_vm *vm)
{
	return vm->snapshots->len || vm->revert_id;
}

static char *vm_hash(const desired_vm *vm, const char *domain_type, bool snapshots);

char *
desired_vm_cdrom(const desired_vm *vm)
{
	if (!vm->cdrom_volume)
		return NULL;
	return vm->cdrom_ejected ? g_strdup("") : g_strdup_printf("%s/%s", vm->cdrom_pool, vm->cdrom_volume);
}

char *
desired_vm_boot(const desired_vm *vm)
{
	g_autoptr(GString) s = g_string_new(NULL);

	for (guint i = 0; vm->boot && i < vm->boot->len; i++)
		g_string_append_printf(s, "%s%s", i ? "," : "", (const char *)vm->boot->pdata[i]);
	return s->len ? g_strdup(s->str) : g_strdup("disk");
}

char *
desired_vm_console(const desired_vm *vm)
{
	return vm->console ? g_strdup_printf("%s %s", vm->console, vm->console_listen) : NULL;
}

char *
desired_vm_hash(const desired_vm *vm, const char *domain_type)
{
	return vm_hash(vm, domain_type, true);
}

char *
desired_vm_hash_before_snapshots(const desired_vm *vm, const char *domain_type)
{
	return vm_hash(vm, domain_type, false);
}

static char *
vm_hash(const desired_vm *vm, const char *domain_type, bool snapshots)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autoptr(GString) s = g_string_new(NULL);
	char *hash;

	/* Field separators are bytes no spec value may contain. */
	g_string_append_printf(s, "v%d\x1f%s\x1f%s\x1f%s\x1f%u\x1f%" G_GUINT64_FORMAT "\x1f",
			       DESIRED_DEF_VERSION, domain_type, vm->domain,
			       vm->title ? vm->title : "", vm->cpus, vm->memory);
	for (guint i = 0; i < vm->disks->len; i++) {
		const desired_disk *d = vm->disks->pdata[i];

		/* The base is not in the domain XML, but a VM built from another
		 * template is another definition (a persistent disk's origin
		 * does not matter once it exists). */
		g_string_append_printf(s, "d\x1f%s\x1f%s\x1f%s\x1f%s\x1f",
				       d->pool, d->volume, d->target,
				       d->role != DISK_PERSISTENT && d->base ? d->base : "");
	}
	for (guint i = 0; i < vm->nics->len; i++) {
		const desired_nic *n = vm->nics->pdata[i];

		g_string_append_printf(s, "n\x1f%s\x1f%s\x1f", n->network, n->mac ? n->mac : "");
	}
	/* Only when written: a VM without maxima keeps the hash it had before
	 * they existed (a new hash would redefine, and restart, every VM). */
	if (vm->max_cpus || vm->max_memory)
		g_string_append_printf(s, "x\x1f%u\x1f%" G_GUINT64_FORMAT "\x1f", vm->max_cpus, vm->max_memory);
	/* Only when declared, as above.  In the hash, so that a declaration
	 * not yet carried out has the definition (and its snapshots) read. */
	for (guint i = 0; snapshots && i < vm->snapshots->len; i++)
		g_string_append_printf(s, "s\x1f%s\x1f", (const char *)vm->snapshots->pdata[i]);
	if (snapshots && vm->revert_id)
		g_string_append_printf(s, "r\x1f%s\x1f%s\x1f", vm->revert_id, vm->revert_snapshot);
	/* Media, console and boot order: only when declared, as above. */
	if (vm->cdrom_volume) {
		g_autofree char *cd = desired_vm_cdrom(vm);

		g_string_append_printf(s, "c\x1f%s\x1f", cd);
	}
	if (vm->console)
		g_string_append_printf(s, "m\x1f%s\x1f%s\x1f", vm->console, vm->console_listen);
	/* The verifier, never the password: a new password is a new hash,
	 * so the definition is read (and the password set) at the next pass. */
	if (vm->console_verifier)
		g_string_append_printf(s, "p\x1f%s\x1f", vm->console_verifier);
	if (vm->boot && vm->boot->len) {
		g_autofree char *boot = desired_vm_boot(vm);

		g_string_append_printf(s, "b\x1f%s\x1f", boot);
	}
	/* A digest of the data, not the data: secrets stay out of a hash
	 * anyone with read-only libvirt access can read (see spec/README). */
	if (vm->seed_digest)
		g_string_append_printf(s, "i\x1f%s\x1f", vm->seed_digest);
	if (vm->reset_on_reboot)
		g_string_append(s, "z\x1f" "1\x1f");
	g_checksum_update(sum, (const guchar *)s->str, (gssize)s->len);
	hash = g_strndup(g_checksum_get_string(sum), 16);
	return hash;
}

/* A maximum as the spec wrote it (the VM's or its template's), or 0: the
 * hash and the XML of a VM without one stay as they were. */
static int64_t
written_max(int64_t (*get)(const spec_source *, const spec_vm *, const spec_int **),
	    const spec_source *src, const spec_vm *svm)
{
	const spec_int *from = NULL;
	int64_t v = get(src, svm, &from);

	return from ? v : 0;
}

unsigned
desired_vm_max_cpus(const desired_vm *vm)
{
	return MAX(vm->max_cpus, vm->cpus);
}

uint64_t
desired_vm_max_memory(const desired_vm *vm)
{
	return MAX(vm->max_memory, vm->memory);
}

static void
disk_free(gpointer p)
{
	desired_disk *d = p;

	g_free(d->name);
	g_free(d->pool);
	g_free(d->volume);
	g_free(d->base);
	g_free(d->target);
	g_free(d);
}

static void
nic_free(gpointer p)
{
	desired_nic *n = p;

	g_free(n->network);
	g_free(n->mac);
	g_free(n);
}

static void
vm_free(gpointer p)
{
	desired_vm *vm = p;

	g_free(vm->domain);
	g_free(vm->appliance);
	g_free(vm->vm);
	g_free(vm->title);
	g_free(vm->template);
	g_free(vm->persistent);
	g_free(vm->layer);
	g_free(vm->host);
	g_ptr_array_unref(vm->after);
	g_ptr_array_unref(vm->requires);
	g_ptr_array_unref(vm->disks);
	g_ptr_array_unref(vm->nics);
	g_ptr_array_unref(vm->snapshots);
	g_free(vm->revert_id);
	g_free(vm->revert_snapshot);
	g_free(vm->cdrom_pool);
	g_free(vm->cdrom_volume);
	g_ptr_array_unref(vm->boot);
	g_free(vm->console);
	g_free(vm->console_listen);
	if (vm->console_password)
		explicit_bzero(vm->console_password, strlen(vm->console_password));
	g_free(vm->console_password);
	g_free(vm->console_verifier);
	for (int i = 0; i < SPEC_SEED_PARTS; i++)
		if (vm->seed[i])
			g_bytes_unref(vm->seed[i]);
	g_free(vm->seed_digest);
	g_free(vm->seed_pool);
	g_free(vm->seed_volume);
	g_free(vm);
}

static void
ptemplate_free(gpointer p)
{
	desired_ptemplate *t = p;

	g_free(t->name);
	g_free(t->pool);
	g_free(t->volume);
	g_free(t->base);
	g_free(t->base_pool);
	g_free(t);
}

static GPtrArray *
strv_of(const spec_list *l)
{
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; i < spec_list_len(l); i++)
		g_ptr_array_add(a, g_strdup(spec_list_str(l, i)));
	return a;
}

/* An IP address as inet_ntop writes it, so that one address has one
 * hash however it is written (::1, 0:0::1). */
static char *
canonical_address(const char *a)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char out[INET6_ADDRSTRLEN];
	int af = strchr(a, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(af, a, buf) != 1 || !inet_ntop(af, buf, out, sizeof(out)))
		return g_strdup(a);  /* validated before: not reached */
	return g_strdup(out);
}

/* The @index-th target name of a bus, as libvirt counts them: vda … vdz,
 * vdaa … vdaz, vdba … (index 26 is "aa"). */
static char *
disk_target(const char *prefix, guint index)
{
	char letters[8];
	int n = (int)sizeof(letters) - 1;

	letters[n] = '\0';
	index++;
	while (index && n > 0) {
		index--;
		letters[--n] = (char)('a' + index % 26);
		index /= 26;
	}
	return g_strconcat(prefix, letters + n, NULL);
}

/* @index: among the disks of its bus (the system disk is virtio's 0). */
static desired_disk *
disk_new(disk_role role, const char *name, const char *pool, char *volume,
	 uint64_t capacity, const char *base, bool scsi, guint index)
{
	desired_disk *d = g_new0(desired_disk, 1);

	d->role = role;
	d->name = g_strdup(name);
	d->pool = g_strdup(pool);
	d->volume = volume;
	d->capacity = capacity;
	d->base = g_strdup(base);
	d->scsi = scsi;
	d->target = disk_target(scsi ? "sd" : "vd", index);
	return d;
}

static void
vm_disks(const spec_source *src, desired_vm *vm, const spec_vm *svm,
	 const spec_template *t)
{
	const char *sys_pool = t->pool.v;

	if (svm->persistent.v) {
		const spec_ptemplate *p = g_hash_table_lookup(src->ptemplate_by_name,
							      svm->persistent.v);

		sys_pool = p->pool.v ? p->pool.v : t->pool.v;
		g_ptr_array_add(vm->disks, disk_new(DISK_PERSISTENT, "system", sys_pool,
						    desired_persistent_volume(p->obj.name.v),
						    (uint64_t)p->size.v, t->volume.v, false, 0));
	} else {
		g_ptr_array_add(vm->disks, disk_new(DISK_SYSTEM, "system", sys_pool,
						    desired_volume_name(vm->domain, "system"),
						    (uint64_t)t->disk_size.v, t->volume.v, false, 0));
	}
	/* The template's disks, each on its base, then the VM's own.  Targets
	 * are counted per bus: a SCSI disk added among virtio ones moves none
	 * of them. */
	guint virtio = 1, scsi = 0;

	for (guint i = 0; !svm->persistent.v && i < t->disks->len; i++) {
		const spec_tdisk *td = t->disks->pdata[i];

		g_ptr_array_add(vm->disks, disk_new(DISK_SECONDARY, td->name.v, t->pool.v,
						    desired_volume_name(vm->domain, td->name.v), 0, td->volume.v,
						    false, virtio++));
	}
	for (guint i = 0; i < svm->disks->len; i++) {
		const spec_disk *sd = svm->disks->pdata[i];
		bool on_scsi = sd->bus.v == BUS_SCSI;

		g_ptr_array_add(vm->disks,
				disk_new(DISK_SECONDARY, sd->name.v,
					 sd->pool.v ? sd->pool.v : sys_pool,
					 desired_volume_name(vm->domain, sd->name.v),
					 (uint64_t)sd->size.v, NULL, on_scsi, on_scsi ? scsi++ : virtio++));
	}
}

static void vm_seed(desired_vm *vm, const spec_vm *svm);

static desired_vm *
vm_build(const spec_source *src, const spec_appliance *a, const spec_vm *svm)
{
	const spec_template *t = spec_vm_template(src, svm);
	desired_vm *vm = g_new0(desired_vm, 1);

	vm->appliance = g_strdup(a->obj.name.v);
	vm->vm = g_strdup(svm->name.v);
	vm->domain = g_strdup_printf("%s.%s", vm->appliance, vm->vm);
	vm->title = g_strdup(svm->display_name.v);
	vm->template = g_strdup(t->obj.name.v);
	vm->persistent = g_strdup(svm->persistent.v);
	vm->cpus = (unsigned)spec_vm_cpus(src, svm);
	vm->memory = (uint64_t)spec_vm_memory(src, svm);
	vm->max_cpus = (unsigned)written_max(spec_vm_max_cpus, src, svm);
	vm->max_memory = (uint64_t)written_max(spec_vm_max_memory, src, svm);
	vm->state = a->state.v == APPLIANCE_UNDEPLOYED ? VM_UNDEPLOYED : (int)svm->state.v;
	vm->layer = g_strdup(svm->layer.v);
	vm->host = g_strdup(svm->host.v);
	vm->after = strv_of(&svm->after);
	vm->requires = strv_of(&svm->requires);
	vm->placement = (int)a->placement.v;
	vm->restart = (int)svm->restart.v;
	vm->shutdown_timeout_s = (unsigned)svm->shutdown_timeout.v;
	vm->heal = a->heal.v != 0;
	vm->never_disrupt = a->disruption.v == DISRUPTION_NEVER;
	vm->disks = g_ptr_array_new_with_free_func(disk_free);
	vm->nics = g_ptr_array_new_with_free_func(nic_free);
	vm->snapshots = strv_of(&svm->snapshots);
	vm->revert_id = g_strdup(svm->revert_id.v);
	vm->revert_snapshot = g_strdup(svm->revert_snapshot.v);
	vm->disk_change_deletes_snapshots = svm->on_disk_change.v == ON_DISK_CHANGE_DELETE_SNAPSHOTS;
	if (svm->cdrom_pos.line) {
		vm->cdrom_pool = g_strdup(svm->cdrom_pool.v);
		vm->cdrom_volume = g_strdup(svm->cdrom_volume.v);
		vm->cdrom_ejected = svm->cdrom_ejected.v != 0;
	}
	vm->boot = strv_of(&svm->boot);
	vm->reset_on_reboot = svm->reset_on_reboot.v != 0;
	if (svm->console_pos.line) {
		vm->console = g_strdup(spec_console_names[svm->console_type.v]);
		vm->console_listen = canonical_address(svm->console_listen.v ? svm->console_listen.v : "127.0.0.1");
		if (svm->console_password) {
			gsize n;
			const char *p = g_bytes_get_data(svm->console_password, &n);

			vm->console_password = g_strndup(p, n);
			vm->console_verifier = desired_console_verifier(vm->domain, vm->console_password);
		}
	}
	vm_disks(src, vm, svm, t);
	for (guint i = 0; i < svm->nics->len; i++) {
		const spec_nic *sn = svm->nics->pdata[i];
		desired_nic *n = g_new0(desired_nic, 1);

		n->network = g_strdup(sn->network.v);
		n->mac = g_strdup(sn->mac.v);
		g_ptr_array_add(vm->nics, n);
	}
	vm_seed(vm, svm);
	return vm;
}

/*
 * libvirt shows a console's password to no read-only client, but a
 * domain's metadata to every one: what strata records there to see a new
 * password must not give the password away.  yescrypt costs a guess what
 * it costs against /etc/shadow (15 ms here); the salt, drawn from the
 * domain's name, keeps one password's verifier apart on every VM while the
 * same password on the same VM keeps its verifier (and the hash its
 * value).  Each is computed once per process: the hash is asked for often.
 */
char *
desired_console_verifier(const char *domain, const char *password)
{
	static GHashTable *memo;
	G_LOCK_DEFINE_STATIC(memo);
	g_autoptr(GChecksum) salt_sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree char *pw_sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, password, -1);
	g_autofree char *key = g_strdup_printf("%s\x1f%s", domain, pw_sum);
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data;
	guint8 salt[32];
	gsize len = sizeof(salt);
	const char *v;
	char *out = NULL;

	G_LOCK(memo);
	if (!memo)
		memo = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	v = g_hash_table_lookup(memo, key);
	out = g_strdup(v);
	G_UNLOCK(memo);
	if (out)
		return out;
	g_checksum_update(salt_sum, (const guchar *)"strata console password\x1f", -1);
	g_checksum_update(salt_sum, (const guchar *)domain, -1);
	g_checksum_get_digest(salt_sum, salt, &len);
	if (!crypt_gensalt_rn("$y$", 0, (const char *)salt, 16, setting, sizeof(setting)))
		return NULL;
	data = g_new0(struct crypt_data, 1);
	v = crypt_r(password, setting, data);
	if (v && v[0] == '$')
		out = g_strdup(v);
	explicit_bzero(data, sizeof(*data));
	g_free(data);
	if (!out)
		return NULL;
	G_LOCK(memo);
	g_hash_table_replace(memo, g_steal_pointer(&key), g_strdup(out));
	G_UNLOCK(memo);
	return out;
}

char *
desired_seed_volume(const char *domain)
{
	return g_strdup_printf("%s--cidata.iso", domain);
}

static void
digest_part(GChecksum *sum, GBytes *b)
{
	/* Absent is not empty; little-endian: one digest on every machine. */
	guint64 n = GUINT64_TO_LE(b ? (guint64)g_bytes_get_size(b) : G_MAXUINT64);

	g_checksum_update(sum, (const guchar *)&n, sizeof(n));
	if (b)
		g_checksum_update(sum, g_bytes_get_data(b, NULL), (gssize)g_bytes_get_size(b));
}

/*
 * The seed of @vm: each part's bytes, inline or from its file.  Without
 * meta-data, cloud-init's NoCloud source finds no instance: strata writes
 * one whose instance-id changes with the user data and network
 * configuration, so that a guest applies new data at its next boot
 * (cloud-init runs its per-instance modules again for a new id).
 */
static void
vm_seed(desired_vm *vm, const spec_vm *svm)
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	if (!svm->ci_pos.line)
		return;
	for (int i = 0; i < SPEC_SEED_PARTS; i++)
		vm->seed[i] = svm->ci_text[i].v ? g_bytes_new(svm->ci_text[i].v, strlen(svm->ci_text[i].v))
			    : svm->ci_bytes[i] ? g_bytes_ref(svm->ci_bytes[i]) : NULL;
	if (!vm->seed[SEED_META_DATA]) {
		g_autoptr(GChecksum) id = g_checksum_new(G_CHECKSUM_SHA256);
		char *meta;

		digest_part(id, vm->seed[SEED_USER_DATA]);
		digest_part(id, vm->seed[SEED_NETWORK_CONFIG]);
		meta = g_strdup_printf("instance-id: %s-%.12s\nlocal-hostname: %s\n", vm->domain,
				       g_checksum_get_string(id), vm->vm);
		vm->seed[SEED_META_DATA] = g_bytes_new_take(meta, strlen(meta));
	}
	for (int i = 0; i < SPEC_SEED_PARTS; i++)
		digest_part(sum, vm->seed[i]);
	vm->seed_digest = g_strdup(g_checksum_get_string(sum));
	vm->seed_pool = g_strdup(((const desired_disk *)vm->disks->pdata[0])->pool);
	vm->seed_volume = desired_seed_volume(vm->domain);
}

static desired_ptemplate *
ptemplate_build(const spec_source *src, const spec_ptemplate *p)
{
	const spec_template *t = g_hash_table_lookup(src->template_by_name, p->from.v);
	desired_ptemplate *d = g_new0(desired_ptemplate, 1);

	d->name = g_strdup(p->obj.name.v);
	d->pool = g_strdup(p->pool.v ? p->pool.v : t->pool.v);
	d->volume = desired_persistent_volume(d->name);
	d->base = g_strdup(t->volume.v);
	d->base_pool = g_strdup(t->pool.v);
	d->size = (uint64_t)p->size.v;
	d->deleted = p->state.v == PTEMPLATE_DELETED;
	return d;
}

static void
base_free(gpointer p)
{
	desired_base *b = p;

	g_free(b->template);
	g_free(b->pool);
	g_free(b->volume);
	g_free(b->source_host);
	g_free(b->source_library);
	g_free(b->source_vm);
	g_free(b->sha256);
	g_free(b->disk);
	g_free(b);
}

static void
library_free(gpointer p)
{
	desired_library *l = p;

	g_free(l->name);
	g_free(l->path);
	g_strfreev(l->exports);
	g_free(l);
}

static void
export_free(gpointer p)
{
	desired_export *e = p;

	g_free(e->name);
	g_free(e->template);
	g_free(e->format);
	g_free(e->path);
	g_free(e->command);
	g_free(e->region);
	g_free(e);
}

static GPtrArray *
exports_build(const spec_source *src)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(export_free);

	for (guint i = 0; i < src->exports->len; i++) {
		const spec_export *s = src->exports->pdata[i];
		desired_export *e = g_new0(desired_export, 1);

		e->name = g_strdup(s->obj.name.v);
		e->template = g_strdup(s->template.v);
		e->format = g_strdup(spec_image_format_names[s->format.v]);
		e->path = g_strdup(s->path.v);
		e->command = g_strdup(s->upload_command.v);
		e->region = g_strdup(s->upload_region.v);
		e->timeout_s = (unsigned)s->upload_timeout.v;
		e->attempts = (unsigned)s->upload_attempts.v;
		g_ptr_array_add(out, e);
	}
	return out;
}

static GPtrArray *
libraries_build(const spec_source *src)
{
	GPtrArray *libs = g_ptr_array_new_with_free_func(library_free);

	for (guint i = 0; i < src->libraries->len; i++) {
		const spec_library *s = src->libraries->pdata[i];
		desired_library *l = g_new0(desired_library, 1);

		l->name = g_strdup(s->obj.name.v);
		l->path = g_strdup(s->path.v);
		l->exports = g_new0(char *, spec_list_len(&s->export) + 1);
		for (guint j = 0; j < spec_list_len(&s->export); j++)
			l->exports[j] = g_strdup(spec_list_str(&s->export, j));
		g_ptr_array_add(libs, l);
	}
	return libs;
}

const desired_library *
desired_library_named(const desired_state *d, const char *name)
{
	for (guint i = 0; name && d->libraries && i < d->libraries->len; i++) {
		const desired_library *l = d->libraries->pdata[i];

		if (strcmp(l->name, name) == 0)
			return l;
	}
	return NULL;
}

const desired_base *
desired_base_of_template(const desired_state *d, const char *name)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, d->bases);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (strcmp(((desired_base *)v)->template, name) == 0 && !((desired_base *)v)->disk)
			return v;
	return NULL;
}

/* The base @volume of @t: its system disk's (@disk NULL), or its disk
 * @disk's, the @index-th of the template (0: the system disk). */
static void
base_add(GHashTable *bases, const spec_template *t, const char *volume, const char *disk, guint index)
{
	g_autofree char *key = g_strdup_printf("%s/%s", t->pool.v, volume);
	desired_base *b = g_hash_table_lookup(bases, key);

	if (!b) {
		b = g_new0(desired_base, 1);
		b->template = g_strdup(t->obj.name.v);
		b->pool = g_strdup(t->pool.v);
		b->volume = g_strdup(volume);
		b->disk = g_strdup(disk);
		b->index = index;
		b->n_disks = 1 + t->disks->len;
		b->version = (unsigned)t->version.v;
		b->keep = t->keep.set ? (unsigned)t->keep.v : 0;
		b->cpus = (unsigned)t->cpus.v;
		b->memory = (uint64_t)t->memory.v;
		g_hash_table_insert(bases, g_steal_pointer(&key), b);
	}
	if (!b->source_host && !b->source_library && !b->source_vm) {
		b->source_host = g_strdup(t->source_host.v);
		b->source_library = g_strdup(t->source_library.v);
		b->source_vm = g_strdup(t->source_vm.v);
		b->live = t->source_live.set && t->source_live.v;
	}
	if (!b->sha256 && !disk)  /* the checksum is the system disk's */
		b->sha256 = g_strdup(t->sha256.v);
}

/* Two templates may name one base (validation makes them agree on where
 * it comes from and its checksum): the first describes it. */
static GHashTable *
bases_build(const spec_source *src)
{
	GHashTable *bases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, base_free);

	for (guint i = 0; i < src->templates->len; i++) {
		const spec_template *t = src->templates->pdata[i];

		base_add(bases, t, t->volume.v, NULL, 0);
		for (guint k = 0; k < t->disks->len; k++) {
			const spec_tdisk *d = t->disks->pdata[k];

			base_add(bases, t, d->volume.v, d->name.v, k + 1);
		}
	}
	return bases;
}

const desired_base *
desired_base_of(const desired_state *d, const char *pool, const char *volume)
{
	g_autofree char *key = g_strdup_printf("%s/%s", pool, volume);

	return d->bases ? g_hash_table_lookup(d->bases, key) : NULL;
}

/*
 * The volumes an observation reads the details of on every host that has
 * them, once per revision rather than once per VM and host: template
 * bases, a persistent volume's base, and the persistent volumes.
 */
static GHashTable *
details_build(const desired_state *d)
{
	GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init(&it, d->bases);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_hash_table_insert(t, g_strdup(key), GINT_TO_POINTER(DETAIL_BASE));
	for (guint i = 0; i < d->vms->len; i++) {
		const desired_disk *sys = ((desired_vm *)d->vms->pdata[i])->disks->pdata[0];

		if (sys->base)
			g_hash_table_insert(t, g_strdup_printf("%s/%s", sys->pool, sys->base),
					    GINT_TO_POINTER(DETAIL_BASE));
		if (sys->role == DISK_PERSISTENT)
			g_hash_table_insert(t, g_strdup_printf("%s/%s", sys->pool, sys->volume),
					    GINT_TO_POINTER(DETAIL_PERSISTENT));
	}
	return t;
}

desired_state *
desired_build(const spec_source *src)
{
	desired_state *d = g_atomic_rc_box_new0(desired_state);

	d->vms = g_ptr_array_new_with_free_func(vm_free);
	d->vm_by_domain = g_hash_table_new(g_str_hash, g_str_equal);
	d->ptemplates = g_ptr_array_new_with_free_func(ptemplate_free);
	d->ptemplate_by_volume = g_hash_table_new(g_str_hash, g_str_equal);
	for (guint i = 0; i < src->appliances->len; i++) {
		const spec_appliance *a = src->appliances->pdata[i];

		for (guint j = 0; j < a->vms->len; j++) {
			desired_vm *vm = vm_build(src, a, a->vms->pdata[j]);

			g_ptr_array_add(d->vms, vm);
			g_hash_table_insert(d->vm_by_domain, vm->domain, vm);
		}
	}
	for (guint i = 0; i < src->ptemplates->len; i++) {
		desired_ptemplate *p = ptemplate_build(src, src->ptemplates->pdata[i]);

		g_ptr_array_add(d->ptemplates, p);
		g_hash_table_insert(d->ptemplate_by_volume, p->volume, p);
	}
	d->shared_pools = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
						(GDestroyNotify)g_strfreev);
	for (guint i = 0; src->pools && i < src->pools->len; i++) {
		const spec_pool *p = src->pools->pdata[i];
		GStrv hosts = g_new0(char *, spec_list_len(&p->hosts) + 1);

		if (!p->shared.v) {
			g_free(hosts);
			continue;
		}
		for (guint j = 0; j < spec_list_len(&p->hosts); j++)
			hosts[j] = g_strdup(spec_list_str(&p->hosts, j));
		g_hash_table_insert(d->shared_pools, g_strdup(p->obj.name.v), hosts);
	}
	d->bases = bases_build(src);
	d->details = details_build(d);
	d->libraries = libraries_build(src);
	d->exports = exports_build(src);
	return d;
}

const char *const *
desired_pool_sharers(const desired_state *d, const char *pool, const char *host)
{
	GStrv hosts = d->shared_pools ? g_hash_table_lookup(d->shared_pools, pool) : NULL;

	return hosts && (!host || g_strv_contains((const char *const *)hosts, host))
		? (const char *const *)hosts : NULL;
}

static void
desired_clear(gpointer p)
{
	desired_state *d = p;

	HANDOFF_TAKE(d);
	g_hash_table_unref(d->vm_by_domain);
	g_hash_table_unref(d->ptemplate_by_volume);
	g_clear_pointer(&d->shared_pools, g_hash_table_unref);
	g_clear_pointer(&d->bases, g_hash_table_unref);
	g_clear_pointer(&d->details, g_hash_table_unref);
	g_clear_pointer(&d->libraries, g_ptr_array_unref);
	g_clear_pointer(&d->exports, g_ptr_array_unref);
	g_ptr_array_unref(d->vms);
	g_ptr_array_unref(d->ptemplates);
}

desired_state *
desired_ref(desired_state *d)
{
	return g_atomic_rc_box_acquire(d);
}

void
desired_free(desired_state *d)
{
	if (!d)
		return;
	HANDOFF_SEND(d);
	g_atomic_rc_box_release_full(d, desired_clear);
}
