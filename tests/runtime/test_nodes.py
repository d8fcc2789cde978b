"""From signatures to nodes: every mapping rule, and every refusal with its message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from enum import Enum
from typing import Annotated, Literal

import annotated_types as at
import pytest

from arkitekt import RegistrationError, Registry, node_of, register
from arkitekt.api.enums import NodeKind, PortKind
from arkitekt.runtime.ports import MISSING
from arkitekt.structures import Array, File


class Mode(Enum):
    FAST = 1
    CAREFUL = 2


def test_scalar_and_composite_kinds() -> None:
    def f(
        a: int,
        b: float,
        c: str,
        d: bool,
        e: datetime,
        g: Mode,
        h: Literal["x", "y"],
        i: list[int],
        j: dict[str, list[float]],
    ) -> None: ...

    ports = node_of(f).args
    assert [p.kind for p in ports] == [
        PortKind.INT,
        PortKind.FLOAT,
        PortKind.STRING,
        PortKind.BOOL,
        PortKind.DATETIME,
        PortKind.ENUM,
        PortKind.ENUM,
        PortKind.LIST,
        PortKind.DICT,
    ]
    assert [c.value for c in ports[5].choices] == ["FAST", "CAREFUL"]
    assert ports[5].identifier == "Mode"
    assert [c.value for c in ports[6].choices] == ["x", "y"]
    assert ports[7].children[0].kind is PortKind.INT
    assert ports[8].children[0].kind is PortKind.LIST
    assert ports[8].children[0].children[0].kind is PortKind.FLOAT


def test_a_default_does_not_make_a_port_nullable() -> None:
    def f(a: int = 3, b: int | None = None, c: int | None = 4, d: int | None = ...) -> None: ...  # type: ignore[assignment]

    with pytest.raises(RegistrationError, match=r"f\(d\): the default Ellipsis does not match"):
        node_of(f)

    def g(a: int = 3, b: int | None = None, c: int | None = 4) -> None: ...

    a, b, c = node_of(g).args
    assert (a.nullable, a.default, a.required) == (False, 3, False)
    assert (b.nullable, b.default, b.required) == (True, MISSING, False)
    assert (c.nullable, c.default) == (True, 4)


def test_enum_defaults_travel_by_name() -> None:
    def f(mode: Mode = Mode.CAREFUL) -> None: ...

    assert node_of(f).args[0].default == "CAREFUL"


def test_returns() -> None:
    def one() -> int: ...
    def several() -> tuple[int, str]: ...
    def none() -> None: ...
    def gen() -> Iterator[float]:
        yield 1.0

    async def agen() -> AsyncIterator[tuple[int, int]]:
        yield 1, 2

    assert [p.kind for p in node_of(one).returns] == [PortKind.INT]
    assert [(p.key, p.kind) for p in node_of(several).returns] == [
        ("return0", PortKind.INT),
        ("return1", PortKind.STRING),
    ]
    assert node_of(none).returns == ()
    assert node_of(gen).kind is NodeKind.GENERATOR
    assert [p.kind for p in node_of(gen).returns] == [PortKind.FLOAT]
    assert len(node_of(agen).returns) == 2


def test_constraints_from_annotated() -> None:
    def f(
        a: Annotated[int, at.Gt(0), at.Le(10)],
        b: Annotated[str, at.MinLen(2), at.MaxLen(5)],
        c: Annotated[float, at.Interval(ge=0, lt=1)] = 0.5,
        d: Annotated[list[int], at.Len(1, 3)] | None = None,
    ) -> None: ...

    a, b, c, d = node_of(f).args
    assert (a.constraints.gt, a.constraints.le) == (0, 10)
    assert (b.constraints.min_length, b.constraints.max_length) == (2, 5)
    assert (c.constraints.ge, c.constraints.lt) == (0, 1)
    assert (d.nullable, d.constraints.min_length, d.constraints.max_length) == (True, 1, 3)


@pytest.mark.parametrize(
    "style",
    [
        """Scale an image.

        Args:
            image: The pixels.
            factor: How much.

        Returns:
            The scaled pixels.
            The factor used.
        """,
        """Scale an image.

        Parameters
        ----------
        image : list
            The pixels.
        factor : float
            How much.

        Returns
        -------
        list
            The scaled pixels.
        float
            The factor used.
        """,
        """Scale an image.

        :param image: The pixels.
        :param factor: How much.
        :returns: The scaled pixels.
        """,
    ],
    ids=["google", "numpy", "rest"],
)
def test_descriptions_from_docstrings(style: str) -> None:
    def scale(image: list[int], factor: float) -> tuple[list[int], float]: ...

    scale.__doc__ = style
    node = node_of(scale)
    assert node.description == "Scale an image."
    assert [p.description for p in node.args] == ["The pixels.", "How much."]
    descriptions = [p.description for p in node.returns]
    if "Returns" in style:
        assert descriptions == ["The scaled pixels.", "The factor used."]
    else:  # one :returns: for two values: which is which is not guessed
        assert descriptions == [None, None]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def f(x) -> int: ...", r"f\(x\): has no type annotation"),
        ("def f(x: int): ...", r"f\(return\): has no return annotation"),
        ("def f(x: list) -> int: ...", r"f\(x\): list says nothing about its items"),
        ("def f(x: dict) -> int: ...", r"f\(x\): dict says nothing about its items"),
        ("def f(x: dict[int, int]) -> int: ...", r"f\(x\): dict keys must be str"),
        ("def f(x: int = 'a') -> int: ...", r"f\(x\): the default 'a' does not match int"),
        (
            "def f(x: int = None) -> int: ...",
            r"f\(x\): defaults to None but int does not allow None",
        ),
        ("def f(x: object) -> int: ...", r"f\(x\): object is not a type arkitekt can send"),
        ("def f(*xs: int) -> int: ...", r"f\(xs\): \*args and \*\*kwargs cannot be ports"),
        ("def f() -> Iterator:\n    yield 1", r"f\(return\): is a generator"),
        ("def f(x: Literal[1, 2]) -> int: ...", r"f\(x\): Literal choices must be strings"),
        ("def f(x: set[int]) -> int: ...", r"f\(x\): set has no JSON form; use list\[int\]"),
        ("def f(x: list[tuple[int, str]]) -> int: ...", r"f\(x\): tuple inside a port"),
    ],
)
def test_unsupported_signatures_fail_at_registration(source: str, message: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from typing import *\nfrom collections.abc import Iterator\n{source}", namespace)
    function = namespace["f"]
    with pytest.raises(RegistrationError, match=message) as caught:
        register(function, registry=Registry())  # type: ignore[call-overload]
    assert caught.value.function == "f"


def test_register_spellings_return_the_function_unchanged() -> None:
    registry = Registry()

    def plain(x: int) -> int:
        return x + 1

    assert register(plain, registry=registry) is plain  # type: ignore[call-overload]
    assert register(registry=registry)(plain) is plain
    assert register(name="renamed", registry=registry)(plain) is plain
    assert plain(1) == 2
    assert [i.interface for i in registry] == ["plain", "renamed"]
    assert registry["renamed"].node.name == "renamed"


def test_two_functions_may_not_share_a_name() -> None:
    registry = Registry()

    def a(x: int) -> int: ...
    def b(x: int) -> int: ...

    register(name="same", registry=registry)(a)
    with pytest.raises(RegistrationError, match=r"already registered by .*a"):
        register(name="same", registry=registry)(b)


def test_the_hash_is_stable_and_content_based() -> None:
    def f(x: int) -> int:
        """One."""

    def g(x: int) -> int:
        """One."""

    def h(x: int) -> int:
        """Two."""

    assert node_of(f).hash == node_of(g, name="f").hash
    assert node_of(f).hash != node_of(h, name="f").hash
    assert len(node_of(f).hash) == 64


def test_signature_reads_like_python() -> None:
    def f(a: int, b: list[float] | None = None, mode: Mode = Mode.FAST) -> tuple[int, str]: ...

    assert node_of(f).signature() == (
        'f(a: int, b: list[float] | None = None, mode: Mode = "FAST") -> tuple[int, str]'
    )


def test_signature_defaults_read_as_python() -> None:
    def h(
        flag: bool = False,
        note: str | None = None,
        sizes: list[bool | None] = [True, None],  # noqa: B006
        by: dict[str, float] = {"a": 1.5},  # noqa: B006
    ) -> None: ...

    assert node_of(h).signature() == (
        "h(flag: bool = False, note: str | None = None, sizes: list[bool | None] = [True, None], "
        'by: dict[str, float] = {"a": 1.5}) -> None'
    )


def test_signature_names_the_built_in_structures_as_written() -> None:
    def g(image: Array, logs: list[File] | None = None) -> tuple[Array, File]: ...

    assert node_of(g).signature() == (
        "g(image: Array, logs: list[File] | None = None) -> tuple[Array, File]"
    )
