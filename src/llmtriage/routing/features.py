"""Offline featurizer: hashed word and character n-gram TF-IDF plus structural features.

No model download, no vocabulary of Python strings: n-grams are hashed with a polynomial
rolling hash computed in numpy over the UTF-8 bytes, so featurizing one request is a handful
of vectorised passes (~tens of microseconds for a typical prompt). Fitting learns which hash
buckets to keep (document frequency) and their IDF weights; both are plain arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from llmtriage.routing import native
from llmtriage.routing.text import (
    STRUCT_NAMES,
    conversation_text,
    focus_text,
    structural_features,
)
from llmtriage.types import ChatRequest

_P = 1099511628211  # FNV-1a 64-bit prime; odd, hence invertible modulo 2**64
_MIX = np.uint64(0x9E3779B97F4A7C15)
_HEAD, _TAIL = 12_288, 4_096  # bytes kept from a long prompt's start and end
_FOCUS = np.uint64(0x5BD1E9955BD1E995)  # namespace of the focus segment's n-grams

# byte -> byte for word tokens: ASCII letters/digits/_ and non-ASCII bytes kept, rest -> space
_WORD_LUT = np.full(256, 32, dtype=np.uint8)
for _b in b"abcdefghijklmnopqrstuvwxyz0123456789_":
    _WORD_LUT[_b] = _b
_WORD_LUT[128:] = np.arange(128, 256, dtype=np.uint8)
_IS_WORD = _WORD_LUT != 32


@dataclass(frozen=True)
class FeatureConfig:
    """How text becomes sparse features. Stored in artifacts; change means retrain."""

    word_ngrams: int = 2  # 1 = unigrams, 2 = uni + bigrams
    char_ngrams: tuple[int, int] = (3, 5)  # inclusive range; (0, 0) disables
    bits: int = 20  # hash space 2**bits
    min_df: int = 2
    max_features: int = 60_000
    focus: bool = True  # also hash the final segment in its own namespace (see focus_text)
    svd_dims: int = 128  # dense projection of the TF-IDF rows for dense routers; 0 disables

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        return cls(**{**data, "char_ngrams": tuple(data["char_ngrams"])})


class Features:
    """Featurized requests: sparse TF-IDF rows (L2-normalised), their dense SVD projection
    (L2-normalised, empty when disabled) and the structural features.

    One request (the gateway's hot path) keeps its TF-IDF row as plain ``(columns, values)``
    arrays in ``row``; the scipy matrix is built only if a router asks for ``tfidf`` (building
    it costs as much as the linear router's whole prediction).
    """

    def __init__(
        self,
        tfidf: sp.csr_matrix | None,
        dense: np.ndarray,
        struct: np.ndarray,
        row: tuple[np.ndarray, np.ndarray] | None = None,
        n_columns: int = 0,
    ) -> None:
        self._tfidf = tfidf
        self.dense = dense
        self.struct = struct
        self.row = row  # (columns, values) when this holds exactly one request
        self._n_columns = n_columns if tfidf is None else int(tfidf.shape[1])
        self.product: tuple[np.ndarray, np.ndarray] | None = None  # (weights, row @ weights)

    @property
    def n_columns(self) -> int:
        return self._n_columns

    @property
    def tfidf(self) -> sp.csr_matrix:
        if self._tfidf is None:
            assert self.row is not None
            cols, vals = self.row
            indptr = np.array([0, len(cols)], dtype=np.int64)
            self._tfidf = sp.csr_matrix((vals, cols, indptr), shape=(1, self._n_columns))
        return self._tfidf

    def row_times(self, weights: np.ndarray) -> np.ndarray:
        """One request's TF-IDF row times per-column ``weights`` (n_columns x k): the C
        kernel's product when it computed one for these weights, else a gather of the rows
        the request touches."""
        if self.product is not None and self.product[0] is weights:
            return self.product[1]
        assert self.row is not None, "row_times is for one request"
        cols, vals = self.row
        return np.asarray(vals @ weights.take(cols, axis=0))  # take: faster than [cols]

    def __len__(self) -> int:
        return int(self.struct.shape[0])

    def take(self, idx: np.ndarray) -> Features:
        """The rows ``idx``."""
        return Features(self.tfidf[idx], self.dense[idx], self.struct[idx])


def _cumprod_pow(n: int, base: int) -> np.ndarray:
    """1, base, base**2, ... (n terms) modulo 2**64."""
    out = np.cumprod(np.full(n, base, dtype=np.uint64))
    return np.concatenate(([np.uint64(1)], out[:-1]))


def _normalise(text: str) -> bytes:
    """Lower-cased UTF-8 with every whitespace run as one space; long texts keep head + tail."""
    if len(text) > _HEAD + _TAIL:
        text = text[:_HEAD] + text[-_TAIL:]
    # str.split() knows every Unicode space (NBSP, ideographic, ...); bytes do not
    raw = " ".join(text.lower().split()).encode("utf-8", "ignore")
    return raw[:_HEAD] + raw[-_TAIL:] if len(raw) > _HEAD + _TAIL else raw


def segments(text: str, focus: str) -> tuple[bytes, int, bytes]:
    """What to hash, normalised: (text, offset where its focus tail starts, a focus that is
    not the text's tail). A focus that ends the text is hashed from the text itself, so the
    offset is len(text) (no tail) or the third element is empty."""
    raw = _normalise(text)
    if focus == text:  # a one-block prompt: the focus is all of it
        return raw, 0, b""
    fraw = _normalise(focus) if focus else b""
    if fraw and raw.endswith(fraw):
        return raw, len(raw) - len(fraw), b""
    return raw, len(raw), fraw


def _focus(request: ChatRequest, config: FeatureConfig) -> str:
    return focus_text(request) if config.focus else ""


class HashedNgrams:
    """Turn text into hash-bucket ids with counts (no fitting needed).

    The hash of a byte span s is sum((s[k] + 1) * P**k) modulo 2**64. One prefix sum over
    the normalised bytes gives every span's hash in O(1): character n-grams are slices of it
    and words are gathers at their edges (inside a word the word bytes equal the raw bytes,
    and normalised text holds no whitespace but single spaces).
    """

    def __init__(self, config: FeatureConfig) -> None:
        self.config = config
        n = _HEAD + _TAIL + 2
        self._pow = _cumprod_pow(n, _P)
        self._inv = _cumprod_pow(n, pow(_P, -1, 2**64))
        self._shift = np.uint64(64 - config.bits)

    def buckets(self, text: str, focus: str = "") -> tuple[np.ndarray, np.ndarray]:
        """Unique bucket ids and their counts for a text and, in a namespace of its own,
        its focus (the final segment the answer hinges on)."""
        ids = self.ids(text, focus)
        if len(ids) == 0:
            return ids, ids.copy()
        uniq, counts = np.unique(ids, return_counts=True)
        return uniq, counts

    def ids(self, text: str, focus: str = "") -> np.ndarray:
        """Bucket id of every n-gram of the text and of its focus (repeats kept)."""
        raw, focus_from, fraw = segments(text, focus)
        parts = self._hashes(raw, focus_from if focus_from < len(raw) else None)
        parts += [h ^ _FOCUS for h in self._hashes(fraw)]
        if not parts:
            return np.empty(0, np.int64)
        h = np.concatenate(parts)
        h *= _MIX
        h >>= self._shift
        return h.view(np.int64)

    def _hashes(self, raw: bytes, focus_from: int | None = None) -> list[np.ndarray]:
        """Hashes of every n-gram of normalised bytes, per family; with ``focus_from``, the
        n-grams starting at or after that offset once more in the focus namespace."""
        if not raw:
            return []
        b = np.frombuffer(raw, dtype=np.uint8)
        terms = b.astype(np.uint64)
        terms += np.uint64(1)
        terms *= self._pow[: len(b)]
        prefix = np.empty(len(b) + 1, dtype=np.uint64)
        prefix[0] = 0
        np.cumsum(terms, out=prefix[1:])
        out: list[np.ndarray] = []
        for hashes, first in (*self._words(b, prefix, focus_from), *self._chars(prefix)):
            out.append(hashes)
            if focus_from is not None:  # char n-grams (first None) are indexed by offset
                out.append(hashes[focus_from if first is None else first :] ^ _FOCUS)
        return out

    def _words(
        self, b: np.ndarray, prefix: np.ndarray, focus_from: int | None
    ) -> list[tuple[np.ndarray, int]]:
        """(hashes, index of the first n-gram in the focus) of word uni- and bigrams."""
        inside = np.zeros(len(b) + 2, dtype=bool)
        np.take(_IS_WORD, b, out=inside[1:-1])
        edges = np.flatnonzero(inside[1:] != inside[:-1])
        if len(edges) == 0:
            return []
        starts, ends = edges[::2], edges[1::2]
        uni = (prefix.take(ends) - prefix.take(starts)) * self._inv.take(starts)
        uni ^= np.uint64(1)
        first = int(np.searchsorted(starts, focus_from)) if focus_from is not None else 0
        out = [(uni, first)]
        if self.config.word_ngrams >= 2 and len(uni) > 1:
            # a bigram is the pair of unigram hashes, combined order-dependently
            out.append(((uni[:-1] * np.uint64(_P) + uni[1:]) ^ np.uint64(2), first))
        return out

    def _chars(self, prefix: np.ndarray) -> list[tuple[np.ndarray, None]]:
        """Character n-gram hashes; the n-gram starting at offset i is element i."""
        lo, hi = self.config.char_ngrams
        size = len(prefix) - 1
        if lo <= 0:
            return []
        out = []
        for n in range(lo, min(hi, size) + 1):
            h = prefix[n:] - prefix[: size - n + 1]
            h *= self._inv[: size - n + 1]
            h ^= np.uint64(16 + n)
            out.append((h, None))
        return out


def _check_state(config: FeatureConfig, columns: np.ndarray, idf: np.ndarray) -> None:
    """ValueError unless the column map fits the config and points into the IDF (a damaged
    artifact must not index out of bounds, least of all in the C kernel)."""
    if columns.shape != (2**config.bits,) or columns.dtype != np.int32:
        raise ValueError(
            f"column map of {columns.dtype} {columns.shape}, want int32 2**{config.bits}"
        )
    if len(columns) and not (int(columns.min()) >= -1 and int(columns.max()) < len(idf)):
        raise ValueError(f"column map points outside the {len(idf)} columns")


class Featurizer:
    """Fitted TF-IDF over hashed n-grams, plus structural features."""

    def __init__(
        self, config: FeatureConfig, columns: np.ndarray, idf: np.ndarray, svd: np.ndarray
    ) -> None:
        _check_state(config, columns, idf)
        self.config = config
        self.ngrams = HashedNgrams(config)
        self.columns = columns  # bucket id -> column index, -1 if dropped (int32, 2**bits)
        self.idf = idf  # per column (float32)
        self.svd = svd  # (n_columns, svd_dims) float32 projection; zero columns when disabled
        self._weights: np.ndarray | None = None  # see multiply_rows_by
        # the C kernel for hashing and counting when it is built (native.py), else numpy
        self._native = (
            native.ColumnCounter(
                columns, idf, _IS_WORD, config.word_ngrams, config.char_ngrams, config.bits
            )
            if native.available()
            else None
        )

    @property
    def n_columns(self) -> int:
        return int(self.idf.shape[0])

    @classmethod
    def fit(cls, requests: list[ChatRequest], config: FeatureConfig) -> Featurizer:
        """Choose the kept buckets (document frequency) and their IDF on training requests."""
        ngrams = HashedNgrams(config)
        df = np.zeros(2**config.bits, dtype=np.int64)
        for req in requests:
            ids, _ = ngrams.buckets(conversation_text(req), _focus(req, config))
            df[ids] += 1
        keep = np.flatnonzero(df >= config.min_df)
        if len(keep) > config.max_features:
            keep = keep[np.argsort(-df[keep], kind="stable")[: config.max_features]]
            keep.sort()
        columns = np.full(2**config.bits, -1, dtype=np.int32)
        columns[keep] = np.arange(len(keep), dtype=np.int32)
        n = len(requests)
        idf = (np.log((1 + n) / (1 + df[keep])) + 1).astype(np.float32)
        empty = np.zeros((len(keep), 0), dtype=np.float32)
        featurizer = cls(config, columns, idf, empty)
        dims = min(config.svd_dims, len(keep) - 1, n - 1)
        if dims > 0:
            from sklearn.decomposition import TruncatedSVD  # fit-time only

            tfidf = featurizer.transform(requests).tfidf
            svd = TruncatedSVD(n_components=dims, algorithm="randomized", random_state=0)
            svd.fit(tfidf)
            featurizer.svd = np.ascontiguousarray(svd.components_.T, dtype=np.float32)
        return featurizer

    def multiply_rows_by(self, weights: np.ndarray | None) -> None:
        """Per-column weights (n_columns x k) a router multiplies each TF-IDF row by (a
        linear layer's coefficients): for one request the C kernel gathers them in its pass
        over the text, and ``Features.row_times`` returns the product. None: no weights."""
        self._weights = weights
        if self._native is not None:
            self._native.set_weights(weights)

    def _row(self, text: str, focus: str) -> tuple[np.ndarray, np.ndarray]:
        return self._row_and_product(text, focus)[:2]

    def _row_and_product(
        self, text: str, focus: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The L2-normalised TF-IDF row (columns, values) and, when the kernel computed it,
        its product with the weights of ``multiply_rows_by``."""
        if self._native is not None:
            return self._native.row(*segments(text, focus))
        cols, counts = self._column_counts(self.ngrams.ids(text, focus))
        vals = (1 + np.log(counts)).astype(np.float32) * self.idf.take(cols)
        norm = float(np.sqrt(vals @ vals))
        return cols, vals / norm if norm > 0 else vals, None

    def _column_counts(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Kept columns (ascending) and their counts. Columns are mapped before counting so
        the sort runs on small integers: a radix sort when they fit in 16 bits."""
        cols = self.columns.take(ids)
        cols = cols[cols >= 0]
        if len(cols) == 0:
            return cols, cols.copy()
        if self.n_columns <= 1 << 16:
            cols = cols.astype(np.uint16)
        cols.sort(kind="stable")
        change = np.empty(len(cols) + 1, dtype=bool)  # a new column starts here (or the end)
        change[0] = change[-1] = True
        np.not_equal(cols[1:], cols[:-1], out=change[1:-1])
        edges = np.flatnonzero(change)
        return cols.take(edges[:-1]).astype(np.int32), edges[1:] - edges[:-1]

    def transform(self, requests: list[ChatRequest]) -> Features:
        """Featurize a batch of requests (one request takes a lean path, see ``Features``)."""
        if len(requests) == 1:
            return self._transform_one(requests[0])
        indptr = [0]
        all_cols, all_vals, structs = [], [], []
        for req in requests:
            text = conversation_text(req)
            cols, vals = self._row(text, _focus(req, self.config))
            all_cols.append(cols)
            all_vals.append(vals)
            indptr.append(indptr[-1] + len(cols))
            structs.append(structural_features(req, text))
        tfidf = sp.csr_matrix(
            (
                np.concatenate(all_vals) if all_vals else np.empty(0, np.float32),
                np.concatenate(all_cols) if all_cols else np.empty(0, np.int32),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(requests), self.n_columns),
        )
        dense = np.asarray(tfidf @ self.svd, dtype=np.float32)
        norms = np.linalg.norm(dense, axis=1, keepdims=True)
        dense /= np.where(norms > 0, norms, 1)
        struct = np.vstack(structs) if structs else np.empty((0, len(STRUCT_NAMES)), np.float32)
        return Features(tfidf, dense, struct)

    def _transform_one(self, req: ChatRequest) -> Features:
        """The hot path: the same values as ``transform`` for one request, without scipy."""
        text = conversation_text(req)
        cols, vals, product = self._row_and_product(text, _focus(req, self.config))
        struct = structural_features(req, text)[None, :]
        if self.svd.shape[1]:  # gather the few SVD rows the request touches
            dense = vals @ self.svd.take(cols, axis=0)
            norm = float(np.sqrt(dense @ dense))
            dense = (dense / norm if norm > 0 else dense)[None, :]
        else:
            dense = np.zeros((1, 0), np.float32)
        feats = Features(None, dense, struct, (cols, vals), self.n_columns)
        if product is not None and self._weights is not None:
            feats.product = (self._weights, product)
        return feats

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as arrays (for artifacts)."""
        return {"feat_columns": self.columns, "feat_idf": self.idf, "feat_svd": self.svd}

    @classmethod
    def from_arrays(cls, config: FeatureConfig, arrays: dict[str, np.ndarray]) -> Featurizer:
        return cls(config, arrays["feat_columns"], arrays["feat_idf"], arrays["feat_svd"])
