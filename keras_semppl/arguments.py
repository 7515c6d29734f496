"""Argument checks shared by the library's constructors.

Each check returns the value it accepts and raises `ValueError` naming the
argument and what was expected, so that bad input fails where it is given.
"""

import numbers


def positive_int(name, value, minimum=1):
    """``value`` if it is an int >= ``minimum`` (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def optional_positive_int(name, value):
    """None, or an int >= 1."""
    return None if value is None else positive_int(name, value)


def number(name, value, minimum=None, maximum=None, allow_minimum=True):
    """``value`` as a float if it is a real number within the bounds given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number; got {value!r}.")
    low_ok = minimum is None or value > minimum or (allow_minimum and value == minimum)
    if not low_ok or (maximum is not None and value > maximum):
        low = "" if minimum is None else f"{minimum} {'<=' if allow_minimum else '<'} "
        high = "" if maximum is None else f" <= {maximum}"
        raise ValueError(f"{name} must satisfy {low}{name}{high}; got {value!r}.")
    return float(value)


def flag(name, value):
    """``value`` if it is a bool (NumPy bools included)."""
    if type(value).__name__ not in ("bool", "bool_"):
        raise ValueError(f"{name} must be True or False; got {value!r}.")
    return bool(value)


def one_of(name, value, choices):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}; got {value!r}.")
    return value


def optional_int(name, value):
    """None, or any int (a seed)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise ValueError(f"{name} must be an int or None; got {value!r}.")
    return None if value is None else int(value)
