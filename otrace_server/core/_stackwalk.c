/* The stack walk of otrace_server.core.context.snapshot, in C (``walk`` of core/frames.py).
 *
 * Optional accelerator: frames.py has the same walk in Python (``_walk_python``) and uses it
 * when this module was not built; tests check that both give the same result. The walk runs on
 * the traced thread for every recorded context, and in Python it costs a few hundred ns per
 * frame; here it costs a few tens.
 *
 * walk(frame, own_files, is_own, limit, want) -> (codes, positions, frames, depth)
 *
 *   Walk from ``frame`` outwards along f_back, skipping otrace's own frames: a frame is own when
 *   ``own_files[code.co_filename]`` is true; a file not in ``own_files`` is classified by calling
 *   ``is_own(frame)`` (which caches its answer in ``own_files``). For each frame kept, in order
 *   from the innermost: its code object and its position (bytecode offset // 2). The walk stops
 *   after ``limit`` kept frames, and after the first ordinary frame above a chain of coroutine /
 *   async generator frames (the event loop's frame that runs the task).
 *
 *   codes:     the code objects of the kept frames, OUTERMOST first (a list)
 *   positions: their positions, bytes of native ints (what array("i").tobytes() gives)
 *   frames:    the first ``want`` kept frame objects, innermost first (for copying their locals;
 *           the caller drops them before returning: a context never keeps a frame)
 *   depth:     the number of kept frames
 *
 * Thread-safety: runs with the GIL held on the thread whose frames it walks; ``is_own`` is
 * called with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

/* CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR */
#define OTRACE_CO_ASYNC (0x80 | 0x100 | 0x200)

/* Which code objects are otrace's own: a small direct-mapped cache in front of ``own_files``
 * (a dict lookup per frame costs more than the rest of the walk). Entries hold a strong reference
 * to their code object, so a cached address can never be reused by another object; a file's
 * answer never changes. Only touched with the GIL held. */
#define OWN_CACHE_SIZE 1024
static struct {
    PyObject *code;
    int own;
} own_cache[OWN_CACHE_SIZE];

/* 1: own, 0: not own, -1: error (exception set) */
static int
classify(PyFrameObject *f, PyCodeObject *code, PyObject *own_files, PyObject *is_own)
{
    size_t slot = ((size_t)code >> 5) % OWN_CACHE_SIZE;   /* code objects are > 32 bytes apart */
    if (own_cache[slot].code == (PyObject *)code) {
        return own_cache[slot].own;
    }
    PyObject *own = PyDict_GetItemWithError(own_files, code->co_filename);   /* borrowed */
    int answer;
    if (own != NULL) {
        answer = PyObject_IsTrue(own);
    }
    else if (PyErr_Occurred()) {
        return -1;
    }
    else {
        PyObject *result = PyObject_CallOneArg(is_own, (PyObject *)f);
        if (result == NULL) {
            return -1;
        }
        answer = PyObject_IsTrue(result);
        Py_DECREF(result);
    }
    if (answer >= 0) {
        Py_XSETREF(own_cache[slot].code, Py_NewRef((PyObject *)code));
        own_cache[slot].own = answer;
    }
    return answer;
}

#define MAX_LIMIT 1024

static PyObject *
walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "walk(frame, own_files, is_own, limit, want) takes 5 arguments");
        return NULL;
    }
    PyObject *start = args[0], *own_files = args[1], *is_own = args[2];
    if (start != Py_None && !PyFrame_Check(start)) {
        PyErr_SetString(PyExc_TypeError, "walk: frame must be a frame or None");
        return NULL;
    }
    if (!PyDict_Check(own_files)) {
        PyErr_SetString(PyExc_TypeError, "walk: own_files must be a dict");
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    Py_ssize_t want = PyLong_AsSsize_t(args[4]);
    if ((limit == -1 || want == -1) && PyErr_Occurred()) {
        return NULL;
    }
    if (limit < 1 || limit > MAX_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "walk: limit must be in 1..1024");
        return NULL;
    }

    PyCodeObject *codes[MAX_LIMIT];     /* the kept frames, innermost first (new references) */
    int lastis[MAX_LIMIT];
    Py_ssize_t depth = 0, i;
    int in_chain = 0;
    PyObject *frames = PyList_New(0), *flat = NULL, *positions = NULL;
    if (frames == NULL) {
        return NULL;
    }
    PyFrameObject *f = start == Py_None ? NULL : (PyFrameObject *)Py_NewRef(start);
    while (f != NULL) {
        PyCodeObject *code = PyFrame_GetCode(f);            /* new reference */
        int own = classify(f, code, own_files, is_own);
        if (own < 0) {
            Py_DECREF(code);
            goto error;
        }
        if (own) {
            Py_DECREF(code);
        }
        else {
            if (depth < want && PyList_Append(frames, (PyObject *)f) < 0) {
                Py_DECREF(code);
                goto error;
            }
            codes[depth] = code;                              /* keeps the reference */
            lastis[depth] = PyFrame_GetLasti(f);
            depth++;
            int stop = 0;
            if (code->co_flags & OTRACE_CO_ASYNC) {
                in_chain = 1;
            }
            else if (in_chain) {
                stop = 1;
            }
            if (stop || depth == limit) {
                break;
            }
        }
        PyFrameObject *back = PyFrame_GetBack(f);           /* new reference or NULL */
        Py_DECREF(f);
        f = back;
    }
    Py_CLEAR(f);
    flat = PyList_New(depth);                                /* code objects, outermost first */
    positions = PyBytes_FromStringAndSize(NULL, depth * (Py_ssize_t)sizeof(int));
    if (flat == NULL || positions == NULL) {
        goto error;
    }
    int *packed = (int *)PyBytes_AS_STRING(positions);
    for (i = 0; i < depth; i++) {
        PyList_SET_ITEM(flat, depth - 1 - i, (PyObject *)codes[i]);   /* steals the reference */
        codes[i] = NULL;
        packed[depth - 1 - i] = lastis[i] >> 1;             /* offsets are even: 2-byte units */
    }
    PyObject *result = PyTuple_New(4);
    PyObject *count = PyLong_FromSsize_t(depth);
    if (result == NULL || count == NULL) {
        Py_XDECREF(result);
        Py_XDECREF(count);
        goto error;
    }
    PyTuple_SET_ITEM(result, 0, flat);
    PyTuple_SET_ITEM(result, 1, positions);
    PyTuple_SET_ITEM(result, 2, frames);
    PyTuple_SET_ITEM(result, 3, count);
    return result;

error:
    Py_XDECREF(f);
    for (i = 0; i < depth; i++) {
        Py_XDECREF(codes[i]);
    }
    Py_XDECREF(flat);     /* items not yet set are NULL: list_dealloc skips them */
    Py_XDECREF(positions);
    Py_DECREF(frames);
    return NULL;
}

static PyMethodDef methods[] = {
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "walk(frame, own_files, is_own, limit, want) -> (codes, positions, frames, depth): the stack walk of a "
     "trace context (see otrace_server/core/_stackwalk.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "otrace_server.core._stackwalk",
    "C accelerator of otrace_server.core.frames' stack walk (optional).", -1, methods,
};

PyMODINIT_FUNC
PyInit__stackwalk(void)
{
    return PyModule_Create(&module);
}
