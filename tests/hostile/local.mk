# SPDX-License-Identifier: BSD-3-Clause
# tests/hostile: clients that attack the daemon (absurd sizes, floods of
# fds, fds of the wrong kind, address-space overflow, a client that never
# reads, one that sends a byte a second).  Each case checks that the
# offender gets an error or is dropped, the daemon logs it and is back to
# its fds, and a second device's latency does not change (hostile.h).
if HAVE_CHECK
HOSTILE_TESTS = tests/hostile/test_hostile_msgs tests/hostile/test_hostile_slow \
	tests/hostile/test_hostile_flood
check_PROGRAMS += $(HOSTILE_TESTS)
TESTS += $(HOSTILE_TESTS)
HOSTILE_COMMON = tests/hostile/hostile.c tests/hostile/hostile.h
HOSTILE_CPPFLAGS = $(PROTO_CPPFLAGS) -I$(top_srcdir)/tests/protocol

tests_hostile_test_hostile_msgs_SOURCES = tests/hostile/test_hostile_msgs.c $(HOSTILE_COMMON)
tests_hostile_test_hostile_msgs_CPPFLAGS = $(HOSTILE_CPPFLAGS)
tests_hostile_test_hostile_msgs_CFLAGS = $(PROTO_CFLAGS)
tests_hostile_test_hostile_msgs_LDADD = $(PROTO_LDADD)
EXTRA_tests_hostile_test_hostile_msgs_DEPENDENCIES = $(PROTO_DEPS)

tests_hostile_test_hostile_slow_SOURCES = tests/hostile/test_hostile_slow.c $(HOSTILE_COMMON)
tests_hostile_test_hostile_slow_CPPFLAGS = $(HOSTILE_CPPFLAGS)
tests_hostile_test_hostile_slow_CFLAGS = $(PROTO_CFLAGS)
tests_hostile_test_hostile_slow_LDADD = $(PROTO_LDADD)
EXTRA_tests_hostile_test_hostile_slow_DEPENDENCIES = $(PROTO_DEPS)

tests_hostile_test_hostile_flood_SOURCES = tests/hostile/test_hostile_flood.c $(HOSTILE_COMMON)
tests_hostile_test_hostile_flood_CPPFLAGS = $(HOSTILE_CPPFLAGS)
tests_hostile_test_hostile_flood_CFLAGS = $(PROTO_CFLAGS)
tests_hostile_test_hostile_flood_LDADD = $(PROTO_LDADD)
EXTRA_tests_hostile_test_hostile_flood_DEPENDENCIES = $(PROTO_DEPS)
endif

# The whole test suite with the daemon under valgrind (memcheck): any error
# or definite leak makes the daemon exit 99, which fails the test that
# stopped it.  Tests that do not start the daemon run natively.
if HAVE_CHECK
check-valgrind:
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	VFIOUSERD_WRAPPER="$(VALGRIND) --error-exitcode=99 -q --leak-check=full \
		--errors-for-leak-kinds=definite \
		--suppressions=$(abs_top_srcdir)/tests/daemon/glib.supp" \
	VFIOUSERD_NO_DLCLOSE=1 CK_TIMEOUT_MULTIPLIER=10 \
		$(MAKE) $(AM_MAKEFLAGS) check
endif
