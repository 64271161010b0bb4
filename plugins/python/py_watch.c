/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * python: work a script schedules on the device's threads.
 *
 * timer() and watch_fd() return a Watch; the daemon calls its function on
 * the device thread until it returns False, raises (logged; a watch that
 * fails once would fail again at every tick), or Watch.remove() is called.
 * An active Watch holds a reference to itself, so a script need not keep
 * it.  defer() and submit() run a function once, after the current message
 * or on the device's worker thread (where waiting for the client, as DMA
 * by messages does, is allowed).
 */
#include <config.h>

#include "pyplugin.h"

#include <errno.h>
#include <stdlib.h>

struct py_watch {
    PyObject_HEAD
    struct pydev *p;
    vfud_watch *w;       /* NULL once removed */
    PyObject *fn;
    struct py_watch *prev_w; /* the chain of active watches */
    bool is_fd;
};

/* Active watches of every device, so destroy can remove a device's. */
static struct py_watch *active;

static void watch_unlink(struct py_watch *w)
{
    struct py_watch **pp;

    for (pp = &active; *pp != NULL; pp = &(*pp)->prev_w) {
        if (*pp == w) {
            *pp = w->prev_w;
            break;
        }
    }
}

/* The daemon forgot the watch (or is about to): drop our reference. */
static void watch_dead(struct py_watch *w)
{
    if (w->w == NULL) {
        return;
    }
    w->w = NULL;
    watch_unlink(w);
    Py_DECREF(w);
}

/* Run the watch's function: with (fd, revents) for an fd watch. */
static bool watch_run(struct py_watch *w, int fd, unsigned revents)
{
    PyGILState_STATE g = py_enter();
    PyObject *args = w->is_fd ? Py_BuildValue("(iI)", fd, revents) : NULL;
    int err = 0;
    PyObject *res;
    bool keep;

    Py_INCREF(w); /* the function may remove its own watch */
    res = py_call_obj(w->p, w->is_fd ? "a watch_fd() function" : "a timer() function",
                      w->fn, args, &err);
    keep = res != NULL && res != Py_False;
    Py_XDECREF(res);
    if (!keep) {
        watch_dead(w);
    }
    Py_DECREF(w);
    py_leave(g);
    return keep;
}

static bool timer_fired(vfud_dev *dev, void *opaque)
{
    return watch_run(opaque, -1, 0);
}

static bool fd_ready(vfud_dev *dev, int fd, unsigned revents, void *opaque)
{
    return watch_run(opaque, fd, revents);
}

static PyObject *watch_remove(PyObject *self, PyObject *unused)
{
    struct py_watch *w = (struct py_watch *)self;

    if (w->w != NULL) {
        vfud_watch_remove(w->w);
        watch_dead(w);
    }
    Py_RETURN_NONE;
}

static PyObject *watch_get_active(PyObject *self, void *closure)
{
    return PyBool_FromLong(((struct py_watch *)self)->w != NULL);
}

static void watch_dealloc(PyObject *self)
{
    Py_XDECREF(((struct py_watch *)self)->fn);
    PyObject_Free(self);
}

static PyMethodDef watch_methods[] = {
    { "remove", watch_remove, METH_NOARGS, "stop the watch" },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef watch_getset[] = {
    { "active", watch_get_active, NULL, "True until the watch is removed", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject py_watch_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfiouserd.Watch",
    .tp_basicsize = sizeof(struct py_watch),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A timer or fd watch on the device's thread.",
    .tp_dealloc = watch_dealloc,
    .tp_methods = watch_methods,
    .tp_getset = watch_getset,
};

static struct py_watch *watch_new(struct pydev *p, PyObject *fn, bool is_fd)
{
    struct py_watch *w;

    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "the watch's function is not callable");
        return NULL;
    }
    w = PyObject_New(struct py_watch, &py_watch_type);
    if (w != NULL) {
        w->p = p;
        w->w = NULL;
        w->fn = fn;
        Py_INCREF(fn);
        w->is_fd = is_fd;
        w->prev_w = NULL;
    }
    return w;
}

