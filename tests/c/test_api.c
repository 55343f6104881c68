/*
 * Tests of every function of hangar.h, including their error paths. Built by run.sh with
 * -Wall -Wextra -Werror and AddressSanitizer/UBSan, and run again under valgrind.
 * Usage: test_api SCRATCH_DIR
 */
#include <hangar.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

#define EXPECT(cond)                                                              \
    do {                                                                          \
        checks++;                                                                 \
        if (!(cond)) {                                                            \
            failures++;                                                           \
            fprintf(stderr, "%s:%d: expectation failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                         \
    } while (0)

/* Expects `call` to return `want`; on a failure with a message, the message must be set. */
#define EXPECT_STATUS(want, call)                                                 \
    do {                                                                          \
        hangar_status got_ = (call);                                              \
        checks++;                                                                 \
        if (got_ != (want)) {                                                     \
            char m_[512];                                                         \
            hangar_last_error_message(m_, sizeof m_, NULL);                       \
            failures++;                                                           \
            fprintf(stderr, "%s:%d: %s returned %s, want %s (%s)\n", __FILE__, __LINE__, \
                    #call, hangar_status_name(got_), hangar_status_name(want), m_); \
        } else if (got_ != HANGAR_OK) {                                           \
            size_t need_ = 0;                                                     \
            hangar_last_error_message(NULL, 0, &need_);                           \
            EXPECT(need_ > 1);                                                    \
        }                                                                         \
    } while (0)

#define OK(call) EXPECT_STATUS(HANGAR_OK, call)

static hangar_key ik(uint64_t n) { return (hangar_key){.text = NULL, .number = n}; }

/* Every read call on a column whose checkout is closed gives HANGAR_E_CLOSED. */
static void expect_column_closed(hangar_column *c) {
    char name[64];
    int32_t kind = 0, dt = 0;
    bool nested = false, variable = false, has = false;
    size_t n = 0, written = 0, dims[8];
    uint8_t buf[64];
    hangar_sample_info info;
    hangar_buf *b = NULL;
    hangar_view view;
    hangar_key_iter *it = NULL;
    struct ArrowArrayStream stream;
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_name(c, name, sizeof name));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_schema(c, &kind, &nested, &variable, &dt));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_shape(c, dims, 8, &n));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_len(c, &n));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_num_subsamples(c, &n));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_contains(c, ik(0), NULL, &has));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_info(c, ik(0), NULL, &info, dims, 8));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_get(c, ik(0), NULL, buf, sizeof buf, &written));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_get_buf(c, ik(0), NULL, &b));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_view(c, ik(0), NULL, &view));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_keys(c, &it));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_subkeys(c, ik(0), &it));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_arrow_stream(c, &stream));
}
static hangar_key sk(const char *s) { return (hangar_key){.text = s, .number = 0}; }

static int last_error_contains(const char *needle) {
    char m[1024];
    hangar_last_error_message(m, sizeof m, NULL);
    return strstr(m, needle) != NULL;
}

static char scratch[512];

static const char *path_in(const char *name) {
    static char p[600];
    snprintf(p, sizeof p, "%s/%s", scratch, name);
    mkdir(p, 0755);
    return p;
}

static void test_version_and_errors(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", HANGAR_VERSION_MAJOR, HANGAR_VERSION_MINOR,
             HANGAR_VERSION_PATCH);
    EXPECT(strcmp(hangar_version(), want) == 0);
    EXPECT(strcmp(hangar_status_name(HANGAR_E_LOCKED), "HANGAR_E_LOCKED") == 0);
    EXPECT(strcmp(hangar_status_name(12345), "HANGAR_E_UNKNOWN") == 0);

    /* A failing call sets status and message; the message copies out truncated or whole. */
    hangar_repo *repo = NULL;
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_open(NULL, &repo));
    EXPECT(repo == NULL);
    EXPECT(hangar_last_error_status() == HANGAR_E_NULL_ARG);
    EXPECT(last_error_contains("path is NULL"));
    size_t need = 0;
    EXPECT(hangar_last_error_message(NULL, 0, &need) == HANGAR_E_BUFFER_TOO_SMALL);
    char small[8];
    EXPECT(hangar_last_error_message(small, sizeof small, NULL) == HANGAR_E_BUFFER_TOO_SMALL);
    EXPECT(strlen(small) == 7);
    char *full = malloc(need);
    EXPECT(hangar_last_error_message(full, need, NULL) == HANGAR_OK);
    EXPECT(strlen(full) + 1 == need);
    free(full);

    /* A succeeding call clears it. */
    EXPECT(strlen(hangar_version()) > 0);
    hangar_buf *b = NULL;
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_open(path_in("nothing-here"), &repo));
    EXPECT(last_error_contains("init"));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_open(path_in("nothing-here"), NULL));
    EXPECT_STATUS(HANGAR_E_INVALID_UTF8, hangar_repo_open("bad\xff\xfe", &repo));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_summary(NULL, NULL, &b));
    hangar_conflicts *c = NULL;
    EXPECT(hangar_last_error_conflicts(&c) == HANGAR_E_NOT_FOUND);
    EXPECT(hangar_last_error_conflicts(NULL) == HANGAR_E_NULL_ARG);

    /* Freeing NULL is fine. */
    hangar_repo_free(NULL);
    hangar_reader_free(NULL);
    hangar_writer_free(NULL);
    hangar_column_free(NULL);
    hangar_key_iter_free(NULL);
    hangar_buf_free(NULL);
    hangar_strlist_free(NULL);
    hangar_diff_free(NULL);
    hangar_conflicts_free(NULL);
    hangar_ndarray_spec_free(NULL);
    EXPECT(hangar_buf_len(NULL) == 0);
    EXPECT(hangar_buf_data(NULL) == NULL);
    EXPECT(hangar_strlist_len(NULL) == 0);
    EXPECT(hangar_strlist_get(NULL, 0) == NULL);
}

static hangar_column *add_array(hangar_writer *w, const char *name, int32_t dtype, size_t d0,
                                size_t d1, bool variable, bool nested) {
    size_t shape[2] = {d0, d1};
    hangar_ndarray_spec *spec = NULL;
    OK(hangar_ndarray_spec_new(dtype, shape, 2, &spec));
    OK(hangar_ndarray_spec_variable_shape(spec, variable));
    OK(hangar_ndarray_spec_contains_subsamples(spec, nested));
    hangar_column *col = NULL;
    OK(hangar_writer_add_ndarray_column(w, name, spec, &col));
    hangar_ndarray_spec_free(spec);
    return col;
}

/* Shared by the reader threads. */
struct reader_job {
    const hangar_column *col;
    int errors;
};

static void *read_all(void *arg) {
    struct reader_job *job = arg;
    for (int round = 0; round < 20; round++) {
        for (uint64_t i = 0; i < 10; i++) {
            float out[6];
            if (hangar_column_get(job->col, ik(i), NULL, out, sizeof out, NULL) != HANGAR_OK ||
                out[0] != (float)i) {
                job->errors++;
            }
            hangar_view v;
            if (hangar_column_view(job->col, ik(i), NULL, &v) != HANGAR_OK ||
                ((const float *)v.data)[5] != (float)i + 5) {
                job->errors++;
            }
        }
    }
    return NULL;
}

