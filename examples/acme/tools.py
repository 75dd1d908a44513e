"""The ACME help desk's tools: IT tickets, leave balances, working days, currencies, expense limits.

They read and write a small SQLite database: `$ACME_DB` when set, else `acme.sqlite` under
slmguild's data directory, created from `data/acme.sql` the first time a tool needs it.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from slmguild import paths
from slmguild.tools import tool

SEED = Path(__file__).resolve().parent / "data" / "acme.sql"

Office = Literal["lyon", "berlin", "montreal"]
Currency = Literal["EUR", "USD", "CAD", "GBP", "CHF", "JPY", "SEK", "PLN"]
Category = Literal["meals", "hotel", "flights", "train", "taxi", "mileage", "client_entertainment", "equipment"]
HotelCity = Literal[
    "lyon", "paris", "berlin", "munich", "hamburg", "frankfurt", "brussels", "london", "zurich", "montreal",
    "toronto", "new_york", "other",
]

# First response and resolution targets per priority (docs/it/it-tickets.md).
TARGETS = {
    "urgent": ("30 minutes, 24/7", "4 hours"),
    "high": ("2 working hours", "1 working day"),
    "normal": ("1 working day", "3 working days"),
    "low": ("2 working days", "10 working days"),
}

# Nightly hotel limits by city, EUR (docs/finance/hotel-limits-by-city.md).
HOTEL_LIMITS = {
    "lyon": 130, "paris": 200, "berlin": 160, "munich": 170, "hamburg": 150, "frankfurt": 160, "brussels": 150,
    "london": 230, "zurich": 250, "montreal": 190, "toronto": 200, "new_york": 300,
}

_create_lock = threading.Lock()


def database() -> Path:
    """The database file, created from the seed if it does not exist yet."""
    configured = os.environ.get("ACME_DB")
    path = Path(configured).expanduser() if configured else paths.home() / "examples" / "acme.sqlite"
    if not path.exists():
        with _create_lock:
            if not path.exists():
                _create(path)
    return path


def _create(path: Path) -> None:
    # Built aside and renamed into place, so no caller ever opens a half-seeded database.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".acme-", suffix=".sqlite")
    os.close(fd)
    try:
        with closing(sqlite3.connect(temporary)) as connection:
            connection.executescript(SEED.read_text(encoding="utf-8"))
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _connect() -> sqlite3.Connection:
    # A connection per call: tools may run in worker threads.
    connection = sqlite3.connect(database(), isolation_level=None)
    connection.row_factory = sqlite3.Row
    return connection


def _ticket(connection: sqlite3.Connection, ticket_id: str) -> dict[str, Any]:
    row = connection.execute(
        "SELECT id, summary, priority, status, opened_on FROM tickets WHERE id = ?", (ticket_id,)
    ).fetchone()
    if row is None:
        raise ValueError(f"no ticket {ticket_id}")
    return dict(row)


@tool(
    examples=[
        ("Any news on ticket IT-1234?", {"ticket_id": "IT-1234"}),
        ("is IT-1999 fixed yet", {"ticket_id": "IT-1999"}),
        ("What's happening with IT-1107?", {"ticket_id": "IT-1107"}),
        ("Can you look up ticket IT-1290 for me", {"ticket_id": "IT-1290"}),
        ("i raised IT-1333 last week about my keyboard, any progress?", {"ticket_id": "IT-1333"}),
        ("Is IT-1502 still open or did someone close it?", {"ticket_id": "IT-1502"}),
        ("who is working on IT-1418 and what priority does it have", {"ticket_id": "IT-1418"}),
        ("Check IT-1076 please, the Wi-Fi issue in Berlin", {"ticket_id": "IT-1076"}),
        ("whats the status of IT-2381? it's the VPN one", {"ticket_id": "IT-2381"}),
        ("Any update on my printer ticket IT-0457?", {"ticket_id": "IT-0457"}),
        (
            ("Hello, I opened IT-3196 last week because my laptop battery is swelling. Is it still open or has "
             "someone picked it up?"),
            {"ticket_id": "IT-3196"},
        ),
        ("who has IT-5520 right now?", {"ticket_id": "IT-5520"}),
        ("Is IT-1877 closed yet? Still can't get on the guest wifi in Berlin.", {"ticket_id": "IT-1877"}),
        ("Hey, any news about ticket IT-4408 (software install request for Tableau)?", {"ticket_id": "IT-4408"}),
        (
            "My MFA reset ticket, IT-2963, how is it progressing? I keep getting prompted on my old phone.",
            {"ticket_id": "IT-2963"},
        ),
        ("can u check the priority on IT-6014 pls, the dock for my monitors is still dead", {"ticket_id": "IT-6014"}),
        (
            "Following up on IT-0719 — the meeting room screen in Montreal. Has anything happened?",
            {"ticket_id": "IT-0719"},
        ),
        ("Where are we with IT-3352? Password reset for my ACME ID, been waiting two days.", {"ticket_id": "IT-3352"}),
    ],
    says="Ticket {id} ({summary}) is {status}, priority {priority}, opened on {opened_on}.",
)
def ticket_status(ticket_id: Annotated[str, Field(pattern=r"^IT-[0-9]{4}$")]) -> dict[str, Any]:
    """Look up the status and priority of an existing IT ticket by its number.

    Args:
        ticket_id: The ticket number, "IT-" and four digits, for example IT-1042.
    """
    with closing(_connect()) as connection:
        return _ticket(connection, ticket_id)


@tool(
    examples=[
        (
            "My docking station is dead, please open a ticket.",
            {"summary": "Docking station is dead", "priority": "normal"},
        ),
        (
            "Log an urgent ticket: nobody on our floor has network",
            {"summary": "No network for the whole floor", "priority": "urgent"},
        ),
        (
            "Please create a ticket: my headset microphone stopped working.",
            {"summary": "Headset microphone stopped working", "priority": "normal"},
        ),
        (
            "Open a high priority ticket, Outlook crashes at start and I can't read any mail",
            {"summary": "Outlook crashes at start, cannot read mail", "priority": "high"},
        ),
        (
            "can you raise a low priority ticket to get Notepad++ installed",
            {"summary": "Install Notepad++", "priority": "low"},
        ),
        (
            "I need a ticket for a broken keyboard key, not urgent",
            {"summary": "Broken keyboard key", "priority": "low"},
        ),
        (
            "File a ticket: the projector in room 2.04 in Lyon shows no image",
            {"summary": "Projector in room 2.04 in Lyon shows no image", "priority": "normal"},
        ),
        (
            "my laptop was stolen from the train, open an urgent ticket",
            {"summary": "Laptop stolen on the train", "priority": "urgent"},
        ),
        (
            ("Please open a ticket: the printer on floor 3 in Lyon keeps jamming on every double-sided job, I can "
             "still print single-sided though."),
            {"summary": "Floor 3 printer in Lyon jams on every double-sided job", "priority": "normal"},
        ),
        (
            ("my laptop wont boot at all, just a black screen after the logo. I can't do any work today, can someone "
             "look at it asap?"),
            {"summary": "Laptop will not boot, black screen after the logo", "priority": "high"},
        ),
        (
            ("The whole Berlin payroll team lost access to SecureLink VPN since 9am, nobody can connect. Raise an "
             "urgent ticket please!!"),
            {"summary": "Berlin payroll team cannot connect to SecureLink VPN since 9am", "priority": "urgent"},
        ),
        (
            "I left my work laptop on the train to Montreal last night. Log a ticket, I guess it needs to be wiped?",
            {"summary": "Work laptop lost on the train to Montreal", "priority": "urgent"},
        ),
        (
            "Could someone install Figma on my machine when you get a chance? No rush.",
            {"summary": "Request to install Figma", "priority": "low"},
        ),
        (
            "Got a new phone and ACME Verify doesn't have my account anymore, so I'm locked out of everything. help",
            {"summary": "ACME Verify MFA lost after phone change, user locked out of all accounts", "priority": "high"},
        ),
        (
            ("the wifi in the Lyon cafeteria drops every few minutes. annoying but I can work from my desk, can you "
             "get someone to fix it"),
            {"summary": "Wi-Fi in the Lyon cafeteria drops every few minutes", "priority": "normal"},
        ),
        (
            ("Hi, my second monitor flickers when plugged into the dock, the laptop screen is fine. Could you open a "
             "ticket for that? Thanks"),
            {"summary": "Second monitor flickers when connected through the dock", "priority": "normal"},
        ),
        (
            ("Room Everest projector won't detect any HDMI input, we have a client call there this afternoon, can "
             "somebody come look?"),
            {"summary": "Projector in meeting room Everest does not detect HDMI input", "priority": "normal"},
        ),
        (
            ("I think I clicked a phishing link and typed my ACME ID password on that page. Please create a ticket "
             "right away."),
            {"summary": "Possible phishing: user entered ACME ID password on a suspicious page", "priority": "urgent"},
        ),
    ],
    changes=True,  # it writes a ticket: a question never runs it
    says=("Ticket {id} is open: {summary} (priority {priority}; first response within "
          "{first_response_target}, resolution within {resolution_target})."),
)
def create_ticket(
    summary: Annotated[str, Field(min_length=5, max_length=120)],
    priority: Literal["low", "normal", "high", "urgent"] = "normal",
) -> dict[str, Any]:
    """Open a new IT help desk ticket for a problem or request the user describes.

    Args:
        summary: One line describing the problem, for example "Printer PRN-0217 in Berlin is jammed".
        priority: urgent for security incidents, lost devices or outages of a whole team; high when
            one person cannot work at all; normal when something is broken but they can still work;
            low for questions and small requests.
    """
    with closing(_connect()) as connection:
        # IMMEDIATE takes the write lock before reading the last number: no two tickets share one.
        connection.execute("BEGIN IMMEDIATE")
        try:
            (last,) = connection.execute("SELECT MAX(CAST(substr(id, 4) AS INTEGER)) FROM tickets").fetchone()
            ticket_id = f"IT-{(last or 1000) + 1:04d}"
            connection.execute(
                "INSERT INTO tickets (id, summary, priority, status, category, opened_on)"
                " VALUES (?, ?, ?, 'New', 'Other', ?)",
                (ticket_id, summary, priority, date.today().isoformat()),
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        ticket = _ticket(connection, ticket_id)
    ticket["first_response_target"], ticket["resolution_target"] = TARGETS[priority]
    if priority == "urgent":
        ticket["note"] = "Urgent issues must also be phoned in: ext. 4357, press 9 outside service hours."
    return ticket


@tool(
    examples=[
        ("How many leave days does E1234 have left?", {"employee_id": "E1234"}),
        ("holiday balance for E1999 please", {"employee_id": "E1999"}),
        ("How many vacation days do I have left? I'm E1101", {"employee_id": "E1101"}),
        ("Employee E1230 here, what's my leave balance?", {"employee_id": "E1230"}),
        ("can you check my remaining holidays, ID E1444", {"employee_id": "E1444"}),
        ("How many leave days has E1302 taken this year?", {"employee_id": "E1302"}),
        ("I am E1188. Do I still have days carried over from last year?", {"employee_id": "E1188"}),
        ("days off left for employee E1275?", {"employee_id": "E1275"}),
        ("How many days of leave do I have left? I'm E2374.", {"employee_id": "E2374"}),
        (
            "Planning two weeks in Portugal in August, do I have enough days? employee id E0891",
            {"employee_id": "E0891"},
        ),
        (
            "E3517 here — I joined in June, how much annual leave have I actually accrued so far?",
            {"employee_id": "E3517"},
        ),
        ("did my unused days from last year carry over? E1468", {"employee_id": "E1468"}),
        (
            "Could you tell me how many holidays I've already taken this year? My ID is E2905. Thanks a lot!",
            {"employee_id": "E2905"},
        ),
        ("leave balance for E4120 pls", {"employee_id": "E4120"}),
        (
            "My manager asked me to use up my days before December. Can you check what's left for employee E0637?",
            {"employee_id": "E0637"},
        ),
        (
            ("Hi! Before I book flights for my sister's wedding I'd like to know my remaining vacation days. Employee "
             "number E3082."),
            {"employee_id": "E3082"},
        ),
        (
            "I'm E1759 and about to go on parental leave, how many normal annual leave days do I still have?",
            {"employee_id": "E1759"},
        ),
        ("how much paid time off is left for E2246, taken vs remaining?", {"employee_id": "E2246"}),
    ],
    says=("Employee {employee_id} ({office}) has {remaining:g} days of annual leave left: "
          "{entitlement:g} days a year, {carried_over:g} carried over, {taken:g} taken."),
)
def leave_balance(employee_id: Annotated[str, Field(pattern=r"^E[0-9]{4}$")]) -> dict[str, Any]:
    """Look up an employee's annual leave balance for this year: days left, taken and carried over.

    Args:
        employee_id: The employee ID, "E" and four digits, for example E1001.
    """
    with closing(_connect()) as connection:
        row = connection.execute(
            "SELECT id, office, leave_entitlement, leave_taken, leave_carried_over FROM employees WHERE id = ?",
            (employee_id,),
        ).fetchone()
    if row is None:
        raise ValueError(f"no employee {employee_id}")
    return {
        "employee_id": row["id"],
        "office": row["office"],
        "entitlement": row["leave_entitlement"],
        "taken": row["leave_taken"],
        "carried_over": row["leave_carried_over"],
        "remaining": row["leave_entitlement"] + row["leave_carried_over"] - row["leave_taken"],
    }


@tool(
    examples=[
        (
            "How many working days from 2026-03-02 to 2026-03-13 in Lyon?",
            {"start": "2026-03-02", "end": "2026-03-13", "office": "lyon"},
        ),
        (
            "business days between 2026-06-01 and 2026-06-30 for Berlin",
            {"start": "2026-06-01", "end": "2026-06-30", "office": "berlin"},
        ),
        (
            "How many working days are in the period 2026-09-07 to 2026-09-18 in Berlin?",
            {"start": "2026-09-07", "end": "2026-09-18", "office": "berlin"},
        ),
        (
            "working days from 2026-11-02 to 2026-11-13, Montreal office",
            {"start": "2026-11-02", "end": "2026-11-13", "office": "montreal"},
        ),
        (
            "If I'm off from 2026-08-03 to 2026-08-14 how many work days do I use? I'm in Lyon",
            {"start": "2026-08-03", "end": "2026-08-14", "office": "lyon"},
        ),
        (
            "count business days between 2027-02-01 and 2027-02-26",
            {"start": "2027-02-01", "end": "2027-02-26", "office": "lyon"},
        ),
        (
            "How many days do I work between 2026-10-05 and 2026-10-30 in the Berlin office?",
            {"start": "2026-10-05", "end": "2026-10-30", "office": "berlin"},
        ),
        (
            "number of workdays 2027-05-03 to 2027-05-14 for Montreal",
            {"start": "2027-05-03", "end": "2027-05-14", "office": "montreal"},
        ),
        (
            "How many working days is my leave from 2025-07-14 to 2025-08-01? I'm in the Lyon office.",
            {"start": "2025-07-14", "end": "2025-08-01", "office": "lyon"},
        ),
        (
            "Berlin office: how many working days between 2026-03-02 and 2026-05-29? It's my probation period.",
            {"start": "2026-03-02", "end": "2026-05-29", "office": "berlin"},
        ),
        (
            "count the working days from 2025-12-22 to 2026-01-09 for montreal pls",
            {"start": "2025-12-22", "end": "2026-01-09", "office": "montreal"},
        ),
        (
            "My notice period runs from 2026-09-15 to 2026-11-13, how many actual working days is that?",
            {"start": "2026-09-15", "end": "2026-11-13", "office": "lyon"},
        ),
        (
            "We're scoping a project between 2027-01-04 and 2027-03-31 with the Montreal team. Number of working days?",
            {"start": "2027-01-04", "end": "2027-03-31", "office": "montreal"},
        ),
        (
            "working days between 2025-04-22 and 2025-05-16, Lyon?",
            {"start": "2025-04-22", "end": "2025-05-16", "office": "lyon"},
        ),
        (
            ("Hi, I want to request time off from 2026-12-21 to 2027-01-08. How many days would that cost me? I work "
             "in Berlin."),
            {"start": "2026-12-21", "end": "2027-01-08", "office": "berlin"},
        ),
        (
            "how many business days between 2027-05-03 and 2027-05-28?",
            {"start": "2027-05-03", "end": "2027-05-28", "office": "lyon"},
        ),
        (
            ("For a contractor's timesheet check: Berlin, from 2025-10-01 to 2025-10-31, how many working days are "
             "there?"),
            {"start": "2025-10-01", "end": "2025-10-31", "office": "berlin"},
        ),
        (
            ("New hire starts 2026-06-22, onboarding ends 2026-07-17. How many working days is that at Montreal (they "
             "have holidays around then I think)?"),
            {"start": "2026-06-22", "end": "2026-07-17", "office": "montreal"},
        ),
    ],
    says="There are {working_days} working days from {start} to {end} in {office}, public holidays left out.",
)
def working_days_between(start: date, end: date, office: Office = "lyon") -> dict[str, Any]:
    """Count the working days from one date to another, skipping weekends and the office's public holidays.

    Args:
        start: The first day, counted if it is a working day (YYYY-MM-DD).
        end: The last day, counted if it is a working day (YYYY-MM-DD).
        office: The office whose public holiday calendar applies: lyon, berlin or montreal.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    with closing(_connect()) as connection:
        first, last = connection.execute(
            "SELECT MIN(substr(day, 1, 4)), MAX(substr(day, 1, 4)) FROM public_holidays WHERE office = ?", (office,)
        ).fetchone()
        # A count that silently ignores unknown holidays would be wrong, so refuse other years.
        if start.year < int(first) or end.year > int(last):
            raise ValueError(f"public holidays are only known for {first}-{last}")
        holidays = connection.execute(
            "SELECT day, name FROM public_holidays WHERE office = ? AND day BETWEEN ? AND ? ORDER BY day",
            (office, start.isoformat(), end.isoformat()),
        ).fetchall()
    skipped = [dict(row) for row in holidays if date.fromisoformat(row["day"]).weekday() < 5]
    weekdays = sum((start + timedelta(days=n)).weekday() < 5 for n in range((end - start).days + 1))
    return {
        "office": office,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "working_days": weekdays - len(skipped),
        "holidays_skipped": skipped,
    }


