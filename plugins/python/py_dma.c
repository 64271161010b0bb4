/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * python: guest memory for scripts.
 *
 * dma_read/dma_write copy, and work for every DMA window; they let go of
 * the GIL while the daemon works, since a window served by messages waits
 * for the client (on the worker thread: see vfud_submit).
 *
 * dma_map hands out the windows' memory itself, one writable (or, without
 * DMA_WRITE, read-only) memoryview per window crossed, and holds the
 * daemon's references until the Sg is closed.  CPython cannot revoke a
 * memoryview, so each view exports a buffer of a small object of ours
 * that counts the buffers still exported: closing releases the views it
 * handed out, and if the script kept a slice or a copy of one, the
 * references are dropped only when the last of those goes away (and a
 * warning says so), never while Python can still reach the memory.
 */
#include <config.h>

#include "pyplugin.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#define DMA_COPY_MAX (64u << 20) /* one dma_read/dma_write */
#define SG_MAX 256               /* windows one dma_map may cross */

/* What an Sg and its pieces share; freed with the last of them. */
struct sg_state {
    struct pydev *p;
    void *sg;           /* the daemon's entries (opaque) */
    struct iovec *iov;  /* host address and length of each */
    uint64_t iova;      /* guest address of the first */
    int nr;
    unsigned prot;
    Py_ssize_t exports; /* buffers handed to memoryviews, not yet released */
    unsigned refs;      /* the Sg and each piece */
    bool closed;        /* the script is done with it */
    bool put;           /* the daemon's references are dropped */
};

/* The plugin API's scatter-gather calls.  Version 2 made the entries
 * opaque (the host addresses come back as iovecs); version 1 had them in a
 * struct vfud_sg.  Everything else here works on the iovecs. */
#if VFUD_API_VERSION >= 2
static int sg_take(struct sg_state *s, size_t len, unsigned max)
{
    s->sg = vfud_sg_alloc(max);
    s->iov = calloc(max, sizeof(*s->iov));
    if (s->sg == NULL || s->iov == NULL) {
        return -ENOMEM;
    }
    return vfud_dma_sgl_get(s->p->dev, s->iova, len, s->prot, s->sg, s->iov, max);
}

static void sg_give_back(struct sg_state *s)
{
    vfud_dma_sgl_put(s->p->dev, s->sg, (unsigned)s->nr);
}

static void sg_free(struct sg_state *s)
{
    vfud_sg_free(s->sg);
    free(s->iov);
    s->sg = NULL;
    s->iov = NULL;
}
#else
static int sg_take(struct sg_state *s, size_t len, unsigned max)
{
    struct vfud_sg *sg = calloc(max, sizeof(*sg));
    int r;

    s->sg = sg;
    s->iov = calloc(max, sizeof(*s->iov));
    if (sg == NULL || s->iov == NULL) {
        return -ENOMEM;
    }
    r = vfud_dma_sg_get(s->p->dev, s->iova, len, s->prot, sg, max);
    for (int i = 0; i < r; i++) {
        s->iov[i] = (struct iovec){ .iov_base = sg[i].base, .iov_len = sg[i].len };
    }
    return r;
}

static void sg_give_back(struct sg_state *s)
{
    vfud_dma_sg_put(s->p->dev, s->sg, (unsigned)s->nr);
}

static void sg_free(struct sg_state *s)
{
    free(s->sg);
    free(s->iov);
    s->sg = NULL;
    s->iov = NULL;
}
#endif

static void state_put(struct sg_state *s)
{
    if (!s->put && s->nr > 0) {
        sg_give_back(s);
    }
    s->put = true;
}

static void state_unref(struct sg_state *s)
{
    if (--s->refs == 0) {
        state_put(s);
        sg_free(s);
        free(s);
    }
}

/* ---- a piece: one window's memory, exported as a buffer ---- */

struct py_piece {
    PyObject_HEAD
    struct sg_state *s;
    int i;
};

static int piece_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    struct py_piece *pc = (struct py_piece *)self;
    struct sg_state *s = pc->s;

    if (s->put) {
        PyErr_SetString(PyExc_BufferError, "this guest memory was released");
        view->obj = NULL;
        return -1;
    }
    if (PyBuffer_FillInfo(view, self, s->iov[pc->i].iov_base, (Py_ssize_t)s->iov[pc->i].iov_len,
                          !(s->prot & VFUD_DMA_WRITE), flags) < 0) {
        return -1;
    }
    s->exports++;
    return 0;
}

