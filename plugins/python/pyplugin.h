/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * python: the parts of the plugin shared between its files.
 *
 *   python.c     the plugin struct: daemon callbacks -> script functions
 *   py_interp.c  the interpreter: start-up, the GIL, calling the script,
 *                exceptions into the log, the time limit on a call
 *   py_device.c  the vfiouserd module and its Device type (what a script
 *                may ask of the daemon)
 *   py_dma.c     guest memory: dma_read/dma_write and mapped views
 *   py_watch.c   timers, fd watches, deferred and submitted work
 *
 * Python.h comes first, as CPython asks.
 */
#ifndef PYPLUGIN_H
#define PYPLUGIN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdbool.h>
#include <stdint.h>

#include <vfiouserd/plugin.h>

/* The time a script callback may run before it is interrupted, unless the
 * section says otherwise (callback-timeout-ms). */
#define PYDEV_TIMEOUT_MS 2000u

/* One device: the daemon's instance data of the plugin. */
struct pydev {
    vfud_dev *dev;
    char *script;        /* path, from the "script" key */
    unsigned timeout_ms; /* 0: no limit */
    PyObject *keys;      /* other (key, value) pairs in order, for config() */

    PyObject *module;    /* the script, a module of its own */
    PyObject *device;    /* its vfiouserd.Device */
    char *module_name;   /* in sys.modules */
    uint64_t region_size[VFUD_NR_REGIONS];
    bool realizing;      /* declarations allowed */
};

/* ---- py_interp.c ---- */
/* vfiouserd.CallbackTimeout, raised in a call that overran its limit. */
extern PyObject *py_timeout_exc;
/* Start the interpreter once per process; 0 or -errno. */
int py_start(void);
/* Take and drop the GIL on this thread (any thread). */
PyGILState_STATE py_enter(void);
void py_leave(PyGILState_STATE s);
/* Call module attribute `fn` of the device's script with args (a tuple,
 * stolen; NULL for none), under the time limit.  Returns the result, or
 * NULL with *err set to the negative errno to answer: a missing function
 * gives -ENOSYS without a log line, an exception is logged (OSError with
 * an errno: as the failure's reason; anything else: with its traceback).
 * Call with the GIL held. */
PyObject *py_call(struct pydev *p, const char *fn, PyObject *args, int *err);
/* Same for a callable object; what names it in the log. */
PyObject *py_call_obj(struct pydev *p, const char *what, PyObject *callable,
                      PyObject *args, int *err);
/* True if the script defines a callable `fn`. */
bool py_has(struct pydev *p, const char *fn);
/* Log the pending exception with its traceback (GIL held); returns the
 * errno to answer (negative). */
int py_report(struct pydev *p, const char *what);

/* ---- py_device.c ---- */
/* The vfiouserd module's init function (for PyImport_AppendInittab). */
PyObject *py_module_init(void);
/* A new vfiouserd.Device for p (GIL held). */
PyObject *py_device_new(struct pydev *p);
/* The device is going away: its methods fail from now on. */
void py_device_detach(PyObject *device);
/* Declarations from module-level values (PCI_ID, CAPABILITIES, REGIONS,
 * IRQS); 0 or -errno, logged. */
int py_declare(struct pydev *p);
/* Turn a negative errno from the daemon into a Python OSError; NULL. */
PyObject *py_errno(int r, const char *what);
/* The struct pydev of a Device, or NULL with an exception set. */
struct pydev *py_device_pydev(PyObject *self);

/* ---- py_dma.c ---- */
extern PyTypeObject py_sg_type;
PyObject *py_dma_read(PyObject *self, PyObject *args);
PyObject *py_dma_write(PyObject *self, PyObject *args);
PyObject *py_dma_map(PyObject *self, PyObject *args);
int py_dma_ready(PyObject *module);

/* ---- py_watch.c ---- */
extern PyTypeObject py_watch_type;
PyObject *py_watch_timer(PyObject *self, PyObject *args);
PyObject *py_watch_fd(PyObject *self, PyObject *args);
PyObject *py_defer(PyObject *self, PyObject *args);
PyObject *py_submit(PyObject *self, PyObject *args);
int py_watch_ready(PyObject *module);
/* Remove every watch of the device (GIL held). */
void py_watch_remove_all(struct pydev *p);

#endif
