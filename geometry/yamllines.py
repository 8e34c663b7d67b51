"""Where a node lies in a YAML file, for error messages that name the line.

Its own module, importing only PyYAML: world files and policy files both explain mistakes
with it, and a policy loads before every hook call, which must not pull in numpy.
"""

from __future__ import annotations

from typing import Any

import yaml


def line_of(node: Any, loc: tuple[Any, ...]) -> int:
    """1-based line of the YAML node at ``loc`` (or of its deepest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line
