"""Loading the classes that settings name (``package.module.Class``): authenticators, policies."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def load_plugin(key: str, dotted: str, base: type[T], base_name: str, get: Callable[[str], str | None]) -> T:
    """An instance of the ``base`` subclass ``dotted`` names, built with the conf lookup ``get``;
    ValueError naming ``key`` when it cannot be loaded or is not a ``base`` (called ``base_name``)."""
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name or not class_name:
        raise ValueError(f"{key}: {dotted!r} is not the dotted name of a class (package.module.Class)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"{key}: cannot import {module_name!r}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"{key}: {dotted!r} is not a subclass of {base_name}")
    return cls(get)  # type: ignore[call-arg]  # - plugin classes take the conf lookup, whatever the base class declares
