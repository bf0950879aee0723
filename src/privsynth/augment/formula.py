"""Formulas: small arithmetic over columns, for formula constraints and simulated columns.

A formula is parsed into a syntax tree of column names, numbers, + - * / // % ** and abs/round/min/max calls
(so evaluating one never runs code) and is checked when it is validated, so that a crafted model, schema or
scenario file is refused when it is read, never half-way through a sample:

- size: at most `MAX_TEXT` characters, `MAX_NODES` tree nodes and `MAX_DEPTH` levels of nesting (a
  2,001-term sum is refused with a message, instead of a RecursionError at fit or sample time);
- constants: every part without a column name is computed at validation in float64 and must be finite
  (`10**10**10`, `2**2**2**2**2` and `1/0` are refused); a constant exponent is at most `MAX_EXPONENT` in size;
- division: `/`, `//` and `%` by a constant zero are refused;
- calls: abs(x), round(x) or round(x, digits) with digits a whole constant within +-`MAX_DIGITS`,
  min/max of 2 to `MAX_ARGUMENTS` arguments.

Evaluation uses numpy float64 arrays (never Python numbers, so nothing can grow into a huge integer or raise
OverflowError). A row whose inputs are all present but whose result is not a finite number (a data-dependent
division by zero, an overflow, a fractional power of a negative number) is *undefined*: `evaluate` reports
such rows so that callers never store them as silent nulls (a formula constraint treats them as breaking
the constraint and draws them again; a simulated column refuses with an error naming the formula).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from privsynth.errors import PrivsynthError

MAX_TEXT = 10_000
MAX_NODES = 1_000
MAX_DEPTH = 200
MAX_EXPONENT = 100
MAX_DIGITS = 15
MAX_ARGUMENTS = 16

_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.remainder,
    ast.Pow: np.power,
}
_UNARY = {ast.USub: np.negative, ast.UAdd: np.positive}
_ARITY = {"abs": (1, 1), "round": (1, 2), "min": (2, MAX_ARGUMENTS), "max": (2, MAX_ARGUMENTS)}
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant, ast.Call)


class FormulaError(PrivsynthError, ValueError):
    """A formula is not allowed (code, unknown calls, out-of-bounds sizes or constants). A ValueError too,
    so that pydantic reports it against the field that holds the formula."""


@dataclass(frozen=True)
class Evaluated:
    """A formula's values (float64, NaN where undefined or where an input is null) and the rows whose inputs
    are all present but whose result is not a finite number."""

    values: np.ndarray
    undefined: np.ndarray


def parse_formula(text: str) -> ast.Expression:
    """The formula's checked syntax tree (see the module docstring for what is refused and why)."""
    return _checked(text)


def formula_names(text: str) -> list[str]:
    """The column names a formula reads, sorted."""
    tree = _checked(text)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called})


def evaluate(text: str, frame: pd.DataFrame) -> Evaluated:
    """The formula over the frame's columns, with its undefined rows (see `Evaluated`)."""
    tree = _checked(text)
    present = np.ones(len(frame), dtype=bool)
    for name in formula_names(text):
        present &= ~np.isnan(_column(frame, name))
    with np.errstate(all="ignore"):
        out = np.broadcast_to(np.asarray(_run(tree.body, frame), dtype="float64"), (len(frame),)).copy()
    bad = ~np.isfinite(out)
    out[bad] = np.nan
    return Evaluated(out, present & bad)


def evaluate_formula(text: str, frame: pd.DataFrame) -> np.ndarray:
    """The formula's values over the frame's columns (float64; NaN where an input is null or the result is
    undefined: use `evaluate` to tell the two apart)."""
    return evaluate(text, frame).values


