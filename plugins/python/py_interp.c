/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * python: the interpreter, calls into scripts, their failures and their
 * time limit.
 *
 * One interpreter per process, started at load() and never finalized:
 * CPython cannot be started again reliably once finalized, and the plugin
 * may be unloaded and loaded again by a configuration reload.  So the
 * plugin and libpython pin themselves in memory (RTLD_NODELETE), which also
 * makes libpython's symbols global for the extension modules in
 * lib-dynload, built on Debian without a link to libpython.
 *
 * Threads: callbacks arrive on each device's thread, its worker thread and
 * the daemon's main thread.  Each takes the GIL for the call.  A thread
 * keeps its Python thread state between calls (creating one per call
 * would cost more than a small region access itself).
 *
 * Time limit: a watchdog thread looks at the calls in flight every 50 ms
 * and raises vfiouserd.CallbackTimeout (a BaseException, so that "except
 * Exception" does not swallow it) asynchronously in one that has run
 * longer than its device's callback-timeout-ms, again after each further
 * period if the script ignores it.  That stops any Python code; a call
 * blocked inside C (time.sleep, a read) only sees it when it returns.
 */
#include <config.h>

#include "pyplugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

PyObject *py_timeout_exc;

static bool started;
static PyObject *format_exception; /* traceback.format_exception */

/* A thread that has called a script: the watchdog's view of it. */
struct py_slot {
    struct py_slot *next;
    unsigned long tid;     /* Python's thread id */
    int64_t deadline_us;   /* 0: no call, or no limit */
    unsigned timeout_ms;
    unsigned long seq;     /* calls started on this thread */
    unsigned fired;        /* CallbackTimeout raised in this call */
    struct pydev *p;
    const char *what;
    struct pydev *cur;     /* the device whose script runs here, or NULL */
};

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct py_slot *slots;
/* Each thread's slot.  A key, not __thread: the plugin is dlopen()ed, and
 * LeakSanitizer's scan of dynamic TLS crashes in sanitizer builds. */
static pthread_key_t slot_key;

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A thread that ends takes its slot with it. */
static void slot_free(void *data)
{
    struct py_slot *s = data, **pp;

    pthread_mutex_lock(&slots_lock);
    for (pp = &slots; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    pthread_mutex_unlock(&slots_lock);
    free(s);
}

static struct py_slot *slot_get(void)
{
    struct py_slot *s = pthread_getspecific(slot_key);

    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL) {
            return NULL;
        }
        s->tid = PyThread_get_thread_ident();
        pthread_setspecific(slot_key, s);
        pthread_mutex_lock(&slots_lock);
        s->next = slots;
        slots = s;
        pthread_mutex_unlock(&slots_lock);
    }
    return s;
}

/* Interrupt the call that the slot of tid runs if it is still call seq and
 * past its deadline. */
static void watchdog_fire(unsigned long tid, unsigned long seq)
{
    PyGILState_STATE g = py_enter();
    struct pydev *p = NULL;
    const char *what = NULL;
    unsigned ms = 0;

    pthread_mutex_lock(&slots_lock);
    for (struct py_slot *s = slots; s != NULL; s = s->next) {
        if (s->tid == tid && s->seq == seq && s->deadline_us != 0 &&
            now_us() >= s->deadline_us) {
            s->fired++;
            s->deadline_us = now_us() + (int64_t)s->timeout_ms * 1000;
            ms = s->timeout_ms * s->fired;
            p = s->p;
            what = s->what;
            PyThreadState_SetAsyncExc(tid, py_timeout_exc);
            break;
        }
    }
    pthread_mutex_unlock(&slots_lock);
    if (p != NULL) {
        vfud_log(p->dev, LOG_WARNING, "python: %s has run for %u ms "
                 "(callback-timeout-ms): raising CallbackTimeout in it", what, ms);
    }
    py_leave(g);
}

static void *watchdog(void *arg)
{
    for (;;) {
        unsigned long tid = 0, seq = 0;
        struct timespec nap = { 0, 50 * 1000 * 1000 };
        int64_t now = now_us();

        pthread_mutex_lock(&slots_lock);
        for (struct py_slot *s = slots; s != NULL; s = s->next) {
            if (s->deadline_us != 0 && now >= s->deadline_us) {
                tid = s->tid;
                seq = s->seq;
                break;
            }
        }
        pthread_mutex_unlock(&slots_lock);
        if (tid != 0) {
            watchdog_fire(tid, seq);
        }
        nanosleep(&nap, NULL);
    }
    return NULL;
}

/* ---- sys.stdout and sys.stderr: lines into the log of the device whose
 * script printed them (print(), tracebacks of threads, warnings). ---- */

struct py_writer {
    PyObject_HEAD
    int level;
    struct pydev *owner; /* of the partial line in buf */
    char buf[1024];
    size_t len;
};

static void writer_flush_line(struct py_writer *w)
{
    if (w->owner != NULL) {
        vfud_log(w->owner->dev, w->level, "python: %.*s", (int)w->len, w->buf);
    } else {
        fprintf(stderr, "python: %.*s\n", (int)w->len, w->buf);
    }
    w->len = 0;
}

