"""The playground in a notebook: the live view, and the picture saved beside it.

`bundle(pg)` is what a cell shows for a playground: a PNG of its state now (what a saved
notebook, GitHub and nbval see) and its text repr.
"""

from __future__ import annotations

import base64


def bundle(pg) -> dict:
    """The MIME bundle a cell shows for `pg`: a picture of its state now, and its repr."""
    from workbench.playpicture import png

    return {"image/png": base64.b64encode(png(pg)).decode("ascii"), "text/plain": repr(pg)}


__all__ = ["bundle"]
