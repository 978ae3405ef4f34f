"""Write docs/optuna_compat.md: every public name of Optuna's API beside tunelab's status.

The names come from the installed ``optuna`` package (each module's ``__all__``, and the
public members of the classes users call most); a name counts as present when the
same module of ``tunelab`` has it. Known differences and deliberate gaps are listed
in ``NOTES`` below, so the table says how a name differs or why it is missing.

    PYTHONPATH=src python -m benchmarks.optuna_compat_table          # rewrite the file
    PYTHONPATH=src python -m benchmarks.optuna_compat_table --check  # fail if stale
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

import tunelab

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "optuna_compat.md"

# Optuna module -> where its names are enumerated from (None: the module's __all__).
MODULES: dict[str, list[str] | None] = {
    "optuna": None,
    "optuna.study": None,
    "optuna.trial": None,
    "optuna.samplers": None,
    "optuna.pruners": None,
    "optuna.distributions": [
        "BaseDistribution",
        "FloatDistribution",
        "IntDistribution",
        "CategoricalDistribution",
        "UniformDistribution",
        "LogUniformDistribution",
        "DiscreteUniformDistribution",
        "IntUniformDistribution",
        "IntLogUniformDistribution",
        "CategoricalChoiceType",
        "DISTRIBUTION_CLASSES",
        "distribution_to_json",
        "json_to_distribution",
        "check_distribution_compatibility",
    ],
    "optuna.search_space": None,
    "optuna.storages": None,
    "optuna.storages.journal": None,
    "optuna.artifacts": None,
    "optuna.exceptions": [
        "OptunaError",
        "TrialPruned",
        "CLIUsageError",
        "StorageInternalError",
        "DuplicatedStudyError",
        "UpdateFinishedTrialError",
        "ExperimentalWarning",
    ],
    "optuna.logging": [
        "CRITICAL",
        "FATAL",
        "ERROR",
        "WARNING",
        "WARN",
        "INFO",
        "DEBUG",
        "get_logger",
        "get_verbosity",
        "set_verbosity",
        "disable_default_handler",
        "enable_default_handler",
        "disable_propagation",
        "enable_propagation",
    ],
    "optuna.visualization": None,
    "optuna.importance": None,
    "optuna.terminator": None,
}

# Classes whose public members are listed too: (Optuna module, class name).
CLASSES = [
    ("optuna.study", "Study"),
    ("optuna.trial", "Trial"),
    ("optuna.trial", "FrozenTrial"),
    ("optuna.trial", "FixedTrial"),
    ("optuna.samplers", "BaseSampler"),
    ("optuna.pruners", "BasePruner"),
]

# name (module-qualified, or Class.member) -> (status, explanation).
NOTES: dict[str, tuple[str, str]] = {
    "optuna.create_study": (
        "differs",
        "default sampler is tunelab's `AutoSampler` (Optuna: `TPESampler`, NSGA-II for "
        "several objectives); extra `retry_failed`, `heartbeat_interval`, `grace_period`",
    ),
    "optuna.copy_study": (
        "differs",
        "copied trials get the copy's start and end times (Optuna keeps the originals)",
    ),
    "optuna.integration": (
        "differs",
        "`tunelab.integration` gives `OptunaSearchCV` and forwards the rest to "
        "`optuna-integration`, whose modules (LightGBM, XGBoost, CatBoost, MLflow, W&B, Comet, "
        "scikit-learn...) also import with `optuna` aliased to `tunelab`: tunelab has the "
        "helpers they import (`_imports.try_import`, `_experimental`, `_deprecated`, "
        "`study.study.ObjectiveFuncType`); the BoTorch, SHAP, Dask and Lightning modules need "
        "Optuna internals tunelab does not have",
    ),
    "optuna.version": ("missing", "use `tunelab.__version__`"),
    "optuna.study.StudySummary": (
        "differs",
        "fields: study_name, study_id (also `_study_id`), direction(s), n_trials, best_trial, "
        "best_values, datetime_start, user_attrs (no system_attrs); not built by hand",
    ),
    "optuna.study.create_study": (
        "differs",
        "default sampler is `AutoSampler`; extra fault-tolerance arguments",
    ),
    "optuna.study.copy_study": ("differs", "copied trials get the copy's start and end times"),
    "Study.add_trial": (
        "differs",
        "the added trial's start and end times are those of the call (Optuna keeps them)",
    ),
    "Study.optimize": (
        "differs",
        "extra `backend` argument (threads or worker processes for `n_jobs`); "
        "`gc_after_trial` handled by the execution layer; callbacks also see a trial whose "
        "uncaught exception ends the run (Optuna skips them); with `n_jobs` != 1 the sampler "
        "keeps its seeded stream (Optuna calls `reseed_rng()` before each trial); the progress "
        "bar is rich's, also with a timeout and several jobs (Optuna's is tqdm's)",
    ),
    "optuna.pruners.SuccessiveHalvingPruner": (
        "differs",
        "a trial's rung values are read from its reports, not written to its system "
        "attributes as `completed_rung_<i>` (pruners never write storage)",
    ),
    "optuna.exceptions.ExperimentalWarning": (
        "differs",
        "raised through `_experimental`'s decorators (which plugins apply to their own "
        "features), not for the features Optuna marks experimental (`PatientPruner`, "
        "`PartialFixedSampler`, `QMCSampler`, TPE's `group`, `set_metric_names`)",
    ),
    "Study.trials_dataframe": (
        "differs",
        "datetimes are timezone-aware UTC (Optuna: naive local time); failed trials carry "
        "`system_attrs_fail_reason`",
    ),
    "Trial.datetime_start": ("differs", "timezone-aware UTC (Optuna: naive local time)"),
    "FrozenTrial.datetime_start": ("differs", "timezone-aware UTC (Optuna: naive local time)"),
    "FrozenTrial.datetime_complete": ("differs", "timezone-aware UTC (Optuna: naive local time)"),
    "Study.system_attrs": (
        "differs",
        "holds tunelab's own settings (heartbeats, retries, metric names)",
    ),
    "Study.set_system_attr": ("missing", "deprecated in Optuna; samplers keep no study state"),
    "Trial.set_system_attr": ("missing", "deprecated in Optuna; system attributes are tunelab's"),
    "Trial.suggest_uniform": ("supported", "deprecated: warns with a FutureWarning, as Optuna"),
    "Trial.suggest_loguniform": ("supported", "deprecated: warns with a FutureWarning"),
    "Trial.suggest_discrete_uniform": ("supported", "deprecated: warns with a FutureWarning"),
    "Trial.report": (
        "differs",
        "a non-integral step such as 1.5 raises (Optuna truncates it); 1.0 is step 1",
    ),
    "FixedTrial.set_system_attr": ("missing", "deprecated in Optuna"),
    "FrozenTrial.set_user_attr": (
        "differs",
        "works on any copy; a study's shared snapshot (`get_trials(deepcopy=False)`, a "
        "sampler's argument) refuses with an AttributeError instead of changing the study",
    ),
    "optuna.trial.FrozenTrial": (
        "differs",
        "as mutable as Optuna's on trials you build or copy (`study.trials`, `best_trial`, "
        "`tell`'s result, callbacks'); the storage's shared snapshots "
        "(`get_trials(deepcopy=False)`, `best_trials`, samplers' arguments) refuse changes "
        "(Optuna lets them corrupt the study); `tell`'s result and callbacks' trial are "
        "shallow copies whose dicts stay read-only",
    ),
    "optuna.samplers.QMCSampler": (
        "differs",
        "scrambles by default (Optuna: `scramble=False`); trials take the sequence's points in "
        "the order of their numbers instead of a counter kept in the study, so workers need no "
        "shared write but a point can be skipped when the first trials run in parallel; "
        "also takes a declared `search_space`",
    ),
    "optuna.distributions.CategoricalDistribution": (
        "differs",
        "choices must be None, bool, int, float or str (Optuna warns and accepts other "
        "objects); True and 1 are distinct choices",
    ),
    "optuna.search_space.intersection_search_space": (
        "differs",
        "leaves out single-valued distributions (nothing to sample there)",
    ),
    "optuna.search_space.IntersectionSearchSpace": (
        "differs",
        "recomputed on each call (no incremental cache); single-valued distributions left out",
    ),
    "optuna.artifacts.GCSArtifactStore": (
        "missing",
        "no Google Cloud Storage client here to test it against; use `Boto3ArtifactStore` "
        "with GCS's S3-compatible endpoint",
    ),
    "optuna.storages.RDBStorage": (
        "differs",
        "tunelab's own schema (Optuna databases cannot be opened); heartbeat arguments become "
        "the settings of studies created on it (explicit `create_study` arguments win); the "
        "stale-trial callback must be a `RetryHeartbeatStaleTrialCallback`",
    ),
    "optuna.storages.JournalStorage": (
        "differs",
        "opens journal files Optuna wrote and carries on in them, but writes records of its "
        "own: Optuna cannot read a file tunelab has written to",
    ),
    "optuna.storages.journal.JournalStorage": (
        "differs",
        "opens journal files Optuna wrote and carries on in them, but writes records of its "
        "own: Optuna cannot read a file tunelab has written to",
    ),
    "optuna.storages.JournalRedisStorage": (
        "missing",
        "no Redis backend: share a journal file or a database URL",
    ),
    "optuna.storages.journal.JournalRedisBackend": (
        "missing",
        "no Redis backend: share a journal file or a database URL",
    ),
    "optuna.storages.BaseJournalLogStorage": (
        "differs",
        "a backend also provides `lock()`, held from replaying the log to appending to it",
    ),
    "optuna.storages.journal.BaseJournalBackend": (
        "differs",
        "a backend also provides `lock()`, held from replaying the log to appending to it",
    ),
    "optuna.storages.GrpcStorageProxy": ("missing", "no gRPC proxy; share a database URL"),
    "optuna.storages.run_grpc_proxy_server": ("missing", "no gRPC proxy; share a database URL"),
    "optuna.storages.RetryFailedTrialCallback": (
        "differs",
        "deprecated alias, as in Optuna; see `RetryHeartbeatStaleTrialCallback`",
    ),
    "optuna.storages.RetryHeartbeatStaleTrialCallback": (
        "differs",
        "a setting for `RDBStorage` (the study queues the retry, as "
        "`create_study(retry_failed=n)`); `inherit_intermediate_values=True` is refused",
    ),
    "optuna.storages.fail_stale_trials": (
        "missing",
        "stale trials are failed automatically at `ask()` when heartbeats are on",
    ),
    "optuna.storages.BaseStorage": (
        "differs",
        "tunelab's storage contract (`tunelab.storage.BaseStorage`) has other method names",
    ),
    "optuna.samplers.BaseSampler": (
        "supported",
        "samplers see a read-only study view (trials, get_trials, direction(s), best_*, "
        "`_is_multi_objective()`); its get_trials returns shared snapshots unless "
        "deepcopy=True; `after_trial` gets the trial as stored, already finished (Optuna's "
        "is still RUNNING)",
    ),
    "optuna.samplers.GridSampler": (
        "differs",
        "a failed trial's grid point is run again (Optuna counts it as visited)",
    ),
    "optuna.samplers.TPESampler": (
        "differs",
        "`consider_prior`, `consider_magic_clip` and `warn_independent_sampling` (deprecated "
        "in Optuna 4.3 to 4.9) are accepted with a FutureWarning and ignored (tunelab's "
        "kernels have their own width floor); `multivariate=True` and `group=True` by default "
        "(`multivariate=None` decides by the number of objectives, as Optuna's default)",
    ),
    "optuna.samplers.BruteForceSampler": (
        "differs",
        "trials are matched by their values, not their suggestion order, so any storage works",
    ),
    "optuna.samplers.NSGAIIISampler": (
        "differs",
        "the strategy hooks (`elite_population_selection_strategy`, `child_generation_strategy`, "
        "`after_trial_strategy`) must be None; `crossover` is a name, as in `NSGAIISampler`",
    ),
    "optuna.samplers.BaseGASampler": ("missing", "no generic genetic-algorithm base class"),
    "optuna.samplers.nsgaii": (
        "missing",
        "NSGA-II's crossover operators are internal to `NSGAIISampler`",
    ),
    "optuna.exceptions.OptunaError": ("supported", "an alias of `TunelabError`"),
    "optuna.exceptions.DuplicatedStudyError": ("supported", "also a `StorageError`"),
    "optuna.exceptions.UpdateFinishedTrialError": (
        "supported",
        "also a `ValueError`, which `Study.tell` raises in Optuna",
    ),
}


# Measured with benchmarks/optuna_test_suite.py (see its docstring for getting the tests).
SUITE_PARAGRAPH = [
    "Optuna 5.1.0's own test suite (from its sdist), run against tunelab with every",
    "`optuna[.x]` import giving `tunelab[.x]`, on 2026-12-07 (third run): 1274 passed, 230",
    "failed, 47 files do not import (they need Optuna internals: `optuna._gp`,",
    "`optuna.samplers._lazy_random_state`, `optuna.testing.visualization`",
    "and `pytest_samplers`/`pytest_storages`, private plotting functions...). Earlier the",
    "same day: 810 passed, 375 failed, 53 files not importing; before that 297 passed, 223",
    "failed, 71 files not importing. Most failures left patch or call private functions",
    "(`_filter_study`, `_get_bracket_id`, `samplers._tpe.sampler._split_trials`,",
    "`samplers._cmaes.cmaes.CMA`, `logging._reset_library_root_logger`, `_thread_local`,",
    "storage methods by Optuna's names, the gRPC storage proxy); those on public",
    "behaviour are tunelab's choices listed",
    "as *differs* above: the default sampler, grid points of failed trials run again,",
    "`after_trial` on the stored trial, callbacks on an uncaught error, no reseeding per",
    "parallel trial, QMC points by trial number, a rich progress bar, no",
    "`ExperimentalWarning`s, rungs read from reports rather than written. To measure again:",
    "",
    "    PYTHONPATH=src python -m benchmarks.optuna_test_suite /tmp/optuna-5.1.0/tests -q",
    "",
    "Plugins' module paths resolve to tunelab's objects: `optuna.study.study`,",
    "`optuna.study._study_direction`, `optuna.study._constrained_optimization`,",
    "`optuna.trial._state` (and `_frozen`, `_trial`, `_base`, `_fixed`),",
    "`optuna.samplers._grid`, `optuna.artifacts.exceptions`, `optuna.artifacts._protocol`,",
    "`optuna.terminator.*`, `optuna._imports`, `optuna._experimental`, `optuna._deprecated`,",
    "`optuna._transform` (`_SearchSpaceTransform`), `optuna._hypervolume`",
    "(`compute_hypervolume`, `_solve_hssp`) and",
    "`optuna.study._multi_objective` (`_dominates`, `_is_pareto_front`,",
    "`_fast_non_domination_rank`, `_get_pareto_front_trials[_by_trials]`, `_normalize_value`).",
]

# What an objective calls on a trial: Optuna's FrozenTrial answers them, tunelab's does not.
_TRIAL_CALLS = {
    "report",
    "set_user_attr",
    "should_prune",
    "suggest_categorical",
    "suggest_discrete_uniform",
    "suggest_float",
    "suggest_int",
    "suggest_loguniform",
    "suggest_uniform",
}


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    section: str
    name: str
    status: str
    note: str


def _tunelab_module(optuna_module: str) -> types.ModuleType | None:
    name = "tunelab" + optuna_module[len("optuna") :]
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _has(module: types.ModuleType | None, name: str) -> bool:
    if module is None:
        return False
    try:
        getattr(module, name)
    except (AttributeError, ImportError):
        return False
    return True


def _names(module_name: str) -> list[str]:
    listed = MODULES[module_name]
    if listed is not None:
        return listed
    module = importlib.import_module(module_name)
    return [n for n in module.__all__ if not n.startswith("_")]


def _status(module_name: str, name: str, present: bool) -> tuple[str, str]:
    key = f"{module_name}.{name}"
    if key in NOTES:
        return NOTES[key]
    if present:
        return "supported", ""
    return "missing", "not implemented"


def rows() -> list[Row]:
    """Every Optuna public name, with tunelab's status."""
    out: list[Row] = []
    for module_name in MODULES:
        ours = _tunelab_module(module_name)
        for name in _names(module_name):
            status, note = _status(module_name, name, _has(ours, name))
            out.append(Row(module_name, name, status, note))
    for module_name, class_name in CLASSES:
        theirs: Any = getattr(importlib.import_module(module_name), class_name)
        ours_class = getattr(_tunelab_module(module_name), class_name, None)
        for member in sorted(n for n in dir(theirs) if not n.startswith("_")):
            key = f"{class_name}.{member}"
            present = ours_class is not None and (
                hasattr(ours_class, member)
                or member in getattr(ours_class, "__dataclass_fields__", {})
            )
            if key in NOTES:
                status, note = NOTES[key]
            elif class_name == "FrozenTrial" and not present and member in _TRIAL_CALLS:
                status, note = (
                    "missing",
                    "to re-run an objective on a stored trial use `FixedTrial`",
                )
            else:
                status, note = ("supported", "") if present else ("missing", "not implemented")
            out.append(Row(f"{module_name}.{class_name}", member, status, note))
    return out


