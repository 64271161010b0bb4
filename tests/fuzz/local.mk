# tests/fuzz: the message engine under libFuzzer (fuzz_engine.c), its seed
# corpus made from QEMU captures (corpus/, by capture2seed.py), and inputs
# that once failed (regressions/).
#
#   make fuzz [FUZZ_SECONDS=300] [FUZZ_ARGS=...]   fuzz for that long
#   make fuzz-smoke                                 60 s, what CI runs
#   make fuzz-coverage                              line coverage of the corpus
#
# Both need clang with libFuzzer (configure checks; Debian: clang and
# libclang-rt-14-dev).  The target is built by clang with ASAN and UBSAN
# from the daemon's own sources (DAEMON_CORE_SOURCES) and the plugins'
# sources; automake's per-program compiler is always $(CC), hence the
# explicit rule.  New corpus entries go to tests/fuzz/corpus.work in the
# build tree, failing inputs to tests/fuzz/crashes/: copy one into
# regressions/ (source tree) once the bug is fixed, and make check replays
# it ever after (test_fuzz_replay, built by $(CC) without libFuzzer).
EXTRA_DIST += tests/fuzz/capture2seed.py tests/fuzz/corpus tests/fuzz/regressions

FUZZ_TARGET_SOURCES = tests/fuzz/fuzz_engine.c tests/fuzz/fuzz.h \
	tests/fuzz/plugin_testdev.c tests/fuzz/plugin_gpio.c
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fuzz

if HAVE_CHECK
check_PROGRAMS += tests/fuzz/test_fuzz_replay
TESTS += tests/fuzz/test_fuzz_replay
endif
tests_fuzz_test_fuzz_replay_SOURCES = tests/fuzz/fuzz_main.c \
	$(FUZZ_TARGET_SOURCES) $(DAEMON_CORE_SOURCES)
tests_fuzz_test_fuzz_replay_CPPFLAGS = $(FUZZ_CPPFLAGS) -DFUZZ_REPLAY \
	-DFUZZ_SRCDIR='"$(abs_top_srcdir)/tests/fuzz"'
tests_fuzz_test_fuzz_replay_CFLAGS = $(DAEMON_CFLAGS)
tests_fuzz_test_fuzz_replay_LDADD = $(DAEMON_LIBS)

FUZZ_SECONDS = 300
FUZZ_ARGS =
FUZZ_CFLAGS = -std=gnu11 -pthread -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_C_FILES = $(filter %.c,$(FUZZ_TARGET_SOURCES) $(DAEMON_CORE_SOURCES))
CLEANFILES += tests/fuzz/fuzz_engine

if HAVE_LIBFUZZER
tests/fuzz/fuzz_engine: $(addprefix $(srcdir)/,$(FUZZ_TARGET_SOURCES) $(DAEMON_CORE_SOURCES)) config.h
	$(AM_V_GEN)$(CLANG) $(FUZZ_CFLAGS) $(DEFS) $(FUZZ_CPPFLAGS) $(CPPFLAGS) \
		$(GLIB_CFLAGS) $(JSONC_CFLAGS) $(INIH_CFLAGS) \
		$(addprefix $(srcdir)/,$(FUZZ_C_FILES)) -o $@ $(DAEMON_LIBS)

# -max_len fits the longest capture; a stuck input fails after 30 s.
# -print_funcs=0: printing new functions starts llvm-symbolizer, whose
# pipes would look like fds leaked by the input.
fuzz: tests/fuzz/fuzz_engine
	@mkdir -p tests/fuzz/corpus.work tests/fuzz/crashes
	UBSAN_OPTIONS=print_stacktrace=1 tests/fuzz/fuzz_engine \
		-max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=30 \
		-rss_limit_mb=4096 -print_final_stats=1 -print_funcs=0 \
		-artifact_prefix=tests/fuzz/crashes/ $(FUZZ_ARGS) \
		tests/fuzz/corpus.work $(srcdir)/tests/fuzz/corpus

fuzz-smoke:
	$(MAKE) $(AM_MAKEFLAGS) fuzz FUZZ_SECONDS=60

# Line coverage of the corpus (seeds and what make fuzz found), replayed by
# a clang build with source-based coverage: the report lists the daemon's
# and the plugins' files.
LLVM_PROFDATA = llvm-profdata
LLVM_COV = llvm-cov
FUZZ_COV_FLAGS = -std=gnu11 -pthread -g -O0 -fprofile-instr-generate -fcoverage-mapping
tests/fuzz/fuzz_cov: $(addprefix $(srcdir)/,$(FUZZ_TARGET_SOURCES) $(DAEMON_CORE_SOURCES)) \
		$(srcdir)/tests/fuzz/fuzz_main.c config.h
	$(AM_V_GEN)$(CLANG) $(FUZZ_COV_FLAGS) $(DEFS) $(FUZZ_CPPFLAGS) $(CPPFLAGS) \
		-DFUZZ_REPLAY -DFUZZ_SRCDIR='"$(abs_top_srcdir)/tests/fuzz"' \
		$(GLIB_CFLAGS) $(JSONC_CFLAGS) $(INIH_CFLAGS) \
		$(addprefix $(srcdir)/,$(FUZZ_C_FILES)) $(srcdir)/tests/fuzz/fuzz_main.c \
		-o $@ $(DAEMON_LIBS)
CLEANFILES += tests/fuzz/fuzz_cov tests/fuzz/fuzz.profraw tests/fuzz/fuzz.profdata

fuzz-coverage: tests/fuzz/fuzz_cov
	@mkdir -p tests/fuzz/corpus.work
	FUZZ_LOG=error LLVM_PROFILE_FILE=tests/fuzz/fuzz.profraw tests/fuzz/fuzz_cov \
		$(srcdir)/tests/fuzz/corpus tests/fuzz/corpus.work > /dev/null
	$(LLVM_PROFDATA) merge -o tests/fuzz/fuzz.profdata tests/fuzz/fuzz.profraw
	$(LLVM_COV) report tests/fuzz/fuzz_cov -instr-profile=tests/fuzz/fuzz.profdata \
		$(addprefix $(srcdir)/,$(filter daemon/%.c plugins/%.c,$(DAEMON_CORE_SOURCES)) \
		plugins/testdev/testdev.c plugins/gpio/gpio.c)
else
fuzz fuzz-smoke fuzz-coverage:
	@echo "make $@: needs clang with libFuzzer (Debian: clang libclang-rt-14-dev); re-run configure"; exit 1
endif

clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/corpus.work tests/fuzz/crashes
