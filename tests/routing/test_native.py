"""The featurizer's C kernel (routing/native.py, _ngrams.c) against its numpy reference:
the same columns and counts for every text, focus and feature configuration, from any thread.
"""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmtriage.demo import sample_path
from llmtriage.evals import datasets
from llmtriage.routing import native
from llmtriage.routing.features import FeatureConfig, Featurizer, segments
from llmtriage.routing.model import RoutingModel, train
from llmtriage.routing.text import _CUE_TABLE, conversation_text, focus_text
from llmtriage.types import ChatRequest

CONFIGS = {
    "lean": FeatureConfig(char_ngrams=(4, 4), bits=18, svd_dims=0),
    "rich": FeatureConfig(svd_dims=0),
    "words": FeatureConfig(word_ngrams=1, char_ngrams=(0, 0), focus=False, svd_dims=0),
    "tiny-space": FeatureConfig(char_ngrams=(2, 6), bits=12, min_df=1, svd_dims=0),
}
ODD = [
    "",
    "a",
    "ab cd",
    "Héllo wörld, ça va? 日本語のテキスト",
    "x" * 20_000 + " and the question at the end?",
    "!!! ??? ...",
    "first block\n\nsecond block\n\nthe final question?",
    "tabs\tand\r\nnewlines\x0band\u00a0nbsp\u2028",
    "word " * 5_000,
    "\x00\x01 control \x7f bytes",
]

needs_kernel = pytest.mark.skipif(not native.available(), reason="C kernel not built")


def _prompts() -> list[str]:
    return [*datasets.load(sample_path()).prompts[:300], *ODD]


def _pair(config: FeatureConfig, prompts: list[str]) -> tuple[Featurizer, Featurizer]:
    """(kernel, numpy reference) featurizers with the same fitted state."""
    fitted = Featurizer.fit([ChatRequest.from_prompt(p) for p in prompts], config)
    reference = Featurizer(config, fitted.columns, fitted.idf, fitted.svd)
    reference._native = None
    return fitted, reference


def _check_same_row(kernel: Featurizer, reference: Featurizer, text: str, focus: str) -> None:
    """The same columns and counts, exactly; the same TF-IDF values up to float rounding
    (the kernel sums the squares in another order)."""
    assert kernel._native is not None
    what = f"{text[:40]!r} / {focus[:20]!r}"
    cols, counts = kernel._native.count(*segments(text, focus))
    want_cols, want_counts = reference._column_counts(reference.ngrams.ids(text, focus))
    np.testing.assert_array_equal(cols, want_cols, err_msg=what)
    np.testing.assert_array_equal(counts, want_counts, err_msg=what)
    got, want = kernel._row(text, focus), reference._row(text, focus)
    np.testing.assert_array_equal(got[0], want[0], err_msg=what)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-9, err_msg=what)


@pytest.fixture(scope="module")
def pair() -> tuple[Featurizer, Featurizer]:
    """One fitted (kernel, reference) pair for the property and thread tests."""
    return _pair(FeatureConfig(char_ngrams=(3, 5), bits=14, min_df=1, svd_dims=0), _prompts())


def test_the_kernel_is_built_wherever_a_c_compiler_exists() -> None:
    if os.environ.get("LLMTRIAGE_NATIVE") == "0":
        pytest.skip("LLMTRIAGE_NATIVE=0 asks for the numpy path")
    if shutil.which("cc") or shutil.which("gcc"):
        assert native.available(), "a compiler exists but the kernel is not built: make venv"


@needs_kernel
@pytest.mark.parametrize("name", list(CONFIGS))
def test_kernel_rows_equal_the_numpy_rows(name: str) -> None:
    prompts = _prompts()
    kernel, reference = _pair(CONFIGS[name], prompts)
    assert kernel._native is not None and kernel.n_columns > 0
    for p in prompts:
        req = ChatRequest.from_prompt(p)
        text = conversation_text(req)
        for focus in (focus_text(req), "", "a focus that is not in the text", text):
            _check_same_row(kernel, reference, text, focus)


@needs_kernel
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300), cut=st.integers(0, 300))
def test_kernel_equals_numpy_on_any_unicode(
    pair: tuple[Featurizer, Featurizer], text: str, cut: int
) -> None:
    kernel, reference = pair
    for focus in (text[cut:], text[:cut], ""):
        _check_same_row(kernel, reference, text, focus)


def _weights(n_columns: int, k: int = 11, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n_columns, k)).astype(np.float32)


@needs_kernel
def test_kernel_products_equal_the_gathered_products() -> None:
    prompts = _prompts()
    kernel, reference = _pair(CONFIGS["lean"], prompts)
    weights = _weights(kernel.n_columns)
    kernel.multiply_rows_by(weights)
    for p in prompts:
        got = kernel.transform([ChatRequest.from_prompt(p)])
        want = reference.transform([ChatRequest.from_prompt(p)])
        assert got.product is not None and got.product[0] is weights
        np.testing.assert_allclose(
            got.row_times(weights), want.row_times(weights), rtol=1e-4, atol=1e-5
        )
        # other weights than the kernel's: gathered, not the kernel's product
        other = weights[:, :3].copy()
        np.testing.assert_allclose(
            got.row_times(other), want.row_times(other), rtol=1e-4, atol=1e-5
        )
    kernel.multiply_rows_by(None)
    assert kernel.transform([ChatRequest.from_prompt(prompts[0])]).product is None


