/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fuzz target without libFuzzer: runs LLVMFuzzerTestOneInput on each
 * file named (directories: each file in them, in name order).  make check
 * runs it on the seed corpus and on every input that once made the target
 * fail, so a fixed bug stays fixed.
 *
 * usage: test_fuzz_replay [FILE|DIR]...  (default: FUZZ_CORPUS and
 * FUZZ_REGRESSIONS, directories of the source tree's tests/fuzz; corpus/
 * and regressions/ unless the build says otherwise)
 */
#include "config.h"

#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#ifndef FUZZ_CORPUS
#define FUZZ_CORPUS "corpus"
#endif
#ifndef FUZZ_REGRESSIONS
#define FUZZ_REGRESSIONS "regressions"
#endif

static const char *progname = "test_fuzz_replay";

static int replay_file(const char *path)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    gsize len = 0;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        fprintf(stderr, "%s: %s\n", progname, err->message);
        return -1;
    }
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, (size_t)len);
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    return 0;
}

static gint compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay(const char *path, unsigned *count)
{
    g_autoptr(GDir) d = NULL;
    g_autoptr(GPtrArray) names = NULL;
    const char *name;
    int r = 0;

    if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
        (*count)++;
        return replay_file(path);
    }
    d = g_dir_open(path, 0, NULL);
    if (d == NULL) {
        fprintf(stderr, "%s: cannot read %s\n", progname, path);
        return -1;
    }
    names = g_ptr_array_new_with_free_func(g_free);
    while ((name = g_dir_read_name(d)) != NULL) {
        if (name[0] != '.') {
            g_ptr_array_add(names, g_build_filename(path, name, NULL));
        }
    }
    g_ptr_array_sort(names, compare_paths);
    for (guint i = 0; i < names->len; i++) {
        const char *p = g_ptr_array_index(names, i);

        if (replay(p, count) < 0) {
            r = -1;
        }
    }
    return r;
}

int main(int argc, char **argv)
{
    const char *defaults[] = { FUZZ_SRCDIR "/" FUZZ_CORPUS,
                               FUZZ_SRCDIR "/" FUZZ_REGRESSIONS };
    unsigned count = 0;
    int r = 0;

    if (argc > 0) {
        const char *slash = strrchr(argv[0], '/');

        progname = slash ? slash + 1 : argv[0];
    }
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            r |= replay(argv[i], &count);
        }
    } else {
        for (size_t i = 0; i < G_N_ELEMENTS(defaults); i++) {
            r |= replay(defaults[i], &count);
        }
    }
    /* A failing input abort()s inside the target: reaching here is a pass. */
    printf("%u passed, 0 failed\n", count);
    return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
