/* The featurizer's integer work in one pass: hash every word uni/bigram and character n-gram
 * of normalised text, map each hash to its TF-IDF column and count the columns.
 *
 * It computes exactly what HashedNgrams.ids + Featurizer._column_counts compute in numpy
 * (llmtriage/routing/features.py is the reference; tests/routing/test_native.py checks them
 * equal): the hash of a byte span s is sum((s[k] + 1) * P**k) mod 2**64, a word unigram is
 * its span hash ^ 1, a bigram (u1 * P + u2) ^ 2, a character n-gram its span hash ^ (16 + n);
 * n-grams starting at or after focus_from count once more in the focus namespace (^ FOCUS).
 * A hash h lands in bucket (h * MIX) >> (64 - bits).
 *
 * Built by `make venv` when a C compiler exists (llmtriage/routing/native.py); plain C with
 * no Python API, loaded with ctypes. Counts go to caller-owned scratch (one int32 per column
 * and a bitmap of touched columns), which is read back in ascending column order and zeroed
 * before the call returns.
 */
#include <math.h>
#include <stdint.h>

#define P 1099511628211ULL
#define MIX 0x9E3779B97F4A7C15ULL
#define FOCUS 0x5BD1E9955BD1E995ULL

int ngrams_abi(void) { return 5; }

/* A bucket is looked up AHEAD n-grams after its hash is known, its column-map line
 * prefetched meanwhile: on a cold cache (a gateway between requests) the misses overlap
 * instead of stalling one after another. Cold kernel p50 on the sample: 56 -> 40 us. */
#define AHEAD 32

typedef struct {
    const int32_t *columns; /* bucket -> column, -1 when dropped */
    int32_t *counts;        /* per column */
    uint64_t *touched;      /* bitmap of columns with a count */
    unsigned shift;         /* 64 - bits */
    uint64_t pending[AHEAD];
    int64_t n_pending;
} Sink;

static inline void take(Sink *s, uint64_t bucket) {
    int32_t col = s->columns[bucket];
    if (col >= 0) {
        s->counts[col]++;
        s->touched[col >> 6] |= 1ULL << (col & 63);
    }
}

static inline void emit(Sink *s, uint64_t h) {
    uint64_t bucket = (h * MIX) >> s->shift;
    __builtin_prefetch(s->columns + bucket);
    uint64_t *slot = &s->pending[s->n_pending++ % AHEAD];
    if (s->n_pending > AHEAD) take(s, *slot);
    *slot = bucket;
}

static void flush(Sink *s) {
    int64_t first = s->n_pending > AHEAD ? s->n_pending - AHEAD : 0;
    for (int64_t i = first; i < s->n_pending; i++) take(s, s->pending[i % AHEAD]);
    s->n_pending = 0;
}

static inline void emit2(Sink *s, uint64_t h, int64_t start, int64_t focus_from,
                         uint64_t xor_all) {
    emit(s, h ^ xor_all);
    if (start >= focus_from) emit(s, h ^ FOCUS);
}

static void words(Sink *s, const uint8_t *t, int64_t n, const uint8_t *is_word,
                  int word_n, int64_t focus_from, uint64_t xor_all) {
    uint64_t prev = 0;
    int64_t prev_start = -1;
    int64_t i = 0;
    while (i < n) {
        if (!is_word[t[i]]) {
            i++;
            continue;
        }
        int64_t start = i;
        uint64_t h = 0, pw = 1;
        while (i < n && is_word[t[i]]) {
            h += ((uint64_t)t[i] + 1) * pw;
            pw *= P;
            i++;
        }
        h ^= 1;
        emit2(s, h, start, focus_from, xor_all);
        if (word_n >= 2 && prev_start >= 0)
            emit2(s, (prev * P + h) ^ 2, prev_start, focus_from, xor_all);
        prev = h;
        prev_start = start;
    }
}