static PyObject *writer_write(PyObject *self, PyObject *arg)
{
    struct py_writer *w = (struct py_writer *)self;
    struct py_slot *s = pthread_getspecific(slot_key);
    struct pydev *cur = s != NULL ? s->cur : NULL;
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(arg, &n);

    if (text == NULL) {
        return NULL;
    }
    if (w->len > 0 && w->owner != cur) {
        writer_flush_line(w); /* another device's unfinished line */
    }
    w->owner = cur;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (text[i] == '\n') {
            writer_flush_line(w);
        } else if (w->len < sizeof(w->buf)) {
            w->buf[w->len++] = text[i];
        }
    }
    return PyLong_FromSsize_t(n);
}

static PyObject *writer_flush(PyObject *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static PyMethodDef writer_methods[] = {
    { "write", writer_write, METH_O, "log complete lines" },
    { "flush", writer_flush, METH_NOARGS, "lines are logged when complete" },
    { NULL, NULL, 0, NULL },
};

static PyTypeObject py_writer_type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vfiouserd._LogWriter",
    .tp_basicsize = sizeof(struct py_writer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_methods = writer_methods,
};

static int redirect(const char *name, int level)
{
    struct py_writer *w = PyObject_New(struct py_writer, &py_writer_type);
    int r;

    if (w == NULL) {
        return -1;
    }
    w->level = level;
    w->owner = NULL;
    w->len = 0;
    r = PySys_SetObject(name, (PyObject *)w);
    Py_DECREF(w);
    return r;
}

/* Keep a shared object loaded for ever: the one holding addr. */
static void pin(void *addr)
{
    Dl_info info;

    if (dladdr(addr, &info) != 0 && info.dli_fname != NULL) {
        /* A reference that is never dropped; RTLD_GLOBAL for libpython. */
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE | RTLD_GLOBAL);
    }
}

int py_start(void)
{
    PyConfig config;
    PyStatus st;
    PyObject *tb, *mod, *argv;
    pthread_t t;

    if (started) {
        return 0;
    }
    pin((void *)py_start);
    pin((void *)Py_InitializeFromConfig);
    if (pthread_key_create(&slot_key, slot_free) != 0) {
        return -ENOMEM;
    }
    if (PyImport_AppendInittab("vfiouserd", py_module_init) < 0) {
        return -ENOMEM;
    }
    PyConfig_InitPythonConfig(&config);
    /* Signals are the daemon's. */
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st)) {
        fprintf(stderr, "python: cannot start the interpreter: %s\n",
                st.err_msg != NULL ? st.err_msg : "unknown error");
        return -ENOEXEC;
    }
    /* print() and friends go to the log, not the daemon's stdout. */
    if (PyType_Ready(&py_writer_type) < 0 || redirect("stdout", LOG_INFO) < 0 ||
        redirect("stderr", LOG_WARNING) < 0) {
        PyErr_Print();
        return -ENOEXEC;
    }
    /* Some modules expect a sys.argv. */
    argv = Py_BuildValue("[s]", "vfiouserd");
    if (argv == NULL || PySys_SetObject("argv", argv) < 0) {
        PyErr_Clear();
    }
    Py_XDECREF(argv);
    /* Imported now: its types must be ready before the first Device. */
    mod = PyImport_ImportModule("vfiouserd");
    Py_XDECREF(mod);
    tb = PyImport_ImportModule("traceback");
    format_exception = tb != NULL ? PyObject_GetAttrString(tb, "format_exception") : NULL;
    Py_XDECREF(tb);
    if (mod == NULL || format_exception == NULL ||
        pthread_create(&t, NULL, watchdog, NULL) != 0) {
        PyErr_Print();
        return -ENOEXEC;
    }
    pthread_detach(t);
    /* The main thread keeps its thread state; release the GIL. */
    PyEval_SaveThread();
    started = true;
    return 0;
}

PyGILState_STATE py_enter(void)
{
    bool fresh = PyGILState_GetThisThreadState() == NULL;
    PyGILState_STATE s = PyGILState_Ensure();

    if (fresh) {
        /* One more reference than released: the thread state stays. */
        (void)PyGILState_Ensure();
    }
    return s;
}

void py_leave(PyGILState_STATE s)
{
    PyGILState_Release(s);
}

bool py_has(struct pydev *p, const char *fn)
{
    PyObject *f = PyObject_GetAttrString(p->module, fn);
    bool ok = f != NULL && PyCallable_Check(f);

    Py_XDECREF(f);
    PyErr_Clear();
    return ok;
}

/* Log each line of text at level, for a traceback. */
static void log_lines(struct pydev *p, int level, const char *text)
{
    const char *s = text;

    while (*s != '\0') {
        size_t n = strcspn(s, "\n");

        if (n > 0) {
            vfud_log(p->dev, level, "python:   %.*s", (int)n, s);
        }
        s += n;
        if (*s == '\n') {
            s++;
        }
    }
}

