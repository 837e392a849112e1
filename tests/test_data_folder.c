/* Class-folder and CSV datasets: class order, hidden and empty folders,
 * non-image files (error or skip), JPEG and PNG mixed (by content), formats
 * graft does not read, resizing, CSV labels and bad lines, decoding on
 * first use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dataset.h"
#include "testutil.h"
#include "tu_data.h"

/* Writes a w x h RGB PNG whose pixels encode (tag, y, x). */
static void put_png(const char *dir, const char *name, int w, int h, int tag)
{
    char p[1024], err[512];
    tu_path(p, sizeof p, dir, name);
    unsigned char px[64 * 64 * 3];
    for (int i = 0; i < w * h * 3; i++) px[i] = (unsigned char)(tag * 40 + i * 3 + 1);
    ck_assert_msg(png_write_file(p, px, w, h, 3, err, sizeof err) == GRAFT_OK, "%s", err);
}

static void sub(char *out, size_t n, const char *dir, const char *name)
{
    tu_path(out, n, dir, name);
}

/* root/{ant(2), cat(3), dog(1)}, .hidden/, empty/, cat/.DS_Store, README */
static void make_tree(char *root, size_t n)
{
    tu_tmpdir(root, n);
    char p[512];
    const char *dirs[] = {"ant", "cat", "dog", ".hidden", "empty"};
    for (int i = 0; i < 5; i++) {
        sub(p, sizeof p, root, dirs[i]);
        tu_mkdir(p);
    }
    sub(p, sizeof p, root, "ant");
    put_png(p, "a1.png", 4, 4, 1);
    put_png(p, "a0.png", 4, 4, 2);
    sub(p, sizeof p, root, "cat");
    put_png(p, "c.png", 8, 6, 3);
    put_png(p, "d.PNG", 4, 4, 4);
    put_png(p, "e.png", 6, 8, 5);
    char q[1024];
    tu_path(q, sizeof q, p, ".DS_Store");
    tu_write(q, "x", 1);
    sub(p, sizeof p, root, "dog");
    put_png(p, "z.png", 4, 4, 6);
    sub(p, sizeof p, root, ".hidden");
    put_png(p, "h.png", 4, 4, 7);
    sub(p, sizeof p, root, "README");
    tu_write(p, "hi\n", 3);
}

