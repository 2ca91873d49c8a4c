"""Trained routers as versioned files that load without executing code.

One ``.npz`` archive (numpy's zip of ``.npy`` arrays, read with ``allow_pickle=False``) whose
``__meta__`` entry is UTF-8 JSON: format version, router kind and hyper-parameters, feature
config, model list, training metadata and library version.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from llmtriage.exceptions import ConfigError
from llmtriage.routing import registry
from llmtriage.routing.cost import CostModel
from llmtriage.routing.features import FeatureConfig, Featurizer
from llmtriage.routing.model import Calibration, RoutingModel

FORMAT = "llmtriage-router"
FORMAT_VERSION = 1
_META = "__meta__"
_ROUTER = "router."


def save(model: RoutingModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` (``.npz`` appended if missing); returns the path written."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": model.name,
        "router_kind": model.router.kind,
        "router_params": model.router.params(),
        "models": list(model.models),
        "feature_config": model.featurizer.config.to_dict(),
        "meta": model.meta,
    }
    arrays = {
        **model.featurizer.arrays(),
        **model.cost.arrays(),
        **{_ROUTER + k: v for k, v in model.router.arrays().items()},
        **(model.calibration.arrays() if model.calibration else {}),
    }
    arrays[_META] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez(tmp, allow_pickle=False, **arrays)
    tmp.replace(target)  # never leave a half-written artifact under the real name
    return target


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        # we own the file handle, so it is closed even when numpy fails half-way
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError("router.artifact", f"cannot read router artifact {path}: {exc}") from None
    if _META not in arrays:
        raise ConfigError("router.artifact", f"{path} is not an llmtriage router artifact")
    try:
        meta = json.loads(arrays.pop(_META).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("router.artifact", f"{path} has unreadable metadata: {exc}") from None
    if not isinstance(meta, dict):
        raise ConfigError("router.artifact", f"{path} has metadata that is not an object")
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            "router.artifact",
            f"{path} has format {meta.get('format')!r} v{meta.get('format_version')}; "
            f"this version reads {FORMAT!r} v{FORMAT_VERSION}",
        )
    return meta, arrays


def load(path: str | Path, expected_models: list[str] | None = None) -> RoutingModel:
    """Read an artifact; with ``expected_models``, refuse one trained for other models."""
    p = Path(path)
    meta, arrays = _read(p)
    try:
        return _build(p, meta, arrays, expected_models)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError("router.artifact", f"{p} is incomplete or damaged: {exc!r}") from None


def _build(
    p: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray], expected_models: list[str] | None
) -> RoutingModel:
    models = tuple(meta["models"])
    if expected_models is not None and sorted(expected_models) != sorted(models):
        raise ConfigError(
            "router.artifact",
            f"{p} was trained for models {list(models)}, but the config has "
            f"{sorted(expected_models)}; retrain with `llmtriage train` for these models",
        )
    router = registry.from_state(meta["router_kind"], len(models), meta["router_params"])
    router.load_arrays({k[len(_ROUTER) :]: v for k, v in arrays.items() if k.startswith(_ROUTER)})
    featurizer = Featurizer.from_arrays(FeatureConfig.from_dict(meta["feature_config"]), arrays)
    return RoutingModel(
        name=meta["name"],
        models=models,
        featurizer=featurizer,
        router=router,
        cost=CostModel.from_arrays(arrays),
        calibration=Calibration.from_arrays(arrays),
        meta=meta["meta"],
    )
