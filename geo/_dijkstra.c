/*
 * geo._dijkstra: the multi-source Dijkstra behind yizhan's coverage pass, in C.
 *
 * One function, multi_source(), over a graph in CSR form (int32 indptr/indices, float64 arc lengths):
 * for every node v it writes
 *
 *     dist[v]  = min_i  offsets[i] + d(sources[i], v)        (inf when more than `limit` away)
 *     owner[v] = the smallest i attaining that minimum      (-1 when unreached)
 *
 * The queue is a bucket queue with label correction (below); ties between sources at exactly the
 * same distance go to the lower source index whatever the pop or arc order (see the tie rule below):
 * the result is a function of the inputs alone. It is the same search as scipy.sparse.csgraph.dijkstra
 * with min_only=True over a graph with one virtual node per source (what geo._graph did before),
 * without the per-call copy and validation of the whole graph that scipy makes, and without touching
 * nodes beyond `limit` other than to initialise the outputs. The GIL is released during the search.
 *
 * Arguments are objects exporting the buffer protocol (numpy arrays); geo/_graph.py converts and
 * checks dtypes and sizes before calling, and this file checks them again.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A bucket queue (Dial 1969, with a circular array of buckets of width `bucket`, and label correction
 * within a bucket). Buckets hold intrusive singly linked lists of entries from one pool. A bucket is
 * emptied in rounds: entries pushed into the bucket being processed (arcs shorter than the bucket
 * width, or zero) are taken in the next round, and a node improved after it was processed is simply
 * processed again. Every label in a later bucket is at least one bucket width larger than any label
 * in the current one, so when a bucket is empty its nodes are final: the result is exactly that of
 * Dijkstra with a heap, and the bucket width only decides how much work the corrections cost. */
typedef struct {
    double d;
    int32_t node;
    int32_t owner;
    int32_t next;
} Entry;

typedef struct {
    Entry *pool;
    Py_ssize_t size;
    Py_ssize_t cap;
    int32_t *head;     /* first entry of each bucket, -1 when empty */
    Py_ssize_t n_buckets; /* a power of two */
    double width;
    double inv_width;
    Py_ssize_t count;  /* entries queued */
} Queue;

static inline Py_ssize_t bucket_of(const Queue *q, double d) {
    return (Py_ssize_t)((uint64_t)(d * q->inv_width) & (uint64_t)(q->n_buckets - 1));
}

static inline int queue_push(Queue *q, double d, int32_t owner, int32_t node) {
    if (q->size == q->cap) {
        Py_ssize_t cap = q->cap ? 2 * q->cap : 4096;
        if (cap > INT32_MAX) {
            return -1;
        }
        Entry *pool = (Entry *)realloc(q->pool, (size_t)cap * sizeof(Entry));
        if (pool == NULL) {
            return -1;
        }
        q->pool = pool;
        q->cap = cap;
    }
    Py_ssize_t b = bucket_of(q, d);
    Entry *e = &q->pool[q->size];
    e->d = d;
    e->node = node;
    e->owner = owner;
    e->next = q->head[b];
    q->head[b] = (int32_t)q->size;
    q->size++;
    q->count++;
    return 0;
}

