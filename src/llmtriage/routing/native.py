"""The optional C kernel of the featurizer (``_ngrams.c``) and how to build and load it.

The numpy code in ``features.py`` is the reference and the fallback; the kernel does the same
integer work (hash, map to columns, count) in one pass over the bytes, which takes a routing
decision on a long prompt from a few hundred microseconds to well under one hundred.
`make venv` builds it when a C compiler exists (``python -m llmtriage.routing.native``); no
compiler, or ``LLMTRIAGE_NATIVE=0``, means the numpy path. Nothing is compiled at run time.

The library is loaded with ``ctypes.PyDLL`` (the GIL stays held during a call) and each
counter's scratch arrays are used under a lock, so threads may share a featurizer.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

ABI = 5
SOURCE = Path(__file__).with_name("_ngrams.c")
LIBRARY = Path(__file__).with_name("_ngrams.so")

_i64, _ptr = ctypes.c_int64, ctypes.c_void_p


@functools.cache
def _library() -> ctypes.PyDLL | None:
    """The built kernel, loaded on first use (nothing happens at import)."""
    if os.environ.get("LLMTRIAGE_NATIVE", "1") == "0" or not LIBRARY.exists():
        return None
    try:
        lib = ctypes.PyDLL(str(LIBRARY))
        if lib.ngrams_abi() != ABI:
            return None  # built from another version of the source: rebuild with make venv
    except (OSError, AttributeError):
        return None
    text: list[Any] = [ctypes.c_char_p, _i64, _i64, ctypes.c_char_p, _i64]  # text, focus
    lib.ngram_columns.restype = _i64
    lib.ngram_columns.argtypes = [*text, _ptr, _ptr]
    lib.ngram_row.restype = _i64
    lib.ngram_row.argtypes = [*text, _ptr]
    lib.cue_counts.restype = None
    lib.cue_counts.argtypes = [ctypes.c_char_p, _i64, *[_ptr] * 3, _i64, _ptr, _i64, _ptr, _i64]
    lib.cue_counts.argtypes += [_ptr, _ptr, _i64]
    lib.option_labels.restype = _i64
    lib.option_labels.argtypes = [ctypes.c_char_p, _i64, _ptr, _i64, _ptr]
    return lib


def available() -> bool:
    return _library() is not None


def _lib() -> ctypes.PyDLL:
    lib = _library()
    if lib is None:
        raise RuntimeError("the C kernel is not built (make venv) or LLMTRIAGE_NATIVE=0")
    return lib


class _Row(ctypes.Structure):
    """``Row`` in _ngrams.c: a featurizer's fitted state and scratch, as the kernel reads it."""

    _fields_ = [
        ("columns", _ptr), ("n_columns", _i64), ("is_word", _ptr), ("word_n", ctypes.c_int32),
        ("lo", ctypes.c_int32), ("hi", ctypes.c_int32), ("bits", ctypes.c_int32),
        ("counts", _ptr), ("touched", _ptr), ("idf", _ptr), ("weights", _ptr),
        ("n_weights", _i64), ("cols_out", _ptr), ("vals_out", _ptr), ("product_out", _ptr),
    ]  # fmt: skip


