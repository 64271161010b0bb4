# SPDX-License-Identifier: BSD-3-Clause
# tests/fuzz: two libFuzzer targets, their seed corpora and the inputs that
# once failed them.
#
#   engine  the daemon's message engine serving real devices
#           (fuzz_engine.c); seeds made from QEMU captures (corpus/, by
#           capture2seed.py); failed inputs in regressions/
#   nvme    the NVMe plugin driven by a hostile guest through the fake
#           daemon of tests/harness (fuzz_nvme.c); seeds from Linux's probe
#           sequence and I/O patterns (corpus-nvme/, written by
#           test_fuzz_nvme_seeds); failed inputs in regressions-nvme/
#
#   make fuzz [FUZZ_TARGET="engine nvme"] [FUZZ_SECONDS=300] [FUZZ_ARGS=...]
#                      fuzz each target in turn (never two at once), that
#                      long each; FUZZ_ARGS go to every libFuzzer run
#   make fuzz-smoke    60 s per target (2 minutes), what CI runs
#   make fuzz-coverage [FUZZ_TARGET=...]
#                      line coverage of each target's corpus
#   make fuzz-nvme-seeds
#                      rewrite corpus-nvme/ from test_fuzz_nvme_seeds (make
#                      check fails while the two differ)
#
# Fuzzing needs clang with libFuzzer (configure checks; Debian: clang and
# libclang-rt-14-dev); the nvme target also the NVMe plugin (liburing).
# Targets are built by clang with ASAN and UBSAN from the sources they
# test; automake's per-program compiler is always $(CC), hence the explicit
# rules.  New corpus entries go to tests/fuzz/corpus.work and
# corpus-nvme.work in the build tree, failing inputs to tests/fuzz/crashes/
# and crashes-nvme/: copy one into regressions/ or regressions-nvme/
# (source tree) once the bug is fixed, and make check replays it ever after
# (test_fuzz_replay, test_fuzz_nvme_replay: built by $(CC) without
# libFuzzer).
EXTRA_DIST += tests/fuzz/capture2seed.py tests/fuzz/corpus tests/fuzz/regressions \
	tests/fuzz/corpus-nvme tests/fuzz/regressions-nvme

FUZZ_TARGET_SOURCES = tests/fuzz/fuzz_engine.c tests/fuzz/fuzz.h \
	tests/fuzz/plugin_testdev.c tests/fuzz/plugin_gpio.c
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/fuzz
FUZZ_ENGINE_CPPFLAGS = $(ENGINE_CPPFLAGS) -I$(top_srcdir)/tests/fuzz
# What the engine target is built from besides its own files: the engine
# and the shared code, nothing of the process (daemon/).
FUZZ_ENGINE_FILES = $(ENGINE_SOURCES) $(PROTOCOL_SOURCES) $(UTILS_SOURCES)
FUZZ_ENGINE_LIBS = $(GLIB_LIBS) $(JSONC_LIBS) $(LIBURING_LIBS) $(LIBS)

# The NVMe target: the plugin's sources but nvme.c (plugin_nvme.c renames
# its registration) and ctrl.c (fuzz_nvme_sync.c includes it), and the
# fake daemon.  A file added to the plugin must be added here too (the
# link says so).
FUZZ_NVME_PLUGIN_SOURCES = plugins/nvme/admin.c plugins/nvme/dptr.c \
	plugins/nvme/io.c plugins/nvme/ns.c plugins/nvme/queue.c \
	plugins/nvme/backend_uring.c plugins/nvme/backend_null.c \
	plugins/nvme/remote.c plugins/nvme/remote.h \
	plugins/nvme/mig_format.c plugins/nvme/mig_state.c \
	plugins/nvme/nvme_int.h plugins/nvme/nvme_spec.h plugins/nvme/nvme_mig.h