static void test_repository(void) {
    const char *dir = path_in("repo");
    hangar_repo *repo = NULL;
    OK(hangar_repo_init(dir, "Ada", "ada@example.com", false, &repo));
    hangar_repo *again = NULL;
    EXPECT_STATUS(HANGAR_E_ALREADY_EXISTS, hangar_repo_init(dir, "Ada", "a@b.c", false, &again));
    EXPECT(again == NULL);
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_init(dir, NULL, "a@b.c", false, &again));
    EXPECT_STATUS(HANGAR_E_INVALID_UTF8, hangar_repo_init(dir, "A\xc3", "a@b.c", false, &again));
    OK(hangar_repo_open(dir, &again));
    hangar_repo_free(again);

    /* A summary before the first commit says so and succeeds, as the original did. */
    hangar_buf *sb = NULL;
    OK(hangar_repo_summary(repo, NULL, &sb));
    EXPECT(strstr((const char *)hangar_buf_data(sb), "No commits have been made in the repository") != NULL);
    hangar_buf_free(sb);

    /* Branches need a first commit. */
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_create_branch(repo, "dev", NULL));
    EXPECT(last_error_contains("first commit"));
    char head[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_repo_branch_head(repo, "master", head, sizeof head));
    EXPECT(head[0] == '\0');
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_branch_head(repo, "nope", head, sizeof head));

    hangar_writer *w = NULL;
    OK(hangar_repo_checkout_writer(repo, NULL, &w));
    hangar_writer *w2 = NULL;
    EXPECT_STATUS(HANGAR_E_LOCKED, hangar_repo_checkout_writer(repo, NULL, &w2));
    EXPECT(w2 == NULL);
    bool held = false;
    OK(hangar_repo_writer_lock_held(repo, &held));
    EXPECT(held);
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_writer_lock_held(repo, NULL));
    bool released = true;
    EXPECT_STATUS(HANGAR_E_LOCKED, hangar_repo_force_release_writer_lock(repo, &released));
    EXPECT(last_error_contains("alive"));
    char name[64];
    OK(hangar_writer_branch(w, name, sizeof name));
    EXPECT(strcmp(name, "master") == 0);
    EXPECT_STATUS(HANGAR_E_BUFFER_TOO_SMALL, hangar_writer_branch(w, name, 3));
    OK(hangar_writer_head(w, head, sizeof head));
    EXPECT(head[0] == '\0');

    /* Column creation and its errors. */
    hangar_ndarray_spec *spec = NULL;
    size_t shape2[2] = {2, 3};
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_ndarray_spec_new(0, shape2, 2, &spec));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_ndarray_spec_new(99, shape2, 2, &spec));
    EXPECT(last_error_contains("dtype"));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_ndarray_spec_new(HANGAR_DTYPE_F32, NULL, 2, &spec));
    size_t huge[3] = {SIZE_MAX / 2, 4, 4};
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_ndarray_spec_new(HANGAR_DTYPE_F32, huge, 3, &spec));
    EXPECT(spec == NULL);
    OK(hangar_ndarray_spec_new(HANGAR_DTYPE_U8, NULL, 0, &spec));
    uint16_t proto[4] = {1, 2, 3, 4};
    size_t pshape[2] = {2, 2};
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT,
                  hangar_ndarray_spec_prototype(spec, proto, 6, HANGAR_DTYPE_U16, pshape, 2));
    OK(hangar_ndarray_spec_prototype(spec, proto, sizeof proto, HANGAR_DTYPE_U16, pshape, 2));
    hangar_column *pcol = NULL;
    OK(hangar_writer_add_ndarray_column(w, "from_prototype", spec, &pcol));
    EXPECT_STATUS(HANGAR_E_ALREADY_EXISTS, hangar_writer_add_ndarray_column(w, "from_prototype", spec, &pcol));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_writer_add_ndarray_column(w, "../escape", spec, &pcol));
    hangar_ndarray_spec_free(spec);
    int32_t kind = 0, dt = 0;
    bool nested = true, variable = true;
    OK(hangar_column_schema(pcol, &kind, &nested, &variable, &dt));
    EXPECT(kind == HANGAR_KIND_NDARRAY && !nested && !variable && dt == HANGAR_DTYPE_U16);
    size_t ndim = 0, sh[4] = {0};
    OK(hangar_column_shape(pcol, NULL, 0, &ndim));
    EXPECT(ndim == 2);
    EXPECT_STATUS(HANGAR_E_BUFFER_TOO_SMALL, hangar_column_shape(pcol, sh, 1, &ndim));
    OK(hangar_column_shape(pcol, sh, 4, &ndim));
    EXPECT(sh[0] == 2 && sh[1] == 2);
    OK(hangar_column_name(pcol, name, sizeof name));
    EXPECT(strcmp(name, "from_prototype") == 0);
    hangar_column_free(pcol);
    OK(hangar_writer_delete_column(w, "from_prototype"));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_writer_delete_column(w, "from_prototype"));

    hangar_column *arr = add_array(w, "arrays", HANGAR_DTYPE_F32, 2, 3, false, false);
    hangar_column *var = add_array(w, "fields", HANGAR_DTYPE_I32, 4, 4, true, false);
    hangar_column *nest = add_array(w, "nested", HANGAR_DTYPE_U8, 2, 2, false, true);
    hangar_column *text = NULL, *blob = NULL, *ntext = NULL;
    OK(hangar_writer_add_text_column(w, "captions", HANGAR_KIND_STR, false, &text));
    OK(hangar_writer_add_text_column(w, "blobs", HANGAR_KIND_BYTES, false, &blob));
    OK(hangar_writer_add_text_column(w, "tags", HANGAR_KIND_STR, true, &ntext));
    hangar_column *bad = NULL;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_writer_add_text_column(w, "x", 7, false, &bad));
    OK(hangar_column_schema(ntext, &kind, &nested, NULL, &dt));
    EXPECT(kind == HANGAR_KIND_STR && nested && dt == 0);

    /* put: shapes, dtypes, lengths and keys are checked; nothing is stored on error. */
    float a[6];
    for (uint64_t i = 0; i < 10; i++) {
        for (int j = 0; j < 6; j++) a[j] = (float)(i + j);
        OK(hangar_column_put(arr, ik(i), NULL, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    }
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(arr, ik(50), NULL, a, 20, HANGAR_DTYPE_F32, shape2, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(arr, ik(50), NULL, a, sizeof a, HANGAR_DTYPE_F64, shape2, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(arr, ik(50), NULL, a, sizeof a, 42, shape2, 2));
    size_t wrong[2] = {3, 2};
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(arr, ik(50), NULL, a, sizeof a, HANGAR_DTYPE_F32, wrong, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(arr, ik(50), NULL, a, sizeof a, HANGAR_DTYPE_F32, huge, 3));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_column_put(arr, ik(50), NULL, NULL, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_UTF8, hangar_column_put(arr, sk("k\xff"), NULL, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(arr, sk(""), NULL, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put_text(arr, ik(50), NULL, "x", 1));
    hangar_key sub = ik(1);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(arr, ik(50), &sub, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    bool has = true;
    OK(hangar_column_contains(arr, ik(50), NULL, &has));
    EXPECT(!has);
    OK(hangar_column_put(arr, sk("named"), NULL, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));

    int32_t v[6] = {1, 2, 3, 4, 5, 6};
    size_t vshape[2] = {2, 3}, big[2] = {5, 1};
    OK(hangar_column_put(var, ik(0), NULL, v, sizeof v, HANGAR_DTYPE_I32, vshape, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(var, ik(1), NULL, v, 20, HANGAR_DTYPE_I32, big, 2));

    OK(hangar_column_put_text(text, ik(0), NULL, "héllo", strlen("héllo")));
    EXPECT_STATUS(HANGAR_E_INVALID_UTF8, hangar_column_put_text(text, ik(1), NULL, "a\xff", 2));
    OK(hangar_column_put_text(blob, ik(0), NULL, "a\xff\0b", 4));
    OK(hangar_column_put_text(blob, ik(1), NULL, NULL, 0));

    uint8_t q[4] = {9, 8, 7, 6};
    size_t qshape[2] = {2, 2};
    hangar_key subs[3] = {ik(0), ik(1), sk("left")};
    for (int i = 0; i < 3; i++) OK(hangar_column_put(nest, sk("s"), &subs[i], q, 4, HANGAR_DTYPE_U8, qshape, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(nest, sk("s"), NULL, q, 4, HANGAR_DTYPE_U8, qshape, 2));
    OK(hangar_column_put_text(ntext, ik(3), &subs[2], "tag", 3));

    /* get, info, get_buf, contains, len. */
    size_t n = 0;
    OK(hangar_column_len(arr, &n));
    EXPECT(n == 11);
    OK(hangar_column_len(nest, &n));
    EXPECT(n == 1);
    OK(hangar_column_num_subsamples(nest, &n));
    EXPECT(n == 3);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_num_subsamples(arr, &n));
    OK(hangar_column_contains(nest, sk("s"), &subs[2], &has));
    EXPECT(has);
    hangar_sample_info info;
    size_t got_shape[2];
    OK(hangar_column_info(var, ik(0), NULL, &info, got_shape, 2));
    EXPECT(info.kind == HANGAR_KIND_NDARRAY && info.dtype == HANGAR_DTYPE_I32 && info.ndim == 2);
    EXPECT(info.nbytes == sizeof v && got_shape[0] == 2 && got_shape[1] == 3);
    EXPECT_STATUS(HANGAR_E_BUFFER_TOO_SMALL, hangar_column_info(var, ik(0), NULL, &info, got_shape, 1));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_column_info(var, ik(9), NULL, &info, NULL, 0));
    int32_t vout[6] = {0};
    size_t written = 0;
    EXPECT_STATUS(HANGAR_E_BUFFER_TOO_SMALL, hangar_column_get(var, ik(0), NULL, vout, 8, &written));
    EXPECT(written == 0 && vout[0] == 0);
    OK(hangar_column_get(var, ik(0), NULL, vout, sizeof vout, &written));
    EXPECT(written == sizeof v && memcmp(v, vout, sizeof v) == 0);
    hangar_buf *b = NULL;
    OK(hangar_column_get_buf(text, ik(0), NULL, &b));
    EXPECT(hangar_buf_len(b) == strlen("héllo") && strcmp((const char *)hangar_buf_data(b), "héllo") == 0);
    hangar_buf_free(b);
    OK(hangar_column_get_buf(blob, ik(0), NULL, &b));
    EXPECT(hangar_buf_len(b) == 4 && memcmp(hangar_buf_data(b), "a\xff\0b", 4) == 0);
    hangar_buf_free(b);
    OK(hangar_column_info(blob, ik(1), NULL, &info, NULL, 0));
    EXPECT(info.kind == HANGAR_KIND_BYTES && info.nbytes == 0);
    hangar_view view;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_view(arr, ik(0), NULL, &view));

    /* batches */
    hangar_key bkeys[3] = {ik(100), ik(101), sk("b")};
    float batch[18];
    for (int i = 0; i < 18; i++) batch[i] = (float)i;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put_batch(arr, bkeys, 3, batch, sizeof batch - 4, HANGAR_DTYPE_F32, shape2, 2));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_column_put_batch(arr, NULL, 3, batch, sizeof batch, HANGAR_DTYPE_F32, shape2, 2));
    OK(hangar_column_contains(arr, ik(100), NULL, &has));
    EXPECT(!has);
    OK(hangar_column_put_batch(arr, bkeys, 3, batch, sizeof batch, HANGAR_DTYPE_F32, shape2, 2));
    float bout[18] = {0};
    EXPECT_STATUS(HANGAR_E_BUFFER_TOO_SMALL, hangar_column_get_batch(arr, bkeys, 3, bout, 10));
    OK(hangar_column_get_batch(arr, bkeys, 3, bout, sizeof bout));
    EXPECT(memcmp(batch, bout, sizeof batch) == 0);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_get_batch(var, bkeys, 1, bout, sizeof bout));

    /* delete */
    OK(hangar_column_delete(arr, ik(101), NULL));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_column_delete(arr, ik(101), NULL));
    OK(hangar_column_delete(nest, sk("s"), &subs[0]));
    OK(hangar_column_num_subsamples(nest, &n));
    EXPECT(n == 2);

    /* key iteration: integers first, then strings; subkeys. */
    hangar_key_iter *it = NULL;
    OK(hangar_column_keys(arr, &it));
    OK(hangar_key_iter_len(it, &n));
    EXPECT(n == 13);
    hangar_key k;
    bool more = true;
    size_t ints = 0, strs = 0;
    char last_str[32] = "";
    for (;;) {
        OK(hangar_key_iter_next(it, &k, &more));
        if (!more) break;
        if (k.text) {
            strs++;
            snprintf(last_str, sizeof last_str, "%s", k.text);
        } else {
            EXPECT(strs == 0);
            ints++;
        }
    }
    EXPECT(ints == 11 && strs == 2 && strcmp(last_str, "named") == 0);
    OK(hangar_key_iter_next(it, &k, &more));
    EXPECT(!more);
    hangar_key_iter_free(it);
    /* The same keys in batches: 5, 5, then the last 3 (with both string keys), then 0;
       a string key's text lives until the next call. */
    OK(hangar_column_keys(arr, &it));
    hangar_key kbatch[5];
    size_t got = 99, total = 0;
    char first_str[32] = "";
    for (;;) {
        OK(hangar_key_iter_next_batch(it, kbatch, 5, &got));
        if (got == 0) break;
        EXPECT(got == (total < 10 ? 5u : 3u));
        for (size_t i = 0; i < got; i++)
            if (kbatch[i].text && !first_str[0]) snprintf(first_str, sizeof first_str, "%s", kbatch[i].text);
        if (got == 3) EXPECT(kbatch[2].text && strcmp(kbatch[2].text, "named") == 0 && kbatch[1].text);
        total += got;
    }
    EXPECT(total == 13 && first_str[0]);
    OK(hangar_key_iter_next_batch(it, kbatch, 5, &got));
    EXPECT(got == 0);
    OK(hangar_key_iter_next_batch(it, NULL, 0, &got)); /* no room: nothing, no error */
    EXPECT(got == 0);
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_key_iter_next_batch(it, NULL, 5, &got));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_key_iter_next_batch(it, kbatch, 5, NULL));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_key_iter_next_batch(NULL, kbatch, 5, &got));
    hangar_key_iter_free(it);
    OK(hangar_column_subkeys(nest, sk("s"), &it));
    OK(hangar_key_iter_len(it, &n));
    EXPECT(n == 2);
    hangar_key_iter_free(it);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_column_subkeys(nest, sk("missing"), &it));

    /* metadata */
    OK(hangar_writer_metadata_set(w, "source", "unit test"));
    OK(hangar_writer_metadata_get(w, "source", &b));
    EXPECT(strcmp((const char *)hangar_buf_data(b), "unit test") == 0);
    hangar_buf_free(b);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_writer_metadata_get(w, "nope", &b));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_writer_metadata_delete(w, "nope"));
    OK(hangar_writer_metadata_set(w, "tmp", "x"));
    OK(hangar_writer_metadata_delete(w, "tmp"));
    hangar_strlist *list = NULL;
    OK(hangar_writer_metadata_keys(w, &list));
    EXPECT(hangar_strlist_len(list) == 1 && strcmp(hangar_strlist_get(list, 0), "source") == 0);
    EXPECT(hangar_strlist_get(list, 1) == NULL);
    hangar_strlist_free(list);
    OK(hangar_writer_columns(w, &list));
    EXPECT(hangar_strlist_len(list) == 6);
    hangar_strlist_free(list);

    /* status, staged diff, commit */
    bool dirty = false;
    OK(hangar_writer_status(w, &dirty, &b));
    EXPECT(dirty && strstr((const char *)hangar_buf_data(b), "column added: arrays"));
    hangar_buf_free(b);
    hangar_diff *d = NULL;
    OK(hangar_writer_diff_staged(w, &d));
    hangar_diff_counts counts;
    OK(hangar_diff_get_counts(d, &counts));
    EXPECT(counts.columns_added == 6 && counts.metadata_changed == 1);
    hangar_diff_free(d);
    char c1[HANGAR_COMMIT_ID_LEN + 1];
    EXPECT_STATUS(HANGAR_E_BUFFER_TOO_SMALL, hangar_writer_commit(w, "first", c1, 10));
    OK(hangar_writer_commit(w, "first", c1, sizeof c1));
    EXPECT(strlen(c1) == HANGAR_COMMIT_ID_LEN);
    EXPECT_STATUS(HANGAR_E_NOTHING_TO_COMMIT, hangar_writer_commit(w, "again", NULL, 0));
    EXPECT_STATUS(HANGAR_E_NOTHING_TO_COMMIT, hangar_writer_reset(w));
    OK(hangar_writer_status(w, &dirty, NULL));
    EXPECT(!dirty);
    OK(hangar_column_put(arr, ik(500), NULL, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    OK(hangar_writer_reset(w));
    OK(hangar_column_contains(arr, ik(500), NULL, &has));
    EXPECT(!has);
    OK(hangar_writer_head(w, head, sizeof head));
    EXPECT(strcmp(head, c1) == 0);

    /* A bulk session: puts queue until bulk_end, reads see them, one session at a time. */
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_writer_bulk_end(w));
    OK(hangar_writer_bulk_begin(w));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_writer_bulk_begin(w));
    for (int64_t i = 0; i < 300; i++) {
        a[0] = (float)i;
        OK(hangar_column_put(arr, ik(1000 + i), NULL, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    }
    float back[6] = {0};
    OK(hangar_column_get(arr, ik(1299), NULL, back, sizeof back, NULL));
    EXPECT(back[0] == 299.0f);
    OK(hangar_writer_bulk_end(w));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_writer_bulk_end(w));
    OK(hangar_column_contains(arr, ik(1150), NULL, &has));
    EXPECT(has);
    OK(hangar_writer_reset(w));

    /* Wrong-kind and freed handles are refused, not crashed on. */
    EXPECT_STATUS(HANGAR_E_WRONG_HANDLE, hangar_writer_commit((const hangar_writer *)repo, "x", NULL, 0));
    EXPECT(last_error_contains("hangar_repo"));
    EXPECT_STATUS(HANGAR_E_WRONG_HANDLE, hangar_column_len((const hangar_column *)w, &n));
    hangar_column *gone = NULL;
    OK(hangar_writer_column(w, "captions", &gone));
    hangar_column_free(gone);
    EXPECT_STATUS(HANGAR_E_WRONG_HANDLE, hangar_column_len(gone, &n));
    hangar_column_free(gone); /* a second free is ignored */
    EXPECT(hangar_last_error_status() == HANGAR_E_WRONG_HANDLE);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_writer_column(w, "nope", &gone));

    /* Readers: of a branch head, of a commit by prefix; immutable; zero-copy views. */
    hangar_reader *r = NULL;
    OK(hangar_repo_checkout(repo, NULL, &r));
    char rc[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_reader_commit(r, rc, sizeof rc));
    EXPECT(strcmp(rc, c1) == 0);
    hangar_reader *r2 = NULL;
    char prefix[9];
    memcpy(prefix, c1, 8);
    prefix[8] = '\0';
    OK(hangar_repo_checkout_commit(repo, prefix, &r2));
    hangar_reader_free(r2);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_checkout_commit(repo, "0000000000", &r2));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_checkout(repo, "no-such-branch", &r2));
    char resolved[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_repo_resolve(repo, prefix, resolved, sizeof resolved));
    EXPECT(strcmp(resolved, c1) == 0);
    OK(hangar_reader_columns(r, &list));
    EXPECT(hangar_strlist_len(list) == 6);
    hangar_strlist_free(list);
    OK(hangar_reader_metadata_keys(r, &list));
    EXPECT(hangar_strlist_len(list) == 1);
    hangar_strlist_free(list);
    OK(hangar_reader_metadata_get(r, "source", &b));
    EXPECT(strcmp((const char *)hangar_buf_data(b), "unit test") == 0);
    hangar_buf_free(b);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_reader_metadata_get(r, "nope", &b));
    hangar_column *rarr = NULL, *rnest = NULL;
    OK(hangar_reader_column(r, "arrays", &rarr));
    OK(hangar_reader_column(r, "nested", &rnest));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_reader_column(r, "nope", &gone));
    OK(hangar_column_view(rarr, ik(3), NULL, &view));
    EXPECT(view.dtype == HANGAR_DTYPE_F32 && view.ndim == 2 && view.shape[0] == 2 && view.shape[1] == 3);
    EXPECT(view.nbytes == 24 && ((const float *)view.data)[0] == 3.0f);
    EXPECT(((uintptr_t)view.data) % _Alignof(float) == 0);
    OK(hangar_column_view(rnest, sk("s"), &subs[2], &view));
    EXPECT(view.nbytes == 4 && ((const uint8_t *)view.data)[0] == 9);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_put(rarr, ik(1), NULL, a, sizeof a, HANGAR_DTYPE_F32, shape2, 2));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_delete(rarr, ik(1), NULL));
    OK(hangar_column_get_batch(rarr, bkeys, 1, bout, sizeof bout));
    EXPECT(bout[5] == 5.0f);
    /* A batch longer than the library's chunk of keys (512): every sample in its place;
       an absent key (101, deleted) anywhere in it is NOT_FOUND. */
    enum { BIG = 1200 };
    static hangar_key many[BIG];
    static float many_out[BIG * 6];
    for (int i = 0; i < BIG; i++) many[i] = ik(i % 3 == 0 ? 3 : 100);
    OK(hangar_column_get_batch(rarr, many, BIG, many_out, sizeof many_out));
    int misplaced = 0;
    for (int i = 0; i < BIG; i++) {
        if (i % 3 == 0) misplaced += many_out[i * 6] != 3.0f;
        else misplaced += memcmp(&many_out[i * 6], batch, 6 * sizeof(float)) != 0;
    }
    EXPECT(misplaced == 0);
    many[BIG - 1] = ik(101);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_column_get_batch(rarr, many, BIG, many_out, sizeof many_out));

    /* Threads sharing one reader column. */
    pthread_t th[4];
    struct reader_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct reader_job){.col = rarr, .errors = 0};
        pthread_create(&th[i], NULL, read_all, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        EXPECT(jobs[i].errors == 0);
    }

    /* A reader is unaffected by later commits. */
    OK(hangar_column_delete(arr, ik(3), NULL));
    char c2[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "second", c2, sizeof c2));
    OK(hangar_column_contains(rarr, ik(3), NULL, &has));
    EXPECT(has);

    /* Arrow C stream of a reader column. */
    struct ArrowArrayStream stream;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_arrow_stream(arr, &stream));
    OK(hangar_column_arrow_stream(rarr, &stream));
    struct ArrowSchema schema;
    EXPECT(stream.get_schema(&stream, &schema) == 0);
    EXPECT(schema.n_children == 2 && strcmp(schema.children[0]->name, "key") == 0);
    EXPECT(strcmp(schema.children[1]->format, "+w:6") == 0);
    schema.release(&schema);
    int64_t rows = 0;
    for (;;) {
        struct ArrowArray array;
        EXPECT(stream.get_next(&stream, &array) == 0);
        if (array.release == NULL) break;
        rows += array.length;
        array.release(&array);
    }
    EXPECT(rows == 13);
    stream.release(&stream);

    /* Closed checkouts refuse use: every call on their columns, the ones answered from
       the handle itself (name, schema, shape) included. */
    OK(hangar_reader_close(r));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_reader_commit(r, rc, sizeof rc));
    expect_column_closed(rarr);
    expect_column_closed(rnest);
    hangar_column_free(rarr);
    hangar_column_free(rnest);
    hangar_reader_free(r);

    /* Branches, diff, merge. */
    OK(hangar_repo_create_branch(repo, "dev", NULL));
    EXPECT_STATUS(HANGAR_E_ALREADY_EXISTS, hangar_repo_create_branch(repo, "dev", NULL));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_create_branch(repo, "x", "feedfacefeed"));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_create_branch(repo, "../bad", NULL));
    OK(hangar_repo_create_branch(repo, "old", c1));
    OK(hangar_repo_branches(repo, &list));
    EXPECT(hangar_strlist_len(list) == 3);
    hangar_strlist_free(list);
    EXPECT_STATUS(HANGAR_E_LOCKED, hangar_repo_merge(repo, "m", "master", "dev", (int32_t[1]){0}, NULL, 0));
    /* dev gets one change, master another: a real merge. */
    hangar_column_free(var);
    hangar_column_free(nest);
    hangar_column_free(text);
    hangar_column_free(blob);
    hangar_column_free(ntext);
    OK(hangar_writer_close(w));
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_writer_commit(w, "x", NULL, 0));
    expect_column_closed(arr);
    uint8_t buf1[1] = {7};
    EXPECT_STATUS(HANGAR_E_CLOSED, hangar_column_put(arr, ik(99), NULL, buf1, 1, HANGAR_DTYPE_U8, (size_t[1]){1}, 1));
    hangar_column_free(arr);
    hangar_writer_free(w);

    OK(hangar_repo_checkout_writer(repo, "dev", &w));
    OK(hangar_writer_column(w, "captions", &text));
    OK(hangar_column_put_text(text, ik(7), NULL, "from dev", 8));
    OK(hangar_column_put_text(text, ik(8), NULL, "dev side", 8));
    OK(hangar_writer_commit(w, "dev work", NULL, 0));
    hangar_column_free(text);
    OK(hangar_writer_close(w));
    hangar_writer_free(w);

    OK(hangar_repo_checkout_writer(repo, "master", &w));
    OK(hangar_writer_column(w, "captions", &text));
    OK(hangar_column_put_text(text, ik(9), NULL, "from master", 11));
    OK(hangar_column_put_text(text, ik(8), NULL, "master side", 11));
    OK(hangar_writer_commit(w, "master work", NULL, 0));
    hangar_column_free(text);

    OK(hangar_repo_diff(repo, "master", "dev", &d));
    size_t entries = 0;
    OK(hangar_diff_len(d, &entries));
    EXPECT(entries == 3);
    hangar_diff_entry e;
    bool saw_added_7 = false;
    for (size_t i = 0; i < entries; i++) {
        OK(hangar_diff_get_entry(d, i, &e));
        EXPECT(e.scope == HANGAR_SCOPE_SAMPLE && strcmp(e.column, "captions") == 0 && !e.has_subkey);
        if (e.change == HANGAR_CHANGE_ADDED && e.key.text == NULL && e.key.number == 7) saw_added_7 = true;
    }
    EXPECT(saw_added_7);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_diff_get_entry(d, entries, &e));
    OK(hangar_diff_text(d, &b));
    EXPECT(hangar_buf_len(b) > 0);
    hangar_buf_free(b);
    hangar_diff_free(d);

    hangar_conflicts *cf = NULL;
    OK(hangar_repo_merge_conflicts(repo, "master", "dev", &cf));
    OK(hangar_conflicts_len(cf, &n));
    EXPECT(n == 1);
    hangar_conflicts_free(cf);

    int32_t outcome = 0;
    char mhead[HANGAR_COMMIT_ID_LEN + 1];
    EXPECT_STATUS(HANGAR_E_MERGE_CONFLICT, hangar_writer_merge(w, "merge dev", "dev", &outcome, mhead, sizeof mhead));
    EXPECT(outcome == 0);
    OK(hangar_last_error_conflicts(&cf));
    OK(hangar_conflicts_len(cf, &n));
    EXPECT(n == 1);
    hangar_conflict conflict;
    OK(hangar_conflicts_get(cf, 0, &conflict));
    EXPECT(conflict.kind == HANGAR_CONFLICT_ADDED_IN_BOTH && conflict.scope == HANGAR_SCOPE_SAMPLE);
    EXPECT(strcmp(conflict.column, "captions") == 0 && strcmp(conflict.key, "8") == 0);
    EXPECT(conflict.base == NULL && strlen(conflict.ours) == 64 && strlen(conflict.theirs) == 64);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_conflicts_get(cf, 1, &conflict));
    OK(hangar_conflicts_text(cf, &b));
    EXPECT(strstr((const char *)hangar_buf_data(b), "conflict") != NULL);
    hangar_buf_free(b);
    hangar_conflicts_free(cf);

    /* Settle the conflict by taking dev's side of it. */
    size_t settled = 99;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT,
                  hangar_writer_merge_with(w, "m", "dev", 7, &outcome, &settled, NULL, 0));
    EXPECT_STATUS(HANGAR_E_MERGE_CONFLICT, hangar_writer_merge_with(w, "m", "dev", HANGAR_MERGE_STRATEGY_REFUSE,
                                                                    &outcome, &settled, NULL, 0));
    EXPECT(settled == 99);
    OK(hangar_writer_merge_with(w, "merge dev", "dev", HANGAR_MERGE_STRATEGY_THEIRS, &outcome, &settled, mhead,
                                sizeof mhead));
    EXPECT(outcome == HANGAR_MERGE_MERGED && settled == 1);
    OK(hangar_writer_column(w, "captions", &text));
    char side[16] = {0};
    size_t side_len = 0;
    OK(hangar_column_get(text, ik(8), NULL, side, sizeof side, &side_len));
    EXPECT(side_len == 8 && memcmp(side, "dev side", 8) == 0);
    hangar_column_free(text);
    OK(hangar_writer_merge(w, "again", "dev", &outcome, NULL, 0));
    EXPECT(outcome == HANGAR_MERGE_UP_TO_DATE);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_writer_merge(w, "m", "ghost", &outcome, NULL, 0));
    OK(hangar_writer_close(w));
    hangar_writer_free(w);

    OK(hangar_repo_merge(repo, "ff", "dev", "master", &outcome, mhead, sizeof mhead));
    EXPECT(outcome == HANGAR_MERGE_FAST_FORWARD);
    OK(hangar_repo_branch_head(repo, "dev", head, sizeof head));
    EXPECT(strcmp(head, mhead) == 0);

    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_remove_branch(repo, "ghost", false));
    OK(hangar_repo_remove_branch(repo, "old", false));
    /* The repository-level merge left the staging area on dev: that branch stays. */
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_remove_branch(repo, "dev", true));
    EXPECT(last_error_contains("staging area"));

    /* The log as data: full ids, parents, author, time; repository facts. */
    hangar_log *lg = NULL;
    OK(hangar_repo_log_entries(repo, NULL, &lg));
    size_t nlog = 0;
    OK(hangar_log_len(lg, &nlog));
    EXPECT(nlog >= 2);
    hangar_commit_info ci;
    OK(hangar_log_get(lg, 0, &ci));
    EXPECT(strlen(ci.id) == HANGAR_COMMIT_ID_LEN && ci.time_ns > 0);
    EXPECT(strcmp(ci.author, "Ada") == 0 && strcmp(ci.email, "ada@example.com") == 0);
    EXPECT(strstr(ci.branch_heads, "master") != NULL);
    size_t parents_found = 0, parents_total = 0;
    for (size_t i = 0; i < nlog; i++) {
        hangar_commit_info e;
        OK(hangar_log_get(lg, i, &e));
        for (size_t j = 0; j < e.n_parents; j++) {
            const char *pid = NULL;
            OK(hangar_log_parent(lg, i, j, &pid));
            parents_total++;
            for (size_t k = 0; k < nlog; k++) {
                hangar_commit_info o;
                OK(hangar_log_get(lg, k, &o));
                if (strcmp(o.id, pid) == 0) parents_found++;
            }
        }
    }
    EXPECT(parents_total >= nlog - 1 && parents_found == parents_total);
    const char *pid = NULL;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_log_get(lg, nlog, &ci));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_log_parent(lg, 0, 9, &pid));
    hangar_log_free(lg);
    hangar_log *lg2 = NULL;
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_log_entries(repo, "nosuch", &lg2));
    EXPECT(lg2 == NULL);
    OK(hangar_repo_log_entries(repo, "HEAD~1", &lg2));
    OK(hangar_log_len(lg2, &nlog));
    EXPECT(nlog >= 1);
    hangar_log_free(lg2);
    uint64_t du = 0;
    OK(hangar_repo_disk_usage(repo, &du));
    EXPECT(du > 1000);
    uint32_t fv = 0;
    OK(hangar_repo_format_version(repo, &fv));
    EXPECT(fv == HANGAR_FORMAT_VERSION);

    /* History and checks. */
    OK(hangar_repo_summary(repo, NULL, &b));
    EXPECT(strstr((const char *)hangar_buf_data(b), "captions") != NULL);
    hangar_buf_free(b);
    OK(hangar_repo_summary(repo, c1, &b));
    hangar_buf_free(b);
    OK(hangar_repo_log(repo, NULL, &b));
    EXPECT(strstr((const char *)hangar_buf_data(b), "first") != NULL);
    hangar_buf_free(b);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_log(repo, "abcdef12", &b));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_log(repo, "ghost", &b));
    EXPECT(last_error_contains("no branch or commit named"));
    OK(hangar_repo_log(repo, "HEAD~1", &b));
    hangar_buf_free(b);
    bool ok = false;
    OK(hangar_repo_verify(repo, &ok, &b));
    EXPECT(ok);
    hangar_buf_free(b);
    OK(hangar_repo_verify(repo, &ok, NULL));
    OK(hangar_repo_force_release_writer_lock(repo, &released));
    EXPECT(!released);
    OK(hangar_repo_force_release_writer_lock(repo, NULL));
    hangar_repo_free(repo);
    hangar_repo_free(repo); /* ignored */
}

