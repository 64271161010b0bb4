# SPDX-License-Identifier: BSD-3-Clause
# tests/soak: one daemon through 10,000 client life cycles and 1,000,000
# mixed messages; its fd count and RSS must be flat afterwards.  Runs in
# make check (about a minute; see test_soak.c for SOAK_CYCLES and
# SOAK_MESSAGES).
if HAVE_CHECK
check_PROGRAMS += tests/soak/test_soak
TESTS += tests/soak/test_soak
tests_soak_test_soak_SOURCES = tests/soak/test_soak.c
tests_soak_test_soak_CPPFLAGS = $(PROTO_CPPFLAGS) -I$(top_srcdir)/tests/protocol
tests_soak_test_soak_CFLAGS = $(PROTO_CFLAGS)
tests_soak_test_soak_LDADD = $(PROTO_LDADD)
EXTRA_tests_soak_test_soak_DEPENDENCIES = $(PROTO_DEPS)
endif
