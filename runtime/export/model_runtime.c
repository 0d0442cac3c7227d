/* graphc export runtime: the C ABI of an exported model (template; "@NAME@" is the model's name).
 *
 * The generated part above this text defines the tables this code reads: NM_BUF (persistent
 * buffers: parameters, module buffers, optimizer state, gradients), NM_LAYOUT (the saved buffers
 * that exist in each phase), NM_HYPER and NM_ALIAS (hyperparameters), NM_GRAPH (one compiled
 * graph per function and phase, with its pointer-table slots) and NM_FN (the exported functions).
 * Phase 0 is before the first training step (no optimizer state yet), phase 1 after it.
 * Depends on libc and libm only.
 */

struct @NAME@_model {
    void **bufs;          /* persistent buffers, 64-byte aligned */
    void ***tables;       /* per graph: its pointer table */
    uint64_t **cells;     /* per graph: one 8-byte cell per slot (hyperparameter values) */
    unsigned char *arena; /* temporaries of whichever step runs (steps never overlap) */
    double hyper[NM_NHYPER + 1];
    int64_t err;
    int phase;
    char error[640];
};

static char nm_global_error[640] = "no error";

#ifdef NM_CUDA
/* The CUDA host code (runtime.cuda.export_host): the driver's message after a failed step. */
const char *@NAME@__cuda_error(void);
#endif
#ifdef NM_POOL
/* The kernels' thread pool, linked in from runtime.llvm: sized from GRAPHC_NUM_THREADS when the
 * first model is created, and shut down (no worker thread left) when the last one is destroyed. */
#include <pthread.h>
void @NAME@__graphc_set_num_threads(int32_t n);
void @NAME@__graphc_pool_shutdown(void);
static pthread_mutex_t nm_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int nm_models_alive = 0;

static void nm_pool_enter(void) {
    pthread_mutex_lock(&nm_pool_lock);
    const char *env = getenv("GRAPHC_NUM_THREADS");
    if (nm_models_alive++ == 0 && env && *env) {
        long n = strtol(env, NULL, 10);
        @NAME@__graphc_set_num_threads((int32_t)(n < 1 ? 1 : (n > 256 ? 256 : n)));
    }
    pthread_mutex_unlock(&nm_pool_lock);
}

static void nm_pool_leave(void) {
    pthread_mutex_lock(&nm_pool_lock);
    if (--nm_models_alive == 0) @NAME@__graphc_pool_shutdown();
    pthread_mutex_unlock(&nm_pool_lock);
}
#else
static void nm_pool_enter(void) {}
static void nm_pool_leave(void) {}
#endif

static int nm_fail(@NAME@_model *m, int code, const char *fmt, ...) {
    char *dst = m ? m->error : nm_global_error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, sizeof m->error, fmt, ap);
    va_end(ap);
    return code;
}

static const char *NM_DTYPE_NAME[] = {"F32", "F64", "I64", "I32", "BOOL"};

static void *nm_aligned(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
    memset(p, 0, n ? n : 64);
    return p;
}


/* ------------------------------------------------------------------ a small JSON reader */
typedef struct { const char *p, *end; } nm_json;

static void nm_ws(nm_json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}

static int nm_expect(nm_json *j, char c) {
    nm_ws(j);
    if (j->p >= j->end || *j->p != c) return 0;
    j->p++;
    return 1;
}

/* a JSON string into out (at most cap-1 bytes); non-ASCII \u escapes become '?' */
static int nm_string(nm_json *j, char *out, size_t cap) {
    size_t n = 0;
    if (!nm_expect(j, '"')) return 0;
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p >= j->end) return 0;
            c = *j->p++;
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    if (j->p >= j->end) return 0;
                    char h = *j->p++;
                    v = v * 16 + (unsigned)(h >= '0' && h <= '9' ? h - '0' : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : 99);
                    if (v > 0xffff) return 0;
                }
                c = v < 128 ? (char)v : '?';
                break;
            }
            default: break; /* \" \\ \/ */
            }
        }
        if (n + 1 >= cap) return 0;
        out[n++] = c;
    }
    if (j->p >= j->end) return 0;
    j->p++;
    out[n] = 0;
    return 1;
}

