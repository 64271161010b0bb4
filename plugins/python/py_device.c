/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * python: the vfiouserd module a script imports, and its Device type: one
 * object per configured device, the script's global `device`.  Each
 * method is a thin wrapper of the plugin API function of the same name
 * (see vfiouserd-python(3)); a negative errno from the daemon becomes an
 * OSError carrying it.
 */
#include <config.h>

#include "pyplugin.h"

#include <errno.h>
#include <string.h>

struct py_device {
    PyObject_HEAD
    struct pydev *p; /* NULL once the device is gone */
};

static PyTypeObject py_device_type;
static PyObject *declare_fn; /* the prelude's _declare(module, device) */

PyObject *py_errno(int r, const char *what)
{
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", -r, what);

    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

struct pydev *py_device_pydev(PyObject *self)
{
    struct py_device *d = (struct py_device *)self;

    if (d->p == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the device is gone");
    }
    return d->p;
}

#define DEV_OR_FAIL(p, self)                  \
    struct pydev *p = py_device_pydev(self); \
    if (p == NULL) {                          \
        return NULL;                          \
    }

/* An int result of the daemon: the value, or OSError. */
static PyObject *result(int r, const char *what)
{
    if (r < 0) {
        return py_errno(r, what);
    }
    return PyLong_FromLong(r);
}

/* ---- identity, logging ---- */

static PyObject *dev_get_name(PyObject *self, void *closure)
{
    DEV_OR_FAIL(p, self);
    return PyUnicode_FromString(vfud_dev_name(p->dev));
}

static PyObject *dev_log(PyObject *self, PyObject *args)
{
    const char *msg;
    int level;

    if (!PyArg_ParseTuple(args, "is:log", &level, &msg)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    if (level < LOG_EMERG || level > LOG_DEBUG) {
        PyErr_Format(PyExc_ValueError, "log level %d is not one of LOG_*", level);
        return NULL;
    }
    vfud_log(p->dev, level, "%s", msg);
    Py_RETURN_NONE;
}

static PyObject *log_at(PyObject *self, PyObject *arg, int level)
{
    const char *msg = PyUnicode_AsUTF8(arg);

    if (msg == NULL) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    vfud_log(p->dev, level, "%s", msg);
    Py_RETURN_NONE;
}

static PyObject *dev_debug(PyObject *s, PyObject *a) { return log_at(s, a, LOG_DEBUG); }
static PyObject *dev_info(PyObject *s, PyObject *a) { return log_at(s, a, LOG_INFO); }
static PyObject *dev_notice(PyObject *s, PyObject *a) { return log_at(s, a, LOG_NOTICE); }
static PyObject *dev_warning(PyObject *s, PyObject *a) { return log_at(s, a, LOG_WARNING); }
static PyObject *dev_error(PyObject *s, PyObject *a) { return log_at(s, a, LOG_ERR); }

static PyObject *dev_debug_enabled(PyObject *self, PyObject *unused)
{
    DEV_OR_FAIL(p, self);
    return PyBool_FromLong(vfud_debug_enabled(p->dev));
}

/* ---- declarations (realize only) ---- */

static PyObject *dev_pci_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = { "vendor_id", "device_id", "subsys_vendor_id",
                             "subsys_id", "class_code", "revision", "express", NULL };
    unsigned vendor, device, sub_vendor = 0x10000, sub = 0x10000, class_code = 0;
    unsigned revision = 0;
    int express = 0;
    struct vfud_pci_id id;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "II|IIIIp:pci_init", names, &vendor,
                                     &device, &sub_vendor, &sub, &class_code,
                                     &revision, &express)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    if (vendor > 0xffff || device > 0xffff || (sub_vendor > 0xffff && sub_vendor != 0x10000) ||
        (sub > 0xffff && sub != 0x10000) || class_code > 0xffffff || revision > 0xff) {
        PyErr_SetString(PyExc_ValueError, "pci_init: a value does not fit its field");
        return NULL;
    }
    id = (struct vfud_pci_id){
        .vendor_id = (uint16_t)vendor, .device_id = (uint16_t)device,
        /* The subsystem is the device itself unless said otherwise. */
        .subsys_vendor_id = (uint16_t)(sub_vendor == 0x10000 ? vendor : sub_vendor),
        .subsys_id = (uint16_t)(sub == 0x10000 ? device : sub),
        .class_code = class_code, .revision = (uint8_t)revision,
    };
    return result(vfud_pci_init(p->dev, express ? VFUD_PCI_EXPRESS : VFUD_PCI_CONVENTIONAL,
                                &id), "pci_init");
}

