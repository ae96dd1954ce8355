"""Config dicts open to any key: Spark's reader options (``data.options``) and predict's input
options. Hydra wants ``+`` to add a key its config lacks and refuses ``+`` for one it has; a user
who knows Spark writes ``data.options.nullValue=NA`` either way, so such an override is given to
Hydra as ``++`` (add or set). Any other unknown key still fails with the nearest valid one
(``error_lines``)."""

from __future__ import annotations

OPEN_DICTS = ("data.options.", "predict.input_options.")


def opened(args: list[str]) -> list[str]:
    """``args`` with each plain override of a key in ``OPEN_DICTS`` written as ``++key=value``."""
    return [f"++{a}" if a.startswith(OPEN_DICTS) and "=" in a else a for a in args]