static int nm_int(nm_json *j, int64_t *v) {
    nm_ws(j);
    int64_t x = 0;
    int digits = 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (x > (INT64_MAX - 9) / 10) return 0;
        x = x * 10 + (*j->p++ - '0');
        digits++;
    }
    *v = x;
    return digits > 0;
}

static int nm_skip(nm_json *j, int depth) {
    nm_ws(j);
    if (j->p >= j->end || depth > 64) return 0;
    char c = *j->p;
    if (c == '"') {
        j->p++;
        while (j->p < j->end && *j->p != '"') j->p += (*j->p == '\\') ? 2 : 1;
        if (j->p >= j->end) return 0;
        j->p++;
        return 1;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        j->p++;
        if (nm_expect(j, close)) return 1;
        do {
            if (c == '{' && (!nm_skip(j, depth + 1) || !nm_expect(j, ':'))) return 0;
            if (!nm_skip(j, depth + 1)) return 0;
        } while (nm_expect(j, ','));
        return nm_expect(j, close);
    }
    while (j->p < j->end && *j->p != ',' && *j->p != '}' && *j->p != ']' && *j->p != ' ') j->p++;
    return 1;
}

/* ------------------------------------------------------------------ loading */
typedef struct { int found; int64_t begin, end; } nm_entry;

static int nm_find_buffer(const char *name) {
    for (int i = 0; i < NM_NBUF; i++)
        if (NM_BUF[i].saved && strcmp(NM_BUF[i].name, name) == 0) return i;
    return -1;
}

static int nm_in_layout(int layout, int buf) {
    for (int i = 0; i < NM_LAYOUT[layout].count; i++)
        if (NM_LAYOUT[layout].members[i] == buf) return 1;
    return 0;
}