static void piece_releasebuffer(PyObject *self, Py_buffer *view)
{
    struct sg_state *s = ((struct py_piece *)self)->s;

    if (--s->exports == 0 && s->closed) {
        state_put(s);
    }
}

static void piece_dealloc(PyObject *self)
{
    state_unref(((struct py_piece *)self)->s);
    PyObject_Free(self);
}

static PyBufferProcs piece_buffer = {
    .bf_getbuffer = piece_getbuffer,
    .bf_releasebuffer = piece_releasebuffer,
};

static PyTypeObject py_piece_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfiouserd._GuestMemory",
    .tp_basicsize = sizeof(struct py_piece),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = piece_dealloc,
    .tp_as_buffer = &piece_buffer,
};

/* ---- Sg: the script's handle ---- */

struct py_sg {
    PyObject_HEAD
    struct sg_state *s;
    PyObject *views; /* list of memoryview, one per window */
};

static PyObject *sg_close(PyObject *self, PyObject *unused)
{
    struct py_sg *g = (struct py_sg *)self;
    struct sg_state *s = g->s;

    if (s->closed) {
        Py_RETURN_NONE;
    }
    s->closed = true;
    for (Py_ssize_t i = 0; g->views != NULL && i < PyList_GET_SIZE(g->views); i++) {
        PyObject *r = PyObject_CallMethod(PyList_GET_ITEM(g->views, i), "release", NULL);

        if (r == NULL) {
            /* It was exported further (np.frombuffer): see below. */
            PyErr_Clear();
        }
        Py_XDECREF(r);
    }
    Py_CLEAR(g->views);
    if (s->exports == 0) {
        state_put(s);
    } else {
        vfud_log(s->p->dev, LOG_WARNING, "python: a view of guest memory outlives its "
                 "dma_map(): the DMA window stays held until it is freed");
    }
    Py_RETURN_NONE;
}

static PyObject *sg_enter(PyObject *self, PyObject *unused)
{
    struct py_sg *g = (struct py_sg *)self;

    if (g->views == NULL) {
        PyErr_SetString(PyExc_ValueError, "this Sg is closed");
        return NULL;
    }
    Py_INCREF(g->views);
    return g->views;
}

static PyObject *sg_exit(PyObject *self, PyObject *args)
{
    PyObject *r = sg_close(self, NULL);

    Py_XDECREF(r);
    if (r == NULL) {
        return NULL;
    }
    Py_RETURN_FALSE;
}

static PyObject *sg_get_views(PyObject *self, void *closure)
{
    return sg_enter(self, NULL);
}

static PyObject *sg_get_iovas(PyObject *self, void *closure)
{
    struct sg_state *s = ((struct py_sg *)self)->s;
    PyObject *l = PyList_New(s->nr);

    uint64_t iova = s->iova;

    for (int i = 0; l != NULL && i < s->nr; i++) {
        PyList_SET_ITEM(l, i, PyLong_FromUnsignedLongLong(iova));
        iova += s->iov[i].iov_len;
    }
    return l;
}

static void sg_dealloc(PyObject *self)
{
    struct py_sg *g = (struct py_sg *)self;
    PyObject *type, *value, *tb, *r;

    /* Often freed while an exception unwinds the script's frames: close
     * without losing it. */
    PyErr_Fetch(&type, &value, &tb);
    r = sg_close(self, NULL);
    Py_XDECREF(r);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
    state_unref(g->s);
    PyObject_Free(self);
}

static PyMethodDef sg_methods[] = {
    { "close", sg_close, METH_NOARGS, "release the guest memory" },
    { "__enter__", sg_enter, METH_NOARGS, "the views" },
    { "__exit__", sg_exit, METH_VARARGS, "close()" },
    { NULL, NULL, 0, NULL },
};