/* The daemon has it: keep the object alive while it is active. */
static PyObject *watch_started(struct py_watch *w, vfud_watch *vw)
{
    if (vw == NULL) {
        int e = errno != 0 ? errno : ENOMEM;

        Py_DECREF(w);
        return py_errno(-e, w->is_fd ? "watch_fd" : "timer");
    }
    w->w = vw;
    w->prev_w = active;
    active = w;
    Py_INCREF(w);
    return (PyObject *)w;
}

PyObject *py_watch_timer(PyObject *self, PyObject *args)
{
    unsigned ms;
    PyObject *fn;
    struct py_watch *w;

    if (!PyArg_ParseTuple(args, "IO:timer", &ms, &fn)) {
        return NULL;
    }
    struct pydev *p = py_device_pydev(self);
    if (p == NULL || (w = watch_new(p, fn, false)) == NULL) {
        return NULL;
    }
    return watch_started(w, vfud_watch_timer(p->dev, ms, timer_fired, w));
}

PyObject *py_watch_fd(PyObject *self, PyObject *args)
{
    int fd;
    unsigned events;
    PyObject *fn;
    struct py_watch *w;

    if (!PyArg_ParseTuple(args, "iIO:watch_fd", &fd, &events, &fn)) {
        return NULL;
    }
    struct pydev *p = py_device_pydev(self);
    if (p == NULL || (w = watch_new(p, fn, true)) == NULL) {
        return NULL;
    }
    return watch_started(w, vfud_watch_fd(p->dev, fd, events, fd_ready, w));
}

void py_watch_remove_all(struct pydev *p)
{
    struct py_watch *w = active, *prev;

    for (; w != NULL; w = prev) {
        prev = w->prev_w;
        if (w->p == p) {
            vfud_watch_remove(w->w);
            watch_dead(w);
        }
    }
}

/* ---- defer, submit ---- */

struct py_job {
    struct pydev *p;
    PyObject *fn;
    PyObject *args;
    const char *what;
};

static void job_run(vfud_dev *dev, void *opaque)
{
    struct py_job *j = opaque;
    PyGILState_STATE g = py_enter();
    int err = 0;
    PyObject *res = py_call_obj(j->p, j->what, j->fn, j->args, &err);

    Py_XDECREF(res);
    Py_DECREF(j->fn);
    py_leave(g);
    free(j);
}

static PyObject *job_start(PyObject *self, PyObject *args, bool submit)
{
    struct py_job *j;
    int r;

    if (PyTuple_GET_SIZE(args) < 1 || !PyCallable_Check(PyTuple_GET_ITEM(args, 0))) {
        PyErr_SetString(PyExc_TypeError, "expected a function and its arguments");
        return NULL;
    }
    struct pydev *p = py_device_pydev(self);
    if (p == NULL) {
        return NULL;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return PyErr_NoMemory();
    }
    j->p = p;
    j->fn = PyTuple_GET_ITEM(args, 0);
    j->args = PyTuple_GetSlice(args, 1, PyTuple_GET_SIZE(args));
    j->what = submit ? "a submit() function" : "a defer() function";
    if (j->args == NULL) {
        free(j);
        return NULL;
    }
    Py_INCREF(j->fn);
    r = submit ? vfud_submit(p->dev, job_run, j) : vfud_defer(p->dev, job_run, j);
    if (r < 0) {
        Py_DECREF(j->fn);
        Py_DECREF(j->args);
        free(j);
        return py_errno(r, submit ? "submit" : "defer");
    }
    Py_RETURN_NONE;
}

PyObject *py_defer(PyObject *self, PyObject *args)
{
    return job_start(self, args, false);
}

PyObject *py_submit(PyObject *self, PyObject *args)
{
    return job_start(self, args, true);
}

int py_watch_ready(PyObject *module)
{
    if (PyType_Ready(&py_watch_type) < 0) {
        return -1;
    }
    Py_INCREF(&py_watch_type);
    if (PyModule_AddObject(module, "Watch", (PyObject *)&py_watch_type) < 0) {
        Py_DECREF(&py_watch_type);
        return -1;
    }
    return 0;
}
