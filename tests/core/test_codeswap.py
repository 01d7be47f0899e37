"""core.codeswap: a function changed in place and restored exactly; code made to read constants."""

from __future__ import annotations

import dis

import pytest

from otrace_server.core import codeswap


def _make(n):
    def counted(x, y=2, *, z=3):
        return x + y + z + n
    return counted


def _make_other(n):
    def other(x, y=2, *, z=3):
        return n
    return other


def test_copy_of_runs_the_same_code_with_the_same_cells_and_attributes():
    func = _make(1)
    func.tag = "mine"
    copy = codeswap.copy_of(func)
    assert copy is not func and copy(1) == func(1) == 7
    assert (copy.__code__, copy.__closure__, copy.__globals__) == (func.__code__, func.__closure__, func.__globals__)
    assert (copy.__qualname__, copy.__kwdefaults__, copy.tag) == (func.__qualname__, {"z": 3}, "mine")


def test_swap_and_restore_put_back_the_same_objects():
    func, other = _make(1), _make_other(100)
    code, defaults = func.__code__, func.__defaults__
    func.kept = "k"
    change = codeswap.swap(func, other.__code__, {"__defaults__": (5,), "added": 1, "kept": "changed"},
                           runs=other)
    assert func(1) == 1 and codeswap.underneath(func) is other   # other's code, func's cell
    assert codeswap.restore(change)
    assert func.__code__ is code and func.__defaults__ is defaults and func.__dict__ == {"kept": "k"}
    assert codeswap.underneath(func) is func


def test_a_replacing_swap_restores_what_was_there_before_the_first():
    func = _make(1)
    code = func.__code__
    first = codeswap.swap(func, _make_other(2).__code__, {"__defaults__": (0,)})
    second = codeswap.swap(func, code.replace(), {"__defaults__": (9,)}, replacing=first)
    assert func(1) == 1 + 9 + 3 + 1
    assert codeswap.restore(second) and func.__code__ is code and func.__defaults__ == (2,)


def test_restore_leaves_code_someone_else_swapped_in_but_takes_back_its_attributes():
    func = _make(1)
    change = codeswap.swap(func, _make_other(2).__code__, {"__wrapped__": "ours"})
    theirs = codeswap.copy_of(func).__code__.replace()
    func.__code__ = theirs
    assert codeswap.restore(change) is False
    assert func.__code__ is theirs and "__wrapped__" not in func.__dict__


def test_code_that_does_not_fit_the_closure_is_refused_and_nothing_changes():
    func = _make(1)
    code = func.__code__

    def plain():
        return 0
    with pytest.raises(codeswap.CodeSwapError, match="0 free variable"):
        codeswap.swap(func, plain.__code__)
    assert func.__code__ is code


def _factory(func, Exception):
    def inner(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:
            raise
    return inner


@pytest.mark.parametrize("nfree", [0, 1, 3])
def test_constant_code_reads_its_values_as_constants_and_fits_any_closure(nfree):
    values = {"func": lambda a: a * 2, "Exception": ArithmeticError}
    code = codeswap.constant_code(_factory(**values).__code__, values, nfree)
    ops = {i.opname for i in dis.get_instructions(code)}
    assert "LOAD_DEREF" not in ops and "LOAD_GLOBAL" not in ops
    assert len(code.co_freevars) == nfree and values["func"] in code.co_consts
    holder = _make(1) if nfree == 1 else None
    if holder is not None:
        holder.__code__ = code
        assert holder(21) == 42


def test_constant_code_refuses_names_it_cannot_make_constant():
    with pytest.raises(codeswap.CodeSwapError, match="not constants: LOAD_DEREF Exception"):
        codeswap.constant_code(_factory(len, ValueError).__code__, {"func": len}, 0)

    def reads_a_global():
        return len
    with pytest.raises(codeswap.CodeSwapError, match="LOAD_GLOBAL len"):
        codeswap.constant_code(reads_a_global.__code__, {}, 0)
