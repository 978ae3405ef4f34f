"""Picking the trial to deploy from a deployment-aware study, and registering it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner, Result

import tunelab as tl
from tunelab.cli import app
from tunelab.config import ConfigError, register_best_trial
from tunelab.config._pick import choose_trial, parse_pick
from tunelab.config._run import deploy_sample_index
from tunelab.deploy import Registry, save_model
from tunelab.distributions import CategoricalDistribution, IntDistribution
from tunelab.trial import CONSTRAINTS_KEY

OBJECTIVES = ["f1", "latency_p95_ms", "size_mb"]
# (f1, latency_p95_ms, size_mb, precision, latency constraint lhs - rhs, max_depth)
TRIALS = [
    (0.95, 3.0, 1.0, "float32", -2.0, 3),  # 0: ties 2 on f1, slower
    (0.97, 6.0, 1.0, "float32", 1.0, 5),  # 1: best f1 but breaks latency < 5
    (0.95, 2.0, 1.5, "float32", -3.0, 4),  # 2: ties 0 on f1, faster: the best by f1
    (0.90, 0.5, 0.2, "int8", -4.5, 2),  # 3: fastest and smallest
    (0.80, 4.0, 3.0, "float32", -1.0, 1),  # 4: dominated by 3
]


def deployment_study(url: str = "sqlite:///:memory:", *, metric_names: bool = True) -> tl.Study:
    """A 3-objective study as a deploy-aware config writes it, with hand-set results."""
    study = tl.create_study(
        study_name="digits-deploy",
        storage=url,
        directions=["maximize", "minimize", "minimize"],
    )
    if metric_names:
        study.set_metric_names(OBJECTIVES)
    spec = {"class": "sklearn.tree.DecisionTreeClassifier", "params": {"random_state": 0}}
    study.set_user_attr("model", spec)
    study.set_user_attr("data", "sklearn:iris")
    study.set_user_attr(
        "objectives",
        [{"name": "f1", "direction": "maximize"}]
        + [{"name": name, "direction": "minimize"} for name in OBJECTIVES[1:]],
    )
    study.set_user_attr("constraints", ["latency_p95_ms < 5"])
    study.set_user_attr(
        "deploy",
        {"precision": ["float32", "int8"], "sample_rows": 64, "calls": 40, "batch_rows": 32},
    )
    distributions = {
        "max_depth": IntDistribution(1, 8),
        "precision": CategoricalDistribution(["float32", "int8"]),
    }
    for f1, latency, size, precision, violation, depth in TRIALS:
        deployment = {
            "latency_p50_ms": latency / 2,
            "latency_p95_ms": latency,
            "batch_p50_ms": 1.0,
            "batch_p95_ms": 1.5,
            "batch_rows": 64,
            "size_mb": size,
            "size_int8_mb": None,
            "int8_metric": None,
            "int8_delta": None,
            "calls": 40,
            "precision": precision,
        }
        trial = tl.create_trial(
            values=[f1, latency, size],
            params={"max_depth": depth, "precision": precision},
            distributions=distributions,
            user_attrs={"deployment": deployment, "accuracy": f1 + 0.01},
            system_attrs={CONSTRAINTS_KEY: [violation]},
        )
        study.add_trial(trial)
    return study


@pytest.mark.parametrize(
    ("rule", "names"),
    [
        ("latency_p95_ms<5 and size_mb<2", ("latency_p95_ms", "size_mb")),
        ("1 < f1 <= 2", ("f1",)),
        ("not (size_mb == -1.5) or (f1 >= 0.9 and f1 > +0.5)", ("size_mb", "f1")),
    ],
)
def test_valid_rules_parse_and_name_what_they_use(rule: str, names: tuple[str, ...]) -> None:
    assert parse_pick(rule).names == names


def test_rules_evaluate_comparisons_and_logic_without_eval() -> None:
    rule = parse_pick("latency_p95_ms < 5 and not (size_mb > 2 or f1 == 0)")
    assert rule.matches({"latency_p95_ms": 4.9, "size_mb": 2, "f1": 0.5})
    assert not rule.matches({"latency_p95_ms": 5, "size_mb": 1, "f1": 0.5})
    assert not rule.matches({"latency_p95_ms": 1, "size_mb": 2.5, "f1": 0.5})
    assert not rule.matches({"latency_p95_ms": 1, "size_mb": 1, "f1": 0})
    # A value the trial lacks makes its comparison false rather than an error.
    assert not rule.matches({"size_mb": 1, "f1": 0.5})
    assert parse_pick("1 < f1 < 3").matches({"f1": 2}) and not parse_pick("1 < f1 < 3").matches(
        {"f1": 3}
    )


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("__import__('os').system('true') == 0", "a function call"),
        ("size_mb.real < 1", "attribute access"),
        ("size_mb + 1 < 2", "BinOp"),
        ("size_mb < 'x'", "the value 'x'"),
        ("size_mb < True", "the value True"),
        ("size_mb in [1]", "the comparison In"),
        ("size_mb is 1", "the comparison Is"),
        ("(lambda: 1)() < 2", "a function call"),
        ("[x for x in ()]", "ListComp"),
        ("size_mb", "is not a condition"),
        ("size_mb <", "is not a valid rule"),
        ("  ", "expected a condition"),
    ],
)
def test_invalid_rules_are_refused_naming_the_construct(rule: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match="pick") as caught:
        parse_pick(rule)
    assert fragment in str(caught.value)


def test_pick_respects_constraints_breaks_ties_and_ranks_by_any_metric() -> None:
    study = deployment_study()
    # Trial 1 has the best f1 but breaks its constraint; 0 and 2 tie, 2 is faster.
    assert choose_trial(study, by="f1").trial.number == 2
    assert choose_trial(study).trial.number == 2
    assert choose_trial(study, pick="size_mb < 1.2", by="f1").trial.number == 0
    assert choose_trial(study, pick="latency_p95_ms < 5", by="size_mb").trial.number == 3
    # Deployment metrics that are not objectives, and numeric user attributes.
    assert choose_trial(study, pick="latency_p50_ms < 0.5", by="f1").trial.number == 3
    assert choose_trial(study, pick="accuracy > 0.955", by="latency_p95_ms").trial.number == 2
    choice = choose_trial(study, pick="latency_p95_ms<5 and size_mb<2", by="f1")
    # The front: 4 is dominated, 1 infeasible.
    assert [c.trial.number for c in choice.candidates] == [2, 0, 3]


def test_a_trial_without_constraints_is_infeasible_once_others_have_them() -> None:
    study = tl.create_study(direction="maximize")
    for value, constraints in ((0.9, {"lat": 1.0}), (0.8, {"lat": -1.0}), (0.99, None)):
        study.add_trial(
            tl.create_trial(value=value, params={}, distributions={}, constraints=constraints)
        )
    # The pick's candidates are those Study.best_trial chooses among.
    assert study.best_trial.number == 1
    assert [c.trial.number for c in choose_trial(study, pick="value > 0").candidates] == [1]


def test_a_deployment_attribute_that_is_not_a_mapping_is_ignored_when_ranking() -> None:
    study = deployment_study()
    trial = tl.create_trial(
        values=[0.5, 9.0, 9.0],
        params={"max_depth": 1, "precision": "float32"},
        distributions={
            "max_depth": IntDistribution(1, 8),
            "precision": CategoricalDistribution(["float32", "int8"]),
        },
        user_attrs={"deployment": 5},
        system_attrs={CONSTRAINTS_KEY: [1.0]},
    )
    study.add_trial(trial)
    assert choose_trial(study, by="latency_p50_ms").trial.number == 3


def test_objective_names_come_from_the_objectives_attribute_without_metric_names() -> None:
    study = deployment_study(metric_names=False)
    assert choose_trial(study, pick="size_mb < 1.2", by="f1").trial.number == 0


def test_no_match_unknown_names_and_bad_by_are_clear_errors() -> None:
    study = deployment_study()
    with pytest.raises(ConfigError) as caught:
        choose_trial(study, pick="f1 > 0.99", by="f1")
    message = str(caught.value)
    assert "no feasible Pareto-front trial satisfies 'f1 > 0.99'" in message
    assert "trial 0 (f1=0.95, latency_p95_ms=3, size_mb=1, float32)" in message
    assert "trial 3 (f1=0.9, latency_p95_ms=0.5, size_mb=0.2, int8)" in message
    assert "trial 1 " not in message and "trial 4 " not in message
    with pytest.raises(ConfigError, match=r"'latncy_p95_ms'.*available: accuracy, batch_p50_ms"):
        choose_trial(study, pick="latncy_p95_ms < 5")
    with pytest.raises(ConfigError, match=r"'accuracy' is not an objective.*f1, latency_p95_ms"):
        choose_trial(study, by="accuracy")
    with pytest.raises(ConfigError, match=r"trial 4 is not one of the candidates \[2, 0, 3\]"):
        choose_trial(study, number=4)


def _run(runner: CliRunner, *args: str, input: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200", "TUNELAB_STORAGE": None, "TUNELAB_REGISTRY": None})


@pytest.mark.slow
def test_register_picks_refits_measures_and_records_the_deployment(
    runner: CliRunner, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    deployment_study(url)
    registry = str(tmp_path / "registry")
    args = ["register", "digits-deploy", "--name", "tiny", "--storage", url, "--registry", registry]
    result = _run(runner, *args, "--pick", "latency_p95_ms<1 and size_mb<2", "--by", "f1")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "Registered trial 3 of study 'digits-deploy' as tiny version 1" in result.stdout
    loaded = Registry(registry).load("tiny:1")
    card = loaded.card
    assert card.params == {"random_state": 0, "max_depth": 2}
    assert card.metrics == {"f1": {"value": 0.9}}
    deployment: dict[str, Any] = card.deployment or {}
    assert deployment["precision"] == "int8"
    assert deployment["tuned"]["latency_p95_ms"] == 0.5
    assert deployment["pick"] == {"rule": "latency_p95_ms<1 and size_mb<2", "by": "f1", "trial": 3}
    refit = deployment["refit"]
    assert refit["precision"] == "int8" and refit["calls"] == 40 and refit["batch_rows"] == 32
    assert 0 < refit["latency_p50_ms"] <= refit["latency_p95_ms"] and refit["size_int8_mb"] > 0
    # Refit on the seeded rows tuning measured on (iris's first 64 rows hold 2 classes
    # only), with no second latency table beside the refit measurement.
    X, y = load_iris(return_X_y=True)
    tree = DecisionTreeClassifier(random_state=0, max_depth=2).fit(X, y)
    rows = deploy_sample_index(len(y), 64, None)
    assert card.onnx["quantization"]["before"] == pytest.approx(tree.score(X[rows], y[rows]))
    assert card.onnx["latency"] == []
    # The int8 model is stored, and served by default.
    assert card.onnx["int8_file"] == "model.int8.onnx" and loaded.backend == "onnx-int8"
    picked = tl.load_study(study_name="digits-deploy", storage=url).user_attrs["picked_trial"]
    rule = "latency_p95_ms<1 and size_mb<2"
    assert picked == {"number": 3, "model": "tiny", "version": 1, "rule": rule, "by": "f1"}
    shown = _run(runner, "models", "show", "tiny:1", "--registry", registry)
    assert shown.exit_code == 0, shown.output
    assert "int8; trial 3 best by f1 where latency_p95_ms<1 and size_mb<2;" in shown.stdout
    assert "latency_p95 tuned 0.5 ms, refit" in shown.stdout

    failed = _run(runner, *args, "--pick", "f1 > 0.99")
    assert failed.exit_code == 1 and "trial 2 (f1=0.95" in failed.stderr, failed.output
    assert Registry(registry).versions("tiny") == [1]


@pytest.mark.slow
def test_interactive_register_lists_the_front_and_takes_a_number(
    runner: CliRunner, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    deployment_study(url)
    registry = str(tmp_path / "registry")
    args = ["register", "digits-deploy", "--name", "tiny", "--storage", url, "--registry", registry]
    # 4 is not listed (dominated): asked again; then trial 0.
    result = _run(runner, *args, "--interactive", "--by", "latency_p95_ms", input="4\n0\n")
    assert result.exit_code == 0, result.output + repr(result.exception)
    out = result.stdout
    assert "best by latency_p95_ms first" in out
    cells = [line.replace("│", " ").split() for line in out.splitlines()]
    rows = [row for row in cells if row and row[0].isdigit()]
    assert [row[0] for row in rows] == ["3", "2", "0"] and rows[0][-1] == "int8"
    assert "[3]" in out and "Trial 4 is not listed; choose one of [3, 2, 0]." in out
    assert "Registered trial 0 of study 'digits-deploy'" in out
    card = Registry(registry).load("tiny:1").card
    assert card.deployment is not None and card.deployment["precision"] == "float32"
    # A float32 pick keeps no int8 file, though its measurement reports the int8 size.
    assert "int8_file" not in card.onnx and card.deployment["refit"]["size_int8_mb"] > 0
    pick = {"rule": None, "by": "latency_p95_ms", "trial": 0, "manual": True}
    assert card.deployment["pick"] == pick
    assert "float32; trial 0 chosen by hand;" in out
    assert Registry(registry).load("tiny:1").backend == "onnx"
    on_artifact = _run(runner, "register", str(tmp_path), "--name", "x", "--pick", "f1 > 0")
    assert on_artifact.exit_code == 1
    assert "choose a study's trial, not an artifact" in on_artifact.stderr


def test_single_objective_studies_still_register_their_best_trial(tmp_path: Path) -> None:
    study = tl.create_study(direction="maximize")
    study.set_user_attr("model", "sklearn.tree.DecisionTreeClassifier")
    study.set_user_attr("data", "sklearn:iris")
    for depth, score in ((1, 0.6), (3, 0.9)):
        study.add_trial(
            tl.create_trial(
                value=score,
                params={"max_depth": depth},
                distributions={"max_depth": IntDistribution(1, 5)},
            )
        )
    registry = Registry(tmp_path / "registry")
    version = register_best_trial(study, name="iris", registry=registry, onnx=False)
    card = registry.load(f"iris:{version}").card
    assert (card.trial, card.params, card.deployment) == (1, {"max_depth": 3}, None)
    assert "picked_trial" not in study.user_attrs
    # A rule works on one objective too, over every complete trial.
    register_best_trial(study, name="iris", registry=registry, onnx=False, pick="value < 0.7")
    assert registry.load("iris:2").card.trial == 0
    assert study.user_attrs["picked_trial"]["by"] == "value"


def test_registering_a_pickle_artifact_reads_its_card_without_loading_the_model(
    runner: CliRunner, tmp_path: Path
) -> None:
    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    deployment = {"precision": "float32", "pick": {"rule": None, "by": "f1", "trial": 7}}
    artifact = save_model(
        model, tmp_path / "art", data=(X, y), format="pickle", deployment=deployment
    )
    registry = str(tmp_path / "registry")
    result = _run(runner, "register", str(artifact), "--name", "pk", "--registry", registry)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"Registered artifact {artifact} as pk version 1" in result.stdout
    assert "Deployment: float32; trial 7 best by f1\n" in result.stdout
    card = Registry(registry).card("pk")
    assert card.deployment == deployment and card.model["format"] == "pickle"
    # Loading it still needs the explicit opt-in to unpickling.
    assert Registry(registry).load("pk", allow_pickle=True).card.to_dict() == card.to_dict()
