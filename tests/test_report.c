/* Transfer report: HTML content and escaping, CSV rows and values,
 * mean/std over repetitions, time-saved percentages, "not reached". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "report.h"
#include "testutil.h"

static const report_point sc0[] = {{1, 10, 0.50}, {2, 20, 0.70}, {3, 30, 0.80}, {4, 40, 0.86}};
static const report_point sc1[] = {{1, 11, 0.52}, {2, 21, 0.71}, {3, 31, 0.82}, {4, 42, 0.86}};
static const report_point lp0[] = {{1, 1.5, 0.84}, {2, 3.0, 0.87}};
static const report_point lp1[] = {{1, 1.6, 0.85}, {2, 3.2, 0.88}, {3, 4.8, 0.89}};
static const report_point ho0[] = {{1, 0.5, 0.61}, {2, 1.0, 0.65}};

static const report_rep scratch_reps[] = {{sc0, 4, 0.86, 40.0}, {sc1, 4, 0.86, 42.0}};
static const report_rep probe_reps[] = {{lp0, 2, 0.87, 3.0}, {lp1, 3, 0.89, 3.2}};
static const report_rep head_reps[] = {{ho0, 2, 0.65, -1}};
static const report_arm arms[] = {
    {"scratch", scratch_reps, 2}, {"linear<probe>", probe_reps, 2}, {"head\"only", head_reps, 1}};
static const char *const names[] = {"cat<1>", "dog & co", "it's"};
static const int conf[] = {50, 3, 1, 4, 40, 6, 0, 2, 47};
static const report_kv meta[] = {{"source", "fashion-mnist"}, {"device", "pocl <cpu>"}};

static report_input make_input(void)
{
    report_input in = {0};
    in.title = "digits <transfer>";
    in.meta = meta, in.nmeta = 2;
    in.arms = arms, in.narms = 3, in.scratch_arm = 0;
    in.target_accuracy = 0.86;
    in.confusion_arm = "linear<probe>";
    in.nclasses = 3, in.class_names = names, in.confusion = conf;
    return in;
}

static char *slurp(const char *path)
{
    unsigned char *p;
    size_t n;
    ck_assert_int_eq(file_read_all(path, 1 << 24, &p, &n), 0);
    char *s = realloc(p, n + 1);
    ck_assert_ptr_nonnull(s);
    s[n] = 0;
    return s;
}

static void tmpdir(char *buf, size_t n)
{
    snprintf(buf, n, "/tmp/graft_report_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

START_TEST(report_summary_numbers)
{
    report_input in = make_input();
    report_arm_summary s;
    char err[256];
    ck_assert_int_eq(report_summarize(&in, 1, &s, err, sizeof err), GRAFT_OK);
    ck_assert(fabs(s.acc_mean - 0.88) < 1e-12);
    ck_assert(fabs(s.acc_std - sqrt(2 * 0.01 * 0.01)) < 1e-12); /* sample std of .87,.89 */
    ck_assert_int_eq(s.nreached, 2);
    ck_assert(fabs(s.t_mean - 3.1) < 1e-12);
    ck_assert(fabs(s.t_std - sqrt(2 * 0.1 * 0.1)) < 1e-12);
    ck_assert(s.has_saved);
    ck_assert(fabs(s.saved_pct - 100 * (1 - 3.1 / 41.0)) < 1e-9);
    ck_assert_int_eq(report_summarize(&in, 0, &s, err, sizeof err), GRAFT_OK);
    ck_assert(s.has_saved && fabs(s.saved_pct) < 1e-12);
    ck_assert_int_eq(report_summarize(&in, 2, &s, err, sizeof err), GRAFT_OK);
    ck_assert_int_eq(s.nreached, 0);
    ck_assert(!s.has_saved);
    ck_assert(s.acc_std == 0); /* one repetition */
    /* no scratch arm: no percentages at all */
    in.scratch_arm = -1;
    ck_assert_int_eq(report_summarize(&in, 1, &s, err, sizeof err), GRAFT_OK);
    ck_assert(!s.has_saved);
    in.scratch_arm = 3;
    ck_assert_int_eq(report_summarize(&in, 1, &s, err, sizeof err), GRAFT_ERR_INVALID_ARG);
}
END_TEST

