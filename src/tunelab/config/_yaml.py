"""YAML parsing as users expect it (exponent floats are numbers)."""

from __future__ import annotations

import functools
import re
from typing import Any


def parse_yaml(text: str) -> Any:
    """Parse YAML safely, reading exponent floats such as ``1e-6`` as numbers.

    PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-6``), so ``1e-6`` would
    silently become the string "1e-6"; YAML 1.2 and every user expect a number.
    """
    import yaml

    return yaml.load(text, Loader=_float_loader())


@functools.cache
def _float_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )
    return Loader
