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
#include <stdint.h>

#define P 1099511628211ULL
#define MIX 0x9E3779B97F4A7C15ULL
#define FOCUS 0x5BD1E9955BD1E995ULL

int ngrams_abi(void) { return 1; }

typedef struct {
    const int32_t *columns; /* bucket -> column, -1 when dropped */
    int32_t *counts;        /* per column */
    uint64_t *touched;      /* bitmap of columns with a count */
    unsigned shift;         /* 64 - bits */
} Sink;

static inline void emit(const Sink *s, uint64_t h) {
    int32_t col = s->columns[(h * MIX) >> s->shift];
    if (col >= 0) {
        s->counts[col]++;
        s->touched[col >> 6] |= 1ULL << (col & 63);
    }
}

static inline void emit2(const Sink *s, uint64_t h, int64_t start, int64_t focus_from,
                         uint64_t xor_all) {
    emit(s, h ^ xor_all);
    if (start >= focus_from) emit(s, h ^ FOCUS);
}

static void words(const Sink *s, const uint8_t *t, int64_t n, const uint8_t *is_word,
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

static void chars(const Sink *s, const uint8_t *t, int64_t n, int lo, int hi,
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

/* Write the touched columns (ascending) and their counts; zero the scratch. */
static int64_t collect(int64_t n_columns, int32_t *counts, uint64_t *touched, int32_t *cols_out,
                       int64_t *counts_out) {
    int64_t k = 0;
    for (int64_t w = 0; w < (n_columns + 63) / 64; w++) {
        uint64_t x = touched[w];
        while (x) {
            int32_t col = (int32_t)(w * 64 + __builtin_ctzll(x));
            cols_out[k] = col;
            counts_out[k] = counts[col];
            counts[col] = 0;
            k++;
            x &= x - 1;
        }
        touched[w] = 0;
    }
    return k;
}

/* The TF-IDF columns of text t[0:n] and their counts, ascending; returns how many. N-grams
 * starting at or after focus_from count once more in the focus namespace; a focus that is
 * not the text's tail is passed as f[0:fn] (all its n-grams in the focus namespace). The
 * scratch (counts, touched) must be zero on entry and is zero again on return. */
int64_t ngram_columns(const uint8_t *t, int64_t n, int64_t focus_from, const uint8_t *f,
                      int64_t fn, const uint8_t *is_word, int word_n, int lo, int hi, int bits,
                      const int32_t *columns, int64_t n_columns, int32_t *counts,
                      uint64_t *touched, int32_t *cols_out, int64_t *counts_out) {
    Sink s = {columns, counts, touched, (unsigned)(64 - bits)};
    words(&s, t, n, is_word, word_n, focus_from, 0);
    chars(&s, t, n, lo, hi, focus_from, 0);
    if (fn > 0) {
        words(&s, f, fn, is_word, word_n, INT64_MAX, FOCUS);
        chars(&s, f, fn, lo, hi, INT64_MAX, FOCUS);
    }
    return collect(n_columns, counts, touched, cols_out, counts_out);
}

