"""The boundary with faust-streaming, mode and aiokafka internals: every upstream function we
replace, wrap or rely on is pinned by a hash of its source, and untested versions are refused."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from linguaflow.settings import REPO_ROOT
from linguaflow.streams.upstream import (
    PINNED,
    UPSTREAM_VERSIONS,
    UntestedUpstream,
    check_versions,
    source_hash,
)


@pytest.mark.parametrize(("module", "qualname"), sorted(PINNED))
def test_each_upstream_function_we_depend_on_is_the_one_we_tested(module: str, qualname: str) -> None:
    assert source_hash(module, qualname) == PINNED[module, qualname], (
        f"{module}.{qualname} changed upstream: re-read what streams/upstream.py does with it,"
        " test it, then update its hash"
    )


def test_versions_other_than_the_tested_ones_are_refused_with_a_clear_message() -> None:
    installed = {**UPSTREAM_VERSIONS, "faust-streaming": "0.16.0"}
    with pytest.raises(UntestedUpstream, match=r"tested with .*faust-streaming.*0\.15\.3.*installed"):
        check_versions(installed.__getitem__)
    check_versions(UPSTREAM_VERSIONS.__getitem__)  # the tested ones pass


def test_the_package_pins_exactly_the_tested_versions() -> None:
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    for name, version in UPSTREAM_VERSIONS.items():
        assert f'"{name}=={version}"' in pyproject


def _private_uses(path: Path) -> set[str]:
    """Names like ``x._name`` (not dunders, not our own ``self._``) a module reaches for."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
                continue
            found.add(node.attr)
    return found


UPSTREAM_PRIVATE = {
    "_crash",
    "_new_consumer",
    "_read_offset",
    "_partition",
    "_message_accumulator",
    "_drain_messages",
    "_wait_next_records",
    "_to_message",
    "_create_worker_consumer",
    "_filter_tps_with_pending_acks",
    "_new_offset",
    "_acked",
    "_thread",
    "_subscription",
    "_isolation_level",
    "_fetch_max_wait_ms",
}


def test_no_module_but_the_boundary_touches_upstream_private_names() -> None:
    offenders = {}
    for package in ("linguaflow", "streams", "sinks", "schemas"):
        for path in (REPO_ROOT / package).rglob("*.py"):
            if path.name == "upstream.py":
                continue
            touched = _private_uses(path) & UPSTREAM_PRIVATE
            if touched:
                offenders[str(path.relative_to(REPO_ROOT))] = sorted(touched)
    assert offenders == {}