static int get_buffer(PyObject *obj, Py_buffer *view, const char *name, Py_ssize_t itemsize, int writable) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    if (view->itemsize != itemsize || view->ndim != 1) {
        PyErr_Format(PyExc_TypeError, "%s must be a 1-d array of %zd-byte items", name, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* The search itself, free of Python: returns the number of labels processed, -1 when out of memory,
 * or -2 when more than `budget` labels (if `budget` >= 0) would be processed: the caller then has a
 * better search for a pass that reaches that much of the graph, and the outputs are left partial.
 * `bucket` > 0 is the bucket width and `max_arc` the longest arc (both in the lengths' unit). */
static Py_ssize_t search(Py_ssize_t n, const int32_t *indptr, const int32_t *indices, const double *w,
                         Py_ssize_t m, const int64_t *src, const double *off, const int64_t *seed_owner,
                         int warm, double limit, double bucket, double max_arc, Py_ssize_t budget,
                         double *dist, int64_t *owner, int64_t *pred) {
    Py_ssize_t processed = 0;
    int failed = 0;
    Queue q;
    memset(&q, 0, sizeof q);
    /* every queued label lies within [current bucket start, start + span], span = the longest arc or
     * source offset (at most the limit): that many buckets, plus three (the current one, the
     * partial last one, rounding of d * inv_width), never wrap onto a live bucket */
    double span = max_arc;
    for (Py_ssize_t i = 0; i < m; i++) {
        if (off[i] <= limit && off[i] > span) {
            span = off[i];
        }
    }
    if (limit < span) {
        span = limit; /* no label exceeds the limit */
    }
    q.width = bucket;
    if (span / bucket > (double)(1 << 22)) {
        q.width = span / (double)(1 << 22);
    }
    q.inv_width = 1.0 / q.width;
    Py_ssize_t needed = (Py_ssize_t)(span * q.inv_width) + 3;
    q.n_buckets = 1;
    while (q.n_buckets < needed) {
        q.n_buckets <<= 1;
    }
    q.head = (int32_t *)malloc((size_t)q.n_buckets * sizeof(int32_t));
    if (q.head == NULL) {
        return -1;
    }
    memset(q.head, 0xff, (size_t)q.n_buckets * sizeof(int32_t));
    for (Py_ssize_t v = 0; v < n && !warm; v++) {
        dist[v] = INFINITY;
        owner[v] = -1;
    }
    if (pred != NULL && !warm) {
        for (Py_ssize_t v = 0; v < n; v++) {
            pred[v] = -1;
        }
    }
    double lowest = INFINITY;
    for (Py_ssize_t i = 0; i < m && !failed; i++) {
        double d = off[i];
        int32_t v = (int32_t)src[i];
        int64_t o = seed_owner != NULL ? seed_owner[i] : i;
        if (!(d <= limit)) {
            continue;
        }
        /* warm: a seed equal to the node's label is queued too (it relaxes its arcs again) */
        if (d < dist[v] || (d == dist[v] && (o < owner[v] || (warm && o == owner[v])))) {
            dist[v] = d;
            owner[v] = o;
            if (pred != NULL) {
                pred[v] = -1;
            }
            failed = queue_push(&q, d, (int32_t)o, v);
            if (d < lowest) {
                lowest = d;
            }
        }
    }
    /* Tie rule: a label is (distance, owner), compared distance first, then the lower owner. A node
     * whose owner is lowered at an unchanged distance is queued again and relaxes its arcs again, so
     * the final owner is the lowest source index at the minimum distance, whatever the order. */
    Py_ssize_t b = q.count ? bucket_of(&q, lowest) : 0;
    while (q.count > 0 && !failed) {
        while (q.head[b] < 0) {
            b = b + 1 == q.n_buckets ? 0 : b + 1;
        }
        while (q.head[b] >= 0 && !failed) {
            int32_t it = q.head[b];
            q.head[b] = -1; /* take this round; pushes into bucket b start the next one */
            while (it >= 0) {
                Entry e = q.pool[it];
                it = e.next;
                q.count--;
                int32_t u = e.node;
                if (e.d != dist[u] || e.owner != owner[u]) {
                    continue; /* stale */
                }
                if (++processed > budget && budget >= 0) {
                    failed = 2;
                    break;
                }
                const double du = e.d;
                const int64_t ou = e.owner;
                for (int32_t j = indptr[u]; j < indptr[u + 1]; j++) {
                    int32_t v = indices[j];
                    double nd = du + w[j];
                    if (nd > limit) {
                        continue;
                    }
                    if (nd < dist[v] || (nd == dist[v] && ou < owner[v])) {
                        dist[v] = nd;
                        owner[v] = ou;
                        if (pred != NULL) {
                            pred[v] = u;
                        }
                        if (queue_push(&q, nd, (int32_t)ou, v) < 0) {
                            failed = 1;
                            break;
                        }
                    }
                }
                if (failed) {
                    break;
                }
            }
        }
    }
    free(q.pool);
    free(q.head);
    return failed == 2 ? -2 : failed ? -1 : processed;
}

/* The checks both entry points make on the graph and the search parameters (-1 with a ValueError set). */
static int check_search(Py_ssize_t n, Py_ssize_t nnz, const int32_t *indptr, Py_ssize_t m, double limit,
                        double bucket, double max_arc) {
    if (n > 0 && (indptr[0] != 0 || indptr[n] != nnz)) {
        PyErr_SetString(PyExc_ValueError, "indptr does not match indices");
        return -1;
    }
    if (m > INT32_MAX || n > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "more than 2**31 - 1 nodes or sources");
        return -1;
    }
    if (limit != limit || !(bucket > 0.0) || !(max_arc >= 0.0) || isinf(bucket) || isinf(max_arc)) {
        PyErr_SetString(PyExc_ValueError, "limit is NaN, or bucket or max_arc not finite and positive");
        return -1;
    }
    return 0;
}

static PyObject *multi_source(PyObject *self, PyObject *args) {
    PyObject *o_ptr, *o_idx, *o_len, *o_src, *o_off, *o_dist, *o_own;
    double limit, bucket, max_arc;
    Py_ssize_t budget = -1;
    PyObject *o_pred = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOOdddOO|nO", &o_ptr, &o_idx, &o_len, &o_src, &o_off, &limit, &bucket,
                          &max_arc, &o_dist, &o_own, &budget, &o_pred)) {
        return NULL;
    }
    Py_buffer pb;
    int have_pred = o_pred != Py_None;
    if (have_pred && get_buffer(o_pred, &pb, "pred", 8, 1) < 0) {
        return NULL;
    }
    Py_buffer b[7];
    PyObject *objs[7] = {o_ptr, o_idx, o_len, o_src, o_off, o_dist, o_own};
    const char *names[7] = {"indptr", "indices", "length_m", "sources", "offsets_m", "dist", "owner"};
    const Py_ssize_t sizes[7] = {4, 4, 8, 8, 8, 8, 8};
    int got = 0;
    for (; got < 7; got++) {
        if (get_buffer(objs[got], &b[got], names[got], sizes[got], got >= 5) < 0) {
            for (int j = 0; j < got; j++) {
                PyBuffer_Release(&b[j]);
            }
            if (have_pred) {
                PyBuffer_Release(&pb);
            }
            return NULL;
        }
    }
    PyObject *result = NULL;
    const Py_ssize_t n = b[0].shape[0] - 1;
    const Py_ssize_t nnz = b[1].shape[0];
    const Py_ssize_t m = b[3].shape[0];
    const int32_t *indptr = (const int32_t *)b[0].buf;
    const int32_t *indices = (const int32_t *)b[1].buf;
    const double *w = (const double *)b[2].buf;
    const int64_t *src = (const int64_t *)b[3].buf;
    const double *off = (const double *)b[4].buf;
    double *dist = (double *)b[5].buf;
    int64_t *owner = (int64_t *)b[6].buf;
    if (n < 0 || b[2].shape[0] != nnz || b[4].shape[0] != m || b[5].shape[0] != n || b[6].shape[0] != n ||
        (have_pred && pb.shape[0] != n)) {
        PyErr_SetString(PyExc_ValueError, "array sizes do not agree");
        goto done;
    }
    if (check_search(n, nnz, indptr, m, limit, bucket, max_arc) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        if (src[i] < 0 || src[i] >= n) {
            PyErr_Format(PyExc_ValueError, "source %zd is node %lld, outside 0..%zd", i, (long long)src[i], n - 1);
            goto done;
        }
    }
    Py_ssize_t settled;
    Py_BEGIN_ALLOW_THREADS
    settled = search(n, indptr, indices, w, m, src, off, NULL, 0, limit, bucket, max_arc, budget, dist, owner,
                     have_pred ? (int64_t *)pb.buf : NULL);
    Py_END_ALLOW_THREADS
    if (settled == -1) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyLong_FromSsize_t(settled);
done:
    for (int j = 0; j < 7; j++) {
        PyBuffer_Release(&b[j]);
    }
    if (have_pred) {
        PyBuffer_Release(&pb);
    }
    return result;
}

