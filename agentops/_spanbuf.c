/* The trace pipeline's producer side in C: finished OpenTelemetry spans appended to Arrow-ready
 * column buffers on the producer's thread.
 *
 * Why native: a span ends on the thread of the agent that made it, and everything the drain does
 * later in Python holds the GIL that thread needs. So `add` does all the per-span work at once
 * (ids as hex, the name as UTF-8, the attributes as one line of JSON) in a few hundred
 * nanoseconds and keeps no Python object alive; the drain lays Arrow arrays over the finished
 * buffers (`span_arrow.native_to_arrow`) with no per-span work left under the GIL.
 *
 * The Python fallback (`tracing.SpanColumns`) produces the same rows (a number in the
 * attributes' JSON may be spelled another way: 1e+16 for 1e16); this module is optional
 * (a machine with no C compiler installs without it) and `tracing` picks it when it is built.
 *
 * Columns (`take()` copies them out as bytes objects and empties the buffer):
 *   trace (32 hex chars a row), span (16), parent (16, zeros when none) + parent validity bitmap,
 *   name offsets (int64) + name UTF-8, kind (uint8: index in `configure`'s kinds), start and end
 *   (int64) + validity bitmaps, status (uint8), attributes offsets (int64) + NDJSON (each object
 *   followed by '\n').
 *
 * Attribute values this encoder writes itself: None, bool, int, float (NaN and infinity as null,
 * as JSON has neither), str, and tuples/lists of these. Anything else (a NumPy float, a nested
 * mapping, a key that is not text) sends the whole mapping to `configure`'s Python encoder, the
 * same one the fallback uses. Text that is not valid UTF-8 (a lone surrogate) is written with
 * `backslashreplace`, as `span_arrow._utf8` does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- growable byte buffers, kept warm between batches ----
 *
 * A busy producer fills tens of MB a second. Memory the process just got from the kernel costs a
 * page fault and a zeroed page on first touch, and growing a buffer copies it: paid on the
 * producer's thread, that was most of `add`. So the buffers live on: `take` copies the columns
 * out (on the drain's thread, the GIL released) and hands the emptied buffers, capacity and all,
 * to the next SpanBuffer (one spare set per process, under the GIL). */

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_grow(Buf *b, Py_ssize_t need) {
    Py_ssize_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap += cap >> 1; /* 1.5x: fewer large reallocations than 2x would waste */
    char *p = PyMem_RawRealloc(b->p, (size_t)cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline int buf_reserve(Buf *b, Py_ssize_t extra) {
    return b->len + extra <= b->cap ? 0 : buf_grow(b, b->len + extra);
}

static inline char *buf_at(Buf *b) { return b->p + b->len; }

static inline int buf_put(Buf *b, const void *src, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0)
        return -1;
    memcpy(buf_at(b), src, (size_t)n);
    b->len += n;
    return 0;
}

static inline int buf_byte(Buf *b, char c) {
    if (buf_reserve(b, 1) < 0)
        return -1;
    b->p[b->len++] = c;
    return 0;
}

static void buf_free(Buf *b) {
    PyMem_RawFree(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- module state (set once by `configure`) ---- */

static PyObject *s_context, *s_parent, *s_name, *s_kind, *s_start, *s_end, *s_status, *s_code,
    *s_attributes, *s_dict;
static PyObject *g_kinds;    /* tuple of SpanKind members; a row stores the index */
static PyObject *g_statuses; /* tuple of StatusCode members */
static PyObject *g_fallback; /* callable(mapping) -> bytes: one JSON object, no newline */

static const char HEX[] = "0123456789abcdef";

/* ---- the span buffer ---- */

enum {
    C_TRACE, C_SPAN, C_PARENT, C_PARENT_OK, C_NAME_OFF, C_NAME, C_KIND, C_START, C_START_OK,
    C_END, C_END_OK, C_STATUS, C_ATTR_OFF, C_ATTRS, N_COLS
};

typedef struct {
    PyObject_HEAD
    Py_ssize_t n;
    int busy; /* an `add` (which may run Python code) or a `take` (which releases the GIL) is
               * under way: neither may start on this buffer meanwhile */
    Buf col[N_COLS];
} SpanBuffer;

static int put_hex(Buf *b, const unsigned char *raw, int size) {
    if (buf_reserve(b, 2 * size) < 0)
        return -1;
    char *p = buf_at(b);
    for (int i = 0; i < size; i++) {
        p[2 * i] = HEX[raw[i] >> 4];
        p[2 * i + 1] = HEX[raw[i] & 15];
    }
    b->len += 2 * size;
    return 0;
}

/* An id (an int of `size` bytes, unsigned) as big-endian bytes. */
static int id_bytes(PyObject *v, unsigned char *raw, int size) {
    if (!PyLong_Check(v)) {
        PyErr_Format(PyExc_TypeError, "span id must be an int, not %.100s", Py_TYPE(v)->tp_name);
        return -1;
    }
    if (size == 8) {
        unsigned long long x = PyLong_AsUnsignedLongLong(v);
        if (x == (unsigned long long)-1 && PyErr_Occurred())
            return -1;
        for (int i = 7; i >= 0; i--, x >>= 8)
            raw[i] = (unsigned char)(x & 0xff);
        return 0;
    }
#if PY_VERSION_HEX >= 0x030D0000
    Py_ssize_t r = PyLong_AsNativeBytes(
        v, raw, size, Py_ASNATIVEBYTES_BIG_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER |
                          Py_ASNATIVEBYTES_REJECT_NEGATIVE);
    if (r < 0)
        return -1;
    if (r > size) {
        PyErr_SetString(PyExc_OverflowError, "trace id does not fit 128 bits");
        return -1;
    }
    return 0;
#else
    return _PyLong_AsByteArray((PyLongObject *)v, raw, (size_t)size, 0, 0);
#endif
}

static inline void set_bit(Buf *bitmap, Py_ssize_t row) {
    bitmap->p[row >> 3] |= (char)(1 << (row & 7));
}

/* Room for row `row`'s bit (a new zero byte every eight rows). */
static inline int bitmap_row(Buf *bitmap, Py_ssize_t row) {
    return (row & 7) ? 0 : buf_byte(bitmap, 0);
}

static int member_index(PyObject *members, PyObject *v, const char *what) {
    Py_ssize_t n = PyTuple_GET_SIZE(members);
    for (Py_ssize_t i = 0; i < n; i++)
        if (PyTuple_GET_ITEM(members, i) == v)
            return (int)i;
    for (Py_ssize_t i = 0; i < n; i++) { /* not the member itself: an equal value */
        int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(members, i), v, Py_EQ);
        if (eq < 0)
            return -1;
        if (eq)
            return (int)i;
    }
    PyErr_Format(PyExc_ValueError, "unknown span %s: %R", what, v);
    return -1;
}

/* UTF-8 of `s`, or its backslashreplace encoding when it holds a lone surrogate (`*tmp` then
 * owns the bytes). */
static const char *utf8_of(PyObject *s, Py_ssize_t *size, PyObject **tmp) {
    const char *p = PyUnicode_AsUTF8AndSize(s, size);
    *tmp = NULL;
    if (p != NULL)
        return p;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
        return NULL;
    PyErr_Clear();
    *tmp = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
    if (*tmp == NULL)
        return NULL;
    *size = PyBytes_GET_SIZE(*tmp);
    return PyBytes_AS_STRING(*tmp);
}

/* JSON encoding of attribute values: 0 written, -1 error, 1 not a value this encoder writes
 * (the caller rewinds and asks the Python encoder). */

/* Bytes JSON must escape: control characters, '"' and '\\' (built once by the module). */
static unsigned char ESCAPE[256];

static int json_str(Buf *b, PyObject *s) {
    Py_ssize_t size;
    PyObject *tmp;
    const char *p = utf8_of(s, &size, &tmp);
    if (p == NULL)
        return -1;
    /* worst case every byte becomes \u00XX */
    if (buf_reserve(b, 6 * size + 2) < 0) {
        Py_XDECREF(tmp);
        return -1;
    }
    char *o = buf_at(b);
    *o++ = '"';
    Py_ssize_t i = 0;
    while (i < size) {
        Py_ssize_t run = i; /* the longest stretch that needs no escape, copied at once */
        while (run < size && !ESCAPE[(unsigned char)p[run]])
            run++;
        memcpy(o, p + i, (size_t)(run - i));
        o += run - i;
        if (run == size)
            break;
        unsigned char c = (unsigned char)p[run];
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        default:
            *o++ = 'u'; *o++ = '0'; *o++ = '0';
            *o++ = HEX[c >> 4]; *o++ = HEX[c & 15];
        }
        i = run + 1;
    }
    *o++ = '"';
    b->len = o - b->p;
    Py_XDECREF(tmp);
    return 0;
}

/* `u`'s decimal digits written backwards, ending at `end`; returns where they start. */
static char *digits_before(char *end, unsigned long long u) {
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    return end;
}

/* A signed integer's decimal digits. */
static int put_int(Buf *b, long long x) {
    char digits[24], *end = digits + sizeof digits;
    char *d = digits_before(end, x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x);
    if (x < 0)
        *--d = '-';
    return buf_put(b, d, end - d);
}

static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* A finite double as JSON. A value with few decimals (0.5, 12.25, 3.0) is m / 10^k for an
 * integer m below 2^53: the division rounds the exact quotient as parsing "m·10^-k" does, so
 * when it gives back x that text is written straight from m (no dtoa, no allocation); any other
 * value gets Python's repr. */
static int put_double(Buf *b, double x) {
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0 /* doubles computed as doubles, no wider */
    for (int k = 0; k < 10; k++) {
        double scaled = x * POW10[k];
        if (fabs(scaled) >= 9007199254740992.0)
            break;
        if (scaled != (double)(long long)scaled)
            continue;
        long long m = (long long)scaled;
        if ((double)m / POW10[k] != x)
            continue;
        for (; k > 0 && m % 10 == 0; k--) /* 0.07 is 70 / 10^3 before it is 7 / 10^2 */
            m /= 10;
        char digits[40], *d = digits + sizeof digits;
        unsigned long long u = m < 0 ? 0ULL - (unsigned long long)m : (unsigned long long)m;
        if (k == 0) /* an integral value keeps its ".0", as Python's repr does */
            *--d = '0';
        for (int i = 0; i < k; i++, u /= 10)
            *--d = (char)('0' + u % 10);
        *--d = '.';
        d = digits_before(d, u);
        if (signbit(x))
            *--d = '-';
        return buf_put(b, d, digits + sizeof digits - d);
    }
#endif
    char *text = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL)
        return -1;
    int r = buf_put(b, text, (Py_ssize_t)strlen(text));
    PyMem_Free(text);
    return r;
}