/* Any-kind batch update (flat and nested), append with a generated key, pop. */
static void test_update_append_pop(void) {
    hangar_repo *repo = NULL;
    OK(hangar_repo_init(path_in("repo-update"), "Ada", "ada@example.com", false, &repo));
    hangar_writer *w = NULL;
    OK(hangar_repo_checkout_writer(repo, "master", &w));
    hangar_column *var = add_array(w, "fields", HANGAR_DTYPE_I32, 4, 4, true, false);
    hangar_column *nest = add_array(w, "nested", HANGAR_DTYPE_U8, 2, 2, false, true);
    hangar_column *text = NULL, *blob = NULL;
    OK(hangar_writer_add_text_column(w, "captions", HANGAR_KIND_STR, false, &text));
    OK(hangar_writer_add_text_column(w, "blobs", HANGAR_KIND_BYTES, false, &blob));
    bool has = true;
    size_t n = 0;

    /* update: str values of any length, all or nothing. */
    hangar_key keys[3] = {ik(0), ik(1), sk("c")};
    hangar_value tv[3] = {
        {.kind = HANGAR_KIND_STR, .data = "zero", .nbytes = 4},
        {.kind = HANGAR_KIND_STR, .data = "", .nbytes = 0},
        {.kind = HANGAR_KIND_STR, .data = "h\xc3\xa9", .nbytes = 3},
    };
    OK(hangar_column_update(text, keys, NULL, tv, 3));
    OK(hangar_column_len(text, &n));
    EXPECT(n == 3);
    hangar_buf *b = NULL;
    OK(hangar_column_get_buf(text, sk("c"), NULL, &b));
    EXPECT(strcmp((const char *)hangar_buf_data(b), "h\xc3\xa9") == 0);
    hangar_buf_free(b);
    hangar_key more[2] = {ik(7), ik(8)};
    hangar_value badtext[2] = {
        {.kind = HANGAR_KIND_STR, .data = "fine", .nbytes = 4},
        {.kind = HANGAR_KIND_STR, .data = "\xff", .nbytes = 1},
    };
    EXPECT_STATUS(HANGAR_E_INVALID_UTF8, hangar_column_update(text, more, NULL, badtext, 2));
    OK(hangar_column_contains(text, ik(7), NULL, &has));
    EXPECT(!has);
    hangar_value wrongkind = {.kind = HANGAR_KIND_BYTES, .data = "x", .nbytes = 1};
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_update(text, more, NULL, &wrongkind, 1));
    hangar_key sub0 = ik(0);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_update(text, more, &sub0, tv, 1));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_column_update(text, more, NULL, NULL, 1));
    OK(hangar_column_update(text, NULL, NULL, NULL, 0));

    /* update: bytes, and numeric arrays of different shapes in one call. */
    hangar_value bv = {.kind = HANGAR_KIND_BYTES, .data = "a\0b", .nbytes = 3};
    OK(hangar_column_update(blob, keys, NULL, &bv, 1));
    int32_t small[2] = {1, 2}, large[12];
    for (int i = 0; i < 12; i++) large[i] = i;
    size_t s12[2] = {1, 2}, s34[2] = {3, 4}, s55[2] = {5, 5};
    hangar_value av[2] = {
        {.kind = HANGAR_KIND_NDARRAY, .dtype = HANGAR_DTYPE_I32, .data = small, .nbytes = sizeof small, .shape = s12, .ndim = 2},
        {.kind = HANGAR_KIND_NDARRAY, .dtype = HANGAR_DTYPE_I32, .data = large, .nbytes = sizeof large, .shape = s34, .ndim = 2},
    };
    OK(hangar_column_update(var, keys, NULL, av, 2));
    hangar_sample_info info;
    size_t dims[4];
    OK(hangar_column_info(var, ik(1), NULL, &info, dims, 4));
    EXPECT(info.ndim == 2 && dims[0] == 3 && dims[1] == 4 && info.nbytes == sizeof large);
    hangar_value toobig = av[1];
    toobig.shape = s55;
    hangar_value pair[2] = {av[0], toobig};
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_update(var, more, NULL, pair, 2));
    OK(hangar_column_contains(var, ik(7), NULL, &has));
    EXPECT(!has);

    /* update of a nested column: subkeys required; other subsamples are kept. */
    uint8_t px[4] = {1, 2, 3, 4}, py[4] = {5, 6, 7, 8};
    size_t s22[2] = {2, 2};
    OK(hangar_column_put(nest, sk("s"), &sub0, px, 4, HANGAR_DTYPE_U8, s22, 2));
    hangar_key nkeys[3] = {sk("s"), sk("t"), sk("s")};
    hangar_key nsubs[3] = {ik(1), ik(0), ik(2)};
    hangar_value nv[3] = {
        {.kind = HANGAR_KIND_NDARRAY, .dtype = HANGAR_DTYPE_U8, .data = py, .nbytes = 4, .shape = s22, .ndim = 2},
        {.kind = HANGAR_KIND_NDARRAY, .dtype = HANGAR_DTYPE_U8, .data = px, .nbytes = 4, .shape = s22, .ndim = 2},
        {.kind = HANGAR_KIND_NDARRAY, .dtype = HANGAR_DTYPE_U8, .data = py, .nbytes = 4, .shape = s22, .ndim = 2},
    };
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_update(nest, nkeys, NULL, nv, 3));
    OK(hangar_column_update(nest, nkeys, nsubs, nv, 3));
    OK(hangar_column_len(nest, &n));
    EXPECT(n == 2);
    OK(hangar_column_num_subsamples(nest, &n));
    EXPECT(n == 4);

    /* append: a generated 28-character key, unique; flat and nested. */
    hangar_buf *k1 = NULL, *k2 = NULL;
    OK(hangar_column_append(text, NULL, &tv[0], &k1));
    OK(hangar_column_append(text, NULL, &tv[2], &k2));
    EXPECT(hangar_buf_len(k1) == 28 && hangar_buf_len(k2) == 28);
    EXPECT(strcmp((const char *)hangar_buf_data(k1), (const char *)hangar_buf_data(k2)) != 0);
    OK(hangar_column_get_buf(text, sk((const char *)hangar_buf_data(k2)), NULL, &b));
    EXPECT(strcmp((const char *)hangar_buf_data(b), "h\xc3\xa9") == 0);
    hangar_buf_free(b);
    hangar_buf_free(k1);
    hangar_buf_free(k2);
    OK(hangar_column_append(nest, &nkeys[1], &nv[0], &k1));
    OK(hangar_column_num_subsamples(nest, &n));
    EXPECT(n == 5);
    OK(hangar_column_contains(nest, sk("t"), &(hangar_key){.text = (const char *)hangar_buf_data(k1)}, &has));
    EXPECT(has);
    hangar_buf_free(k1);
    k1 = NULL;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_append(text, NULL, &bv, &k1));
    EXPECT(k1 == NULL);
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_column_append(text, NULL, NULL, &k1));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_column_append(text, NULL, &tv[0], NULL));

    /* pop: the value comes back and the sample is gone; nothing removed on error. */
    EXPECT_STATUS(HANGAR_E_BUFFER_TOO_SMALL, hangar_column_pop(var, ik(1), NULL, &info, dims, 1, &b));
    OK(hangar_column_contains(var, ik(1), NULL, &has));
    EXPECT(has);
    OK(hangar_column_pop(var, ik(1), NULL, &info, dims, 4, &b));
    EXPECT(info.kind == HANGAR_KIND_NDARRAY && info.dtype == HANGAR_DTYPE_I32 && info.ndim == 2);
    EXPECT(dims[0] == 3 && dims[1] == 4 && hangar_buf_len(b) == sizeof large);
    EXPECT(memcmp(hangar_buf_data(b), large, sizeof large) == 0);
    hangar_buf_free(b);
    OK(hangar_column_contains(var, ik(1), NULL, &has));
    EXPECT(!has);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_column_pop(var, ik(1), NULL, &info, NULL, 0, &b));
    OK(hangar_column_pop(text, sk("c"), NULL, &info, NULL, 0, &b));
    EXPECT(info.kind == HANGAR_KIND_STR && info.nbytes == 3 && strcmp((const char *)hangar_buf_data(b), "h\xc3\xa9") == 0);
    hangar_buf_free(b);
    OK(hangar_column_pop(nest, sk("s"), &nsubs[0], &info, dims, 4, &b));
    EXPECT(memcmp(hangar_buf_data(b), py, 4) == 0);
    hangar_buf_free(b);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_pop(nest, sk("s"), NULL, &info, dims, 4, &b));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_column_pop(text, ik(0), NULL, NULL, NULL, 0, &b));
    OK(hangar_column_contains(text, ik(0), NULL, &has));
    EXPECT(has);

    /* reader columns are read-only */
    char id[65];
    OK(hangar_writer_commit(w, "update, append, pop", id, sizeof id));
    hangar_reader *r = NULL;
    OK(hangar_repo_checkout(repo, "master", &r));
    hangar_column *rtext = NULL;
    OK(hangar_reader_column(r, "captions", &rtext));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_update(rtext, keys, NULL, tv, 1));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_append(rtext, NULL, &tv[0], &k1));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_column_pop(rtext, ik(0), NULL, &info, NULL, 0, &b));
    OK(hangar_column_len(rtext, &n));
    EXPECT(n == 4);
    hangar_column_free(rtext);
    hangar_reader_free(r);
    hangar_column_free(var);
    hangar_column_free(nest);
    hangar_column_free(text);
    hangar_column_free(blob);
    hangar_writer_free(w);
    hangar_repo_free(repo);
}