@tool(
    examples=[
        ("What is 50 GBP in EUR?", {"amount": 50, "from_currency": "GBP", "to_currency": "EUR"}),
        ("convert 200 euros to Swiss francs", {"amount": 200, "from_currency": "EUR", "to_currency": "CHF"}),
        ("How much is 75 USD in euros?", {"amount": 75, "from_currency": "USD", "to_currency": "EUR"}),
        ("convert 430 CAD into EUR", {"amount": 430, "from_currency": "CAD", "to_currency": "EUR"}),
        ("What's 1000 euros in US dollars?", {"amount": 1000, "from_currency": "EUR", "to_currency": "USD"}),
        (
            "I spent 62.40 GBP on a train in London, how much is that in EUR?",
            {"amount": 62.4, "from_currency": "GBP", "to_currency": "EUR"},
        ),
        ("How many yen is 500 EUR?", {"amount": 500, "from_currency": "EUR", "to_currency": "JPY"}),
        (
            "My hotel in Zurich cost 180 CHF, what is that in euros?",
            {"amount": 180, "from_currency": "CHF", "to_currency": "EUR"},
        ),
        ("How much is 137.50 euros in Swiss francs?", {"amount": 137.5, "from_currency": "EUR", "to_currency": "CHF"}),
        (
            "I paid 18400 JPY for a hotel night in Osaka, what's that in EUR for my claim?",
            {"amount": 18400, "from_currency": "JPY", "to_currency": "EUR"},
        ),
        ("convert 64.20 USD to CAD", {"amount": 64.2, "from_currency": "USD", "to_currency": "CAD"}),
        (
            "Client dinner in London came to £212.80 — how much in euros?",
            {"amount": 212.8, "from_currency": "GBP", "to_currency": "EUR"},
        ),
        (
            "taxi in Stockholm was 485 SEK, can you give me that in euro",
            {"amount": 485, "from_currency": "SEK", "to_currency": "EUR"},
        ),
        (
            "Hi, a supplier in Warsaw invoiced us 3270 PLN. What does that come to in Canadian dollars?",
            {"amount": 3270, "from_currency": "PLN", "to_currency": "CAD"},
        ),
        ("what's 95 dollars in pounds?", {"amount": 95, "from_currency": "USD", "to_currency": "GBP"}),
        (
            "I'm in Montreal, spent 248.75 Canadian dollars on a hotel in Toronto. How much is that in US dollars?",
            {"amount": 248.75, "from_currency": "CAD", "to_currency": "USD"},
        ),
        (
            "Quick one: 1260 CHF -> SEK at the ACME rate?",
            {"amount": 1260, "from_currency": "CHF", "to_currency": "SEK"},
        ),
        (
            "Need the euro amount for a 742 zloty train ticket I bought in Poland, please.",
            {"amount": 742, "from_currency": "PLN", "to_currency": "EUR"},
        ),
    ],
    says="{amount:g} {from_currency} is {converted:g} {to_currency} (rate {rate:g}, {rate_date}).",
)
def convert_currency(
    amount: Annotated[float, Field(ge=0)], from_currency: Currency, to_currency: Currency
) -> dict[str, Any]:
    """Convert an amount of money from one currency to another at ACME's reference exchange rate.

    Args:
        amount: The amount to convert, in from_currency.
        from_currency: The currency of the amount, as an ISO code like USD.
        to_currency: The currency to convert to, as an ISO code like EUR.
    """
    with closing(_connect()) as connection:
        rates = {
            row["currency"]: row
            for row in connection.execute(
                "SELECT currency, per_eur, as_of FROM exchange_rates WHERE currency IN (?, ?)",
                (from_currency, to_currency),
            )
        }
    source, target = rates[from_currency], rates[to_currency]
    rate = target["per_eur"] / source["per_eur"]
    return {
        "amount": amount,
        "from_currency": from_currency,
        "to_currency": to_currency,
        "converted": round(amount * rate, 2),
        "rate": round(rate, 6),
        "rate_date": min(source["as_of"], target["as_of"]),
    }