static int json_value(Buf *b, PyObject *v, int depth) {
    if (v == Py_None)
        return buf_put(b, "null", 4);
    if (v == Py_True)
        return buf_put(b, "true", 4);
    if (v == Py_False)
        return buf_put(b, "false", 5);
    if (PyUnicode_CheckExact(v))
        return json_str(b, v);
    if (PyLong_CheckExact(v)) {
        int overflow;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow == 0) {
            if (x == -1 && PyErr_Occurred())
                return -1;
            return put_int(b, x);
        }
        PyObject *text = PyObject_Str(v); /* a big int: its decimal digits */
        if (text == NULL) { /* beyond int's digit limit: the Python encoder decides */
            PyErr_Clear();
            return 1;
        }
        Py_ssize_t size;
        const char *p = PyUnicode_AsUTF8AndSize(text, &size);
        int r = p == NULL ? -1 : buf_put(b, p, size);
        Py_DECREF(text);
        return r;
    }
    if (PyFloat_CheckExact(v)) {
        double x = PyFloat_AS_DOUBLE(v);
        if (!isfinite(x))
            return buf_put(b, "null", 4);
        return put_double(b, x);
    }
    if ((PyTuple_CheckExact(v) || PyList_CheckExact(v)) && depth < 8) {
        PyObject *seq = v;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        if (buf_byte(b, '[') < 0)
            return -1;
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i && buf_byte(b, ',') < 0)
                return -1;
            int r = json_value(b, PySequence_Fast_GET_ITEM(seq, i), depth + 1);
            if (r)
                return r;
        }
        return buf_byte(b, ']');
    }
    return 1;
}

