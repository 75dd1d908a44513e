"""Values the user must supply: identifiers, numbers and dates come from the conversation.

A 135M model asked about "my VPN password" will happily call `ticket_status` with the
ticket id of an example it was shown. Arguments whose schema marks them as data the
user must supply — a `pattern` (ids), a number, a date — take only the values of that
form in what the user and the tools actually said (`supplied_values`): the step schema
offers those values alone when there are some (`StepParser.json_schema`), and a call
is checked against them all the same (`ungrounded_arguments`: native calls, and
arguments nobody gave a value for). An enum choice is anyone's unless the conversation
names some ("a low priority ticket", "in Montreal", "GBP in EUR"); free text is anyone's
to write, but not anyone's to copy (`slmguild.tools.abilities.ToolAbilities.described`).

The same forms work the other way round: a request that holds a ticket id in the
tool's own pattern is, almost surely, about that ticket (`supplies_arguments`).
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from langchain_core.tools import BaseTool
from text_to_num import alpha2digit

from slmguild.knowledge.words import content_words
from slmguild.tools.definition import examples_of
from slmguild.tools.steps import argument_schema

# The share of a free-text argument's words that must be the conversation's. On the 29
# labelled create_ticket prompts, 28 labels' summaries hold at least half of their words
# from the prompt; of the 18 example summaries set against each other prompt, 510 of 522 less.
OWN_WORDS = 0.5
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# What names the thing a request is about: a code (PRN-0833, SL-401) or a number in parts
# (meeting room 4.12, since 8:30).
_IDENTIFIER = re.compile(r"\b[A-Z]{1,5}-\d[\w-]*\b|\b\d+[.:]\d+\b", re.IGNORECASE)
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
# A number just before a word ("300 euros", "80CHF") or just after it ("CHF 80", "£212.80").
_NUMBER_NEXT = re.compile(r"\d\s?$")
_NUMBER_AFTER = re.compile(r"\s?\d")
_NEGATION = re.compile(r"\b(?:not|no|non|never|nothing|isn't|isnt|wasn't|without)\W+(?:\w+\W+)?$", re.IGNORECASE)
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAY = r"(?P<{}>[0-3]?\d)(?:st|nd|rd|th)?"
# What joins the two ends of a range of days: "3 to 14 August", "3-14 August".
_RANGE = r"\s*(?:-|–|to|till|until|through|and)\s*"
# The ways people write a date: 2026-06-01, 1/6/2026, 1 June 2026, the 1st of June 2026,
# June 1st, 2026, Sept. 1 2026; and without the year ("from June 1st to June 5th 2026"), or
# as a bare day before a range's end ("3 to 14 August 2026"): those take the range's year
# and month (`_dated`).
_DATE = re.compile(
    r"\b(?:(?P<iso_y>\d{4})-(?P<iso_m>\d{2})-(?P<iso_d>\d{2})"
    r"|(?P<num_a>[0-3]?\d)[/.](?P<num_b>[0-3]?\d)[/.](?P<num_y>\d{4})"
    rf"|{_DAY.format('dm_d')}(?:\s+of)?\s+(?P<dm_m>{_MONTH})\b\.?(?:,?\s+(?P<dm_y>\d{{4}}))?"
    rf"|(?P<md_m>{_MONTH})\.?\s+{_DAY.format('md_d')}(?!\d)(?:,?\s+(?P<md_y>\d{{4}}))?"
    rf"|{_DAY.format('bare_d')}(?={_RANGE}[0-3]?\d(?:st|nd|rd|th)?(?:\s+of)?\s+(?:{_MONTH})\b))",
    re.IGNORECASE,
)


@dataclass
class _Written:
    """A date as written: its year (None when left out), month (None for a bare day) and
    day; a numeric date (4/6/2026) in both orders it can be read, day first then month first."""

    match: re.Match[str]
    year: int | None
    readings: list[tuple[int | None, int]]  # (month, day)

    @classmethod
    def read(cls, match: re.Match[str]) -> _Written:
        group = match.groupdict()
        if group["iso_y"]:
            return cls(match, int(group["iso_y"]), [(int(group["iso_m"]), int(group["iso_d"]))])
        if group["num_y"]:
            a, b = int(group["num_a"]), int(group["num_b"])
            return cls(match, int(group["num_y"]), [(b, a), (a, b)])
        if group["dm_m"]:
            return cls(match, _year(group["dm_y"]), [(_month(group["dm_m"]), int(group["dm_d"]))])
        if group["md_m"]:
            return cls(match, _year(group["md_y"]), [(_month(group["md_m"]), int(group["md_d"]))])
        return cls(match, None, [(None, int(group["bare_d"]))])

    def orders(self) -> set[int]:
        """Which of its readings name a real month and day."""
        return {order for order, (month, day) in enumerate(self.readings)
                if month is not None and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]}


def _year(text: str | None) -> int | None:
    return int(text) if text else None


def _month(name: str) -> int:
    """The number of a month from its name or abbreviation (English)."""
    return [abbreviation.lower() for abbreviation in calendar.month_abbr].index(name[:3].lower())


def _dated(text: str) -> list[tuple[re.Match[str], set[date]]]:
    """Each date written in `text` and the days it can mean (none when it names no real
    day, such as 31/02, or gives no year and no other date in `text` gives one).

    A text writes its numeric dates one way: "1/6/2027 - 30/6/2027" is day first, as
    30/6 shows, so 1/6 is 1 June. A date without its year takes its range's
    (`_range_year`); a bare day, the next date's month.
    """
    written = [_Written.read(match) for match in _DATE.finditer(text)]
    clear = {next(iter(orders)) for item in written if len(item.readings) == 2 and len(orders := item.orders()) == 1}
    order = next(iter(clear)) if len(clear) == 1 else None
    found = []
    for index, item in enumerate(written):
        readings = [item.readings[order]] if len(item.readings) == 2 and order is not None else item.readings
        days = set()
        for month, day in readings:
            month = month or next((m for other in written[index + 1:] if (m := other.readings[0][0])), None)
            year = item.year or _range_year(month, day, written[index + 1:], written[:index])
            if month and year:
                with contextlib.suppress(ValueError):
                    days.add(date(year, month, day))
        found.append((item.match, days))
    return found


def _range_year(month: int | None, day: int, after: list[_Written], before: list[_Written]) -> int | None:
    """The year of a date written without one: the next real dated day's ("from May 1st to
    May 29th 2026"; the year before when it would fall after that day: "December 21st to
    January 8th 2027"), else the previous one's ("2 June 2026 and 5 June")."""
    # A year comes only from a date that is a real day: "June 1st ... 31/02/2026" has none.
    end = next((other for other in after if other.year and other.orders()), None)
    if end is not None and end.year is not None:
        end_month, end_day = end.readings[min(end.orders())]
        return end.year - 1 if month and end_month and (month, day) > (end_month, end_day) else end.year
    start = next((other for other in reversed(before) if other.year and other.orders()), None)
    return start.year if start is not None else None


