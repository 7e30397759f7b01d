/*
 * _core.c - the CPython binding of libblobstore.
 *
 * A thin layer over the public C API (blobstore.h): the Store type, the
 * exception hierarchy, a Buffer type that hands library-owned memory to
 * Python without copying, and adapters that let blob backends written in
 * Python plug into the store. Type dispatch (arrays, tables, pickles) lives
 * in the Python layer. Data passes through the buffer protocol without
 * copies; the GIL is released around every call that does I/O or
 * compression, and re-taken only inside callbacks into Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "blobstore.h"
#include "blobstore/sys/blob_backend.h"
#include "blobstore/sys/meta_backend.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <unistd.h>

#ifndef Py_TPFLAGS_IMMUTABLETYPE /* before 3.10 */
#define Py_TPFLAGS_IMMUTABLETYPE 0
#endif

/* The last failure of a Python callback on this thread (the exception itself
 * is cleared where it happens: the store may carry on, e.g. when removing an
 * old blob fails). */
static _Thread_local char callback_error[512];

/* The module's state (multi-phase initialisation, PEP 489): its exception
 * classes and types, one set per interpreter that imports it. */
typedef struct {
    PyObject *Error, *NotFoundError, *CorruptError, *InvalidArgumentError, *ConflictError,
        *UnsupportedError, *NotAStoreError, *ReadOnlyError, *KeyExistsError;
    PyTypeObject *StoreType, *BufferType, *MappedArrayType;
} core_state;

/* The state of the module that made obj's type (a Store or a Buffer). */
static core_state *state_of(void *obj)
{
    return PyType_GetModuleState(Py_TYPE((PyObject *)obj));
}

/* Raise the Python exception for a library error code; owner is a Store. */
static PyObject *raise_rc(void *owner, int rc)
{
    core_state *st = state_of(owner);
    PyObject *type = st->Error;
    switch (rc) {
    case BLOBSTORE_ENOTFOUND:
        type = st->NotFoundError;
        break;
    case BLOBSTORE_ECORRUPT:
        type = st->CorruptError;
        break;
    case BLOBSTORE_EINVAL:
        type = st->InvalidArgumentError;
        break;
    case BLOBSTORE_ECONFLICT:
        type = st->ConflictError;
        break;
    case BLOBSTORE_EUNSUPPORTED:
        type = st->UnsupportedError;
        break;
    case BLOBSTORE_EREADONLY:
        type = st->ReadOnlyError;
        break;
    case BLOBSTORE_EEXISTS:
        type = st->KeyExistsError;
        break;
    case BLOBSTORE_ENOMEM:
        return PyErr_NoMemory();
    case BLOBSTORE_ECALLBACK:
        if (PyErr_Occurred()) /* a callback's own exception, restored by the caller */
            return NULL;
        if (callback_error[0]) {
            PyErr_SetString(st->Error, callback_error);
            callback_error[0] = '\0';
            return NULL;
        }
        break;
    default:
        break;
    }
    const char *m = blobstore_errmsg();
    PyErr_SetString(type, m && *m ? m : blobstore_strerror(rc));
    return NULL;
}

/* ---- Buffer: library-owned bytes exposed through the buffer protocol ---- */

typedef struct {
    PyObject_HEAD void *data;
    Py_ssize_t len;
} BufferObject;

static void Buffer_dealloc(BufferObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    blobstore_free(self->data);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int Buffer_getbuffer(BufferObject *self, Py_buffer *view, int flags)
{
    /* Writable: the memory belongs to this object alone, so arrays made on
     * it without a copy behave like any other NumPy array. */
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->len, 0, flags);
}

static Py_ssize_t Buffer_length(BufferObject *self)
{
    return self->len;
}

static PyType_Slot Buffer_slots[] = {
    {Py_tp_dealloc, Buffer_dealloc},
    {Py_bf_getbuffer, Buffer_getbuffer},
    {Py_sq_length, Buffer_length},
    {Py_tp_doc, "Bytes owned by libblobstore, lent without a copy."},
    {0, NULL},
};

