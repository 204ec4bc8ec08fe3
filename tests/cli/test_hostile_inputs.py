"""Hostile inputs and output paths (issue 10): exit 2, one line naming the input, no traceback,
within seconds, and nothing outside the output directory changed (the catalogue included when
an import fails). The few that are legitimate give exit 0 and the right result."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import stat
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from xaigen.cli import app
from xaigen.multipliers import exact_table

BAD = Path(__file__).resolve().parents[1] / "bad_inputs"
REPO = BAD.parents[1]
HEAD = "uint16_t mul8u_C(uint8_t A, uint8_t B)\n{\n  uint16_t P;\n"
CFG = (BAD / "nan_bandwidth.cfg").read_text().replace("Bandwidth: nan", "Bandwidth: 10")


def _snapshot(*roots: Path) -> dict:
    """Every path under ``roots`` with its type, size, mtime and mode (links not followed; a
    directory's own mtime is left out: a temporary created and removed in it changes it)."""
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")] if root.exists() else []:
            st = path.lstat()
            mtime = 0 if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
            out[path] = (stat.S_IFMT(st.st_mode), st.st_size, mtime, stat.S_IMODE(st.st_mode))
    return out


def _invoke(args, seconds: float = 60.0):  # a hang detector, not a timing: loaded CI machines are slow
    start = time.perf_counter()
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert time.perf_counter() - start < seconds, f"took {time.perf_counter() - start:.1f} s"
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def _assert_refused(result, expected: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr, result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("xaigen: error: ")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    assert expected in errors[0], errors[0]


def _npz_with_sidecar(tmp_path: Path, sidecar: str | None) -> Path:
    path = tmp_path / "lib.npz"
    np.savez(path, mine=exact_table(False))
    if sidecar is not None:
        (tmp_path / "lib.json").write_text(sidecar)
    return path


def _exact_npy(tmp_path: Path) -> Path:
    np.save(tmp_path / "t.npy", exact_table(True))
    return tmp_path / "t.npy"


def _special(kind: str, name: str):
    def make(tmp_path: Path) -> Path:
        path = tmp_path / name
        {"dir": lambda: path.mkdir(), "fifo": lambda: os.mkfifo(path),
         "dangling": lambda: path.symlink_to(tmp_path / "nowhere")}[kind]()
        return path
    return make


def _c_file(body: str):
    def make(tmp_path: Path) -> Path:
        (tmp_path / "mul8u_C.c").write_text(HEAD + body + "  return P;\n}\n")
        return tmp_path / "mul8u_C.c"
    return make


def _file(name: str, text: str):
    def make(tmp_path: Path) -> Path:
        (tmp_path / name).write_text(text)
        return tmp_path / name
    return make


# (id, arguments; a callable argument makes its input in tmp_path, text the one error line must contain)
REFUSED = [
    ("npy huge header", ["multipliers", "import", BAD / "huge_shape.npy", "--signed"],
     "shape (1048576, 1048576), expected (256, 256)"),
    ("npz huge member", ["multipliers", "import", BAD / "huge_member.npz"], "shape (1048576, 1048576)"),
    ("npz one bad member", ["multipliers", "import", BAD / "one_bad_member.npz"], "product 70000 at [0, 0]"),
    ("sidecar signed string", ["multipliers", "import", BAD / "signed_string.npz"],
     "'signed' must be true or false, got 'false'"),
    ("sidecar NaN", ["multipliers", "import", BAD / "nan_power.npz"], "NaN is not a JSON number"),
    ("sidecar nested", ["multipliers", "import", lambda t: _npz_with_sidecar(t, "[" * 100_000 + "]" * 100_000)],
     "nested too deeply"),
    ("sidecar repeated key", ["multipliers", "import", lambda t: _npz_with_sidecar(
        t, '{"mine": {"power_mw": 1.0}, "mine": {"power_mw": 2.0}}')], "key 'mine' given more than once"),
    ("sidecar directory", ["multipliers", "import", lambda t: (t / "lib.json").mkdir() or _npz_with_sidecar(t, None)],
     "lib.json: is a directory"),
    ("c bad metric", ["multipliers", "import", BAD / "mul8u_bad_metric.c"], "line 1: 'PDK45_PWR = 1.2.3 mW'"),
    ("c unterminated comment", ["multipliers", "import", BAD / "mul8u_unterminated_comment.c"],
     "line 4: unterminated /* comment"),
    ("c long + chain", ["multipliers", "import", _c_file("  P = A" + " + A" * 150_000 + ";\n")],
     "more than 50000 operators"),
    ("c long ~ chain", ["multipliers", "import", _c_file("  P = " + "~" * 150_000 + "A;\n")],
     "more than 50000 operators"),
    ("shadow built-in", ["multipliers", "import", _exact_npy, "--name", "exact_s8", "--signed"],
     "exact_s8: is a built-in multiplier"),
    ("empty name", ["multipliers", "import", _exact_npy, "--name", "", "--signed"], "invalid multiplier name ''"),
    ("newline name", ["multipliers", "import", _exact_npy, "--name", "mine\n", "--signed"],
     "invalid multiplier name 'mine\\n'"),
    ("power inf", ["multipliers", "import", _exact_npy, "--signed", "--power-mw", "inf"], "--power-mw: must be"),
    ("power nan", ["multipliers", "import", _exact_npy, "--signed", "--power-mw", "nan"], "--power-mw: must be"),
    ("power negative", ["multipliers", "import", _exact_npy, "--signed", "--power-mw", "-1"], "--power-mw: must be"),
    ("import directory", ["multipliers", "import", _special("dir", "x.npy")], "x.npy: is a directory"),
    ("import fifo", ["multipliers", "import", _special("fifo", "x.c")], "x.c: is a FIFO"),
    ("import dangling link", ["multipliers", "import", _special("dangling", "x.bin")], "is a broken symbolic link"),
    ("export to directory", ["multipliers", "export", "exact_s8", _special("dir", "o.npy")], "is a directory"),
    ("export to dangling link", ["multipliers", "export", "exact_s8", _special("dangling", "o.npy")],
     "is a symbolic link; refusing to write through it"),
    ("export under a file", ["multipliers", "export", "exact_s8", lambda t: _file("f", "")(t) / "o.npy"],
     "is not a directory"),
    ("cfg bandwidth nan", ["hw", "estimate", "--model", "lenet5", "--config", BAD / "nan_bandwidth.cfg"],
     "'Bandwidth' = 'nan' must be a positive finite number"),
    ("cfg upper-case dataflow", ["hw", "estimate", "--model", "lenet5", "--config", BAD / "upper_dataflow.cfg"],
     "(lower case, as SCALE-Sim reads it), got 'WS'"),
    ("validate upper-case dataflow", ["hw", "validate", "--topology", BAD / "missing_columns.csv",
                                      "--config", BAD / "upper_dataflow.cfg"], "got 'WS'"),
    ("cfg lower-case mode", ["hw", "estimate", "--model", "lenet5", "--config", BAD / "lower_user.cfg"],
     "'InterfaceBandwidth' must be USER or CALC"),
    ("cfg 10**400", ["hw", "estimate", "--model", "lenet5", "--config", BAD / "huge_int.cfg"],
     "'ArrayHeight' = 1000000000000000000000000000000000000000 is larger than 2147483647"),
    ("cfg directory", ["hw", "estimate", "--model", "lenet5", "--config", _special("dir", "a.cfg")],
     "a.cfg: is a directory"),
    ("csv 10**400", ["hw", "estimate", "--topology", BAD / "huge_number.csv"], "line 2: column 'N'"),
    ("csv long field", ["hw", "estimate", "--topology",
                        _file("t.csv", "Layer, M, N, K,\n\"" + "x" * 140_000 + "\", 1, 2, 3,\n")],
     "line 2: not a valid CSV file (field larger than field limit (131072))"),
    ("csv fifo", ["hw", "estimate", "--topology", _special("fifo", "t.csv")], "t.csv: is a FIFO"),
]


@pytest.mark.parametrize("args,expected", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(REPO)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    args = [a(inputs) if callable(a) else a for a in args]
    before = _snapshot(tmp_path, BAD)
    _assert_refused(_invoke(args), expected)
    assert _snapshot(tmp_path, BAD) == before


def _catalogue_dir() -> Path:
    return Path(os.environ["XAIGEN_HOME"]) / "multipliers"


def _no_temporaries(root: Path) -> None:
    leftovers = [p for p in root.rglob("*") if p.name.endswith((".tmp", ".staged"))]
    assert not leftovers, leftovers


def test_reimport_says_it_replaces(tmp_path):
    path = _exact_npy(tmp_path)
    first = _invoke(["multipliers", "import", path, "--name", "mine", "--signed", "--power-mw", "0.3"])
    assert first.exit_code == 0 and "replaced" not in first.stdout
    second = _invoke(["multipliers", "import", path, "--name", "mine", "--signed", "--power-mw", "0.2"])
    assert second.exit_code == 0 and "replaced earlier imports: mine" in second.stdout
    shown = json.loads(_invoke(["multipliers", "show", "mine", "--json"]).stdout)
    assert shown["power_mw"] == 0.2
    over_shipped = _invoke(["multipliers", "import", path, "--name", "mul8s_1L2L", "--signed", "--power-mw", "0.2"])
    assert over_shipped.exit_code == 0
    assert "mul8s_1L2L: now replace(s) the EvoApprox circuit(s) shipped with xaigen" in over_shipped.output


def _fail_on_write(monkeypatch, after: int) -> None:
    """Make the ``after``-th and later file writes fail as a full disk does."""
    real = pathlib.Path.write_bytes
    calls = []

    def write_bytes(self, data):
        calls.append(self)
        if len(calls) > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)


def test_full_disk_during_import_saves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "lib.npz"
    np.savez(path, **{f"mul8u_T{i}": exact_table(False) for i in range(5)})
    _invoke(["multipliers", "import", _exact_npy(tmp_path), "--name", "old", "--signed", "--power-mw", "0.1"])
    before = _snapshot(tmp_path)
    _fail_on_write(monkeypatch, after=2)
    _assert_refused(_invoke(["multipliers", "import", path]), "No space left on device")
    assert _snapshot(tmp_path) == before
    _no_temporaries(tmp_path)
    assert sorted(p.name for p in _catalogue_dir().iterdir()) == ["old.npz"]


def test_full_disk_during_export(tmp_path, monkeypatch):
    _fail_on_write(monkeypatch, after=0)
    _assert_refused(_invoke(["multipliers", "export", "exact_s8", tmp_path / "o.npy"]), "o.npy: cannot write")
    assert not (tmp_path / "o.npy").exists()
    _no_temporaries(tmp_path)


def test_export_respects_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        result = _invoke(["multipliers", "export", "exact_s8", tmp_path / "o.npy"])
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert stat.S_IMODE((tmp_path / "o.npy").stat().st_mode) == 0o640
    assert np.array_equal(np.load(tmp_path / "o.npy"), exact_table(True))


def test_big_endian_bin_is_imported_with_a_warning(tmp_path):
    path = tmp_path / "mul8u_BE.bin"
    exact_table(False).astype(">u2").tofile(path)
    result = _invoke(["multipliers", "import", path, "--power-mw", "0.39"])
    assert result.exit_code == 0
    assert "xaigen: warning:" in result.stderr and "looks big-endian" in result.stderr


def test_sidecar_metadata_for_no_table_is_said(tmp_path):
    path = _npz_with_sidecar(tmp_path, '{"mine": {"power_mw": 0.4, "signed": false}, "mien": {"power_mw": 0.3}}')
    result = _invoke(["multipliers", "import", path])
    assert result.exit_code == 0, result.stderr
    assert "xaigen: warning:" in result.stderr and "no table called mien in lib.npz" in result.stderr


def test_json_has_no_nan_for_tables_without_power(tmp_path):
    np.save(tmp_path / "mul8u_NOPOWER.npy", exact_table(False))
    imported = _invoke(["multipliers", "import", tmp_path / "mul8u_NOPOWER.npy"])
    assert imported.exit_code == 0 and "no usable power" in imported.stderr

    def strict(text):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))

    assert strict(_invoke(["multipliers", "show", "mul8u_NOPOWER", "--json"]).stdout)["power_mw"] is None