/* Remotes over file://: push, clone without data (HANGAR_E_NOT_FETCHED), fetch-data,
 * pull, a refused stale push (HANGAR_E_CONFLICT), bad URLs and an unknown remote. */
static void test_remotes(void) {
    hangar_repo *src = NULL;
    OK(hangar_repo_init(path_in("remote-src"), "Ada", "ada@example.com", false, &src));
    hangar_writer *w = NULL;
    OK(hangar_repo_checkout_writer(src, "master", &w));
    hangar_column *img = add_array(w, "imgs", HANGAR_DTYPE_U8, 16, 16, false, false);
    size_t shape[2] = {16, 16};
    uint8_t px[256];
    for (uint64_t i = 0; i < 4; i++) {
        memset(px, (int)i + 1, sizeof px);
        OK(hangar_column_put(img, ik(i), NULL, px, sizeof px, HANGAR_DTYPE_U8, shape, 2));
    }
    OK(hangar_writer_commit(w, "first", NULL, 0));
    char url[700];
    snprintf(url, sizeof url, "file://%s", path_in("remote-store"));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_add_remote(src, "origin", "ftp://x/y", NULL, NULL));
    OK(hangar_repo_add_remote(src, "origin", url, NULL, NULL));
    EXPECT_STATUS(HANGAR_E_ALREADY_EXISTS, hangar_repo_add_remote(src, "origin", url, NULL, NULL));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_add_remote(src, "backup", "s3://bucket/prefix", "127.0.0.1:1", "garage"));
    EXPECT(last_error_contains("not an http://"));
    OK(hangar_repo_add_remote(src, "backup", "s3://bucket/prefix", "http://127.0.0.1:1", "garage"));
    hangar_strlist *rnames = NULL, *rurls = NULL;
    OK(hangar_repo_remotes(src, &rnames, &rurls));
    EXPECT(hangar_strlist_len(rnames) == 2 && hangar_strlist_len(rurls) == 2);
    EXPECT(strcmp(hangar_strlist_get(rnames, 0), "backup") == 0);
    EXPECT(strcmp(hangar_strlist_get(rurls, 0), "s3://bucket/prefix") == 0);
    EXPECT(strcmp(hangar_strlist_get(rnames, 1), "origin") == 0);
    EXPECT(strcmp(hangar_strlist_get(rurls, 1), url) == 0);
    hangar_strlist_free(rnames);
    hangar_strlist_free(rurls);
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_remotes(src, NULL, &rurls));
    OK(hangar_repo_remove_remote(src, "backup"));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_push(src, "nope", "master", NULL));
    hangar_buf *report = NULL;
    OK(hangar_repo_push(src, "origin", "master", &report));
    EXPECT(strstr((const char *)hangar_buf_data(report), "4 values") != NULL);
    hangar_buf_free(report);

    hangar_repo *dst = NULL;
    const char *dst_path = path_in("remote-dst");
    OK(hangar_repo_clone(url, NULL, NULL, dst_path, "Bo", "bo@example.com", false, &dst));
    hangar_reader *r = NULL;
    hangar_column *c = NULL;
    uint8_t got[256];
    size_t written = 0;
    OK(hangar_repo_checkout(dst, "master", &r));
    OK(hangar_reader_column(r, "imgs", &c));
    EXPECT_STATUS(HANGAR_E_NOT_FETCHED, hangar_column_get(c, ik(2), NULL, got, sizeof got, &written));
    EXPECT(last_error_contains("fetch-data"));
    EXPECT(strcmp(hangar_status_name(HANGAR_E_NOT_FETCHED), "HANGAR_E_NOT_FETCHED") == 0);
    uint64_t missing = 0;
    OK(hangar_repo_not_fetched(dst, NULL, NULL, &missing));
    EXPECT(missing > 0);
    uint64_t in_imgs = 0;
    OK(hangar_repo_not_fetched(dst, "master", "imgs", &in_imgs));
    EXPECT(in_imgs == missing);
    OK(hangar_repo_not_fetched(src, NULL, NULL, &missing));
    EXPECT(missing == 0);
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_not_fetched(dst, NULL, NULL, NULL));
    const char *only_imgs[] = {"imgs"};
    const char *no_such[] = {"nope"};
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_fetch_data(dst, "origin", "master", NULL, 1, 0, 0, 0, false, NULL));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_fetch_data(dst, "origin", "master", no_such, 1, 0, 0, 0, false, NULL));
    OK(hangar_repo_fetch_data(dst, "origin", "origin/master", only_imgs, 1, 2, 3, 0, false, NULL));
    OK(hangar_column_get(c, ik(2), NULL, got, sizeof got, &written));
    EXPECT(written == 256 && got[0] == 3);
    EXPECT_STATUS(HANGAR_E_NOT_FETCHED, hangar_column_get(c, ik(3), NULL, got, sizeof got, &written));
    /* Named samples (the original's fetch_data_sample): every one must exist, else
       nothing is fetched. */
    hangar_key want[] = {ik(3), ik(7)};
    EXPECT_STATUS(HANGAR_E_NOT_FOUND,
                  hangar_repo_fetch_data_keys(dst, "origin", "master", "imgs", want, 2, NULL, NULL, 0, NULL));
    EXPECT(last_error_contains("sample 7 is not in column imgs"));
    EXPECT_STATUS(HANGAR_E_NOT_FETCHED, hangar_column_get(c, ik(3), NULL, got, sizeof got, &written));
    EXPECT_STATUS(HANGAR_E_NULL_ARG,
                  hangar_repo_fetch_data_keys(dst, "origin", "master", "imgs", NULL, 1, NULL, NULL, 0, NULL));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, /* a flat column has no subsamples */
                  hangar_repo_fetch_data_keys(dst, "origin", "master", "imgs", NULL, 0, want, want, 1, NULL));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND,
                  hangar_repo_fetch_data_keys(dst, "origin", "master", "nope", want, 1, NULL, NULL, 0, NULL));
    OK(hangar_repo_fetch_data_keys(dst, "origin", "master", "imgs", want, 1, NULL, NULL, 0, &report));
    EXPECT(strstr((const char *)hangar_buf_data(report), "fetched 1 values") != NULL);
    hangar_buf_free(report);
    OK(hangar_column_get(c, ik(3), NULL, got, sizeof got, &written));
    EXPECT(written == 256 && got[0] == 4);
    EXPECT_STATUS(HANGAR_E_NOT_FETCHED, hangar_column_get(c, ik(0), NULL, got, sizeof got, &written));
    hangar_column_free(c);
    hangar_reader_free(r);

    /* A new commit at the source, pulled by the clone. */
    memset(px, 99, sizeof px);
    OK(hangar_column_put(img, ik(0), NULL, px, sizeof px, HANGAR_DTYPE_U8, shape, 2));
    OK(hangar_writer_commit(w, "second", NULL, 0));
    OK(hangar_repo_push(src, "origin", "master", NULL));
    OK(hangar_repo_fetch(dst, "origin", NULL, NULL));
    OK(hangar_repo_pull(dst, "origin", "master", "merge", NULL));
    OK(hangar_repo_fetch_data(dst, "origin", "master", NULL, 0, 0, 0, 0, true, NULL));
    OK(hangar_repo_checkout(dst, "master", &r));
    OK(hangar_reader_column(r, "imgs", &c));
    OK(hangar_column_get(c, ik(0), NULL, got, sizeof got, &written));
    EXPECT(got[0] == 99);
    hangar_column_free(c);
    hangar_reader_free(r);

    /* Streaming reads: no clone, each value fetched on first read. */
    hangar_repo *stream = NULL;
    const char *cache_dir = path_in("remote-stream");
    OK(hangar_repo_open_remote(url, NULL, NULL, cache_dir, 0, &stream));
    OK(hangar_repo_checkout(stream, "master", &r));
    OK(hangar_reader_column(r, "imgs", &c));
    OK(hangar_column_get(c, ik(1), NULL, got, sizeof got, &written));
    EXPECT(written == 256 && got[0] == 2);
    OK(hangar_column_get(c, ik(1), NULL, got, sizeof got, &written));
    uint64_t hits = 0, misses = 0, fetched = 0;
    OK(hangar_repo_stream_stats(stream, &hits, &misses, &fetched));
    EXPECT(hits == 1 && misses == 1 && fetched == 256);
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_stream_stats(src, &hits, NULL, NULL));
    hangar_column_free(c);
    hangar_reader_free(r);
    /* A worker opens the same cache directory: no fetch, its own cache. */
    hangar_repo *worker = NULL;
    OK(hangar_repo_open_remote_cache(cache_dir, 0, &worker));
    OK(hangar_repo_checkout(worker, "master", &r));
    OK(hangar_reader_column(r, "imgs", &c));
    OK(hangar_column_get(c, ik(1), NULL, got, sizeof got, &written));
    EXPECT(written == 256 && got[0] == 2);
    OK(hangar_repo_stream_stats(worker, &hits, &misses, &fetched));
    EXPECT(hits == 0 && misses == 1);
    hangar_column_free(c);
    hangar_reader_free(r);
    hangar_repo_free(worker);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_open_remote_cache(path_in("no-such-cache"), 0, &worker));
    hangar_repo_free(stream);

    /* The clone commits and pushes; the source, behind, is refused. */
    hangar_writer *w2 = NULL;
    OK(hangar_repo_checkout_writer(dst, "master", &w2));
    hangar_column *c2 = NULL;
    OK(hangar_writer_column(w2, "imgs", &c2));
    OK(hangar_column_put(c2, ik(9), NULL, px, sizeof px, HANGAR_DTYPE_U8, shape, 2));
    OK(hangar_writer_commit(w2, "theirs", NULL, 0));
    hangar_column_free(c2);
    hangar_writer_free(w2);
    OK(hangar_repo_push(dst, "origin", "master", NULL));
    OK(hangar_column_put(img, ik(10), NULL, px, sizeof px, HANGAR_DTYPE_U8, shape, 2));
    OK(hangar_writer_commit(w, "ours", NULL, 0));
    EXPECT_STATUS(HANGAR_E_CONFLICT, hangar_repo_push(src, "origin", "master", NULL));
    OK(hangar_repo_remove_remote(src, "origin"));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_remove_remote(src, "origin"));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_push(src, NULL, "master", NULL));
    hangar_column_free(img);
    hangar_writer_free(w);
    hangar_repo_free(dst);
    hangar_repo_free(src);
}

