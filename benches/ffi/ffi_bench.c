/*
 * The C half of the C ABI overhead benchmark (benches/ffi/run.sh): the seed workload's
 * per-sample and batch operations through libhangar, printed as `op ns_per_sample` lines
 * matching ffi_rust. Usage: ffi_bench SCRATCH_DIR [N] [ROUNDS]
 */
#define _POSIX_C_SOURCE 200809L
#include <hangar.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PIXELS (28 * 28)

static void check(hangar_status st, const char *what) {
    if (st == HANGAR_OK) return;
    char msg[1024];
    hangar_last_error_message(msg, sizeof msg, NULL);
    fprintf(stderr, "%s: %s: %s\n", what, hangar_status_name(st), msg);
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void image(size_t i, uint8_t *out) {
    for (size_t p = 0; p < PIXELS; p++) out[p] = (uint8_t)((p * 31 + i * 17) % 251);
}

static char scratch[400];
static int repo_seq = 0;

/* A fresh repository with an empty images column; *w and *col are opened on it. */
static hangar_repo *fresh(hangar_writer **w, hangar_column **col) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/r%d", scratch, repo_seq++);
    mkdir(dir, 0755);
    hangar_repo *repo = NULL;
    check(hangar_repo_init(dir, "bench", "b@example.com", true, &repo), "init");
    check(hangar_repo_checkout_writer(repo, NULL, w), "writer");
    size_t shape[2] = {28, 28};
    hangar_ndarray_spec *spec = NULL;
    check(hangar_ndarray_spec_new(HANGAR_DTYPE_U8, shape, 2, &spec), "spec");
    check(hangar_writer_add_ndarray_column(*w, "images", spec, col), "column");
    hangar_ndarray_spec_free(spec);
    return repo;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    snprintf(scratch, sizeof scratch, "%s", argv[1]);
    mkdir(scratch, 0755);
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 50000;
    int rounds = argc > 3 ? atoi(argv[3]) : 3;
    uint8_t *data = malloc(n * PIXELS), *out = malloc(n * PIXELS);
    hangar_key *keys = malloc(n * sizeof *keys);
    if (!data || !out || !keys) return 1;
    for (size_t i = 0; i < n; i++) {
        image(i, data + i * PIXELS);
        keys[i] = (hangar_key){.text = NULL, .number = i};
    }
    size_t shape[2] = {28, 28};
    double put = 1e30, bulk_put = 1e30, batch_put = 1e30, get = 1e30, view = 1e30, contains = 1e30, batch_get = 1e30;

    for (int r = 0; r < rounds; r++) {
        hangar_writer *w;
        hangar_column *col;
        hangar_repo *repo = fresh(&w, &col);
        double t = now();
        for (size_t i = 0; i < n; i++)
            check(hangar_column_put(col, keys[i], NULL, data + i * PIXELS, PIXELS, HANGAR_DTYPE_U8, shape, 2), "put");
        t = now() - t;
        if (t < put) put = t;
        hangar_column_free(col);
        hangar_writer_free(w);
        hangar_repo_free(repo);

        repo = fresh(&w, &col);
        t = now();
        check(hangar_writer_bulk_begin(w), "bulk_begin");
        for (size_t i = 0; i < n; i++)
            check(hangar_column_put(col, keys[i], NULL, data + i * PIXELS, PIXELS, HANGAR_DTYPE_U8, shape, 2), "put");
        check(hangar_writer_bulk_end(w), "bulk_end");
        t = now() - t;
        if (t < bulk_put) bulk_put = t;
        hangar_column_free(col);
        hangar_writer_free(w);
        hangar_repo_free(repo);

        repo = fresh(&w, &col);
        t = now();
        check(hangar_column_put_batch(col, keys, n, data, n * PIXELS, HANGAR_DTYPE_U8, shape, 2), "batch");
        t = now() - t;
        if (t < batch_put) batch_put = t;
        hangar_column_free(col);
        hangar_writer_free(w);
        hangar_repo_free(repo);
    }

    hangar_writer *w;
    hangar_column *col;
    hangar_repo *repo = fresh(&w, &col);
    check(hangar_column_put_batch(col, keys, n, data, n * PIXELS, HANGAR_DTYPE_U8, shape, 2), "batch");
    check(hangar_writer_commit(w, "data", NULL, 0), "commit");
    hangar_column_free(col);
    hangar_writer_free(w);
    hangar_reader *reader;
    check(hangar_repo_checkout(repo, NULL, &reader), "reader");
    check(hangar_reader_column(reader, "images", &col), "column");
    uint8_t buf[PIXELS];
    size_t sum = 0, found = 0;
    for (int r = 0; r < rounds; r++) {
        double t = now();
        for (size_t i = 0; i < n; i++) check(hangar_column_get(col, keys[i], NULL, buf, sizeof buf, NULL), "get");
        t = now() - t;
        if (t < get) get = t;

        /* Views stay valid until the reader closes: one reader per round bounds their memory. */
        hangar_reader *vr;
        hangar_column *vc;
        check(hangar_repo_checkout(repo, NULL, &vr), "reader");
        check(hangar_reader_column(vr, "images", &vc), "column");
        t = now();
        for (size_t i = 0; i < n; i++) {
            hangar_view v;
            check(hangar_column_view(vc, keys[i], NULL, &v), "view");
            sum += ((const uint8_t *)v.data)[0];
        }
        t = now() - t;
        if (t < view) view = t;
        hangar_column_free(vc);
        hangar_reader_free(vr);

        t = now();
        for (size_t i = 0; i < n; i++) {
            bool has;
            check(hangar_column_contains(col, keys[i], NULL, &has), "contains");
            found += has;
        }
        t = now() - t;
        if (t < contains) contains = t;

        t = now();
        check(hangar_column_get_batch(col, keys, n, out, n * PIXELS), "batch get");
        t = now() - t;
        if (t < batch_get) batch_get = t;
    }
    if (memcmp(out, data, n * PIXELS) != 0 || found != n * (size_t)rounds || sum == 0) {
        fprintf(stderr, "read back differs\n");
        return 1;
    }
    hangar_column_free(col);
    hangar_reader_free(reader);
    hangar_repo_free(repo);
    printf("put %.1f\nbulk_put %.1f\nbatch_put %.1f\nget %.1f\nview %.1f\ncontains %.1f\nbatch_get %.1f\n", put / n * 1e9, bulk_put / n * 1e9,
           batch_put / n * 1e9, get / n * 1e9, view / n * 1e9, contains / n * 1e9, batch_get / n * 1e9);
    free(data);
    free(out);
    free(keys);
    return 0;
}