START_TEST(folder)
{
    char root[256], err[512];
    make_tree(root, sizeof root);
    data_load_opts o = {.c = 3, .h = 4, .w = 4, .skip_bad = 0};
    data_report r;
    dataset *d;
    ck_assert_msg(dataset_load_folder(root, &o, &r, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(d->nclasses, 3);
    ck_assert_str_eq(d->class_names[0], "ant");
    ck_assert_str_eq(d->class_names[1], "cat");
    ck_assert_str_eq(d->class_names[2], "dog");
    ck_assert_int_eq(d->n, 6);
    ck_assert_int_eq(d->c, 3);
    ck_assert_int_eq(d->h, 4);
    ck_assert_int_eq(d->w, 4);
    int want_y[6] = {0, 0, 1, 1, 1, 2};
    for (int i = 0; i < 6; i++) ck_assert_int_eq(d->y[i], want_y[i]);
    ck_assert_ptr_nonnull(d->paths);
    ck_assert_msg(strstr(d->paths[0], "ant/a0.png"), "%s", d->paths[0]); /* sorted by name */
    ck_assert_int_eq(r.hidden, 2);
    ck_assert_int_eq(r.empty_classes, 1);
    ck_assert_int_eq(r.stray_files, 1);
    ck_assert_int_eq(r.bad_skipped, 0);
    ck_assert_msg(r.messages && strstr(r.messages, "empty") && strstr(r.messages, ".hidden"), "%s",
                  r.messages ? r.messages : "(none)");
    /* same-size images are copied exactly (a0.png, tag 2) */
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int k = 0; k < 3; k++) {
                int v = (2 * 40 + ((y * 4 + x) * 3 + k) * 3 + 1) % 256;
                ck_assert_int_eq((int)lrintf(d->x[(k * 4 + y) * 4 + x] * 255.0f), v);
            }
    /* the resized image matches preprocess_resize_crop of the decoded one */
    float *src;
    int w, h;
    char p[1024];
    snprintf(p, sizeof p, "%s/cat/c.png", root);
    ck_assert(png_decode_file(p, 3, &src, &w, &h, err, sizeof err) == GRAFT_OK);
    float ref[3 * 16];
    preprocess_resize_crop(src, 3, h, w, ref, 4, 4);
    ck_assert_mem_eq(ref, dataset_image(d, 2), sizeof ref);
    free(src);
    dataset_free(d);
    data_report_free(&r);

    /* grey, natural size (first image's) */
    data_load_opts o1 = {.c = 1, .h = 0, .w = 0, .skip_bad = 0};
    ck_assert_msg(dataset_load_folder(root, &o1, NULL, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, 4);

    /* decoded on first use: the first image sets the size and is decoded,
     * the others when read, to the same pixels; a subset keeps the
     * undecoded ones pending */
    data_load_opts ol = o1;
    ol.lazy = 1;
    dataset *lz, *sub1;
    ck_assert_msg(dataset_load_folder(root, &ol, NULL, &lz, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(lz->n, 6);
    ck_assert_int_eq(dataset_num_pending(lz), 5);
    int pick[2] = {4, 1};
    ck_assert(dataset_subset(lz, pick, 2, &sub1, err, sizeof err) == GRAFT_OK);
    ck_assert_int_eq(dataset_num_pending(sub1), 2);
    ck_assert_mem_eq(dataset_image(sub1, 0), dataset_image(d, 4), 16 * sizeof(float));
    ck_assert_int_eq(dataset_num_pending(sub1), 1);
    ck_assert_int_eq(dataset_num_pending(lz), 5); /* the copy decoded, not lz */
    for (int i = 0; i < 6; i++) ck_assert_mem_eq(dataset_image(lz, i), dataset_image(d, i), 16 * sizeof(float));
    ck_assert_int_eq(dataset_num_pending(lz), 0);
    dataset_free(sub1);
    dataset_free(lz);
    dataset_free(d);

    /* a non-PNG file: error by default, skipped with skip_bad */
    snprintf(p, sizeof p, "%s/dog/notes.txt", root);
    tu_write(p, "text", 4);
    ck_assert_int_eq(dataset_load_folder(root, &o, &r, &d, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "notes.txt"), "%s", err);
    data_report_free(&r);
    snprintf(p, sizeof p, "%s/dog/bad.png", root);
    tu_write(p, "not a png", 9);
    o.skip_bad = 1;
    ck_assert_msg(dataset_load_folder(root, &o, &r, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(r.bad_skipped, 2);
    ck_assert_int_eq(d->n, 6);
    dataset_free(d);
    data_report_free(&r);
    o.skip_bad = 0;
    ck_assert_int_eq(dataset_load_folder(root, &o, NULL, &d, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "bad.png") || strstr(err, "notes.txt"), "%s", err);

    /* missing root / no classes */
    snprintf(p, sizeof p, "%s/nope", root);
    ck_assert_int_eq(dataset_load_folder(p, &o, NULL, &d, err, sizeof err), GRAFT_ERR_IO);
    snprintf(p, sizeof p, "%s/empty", root);
    ck_assert_int_eq(dataset_load_folder(p, &o, NULL, &d, err, sizeof err), GRAFT_ERR_FORMAT);
    tu_rmtree(root);
}
END_TEST

/* Copies the committed fixture data/fixtures/jpeg/name to dir/as. */
static void put_fixture(const char *dir, const char *name, const char *as)
{
    char src[1024], dst[1024];
    snprintf(src, sizeof src, "%s/fixtures/jpeg/%s", GRAFT_DATA_DIR, name);
    FILE *f = fopen(src, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", src);
    unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    tu_path(dst, sizeof dst, dir, as);
    tu_write(dst, buf, n);
}

/* A class folder of JPEGs (baseline, progressive, grey, CMYK, EXIF-rotated)
 * and PNGs loads by content, whatever the names say; a WebP is refused as
 * an unsupported format naming the file, or skipped and counted. */
START_TEST(mixed_jpeg_png)
{
    char root[256], p[512], err[512];
    tu_tmpdir(root, sizeof root);
    sub(p, sizeof p, root, "a");
    tu_mkdir(p);
    put_fixture(p, "baseline.jpg", "b.jpg");
    put_fixture(p, "progressive.jpg", "p.JPEG");
    put_fixture(p, "exif6_be.jpg", "r.jpg");
    put_png(p, "x.png", 5, 5, 1);
    sub(p, sizeof p, root, "b");
    tu_mkdir(p);
    put_fixture(p, "grey.jpg", "g.jpg");
    put_fixture(p, "cmyk_adobe.jpg", "c.jpg");
    put_fixture(p, "png_named.jpg", "png_named.jpg");
    put_png(p, "photo_no_ext", 6, 4, 2);
    data_load_opts o = {.c = 3, .h = 7, .w = 7, .skip_bad = 0};
    data_report r;
    dataset *d;
    ck_assert_msg(dataset_load_folder(root, &o, &r, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(d->n, 8);
    ck_assert_int_eq(d->nclasses, 2);
    int cnt[2] = {0, 0};
    for (int i = 0; i < d->n; i++) cnt[d->y[i]]++;
    ck_assert_int_eq(cnt[0], 4);
    ck_assert_int_eq(cnt[1], 4);
    /* a decoded JPEG is not blank */
    const float *img = dataset_image(d, 0);
    float mx = 0;
    for (int i = 0; i < 3 * 49; i++) mx = img[i] > mx ? img[i] : mx;
    ck_assert(mx > 0.05f);
    dataset_free(d);
    data_report_free(&r);

    put_fixture(p, "sample.webp", "w.jpg");
    ck_assert_int_eq(dataset_load_folder(root, &o, NULL, &d, err, sizeof err), GRAFT_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err, "w.jpg") && strstr(err, "unsupported image format (WebP)"), "%s", err);
    put_fixture(p, "truncated.jpg", "t.jpg");
    o.skip_bad = 1;
    ck_assert_msg(dataset_load_folder(root, &o, &r, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(r.bad_skipped, 2);
    ck_assert_int_eq(r.unsupported_skipped, 1);
    ck_assert_int_eq(d->n, 8);
    dataset_free(d);
    data_report_free(&r);
    tu_rmtree(root);
}
END_TEST

START_TEST(csv)
{
    char root[256], p[1024], err[512];
    make_tree(root, sizeof root);
    data_load_opts o = {.c = 3, .h = 4, .w = 4, .skip_bad = 0};
    dataset *d;
    const char *good = "path,label\n"
                       "ant/a0.png,insect\r\n"
                       "\n"
                       "cat/c.png,mammal\n"
                       "dog/z.png , mammal\n";
    snprintf(p, sizeof p, "%s/list.csv", root);
    tu_write(p, good, strlen(good));
    ck_assert_msg(dataset_load_csv(p, &o, NULL, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(d->n, 3);
    ck_assert_int_eq(d->nclasses, 2);
    ck_assert_str_eq(d->class_names[0], "insect");
    ck_assert_str_eq(d->class_names[1], "mammal");
    ck_assert_int_eq(d->y[0], 0);
    ck_assert_int_eq(d->y[1], 1);
    ck_assert_int_eq(d->y[2], 1);
    dataset_free(d);

    char ints[1024];
    snprintf(ints, sizeof ints, "ant/a1.png,2\n%s/dog/z.png,0\n", root); /* absolute path too */
    tu_write(p, ints, strlen(ints));
    ck_assert_msg(dataset_load_csv(p, &o, NULL, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(d->nclasses, 3);
    ck_assert_str_eq(d->class_names[2], "2");
    ck_assert_int_eq(d->y[0], 2);
    ck_assert_int_eq(d->y[1], 0);
    dataset_free(d);

    const char *bad = "path,label\nant/a0.png,0\nant/a1.png\n";
    tu_write(p, bad, strlen(bad));
    ck_assert_int_eq(dataset_load_csv(p, &o, NULL, &d, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(d);
    char want[1100];
    snprintf(want, sizeof want, "%s:3:", p);
    ck_assert_msg(strstr(err, want), "'%s' lacks '%s'", err, want);

    const char *empty_label = "ant/a0.png,\n";
    tu_write(p, empty_label, strlen(empty_label));
    ck_assert_int_eq(dataset_load_csv(p, &o, NULL, &d, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "list.csv:1:"), "%s", err);

    const char *missing = "ant/a0.png,0\nant/none.png,1\n";
    tu_write(p, missing, strlen(missing));
    ck_assert_int_eq(dataset_load_csv(p, &o, NULL, &d, err, sizeof err), GRAFT_ERR_IO);
    ck_assert_msg(strstr(err, "list.csv:2:") && strstr(err, "none.png"), "%s", err);

    /* Select first, decode only what is kept: rows of an unselected class
     * that point to missing files are never opened; a per-class sample
     * picks the same images as sampling after a full load. */
    {
        size_t cap = 64 * 1024, at = 0;
        char *big = malloc(cap);
        const char *files[4] = {"ant/a0.png", "ant/a1.png", "cat/c.png", "dog/z.png"};
        for (int i = 0; i < 40; i++)
            at += (size_t)snprintf(big + at, cap - at, "%s,%d\n", files[i % 4], i % 2);
        for (int i = 0; i < 1000; i++)
            at += (size_t)snprintf(big + at, cap - at, "missing/x%d.png,2\n", i);
        tu_write(p, big, at);
        ck_assert_int_eq(dataset_load_csv(p, &o, NULL, &d, err, sizeof err), GRAFT_ERR_IO);
        int cls[2] = {0, 1};
        ck_assert_msg(dataset_load_csv_sampled(p, &o, cls, 2, 0, 0, NULL, &d, err, sizeof err) ==
                      GRAFT_OK, "%s", err);
        ck_assert_int_eq(d->n, 40);
        ck_assert_int_eq(d->nclasses, 3);
        dataset_free(d);
        ck_assert_msg(dataset_load_csv_sampled(p, &o, cls, 2, 3, 9, NULL, &d, err, sizeof err) ==
                      GRAFT_OK, "%s", err);
        ck_assert_int_eq(d->n, 6);
        /* the same rows as a full load (of the real rows) sampled after */
        at = 0;
        for (int i = 0; i < 40; i++)
            at += (size_t)snprintf(big + at, cap - at, "%s,%d\n", files[i % 4], i % 2);
        at += (size_t)snprintf(big + at, cap - at, "ant/a0.png,2\n");
        tu_write(p, big, at);
        dataset *full, *sel, *smp;
        ck_assert(dataset_load_csv(p, &o, NULL, &full, err, sizeof err) == GRAFT_OK);
        ck_assert(dataset_select_classes(full, cls, 2, &sel, err, sizeof err) == GRAFT_OK);
        ck_assert(dataset_per_class(sel, 3, 9, &smp, err, sizeof err) == GRAFT_OK);
        ck_assert_int_eq(smp->n, d->n);
        for (int i = 0; i < d->n; i++) {
            ck_assert_int_eq(smp->y[i], d->y[i]);
            ck_assert_str_eq(smp->paths[i], d->paths[i]);
        }
        dataset_free(full);
        dataset_free(sel);
        dataset_free(smp);
        dataset_free(d);
        free(big);
    }

    /* memory parser */
    csv_rows rows;
    const char *mem = "a,b,c\nx,1\n";
    ck_assert_int_eq(csv_parse(mem, strlen(mem), "m.csv", &rows, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(rows.n, 2);
    ck_assert_str_eq(rows.rows[0].path, "a,b");
    ck_assert_str_eq(rows.rows[0].label, "c");
    ck_assert_int_eq(rows.rows[1].line, 2);
    csv_rows_free(&rows);
    ck_assert_int_eq(csv_parse("a\0b,1", 5, "nul.csv", &rows, err, sizeof err), GRAFT_ERR_FORMAT);
    tu_rmtree(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_folder");
    TCase *tc = tcase_create("folder");
    tcase_add_test(tc, folder);
    tcase_add_test(tc, mixed_jpeg_png);
    tcase_add_test(tc, csv);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
