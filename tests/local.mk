# SPDX-License-Identifier: BSD-3-Clause
# Tests: each area keeps its rules in its own local.mk.
include $(srcdir)/tests/common/local.mk
include $(srcdir)/tests/client/local.mk
include $(srcdir)/tests/unit/local.mk
include $(srcdir)/tests/e2e/local.mk
include $(srcdir)/tests/bench/local.mk
include $(srcdir)/tests/daemon/local.mk
include $(srcdir)/tests/protocol/local.mk
include $(srcdir)/tests/harness/local.mk
include $(srcdir)/tests/plugins/nvme/local.mk
include $(srcdir)/tests/migration/local.mk
include $(srcdir)/tests/ops/local.mk
include $(srcdir)/tests/fuzz/local.mk
include $(srcdir)/tests/soak/local.mk
include $(srcdir)/tests/hostile/local.mk
include $(srcdir)/tests/plugins/local.mk
include $(srcdir)/tests/plugins/python/local.mk