def dates_in(text: str) -> list[set[date]]:
    """Each date written in `text`, as the days it can mean.

    One day, except for a numeric date such as 4/6/2026 in a text whose other dates do
    not say which order it writes them in: 4 June or 6 April, both readings are kept (and
    a reading that is no day, such as 13/14, is dropped). A date is read only with a year,
    its own or its range's (`_dated`); its day also in words ("the thirty-first of May 2026").
    """
    return [days for _match, days in _dated(alpha2digit(text, "en")) if days]


def with_iso_dates(text: str) -> str:
    """`text` with each date not written as YYYY-MM-DD followed by that form, in brackets.

    A 135M model does not turn "3 March 2027" into the `2027-03-03` a date argument
    takes: it copies a date it was shown, usually an example's. Given both, it copies
    the right one.
    """
    pieces, last = [], 0
    for match, days in _dated(text):
        if match["iso_y"] or not days:
            continue
        pieces += [text[last:match.end()], f" ({' or '.join(sorted(day.isoformat() for day in days))})"]
        last = match.end()
    return "".join(pieces) + text[last:]


def _ids(pattern: str, context: str) -> list[str]:
    """The values of `pattern` in `context`, found unanchored and in any case ("it-1046"
    is ticket IT-1046), each written the way the pattern takes it."""
    found: dict[str, None] = {}
    for match in re.finditer(pattern.removeprefix("^").removesuffix("$"), context, re.IGNORECASE):
        forms = (match[0], match[0].upper(), match[0].lower())
        found[next((form for form in forms if re.fullmatch(pattern, form)), match[0])] = None
    return list(found)


def named_choices(choices: Sequence[Any], context: str) -> list[Any]:
    """The `choices` (an enum's values) that `context` names, in the order it first names
    them: "85.50 GBP in EUR" names GBP, then EUR; "client_entertainment" is named as
    "client entertainment"; a currency code also by its English names and symbol
    (`_spellings`). A choice named only after a negation ("not urgent") is not named."""
    found: dict[Any, int] = {}
    for choice, pattern in _spellings(tuple(choices)).items():
        for match in pattern.finditer(context):
            if not _NEGATION.search(context[max(0, match.start() - 12):match.start()]):
                found[choice] = match.start()
                break
    return sorted(found, key=found.__getitem__)


