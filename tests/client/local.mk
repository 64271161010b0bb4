# SPDX-License-Identifier: BSD-3-Clause
# tests/client: the vfio-user client library used by tests, benchmarks and
# tools (noinst: linked into programs, never installed on its own).
noinst_LTLIBRARIES += tests/client/libvfuclient.la
tests_client_libvfuclient_la_SOURCES = \
	tests/client/vfu_client.h \
	tests/client/vfu_client_priv.h \
	tests/client/vfu_client.c \
	tests/client/vfu_client_io.c \
	tests/client/vfu_client_mem.c \
	tests/client/vfu_client_cmd.c \
	daemon/vfio-user.h daemon/vfio-user.c
tests_client_libvfuclient_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
tests_client_libvfuclient_la_LIBADD = $(JSONC_LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/client/test_client
TESTS += tests/client/test_client
tests_client_test_client_SOURCES = tests/client/test_client.c
tests_client_test_client_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/client
tests_client_test_client_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_client_test_client_LDADD = tests/client/libvfuclient.la $(CHECK_LIBS)
endif

# The same test under valgrind (leaks, fd misuse, uninitialised bytes on
# the wire): make check-client-valgrind
if HAVE_CHECK
check-client-valgrind: tests/client/test_client
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	$(LIBTOOL) --mode=execute $(VALGRIND) --error-exitcode=1 \
		--leak-check=full --errors-for-leak-kinds=definite -q \
		tests/client/test_client
.PHONY: check-client-valgrind
endif
