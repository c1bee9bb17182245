/*
 * test_notes.c — note names in both conventions, ranges, safe file names, CRC-32, take ids,
 * protobuf message copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "bb_crc32.h"
#include "bb_err.h"
#include "bb_fs.h"
#include "bb_notes.h"
#include "bb_pb.h"
#include "bb_take_id.h"
#include "node.pb-c.h"

static void test_parse_c3_convention(void **state)
{
    int m;
    assert_int_equal(bb_note_parse("C3", BB_NOTES_C3_IS_60, &m), 0);
    assert_int_equal(m, 60);
    assert_int_equal(bb_note_parse("c#3", BB_NOTES_C3_IS_60, &m), 0);
    assert_int_equal(m, 61);
    assert_int_equal(bb_note_parse("Db3", BB_NOTES_C3_IS_60, &m), 0);
    assert_int_equal(m, 61);
    assert_int_equal(bb_note_parse("A3", BB_NOTES_C3_IS_60, &m), 0);
    assert_int_equal(m, 69);
    assert_int_equal(bb_note_parse("C-2", BB_NOTES_C3_IS_60, &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(bb_note_parse("G8", BB_NOTES_C3_IS_60, &m), 0);
    assert_int_equal(m, 127);
    assert_int_equal(bb_note_parse("60", BB_NOTES_C3_IS_60, &m), 0);
    assert_int_equal(m, 60);
}

static void test_parse_c4_convention(void **state)
{
    int m;
    assert_int_equal(bb_note_parse("C4", BB_NOTES_C4_IS_60, &m), 0);
    assert_int_equal(m, 60);
    assert_int_equal(bb_note_parse("C-1", BB_NOTES_C4_IS_60, &m), 0);
    assert_int_equal(m, 0);
    assert_int_equal(bb_note_parse("B#3", BB_NOTES_C4_IS_60, &m), 0);
    assert_int_equal(m, 60);
}

static void test_parse_rejects(void **state)
{
    int m = -5;
    const char *bad[] = {"", "H3", "C", "C3x", "G#8", "C-3", "128", "-1", "C 3", "#3", "Cb-2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(bb_note_parse(bad[i], BB_NOTES_C3_IS_60, &m), BB_EINVAL);
    assert_int_equal(m, -5);
}

static void test_format_round_trip(void **state)
{
    for (int conv = 0; conv < 2; conv++) {
        for (int k = 0; k < 128; k++) {
            char name[BB_NOTE_NAME_MAX];
            bb_note_name(k, (bb_note_convention_t)conv, name, sizeof name);
            int back = -1;
            assert_int_equal(bb_note_parse(name, (bb_note_convention_t)conv, &back), 0);
            assert_int_equal(back, k);
        }
    }
    char name[BB_NOTE_NAME_MAX];
    bb_note_name(61, BB_NOTES_C3_IS_60, name, sizeof name);
    assert_string_equal(name, "C#3");
    bb_note_name(0, BB_NOTES_C4_IS_60, name, sizeof name);
    assert_string_equal(name, "C-1");
}

static void test_ranges(void **state)
{
    int lo, hi;
    assert_int_equal(bb_note_range_parse("C2:C4", BB_NOTES_C3_IS_60, &lo, &hi), 0);
    assert_int_equal(lo, 48);
    assert_int_equal(hi, 72);
    assert_int_equal(bb_note_range_parse("36:60", BB_NOTES_C3_IS_60, &lo, &hi), 0);
    assert_int_equal(lo, 36);
    assert_int_equal(bb_note_range_parse("E1", BB_NOTES_C3_IS_60, &lo, &hi), 0);
    assert_int_equal(lo, hi);
    assert_int_equal(bb_note_range_parse("C4:C2", BB_NOTES_C3_IS_60, &lo, &hi), BB_EINVAL);
    assert_int_equal(bb_note_range_parse("C2:", BB_NOTES_C3_IS_60, &lo, &hi), BB_EINVAL);
    assert_int_equal(bb_note_range_parse("C2:X9", BB_NOTES_C3_IS_60, &lo, &hi), BB_EINVAL);
    assert_true(bb_note_freq(69) > 439.999 && bb_note_freq(69) < 440.001);
}

static void test_safe_names(void **state)
{
    char out[BB_SAFE_NAME_MAX + 8];
    bb_safe_name("Juno60-Pad", out, sizeof out);
    assert_string_equal(out, "Juno60-Pad");
    bb_safe_name("Demo Piano", out, sizeof out); /* spaces: readable, no hash */
    assert_string_equal(out, "Demo-Piano");
    const char *hostile[] = {
        "../x",
        "a/b",
        "",
        "..",
        "Piàno",
        "Piano",
        "a b",
        "\x01\x02",
        "日本",
        "中国",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"};
    size_t n = sizeof hostile / sizeof hostile[0];
    char names[12][BB_SAFE_NAME_MAX + 8];
    for (size_t i = 0; i < n; i++) {
        bb_safe_name(hostile[i], names[i], sizeof names[i]);
        assert_true(strlen(names[i]) > 0);
        assert_null(strchr(names[i], '/'));
        assert_null(strstr(names[i], ".."));
        assert_true(names[i][0] != '.');
        for (const char *c = names[i]; *c; c++)
            assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7F);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(names[i], names[k]);
    }
}