if HAVE_LIBNBD
FUZZ_NVME_PLUGIN_SOURCES += plugins/nvme/backend_nbd.c
endif
if HAVE_LIBRBD
FUZZ_NVME_PLUGIN_SOURCES += plugins/nvme/backend_rbd.c
endif
FUZZ_NVME_SOURCES = tests/fuzz/fuzz_nvme.c tests/fuzz/fuzz_nvme.h \
	tests/fuzz/fuzz_nvme_priv.h tests/fuzz/fuzz_nvme_guest.c \
	tests/fuzz/fuzz_nvme_sync.c tests/fuzz/plugin_nvme.c tests/fuzz/fuzz.h \
	$(FUZZ_NVME_PLUGIN_SOURCES) \
	tests/harness/fake_vfud.h tests/harness/fake_priv.h \
	tests/harness/fake_dev.c tests/harness/fake_pci.c \
	tests/harness/fake_irq.c tests/harness/fake_dma.c \
	tests/harness/fake_loop.c common/utils/util.c common/utils/util.h \
	engine/pci_config.c engine/pci_caps.c engine/pci_config.h
FUZZ_NVME_CPPFLAGS = $(FUZZ_CPPFLAGS) -I$(top_srcdir)/tests/harness
FUZZ_NVME_LIBS = $(LIBURING_LIBS) $(LIBNBD_LIBS) $(LIBRBD_LIBS) $(LIBS)

if HAVE_CHECK
check_PROGRAMS += tests/fuzz/test_fuzz_replay tests/fuzz/test_fuzz_nvme_seeds
TESTS += tests/fuzz/test_fuzz_replay tests/fuzz/test_fuzz_nvme_seeds
if ENABLE_NVME
check_PROGRAMS += tests/fuzz/test_fuzz_nvme_replay
TESTS += tests/fuzz/test_fuzz_nvme_replay
endif
endif
tests_fuzz_test_fuzz_replay_SOURCES = tests/fuzz/fuzz_main.c \
	$(FUZZ_TARGET_SOURCES)
tests_fuzz_test_fuzz_replay_CPPFLAGS = $(FUZZ_ENGINE_CPPFLAGS) -DFUZZ_REPLAY \
	-DFUZZ_SRCDIR='"$(abs_top_srcdir)/tests/fuzz"'
tests_fuzz_test_fuzz_replay_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS)
tests_fuzz_test_fuzz_replay_LDADD = $(ENGINE_LIBS)

tests_fuzz_test_fuzz_nvme_replay_SOURCES = tests/fuzz/fuzz_main.c $(FUZZ_NVME_SOURCES)
tests_fuzz_test_fuzz_nvme_replay_CPPFLAGS = $(FUZZ_NVME_CPPFLAGS) -DFUZZ_REPLAY \
	-DFUZZ_SRCDIR='"$(abs_top_srcdir)/tests/fuzz"' \
	-DFUZZ_CORPUS='"corpus-nvme"' -DFUZZ_REGRESSIONS='"regressions-nvme"'
tests_fuzz_test_fuzz_nvme_replay_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS) $(LIBNBD_CFLAGS) \
	$(GLIB_CFLAGS)
tests_fuzz_test_fuzz_nvme_replay_LDADD = $(FUZZ_NVME_LIBS) $(GLIB_LIBS)

tests_fuzz_test_fuzz_nvme_seeds_SOURCES = tests/fuzz/fuzz_nvme_seeds.c \
	tests/fuzz/fuzz_nvme.h plugins/nvme/nvme_spec.h
tests_fuzz_test_fuzz_nvme_seeds_CPPFLAGS = $(FUZZ_CPPFLAGS) \
	-DFUZZ_SRCDIR='"$(abs_top_srcdir)/tests/fuzz"'

fuzz-nvme-seeds: tests/fuzz/test_fuzz_nvme_seeds
	tests/fuzz/test_fuzz_nvme_seeds --write $(srcdir)/tests/fuzz/corpus-nvme

if ENABLE_NVME
FUZZ_TARGET = engine nvme
else
FUZZ_TARGET = engine
endif
FUZZ_SECONDS = 300
FUZZ_ARGS =
FUZZ_CFLAGS = -std=gnu11 -pthread -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_C_FILES = $(filter %.c,$(FUZZ_TARGET_SOURCES) $(FUZZ_ENGINE_FILES))
FUZZ_NVME_C_FILES = $(filter %.c,$(FUZZ_NVME_SOURCES))
# what the NVMe target's sources include besides their own headers
FUZZ_NVME_INCLUDED = $(srcdir)/plugins/nvme/ctrl.c $(srcdir)/plugins/nvme/nvme.c
CLEANFILES += tests/fuzz/fuzz_engine tests/fuzz/fuzz_nvme