static PyObject *dev_add_cap_pm(PyObject *self, PyObject *unused)
{
    DEV_OR_FAIL(p, self);
    return result(vfud_pci_add_cap_pm(p->dev), "add_cap_pm");
}

static PyObject *dev_add_cap_msi(PyObject *self, PyObject *args)
{
    unsigned n, flags = 0;

    if (!PyArg_ParseTuple(args, "I|I:add_cap_msi", &n, &flags)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    return result(vfud_pci_add_cap_msi(p->dev, n, flags), "add_cap_msi");
}

static PyObject *dev_add_cap_msix(PyObject *self, PyObject *args)
{
    unsigned n, tbar, toff, pbar, poff;

    if (!PyArg_ParseTuple(args, "IIIII:add_cap_msix", &n, &tbar, &toff, &pbar, &poff)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    return result(vfud_pci_add_cap_msix(p->dev, n, tbar, toff, pbar, poff), "add_cap_msix");
}

static PyObject *dev_add_cap_express(PyObject *self, PyObject *args)
{
    unsigned flags = 0;

    if (!PyArg_ParseTuple(args, "|I:add_cap_express", &flags)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    return result(vfud_pci_add_cap_express(p->dev, flags), "add_cap_express");
}

static PyObject *dev_add_cap_vendor(PyObject *self, PyObject *args)
{
    Py_buffer b;
    PyObject *r;

    if (!PyArg_ParseTuple(args, "y*:add_cap_vendor", &b)) {
        return NULL;
    }
    if (py_device_pydev(self) == NULL) {
        PyBuffer_Release(&b);
        return NULL;
    }
    r = result(vfud_pci_add_cap_vendor(py_device_pydev(self)->dev, b.buf, (size_t)b.len),
               "add_cap_vendor");
    PyBuffer_Release(&b);
    return r;
}

static PyObject *dev_add_cap_dsn(PyObject *self, PyObject *args)
{
    unsigned long long serial;

    if (!PyArg_ParseTuple(args, "K:add_cap_dsn", &serial)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    return result(vfud_pci_add_ext_cap_dsn(p->dev, serial), "add_cap_dsn");
}

static PyObject *dev_add_region(PyObject *self, PyObject *args)
{
    unsigned index, flags;
    unsigned long long size;
    int r;

    if (!PyArg_ParseTuple(args, "IKI:add_region", &index, &size, &flags)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    r = vfud_region_add(p->dev, index, size, flags);
    if (r == 0 && index < VFUD_NR_REGIONS) {
        p->region_size[index] = size;
    }
    return result(r, "add_region");
}

/* areas: None (the whole region) or an iterable of (offset, size). */
static PyObject *dev_region_mmap(PyObject *self, PyObject *args)
{
    struct vfud_mmap_area areas[16];
    PyObject *list = Py_None, *seq;
    unsigned index, n = 0;
    void *mem;

    if (!PyArg_ParseTuple(args, "I|O:region_mmap", &index, &list)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    if (index >= VFUD_NR_REGIONS || p->region_size[index] == 0) {
        return py_errno(-EINVAL, "region_mmap: add the region first");
    }
    if (list != Py_None) {
        seq = PySequence_Fast(list, "region_mmap: areas must be a list of (offset, size)");
        if (seq == NULL) {
            return NULL;
        }
        if (PySequence_Fast_GET_SIZE(seq) > (Py_ssize_t)(sizeof(areas) / sizeof(areas[0]))) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "region_mmap: at most 16 areas");
            return NULL;
        }
        for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
            unsigned long long off, size;

            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "KK", &off, &size)) {
                Py_DECREF(seq);
                return NULL;
            }
            areas[n++] = (struct vfud_mmap_area){ .offset = off, .size = size };
        }
        Py_DECREF(seq);
    }
    mem = vfud_region_alloc_mmap(p->dev, index, areas, n);
    if (mem == NULL) {
        return py_errno(-errno, "region_mmap");
    }
    /* The daemon's memory lives as long as the device, and so does the
     * script that holds this view. */
    return PyMemoryView_FromMemory(mem, (Py_ssize_t)p->region_size[index], PyBUF_WRITE);
}

static PyObject *dev_irq_setup(PyObject *self, PyObject *args)
{
    unsigned type, count;

    if (!PyArg_ParseTuple(args, "II:irq_setup", &type, &count)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    return result(vfud_irq_setup(p->dev, type, count), "irq_setup");
}

/* ---- interrupts ---- */

/* True if delivered or left pending, False if the guest enabled nothing
 * (lost, as on hardware); OSError for a bad vector. */
static PyObject *dev_irq_trigger(PyObject *self, PyObject *args)
{
    unsigned n;
    int r;

    if (!PyArg_ParseTuple(args, "I:irq_trigger", &n)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    r = vfud_irq_trigger(p->dev, n);
    if (r == -ENOTCONN) {
        Py_RETURN_FALSE;
    }
    if (r < 0) {
        return py_errno(r, "irq_trigger");
    }
    Py_RETURN_TRUE;
}

static PyObject *dev_intx_deassert(PyObject *self, PyObject *unused)
{
    DEV_OR_FAIL(p, self);
    vfud_intx_deassert(p->dev);
    Py_RETURN_NONE;
}

static PyObject *dev_irq_signal(PyObject *self, PyObject *args)
{
    unsigned type;
    int r;

    if (!PyArg_ParseTuple(args, "I:irq_signal", &type)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    r = vfud_irq_signal(p->dev, type);
    if (r == -ENOTCONN) {
        Py_RETURN_FALSE;
    }
    if (r < 0) {
        return py_errno(r, "irq_signal");
    }
    Py_RETURN_TRUE;
}

/* ---- config space ---- */

static PyObject *dev_bus_master(PyObject *self, PyObject *unused)
{
    DEV_OR_FAIL(p, self);
    return PyBool_FromLong(vfud_pci_bus_master(p->dev));
}

static PyObject *dev_config_read(PyObject *self, PyObject *args)
{
    unsigned offset, len;
    uint8_t buf[4096];
    int r;

    if (!PyArg_ParseTuple(args, "II:config_read", &offset, &len)) {
        return NULL;
    }
    DEV_OR_FAIL(p, self);
    if (len > sizeof(buf)) {
        return py_errno(-EINVAL, "config_read: at most 4096 bytes");
    }
    r = vfud_pci_config_read(p->dev, offset, buf, len);
    if (r < 0) {
        return py_errno(r, "config_read");
    }
    return PyBytes_FromStringAndSize((const char *)buf, len);
}

static PyMethodDef device_methods[] = {
    { "log", dev_log, METH_VARARGS, "log(level, message)" },
    { "debug", dev_debug, METH_O, "debug(message)" },
    { "info", dev_info, METH_O, "info(message)" },
    { "notice", dev_notice, METH_O, "notice(message)" },
    { "warning", dev_warning, METH_O, "warning(message)" },
    { "error", dev_error, METH_O, "error(message)" },
    { "debug_enabled", dev_debug_enabled, METH_NOARGS, "True if debug lines are logged" },
    { "pci_init", (PyCFunction)(void (*)(void))dev_pci_init, METH_VARARGS | METH_KEYWORDS,
      "pci_init(vendor_id, device_id, subsys_vendor_id=, subsys_id=, class_code=0, "
      "revision=0, express=False)" },
    { "add_cap_pm", dev_add_cap_pm, METH_NOARGS, "add_cap_pm() -> offset" },
    { "add_cap_msi", dev_add_cap_msi, METH_VARARGS, "add_cap_msi(vectors, flags=0)" },
    { "add_cap_msix", dev_add_cap_msix, METH_VARARGS,
      "add_cap_msix(vectors, table_bar, table_offset, pba_bar, pba_offset)" },
    { "add_cap_express", dev_add_cap_express, METH_VARARGS, "add_cap_express(flags=0)" },
    { "add_cap_vendor", dev_add_cap_vendor, METH_VARARGS, "add_cap_vendor(body)" },
    { "add_cap_dsn", dev_add_cap_dsn, METH_VARARGS, "add_cap_dsn(serial)" },
    { "add_region", dev_add_region, METH_VARARGS, "add_region(index, size, flags)" },
    { "region_mmap", dev_region_mmap, METH_VARARGS,
      "region_mmap(index, areas=None) -> memoryview" },
    { "irq_setup", dev_irq_setup, METH_VARARGS, "irq_setup(type, count)" },
    { "irq_trigger", dev_irq_trigger, METH_VARARGS, "irq_trigger(vector) -> bool" },
    { "intx_deassert", dev_intx_deassert, METH_NOARGS, "intx_deassert()" },
    { "irq_signal", dev_irq_signal, METH_VARARGS, "irq_signal(IRQ_ERR or IRQ_REQ) -> bool" },
    { "bus_master", dev_bus_master, METH_NOARGS, "bus_master() -> bool" },
    { "config_read", dev_config_read, METH_VARARGS, "config_read(offset, length) -> bytes" },
    { "dma_read", py_dma_read, METH_VARARGS, "dma_read(iova, length) -> bytes" },
    { "dma_write", py_dma_write, METH_VARARGS, "dma_write(iova, data)" },
    { "dma_map", py_dma_map, METH_VARARGS, "dma_map(iova, length, prot) -> Sg" },
    { "timer", py_watch_timer, METH_VARARGS, "timer(interval_ms, fn) -> Watch" },
    { "watch_fd", py_watch_fd, METH_VARARGS, "watch_fd(fd, events, fn) -> Watch" },
    { "defer", py_defer, METH_VARARGS, "defer(fn, *args)" },
    { "submit", py_submit, METH_VARARGS, "submit(fn, *args)" },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef device_getset[] = {
    { "name", dev_get_name, NULL, "the device's name (its section)", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject py_device_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfiouserd.Device",
    .tp_basicsize = sizeof(struct py_device),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A device served by the daemon: the script's global `device`.",
    .tp_methods = device_methods,
    .tp_getset = device_getset,
};

PyObject *py_device_new(struct pydev *p)
{
    struct py_device *d = PyObject_New(struct py_device, &py_device_type);

    if (d != NULL) {
        d->p = p;
    }
    return (PyObject *)d;
}

void py_device_detach(PyObject *device)
{
    ((struct py_device *)device)->p = NULL;
}

int py_declare(struct pydev *p)
{
    int err = 0;
    PyObject *r = py_call_obj(p, "the module-level declarations", declare_fn,
                              Py_BuildValue("(OO)", p->module, p->device), &err);

    Py_XDECREF(r);
    return r != NULL ? 0 : err;
}

/* ---- the module ---- */

/* Module-level declarations, in Python: what realize() would say. */
static const char prelude[] =
    "def _declare(mod, dev):\n"
    "    pci = getattr(mod, 'PCI_ID', None)\n"
    "    if pci is not None:\n"
    "        dev.pci_init(**pci)\n"
    "    for cap in getattr(mod, 'CAPABILITIES', ()):\n"
    "        getattr(dev, 'add_cap_' + cap[0])(*cap[1:])\n"
    "    for index, spec in getattr(mod, 'REGIONS', {}).items():\n"
    "        dev.add_region(index, *spec)\n"
    "    for kind, count in getattr(mod, 'IRQS', {}).items():\n"
    "        dev.irq_setup(kind, count)\n";

static const struct {
    const char *name;
    long value;
} constants[] = {
    { "BAR0", VFUD_REGION_BAR0 }, { "BAR1", VFUD_REGION_BAR1 },
    { "BAR2", VFUD_REGION_BAR2 }, { "BAR3", VFUD_REGION_BAR3 },
    { "BAR4", VFUD_REGION_BAR4 }, { "BAR5", VFUD_REGION_BAR5 },
    { "ROM", VFUD_REGION_ROM }, { "VGA", VFUD_REGION_VGA },
    { "READ", VFUD_REGION_READ }, { "WRITE", VFUD_REGION_WRITE },
    { "RW", VFUD_REGION_RW }, { "IO", VFUD_REGION_IO },
    { "MEM64", VFUD_REGION_64BIT }, { "PREFETCH", VFUD_REGION_PREFETCH },
    { "IRQ_INTX", VFUD_IRQ_INTX }, { "IRQ_MSI", VFUD_IRQ_MSI },
    { "IRQ_MSIX", VFUD_IRQ_MSIX }, { "IRQ_ERR", VFUD_IRQ_ERR },
    { "IRQ_REQ", VFUD_IRQ_REQ },
    { "MSI_64BIT", VFUD_MSI_64BIT }, { "MSI_MASKABLE", VFUD_MSI_MASKABLE },
    { "PCIE_FLR", VFUD_PCIE_FLR },
    { "DMA_READ", VFUD_DMA_READ }, { "DMA_WRITE", VFUD_DMA_WRITE },
    { "RESET_DEVICE", VFUD_RESET_DEVICE }, { "RESET_FLR", VFUD_RESET_FLR },
    { "EV_IN", VFUD_EV_IN }, { "EV_OUT", VFUD_EV_OUT }, { "EV_ERR", VFUD_EV_ERR },
    { "LOG_ERR", LOG_ERR }, { "LOG_WARNING", LOG_WARNING },
    { "LOG_NOTICE", LOG_NOTICE }, { "LOG_INFO", LOG_INFO }, { "LOG_DEBUG", LOG_DEBUG },
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vfiouserd",
    .m_doc = "The vfiouserd daemon, as seen by a device script (vfiouserd-python(3)).",
    .m_size = -1,
};

PyObject *py_module_init(void)
{
    PyObject *m = PyModule_Create(&module_def);
    PyObject *r;

    if (m == NULL || PyType_Ready(&py_device_type) < 0 || py_dma_ready(m) < 0 ||
        py_watch_ready(m) < 0) {
        goto fail;
    }
    Py_INCREF(&py_device_type);
    if (PyModule_AddObject(m, "Device", (PyObject *)&py_device_type) < 0) {
        Py_DECREF(&py_device_type);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++) {
        if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0) {
            goto fail;
        }
    }
    py_timeout_exc = PyErr_NewExceptionWithDoc(
        "vfiouserd.CallbackTimeout",
        "Raised in a script callback that ran longer than callback-timeout-ms.",
        PyExc_BaseException, NULL);
    if (py_timeout_exc == NULL) {
        goto fail;
    }
    Py_INCREF(py_timeout_exc);
    if (PyModule_AddObject(m, "CallbackTimeout", py_timeout_exc) < 0) {
        goto fail;
    }
    r = PyRun_String(prelude, Py_file_input, PyModule_GetDict(m), PyModule_GetDict(m));
    if (r == NULL) {
        goto fail;
    }
    Py_DECREF(r);
    declare_fn = PyObject_GetAttrString(m, "_declare");
    if (declare_fn == NULL) {
        goto fail;
    }
    return m;
fail:
    Py_XDECREF(m);
    return NULL;
}
