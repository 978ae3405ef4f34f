"""Mutated study configs through the real ``tunelab tune``: a clean run or one clean error line.

The generator starts from the example configs (shrunk to a one-trial budget) and breaks
them the ways users and tools do: deleted, duplicated and unknown keys, wrong types,
huge, negative and non-finite numbers, deep nesting, control and bidirectional
characters, bad storage URLs, unknown metrics and models, metrics that cannot score the
model or the target, broken YAML. Each mutation says whether a trusted tool must refuse
it. Each config runs in a child of a fork server (a fresh process that has imported
tunelab's CLI and scikit-learn once, so children start quickly and, like a user's
``tunelab tune``, inherit no threads from the test process), bounded in time, through the
CLI's own entry (typer's CliRunner on the root app).

``benchmarks/reliability/configs.py`` runs many more of the same mutations.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# The mutators rewrite a top-level space, metric and model class; deployment configs
# (objectives, model families) have their field checks in tests/test_config_deploy.py.
EXAMPLES = [
    path
    for path in sorted((ROOT / "examples").glob("*.yaml"))
    if "space" in yaml.safe_load(path.read_text())
]
STORAGE = "@STORAGE@"  # replaced by the run's database URL
RUN_SECONDS = 150.0  # a run longer than this is a hang (a one-trial run takes seconds)


@dataclass(frozen=True)
class Mutation:
    """One mutated config.

    Attributes:
        name: What was changed, e.g. ``breast_cancer: n_trials = -1``.
        text: The YAML text (``@STORAGE@`` stands for the database URL).
        must_fail: A trusted tool must refuse this config; running it is nonsense accepted.
    """

    name: str
    text: str
    must_fail: bool


@dataclass(frozen=True)
class Outcome:
    """How one run ended, and whether that is clean."""

    mutation: Mutation
    kind: str  # "ran", "refused", "accepted nonsense", "traceback", "hang", "crash"
    detail: str
    seconds: float

    @property
    def clean(self) -> bool:
        return self.kind in ("ran", "refused")


# -- the generator ------------------------------------------------------------------------------


def shrink(config: dict[str, Any]) -> dict[str, Any]:
    """The example with a budget of one trial in one process on two folds, and small ranges."""
    small = copy.deepcopy(config)
    small["n_trials"] = 1
    small["n_jobs"] = 1
    small.pop("timeout", None)
    small["storage"] = STORAGE
    cv = small.get("cv", 5)
    if isinstance(cv, dict):
        small["cv"] = {**cv, "n_splits": 2, **({"n_repeats": 1} if "n_repeats" in cv else {})}
    else:
        small["cv"] = 2
    for spec in small["space"].values():
        if "int" in spec:
            # The cheapest model of each range (fewest trees, shallowest) keeps runs short.
            spec["int"] = [spec["int"][0], spec["int"][0]]
    return small


def _dump(config: Any) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*path, i))
    else:
        yield path, value


def _set(config: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = config
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _show(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


# Top-level fields with a fixed type: any value of another type must be refused.
_TYPED = ("n_trials", "n_jobs", "seed", "storage", "study_name", "direction", "metric", "metrics")
_OTHER_TYPES: list[Any] = ["ten", [1, 2], {"a": 1}, True, 1.5, "", [], {}]
_BAD_NUMBERS: dict[str, list[Any]] = {
    "n_trials": [0, -1, 10**12, 10**30, math.nan, math.inf, 1e308, 2.5],
    "n_jobs": [0, -2, 100_000, 10**30, math.nan, 1.5],
    "timeout": [0, -1.0, math.nan, math.inf, -math.inf, 1e12, 1e308],
    "seed": [-1, 2**40, 10**30, math.nan, 0.5],
}
_BAD_STORAGES = [
    "sqlite:///",
    "sqlite://",
    "sqlite:///:memory:",
    "sqlite:////etc/passwd",
    "sqlite:///@DIR@",
    "sqlite:///@DIR@/notes.txt",
    "sqlite:////nonexistent-dir/x/y.db",
    "sqlite:///@DIR@/nul\x00.db",
    "bogus://x",
    "not a url",
    "postgresql+psycopg://nobody@127.0.0.1:1/none",
    "",
]
_BAD_NAMES = [
    "a\nb",
    "nul\x00",
    "tab\t",
    "bidi\u202eevil",
    "zero\u200bwidth",
    "x" * 600,
    "\x1b[31m",
]
_UNKNOWN_MODELS = [
    "sklearn.ensemble.RandomForrestClassifier",
    "sklearn.ensemble",
    "os.path.join",
    "builtins.dict",
    "no_such_module.Model",
    "RandomForestClassifier",
]
_CLASSIFICATION_METRICS = ["accuracy", "f1_macro", "roc_auc_ovr", "neg_log_loss"]
_REGRESSION_METRICS = ["r2", "neg_mean_squared_error", "neg_root_mean_squared_error"]


def _mutators() -> list[tuple[str, Callable[[random.Random, dict[str, Any]], list[Mutation]]]]:
    return [
        ("delete a required key", _delete_required),
        ("delete an optional key", _delete_optional),
        ("unknown key", _unknown_key),
        ("wrong type", _wrong_type),
        ("bad number", _bad_number),
        ("space bounds", _space_bounds),
        ("space structure", _space_structure),
        ("deep nesting", _deep_nesting),
        ("duplicate key", _duplicate_key),
        ("study name", _study_name),
        ("storage URL", _storage_url),
        ("unknown model", _unknown_model),
        ("model params", _model_params),
        ("unknown metric", _unknown_metric),
        ("metric and model", _metric_model),
        ("metric and target", _metric_target),
        ("data", _data),
        ("broken YAML", _broken_yaml),
        ("valid change", _valid_change),
    ]


def _one(name: str, config: Any, must_fail: bool) -> list[Mutation]:
    return [Mutation(name, _dump(config), must_fail)]


def _delete_required(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    key = rng.choice(["data", "model", "space", "metric", "n_trials"])
    key = "metrics" if key == "metric" and "metrics" in config else key
    changed = {k: v for k, v in config.items() if k != key}
    return _one(f"delete {key}", changed, True)


def _delete_optional(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    optional = [k for k in ("cv", "sampler", "pruner", "seed", "direction") if k in config]
    key = rng.choice(optional)
    return _one(f"delete {key}", {k: v for k, v in config.items() if k != key}, False)


def _unknown_key(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    changed = copy.deepcopy(config)
    where = rng.choice(["top", "cv", "model", "data", "space param"])
    typo = rng.choice(["n_trails", "metirc", "sampel", "Seed", "é", "\u202e"])
    if where == "top" or not isinstance(changed.get(where.split()[0]), dict):
        changed[typo] = 1
    elif where == "space param":
        first = next(iter(changed["space"]))
        changed["space"][first][typo] = True
    else:
        changed[where][typo] = 1
    return _one(f"unknown key {typo!r} in {where}", changed, True)


def _wrong_type(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    metrics = "metrics" if "metrics" in config else "metric"
    key = rng.choice([*(k for k in _TYPED if not k.startswith("metric")), metrics])
    value = rng.choice(_OTHER_TYPES)
    if key.startswith("metric") or key == "study_name":
        # A non-empty string is a valid name (or list of one metric name): not another type.
        value = ["ten"] if isinstance(value, str) and value else value
    return _one(f"{key} = {value!r}", {**config, key: value}, True)


def _bad_number(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    key = rng.choice(list(_BAD_NUMBERS))
    value = rng.choice(_BAD_NUMBERS[key])
    return _one(f"{key} = {value!r}", {**config, key: value}, True)


def _space_bounds(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    changed = copy.deepcopy(config)
    ranged = [n for n, s in changed["space"].items() if "int" in s or "float" in s]
    name = rng.choice(ranged)
    spec = changed["space"][name]
    kind = "int" if "int" in spec else "float"
    end = rng.choice([0, 1])
    value = rng.choice([10**30, -(10**30), math.nan, math.inf, -math.inf, "1", None])
    spec[kind][end] = value
    return _one(f"space.{name}.{kind}[{end}] = {value!r}", changed, True)


def _space_structure(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    changed = copy.deepcopy(config)
    names = list(changed["space"])
    name = rng.choice(names)
    spec = changed["space"][name]
    kind = next(k for k in ("int", "float", "categorical") if k in spec)
    how = rng.choice(["self when", "unknown parent", "reversed", "empty", "no kind", "two kinds"])
    if how == "self when":
        value = spec[kind][0]
        spec["when"] = {name: value}
    elif how == "unknown parent":
        spec["when"] = {"no_such_param": 1}
    elif how == "reversed" and kind != "categorical":
        spec[kind] = list(reversed(spec[kind])) if spec[kind][0] != spec[kind][1] else [2, 1]
    elif how == "empty" or (how == "reversed" and kind == "categorical"):
        spec[kind] = []
    elif how == "no kind":
        changed["space"][name] = {"log": True}
    else:
        spec["categorical" if kind != "categorical" else "int"] = [1, 2]
    return _one(f"space.{name}: {how}", changed, True)


def _deep_nesting(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    depth = rng.choice([60, 1000, 5000, 20000])
    key = rng.choice(["seed", "space_extra", "metrics", "cv"])
    brackets = rng.choice([("[", "]"), ("{a: ", "}")])
    rest = {k: v for k, v in config.items() if k != key}
    text = _dump(rest) + f"{key}: " + brackets[0] * depth + "1" + brackets[1] * depth + "\n"
    return [Mutation(f"{key} nested {depth} deep", text, True)]


def _duplicate_key(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    key = rng.choice([k for k in config if k != "storage"])
    line = _dump({key: config[key]})
    text = _dump(config)
    if rng.random() < 0.5:
        return [Mutation(f"{key} given twice, equal", text + line, True)]
    return [Mutation(f"{key} given twice, first", line + text, True)]


def _study_name(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    name = rng.choice(_BAD_NAMES)
    return _one(f"study_name = {name[:20]!r}", {**config, "study_name": name}, True)


def _storage_url(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    url = rng.choice(_BAD_STORAGES)
    return _one(f"storage = {url!r}", {**config, "storage": url}, True)


def _unknown_model(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    model = rng.choice(_UNKNOWN_MODELS)
    return _one(f"model = {model}", {**config, "model": model}, True)


def _model_params(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    model = config["model"]
    path = model if isinstance(model, str) else model["class"]
    params = {} if isinstance(model, str) else dict(model.get("params", {}))
    change = rng.choice(
        [
            {"verbose": "ten"},
            {"verbose": -1},
            {"not_a_parameter": 1},
            {next(iter(config["space"])): None},  # also tuned
            {"verbose": 10**30},
        ]
    )
    changed = {**config, "model": {"class": path, "params": {**params, **change}}}
    return _one(f"model.params + {change}", changed, True)


def _unknown_metric(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    name = rng.choice(["f2_score", "acuracy", "roc", "accuracy\x00", "", "R2", "mse"])
    field = "metrics" if "metrics" in config else "metric"
    value: Any = [name] if field == "metrics" else name
    return _one(f"{field} = {value!r}", {**config, field: value}, True)


def _metric_model(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    field = "metrics" if "metrics" in config else "metric"
    regressor = "diabetes" in str(config["data"])
    wrong = rng.choice(_CLASSIFICATION_METRICS if regressor else _REGRESSION_METRICS)
    value: Any = [wrong] if field == "metrics" else wrong
    return _one(f"{field} = {value!r} for this model", {**config, field: value}, True)


def _metric_target(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    field = "metrics" if "metrics" in config else "metric"
    if "diabetes" in str(config["data"]):
        # A classifier on a continuous target.
        model = rng.choice(["sklearn.tree.DecisionTreeClassifier", "sklearn.svm.SVC"])
        space = (
            {"min_samples_leaf": {"int": [1, 2]}} if "Tree" in model else {"C": {"float": [1, 2]}}
        )
        changed = {**config, "model": model, "space": space, field: ["accuracy"]}
        changed["cv"] = rng.choice([2, {"kind": "kfold", "n_splits": 2}])
        return _one(f"{model} on a continuous target", changed, True)
    if "wine" in str(config["data"]):
        metric = rng.choice(["f1", "precision", "recall", "roc_auc", "jaccard"])
        return _one(f"binary {metric} on three classes", {**config, field: [metric]}, True)
    data = rng.choice(["sklearn:diabetes", "one-class.csv#y"])
    return _one(f"data = {data} for a classifier", {**config, "data": data}, True)


def _data(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    data = rng.choice(
        [
            "sklearn:iriss",
            "missing.csv#y",
            "two-class.csv#z",
            "two-class.csv#",
            "notes.txt#y",
            {"path": "two-class.csv"},
            {"path": "two-class.csv", "target": "y", "drop": ["nope"]},
            {"path": "nul.csv", "target": "y"},
            {"path": "empty.csv", "target": "y"},
            {"path": "no-target.csv", "target": "y"},
        ]
    )
    return _one(f"data = {data!r}", {**config, "data": data}, True)


def _broken_yaml(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    text = _dump(config)
    how = rng.choice(["truncate", "utf16", "latin1", "nul", "tab", "empty", "list", "laughs"])
    if how == "truncate":
        cut = rng.randrange(1, len(text) // 2)
        return [Mutation(f"truncated at byte {cut}", text[:cut], True)]
    if how == "utf16":
        return [
            Mutation(
                "UTF-16 encoded", text.encode("utf-16").decode("utf-8", "surrogateescape"), True
            )
        ]
    if how == "latin1":
        return [Mutation("latin-1 byte in a name", text + "study_name: caf\udce9\n", True)]
    if how == "nul":
        at = rng.randrange(len(text))
        return [Mutation(f"NUL byte at {at}", text[:at] + "\x00" + text[at:], True)]
    if how == "tab":
        return [Mutation("tab indentation", text.replace("  ", "\t"), "  " in text)]
    if how == "empty":
        return [Mutation("empty file", "", True)]
    if how == "list":
        return [Mutation("a list, not a mapping", _dump(list(config)), True)]
    laughs = "laughs:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)
    )
    return [Mutation("billion laughs", text + laughs, True)]


def _valid_change(rng: random.Random, config: dict[str, Any]) -> list[Mutation]:
    change = rng.choice(
        [
            {"n_trials": 2},
            {"seed": rng.randrange(2**32)},
            {"study_name": f"café 研究 (v{rng.randrange(10**6)})"},
            {"sampler": "random"},
            {"pruner": "median"},
            {"timeout": 30},
        ]
    )
    return _one(f"valid: {change}", {**config, **change}, False)


def mutations(seed: int, count: int) -> list[Mutation]:
    """``count`` mutations of the example configs, the same for the same seed.

    Mutation families take turns, so any ``count`` of at least 19 covers each of them.
    """
    rng = random.Random(seed)
    examples = [(p.stem, shrink(yaml.safe_load(p.read_text()))) for p in EXAMPLES]
    families = _mutators()
    made: list[Mutation] = []
    turn = 0
    while len(made) < count:
        family, mutate = families[turn % len(families)]
        stem, config = examples[rng.randrange(len(examples))]
        for mutation in mutate(rng, copy.deepcopy(config)):
            made.append(
                Mutation(f"{stem}: {family}: {mutation.name}", mutation.text, mutation.must_fail)
            )
        turn += 1
    return made[:count]


# -- running ------------------------------------------------------------------------------------


def prepare(folder: Path) -> str:
    """Write the data files the mutations name; return the database URL of the runs."""
    labels = np.array(["a", "b"] * 20)
    frame = pd.DataFrame({"x": np.arange(40, dtype=float), "y": labels})
    frame.to_csv(folder / "two-class.csv", index=False)
    frame.assign(y="a").to_csv(folder / "one-class.csv", index=False)
    frame.drop(columns="y").to_csv(folder / "no-target.csv", index=False)
    (folder / "empty.csv").write_text("")
    (folder / "notes.txt").write_text("root:x:0:0:root:/root:/bin/bash\n")
    text = frame.to_csv(index=False)
    (folder / "nul.csv").write_text(text.replace("\n3.0,", "\n\x003.0,"))
    return f"sqlite:///{folder / 'studies.db'}"


def _child(path: str, send: Any) -> None:
    from typer.testing import CliRunner

    from tunelab.cli import app

    result = CliRunner().invoke(app, ["tune", path, "--no-progress"])
    exception = result.exception
    send.send(
        (
            result.exit_code,
            result.stdout,
            result.stderr,
            isinstance(exception, SystemExit),
            f"{type(exception).__name__}: {exception}" if exception else "",
        )
    )
    send.close()


def run_mutations(
    batch: list[Mutation], folder: Path, url: str, *, parallel: int = 1
) -> list[Outcome]:
    """Run ``tunelab tune`` on each mutated config, ``parallel`` children at a time.

    A child that gives no answer within :data:`RUN_SECONDS` is killed and counted a hang.
    """
    from multiprocessing.connection import wait

    # Not plain fork: the test process may already run OpenMP or BLAS threads (other
    # tests fit models), and a forked child that uses OpenMP then crashes or hangs.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tunelab.cli", "sklearn.ensemble", __name__])
    outcomes: dict[int, Outcome] = {}
    pending = list(enumerate(batch))
    running: dict[Any, tuple[int, Any, float]] = {}
    while pending or running:
        while pending and len(running) < parallel:
            index, mutation = pending.pop(0)
            path = folder / f"m{index:04d}.yaml"
            text = mutation.text.replace(STORAGE, url).replace("@DIR@", str(folder))
            path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(str(path), send))
            child.start()
            send.close()
            running[receive] = (index, child, time.monotonic())
        for receive in wait(list(running), timeout=0.5):
            index, child, start = running.pop(receive)
            try:
                answer = receive.recv()
            except EOFError:
                answer = None
            child.join()
            seconds = time.monotonic() - start
            mutation = batch[index]
            if answer is None:
                detail = f"child died with code {child.exitcode}"
                outcomes[index] = Outcome(mutation, "crash", detail, seconds)
            else:
                outcomes[index] = _classify(mutation, *answer, seconds)
        for receive, (index, child, start) in list(running.items()):
            if time.monotonic() - start > RUN_SECONDS:
                child.kill()
                child.join()
                del running[receive]
                detail = f"no answer in {RUN_SECONDS:.0f} s"
                outcomes[index] = Outcome(batch[index], "hang", detail, RUN_SECONDS)
    return [outcomes[i] for i in range(len(batch))]


def _classify(
    mutation: Mutation,
    exit_code: int,
    out: str,
    err: str,
    exited: bool,
    exception: str,
    seconds: float,
) -> Outcome:
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    if "Traceback" in out + err or (exception and not exited):
        return Outcome(mutation, "traceback", exception or (out + err)[-300:], seconds)
    if exit_code == 0:
        if mutation.must_fail:
            return Outcome(mutation, "accepted nonsense", out.strip()[-200:], seconds)
        return Outcome(mutation, "ran", "", seconds)
    if exit_code == 1 and len(errors) == 1 and lines[-1] == errors[0]:
        return Outcome(mutation, "refused", errors[0], seconds)
    return Outcome(mutation, "traceback", f"exit {exit_code}: {err[-300:]}", seconds)


def sentinel(url: str) -> list[tuple[int, float | None]]:
    """A study stored before the mutations run, to show that none of them loses it."""
    import tunelab as tl

    study = tl.create_study(study_name="sentinel", storage=url, load_if_exists=True)
    if not study.trials:
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    return [(t.number, t.value) for t in study.trials]


# -- the test -----------------------------------------------------------------------------------


def test_the_generator_is_seeded_and_covers_every_family() -> None:
    first, again = mutations(7, 38), mutations(7, 38)
    assert first == again
    assert mutations(8, 38) != first
    families = {m.name.split(": ")[1] for m in first}
    assert families == {name for name, _ in _mutators()}
    assert all(STORAGE in m.text or m.must_fail for m in first)


@pytest.mark.timeout(300)
def test_mutated_configs_run_or_fail_with_one_clean_line(tmp_path: Path) -> None:
    url = prepare(tmp_path)
    before = sentinel(url)
    outcomes = run_mutations(mutations(0, 20), tmp_path, url, parallel=2)
    bad = [f"{o.mutation.name} -> {o.kind}: {o.detail}" for o in outcomes if not o.clean]
    assert not bad, "\n".join(bad)
    assert {o.kind for o in outcomes} == {"ran", "refused"}
    assert sentinel(url) == before
