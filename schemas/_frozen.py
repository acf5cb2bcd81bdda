"""Cheaper construction for the frozen events built once or more per request.

A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (the
class's own ``__setattr__`` refuses): ~2.9 us for the 21 fields of a result, ~2.5 us for the 15
of a request. ``fast_init`` gives such a class an ``__init__`` with the same parameters and
defaults that fills the instance's ``__dict__`` in one update (~1.5 us); ``filled`` makes an
instance from a dict that already has exactly the class's fields (~0.3 us). Instances stay frozen:
assigning to a field still raises ``FrozenInstanceError``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Apply above ``@dataclass(frozen=True)`` (without ``slots``: the fields live in a ``__dict__``).

    Only for plain fields: a ``default_factory``, an ``init=False`` field or a ``__post_init__``
    would be skipped by the ``__init__`` made here, so those are refused."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" in vars(cls):
        raise TypeError(f"fast_init: {cls.__name__} must be a frozen dataclass without slots")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"fast_init: {cls.__name__} has a __post_init__")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # a dataclass type, checked above
    if any(f.default_factory is not dataclasses.MISSING or not f.init for f in fields):
        raise TypeError(f"fast_init: {cls.__name__} has a default_factory or an init=False field")
    defaults = {f"_default_{f.name}": f.default for f in fields if f.default is not dataclasses.MISSING}
    signature = ", ".join(
        f.name if f.default is dataclasses.MISSING else f"{f.name}=_default_{f.name}" for f in fields
    )
    values = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
    namespace: dict[str, Any] = dict(defaults)
    exec(f"def __init__(self, {signature}):\n    self.__dict__.update({{{values}}})\n", namespace)  # noqa: S102
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    setattr(cls, "__init__", init)  # noqa: B010  # mypy forbids assigning to a method
    return cls


def filled(cls: type[T], data: dict[str, Any]) -> T:
    """``cls(**data)`` for a ``data`` holding exactly the fields of ``cls`` (a ``fast_init`` class:
    no ``__post_init__`` is skipped), without the call: one ``__dict__.update``."""
    event = object.__new__(cls)
    event.__dict__.update(data)
    return event
