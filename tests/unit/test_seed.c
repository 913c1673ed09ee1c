/*
 * test_seed.c - first-boot data: the spec's parts, the NoCloud image
 *
 * What the guest will read is checked by reading the image back with
 * libarchive, byte for byte; the files beside a spec are read from a real
 * folder, inside it only.  Writing the image into a pool needs libvirt's
 * upload stream, which the test driver lacks: the end-to-end suite does
 * that on QEMU (tests/e2e/scenarios/seed.sh).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../reconciler/desired.h"
#include "../../reconciler/domxml.h"
#include "../../reconciler/seed_iso.h"
#include "testutil.h"

#define HEAD "kind: host\nname: hv1\nuri: test:///default\n---\n" \
	"kind: template\nname: t\npool: default\nvolume: base.qcow2\n---\n" \
	"kind: appliance\nname: a\nvms:\n  - name: vm\n    template: t\n    cloud_init:\n"

typedef struct {
	char *dir;
	spec_source *src;
	spec_diags diags;
	desired_state *want;
} loaded;

/* @spec written as DIR/spec.yaml beside @files (name, text, ...), loaded. */
static void
load(loaded *l, const char *spec, ...)
{
	g_autofree char *path = NULL;
	va_list ap;
	const char *name;

	l->dir = tu_mkdtemp();
	va_start(ap, spec);
	while ((name = va_arg(ap, const char *))) {
		g_autofree char *p = g_build_filename(l->dir, name, NULL);
		g_autofree char *d = g_path_get_dirname(p);

		g_mkdir_with_parents(d, 0700);
		tu_write(p, va_arg(ap, const char *));
	}
	va_end(ap);
	path = g_build_filename(l->dir, "spec.yaml", NULL);
	tu_write(path, spec);
	spec_diags_init(&l->diags);
	l->src = spec_load(l->dir, &l->diags);
	spec_validate(l->src, &l->diags);
	l->want = l->diags.errors ? NULL : desired_build(l->src);
}

static void
unload(loaded *l)
{
	if (l->want)
		desired_free(l->want);
	spec_source_free(l->src);
	spec_diags_release(&l->diags);
	tu_rmtree(l->dir);
	g_free(l->dir);
}

static const desired_vm *
the_vm(const loaded *l)
{
	assert_non_null(l->want);
	return g_hash_table_lookup(l->want->vm_by_domain, "a.vm");
}

static char *
all_diags(const loaded *l)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < l->diags.items->len; i++) {
		g_autofree char *line = spec_diag_format(l->diags.items->pdata[i]);

		g_string_append_printf(s, "%s\n", line);
	}
	return g_string_free(s, FALSE);
}

static void
assert_bytes(GBytes *b, const char *text)
{
	assert_non_null(b);
	assert_int_equal(g_bytes_get_size(b), strlen(text));
	assert_memory_equal(g_bytes_get_data(b, NULL), text, strlen(text));
}

/* The image holds each part as a file of its NoCloud name, exactly, and
 * nothing else; its label is cidata (uppercase in the primary descriptor,
 * which allows no other; cloud-init and blkid take either). */
static void
test_seed__the_image_holds_exactly_the_data(void **state)
{
	static const char user[] = "#cloud-config\nusers:\n  - name: ops\n\tssh_authorized_keys: [k]\n";
	static const char meta[] = "instance-id: i-1\n";
	g_autofree char *big = g_strnfill(300 * 1024, 'x');
	GBytes *parts[SPEC_SEED_PARTS] = {
		g_bytes_new_static(user, strlen(user)), g_bytes_new_static(meta, strlen(meta)),
		g_bytes_new_static(big, strlen(big)),
	};
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) iso = seed_iso_build(parts, &err);
	g_autoptr(GHashTable) files = NULL;
	g_autofree char *label = NULL;

	(void)state;
	assert_non_null(iso);
	files = seed_iso_read(iso, &label, &err);
	assert_non_null(files);
	assert_string_equal(label, "CIDATA");
	assert_int_equal(g_hash_table_size(files), 3);
	assert_bytes(g_hash_table_lookup(files, "user-data"), user);
	assert_bytes(g_hash_table_lookup(files, "meta-data"), meta);
	assert_bytes(g_hash_table_lookup(files, "network-config"), big);
	/* A part not given is no file (cloud-init: no network-config). */
	g_bytes_unref(parts[2]);
	parts[2] = NULL;
	g_bytes_unref(iso);
	g_hash_table_unref(files);
	g_free(label);
	iso = seed_iso_build(parts, &err);
	files = seed_iso_read(iso, &label, &err);
	assert_int_equal(g_hash_table_size(files), 2);
	assert_null(g_hash_table_lookup(files, "network-config"));
	/* An empty part is an empty file, not none. */
	g_bytes_unref(parts[0]);
	parts[0] = g_bytes_new_static("", 0);
	g_bytes_unref(iso);
	g_hash_table_unref(files);
	g_free(label);
	iso = seed_iso_build(parts, &err);
	files = seed_iso_read(iso, &label, &err);
	assert_bytes(g_hash_table_lookup(files, "user-data"), "");
	g_bytes_unref(parts[0]);
	g_bytes_unref(parts[1]);
}