START_TEST(report_html_content)
{
    report_input in = make_input();
    char dir[64], path[128], err[256];
    tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/r.html", dir);
    ck_assert_msg(report_write_html(&in, path, err, sizeof err) == GRAFT_OK, "%s", err);
    char *h = slurp(path);
    ck_assert_ptr_nonnull(strstr(h, "<svg"));
    /* A literal percent sign in the table header (format-string slip). */
    ck_assert_ptr_nonnull(strstr(h, "<th>% training time saved</th>"));
    ck_assert_ptr_nonnull(strstr(h, "<circle"));
    ck_assert_ptr_nonnull(strstr(h, "stroke-dasharray")); /* target line */
    ck_assert_ptr_nonnull(strstr(h, "cat&lt;1&gt;"));
    ck_assert_ptr_nonnull(strstr(h, "dog &amp; co"));
    ck_assert_ptr_nonnull(strstr(h, "it&#39;s"));
    ck_assert_ptr_nonnull(strstr(h, "linear&lt;probe&gt;"));
    ck_assert_ptr_nonnull(strstr(h, "head&quot;only"));
    ck_assert_ptr_nonnull(strstr(h, "digits &lt;transfer&gt;"));
    ck_assert_ptr_nonnull(strstr(h, "pocl &lt;cpu&gt;"));
    ck_assert_ptr_null(strstr(h, "cat<1>"));
    ck_assert_ptr_null(strstr(h, "<probe>"));
    ck_assert_ptr_nonnull(strstr(h, "0.8800 &#177; 0.0141")); /* probe final accuracy */
    ck_assert_ptr_nonnull(strstr(h, "3.10 &#177; 0.14"));
    ck_assert_ptr_nonnull(strstr(h, "92.4%"));
    ck_assert_ptr_nonnull(strstr(h, "not reached"));
    ck_assert_ptr_nonnull(strstr(h, ">47<")); /* a confusion cell count */
    ck_assert_ptr_null(strstr(h, "http://www.w3.org/1999")); /* nothing external but the SVG ns */
    ck_assert_ptr_null(strstr(h, "<script"));
    ck_assert_ptr_null(strstr(h, "src="));
    free(h);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(report_csv_rows_and_values)
{
    report_input in = make_input();
    char dir[64], prefix[128], path[160], err[256];
    tmpdir(dir, sizeof dir);
    snprintf(prefix, sizeof prefix, "%s/run", dir);
    ck_assert_msg(report_write_csv(&in, prefix, err, sizeof err) == GRAFT_OK, "%s", err);
    snprintf(path, sizeof path, "%s.csv", prefix);
    char *c = slurp(path);
    int lines = 0;
    for (char *p = c; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + 4 + 4 + 2 + 3 + 2);
    ck_assert(!strncmp(c, "arm,rep,epoch,seconds,accuracy\n", 31));
    ck_assert_ptr_nonnull(strstr(c, "\nlinear<probe>,1,3,4.8,0.89\n"));
    ck_assert_ptr_nonnull(strstr(c, "\n\"head\"\"only\",0,2,1,0.65\n"));
    free(c);
    unlink(path);
    snprintf(path, sizeof path, "%s-summary.csv", prefix);
    c = slurp(path);
    lines = 0;
    for (char *p = c; *p; p++) lines += *p == '\n';
    ck_assert_int_eq(lines, 4);
    char *row = strstr(c, "\nlinear<probe>,");
    ck_assert_ptr_nonnull(row);
    int reps, reached;
    double am, as, tm, ts, sv;
    ck_assert_int_eq(sscanf(row, "\nlinear<probe>,%d,%lf,%lf,%d,%lf,%lf,%lf", &reps, &am, &as,
                            &reached, &tm, &ts, &sv), 7);
    ck_assert_int_eq(reps, 2);
    ck_assert_int_eq(reached, 2);
    ck_assert(fabs(am - 0.88) < 1e-8 && fabs(as - 0.0141421356) < 1e-8);
    ck_assert(fabs(tm - 3.1) < 1e-8 && fabs(sv - 92.4390244) < 1e-6);
    ck_assert_ptr_nonnull(strstr(c, "\n\"head\"\"only\",1,0.65,0,0,,,\n"));
    free(c);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* report_print_summary of in into text[n]. */
static void summary_text(const report_input *in, char *text, size_t len)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    char err[256];
    ck_assert_int_eq(report_print_summary(in, f, err, sizeof err), GRAFT_OK);
    rewind(f);
    size_t n = fread(text, 1, len - 1, f);
    text[n] = 0;
    fclose(f);
    fprintf(stderr, "%s", text);
}

START_TEST(report_terminal_lines)
{
    report_input in = make_input();
    char text[4096];
    summary_text(&in, text, sizeof text);
    int saved = 0;
    for (char *p = text; (p = strstr(p, "time saved")); p++) saved++;
    ck_assert_int_eq(saved, 3 + 1); /* one per arm + the table header */
    ck_assert_ptr_nonnull(strstr(
        text, "linear<probe>: reaches scratch's best 0.8600 in 3.1 s vs 41.0 s: 92.4% time saved"));
    ck_assert_ptr_nonnull(strstr(text, "scratch: reaches scratch's best 0.8600 in 41.0 s vs 41.0 s: 0.0% time saved"));
    ck_assert_ptr_nonnull(strstr(text, "head\"only: never reaches"));
}
END_TEST

/* A target the caller set is named as such, not as scratch's best. */
START_TEST(report_given_target)
{
    report_input in = make_input();
    in.target_given = 1;
    char text[4096];
    summary_text(&in, text, sizeof text);
    ck_assert_ptr_nonnull(strstr(
        text, "linear<probe>: reaches the target 0.8600 in 3.1 s vs 41.0 s: 92.4% time saved"));
    ck_assert_ptr_nonnull(strstr(text, "head\"only: never reaches the target 0.8600"));
    ck_assert_ptr_null(strstr(text, "best"));
}
END_TEST

START_TEST(report_rejects_bad_input)
{
    report_input in = make_input();
    char err[256];
    int bad[9];
    memcpy(bad, conf, sizeof bad);
    bad[4] = -1;
    in.confusion = bad;
    ck_assert_int_eq(report_write_html(&in, "/tmp/never.html", err, sizeof err),
                     GRAFT_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err, "confusion[1][1]"));
    in = make_input();
    ck_assert_int_eq(report_write_html(&in, "/nonexistent-dir/x.html", err, sizeof err),
                     GRAFT_ERR_IO);
    in.narms = 0;
    ck_assert_int_eq(report_write_csv(&in, "/tmp/never", err, sizeof err), GRAFT_ERR_INVALID_ARG);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_add_test(tc, report_summary_numbers);
    tcase_add_test(tc, report_html_content);
    tcase_add_test(tc, report_csv_rows_and_values);
    tcase_add_test(tc, report_terminal_lines);
    tcase_add_test(tc, report_given_target);
    tcase_add_test(tc, report_rejects_bad_input);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
