/* PCI configuration space emulation: see pci_config.h.  (stub) */
#include "pci_config.h"
