"""scikit-learn-style estimators around an MLP, for tunelab.evaluate and TuneSearchCV."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from tunelab.torch._build import MLP, build_mlp
from tunelab.torch._data import as_features, as_targets
from tunelab.torch._spec import MLPSpec
from tunelab.torch._train import fit, predict_outputs
from tunelab.trial import BaseTrial

# Float data keeps its precision through validation; anything else becomes float32.
_FLOATS = (np.float32, np.float64)


class TorchEstimator(BaseEstimator):
    """Shared parameters and fitting of :class:`TorchClassifier` and :class:`TorchRegressor`.

    Construction only stores the parameters; :meth:`fit` checks them, builds the
    network and trains it. Fitted attributes: ``module_`` (the :class:`MLP`),
    ``spec_``, ``history_`` and ``n_features_in_``.

    Args:
        hidden: Hidden layer widths.
        activation: Activation name (see :data:`tunelab.torch.ACTIVATIONS`).
        dropout: Dropout rate after each hidden layer.
        batch_norm: Batch normalisation after each hidden linear layer.
        epochs: Passes over the training data.
        batch_size: Rows per optimisation step.
        lr: Learning rate.
        weight_decay: Decoupled weight decay on weights (not biases or norms).
        l1: L1 penalty on weights.
        l2: L2 penalty on weights.
        optimizer: ``adamw`` or ``sgd``.
        device: ``cpu``, ``cuda``, ``cuda:N`` or None (CUDA when available).
        seed: Seed for the initial weights, shuffling and dropout.
    """

    _task: ClassVar[str]

    def __init__(
        self,
        *,
        hidden: Sequence[int] = (64,),
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        l1: float = 0.0,
        l2: float = 0.0,
        optimizer: str = "adamw",
        device: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.l1 = l1
        self.l2 = l2
        self.optimizer = optimizer
        self.device = device
        self.seed = seed

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        validation_data: tuple[Any, Any] | None = None,
        trial: BaseTrial | None = None,
        metric: str = "loss",
    ) -> TorchEstimator:
        """Build the network for ``X`` and ``y`` and train it.

        Args:
            X: Features (2-D array, DataFrame or tensor); scale them first for best
                results (e.g. ``StandardScaler``).
            y: Targets.
            validation_data: ``(X_val, y_val)`` scored after every epoch.
            trial: A trial to report the validation metric to, and be pruned by.
            metric: See :func:`tunelab.torch.fit`.

        Raises:
            ValueError: A parameter or the data is invalid (the message names it).
            TrialPruned: The trial's pruner stopped training.
        """
        X, y = self._validate_fit(X, y)
        features = as_features(X)
        targets, n_outputs = self._encode(y, features.shape[0])
        spec = MLPSpec(
            n_inputs=features.shape[1],
            n_outputs=n_outputs,
            hidden=self.hidden,
            activation=self.activation,
            dropout=self.dropout,
            batch_norm=self.batch_norm,
            task=self._task,
        )
        module = build_mlp(spec, seed=self.seed)
        validation = None
        if validation_data is not None:
            X_val, y_val = validation_data
            validation = (X_val, self._encode_more(y_val))
        self.history_ = fit(
            module,
            features,
            targets,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            l1=self.l1,
            l2=self.l2,
            optimizer=self.optimizer,
            validation_data=validation,
            metric=metric,
            trial=trial,
            device=self.device,
            seed=self.seed,
        )
        self.module_: MLP = module
        self.spec_ = spec
        self.n_features_in_ = spec.n_inputs
        return self

    def _validate_fit(self, X: Any, y: Any) -> tuple[Any, Any]:
        """scikit-learn's checks and messages for arrays, DataFrames and sparse input.

        Tensors (perhaps on a GPU) skip them: :func:`as_features` checks those.
        """
        if isinstance(X, torch.Tensor):
            self.__dict__.pop("feature_names_in_", None)
            return X, y
        regression = self._task == "regression"
        return validate_data(
            self, X, y, dtype=_FLOATS, multi_output=regression, y_numeric=regression
        )

    def _outputs(self, X: Any) -> torch.Tensor:
        check_is_fitted(self, "module_")
        if not isinstance(X, torch.Tensor):
            X = validate_data(self, X, reset=False, dtype=_FLOATS)
        return predict_outputs(self.module_, as_features(X, spec=self.spec_))

    def _encode(self, y: Any, n_rows: int) -> tuple[Any, int]:
        raise NotImplementedError

    def _encode_more(self, y: Any) -> Any:
        raise NotImplementedError


class TorchClassifier(ClassifierMixin, TorchEstimator):
    """An MLP classifier with scikit-learn's API; labels may be any sortable values.

    Fitted attributes, besides those of :class:`TorchEstimator`: ``classes_``.
    """

    _task = "classification"

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label for each row."""
        indices = self._outputs(X).argmax(dim=1).numpy()
        return np.asarray(self.classes_[indices])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per entry of ``classes_``."""
        return torch.softmax(self._outputs(X), dim=1).double().numpy()

    def _encode(self, y: Any, n_rows: int) -> tuple[Any, int]:
        labels = _labels(y, n_rows)
        check_classification_targets(labels)
        classes = np.unique(labels)
        if classes.size < 2:
            raise ValueError(
                f"y: a classifier needs at least 2 classes, got 1 class: {classes.tolist()}"
            )
        self.classes_ = classes
        return np.searchsorted(classes, labels), classes.size

    def _encode_more(self, y: Any) -> Any:
        labels = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
        unseen = np.setdiff1d(labels, self.classes_)
        if unseen.size:
            raise ValueError(f"validation y holds labels not seen in y: {unseen.tolist()[:10]}")
        return np.searchsorted(self.classes_, labels)


class TorchRegressor(RegressorMixin, TorchEstimator):
    """An MLP regressor with scikit-learn's API (one or several targets)."""

    _task = "regression"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: 1-D for a single target, else one column per target."""
        values = self._outputs(X).double().numpy()
        return values[:, 0] if self.spec_.n_outputs == 1 else values

    def _encode(self, y: Any, n_rows: int) -> tuple[Any, int]:
        targets = as_targets(y, task="regression", n_rows=n_rows)
        return targets, targets.shape[1]

    def _encode_more(self, y: Any) -> Any:
        return y


def estimator_from_module(
    module: MLP, *, classes: Sequence[Any] | None = None, params: dict[str, Any] | None = None
) -> TorchClassifier | TorchRegressor:
    """A fitted estimator around a trained ``module``, e.g. one rebuilt from an artifact.

    Args:
        module: The trained network; its spec decides the estimator and its structure.
        classes: Class labels, one per output (classification; default 0..n-1).
        params: Other estimator parameters (training settings) to record.

    Raises:
        ValueError: ``classes`` does not hold one distinct label per output.
        TypeError: ``params`` names an unknown parameter.
    """
    spec = module.spec
    structure = {
        "hidden": spec.hidden,
        "activation": spec.activation,
        "dropout": spec.dropout,
        "batch_norm": spec.batch_norm,
    }
    settings = {**(params or {}), **structure}
    estimator: TorchClassifier | TorchRegressor
    if spec.task == "classification":
        estimator = TorchClassifier(**settings)
        labels = np.arange(spec.n_outputs) if classes is None else np.asarray(classes)
        if labels.shape != (spec.n_outputs,) or np.unique(labels).size != spec.n_outputs:
            raise ValueError(
                f"classes must hold {spec.n_outputs} distinct labels (one per output), "
                f"got {labels.tolist()}"
            )
        estimator.classes_ = labels
    else:
        estimator = TorchRegressor(**settings)
    estimator.module_ = module
    estimator.spec_ = spec
    estimator.n_features_in_ = spec.n_inputs
    return estimator


def _labels(y: Any, n_rows: int) -> np.ndarray:
    labels = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    if labels.shape != (n_rows,):
        raise ValueError(
            f"y must be 1-D with one label per row of X ({n_rows}), got {labels.shape}"
        )
    return labels
