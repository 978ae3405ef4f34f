"""The ``tunelab`` command: global options, command groups and error reporting."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tunelab import __version__
from tunelab import logging as tl_logging
from tunelab.cli import _dashboard, _evaluate, _report, _tune, _worker
from tunelab.cli._common import CommandError, report_error, stdout
from tunelab.cli._demo import demo
from tunelab.cli._models import models_app, predict, register, serve
from tunelab.cli._studies import studies_app
from tunelab.exceptions import TunelabError


class _ReportingGroup(TyperGroup):
    """The root command group: errors the user can fix end as one red line and exit code 1.

    Catching here, around every subcommand, keeps tracebacks for genuine bugs only.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (CommandError, TunelabError, ValueError) as exc:
            report_error(str(exc))
        except ModuleNotFoundError as exc:
            # An optional dependency, e.g. the database driver a storage URL names.
            report_error(f"{exc}; install it to use this feature")


app = typer.Typer(
    cls=_ReportingGroup,
    name="tunelab",
    help="Evaluate, tune and deploy machine-learning models.",
    no_args_is_help=True,
    # Locals can hold database URLs with passwords.
    pretty_exceptions_show_locals=False,
)
app.command("demo")(demo)
app.add_typer(studies_app, name="studies")
app.command("register")(register)
app.add_typer(models_app, name="models")
app.command("serve")(serve)
app.command("predict")(predict)
_tune.register(app)
_evaluate.register(app)
_report.register(app)
_worker.register(app)
_dashboard.register(app)


def _print_version(value: bool) -> None:
    if value:
        stdout().print(f"tunelab {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every finished trial (INFO level).")
    ] = False,
) -> None:
    """Evaluate, tune and deploy machine-learning models."""
    if verbose:
        tl_logging.set_verbosity(tl_logging.INFO)


def main() -> None:
    """Run the ``tunelab`` command line (the console-script entry point)."""
    app(prog_name="tunelab")