if HAVE_LIBFUZZER
tests/fuzz/fuzz_engine: $(addprefix $(srcdir)/,$(FUZZ_TARGET_SOURCES) $(FUZZ_ENGINE_FILES)) config.h
	$(AM_V_GEN)$(CLANG) $(FUZZ_CFLAGS) $(DEFS) $(FUZZ_ENGINE_CPPFLAGS) $(CPPFLAGS) \
		$(GLIB_CFLAGS) $(JSONC_CFLAGS) $(LIBURING_CFLAGS) \
		$(addprefix $(srcdir)/,$(FUZZ_C_FILES)) -o $@ $(FUZZ_ENGINE_LIBS)

tests/fuzz/fuzz_nvme: $(addprefix $(srcdir)/,$(FUZZ_NVME_SOURCES)) \
		$(FUZZ_NVME_INCLUDED) config.h
	$(AM_V_GEN)$(CLANG) $(FUZZ_CFLAGS) $(DEFS) $(FUZZ_NVME_CPPFLAGS) $(CPPFLAGS) \
		$(LIBURING_CFLAGS) $(LIBNBD_CFLAGS) \
		$(addprefix $(srcdir)/,$(FUZZ_NVME_C_FILES)) \
		-o $@ $(FUZZ_NVME_LIBS)

# One target after the other: each wants a CPU of its own.
fuzz:
	@for t in $(FUZZ_TARGET); do \
	    $(MAKE) $(AM_MAKEFLAGS) fuzz-run-$$t || exit 1; \
	done

fuzz-smoke:
	$(MAKE) $(AM_MAKEFLAGS) fuzz FUZZ_SECONDS=60

# -max_len fits the longest capture; a stuck input fails after 30 s.
# -print_funcs=0: printing new functions starts llvm-symbolizer, whose
# pipes would look like fds leaked by the input.
fuzz-run-engine: tests/fuzz/fuzz_engine
	@mkdir -p tests/fuzz/corpus.work tests/fuzz/crashes
	UBSAN_OPTIONS=print_stacktrace=1 tests/fuzz/fuzz_engine \
		-max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=30 \
		-rss_limit_mb=4096 -print_final_stats=1 -print_funcs=0 \
		-artifact_prefix=tests/fuzz/crashes/ $(FUZZ_ARGS) \
		tests/fuzz/corpus.work $(srcdir)/tests/fuzz/corpus

# An NVMe input runs in milliseconds: one still running after 10 s hangs.
fuzz-run-nvme: tests/fuzz/fuzz_nvme
	@mkdir -p tests/fuzz/corpus-nvme.work tests/fuzz/crashes-nvme
	UBSAN_OPTIONS=print_stacktrace=1 tests/fuzz/fuzz_nvme \
		-max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1 -print_funcs=0 \
		-artifact_prefix=tests/fuzz/crashes-nvme/ $(FUZZ_ARGS) \
		tests/fuzz/corpus-nvme.work $(srcdir)/tests/fuzz/corpus-nvme

# Line coverage of a corpus (seeds, regressions and what make fuzz found),
# replayed by a clang build with source-based coverage: the report lists
# the files under test.
LLVM_PROFDATA = llvm-profdata
LLVM_COV = llvm-cov
FUZZ_COV_FLAGS = -std=gnu11 -pthread -g -O0 -fprofile-instr-generate -fcoverage-mapping
tests/fuzz/fuzz_cov: $(addprefix $(srcdir)/,$(FUZZ_TARGET_SOURCES) $(FUZZ_ENGINE_FILES)) \
		$(srcdir)/tests/fuzz/fuzz_main.c config.h
	$(AM_V_GEN)$(CLANG) $(FUZZ_COV_FLAGS) $(DEFS) $(FUZZ_ENGINE_CPPFLAGS) $(CPPFLAGS) \
		-DFUZZ_REPLAY -DFUZZ_SRCDIR='"$(abs_top_srcdir)/tests/fuzz"' \
		$(GLIB_CFLAGS) $(JSONC_CFLAGS) $(LIBURING_CFLAGS) \
		$(addprefix $(srcdir)/,$(FUZZ_C_FILES)) $(srcdir)/tests/fuzz/fuzz_main.c \
		-o $@ $(FUZZ_ENGINE_LIBS)