@needs_kernel
def test_the_default_router_reads_the_kernel_product_and_estimates_as_numpy_does() -> None:
    sample = datasets.load(sample_path())
    requests = [ChatRequest.from_prompt(p) for p in sample.prompts]
    model = train("default", sample.models, requests[:600], sample.scores[:600], sample.costs[:600])
    fz = model.featurizer
    numpy_fz = Featurizer(fz.config, fz.columns, fz.idf, fz.svd)
    numpy_fz._native = None
    numpy_model = RoutingModel(model.name, model.models, numpy_fz, model.router, model.cost)
    for r in requests[600:]:
        assert fz.transform([r]).product is not None
        np.testing.assert_allclose(model.estimate([r])[0], numpy_model.estimate([r])[0], atol=1e-5)


@needs_kernel
def test_the_kernel_refuses_weights_that_do_not_fit() -> None:
    kernel, _ = _pair(CONFIGS["lean"], _prompts())
    n = kernel.n_columns
    for bad in (_weights(n - 1), _weights(n).astype(np.float64), _weights(n, 4)[:, ::2]):
        with pytest.raises(ValueError, match="weights"):
            kernel.multiply_rows_by(bad)


@needs_kernel
def test_threads_share_a_featurizer_safely() -> None:
    kernel, _ = _pair(CONFIGS["tiny-space"], _prompts())
    kernel.multiply_rows_by(_weights(kernel.n_columns))
    requests = [ChatRequest.from_prompt(p) for p in _prompts()]
    expected = [kernel._row_and_product(conversation_text(r), focus_text(r)) for r in requests]
    failures: list[int] = []

    def work() -> None:
        for _ in range(3):
            for i, r in enumerate(requests):
                got = kernel._row_and_product(conversation_text(r), focus_text(r))
                if not all(np.array_equal(g, e) for g, e in zip(got, expected[i], strict=True)):
                    failures.append(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


# ---------------------------------------------------------------- structural cues

# words of the phrases, cue words, prefixed words, and every kind of separator
CUE_BITS = [
    *sorted({w for p, _ in _CUE_TABLE.phrases for w in p.split()}),
    *(p + "ics" for p, _ in _CUE_TABLE.prefixes),
    *(p for p, _ in _CUE_TABLE.prefixes),
    "prove",
    "integral",
    "def",
    "court",
    "thanks",
    *(c for c in map(chr, range(0x3001)) if c.isspace()),  # all of str.isspace()
    *("\u200b", "\u3001", "\u2030", "\u1681"),  # near misses, not spaces
    *(",", "'", "_", "-", "(", "\n", "\t", " ", "é", "日本", "\ud800"),
]
TRICKY = [
    "thank you thank you",
    "thank you  thank you, thank you",
    "step by step by step by step",
    "trade-off trade-offs tradeoffs",
    "what is what is what is",
    "show\u00a0that\u2028show that",
    "sum of sum of",
    "eigenvectors eigen thermodynamically thermo",
]


def _equal_cues(text: str) -> None:
    assert _CUE_TABLE.kernel is not None
    lower = text.lower()
    encoded = lower.encode("utf-8", "surrogatepass")
    want = _CUE_TABLE.token_counts(lower, encoded)
    assert dict(zip(want, _CUE_TABLE.kernel.count(encoded), strict=True)) == want, text[:80]


@needs_kernel
def test_kernel_cue_counts_equal_python_on_the_datasets() -> None:
    for text in [*_prompts(), *TRICKY]:
        _equal_cues(text)


@needs_kernel
@pytest.mark.parametrize("sep", [c for c in map(chr, range(0x3001)) if c.isspace() or c in ",.()'"])
def test_kernel_splits_words_where_python_does(sep: str) -> None:
    _equal_cues(f"prove{sep}that{sep}thank{sep}you{sep}eigenvalues")
    _equal_cues(f"prove\u200b{sep}x{sep}\u3001court")


@needs_kernel
@settings(max_examples=1000, deadline=None)
@given(parts=st.lists(st.one_of(st.sampled_from(CUE_BITS), st.text(max_size=4)), max_size=40))
def test_kernel_cue_counts_equal_python_on_any_mix(parts: list[str]) -> None:
    """Cue words, phrases (also back to back), prefixes, every kind of separator."""
    _equal_cues(" ".join(parts))
    _equal_cues("".join(parts))


OPTION_TEXTS = [
    "(a) one (b) two c) three d)four e)",
    "a)b)c)",
    "xa) 1b) _c) -d) été) 日本e) (a)",
    "\u00e9a) \u4e00b) \u0661c) \u2460d) \ud800e)",  # é, CJK, Arabic-Indic digit, ①, lone surrogate
    "f) g) A) (A)",
    "a)",
    ")" * 10,
    "é" * 70 + "".join(f"\u4e00{x})" for x in "abcde" * 20),  # more uncertain ones than the buffer
]


def _reference_options(lower: str) -> int:
    from llmtriage.routing.text import _OPTION_RE

    return sum(
        m.start() == 0 or not lower[m.start() - 1].isalnum() for m in _OPTION_RE.finditer(lower)
    )


@needs_kernel
@pytest.mark.parametrize("text", OPTION_TEXTS)
def test_option_labels_match_python(text: str) -> None:
    lower = text.lower()
    assert _CUE_TABLE.option_labels(lower, lower.encode("utf-8", "surrogatepass")) == (
        _reference_options(lower)
    )


@needs_kernel
@settings(max_examples=500, deadline=None)
@given(parts=st.lists(st.sampled_from(["a)", "e)", "(", "x", "1", "é", "\u4e00", "\u0661", " "])))
def test_option_labels_match_python_on_any_mix(parts: list[str]) -> None:
    lower = "".join(parts)
    assert _CUE_TABLE.option_labels(lower, lower.encode("utf-8", "surrogatepass")) == (
        _reference_options(lower)
    )