/* Validate a whole safetensors image, then copy it into the buffers and set the phase. */
static int nm_load_bytes(@NAME@_model *m, const unsigned char *data, uint64_t size, const char *where) {
    nm_entry *e = calloc(NM_NBUF + 1, sizeof *e);
    char name[512], key[64], dtype[16];
    int count = 0, code = 0, layout = -1;
    uint64_t hlen = 0;
    if (!e) return nm_fail(m, @NAME@_ERR_MEMORY, "out of memory reading %s", where);
    for (int i = 0; i < 8 && i < (int)size; i++) hlen |= (uint64_t)data[i] << (8 * i);
    if (size < 8 || hlen > size - 8 || hlen > 100000000u) {
        code = nm_fail(m, @NAME@_ERR_FORMAT, "%s is not a safetensors file (bad header length)", where);
        goto done;
    }
    nm_json j = {(const char *)data + 8, (const char *)data + 8 + hlen};
    uint64_t payload = size - 8 - hlen;
    if (!nm_expect(&j, '{')) goto corrupt;
    if (nm_expect(&j, '}')) goto parsed;
    do {
        if (!nm_string(&j, name, sizeof name) || !nm_expect(&j, ':')) goto corrupt;
        if (strcmp(name, "__metadata__") == 0) {
            if (!nm_skip(&j, 0)) goto corrupt;
            continue;
        }
        int b = nm_find_buffer(name);
        if (b < 0) {
            code = nm_fail(m, @NAME@_ERR_MISMATCH, "%s holds a tensor '%s' that the model does not have", where, name);
            goto done;
        }
        if (e[b].found) {
            code = nm_fail(m, @NAME@_ERR_FORMAT, "%s holds tensor '%s' twice", where, name);
            goto done;
        }
        int64_t shape[16], begin = -1, end = -1;
        int ndim = -1;
        dtype[0] = 0;
        if (!nm_expect(&j, '{')) goto corrupt;
        do {
            if (!nm_string(&j, key, sizeof key) || !nm_expect(&j, ':')) goto corrupt;
            if (strcmp(key, "dtype") == 0) {
                if (!nm_string(&j, dtype, sizeof dtype)) goto corrupt;
            } else if (strcmp(key, "shape") == 0) {
                if (!nm_expect(&j, '[')) goto corrupt;
                ndim = 0;
                if (!nm_expect(&j, ']')) {
                    do {
                        if (ndim >= 16 || !nm_int(&j, &shape[ndim++])) goto corrupt;
                    } while (nm_expect(&j, ','));
                    if (!nm_expect(&j, ']')) goto corrupt;
                }
            } else if (strcmp(key, "data_offsets") == 0) {
                if (!nm_expect(&j, '[') || !nm_int(&j, &begin) || !nm_expect(&j, ',') || !nm_int(&j, &end) ||
                    !nm_expect(&j, ']'))
                    goto corrupt;
            } else if (!nm_skip(&j, 0)) {
                goto corrupt;
            }
        } while (nm_expect(&j, ','));
        if (!nm_expect(&j, '}') || ndim < 0 || begin < 0) goto corrupt;
        const nm_buf *info = &NM_BUF[b];
        if (strcmp(dtype, NM_DTYPE_NAME[info->dtype]) != 0) {
            code = nm_fail(m, @NAME@_ERR_MISMATCH, "tensor '%s' in %s has dtype %s but the model expects %s", name,
                           where, dtype, NM_DTYPE_NAME[info->dtype]);
            goto done;
        }
        int same = ndim == info->ndim;
        for (int d = 0; same && d < ndim; d++) same = shape[d] == info->shape[d];
        if (!same) {
            char got[160] = "", want[160] = "";
            for (int d = 0; d < ndim && strlen(got) < 120; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), d ? ", %lld" : "%lld", (long long)shape[d]);
            for (int d = 0; d < info->ndim && strlen(want) < 120; d++)
                snprintf(want + strlen(want), sizeof want - strlen(want), d ? ", %lld" : "%lld", (long long)info->shape[d]);
            code = nm_fail(m, @NAME@_ERR_MISMATCH, "tensor '%s' in %s has shape [%s] but the model expects [%s]", name,
                           where, got, want);
            goto done;
        }
        if (end < begin || (uint64_t)(end - begin) != (uint64_t)info->nbytes || (uint64_t)end > payload) {
            code = nm_fail(m, @NAME@_ERR_FORMAT, "tensor '%s' in %s has data offsets [%lld, %lld] that do not fit "
                           "its %lld bytes or the file (truncated?)", name, where, (long long)begin, (long long)end,
                           (long long)info->nbytes);
            goto done;
        }
        e[b].found = 1;
        e[b].begin = begin;
        e[b].end = end;
        count++;
    } while (nm_expect(&j, ','));
    if (!nm_expect(&j, '}')) goto corrupt;
parsed:
    for (int l = 0; l < NM_NLAYOUT && layout < 0; l++) {
        int ok = NM_LAYOUT[l].count == count;
        for (int i = 0; ok && i < NM_LAYOUT[l].count; i++) ok = e[NM_LAYOUT[l].members[i]].found;
        if (ok) layout = l;
    }
    if (layout < 0) {
        int cur = m->phase < NM_NLAYOUT ? m->phase : 0;
        for (int i = 0; i < NM_LAYOUT[cur].count; i++) {
            if (!e[NM_LAYOUT[cur].members[i]].found) {
                code = nm_fail(m, @NAME@_ERR_MISMATCH, "%s has no tensor '%s'", where,
                               NM_BUF[NM_LAYOUT[cur].members[i]].name);
                goto done;
            }
        }
        for (int b = 0; b < NM_NBUF; b++) {
            if (e[b].found && !nm_in_layout(cur, b)) {
                code = nm_fail(m, @NAME@_ERR_MISMATCH, "%s holds optimizer or module state '%s' that does not go "
                               "with the other tensors it holds", where, NM_BUF[b].name);
                goto done;
            }
        }
        code = nm_fail(m, @NAME@_ERR_MISMATCH, "%s does not match the model's tensors", where);
        goto done;
    }
    for (int b = 0; b < NM_NBUF; b++) {
        if (e[b].found)
            memcpy(m->bufs[b], data + 8 + hlen + e[b].begin, (size_t)NM_BUF[b].nbytes);
        else if (NM_BUF[b].init)
            memcpy(m->bufs[b], NM_BUF[b].init, (size_t)NM_BUF[b].nbytes);
        else
            memset(m->bufs[b], 0, (size_t)NM_BUF[b].nbytes);
    }
    m->phase = layout;
    goto done;
