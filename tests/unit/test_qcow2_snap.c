/*
 * test_qcow2_snap.c - sizes read from a qcow2 image's snapshot table
 *
 * The tables are made here byte by byte as QEMU lays them out (its
 * docs/interop/qcow2.txt); a real image's, read through libvirt, is
 * checked against `qemu-img info` by the end-to-end suite (snapshot.sh).
 * Every prefix of a table, and bytes made hostile, are read without a
 * fault (this test runs under ASan too).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#include <string.h>

#include "testutil.h"
#include "../../reconciler/qcow2_snap.h"

static void
put16(GByteArray *b, guint16 v)
{
	v = GUINT16_TO_BE(v);
	g_byte_array_append(b, (const guint8 *)&v, 2);
}

static void
put32(GByteArray *b, guint32 v)
{
	v = GUINT32_TO_BE(v);
	g_byte_array_append(b, (const guint8 *)&v, 4);
}

static void
put64(GByteArray *b, guint64 v)
{
	v = GUINT64_TO_BE(v);
	g_byte_array_append(b, (const guint8 *)&v, 8);
}

/* One entry: @extra bytes of extra data (vm_state_size_large first when
 * there are 8), memory size @small in the 32-bit field. */
static void
put_entry(GByteArray *b, const char *id, const char *name, guint32 small, guint32 extra, guint64 large)
{
	static const guint8 zero[8];

	put64(b, 0x50000);              /* l1_table_offset */
	put32(b, 16);                   /* l1_size */
	put16(b, (guint16)strlen(id));
	put16(b, (guint16)strlen(name));
	put32(b, 1700000000);           /* date */
	put32(b, 0);
	put64(b, 123456789);            /* vm clock */
	put32(b, small);
	put32(b, extra);
	if (extra >= 8)
		put64(b, large);
	if (extra >= 16)
		put64(b, 16u << 20);    /* disk size */
	for (guint32 i = 16; i < extra; i++)
		g_byte_array_append(b, zero, 1);
	g_byte_array_append(b, (const guint8 *)id, (guint)strlen(id));
	g_byte_array_append(b, (const guint8 *)name, (guint)strlen(name));
	while (b->len % 8)
		g_byte_array_append(b, zero, 1);
}

static GByteArray *
three_entries(void)
{
	GByteArray *b = g_byte_array_new();

	/* As QEMU 7 writes them: 24 bytes of extra data, the large size. */
	put_entry(b, "1", "before-upgrade", 0, 24, 5ull << 30);
	/* An older writer's: no extra data, the 32-bit size. */
	put_entry(b, "2", "disk-only", 0, 0, 0);
	put_entry(b, "3", "old-style", 4096, 0, 0);
	return b;
}

static guint64
size_of(GHashTable *t, const char *name)
{
	guint64 *v = g_hash_table_lookup(t, name);

	assert_non_null(v);
	return *v;
}

static void
test_qcow2__sizes_come_from_the_table(void **state)
{
	g_autoptr(GByteArray) b = three_entries();
	g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GError) err = NULL;
	gsize need = 99;

	(void)state;
	assert_true(qcow2_table_sizes(b->data, b->len, 3, t, &need, &err));
	assert_int_equal(need, 0);
	assert_int_equal(g_hash_table_size(t), 3);
	assert_true(size_of(t, "before-upgrade") == 5ull << 30);   /* past 32 bits */
	assert_int_equal(size_of(t, "disk-only"), 0);
	assert_int_equal(size_of(t, "old-style"), 4096);
}

/* QEMU keeps ids unique, not names: a name twice in one image counts its
 * larger size, once.  More entries than QEMU allows is refused. */
static void
test_qcow2__a_name_twice_counts_once_and_too_many_are_refused(void **state)
{
	g_autoptr(GByteArray) b = g_byte_array_new();
	g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GError) err = NULL;
	gsize need = 0;

	(void)state;
	put_entry(b, "1", "again", 4096, 0, 0);
	put_entry(b, "2", "again", 1024, 0, 0);
	assert_true(qcow2_table_sizes(b->data, b->len, 2, t, &need, &err));
	assert_int_equal(g_hash_table_size(t), 1);
	assert_int_equal(size_of(t, "again"), 4096);
	assert_false(qcow2_table_sizes(b->data, b->len, QCOW2_SNAPSHOTS_MAX + 1, t, &need, &err));
	assert_int_equal(need, 0);
	assert_non_null(strstr(err->message, "counts 65537 snapshots, more than QEMU allows"));
}