static PyType_Spec Buffer_spec = {
    .name = "blobstore._core.Buffer",
    .basicsize = sizeof(BufferObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Buffer_slots,
};

/* A Buffer taking data (freed with blobstore_free); owner is a Store. */
static PyObject *buffer_new(void *owner, void *data, size_t len)
{
    BufferObject *b = PyObject_New(BufferObject, state_of(owner)->BufferType);
    if (!b) {
        blobstore_free(data);
        return NULL;
    }
    b->data = data;
    b->len = (Py_ssize_t)len;
    return (PyObject *)b;
}

/* ---- MappedArray: an uncompressed array memory-mapped from its blob file ---- */

typedef struct {
    PyObject_HEAD blobstore_array_mapping *m;
} MappedObject;

static void Mapped_dealloc(MappedObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    blobstore_array_unmap(self->m); /* no view is left: each held a reference */
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int Mapped_getbuffer(MappedObject *self, Py_buffer *view, int flags)
{
    /* Read-only: a writable request is a BufferError. */
    static char none; /* an empty array has no data */
    const blobstore_array *a = blobstore_array_mapping_array(self->m);
    return PyBuffer_FillInfo(view, (PyObject *)self, a->data ? a->data : &none,
                             (Py_ssize_t)a->nbytes, 1, flags);
}

static PyObject *Mapped_verify(MappedObject *self, PyObject *unused)
{
    (void)unused;
    int rc;
    blobstore_array_mapping *m = self->m;
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_array_mapping_verify(m);
    Py_END_ALLOW_THREADS
    if (rc)
        return raise_rc(self, rc);
    Py_RETURN_NONE;
}

static PyObject *Mapped_get_dtype(MappedObject *self, void *closure)
{
    (void)closure;
    return PyUnicode_FromString(blobstore_array_mapping_array(self->m)->dtype);
}

static PyObject *Mapped_get_shape(MappedObject *self, void *closure)
{
    (void)closure;
    const blobstore_array *a = blobstore_array_mapping_array(self->m);
    PyObject *t = PyTuple_New(a->ndim);
    for (int i = 0; t && i < a->ndim; i++) {
        PyObject *v = PyLong_FromLongLong(a->shape[i]);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static PyObject *Mapped_get_nbytes(MappedObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(blobstore_array_mapping_array(self->m)->nbytes);
}

static PyMethodDef Mapped_methods[] = {
    {"verify", (PyCFunction)Mapped_verify, METH_NOARGS,
     "verify(): check every segment checksum of the mapped file (reads it once); raises "
     "CorruptError naming the first damaged byte range."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Mapped_getset[] = {
    {"dtype", (getter)Mapped_get_dtype, NULL, "the NumPy dtype string", NULL},
    {"shape", (getter)Mapped_get_shape, NULL, "the shape", NULL},
    {"nbytes", (getter)Mapped_get_nbytes, NULL, "the array's bytes", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Mapped_slots[] = {
    {Py_tp_dealloc, Mapped_dealloc},
    {Py_bf_getbuffer, Mapped_getbuffer},
    {Py_tp_methods, Mapped_methods},
    {Py_tp_getset, Mapped_getset},
    {Py_tp_doc, "An uncompressed array memory-mapped read-only from its blob file "
                "(blobstore_array_map): the base of the arrays get(mmap_mode='r') returns."},
    {0, NULL},
};

static PyType_Spec Mapped_spec = {
    .name = "blobstore._core.MappedArray",
    .basicsize = sizeof(MappedObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = Mapped_slots,
};

/* ---- blob backends written in Python ----
 *
 * The Python object provides put(name, data), get(name) -> bytes-like
 * (raising KeyError when absent), exists(name) -> bool, delete(name) ->
 * bool and names() -> iterable of str. Objects are written whole at commit.
 */

typedef struct {
    blobstore_blob_backend parent;
    PyObject *obj;
} py_backend;

typedef struct {
    blobstore_blob_writer parent;
    py_backend *be;
    char *data;
    size_t len, cap;
} py_writer;

typedef struct {
    blobstore_blob_reader parent;
    PyObject *data; /* a bytes-like object */
    Py_buffer view;
    size_t pos;
} py_reader;

/* Report the pending Python exception as a library error; needs the GIL. */
static int py_fail_in(const char *who, const char *what)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyObject *s = value ? PyObject_Str(value) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(callback_error, sizeof(callback_error), "python %s backend: %s failed: %s", who, what,
             msg ? msg : "error");
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Clear();
    return BLOBSTORE_ECALLBACK;
}

static int py_fail(const char *what)
{
    return py_fail_in("blob", what);
}

static int pw_write(blobstore_blob_writer *pw, const void *p, size_t n)
{
    py_writer *w = (py_writer *)pw;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 65536;
        while (cap < w->len + n)
            cap *= 2;
        char *d = realloc(w->data, cap);
        if (!d)
            return BLOBSTORE_ENOMEM;
        w->data = d;
        w->cap = cap;
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
    return 0;
}

static void pw_abort(blobstore_blob_writer *pw)
{
    py_writer *w = (py_writer *)pw;
    free(w->data);
    free(w);
}

static int pw_commit(blobstore_blob_writer *pw, const char *name, int sync)
{
    py_writer *w = (py_writer *)pw;
    (void)sync;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *mv = PyMemoryView_FromMemory(w->data ? w->data : "", (Py_ssize_t)w->len, PyBUF_READ);
    PyObject *r = mv ? PyObject_CallMethod(w->be->obj, "put", "sO", name, mv) : NULL;
    int rc = r ? 0 : py_fail("put");
    Py_XDECREF(r);
    Py_XDECREF(mv);
    PyGILState_Release(g);
    pw_abort(pw);
    return rc;
}

static int pb_writer(blobstore_blob_writer **out, blobstore_blob_backend *pbe)
{
    py_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return BLOBSTORE_ENOMEM;
    w->be = (py_backend *)pbe;
    w->parent.write = pw_write;
    w->parent.commit = pw_commit;
    w->parent.abort = pw_abort;
    *out = &w->parent;
    return 0;
}

static int pr_read(blobstore_blob_reader *pr, void *buf, size_t cap, size_t *out_n)
{
    py_reader *r = (py_reader *)pr;
    size_t n = (size_t)r->view.len - r->pos;
    if (n > cap)
        n = cap;
    memcpy(buf, (const char *)r->view.buf + r->pos, n);
    r->pos += n;
    *out_n = n;
    return 0;
}

static void pr_close(blobstore_blob_reader *pr)
{
    py_reader *r = (py_reader *)pr;
    PyGILState_STATE g = PyGILState_Ensure();
    PyBuffer_Release(&r->view);
    Py_XDECREF(r->data);
    PyGILState_Release(g);
    free(r);
}

static int pb_reader(blobstore_blob_reader **out, blobstore_blob_backend *pbe, const char *name)
{
    py_backend *be = (py_backend *)pbe;
    py_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return BLOBSTORE_ENOMEM;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = 0;
    r->data = PyObject_CallMethod(be->obj, "get", "s", name);
    if (!r->data) {
        if (PyErr_ExceptionMatches(PyExc_KeyError)) {
            PyErr_Clear();
            rc = BLOBSTORE_ENOTFOUND;
        } else {
            rc = py_fail("get");
        }
    } else if (PyObject_GetBuffer(r->data, &r->view, PyBUF_SIMPLE) != 0) {
        rc = py_fail("get (result is not bytes-like)");
        Py_CLEAR(r->data);
    }
    PyGILState_Release(g);
    if (rc) {
        free(r);
        return rc;
    }
    r->parent.read = pr_read;
    r->parent.close = pr_close;
    *out = &r->parent;
    return 0;
}

static int pb_bool_call(py_backend *be, const char *method, const char *name)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(be->obj, method, "s", name);
    int rc = r ? PyObject_IsTrue(r) : -1;
    if (rc < 0)
        rc = py_fail(method);
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

static int pb_exists(blobstore_blob_backend *pbe, const char *name)
{
    return pb_bool_call((py_backend *)pbe, "exists", name);
}

static int pb_remove(blobstore_blob_backend *pbe, const char *name)
{
    int rc = pb_bool_call((py_backend *)pbe, "delete", name);
    return rc < 0 ? rc : rc ? 0 : BLOBSTORE_ENOTFOUND;
}

static int pb_list(blobstore_blob_backend *pbe, blobstore_blob_list_fn fn, void *ctx)
{
    py_backend *be = (py_backend *)pbe;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *it = NULL, *names = PyObject_CallMethod(be->obj, "names", NULL);
    PyObject *list = names ? PySequence_List(names) : NULL;
    int rc = list ? 0 : py_fail("names");
    Py_XDECREF(names);
    (void)it;
    Py_ssize_t n = list ? PyList_GET_SIZE(list) : 0;
    for (Py_ssize_t i = 0; !rc && i < n; i++) {
        const char *s = PyUnicode_AsUTF8(PyList_GET_ITEM(list, i));
        if (!s) {
            rc = py_fail("names (not str)");
            break;
        }
        char *copy = strdup(s);
        PyGILState_Release(g);
        rc = copy ? fn(ctx, copy, 0) : BLOBSTORE_ENOMEM;
        free(copy);
        g = PyGILState_Ensure();
    }
    Py_XDECREF(list);
    PyGILState_Release(g);
    return rc;
}

static void pb_free(blobstore_blob_backend *pbe)
{
    py_backend *be = (py_backend *)pbe;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_XDECREF(be->obj);
    PyGILState_Release(g);
    free(be);
}

static blobstore_blob_backend *py_backend_new(PyObject *obj)
{
    static const char *needed[] = {"put", "get", "exists", "delete", "names"};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (!PyObject_HasAttrString(obj, needed[i])) {
            PyErr_Format(PyExc_ValueError, "blob backend object lacks a %s() method", needed[i]);
            return NULL;
        }
    py_backend *be = calloc(1, sizeof(*be));
    if (!be) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_INCREF(obj);
    be->obj = obj;
    be->parent.version = BLOBSTORE_BLOB_BACKEND_VERSION;
    be->parent.writer = pb_writer;
    be->parent.reader = pb_reader;
    be->parent.exists = pb_exists;
    be->parent.remove = pb_remove;
    be->parent.list = pb_list;
    be->parent.free = pb_free;
    return &be->parent;
}

/* ---- metadata backends written in Python ----
 *
 * The Python object provides get(key) -> dict or None, put(entry: dict),
 * delete(key) -> bool, entries() -> iterable of dicts (any order), and
 * begin(write), commit(), rollback(). An entry dict has the members key,
 * blob, format, compression, content_hash, created_at, updated_at,
 * metadata (the user's metadata as JSON text, kept exactly), info (JSON text
 * or None), size, file_size, raw (bool) and data (bytes kept inline, or
 * None). supports_inline = True lets the store keep small values in data.
 * Calls are serialised by the store.
 */

typedef struct {
    blobstore_meta_backend parent;
    PyObject *obj;
} py_meta;

static PyObject *entry_to_dict(const blobstore_entry *e)
{
    PyObject *data = e->inline_data
                         ? PyBytes_FromStringAndSize(e->inline_data, (Py_ssize_t)e->inline_len)
                         : (Py_INCREF(Py_None), Py_None);
    if (!data)
        return NULL;
    return Py_BuildValue("{s:s,s:z,s:s,s:s,s:s,s:z,s:z,s:s,s:z,s:K,s:K,s:O,s:N}", "key", e->key,
                         "blob", e->blob, "format", e->format ? e->format : "bytes", "compression",
                         e->compression ? e->compression : "none", "content_hash",
                         e->content_hash ? e->content_hash : "", "created_at", e->created_at,
                         "updated_at", e->updated_at, "metadata", e->metadata ? e->metadata : "{}",
                         "info", e->info, "size", (unsigned long long)e->size, "file_size",
                         (unsigned long long)e->file_size, "raw", e->raw ? Py_True : Py_False,
                         "data", data);
}

/* A string member (NULL when absent or None when allowed); -1 on a type error. */
static int dict_str(PyObject *d, const char *name, int nullable, char **out)
{
    PyObject *v = PyMapping_GetItemString(d, name);
    *out = NULL;
    if (!v) {
        PyErr_Format(PyExc_ValueError, "entry lacks \"%s\"", name);
        return -1;
    }
    int rc = 0;
    if (v == Py_None && nullable) {
        rc = 0;
    } else if (PyUnicode_Check(v)) {
        const char *s = PyUnicode_AsUTF8(v);
        rc = s && (*out = strdup(s)) ? 0 : -1;
        if (!rc && !*out)
            PyErr_NoMemory();
    } else {
        PyErr_Format(PyExc_ValueError, "entry member \"%s\" must be a str", name);
        rc = -1;
    }
    Py_DECREF(v);
    return rc;
}

static int dict_to_entry(PyObject *d, blobstore_entry *e)
{
    memset(e, 0, sizeof(*e));
    if (!PyMapping_Check(d)) {
        PyErr_SetString(PyExc_ValueError, "an entry must be a dict");
        return -1;
    }
    if (dict_str(d, "key", 0, &e->key) || dict_str(d, "blob", 1, &e->blob) ||
        dict_str(d, "format", 0, &e->format) || dict_str(d, "compression", 0, &e->compression) ||
        dict_str(d, "content_hash", 0, &e->content_hash) ||
        dict_str(d, "created_at", 1, &e->created_at) ||
        dict_str(d, "updated_at", 1, &e->updated_at) || dict_str(d, "metadata", 0, &e->metadata) ||
        dict_str(d, "info", 1, &e->info))
        return -1;
    PyObject *size = PyMapping_GetItemString(d, "size");
    PyObject *fsize = PyMapping_GetItemString(d, "file_size");
    PyObject *raw = PyMapping_GetItemString(d, "raw");
    PyObject *data = PyMapping_GetItemString(d, "data");
    int rc = size && fsize && raw && data ? 0 : -1;
    if (!rc) {
        e->size = PyLong_AsUnsignedLongLong(size);
        e->file_size = PyLong_AsUnsignedLongLong(fsize);
        e->raw = PyObject_IsTrue(raw) > 0;
        if (PyErr_Occurred())
            rc = -1;
    }
    if (!rc && data != Py_None) {
        char *p;
        Py_ssize_t n;
        if (PyBytes_AsStringAndSize(data, &p, &n) != 0 || !(e->inline_data = malloc(n ? n : 1))) {
            rc = -1;
        } else {
            memcpy(e->inline_data, p, (size_t)n);
            e->inline_len = (size_t)n;
        }
    }
    Py_XDECREF(size);
    Py_XDECREF(fsize);
    Py_XDECREF(raw);
    Py_XDECREF(data);
    return rc;
}

static int pm_call0(blobstore_meta_backend *pbe, const char *method, PyObject *arg)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = arg ? PyObject_CallMethod(((py_meta *)pbe)->obj, method, "O", arg)
                      : PyObject_CallMethod(((py_meta *)pbe)->obj, method, NULL);
    int rc = r ? 0 : py_fail_in("metadata", method);
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

static int pm_begin(blobstore_meta_backend *pbe, int write)
{
    return pm_call0(pbe, "begin", write ? Py_True : Py_False);
}

static int pm_commit(blobstore_meta_backend *pbe)
{
    return pm_call0(pbe, "commit", NULL);
}

static int pm_rollback(blobstore_meta_backend *pbe)
{
    return pm_call0(pbe, "rollback", NULL);
}

static int pm_get(blobstore_meta_backend *pbe, const char *key, blobstore_entry *out)
{
    memset(out, 0, sizeof(*out));
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(((py_meta *)pbe)->obj, "get", "s", key);
    int rc;
    if (!r)
        rc = py_fail_in("metadata", "get");
    else if (r == Py_None)
        rc = BLOBSTORE_ENOTFOUND;
    else if (dict_to_entry(r, out) != 0)
        rc = py_fail_in("metadata", "get (the entry it returned)");
    else
        rc = 0;
    if (rc)
        blobstore_entry_clear(out);
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

static int pm_put(blobstore_meta_backend *pbe, const blobstore_entry *e)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *d = entry_to_dict(e);
    int rc = d ? 0 : py_fail_in("metadata", "put (making the entry)");
    PyGILState_Release(g);
    if (!rc)
        rc = pm_call0(pbe, "put", d);
    g = PyGILState_Ensure();
    Py_XDECREF(d);
    PyGILState_Release(g);
    return rc;
}

static int pm_remove(blobstore_meta_backend *pbe, const char *key)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *r = PyObject_CallMethod(((py_meta *)pbe)->obj, "delete", "s", key);
    int rc = !r ? py_fail_in("metadata", "delete") : PyObject_IsTrue(r) ? 0 : BLOBSTORE_ENOTFOUND;
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

static int cmp_entry_key(const void *a, const void *b)
{
    return strcmp(((const blobstore_entry *)a)->key, ((const blobstore_entry *)b)->key);
}

static int pm_iterate(blobstore_meta_backend *pbe, const char *prefix, blobstore_entry_fn fn,
                      void *ctx)
{
    size_t plen = prefix ? strlen(prefix) : 0, n = 0, cap = 0;
    blobstore_entry *all = NULL;
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *src = PyObject_CallMethod(((py_meta *)pbe)->obj, "entries", NULL);
    PyObject *it = src ? PyObject_GetIter(src) : NULL, *item;
    int rc = it ? 0 : py_fail_in("metadata", "entries");
    while (!rc && (item = PyIter_Next(it)) != NULL) {
        blobstore_entry e;
        if (dict_to_entry(item, &e) != 0) {
            blobstore_entry_clear(&e);
            rc = py_fail_in("metadata", "entries (an entry)");
        } else if (plen && strncmp(e.key, prefix, plen) != 0) {
            blobstore_entry_clear(&e);
        } else {
            if (n == cap) {
                blobstore_entry *m = realloc(all, (cap = cap ? cap * 2 : 64) * sizeof(*all));
                if (!m) {
                    blobstore_entry_clear(&e);
                    rc = BLOBSTORE_ENOMEM;
                }
                all = m ? m : all;
            }
            if (!rc)
                all[n++] = e;
        }
        Py_DECREF(item);
    }
    if (!rc && PyErr_Occurred())
        rc = py_fail_in("metadata", "entries");
    Py_XDECREF(it);
    Py_XDECREF(src);
    PyGILState_Release(g);
    /* strcmp orders UTF-8 by bytes: the order every backend gives */
    if (!rc && n)
        qsort(all, n, sizeof(*all), cmp_entry_key);
    for (size_t i = 0; !rc && i < n; i++) /* nonzero stops; iterate returns it */
        rc = fn(ctx, &all[i]);
    for (size_t i = 0; i < n; i++)
        blobstore_entry_clear(&all[i]);
    free(all);
    return rc;
}

static void pm_free(blobstore_meta_backend *pbe)
{
    py_meta *be = (py_meta *)pbe;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_XDECREF(be->obj);
    PyGILState_Release(g);
    free(be);
}

static blobstore_meta_backend *py_meta_new(PyObject *obj)
{
    static const char *needed[] = {"get",   "put",    "delete",  "entries",
                                   "begin", "commit", "rollback"};
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (!PyObject_HasAttrString(obj, needed[i])) {
            PyErr_Format(PyExc_ValueError, "metadata backend object lacks a %s() method",
                         needed[i]);
            return NULL;
        }
    PyObject *inl = PyObject_GetAttrString(obj, "supports_inline");
    int inline_ok = inl && PyObject_IsTrue(inl) > 0;
    Py_XDECREF(inl);
    PyErr_Clear();
    py_meta *be = calloc(1, sizeof(*be));
    if (!be) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_INCREF(obj);
    be->obj = obj;
    be->parent.version = BLOBSTORE_META_BACKEND_VERSION;
    be->parent.flags = inline_ok ? BLOBSTORE_META_INLINE : 0;
    be->parent.begin = pm_begin;
    be->parent.commit = pm_commit;
    be->parent.rollback = pm_rollback;
    be->parent.get = pm_get;
    be->parent.put = pm_put;
    be->parent.remove = pm_remove;
    be->parent.iterate = pm_iterate;
    be->parent.free = pm_free;
    return &be->parent;
}

/* ---- Store ---- */

/*
 * A handle is used by several Python threads at once: every library call
 * runs without the GIL. busy counts the calls in progress on the handle
 * (changed only with the GIL held), so that close() waits for them to
 * return before it frees the handle; closing turns new calls away meanwhile.
 * A call made from inside a call on this thread (a blob backend or stream
 * written in Python calling back) cannot be waited for: close() refuses it.
 * A batch open on another thread is waited for too (its thread may go on
 * calling until it ends the batch); close() inside a batch of its own
 * thread is refused.
 */
typedef struct {
    PyObject_HEAD blobstore *bs;
    int busy;                   /* library calls in progress (GIL held to change) */
    int closing;                /* close() is waiting for busy to reach 0 */
    int in_batch;               /* a batch is open (blobstore_batch_begin) */
    unsigned long batch_thread; /* ... by this thread, which alone may end it */
} StoreObject;

/* Library calls in progress on this thread, on any handle. */
static _Thread_local int calls_on_this_thread;

static void busy_enter(StoreObject *self)
{
    self->busy++;
    calls_on_this_thread++;
}

static void busy_leave(StoreObject *self)
{
    self->busy--;
    calls_on_this_thread--;
}

/* The batch open on this handle belongs to the calling thread. */
static int batch_is_mine(const StoreObject *self)
{
    return self->in_batch && self->batch_thread == PyThread_get_thread_ident();
}

#define CHECK_OPEN(self)                                                                           \
    do {                                                                                           \
        if (!(self)->bs || ((self)->closing && !batch_is_mine(self))) {                            \
            PyErr_SetString(state_of(self)->InvalidArgumentError, "the store is closed");          \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

static int tri(PyObject *v)
{
    if (!v || v == Py_None)
        return 0;
    int t = PyObject_IsTrue(v);
    return t < 0 ? 0 : (t ? BLOBSTORE_YES : BLOBSTORE_NO);
}

static int Store_init(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"cache_dir",
                             "backend",
                             "compression",
                             "compression_level",
                             "content_addressable",
                             "blob_backend",
                             "shard_chars",
                             "durability",
                             "verify_content_hash",
                             "blob_backend_impl",
                             "meta_backend_impl",
                             "rebuilding",
                             "mode",
                             NULL};
    const char *cache_dir = NULL, *backend = NULL, *compression = NULL, *blob_backend = NULL,
               *durability = NULL, *mode = "c";
    int level = 0;
    PyObject *ca = NULL, *shard = Py_None, *vch = NULL, *impl = Py_None, *mimpl = Py_None;
    int rebuilding = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzziOzOzOOOps", kwlist, &cache_dir, &backend,
                                     &compression, &level, &ca, &blob_backend, &shard, &durability,
                                     &vch, &impl, &mimpl, &rebuilding, &mode))
        return -1;
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    if (!strcmp(mode, "c"))
        o.open_flags = 0;
    else if (!strcmp(mode, "w"))
        o.open_flags = BLOBSTORE_OPEN_EXISTING;
    else if (!strcmp(mode, "r"))
        o.open_flags = BLOBSTORE_OPEN_READONLY;
    else {
        PyErr_Format(PyExc_ValueError, "mode must be 'c', 'w' or 'r', not '%s'", mode);
        return -1;
    }
    o.cache_dir = cache_dir;
    o.backend = backend;
    o.compression = compression;
    o.compression_level = level;
    o.content_addressable = tri(ca);
    o.blob_backend = blob_backend;
    o.verify_content_hash = tri(vch);
    if (shard != Py_None) {
        long n = PyLong_AsLong(shard);
        if (n == -1 && PyErr_Occurred())
            return -1;
        if (n < 0 || n > 8) {
            PyErr_SetString(PyExc_ValueError, "shard_chars must be 0..8");
            return -1;
        }
        o.shard_chars = n == 0 ? BLOBSTORE_SHARD_NONE : (int)n;
    }
    if (durability) {
        if (!strcmp(durability, "durable"))
            o.durability = BLOBSTORE_DURABILITY_DURABLE;
        else if (!strcmp(durability, "relaxed"))
            o.durability = BLOBSTORE_DURABILITY_RELAXED;
        else {
            PyErr_SetString(PyExc_ValueError, "durability must be 'durable' or 'relaxed'");
            return -1;
        }
    }
    if (mimpl != Py_None && !(o.meta_backend = py_meta_new(mimpl)))
        return -1;
    if (impl != Py_None && !(o.blob_backend_impl = py_backend_new(impl))) {
        if (o.meta_backend)
            o.meta_backend->free(o.meta_backend);
        return -1;
    }
    if (self->bs) {
        if (self->busy || self->closing) {
            PyErr_SetString(state_of(self)->InvalidArgumentError,
                            "the store is in use by another call");
            return -1;
        }
        blobstore_close(self->bs);
        self->bs = NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
        rc = rebuilding ? blobstore_open_rebuilding(&self->bs, &o) : blobstore_open(&self->bs, &o);
    Py_END_ALLOW_THREADS
    if (rc) {
        if (rc == BLOBSTORE_ENOTFOUND) /* not a store: no key is involved */
            PyErr_SetString(state_of(self)->NotAStoreError, blobstore_errmsg());
        else
            raise_rc(self, rc);
        return -1;
    }
    return 0;
}

static void Store_dealloc(StoreObject *self)
{
    /* No call can be in progress: each holds a reference to self. */
    PyTypeObject *tp = Py_TYPE(self);
    if (self->bs) {
        blobstore *bs = self->bs;
        self->bs = NULL;
        Py_BEGIN_ALLOW_THREADS
            blobstore_close(bs);
        Py_END_ALLOW_THREADS
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* close(): waits for the calls in progress on other threads to return; a
 * second close() is a no-op. */
static PyObject *Store_close(StoreObject *self, PyObject *unused)
{
    (void)unused;
    if (!self->bs || self->closing)
        Py_RETURN_NONE; /* closed, or another thread is closing it */
    if (self->busy && calls_on_this_thread) {
        PyErr_SetString(state_of(self)->InvalidArgumentError,
                        "close() called back from inside a call on the store: it would wait for "
                        "itself");
        return NULL;
    }
    if (batch_is_mine(self)) {
        PyErr_SetString(state_of(self)->InvalidArgumentError,
                        "close() inside a batch of this thread: end the batch first");
        return NULL;
    }
    self->closing = 1;
    while (self->busy || self->in_batch) {
        Py_BEGIN_ALLOW_THREADS
            usleep(1000);
        Py_END_ALLOW_THREADS
    }
    blobstore *bs = self->bs;
    self->bs = NULL;
    Py_BEGIN_ALLOW_THREADS
        blobstore_close(bs);
    Py_END_ALLOW_THREADS
    self->closing = 0;
    Py_RETURN_NONE;
}

typedef struct {
    Py_buffer *views;
    Py_ssize_t n, i;
    size_t pos;
} parts_src;

static int parts_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    parts_src *p = ctx;
    size_t done = 0;
    while (done < cap && p->i < p->n) {
        Py_buffer *v = &p->views[p->i];
        size_t left = (size_t)v->len - p->pos;
        size_t take = left < cap - done ? left : cap - done;
        memcpy((char *)buf + done, (const char *)v->buf + p->pos, take);
        done += take;
        p->pos += take;
        if (p->pos == (size_t)v->len) {
            p->i++;
            p->pos = 0;
        }
    }
    *out_n = done;
    return 0;
}

/* put(key, data, metadata=None, format=None, raw=False, format_info=None,
 *     extension=None, compression=None, compression_level=0) -> key
 * data: a bytes-like object, or a list of them stored one after another. */
static PyObject *Store_put(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {
        "key",       "data",        "metadata",          "format",       "raw", "format_info",
        "extension", "compression", "compression_level", "no_overwrite", NULL};
    const char *key = NULL, *meta = NULL, *format = NULL, *info = NULL, *ext = NULL, *comp = NULL;
    PyObject *data;
    int raw = 0, level = 0, no_overwrite = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "zO|zzpzzzip", kwlist, &key, &data, &meta, &format,
                                     &raw, &info, &ext, &comp, &level, &no_overwrite))
        return NULL;
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    po.flags = no_overwrite ? BLOBSTORE_PUT_NO_OVERWRITE : 0;
    po.metadata = meta;
    po.format = format;
    po.raw = raw;
    po.format_info = info;
    po.extension = ext;
    po.compression = comp;
    po.compression_level = level;
    PyObject *seq = PyList_Check(data) ? data : NULL;
    Py_ssize_t n = seq ? PyList_GET_SIZE(seq) : 1;
    Py_buffer *views = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer));
    if (!views)
        return PyErr_NoMemory();
    Py_ssize_t got = 0;
    for (; got < n; got++) {
        PyObject *item = seq ? PyList_GET_ITEM(seq, got) : data;
        if (PyObject_GetBuffer(item, &views[got], PyBUF_ANY_CONTIGUOUS) != 0)
            break;
    }
    char *out = NULL;
    int rc = 0;
    if (got == n) {
        blobstore *bs = self->bs;
        if (n == 1) {
            busy_enter(self);
            Py_BEGIN_ALLOW_THREADS
                rc = blobstore_put_ex(&out, bs, key, views[0].buf, (size_t)views[0].len, &po);
            Py_END_ALLOW_THREADS
            busy_leave(self);
        } else {
            parts_src src = {views, n, 0, 0};
            busy_enter(self);
            Py_BEGIN_ALLOW_THREADS
                rc = blobstore_put_stream(&out, bs, key, parts_read, &src, &po);
            Py_END_ALLOW_THREADS
            busy_leave(self);
        }
    }
    for (Py_ssize_t i = 0; i < got; i++)
        PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    if (got != n)
        return NULL;
    if (rc)
        return raise_rc(self, rc);
    PyObject *r = PyUnicode_FromString(out);
    blobstore_free(out);
    return r;
}

/* get(key) -> Buffer or None */
static PyObject *Store_get(StoreObject *self, PyObject *args)
{
    const char *key;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "s", &key))
        return NULL;
    void *data = NULL;
    size_t len = 0;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_get(&data, &len, bs, key);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(self, rc);
    return buffer_new(self, data, len);
}

/* The pickle checks of get_value, without the GIL: 0 when the entry's
 * signature (format_info "signature": HMAC-SHA256 under the store's secret
 * of key NUL "pickle" NUL content_hash, in hex) is right and the value's
 * SHA-256 is the entry's content hash; 1: the signature is missing or wrong;
 * 2: the value is not the bytes the entry names; -1: out of memory. */
static int pickle_check(const char *key, const blobstore_value_info *vi, const void *data,
                        size_t len, const unsigned char *secret, size_t secret_len)
{
    static const char hexd[] = "0123456789abcdef";
    size_t klen = strlen(key), hlen = strlen(vi->content_hash);
    size_t mlen = klen + 1 + 6 + 1 + hlen;
    char stack[1024], *msg = mlen <= sizeof(stack) ? stack : malloc(mlen);
    if (!msg)
        return -1;
    memcpy(msg, key, klen);
    memcpy(msg + klen, "\0pickle\0", 8);
    memcpy(msg + klen + 8, vi->content_hash, hlen);
    unsigned char mac[EVP_MAX_MD_SIZE], md[32];
    unsigned int maclen = 0;
    int ok = HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, mlen, mac,
                  &maclen) != NULL &&
             maclen == 32;
    if (msg != stack)
        free(msg);
    char want[65];
    for (unsigned int i = 0; ok && i < 32; i++) {
        want[2 * i] = hexd[mac[i] >> 4];
        want[2 * i + 1] = hexd[mac[i] & 15];
    }
    want[64] = 0;
    json_error_t err;
    json_t *info = ok && vi->info ? json_loads(vi->info, 0, &err) : NULL;
    const char *sig = json_string_value(json_object_get(info, "signature"));
    ok = ok && sig && strlen(sig) == 64 && CRYPTO_memcmp(sig, want, 64) == 0;
    json_decref(info);
    if (!ok)
        return 1;
    char have[65];
    if (!EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL))
        return -1;
    for (int i = 0; i < 32; i++) {
        have[2 * i] = hexd[md[i] >> 4];
        have[2 * i + 1] = hexd[md[i] & 15];
    }
    have[64] = 0;
    return strcmp(have, vi->content_hash) == 0 ? 0 : 2;
}

/* get_value(key, secret, trust) -> None (no such key) or (format, value,
 * status): one read of the entry and, for the formats "bytes" and "pickle",
 * its value (bytes: a bytes object; pickle: a Buffer); other formats:
 * value None (read them with get_metadata and their own call). A pickle's
 * signature and content hash are checked here unless trust: status 0 ok,
 * 1 its signature is missing or wrong, 2 it changed while read (the value
 * is not the hashed bytes), 3 the secret is needed (secret None); value
 * None unless 0. */
static PyObject *Store_get_value(StoreObject *self, PyObject *args)
{
    static const char *const formats[] = {"bytes", "pickle", NULL};
    const char *key;
    Py_buffer secret = {0};
    int trust = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "sz*p", &key, &secret, &trust))
        return NULL;
    void *data = NULL;
    size_t len = 0;
    blobstore_value_info vi;
    int rc, status = 0;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_get_value(&data, &len, &vi, bs, key, formats);
        if (!rc && vi.has_value && !trust && strcmp(vi.format, "pickle") == 0)
            status =
                secret.buf ? pickle_check(key, &vi, data, len, secret.buf, (size_t)secret.len) : 3;
    Py_END_ALLOW_THREADS
    busy_leave(self);
    PyBuffer_Release(&secret);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(self, rc);
    blobstore_free(vi.info);
    PyObject *value;
    if (status < 0) {
        blobstore_free(data);
        return PyErr_NoMemory();
    } else if (!vi.has_value || status) {
        blobstore_free(data);
        Py_INCREF(Py_None);
        value = Py_None;
    } else if (strcmp(vi.format, "bytes") == 0) {
        value = PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
        blobstore_free(data);
    } else {
        value = buffer_new(self, data, len);
    }
    if (!value)
        return NULL;
    return Py_BuildValue("(sNi)", vi.format, value, status);
}

