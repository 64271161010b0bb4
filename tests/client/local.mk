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
