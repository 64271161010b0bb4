# SPDX-License-Identifier: BSD-3-Clause
# common/utils: helpers (fds, parsing values) and logging, shared by the
# engine, the process and the fake daemon of plugin tests.
UTILS_SOURCES = common/utils/util.c common/utils/util.h common/utils/util_fds.c \
	common/utils/log.c common/utils/log.h
noinst_LTLIBRARIES += common/utils/libutils.la
common_utils_libutils_la_SOURCES = $(UTILS_SOURCES)
common_utils_libutils_la_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
common_utils_libutils_la_LIBADD = $(GLIB_LIBS)
