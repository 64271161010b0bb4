# tests/bench: "make bench", the transport benchmark.  It prints figures and
# never fails on them, so it is not part of "make check"; check_PROGRAMS
# only makes "make check" compile it, so it keeps building.
#
#     make bench                                  gpio, 5 x 1 s per case
#     make bench BENCH_ARGS="--device both -r 7 -s 2 -v"
#
# How to read the output: the comment at the top of bench_transport.c.
check_PROGRAMS += tests/bench/bench_transport tests/bench/bench_echo

tests_bench_bench_echo_SOURCES = tests/bench/bench_echo.c

tests_bench_bench_transport_SOURCES = tests/bench/bench_transport.c \
	tests/bench/bench_client.c tests/bench/bench_cpu.c tests/bench/bench.h
tests_bench_bench_transport_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/tests/client -I$(top_srcdir)/tests/common \
	-DBENCH_ECHO_PATH='"$(abs_top_builddir)/tests/bench/bench_echo"'
tests_bench_bench_transport_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_bench_bench_transport_LDADD = tests/client/libvfuclient.la \
	tests/common/libharness.la $(GLIB_LIBS)

BENCH_ARGS =
bench: tests/bench/bench_transport tests/bench/bench_echo daemon/vfiouserd \
		plugins/gpio.la plugins/testdev.la
	tests/bench/bench_transport $(BENCH_ARGS)
.PHONY: bench
