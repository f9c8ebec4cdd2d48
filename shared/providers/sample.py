"""Offline sample provider: real historical daily prices shipped inside installed packages.

Nothing here is generated. Each dataset names the package file it comes from:
- ^GSPC  S&P 500 index, 1999-2018, OHLC + adj. close + volume: `arch.data.sp500` (arch's
         data/sp500/sp500.csv.gz)
- ^IXIC  NASDAQ Composite, 1999-2018, same columns: `arch.data.nasdaq` (arch)
- GOOG   Alphabet/Google, 2004-08-19..2008-10-14, OHLCV + adj. close:
         `matplotlib/mpl-data/sample_data/goog.npz` (matplotlib)
A dataset whose package is not installed is skipped.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from shared.market.models import Bar, Quote
from shared.market.symbols import Symbol, parse_symbol
from shared.providers.base import day_start
from shared.providers.errors import InvalidSymbol

PROVIDER = "sample"


def _arch(name: str) -> pd.DataFrame:
    """The file behind `arch.data.<name>.load()`, read without importing arch (slow)."""
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the arch package is not installed (pip install arch)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / name / f"{name}.csv.gz"
    frame = pd.read_csv(path)
    frame = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame.pop("Date"), format="%m/%d/%Y")))
    return frame.rename(columns={"Adj Close": "adj_close"}).rename(columns=str.lower)


def _matplotlib_goog() -> pd.DataFrame:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "goog.npz"
    with np.load(path) as archive:
        data = archive["price_data"]
    frame = pd.DataFrame({name: data[name] for name in data.dtype.names or ()})
    return frame.set_index(pd.DatetimeIndex(frame.pop("date")))


@dataclass(frozen=True)
class SampleDataset:
    symbol: str
    description: str
    origin: str
    load: Callable[[], pd.DataFrame]


DATASETS: tuple[SampleDataset, ...] = (
    SampleDataset(
        "^GSPC", "S&P 500 index, daily 1999-2018", "arch.data.sp500", lambda: _arch("sp500")
    ),
    SampleDataset(
        "^IXIC", "NASDAQ Composite, daily 1999-2018", "arch.data.nasdaq", lambda: _arch("nasdaq")
    ),
    SampleDataset(
        "GOOG",
        "Alphabet (Google), daily 2004-2008",
        "matplotlib sample_data/goog.npz",
        _matplotlib_goog,
    ),
)


class SampleClient:
    """Serves the bundled datasets as daily bars with source 'sample'."""

    provider = PROVIDER

    def __init__(self) -> None:
        self._cache: dict[str, list[Bar]] = {}

    def available(self) -> list[Symbol]:
        """Symbols whose dataset's package is installed."""
        found = []
        for dataset in DATASETS:
            try:
                self.daily(parse_symbol(dataset.symbol))
            except (ImportError, OSError):
                continue
            found.append(parse_symbol(dataset.symbol))
        return found

    def daily(
        self, symbol: Symbol, *, start: date | None = None, end: date | None = None
    ) -> list[Bar]:
        """Bars of the dataset for `symbol` in [start, end)."""
        dataset = next((d for d in DATASETS if d.symbol == symbol.text), None)
        if dataset is None:
            raise InvalidSymbol(PROVIDER, f"no bundled dataset for {symbol}")
        if symbol.text not in self._cache:
            self._cache[symbol.text] = self._bars(dataset)
        return [
            bar
            for bar in self._cache[symbol.text]
            if (start is None or bar.ts.date() >= start) and (end is None or bar.ts.date() < end)
        ]

    def quote(self, symbol: Symbol, _bars: object = None) -> Quote | None:
        """The dataset's last close, stamped with its own (historical) date."""
        bars = self.daily(symbol)
        if not bars:
            return None
        last = bars[-1]
        prev = bars[-2].close if len(bars) > 1 else None
        change = last.close - prev if prev else None
        return Quote(
            symbol=symbol.text,
            price=last.close,
            change=change,
            change_percent=change / prev * 100 if change is not None and prev else None,
            volume=last.volume,
            ts=last.ts,
            source=PROVIDER,
        )

    @staticmethod
    def _bars(dataset: SampleDataset) -> list[Bar]:
        frame = dataset.load().sort_index()
        has_adj = "adj_close" in frame.columns
        return [
            Bar(
                symbol=dataset.symbol,
                interval="1d",
                ts=day_start(pd.Timestamp(stamp).date()),
                open=float(row.open),
                high=float(row.high),
                low=float(row.low),
                close=float(row.close),
                volume=float(row.volume),
                adj_close=float(row.adj_close) if has_adj else None,
                source=PROVIDER,
                adjustment="none",
            )
            for stamp, row in zip(frame.index, frame.itertuples(index=False), strict=True)
        ]
