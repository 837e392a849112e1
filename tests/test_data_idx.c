/* IDX reader: raw and gzip, bad magic, truncation, count mismatch, spec
 * resolution, and the real Fashion-MNIST test split when installed. */
#include <stdint.h>
#include <zlib.h>

#include "dataset.h"
#include "testutil.h"
#include "tu_data.h"

#define N 5
#define H 3
#define W 4

static size_t make_images(unsigned char *buf, int n)
{
    unsigned char hdr[16] = {0, 0, 8, 3, 0, 0, 0, (unsigned char)n, 0, 0, 0, H, 0, 0, 0, W};
    memcpy(buf, hdr, 16);
    for (int i = 0; i < n * H * W; i++) buf[16 + i] = (unsigned char)((i * 37 + 11) % 256);
    return 16 + (size_t)n * H * W;
}

static size_t make_labels(unsigned char *buf, int n)
{
    unsigned char hdr[8] = {0, 0, 8, 1, 0, 0, 0, (unsigned char)n};
    memcpy(buf, hdr, 8);
    for (int i = 0; i < n; i++) buf[8 + i] = (unsigned char)((i * 3) % 7);
    return 8 + (size_t)n;
}

static size_t gzip_buf(const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t m = zs.total_out;
    deflateEnd(&zs);
    return m;
}

static void check_content(const dataset *d)
{
    ck_assert_int_eq(d->n, N);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, H);
    ck_assert_int_eq(d->w, W);
    ck_assert_int_eq(d->nclasses, 10);
    ck_assert_str_eq(d->class_names[0], "0");
    ck_assert_str_eq(d->class_names[9], "9");
    for (int i = 0; i < N * H * W; i++) {
        int v = (i * 37 + 11) % 256;
        ck_assert_msg(d->x[i] == (float)v * (1.0f / 255.0f), "pixel %d: %g vs %d/255", i, d->x[i], v);
    }
    for (int i = 0; i < N; i++) ck_assert_int_eq(d->y[i], (i * 3) % 7);
}

