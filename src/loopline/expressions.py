"""Safe arithmetic and comparison expressions over columns, written in config.

Derived features (`loan_amount / annual_income`) and business rules (`age < 18`) are
domain knowledge that belongs in config, not code. They are parsed once with `ast` into a
closure over numpy arrays, so the same compiled expression serves a 1,000,000-row batch and a
single request. Only names, numbers, + - * / ** %, unary minus, comparisons, `and`/`or`/`not`
are allowed: no attribute access, calls or subscripts, so config cannot run code.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

Columns = Mapping[str, np.ndarray]

_BINARY: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


MAX_LENGTH = 1_000  # characters: rules and formulas are one line of domain knowledge
MAX_DEPTH = 40  # nesting of operations; deeper input is refused before it can exhaust memory


class ExpressionError(ValueError):
    """An expression in config is not allowed or names an unknown column."""


@dataclass(frozen=True)
class Expression:
    """A compiled expression: `columns` it reads and `evaluate(columns)` over numpy arrays."""

    source: str
    columns: tuple[str, ...]
    _fn: Callable[[Columns], np.ndarray]

    def evaluate(self, data: Columns) -> np.ndarray:
        """Return the expression's value per row; division by zero gives NaN, not inf."""
        missing = [c for c in self.columns if c not in data]
        if missing:
            raise ExpressionError(f"expression {self.source!r} needs missing column(s) {missing}")
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.asarray(self._fn(data))
        if out.dtype.kind == "f":
            out = np.where(np.isfinite(out), out, np.nan)
        return out


def compile_expression(source: str) -> Expression:
    """Return the compiled form of `source`, or raise ExpressionError naming what is not allowed."""
    if len(source) > MAX_LENGTH:
        raise ExpressionError(
            f"expression of {len(source):,} characters is too long (at most {MAX_LENGTH:,})"
        )
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse expression {source!r}: {exc.msg}") from exc
    except (MemoryError, RecursionError):
        raise ExpressionError(f"expression {source[:60]!r}... is nested too deeply") from None
    if _depth(tree.body) > MAX_DEPTH:
        raise ExpressionError(
            f"expression {source[:60]!r} is nested more than {MAX_DEPTH} levels deep"
        )
    names: list[str] = []
    fn = _build(tree.body, source, names)
    return Expression(source=source, columns=tuple(dict.fromkeys(names)), _fn=fn)


def _depth(node: ast.AST) -> int:
    """Return how deeply operations nest (iteratively: deep input must not recurse here)."""
    deepest, todo = 0, [(node, 1)]
    while todo:
        current, level = todo.pop()
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:  # no need to walk further once too deep
            todo.extend((child, level + 1) for child in ast.iter_child_nodes(current))
    return deepest


def _number(value: object) -> np.ndarray:
    """Return an operand of arithmetic as floats: text never reaches `%`, `+` or `*`
    (Python's str % and str * would format or repeat it, at any cost in memory)."""
    try:
        return np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        raise ExpressionError("arithmetic needs numbers; a text value reached it") from None


def _build(node: ast.AST, source: str, names: list[str]) -> Callable[[Columns], np.ndarray]:
    if isinstance(node, ast.Name):
        names.append(node.id)
        key = node.id
        return lambda d: np.asarray(d[key])
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float | str):
        # numbers as numpy scalars, so that 1 / 0 follows numpy's rules (NaN), not Python's
        value = node.value if isinstance(node.value, str) else np.float64(node.value)
        return lambda d: value  # type: ignore[return-value]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        for side in (node.left, node.right):
            if isinstance(side, ast.Constant) and isinstance(side.value, str):
                raise ExpressionError(
                    f"text {side.value[:20]!r} in arithmetic in {source!r}: text may only be "
                    "compared (region == 'north')"
                )
        op, left, right = (
            _BINARY[type(node.op)],
            _build(node.left, source, names),
            _build(node.right, source, names),
        )
        return lambda d: op(_number(left(d)), _number(right(d)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
        inner = _build(node.operand, source, names)
        if isinstance(node.op, ast.USub):
            return lambda d: -inner(d)
        return lambda d: ~np.asarray(inner(d), dtype=bool)
    if isinstance(node, ast.Compare):
        parts = [_build(node.left, source, names)] + [
            _build(c, source, names) for c in node.comparators
        ]
        ops = [_COMPARE.get(type(o)) for o in node.ops]
        if any(o is None for o in ops):
            raise ExpressionError(f"comparison not allowed in {source!r}")

        def compare(d: Columns) -> np.ndarray:
            values = [p(d) for p in parts]
            result = np.asarray(ops[0](values[0], values[1]))  # type: ignore[misc]
            for op, a, b in zip(ops[1:], values[1:], values[2:], strict=False):
                result = result & np.asarray(op(a, b))  # type: ignore[misc]
            return result

        return compare
    if isinstance(node, ast.BoolOp):
        items = [_build(v, source, names) for v in node.values]
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or

        def boolean(d: Columns) -> np.ndarray:
            result = np.asarray(items[0](d), dtype=bool)
            for item in items[1:]:
                result = combine(result, np.asarray(item(d), dtype=bool))
            return result

        return boolean
    raise ExpressionError(
        f"{type(node).__name__} is not allowed in expression {source!r}; "
        "use column names, numbers, + - * / ** %, comparisons, and/or/not"
    )