/*
 * Inline and beside the spec alike; without meta-data strata writes one
 * whose instance-id follows the data (cloud-init applies new data only for
 * a new instance), and a VM's meta-data is its own, verbatim.
 */
static void
test_seed__parts_inline_or_beside_the_spec_and_the_default_meta_data(void **state)
{
	loaded a, b, c;
	g_autofree char *id_a = NULL, *id_b = NULL;

	(void)state;
	load(&a, HEAD "      user_data: |\n        #cloud-config\n        hostname: one\n"
		 "      network_config_file: seed/net.cfg\n", "seed/net.cfg", "version: 2\n", NULL);
	assert_int_equal(a.diags.errors, 0);
	assert_bytes(the_vm(&a)->seed[SEED_USER_DATA], "#cloud-config\nhostname: one\n");
	assert_bytes(the_vm(&a)->seed[SEED_NETWORK_CONFIG], "version: 2\n");
	assert_string_equal(the_vm(&a)->seed_volume, "a.vm--cidata.iso");
	assert_string_equal(the_vm(&a)->seed_pool, "default");
	id_a = g_strndup(g_bytes_get_data(the_vm(&a)->seed[SEED_META_DATA], NULL),
			 g_bytes_get_size(the_vm(&a)->seed[SEED_META_DATA]));
	assert_true(g_str_has_prefix(id_a, "instance-id: a.vm-"));
	assert_non_null(strstr(id_a, "\nlocal-hostname: vm\n"));

	/* Another network file: another instance, another digest. */
	load(&b, HEAD "      user_data: |\n        #cloud-config\n        hostname: one\n"
		 "      network_config_file: seed/net.cfg\n", "seed/net.cfg", "version: 2\nethernets: {}\n", NULL);
	id_b = g_strndup(g_bytes_get_data(the_vm(&b)->seed[SEED_META_DATA], NULL),
			 g_bytes_get_size(the_vm(&b)->seed[SEED_META_DATA]));
	assert_string_not_equal(id_a, id_b);
	assert_string_not_equal(the_vm(&a)->seed_digest, the_vm(&b)->seed_digest);
	/* The revision changed with the file alone. */
	assert_string_not_equal(spec_source_digest(a.src), spec_source_digest(b.src));

	load(&c, HEAD "      meta_data: \"instance-id: mine\\n\"\n", NULL);
	assert_bytes(the_vm(&c)->seed[SEED_META_DATA], "instance-id: mine\n");
	assert_null(the_vm(&c)->seed[SEED_USER_DATA]);
	unload(&a);
	unload(&b);
	unload(&c);
}

/* A file named beside the spec never reaches outside the source, and what
 * cannot be read is said at the key, the content never quoted. */
static void
test_seed__files_outside_the_source_are_refused_saying_where(void **state)
{
	loaded l;
	g_autofree char *text = NULL;
	g_autofree char *outside = tu_mkdtemp();
	g_autofree char *secret = g_build_filename(outside, "secret", NULL);
	g_autofree char *link = NULL;

	(void)state;
	tu_write(secret, "TOP-SECRET-TOKEN\n");
	load(&l, HEAD "      user_data_file: ../secret\n      meta_data_file: /etc/hostname\n"
		 "      network_config_file: net.yml\n", NULL);
	text = all_diags(&l);
	assert_non_null(strstr(text, "spec.yaml:16:23: error: 'user_data_file' cannot be '../secret': it has a "
				     "'..' component"));
	assert_non_null(strstr(text, "spec.yaml:17:23: error: 'meta_data_file' cannot be '/etc/hostname': it is "
				     "absolute"));
	assert_non_null(strstr(text, "spec.yaml:18:28: error: 'network_config_file' cannot be 'net.yml': every "
				     ".yaml/.yml file of the source is read as a spec"));
	assert_null(l.want);
	unload(&l);
	g_free(text);

	/* A symbolic link in the source that leads out of it. */
	load(&l, HEAD "      user_data_file: seed/user\n", NULL);
	unload(&l);
	load(&l, HEAD "      user_data_file: seed/user\n", "seed/.keep", "", NULL);
	link = g_build_filename(l.dir, "seed", "user", NULL);
	assert_int_equal(symlink(secret, link), 0);
	spec_source_free(l.src);
	spec_diags_release(&l.diags);
	spec_diags_init(&l.diags);
	l.src = spec_load(l.dir, &l.diags);
	spec_validate(l.src, &l.diags);
	text = all_diags(&l);
	assert_non_null(strstr(text, "spec.yaml:16:23: error: 'user_data_file': cannot read 'seed/user': its real "
				     "path is outside the source"));
	assert_null(strstr(text, "TOP-SECRET"));
	unload(&l);
	tu_rmtree(outside);
}

