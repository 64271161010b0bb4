# SPDX-License-Identifier: BSD-3-Clause
# tests/client: the test of the vfio-user client library (common/client).
if HAVE_CHECK
check_PROGRAMS += tests/client/test_client
TESTS += tests/client/test_client
tests_client_test_client_SOURCES = tests/client/test_client.c
tests_client_test_client_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/common/client
tests_client_test_client_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_client_test_client_LDADD = common/client/libvfuclient.la $(CHECK_LIBS)
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