/* changes() -> (theirs, ours): blobstore_changes(), for a read cache; None
 * when the index keeps no change counter */
static PyObject *Store_changes(StoreObject *self, PyObject *unused)
{
    (void)unused;
    CHECK_OPEN(self);
    uint64_t theirs = 0, ours = 0;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS /* it waits for another thread's batch */
        rc = blobstore_changes(bs, &theirs, &ours);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc == BLOBSTORE_EUNSUPPORTED)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(self, rc);
    return Py_BuildValue("(KK)", (unsigned long long)theirs, (unsigned long long)ours);
}

/* get_metadata(key) -> JSON str or None */
static PyObject *Store_get_metadata(StoreObject *self, PyObject *args)
{
    const char *key;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "s", &key))
        return NULL;
    char *json = NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_get_metadata(&json, bs, key);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(self, rc);
    PyObject *r = PyUnicode_FromString(json);
    blobstore_free(json);
    return r;
}

static PyObject *Store_update_metadata(StoreObject *self, PyObject *args)
{
    const char *key, *json;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "ss", &key, &json))
        return NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_update_metadata(bs, key, json);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_FALSE;
    if (rc)
        return raise_rc(self, rc);
    Py_RETURN_TRUE;
}

static PyObject *Store_delete(StoreObject *self, PyObject *args)
{
    const char *key;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "s", &key))
        return NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_delete(bs, key);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_FALSE;
    if (rc)
        return raise_rc(self, rc);
    Py_RETURN_TRUE;
}

