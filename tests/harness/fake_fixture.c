/* SPDX-License-Identifier: BSD-3-Clause */
/* What every plugin unit test starts with: a loaded plugin, a scratch
 * directory. */
#include "config.h"

#include "fake_vfud.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

vfud_dev *fake_dev_new_loaded(const char *name, const char *so_path)
{
    vfud_dev *dev = fake_dev_new(name);

    if (dev == NULL) {
        fprintf(stderr, "fake_dev_new_loaded: %s: out of memory\n", name);
        return NULL;
    }
    if (fake_dev_load(dev, so_path) < 0) {
        fprintf(stderr, "fake_dev_new_loaded: %s: %s\n", so_path,
                fake_dev_last_error(dev));
        fake_dev_free(dev);
        return NULL;
    }
    return dev;
}

static char tmpdir[128];

const char *fake_tmpdir(void)
{
    return tmpdir;
}

/* A failed fixture fails the test it runs for (Check reports the signal). */
void fake_tmpdir_setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s.XXXXXX", program_invocation_short_name);
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "fake_tmpdir_setup: %s: %s\n", tmpdir, strerror(errno));
        abort();
    }
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0) {
        fprintf(stderr, "fake_tmpdir_teardown: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

void fake_tmpdir_teardown(void)
{
    if (nftw(tmpdir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        abort();
    }
    tmpdir[0] = '\0';
}

void fake_read_text(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

void fake_write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_NONBLOCK);

    ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}
