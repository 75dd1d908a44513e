"""The example guild's tools (examples/acme/tools.py) against a fresh copy of their database."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from langchain_core.tools import BaseTool

from slmguild.tools import ToolExecutor

ACME = Path(__file__).resolve().parents[1] / "examples" / "acme"


def _load_tools():
    spec = importlib.util.spec_from_file_location("acme_tools_under_test", ACME / "tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


acme = _load_tools()
TOOLS = {value.name: value for value in vars(acme).values() if isinstance(value, BaseTool)}


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "acme.sqlite"
    monkeypatch.setenv("ACME_DB", str(path))
    return path


def test_the_module_defines_exactly_the_six_tools():
    assert sorted(TOOLS) == [
        "convert_currency",
        "create_ticket",
        "expense_limit",
        "leave_balance",
        "ticket_status",
        "working_days_between",
    ]


def test_the_database_is_created_from_the_seed_on_first_use(database: Path):
    assert not database.exists()
    acme.ticket_status.invoke({"ticket_id": "IT-1042"})
    assert database.exists()
    assert [p.name for p in database.parent.iterdir()] == ["acme.sqlite"]  # no temp file left behind


def test_without_acme_db_the_database_lives_under_slmguild_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ACME_DB")
    monkeypatch.setenv("SLMGUILD_HOME", str(tmp_path / "home"))
    acme.expense_limit.invoke({"category": "taxi"})
    assert (tmp_path / "home" / "examples" / "acme.sqlite").is_file()


def test_ticket_status_of_a_known_ticket():
    assert acme.ticket_status.invoke({"ticket_id": "IT-1042"}) == {
        "id": "IT-1042",
        "summary": "SecureLink VPN disconnects every few minutes (SL-503)",
        "priority": "normal",
        "status": "In progress",
        "opened_on": "2026-11-10",
    }
    assert acme.ticket_status.invoke({"ticket_id": "IT-1033"})["status"] == "Closed"


def test_ticket_status_rejects_bad_and_unknown_ids():
    with pytest.raises(ValueError):
        acme.ticket_status.invoke({"ticket_id": "IT-42"})
    with pytest.raises(ValueError):
        acme.ticket_status.invoke({"ticket_id": "it-1042"})
    with pytest.raises(ValueError, match="no ticket IT-9999"):
        acme.ticket_status.invoke({"ticket_id": "IT-9999"})


def test_create_ticket_writes_the_next_ticket():
    created = acme.create_ticket.invoke({"summary": "Printer PRN-0217 in Berlin is jammed", "priority": "high"})
    assert created == {
        "id": "IT-1051",
        "summary": "Printer PRN-0217 in Berlin is jammed",
        "priority": "high",
        "status": "New",
        "opened_on": date.today().isoformat(),
        "first_response_target": "2 working hours",
        "resolution_target": "1 working day",
    }
    assert acme.ticket_status.invoke({"ticket_id": "IT-1051"})["summary"] == "Printer PRN-0217 in Berlin is jammed"

    second = acme.create_ticket.invoke({"summary": "Second monitor flickers"})
    assert (second["id"], second["priority"]) == ("IT-1052", "normal")
    assert (second["first_response_target"], second["resolution_target"]) == ("1 working day", "3 working days")
    urgent = acme.create_ticket.invoke({"summary": "Laptop stolen at the station", "priority": "urgent"})
    assert urgent["first_response_target"] == "30 minutes, 24/7" and "4357" in urgent["note"]


def test_concurrent_ticket_creation_gives_distinct_numbers():
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(lambda n: acme.create_ticket.invoke({"summary": f"Ticket number {n}"}), range(8)))
    assert sorted(ticket["id"] for ticket in created) == [f"IT-{n}" for n in range(1051, 1059)]


def test_create_ticket_rejects_bad_arguments():
    with pytest.raises(ValueError):
        acme.create_ticket.invoke({"summary": "VPN"})
    with pytest.raises(ValueError):
        acme.create_ticket.invoke({"summary": "VPN is down for me", "priority": "critical"})


def test_leave_balance_arithmetic():
    assert acme.leave_balance.invoke({"employee_id": "E1013"}) == {
        "employee_id": "E1013",
        "office": "montreal",
        "entitlement": 27.0,
        "taken": 28.5,
        "carried_over": 5.0,
        "remaining": 3.5,  # 27 + 5 - 28.5
    }
    joiner = acme.leave_balance.invoke({"employee_id": "E1019"})  # joined 2026-03-02: 10 months x 2.25
    assert (joiner["entitlement"], joiner["remaining"]) == (22.5, 10.5)
    assert acme.leave_balance.invoke({"employee_id": "E1001"})["entitlement"] == 29  # over 10 years of service
    with pytest.raises(ValueError, match="no employee E9999"):
        acme.leave_balance.invoke({"employee_id": "E9999"})
    with pytest.raises(ValueError):
        acme.leave_balance.invoke({"employee_id": "1001"})


def test_working_days_skip_each_offices_own_holidays():
    # Monday 2026-04-27 to Friday 2026-05-08: 10 weekdays; 1 May and 8 May are Fridays.
    week = {"start": "2026-04-27", "end": "2026-05-08"}
    lyon = acme.working_days_between.invoke({**week, "office": "lyon"})
    berlin = acme.working_days_between.invoke({**week, "office": "berlin"})
    montreal = acme.working_days_between.invoke({**week, "office": "montreal"})
    assert lyon["working_days"] == 8
    assert [h["day"] for h in lyon["holidays_skipped"]] == ["2026-05-01", "2026-05-08"]
    assert berlin["working_days"] == 9
    assert berlin["holidays_skipped"] == [{"day": "2026-05-01", "name": "Labour Day"}]
    assert montreal == {**week, "office": "montreal", "working_days": 10, "holidays_skipped": []}


def test_working_days_defaults_and_edges():
    # Lyon, 2026: 261 weekdays, 11 holidays of which 15 Aug (Sat) and 1 Nov (Sun) fall on weekends.
    assert acme.working_days_between.invoke({"start": "2026-01-01", "end": "2026-12-31"})["working_days"] == 252
    # Easter 2027 (28 March): Good Friday and Easter Monday in Berlin, only Good Friday in Montreal.
    easter = {"start": "2027-03-22", "end": "2027-04-02"}
    assert acme.working_days_between.invoke({**easter, "office": "berlin"})["working_days"] == 8
    assert acme.working_days_between.invoke({**easter, "office": "montreal"})["working_days"] == 9
    assert acme.working_days_between.invoke({"start": "2026-05-09", "end": "2026-05-10"})["working_days"] == 0
    assert acme.working_days_between.invoke({"start": "2026-07-14", "end": "2026-07-14"})["working_days"] == 0


def test_working_days_rejects_bad_ranges():
    with pytest.raises(ValueError, match="before start"):
        acme.working_days_between.invoke({"start": "2026-05-15", "end": "2026-05-04"})
    with pytest.raises(ValueError, match="only known for 2026-2027"):
        acme.working_days_between.invoke({"start": "2028-01-03", "end": "2028-01-07"})
    with pytest.raises(ValueError):
        acme.working_days_between.invoke({"start": "2026-05-04", "end": "2026-05-15", "office": "paris"})


def test_convert_currency_both_directions():
    to_eur = acme.convert_currency.invoke({"amount": 120, "from_currency": "USD", "to_currency": "EUR"})
    assert to_eur["converted"] == 103.45  # 120 / 1.16
    assert to_eur["rate_date"] == "2026-11-20"
    assert acme.convert_currency.invoke({"amount": 100, "from_currency": "EUR", "to_currency": "CAD"})["converted"] == 163.0
    cross = acme.convert_currency.invoke({"amount": 100, "from_currency": "CAD", "to_currency": "USD"})
    assert cross["converted"] == 71.17  # 100 / 1.63 * 1.16
    assert acme.convert_currency.invoke({"amount": 50, "from_currency": "EUR", "to_currency": "EUR"})["converted"] == 50


def test_convert_currency_rejects_bad_arguments():
    with pytest.raises(ValueError):
        acme.convert_currency.invoke({"amount": 10, "from_currency": "XYZ", "to_currency": "EUR"})
    with pytest.raises(ValueError):
        acme.convert_currency.invoke({"amount": -5, "from_currency": "USD", "to_currency": "EUR"})


def test_expense_limits():
    hotel = acme.expense_limit.invoke({"category": "hotel"})
    assert (hotel["limit_eur"], hotel["unit"], hotel["city"]) == (140, "EUR per night", "other cities")
    assert "Berlin 160" in hotel["rule"]
    # A hotel's limit is its city's: asked about London, 140 (the other cities') was wrong.
    london = acme.expense_limit.invoke({"category": "hotel", "city": "london"})
    assert (london["limit_eur"], london["city"]) == (230, "London")
    assert acme.expense_limit.invoke({"category": "taxi", "city": "london"})["limit_eur"] == 60
    taxi = acme.expense_limit.invoke({"category": "taxi"})
    assert (taxi["limit_eur"], taxi["unit"]) == (60, "EUR per ride")
    assert acme.expense_limit.invoke({"category": "mileage"})["limit_eur"] == 0.32
    flights = acme.expense_limit.invoke({"category": "flights"})
    assert flights["limit_eur"] is None and "Economy" in flights["rule"]
    # The user reads a sentence: the first template the result fills (flights have no amount).
    executor = ToolExecutor({"expense_limit": acme.expense_limit}, {"expense_limit"})
    said = [asyncio.run(executor.execute("expense_limit", {"category": category})).said
            for category in ("taxi", "flights")]
    assert said[0].startswith("The taxi limit is 60 EUR per ride: ")
    assert said[1].startswith("The flights rule (class of travel): Economy class")
    new_york = asyncio.run(executor.execute("expense_limit", {"category": "hotel", "city": "new_york"})).said
    assert new_york.startswith("The hotel limit in New York is 300 EUR per night")
    with pytest.raises(ValueError):
        acme.expense_limit.invoke({"category": "alcohol"})


def test_tool_prompts_name_real_tools_with_valid_arguments():
    lines = (ACME / "tool_prompts.jsonl").read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines]
    experts = {"ticket_status": "it", "create_ticket": "it", "leave_balance": "hr",
               "working_days_between": "hr", "convert_currency": "finance", "expense_limit": "finance"}
    for case in cases:
        assert set(case) == {"prompt", "expert", "tool", "arguments"}, case
        if case["tool"] is None:
            assert case["arguments"] == {} and case["expert"] in ("it", "hr", "finance"), case
            continue
        assert case["expert"] == experts[case["tool"]], case
        tool = TOOLS[case["tool"]]
        tool.tool_call_schema.model_validate(case["arguments"])
        tool.invoke(case["arguments"])  # the ids, dates and codes exist in the seed data
    counts = {name: sum(case["tool"] == name for case in cases) for name in [*TOOLS, None]}
    assert counts == {**{name: 7 for name in TOOLS}, None: 10}
    assert len({case["prompt"] for case in cases}) == len(cases)