def render(table: list[Row]) -> str:
    """The markdown document."""
    counts: dict[str, int] = {}
    for row in table:
        counts[row.status] = counts.get(row.status, 0) + 1
    lines = [
        "# Optuna compatibility",
        "",
        "`import tunelab as optuna` runs Optuna code unchanged where a name below is",
        "*supported*; *differs* says how behaviour differs, *missing* why a name is absent.",
        f"Generated by `benchmarks/optuna_compat_table.py` against Optuna {optuna.__version__}",
        f"and tunelab {tunelab.__version__}; regenerate it after changing the API:",
        "",
        "    PYTHONPATH=src python -m benchmarks.optuna_compat_table",
        "",
        "Summary: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + ".",
        "",
        "Behaviour shared with Optuna beyond names (tested in `tests/optuna_compat/`):",
        "the default pruner is `MedianPruner`; `tell(trial, inf)` completes the trial and",
        "`tell(trial, nan)` fails it with a warning; re-suggesting a name with another range",
        "warns and keeps the first value; `report(value, 1.0)` is step 1; `load_study` of a",
        "missing study raises an error that is a `KeyError`; `str(TrialState.COMPLETE)` is",
        '`"TrialState.COMPLETE"`; distributions read and write Optuna\'s JSON and lower a',
        "`high` that the step does not divide, with a warning (at every suggestion), as",
        "Optuna does; a parameter keeps one kind across a study (another kind raises",
        "`ValueError`); a value that `enqueue_trial` or a grid gives outside the range the",
        "objective asks for is used with a warning; a jointly sampled value answers any",
        "range of its kind that holds it. A `FrozenTrial` is assignable as Optuna's is (the",
        "storage's own snapshots refuse assignment, so a sampler cannot corrupt a study), and",
        "its fields exist on the class, as Optuna's properties do; `JournalStorage` opens",
        "journal files Optuna wrote and carries on in them (Optuna cannot read tunelab's",
        "records).",
        "",
        *SUITE_PARAGRAPH,
        "",
    ]
    section = None
    for row in table:
        if row.section != section:
            section = row.section
            lines += ["", f"## `{section}`", "", "| name | status | notes |", "| --- | --- | --- |"]
        lines.append(f"| `{row.name}` | {row.status} | {row.note} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or, with --check, verify) docs/optuna_compat.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    text = render(rows())
    if args.check:
        if not args.output.exists() or args.output.read_text(encoding="utf-8") != text:
            print(f"{args.output} is stale: rerun benchmarks/optuna_compat_table.py")
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
