"""llmtriage: route each LLM request to the cheapest model tier predicted to do the job."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llmtriage")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
