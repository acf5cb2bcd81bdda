"""linguaflow: CLI and composition root (bootstrap) of the translation pipeline."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("linguaflow")  # one place: pyproject.toml's [project] version
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
