"""C integer expressions of EvoApproxLib models: tokenizer, parser to postfix, evaluator.

Grammar (a subset of C, with C's precedence, from tightest)::

    primary := literal | name | ( expr )
    unary   := primary | ~ unary | ! unary | - unary | + unary | (intN_t) unary
    binary  := + -   then   << >>   then   &   then   ^   then   |     (all left-associative)

Parsing is Dijkstra's shunting-yard with explicit stacks and evaluation is a loop over the
postfix form, so time and stack depth are linear in the expression length and no input can
exhaust Python's recursion limit (``~~~~...~A`` or ``A+A+...+A`` with a million terms is just
long, and is refused by the operation budget before any array work is done).

Values are int64 numpy arrays over all 65,536 operand pairs (or int64 scalars for constants);
a cast ``(T)x`` wraps ``x`` to ``T`` as C's conversion does. Integer arithmetic is evaluated in
64 bits, which equals C's for every 8x8 multiplier model (C's 32-bit ``int`` promotion can only
differ when an intermediate exceeds 2^31, which these circuits never do).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

C_TYPES = {
    "int8_t": (8, True), "uint8_t": (8, False), "int16_t": (16, True), "uint16_t": (16, False),
    "int32_t": (32, True), "uint32_t": (32, False), "int64_t": (64, True), "uint64_t": (64, False),
    "int": (32, True), "unsigned": (32, False),
}
TYPE_RE = "|".join(sorted(C_TYPES, key=len, reverse=True))
_TOKEN_RE = re.compile(
    rf"[ \t\r\n\f\v]*(?:(?P<num>0[xX][0-9a-fA-F]+|[0-9]+)[uUlL]{{0,3}}(?![\w.])"
    rf"|(?P<cast>\([ \t\r\n]*(?:const[ \t\r\n]+)?(?:{TYPE_RE})[ \t\r\n]*\))"
    rf"|(?P<name>[A-Za-z_]\w*)"
    rf"|(?P<op><<|>>|&&|\|\||==|!=|<=|>=|[-+~!&|^()*/%<>?:=,\[\].]))"
)
_BINARY = {"+": (4, np.add), "-": (4, np.subtract), "<<": (3, np.left_shift), ">>": (3, np.right_shift),
           "&": (2, np.bitwise_and), "^": (1, np.bitwise_xor), "|": (0, np.bitwise_or)}
_UNARY_PRECEDENCE = 9
_UNARY = {"~", "!", "-", "+"}
SUPPORTED = "literals, names, ( ), casts, ~ ! & | ^ << >> + -"


class CExpressionError(ValueError):
    """The expression is outside the supported subset; ``problem`` is the user-facing text."""


class BudgetExceeded(CExpressionError):
    """More operators than the caller allowed."""


@dataclass(frozen=True)
class Token:
    kind: str  # "num" | "name" | "unary" | "cast" | "binary" | "(" | ")"
    value: object


def wrap(values, bits: int, signed: bool):
    """C conversion of an integer (array) to a ``bits``-wide type."""
    if bits >= 64:
        return values
    mask = (1 << bits) - 1
    out = values & mask
    if signed:
        out = np.where(out >= 1 << (bits - 1), out - (1 << bits), out)
    return out


def _literal(text: str) -> int:
    if text[:2] in ("0x", "0X"):
        return int(text, 16)
    if len(text) > 1 and text[0] == "0":
        try:
            return int(text, 8)  # C: a leading 0 means octal
        except ValueError:
            raise CExpressionError(f"invalid octal literal '{text}'") from None
    return int(text)


def tokenize(expr: str) -> Iterator[tuple[str, str]]:
    """(kind, text) pairs, lazily (a caller's budget stops a huge expression early); raises
    :class:`CExpressionError` at the first unknown character."""
    pos, end = 0, len(expr.rstrip())
    while pos < end:
        m = _TOKEN_RE.match(expr, pos)
        if not m or m.end() == pos:
            raise CExpressionError(f"unsupported C expression '{_excerpt(expr)}' (at '{expr[pos:pos + 10].strip()}')")
        kind = m.lastgroup
        yield kind, m.group(kind)
        pos = m.end()


def _excerpt(expr: str) -> str:
    text = " ".join(expr.split())
    return text if len(text) <= 60 else text[:57] + "..."


def to_postfix(expr: str, max_ops: int) -> list[Token]:
    """Shunting-yard: the postfix form of ``expr``, at most ``max_ops`` operators."""
    out: list[Token] = []
    ops: list[Token] = []
    expect_operand = True
    n_ops = 0
    for kind, text in tokenize(expr):
        if kind in ("num", "name"):
            if not expect_operand:
                raise CExpressionError(
                    f"unsupported C expression '{_excerpt(expr)}' (missing operator before '{text}')")
            out.append(Token(kind, _literal(text) if kind == "num" else text))
            expect_operand = False
            continue
        if kind == "cast" or (expect_operand and text in _UNARY):
            ops.append(Token("cast", C_TYPES[text.strip("() \t\r\n").split()[-1]]) if kind == "cast"
                       else Token("unary", text))
        elif text == "(" and expect_operand:
            ops.append(Token("(", text))
        elif text == ")" and not expect_operand:
            while ops and ops[-1].kind != "(":
                out.append(ops.pop())
            if not ops:
                raise CExpressionError(f"unbalanced ')' in '{_excerpt(expr)}'")
            ops.pop()
            continue
        elif text in _BINARY and not expect_operand:
            precedence = _BINARY[text][0]
            while ops and ops[-1].kind != "(" and _precedence(ops[-1]) >= precedence:
                out.append(ops.pop())
            ops.append(Token("binary", text))
        else:
            raise CExpressionError(_unsupported(expr, text))
        expect_operand = True
        n_ops += 1
        if n_ops > max_ops:
            raise BudgetExceeded(f"more than {max_ops} operators")
    if expect_operand:
        raise CExpressionError(f"unsupported C expression '{_excerpt(expr)}' (incomplete)")
    while ops:
        if ops[-1].kind == "(":
            raise CExpressionError(f"unbalanced '(' in '{_excerpt(expr)}'")
        out.append(ops.pop())
    return out


def _precedence(token: Token) -> int:
    return _BINARY[token.value][0] if token.kind == "binary" else _UNARY_PRECEDENCE


def _unsupported(expr: str, text: str) -> str:
    return f"unsupported C syntax '{_excerpt(expr)}' (operator '{text}'; expected {SUPPORTED})"


def evaluate(postfix: list[Token], lookup, max_temporaries: int = 64):
    """Value of a postfix expression; ``lookup(name)`` gives a variable's int64 array (shared,
    not copied). At most ``max_temporaries`` computed arrays (512 KiB each) are alive at once."""
    stack: list = []
    computed = 0  # computed arrays on the stack (variables are shared references, not copies)
    for token in postfix:
        if token.kind == "num":
            value = token.value & 0xFFFFFFFFFFFFFFFF  # C's 64-bit two's complement
            stack.append((np.int64(value - 2**64 if value >= 2**63 else value), False))
            continue
        if token.kind == "name":
            stack.append((lookup(token.value), False))
            continue
        if token.kind == "binary":
            (right, r_new), (left, l_new) = stack.pop(), stack.pop()
            computed -= r_new + l_new
            result = _BINARY[token.value][1](left, right)
        else:
            operand, fresh = stack.pop()
            computed -= fresh
            result = _apply_unary(token, operand)
        fresh = isinstance(result, np.ndarray) and result.ndim > 0
        computed += fresh
        if computed > max_temporaries:
            raise CExpressionError(f"nested too deeply (more than {max_temporaries} intermediate arrays)")
        stack.append((result, fresh))
    return stack[0][0]


def _apply_unary(token: Token, operand):
    if token.kind == "cast":
        return wrap(operand, *token.value)
    if token.value == "~":
        return np.invert(operand)
    if token.value == "!":
        return (np.asarray(operand) == 0).astype(np.int64)
    if token.value == "-":
        return np.negative(operand)
    return operand