class ColumnCounter:
    """The TF-IDF columns of a text's n-grams with their counts (``ngram_columns``) or their
    values (``ngram_row``), for one fitted column map and IDF, with the scratch arrays the
    kernel needs. A lock makes each call and the copy out of the shared output buffers one
    step for the threads that share it."""

    def __init__(
        self,
        columns: np.ndarray,
        idf: np.ndarray,
        is_word: np.ndarray,
        word_n: int,
        chars: tuple[int, int],
        bits: int,
    ) -> None:
        self._lib = _lib()
        self._n_columns = n_columns = len(idf)
        self._cols_out = np.empty(n_columns, dtype=np.int32)
        self._counts_out = np.empty(n_columns, dtype=np.int64)
        self._vals_out = np.empty(n_columns, dtype=np.float32)
        self._keep = (  # the arrays the kernel points into (kept alive here)
            np.ascontiguousarray(columns, dtype=np.int32),
            np.ascontiguousarray(is_word, dtype=np.uint8),
            np.zeros(n_columns, dtype=np.int32),  # counts
            np.zeros((n_columns + 63) // 64, dtype=np.uint64),  # touched bitmap
            np.ascontiguousarray(idf, dtype=np.float32),
        )
        col_p, word_p, counts_p, touched_p, idf_p = (a.ctypes.data for a in self._keep)
        lo, hi = chars
        self._row = _Row(
            col_p, n_columns, word_p, word_n, lo, hi, bits, counts_p, touched_p, idf_p,
            None, 0, self._cols_out.ctypes.data, self._vals_out.ctypes.data, None,
        )  # fmt: skip
        self._row_ref = ctypes.byref(self._row)
        self._weights: np.ndarray | None = None
        self._product_out = np.empty(0, dtype=np.float32)
        self._lock = threading.Lock()

    def count(self, raw: bytes, focus_from: int, focus: bytes) -> tuple[np.ndarray, np.ndarray]:
        """Columns (ascending) and counts of the n-grams of ``raw``; those starting at or after
        ``focus_from`` count once more in the focus namespace, and so do all of ``focus``."""
        with self._lock:
            k = self._lib.ngram_columns(
                raw, len(raw), focus_from, focus, len(focus), self._row_ref,
                self._counts_out.ctypes.data,
            )  # fmt: skip
            return self._cols_out[:k].copy(), self._counts_out[:k].copy()

    def set_weights(self, weights: np.ndarray | None) -> None:
        """Per-column weights (n_columns x k float32, C order) that ``row`` multiplies each
        row by, or None."""
        with self._lock:
            if weights is None:
                self._weights, self._row.weights, self._row.n_weights = None, None, 0
                return
            if weights.shape[0] != self._n_columns or weights.dtype != np.float32:
                raise ValueError(f"weights of {weights.dtype} {weights.shape}")
            if not weights.flags.c_contiguous:
                raise ValueError("weights must be C-contiguous")
            self._weights = weights
            self._product_out = np.empty(weights.shape[1], dtype=np.float32)
            self._row.weights, self._row.n_weights = weights.ctypes.data, weights.shape[1]
            self._row.product_out = self._product_out.ctypes.data

    def row(
        self, raw: bytes, focus_from: int, focus: bytes
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(columns, L2-normalised TF-IDF values, the row times the weights or None) of the
        n-grams counted as in ``count``."""
        with self._lock:
            k = self._lib.ngram_row(raw, len(raw), focus_from, focus, len(focus), self._row_ref)
            product = self._product_out.copy() if self._weights is not None else None
            return self._cols_out[:k].copy(), self._vals_out[:k].copy(), product


class CueCounter:
    """Counts of cue words, word prefixes and phrases per family over a text's tokens (see
    ``cue_counts`` in ``_ngrams.c``), for one cue table."""

    def __init__(
        self,
        separators: bytes,
        words: dict[str, int],
        prefixes: list[tuple[str, int]],
        phrases: list[tuple[list[str], int]],
        n_families: int,
    ) -> None:
        self._lib = _lib()
        blob = bytearray()

        def put(text: str) -> tuple[int, int]:
            raw = text.encode("utf-8", "surrogatepass")
            blob.extend(raw)
            return len(blob) - len(raw), len(raw)

        n_slots = 1 << max(4, (4 * len(words)).bit_length())  # load factor <= 1/4
        slots = np.full((n_slots, 3), [0, -1, 0], dtype=np.int32)
        for word, family in words.items():
            i = _fnv1a(word.encode("utf-8", "surrogatepass")) & (n_slots - 1)
            while slots[i, 1] >= 0:
                i = (i + 1) & (n_slots - 1)
            slots[i] = (*put(word), family)
        pre = np.array([(*put(p), f) for p, f in prefixes], dtype=np.int32).reshape(-1, 3)
        ph: list[int] = []
        for words_of, family in phrases:
            assert 0 < len(words_of) <= 4, "cue_counts keeps the last 4 tokens"
            ph += [family, len(words_of), *(x for w in words_of for x in put(w))]
        sep = np.zeros(256, dtype=np.uint8)
        sep[list(separators)] = 1
        self._out = np.zeros(n_families, dtype=np.int64)
        self._keep = (  # the kernel's arrays, in its argument order (kept alive here)
            sep, np.frombuffer(bytes(blob) or b"\0", dtype=np.uint8), slots,
            pre if len(pre) else np.zeros((1, 3), np.int32), np.array(ph or [0], np.int32),
            np.zeros(max(len(phrases), 1), dtype=np.int64), self._out,
        )  # fmt: skip
        self._ptrs = [a.ctypes.data for a in self._keep]
        self._sizes = (n_slots, len(prefixes), len(phrases), n_families)
        self._lock = threading.Lock()

    def count(self, encoded: bytes) -> list[int]:
        """Per family, the cue words, prefixed words and phrases among the tokens of
        ``encoded`` (lower-cased UTF-8)."""
        sep, blob, words, pre, ph, next_ok, out = self._ptrs
        n_slots, n_pre, n_ph, n_families = self._sizes
        with self._lock:
            self._lib.cue_counts(
                encoded, len(encoded), sep, blob, words, n_slots, pre, n_pre, ph, n_ph,
                next_ok, out, n_families,
            )  # fmt: skip
            return self._out.tolist()


_UNCERTAIN = 64
_OPTIONS_OUT = np.empty(_UNCERTAIN + 1, dtype=np.int64)  # the last slot returns the total
_OPTIONS_PTR = _OPTIONS_OUT.ctypes.data
_OPTIONS_LOCK = threading.Lock()


def option_labels(encoded: bytes) -> tuple[int, list[int]]:
    """(option labels "a)".."e)" preceded by nothing or a non-alphanumeric ASCII character,
    byte offsets of the characters before those preceded by a non-ASCII one) in
    lower-cased UTF-8; see ``option_labels`` in ``_ngrams.c``."""
    lib, ptr = _lib(), _OPTIONS_PTR
    with _OPTIONS_LOCK:
        count = lib.option_labels(encoded, len(encoded), ptr, _UNCERTAIN, ptr + 8 * _UNCERTAIN)
        n = int(_OPTIONS_OUT[_UNCERTAIN])
        if n > _UNCERTAIN:  # more than the buffer holds: let the caller do it all
            return -1, []
        return count, _OPTIONS_OUT[:n].tolist()


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def build(cc: str | None = None) -> Path | None:
    """Compile ``_ngrams.c`` next to it; None (and a message) when no compiler is found."""
    cc = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        print("llmtriage: no C compiler found; the featurizer uses its numpy path")
        return None
    tmp = LIBRARY.with_suffix(".tmp")
    cmd = [cc, "-O2", "-shared", "-fPIC", "-std=c99", "-o", str(tmp), str(SOURCE), "-lm"]
    subprocess.run(cmd, check=True)
    tmp.replace(LIBRARY)  # atomic: a running process keeps its mapped copy
    return LIBRARY


if __name__ == "__main__":
    built = build()
    if built is not None:
        print(f"llmtriage: built {built}")
    sys.exit(0)
