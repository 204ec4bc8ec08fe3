"""Evaluate EvoApproxLib C behavioural models without a C compiler.

An EvoApproxLib ``mul8s_*.c`` / ``mul8u_*.c`` file is one function of straight-line bit logic::

    int16_t mul8s_1KV8(int8_t A, int8_t B) { int16_t P; uint8_t S_0_0, ...;
      S_0_0 = (((A>>0)&1) & ((B>>0)&1)); ... P = 0; P |= (S_0_0 & 1) << 0; ... return P; }

Statements are declarations, ``x = expr;``, ``x op= expr;`` and ``return x;``; expressions use
integer literals, names, parentheses and ``~ ! & | ^ << >>`` (plus ``+ -``). C gives these
operators the same relative precedence as Python, so each expression is parsed by Python's
``ast`` and evaluated with a whitelist over numpy arrays holding all 65,536 operand pairs at
once. Anything else is rejected with the file and line. Comment lines such as
``// PDK45_PWR = 0.425 mW`` give power, area and delay.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xaigen.errors import InputError

_C_TYPES = {
    "int8_t": (8, True), "uint8_t": (8, False), "int16_t": (16, True), "uint16_t": (16, False),
    "int32_t": (32, True), "uint32_t": (32, False), "int64_t": (64, True), "uint64_t": (64, False),
    "int": (32, True), "unsigned": (32, False),
}
_TYPE_RE = "|".join(sorted(_C_TYPES, key=len, reverse=True))
_FUNC_RE = re.compile(
    rf"(?P<ret>{_TYPE_RE})\s+(?P<name>\w+)\s*\(\s*(?:const\s+)?(?P<t1>{_TYPE_RE})\s+(?P<p1>\w+)\s*,"
    rf"\s*(?:const\s+)?(?P<t2>{_TYPE_RE})\s+(?P<p2>\w+)\s*\)\s*\{{"
)
_METRIC_RES = {
    "power_mw": re.compile(r"(?:PDK45_PWR|power)\s*=\s*([0-9.eE+-]+)\s*mW", re.I),
    "area_um2": re.compile(r"(?:PDK45_AREA|area)\s*=\s*([0-9.eE+-]+)\s*um2", re.I),
    "delay_ns": re.compile(r"(?:PDK45_DELAY|delay)\s*=\s*([0-9.eE+-]+)\s*ns", re.I),
}
_PUBLISHED_RES = {
    "mae": re.compile(r"^\s*(?://|\*)\s*MAE\s*=\s*([0-9.eE+-]+)", re.M),
    "wce": re.compile(r"^\s*(?://|\*)\s*WCE\s*=\s*([0-9.eE+-]+)", re.M),
    "mse": re.compile(r"^\s*(?://|\*)\s*MSE\s*=\s*([0-9.eE+-]+)", re.M),
    "ep_pct": re.compile(r"^\s*(?://|\*)\s*EP%\s*=\s*([0-9.eE+-]+)", re.M),
}
_BINOPS = {
    ast.BitAnd: np.bitwise_and, ast.BitOr: np.bitwise_or, ast.BitXor: np.bitwise_xor,
    ast.LShift: np.left_shift, ast.RShift: np.right_shift, ast.Add: np.add, ast.Sub: np.subtract,
}
_ASSIGN_RE = re.compile(r"^(\w+)\s*(\||&|\^|\+|-|<<|>>)?=\s*(.+)$", re.S)


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


def _wrap(values: np.ndarray, bits: int, signed: bool) -> np.ndarray:
    """C conversion of an integer to a ``bits``-wide type."""
    if bits >= 64:
        return values
    mask = (1 << bits) - 1
    out = values & mask
    if signed:
        out = np.where(out >= 1 << (bits - 1), out - (1 << bits), out)
    return out


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _evaluate(node: ast.AST, env: dict, path: Path, line: int) -> np.ndarray:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        value = node.value & 0xFFFFFFFFFFFFFFFF  # 64-bit two's complement, as C's uint64_t
        return np.int64(value - 2**64 if value >= 2**63 else value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise InputError(path, f"name '{node.id}' is used before it is assigned", f"line {line}")
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left = _evaluate(node.left, env, path, line)
        right = _evaluate(node.right, env, path, line)
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
        return np.invert(_evaluate(node.operand, env, path, line))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, env, path, line)
    raise InputError(
        path,
        f"unsupported C syntax '{ast.unparse(node)}' (expected literals, names, ( ), ~ ! & | ^ << >> + -)",
        f"line {line}",
    )


def _parse_expression(expr: str, path: Path, line: int) -> ast.AST:
    py = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)  # integer suffixes: 1u, 0xFFUL
    py = re.sub(r"\(\s*(?:u?int\d+_t|unsigned|int)\s*\)", "", py)  # casts are applied on assignment
    try:
        tree = ast.parse(py, mode="eval")
    except SyntaxError:
        raise InputError(path, f"unsupported C expression '{expr.strip()}'", f"line {line}") from None
    return tree.body


def load_c_model(path: str | Path) -> CModel:
    """Parse an EvoApproxLib-style C file and evaluate its product table (int32[256, 256])."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InputError(path, "not a text C file (invalid UTF-8)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror or exc})") from None

    metrics = {}
    for key, rx in _METRIC_RES.items():
        m = rx.search(raw)
        metrics[key] = float(m.group(1)) if m else None
    published = {}
    for key, rx in _PUBLISHED_RES.items():
        m = rx.search(raw)
        if m:
            try:
                published[key] = float(m.group(1))
            except ValueError:
                pass

    text = _strip_comments(raw)
    fm = _FUNC_RE.search(text)
    if not fm:
        raise InputError(
            path, "no function of the form 'intN_t mulXX(intN_t A, intN_t B) {' found", "line 1"
        )
    t1, t2 = _C_TYPES[fm["t1"]], _C_TYPES[fm["t2"]]
    if t1 != t2:
        raise InputError(path, "both operands must have the same C type")
    # EvoApproxLib names say the arithmetic (mul8s_* signed, mul8u_* unsigned); some signed
    # circuits declare uint8_t operands and work on the bit patterns, so the name wins.
    named = re.match(r"mul\d+([su])_", fm["name"])
    signed = named.group(1) == "s" if named else t1[1]
    operand_signed = t1[1]
    ret_bits, ret_signed = _C_TYPES[fm["ret"]]
    # Operand names are bound by position to the table axes A (rows) and B (columns) by their
    # *names* A/B when present (EvoApproxLib often declares them as (B, A)); otherwise by order.
    names = [fm["p1"], fm["p2"]]
    upper = [n.upper() for n in names]
    order = [upper.index("A"), upper.index("B")] if sorted(upper) == ["A", "B"] else [0, 1]

    codes = np.arange(256, dtype=np.int64)
    vals = np.where(codes >= 128, codes - 256, codes) if operand_signed else codes
    a = np.broadcast_to(vals[:, None], (256, 256))
    b = np.broadcast_to(vals[None, :], (256, 256))
    env: dict[str, np.ndarray] = {names[order[0]]: a, names[order[1]]: b}
    types: dict[str, tuple[int, bool]] = {names[0]: t1, names[1]: t2}

    body_start = fm.end()
    depth = 1
    end = body_start
    while end < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
    if depth:
        raise InputError(path, "unbalanced braces: the function body never ends")
    body = text[body_start : end - 1]
    base_line = text.count("\n", 0, body_start) + 1

    result = None
    offset = 0
    for stmt in body.split(";"):
        line = base_line + body.count("\n", 0, offset + len(stmt) - len(stmt.lstrip()))
        offset += len(stmt) + 1
        s = " ".join(stmt.split())
        if not s:
            continue
        decl = re.match(rf"^(?:const\s+)?({_TYPE_RE})\s+(.+)$", s)
        if decl:
            ctype = _C_TYPES[decl.group(1)]
            for item in decl.group(2).split(","):
                item = item.strip()
                if "=" in item:
                    var, expr = (x.strip() for x in item.split("=", 1))
                    env[var] = _wrap(_eval_expr(expr, env, path, line), *ctype)
                else:
                    var = item
                if not re.fullmatch(r"\w+", var):
                    raise InputError(path, f"unsupported declaration '{item}'", f"line {line}")
                types[var] = ctype
            continue
        ret = re.match(r"^return\s+(.+)$", s)
        if ret:
            result = _eval_expr(ret.group(1), env, path, line)
            break
        am = _ASSIGN_RE.match(s)
        if not am:
            raise InputError(path, f"unsupported C statement '{s[:60]}'", f"line {line}")
        var, op, expr = am.group(1), am.group(2), am.group(3)
        value = _eval_expr(expr, env, path, line)
        if op:
            if var not in env:
                raise InputError(path, f"'{var}' is updated before it is assigned", f"line {line}")
            value = _eval_expr(f"({var}) {op} ({expr})", env, path, line)
        env[var] = _wrap(value, *types.get(var, (64, True)))
    if result is None:
        raise InputError(path, "the function has no 'return' statement")
    table = _wrap(np.asarray(result, dtype=np.int64), ret_bits, ret_signed)
    table = _wrap(table, 16, signed)  # an 8x8 multiplier's output word is 16 bits
    return CModel(
        name=fm["name"],
        signed=signed,
        table=np.broadcast_to(table, (256, 256)).astype(np.int32),
        power_mw=metrics["power_mw"],
        area_um2=metrics["area_um2"],
        delay_ns=metrics["delay_ns"],
        published=published,
    )


def _eval_expr(expr: str, env: dict, path: Path, line: int) -> np.ndarray:
    """Evaluate one C expression; ``!x`` is rewritten to ``(x == 0)``."""
    expr = expr.strip()
    # Logical not binds tighter than any binary operator: apply it to the next primary.
    while "!" in expr.replace("!=", ""):
        m = re.search(r"!\s*(\w+|\((?:[^()]|\([^()]*\))*\))", expr)
        if not m:
            raise InputError(path, f"unsupported use of '!' in '{expr}'", f"line {line}")
        inner = _evaluate(_parse_expression(m.group(1), path, line), env, path, line)
        key = f"__not{len(env)}"
        env[key] = (np.asarray(inner) == 0).astype(np.int64)
        expr = expr[: m.start()] + key + expr[m.end() :]
    return np.asarray(_evaluate(_parse_expression(expr, path, line), env, path, line), dtype=np.int64)