static void test_crc32_known_value(void **state)
{
    assert_int_equal(bb_crc32(0, "123456789", 9), 0xCBF43926u);
    uint32_t c = bb_crc32(0, "1234", 4);
    assert_int_equal(bb_crc32(c, "56789", 5), 0xCBF43926u);
    /* a buffer as long as a sample file, at an odd address and length (the folded blocks,
     * an unaligned head and a tail): zlib's CRC of it, whole and in odd pieces */
    size_t n = (1u << 20) + 7;
    unsigned char *buf = malloc(n + 1);
    assert_non_null(buf);
    uint32_t seed = 12345;
    for (size_t i = 0; i < n + 1; i++) {
        seed = seed * 1664525u + 1013904223u;
        buf[i] = (unsigned char)(seed >> 24);
    }
    uint32_t want = (uint32_t)crc32_z(0, buf + 1, n);
    assert_int_equal(bb_crc32(0, buf + 1, n), want);
    c = bb_crc32(0, buf + 1, 3);
    c = bb_crc32(c, buf + 4, 65541);
    c = bb_crc32(c, buf + 4 + 65541, n - 3 - 65541);
    assert_int_equal(c, want);
    assert_int_equal(bb_crc32_combine(bb_crc32(0, buf + 1, 1000), bb_crc32(0, buf + 1001, n - 1000),
                                      (uint32_t)(n - 1000)),
                     want);
    free(buf);
}

static void test_take_ids(void **state)
{
    char longest[BB_TAKE_ID_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[BB_TAKE_ID_MAX] = '\0';
    assert_true(bb_take_id_ok("b1-i0-s12-a1"));
    assert_true(bb_take_id_ok("Juno_60.take-3"));
    assert_true(bb_take_id_ok(longest));
    longest[BB_TAKE_ID_MAX] = 'a';
    longest[BB_TAKE_ID_MAX + 1] = '\0';
    assert_false(bb_take_id_ok(longest));
    const char *bad[] = {NULL, "", ".hidden", "a..b", "a/b", "a b", "../x", "a\\b", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(bb_take_id_ok(bad[i]));
}

static void test_pb_copy_is_deep(void **state)
{
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    char id[] = "b1-i0-s3-a1";
    job.take_id = id;
    job.note = 60;
    job.velocity = 100;
    Bb__TakeJob *copy = BB_PB_COPY(Bb__TakeJob, &job);
    assert_non_null(copy);
    id[0] = 'X'; /* the copy owns its strings */
    assert_string_equal(copy->take_id, "b1-i0-s3-a1");
    assert_int_equal(copy->note, 60);
    assert_int_equal(copy->velocity, 100);
    bb__take_job__free_unpacked(copy, NULL);
    assert_null(bb_pb_copy(NULL));
}

/* A tree deeper than PATH_MAX (no path of its files fits a path buffer), a symbolic link
 * to a file outside it: bb_rm_rf removes the tree and the link, never the link's target. */
static void test_rm_rf_deep_tree_and_links(void **state)
{
    (void)state;
    char root[] = "/tmp/bb-test-rmrf-XXXXXX";
    assert_non_null(mkdtemp(root));
    char outside[64], tree[96];
    snprintf(outside, sizeof outside, "%s.keep", root);
    FILE *f = fopen(outside, "w");
    assert_non_null(f);
    fputs("not ours\n", f);
    fclose(f);
    snprintf(tree, sizeof tree, "%s/t", root);
    assert_int_equal(mkdir(tree, 0755), 0);
    char name[201];
    memset(name, 'd', 200);
    name[200] = '\0';
    int fd = open(tree, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(symlinkat(outside, fd, "link"), 0);
    for (int level = 0; level < 30; level++) { /* 30 * 201 bytes > PATH_MAX */
        assert_int_equal(mkdirat(fd, name, 0755), 0);
        int child = openat(fd, name, O_RDONLY | O_DIRECTORY);
        assert_true(child >= 0);
        close(fd);
        fd = child;
        int file = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
        assert_true(file >= 0);
        close(file);
    }
    close(fd);
    assert_int_equal(bb_rm_rf(root), 0);
    assert_false(bb_exists(root));
    assert_true(bb_exists(outside));
    assert_int_equal(bb_rm_rf(root), 0); /* already gone */
    unlink(outside);
}

static void test_path_fmt_refuses_to_truncate(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(bb_path_fmt(out, sizeof out, "%s/%s", "ab", "cdef"), 0);
    assert_string_equal(out, "ab/cdef");
    assert_int_equal(bb_path_fmt(out, sizeof out, "%s/%s", "ab", "cdefg"), BB_ETOOLONG);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_c3_convention),
        cmocka_unit_test(test_parse_c4_convention),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_safe_names),
        cmocka_unit_test(test_crc32_known_value),
        cmocka_unit_test(test_take_ids),
        cmocka_unit_test(test_pb_copy_is_deep),
        cmocka_unit_test(test_rm_rf_deep_tree_and_links),
        cmocka_unit_test(test_path_fmt_refuses_to_truncate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
