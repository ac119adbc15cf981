"""Statement arguments and row values to and from the wire."""

from __future__ import annotations

import pytest

from flovyn.plugin.v1 import host_pb2 as hpb
from flovyn_plugin._storage import SqlValue, from_value, to_value


@pytest.mark.parametrize(
    "value", [None, True, False, 0, -(2**63), 2**63 - 1, 1.5, "é", b"\x00\xff"]
)
def test_round_trip(value: SqlValue) -> None:
    back = from_value(to_value(value))
    assert back == value and type(back) is type(value)


def test_kinds() -> None:
    assert to_value(True).WhichOneof("kind") == "bool"
    assert to_value(7).WhichOneof("kind") == "big_int"
    assert to_value(None).null == hpb.VALUE_TYPE_NULL


def test_an_unsupported_type_is_named() -> None:
    import datetime

    with pytest.raises(TypeError, match="cannot bind a datetime"):
        to_value(datetime.datetime.now())  # type: ignore[arg-type]
