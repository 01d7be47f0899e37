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
 * recorder(fallback, template, counter, gate, queues, ctype, bind, own_files, is_own_code,
 *          packed_type, current_thread, limit, feeds) -> Recorder
 *
 *   A traced call recorded without a Python frame (``core.quickrecord``): ``recorder(args,
 *   kwargs)`` is what a tracing wrapper calls as its ``on_call``. While the ``gate`` is open it
 *   walks the calling thread's stack (skipping otrace's own frames: ``is_own_code(code, globals)``
 *   classifies a file not yet in ``own_files``), makes a context like ``context.snapshot`` of a
 *   call event (a copy of ``template``, a TraceContext holding the fields every call of this trace
 *   shares, with the variable ones set: ``_argvalues`` = ``(bind, args, kwargs)``, ``_stack`` =
 *   ``packed_type((codes, positions, depth, depth))``, ``frame_index``, ``file``, ``_line``,
 *   ``_thread`` (``current_thread()``, remembered in the thread state's dict), ``timestamp``),
 *   counts the match (``next(counter)``) and appends it to ``queues[ctype]`` (a deque: the
 *   store's queue of ``add_later``), then offers it to each feed of ``dict[key]`` (``feeds``
 *   is a ``(dict, key)`` pair: the event bus's ``__dict__`` and ``"feeds"``, a tuple): a Tally
 *   (below) takes it without a Python call while it is armed, anything else by its ``offer``
 *   method (failures there are reported as unraisable: the context is recorded by then).
 *   Otherwise, or when anything fails before the context is queued, it returns
 *   ``fallback(args, kwargs)`` (the Python path, which does the same or more).
 *
 *   ``gate``: a tuple of ``(dict, key, wanted)``: open while for each, ``dict.get(key)`` is true
 *   (``wanted`` True), false or missing (False), or one of the objects of the tuple ``wanted``
 *   (by identity). The dicts are the ``__dict__`` of the objects whose attributes decide it. On
 *   3.11 a value is looked up again only when its dict's version tag changed (its truth is
 *   judged at every call: an enricher list can grow without its owner's dict changing).
 *
 *   On CPython 3.11 the stack is read from the interpreter's own frames (no frame object is
 *   made: making one per frame cost more than the rest of the walk, and they are objects the
 *   cyclic GC counts); on other versions through frame objects (public API).
 *
 * Tally(wake) -> Tally
 *
 *   What a throttled feed of contexts (control.throttle.Throttle) keeps of the items offered
 *   to it in its window: the first ``room`` one by one, in order, then only how many more
 *   (``held``) and the newest of them. ``offer(item)``: while ``armed`` (a delivery is due:
 *   whoever reads the tally will come), ``admit`` it here; otherwise call ``wake(item)`` (the
 *   throttle's own path, which opens a window, admits it and arms the tally). ``admit(item)``
 *   -> True when kept one by one, False when only counted. ``open(room)``: a new window
 *   (room, nothing held; what is pending stays). ``take()`` -> (pending, held): the items
 *   kept since the last take, and disarms the tally when there were none and nothing is held.
 *   ``close()`` -> (pending, held, newest held): everything, and disarms it (room 0).
 *   ``armed`` is writable. Each method is atomic with respect to the others (they run
 *   with the GIL held and call no Python code, except ``offer``'s ``wake``), so a recording
 *   thread offers without a lock while the control thread takes.
 *
 * Thread-safety: runs with the GIL held on the thread whose frames it walks; ``is_own`` and
 * ``is_own_code`` are called with the GIL held.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>
#include <time.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#define OTRACE_INTERPRETER_FRAMES 1
#include <internal/pycore_frame.h>
/* a dict's version tag changes with every change of the dict (deprecated from 3.12 on) */
#define OTRACE_DICT_VERSIONS 1
#endif

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

/* 1: own, 0: not own, -1: error (exception set). A file not in ``own_files`` is classified by
 * ``is_own(f)`` when ``f`` is given, else by ``is_own(code, globals)``. */
static int
classify(PyFrameObject *f, PyCodeObject *code, PyObject *globals, PyObject *own_files, PyObject *is_own)
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
        PyObject *result = f != NULL ? PyObject_CallOneArg(is_own, (PyObject *)f)
                                     : PyObject_CallFunctionObjArgs(is_own, (PyObject *)code, globals, NULL);
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

/* After keeping the ``depth``-th frame, running ``code``: whether the walk stops there (``limit``
 * frames kept, or the first ordinary frame above a chain of coroutine frames: the loop's frame
 * that runs the task). */
static inline int
stops_after(PyCodeObject *code, int *in_chain, Py_ssize_t depth, Py_ssize_t limit)
{
    if (code->co_flags & OTRACE_CO_ASYNC) {
        *in_chain = 1;
        return depth == limit;
    }
    return *in_chain || depth == limit;
}

/* A new tuple of ``type`` (a tuple type) holding a, b, c, d, whose references it steals (also on
 * failure, or when one of them is NULL: then NULL, with an exception set). */
static PyObject *
tuple4(PyTypeObject *type, PyObject *a, PyObject *b, PyObject *c, PyObject *d)
{
    PyObject *items[4] = {a, b, c, d}, *result = NULL;
    int i;
    if (a != NULL && b != NULL && c != NULL && d != NULL) {
        result = type == &PyTuple_Type ? PyTuple_New(4) : type->tp_alloc(type, 4);
    }
    for (i = 0; i < 4; i++) {
        if (result != NULL) {
            PyTuple_SET_ITEM(result, i, items[i]);
        }
        else {
            Py_XDECREF(items[i]);
        }
    }
    return result;
}

/* The code objects of ``depth`` kept frames given innermost first, as a list outermost first, and
 * their positions as bytes of native ints in the same order; steals the references in ``codes``
 * (also on failure). 0, or -1 with an exception set. */
static int
pack(PyCodeObject **codes, const int *positions, Py_ssize_t depth, PyObject **flat_out, PyObject **positions_out)
{
    PyObject *flat = PyList_New(depth);
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, depth * (Py_ssize_t)sizeof(int));
    Py_ssize_t i;
    if (flat == NULL || bytes == NULL) {
        for (i = 0; i < depth; i++) {
            Py_DECREF(codes[i]);
        }
        Py_XDECREF(flat);
        Py_XDECREF(bytes);
        return -1;
    }
    int *packed = (int *)PyBytes_AS_STRING(bytes);
    for (i = 0; i < depth; i++) {
        PyList_SET_ITEM(flat, depth - 1 - i, (PyObject *)codes[i]);   /* steals the reference */
        packed[depth - 1 - i] = positions[i];
    }
    *flat_out = flat;
    *positions_out = bytes;
    return 0;
}

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
        int own = classify(f, code, NULL, own_files, is_own);
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
            lastis[depth] = PyFrame_GetLasti(f) >> 1;         /* offsets are even: 2-byte units */
            depth++;
            if (stops_after(code, &in_chain, depth, limit)) {
                break;
            }
        }
        PyFrameObject *back = PyFrame_GetBack(f);           /* new reference or NULL */
        Py_DECREF(f);
        f = back;
    }
    Py_CLEAR(f);
    if (pack(codes, lastis, depth, &flat, &positions) < 0) {
        depth = 0;                                            /* pack dropped the codes */
        goto error;
    }
    return tuple4(&PyTuple_Type, flat, positions, frames, PyLong_FromSsize_t(depth));

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

/* ---- the tally of a throttled feed ------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *pending;      /* list: the items kept one by one since the last take */
    PyObject *last;         /* the newest item only counted (NULL: none) */
    PyObject *wake;         /* called with an item offered while not armed */
    Py_ssize_t room, held;
    char armed;
} Tally;

