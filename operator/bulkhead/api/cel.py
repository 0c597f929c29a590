"""Health conditions: CEL (Common Expression Language) over a Dependency's signals.

The package is cel-expr-python, the CEL project's own Python runtime (bindings of cel-cpp): the
language of the API server's x-kubernetes-validations, a type-checker at compile time, no
dependencies of its own; an evaluation takes about 10 µs (measured on this machine).

Each signal is the variable `signals.<name>`, declared dyn and bound to a double: the checker
refuses a name no signal declares, and a double compares with an int literal as a number
(`signals.p99 > 1` works, as it does in the API server's CEL).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

# A signal's name is a CEL identifier, so `signals.<name>` parses.
SIGNAL_NAME_PATTERN = r"^[a-z][a-zA-Z0-9_]{0,62}$"
# Where the checker's messages begin: its status and source prefix say nothing to a person.
_PREFIX = re.compile(r"^(.*?ERROR: <input>:|UNKNOWN: )")


@dataclass(frozen=True)
class Compiled:
    """A checked expression, ready to evaluate (compiled once per text and signal names)."""

    text: str
    program: Any


def _first_line(error: Exception) -> str:
    line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
    return _PREFIX.sub("", line).replace(" (in container '')", "")


@functools.lru_cache(maxsize=1024)
def _environment(signals: tuple[str, ...]) -> Any:
    return cel.NewEnv(variables={f"signals.{name}": cel.Type.DYN for name in signals})


@functools.lru_cache(maxsize=1024)
def compile_condition(text: str, signals: tuple[str, ...]) -> Compiled | str:
    """The compiled condition `text` over the signals named in `signals`, or why it is not one
    (a syntax error, an undeclared name, a type error, a result that is not a bool), with its
    line:column. Cached by text and names, so a spec is compiled once however often it is read.
    One trial evaluation with every signal at 1.0 finds the type errors that dyn defers."""
    try:
        program = _environment(signals).compile(text)
    except RuntimeError as error:
        return _first_line(error)
    trial = _run(program, dict.fromkeys(signals, 1.0))
    if isinstance(trial, str):
        return trial
    if not isinstance(trial, bool):
        return f"must be true or false, e.g. signals.{signals[0]} > 0.5; it is {trial!r}"
    return Compiled(text, program)


def _run(program: Any, values: Mapping[str, float]) -> object:
    value = program.eval(data={f"signals.{name}": float(v) for name, v in values.items()})
    if value.type() == cel.Type.ERROR:
        return _first_line(RuntimeError(value.value()))
    return value.value()


def evaluate(condition: Compiled, values: Mapping[str, float]) -> bool | str:
    """Whether `condition` holds for the signal values `values` (name -> value), or the
    evaluation's error as text (e.g. a signal without a value)."""
    result = _run(condition.program, values)
    if isinstance(result, bool):
        return result
    if isinstance(result, str):
        return result
    return f"{condition.text} is not true or false: {result!r}"