static PyObject *Store_exists(StoreObject *self, PyObject *args)
{
    const char *key;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "s", &key))
        return NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_exists(bs, key);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc < 0)
        return raise_rc(self, rc);
    return PyBool_FromLong(rc);
}

/* query(prefix=None, filter=None, order_by=None, limit=0, offset=0,
 *       with_metadata=False) -> [key] or [(key, json)] */
static PyObject *Store_query(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"prefix", "filter",        "order_by", "limit",
                             "offset", "with_metadata", NULL};
    blobstore_query q = BLOBSTORE_QUERY_INIT;
    Py_ssize_t limit = 0, offset = 0;
    int with_meta = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzznnp", kwlist, &q.prefix, &q.filter, &q.order_by,
                                     &limit, &offset, &with_meta))
        return NULL;
    if (limit < 0 || offset < 0) {
        PyErr_SetString(PyExc_ValueError, "limit and offset must not be negative");
        return NULL;
    }
    q.limit = (size_t)limit;
    q.offset = (size_t)offset;
    q.with_metadata = with_meta;
    blobstore_result r;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_query_run(&r, bs, &q);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc)
        return raise_rc(self, rc);
    PyObject *list = PyList_New((Py_ssize_t)r.count);
    for (size_t i = 0; list && i < r.count; i++) {
        PyObject *item = with_meta ? Py_BuildValue("(ss)", r.keys[i], r.metadata[i])
                                   : PyUnicode_FromString(r.keys[i]);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    blobstore_result_free(&r);
    return list;
}