static int json_object(Buf *b, PyObject *dict) {
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    int first = 1;
    if (buf_byte(b, '{') < 0)
        return -1;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            return 1;
        if ((!first && buf_byte(b, ',') < 0) || json_str(b, key) < 0 || buf_byte(b, ':') < 0)
            return -1;
        first = 0;
        int r = json_value(b, value, 0);
        if (r)
            return r;
    }
    return buf_byte(b, '}');
}

/* The span's attributes as one JSON object at the end of the attributes column. The C encoder
 * writes in place; a mapping it does not cover is rewound and encoded by the Python fallback. */
static int put_attributes(SpanBuffer *self, PyObject *span) {
    Buf *b = &self->col[C_ATTRS];
    Py_ssize_t mark = b->len;
    PyObject *attrs = PyObject_GetAttr(span, s_attributes);
    if (attrs == NULL)
        return -1;
    PyObject *dict = NULL;
    int r;
    if (attrs == Py_None) {
        r = buf_put(b, "{}", 2);
    } else {
        if (PyDict_CheckExact(attrs)) {
            dict = Py_NewRef(attrs);
        } else {
            dict = PyObject_GetAttr(attrs, s_dict); /* BoundedAttributes' plain dict */
            if (dict == NULL)
                PyErr_Clear();
            else if (!PyDict_CheckExact(dict))
                Py_CLEAR(dict);
        }
        r = dict != NULL ? json_object(b, dict) : 1;
        if (r == 1) {
            b->len = mark;
            PyObject *text = PyObject_CallOneArg(g_fallback, attrs);
            if (text == NULL) {
                r = -1;
            } else if (!PyBytes_Check(text)) {
                PyErr_SetString(PyExc_TypeError, "the attribute encoder must return bytes");
                Py_DECREF(text);
                r = -1;
            } else {
                r = buf_put(b, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text));
                Py_DECREF(text);
            }
        }
    }
    Py_XDECREF(dict);
    Py_DECREF(attrs);
    if (r == 0)
        r = buf_byte(b, '\n');
    if (r != 0)
        b->len = mark;
    return r;
}

