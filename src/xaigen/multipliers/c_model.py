"""Evaluate EvoApproxLib C behavioural models without a C compiler.

An EvoApproxLib ``mul8s_*.c`` / ``mul8u_*.c`` file is one function of straight-line bit logic::

    int16_t mul8s_1KV8(int8_t A, int8_t B) { int16_t P; uint8_t S_0_0, ...;
      S_0_0 = (((A>>0)&1) & ((B>>0)&1)); ... P = 0; P |= (S_0_0 & 1) << 0; ... return P; }

Statements are declarations, ``x = expr;``, ``x op= expr;`` and ``return x;``; expressions are
parsed and evaluated by :mod:`xaigen.multipliers.c_expr` over numpy arrays holding all 65,536
operand pairs at once. Anything else is rejected with the file and line.

Operand order: the table is what the compiled function returns when called as ``f(a, b)``,
``a`` the row index and ``b`` the column index, whatever the parameters are named (EvoApproxLib
often declares ``mulXX(const uint64_t B, const uint64_t A)``; its tables, the shared pack and
TFApprox ``.bin`` files all follow the call order).

Cost bounds, so that a hostile file fails within seconds: comments are stripped and metric
comments read in one linear pass; at most :data:`MAX_OPERATIONS` operators per file; a
variable's array is freed after its last use and at most :data:`MAX_LIVE_VARIABLES` arrays
(512 KiB each) are alive at once. Comment lines such as ``// PDK45_PWR = 0.425 mW`` give power
(mW), area (um^2) and delay (ns).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xaigen.errors import InputError
from xaigen.multipliers.c_expr import (
    C_TYPES,
    TYPE_RE,
    BudgetExceeded,
    CExpressionError,
    Token,
    evaluate,
    to_postfix,
    wrap,
)

MAX_FILE_BYTES = 4 * 2**20
MAX_OPERATIONS = 50_000  # an 8x8 array multiplier is 64 ANDs and ~56 full adders: under 1,000 gates
MAX_LIVE_VARIABLES = 1024
_FUNC_RE = re.compile(
    rf"(?P<ret>{TYPE_RE})\s+(?P<name>\w+)\s*\(\s*(?:const\s+)?(?P<t1>{TYPE_RE})\s+(?P<p1>\w+)\s*,"
    rf"\s*(?:const\s+)?(?P<t2>{TYPE_RE})\s+(?P<p2>\w+)\s*\)\s*\{{"
)
_NUMBER_RE = re.compile(r"[+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_METRIC_RES = {
    "power_mw": re.compile(r"(?:PDK45_PWR|power)[ \t]*=[ \t]*(\S+?)[ \t]*mW", re.I),
    "area_um2": re.compile(r"(?:PDK45_AREA|area)[ \t]*=[ \t]*(\S+?)[ \t]*um2", re.I),
    "delay_ns": re.compile(r"(?:PDK45_DELAY|delay)[ \t]*=[ \t]*(\S+?)[ \t]*ns", re.I),
}
_PUBLISHED_RES = {
    "mae": re.compile(r"[ \t]*(?://|\*)[ \t]*MAE[ \t]*=[ \t]*(\S+)"),
    "wce": re.compile(r"[ \t]*(?://|\*)[ \t]*WCE[ \t]*=[ \t]*(\S+)"),
    "mse": re.compile(r"[ \t]*(?://|\*)[ \t]*MSE[ \t]*=[ \t]*(\S+)"),
    "ep_pct": re.compile(r"[ \t]*(?://|\*)[ \t]*EP%[ \t]*=[ \t]*(\S+)"),
}
_ASSIGN_RE = re.compile(r"(\w+)[ ]?(\||&|\^|\+|-|<<|>>)?=(.+)", re.S)
_DECL_RE = re.compile(rf"(?:const )?({TYPE_RE}) (.+)", re.S)
_COMMENT_START_RE = re.compile(r"/\*|//")


@dataclass(frozen=True)
class CModel:
    """A parsed C multiplier: its function name, signedness and physical figures."""

    name: str
    signed: bool
    table: np.ndarray
    power_mw: float | None
    area_um2: float | None
    delay_ns: float | None
    published: dict


@dataclass(frozen=True)
class _Statement:
    """``target = postfix`` (wrapped to ``ctype``), or ``return postfix`` when target is None."""

    target: str | None
    postfix: list[Token]
    ctype: tuple[int, bool]
    line: int


def _finite_number(text: str) -> float | None:
    if not _NUMBER_RE.fullmatch(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def _metric_comments(raw: str, path: Path) -> tuple[dict, dict]:
    """Physical figures (the first of each; a malformed one is an error) and published metrics."""
    metrics: dict[str, float | None] = dict.fromkeys(_METRIC_RES)
    published: dict[str, float] = {}
    for number, line in enumerate(raw.split("\n"), 1):
        for key, rx in _METRIC_RES.items():
            m = rx.search(line) if metrics[key] is None else None
            if m:
                metrics[key] = _finite_number(m.group(1))
                if metrics[key] is None:
                    raise InputError(path, f"'{m.group(0).strip()}': {m.group(1)!r} is not a finite number",
                                     f"line {number}")
        for key, rx in _PUBLISHED_RES.items():
            m = rx.match(line) if key not in published else None
            value = _finite_number(m.group(1)) if m else None
            if value is not None:  # published figures are informative only: a bad one is skipped
                published[key] = value
    return metrics, published


def _strip_comments(text: str, path: Path) -> str:
    """``text`` without comments, newlines kept (one pass: every search starts where the last ended)."""
    parts, pos = [], 0
    while (m := _COMMENT_START_RE.search(text, pos)) is not None:
        parts.append(text[pos : m.start()])
        if m.group(0) == "//":
            end = text.find("\n", m.end())
            pos = len(text) if end < 0 else end
            continue
        end = text.find("*/", m.end())
        if end < 0:
            raise InputError(path, "unterminated /* comment", f"line {text.count(chr(10), 0, m.start()) + 1}")
        parts.append("\n" * text.count("\n", m.start(), end))
        pos = end + 2
    parts.append(text[pos:])
    return "".join(parts)


def _read_source(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(path, f"has {size} bytes; a C multiplier model is at most {MAX_FILE_BYTES}")
        return path.read_text(encoding="utf-8-sig", errors="strict")
    except UnicodeDecodeError:
        raise InputError(path, "not a text C file (invalid UTF-8)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None


def _function_body(text: str, path: Path) -> tuple[re.Match, str, int]:
    """The signature match, the body text between the braces and the line the body starts on."""
    fm = _FUNC_RE.search(text)
    if not fm:
        raise InputError(path, "no function of the form 'intN_t mulXX(intN_t A, intN_t B) {' found", "line 1")
    if fm["p1"] == fm["p2"]:
        raise InputError(path, f"both operands are named '{fm['p1']}'")
    if C_TYPES[fm["t1"]] != C_TYPES[fm["t2"]]:
        raise InputError(path, "both operands must have the same C type")
    depth = 1
    for brace in re.finditer(r"[{}]", text[fm.end() :]):
        depth += 1 if brace.group(0) == "{" else -1
        if not depth:
            body = text[fm.end() : fm.end() + brace.start()]
            return fm, body, text.count("\n", 0, fm.end()) + 1
    raise InputError(path, "unbalanced braces: the function body never ends")


def _parse_statements(body: str, first_line: int, types: dict, path: Path) -> list[_Statement]:
    """Straight-line statements up to the first ``return``, each compiled to postfix."""
    statements: list[_Statement] = []
    budget = MAX_OPERATIONS
    line = first_line
    for raw in body.split(";"):
        at = line + raw.count("\n", 0, len(raw) - len(raw.lstrip()))
        line += raw.count("\n")
        s = " ".join(raw.split())
        if not s:
            continue
        try:
            new = _parse_statement(s, types, budget, at, path)
        except BudgetExceeded:
            budget = -1
            new = []
        except CExpressionError as exc:
            raise InputError(path, str(exc), f"line {at}") from None
        statements += new
        budget -= sum(1 + sum(t.kind not in ('num', 'name') for t in st.postfix) for st in new)
        if budget < 0:
            raise InputError(path, f"more than {MAX_OPERATIONS} operators; not an 8x8 multiplier model",
                             f"line {at}")
        if new and new[-1].target is None:
            return statements
    raise InputError(path, "the function has no 'return' statement")


def _parse_statement(s: str, types: dict, budget: int, line: int, path: Path) -> list[_Statement]:
    decl = _DECL_RE.fullmatch(s)
    if decl:
        ctype = C_TYPES[decl.group(1)]
        out = []
        for item in decl.group(2).split(","):
            var, _, expr = (x.strip() for x in item.partition("="))
            if not re.fullmatch(r"[A-Za-z_]\w*", var):
                raise InputError(path, f"unsupported declaration '{item.strip()}'", f"line {line}")
            types[var] = ctype
            if expr:
                out.append(_Statement(var, to_postfix(expr, budget), ctype, line))
        return out
    if re.match(r"return\b", s):
        return [_Statement(None, to_postfix(s[6:], budget), (64, True), line)]
    am = _ASSIGN_RE.fullmatch(s)
    if not am:
        raise InputError(path, f"unsupported C statement '{s[:60]}'", f"line {line}")
    var, op, expr = am.group(1), am.group(2), am.group(3)
    postfix = to_postfix(expr, budget)
    if op:
        postfix = [Token("name", var), *postfix, Token("binary", op)]
    return [_Statement(var, postfix, types.get(var, (64, True)), line)]


def _run(statements: list[_Statement], env: dict, path: Path) -> np.ndarray:
    """Execute the statements; each variable is dropped after its last use."""
    last_use: dict[str, int] = {}
    for i, st in enumerate(statements):
        for token in st.postfix:
            if token.kind == "name":
                last_use[token.value] = i
    dead_after: dict[int, list[str]] = {}
    for name, i in last_use.items():
        dead_after.setdefault(i, []).append(name)
    line = 0

    def lookup(name: str):
        if name not in env:
            raise InputError(path, f"name '{name}' is used before it is assigned", f"line {line}")
        return env[name]

    for i, st in enumerate(statements):
        line = st.line
        try:
            value = evaluate(st.postfix, lookup)
        except CExpressionError as exc:
            raise InputError(path, str(exc), f"line {line}") from None
        if st.target is None:
            return np.asarray(value, dtype=np.int64)
        env[st.target] = wrap(np.asarray(value, dtype=np.int64), *st.ctype)
        # Free each array after its last read, not at the end (30,000 temporaries are 15 GB).
        for name in dead_after.get(i, []) + ([st.target] if last_use.get(st.target, -1) <= i else []):
            env.pop(name, None)
        if len(env) > MAX_LIVE_VARIABLES:
            raise InputError(path, f"more than {MAX_LIVE_VARIABLES} live variables; not an 8x8 multiplier model",
                             f"line {line}")
    raise InputError(path, "the function has no 'return' statement")


def load_c_model(path: str | Path) -> CModel:
    """Parse an EvoApproxLib-style C file and evaluate its product table (int32[256, 256])."""
    path = Path(path)
    raw = _read_source(path)
    metrics, published = _metric_comments(raw, path)
    fm, body, first_line = _function_body(_strip_comments(raw, path), path)
    operand_type = C_TYPES[fm["t1"]]
    # EvoApproxLib names say the arithmetic (mul8s_* signed, mul8u_* unsigned); some signed
    # circuits declare uint8_t operands and work on the bit patterns, so the name wins.
    named = re.match(r"mul\d+([su])_", fm["name"])
    signed = named.group(1) == "s" if named else operand_type[1]
    codes = np.arange(256, dtype=np.int64)
    values = np.where(codes >= 128, codes - 256, codes) if operand_type[1] else codes
    # Positional: the first parameter is the row operand a of f(a, b), whatever its name.
    env = {fm["p1"]: np.broadcast_to(values[:, None], (256, 256)),
           fm["p2"]: np.broadcast_to(values[None, :], (256, 256))}
    types = {fm["p1"]: operand_type, fm["p2"]: operand_type}
    with np.errstate(all="ignore"):  # C integer arithmetic wraps; numpy scalars would warn
        result = _run(_parse_statements(body, first_line, types, path), env, path)
        table = wrap(wrap(result, *C_TYPES[fm["ret"]]), 16, signed)  # the output word is 16 bits
    return CModel(
        name=fm["name"], signed=signed, table=np.broadcast_to(table, (256, 256)).astype(np.int32),
        power_mw=metrics["power_mw"], area_um2=metrics["area_um2"], delay_ns=metrics["delay_ns"],
        published=published,
    )