static PyObject *Store_clear(StoreObject *self, PyObject *unused)
{
    (void)unused;
    CHECK_OPEN(self);
    size_t n = 0;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_clear(&n, bs);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc)
        return raise_rc(self, rc);
    return PyLong_FromSize_t(n);
}

static int collect_problem(void *ctx, const blobstore_problem *p)
{
    static const char *kinds[] = {"",       "corrupt", "dangling",  "orphan",  "temp",
                                  "unsafe", "foreign", "unindexed", "norecord"};
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *d =
        Py_BuildValue("{s:s,s:z,s:z,s:s,s:O}", "kind", kinds[p->kind], "key", p->key, "blob",
                      p->blob, "detail", p->detail, "repaired", p->repaired ? Py_True : Py_False);
    int rc = d ? PyList_Append((PyObject *)ctx, d) : -1;
    Py_XDECREF(d);
    PyGILState_Release(g);
    return rc;
}

static PyObject *Store_verify(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"repair", NULL};
    int repair = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p", kwlist, &repair))
        return NULL;
    PyObject *problems = PyList_New(0);
    if (!problems)
        return NULL;
    blobstore_verify_stats st;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_verify(&st, bs, repair ? BLOBSTORE_VERIFY_REPAIR : 0, collect_problem,
                              problems);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc) {
        Py_DECREF(problems);
        return raise_rc(self, rc);
    }
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n,s:n,s:n,s:N}", "entries", (Py_ssize_t)st.entries,
                         "ok", (Py_ssize_t)st.ok, "corrupt", (Py_ssize_t)st.corrupt, "dangling",
                         (Py_ssize_t)st.dangling, "orphans", (Py_ssize_t)st.orphans, "temps",
                         (Py_ssize_t)st.temps, "repaired", (Py_ssize_t)st.repaired, "problems",
                         problems);
}

/* {NAME: {"entries", "stored_bytes", "original_bytes"}} */
static PyObject *stats_groups(const blobstore_stats_group *g, size_t n)
{
    PyObject *d = PyDict_New();
    for (size_t i = 0; d && i < n; i++) {
        PyObject *v = Py_BuildValue("{s:K,s:K,s:K}", "entries", (unsigned long long)g[i].entries,
                                    "stored_bytes", (unsigned long long)g[i].stored_bytes,
                                    "original_bytes", (unsigned long long)g[i].original_bytes);
        if (!v || PyDict_SetItemString(d, g[i].name, v) != 0) {
            Py_XDECREF(v);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *Store_stats(StoreObject *self, PyObject *unused)
{
    (void)unused;
    CHECK_OPEN(self);
    blobstore_store_stats st = BLOBSTORE_STORE_STATS_INIT;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_stats(&st, bs);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc)
        return raise_rc(self, rc);
    PyObject *formats = stats_groups(st.formats, st.n_formats);
    PyObject *codecs = formats ? stats_groups(st.codecs, st.n_codecs) : NULL;
    PyObject *index = !codecs              ? NULL
                      : st.index_bytes < 0 ? (Py_INCREF(Py_None), Py_None)
                                           : PyLong_FromLongLong((long long)st.index_bytes);
    PyObject *r = NULL;
    if (index)
        r = Py_BuildValue(
            "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:N,s:N,s:N}", "entries", (unsigned long long)st.entries,
            "stored_bytes", (unsigned long long)st.stored_bytes, "original_bytes",
            (unsigned long long)st.original_bytes, "inline_entries",
            (unsigned long long)st.inline_entries, "blobs", (unsigned long long)st.blobs,
            "blob_bytes", (unsigned long long)st.blob_bytes, "dedup_saved_bytes",
            (unsigned long long)st.dedup_saved_bytes, "index_bytes", index, "formats", formats,
            "codecs", codecs);
    else {
        Py_XDECREF(formats);
        Py_XDECREF(codecs);
    }
    blobstore_stats_free(&st);
    return r;
}

static PyObject *Store_rebuild_index(StoreObject *self, PyObject *unused)
{
    (void)unused;
    CHECK_OPEN(self);
    PyObject *problems = PyList_New(0);
    if (!problems)
        return NULL;
    blobstore_rebuild_stats st;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_rebuild_index(&st, bs, collect_problem, problems);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc) {
        Py_DECREF(problems);
        return raise_rc(self, rc);
    }
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:n,s:N}", "blobs", (Py_ssize_t)st.blobs, "restored",
                         (Py_ssize_t)st.restored, "kept", (Py_ssize_t)st.kept, "superseded",
                         (Py_ssize_t)st.superseded, "unreadable", (Py_ssize_t)st.unreadable,
                         "problems", problems);
}

static PyObject *Store_migrate_to(StoreObject *self, PyObject *args)
{
    StoreObject *dst;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "O!", Py_TYPE(self), &dst))
        return NULL;
    CHECK_OPEN(dst);
    PyObject *problems = PyList_New(0);
    if (!problems)
        return NULL;
    blobstore_migrate_stats st;
    int rc;
    blobstore *src = self->bs, *to = dst->bs;
    busy_enter(self);
    busy_enter(dst);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_migrate(&st, to, src, collect_problem, problems);
    Py_END_ALLOW_THREADS
    busy_leave(dst);
    busy_leave(self);
    if (rc && rc != BLOBSTORE_ECORRUPT) {
        Py_DECREF(problems);
        return raise_rc(self, rc);
    }
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:K,s:N}", "entries", (Py_ssize_t)st.entries, "copied",
                         (Py_ssize_t)st.copied, "skipped", (Py_ssize_t)st.skipped, "failed",
                         (Py_ssize_t)st.failed, "bytes", (unsigned long long)st.bytes, "problems",
                         problems);
}

/* migrate(cache_dir=None, backend=None, blob_backend=None, shard_chars=0,
 *         in_place=False) -> stats: blobstore_migrate_to(). */
static PyObject *Store_migrate(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"cache_dir",   "backend",  "blob_backend",
                             "shard_chars", "in_place", NULL};
    blobstore_options o = BLOBSTORE_OPTIONS_INIT;
    int shard = -2, in_place = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|zzzip", kwlist, &o.cache_dir, &o.backend,
                                     &o.blob_backend, &shard, &in_place))
        return NULL;
    if (shard != -2 && (shard < 0 || shard > 8)) {
        PyErr_SetString(PyExc_ValueError, "shard_chars must be 0..8");
        return NULL;
    }
    o.shard_chars = shard == -2 ? 0 : shard == 0 ? BLOBSTORE_SHARD_NONE : shard;
    PyObject *problems = PyList_New(0);
    if (!problems)
        return NULL;
    blobstore_migrate_stats st;
    int rc;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_migrate_to(&st, self->bs, &o, in_place ? BLOBSTORE_MIGRATE_IN_PLACE : 0,
                                  collect_problem, problems);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc && rc != BLOBSTORE_ECORRUPT) {
        Py_DECREF(problems);
        return raise_rc(self, rc);
    }
    return Py_BuildValue("{s:n,s:n,s:n,s:n,s:K,s:N,s:O}", "entries", (Py_ssize_t)st.entries,
                         "copied", (Py_ssize_t)st.copied, "skipped", (Py_ssize_t)st.skipped,
                         "failed", (Py_ssize_t)st.failed, "bytes", (unsigned long long)st.bytes,
                         "problems", problems, "switched",
                         rc == 0 && in_place ? Py_True : Py_False);
}

static PyObject *Store_settings(StoreObject *self, PyObject *unused)
{
    (void)unused;
    CHECK_OPEN(self);
    char *json;
    int rc = blobstore_settings(&json, self->bs);
    if (rc)
        return raise_rc(self, rc);
    PyObject *r = PyUnicode_FromString(json);
    blobstore_free(json);
    return r;
}

static PyObject *Store_create_index(StoreObject *self, PyObject *args)
{
    const char *path;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_create_index(bs, path);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc)
        return raise_rc(self, rc);
    Py_RETURN_NONE;
}

/* put_array(key, data, dtype, shape, fortran=False, metadata=None,
 *           format_info=None, compression=None, compression_level=0) -> key */