static PyGetSetDef sg_getset[] = {
    { "views", sg_get_views, NULL, "one memoryview per DMA window crossed", NULL },
    { "iovas", sg_get_iovas, NULL, "the guest address of each view", NULL },
    { NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject py_sg_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfiouserd.Sg",
    .tp_basicsize = sizeof(struct py_sg),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Guest memory held by dma_map(); a context manager.",
    .tp_dealloc = sg_dealloc,
    .tp_methods = sg_methods,
    .tp_getset = sg_getset,
};

/* Take the window references for [s->iova, s->iova + len). */
static int sg_get(struct sg_state *s, size_t len)
{
    int r = sg_take(s, len, 16);

    if (r == -ENOSPC) {
        sg_free(s);
        r = sg_take(s, len, SG_MAX);
    }
    if (r < 0) {
        sg_free(s);
        return r;
    }
    s->nr = r;
    return 0;
}

PyObject *py_dma_map(PyObject *self, PyObject *args)
{
    unsigned long long iova, len;
    unsigned prot;
    struct sg_state *s;
    struct py_sg *g;
    int r;

    if (!PyArg_ParseTuple(args, "KKI:dma_map", &iova, &len, &prot)) {
        return NULL;
    }
    struct pydev *p = py_device_pydev(self);
    if (p == NULL) {
        return NULL;
    }
    if (len == 0 || prot == 0 || (prot & ~(VFUD_DMA_READ | VFUD_DMA_WRITE))) {
        return py_errno(-EINVAL, "dma_map: length and prot (DMA_READ | DMA_WRITE) needed");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return PyErr_NoMemory();
    }
    s->p = p;
    s->prot = prot;
    s->iova = iova;
    s->refs = 1;
    r = sg_get(s, (size_t)len);
    if (r < 0) {
        free(s);
        return py_errno(r, "dma_map");
    }
    g = PyObject_New(struct py_sg, &py_sg_type);
    if (g == NULL) {
        state_unref(s);
        return NULL;
    }
    g->s = s;
    g->views = PyList_New(s->nr);
    for (int i = 0; g->views != NULL && i < s->nr; i++) {
        struct py_piece *pc = PyObject_New(struct py_piece, &py_piece_type);
        PyObject *mv;

        if (pc == NULL) {
            Py_CLEAR(g->views);
            break;
        }
        pc->s = s;
        pc->i = i;
        s->refs++;
        mv = PyMemoryView_FromObject((PyObject *)pc);
        Py_DECREF(pc);
        if (mv == NULL) {
            Py_CLEAR(g->views);
            break;
        }
        PyList_SET_ITEM(g->views, i, mv);
    }
    if (g->views == NULL) {
        Py_DECREF(g);
        return NULL;
    }
    return (PyObject *)g;
}

PyObject *py_dma_read(PyObject *self, PyObject *args)
{
    unsigned long long iova, len;
    PyObject *b;
    int r;

    if (!PyArg_ParseTuple(args, "KK:dma_read", &iova, &len)) {
        return NULL;
    }
    struct pydev *p = py_device_pydev(self);
    if (p == NULL) {
        return NULL;
    }
    if (len > DMA_COPY_MAX) {
        return py_errno(-EINVAL, "dma_read: at most 64 MiB at once");
    }
    b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (b == NULL) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    r = vfud_dma_read(p->dev, iova, PyBytes_AS_STRING(b), (size_t)len);
    Py_END_ALLOW_THREADS
    if (r < 0) {
        Py_DECREF(b);
        return py_errno(r, "dma_read");
    }
    return b;
}

PyObject *py_dma_write(PyObject *self, PyObject *args)
{
    unsigned long long iova;
    Py_buffer buf;
    int r;

    if (!PyArg_ParseTuple(args, "Ky*:dma_write", &iova, &buf)) {
        return NULL;
    }
    struct pydev *p = py_device_pydev(self);
    if (p == NULL || (size_t)buf.len > DMA_COPY_MAX) {
        PyBuffer_Release(&buf);
        return p == NULL ? NULL : py_errno(-EINVAL, "dma_write: at most 64 MiB at once");
    }
    Py_BEGIN_ALLOW_THREADS
    r = vfud_dma_write(p->dev, iova, buf.buf, (size_t)buf.len);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    if (r < 0) {
        return py_errno(r, "dma_write");
    }
    Py_RETURN_NONE;
}

int py_dma_ready(PyObject *module)
{
    if (PyType_Ready(&py_piece_type) < 0 || PyType_Ready(&py_sg_type) < 0) {
        return -1;
    }
    Py_INCREF(&py_sg_type);
    if (PyModule_AddObject(module, "Sg", (PyObject *)&py_sg_type) < 0) {
        Py_DECREF(&py_sg_type);
        return -1;
    }
    return 0;
}
