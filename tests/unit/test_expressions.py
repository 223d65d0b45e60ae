"""Tests for loopline.expressions: the safe column expressions of derived features and rules."""

from __future__ import annotations

import numpy as np
import pytest

from loopline.expressions import ExpressionError, compile_expression

DATA = {
    "a": np.array([1.0, 4.0, 9.0, np.nan]),
    "b": np.array([2.0, 0.0, 3.0, 1.0]),
    "region": np.array(["north", "south", "north", None], dtype=object),
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a + b", [3.0, 4.0, 12.0, np.nan]),
        ("a - b", [-1.0, 4.0, 6.0, np.nan]),
        ("a * b", [2.0, 0.0, 27.0, np.nan]),
        ("a / b", [0.5, np.nan, 3.0, np.nan]),
        ("a ** 2", [1.0, 16.0, 81.0, np.nan]),
        ("a % 2", [1.0, 0.0, 1.0, np.nan]),
        ("-a", [-1.0, -4.0, -9.0, np.nan]),
        ("(a + 1) * 2 - b / 2", [3.0, 10.0, 18.5, np.nan]),
        ("2 ** -1 * a", [0.5, 2.0, 4.5, np.nan]),
        ("a * 0.5", [0.5, 2.0, 4.5, np.nan]),
    ],
)
def test_arithmetic(source: str, expected: list[float]) -> None:
    result = compile_expression(source).evaluate(DATA)
    np.testing.assert_allclose(result, expected, equal_nan=True)


@pytest.mark.parametrize(
    ("source", "a", "b"),
    [
        ("a / b", [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]),  # inf, -inf, nan -> NaN
        ("a / b", [1, -1, 0], [0, 0, 0]),  # integer inputs too
        ("a % b", [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]),
        ("a ** 1000", [1e10, -1e10, 1e300], [0.0, 0.0, 0.0]),  # overflow is not a value either
    ],
)
def test_division_by_zero_and_overflow_give_nan(source: str, a: list, b: list) -> None:
    result = compile_expression(source).evaluate({"a": np.array(a), "b": np.array(b)})
    assert result.dtype.kind == "f"
    assert np.isnan(result).all()


def test_division_by_zero_keeps_other_rows() -> None:
    data = {"a": np.array([6.0, 6.0]), "b": np.array([3, 0])}
    result = compile_expression("a / b").evaluate(data)
    np.testing.assert_array_equal(result, [2.0, np.nan])


@pytest.mark.parametrize("source", ["1 / 0", "a * (1 / 0)", "a + 2 % 0"])
def test_constant_division_by_zero_gives_nan(source: str) -> None:
    result = compile_expression(source).evaluate({"a": np.array([1.0, 2.0])})
    assert np.isnan(result).all()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a < 4", [True, False, False, False]),
        ("a <= 4", [True, True, False, False]),
        ("a > 4", [False, False, True, False]),
        ("a >= 4", [False, True, True, False]),
        ("a == 4", [False, True, False, False]),
        ("a != 4", [True, False, True, True]),
        ("1 < a < 9", [False, True, False, False]),  # chained comparisons are and-ed
        ("a > 1 and b > 1", [False, False, True, False]),
        ("a > 5 or b == 2", [True, False, True, False]),
        ("not a > 1", [True, False, False, True]),
        ("not (a > 1 or b > 1)", [False, False, False, True]),
        ("a > 5 or b > 2 and a < 2", [False, False, True, False]),  # and binds tighter
        ("region == 'north'", [True, False, True, False]),
        ("region != 'north'", [False, True, False, True]),
        ("region == 'north' and a > 5", [False, False, True, False]),
    ],
)
def test_comparisons_and_boolean_operators(source: str, expected: list[bool]) -> None:
    result = compile_expression(source).evaluate(DATA)
    assert result.dtype == bool
    assert result.tolist() == expected


@pytest.mark.parametrize(
    ("source", "columns"),
    [
        ("a + b", ("a", "b")),
        ("b / a + a * b - b", ("b", "a")),  # each once, in order of first use
        ("amount * 0.01 / (1 - 1.01 ** (-term)) * 12 / income", ("amount", "term", "income")),
        ("age < 18 or not employed", ("age", "employed")),
        ("region == 'north'", ("region",)),
        ("2 * 3", ()),
    ],
)
def test_columns_lists_the_names_read(source: str, columns: tuple[str, ...]) -> None:
    expression = compile_expression(source)
    assert expression.columns == columns
    assert expression.source == source


@pytest.mark.parametrize(
    ("source", "construct"),
    [
        ("abs(a)", "Call"),
        ("__import__('os').system('true')", "Call"),
        ("a.real", "Attribute"),
        ("a[0]", "Subscript"),
        ("(lambda x: x)(a)", "Call"),
        ("lambda x: x", "Lambda"),
        ("a if b else 0", "IfExp"),
        ("[a, b]", "List"),
        ("a & b", "BinOp"),
        ("a // b", "BinOp"),
        ("+a", "UnaryOp"),
        ("None", "Constant"),
        ("(c := 1)", "NamedExpr"),
    ],
)
def test_rejected_constructs_name_the_construct(source: str, construct: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    message = str(info.value)
    assert f"{construct} is not allowed" in message
    assert repr(source) in message
    assert "comparisons, and/or/not" in message  # says what is allowed instead


@pytest.mark.parametrize("source", ["a in b", "a is b", "a not in b", "a is not b"])
def test_rejected_comparison_operators(source: str) -> None:
    with pytest.raises(ExpressionError, match="comparison not allowed"):
        compile_expression(source)


def test_missing_column_is_named() -> None:
    expression = compile_expression("a + income / b")
    with pytest.raises(ExpressionError) as info:
        expression.evaluate({"a": np.array([1.0]), "b": np.array([1.0])})
    assert "needs missing column(s) ['income']" in str(info.value)
    assert "'a + income / b'" in str(info.value)


@pytest.mark.parametrize("source", ["a +", "a < < b", "(a", "a b", ""])
def test_syntax_error(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"cannot parse expression"):
        compile_expression(source)


def test_expression_error_is_a_value_error() -> None:
    assert issubclass(ExpressionError, ValueError)


@pytest.mark.parametrize(
    "source",
    [
        "'%0100000000d' % 1",  # 100 MB per evaluation through Python's str formatting
        "'x' * 100000000",
        "age + 'a'",
    ],
)
def test_text_never_reaches_arithmetic(source):
    with pytest.raises(ExpressionError, match="text"):
        compile_expression(source)


def test_text_columns_in_arithmetic_fail_clearly_instead_of_formatting():
    expr = compile_expression("name % 1")
    with pytest.raises(ExpressionError, match="arithmetic needs numbers"):
        expr.evaluate({"name": np.array(["%0100000000d"], dtype=object)})


@pytest.mark.parametrize(
    "source",
    ["(" * 400 + "1" + ")" * 400, "-" * 100_000 + "1", "1" + " + 1" * 300, "x" * 2_000],
)
def test_deep_or_huge_expressions_get_a_message_not_a_crash(source):
    with pytest.raises(ExpressionError, match=r"nested|too long"):
        compile_expression(source)