static PyObject *Store_put_array(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key",         "data",         "dtype",
                             "shape",       "fortran",      "metadata",
                             "format_info", "compression",  "compression_level",
                             "chunks",      "no_overwrite", NULL};
    const char *key, *dtype, *meta = NULL, *info = NULL, *comp = NULL;
    PyObject *data, *shape, *chunks = Py_None;
    int fortran = 0, level = 0, no_overwrite = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "zOsO|pzzziOp", kwlist, &key, &data, &dtype, &shape,
                                     &fortran, &meta, &info, &comp, &level, &chunks, &no_overwrite))
        return NULL;
    blobstore_array a;
    memset(&a, 0, sizeof(a));
    snprintf(a.dtype, sizeof(a.dtype), "%s", dtype);
    PyObject *seq = PySequence_Fast(shape, "shape must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(seq);
    if (nd > BLOBSTORE_ARRAY_MAX_DIM) {
        Py_DECREF(seq);
        PyErr_Format(state_of(self)->UnsupportedError, "arrays have at most %d dimensions",
                     BLOBSTORE_ARRAY_MAX_DIM);
        return NULL;
    }
    a.ndim = (int)nd;
    for (Py_ssize_t i = 0; i < nd; i++) {
        a.shape[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (a.shape[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    /* chunks: the chunk shape, one extent per dimension (None: automatic) */
    int32_t chunkshape[BLOBSTORE_ARRAY_MAX_DIM];
    if (chunks != Py_None) {
        if (!(seq = PySequence_Fast(chunks, "chunks must be a sequence")))
            return NULL;
        int ok = PySequence_Fast_GET_SIZE(seq) == nd;
        for (Py_ssize_t i = 0; ok && i < nd; i++) {
            long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
            ok = !(v == -1 && PyErr_Occurred()) && v >= 1 && v <= INT32_MAX;
            chunkshape[i] = (int32_t)v;
        }
        Py_DECREF(seq);
        if (!ok) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError,
                                "chunks needs one positive extent per dimension of the array");
            return NULL;
        }
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_ANY_CONTIGUOUS) != 0)
        return NULL;
    a.data = view.buf;
    a.nbytes = (size_t)view.len;
    a.fortran = fortran;
    blobstore_array_options o = BLOBSTORE_ARRAY_OPTIONS_INIT;
    o.metadata = meta;
    o.format_info = info;
    o.compression = comp;
    o.compression_level = level;
    o.chunkshape = chunks != Py_None ? chunkshape : NULL;
    o.put_flags = no_overwrite ? BLOBSTORE_PUT_NO_OVERWRITE : 0;
    char *out = NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_array_put(&out, bs, key, &a, &o);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    PyBuffer_Release(&view);
    if (rc)
        return raise_rc(self, rc);
    PyObject *r = PyUnicode_FromString(out);
    blobstore_free(out);
    return r;
}

/* get_array(key, start=None, stop=None, into=None) -> (dtype, shape, Buffer)
 * or None. into: a writable C-contiguous buffer the array (or box) is read
 * into (blobstore_array_get_into; at most its size), then returned as
 * (dtype, shape, None); the caller checks that they are what it expected. */
static PyObject *Store_get_array(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "start", "stop", "into", NULL};
    const char *key;
    PyObject *start = Py_None, *stop = Py_None, *into = Py_None;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|OOO", kwlist, &key, &start, &stop, &into))
        return NULL;
    /* One bound per dimension of the array: the C call reads ndim of each,
     * so both sequences must be given, of one length, and that the rank. */
    int64_t lo[BLOBSTORE_ARRAY_MAX_DIM] = {0}, hi[BLOBSTORE_ARRAY_MAX_DIM] = {0};
    int sliced = start != Py_None || stop != Py_None;
    Py_ssize_t len[2] = {0, 0};
    for (int k = 0; sliced && k < 2; k++) {
        PyObject *seq = PySequence_Fast(k ? stop : start, "start and stop must be sequences");
        if (!seq)
            return NULL;
        len[k] = PySequence_Fast_GET_SIZE(seq);
        for (Py_ssize_t i = 0; i < len[k] && i < BLOBSTORE_ARRAY_MAX_DIM; i++)
            (k ? hi : lo)[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        Py_DECREF(seq);
        if (PyErr_Occurred())
            return NULL;
    }
    if (sliced && (len[0] != len[1] || len[0] > BLOBSTORE_ARRAY_MAX_DIM)) {
        PyErr_SetString(PyExc_ValueError, "start and stop need one bound per dimension each");
        return NULL;
    }
    Py_buffer view;
    int has_into = into != Py_None;
    if (has_into && PyObject_GetBuffer(into, &view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0)
        return NULL;
    blobstore_array a;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        if (has_into)
            rc = sliced ? blobstore_array_get_slice_into(&a, bs, key, lo, hi, view.buf,
                                                         (size_t)view.len)
                        : blobstore_array_get_into(&a, bs, key, view.buf, (size_t)view.len);
        else
            rc = sliced ? blobstore_array_get_slice(&a, bs, key, lo, hi)
                        : blobstore_array_get(&a, bs, key);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (has_into)
        PyBuffer_Release(&view);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(self, rc);
    PyObject *shape = PyTuple_New(a.ndim);
    for (int i = 0; shape && i < a.ndim; i++)
        PyTuple_SET_ITEM(shape, i, PyLong_FromLongLong(a.shape[i]));
    /* (into: a.data is the caller's buffer) */
    PyObject *buf = Py_None;
    if (has_into)
        Py_INCREF(buf);
    else
        buf = buffer_new(self, a.data, a.nbytes); /* takes the memory */
    if (!shape || !buf) {
        Py_XDECREF(shape);
        Py_XDECREF(buf);
        return NULL;
    }
    return Py_BuildValue("(sNN)", a.dtype, shape, buf);
}

/* map_array(key, verify=False) -> MappedArray or None (no such key) */
static PyObject *Store_map_array(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "verify", NULL};
    const char *key;
    int verify = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|p", kwlist, &key, &verify))
        return NULL;
    blobstore_array_mapping *m = NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_array_map(&m, bs, key, verify ? BLOBSTORE_MAP_VERIFY : 0);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(self, rc);
    MappedObject *o = PyObject_New(MappedObject, state_of(self)->MappedArrayType);
    if (!o) {
        blobstore_array_unmap(m);
        return NULL;
    }
    o->m = m;
    return (PyObject *)o;
}

/* The buffers and child lists a put_table call holds until the put is done. */
typedef struct {
    Py_buffer *views;
    size_t n, cap;
    PyObject *keep; /* a list of the children sequences */
} held_buffers;

/* The buffer of obj (None: leave *slot NULL), held in h. */
static int hold_buffer(held_buffers *h, PyObject *obj, void **slot)
{
    if (obj == Py_None)
        return 0;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        Py_buffer *v = PyMem_Realloc(h->views, cap * sizeof(Py_buffer));
        if (!v) {
            PyErr_NoMemory();
            return -1;
        }
        h->views = v;
        h->cap = cap;
    }
    if (PyObject_GetBuffer(obj, &h->views[h->n], PyBUF_SIMPLE) != 0)
        return -1;
    *slot = h->views[h->n++].buf;
    return 0;
}

/* Free the children arrays of a column tree made by column_from_tuple. */
static void column_tree_free(blobstore_column *c)
{
    for (size_t k = 0; c->children && k < c->nchildren; k++)
        column_tree_free(&c->children[k]);
    PyMem_Free(c->children);
    c->children = NULL;
    c->nchildren = 0;
}

/* Fill c from (name, type, utc, values, offsets, bytes, valid[, precision,
 * scale[, children]]): buffers or None, children None or a sequence of such
 * tuples (a nested column's, as blobstore/table.h lays them out). The
 * column points into the tuple's objects and h's buffers. */
static int column_from_tuple(blobstore_column *c, PyObject *tup, held_buffers *h, int depth)
{
    PyObject *bufs[4], *kids = Py_None;
    const char *name;
    int type, utc, precision = 0, scale = 0;
    if (depth > 64) {
        PyErr_SetString(PyExc_ValueError, "columns nested more than 64 levels deep");
        return -1;
    }
    if (!PyArg_ParseTuple(tup, "sipOOOO|iiO", &name, &type, &utc, &bufs[0], &bufs[1], &bufs[2],
                          &bufs[3], &precision, &scale, &kids))
        return -1;
    c->name = (char *)name;
    c->type = (blobstore_column_type)type;
    c->utc = utc;
    c->precision = precision;
    c->scale = scale;
    void **slots[4] = {&c->values, (void **)&c->offsets, (void **)&c->bytes, (void **)&c->valid};
    for (int k = 0; k < 4; k++)
        if (hold_buffer(h, bufs[k], slots[k]) != 0)
            return -1;
    c->nullable = c->valid != NULL;
    if (kids == Py_None)
        return 0;
    PyObject *seq = PySequence_Fast(kids, "a column's children must be a sequence");
    if (!seq || PyList_Append(h->keep, seq) != 0) {
        Py_XDECREF(seq);
        return -1;
    }
    Py_DECREF(seq); /* h->keep holds it */
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    c->children = PyMem_Calloc((size_t)(n ? n : 1), sizeof(blobstore_column));
    if (!c->children) {
        PyErr_NoMemory();
        return -1;
    }
    c->nchildren = (size_t)n;
    for (Py_ssize_t k = 0; k < n; k++)
        if (column_from_tuple(&c->children[k], PySequence_Fast_GET_ITEM(seq, k), h, depth + 1) != 0)
            return -1;
    return 0;
}

/* put_table(key, columns, nrows, metadata=None, format_info=None,
 *           pandas_metadata=None, compression=None) -> key
 * columns: [(name, type, utc, values, offsets, bytes, valid[, precision,
 * scale[, children]])], buffers or None; precision and scale for decimals;
 * children (None for a flat column) the same tuples of a nested column's
 * child columns (LIST, MAP: one; STRUCT: its fields). */
static PyObject *Store_put_table(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key",         "columns",      "nrows",
                             "metadata",    "format_info",  "pandas_metadata",
                             "compression", "no_overwrite", NULL};
    const char *key, *meta = NULL, *info = NULL, *pandas = NULL, *comp = NULL;
    PyObject *cols;
    Py_ssize_t nrows;
    int no_overwrite = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "zOn|zzzzp", kwlist, &key, &cols, &nrows, &meta,
                                     &info, &pandas, &comp, &no_overwrite))
        return NULL;
    PyObject *seq = PySequence_Fast(cols, "columns must be a sequence");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    blobstore_table t = {(size_t)nrows, (size_t)n, NULL};
    held_buffers h = {NULL, 0, 0, PyList_New(0)};
    t.cols = PyMem_Calloc((size_t)(n ? n : 1), sizeof(blobstore_column));
    int ok = t.cols && h.keep;
    if (!t.cols)
        PyErr_NoMemory();
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = column_from_tuple(&t.cols[i], PySequence_Fast_GET_ITEM(seq, i), &h, 0) == 0;
    char *out = NULL;
    int rc = 0;
    if (ok) {
        blobstore_table_options o = BLOBSTORE_TABLE_OPTIONS_INIT;
        o.metadata = meta;
        o.format_info = info;
        o.pandas_metadata = pandas;
        o.put_flags = no_overwrite ? BLOBSTORE_PUT_NO_OVERWRITE : 0;
        o.compression = comp;
        blobstore *bs = self->bs;
        busy_enter(self);
        Py_BEGIN_ALLOW_THREADS
            rc = blobstore_table_put(&out, bs, key, &t, &o);
        Py_END_ALLOW_THREADS
        busy_leave(self);
    }
    for (size_t i = 0; i < h.n; i++)
        PyBuffer_Release(&h.views[i]);
    PyMem_Free(h.views);
    for (Py_ssize_t i = 0; t.cols && i < n; i++)
        column_tree_free(&t.cols[i]);
    PyMem_Free(t.cols);
    Py_XDECREF(h.keep);
    Py_DECREF(seq);
    if (!ok)
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    if (rc)
        return raise_rc(self, rc);
    PyObject *r = PyUnicode_FromString(out);
    blobstore_free(out);
    return r;
}

/* A column of n items as (name, type, utc, nullable, values, offsets,
 * bytes, valid, precision, scale, children): its buffers take the memory
 * (the column keeps none); children (None for a flat column) the same
 * tuples of a LIST's / MAP's offsets[n] items or a STRUCT's n. */
