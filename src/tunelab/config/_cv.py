"""The ``cv`` field: how rows are split into folds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunelab.config._fields import ConfigError, Fields

CV_KINDS = ("auto", "stratified", "kfold", "group", "repeated")


@dataclass(frozen=True)
class CVConfig:
    """How rows are split into folds.

    Attributes:
        kind: ``auto`` (stratified for classifiers, else k-fold), ``stratified``,
            ``kfold``, ``group`` (no group in two folds) or ``repeated``.
        n_splits: Folds per repetition.
        n_repeats: Repetitions, for ``repeated``.
        shuffle: Shuffle before splitting (always for ``repeated``, never for ``group``).
        random_state: Seed of the shuffle.
        group_column: Column of group ids, for ``group``; it is not a feature.
    """

    kind: str = "auto"
    n_splits: int = 5
    n_repeats: int = 2
    shuffle: bool = True
    random_state: int | None = 0
    group_column: str | None = None

    def splits(self, estimator: Any, X: Any, y: Any, groups: Any = None) -> list[Any]:
        """The (train, test) index pairs, materialised once so every trial sees the same folds.

        Raises:
            ConfigError: The splitter rejects the data (e.g. stratified folds of a
                continuous target, or more folds than members of a class).
        """
        splitter = self._splitter(estimator)
        try:
            return [(np.asarray(a), np.asarray(b)) for a, b in splitter.split(X, y, groups)]
        except ValueError as exc:
            raise ConfigError(str(exc), field="cv") from None

    def _splitter(self, estimator: Any) -> Any:
        from sklearn import model_selection as ms
        from sklearn.base import is_classifier

        classifier = is_classifier(estimator)
        if self.kind == "group":
            return ms.GroupKFold(n_splits=self.n_splits)
        if self.kind == "repeated":
            repeated = ms.RepeatedStratifiedKFold if classifier else ms.RepeatedKFold
            return repeated(
                n_splits=self.n_splits, n_repeats=self.n_repeats, random_state=self.random_state
            )
        stratified = self.kind == "stratified" or (self.kind == "auto" and classifier)
        kfold = ms.StratifiedKFold if stratified else ms.KFold
        seed = self.random_state if self.shuffle else None
        return kfold(n_splits=self.n_splits, shuffle=self.shuffle, random_state=seed)

    def spec(self) -> dict[str, Any]:
        """The JSON form of every setting."""
        return dataclasses.asdict(self)


def parse_cv(check: Fields, value: Any, seed: int | None) -> CVConfig:
    if not isinstance(value, Mapping):
        value = {"n_splits": check.integer(value, "cv", minimum=2)}
    keys = ("kind", "n_splits", "n_repeats", "shuffle", "random_state", "group_column")
    spec = check.mapping(value, "cv", allowed=keys)
    kind = check.choice(spec.get("kind", "auto"), "cv.kind", CV_KINDS)
    _forbid(check, spec, "n_repeats", kind != "repeated", "only with kind 'repeated'")
    _forbid(check, spec, "group_column", kind != "group", "only with kind 'group'")
    _forbid(check, spec, "shuffle", kind in ("group", "repeated"), f"not with kind {kind!r}")
    shuffle = check.boolean(spec.get("shuffle", kind != "group"), "cv.shuffle")
    _forbid(check, spec, "random_state", not shuffle, "only when the folds are shuffled")
    if kind == "group" and "group_column" not in spec:
        raise check.fail("cv.group_column", "required with kind 'group': the column of group ids")
    state = spec.get("random_state", 0 if seed is None else seed)
    return CVConfig(
        kind=kind,
        n_splits=check.integer(spec.get("n_splits", 5), "cv.n_splits", minimum=2),
        n_repeats=check.integer(spec.get("n_repeats", 2), "cv.n_repeats", minimum=1),
        shuffle=shuffle,
        random_state=check.integer(state, "cv.random_state") if shuffle else None,
        group_column=None
        if spec.get("group_column") is None
        else check.string(spec["group_column"], "cv.group_column"),
    )


def _forbid(check: Fields, spec: Mapping[str, Any], key: str, when: bool, reason: str) -> None:
    if when and key in spec:
        raise check.fail(f"cv.{key}", reason)