static void chars(Sink *s, const uint8_t *t, int64_t n, int lo, int hi,
                  int64_t focus_from, uint64_t xor_all) {
    if (lo <= 0) return;
    for (int64_t i = 0; i + lo <= n; i++) {
        uint64_t h = 0, pw = 1;
        for (int k = 0; k < hi && i + k < n; k++) {
            h += ((uint64_t)t[i + k] + 1) * pw;
            pw *= P;
            if (k + 1 >= lo) emit2(s, h ^ (uint64_t)(17 + k), i, focus_from, xor_all);
        }
    }
}

/* A featurizer's fitted state and scratch, set up once (native.ColumnCounter) so that a
 * call passes the text and this instead of twenty arguments. */
typedef struct {
    const int32_t *columns; /* bucket -> column, -1 when dropped */
    int64_t n_columns;
    const uint8_t *is_word;
    int32_t word_n, lo, hi, bits;
    int32_t *counts;        /* scratch, zero between calls */
    uint64_t *touched;      /* scratch, zero between calls */
    const float *idf;       /* per column */
    const float *weights;   /* n_columns x n_weights, row-major; NULL for none */
    int64_t n_weights;
    int32_t *cols_out;
    float *vals_out;
    float *product_out;     /* n_weights */
} Row;

/* Count the columns of text t[0:n] into the scratch. N-grams starting at or after focus_from
 * count once more in the focus namespace; a focus that is not the text's tail is passed as
 * f[0:fn] (all its n-grams in the focus namespace). */
static void count_columns(const Row *r, const uint8_t *t, int64_t n, int64_t focus_from,
                          const uint8_t *f, int64_t fn) {
    Sink s = {r->columns, r->counts, r->touched, (unsigned)(64 - r->bits), {0}, 0};
    words(&s, t, n, r->is_word, r->word_n, focus_from, 0);
    chars(&s, t, n, r->lo, r->hi, focus_from, 0);
    if (fn > 0) {
        words(&s, f, fn, r->is_word, r->word_n, INT64_MAX, FOCUS);
        chars(&s, f, fn, r->lo, r->hi, INT64_MAX, FOCUS);
    }
    flush(&s);
}

/* The counted columns in ascending order, each handed to visit (with its count) as the
 * scratch is zeroed again; returns how many. */
#define EACH_COLUMN(r, k, col, count, visit)                                               \
    for (int64_t w_ = 0; w_ < ((r)->n_columns + 63) / 64; w_++) {                          \
        uint64_t x_ = (r)->touched[w_];                                                     \
        while (x_) {                                                                        \
            int32_t col = (int32_t)(w_ * 64 + __builtin_ctzll(x_));                         \
            int32_t count = (r)->counts[col];                                               \
            (r)->counts[col] = 0;                                                           \
            (r)->cols_out[k] = col;                                                         \
            visit;                                                                          \
            k++;                                                                            \
            x_ &= x_ - 1;                                                                   \
        }                                                                                   \
        (r)->touched[w_] = 0;                                                               \
    }

/* The TF-IDF columns of a text (into r->cols_out) and their counts, ascending; returns how
 * many. The scratch must be zero on entry and is zero again on return. */
int64_t ngram_columns(const uint8_t *t, int64_t n, int64_t focus_from, const uint8_t *f,
                      int64_t fn, Row *r, int64_t *counts_out) {
    count_columns(r, t, n, focus_from, f, fn);
    int64_t k = 0;
    EACH_COLUMN(r, k, col, count, counts_out[k] = count)
    return k;
}

/* 1 + ln c as float for the small counts most columns have; computed once with the same
 * log() as any other count, so the values are the same either way. */
#define SMALL_COUNTS 64
static float one_plus_log[SMALL_COUNTS];
static int one_plus_log_ready;

static inline float tf(int32_t c) {
    return c < SMALL_COUNTS ? one_plus_log[c] : (float)(1.0 + log((double)c));
}

/* The TF-IDF row of a text, as Featurizer._row computes it in numpy: the columns of
 * ngram_columns (ascending), each valued (1 + ln count) * idf and the row L2-normalised;
 * with weights, also the row's product with them (the sparse-dense product a linear layer
 * or a projection needs: its rows are gathered here, in the same pass). Returns how many
 * columns. The floats may differ from numpy's in the last bits (summation order). */