static int put_int64_or_null(Buf *col, Buf *ok, Py_ssize_t row, PyObject *v) {
    long long x = 0;
    if (v != Py_None) {
        x = PyLong_AsLongLong(v);
        if (x == -1 && PyErr_Occurred())
            return -1;
    }
    if (buf_put(col, &x, 8) < 0 || bitmap_row(ok, row) < 0)
        return -1;
    if (v != Py_None)
        set_bit(ok, row);
    return 0;
}

static int put_offset(Buf *off, Buf *data) {
    int64_t end = (int64_t)data->len;
    return buf_put(off, &end, 8);
}

/* Every column's length back to `n` rows (a span that failed half-way leaves no trace). */
static void rewind_to(SpanBuffer *self, Py_ssize_t n, Py_ssize_t name_len, Py_ssize_t attrs_len) {
    Py_ssize_t bits = (n + 7) >> 3;
    self->col[C_TRACE].len = 32 * n;
    self->col[C_SPAN].len = 16 * n;
    self->col[C_PARENT].len = 16 * n;
    self->col[C_NAME_OFF].len = 8 * (n + 1);
    self->col[C_NAME].len = name_len;
    self->col[C_KIND].len = n;
    self->col[C_START].len = 8 * n;
    self->col[C_END].len = 8 * n;
    self->col[C_STATUS].len = n;
    self->col[C_ATTR_OFF].len = 8 * (n + 1);
    self->col[C_ATTRS].len = attrs_len;
    const int bitmaps[] = {C_PARENT_OK, C_START_OK, C_END_OK};
    for (int i = 0; i < 3; i++) {
        Buf *b = &self->col[bitmaps[i]];
        b->len = bits;
        if (n & 7) /* clear the bits of rows >= n in the last byte */
            b->p[bits - 1] &= (char)((1 << (n & 7)) - 1);
    }
}

