"""What a tool's arguments may take from the conversation: choices the user named, values of
one kind in the order they were written, and free text in the user's own words (exact cases,
and one tool phase with a scripted model)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Literal

import pytest

import slmguild
from slmguild.agents.events import ToolCall
from slmguild.tools.abilities import ToolAbilities
from slmguild.tools.grounding import borrowed, leaves_out_identifiers, named_choices, supplied_values
from tests.test_tools import call, make_expert

Currency = Literal["EUR", "USD", "CAD", "GBP", "CHF", "JPY"]
CURRENCIES = ["EUR", "USD", "CAD", "GBP", "CHF", "JPY"]


@slmguild.tool(examples=[("days from 2026-03-02 to 2026-03-13 in the Berlin office",
                          {"start": "2026-03-02", "end": "2026-03-13", "office": "berlin"})])
def working_days(start: date, end: date, office: Literal["lyon", "berlin"] = "lyon") -> int:
    """Count the working days between two dates.

    Args:
        start: The first day.
        end: The last day.
        office: Whose holidays count.
    """
    return 10


@slmguild.tool
def convert(amount: float, from_currency: Currency, to_currency: Currency) -> float:
    """Convert an amount of money.

    Args:
        amount: How much.
        from_currency: The amount's currency.
        to_currency: The currency wanted.
    """
    return amount


@slmguild.tool(
    examples=[("my mouse is dead, please open a ticket", {"summary": "Mouse is dead", "priority": "normal"}),
              ("Open an urgent ticket: nobody on our floor has network",
               {"summary": "No network for the whole floor", "priority": "urgent"}),
              ("my laptop was stolen, log a ticket", {"summary": "Laptop stolen", "priority": "urgent"})],
    changes=True,
)
def open_ticket(summary: str, priority: Literal["low", "normal", "high", "urgent"] = "normal") -> str:
    """Open a new help desk ticket.

    Args:
        summary: What is wrong, in one line.
        priority: How urgent it is.
    """
    return "IT-2001"


@pytest.mark.parametrize(("text", "named"), [
    ("Can you log a low priority ticket", ["low"]),
    ("Raise a low-priority ticket, it's a non-urgent request", ["low"]),
    ("Normal priority is fine, nothing urgent.", ["normal"]),      # a negated choice is not named
    ("a broken key, not urgent", []),
])
def test_a_choice_is_named_as_a_word_and_not_after_a_negation(text, named):
    assert named_choices(["low", "normal", "high", "urgent"], text) == named


@pytest.mark.parametrize(("text", "named"), [
    ("How much is 85.50 GBP in EUR?", ["GBP", "EUR"]),             # in the order written
    ("What is 1500 EUR in Canadian dollars?", ["EUR", "CAD"]),     # by name (Babel's CLDR data)
    ("I paid ¥18,500 for dinner, what's that in Swiss francs?", ["JPY", "CHF"]),  # by symbol
    ("convert 80 pounds to yen", ["GBP", "JPY"]),                   # a name's last word, where unique
    ("how many euros is 50 dollars", ["EUR"]),                      # "dollars": US or Canadian
])
def test_a_currency_code_is_also_named_by_its_names_and_symbol(text, named):
    assert named_choices(CURRENCIES, text) == named


def test_values_of_one_kind_fill_their_arguments_in_the_order_written():
    assert supplied_values(working_days, "from 21 December 2026 to 8 January 2027") == {
        "start": ["2026-12-21"], "end": ["2027-01-08"], "office": ["lyon"]}   # office: see below
    assert supplied_values(convert, "85.50 GBP in EUR")["from_currency"] == ["GBP"]
    assert supplied_values(convert, "85.50 GBP in EUR")["to_currency"] == ["EUR"]
    # The currency written beside the amount is the amount's, wherever it stands.
    assert supplied_values(convert, "How many Swiss francs do I get for 300 euros?")["from_currency"] == ["EUR"]
    assert supplied_values(convert, "How many Swiss francs do I get for 300 euros?")["to_currency"] == ["CHF"]
    assert supplied_values(convert, "How much is CHF 80 in euros?")["from_currency"] == ["CHF"]
    # A number written in words is a number.
    assert supplied_values(convert, "how many yen would two hundred US dollars get me?") == {
        "amount": [200], "from_currency": ["USD"], "to_currency": ["JPY"]}
    # One currency named of two: which one, the model says.
    assert supplied_values(convert, "what's 120 USD in my money?") == {"amount": [120]}


def test_a_choice_that_labelled_requests_always_name_keeps_its_default_when_unnamed():
    assert supplied_values(working_days, "days from 2026-05-04 to 2026-05-29")["office"] == ["lyon"]
    assert supplied_values(working_days, "days from 2026-05-04 to 2026-05-29, Berlin")["office"] == ["berlin"]
    # A priority is judged ("my laptop was stolen" is urgent): the model's choice when unnamed.
    assert "priority" not in supplied_values(open_ticket, "my keyboard is broken, open a ticket")


@pytest.mark.parametrize(("request_", "described"), [
    ("SecureLink keeps failing with SL-401 and I can't connect, please open a high priority ticket",
     "SecureLink keeps failing with SL-401, I can't connect"),
    ("Can you log a low priority ticket asking for Visio to be installed on my laptop?",
     "Visio to be installed on my laptop"),
    ("Log a ticket: please add me to the design team's shared mailbox.",
     "Add me to the design team's shared mailbox"),
    ("please open a ticket", ""),
])
def test_what_a_request_describes_is_its_words_without_the_ask_for_the_tool(request_, described):
    assert ToolAbilities([open_ticket]).described("open_ticket", request_) == described


def test_free_text_is_borrowed_when_most_of_its_words_are_not_the_conversations():
    said = "SecureLink keeps failing with SL-401, please open a ticket"
    assert borrowed("No network for the whole floor", said)
    assert not borrowed("SecureLink fails with SL-401", said)
    # A figure nobody said, or one cut short, is not the user's either.
    assert borrowed("SecureLink fails with SL-401 for 12 hours", said)
    assert borrowed("Wi-Fi drops in meeting room 3.", "the Wi-Fi drops in meeting room 3.12, raise a ticket")


def test_free_text_that_leaves_out_what_the_request_is_about_is_found():
    described = "Toner is empty on printer PRN-0388 in meeting room 3.12 since 8:30"
    assert leaves_out_identifiers("Toner is missing on the 3rd floor", described)
    assert leaves_out_identifiers("Printer prn-0388 is out of toner", described)     # room 3.12, 8:30
    assert not leaves_out_identifiers("PRN-0388 out of toner in room 3.12 since 8:30", described)


def test_a_summary_copied_from_a_demonstration_is_replaced_by_the_users_words():
    expert, _ = make_expert([call("open_ticket", summary="No network for the whole floor", priority="urgent")],
                            [open_ticket], max_steps=1)

    async def calls():
        return [event async for event in expert.tool_phase("my headset mic stopped working, please open a ticket")
                if isinstance(event, ToolCall)]

    [made] = asyncio.run(calls())
    assert made.arguments == {"summary": "My headset mic stopped working", "priority": "urgent"}