@tool(
    examples=[
        ("What is the limit for taxi rides?", {"category": "taxi"}),
        ("how much can I spend on a meal?", {"category": "meals"}),
        ("What's the maximum I can expense for a hotel night?", {"category": "hotel"}),
        ("is there a limit on train tickets?", {"category": "train"}),
        ("How much can I claim per person for a business dinner with a client?", {"category": "client_entertainment"}),
        ("What is the mileage rate for using my own car?", {"category": "mileage"}),
        ("Can I book business class flights or only economy?", {"category": "flights"}),
        ("what's the budget for a home office chair or monitor?", {"category": "equipment"}),
        (
            "What's the limit for a client dinner? Taking three people from Nordwind out next week.",
            {"category": "client_entertainment"},
        ),
        ("how much can I claim for lunch on a business trip?", {"category": "meals"}),
        ("Is there a cap on hotel nights when I'm in Berlin for the workshop?", {"category": "hotel", "city": "berlin"}),
        ("What's the max I can expense for a plane ticket to Montreal? Economy only?", {"category": "flights"}),
        ("can i claim a cab from the airport, and up to how much", {"category": "taxi"}),
        (
            "Using my own car to visit a customer near Grenoble — what's the rate per kilometre?",
            {"category": "mileage"},
        ),
        (
            "Hi, my team lead said I could buy a new monitor for home office. What's the reimbursement limit for that?",
            {"category": "equipment"},
        ),
        ("Rules for train tickets? Can I book first class for Lyon–Paris?", {"category": "train"}),
        ("expense limit for meals pls", {"category": "meals"}),
        (
            "Before I order a headset and a keyboard myself, how much does ClaimIt allow for that kind of purchase?",
            {"category": "equipment"},
        ),
    ],
    says=("The {category} limit in {city} is {limit_eur:g} {unit}: {rule}",
          "The {category} limit is {limit_eur:g} {unit}: {rule}",
          "The {category} rule ({unit}): {rule}"),  # train and flights: a class of travel, no amount
)
def expense_limit(category: Category, city: HotelCity = "other") -> dict[str, Any]:
    """Look up the reimbursement limit and rules of an expense category in ClaimIt.

    Args:
        category: The ClaimIt expense category: meals, hotel, flights, train, taxi, mileage,
            client_entertainment or equipment.
        city: For a hotel, the city of the stay (the nightly limit depends on it): lyon, paris,
            berlin, munich, hamburg, frankfurt, brussels, london, zurich, montreal, toronto,
            new_york, or other for any other city.
    """
    with closing(_connect()) as connection:
        row = dict(connection.execute(
            "SELECT category, limit_eur, unit, rule FROM expense_limits WHERE category = ?", (category,)
        ).fetchone())
    if category != "hotel":
        return row
    # The hotel rule lists every city's limit, and its limit is that of the other cities: asked
    # about London, "The hotel limit is 140 EUR per night" led with the wrong figure.
    if city == "other":
        return {**row, "city": "other cities"}
    return {**row, "city": city.replace("_", " ").title(), "limit_eur": HOTEL_LIMITS[city],
            "rule": "taxes and breakfast included. Book through TripDesk."}
