"""Frozen dataclasses whose ``__init__`` is compiled on first use instead of at import.

``@dataclass(frozen=True)`` compiles ``__init__``, ``__setattr__``, ``__delattr__``, ``__eq__``,
``__hash__`` and ``__repr__`` (one ``exec`` each) for every class when its module is imported:
about 0.6 ms a class, and the protocol's ~30 message and state classes made that a fifth of the
simulator's cold start. A :class:`Record` subclass is a real dataclass (``dataclasses.fields``,
``replace``, ``asdict`` and ``is_dataclass`` work; type checkers see it through
:func:`typing.dataclass_transform` as frozen with the usual constructor), but:

- ``__setattr__``/``__delattr__`` (raising :class:`dataclasses.FrozenInstanceError`) and
  ``==``, ``hash`` and ``repr`` are written once here, with the semantics of the generated ones;
- ``__init__`` is compiled the first time the class is instantiated (or its signature is asked
  for), so a class the process never builds costs nothing; it then stores straight into the
  instance dict, faster than the ``object.__setattr__`` calls ``@dataclass`` writes.

At run time the dataclass parameters say ``frozen=False`` (the frozen methods are Record's own),
so a Record cannot be subclassed with ``@dataclass(frozen=True)``: subclass Record instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, dataclass_transform

__all__ = ["Record"]

_Init = Callable[..., None]


class _Factory:
    """Default of a field with a ``default_factory`` in the compiled ``__init__``."""

    def __repr__(self) -> str:
        return "<factory>"  # what dataclasses' own signatures show


_FACTORY = _Factory()


class _SignatureOf:
    """``cls.__signature__``: what :func:`inspect.signature` reports (the fields, as for a
    dataclass), available before the first instance was built."""

    def __get__(self, instance: object, owner: type) -> Any:
        import inspect

        parameters = list(inspect.signature(_compiled_init(owner)).parameters.values())
        return inspect.Signature(parameters[1:])


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
class Record:
    """Base of frozen dataclasses; subclasses declare fields as for ``@dataclass``."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            _install_lazy_init(cls)
        dataclasses.dataclass(cls, init=False, repr=False, eq=False)
        _check_fields(cls)

    __signature__: Any = _SignatureOf()

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        names = _roles(self.__class__)[0]
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n in _roles(self.__class__)[1]))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _roles(self.__class__)[2])
        return f"{self.__class__.__qualname__}({shown})"


_ROLES: dict[type, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {}


def _roles(cls: type) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Names of the fields ``==`` compares, ``hash`` hashes and ``repr`` shows (as dataclasses
    decide them), worked out once per class."""
    roles = _ROLES.get(cls)
    if roles is None:
        fields = dataclasses.fields(cls)
        roles = _ROLES[cls] = (
            tuple(f.name for f in fields if f.compare),
            tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)),
            tuple(f.name for f in fields if f.repr),
        )
    return roles


def _check_fields(cls: type) -> None:
    """Refuse at class creation what ``@dataclass`` refuses there."""
    seen_default = False
    for f in dataclasses.fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"{cls.__qualname__}.{f.name}: a Record field is positional and init")
        has_default = (
            f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or has_default
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__qualname__}: a Record has no __post_init__")


def _install_lazy_init(cls: type) -> None:
    def __init__(self: Record, *args: Any, **kwargs: Any) -> None:
        _compiled_init(cls)(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.lazy = True  # type: ignore[attr-defined]
    setattr(cls, "__init__", __init__)  # noqa: B010 (mypy refuses the assignment)


def _compiled_init(cls: type) -> _Init:
    """The class's own ``__init__``, compiled (and installed) if it was still the stub."""
    init: _Init = cls.__dict__["__init__"]
    if not getattr(init, "lazy", False):
        return init
    _check_fields(cls)  # dataclasses may ask for the signature before __init_subclass__ checks
    namespace: dict[str, Any] = {"__set": object.__setattr__, "__factory": _FACTORY}
    params, lines = [], []
    self, store = "__record_self__", ""
    if not any("__slots__" in c.__dict__ for c in cls.__mro__[:-2]):  # Record's own excepted
        # Storing into the instance dict is what object.__setattr__ ends up doing, minus the
        # call and the descriptor look-up: ~2.5x faster, and objects are built on every frame.
        store = "__record_dict__"
        lines.append(f"  {store} = {self}.__dict__")
    annotations: dict[str, Any] = {"return": None}
    for f in dataclasses.fields(cls):
        name = f.name
        annotations[name] = f.type
        if f.default is not dataclasses.MISSING:
            namespace[f"__dflt_{name}"] = f.default
            params.append(f"{name}=__dflt_{name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"__fact_{name}"] = f.default_factory
            params.append(f"{name}=__factory")
            lines.append(f"  if {name} is __factory: {name} = __fact_{name}()")
        else:
            params.append(name)
        lines.append(
            f"  {store}[{name!r}] = {name}" if store else f"  __set({self}, {name!r}, {name})"
        )
    source = f"def __init__({self}, {', '.join(params)}):\n" + ("\n".join(lines) or "  pass")
    exec(source, namespace)  # the same technique as dataclasses, run once per class on demand
    compiled: _Init = namespace["__init__"]
    compiled.__qualname__ = f"{cls.__qualname__}.__init__"
    compiled.__annotations__ = annotations
    setattr(cls, "__init__", compiled)  # noqa: B010 (mypy refuses the assignment)
    return compiled