corrupt:
    code = nm_fail(m, @NAME@_ERR_FORMAT, "%s is not a valid safetensors file (its JSON header is malformed near "
                   "byte %lld)", where, (long long)(j.p - (const char *)data));
done:
    free(e);
    return code;
}

int @NAME@_load(@NAME@_model *m, const char *path) {
    if (!m) return nm_fail(NULL, @NAME@_ERR_NULL, "@NAME@_load: the model handle is NULL");
    if (!path) return nm_fail(m, @NAME@_ERR_NULL, "@NAME@_load: the path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return nm_fail(m, @NAME@_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char *data = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) data = malloc((size_t)size + 1);
    int ok = data && fread(data, 1, (size_t)size, f) == (size_t)size;
    int err = errno;
    fclose(f);
    if (!ok) {
        free(data);
        return nm_fail(m, @NAME@_ERR_IO, "cannot read %s: %s", path, size < 0 ? strerror(err) : "read failed");
    }
    int code = nm_load_bytes(m, data, (uint64_t)size, path);
    free(data);
    return code;
}

/* ------------------------------------------------------------------ saving */
typedef struct { char *s; size_t n, cap; int oom; } nm_text;

static void nm_put(nm_text *t, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = t->oom ? 0 : vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (t->oom || k < 0) { t->oom = 1; return; }
        if (t->s && t->n + (size_t)k < t->cap) { t->n += (size_t)k; return; }
        size_t cap = (t->cap + (size_t)k + 1) * 2;
        char *s = realloc(t->s, cap);
        if (!s) { t->oom = 1; return; }
        t->s = s;
        t->cap = cap;
    }
}


int @NAME@_save(@NAME@_model *m, const char *path) {
    if (!m) return nm_fail(NULL, @NAME@_ERR_NULL, "@NAME@_save: the model handle is NULL");
    if (!path) return nm_fail(m, @NAME@_ERR_NULL, "@NAME@_save: the path is NULL");
    const nm_layout *L = &NM_LAYOUT[m->phase < NM_NLAYOUT ? m->phase : NM_NLAYOUT - 1];
    nm_text t = {0};
    nm_put(&t, "{\"__metadata__\":{\"format\":\"graphc-export\",\"model\":\"@NAME@\",\"phase\":\"%d\"", m->phase);
    for (int h = 0; h < NM_NHYPER; h++) nm_put(&t, ",\"hyper.%s\":\"%.17g\"", NM_HYPER[h].key, m->hyper[h]);
    nm_put(&t, "}");
    int64_t offset = 0;
    for (int i = 0; i < L->count; i++) {
        const nm_buf *b = &NM_BUF[L->members[i]];
        nm_put(&t, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", b->jname, NM_DTYPE_NAME[b->dtype]);
        for (int d = 0; d < b->ndim; d++) nm_put(&t, d ? ",%lld" : "%lld", (long long)b->shape[d]);
        nm_put(&t, "],\"data_offsets\":[%lld,%lld]}", (long long)offset, (long long)(offset + b->nbytes));
        offset += b->nbytes;
    }
    nm_put(&t, "}");
    while (!t.oom && t.n % 8) nm_put(&t, " ");
    if (t.oom) {
        free(t.s);
        return nm_fail(m, @NAME@_ERR_MEMORY, "out of memory saving %s", path);
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) {
        free(t.s);
        return nm_fail(m, @NAME@_ERR_MEMORY, "out of memory saving %s", path);
    }
    snprintf(tmp, plen + 32, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL;
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)t.n >> (8 * i));
    ok = ok && fwrite(len, 1, 8, f) == 8 && fwrite(t.s, 1, t.n, f) == t.n;
    for (int i = 0; ok && i < L->count; i++) {
        const nm_buf *b = &NM_BUF[L->members[i]];
        ok = fwrite(m->bufs[L->members[i]], 1, (size_t)b->nbytes, f) == (size_t)b->nbytes;
    }
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok) remove(tmp);
    free(tmp);
    free(t.s);
    if (!ok) return nm_fail(m, @NAME@_ERR_IO, "cannot write %s: %s", path, strerror(err));
    return 0;
}