static PyObject *column_tuple(StoreObject *self, blobstore_column *c, size_t n)
{
    size_t w; /* bytes per value; 0 for strings and binary */
    switch (c->type) {
    case BLOBSTORE_COL_BOOL:
    case BLOBSTORE_COL_INT8:
    case BLOBSTORE_COL_UINT8:
        w = 1;
        break;
    case BLOBSTORE_COL_INT16:
    case BLOBSTORE_COL_UINT16:
        w = 2;
        break;
    case BLOBSTORE_COL_INT32:
    case BLOBSTORE_COL_UINT32:
    case BLOBSTORE_COL_FLOAT32:
    case BLOBSTORE_COL_DATE:
        w = 4;
        break;
    case BLOBSTORE_COL_STRING:
    case BLOBSTORE_COL_BINARY:
        w = 0;
        break;
    case BLOBSTORE_COL_DECIMAL:
        w = 16;
        break;
    case BLOBSTORE_COL_LIST:
    case BLOBSTORE_COL_MAP:
    case BLOBSTORE_COL_STRUCT:
        w = 0;
        break;
    default:
        w = 8;
    }
    /* Buffers take the memory; the table keeps nothing. */
    PyObject *vals = Py_None, *offs = Py_None, *bytes = Py_None, *valid = Py_None;
    int nested = c->type == BLOBSTORE_COL_LIST || c->type == BLOBSTORE_COL_MAP ||
                 c->type == BLOBSTORE_COL_STRUCT;
    PyObject *kids = Py_None;
    if (nested) {
        /* The children, each of its own length, before the offsets go. */
        size_t cn = c->type == BLOBSTORE_COL_STRUCT ? n : c->offsets ? (size_t)c->offsets[n] : 0;
        kids = PyList_New((Py_ssize_t)c->nchildren);
        for (size_t k = 0; kids && k < c->nchildren; k++) {
            PyObject *ch = column_tuple(self, &c->children[k], cn);
            if (!ch) {
                Py_CLEAR(kids);
                break;
            }
            PyList_SET_ITEM(kids, (Py_ssize_t)k, ch);
        }
        if (!kids)
            return NULL;
        Py_INCREF(bytes);
        if (c->type == BLOBSTORE_COL_STRUCT)
            Py_INCREF(offs);
        else
            offs = buffer_new(self, c->offsets, 8 * (n + 1));
    } else if (w) {
        vals = buffer_new(self, c->values, w * n);
    } else {
        offs = buffer_new(self, c->offsets, 8 * (n + 1));
        bytes = buffer_new(self, c->bytes, n ? (size_t)c->offsets[n] : 0);
    }
    if (c->valid)
        valid = buffer_new(self, c->valid, n);
    else
        Py_INCREF(valid);
    if (nested) {
        Py_INCREF(vals);
    } else if (w) {
        Py_INCREF(offs);
        Py_INCREF(bytes);
        Py_INCREF(kids);
    } else {
        Py_INCREF(vals);
        Py_INCREF(kids);
    }
    c->values = NULL;
    c->offsets = NULL;
    c->bytes = NULL;
    c->valid = NULL;
    PyObject *item =
        (vals && offs && bytes && valid)
            ? Py_BuildValue("(siiiNNNNiiN)", c->name, (int)c->type, c->utc, c->nullable, vals, offs,
                            bytes, valid, c->precision, c->scale, kids)
            : NULL;
    return item;
}

/* get_table(key, names=None) -> (nrows, [column_tuple of each column]) or
 * None */
static PyObject *Store_get_table(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "names", NULL};
    const char *key;
    PyObject *names = Py_None;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|O", kwlist, &key, &names))
        return NULL;
    const char **sel = NULL;
    Py_ssize_t nsel = 0;
    PyObject *seq = NULL;
    if (names != Py_None) {
        if (!(seq = PySequence_Fast(names, "names must be a sequence")))
            return NULL;
        nsel = PySequence_Fast_GET_SIZE(seq);
        sel = PyMem_Calloc((size_t)(nsel ? nsel : 1), sizeof(char *));
        for (Py_ssize_t i = 0; sel && i < nsel; i++)
            if (!(sel[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i)))) {
                PyMem_Free(sel);
                Py_DECREF(seq);
                return NULL;
            }
    }
    blobstore_table t;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_table_get(&t, bs, key, sel, (size_t)nsel);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    PyMem_Free(sel);
    Py_XDECREF(seq);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_NONE;
    if (rc)
        return raise_rc(self, rc);
    PyObject *list = PyList_New((Py_ssize_t)t.ncols);
    for (size_t i = 0; list && i < t.ncols; i++) {
        PyObject *item = column_tuple(self, &t.cols[i], t.nrows);
        if (!item) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    Py_ssize_t nrows = (Py_ssize_t)t.nrows;
    blobstore_table_clear(&t);
    if (!list)
        return NULL;
    return Py_BuildValue("(nN)", nrows, list);
}

/* ---- batches and streams ---- */

static PyObject *Store_batch_call(StoreObject *self, int (*fn)(blobstore *))
{
    CHECK_OPEN(self);
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = fn(bs);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (fn == blobstore_batch_begin && rc == 0) {
        self->in_batch = 1;
        self->batch_thread = PyThread_get_thread_ident();
    } else if (fn != blobstore_batch_begin && batch_is_mine(self)) {
        self->in_batch = 0; /* commit and rollback end the batch, failing or not */
    }
    if (rc)
        return raise_rc(self, rc);
    Py_RETURN_NONE;
}

/* batch_begin(), batch_commit(), batch_rollback(): blobstore_batch_*; the
 * same thread must end the batch it began. */
static PyObject *Store_batch_begin(StoreObject *self, PyObject *unused)
{
    (void)unused;
    return Store_batch_call(self, blobstore_batch_begin);
}

static PyObject *Store_batch_commit(StoreObject *self, PyObject *unused)
{
    (void)unused;
    return Store_batch_call(self, blobstore_batch_commit);
}

static PyObject *Store_batch_rollback(StoreObject *self, PyObject *unused)
{
    (void)unused;
    return Store_batch_call(self, blobstore_batch_rollback);
}

/* A Python callable called from a stream callback; the first exception it
 * raises is kept here and raised again when the library call returns. */
typedef struct {
    PyObject *fn;
    PyObject *type, *value, *tb;
} py_stream;

static int py_stream_failed(py_stream *c)
{
    if (!c->type)
        PyErr_Fetch(&c->type, &c->value, &c->tb);
    else
        PyErr_Clear();
    return -1;
}

/* Restore the callable's exception, if it raised one; 1 if so. */
static int py_stream_raise(py_stream *c)
{
    if (!c->type)
        return 0;
    PyErr_Restore(c->type, c->value, c->tb);
    c->type = c->value = c->tb = NULL;
    return 1;
}

/* Reader of put_stream: fn(cap) returns up to cap bytes; b"" ends the data. */
static int py_stream_read(void *ctx, void *buf, size_t cap, size_t *out_n)
{
    py_stream *c = ctx;
    *out_n = 0;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = 0;
    PyObject *r = PyObject_CallFunction(c->fn, "n",
                                        (Py_ssize_t)(cap > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : cap));
    Py_buffer v;
    if (!r || PyObject_GetBuffer(r, &v, PyBUF_SIMPLE) != 0) {
        rc = py_stream_failed(c);
    } else {
        if ((size_t)v.len > cap) {
            PyErr_SetString(PyExc_ValueError,
                            "the stream's reader returned more than it was asked");
            rc = py_stream_failed(c);
        } else {
            memcpy(buf, v.buf, (size_t)v.len);
            *out_n = (size_t)v.len;
        }
        PyBuffer_Release(&v);
    }
    Py_XDECREF(r);
    PyGILState_Release(g);
    return rc;
}

/* Writer of get_stream: fn(bytes) consumes them. */
static int py_stream_write(void *ctx, const void *buf, size_t len)
{
    py_stream *c = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = 0;
    PyObject *b = PyBytes_FromStringAndSize(buf, (Py_ssize_t)len);
    PyObject *r = b ? PyObject_CallOneArg(c->fn, b) : NULL;
    if (!r)
        rc = py_stream_failed(c);
    Py_XDECREF(r);
    Py_XDECREF(b);
    PyGILState_Release(g);
    return rc;
}

static void fill_put_options(blobstore_put_options *po, const char *meta, const char *format,
                             int no_overwrite)
{
    po->metadata = meta;
    po->format = format;
    po->flags = no_overwrite ? BLOBSTORE_PUT_NO_OVERWRITE : 0;
}

/* put_stream(key, reader, metadata=None, format=None) -> key: reader(n)
 * returns up to n bytes, b"" at the end; memory stays bounded. */
static PyObject *Store_put_stream(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "reader", "metadata", "format", "no_overwrite", NULL};
    const char *key = NULL, *meta = NULL, *format = NULL;
    int no_overwrite = 0;
    py_stream c = {NULL, NULL, NULL, NULL};
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "zO|zzp", kwlist, &key, &c.fn, &meta, &format,
                                     &no_overwrite))
        return NULL;
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    fill_put_options(&po, meta, format, no_overwrite);
    char *out = NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_put_stream(&out, bs, key, py_stream_read, &c, &po);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (py_stream_raise(&c)) {
        blobstore_free(out);
        return NULL;
    }
    if (rc)
        return raise_rc(self, rc);
    PyObject *r = PyUnicode_FromString(out);
    blobstore_free(out);
    return r;
}

/* get_stream(key, writer) -> True, or False if there is no such key:
 * writer(bytes) is called with the blob's bytes in order, each piece
 * checked before it is passed on. */
static PyObject *Store_get_stream(StoreObject *self, PyObject *args)
{
    const char *key;
    py_stream c = {NULL, NULL, NULL, NULL};
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "sO", &key, &c.fn))
        return NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_get_stream(bs, key, py_stream_write, &c);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (py_stream_raise(&c))
        return NULL;
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_FALSE;
    if (rc)
        return raise_rc(self, rc);
    Py_RETURN_TRUE;
}