def test_one_bad_catalogue_entry_is_skipped_with_a_warning(tmp_path):
    directory = _catalogue_dir()
    directory.mkdir(parents=True)
    (directory / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    np.savez(directory / "exact_s8.npz", table=exact_table(True), meta=np.array(json.dumps(
        {"name": "exact_s8", "signed": True, "power_mw": 0.001})))
    np.savez(directory / "nested.npz", table=exact_table(True), meta=np.array("[" * 100_000))
    shown = _invoke(["multipliers", "show", "exact_s8", "--json"])
    assert shown.exit_code == 0, shown.stderr
    warnings = [line for line in shown.stderr.splitlines() if line.startswith("xaigen: warning: skipped")]
    assert len(warnings) == 3 and any("broken.npz" in w for w in warnings)
    assert any("exact_s8" in w and "built-in" in w for w in warnings)
    assert json.loads(shown.stdout)["power_mw"] == 0.425  # the built-in, not the file's 0.001
    _assert_refused(_invoke(["multipliers", "show", "broken"]), "unknown multiplier")


@pytest.mark.parametrize("name,edit", [
    ("percent", lambda t: t.replace("run_name = t", "run_name = 50% array")),
    ("bom", lambda t: "\ufeff" + t),
])
def test_cfg_that_scalesim_reads_is_read(tmp_path, name, edit):
    path = tmp_path / f"{name}.cfg"
    path.write_text(edit(CFG), encoding="utf-8")
    result = _invoke(["hw", "estimate", "--model", "lenet5", "--config", path, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["total"]["cycles"] > 0


def test_csv_with_bom_is_read(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("\ufeffLayer, M, N, K,\nfc, 10, 20, 30,\n", encoding="utf-8")
    result = _invoke(["hw", "estimate", "--topology", path, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["layers"][0]["macs"] == 6000


def _fashion_dir(tmp_path: Path, train_labels: np.ndarray) -> Path:
    directory = tmp_path / "fashion"
    directory.mkdir()
    rng = np.random.default_rng(0)
    for part, labels in (("train", train_labels), ("t10k", rng.integers(0, 10, 6).astype(np.uint8))):
        images = rng.integers(0, 256, (len(labels), 28, 28)).astype(np.uint8)
        (directory / f"{part}-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3]) + b"".join(
            int(d).to_bytes(4, "big") for d in images.shape) + images.tobytes())
        (directory / f"{part}-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1]) + len(labels).to_bytes(4, "big")
                                                             + labels.tobytes())
    return directory


@pytest.mark.parametrize("dataset,problem", [
    ("fashion-mnist", "train label 200 at index 3 is outside 0..9"),
    ("cifar10", "declared before its data"),
])
def test_run_refuses_hostile_data(tmp_path, dataset, problem):
    if dataset == "fashion-mnist":
        directory = _fashion_dir(tmp_path, np.array([1, 2, 3, 200, 4, 5], np.uint8))
    else:
        directory = tmp_path / "cifar"
        directory.mkdir()
        (directory / "data_batch_1").write_bytes(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                                                 b"\x8a\x05\x00\x00\x00\x00\x01\x85C\x01b\x87R.")
    config = tmp_path / "c.toml"
    config.write_text(f'[data]\nname = "{dataset}"\ndir = "{directory}"\n')
    before = _snapshot(tmp_path)
    _assert_refused(_invoke(["run", "--config", config, "--out", tmp_path / "out", "-q"], seconds=120), problem)
    after = {p: v for p, v in _snapshot(tmp_path).items() if tmp_path / "out" not in (p, *p.parents)}
    assert after == before
    assert not list((tmp_path / "out").glob("results.json"))


def test_outputs_never_follow_a_symlink(tmp_path):
    from xaigen.errors import InputError
    from xaigen.fileio import atomic_write_text, open_append

    target = tmp_path / "precious"
    target.write_text("keep")
    for name in ("run.log", "results.json"):
        (tmp_path / name).symlink_to(target)
    with pytest.raises(InputError, match="symbolic link"):
        open_append(tmp_path / "run.log")
    with pytest.raises(InputError, match="symbolic link"):
        atomic_write_text(tmp_path / "results.json", "{}")
    assert target.read_text() == "keep"


def test_log_is_created_with_the_umask(tmp_path):
    from xaigen.fileio import open_append

    old = os.umask(0o077)
    try:
        with open_append(tmp_path / "run.log") as f:
            f.write("x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "run.log").stat().st_mode) == 0o600
    with open_append(tmp_path / "run.log") as f:
        f.write("y\n")
    assert (tmp_path / "run.log").read_text() == "x\ny\n"
