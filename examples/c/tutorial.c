/*
 * The seed tutorial ("Creating A Repository And Working With Data") in C, on generated
 * MNIST-shaped data: init, writer checkout, columns, samples one by one and in a batch,
 * len/contains/iteration, commit, close, the lock error of a second writer, summary, log.
 *
 * Build against an installed libhangar:
 *   cc -std=c11 tutorial.c $(pkg-config --cflags --libs hangar) -o tutorial
 *   ./tutorial [REPO_DIR]      (default: ./hangar-c-tutorial, recreated on every run)
 */
#include <hangar.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_ONE_BY_ONE 100
#define N_BATCH 9900
#define PIXELS (28 * 28)

/* Prints the failing call's status and message, then exits. */
static void check(hangar_status st, const char *what) {
    if (st == HANGAR_OK) return;
    char msg[1024];
    hangar_last_error_message(msg, sizeof msg, NULL);
    fprintf(stderr, "%s failed: %s: %s\n", what, hangar_status_name(st), msg);
    exit(1);
}

/* Prints a text buffer as a whole line (summary and log end without a newline). */
static void print_buf(hangar_buf *buf) {
    size_t n = hangar_buf_len(buf);
    const uint8_t *text = hangar_buf_data(buf);
    fwrite(text, 1, n, stdout);
    if (n == 0 || text[n - 1] != '\n') putchar('\n');
    hangar_buf_free(buf);
}

