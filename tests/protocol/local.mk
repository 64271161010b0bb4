# SPDX-License-Identifier: BSD-3-Clause
# tests/protocol: the built daemon driven over its socket by the test
# client (tests/client), one program per concern; each test starts its own
# daemon (tests/common/harness).  "make check-protocol-valgrind" runs them
# with the daemon under valgrind.
if HAVE_CHECK
PROTO_TESTS = \
	tests/protocol/test_framing \
	tests/protocol/test_version \
	tests/protocol/test_dma \
	tests/protocol/test_dma_private \
	tests/protocol/test_regions \
	tests/protocol/test_irqs \
	tests/protocol/test_reset \
	tests/protocol/test_session \
	tests/protocol/test_replay \
	tests/protocol/test_replay_spdk \
	tests/protocol/test_uring
check_PROGRAMS += $(PROTO_TESTS)
TESTS += $(PROTO_TESTS)

# Shared helpers (proto.h).
check_LTLIBRARIES += tests/protocol/libproto.la
tests_protocol_libproto_la_SOURCES = tests/protocol/proto.c tests/protocol/proto.h
tests_protocol_libproto_la_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_libproto_la_CFLAGS = $(PROTO_CFLAGS)

PROTO_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common -I$(top_srcdir)/common/client
PROTO_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS)
PROTO_LDADD = tests/protocol/libproto.la tests/common/libharness.la \
	common/client/libvfuclient.la $(JSONC_LIBS) $(GLIB_LIBS) $(CHECK_LIBS)
# What the tests run: the daemon and the plugins they load.
PROTO_DEPS = daemon/vfiouserd plugins/testdev.la plugins/gpio.la

tests_protocol_test_framing_SOURCES = tests/protocol/test_framing.c
tests_protocol_test_framing_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_framing_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_framing_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_framing_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_version_SOURCES = tests/protocol/test_version.c
tests_protocol_test_version_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_version_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_version_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_version_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_dma_SOURCES = tests/protocol/test_dma.c
tests_protocol_test_dma_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_dma_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_dma_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_dma_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_dma_private_SOURCES = tests/protocol/test_dma_private.c
tests_protocol_test_dma_private_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_dma_private_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_dma_private_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_dma_private_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_regions_SOURCES = tests/protocol/test_regions.c
tests_protocol_test_regions_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_regions_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_regions_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_regions_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_irqs_SOURCES = tests/protocol/test_irqs.c
tests_protocol_test_irqs_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_irqs_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_irqs_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_irqs_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_reset_SOURCES = tests/protocol/test_reset.c
tests_protocol_test_reset_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_reset_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_reset_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_reset_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_session_SOURCES = tests/protocol/test_session.c
tests_protocol_test_session_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_session_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_session_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_session_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_replay_SOURCES = tests/protocol/test_replay.c
tests_protocol_test_replay_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_replay_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_replay_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_replay_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_uring_SOURCES = tests/protocol/test_uring.c
tests_protocol_test_uring_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_uring_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_uring_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_uring_DEPENDENCIES = $(PROTO_DEPS)

tests_protocol_test_replay_spdk_SOURCES = tests/protocol/test_replay_spdk.c
tests_protocol_test_replay_spdk_CPPFLAGS = $(PROTO_CPPFLAGS)
tests_protocol_test_replay_spdk_CFLAGS = $(PROTO_CFLAGS)
tests_protocol_test_replay_spdk_LDADD = $(PROTO_LDADD)
EXTRA_tests_protocol_test_replay_spdk_DEPENDENCIES = $(PROTO_DEPS) plugins/nvme.la

# The daemon under valgrind: any error or definite leak makes it exit 99,
# which fails the test that stopped it.  ("Possibly lost" is left out: glib
# keeps the thread behind g_unix_signal_add() until exit.)
check-protocol-valgrind: $(PROTO_TESTS) $(PROTO_DEPS)
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(PROTO_TESTS)' CK_TIMEOUT_MULTIPLIER=10 \
		VFIOUSERD_WRAPPER="$(VALGRIND) --error-exitcode=99 -q --leak-check=full --errors-for-leak-kinds=definite"
.PHONY: check-protocol-valgrind
endif