int64_t ngram_row(const uint8_t *t, int64_t n, int64_t focus_from, const uint8_t *f,
                  int64_t fn, Row *r) {
    if (!one_plus_log_ready) { /* under the GIL (PyDLL) and the caller's lock */
        for (int c = 1; c < SMALL_COUNTS; c++) one_plus_log[c] = (float)(1.0 + log((double)c));
        one_plus_log_ready = 1;
    }
    count_columns(r, t, n, focus_from, f, fn);
    int64_t k = 0, m = r->n_weights;
    double sumsq = 0;
    EACH_COLUMN(r, k, col, count, {
        if (r->weights) __builtin_prefetch(r->weights + (int64_t)col * m);
        float v = tf(count) * r->idf[col];
        r->vals_out[k] = v;
        sumsq += (double)v * v;
    })
    float norm = (float)sqrt(sumsq);
    if (norm > 0)
        for (int64_t i = 0; i < k; i++) r->vals_out[i] /= norm;
    if (r->weights) {
        float *out = r->product_out;
        for (int64_t j = 0; j < m; j++) out[j] = 0;
        for (int64_t i = 0; i < k; i++) {
            const float *row = r->weights + (int64_t)r->cols_out[i] * m;
            float v = r->vals_out[i];
            for (int64_t j = 0; j < m; j++) out[j] += v * row[j];
        }
    }
    return k;
}

/* ---- structural cues: counts of cue words, word prefixes and phrases per family ----
 *
 * The same counts as text._CueTable.counts in Python (the reference; tests check equality):
 * tokens are the runs between separators, which are the bytes flagged in sep1 (ASCII
 * punctuation and whitespace) and the multi-byte UTF-8 forms of the other characters
 * str.isspace() knows. A phrase of k words counts like str.count(" w1 .. wk ") on the
 * space-joined tokens: non-overlapping, so after a match at token s the next may start at
 * token s + k + 1 at the earliest. */

#define CUE_MAX_WORDS 4

static int64_t sep_len(const uint8_t *t, int64_t i, int64_t n, const uint8_t *sep1) {
    uint8_t c = t[i];
    if (c < 0x80) return sep1[c] ? 1 : 0;
    if (c == 0xC2 && i + 1 < n && (t[i + 1] == 0x85 || t[i + 1] == 0xA0)) return 2;
    if (i + 2 >= n) return 0;
    uint8_t d = t[i + 1], e = t[i + 2];
    if (c == 0xE1) return d == 0x9A && e == 0x80 ? 3 : 0;
    if (c == 0xE2 && d == 0x80)
        return (e >= 0x80 && e <= 0x8A) || e == 0xA8 || e == 0xA9 || e == 0xAF ? 3 : 0;
    if (c == 0xE2) return d == 0x81 && e == 0x9F ? 3 : 0;
    if (c == 0xE3) return d == 0x80 && e == 0x80 ? 3 : 0;
    return 0;
}

