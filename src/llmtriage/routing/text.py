"""What a router reads from a request: the whole conversation's text and its structural cues.

Everything here runs on the request hot path, so it is built from single C-level passes
(str methods, one compiled regex) rather than Python loops over characters.
"""

from __future__ import annotations

import re

import numpy as np

from llmtriage.types import ChatRequest, content_text

# Cue families and their trigger words; one alternation regex finds all of them in one pass.
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
        "eigen\\w*",
        "\\\\frac",
        "\\\\sum",
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
        "thermodynamic\\w*",
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
    "choice": ("\\(?[a-e]\\)", "answer:", "option", "choices?"),
}
CUE_NAMES = tuple(_CUES)
_CUE_RE = re.compile(
    "|".join(
        f"(?P<{name}>\\b(?:{'|'.join(words)})(?:s|es|ly|ed|ing|al)?(?!\\w))"
        for name, words in _CUES.items()
    )
)
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
    words = (lower.count(" ") + 1) * full_len / n_chars
    cues = dict.fromkeys(CUE_NAMES, 0)
    for match in _CUE_RE.finditer(lower):
        cues[match.lastgroup or ""] += 1
    digits = sum(map(lower.count, "0123456789"))
    roles = [m.get("role") for m in msgs]
    fmt = request.response_format or {}
    return np.array(
        [
            np.log1p(full_len),
            np.log1p(words),
            len(msgs),
            roles.count("user"),
            float("system" in roles or "developer" in roles),
            np.log1p(len(last)),
            np.log1p(max(full_len - len(last), 0)),
            digits / n_chars,
            np.log1p(lower.count("\n")),
            np.log1p(sum(map(lower.count, "$^=\\+"))),
            np.log1p(sum(map(lower.count, "{};()[]<>"))),
            np.log1p(lower.count("?")),
            len(request.tools or ()),
            float(fmt.get("type") in ("json_object", "json_schema")),
            roles.count("tool"),
            float(len(msgs) > 2 and _is_approval(last)),
            *(np.log1p(cues[name]) for name in CUE_NAMES),
        ],
        dtype=np.float32,
    )


def struct_matrix(requests: list[ChatRequest]) -> np.ndarray:
    """Structural features of many requests, one row each."""
    return np.vstack([structural_features(r, conversation_text(r)) for r in requests])
