"""Command line: ``xaigen multipliers|hw|run|nas ...``.

Every user error (:class:`~xaigen.errors.InputError`) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import io
import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from xaigen.errors import InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Explainable-AI-guided approximate DNN generation.")
multipliers_app = typer.Typer(no_args_is_help=True, help="The approximate-multiplier catalogue.")
hw_app = typer.Typer(no_args_is_help=True, help="The analytical multi-pod systolic-array model.")
app.add_typer(multipliers_app, name="multipliers")
app.add_typer(hw_app, name="hw")

console = Console(width=None if sys.stdout.isatty() else 160)


def user_errors(func):
    """Turn :class:`InputError` (and unreadable files) into a one-line message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            typer.echo(f"xaigen: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("xaigen: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# -- multipliers ---------------------------------------------------------------------------------

def _catalogue():
    from xaigen.multipliers import Catalogue

    return Catalogue.default()


def _multiplier_row(m) -> dict:
    from xaigen.emulation.factorization import low_rank_factors
    from xaigen.multipliers import error_metrics

    factors = low_rank_factors(m)
    return m.summary() | {
        "uniform_error": error_metrics(m).as_dict(),
        "table_rank": None if factors is None else factors.rank,
        "published": m.published,
    }


@multipliers_app.command("list")
@user_errors
def multipliers_list(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List every multiplier: power (mW), area (um2), delay (ns) and uniform-operand error."""
    rows = [_multiplier_row(m) for m in _catalogue()]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "signed", "power mW", "area um2", "delay ns", "MAE", "WCE", "EP %", "rank", "source")
    for r in rows:
        e = r["uniform_error"]
        table.add_row(r["name"], "s" if r["signed"] else "u", f"{r['power_mw']:.4f}",
                      "-" if r["area_um2"] is None else f"{r['area_um2']:.1f}",
                      "-" if r["delay_ns"] is None else f"{r['delay_ns']:.3f}",
                      f"{e['mae']:.1f}", f"{e['wce']:.0f}", f"{100 * e['ep']:.1f}",
                      "-" if r["table_rank"] is None else str(r["table_rank"]), r["source"])
    console.print(table)


@multipliers_app.command("show")
@user_errors
def multipliers_show(name: str, as_json: bool = typer.Option(False, "--json")):
    """Show one multiplier's figures and error metrics."""
    row = _multiplier_row(_catalogue()[name])
    if as_json:
        print_json(row)
        return
    for key, value in row.items():
        console.print(f"[bold]{key}[/]: {value}")


@multipliers_app.command("import")
@user_errors
def multipliers_import(
    file: Path,
    name: Optional[str] = typer.Option(None, help="Catalogue name (single-table files only)."),
    signed: Optional[bool] = typer.Option(None, "--signed/--unsigned", help="Operand signedness if the name does not say."),
    power_mw: Optional[float] = typer.Option(None, help="Power in mW, if the file does not give it."),
):
    """Import EvoApproxLib .c files, .npy/.npz tables or TFApprox .bin files into the user catalogue."""
    from xaigen.multipliers import load_multipliers, save_multiplier, user_catalogue_dir

    loaded = load_multipliers(file, name=name, signed=signed, power_mw=power_mw)
    for m in loaded:
        save_multiplier(m)
    console.print(f"imported {len(loaded)} multiplier(s) into {user_catalogue_dir()}: "
                  + ", ".join(m.name for m in loaded))


@multipliers_app.command("export")
@user_errors
def multipliers_export(name: str, out: Path):
    """Write a multiplier's int32[256, 256] product table (bit-pattern indexing) to OUT.npy."""
    from xaigen.fileio import atomic_write

    if out.suffix != ".npy":
        raise InputError(out, "output must end in .npy")
    table = _catalogue()[name].table
    buffer = io.BytesIO()
    np.save(buffer, table)
    atomic_write(out, lambda tmp: tmp.write_bytes(buffer.getvalue()))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    app()