static PyTypeObject TallyType;

static int
tally_traverse(Tally *self, visitproc visit, void *arg)
{
    Py_VISIT(self->pending);
    Py_VISIT(self->last);
    Py_VISIT(self->wake);
    return 0;
}

static int
tally_clear(Tally *self)
{
    Py_CLEAR(self->pending);
    Py_CLEAR(self->last);
    Py_CLEAR(self->wake);
    return 0;
}

static void
tally_dealloc(Tally *self)
{
    PyObject_GC_UnTrack(self);
    tally_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
tally_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *wake;
    if (!PyArg_ParseTuple(args, "O:Tally", &wake)) {
        return NULL;
    }
    Tally *self = (Tally *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->pending = PyList_New(0);
    if (self->pending == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->wake = Py_NewRef(wake);
    return (PyObject *)self;
}

/* 1: kept one by one, 0: counted, -1: error */
static int
tally_keep(Tally *self, PyObject *item)
{
    if (self->room > 0) {
        if (PyList_Append(self->pending, item) < 0) {
            return -1;
        }
        self->room--;
        return 1;
    }
    self->held++;
    Py_XSETREF(self->last, Py_NewRef(item));
    return 0;
}

/* 0, or -1 with an exception set */
static int
tally_offer_item(Tally *self, PyObject *item)
{
    if (self->armed) {
        return tally_keep(self, item) < 0 ? -1 : 0;
    }
    PyObject *done = PyObject_CallOneArg(self->wake, item);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

static PyObject *
tally_offer(Tally *self, PyObject *item)
{
    if (tally_offer_item(self, item) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
tally_admit(Tally *self, PyObject *item)
{
    int kept = tally_keep(self, item);
    return kept < 0 ? NULL : PyBool_FromLong(kept);
}

static PyObject *
tally_open(Tally *self, PyObject *room)
{
    Py_ssize_t n = PyLong_AsSsize_t(room);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    self->room = n;
    self->held = 0;
    Py_CLEAR(self->last);
    Py_RETURN_NONE;
}

/* the pending items (a new reference), replaced by an empty list; NULL on error */
static PyObject *
tally_swap(Tally *self)
{
    PyObject *fresh = PyList_New(0);
    if (fresh == NULL) {
        return NULL;
    }
    PyObject *pending = self->pending;
    self->pending = fresh;
    return pending;
}

static PyObject *
tally_take(Tally *self, PyObject *unused)
{
    PyObject *pending = tally_swap(self);
    if (pending == NULL) {
        return NULL;
    }
    if (PyList_GET_SIZE(pending) == 0 && self->held == 0) {
        self->armed = 0;
    }
    return Py_BuildValue("(Nn)", pending, self->held);
}

static PyObject *
tally_close(Tally *self, PyObject *unused)
{
    PyObject *pending = tally_swap(self);
    if (pending == NULL) {
        return NULL;
    }
    PyObject *last = self->last != NULL ? self->last : Py_NewRef(Py_None);
    self->last = NULL;
    Py_ssize_t held = self->held;
    self->held = self->room = 0;
    self->armed = 0;
    return Py_BuildValue("(NnN)", pending, held, last);
}

static PyMethodDef tally_methods[] = {
    {"offer", (PyCFunction)tally_offer, METH_O, "offer(item): admit it while armed, else wake(item)."},
    {"admit", (PyCFunction)tally_admit, METH_O, "admit(item) -> True: kept one by one, False: only counted."},
    {"open", (PyCFunction)tally_open, METH_O, "open(room): a new window (what is pending stays)."},
    {"take", (PyCFunction)tally_take, METH_NOARGS,
     "take() -> (pending, held); disarms the tally when nothing was pending nor held."},
    {"close", (PyCFunction)tally_close, METH_NOARGS, "close() -> (pending, held, newest held); disarms it."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef tally_members[] = {
    {"armed", T_BOOL, offsetof(Tally, armed), 0, "a delivery is due: offers are admitted here"},
    {"held", T_PYSSIZET, offsetof(Tally, held), READONLY, "items only counted in this window"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject TallyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "otrace_server.core._stackwalk.Tally",
    .tp_basicsize = sizeof(Tally),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "What a throttled feed keeps of the items offered in its window (see _stackwalk.c).",
    .tp_traverse = (traverseproc)tally_traverse,
    .tp_clear = (inquiry)tally_clear,
    .tp_dealloc = (destructor)tally_dealloc,
    .tp_new = tally_new,
    .tp_methods = tally_methods,
    .tp_members = tally_members,
};

/* Offer ``ctx`` to each feed of the tuple ``feeds`` (anything else: no feed); failures are
 * reported as unraisable. */
static void
feed_all(PyObject *feeds, PyObject *ctx)
{
    if (feeds == NULL || !PyTuple_Check(feeds)) {
        return;
    }
    Py_INCREF(feeds);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(feeds); i++) {
        PyObject *feed = PyTuple_GET_ITEM(feeds, i);
        int failed;
        if (Py_TYPE(feed) == &TallyType) {
            failed = tally_offer_item((Tally *)feed, ctx) < 0;
        }
        else {
            PyObject *done = PyObject_CallMethod(feed, "offer", "O", ctx);
            Py_XDECREF(done);
            failed = done == NULL;
        }
        if (failed) {
            PyErr_WriteUnraisable(feed);
        }
    }
    Py_DECREF(feeds);
}

/* ---- the recorder of a traced call ------------------------------------------------------- */

#define MAX_SLOTS 64
#define MAX_GATE 32

/* the objects a Recorder holds, in the order of recorder()'s arguments, then the last Thread */
enum {
    R_FALLBACK, R_TEMPLATE, R_COUNTER, R_GATE, R_QUEUES, R_CTYPE, R_BIND, R_OWN_FILES, R_IS_OWN_CODE,
    R_PACKED_TYPE, R_CURRENT_THREAD, R_LIMIT, R_FEEDS, R_THREAD, R_COUNT
};

/* dict[key], remembered while the dict does not change (borrowed: the dict holds it) */
typedef struct {
    PyObject *dict, *key;     /* borrowed from the gate tuple / the recorder */
    uint64_t version;
    PyObject *value;
} Lookup;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *refs[R_COUNT];      /* the objects it holds: the arguments of recorder(), then R_THREAD */
    Py_ssize_t limit;
    /* offsets in the context of every object slot, and of the fields set per call */
    Py_ssize_t nslots, slots[MAX_SLOTS];
    Py_ssize_t at_argvalues, at_stack, at_frame_index, at_file, at_line, at_thread, at_timestamp;
    /* the gate's lookups and what each wants (borrowed from the gate tuple); the queue's */
    Py_ssize_t ngate;
    Lookup gate_lookups[MAX_GATE];
    PyObject *gate_wanted[MAX_GATE];
    Lookup queue_lookup, feeds_lookup;
    /* the thread state that recorded last (ids are never reused): its Thread is refs[R_THREAD] */
    uint64_t thread_state_id;
} Recorder;

/* lines not yet resolved, ``~index`` (index < MAX_LIMIT), made once */
static PyObject *unresolved_lines[MAX_LIMIT];

static PyObject *thread_key;     /* the key of the Thread object in a thread state's dict */
static PyObject *deque_append;   /* collections.deque.append */
static PyObject *empty_string;

static int
recorder_traverse(Recorder *self, visitproc visit, void *arg)
{
    for (int i = 0; i < R_COUNT; i++) {
        Py_VISIT(self->refs[i]);
    }
    return 0;
}

static int
recorder_clear(Recorder *self)
{
    for (int i = 0; i < R_COUNT; i++) {
        Py_CLEAR(self->refs[i]);
    }
    return 0;
}

static void
recorder_dealloc(Recorder *self)
{
    PyObject_GC_UnTrack(self);
    recorder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* dict[key] (borrowed) or NULL (missing, or an error: check PyErr_Occurred) */
static PyObject *
look_up(Lookup *lookup)
{
#ifdef OTRACE_DICT_VERSIONS
    uint64_t version = ((PyDictObject *)lookup->dict)->ma_version_tag;
    if (version == lookup->version) {
        return lookup->value;
    }
#endif
    PyObject *value = PyDict_GetItemWithError(lookup->dict, lookup->key);
#ifdef OTRACE_DICT_VERSIONS
    if (value != NULL || !PyErr_Occurred()) {
        lookup->version = version;
        lookup->value = value;
    }
#endif
    return value;
}

/* 1: open, 0: closed, -1: error */
static int
gate_open(Recorder *self)
{
    Py_ssize_t n = self->ngate, i;
    for (i = 0; i < n; i++) {
        PyObject *value = look_up(&self->gate_lookups[i]);
        PyObject *wanted = self->gate_wanted[i];
        if (value == NULL && PyErr_Occurred()) {
            return -1;
        }
        if (PyTuple_Check(wanted)) {
            Py_ssize_t k, found = 0;
            for (k = 0; k < PyTuple_GET_SIZE(wanted) && !found; k++) {
                found = PyTuple_GET_ITEM(wanted, k) == value;
            }
            if (!found) {
                return 0;
            }
            continue;
        }
        int truth;
        if (value == NULL || value == Py_None || value == Py_False) {
            truth = 0;
        }
        else if (value == Py_True) {
            truth = 1;
        }
        else {                  /* may run code (__bool__, __len__): hold the value meanwhile */
            Py_INCREF(value);
            truth = PyObject_IsTrue(value);
            Py_DECREF(value);
        }
        if (truth < 0) {
            return -1;
        }
        if (truth != (wanted == Py_True)) {
            return 0;
        }
    }
    return 1;
}

/* The kept frames of the calling thread's stack, innermost first, into codes/lastis (new
 * references in codes); the count, or -1 on error. */
static Py_ssize_t
walk_here(Recorder *self, PyCodeObject **codes, int *lastis)
{
    Py_ssize_t depth = 0;
    int in_chain = 0;
#ifdef OTRACE_INTERPRETER_FRAMES
    _PyInterpreterFrame *f = PyThreadState_Get()->cframe->current_frame;
    for (; f != NULL; f = f->previous) {
        if (_PyFrame_IsIncomplete(f)) {
            continue;
        }
        PyCodeObject *code = f->f_code;
        int own = classify(NULL, code, f->f_globals, self->refs[R_OWN_FILES], self->refs[R_IS_OWN_CODE]);
        if (own < 0) {
            goto error;
        }
        if (own) {
            continue;
        }
        int lasti = _PyInterpreterFrame_LASTI(f);
        codes[depth] = (PyCodeObject *)Py_NewRef(code);
        lastis[depth] = lasti < 0 ? -1 : lasti;
#else
    PyFrameObject *f = PyEval_GetFrame();
    Py_XINCREF(f);
    while (f != NULL) {
        PyCodeObject *code = PyFrame_GetCode(f);            /* new reference */
        PyObject *globals = PyFrame_GetGlobals(f);           /* new reference */
        int own = classify(NULL, code, globals, self->refs[R_OWN_FILES], self->refs[R_IS_OWN_CODE]);
        Py_DECREF(globals);
        if (own != 0) {
            Py_DECREF(code);
            if (own < 0) {
                Py_DECREF(f);
                goto error;
            }
            PyFrameObject *back = PyFrame_GetBack(f);
            Py_DECREF(f);
            f = back;
            continue;
        }
        codes[depth] = code;
        lastis[depth] = PyFrame_GetLasti(f) >> 1;
#endif
        depth++;
        if (stops_after(code, &in_chain, depth, self->limit)) {
#ifndef OTRACE_INTERPRETER_FRAMES
            Py_DECREF(f);
#endif
            break;
        }
#ifndef OTRACE_INTERPRETER_FRAMES
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
#endif
    }
    return depth;

error:
    while (depth > 0) {
        Py_DECREF(codes[--depth]);
    }
    return -1;
}

static PyObject *thread_of_state(Recorder *self);

/* ``~index`` (a line to resolve from stack[index]), a new reference or NULL */
static PyObject *
unresolved_line(Py_ssize_t index)
{
    if (index < 0 || index >= MAX_LIMIT) {
        return PyLong_FromSsize_t(~index);
    }
    if (unresolved_lines[index] == NULL) {
        unresolved_lines[index] = PyLong_FromSsize_t(~index);     /* kept for good */
    }
    return Py_XNewRef(unresolved_lines[index]);
}

static double
wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The Thread object of the calling thread (borrowed), or NULL. */
static PyObject *
this_thread(Recorder *self)
{
    uint64_t id = PyThreadState_Get()->id;
    if (self->refs[R_THREAD] != NULL && self->thread_state_id == id) {
        return self->refs[R_THREAD];
    }
    PyObject *thread = thread_of_state(self);
    if (thread != NULL) {
        Py_XSETREF(self->refs[R_THREAD], Py_NewRef(thread));
        self->thread_state_id = id;
    }
    return thread;
}

/* The Thread object of the calling thread, kept in its thread state's dict (borrowed), or NULL. */
static PyObject *
thread_of_state(Recorder *self)
{
    PyObject *dict = PyThreadState_GetDict();     /* borrowed */
    if (dict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no thread state dict");
        return NULL;
    }
    PyObject *thread = PyDict_GetItemWithError(dict, thread_key);
    if (thread != NULL || PyErr_Occurred()) {
        return thread;
    }
    thread = PyObject_CallNoArgs(self->refs[R_CURRENT_THREAD]);
    if (thread == NULL) {
        return NULL;
    }
    int failed = PyDict_SetItem(dict, thread_key, thread);
    Py_DECREF(thread);                             /* the dict keeps it */
    return failed ? NULL : thread;
}

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

static void
set_slot(PyObject *obj, Py_ssize_t offset, PyObject *value)   /* steals value */
{
    Py_XSETREF(SLOT(obj, offset), value);
}

/* Record the call: 0, or -1 with an exception set (nothing counted, nothing queued). */
static int
record(Recorder *self, PyObject *args, PyObject *kwargs)
{
    PyCodeObject *codes[MAX_LIMIT];
    int lastis[MAX_LIMIT];
    lastis[0] = 0;          /* (set by the walk for every frame kept; this quiets a compiler warning) */
    PyObject *ctx = NULL, *flat = NULL, *positions = NULL, *packed = NULL;
    Py_ssize_t depth = walk_here(self, codes, lastis), i;
    if (depth < 0) {
        return -1;
    }
    if (pack(codes, lastis, depth, &flat, &positions) < 0) {
        return -1;
    }
    PyObject *file = depth > 0 ? Py_NewRef(((PyCodeObject *)PyList_GET_ITEM(flat, depth - 1))->co_filename)
                               : Py_NewRef(empty_string);
    PyObject *count = PyLong_FromSsize_t(depth);
    packed = tuple4((PyTypeObject *)self->refs[R_PACKED_TYPE], flat, positions, Py_XNewRef(count),
                    count);                           /* first = depth: no locals kept */
    flat = positions = NULL;
    if (packed == NULL) {
        Py_DECREF(file);
        goto error;
    }
    PyTypeObject *type = Py_TYPE(self->refs[R_TEMPLATE]);
    ctx = type->tp_alloc(type, 0);
    if (ctx == NULL) {
        Py_DECREF(file);
        goto error;
    }
    for (i = 0; i < self->nslots; i++) {
        SLOT(ctx, self->slots[i]) = Py_XNewRef(SLOT(self->refs[R_TEMPLATE], self->slots[i]));
    }
    set_slot(ctx, self->at_stack, packed);
    packed = NULL;
    set_slot(ctx, self->at_file, file);
    PyObject *thread = this_thread(self);
    if (thread == NULL) {
        goto error;
    }
    set_slot(ctx, self->at_thread, Py_NewRef(thread));
    set_slot(ctx, self->at_frame_index, PyLong_FromSsize_t(depth - 1));
    set_slot(ctx, self->at_line, depth > 0 ? unresolved_line(depth - 1) : PyLong_FromLong(0));
    set_slot(ctx, self->at_timestamp, PyFloat_FromDouble(wall_clock()));
    set_slot(ctx, self->at_argvalues, PyTuple_Pack(3, self->refs[R_BIND], args, kwargs));
    if (SLOT(ctx, self->at_frame_index) == NULL || SLOT(ctx, self->at_line) == NULL
            || SLOT(ctx, self->at_timestamp) == NULL || SLOT(ctx, self->at_argvalues) == NULL) {
        goto error;
    }
    PyObject *queue = look_up(&self->queue_lookup);   /* borrowed */
    if (queue == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetObject(PyExc_KeyError, self->refs[R_CTYPE]);
        }
        goto error;
    }
    PyObject *match = PyIter_Next(self->refs[R_COUNTER]);
    if (match == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "the match counter ended");
        }
        goto error;
    }
    Py_DECREF(match);
    PyObject *append_args[2] = {queue, ctx};
    PyObject *done = PyObject_Vectorcall(deque_append, append_args, 2, NULL);
    if (done == NULL) {
        goto error;     /* counted but not queued: as a failed record of the Python path */
    }
    Py_DECREF(done);
    PyObject *feeds = look_up(&self->feeds_lookup);   /* borrowed */
    if (feeds == NULL && PyErr_Occurred()) {
        PyErr_WriteUnraisable(self->refs[R_FEEDS]);
    }
    feed_all(feeds, ctx);
    Py_DECREF(ctx);
    return 0;

error:
    Py_XDECREF(flat);
    Py_XDECREF(positions);
    Py_XDECREF(packed);
    Py_XDECREF(ctx);
    return -1;
}

static PyObject *
recorder_vectorcall(Recorder *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (PyVectorcall_NARGS(nargsf) == 2 && kwnames == NULL) {
        int open = gate_open(self);
        if (open > 0 && record(self, args[0], args[1]) == 0) {
            Py_RETURN_NONE;
        }
        if (open != 0) {
            PyErr_Clear();     /* the Python path meets (and logs) what failed here */
        }
    }
    return PyObject_Vectorcall(self->refs[R_FALLBACK], args, nargsf, kwnames);
}

static PyTypeObject RecorderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "otrace_server.core._stackwalk.Recorder",
    .tp_basicsize = sizeof(Recorder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A traced call recorded without a Python frame: recorder(args, kwargs) (see _stackwalk.c).",
    .tp_traverse = (traverseproc)recorder_traverse,
    .tp_clear = (inquiry)recorder_clear,
    .tp_dealloc = (destructor)recorder_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Recorder, vectorcall),
};

static Py_ssize_t
member_offset(PyTypeObject *type, const char *name)
{
    PyMemberDef *m;
    for (m = type->tp_members; m != NULL && m->name != NULL; m++) {
        if (strcmp(m->name, name) == 0 && m->type == T_OBJECT_EX) {
            return m->offset;
        }
    }
    PyErr_Format(PyExc_TypeError, "recorder: the context type has no slot %s", name);
    return -1;
}

static PyObject *
make_recorder(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "recorder() takes 13 arguments");
        return NULL;
    }
    PyObject *template = args[1], *gate = args[3], *queues = args[4], *packed_type = args[9], *feeds = args[12];
    PyTypeObject *type = Py_TYPE(template);
    if (!PyTuple_Check(gate) || !PyDict_Check(queues) || !PyDict_Check(args[7])
            || !PyType_Check(packed_type) || !PyType_IsSubtype((PyTypeObject *)packed_type, &PyTuple_Type)
            || type->tp_itemsize != 0 || type->tp_dictoffset != 0 || type->tp_members == NULL
            || !PyTuple_Check(feeds) || PyTuple_GET_SIZE(feeds) != 2 || !PyDict_Check(PyTuple_GET_ITEM(feeds, 0))) {
        PyErr_SetString(PyExc_TypeError, "recorder: bad arguments (see _stackwalk.c)");
        return NULL;
    }
    Py_ssize_t i;
    if (PyTuple_GET_SIZE(gate) > MAX_GATE) {
        PyErr_SetString(PyExc_ValueError, "recorder: too many gate conditions");
        return NULL;
    }
    for (i = 0; i < PyTuple_GET_SIZE(gate); i++) {
        PyObject *entry = PyTuple_GET_ITEM(gate, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 3 || !PyDict_Check(PyTuple_GET_ITEM(entry, 0))) {
            PyErr_SetString(PyExc_TypeError, "recorder: the gate is a tuple of (dict, key, wanted)");
            return NULL;
        }
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[11]);
    if (limit == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (limit < 1 || limit > MAX_LIMIT) {
        PyErr_SetString(PyExc_ValueError, "recorder: limit must be in 1..1024");
        return NULL;
    }
    Recorder *self = PyObject_GC_New(Recorder, &RecorderType);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = (vectorcallfunc)recorder_vectorcall;
    for (i = 0; i < R_THREAD; i++) {
        self->refs[i] = Py_NewRef(args[i]);
    }
    self->refs[R_THREAD] = NULL;
    self->limit = limit;
    self->ngate = PyTuple_GET_SIZE(gate);
    for (i = 0; i < self->ngate; i++) {
        PyObject *entry = PyTuple_GET_ITEM(gate, i);
        self->gate_lookups[i] = (Lookup){PyTuple_GET_ITEM(entry, 0), PyTuple_GET_ITEM(entry, 1), 0, NULL};
        self->gate_wanted[i] = PyTuple_GET_ITEM(entry, 2);
    }
    self->queue_lookup = (Lookup){queues, self->refs[R_CTYPE], 0, NULL};
    self->feeds_lookup = (Lookup){PyTuple_GET_ITEM(feeds, 0), PyTuple_GET_ITEM(feeds, 1), 0, NULL};
    self->thread_state_id = 0;
    self->nslots = 0;
    PyMemberDef *m;
    for (m = type->tp_members; m->name != NULL; m++) {
        if (m->type == T_OBJECT_EX && self->nslots < MAX_SLOTS) {
            self->slots[self->nslots++] = m->offset;
        }
    }
    PyObject_GC_Track(self);
    if ((self->at_argvalues = member_offset(type, "_argvalues")) < 0
            || (self->at_stack = member_offset(type, "_stack")) < 0
            || (self->at_frame_index = member_offset(type, "frame_index")) < 0
            || (self->at_file = member_offset(type, "file")) < 0
            || (self->at_line = member_offset(type, "_line")) < 0
            || (self->at_thread = member_offset(type, "_thread")) < 0
            || (self->at_timestamp = member_offset(type, "timestamp")) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyMethodDef methods[] = {
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "walk(frame, own_files, is_own, limit, want) -> (codes, positions, frames, depth): the stack walk of a "
     "trace context (see otrace_server/core/_stackwalk.c)."},
    {"recorder", (PyCFunction)(void (*)(void))make_recorder, METH_FASTCALL,
     "recorder(fallback, template, counter, gate, queues, ctype, bind, own_files, is_own_code, packed_type, "
     "current_thread, limit, feeds) -> Recorder: a traced call recorded without a Python frame (see _stackwalk.c)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "otrace_server.core._stackwalk",
    "C accelerator of otrace_server.core.frames' stack walk (optional).", -1, methods,
};

PyMODINIT_FUNC
PyInit__stackwalk(void)
{
    if (PyType_Ready(&RecorderType) < 0 || PyType_Ready(&TallyType) < 0) {
        return NULL;
    }
    if (thread_key == NULL) {
        thread_key = PyUnicode_InternFromString("otrace_server.core._stackwalk.thread");
        empty_string = PyUnicode_InternFromString("");
        PyObject *collections = PyImport_ImportModule("collections");
        if (collections != NULL) {
            PyObject *deque = PyObject_GetAttrString(collections, "deque");
            if (deque != NULL) {
                deque_append = PyObject_GetAttrString(deque, "append");
                Py_DECREF(deque);
            }
            Py_DECREF(collections);
        }
        if (thread_key == NULL || empty_string == NULL || deque_append == NULL) {
            return NULL;
        }
    }
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddObjectRef(m, "Tally", (PyObject *)&TallyType) < 0) {
        Py_CLEAR(m);
    }
    return m;
}