/* improve(indptr, indices, length_m, sources, offsets_m, seed_owner, limit, bucket, max_arc, dist, owner)
 * -> processed: the same search started from the labels already in dist/owner (nothing is reset), seeded
 * with sources whose owners are given (seed_owner[i], e.g. station numbers) instead of their indices.
 * Labels only improve: a node keeps its (dist, owner) unless a seed reaches it shorter, or as short
 * from a lower owner. A seed equal to its node's label is queued again, so seeding the boundary of a
 * region whose labels were reset to inf re-labels that region exactly (what-if re-evaluation). */
static PyObject *improve(PyObject *self, PyObject *args) {
    PyObject *o[8];
    double limit, bucket, max_arc;
    if (!PyArg_ParseTuple(args, "OOOOOOdddOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &limit, &bucket,
                          &max_arc, &o[6], &o[7])) {
        return NULL;
    }
    Py_buffer b[8];
    const char *names[8] = {"indptr", "indices", "length_m", "sources", "offsets_m", "seed_owner", "dist",
                            "owner"};
    const Py_ssize_t sizes[8] = {4, 4, 8, 8, 8, 8, 8, 8};
    int got = 0;
    for (; got < 8; got++) {
        if (get_buffer(o[got], &b[got], names[got], sizes[got], got >= 6) < 0) {
            for (int j = 0; j < got; j++) {
                PyBuffer_Release(&b[j]);
            }
            return NULL;
        }
    }
    PyObject *result = NULL;
    const Py_ssize_t n = b[0].shape[0] - 1;
    const Py_ssize_t nnz = b[1].shape[0];
    const Py_ssize_t m = b[3].shape[0];
    const int32_t *indptr = (const int32_t *)b[0].buf;
    const int64_t *src = (const int64_t *)b[3].buf;
    if (n < 0 || b[2].shape[0] != nnz || b[4].shape[0] != m || b[5].shape[0] != m || b[6].shape[0] != n ||
        b[7].shape[0] != n) {
        PyErr_SetString(PyExc_ValueError, "array sizes do not agree");
        goto done;
    }
    if (check_search(n, nnz, indptr, m, limit, bucket, max_arc) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        const int64_t so = ((const int64_t *)b[5].buf)[i];
        if (src[i] < 0 || src[i] >= n || so < 0 || so > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "source %zd: node %lld or owner %lld out of range", i,
                         (long long)src[i], (long long)so);
            goto done;
        }
    }
    Py_ssize_t settled;
    Py_BEGIN_ALLOW_THREADS
    settled = search(n, indptr, (const int32_t *)b[1].buf, (const double *)b[2].buf, m, src,
                     (const double *)b[4].buf, (const int64_t *)b[5].buf, 1, limit, bucket, max_arc, -1,
                     (double *)b[6].buf, (int64_t *)b[7].buf, NULL);
    Py_END_ALLOW_THREADS
    if (settled == -1) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyLong_FromSsize_t(settled);
