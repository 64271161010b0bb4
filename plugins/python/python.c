/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * python: a device model written in Python.  The section names a script
 * (`script = mydevice.py`); the plugin runs it as a module of its own and
 * turns every daemon callback into a call of the module's function of the
 * same name, when the script has one.  vfiouserd-python(3) is the
 * reference; pyplugin.h says which file does what.
 *
 * Failures: an exception in the script is logged with its traceback and
 * the callback fails with -EIO, an OSError carrying an errno fails it with
 * that errno (the script's way to refuse), a call that overruns
 * callback-timeout-ms is interrupted (py_interp.c).  Nothing a script does
 * in Python takes the daemon down.
 *
 * Migration: the plugin's state (version 1) is the script's STATE_VERSION
 * as a little-endian u32, then the bytes save_state() returned.
 */
#include <config.h>

#include "pyplugin.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PY_STATE_VERSION 1
#define SCRIPT_MAX (4u << 20)

static int python_load(void)
{
    return py_start();
}

static int python_create(vfud_dev *dev)
{
    struct pydev *p = calloc(1, sizeof(*p));
    PyGILState_STATE g;

    if (p == NULL) {
        return -ENOMEM;
    }
    p->dev = dev;
    p->timeout_ms = PYDEV_TIMEOUT_MS;
    g = py_enter();
    p->keys = PyList_New(0);
    py_leave(g);
    if (p->keys == NULL) {
        free(p);
        return -ENOMEM;
    }
    vfud_set_private(dev, p);
    return 0;
}

static void python_destroy(vfud_dev *dev)
{
    struct pydev *p = vfud_get_private(dev);
    PyGILState_STATE g;

    if (p == NULL) {
        return;
    }
    g = py_enter();
    py_watch_remove_all(p);
    if (p->device != NULL) {
        py_device_detach(p->device);
    }
    if (p->module_name != NULL) {
        PyObject *mods = PyImport_GetModuleDict();

        if (PyDict_DelItemString(mods, p->module_name) < 0) {
            PyErr_Clear();
        }
    }
    if (p->module != NULL) {
        /* Break the module <-> function cycles now, not at some later
         * collection: the script's objects go with its device. */
        PyDict_Clear(PyModule_GetDict(p->module));
    }
    Py_CLEAR(p->module);
    Py_CLEAR(p->device);
    Py_CLEAR(p->keys);
    /* What is left in cycles may hold guest memory (py_dma.c) that needs
     * p: collect it while p is still there. */
    PyGC_Collect();
    py_leave(g);
    free(p->module_name);
    free(p->script);
    free(p);
}

static int python_config(vfud_dev *dev, const char *key, const char *value)
{
    struct pydev *p = vfud_get_private(dev);
    PyGILState_STATE g;
    PyObject *kv;
    uint64_t n;
    int r = 0;

    if (strcmp(key, "script") == 0) {
        free(p->script);
        p->script = strdup(value);
        return p->script != NULL ? 0 : -ENOMEM;
    }
    if (strcmp(key, "callback-timeout-ms") == 0) {
        if (vfud_parse_u64(value, &n) < 0 || n > 600000) {
            vfud_error(dev, "callback-timeout-ms: expected 0..600000, not \"%s\"", value);
            return -EINVAL;
        }
        p->timeout_ms = (unsigned)n;
        return 0;
    }
    /* The script's: kept until it is loaded, in order. */
    g = py_enter();
    kv = Py_BuildValue("(ss)", key, value);
    if (kv == NULL || PyList_Append(p->keys, kv) < 0) {
        PyErr_Clear();
        r = -ENOMEM;
    }
    Py_XDECREF(kv);
    py_leave(g);
    return r;
}

/* Read the script; NULL with the reason given. */
static char *read_script(struct pydev *p)
{
    FILE *f = fopen(p->script, "re");
    char *text;
    size_t n;

    if (f == NULL) {
        vfud_error(p->dev, "script %s: %s", p->script, strerror(errno));
        return NULL;
    }
    text = malloc(SCRIPT_MAX + 1);
    n = text != NULL ? fread(text, 1, SCRIPT_MAX + 1, f) : 0;
    if (text == NULL || ferror(f) || n > SCRIPT_MAX) {
        vfud_error(p->dev, "script %s: %s", p->script,
                   text == NULL ? "out of memory"
                   : n > SCRIPT_MAX ? "larger than 4 MiB" : "read error");
        free(text);
        fclose(f);
        return NULL;
    }
    fclose(f);
    text[n] = '\0';
    return text;
}

/* Put the script's directory first on sys.path, for its own modules. */
static int add_script_dir(struct pydev *p)
{
    char *copy = strdup(p->script);
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    PyObject *dir;
    int r = 0;

    if (copy == NULL) {
        return -1;
    }
    dir = PyUnicode_DecodeFSDefault(dirname(copy));
    free(copy);
    if (dir == NULL) {
        return -1;
    }
    if (path != NULL && PyList_Check(path)) {
        r = PySequence_Contains(path, dir);
        if (r == 0) {
            r = PyList_Insert(path, 0, dir);
        }
    }
    Py_DECREF(dir);
    return r < 0 ? -1 : 0;
}

/* Run the script as a module of its own, with `device` already set. */
static int load_script(struct pydev *p)
{
    char *text = read_script(p);
    PyObject *code = NULL, *dict, *res = NULL, *file = NULL;
    char what[64];
    size_t len;
    int err = -EIO;

    if (text == NULL) {
        return -EINVAL;
    }
    len = strlen("vfiouserd_script_") + strlen(vfud_dev_name(p->dev)) + 1;
    p->module_name = malloc(len);
    if (p->module_name == NULL) {
        free(text);
        return -ENOMEM;
    }
    snprintf(p->module_name, len, "vfiouserd_script_%s", vfud_dev_name(p->dev));
    snprintf(what, sizeof(what), "loading the script");
    p->module = PyModule_New(p->module_name);
    p->device = p->module != NULL ? py_device_new(p) : NULL;
    if (p->device == NULL || add_script_dir(p) < 0) {
        goto fail;
    }
    dict = PyModule_GetDict(p->module);
    file = PyUnicode_DecodeFSDefault(p->script);
    if (file == NULL || PyDict_SetItemString(dict, "__file__", file) < 0 ||
        PyDict_SetItemString(dict, "__builtins__", PyEval_GetBuiltins()) < 0 ||
        PyDict_SetItemString(dict, "device", p->device) < 0 ||
        /* In sys.modules, as an imported module would be (dataclasses,
         * pickle and typing look their classes' modules up there). */
        PyDict_SetItemString(PyImport_GetModuleDict(), p->module_name, p->module) < 0) {
        goto fail;
    }
    code = Py_CompileStringExFlags(text, p->script, Py_file_input, NULL, -1);
    if (code == NULL) {
        goto fail;
    }
    res = PyEval_EvalCode(code, dict, dict);
    if (res == NULL) {
        goto fail;
    }
    Py_DECREF(res);
    Py_DECREF(code);
    Py_DECREF(file);
    free(text);
    return 0;
fail:
    err = py_report(p, what);
    Py_XDECREF(file);
    Py_XDECREF(code);
    free(text);
    return err;
}

static int python_config_complete(vfud_dev *dev)
{
    struct pydev *p = vfud_get_private(dev);
    PyGILState_STATE g;
    int r;

    if (p->script == NULL) {
        vfud_error(dev, "script: the key is required (the device's Python script)");
        return -EINVAL;
    }
    g = py_enter();
    r = load_script(p);
    for (Py_ssize_t i = 0; r == 0 && i < PyList_GET_SIZE(p->keys); i++) {
        PyObject *kv = PyList_GET_ITEM(p->keys, i);
        PyObject *res = py_call(p, "config", (Py_INCREF(kv), kv), &r);

        Py_XDECREF(res);
        if (r == -ENOSYS) {
            vfud_error(dev, "unknown key %s (the script has no config())",
                       PyUnicode_AsUTF8(PyTuple_GET_ITEM(kv, 0)));
            r = -EINVAL;
        }
    }
    if (r == 0) {
        PyObject *res = py_call(p, "config_complete", NULL, &r);

        Py_XDECREF(res);
        r = r == -ENOSYS ? 0 : r;
    }
    py_leave(g);
    return r;
}

/* Call an optional function of the script with the arguments fmt (a
 * Py_BuildValue tuple format, NULL for none) says: 0 if it is missing. */
static int call_opt(struct pydev *p, const char *fn, const char *fmt, ...)
{
    PyGILState_STATE g = py_enter();
    PyObject *args = NULL, *res;
    va_list ap;
    int r = 0;

    if (fmt != NULL) {
        va_start(ap, fmt);
        args = Py_VaBuildValue(fmt, ap);
        va_end(ap);
        if (args == NULL) {
            r = py_report(p, fn);
            py_leave(g);
            return r;
        }
    }
    res = py_call(p, fn, args, &r);
    Py_XDECREF(res);
    py_leave(g);
    return r == -ENOSYS ? 0 : r;
}

static int python_realize(vfud_dev *dev)
{
    struct pydev *p = vfud_get_private(dev);
    PyGILState_STATE g = py_enter();
    int r = py_declare(p);

    py_leave(g);
    if (r == 0) {
        r = call_opt(p, "realize", NULL);
    }
    return r;
}

static int python_start(vfud_dev *dev)
{
    return call_opt(vfud_get_private(dev), "start", NULL);
}

static void python_attach(vfud_dev *dev)
{
    (void)call_opt(vfud_get_private(dev), "attach", NULL);
}

static void python_detach(vfud_dev *dev)
{
    (void)call_opt(vfud_get_private(dev), "detach", NULL);
}

static int python_reset(vfud_dev *dev, enum vfud_reset_reason why)
{
    return call_opt(vfud_get_private(dev), "reset", "(i)", (int)why);
}

static void python_dma_unmap(vfud_dev *dev, uint64_t iova, uint64_t len)
{
    (void)call_opt(vfud_get_private(dev), "dma_unmap", "(KK)",
                   (unsigned long long)iova, (unsigned long long)len);
}

static void python_config_written(vfud_dev *dev, unsigned offset, unsigned len)
{
    (void)call_opt(vfud_get_private(dev), "config_written", "(II)", offset, len);
}

static int python_quiesce(vfud_dev *dev, bool stop)
{
    return call_opt(vfud_get_private(dev), "quiesce", "(O)",
                    stop ? Py_True : Py_False);
}

/* What read() returned into buf: bytes-like of exactly len bytes, or an
 * int stored little-endian in len (<= 8) bytes. */
static int read_result(struct pydev *p, PyObject *res, void *buf, size_t len)
{
    Py_buffer b;

    if (PyLong_Check(res) && len <= 8) {
        unsigned long long v = PyLong_AsUnsignedLongLongMask(res);

        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            return py_report(p, "read");
        }
        for (size_t i = 0; i < len; i++) {
            ((uint8_t *)buf)[i] = (uint8_t)(v >> (8 * i));
        }
        return 0;
    }
    if (PyObject_GetBuffer(res, &b, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        vfud_log(p->dev, LOG_ERR, "python: read() returned %s, not bytes or an int",
                 Py_TYPE(res)->tp_name);
        vfud_error(p->dev, "read() returned %s", Py_TYPE(res)->tp_name);
        return -EIO;
    }
    if ((size_t)b.len != len) {
        vfud_log(p->dev, LOG_ERR, "python: read() returned %zd bytes for a read of %zu",
                 b.len, len);
        vfud_error(p->dev, "read() returned %zd bytes, not %zu", b.len, len);
        PyBuffer_Release(&b);
        return -EIO;
    }
    memcpy(buf, b.buf, len);
    PyBuffer_Release(&b);
    return 0;
}

static int python_region_read(vfud_dev *dev, unsigned region, uint64_t offset,
                              void *buf, size_t len)
{
    struct pydev *p = vfud_get_private(dev);
    PyGILState_STATE g = py_enter();
    int r = 0;
    PyObject *res = py_call(p, "read", Py_BuildValue("(IKn)", region,
                            (unsigned long long)offset, (Py_ssize_t)len), &r);

    if (res != NULL) {
        r = read_result(p, res, buf, len);
        Py_DECREF(res);
    } else if (r == -ENOSYS) {
        vfud_error(dev, "the script has no read(region, offset, size)");
        r = -EINVAL;
    }
    py_leave(g);
    return r;
}

static int python_region_write(vfud_dev *dev, unsigned region, uint64_t offset,
                               const void *buf, size_t len)
{
    struct pydev *p = vfud_get_private(dev);
    PyGILState_STATE g = py_enter();
    int r = 0;
    PyObject *res = py_call(p, "write", Py_BuildValue("(IKy#)", region,
                            (unsigned long long)offset, (const char *)buf,
                            (Py_ssize_t)len), &r);

    Py_XDECREF(res);
    if (r == -ENOSYS) {
        vfud_error(dev, "the script has no write(region, offset, data)");
        r = -EINVAL;
    }
    py_leave(g);
    return r;
}

/* The script's STATE_VERSION (default 1); negative errno if bad. */
static long script_state_version(struct pydev *p)
{
    PyObject *v = PyObject_GetAttrString(p->module, "STATE_VERSION");
    long n = 1;

    if (v == NULL) {
        PyErr_Clear();
        return 1;
    }
    n = PyLong_Check(v) ? PyLong_AsLong(v) : -1;
    Py_DECREF(v);
    PyErr_Clear();
    if (n < 1 || n > 0xffffffffL) {
        vfud_error(p->dev, "STATE_VERSION must be an int from 1 to 2^32-1");
        return -EINVAL;
    }
    return n;
}

static int python_save_state(vfud_dev *dev, vfud_mig_stream *out)
{
    struct pydev *p = vfud_get_private(dev);
    PyGILState_STATE g = py_enter();
    long version = script_state_version(p);
    uint8_t head[4];
    int r = 0;
    PyObject *res;
    Py_buffer b;

    if (version < 0) {
        py_leave(g);
        return (int)version;
    }
    res = py_call(p, "save_state", NULL, &r);
    if (res == NULL) {
        if (r == -ENOSYS) {
            vfud_error(dev, "the script has no save_state(): it cannot migrate");
            r = -ENOTSUP;
        }
        py_leave(g);
        return r;
    }
    if (PyObject_GetBuffer(res, &b, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        vfud_error(dev, "save_state() returned %s, not bytes", Py_TYPE(res)->tp_name);
        Py_DECREF(res);
        py_leave(g);
        return -EINVAL;
    }
    for (unsigned i = 0; i < 4; i++) {
        head[i] = (uint8_t)((unsigned long)version >> (8 * i));
    }
    r = vfud_mig_write(out, head, sizeof(head));
    if (r == 0) {
        r = vfud_mig_write(out, b.buf, (size_t)b.len);
    }
    PyBuffer_Release(&b);
    Py_DECREF(res);
    py_leave(g);
    return r;
}

static int python_load_state(vfud_dev *dev, uint32_t version, const void *data,
                             size_t len)
{
    struct pydev *p = vfud_get_private(dev);
    const uint8_t *d = data;
    PyGILState_STATE g;
    uint32_t sv;
    long mine;
    int r = 0;
    PyObject *res;

    if (version != PY_STATE_VERSION || len < 4) {
        vfud_error(dev, "state version %u of %zu bytes: not a python device's", version, len);
        return -EINVAL;
    }
    sv = d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
    g = py_enter();
    mine = script_state_version(p);
    if (mine < 0 || sv == 0 || sv > (unsigned long)mine) {
        if (mine >= 0) {
            vfud_error(dev, "the script's state version %u is newer than its "
                       "STATE_VERSION %ld", sv, mine);
        }
        py_leave(g);
        return -EINVAL;
    }
    res = py_call(p, "load_state", Py_BuildValue("(Iy#)", sv, (const char *)d + 4,
                                                 (Py_ssize_t)(len - 4)), &r);
    Py_XDECREF(res);
    if (r == -ENOSYS) {
        vfud_error(dev, "the script has no load_state()");
        r = -ENOTSUP;
    }
    py_leave(g);
    return r;
}

static const struct vfud_config_key python_config_keys[] = {
    { "script", "the device's Python script (required)" },
    { "callback-timeout-ms", "interrupt a script callback running longer than this "
                             "(default 2000, 0: never)" },
    { "*", "any other key: passed to the script's config(key, value)" },
    { NULL, NULL },
};

/* No .syscalls: CPython's work after start-up (imports, C extensions,
 * threads, os.urandom, files Landlock leaves) stays within the daemon's
 * base set, as test_python_daemon checks.  A script that spawns processes
 * or opens TCP sockets is refused, as any device's code would be. */
static struct vfud_plugin python_plugin = {
    .name = "python",
    .version = PACKAGE_VERSION,
    .description = "a device model written in Python (script = mydevice.py)",
    .config_keys = python_config_keys,
    .load = python_load,
    .create = python_create,
    .config = python_config,
    .config_complete = python_config_complete,
    .realize = python_realize,
    .start = python_start,
    .destroy = python_destroy,
    .attach = python_attach,
    .detach = python_detach,
    .reset = python_reset,
    .region_read = python_region_read,
    .region_write = python_region_write,
    .dma_unmap = python_dma_unmap,
    .config_written = python_config_written,
    .state_version = PY_STATE_VERSION,
    .quiesce = python_quiesce,
    .save_state = python_save_state,
    .load_state = python_load_state,
    /* An interpreter running the operator's script, C extensions and all:
     * the most code a guest can reach, none of it reviewed by us, and
     * register accesses rare enough that a process's cost does not show
     * (vfiouserd(8), SECURITY).  Each device gets its own interpreter and
     * GIL too. */
    .prefers_process = true,
};

VFUD_REGISTER_PLUGIN(python_plugin)