/* The offset columns' leading 0, in both or neither (room for both is made first). */
static int start_offsets(SpanBuffer *self) {
    Buf *names = &self->col[C_NAME_OFF], *attrs = &self->col[C_ATTR_OFF];
    if (names->len != 0)
        return 0;
    if (buf_reserve(names, 8) < 0 || buf_reserve(attrs, 8) < 0)
        return -1;
    memset(names->p, 0, 8);
    memset(attrs->p, 0, 8);
    names->len = attrs->len = 8;
    return 0;
}

static int span_add(SpanBuffer *self, PyObject *span) {
    Py_ssize_t row = self->n;
    unsigned char raw[16];
    PyObject *ctx = NULL, *parent = NULL, *name = NULL, *kind = NULL, *start = NULL, *end = NULL,
             *status = NULL, *code = NULL, *name_tmp = NULL;
    Py_ssize_t name_mark = self->col[C_NAME].len, attrs_mark = self->col[C_ATTRS].len;
    int ok = -1;

    if (start_offsets(self) < 0)
        return -1;
    /* the attributes first: the step most likely to run Python code (the fallback encoder;
     * `busy` keeps this buffer to this call meanwhile) */
    if (put_attributes(self, span) < 0)
        goto done;
    if (put_offset(&self->col[C_ATTR_OFF], &self->col[C_ATTRS]) < 0)
        goto done;

    if ((ctx = PyObject_GetAttr(span, s_context)) == NULL)
        goto done;
    if (!PyTuple_Check(ctx) || PyTuple_GET_SIZE(ctx) < 2) {
        PyErr_SetString(PyExc_TypeError, "a span's context must be a SpanContext");
        goto done;
    }
    if (id_bytes(PyTuple_GET_ITEM(ctx, 0), raw, 16) < 0 || put_hex(&self->col[C_TRACE], raw, 16) < 0)
        goto done;
    if (id_bytes(PyTuple_GET_ITEM(ctx, 1), raw, 8) < 0 || put_hex(&self->col[C_SPAN], raw, 8) < 0)
        goto done;

    if ((parent = PyObject_GetAttr(span, s_parent)) == NULL || bitmap_row(&self->col[C_PARENT_OK], row) < 0)
        goto done;
    if (parent == Py_None) {
        memset(raw, 0, 8);
    } else {
        if (!PyTuple_Check(parent) || PyTuple_GET_SIZE(parent) < 2) {
            PyErr_SetString(PyExc_TypeError, "a span's parent must be a SpanContext or None");
            goto done;
        }
        if (id_bytes(PyTuple_GET_ITEM(parent, 1), raw, 8) < 0)
            goto done;
        set_bit(&self->col[C_PARENT_OK], row);
    }
    if (put_hex(&self->col[C_PARENT], raw, 8) < 0)
        goto done;

    if ((name = PyObject_GetAttr(span, s_name)) == NULL)
        goto done;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "a span's name must be str, not %.100s", Py_TYPE(name)->tp_name);
        goto done;
    }
    {
        Py_ssize_t size;
        const char *p = utf8_of(name, &size, &name_tmp);
        if (p == NULL || buf_put(&self->col[C_NAME], p, size) < 0 ||
            put_offset(&self->col[C_NAME_OFF], &self->col[C_NAME]) < 0)
            goto done;
    }

    if ((kind = PyObject_GetAttr(span, s_kind)) == NULL)
        goto done;
    {
        int k = member_index(g_kinds, kind, "kind");
        if (k < 0 || buf_byte(&self->col[C_KIND], (char)k) < 0)
            goto done;
    }
    if ((start = PyObject_GetAttr(span, s_start)) == NULL ||
        put_int64_or_null(&self->col[C_START], &self->col[C_START_OK], row, start) < 0)
        goto done;
    if ((end = PyObject_GetAttr(span, s_end)) == NULL ||
        put_int64_or_null(&self->col[C_END], &self->col[C_END_OK], row, end) < 0)
        goto done;
    if ((status = PyObject_GetAttr(span, s_status)) == NULL || (code = PyObject_GetAttr(status, s_code)) == NULL)
        goto done;
    {
        int s = member_index(g_statuses, code, "status");
        if (s < 0 || buf_byte(&self->col[C_STATUS], (char)s) < 0)
            goto done;
    }
    self->n = row + 1;
    ok = 0;