/* A deterministic MNIST-like image: a ring whose radius depends on the label. */
static void make_image(uint8_t *img, unsigned i, int64_t *label) {
    *label = (int64_t)((i * 7 + i / 3) % 10);
    for (int p = 0; p < PIXELS; p++) {
        int r = p / 28 - 14, c = p % 28 - 14;
        int d = r * r + c * c, ring = (int)(16 + *label * 8);
        img[p] = (uint8_t)((d > ring - 12 && d < ring + 12) ? 200 + (p * 13 + i) % 55 : 0);
    }
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "hangar-c-tutorial";
    mkdir(dir, 0755);
    printf("libhangar %s\n", hangar_version());

    /* repo = Repository(path); repo.init(user_name, user_email, remove_old=True) */
    hangar_repo *repo = NULL;
    check(hangar_repo_init(dir, "Rick Izzo", "rick@tensorwerk.com", true, &repo), "init");
    printf("initialized repository in %s\n", dir);

    /* co = repo.checkout(write=True) */
    hangar_writer *co = NULL;
    check(hangar_repo_checkout_writer(repo, NULL, &co), "checkout(write=True)");

    /* co.add_ndarray_column('mnist_training_images', prototype=train_images[0]) */
    uint8_t image[PIXELS];
    int64_t label;
    make_image(image, 0, &label);
    size_t image_shape[2] = {28, 28};
    hangar_ndarray_spec *spec = NULL;
    check(hangar_ndarray_spec_new(HANGAR_DTYPE_U8, NULL, 0, &spec), "spec");
    check(hangar_ndarray_spec_prototype(spec, image, sizeof image, HANGAR_DTYPE_U8, image_shape, 2),
          "prototype");
    hangar_column *images = NULL;
    check(hangar_writer_add_ndarray_column(co, "mnist_training_images", spec, &images), "add images");
    hangar_ndarray_spec_free(spec);

    /* co.add_ndarray_column('mnist_training_labels', shape=(1,), dtype=np.int64) */
    size_t label_shape[1] = {1};
    check(hangar_ndarray_spec_new(HANGAR_DTYPE_I64, label_shape, 1, &spec), "spec");
    hangar_column *labels = NULL;
    check(hangar_writer_add_ndarray_column(co, "mnist_training_labels", spec, &labels), "add labels");
    hangar_ndarray_spec_free(spec);

    /* One by one: col[i] = img */
    for (unsigned i = 0; i < N_ONE_BY_ONE; i++) {
        make_image(image, i, &label);
        hangar_key k = {.text = NULL, .number = i};
        check(hangar_column_put(images, k, NULL, image, sizeof image, HANGAR_DTYPE_U8, image_shape, 2),
              "put image");
        check(hangar_column_put(labels, k, NULL, &label, sizeof label, HANGAR_DTYPE_I64, label_shape, 1),
              "put label");
    }

    /* In bulk: col.update({key: img, ...}) from one contiguous buffer */
    uint8_t *batch = malloc((size_t)N_BATCH * PIXELS);
    int64_t *batch_labels = malloc(N_BATCH * sizeof(int64_t));
    hangar_key *keys = malloc(N_BATCH * sizeof(hangar_key));
    if (!batch || !batch_labels || !keys) return 1;
    for (unsigned j = 0; j < N_BATCH; j++) {
        make_image(batch + (size_t)j * PIXELS, N_ONE_BY_ONE + j, &batch_labels[j]);
        keys[j] = (hangar_key){.text = NULL, .number = N_ONE_BY_ONE + j};
    }
    check(hangar_column_put_batch(images, keys, N_BATCH, batch, (size_t)N_BATCH * PIXELS,
                                  HANGAR_DTYPE_U8, image_shape, 2), "batch images");
    check(hangar_column_put_batch(labels, keys, N_BATCH, batch_labels, N_BATCH * sizeof(int64_t),
                                  HANGAR_DTYPE_I64, label_shape, 1), "batch labels");
    free(batch);
    free(batch_labels);
    free(keys);

    /* len(col), key in col, iteration */
    size_t n = 0;
    check(hangar_column_len(images, &n), "len");
    bool has = false;
    check(hangar_column_contains(images, (hangar_key){.number = 42}, NULL, &has), "contains");
    printf("len(mnist_training_images) = %zu; 42 in column: %s\n", n, has ? "True" : "False");
    hangar_key_iter *it = NULL;
    check(hangar_column_keys(labels, &it), "keys");
    hangar_key k;
    bool more = false;
    int64_t sum = 0;
    for (;;) {
        check(hangar_key_iter_next(it, &k, &more), "next");
        if (!more) break;
        int64_t v;
        check(hangar_column_get(labels, k, NULL, &v, sizeof v, NULL), "get label");
        sum += v;
    }
    hangar_key_iter_free(it);
    printf("sum of all labels: %lld\n", (long long)sum);

    /* co.commit('hello world, this is my first hangar commit') */
    char commit[HANGAR_COMMIT_ID_LEN + 1];
    check(hangar_writer_commit(co, "hello world, this is my first hangar commit", commit, sizeof commit),
          "commit");
    printf("committed %s\n", commit);

    /* A second writer is refused while this one is open (PermissionError in Python). */
    hangar_writer *second = NULL;
    hangar_status st = hangar_repo_checkout_writer(repo, NULL, &second);
    char msg[512];
    hangar_last_error_message(msg, sizeof msg, NULL);
    printf("second writer: %s: %s\n", hangar_status_name(st), msg);

    /* co.close() */
    hangar_column_free(images);
    hangar_column_free(labels);
    check(hangar_writer_close(co), "close");
    hangar_writer_free(co);

    /* Read it back through a reader checkout, zero-copy. */
    hangar_reader *reader = NULL;
    check(hangar_repo_checkout(repo, NULL, &reader), "checkout()");
    hangar_column *rimages = NULL;
    check(hangar_reader_column(reader, "mnist_training_images", &rimages), "column");
    hangar_view view;
    check(hangar_column_view(rimages, (hangar_key){.number = 7}, NULL, &view), "view");
    make_image(image, 7, &label);
    printf("sample 7: %zux%zu %s, matches what was written: %s\n", view.shape[0], view.shape[1],
           view.dtype == HANGAR_DTYPE_U8 ? "uint8" : "?",
           memcmp(view.data, image, sizeof image) == 0 ? "yes" : "NO");
    hangar_column_free(rimages);
    hangar_reader_free(reader);

    /* repo.summary(); repo.log() */
    hangar_buf *out = NULL;
    check(hangar_repo_summary(repo, NULL, &out), "summary");
    print_buf(out);
    check(hangar_repo_log(repo, NULL, &out), "log");
    print_buf(out);
    hangar_repo_free(repo);
    return 0;
}
