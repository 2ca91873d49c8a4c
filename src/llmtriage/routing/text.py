"""What a router reads from a request: the whole conversation's text and its structural cues.

Everything here runs on the request hot path, so it is built from single C-level passes
(str methods, one compiled regex) rather than Python loops over characters.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from math import log1p

import numpy as np

from llmtriage.routing import native
from llmtriage.types import ChatRequest, content_text

# Cue families and their triggers. Words take ``[sz]`` classes, optional ``x?`` letters and
# the suffixes below; ``word*`` is a prefix; entries with spaces (a hyphen counts as one) are
# phrases; anything else is a literal symbol. "(a)" stands for an option label "a)".."e)".
_CUES: dict[str, tuple[str, ...]] = {
    "reasoning": (
        "prove",
        "proof",
        "derive",
        "theorem",
        "lemma",
        "justify",
        "rigorous",
        "step by step",
        "show that",
        "why",
        "explain",
        "analy[sz]e",
        "evaluate",
        "compare",
        "trade-?offs?",
    ),
    "math": (
        "integral",
        "derivative",
        "equation",
        "probability",
        "matrix",
        "polynomial",
        "solve",
        "calculate",
        "compute",
        "sum of",
        "modulo",
        "prime",
        "eigen*",
        "\\frac",
        "\\sum",
    ),
    "code": (
        "def",
        "class",
        "import",
        "return",
        "function",
        "python",
        "javascript",
        "sql",
        "regex",
        "algorithm",
        "complexity",
        "implement",
        "debug",
        "compile",
        "```",
    ),
    "science": (
        "molecule",
        "molecular",
        "quantum",
        "enzyme",
        "reaction",
        "electron",
        "protein",
        "thermodynamic*",
        "entropy",
        "catalyst",
        "isomer",
        "orbital",
        "genome",
        "gene",
    ),
    "legal": (
        "statute",
        "plaintiff",
        "defendant",
        "liability",
        "contract",
        "jurisdiction",
        "tort",
        "court",
        "clause",
        "negligence",
        "constitutional",
        "legal",
        "lawsuit",
    ),
    "multistep": ("first", "then", "finally", "plan", "steps?", "design", "architecture"),
    "simple": (
        "hi",
        "hello",
        "thanks",
        "thank you",
        "translate",
        "summari[sz]e",
        "rephrase",
        "rewrite",
        "define",
        "what is",
    ),
    "choice": ("(a)", "answer:", "option", "choices?"),
}
CUE_NAMES = tuple(_CUES)
_SUFFIXES = ("", "s", "es", "ly", "ed", "ing", "al")


def _expand(pattern: str) -> list[str]:
    """The words a cue pattern stands for (``[sz]`` classes, optional ``s?``/``-?``)."""
    words = [""]
    i = 0
    while i < len(pattern):
        if pattern[i] == "[":
            j = pattern.index("]", i)
            words = [w + c for w in words for c in pattern[i + 1 : j]]
            i = j + 1
        elif i + 1 < len(pattern) and pattern[i + 1] == "?":
            words = [w + o for w in words for o in ("", pattern[i])]
            i += 2
        else:
            words = [w + pattern[i] for w in words]
            i += 1
    return words


class _CueTable:
    """The cue lists compiled for speed: a dict lookup per word, ``str.count`` for phrases
    and symbols; the first family listing a word wins."""

    def __init__(self) -> None:
        self.words: dict[str, str] = {}
        self.prefixes: list[tuple[str, str]] = []
        self.phrases: list[tuple[str, str]] = []  # " a b " in the space-joined words
        self.symbols: list[tuple[str, str]] = []  # literal text in the lower-cased input
        for family, entries in _CUES.items():
            for entry in entries:
                self._add(family, entry)

    def _add(self, family: str, entry: str) -> None:
        if entry == "(a)":
            return  # option labels: counted by _OPTION_RE
        if entry.endswith("*"):
            self.prefixes.append((entry[:-1], family))
        elif re.fullmatch(r"[a-z\[\]?\- ]+", entry):
            for form in (f.replace("-", " ") for f in _expand(entry)):
                if " " in form:
                    self.phrases.append((f" {form} ", family))
                for suffix in () if " " in form else _SUFFIXES:
                    self.words.setdefault(form + suffix, family)
        else:
            self.symbols.append((entry, family))

    @functools.cached_property
    def kernel(self) -> native.CueCounter | None:
        """The word, prefix and phrase cues in the C kernel when it is built (compiled on
        first use, not at import)."""
        index = {name: i for i, name in enumerate(CUE_NAMES)}
        return (
            native.CueCounter(
                _PUNCTUATION + _ASCII_SPACES,
                {w: index[f] for w, f in self.words.items()},
                [(p, index[f]) for p, f in self.prefixes],
                [(p.split(), index[f]) for p, f in self.phrases],
                len(CUE_NAMES),
            )
            if native.available()
            else None
        )

    def counts(self, lower: str, encoded: bytes) -> dict[str, int]:
        """Cue counts of lower-cased text (``encoded`` is its UTF-8: ASCII punctuation is
        replaced there, where a 256-byte table does it, and no multi-byte character holds an
        ASCII byte)."""
        counter = self.kernel
        if counter is not None:
            cues = dict(zip(CUE_NAMES, counter.count(encoded), strict=True))
        else:
            cues = self.token_counts(lower, encoded)
        for symbol, family in self.symbols:
            cues[family] += lower.count(symbol)
        if ")" in lower:
            cues["choice"] += self.option_labels(lower, encoded)
        return cues

    def option_labels(self, lower: str, encoded: bytes) -> int:
        """Option labels "a)".."e)" not glued to a preceding letter or digit."""
        if self.kernel is not None:
            count, uncertain = native.option_labels(encoded)
            if count >= 0:  # decide the labels after a non-ASCII character here
                return count + sum(not _char_at(encoded, j).isalnum() for j in uncertain)
        return sum(
            m.start() == 0 or not lower[m.start() - 1].isalnum() for m in _OPTION_RE.finditer(lower)
        )

    def token_counts(self, lower: str, encoded: bytes) -> dict[str, int]:
        """The word, prefix and phrase cues (what the C kernel counts when built)."""
        words = encoded.translate(_PUNCT_TO_SPACE).decode("utf-8", "surrogatepass").split()
        found = Counter(filter(None, map(self.words.get, words)))
        cues = {name: found.get(name, 0) for name in CUE_NAMES}
        for prefix, family in self.prefixes:
            if prefix in lower:
                cues[family] += sum(w.startswith(prefix) for w in words)
        joined = f" {' '.join(words)} "
        for phrase, family in self.phrases:
            cues[family] += joined.count(phrase)
        return cues


_PUNCTUATION = b"!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"
_PUNCT_TO_SPACE = bytes.maketrans(_PUNCTUATION, b" " * len(_PUNCTUATION))
_ASCII_SPACES = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "  # what str.split() splits on below 0x80
_OPTION_RE = re.compile(r"[a-e]\)")
_CUE_TABLE = _CueTable()
_SCAN_CHARS = 32_768
_APPROVALS = frozenset({"yes", "ok", "okay", "sure", "go ahead", "do it", "continue", "proceed"})

STRUCT_NAMES = (
    "log_chars",
    "log_words",
    "n_messages",
    "n_user_turns",
    "has_system",
    "log_last_chars",
    "log_context_chars",
    "digit_frac",
    "log_newlines",
    "math_symbols",
    "code_symbols",
    "questions",
    "n_tools",
    "json_format",
    "tool_messages",
    "short_followup",
    *(f"cue_{name}" for name in CUE_NAMES),
)


def _char_at(encoded: bytes, j: int) -> str:
    """The character whose UTF-8 lead byte is at ``j``."""
    lead = encoded[j]
    size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    return encoded[j : j + size].decode("utf-8", "surrogatepass")


def _occurrences(encoded: bytes, ascii_chars: bytes) -> int:
    """How many of the characters of ``encoded`` (UTF-8) are among ``ascii_chars``."""
    return len(encoded) - len(encoded.translate(None, ascii_chars))


def conversation_text(request: ChatRequest) -> str:
    """All message texts of the conversation joined by newlines, oldest first."""
    return "\n".join(content_text(m.get("content")) for m in request.messages)


def _is_approval(text: str) -> bool:
    """A short reply that approves what came before ("yes", "Yes, go ahead.", "ok do it")."""
    words = text.lower().replace(",", " ").replace(".", " ").replace("!", " ").split()
    return 0 < len(words) <= 4 and (words[0] in _APPROVALS or " ".join(words[:2]) in _APPROVALS)


def focus_text(request: ChatRequest, min_chars: int = 80, max_chars: int = 2000) -> str:
    """The segment the answer hinges on: the last message's final block (blank-line separated),
    widened to two blocks when it is tiny. Few-shot prompts and long pasted context share most
    of their text across requests; this segment is what differs."""
    if not request.messages:
        return ""
    blocks = content_text(request.messages[-1].get("content")).rstrip().rsplit("\n\n", 2)
    focus = blocks[-1]
    if len(focus) < min_chars and len(blocks) > 1:
        focus = "\n\n".join(blocks[-2:])
    return focus[-max_chars:]


def structural_features(request: ChatRequest, text: str) -> np.ndarray:
    """Dense structural features of a request, in the order of ``STRUCT_NAMES``."""
    msgs = request.messages
    last = content_text(msgs[-1].get("content")) if msgs else ""
    full_len = len(text)
    if full_len > _SCAN_CHARS:  # bound the work on huge inputs: head and tail carry the cues
        text = text[: _SCAN_CHARS // 2] + "\n" + text[-_SCAN_CHARS // 2 :]
    n_chars = max(len(text), 1)
    lower = text.lower()
    encoded = lower.encode("utf-8", "surrogatepass")
    words = (lower.count(" ") + 1) * full_len / n_chars
    cues = _CUE_TABLE.counts(lower, encoded)
    roles = [m.get("role") for m in msgs]
    fmt = request.response_format or {}
    return np.array(
        [
            log1p(full_len),
            log1p(words),
            len(msgs),
            roles.count("user"),
            float("system" in roles or "developer" in roles),
            log1p(len(last)),
            log1p(max(full_len - len(last), 0)),
            _occurrences(encoded, b"0123456789") / n_chars,
            log1p(lower.count("\n")),
            log1p(_occurrences(encoded, b"$^=\\+")),
            log1p(_occurrences(encoded, b"{};()[]<>")),
            log1p(lower.count("?")),
            len(request.tools or ()),
            float(fmt.get("type") in ("json_object", "json_schema")),
            roles.count("tool"),
            float(len(msgs) > 2 and _is_approval(last)),
            *(log1p(cues[name]) for name in CUE_NAMES),
        ],
        dtype=np.float32,
    )


def struct_matrix(requests: list[ChatRequest]) -> np.ndarray:
    """Structural features of many requests, one row each."""
    return np.vstack([structural_features(r, conversation_text(r)) for r in requests])