/* A table read short says how much it needs, never reads past what it
 * has: every prefix.  The last entry's padding is not needed (QEMU does
 * not write it when the table ends the file): "3" and "old-style" after
 * its 40 bytes are 50, padded to 56. */
static void
test_qcow2__a_short_read_says_how_much_more(void **state)
{
	g_autoptr(GByteArray) b = three_entries();
	gsize end = b->len - 6;

	(void)state;
	for (gsize len = 0; len <= b->len; len++) {
		g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		g_autoptr(GError) err = NULL;
		g_autofree guint8 *copy = g_memdup2(b->data, len ? len : 1);  /* exactly @len for ASan */
		gsize need = 0;
		bool ok = qcow2_table_sizes(copy, len, 3, t, &need, &err);

		assert_null(err);
		if (len >= end) {
			assert_true(ok);
			assert_int_equal(size_of(t, "old-style"), 4096);
			continue;
		}
		assert_false(ok);
		assert_true(need > len && need <= end);
	}
}

static void
test_qcow2__a_malformed_table_is_refused_saying_where(void **state)
{
	g_autoptr(GByteArray) extra = g_byte_array_new();
	g_autoptr(GByteArray) nul = g_byte_array_new();
	g_autoptr(GHashTable) t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GError) e1 = NULL, e2 = NULL;
	gsize need = 0;

	(void)state;
	put_entry(extra, "1", "ok", 0, 0, 0);
	put_entry(extra, "2", "x", 0, 0, 0);
	/* The second entry claims 4 KiB of extra data. */
	{
		guint32 big = GUINT32_TO_BE(4096);
		gsize second = 48;      /* the first entry: 40 + "1" + "ok", padded */

		memcpy(extra->data + second + 36, &big, 4);
	}
	assert_false(qcow2_table_sizes(extra->data, extra->len, 2, t, &need, &e1));
	assert_int_equal(need, 0);
	assert_non_null(e1);
	assert_non_null(strstr(e1->message, "malformed at entry 2: more extra data than QEMU writes"));

	put_entry(nul, "1", "ab", 0, 0, 0);
	nul->data[40 + 1] = '\0';       /* the name's first byte */
	assert_false(qcow2_table_sizes(nul->data, nul->len, 1, t, &need, &e2));
	assert_non_null(e2);
	assert_non_null(strstr(e2->message, "malformed at entry 1: a NUL in its name"));
}

static void
test_qcow2__the_header_says_where_the_table_is(void **state)
{
	g_autoptr(GByteArray) h = g_byte_array_new();
	guint64 offset = 0;
	guint32 count = 0;
	guint8 raw[QCOW2_HEADER_LEN] = { 0 };

	(void)state;
	g_byte_array_append(h, (const guint8 *)"QFI\xfb", 4);
	put32(h, 3);
	while (h->len < 60)
		put32(h, 0);
	put32(h, 7);
	put64(h, 0x30000);
	assert_int_equal(h->len, QCOW2_HEADER_LEN);
	assert_true(qcow2_table_at(h->data, h->len, &offset, &count));
	assert_int_equal(count, 7);
	assert_int_equal(offset, 0x30000);
	assert_false(qcow2_table_at(h->data, h->len - 1, &offset, &count));  /* short */
	assert_false(qcow2_table_at(raw, sizeof(raw), &offset, &count));      /* a raw image */
	h->data[7] = 1;                                                          /* version 1 */
	assert_false(qcow2_table_at(h->data, h->len, &offset, &count));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qcow2__sizes_come_from_the_table),
		cmocka_unit_test(test_qcow2__a_name_twice_counts_once_and_too_many_are_refused),
		cmocka_unit_test(test_qcow2__a_short_read_says_how_much_more),
		cmocka_unit_test(test_qcow2__a_malformed_table_is_refused_saying_where),
		cmocka_unit_test(test_qcow2__the_header_says_where_the_table_is),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
