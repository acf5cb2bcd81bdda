"""fast_init: the same constructor as the dataclass's own, only cheaper; and what it refuses."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass, field, make_dataclass
from typing import Any

import pytest

from linguaflow.schemas import CacheEntry, TranslationRequest, TranslationResult
from linguaflow.schemas._frozen import fast_init, filled

FIELDS: list[Any] = [
    ("a", str),
    ("b", int),
    ("c", str | None, field(default=None)),
    ("d", int, field(default=7)),
]
Plain = make_dataclass("Plain", FIELDS, frozen=True)  # the dataclass's own __init__
Fast: type[Any] = fast_init(make_dataclass("Fast", FIELDS, frozen=True))


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("x", 1), {}), ((), {"a": "x", "b": 1, "d": 9}), (("x",), {"b": 2, "c": "y"}), (("x", 1, "y", 3), {})],
)
def test_builds_what_the_dataclass_init_builds(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    plain, fast = Plain(*args, **kwargs), Fast(*args, **kwargs)
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    assert vars(fast) == vars(plain)
    assert fast == Fast(*args, **kwargs)
    assert hash(fast) == hash(Fast(*args, **kwargs))


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [(("x",), {}), (("x", 1), {"e": 1}), (("x", 1), {"a": "y"}), (("x", 1, None, 2, 3), {})],
)
def test_a_wrong_call_is_a_type_error_as_before(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        Plain(*args, **kwargs)
    with pytest.raises(TypeError):
        Fast(*args, **kwargs)


def test_instances_stay_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        Fast("x", 1).a = "y"
    with pytest.raises(FrozenInstanceError):
        filled(Fast, {"a": "x", "b": 1, "c": None, "d": 7}).b = 2


def test_filled_equals_the_constructed_instance() -> None:
    assert filled(Fast, {"a": "x", "b": 1, "c": None, "d": 7}) == Fast("x", 1)


@pytest.mark.parametrize("cls", [TranslationRequest, TranslationResult, CacheEntry])
def test_the_per_request_events_use_it(cls: type[Any]) -> None:
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    names = cls.__init__.__code__.co_names
    assert "update" in names  # one __dict__.update, not a setattr per field
    assert "__dataclass_builtins_object__" not in names


def test_refuses_what_its_init_would_skip() -> None:
    @dataclass
    class Mutable:
        a: int

    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int

    @dataclass(frozen=True)
    class Factory:
        a: list[int] = field(default_factory=list)

    @dataclass(frozen=True)
    class NotInit:
        a: int = field(default=0, init=False)

    @dataclass(frozen=True)
    class PostInit:
        a: int

        def __post_init__(self) -> None:
            pass

    for cls in (Mutable, Slotted, Factory, NotInit, PostInit, int):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)
