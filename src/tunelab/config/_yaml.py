"""YAML parsing as users expect it: exponent floats are numbers, duplicate keys are errors."""

from __future__ import annotations

import functools
import re
from typing import Any

# PyYAML composes recursively: without a bound, deep nesting ends in a RecursionError.
from tunelab.config._fields import MAX_DEPTH


def parse_yaml(text: str) -> Any:
    """Parse YAML safely, as a study config is read.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-6``), so ``1e-6`` would
    silently become the string "1e-6"; YAML 1.2 and every user expect a number. A key
    given twice in one mapping is an error (PyYAML would keep the last one silently),
    and so is nesting deeper than :data:`MAX_DEPTH` levels.

    Raises:
        yaml.YAMLError: The text is not YAML, repeats a key or nests too deeply. For
            the last two it has ``field`` (the key path) and ``reason`` attributes.
    """
    import yaml

    return yaml.load(text, Loader=_loader())


@functools.cache
def _loader() -> type:
    import yaml

    class FieldError(yaml.YAMLError):
        def __init__(self, field: str, reason: str) -> None:
            super().__init__(f"{field}: {reason}")
            self.field, self.reason = field, reason

    class Loader(yaml.SafeLoader):
        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._path: list[str] = []

        def compose_node(self, parent: Any, index: Any) -> Any:
            if isinstance(index, int):
                step = f"[{index}]"
            elif isinstance(index, yaml.ScalarNode):
                step = f".{index.value}"
            elif parent is None:  # the document's root
                step = ""
            else:  # a mapping key is being composed: it is not a level of the path
                return super().compose_node(parent, index)
            if len(self._path) >= MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise FieldError(
                    _shown(self._path), f"nested deeper than {MAX_DEPTH} levels (line {line})"
                )
            self._path.append(step)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._path.pop()
            if isinstance(node, yaml.MappingNode):
                _check_unique(node, [*self._path, step])
            return node

    def _check_unique(node: Any, path: list[str]) -> None:
        seen: dict[tuple[str, str], Any] = {}
        for key_node, _ in node.value:
            # Keys merged in with << may be overridden on purpose; others are scalars.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            first = seen.setdefault((key_node.tag, key_node.value), key_node)
            if first is not key_node:
                raise FieldError(
                    _shown([*path, f".{key_node.value}"]),
                    f"given twice (lines {first.start_mark.line + 1} and "
                    f"{key_node.start_mark.line + 1}); only the last would count: remove one",
                )

    def _shown(path: list[str]) -> str:
        text = "".join(path[:6]).lstrip(".")
        return text + ("..." if len(path) > 6 else "") if text else "(top level)"

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )
    return Loader