/* gc: a deleted branch kept through its grace period, a dry run, deferral while a reader
   is open, removal, the writer lock, bad arguments. */
static void test_gc(void) {
    hangar_repo *repo = NULL;
    OK(hangar_repo_init(path_in("repo-gc"), "Ada", "ada@example.com", false, &repo));
    hangar_writer *w = NULL;
    uint8_t v[200];
    size_t shape[2] = {10, 20};
    OK(hangar_repo_checkout_writer(repo, "master", &w));
    hangar_column *col = add_array(w, "big", HANGAR_DTYPE_U8, 10, 20, false, false);
    for (uint64_t i = 0; i < 10; i++) {
        memset(v, (int)i, sizeof v);
        OK(hangar_column_put(col, ik(i), NULL, v, sizeof v, HANGAR_DTYPE_U8, shape, 2));
    }
    OK(hangar_writer_commit(w, "keep", NULL, 0));
    hangar_column_free(col);
    hangar_writer_free(w);
    OK(hangar_repo_create_branch(repo, "tmp", NULL));
    OK(hangar_repo_checkout_writer(repo, "tmp", &w));
    OK(hangar_writer_column(w, "big", &col));
    for (uint64_t i = 100; i < 130; i++) {
        memset(v, (int)i, sizeof v);
        OK(hangar_column_put(col, ik(i), NULL, v, sizeof v, HANGAR_DTYPE_U8, shape, 2));
    }
    char tmp_head[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "tmp", tmp_head, sizeof tmp_head));
    hangar_column_free(col);
    hangar_writer_free(w);
    OK(hangar_repo_checkout_writer(repo, "master", &w));
    /* A writer is open: gc waits for no one, it refuses. */
    hangar_gc_report r;
    EXPECT_STATUS(HANGAR_E_LOCKED, hangar_repo_gc(repo, "now", false, -1, &r, NULL));
    hangar_writer_free(w);
    OK(hangar_repo_remove_branch(repo, "tmp", true));

    /* The deletion's reflog entry is young: the default keeps everything. */
    OK(hangar_repo_gc(repo, NULL, false, -1, &r, NULL));
    EXPECT(!r.dry_run && r.files_removed == 0 && r.dead_entries == 0);
    EXPECT(r.reflog_only_commits == 1); /* the deleted branch's commit, and why it stays */
    hangar_buf *files = NULL;
    OK(hangar_repo_gc(repo, "now", true, -1, &r, &files));
    EXPECT(r.dry_run && r.files_removed > 0 && r.bytes_removed >= 30 * 200 && r.dead_entries >= 30);
    EXPECT(strstr((const char *)hangar_buf_data(files), "removed\t") != NULL);
    hangar_buf_free(files);

    /* An open reader of the doomed commit: deletion is deferred, the reader reads on. */
    hangar_reader *rd = NULL;
    OK(hangar_repo_checkout_commit(repo, tmp_head, &rd));
    OK(hangar_repo_gc(repo, "now", false, -1, &r, NULL));
    EXPECT(r.files_removed == 0 && r.files_deferred > 0 && r.bytes_deferred > 0);
    hangar_column *rc = NULL;
    OK(hangar_reader_column(rd, "big", &rc));
    uint8_t out[200];
    OK(hangar_column_get(rc, ik(120), NULL, out, sizeof out, NULL));
    EXPECT(out[0] == 120 && out[199] == 120);
    hangar_column_free(rc);
    hangar_reader_free(rd);
    OK(hangar_repo_gc(repo, "now", false, -1, &r, NULL));
    EXPECT(r.files_removed > 0 && r.files_deferred == 0 && r.bytes_removed > 0);
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_checkout_commit(repo, tmp_head, &rd));
    bool ok = false;
    OK(hangar_repo_verify(repo, &ok, NULL));
    EXPECT(ok);

    /* Bad arguments. A free between the failed call and the reading of its message (a
       destructor, a garbage collector) leaves the message in place. */
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_gc(repo, "soon", false, -1, &r, NULL));
    hangar_buf *spare = NULL;
    OK(hangar_repo_log(repo, NULL, &spare));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_gc(repo, "soon", false, -1, &r, NULL));
    hangar_buf_free(spare);
    hangar_buf_free(NULL);
    EXPECT(hangar_last_error_status() == HANGAR_E_INVALID_ARGUMENT);
    EXPECT(last_error_contains("--prune"));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_gc(repo, NULL, false, 1.5, &r, NULL));
    EXPECT(last_error_contains("compact_below"));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_gc(repo, NULL, false, -1, NULL, NULL));
    hangar_repo_free(repo);
}