/* ------------------------------------------------------------------ life cycle */
void @NAME@_destroy(@NAME@_model *m) {
    if (!m) return;
    if (m->bufs)
        for (int i = 0; i < NM_NBUF; i++) free(m->bufs[i]);
    for (int g = 0; g < NM_NGRAPH; g++) {
        if (m->tables) free(m->tables[g]);
        if (m->cells) free(m->cells[g]);
    }
    free(m->bufs);
    free(m->tables);
    free(m->cells);
    free(m->arena);
    free(m);
    nm_pool_leave();
}

@NAME@_model *@NAME@_create(void) {
    @NAME@_model *m = calloc(1, sizeof *m);
    if (!m) {
        nm_fail(NULL, @NAME@_ERR_MEMORY, "@NAME@_create: out of memory");
        return NULL;
    }
    nm_pool_enter();
    m->bufs = calloc(NM_NBUF + 1, sizeof *m->bufs);
    m->tables = calloc(NM_NGRAPH, sizeof *m->tables);
    m->cells = calloc(NM_NGRAPH, sizeof *m->cells);
    m->arena = nm_aligned(NM_ARENA_BYTES);
    int ok = m->bufs && m->tables && m->cells && m->arena;
    for (int i = 0; ok && i < NM_NBUF; i++) {
        ok = (m->bufs[i] = nm_aligned((size_t)NM_BUF[i].nbytes)) != NULL;
        if (ok && NM_BUF[i].init) memcpy(m->bufs[i], NM_BUF[i].init, (size_t)NM_BUF[i].nbytes);
    }
    for (int g = 0; ok && g < NM_NGRAPH; g++) {
        const nm_graph *G = &NM_GRAPH[g];
        m->tables[g] = calloc((size_t)G->nslots + 1, sizeof(void *));
        m->cells[g] = calloc((size_t)G->nslots + 1, sizeof(uint64_t));
        ok = m->tables[g] && m->cells[g];
        for (int s = 0; ok && s < G->nslots; s++) {
            const nm_slot *S = &G->slots[s];
            void **slot = &m->tables[g][s];
            switch (S->kind) {
            case NM_SLOT_PERSIST: *slot = m->bufs[S->index]; break;
            case NM_SLOT_CONST: *slot = (void *)(@NAME@__blob + S->index); break;
            case NM_SLOT_TEMP: *slot = m->arena + S->index; break;
            case NM_SLOT_HYPER: *slot = &m->cells[g][s]; break;
            case NM_SLOT_ERR: *slot = &m->err; break;
            default: break; /* inputs and outputs: set at each call */
            }
        }
    }
    for (int h = 0; h < NM_NHYPER; h++) m->hyper[h] = NM_HYPER[h].value;
    m->phase = NM_INITIAL_PHASE;
    if (ok && nm_load_bytes(m, @NAME@__blob, NM_EMBEDDED_SIZE, "the embedded weights") != 0) {
        snprintf(nm_global_error, sizeof nm_global_error, "@NAME@_create: %s", m->error);
        @NAME@_destroy(m);
        return NULL;
    }
    if (!ok) {
        @NAME@_destroy(m);
        nm_fail(NULL, @NAME@_ERR_MEMORY, "@NAME@_create: out of memory");
        return NULL;
    }
    snprintf(m->error, sizeof m->error, "no error");
    return m;
}