@functools.lru_cache(maxsize=256)
def _spellings(choices: tuple[Any, ...]) -> dict[Any, re.Pattern[str]]:
    """For each choice, a pattern of the ways a text names it. An enum of ISO 4217 currency
    codes is also named by each currency's English names and symbol (Babel's CLDR data:
    "euros", "Swiss francs", "Canadian dollars", "£", "¥") and by the last word of its
    name where no other choice shares it ("yen", "pounds"; not "dollars")."""
    names = {choice: [str(choice).replace("_", " ")] for choice in choices}
    if all(isinstance(choice, str) and _CURRENCY_CODE.fullmatch(choice) for choice in choices):
        from babel.numbers import get_currency_name, get_currency_symbol

        spelled = {code: [get_currency_name(code, locale="en"), get_currency_name(code, count=2, locale="en")]
                   for code in choices if get_currency_name(code, locale="en") != code}
        last_words = [name.split()[-1].lower() for name, _ in spelled.values()]
        for code, (name, plural) in spelled.items():
            unique = last_words.count(name.split()[-1].lower()) == 1
            short = [name.split()[-1], plural.split()[-1]] if unique else []
            names[code] += [name, plural, *short, get_currency_symbol(code, locale="en")]
    return {choice: re.compile("|".join(_as_pattern(spelling) for spelling in spellings), re.IGNORECASE)
            for choice, spellings in names.items()}


def _as_pattern(spelling: str) -> str:
    """A spelling as a regex: words whole (any run of spaces, "_" or "-" between them; a
    word of a compound that qualifies the next, "a low-priority ticket", but not one that
    qualifies it, "non-urgent"), a symbol anywhere ("£187")."""
    if not spelling[:1].isalnum():
        return re.escape(spelling)
    return r"(?<![\w-])" + re.escape(spelling).replace(r"\ ", r"[\s_-]+") + r"(?!\w)"


def supplied_values(item: BaseTool, context: str, *, said: str | None = None) -> dict[str, list[Any]]:
    """For each argument of `item` the user must supply, the values `context` holds for it.

    Those arguments are ids (a `pattern`), dates (`format: date`, given as YYYY-MM-DD
    whatever form they were written in) and numbers; free text is anyone's to write, and
    an enum choice anyone's to make unless the user names some in `said` (default:
    `context`; a document quoted in an answer names priorities nobody chose) — then
    only those (`named_choices`). Arguments that share a kind take the values in order when there are
    exactly as many: "from 21 December to 8 January" starts on the earlier day, "GBP in
    EUR" converts from GBP. Numbers written in words count as theirs ("two hundred dollars"
    is 200; text2num leaves "one" and "two" words, which are rarely amounts).
    """
    context = alpha2digit(context, "en")
    numbers = sorted({float(n) for n in _NUMBER.findall(re.sub(r"(?<=\d),(?=\d{3})", "", context))})
    properties = argument_schema(item).get("properties", {})
    values: dict[str, list[Any]] = {}
    for name, spec in properties.items():
        kinds = {spec.get("type")} | {option.get("type") for option in spec.get("anyOf", [])}
        if spec.get("format") == "date":
            values[name] = sorted({day.isoformat() for days in dates_in(context) for day in days})
        elif "pattern" in spec:
            values[name] = _ids(spec["pattern"], context)
        elif "enum" in spec:
            if named := named_choices(spec["enum"], context if said is None else said):
                values[name] = named
            elif "default" in spec and _named_when_chosen(item, name, spec):
                values[name] = [spec["default"]]
        elif kinds & {"number", "integer"}:
            whole = "number" not in kinds
            values[name] = [int(n) if n.is_integer() else n for n in numbers if n.is_integer() or not whole]
    for kind, names in _same_kind(properties).items():
        options = values.get(names[0], [])
        if len(names) < 2 or any(values.get(name) != options for name in names):
            continue
        if len(options) == len(names):
            if kind != "date":
                options = _beside_a_number_first(options, properties[names[0]]["enum"], context)
            values.update({name: [option] for name, option in zip(names, options, strict=True)})
        elif kind != "date":  # "120 USD to euros" names one currency of two: which one, the model says
            for name in names:
                values.pop(name, None)
    return values