done:
    if (ok < 0)
        rewind_to(self, row, name_mark, attrs_mark);
    Py_XDECREF(ctx);
    Py_XDECREF(parent);
    Py_XDECREF(name);
    Py_XDECREF(name_tmp);
    Py_XDECREF(kind);
    Py_XDECREF(start);
    Py_XDECREF(end);
    Py_XDECREF(status);
    Py_XDECREF(code);
    return ok;
}

static PyObject *SpanBuffer_add(SpanBuffer *self, PyObject *span) {
    if (g_fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_spanbuf.configure() has not been called");
        return NULL;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "SpanBuffer.add() while another add() or take() runs on it");
        return NULL;
    }
    self->busy = 1;
    int r = span_add(self, span);
    self->busy = 0;
    return r < 0 ? NULL : PyLong_FromSsize_t(self->n);
}

/* One spare set of emptied buffers (their capacity kept) for the next SpanBuffer: guarded by
 * the GIL, as every caller holds it. */
static Buf g_spare[N_COLS];
static int g_has_spare;

static Py_ssize_t capacity(const Buf *cols) {
    Py_ssize_t cap = 0;
    for (int c = 0; c < N_COLS; c++)
        cap += cols[c].cap;
    return cap;
}

/* The most memory a spare set may hold: ~100k spans of ordinary size. A burst of huge spans
 * leaves its buffers to the allocator instead of pinning them for the process's life. */
#define SPARE_MAX ((Py_ssize_t)64 << 20)

/* The buffers become the spare set if they are larger than the one kept and within SPARE_MAX
 * (else they are freed). */
static void give_back(SpanBuffer *self) {
    Buf *drop = self->col;
    for (int c = 0; c < N_COLS; c++)
        self->col[c].len = 0;
    Py_ssize_t cap = capacity(self->col);
    if (cap <= SPARE_MAX && (!g_has_spare || capacity(g_spare) < cap)) {
        Buf old[N_COLS];
        memcpy(old, g_spare, sizeof old);
        memcpy(g_spare, self->col, sizeof g_spare);
        memcpy(self->col, old, sizeof old);
        g_has_spare = 1;
    }
    for (int c = 0; c < N_COLS; c++)
        buf_free(&drop[c]);
}

static PyObject *SpanBuffer_take(SpanBuffer *self, PyObject *Py_UNUSED(ignored)) {
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "SpanBuffer.take() while an add() or take() runs on it");
        return NULL;
    }
    PyObject *out = PyTuple_New(N_COLS + 1), *bytes[N_COLS] = {NULL};
    if (out == NULL)
        return NULL;
    if (start_offsets(self) < 0) /* no rows: the offsets still hold one 0 */
        goto fail;
    for (int c = 0; c < N_COLS; c++)
        if ((bytes[c] = PyBytes_FromStringAndSize(NULL, self->col[c].len)) == NULL)
            goto fail;
    /* the copy touches fresh pages: on this (the drain's) thread, the producer free to run */
    self->busy = 1;
    Py_BEGIN_ALLOW_THREADS
    for (int c = 0; c < N_COLS; c++)
        if (self->col[c].len)
            memcpy(PyBytes_AS_STRING(bytes[c]), self->col[c].p, (size_t)self->col[c].len);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyObject *rows = PyLong_FromSsize_t(self->n);
    if (rows == NULL)
        goto fail;
    PyTuple_SET_ITEM(out, 0, rows);
    for (int c = 0; c < N_COLS; c++)
        PyTuple_SET_ITEM(out, c + 1, bytes[c]);
    self->n = 0;
    give_back(self);
    return out;
