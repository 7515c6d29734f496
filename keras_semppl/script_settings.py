"""Settings of a script with a full and a small preset, overridable from the
environment: what the examples use for their configuration blocks.

    setting = ScriptSettings(small=os.environ.get("SEMPPL_EXAMPLE_TINY") == "1")
    EPOCHS = setting("EPOCHS", 100, 1)   # SEMPPL_EPOCHS=5 overrides either

An override is converted to the default's type (int, float, str); one that
does not convert raises `ValueError` naming the variable.
"""

import os


class ScriptSettings:
    """``setting(name, full, small)``: ``small`` in the small preset, else
    ``full``; the environment variable ``PREFIX + name`` overrides both.

    Args:
        small: use the small preset (a quick run, e.g. in tests).
        prefix: prefix of the overriding environment variables.
    """

    def __init__(self, small, prefix="SEMPPL_"):
        self.small = bool(small)
        self.prefix = prefix

    def __call__(self, name, full, small):
        default = small if self.small else full
        variable = self.prefix + name
        value = os.environ.get(variable)
        if value is None:
            return default
        try:
            return type(default)(value)
        except ValueError:
            raise ValueError(f"{variable}={value!r} is not a valid "
                             f"{type(default).__name__}.") from None