/* Both forms of one part, a mapping for a document, nothing at all. */
static void
test_seed__conflicts_and_shapes_are_refused(void **state)
{
	loaded l;
	g_autofree char *text = NULL;

	(void)state;
	load(&l, HEAD "      user_data: x\n      user_data_file: u.cfg\n", "u.cfg", "y", NULL);
	text = all_diags(&l);
	assert_non_null(strstr(text, "'user_data' and 'user_data_file' are both given"));
	unload(&l);
	g_free(text);
	load(&l, HEAD "      user_data: {hostname: x}\n", NULL);
	text = all_diags(&l);
	assert_non_null(strstr(text, "spec.yaml:16:18: error: 'user_data' expects text, got a mapping; write it "
				     "as a block scalar"));
	unload(&l);
}

#define CONSOLE_HEAD "kind: host\nname: hv1\nuri: test:///default\n---\n" \
	"kind: template\nname: t\npool: default\nvolume: base.qcow2\n---\n" \
	"kind: appliance\nname: a\nvms:\n  - name: vm\n    template: t\n    console:\n"

/*
 * A console's password comes from a file beside the spec: its first line,
 * without the newline an editor ends it with.  The definition gets it, its
 * metadata a yescrypt verifier that is the same for the same password and
 * VM (the hash stays) and differs for another password or VM; the verifier
 * is no password.  VNC's 8 bytes, an empty file, a second line: refused,
 * the content never quoted.
 */
static void
test_seed__a_console_password_comes_from_a_file(void **state)
{
	loaded l;
	g_autofree char *xml = NULL, *text = NULL, *v1 = NULL, *v2 = NULL, *v3 = NULL;
	const desired_vm *vm;

	(void)state;
	load(&l, CONSOLE_HEAD "      type: vnc\n      password_file: secrets/vnc\n", "secrets/vnc", "Pa55w0rd\n",
	     NULL);
	vm = the_vm(&l);
	assert_string_equal(vm->console_password, "Pa55w0rd");
	assert_non_null(vm->console_verifier);
	assert_true(g_str_has_prefix(vm->console_verifier, "$y$"));
	assert_null(strstr(vm->console_verifier, "Pa55w0rd"));
	xml = domxml_domain(vm, "kvm", "h", NULL, NULL);
	assert_non_null(strstr(xml, "passwd=\"Pa55w0rd\""));
	assert_non_null(strstr(xml, vm->console_verifier));
	v1 = g_strdup(vm->console_verifier);
	unload(&l);
	v2 = desired_console_verifier("a.vm", "Pa55w0rd");
	assert_string_equal(v1, v2);
	v3 = desired_console_verifier("a.other", "Pa55w0rd");
	assert_string_not_equal(v1, v3);
	g_free(v3);
	v3 = desired_console_verifier("a.vm", "Pa55w0rD");
	assert_string_not_equal(v1, v3);

	load(&l, CONSOLE_HEAD "      type: vnc\n      password_file: pw\n", "pw", "123456789\n", NULL);
	text = all_diags(&l);
	assert_non_null(strstr(text, "spec.yaml:17:22: error: console password_file: the password is longer than 8 "
				     "bytes, and VNC uses only the first 8"));
	assert_null(strstr(text, "123456789"));
	assert_null(l.want);
	unload(&l);
	g_free(text);
	load(&l, CONSOLE_HEAD "      type: spice\n      password_file: pw\n", "pw", "one\ntwo\n", NULL);
	text = all_diags(&l);
	assert_non_null(strstr(text, "the password holds a control character, a byte outside ASCII or more than one line"));
	unload(&l);
	g_free(text);
	load(&l, CONSOLE_HEAD "      type: vnc\n      password_file: pw\n", "pw", "\n", NULL);
	text = all_diags(&l);
	assert_non_null(strstr(text, "the password is empty"));
	unload(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed__the_image_holds_exactly_the_data),
		cmocka_unit_test(test_seed__parts_inline_or_beside_the_spec_and_the_default_meta_data),
		cmocka_unit_test(test_seed__files_outside_the_source_are_refused_saying_where),
		cmocka_unit_test(test_seed__conflicts_and_shapes_are_refused),
		cmocka_unit_test(test_seed__a_console_password_comes_from_a_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
