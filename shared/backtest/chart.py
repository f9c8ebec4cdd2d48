"""PNG chart of equity curves and drawdown (matplotlib, Agg backend, no display needed).

matplotlib takes about a second to import, so it is imported when the first chart is drawn,
not when the engine is (the Function App's cold start does not pay for it)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd


def equity_chart(
    curves: Sequence[tuple[str, pd.DataFrame]], title: str, *, dpi: int = 100
) -> bytes:
    """Equity (top) and drawdown % (bottom) of each (label, equity frame) as PNG bytes.
    Each frame has `equity` and `drawdown_pct` columns on a time index."""
    import matplotlib  # lazy: see the module docstring

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    try:
        for label, frame in curves:
            top.plot(frame.index, frame["equity"], linewidth=1.0, label=label)
            bottom.plot(frame.index, frame["drawdown_pct"], linewidth=0.8, label=label)
        top.set_title(title)
        top.set_ylabel("equity")
        top.grid(alpha=0.3)
        if curves:
            top.legend(loc="upper left", fontsize=8)
        bottom.set_ylabel("drawdown %")
        bottom.grid(alpha=0.3)
        fig.tight_layout()
        sink = io.BytesIO()
        fig.savefig(sink, format="png", dpi=dpi)
        return sink.getvalue()
    finally:
        plt.close(fig)
