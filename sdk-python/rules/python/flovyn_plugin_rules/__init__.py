"""The Flovyn server's naming rules, compiled from its Rust source (``flovyn-descriptor``).

``check(describe_response)`` takes a serialized ``flovyn.plugin.v1.DescribeResponse`` and
returns the rules it breaks, worded as the server words them (empty: none).
"""

from ._rules import check

__all__ = ["check"]
