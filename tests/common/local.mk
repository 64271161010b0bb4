# SPDX-License-Identifier: BSD-3-Clause
# Shared test support: start the built daemon from tests (harness) — used
# by the daemon, protocol and plugin tests.
check_LTLIBRARIES += tests/common/libharness.la
tests_common_libharness_la_SOURCES = tests/common/harness.c tests/common/harness.h
tests_common_libharness_la_CPPFLAGS = $(AM_CPPFLAGS) -DBUILDDIR='"$(abs_top_builddir)"'
tests_common_libharness_la_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_common_libharness_la_LIBADD = $(GLIB_LIBS)