static int same(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen) {
    if (alen != blen) return 0;
    for (int64_t i = 0; i < alen; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

typedef struct {
    const uint8_t *blob;    /* the cue texts */
    const int32_t *words;   /* n_slots (a power of two) x (offset, length, family), FNV-1a
                               open addressing, length -1 when empty */
    int64_t n_slots;
    const int32_t *prefixes; /* n_pre x (offset, length, family) */
    int64_t n_pre;
    const int32_t *phrases; /* n_ph records of (family, k, k x (offset, length)) */
    int64_t n_ph;
} Cues;

/* The family of a cue word (or -1). */
static int32_t word_family(const Cues *c, const uint8_t *w, int64_t len) {
    uint64_t h = 0xCBF29CE484222325ULL;
    for (int64_t k = 0; k < len; k++) h = (h ^ w[k]) * 0x100000001B3ULL;
    for (int64_t slot = (int64_t)(h & (uint64_t)(c->n_slots - 1));;
         slot = (slot + 1) & (c->n_slots - 1)) {
        const int32_t *e = c->words + 3 * slot;
        if (e[1] < 0) return -1;
        if (same(w, len, c->blob + e[0], e[1])) return e[2];
    }
}

/* Count the phrases ending at the newest of n_tok tokens (the last CUE_MAX_WORDS of them in
 * the ring starts/lens over t). */
static void match_phrases(const Cues *c, const uint8_t *t, const int64_t *starts,
                          const int64_t *lens, int64_t n_tok, int64_t *next_ok, int64_t *out) {
    const int32_t *ph = c->phrases;
    for (int64_t p = 0; p < c->n_ph; p++, ph += 2 + 2 * ph[1]) {
        int32_t k = ph[1];
        int64_t first = n_tok - k; /* the phrase would span tokens first .. n_tok - 1 */
        if (first < next_ok[p]) continue;
        int ok = 1;
        for (int32_t j = 0; j < k && ok; j++) {
            int64_t r = (first + j) % CUE_MAX_WORDS;
            ok = same(t + starts[r], lens[r], c->blob + ph[2 + 2 * j], ph[3 + 2 * j]);
        }
        if (ok) {
            out[ph[0]]++;
            next_ok[p] = first + k + 1;
        }
    }
}

/* Per family, the cue words, prefixed words and phrases among the tokens of t[0:n].
 * next_ok: n_ph scratch. */
void cue_counts(const uint8_t *t, int64_t n, const uint8_t *sep1, const uint8_t *blob,
                const int32_t *words, int64_t n_slots, const int32_t *prefixes, int64_t n_pre,
                const int32_t *phrases, int64_t n_ph, int64_t *next_ok, int64_t *out,
                int64_t n_families) {
    Cues c = {blob, words, n_slots, prefixes, n_pre, phrases, n_ph};
    int64_t starts[CUE_MAX_WORDS], lens[CUE_MAX_WORDS]; /* the last tokens, a ring */
    int64_t n_tok = 0, i = 0;
    for (int64_t f = 0; f < n_families; f++) out[f] = 0;
    for (int64_t p = 0; p < n_ph; p++) next_ok[p] = 0;
    while (i < n) {
        int64_t s = sep_len(t, i, n, sep1);
        if (s) {
            i += s;
            continue;
        }
        int64_t start = i;
        while (i < n && !sep_len(t, i, n, sep1)) i++;
        int64_t len = i - start;
        int32_t family = word_family(&c, t + start, len);
        if (family >= 0) out[family]++;
        for (int64_t p = 0; p < n_pre; p++) {
            const int32_t *e = prefixes + 3 * p;
            if (len >= e[1] && same(t + start, e[1], blob + e[0], e[1])) out[e[2]]++;
        }
        starts[n_tok % CUE_MAX_WORDS] = start;
        lens[n_tok % CUE_MAX_WORDS] = len;
        match_phrases(&c, t, starts, lens, ++n_tok, next_ok, out);
    }
}

/* Option labels "a)".."e)" not preceded by a letter or digit (text._CueTable.counts). Counts
 * those preceded by an ASCII character or nothing; a label preceded by a non-ASCII character
 * (whose str.isalnum() C does not know) has the byte offset of that character written to
 * uncertain (up to max_uncertain; the total is returned in *n_uncertain) for Python to
 * decide. Returns the count. */
int64_t option_labels(const uint8_t *t, int64_t n, int64_t *uncertain, int64_t max_uncertain,
                      int64_t *n_uncertain) {
    int64_t count = 0, u = 0;
    for (int64_t i = 0; i + 1 < n; i++) {
        if (t[i + 1] != ')' || t[i] < 'a' || t[i] > 'e') continue;
        if (i == 0) {
            count++;
            continue;
        }
        uint8_t p = t[i - 1];
        if (p < 0x80) {
            int alnum = (p >= '0' && p <= '9') || (p >= 'a' && p <= 'z') || (p >= 'A' && p <= 'Z');
            count += !alnum;
            continue;
        }
        int64_t j = i - 1; /* back to the lead byte of the preceding character */
        while (j > 0 && (t[j] & 0xC0) == 0x80) j--;
        if (u < max_uncertain) uncertain[u] = j;
        u++;
    }
    *n_uncertain = u;
    return count;
}