tests/fuzz/fuzz_nvme_cov: $(addprefix $(srcdir)/,$(FUZZ_NVME_SOURCES)) \
		$(FUZZ_NVME_INCLUDED) $(srcdir)/tests/fuzz/fuzz_main.c config.h
	$(AM_V_GEN)$(CLANG) $(FUZZ_COV_FLAGS) $(DEFS) $(FUZZ_NVME_CPPFLAGS) $(CPPFLAGS) \
		-DFUZZ_REPLAY -DFUZZ_SRCDIR='"$(abs_top_srcdir)/tests/fuzz"' \
		-DFUZZ_CORPUS='"corpus-nvme"' -DFUZZ_REGRESSIONS='"regressions-nvme"' \
		$(LIBURING_CFLAGS) $(GLIB_CFLAGS) \
		$(addprefix $(srcdir)/,$(FUZZ_NVME_C_FILES)) $(srcdir)/tests/fuzz/fuzz_main.c \
		-o $@ $(FUZZ_NVME_LIBS) $(GLIB_LIBS)
CLEANFILES += tests/fuzz/fuzz_cov tests/fuzz/fuzz.profraw tests/fuzz/fuzz.profdata \
	tests/fuzz/fuzz_nvme_cov tests/fuzz/fuzz_nvme.profraw tests/fuzz/fuzz_nvme.profdata

fuzz-coverage:
	@for t in $(FUZZ_TARGET); do \
	    $(MAKE) $(AM_MAKEFLAGS) fuzz-coverage-$$t || exit 1; \
	done

fuzz-coverage-engine: tests/fuzz/fuzz_cov
	@mkdir -p tests/fuzz/corpus.work
	FUZZ_LOG=error LLVM_PROFILE_FILE=tests/fuzz/fuzz.profraw tests/fuzz/fuzz_cov \
		$(srcdir)/tests/fuzz/corpus $(srcdir)/tests/fuzz/regressions \
		tests/fuzz/corpus.work > /dev/null
	$(LLVM_PROFDATA) merge -o tests/fuzz/fuzz.profdata tests/fuzz/fuzz.profraw
	$(LLVM_COV) report tests/fuzz/fuzz_cov -instr-profile=tests/fuzz/fuzz.profdata \
		$(addprefix $(srcdir)/,$(filter %.c,$(FUZZ_ENGINE_FILES)) \
		plugins/testdev/testdev.c plugins/gpio/gpio.c plugins/gpio/gpio_host.c)

fuzz-coverage-nvme: tests/fuzz/fuzz_nvme_cov
	@mkdir -p tests/fuzz/corpus-nvme.work
	FUZZ_LOG=error LLVM_PROFILE_FILE=tests/fuzz/fuzz_nvme.profraw tests/fuzz/fuzz_nvme_cov \
		$(srcdir)/tests/fuzz/corpus-nvme $(srcdir)/tests/fuzz/regressions-nvme \
		tests/fuzz/corpus-nvme.work > /dev/null
	$(LLVM_PROFDATA) merge -o tests/fuzz/fuzz_nvme.profdata tests/fuzz/fuzz_nvme.profraw
	$(LLVM_COV) report tests/fuzz/fuzz_nvme_cov -instr-profile=tests/fuzz/fuzz_nvme.profdata \
		$(addprefix $(srcdir)/,$(filter %.c,$(FUZZ_NVME_PLUGIN_SOURCES))) \
		$(FUZZ_NVME_INCLUDED)
else
fuzz fuzz-smoke fuzz-coverage fuzz-run-engine fuzz-run-nvme fuzz-coverage-engine \
		fuzz-coverage-nvme:
	@echo "make $@: needs clang with libFuzzer (Debian: clang libclang-rt-14-dev); re-run configure"; exit 1
endif

clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/corpus.work tests/fuzz/crashes \
		tests/fuzz/corpus-nvme.work tests/fuzz/crashes-nvme
