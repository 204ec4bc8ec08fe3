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
from typer._click.exceptions import ClickException, NoArgsIsHelpError  # typer (pinned) carries its own click
from typer.core import TyperGroup

from xaigen.errors import InputError
from xaigen.outputs import NAS_OUTPUTS, REPORT_OUTPUTS, RUN_OUTPUTS, check_output_dir, locked_output_dir


class _OneLineParseErrors(TyperGroup):
    """The command line's own errors (an unknown option, a value of the wrong type, a missing
    argument) as one line and exit 2, like every other input error, instead of a usage box."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # typer.Exit(n) comes back as n
        except NoArgsIsHelpError as exc:  # rich help is on the screen already; plain help is the message
            if exc.format_message().strip():
                typer.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except ClickException as exc:
            typer.echo(f"xaigen: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:  # end of input at a prompt
            typer.echo("xaigen: aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=_OneLineParseErrors, add_completion=False, no_args_is_help=True,
                  help="Explainable-AI-guided approximate DNN generation.")
multipliers_app = typer.Typer(no_args_is_help=True, help="The approximate-multiplier catalogue.")
hw_app = typer.Typer(no_args_is_help=True, help="The analytical multi-pod systolic-array model.")
app.add_typer(multipliers_app, name="multipliers")
app.add_typer(hw_app, name="hw")

console = Console(width=None if sys.stdout.isatty() else 160)


def _stop_on_signal(signum, _frame):
    """SIGTERM or SIGHUP: stop at once, as a kill would (every output is written atomically and
    every study resumes), with one line instead of silence; worker processes are stopped too.
    Exiting here, not raising, because an exception raised in a signal handler is lost when the
    signal lands in a finalizer."""
    import multiprocessing
    import os
    import signal

    for child in multiprocessing.active_children():
        child.terminate()
    sys.stderr.write(f"xaigen: stopped by {signal.Signals(signum).name}; run the same command again to resume\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def user_errors(func):
    """Turn :class:`InputError` (and unreadable files) into a one-line message and exit code 2;
    Ctrl-C, SIGTERM and SIGHUP into one line and exit 128 + signal number."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import signal

        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _stop_on_signal)
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            typer.echo(f"xaigen: error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("xaigen: interrupted; run the same command again to resume", err=True)
            raise typer.Exit(130) from None

    return wrapper


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


# -- multipliers ---------------------------------------------------------------------------------

def _warn(message: str) -> None:
    typer.echo(f"xaigen: warning: {message}", err=True)


def _catalogue():
    from xaigen.multipliers import Catalogue

    return Catalogue.default(warn=_warn)


def _multiplier_row(m) -> dict:
    """One multiplier as plain JSON data: unknown or non-finite figures are null, never NaN."""
    from xaigen.emulation.factorization import low_rank_factors
    from xaigen.multipliers import error_metrics
    from xaigen.multipliers.multiplier import finite_or_none

    factors = low_rank_factors(m)
    return m.summary() | {
        "uniform_error": {k: finite_or_none(v) for k, v in error_metrics(m).as_dict().items()},
        "table_rank": None if factors is None else factors.rank,
        "published": {k: finite_or_none(v) for k, v in m.published.items()},
    }


def _figure(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


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
        table.add_row(r["name"], "s" if r["signed"] else "u", _figure(r["power_mw"], ".4f"),
                      _figure(r["area_um2"], ".1f"), _figure(r["delay_ns"], ".3f"),
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
    from rich.markup import escape

    for key, value in row.items():
        console.print(f"[bold]{key}[/]: {escape(str(value))}", highlight=False)


@multipliers_app.command("import")
@user_errors
def multipliers_import(
    file: Path,
    name: Optional[str] = typer.Option(None, help="Catalogue name (single-table files only)."),
    signed: Optional[bool] = typer.Option(None, "--signed/--unsigned", help="Operand signedness if the name does not say."),
    power_mw: Optional[float] = typer.Option(None, help="Power in mW, if the file does not give it."),
):
    """Import EvoApproxLib .c files, .npy/.npz tables or TFApprox .bin files into the user catalogue.

    All or nothing: if any table in FILE is bad, or a write fails, nothing is imported.
    Built-in names cannot be replaced; replacing an earlier import is reported.
    """
    from xaigen.multipliers import import_multipliers, load_multipliers, user_catalogue_dir

    loaded = load_multipliers(file, name=name, signed=signed, power_mw=power_mw, warn=_warn)
    result = import_multipliers(loaded)
    console.print(f"imported {len(loaded)} multiplier(s) into {user_catalogue_dir()}: "
                  + ", ".join(m.name for m in loaded), markup=False, highlight=False)
    if result.replaced:
        console.print(f"replaced earlier imports: {', '.join(result.replaced)}", markup=False, highlight=False)
    if result.shadows_shipped:
        _warn(f"{', '.join(result.shadows_shipped)}: now replace(s) the EvoApprox circuit(s) shipped with xaigen "
              f"of that name in every run (delete its file in {user_catalogue_dir()} to undo)")
    without_power = [m.name for m in loaded if not m.has_usable_power]
    if without_power:
        _warn(f"no usable power (finite, > 0 mW) for {', '.join(without_power[:10])}"
              f"{' ...' if len(without_power) > 10 else ''}; they cannot be search candidates (give --power-mw)")


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
    console.print(f"wrote {out}", markup=False, highlight=False)


# -- main job ------------------------------------------------------------------------------------

@app.command("run")
@user_errors
def run(
    config: Optional[Path] = typer.Option(None, help="TOML run configuration (default: the embedded default)."),
    out: Path = typer.Option(Path("runs/default"), help="Output directory."),
    multipliers_file: list[Path] = typer.Option([], help="Extra multiplier file(s) for this run (.npz/.npy/.c/.bin)."),
    workers: int = typer.Option(1, min=1, help="Processes running the NSGA-II baseline against one study storage."),
    storage: Optional[str] = typer.Option(None, help="Optuna storage URL (default: SQLite in --out)."),
    join: bool = typer.Option(False, "--join", help="Only add trials to the search another `xaigen run` leads on "
                              "the same --storage (e.g. from another machine); writes no results."),
    seeds: list[int] = typer.Option([], help="Repeat the run per seed (out/seed-<k>); mean and spread in seeds.json."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train, quantize, explain, estimate, search (XAI-Gen and baselines) and write a report."""
    from xaigen.config import load_config
    from xaigen.pipeline import run_pipeline
    from xaigen.report.html import write_report

    cfg = _with_overrides(load_config(config), multipliers_file,
                          {"search": ({"storage": storage} if storage else {}) | ({"seeds": seeds} if seeds else {})})
    check_output_dir(out, RUN_OUTPUTS)
    if join:
        if not storage:
            raise InputError("--join", "needs the --storage URL of the search to join")
        from xaigen.pipeline import join_search
        from xaigen.search.study import check_storage

        check_storage(storage)
        with locked_output_dir(out, RUN_OUTPUTS), _run_logging(out, verbose, quiet):
            join_search(cfg, out)
        console.print(f"joined the search in {storage}: its trials are complete")
        return
    with locked_output_dir(out, RUN_OUTPUTS), _run_logging(out, verbose, quiet), _progress(quiet) as progress:
        results = run_pipeline(cfg, out, progress, workers=workers)
        write_report(_seed_results(cfg, out) or results, out)
    _summary_line(results, out, quiet)


def _seed_results(cfg, out: Path) -> list:
    """With ``--seeds``, every seed's results (the report shows mean ± spread); else empty."""
    from xaigen.results import read_results

    return [read_results(out / f"seed-{seed}" / "results.json") for seed in cfg.search.seeds or []]


@app.command("nas")
@user_errors
def nas(
    config: Optional[Path] = typer.Option(None, help="TOML configuration ([nas], [data], [multipliers], ...)."),
    out: Path = typer.Option(Path("runs/nas"), help="Output directory."),
    budget_minutes: Optional[float] = typer.Option(None, help="Trial time per method, minutes."),
    trials: Optional[int] = typer.Option(None, min=1, help="Completed trials per method (instead of minutes)."),
    workers: int = typer.Option(1, min=1, help="Processes per method sharing the study storage."),
    storage: Optional[str] = typer.Option(None, help="Optuna storage URL (default: SQLite nas.db in --out)."),
    multipliers_file: list[Path] = typer.Option([], help="Extra multiplier file(s)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
):
    """XAI-NAS against an evolutionary joint NAS and a two-stage NAS; writes nas.json and nas.html."""
    from xaigen.config import load_config
    from xaigen.nas import run_nas
    from xaigen.report.nas import write_nas_report

    if trials is not None and budget_minutes is not None:
        raise InputError("arguments", "give --trials or --budget-minutes, not both")
    budget = ({"trials": trials, "budget_minutes": None} if trials is not None else
              {"trials": None, "budget_minutes": budget_minutes} if budget_minutes is not None else {})
    cfg = _with_overrides(load_config(config), multipliers_file, {"nas": budget})
    check_output_dir(out, NAS_OUTPUTS)
    with locked_output_dir(out, NAS_OUTPUTS), _run_logging(out, verbose, quiet), _progress(quiet) as progress:
        result = run_nas(cfg, out, storage, workers, progress)
        write_nas_report(result, out)
    for method, s in result["methods"].items():
        best = s["by_budget"].get("0.01")
        energy = "-" if best is None else f"{best['energy_pj'] / 1e6:.3f} uJ"
        console.print(f"{method}: {s['trials']} trials, {s['wall_s']:.0f} s, hypervolume {s['hypervolume']:.4f}, "
                      f"lowest energy within 1% of the best accuracy: {energy}")
    console.print(f"results: {out / 'nas.json'}  report: {out / 'nas.html'}")


@app.command("report")
@user_errors
def report(
    results: list[Path] = typer.Argument(..., help="results.json (one, or one per seed: merged, mean ± spread) "
                                                   "or one nas.json."),
    out: Optional[Path] = typer.Option(None, help="Output directory (default: the first file's directory)."),
):
    """Re-render report.html (or nas.html), figures/ (PNG + SVG) and tables/ (CSV) from results files,
    without re-running anything. Every file is validated before anything is written."""
    from xaigen.report.render import load_results, render

    loaded = load_results(results)
    out = out if out is not None else results[0].parent
    check_output_dir(out, REPORT_OUTPUTS)
    with locked_output_dir(out, REPORT_OUTPUTS):
        page = render(loaded, out)
    console.print(f"report: {page}  figures: {out / 'figures'}  tables: {out / 'tables'}", markup=False,
                  highlight=False)


def _with_overrides(cfg, multipliers_file: list[Path], sections: dict[str, dict]):
    """The configuration with command-line values, validated like the file's own (so that, e.g.,
    ``--budget-minutes nan`` is refused before any work)."""
    from xaigen.config import config_from_dict

    data = cfg.model_dump()
    for section, values in sections.items():
        data[section].update(values)
    data["multipliers"]["files"] += [str(p) for p in multipliers_file]
    return config_from_dict(data, "arguments")


class _run_logging:
    """A run log in the output directory (never through a symbolic link); warnings (what is left
    out, not approximated or not counted) also go to stderr; -v/--verbose echoes the whole log
    there, -q/--quiet silences stderr."""

    def __init__(self, out: Path, verbose: bool, quiet: bool):
        import logging

        from xaigen.fileio import open_append

        self.logger = logging.getLogger("xaigen")
        self.log_file = open_append(out / "run.log")
        self.handlers = [logging.StreamHandler(self.log_file)]
        if not quiet:
            echo = logging.StreamHandler(sys.stderr)
            echo.setLevel(logging.INFO if verbose else logging.WARNING)
            self.handlers.append(echo)
        for h in self.handlers:
            h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def __enter__(self):
        import logging

        self.logger.setLevel(logging.INFO)
        for h in self.handlers:
            self.logger.addHandler(h)
        return self.logger

    def __exit__(self, *exc):
        for h in self.handlers:
            self.logger.removeHandler(h)
            h.close()
        self.log_file.close()
        return False


def _progress(quiet: bool):
    """A live bar on a terminal; plain lines where stderr is a file or a pipe (a bar draws nothing
    there until the end); nothing with --quiet."""
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from xaigen.progress import LineProgress

    if quiet:
        return contextlib.nullcontext(None)
    stderr = Console(stderr=True)
    if not stderr.is_terminal:
        return LineProgress(sys.stderr)
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=stderr, transient=False)


def _summary_line(results: dict, out: Path, quiet: bool) -> None:
    xg = results.get("xaigen") or {}
    b = results["primary_budget"]
    if xg.get("energy_reduction"):
        line = (f"XAI-Gen at <={100 * b:g}% loss: multipliers {xg['multiplier_energy_reduction']:.2f}x, "
                f"MAC units {xg['mac_energy_reduction']:.2f}x, accelerator {xg['energy_reduction']:.3f}x less energy "
                f"(batch {results['exact']['batch']}), accuracy {xg['accuracy']:.4f} "
                f"(exact {results['exact']['accuracy']:.4f}), {xg['evaluations']} evaluations")
    else:
        line = f"XAI-Gen found no assignment within {100 * b:g}% loss"
    if not quiet:
        console.print(line)
    console.print(f"results: {out / 'results.json'}  report: {out / 'report.html'}")


# -- hardware ------------------------------------------------------------------------------------

def _read_json_object(path: Path, what: str) -> dict:
    from xaigen.fileio import loads_json_input, require_file

    try:
        data = loads_json_input(require_file(path).read_text())
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None
    except (ValueError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise InputError(path, f"not valid JSON ({exc})") from None
    except RecursionError:
        raise InputError(path, "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected a JSON object mapping {what}")
    return data


def _parse_shape(text: Optional[str]) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(v <= 0 for v in shape):
        raise InputError("--input-shape", f"expected positive integers like 3,32,32, got {text!r}")
    return shape


def _hw_layers(model: Optional[str], topology: Optional[Path], batch: int, input_shape: Optional[str] = None,
               num_classes: int = 10):
    """Hardware layers of a built-in model, a user's model (``file.py:factory`` with
    ``--input-shape``) or a SCALE-Sim topology CSV."""
    from xaigen.hardware import layers_from_model, read_topology_csv

    if (model is None) == (topology is None):
        raise InputError("arguments", "give exactly one of --model NAME|file.py:factory or --topology T.csv")
    if topology is not None:
        return read_topology_csv(topology)
    shape = _parse_shape(input_shape)
    if ":" in model:
        from xaigen.models.user import build_user_model

        if shape is None:
            raise InputError("--input-shape", "a user model needs its sample shape, e.g. --input-shape 3,32,32")
        net = build_user_model(model, shape[0], num_classes, shape)
    else:
        from xaigen.models import build_model, default_input_shape

        shape = shape or default_input_shape(model)
        net = build_model(model, shape[0], num_classes, shape[-1])
    try:
        return layers_from_model(net, shape, batch)
    except InputError:
        raise
    except Exception as exc:  # the network cannot take that shape: say so in one line
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError("--input-shape", f"{model} cannot take samples of shape {list(shape)}: {detail}") from None


def _assignment_powers(path: Optional[Path], layer_names: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(circuit power, power of its same-signedness exact reference) per assigned layer, mW."""
    if path is None:
        return {}, {}
    catalogue = _catalogue()
    data = _read_json_object(path, "layer names to multiplier names")
    data = data.get("assignment", data) if isinstance(data.get("assignment"), dict) else data
    unknown = sorted(set(data) - set(layer_names))
    if unknown:
        raise InputError(path, f"unknown layer(s) {', '.join(unknown)}; layers are {', '.join(layer_names)}")
    powers, reference = {}, {}
    for layer, name in data.items():
        if not isinstance(name, str):
            raise InputError(path, f"expected a multiplier name (string), got {name!r}", layer)
        try:
            powers[layer] = catalogue[name].power_mw
            reference[layer] = catalogue.reference_exact(name).power_mw
        except InputError as exc:
            raise InputError(path, exc.problem, layer) from None
    return powers, reference


@hw_app.command("estimate")
@user_errors
def hw_estimate(
    model: Optional[str] = typer.Option(None, help="Built-in model (small-cnn, lenet5, resnet8, resnet20, ...) "
                                        "or your own, file.py:factory."),
    input_shape: Optional[str] = typer.Option(None, help="Sample shape C,H,W (needed for file.py:factory)."),
    topology: Optional[Path] = typer.Option(None, help="SCALE-Sim topology CSV (conv or GEMM form)."),
    accelerator: str = typer.Option("tpu-v4", help="Preset name (tpu-v4, tpu-v4-slice, sosa-32x32, eyeriss-like)."),
    config: Optional[Path] = typer.Option(None, help="SCALE-Sim .cfg file (instead of --accelerator)."),
    assignment: Optional[Path] = typer.Option(None, help="JSON: layer name -> multiplier name."),
    batch: int = typer.Option(1, min=1, help="Batch size for --model."),
    power_gate: bool = typer.Option(False, "--power-gate-idle-pods", help="Idle pods leak nothing."),
    sweep_batch: bool = typer.Option(False, "--sweep-batch",
                                     help="Also latency, inferences/s and energy per inference at batch 1..256."),
    sweep_plot: Optional[Path] = typer.Option(None, help="Write a PNG of the batch sweep (implies --sweep-batch)."),
    plot: Optional[Path] = typer.Option(None, help="Write a PNG of energy and utilization per layer."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Cycles, utilization and energy (pJ) per layer and in total; optionally per batch size."""
    from xaigen.hardware import energy_reduction, estimate_network, load_accelerator
    from xaigen.hardware.throughput import batch_sweep, plot_batch_sweep

    for image in (sweep_plot, plot):
        if image is not None and image.suffix.lower() != ".png":
            raise InputError(image, "a plot is written as PNG: the name must end in .png")
    chosen = load_accelerator(config if config is not None else accelerator)
    chosen = chosen.with_(power_gate_idle_pods=power_gate) if power_gate else chosen
    layers = _hw_layers(model, topology, batch, input_shape)
    powers, reference = _assignment_powers(assignment, [layer.name for layer in layers])
    result = estimate_network(layers, chosen, powers).as_dict(chosen.clock_mhz)
    if powers:  # each layer against the exact circuit of its own signedness
        result["reduction_vs_exact"] = energy_reduction(layers, chosen, powers, reference)
    if sweep_batch or sweep_plot is not None:
        points = batch_sweep(_hw_layers(model, topology, 1, input_shape) if model else layers, chosen, multiplier_mw=powers)
        result["batch_sweep"] = [p.as_dict() for p in points]
        if sweep_plot is not None:
            plot_batch_sweep(points, sweep_plot, f"{chosen.name}: throughput and energy per inference vs batch")
    if plot is not None:
        from xaigen.report.plots import plot_network_energy

        plot_network_energy(result, plot)
    if as_json:
        print_json(result)
        return
    table = Table("layer", "MACs", "cycles", "stall", "util %", "mult uJ", "acc uJ", "buffer uJ", "dram uJ",
                  "static uJ", "total uJ", title=f"{chosen.name}: {chosen.pods} pod(s) of {chosen.array_rows}x{chosen.array_cols}, "
                  f"{chosen.dataflow}, {chosen.clock_mhz:g} MHz, batch {result['total']['batch']}")
    for row in result["layers"] + [dict(result["total"], name="TOTAL", stall_cycles="", utilization=None)]:
        e = row["energy_pj"]
        util = "" if row.get("utilization") is None else f"{100 * row['utilization']:.1f}"
        table.add_row(row["name"], f"{row['macs']:,}", f"{row['cycles']:,}", str(row["stall_cycles"]), util,
                      *(f"{e[p] / 1e6:.3f}" for p in ("multiplier", "accumulator", "buffer", "dram", "static", "total")))
    console.print(table)
    if powers:
        r = result["reduction_vs_exact"]
        console.print(f"energy reduction vs exact at batch {r['batch']} on {r['accelerator']}: multipliers "
                      f"{r['multiplier_energy_reduction']:.2f}x, MAC units {r['mac_energy_reduction']:.2f}x, "
                      f"whole accelerator {r['energy_reduction']:.3f}x")
    if "batch_sweep" in result:
        _print_batch_sweep(result["batch_sweep"], chosen.name)


def _print_batch_sweep(points: list[dict], name: str) -> None:
    table = Table("batch", "cycles", "latency us", "inferences/s", "energy/inference uJ", "of which leakage uJ",
                  "util %", title=f"{name}: per batch size")
    for p in points:
        table.add_row(str(p["batch"]), f"{p['cycles']:,}", f"{p['latency_us']:.2f}", f"{p['inferences_per_s']:,.0f}",
                      f"{p['energy_per_inference_pj'] / 1e6:.4f}", f"{p['static_energy_per_inference_pj'] / 1e6:.4f}",
                      f"{100 * p['utilization']:.1f}")
    console.print(table)


@hw_app.command("topology")
@user_errors
def hw_topology(
    out: Path = typer.Argument(..., help="The SCALE-Sim topology CSV to write."),
    model: str = typer.Option(..., help="Built-in model or your own, file.py:factory."),
    input_shape: Optional[str] = typer.Option(None, help="Sample shape C,H,W (needed for file.py:factory)."),
):
    """Export a model's layers as a SCALE-Sim topology CSV (GEMM form), e.g. to run SCALE-Sim on it."""
    from xaigen.hardware import write_topology_csv

    if out.suffix != ".csv":
        raise InputError(out, "output must end in .csv")
    layers = _hw_layers(model, None, 1, input_shape)
    write_topology_csv(layers, out)
    console.print(f"wrote {len(layers)} layer(s) to {out}")


@hw_app.command("validate")
@user_errors
def hw_validate(topology: Path = typer.Option(..., help="SCALE-Sim topology CSV."),
                config: Path = typer.Option(..., help="SCALE-Sim v2 .cfg file."),
                as_json: bool = typer.Option(False, "--json")):
    """Run SCALE-Sim on the same layers and compare its Total Cycles with ours."""
    from xaigen.hardware.validate import validate

    result = validate(topology, config).as_dict()
    if as_json:
        print_json(result)
        return
    table = Table("layer", "xaigen cycles", "SCALE-Sim cycles", "rel. error")
    for row in result["layers"]:
        table.add_row(row["name"], f"{row['cycles']:,}", f"{row['scalesim_cycles']:,}", f"{100 * row['rel_error']:.2f}%")
    console.print(table)
    console.print(f"max relative error {100 * result['max_rel_error']:.2f}%, "
                  f"{result['speedup_vs_scalesim']:,.0f}x faster than SCALE-Sim")


if __name__ == "__main__":
    app()
