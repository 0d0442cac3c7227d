/* predict.c: classify digits with a model exported by graphc.export (see export_digits.py).
 *
 *   ./predict digits_mlp.safetensors test_images.f32 test_labels.i32 355
 *
 * Images are float32 [N, 1, 8, 8] and labels int32 [N], raw little-endian. The exported
 * forward takes BATCH images at a time; N must be a multiple of BATCH. */
#include <stdio.h>
#include <stdlib.h>

#include "digits_mlp.h"

#define BATCH 5
#define PIXELS 64
#define CLASSES 10

static int read_all(const char *path, void *data, size_t size, size_t count) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    size_t got = fread(data, size, count, f);
    fclose(f);
    if (got != count) { fprintf(stderr, "%s: expected %zu values, read %zu\n", path, count, got); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s WEIGHTS.safetensors IMAGES.f32 LABELS.i32 N\n", argv[0]);
        return 2;
    }
    long n = strtol(argv[4], NULL, 10);
    if (n <= 0 || n % BATCH != 0) { fprintf(stderr, "N must be a positive multiple of %d\n", BATCH); return 2; }
    float *images = malloc(sizeof(float) * PIXELS * n);
    int *labels = malloc(sizeof(int) * n);
    if (!images || !labels || read_all(argv[2], images, sizeof(float), PIXELS * n) || read_all(argv[3], labels, sizeof(int), n))
        return 1;

    digits_mlp_model *m = digits_mlp_create();
    if (!m) { fprintf(stderr, "digits_mlp_create failed\n"); return 1; }
    if (digits_mlp_load(m, argv[1]) != 0) {
        fprintf(stderr, "digits_mlp_load: %s\n", digits_mlp_last_error(m));
        digits_mlp_destroy(m);
        return 1;
    }
    long correct = 0;
    float logits[BATCH * CLASSES];
    for (long start = 0; start < n; start += BATCH) {
        if (digits_mlp_forward(m, images + start * PIXELS, logits) != 0) {
            fprintf(stderr, "digits_mlp_forward: %s\n", digits_mlp_last_error(m));
            digits_mlp_destroy(m);
            return 1;
        }
        for (int i = 0; i < BATCH; i++) {
            int best = 0;
            for (int k = 1; k < CLASSES; k++)
                if (logits[i * CLASSES + k] > logits[i * CLASSES + best]) best = k;
            correct += best == labels[start + i];
        }
    }
    printf("correct %ld of %ld\n", correct, n);
    digits_mlp_destroy(m);
    free(images);
    free(labels);
    return 0;
}