START_TEST(raw_and_gzip)
{
    unsigned char img[256], lab[64], gimg[512], glab[256];
    size_t ni = make_images(img, N), nl = make_labels(lab, N);
    char err[512];
    dataset *d;
    ck_assert_int_eq(dataset_from_idx_mem(img, ni, "img", lab, nl, "lab", NULL, 0, &d, err, sizeof err), GRAFT_OK);
    check_content(d);
    dataset_free(d);

    size_t gi = gzip_buf(img, ni, gimg, sizeof gimg), gl = gzip_buf(lab, nl, glab, sizeof glab);
    char dir[256], pi[512], pl[512];
    tu_tmpdir(dir, sizeof dir);
    tu_path(pi, sizeof pi, dir, "train-images-idx3-ubyte.gz");
    tu_path(pl, sizeof pl, dir, "train-labels-idx1-ubyte.gz");
    tu_write(pi, gimg, gi);
    tu_write(pl, glab, gl);
    ck_assert_msg(dataset_load_idx(pi, pl, NULL, 0, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    check_content(d);
    dataset_free(d);

    /* mixed: raw labels, gzip images; custom names */
    tu_path(pl, sizeof pl, dir, "raw-labels");
    tu_write(pl, lab, nl);
    const char *const *fn = fashion_mnist_class_names();
    ck_assert_msg(dataset_load_idx(pi, pl, fn, 10, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_str_eq(d->class_names[9], "Ankle boot");
    dataset_free(d);
    /* a label beyond the given class count */
    ck_assert_int_eq(dataset_load_idx(pi, pl, fn, 5, &d, err, sizeof err), GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(d);
    tu_rmtree(dir);
}
END_TEST

START_TEST(bad_files)
{
    unsigned char img[256], lab[64], gimg[512];
    size_t ni = make_images(img, N), nl = make_labels(lab, N);
    char err[512];
    dataset *d;
    /* wrong magic: labels file given as images */
    ck_assert_int_eq(dataset_from_idx_mem(lab, nl, "my-images", lab, nl, "lab", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "my-images") && strstr(err, "magic"), "%s", err);
    /* wrong type byte (int32 data) */
    unsigned char bad[256];
    memcpy(bad, img, ni);
    bad[2] = 0x0c;
    ck_assert_int_eq(dataset_from_idx_mem(bad, ni, "img", lab, nl, "lab", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    /* truncated images */
    ck_assert_int_eq(dataset_from_idx_mem(img, ni - 1, "short-img", lab, nl, "lab", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "short-img") && strstr(err, "truncated"), "%s", err);
    /* trailing garbage */
    ck_assert_int_eq(dataset_from_idx_mem(img, ni, "img", lab, nl - 1, "lab", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    /* count mismatch: 4 labels for 5 images */
    unsigned char lab4[64];
    size_t nl4 = make_labels(lab4, 4);
    ck_assert_int_eq(dataset_from_idx_mem(img, ni, "img", lab4, nl4, "lab4", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "lab4") && strstr(err, "4 labels"), "%s", err);
    /* truncated gzip stream */
    size_t gi = gzip_buf(img, ni, gimg, sizeof gimg);
    ck_assert_int_eq(dataset_from_idx_mem(gimg, gi - 6, "gz", lab, nl, "lab", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    ck_assert_msg(strstr(err, "gz"), "%s", err);
    /* every prefix of a valid buffer fails cleanly, never crashes */
    for (size_t k = 0; k < ni; k++) {
        ck_assert_int_ne(dataset_from_idx_mem(img, k, "img", lab, nl, "lab", NULL, 0, &d, err, sizeof err), GRAFT_OK);
        ck_assert_ptr_null(d);
    }
    for (size_t k = 0; k < gi; k++)
        ck_assert_int_ne(dataset_from_idx_mem(gimg, k, "img", lab, nl, "lab", NULL, 0, &d, err, sizeof err), GRAFT_OK);
    /* missing file */
    ck_assert_int_eq(dataset_load_idx("/nonexistent/x-images-idx3-ubyte", "/nonexistent/y", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_IO);
    ck_assert_msg(strstr(err, "/nonexistent/x-images-idx3-ubyte"), "%s", err);
}
END_TEST

/* A gzip file whose header declares a few images but which inflates to
 * 16 MiB (a decompression bomb) is refused once it passes the declared
 * size, with a message that says so, rather than after reading it all. */
START_TEST(gzip_bomb_stops_at_declared_size)
{
    unsigned char lab[64];
    size_t nl = make_labels(lab, N);
    size_t big = (size_t)16 << 20;
    unsigned char *raw = calloc(1, big);
    ck_assert_ptr_nonnull(raw);
    size_t ni = make_images(raw, N); /* header and N images; the rest stays zero */
    ck_assert(ni < big);
    size_t cap = big / 100;
    unsigned char *gz = malloc(cap);
    ck_assert_ptr_nonnull(gz);
    size_t gn = gzip_buf(raw, big, gz, cap);
    char err[512];
    dataset *d;
    ck_assert_int_eq(dataset_from_idx_mem(gz, gn, "bomb-images", lab, nl, "lab", NULL, 0, &d, err, sizeof err),
                     GRAFT_ERR_FORMAT);
    ck_assert_ptr_null(d);
    ck_assert_msg(strstr(err, "bomb-images") && strstr(err, "its IDX header declares"), "%s", err);
    /* The same stream cut to the declared size loads. */
    gn = gzip_buf(raw, ni, gz, cap);
    ck_assert_int_eq(dataset_from_idx_mem(gz, gn, "images", lab, nl, "lab", NULL, 0, &d, err, sizeof err),
                     GRAFT_OK);
    ck_assert_int_eq(d->n, N);
    dataset_free(d);
    free(gz);
    free(raw);
}
END_TEST

START_TEST(resolve)
{
    unsigned char img[256], lab[64];
    size_t ni = make_images(img, N), nl = make_labels(lab, N);
    char dir[256], p[512], err[512];
    tu_tmpdir(dir, sizeof dir);
    const char *names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        tu_path(p, sizeof p, dir, names[i]);
        tu_write(p, i % 2 ? lab : img, i % 2 ? nl : ni);
    }
    idx_source src;
    ck_assert_msg(dataset_resolve(dir, 1, &src, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(strstr(src.images, "train-images-idx3-ubyte") && strstr(src.labels, "train-labels-idx1-ubyte"));
    ck_assert_int_eq(src.fashion, 0);
    ck_assert_msg(dataset_resolve(dir, 0, &src, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert(strstr(src.images, "t10k-images-idx3-ubyte") && strstr(src.labels, "t10k-labels-idx1-ubyte"));
    /* explicit images path */
    tu_path(p, sizeof p, dir, names[2]);
    ck_assert_msg(dataset_resolve(p, 1, &src, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_str_eq(src.images, p);
    char want[512];
    tu_path(want, sizeof want, dir, names[3]);
    ck_assert_str_eq(src.labels, want);
    dataset *d;
    ck_assert_msg(dataset_load_spec(p, 1, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    check_content(d);
    dataset_free(d);
    /* bad specs */
    ck_assert_int_ne(dataset_resolve("no-such-dataset", 1, &src, err, sizeof err), GRAFT_OK);
    ck_assert_msg(strstr(err, "no-such-dataset"), "%s", err);
    unlink(want);
    ck_assert_int_eq(dataset_resolve(p, 1, &src, err, sizeof err), GRAFT_ERR_IO);
    ck_assert_int_eq(dataset_resolve(dir, 0, &src, err, sizeof err), GRAFT_ERR_IO);
    tu_rmtree(dir);
}
END_TEST

START_TEST(real_fashion_mnist)
{
    const char *p = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    if (access(p, R_OK) != 0) {
        printf("note: %s not installed; skipping the real Fashion-MNIST check\n", p);
        return;
    }
    char err[512];
    dataset *d;
    ck_assert_msg(dataset_load_spec("fashion-mnist", 0, &d, err, sizeof err) == GRAFT_OK, "%s", err);
    ck_assert_int_eq(d->n, 10000);
    ck_assert_int_eq(d->c, 1);
    ck_assert_int_eq(d->h, 28);
    ck_assert_int_eq(d->w, 28);
    ck_assert_int_eq(d->nclasses, 10);
    ck_assert_str_eq(d->class_names[0], "T-shirt/top");
    ck_assert_str_eq(d->class_names[9], "Ankle boot");
    int counts[10];
    dataset_class_counts(d, counts);
    for (int c = 0; c < 10; c++) ck_assert_int_eq(counts[c], 1000);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < (size_t)d->n * 784; i++) {
        if (d->x[i] < lo) lo = d->x[i];
        if (d->x[i] > hi) hi = d->x[i];
    }
    ck_assert(lo == 0.0f && hi == 1.0f);
    dataset_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data_idx");
    TCase *tc = tcase_create("idx");
    tcase_add_test(tc, raw_and_gzip);
    tcase_add_test(tc, gzip_bomb_stops_at_declared_size);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, resolve);
    tcase_add_test(tc, real_fashion_mnist);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
