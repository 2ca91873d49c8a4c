"""Tests for llmtriage.routing.features (and the text helpers it reads): hashing, TF-IDF rows,
the focus namespace, single vs batch transform, truncation, odd contents, structural cues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from llmtriage.routing.features import FeatureConfig, Featurizer, HashedNgrams
from llmtriage.routing.text import STRUCT_NAMES, conversation_text, focus_text, structural_features
from llmtriage.types import ChatRequest

CORPUS = [
    "Prove that the sum of two even numbers is even.",
    "Hello! How are you today?",
    "Write a Python function that reverses a list.",
    "Translate 'good morning' into Spanish, please.",
    "Explain the difference between a tort and a crime under US law.",
    "What is the derivative of x^3 + 2x with respect to x?",
    "Summarize the plot of Hamlet in two sentences.",
    "Which orbital holds the unpaired electron in nitric oxide?",
    "Hello again, thanks for the help with the Python function!",
    "Prove that the derivative of an even function is odd.",
] * 2
SMALL = FeatureConfig(svd_dims=8)
PLAN = "First design the schema, then migrate the data, then switch the traffic. " * 20


def user(text: str) -> ChatRequest:
    return ChatRequest.from_prompt(text)


def feature(row: np.ndarray, name: str) -> float:
    return float(row[STRUCT_NAMES.index(name)])


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer.fit([user(t) for t in CORPUS], SMALL)


# ---------------------------------------------------------------- hashing


def test_bucket_ids_do_not_depend_on_the_python_hash_seed() -> None:
    cases = [
        ["Prove that sqrt(2) is irrational", ""],
        ["Héllo wörld, ça va? 日本語のテキスト", "ça va?"],
        ["a long context\n\nand the final question?", "and the final question?"],
    ]
    code = (
        "import json, sys\n"
        "from llmtriage.routing.features import FeatureConfig, HashedNgrams\n"
        "h = HashedNgrams(FeatureConfig())\n"
        "out = [[a.tolist() for a in h.buckets(t, f)] for t, f in json.loads(sys.argv[1])]\n"
        "print(json.dumps(out))\n"
    )
    h = HashedNgrams(FeatureConfig())
    expected = [[a.tolist() for a in h.buckets(t, f)] for t, f in cases]
    for seed in ("12345", "987"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", code, json.dumps(cases)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert json.loads(proc.stdout) == expected, f"PYTHONHASHSEED={seed}"
    assert all(len(ids) > 0 for ids, _ in expected)


@pytest.mark.parametrize(
    "variant",
    [
        "  Prove   that x is  prime ",
        "prove\tthat\nx is\n\nprime",
        "Prove\r\nthat x\r\nis prime",
        "prove that x is\u00a0prime",  # non-breaking space, common in pasted text
    ],
    ids=["spaces", "tabs-newlines", "crlf", "nbsp"],
)
def test_whitespace_variants_give_the_same_word_features(variant: str) -> None:
    words = HashedNgrams(FeatureConfig(char_ngrams=(0, 0)))
    ids, counts = words.buckets("prove that x is prime")
    ids2, counts2 = words.buckets(variant)
    np.testing.assert_array_equal(ids2, ids)
    np.testing.assert_array_equal(counts2, counts)


def test_focus_segment_lands_in_its_own_namespace() -> None:
    h = HashedNgrams(FeatureConfig())
    text = "Which orbital holds the unpaired electron in nitric oxide?"
    as_body = set(h.buckets(text)[0].tolist())
    as_focus = set(h.buckets("", text)[0].tolist())
    both = set(h.buckets(text, text)[0].tolist())
    assert as_body and as_focus
    assert len(as_body & as_focus) <= 0.05 * len(as_body)  # at most chance collisions
    assert both == as_body | as_focus


def test_focus_text_is_the_final_block_of_the_last_message() -> None:
    shots = "Q: 2+2?\nA: 4\n\n" * 30
    question = "Q: Which orbital holds the unpaired electron in nitric oxide, and why?"
    req = ChatRequest(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": shots + question},
        ]
    )
    assert focus_text(req).endswith(question)
    assert len(focus_text(req)) < len(shots)


# ---------------------------------------------------------------- transform


def test_rows_are_l2_normalised(featurizer: Featurizer) -> None:
    feats = featurizer.transform([user(t) for t in CORPUS[:10]])
    sq = np.asarray(feats.tfidf.multiply(feats.tfidf).sum(axis=1)).ravel()
    np.testing.assert_allclose(np.sqrt(sq), 1.0, atol=1e-5)
    assert feats.dense.shape == (10, 8)
    np.testing.assert_allclose(np.linalg.norm(feats.dense, axis=1), 1.0, atol=1e-5)


def test_single_request_transform_equals_its_batch_row(featurizer: Featurizer) -> None:
    requests = [
        *(user(t) for t in CORPUS[:6]),
        ChatRequest(
            messages=[
                {"role": "system", "content": "You are a careful mathematician."},
                {"role": "user", "content": PLAN},
                {"role": "assistant", "content": "Here is the plan: 1. schema 2. data 3. traffic"},
                {"role": "user", "content": "yes"},
            ],
            tools=[{"type": "function", "function": {"name": "run_sql"}}],
        ),
        user("unseen words entirely: zyzzyva quokka"),
    ]
    batch = featurizer.transform(requests)
    for i, req in enumerate(requests):
        one = featurizer.transform([req])
        np.testing.assert_allclose(
            one.tfidf.toarray(), batch.tfidf[i].toarray(), atol=1e-5, err_msg=f"tfidf {i}"
        )
        np.testing.assert_allclose(one.dense, batch.dense[i : i + 1], atol=1e-5, err_msg=f"{i}")
        np.testing.assert_allclose(one.struct, batch.struct[i : i + 1], atol=1e-5)


def test_long_texts_are_truncated_not_blown_up(featurizer: Featurizer) -> None:
    rng = np.random.default_rng(0)
    words = np.array(CORPUS[0].split() + CORPUS[4].split())
    head = " ".join(rng.choice(words, 12_000))  # ~64 KB
    tail = " ".join(rng.choice(words, 12_000))
    a = head + " alpha" * 100_000 + " " + tail
    b = head + " omega gamma" * 50_000 + " " + tail
    h = HashedNgrams(FeatureConfig())
    ids_a, counts_a = h.buckets(a)
    ids_b, counts_b = h.buckets(b)
    np.testing.assert_array_equal(ids_a, ids_b)  # the middle is not read
    np.testing.assert_array_equal(counts_a, counts_b)
    started = time.perf_counter()
    feats = featurizer.transform([user(a)])
    assert time.perf_counter() - started < 5.0
    assert np.isfinite(feats.dense).all() and np.isfinite(feats.struct).all()
    assert abs(np.sqrt(feats.tfidf.multiply(feats.tfidf).sum()) - 1.0) < 1e-5
    # truncation is for n-grams only: the length (which prices the request) is the full one
    assert np.expm1(feature(feats.struct[0], "log_chars")) == pytest.approx(len(a), rel=1e-3)


def test_empty_and_non_string_contents(featurizer: Featurizer) -> None:
    parts = [
        {"type": "text", "text": "Prove that the sum of two even numbers is even."},
        {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
    ]
    requests = [
        ChatRequest(messages=[]),
        ChatRequest(messages=[{"role": "user", "content": ""}]),
        ChatRequest(messages=[{"role": "assistant", "content": None}]),
        ChatRequest(messages=[{"role": "user", "content": parts}]),
        user(CORPUS[0]),
    ]
    feats = featurizer.transform(requests)
    assert feats.tfidf.shape == (5, featurizer.n_columns)
    assert feats.struct.shape == (5, len(STRUCT_NAMES))
    assert np.isfinite(feats.struct).all() and np.isfinite(feats.dense).all()
    assert feats.tfidf[:3].nnz == 0
    np.testing.assert_allclose(feats.dense[:3], 0.0)
    # a list of typed parts reads like the same text given as a string
    np.testing.assert_allclose(feats.tfidf[3].toarray(), feats.tfidf[4].toarray(), atol=1e-6)
    assert all(
        featurizer.transform([r]).struct.shape == (1, len(STRUCT_NAMES)) for r in requests[:4]
    )


# ---------------------------------------------------------------- structural features


def struct(req: ChatRequest) -> np.ndarray:
    return structural_features(req, conversation_text(req))


def test_structural_features_see_tools_and_json_format() -> None:
    tools = [{"type": "function", "function": {"name": n}} for n in ("search", "fetch")]
    plain = struct(user("List three colours"))
    with_tools = struct(ChatRequest(messages=user("List three colours").messages, tools=tools))
    assert feature(plain, "n_tools") == 0 and feature(with_tools, "n_tools") == 2
    for fmt, expected in [
        ({"type": "json_object"}, 1.0),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}, 1.0),
        ({"type": "text"}, 0.0),
    ]:
        req = ChatRequest(messages=user("List three colours").messages, response_format=fmt)
        assert feature(struct(req), "json_format") == expected, fmt
    assert feature(plain, "json_format") == 0.0


def test_structural_features_count_conversation_depth() -> None:
    turns = [
        {"role": "system", "content": "Be helpful."},
        {"role": "user", "content": "Plan a trip."},
        {"role": "assistant", "content": "Where to?"},
        {"role": "user", "content": "Rome."},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "tool", "content": "weather: sunny"},
        {"role": "user", "content": "Great, book it."},
    ]
    row = struct(ChatRequest(messages=turns))
    assert feature(row, "n_messages") == 7
    assert feature(row, "n_user_turns") == 3
    assert feature(row, "has_system") == 1.0
    assert feature(row, "tool_messages") == 1
    assert feature(row, "log_context_chars") > 0
    single = struct(user("Rome."))
    assert feature(single, "n_messages") == 1 and feature(single, "has_system") == 0.0


@pytest.mark.parametrize("approval", ["yes", "Yes.", "OK!", "go ahead"])
def test_short_approval_after_a_long_plan_is_flagged(approval: str) -> None:
    convo = [
        {"role": "user", "content": PLAN},
        {"role": "assistant", "content": "Plan:\n1. schema\n2. backfill\n3. cut over\n" * 10},
        {"role": "user", "content": approval},
    ]
    assert feature(struct(ChatRequest(messages=convo)), "short_followup") == 1.0
    assert feature(struct(user(approval)), "short_followup") == 0.0  # no plan before it
    long_reply = [*convo[:2], {"role": "user", "content": "yes, but first " + PLAN}]
    assert feature(struct(ChatRequest(messages=long_reply)), "short_followup") == 0.0
