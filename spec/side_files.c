/*
 * side_files.c - files a spec names beside itself: cloud-init's data, a
 * console's password
 *
 * A VM's first-boot data may be long, or secret (a token in user data):
 * it can live in a file beside the spec file rather than in it.  Here the
 * names are checked (relative, no '..') and each part given its bytes;
 * the reading itself is the source's (a folder, a Git commit's tree),
 * which keeps every read inside the source.  No content ever reaches a
 * diagnostic: only names, sizes and positions.
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "spec.h"

/* Why @rel cannot name a file beside a spec, or NULL. */
static const char *
rel_problem(const char *rel)
{
	g_auto(GStrv) parts = NULL;

	if (!*rel)
		return "it is empty";
	if (rel[0] == '/')
		return "it is absolute; name the file relative to the spec file's folder";
	if (strlen(rel) > 1024)
		return "it is longer than 1024 characters";
	if (spec_find_control(rel))
		return "it contains a control character";
	parts = g_strsplit(rel, "/", -1);
	for (guint i = 0; parts[i]; i++)
		if (strcmp(parts[i], "..") == 0)
			return "it has a '..' component; the file must be inside the source, "
			       "in the spec file's folder or below it";
	return NULL;
}

/* The bytes of the file @name (the value of @key in @file), or NULL with
 * the error said. */
static GBytes *
read_side(spec_source *src, const char *file, const spec_str *name, const char *key,
	  spec_file_reader read, void *ctx, spec_diags *diags)
{
	g_autofree char *shown = spec_clip(name->v);
	g_autofree char *why = NULL;
	const char *problem = rel_problem(name->v);
	GBytes *b;

	if (problem) {
		spec_error(diags, file, name->pos, "bad-path", "'%s' cannot be '%s': %s", key, shown, problem);
		return NULL;
	}
	/* Every *.yaml of the source is a spec file: cloud-config in one
	 * would be refused as a document without a kind. */
	if (g_str_has_suffix(name->v, ".yaml") || g_str_has_suffix(name->v, ".yml")) {
		spec_error(diags, file, name->pos, "bad-path",
			   "'%s' cannot be '%s': every .yaml/.yml file of the source is read as a spec; "
			   "give the file another extension (user-data.cfg, say)", key, shown);
		return NULL;
	}
	if (!read) {
		spec_error(diags, file, name->pos, "no-side-files",
			   "'%s' names a file, and a spec read from standard input has no folder to read "
			   "it from; validate the folder or file instead", key);
		return NULL;
	}
	if (!(b = read(ctx, file, name->v, &why))) {
		spec_error(diags, file, name->pos, "unreadable",
			   "'%s': cannot read '%s': %s", key, shown,
			   why ? why : "unknown error");
		return NULL;
	}
	src->side_bytes += g_bytes_get_size(b);
	if (src->side_bytes > SPEC_MAX_SIDE_TOTAL_BYTES) {
		spec_error(diags, file, name->pos, "too-many",
			   "'%s': the files beside the spec come to more than %u MiB in all; share less data, "
			   "or fewer copies of it", key, SPEC_MAX_SIDE_TOTAL_BYTES >> 20);
		g_bytes_unref(b);
		return NULL;
	}
	if (g_bytes_get_size(b) > SPEC_MAX_SIDE_FILE_BYTES) {
		spec_error(diags, file, name->pos, "file-too-large",
			   "'%s': '%s' has %zu bytes; the limit is %u (1 MiB)", key, shown,
			   g_bytes_get_size(b), SPEC_MAX_SIDE_FILE_BYTES);
		g_bytes_unref(b);
		return NULL;
	}
	/* Its name and bytes join the revision's digest. */
	g_checksum_update(src->digest, (const guchar *)name->v, (gssize)strlen(name->v) + 1);
	g_checksum_update(src->digest, g_bytes_get_data(b, NULL), (gssize)g_bytes_get_size(b));
	return b;
}

/*
 * A console password: the file's one line (a final newline, as editors
 * write one, is not part of it; a second line is refused).  VNC's authentication keys DES with 8
 * bytes, and QEMU would drop the rest in silence; SPICE takes 60.  The
 * bytes are never quoted.
 */
static GBytes *
console_password(const char *file, const spec_vm *vm, GBytes *b, spec_diags *diags)
{
	gsize n;
	const char *p = g_bytes_get_data(b, &n);
	gsize len = n;
	gsize max = vm->console_type.v == CONSOLE_VNC ? 8 : 60;
	const char *why = NULL;

	if (len && p[len - 1] == '\n')
		len--;
	if (len && p[len - 1] == '\r')
		len--;
	if (!len)
		why = "is empty";
	for (gsize i = 0; !why && i < len; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
			why = "holds a control character, a byte outside ASCII or more than one line";
	if (!why && len > max)
		why = vm->console_type.v == CONSOLE_VNC
			      ? "is longer than 8 bytes, and VNC uses only the first 8 (QEMU drops the rest)"
			      : "is longer than 60 bytes, SPICE's limit";
	if (why) {
		spec_error(diags, file, vm->console_password_file.pos, "bad-password",
			   "console password_file: the password %s; write one line of printable ASCII", why);
		return NULL;
	}
	return g_bytes_new(p, len);
}

static void
read_vm(spec_source *src, const spec_appliance *a, spec_vm *vm, spec_file_reader read, void *ctx,
	spec_diags *diags)
{
	for (int part = 0; vm->ci_pos.line && part < SPEC_SEED_PARTS; part++) {
		g_autofree char *key = g_strdup_printf("%s_file", spec_seed_keys[part]);

		g_clear_pointer(&vm->ci_bytes[part], g_bytes_unref);
		/* Inline and a file both: validation says so. */
		if (vm->ci_file[part].v && !vm->ci_text[part].v)
			vm->ci_bytes[part] = read_side(src, a->obj.file, &vm->ci_file[part], key, read, ctx,
						       diags);
	}
	g_clear_pointer(&vm->console_password, g_bytes_unref);
	if (vm->console_pos.line && vm->console_password_file.v) {
		g_autoptr(GBytes) b = read_side(src, a->obj.file, &vm->console_password_file, "password_file",
						read, ctx, diags);

		vm->console_password = b ? console_password(a->obj.file, vm, b, diags) : NULL;
	}
}

void
spec_read_side_files(spec_source *src, spec_file_reader read, void *ctx, spec_diags *diags)
{
	unsigned errors = diags->errors;

	for (guint i = 0; i < src->appliances->len; i++) {
		const spec_appliance *a = src->appliances->pdata[i];

		for (guint j = 0; a->vms && j < a->vms->len; j++) {
			spec_vm *vm = a->vms->pdata[j];

			read_vm(src, a, vm, read, ctx, diags);
		}
	}
	/* A file that cannot be read leaves the revision incomplete. */
	src->load_errors += diags->errors - errors;
	src->side_files_read = true;
}