def _beside_a_number_first(named: list[Any], choices: Sequence[Any], context: str) -> list[Any]:
    """`named` (choices `context` names, in the order written), the one written beside a
    number first when just one is: it qualifies that number. "How many Swiss francs for 300
    euros?" converts euros, "the euro amount of a 742 zloty ticket" converts zloty."""
    patterns = _spellings(tuple(choices))
    beside = [choice for choice in named
              if any(_NUMBER_NEXT.search(context[max(0, match.start() - 2):match.start()])
                     or _NUMBER_AFTER.match(context, match.end()) for match in patterns[choice].finditer(context))]
    return [*beside, *(choice for choice in named if choice not in beside)] if len(beside) == 1 else named


def _named_when_chosen(item: BaseTool, name: str, spec: Mapping[str, Any]) -> bool:
    """Whether each labelled request of `item` that chooses other than the default for
    argument `name` names its choice (and one does): then a request that names none keeps
    the default. An office is named ("in the Berlin office"); a ticket's priority is often
    judged ("my laptop was stolen" is urgent), and stays the model's choice."""
    chosen = [(request, arguments[name]) for request, arguments in examples_of(item)
              if arguments.get(name, spec["default"]) != spec["default"]]
    return bool(chosen) and all(value in named_choices(spec["enum"], request) for request, value in chosen)


def _same_kind(properties: Mapping[str, Any]) -> dict[str, list[str]]:
    """The arguments that take values of one kind (dates; one enum's choices), by kind, in order."""
    kinds: dict[str, list[str]] = {}
    for name, spec in properties.items():
        if spec.get("format") == "date":
            kinds.setdefault("date", []).append(name)
        elif "enum" in spec:
            kinds.setdefault(repr(spec["enum"]), []).append(name)
    return kinds


def ungrounded_arguments(item: BaseTool, arguments: dict[str, Any], supplied: Mapping[str, list[Any]]) -> list[str]:
    """The `name=value` of each argument the user must supply whose value is not among
    those the conversation holds (`supplied`, from `supplied_values`)."""
    properties = argument_schema(item).get("properties", {})
    missing = []
    for name, value in arguments.items():
        spec = properties.get(name, {})
        if name not in supplied or ("default" in spec and spec["default"] == value):
            continue  # anyone's choice, or the model kept the default: nothing was made up
        if isinstance(value, int | float) and not isinstance(value, bool):
            grounded = float(value) in {float(v) for v in supplied[name] if isinstance(v, int | float)}
        else:
            grounded = str(value).lower() in {str(v).lower() for v in supplied[name]}
        if not grounded:
            missing.append(f"{name}={value!r}")
    return missing


def supplies_arguments(item: BaseTool, text: str) -> bool | None:
    """Whether `text` holds a value for each required argument of `item` that has a form.

    A form is a `pattern` (an id) or a date; as many dates as the tool requires. None
    for a tool without such arguments — free text, numbers, enum choices only: nothing
    in a request tells those apart from chat.
    """
    schema = argument_schema(item)
    properties = schema.get("properties", {})
    formed = [
        name
        for name in schema.get("required", [])
        if "pattern" in properties[name] or properties[name].get("format") == "date"
    ]
    if not formed:
        return None
    supplied = supplied_values(item, text)
    dates = sum(properties[name].get("format") == "date" for name in formed)
    return all(supplied.get(name) for name in formed) and len(dates_in(text)) >= dates


def free_text(spec: Mapping[str, Any]) -> bool:
    """Whether an argument's schema takes free text: a string with no enum, pattern or format."""
    return spec.get("type") == "string" and not {"enum", "pattern", "format", "const"} & spec.keys()


def borrowed(text: str, said: str) -> bool:
    """Whether free text the model wrote is mostly not in the words of `said` (the
    conversation), or holds a number `said` does not: a 135M model fills a ticket's summary
    with a demonstration's ("Outlook crashes at start, cannot read mail" for a VPN failure),
    makes figures up ("Sales team down for 12 hours") and cuts them ("meeting room 3." of
    room 3.12)."""
    if set(_NUMBER.findall(text)) - set(_NUMBER.findall(said)):
        return True
    words = set(content_words(text))
    return bool(words) and len(words & set(content_words(said))) / len(words) < OWN_WORDS


def leaves_out_identifiers(text: str, described: str) -> bool:
    """Whether free text leaves out a code or a number in parts that `described` (what the
    request describes) holds: "Wi-Fi in the Berlin meeting room drops" is about no room
    when the user wrote room 4.12."""
    return bool({found.lower() for found in _IDENTIFIER.findall(described)}
                - {found.lower() for found in _IDENTIFIER.findall(text)})