/* put_fd(key, fd, metadata=None, format=None) -> key: the file read to its end. */
static PyObject *Store_put_fd(StoreObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"key", "fd", "metadata", "format", "no_overwrite", NULL};
    const char *key = NULL, *meta = NULL, *format = NULL;
    int fd, no_overwrite = 0;
    CHECK_OPEN(self);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "zi|zzp", kwlist, &key, &fd, &meta, &format,
                                     &no_overwrite))
        return NULL;
    blobstore_put_options po = BLOBSTORE_PUT_OPTIONS_INIT;
    fill_put_options(&po, meta, format, no_overwrite);
    char *out = NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_put_fd(&out, bs, key, fd, &po);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc)
        return raise_rc(self, rc);
    PyObject *r = PyUnicode_FromString(out);
    blobstore_free(out);
    return r;
}

/* get_fd(key, fd) -> True, or False if there is no such key. */
static PyObject *Store_get_fd(StoreObject *self, PyObject *args)
{
    const char *key;
    int fd;
    CHECK_OPEN(self);
    if (!PyArg_ParseTuple(args, "si", &key, &fd))
        return NULL;
    int rc;
    blobstore *bs = self->bs;
    busy_enter(self);
    Py_BEGIN_ALLOW_THREADS
        rc = blobstore_get_fd(bs, key, fd);
    Py_END_ALLOW_THREADS
    busy_leave(self);
    if (rc == BLOBSTORE_ENOTFOUND)
        Py_RETURN_FALSE;
    if (rc)
        return raise_rc(self, rc);
    Py_RETURN_TRUE;
}

/* busy() -> the number of library calls in progress on this handle (tests). */
static PyObject *Store_busy(StoreObject *self, PyObject *unused)
{
    (void)unused;
    return PyLong_FromLong(self->busy);
}

static PyMethodDef Store_methods[] = {
    {"batch_begin", (PyCFunction)Store_batch_begin, METH_NOARGS, NULL},
    {"batch_commit", (PyCFunction)Store_batch_commit, METH_NOARGS, NULL},
    {"batch_rollback", (PyCFunction)Store_batch_rollback, METH_NOARGS, NULL},
    {"put_stream", (PyCFunction)(void (*)(void))Store_put_stream, METH_VARARGS | METH_KEYWORDS,
     NULL},
    {"get_stream", (PyCFunction)Store_get_stream, METH_VARARGS, NULL},
    {"put_fd", (PyCFunction)(void (*)(void))Store_put_fd, METH_VARARGS | METH_KEYWORDS, NULL},
    {"get_fd", (PyCFunction)Store_get_fd, METH_VARARGS, NULL},
    {"busy", (PyCFunction)Store_busy, METH_NOARGS, NULL},
    {"put_table", (PyCFunction)(void (*)(void))Store_put_table, METH_VARARGS | METH_KEYWORDS, NULL},
    {"get_table", (PyCFunction)(void (*)(void))Store_get_table, METH_VARARGS | METH_KEYWORDS, NULL},
    {"put_array", (PyCFunction)(void (*)(void))Store_put_array, METH_VARARGS | METH_KEYWORDS, NULL},
    {"get_array", (PyCFunction)(void (*)(void))Store_get_array, METH_VARARGS | METH_KEYWORDS, NULL},
    {"map_array", (PyCFunction)(void (*)(void))Store_map_array, METH_VARARGS | METH_KEYWORDS, NULL},
    {"put", (PyCFunction)(void (*)(void))Store_put, METH_VARARGS | METH_KEYWORDS, NULL},
    {"get", (PyCFunction)Store_get, METH_VARARGS, NULL},
    {"get_value", (PyCFunction)Store_get_value, METH_VARARGS, NULL},
    {"changes", (PyCFunction)Store_changes, METH_NOARGS, NULL},
    {"get_metadata", (PyCFunction)Store_get_metadata, METH_VARARGS, NULL},
    {"update_metadata", (PyCFunction)Store_update_metadata, METH_VARARGS, NULL},
    {"delete", (PyCFunction)Store_delete, METH_VARARGS, NULL},
    {"exists", (PyCFunction)Store_exists, METH_VARARGS, NULL},
    {"query", (PyCFunction)(void (*)(void))Store_query, METH_VARARGS | METH_KEYWORDS, NULL},
    {"clear", (PyCFunction)Store_clear, METH_NOARGS, NULL},
    {"verify", (PyCFunction)(void (*)(void))Store_verify, METH_VARARGS | METH_KEYWORDS, NULL},
    {"stats", (PyCFunction)Store_stats, METH_NOARGS, NULL},
    {"rebuild_index", (PyCFunction)Store_rebuild_index, METH_NOARGS, NULL},
    {"migrate_to", (PyCFunction)Store_migrate_to, METH_VARARGS, NULL},
    {"migrate", (PyCFunction)(void (*)(void))Store_migrate, METH_VARARGS | METH_KEYWORDS, NULL},
    {"settings", (PyCFunction)Store_settings, METH_NOARGS, NULL},
    {"create_index", (PyCFunction)Store_create_index, METH_VARARGS, NULL},
    {"close", (PyCFunction)Store_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot Store_slots[] = {
    {Py_tp_dealloc, Store_dealloc},
    {Py_tp_doc, "A libblobstore store handle (see blobstore.BlobStore)."},
    {Py_tp_methods, Store_methods},
    {Py_tp_init, Store_init},
    {Py_tp_new, PyType_GenericNew},
    {0, NULL},
};

static PyType_Spec Store_spec = {
    .name = "blobstore._core.Store",
    .basicsize = sizeof(StoreObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = Store_slots,
};

static PyObject *new_exc(PyObject *m, const char *name, PyObject *bases, const char *doc)
{
    char full[64];
    snprintf(full, sizeof(full), "blobstore.%s", name);
    PyObject *e = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
    if (e && PyModule_AddObjectRef(m, name, e) != 0)
        Py_CLEAR(e);
    return e;
}

/* Py_mod_exec: fill a new module's state (as CPython's _sqlite does). */
static int core_exec(PyObject *m)
{
    core_state *st = PyModule_GetState(m);
    st->StoreType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Store_spec, NULL);
    st->BufferType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Buffer_spec, NULL);
    st->MappedArrayType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &Mapped_spec, NULL);
    if (!st->StoreType || !st->BufferType || !st->MappedArrayType ||
        PyModule_AddObjectRef(m, "Store", (PyObject *)st->StoreType) != 0 ||
        PyModule_AddObjectRef(m, "Buffer", (PyObject *)st->BufferType) != 0 ||
        PyModule_AddObjectRef(m, "MappedArray", (PyObject *)st->MappedArrayType) != 0)
        return -1;
    if (!(st->Error = new_exc(m, "Error", NULL, "Base class of blobstore errors.")))
        return -1;
    PyObject *b;
    b = PyTuple_Pack(2, st->Error, PyExc_KeyError);
    st->NotFoundError = b ? new_exc(m, "NotFoundError", b, "No such key.") : NULL;
    Py_XDECREF(b);
    st->CorruptError = new_exc(m, "CorruptError", st->Error, "Stored data failed its checksum.");
    b = PyTuple_Pack(2, st->Error, PyExc_ValueError);
    st->InvalidArgumentError =
        b ? new_exc(m, "InvalidArgumentError", b, "Invalid argument.") : NULL;
    Py_XDECREF(b);
    b = st->InvalidArgumentError ? PyTuple_Pack(1, st->InvalidArgumentError) : NULL;
    st->ConflictError =
        b ? new_exc(m, "ConflictError", b, "Options conflict with the store's settings.") : NULL;
    Py_XDECREF(b);
    st->UnsupportedError = new_exc(m, "UnsupportedError", st->Error, "Unsupported format feature.");
    b = PyTuple_Pack(2, st->Error, PyExc_FileNotFoundError);
    st->NotAStoreError = b ? new_exc(m, "NotAStoreError", b,
                                     "The directory is not a blobstore store (mode 'r' or 'w').")
                           : NULL;
    Py_XDECREF(b);
    b = PyTuple_Pack(2, st->Error, PyExc_PermissionError);
    st->ReadOnlyError =
        b ? new_exc(m, "ReadOnlyError", b, "A write to a store opened with mode='r'.") : NULL;
    Py_XDECREF(b);
    st->KeyExistsError =
        new_exc(m, "KeyExistsError", st->Error, "A put with overwrite=False found the key taken.");
    if (!st->KeyExistsError || !st->NotFoundError || !st->CorruptError ||
        !st->InvalidArgumentError || !st->ConflictError || !st->UnsupportedError ||
        !st->NotAStoreError || !st->ReadOnlyError)
        return -1;
    return PyModule_AddStringConstant(m, "library_version", blobstore_version());
}

static int core_traverse(PyObject *m, visitproc visit, void *arg)
{
    core_state *st = PyModule_GetState(m);
    Py_VISIT(st->Error);
    Py_VISIT(st->NotFoundError);
    Py_VISIT(st->CorruptError);
    Py_VISIT(st->InvalidArgumentError);
    Py_VISIT(st->ConflictError);
    Py_VISIT(st->UnsupportedError);
    Py_VISIT(st->NotAStoreError);
    Py_VISIT(st->ReadOnlyError);
    Py_VISIT(st->KeyExistsError);
    Py_VISIT(st->StoreType);
    Py_VISIT(st->BufferType);
    Py_VISIT(st->MappedArrayType);
    return 0;
}

static int core_clear(PyObject *m)
{
    core_state *st = PyModule_GetState(m);
    Py_CLEAR(st->Error);
    Py_CLEAR(st->NotFoundError);
    Py_CLEAR(st->CorruptError);
    Py_CLEAR(st->InvalidArgumentError);
    Py_CLEAR(st->ConflictError);
    Py_CLEAR(st->UnsupportedError);
    Py_CLEAR(st->NotAStoreError);
    Py_CLEAR(st->ReadOnlyError);
    Py_CLEAR(st->KeyExistsError);
    Py_CLEAR(st->StoreType);
    Py_CLEAR(st->BufferType);
    Py_CLEAR(st->MappedArrayType);
    return 0;
}

static void core_free(void *m)
{
    core_clear((PyObject *)m);
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, core_exec},
    {0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,        .m_name = "_core",     .m_doc = "The C core of blobstore.",
    .m_size = sizeof(core_state), .m_slots = core_slots, .m_traverse = core_traverse,
    .m_clear = core_clear,        .m_free = core_free,
};

PyMODINIT_FUNC PyInit__core(void)
{
    return PyModuleDef_Init(&core_module);
}