fail:
    for (int c = 0; c < N_COLS; c++)
        Py_XDECREF(bytes[c]);
    Py_DECREF(out);
    return NULL;
}

static Py_ssize_t SpanBuffer_len(SpanBuffer *self) { return self->n; }

static PyObject *SpanBuffer_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    SpanBuffer *self = (SpanBuffer *)type->tp_alloc(type, 0); /* zeroed: no rows, no buffers */
    if (self != NULL && g_has_spare) {
        memcpy(self->col, g_spare, sizeof self->col);
        memset(g_spare, 0, sizeof g_spare);
        g_has_spare = 0;
    }
    return (PyObject *)self;
}

static void SpanBuffer_dealloc(SpanBuffer *self) {
    give_back(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef SpanBuffer_methods[] = {
    {"add", (PyCFunction)SpanBuffer_add, METH_O,
     "add(span) -> int: append one finished span; returns the rows held."},
    {"take", (PyCFunction)SpanBuffer_take, METH_NOARGS,
     "take() -> (rows, trace, span, parent, parent_ok, name_off, name, kind, start, start_ok, end, "
     "end_ok, status, attr_off, attrs): the columns as bytes; the buffer is empty after."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods SpanBuffer_as_sequence = {.sq_length = (lenfunc)SpanBuffer_len};

static PyTypeObject SpanBufferType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "auraison.agentops._spanbuf.SpanBuffer",
    .tp_basicsize = sizeof(SpanBuffer),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Finished spans as Arrow-ready column buffers (see the module's docstring).",
    .tp_new = SpanBuffer_new,
    .tp_dealloc = (destructor)SpanBuffer_dealloc,
    .tp_methods = SpanBuffer_methods,
    .tp_as_sequence = &SpanBuffer_as_sequence,
};

static PyObject *configure(PyObject *module, PyObject *args) {
    PyObject *kinds, *statuses, *fallback;
    if (!PyArg_ParseTuple(args, "O!O!O:configure", &PyTuple_Type, &kinds, &PyTuple_Type, &statuses, &fallback))
        return NULL;
    if (PyTuple_GET_SIZE(kinds) > 255 || PyTuple_GET_SIZE(statuses) > 255 || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_ValueError, "configure(kinds, statuses, encode): at most 255 members each, encode callable");
        return NULL;
    }
    Py_XSETREF(g_kinds, Py_NewRef(kinds));
    Py_XSETREF(g_statuses, Py_NewRef(statuses));
    Py_XSETREF(g_fallback, Py_NewRef(fallback));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(kinds, statuses, encode): the SpanKind and StatusCode members in the order the "
     "kind and status columns index them, and the Python encoder of attribute mappings this "
     "module does not encode itself (mapping -> bytes of one JSON object)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef spanbuf_module = {
    PyModuleDef_HEAD_INIT, "_spanbuf",
    "Finished OpenTelemetry spans as Arrow-ready column buffers, built on the producer's thread.",
    -1, module_methods,
};

PyMODINIT_FUNC PyInit__spanbuf(void) {
    const char *names[] = {"_context", "_parent", "_name", "_kind", "_start_time", "_end_time",
                           "_status", "_status_code", "_attributes", "_dict"};
    PyObject **slots[] = {&s_context, &s_parent, &s_name, &s_kind, &s_start, &s_end,
                          &s_status, &s_code, &s_attributes, &s_dict};
    for (int c = 0; c < 0x20; c++)
        ESCAPE[c] = 1;
    ESCAPE['"'] = ESCAPE['\\'] = 1;
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
        if ((*slots[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return NULL;
    if (PyType_Ready(&SpanBufferType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&spanbuf_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "SpanBuffer", (PyObject *)&SpanBufferType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