const char *@NAME@_last_error(const @NAME@_model *m) {
    return m ? m->error : nm_global_error;
}

int @NAME@_set_hyperparameter(@NAME@_model *m, const char *key, double value) {
    if (!m) return nm_fail(NULL, @NAME@_ERR_NULL, "@NAME@_set_hyperparameter: the model handle is NULL");
    if (!key) return nm_fail(m, @NAME@_ERR_NULL, "@NAME@_set_hyperparameter: the key is NULL");
    for (int a = 0; a < NM_NALIAS; a++) {
        if (strcmp(NM_ALIAS[a].key, key) != 0) continue;
        for (int i = 0; i < NM_ALIAS[a].count; i++) m->hyper[NM_ALIAS[a].members[i]] = value;
        return 0;
    }
    for (int i = 0; i < NM_NFIXED; i++)
        if (strcmp(NM_FIXED[i], key) == 0)
            return nm_fail(m, @NAME@_ERR_KEY, "hyperparameter '%s' is fixed in the exported code (its value decided "
                           "the traced step's structure); export again with the value you need", key);
    return nm_fail(m, @NAME@_ERR_KEY, "unknown hyperparameter '%s' (the keys are listed in @NAME@.h)", key);
}

/* Run function fn on the model: bind inputs and outputs, write the hyperparameters, call the
 * step of the current phase; advance the phase only when the step succeeded. */
static int nm_call(@NAME@_model *m, int fn, const void *const *in, void *const *out) {
    const nm_fn *F = &NM_FN[fn];
    if (!m) return nm_fail(NULL, @NAME@_ERR_NULL, "@NAME@_%s: the model handle is NULL", F->name);
    for (int i = 0; i < F->nin; i++)
        if (!in[i]) return nm_fail(m, @NAME@_ERR_NULL, "@NAME@_%s: input '%s' is NULL", F->name, F->in_names[i]);
    for (int i = 0; i < F->nout; i++)
        if (!out[i]) return nm_fail(m, @NAME@_ERR_NULL, "@NAME@_%s: output '%s' is NULL", F->name, F->out_names[i]);
    int g = F->graphs[m->phase];
    const nm_graph *G = &NM_GRAPH[g];
    void **table = m->tables[g];
    for (int s = 0; s < G->nslots; s++) {
        const nm_slot *S = &G->slots[s];
        if (S->kind == NM_SLOT_IN) {
            table[s] = (void *)in[S->index];
        } else if (S->kind == NM_SLOT_OUT) {
            table[s] = out[S->index];
        } else if (S->kind == NM_SLOT_HYPER) {
            double v = m->hyper[S->index];
            if (S->dtype == 0) {
                float x = (float)v;
                memcpy(&m->cells[g][s], &x, sizeof x);
            } else {
                memcpy(&m->cells[g][s], &v, sizeof v);
            }
        }
    }
    m->err = 0;
    G->entry(table);
#ifdef NM_CUDA
    const char *device_error = @NAME@__cuda_error();
    if (device_error) {
        m->err = 0;
        return nm_fail(m, @NAME@_ERR_DEVICE, "@NAME@_%s: %s", F->name, device_error);
    }
#endif
    if (m->err) {
        int64_t code = m->err;
        m->err = 0;
        return nm_fail(m, @NAME@_ERR_CHECK, "@NAME@_%s stopped before updating anything: %s", F->name,
                       code >= 1 && code <= G->nerrors ? G->errors[code - 1] : "a native check failed");
    }
    if (G->next_phase >= 0) m->phase = G->next_phase;
    return 0;
}
