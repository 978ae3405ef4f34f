"""What one fault family reports: how often it was tried and how each try ended."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tally:
    """Tries of one fault family.

    A try is *clean* when tunelab did what a trusted tool would (a clear error,
    a failed trial with its reason, a refused file, an exact history) and
    *bad* otherwise (a hang, a crash, a traceback, a lost or corrupted result,
    an HTTP 500). ``examples`` keeps a few bad outcomes to show what went wrong.
    """

    family: str
    tries: int = 0
    clean: int = 0
    bad: int = 0
    examples: list[str] = field(default_factory=list)
    extra: dict[str, float | int | str] = field(default_factory=dict)

    def record(self, ok: bool, what: str = "") -> None:
        """Count one try; keep the first few bad ones' descriptions."""
        self.tries += 1
        if ok:
            self.clean += 1
        else:
            self.bad += 1
            if len(self.examples) < 5:
                self.examples.append(what)