/* hangar_repo_checkout_writer_new_branch: git's checkout -b, staged changes moving along. */
static void test_new_branch(void) {
    hangar_repo *repo = NULL;
    OK(hangar_repo_init(path_in("repo-newbranch"), "Ada", "ada@example.com", false, &repo));
    hangar_writer *w = NULL;
    hangar_column *text = NULL;
    OK(hangar_repo_checkout_writer(repo, NULL, &w));
    OK(hangar_writer_add_text_column(w, "notes", HANGAR_KIND_STR, false, &text));
    OK(hangar_column_put_text(text, ik(1), NULL, "one", 3));
    char first[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "first", first, sizeof first));
    OK(hangar_column_put_text(text, ik(2), NULL, "two", 3));
    char second[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "second", second, sizeof second));
    OK(hangar_column_put_text(text, ik(3), NULL, "staged", 6));
    OK(hangar_column_put_text(text, ik(2), NULL, "TWO", 3));
    hangar_column_free(text);
    hangar_writer_free(w);

    /* Refused, nothing created: the writer lock held, a start where what the staged
       changes touch differs (sample 2 is not at `first`), a taken name, NULLs. */
    hangar_writer *other = NULL;
    w = NULL;
    OK(hangar_repo_checkout_writer(repo, NULL, &other));
    EXPECT_STATUS(HANGAR_E_LOCKED, hangar_repo_checkout_writer_new_branch(repo, "dev", NULL, &w));
    hangar_writer_free(other);
    EXPECT_STATUS(HANGAR_E_DIRTY_STAGING, hangar_repo_checkout_writer_new_branch(repo, "dev", first, &w));
    EXPECT(w == NULL);
    EXPECT(last_error_contains("column \"notes\", sample 2"));
    EXPECT_STATUS(HANGAR_E_ALREADY_EXISTS, hangar_repo_checkout_writer_new_branch(repo, "master", NULL, &w));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_repo_checkout_writer_new_branch(repo, "bad name", NULL, &w));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_checkout_writer_new_branch(repo, NULL, NULL, &w));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_checkout_writer_new_branch(repo, "dev", NULL, NULL));
    hangar_strlist *list = NULL;
    OK(hangar_repo_branches(repo, &list));
    EXPECT(hangar_strlist_len(list) == 1);
    hangar_strlist_free(list);

    /* At the head: the staged change moves to dev; master keeps its head. */
    OK(hangar_repo_checkout_writer_new_branch(repo, "dev", NULL, &w));
    char name[32];
    OK(hangar_writer_branch(w, name, sizeof name));
    EXPECT(strcmp(name, "dev") == 0);
    bool dirty = false;
    OK(hangar_writer_status(w, &dirty, NULL));
    EXPECT(dirty);
    char on_dev[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "on dev", on_dev, sizeof on_dev));
    hangar_writer_free(w);
    char head[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_repo_branch_head(repo, "master", head, sizeof head));
    EXPECT(strcmp(head, second) == 0);
    OK(hangar_repo_branch_head(repo, "dev", head, sizeof head));
    EXPECT(strcmp(head, on_dev) == 0);
    hangar_reader *r = NULL;
    hangar_column *rc = NULL;
    bool has = true;
    OK(hangar_repo_checkout(repo, "master", &r));
    OK(hangar_reader_column(r, "notes", &rc));
    OK(hangar_column_contains(rc, ik(3), NULL, &has));
    EXPECT(!has);
    hangar_column_free(rc);
    hangar_reader_free(r);

    /* Nothing staged: any start. */
    OK(hangar_repo_checkout_writer_new_branch(repo, "old", first, &w));
    OK(hangar_writer_status(w, &dirty, NULL));
    EXPECT(!dirty);
    OK(hangar_writer_branch(w, name, sizeof name));
    EXPECT(strcmp(name, "old") == 0);
    hangar_writer_free(w);
    OK(hangar_repo_branch_head(repo, "old", head, sizeof head));
    EXPECT(strcmp(head, first) == 0);
    hangar_repo_free(repo);
}