/* "ZeroDivisionError", "vfiouserd.CallbackTimeout": as Python prints it. */
static void type_name(PyObject *type, char *buf, size_t size)
{
    PyObject *mod = PyObject_GetAttrString(type, "__module__");
    const char *m = mod != NULL && PyUnicode_Check(mod) ? PyUnicode_AsUTF8(mod) : NULL;
    const char *name = ((PyTypeObject *)type)->tp_name;
    const char *dot = strrchr(name, '.');

    if (m != NULL && strcmp(m, "builtins") != 0 && dot == NULL) {
        snprintf(buf, size, "%s.%s", m, name);
    } else {
        snprintf(buf, size, "%s", name);
    }
    Py_XDECREF(mod);
    PyErr_Clear();
}

int py_report(struct pydev *p, const char *what)
{
    char tname[128];
    PyObject *type, *value, *tb, *lines = NULL, *text = NULL, *empty = NULL;
    PyObject *str = NULL;
    const char *summary;
    int r = -EIO;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value == NULL) {
        vfud_error(p->dev, "%s failed without an exception", what);
        return r;
    }
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    str = PyObject_Str(value);
    summary = str != NULL ? PyUnicode_AsUTF8(str) : NULL;
    if (summary == NULL) {
        PyErr_Clear();
        summary = "?";
    }
    /* A deliberate refusal: OSError(errno.EINVAL, "why"). */
    if (PyErr_GivenExceptionMatches(type, PyExc_OSError)) {
        PyObject *en = PyObject_GetAttrString(value, "errno");
        long e = en != NULL && PyLong_Check(en) ? PyLong_AsLong(en) : 0;

        Py_XDECREF(en);
        PyErr_Clear();
        if (e > 0 && e < 4096) {
            vfud_error(p->dev, "%s: %s", what, summary);
            r = (int)-e;
            goto out;
        }
    }
    if (PyErr_GivenExceptionMatches(type, py_timeout_exc)) {
        r = -ETIMEDOUT;
    }
    type_name(type, tname, sizeof(tname));
    lines = PyObject_CallFunctionObjArgs(format_exception, type, value,
                                        tb != NULL ? tb : Py_None, NULL);
    empty = PyUnicode_FromString("");
    text = lines != NULL && empty != NULL ? PyUnicode_Join(empty, lines) : NULL;
    vfud_log(p->dev, LOG_ERR, "python: %s raised %s%s%s", what, tname,
             *summary != '\0' ? ": " : "", summary);
    if (text != NULL && PyUnicode_AsUTF8(text) != NULL) {
        log_lines(p, LOG_ERR, PyUnicode_AsUTF8(text));
    }
    PyErr_Clear();
    vfud_error(p->dev, "%s raised %s%s%s", what, tname, *summary != '\0' ? ": " : "",
               summary);
out:
    Py_XDECREF(str);
    Py_XDECREF(text);
    Py_XDECREF(empty);
    Py_XDECREF(lines);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    return r;
}

PyObject *py_call_obj(struct pydev *p, const char *what, PyObject *callable,
                      PyObject *args, int *err)
{
    struct py_slot *s = slot_get();
    bool timed = s != NULL && s->deadline_us == 0 && p->timeout_ms > 0;
    struct pydev *prev;
    unsigned fired = 0;
    PyObject *res;

    if (args == NULL) {
        args = PyTuple_New(0);
        if (args == NULL) {
            *err = py_report(p, what);
            return NULL;
        }
    }
    if (timed) {
        pthread_mutex_lock(&slots_lock);
        s->seq++;
        s->p = p;
        s->what = what;
        s->fired = 0;
        s->timeout_ms = p->timeout_ms;
        s->deadline_us = now_us() + (int64_t)p->timeout_ms * 1000;
        pthread_mutex_unlock(&slots_lock);
    }
    prev = s != NULL ? s->cur : NULL;
    if (s != NULL) {
        s->cur = p;
    }
    res = PyObject_Call(callable, args, NULL);
    if (s != NULL) {
        s->cur = prev;
    }
    Py_DECREF(args);
    if (timed) {
        pthread_mutex_lock(&slots_lock);
        s->deadline_us = 0;
        fired = s->fired;
        pthread_mutex_unlock(&slots_lock);
        if (fired != 0) {
            /* One raised as the call was returning would hit the next. */
            PyThreadState_SetAsyncExc(s->tid, NULL);
        }
    }
    if (res == NULL) {
        *err = py_report(p, what);
    }
    return res;
}

PyObject *py_call(struct pydev *p, const char *fn, PyObject *args, int *err)
{
    PyObject *f = PyObject_GetAttrString(p->module, fn);
    PyObject *res;

    if (f == NULL || !PyCallable_Check(f)) {
        PyErr_Clear();
        Py_XDECREF(f);
        Py_XDECREF(args);
        *err = -ENOSYS;
        return NULL;
    }
    res = py_call_obj(p, fn, f, args, err);
    Py_DECREF(f);
    return res;
}