done:
    for (int j = 0; j < 8; j++) {
        PyBuffer_Release(&b[j]);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"multi_source", multi_source, METH_VARARGS,
     "multi_source(indptr, indices, length_m, sources, offsets_m, limit, bucket, max_arc, dist, owner\n"
     "             [, budget[, pred]]) -> processed\n\n"
     "Fill dist[v] = min_i offsets_m[i] + d(sources[i], v) (inf beyond limit) and owner[v] = the\n"
     "smallest i attaining it (-1 when unreached). int32 CSR, int64 sources, float64 lengths;\n"
     "bucket: the queue's bucket width, max_arc: the longest arc. Returns the labels processed, or\n"
     "-2 (outputs partial) when that would exceed budget (if given and >= 0). pred (int64, optional)\n"
     "gets each node's predecessor on its path (-1 at sources and unreached nodes)."},
    {"improve", improve, METH_VARARGS,
     "improve(indptr, indices, length_m, sources, offsets_m, seed_owner, limit, bucket, max_arc, dist,\n"
     "        owner) -> processed\n\n"
     "The same search started from the labels in dist/owner (nothing reset), seeds owned by\n"
     "seed_owner[i]; labels only improve, and a seed equal to its node's label is queued again."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_dijkstra", "Multi-source Dijkstra in C for geo.coverage.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__dijkstra(void) { return PyModule_Create(&module); }