# ------------------------------------------------------------------------------------------ checking
@functools.lru_cache(maxsize=512)
def _checked(text: str) -> ast.Expression:
    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, not {type(text).__name__}")
    short = text if len(text) <= 60 else text[:57] + "..."
    if len(text) > MAX_TEXT:
        raise FormulaError(f"formula {short!r} is {len(text):,} characters long: at most {MAX_TEXT:,} are allowed")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(f"formula {short!r} is not an expression: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise FormulaError(f"formula {short!r} is nested too deeply to read") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise FormulaError(f"formula {short!r} has {len(nodes):,} parts: at most {MAX_NODES:,} are allowed")
    if (depth := _depth(tree)) > MAX_DEPTH:
        raise FormulaError(f"formula {short!r} is nested {depth} levels deep: at most {MAX_DEPTH} are allowed")
    for node in nodes:
        _check_node(node, short)
    for node in nodes:  # every constant part is computed now (all parts are known to be allowed)
        _check_values(node, short)
    return tree


def _check_node(node: ast.AST, short: str) -> None:
    if not isinstance(node, _ALLOWED + tuple(_BINARY) + tuple(_UNARY)):
        raise FormulaError(f"formula {short!r} uses {type(node).__name__}: only arithmetic on columns is allowed")
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(f"formula {short!r}: only numbers may be written as constants")
        try:
            finite = np.isfinite(float(node.value))
        except OverflowError:
            finite = False
        if not finite:
            raise FormulaError(f"formula {short!r}: the constant {ast.unparse(node)[:20]} is too large")
    if isinstance(node, ast.Call):
        if not (isinstance(node.func, ast.Name) and node.func.id in _ARITY and not node.keywords):
            raise FormulaError(f"formula {short!r}: only {', '.join(_ARITY)} may be called")
        low, high = _ARITY[node.func.id]
        if not low <= len(node.args) <= high:
            want = "1 argument" if low == high == 1 else f"{low} to {high} arguments"
            raise FormulaError(f"formula {short!r}: {node.func.id}() takes {want}, not {len(node.args)}")


def _check_values(node: ast.AST, short: str) -> None:
    """Refuse a constant part that is not finite, a constant zero divisor, a huge constant exponent and
    round() digits that are not a small whole constant."""
    if isinstance(node, ast.Call) and node.func.id == "round" and len(node.args) == 2:
        digits = np.nan if _reads_columns(node.args[1]) else _constant(node.args[1])
        if not (np.isfinite(digits) and digits == np.round(digits) and abs(digits) <= MAX_DIGITS):
            raise FormulaError(f"formula {short!r}: round()'s digits must be a whole constant within +-{MAX_DIGITS}")
    right = node.right if isinstance(node, ast.BinOp) else None
    constant_right = right is not None and not _reads_columns(right)
    if constant_right and isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and _constant(right) == 0:
        raise FormulaError(f"formula {short!r} divides by zero ({ast.unparse(node)})")
    if (
        isinstance(node, ast.BinOp | ast.UnaryOp | ast.Call)
        and not _reads_columns(node)
        and not np.isfinite(_constant(node))
    ):
        raise FormulaError(f"formula {short!r}: {ast.unparse(node)} is not a finite number")
    if constant_right and isinstance(node.op, ast.Pow) and abs(_constant(right)) > MAX_EXPONENT:
        raise FormulaError(f"formula {short!r}: the exponent in {ast.unparse(node)} is over {MAX_EXPONENT} in size")


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _reads_columns(node: ast.AST) -> bool:
    called = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return any(isinstance(n, ast.Name) and id(n) not in called for n in ast.walk(node))


def _constant(node: ast.AST) -> float:
    """A part without column names, computed in float64 (NaN or inf when it is not a finite number)."""
    with np.errstate(all="ignore"):
        return float(np.asarray(_run(node, pd.DataFrame()), dtype="float64").reshape(-1)[0])


# ---------------------------------------------------------------------------------------- evaluating
def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype="float64")


def _run(node: ast.AST, frame: pd.DataFrame):
    """A checked node's value: a float64 scalar or array (depth is bounded, so recursion is too)."""
    if isinstance(node, ast.Constant):
        return np.float64(node.value)
    if isinstance(node, ast.Name):
        return _column(frame, node.id)
    if isinstance(node, ast.BinOp):
        return _BINARY[type(node.op)](_run(node.left, frame), _run(node.right, frame))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_run(node.operand, frame))
    args = [_run(a, frame) for a in node.args]
    name = node.func.id
    if name == "abs":
        return np.abs(args[0])
    if name == "round":
        return np.round(args[0], int(args[1]) if len(args) > 1 else 0)
    combine = np.minimum if name == "min" else np.maximum
    out = args[0]
    for value in args[1:]:
        out = combine(out, value)
    return out