/* The text stored under integer key `k` of column `name` at the head of `branch`, into
   `out` (NUL-terminated); "" when the sample is absent. */
static void text_at(hangar_repo *repo, const char *branch, const char *name, uint64_t k, char *out, size_t cap) {
    hangar_reader *r = NULL;
    hangar_column *c = NULL;
    OK(hangar_repo_checkout(repo, branch, &r));
    OK(hangar_reader_column(r, name, &c));
    size_t written = 0;
    out[0] = 0;
    hangar_status st = hangar_column_get(c, ik(k), NULL, out, cap - 1, &written);
    EXPECT(st == HANGAR_OK || st == HANGAR_E_NOT_FOUND);
    out[st == HANGAR_OK ? written : 0] = 0;
    hangar_column_free(c);
    hangar_reader_free(r);
}

/* hangar_repo_switch_writer_branch: git's checkout. Staged changes move to a branch whose
   head holds what they touch unchanged, else HANGAR_E_DIRTY_STAGING naming what differs
   and nothing moves; hangar_repo_checkout_writer keeps the original's refusal. */
static void test_switch_branch(void) {
    hangar_repo *repo = NULL;
    OK(hangar_repo_init(path_in("repo-switch"), "Ada", "ada@example.com", false, &repo));
    hangar_writer *w = NULL;
    hangar_column *text = NULL;
    OK(hangar_repo_checkout_writer(repo, NULL, &w));
    OK(hangar_writer_add_text_column(w, "notes", HANGAR_KIND_STR, false, &text));
    OK(hangar_column_put_text(text, ik(1), NULL, "one", 3));
    char first[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "first", first, sizeof first));
    hangar_column_free(text);
    hangar_writer_free(w);
    /* "same" stays at the first commit; "other" gets its own sample 2. */
    OK(hangar_repo_create_branch(repo, "same", NULL));
    OK(hangar_repo_create_branch(repo, "other", NULL));
    OK(hangar_repo_checkout_writer(repo, "other", &w));
    OK(hangar_writer_column(w, "notes", &text));
    OK(hangar_column_put_text(text, ik(2), NULL, "two on other", 12));
    char on_other[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "other's two", on_other, sizeof on_other));
    hangar_column_free(text);
    hangar_writer_free(w);
    /* Staged on master: samples 2 and 3. */
    OK(hangar_repo_checkout_writer(repo, "master", &w));
    OK(hangar_writer_column(w, "notes", &text));
    OK(hangar_column_put_text(text, ik(2), NULL, "two", 3));
    OK(hangar_column_put_text(text, ik(3), NULL, "three", 5));
    hangar_column_free(text);
    hangar_writer_free(w);

    /* Refused, nothing moved: the original's rule through hangar_repo_checkout_writer;
       "other" differs at sample 2; an unknown branch; the lock held; NULLs. */
    w = NULL;
    EXPECT_STATUS(HANGAR_E_DIRTY_STAGING, hangar_repo_checkout_writer(repo, "same", &w));
    EXPECT_STATUS(HANGAR_E_DIRTY_STAGING, hangar_repo_switch_writer_branch(repo, "other", &w));
    EXPECT(w == NULL);
    EXPECT(last_error_contains("column \"notes\", sample 2"));
    EXPECT_STATUS(HANGAR_E_NOT_FOUND, hangar_repo_switch_writer_branch(repo, "nope", &w));
    hangar_writer *holder = NULL;
    OK(hangar_repo_checkout_writer(repo, NULL, &holder));
    EXPECT_STATUS(HANGAR_E_LOCKED, hangar_repo_switch_writer_branch(repo, "same", &w));
    hangar_writer_free(holder);
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_switch_writer_branch(repo, NULL, &w));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_switch_writer_branch(NULL, "same", &w));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_repo_switch_writer_branch(repo, "same", NULL));
    char name[32];
    bool dirty = false;
    OK(hangar_repo_checkout_writer(repo, NULL, &w));
    OK(hangar_writer_branch(w, name, sizeof name));
    EXPECT(strcmp(name, "master") == 0);
    OK(hangar_writer_status(w, &dirty, NULL));
    EXPECT(dirty);
    hangar_writer_free(w);

    /* To "same" (the commit they are based on): they move, and commit there only. */
    OK(hangar_repo_switch_writer_branch(repo, "same", &w));
    OK(hangar_writer_branch(w, name, sizeof name));
    EXPECT(strcmp(name, "same") == 0);
    OK(hangar_writer_status(w, &dirty, NULL));
    EXPECT(dirty);
    char on_same[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "on same", on_same, sizeof on_same));
    /* Then a change "other" holds unchanged (sample 9 is on neither) moves across
       commits, and "other" keeps its own sample 2. */
    OK(hangar_writer_column(w, "notes", &text));
    OK(hangar_column_put_text(text, ik(9), NULL, "nine", 4));
    hangar_column_free(text);
    hangar_writer_free(w);
    OK(hangar_repo_switch_writer_branch(repo, "other", &w));
    char after[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_writer_commit(w, "nine on other", after, sizeof after));
    hangar_writer_free(w);

    char head[HANGAR_COMMIT_ID_LEN + 1];
    OK(hangar_repo_branch_head(repo, "master", head, sizeof head));
    EXPECT(strcmp(head, first) == 0);
    OK(hangar_repo_branch_head(repo, "same", head, sizeof head));
    EXPECT(strcmp(head, on_same) == 0);
    char got[32];
    text_at(repo, "master", "notes", 3, got, sizeof got);
    EXPECT(strcmp(got, "") == 0);
    text_at(repo, "same", "notes", 3, got, sizeof got);
    EXPECT(strcmp(got, "three") == 0);
    text_at(repo, "same", "notes", 9, got, sizeof got);
    EXPECT(strcmp(got, "") == 0);
    text_at(repo, "other", "notes", 9, got, sizeof got);
    EXPECT(strcmp(got, "nine") == 0);
    text_at(repo, "other", "notes", 2, got, sizeof got);
    EXPECT(strcmp(got, "two on other") == 0);
    text_at(repo, "other", "notes", 3, got, sizeof got);
    EXPECT(strcmp(got, "") == 0);
    hangar_repo_free(repo);
}

