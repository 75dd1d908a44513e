"""What a polite request asks to be done, and which tools do it (exact cases)."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field

import slmguild
from slmguild.tools.abilities import ToolAbilities, requested_actions


@slmguild.tool(examples=[("status of ticket IT-1234 please", {"ticket_id": "IT-1234"})])
def ticket_status(ticket_id: Annotated[str, Field(pattern=r"^IT-[0-9]{4}$")]) -> str:
    """Look up an existing ticket.

    Args:
        ticket_id: The ticket's id.
    """
    return "open"


@slmguild.tool(
    examples=[("my mouse is broken, can you raise a ticket", {"summary": "Broken mouse"}),
              ("Could someone install Figma for me?", {"summary": "Install Figma"})],
    changes=True,
)
def open_ticket(summary: str) -> str:
    """Open a new help desk ticket.

    Args:
        summary: What is wrong.
    """
    return "IT-1001"


@slmguild.tool(changes=True)
def set_priority(ticket_id: Annotated[str, Field(pattern=r"^IT-[0-9]{4}$")], priority: str) -> str:
    """Change the priority of an existing ticket.

    Args:
        ticket_id: The ticket's id.
        priority: The new priority.
    """
    return "done"


@pytest.mark.parametrize(("request_", "asked"), [
    ("can you bump it up to urgent?", [("bump", "bump it up to urgent")]),
    ("ok can you approve it for me so I can book flights?", [("approv", "approve it for me")]),
    ("Please open a ticket: the printer is jammed", [("open", "open a ticket")]),
    ("could you just quickly reset it", [("reset", "reset it")]),
    ("can't you just approve it?", [("approv", "approve it")]),   # a negative question asks too
    ("couldn’t someone reset my password", [("reset", "reset my password")]),
    ("can you help me open a ticket", [("open", "open a ticket")]),
    ("Convert 250 EUR to USD", []),                        # no polite ask: not judged
    ("can you get someone to look at it?", []),            # "get" says nothing a verb can judge
])
def test_a_polite_request_asks_for_the_words_after_the_ask(request_, asked):
    assert [(action.stem, action.words) for action in requested_actions(request_)] == asked


def test_the_answer_says_what_was_asked_in_the_users_words_turned_to_them():
    [action] = requested_actions("can you book me a hotel near my office?")
    assert action.declined() == "I cannot book you a hotel near your office: none of my tools does that."


@pytest.mark.parametrize(("request_", "unable", "undone"), [
    ("can you bump it up to urgent?", ["ticket_status", "open_ticket", "set_priority"], "bump"),
    ("could you raise a ticket, my keyboard is dead", ["ticket_status", "set_priority"], None),
    ("could someone install Slack?", ["ticket_status", "set_priority"], None),   # a verb of the labelled requests
    ("can you check IT-1042 please", ["open_ticket", "set_priority"], None),    # telling: tools that change nothing
    ("can you explain the VPN rules?", ["open_ticket", "set_priority"], None),  # the expert answers it
    ("what are the VPN rules?", [], None),                                      # no request to act
])
def test_a_tool_does_the_verbs_of_its_name_description_and_labelled_requests(request_, unable, undone):
    abilities = ToolAbilities([ticket_status, open_ticket])
    tools, action = ToolAbilities([ticket_status, open_ticket, set_priority]).unable(request_)
    assert tools == unable
    assert (action.stem if action else None) == undone
    assert abilities.verbs["open_ticket"] >= {"open", "rais", "instal"}


def test_a_tool_without_an_identifier_cannot_change_a_thing_named_before():
    [action] = requested_actions("can you raise its priority to high?")
    abilities = ToolAbilities([open_ticket, set_priority])
    assert action.on_named_thing
    assert not abilities.can("open_ticket", action)   # it makes a new ticket, it cannot raise this one
    assert abilities.unable("can you raise its priority?")[1] is not None   # set_priority changes, not raises
