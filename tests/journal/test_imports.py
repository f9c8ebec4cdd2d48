"""Broker imports: IB Flex and Webull files from their documented columns, the generic
template, all-or-nothing with every bad row named, re-import adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import DomainError
from shared.journal.imports import ImportRejected, ImportRequest, import_file, parse
from shared.journal.store import Journal
from shared.storage.factory import blob_store, document_store

DATA = Path(__file__).parent / "data"
IB = (DATA / "ibkr_flex_trades.csv").read_text()
WEBULL = (DATA / "webull_orders.csv").read_text()
GENERIC_HEADER = "broker_account,symbol,side,quantity,price,fees,executed_at,currency,fx_rate\n"


def journal() -> Journal:
    return Journal(document_store(), blob_store("lake"), "alice")


def test_ibkr_flex_file():
    j = journal()
    result = import_file(j, ImportRequest(format="ibkr_flex", content=IB, filename="flex.csv"))
    assert (result.rows, result.executions, result.skipped) == (5, 4, 1)
    assert result.added == 4
    assert result.broker_accounts == ["U1234567", "U7654321"]
    assert result.currencies == {"USD": 2, "EUR": 2}
    executions = {e.external_id: e for e in j.all_executions()}
    buy = executions["0000e1a2.65b3c4d5.01.01"]
    assert buy.executed_at == datetime(2024, 3, 4, 14, 30, 15, tzinfo=UTC)  # 09:30:15 EST
    assert buy.fees == 1.0
    assert executions["0000e1a2.65b3c4d5.01.02"].quantity == 100
    trades = {t.symbol: t for t in j.trades()}
    assert trades["AAPL"].net_pnl == pytest.approx(75 - 2.02)
    sap = trades["SAP"]
    assert sap.currency == "EUR"
    assert sap.net_pnl == pytest.approx(20 - 4)  # recorded in euros
    assert sap.net_pnl_base == pytest.approx(16 * 1.0851)  # converted at the closing rate
    assert j.imports()[0]["filename"] == "flex.csv"


def test_reimport_adds_nothing_and_other_files_the_same_day_do():
    j = journal()
    request = ImportRequest(format="ibkr_flex", content=IB)
    import_file(j, request)
    version = j.version()
    again = import_file(j, request)
    assert (again.added, again.duplicates) == (0, 4)
    assert j.version() == version
    webull = import_file(j, ImportRequest(format="webull", content=WEBULL, broker_account="wb-1"))
    assert (webull.rows, webull.executions, webull.skipped, webull.added) == (3, 2, 1, 2)
    assert len(j.all_executions()) == 6
    [tsla] = [t for t in j.trades() if t.symbol == "TSLA"]
    assert tsla.broker_account == "wb-1"
    assert tsla.opened_at == datetime(2024, 7, 1, 13, 35, 1, tzinfo=UTC)  # EDT = UTC-4
    assert tsla.gross_pnl == pytest.approx(55)


def test_identical_fills_in_one_file_stay_two_and_reimport_keeps_two():
    row = "b1,MSFT,buy,5,400,0.5,2024-03-04T09:31:00-05:00,USD,1\n"
    request = ImportRequest(format="generic", content=GENERIC_HEADER + row + row)
    j = journal()
    assert import_file(j, request).added == 2
    assert import_file(j, request).added == 0
    [trade] = j.trades()
    assert trade.quantity == 10


def test_every_bad_row_is_reported_and_nothing_is_stored():
    lines = IB.splitlines()
    lines[1] = lines[1].replace('"100","180.5"', '"abc","180.5"')
    lines[3] = lines[3].replace('"BUY"', '"HOLD"')
    lines[4] = lines[4].replace('"20240304;110000"', '"yesterday"')
    j = journal()
    with pytest.raises(ImportRejected) as caught:
        import_file(j, ImportRequest(format="ibkr_flex", content="\n".join(lines)))
    found = [(e.line, e.column) for e in caught.value.errors]
    assert found == [(2, "Quantity"), (4, "Buy/Sell"), (5, "DateTime")]
    assert "line 2, Quantity" in caught.value.detail
    assert j.all_executions() == []


def test_generic_template_errors_name_the_column():
    bad = (
        GENERIC_HEADER
        + "b1,MSFT,buy,5,400,0,2024-03-04T09:31:00,USD,1\n"
        + "b1,??,sell,-5,400,0,2024-03-04T10:00:00Z,usd,1\n"
    )
    with pytest.raises(ImportRejected) as caught:
        parse(ImportRequest(format="generic", content=bad))
    found = {(e.line, e.column) for e in caught.value.errors}
    assert found == {(2, "executed_at"), (3, "symbol"), (3, "quantity")}
    unknown = parse_error("generic", "symbol,side,qty\nAAPL,buy,1\n")
    assert unknown.errors[0].column == "qty"
    missing = parse_error("webull", "Symbol,Side\nAAPL,Buy\n")
    assert {e.column for e in missing.errors} == {"Status", "Filled", "Avg Price", "Filled Time"}


def parse_error(fmt: str, content: str) -> ImportRejected:
    with pytest.raises(ImportRejected) as caught:
        parse(ImportRequest(format=fmt, content=content))
    return caught.value


def test_tz_override_and_webull_zone_check():
    shifted = parse(ImportRequest(format="ibkr_flex", content=IB, tz="Europe/Berlin"))
    assert shifted.executions[0].executed_at == datetime(2024, 3, 4, 8, 30, 15, tzinfo=UTC)
    with pytest.raises(DomainError, match="IANA"):
        parse(ImportRequest(format="ibkr_flex", content=IB, tz="Moon/Base"))
    odd = WEBULL.replace("09:35:01 EDT", "09:35:01 XYZ")
    error = parse_error("webull", odd)
    assert (error.errors[0].line, error.errors[0].column) == (2, "Filled Time")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["ibkr_flex", "webull", "generic"]),
    text=st.one_of(
        st.text(max_size=400),
        st.builds(
            lambda head, body: head + body,
            st.sampled_from(
                [IB.splitlines()[0] + "\n", WEBULL.splitlines()[0] + "\n", GENERIC_HEADER]
            ),
            st.text(
                alphabet=st.sampled_from(list('0123456789,;"-.:/ ABCDEFGHSLUYbuysel\n')),
                max_size=400,
            ),
        ),
    ),
)
def test_fuzzed_files_end_in_a_result_or_a_clear_error(fmt, text):
    outcome: object
    try:
        outcome = parse(ImportRequest(format=fmt, content=text))
    except DomainError as error:
        outcome = error
    if isinstance(outcome, DomainError):
        assert outcome.status in (413, 422)
        assert outcome.detail
    else:
        assert len(outcome.ids) == len(outcome.executions)


def test_ibkr_file_without_execution_ids_uses_content_keys():
    content = (
        "Symbol,Buy/Sell,Quantity,TradePrice,TradeDate,TradeTime\n"
        "MSFT,BUY,3,400,20240304,093100\n"
        "MSFT,SELL,-3,401,20240304,094500\n"
    )
    j = journal()
    result = import_file(j, ImportRequest(format="ibkr_flex", content=content, broker_account="U9"))
    assert (result.added, result.broker_accounts) == (2, ["U9"])
    assert import_file(j, ImportRequest(format="ibkr_flex", content=content)).duplicates == 0
    assert (
        import_file(
            j, ImportRequest(format="ibkr_flex", content=content, broker_account="U9")
        ).added
        == 0
    )
    [trade] = [t for t in j.trades() if t.broker_account == "U9"]
    assert trade.gross_pnl == pytest.approx(3)
