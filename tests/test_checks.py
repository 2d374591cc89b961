"""dae.checks: the one home of the argument checks the models share."""
import numpy as np
import pytest

from dae.checks import one_of, positive_int, positive_ints


def test_positive_int_accepts_whole_numbers_and_returns_a_python_int():
    assert positive_int(3, "n") == 3 and type(positive_int(np.int64(3), "n")) is int


@pytest.mark.parametrize("value", [0, -1, 2.0, "3", True, np.bool_(True), None])
def test_positive_int_refuses_everything_else_naming_the_argument(value):
    with pytest.raises(ValueError, match=r"n_hidden must be a positive int, got .*; pass"):
        positive_int(value, "n_hidden")


def test_positive_ints_checks_each_and_refuses_a_bare_number():
    assert positive_ints((5, np.int32(4)), "sizes") == [5, 4] and positive_ints([], "sizes") == []
    with pytest.raises(ValueError, match=r"list of positive ints such as \[8\]"):
        positive_ints(8, "sizes", example="[8]")
    with pytest.raises(ValueError, match="each of sizes must be a positive int"):
        positive_ints([8, 0], "sizes")


def test_one_of_lists_the_choices():
    assert one_of("a", ("a", "b"), "kind") == "a"
    with pytest.raises(ValueError, match="kind must be one of 'a', 'b', got 'c'"):
        one_of("c", ("a", "b"), "kind")