/* Compressed columns: created through the spec and the text-column call, reported by
   hangar_column_compression, sealed as Parquet segments and read back exactly; bad codecs
   are refused with a message naming the choices. */
static void test_compression(void) {
    hangar_repo *repo = NULL;
    OK(hangar_repo_init(path_in("repo-compressed"), "Ada", "ada@example.com", false, &repo));
    hangar_writer *w = NULL;
    OK(hangar_repo_checkout_writer(repo, "master", &w));
    size_t shape[2] = {10, 20};
    hangar_ndarray_spec *spec = NULL;
    OK(hangar_ndarray_spec_new(HANGAR_DTYPE_U8, shape, 2, &spec));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_ndarray_spec_compression(spec, "gzip"));
    EXPECT(last_error_contains("zstd"));
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT, hangar_ndarray_spec_compression(spec, "zstd:0"));
    EXPECT_STATUS(HANGAR_E_NULL_ARG, hangar_ndarray_spec_compression(spec, NULL));
    OK(hangar_ndarray_spec_compression(spec, "zstd:7"));
    hangar_column *img = NULL;
    OK(hangar_writer_add_ndarray_column(w, "img", spec, &img));
    hangar_ndarray_spec_free(spec);
    hangar_column *txt = NULL;
    EXPECT_STATUS(HANGAR_E_INVALID_ARGUMENT,
                  hangar_writer_add_text_column_compressed(w, "txt", HANGAR_KIND_STR, false, "brotli", &txt));
    OK(hangar_writer_add_text_column_compressed(w, "txt", HANGAR_KIND_STR, false, "lz4", &txt));
    char name[32];
    OK(hangar_column_compression(img, name, sizeof name));
    EXPECT(strcmp(name, "zstd:7") == 0);
    OK(hangar_column_compression(txt, name, sizeof name));
    EXPECT(strcmp(name, "lz4") == 0);
    uint8_t v[200];
    char text[120];
    for (uint64_t i = 0; i < 50; i++) {
        memset(v, 0, sizeof v);
        v[i] = (uint8_t)i;
        v[199] = (uint8_t)(i * 3);
        OK(hangar_column_put(img, ik(i), NULL, v, sizeof v, HANGAR_DTYPE_U8, shape, 2));
        memset(text, 'a' + (int)(i % 26), sizeof text - 1);
        text[sizeof text - 1] = 0;
        OK(hangar_column_put_text(txt, ik(i), NULL, text, strlen(text)));
    }
    OK(hangar_writer_commit(w, "compressed", NULL, 0));
    hangar_column_free(img);
    hangar_column_free(txt);
    hangar_writer_free(w);

    hangar_reader *rd = NULL;
    OK(hangar_repo_checkout(repo, NULL, &rd));
    OK(hangar_reader_column(rd, "img", &img));
    OK(hangar_reader_column(rd, "txt", &txt));
    for (uint64_t i = 0; i < 50; i++) {
        uint8_t out[200];
        OK(hangar_column_get(img, ik(i), NULL, out, sizeof out, NULL));
        EXPECT(out[i] == (uint8_t)i && out[199] == (uint8_t)(i * 3));
        hangar_buf *b = NULL;
        OK(hangar_column_get_buf(txt, ik(i), NULL, &b));
        EXPECT(hangar_buf_len(b) == 119 && ((const char *)hangar_buf_data(b))[0] == 'a' + (int)(i % 26));
        hangar_buf_free(b);
    }
    /* The decoded pages are cached within the budget (256 MiB unless HANGAR_PAGE_CACHE_MB
       says otherwise); a budget of 0 drops them at once and reads still work. */
    uint64_t budget = 0, used = 0;
    OK(hangar_repo_page_cache_usage(repo, &budget, &used));
    EXPECT(used > 0 && used <= budget);
    if (getenv("HANGAR_PAGE_CACHE_MB") == NULL) EXPECT(budget == 256u << 20);
    OK(hangar_repo_set_page_cache_budget(repo, 0));
    OK(hangar_repo_page_cache_usage(repo, &budget, NULL));
    OK(hangar_repo_page_cache_usage(repo, NULL, &used));
    EXPECT(budget == 0 && used == 0);
    {
        uint8_t out[200];
        OK(hangar_column_get(img, ik(7), NULL, out, sizeof out, NULL));
        EXPECT(out[7] == 7 && out[199] == 21);
        OK(hangar_repo_page_cache_usage(repo, NULL, &used));
        EXPECT(used == 0);
    }
    OK(hangar_repo_set_page_cache_budget(repo, 1u << 20));
    OK(hangar_column_get(img, ik(8), NULL, v, sizeof v, NULL));
    OK(hangar_repo_page_cache_usage(repo, &budget, &used));
    EXPECT(budget == 1u << 20 && used > 0 && used <= budget);
    hangar_column_free(img);
    hangar_column_free(txt);
    hangar_reader_free(rd);
    bool ok = false;
    OK(hangar_repo_verify(repo, &ok, NULL));
    EXPECT(ok);
    hangar_repo_free(repo);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    snprintf(scratch, sizeof scratch, "%s", argv[1]);
    mkdir(scratch, 0755);
    test_version_and_errors();
    test_repository();
    test_update_append_pop();
    test_remotes();
    test_gc();
    test_new_branch();
    test_switch_branch();
    test_compression();
    printf("%d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
