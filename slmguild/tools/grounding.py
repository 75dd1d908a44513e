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
import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from langchain_core.tools import BaseTool

from slmguild.knowledge.words import content_words
from slmguild.tools.definition import examples_of
from slmguild.tools.steps import argument_schema

# The share of a free-text argument's words that must be the conversation's. On the 29
# labelled create_ticket prompts, 28 labels' summaries hold at least half of their words
# from the prompt; of the 18 example summaries set against each other prompt, 510 of 522 less.
OWN_WORDS = 0.5
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")
_NEGATION = re.compile(r"\b(?:not|no|non|never|nothing|isn't|isnt|wasn't|without)\W+(?:\w+\W+)?$", re.IGNORECASE)
_MONTH = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DAY = r"(?P<{}>[0-3]?\d)(?:st|nd|rd|th)?"
# The ways people write a date with its year: 2026-06-01, 1/6/2026, 1 June 2026, the 1st of
# June 2026, June 1st, 2026, Sept. 1 2026.
_DATE = re.compile(
    r"\b(?:(?P<iso_y>\d{4})-(?P<iso_m>\d{2})-(?P<iso_d>\d{2})"
    r"|(?P<num_a>[0-3]?\d)[/.](?P<num_b>[0-3]?\d)[/.](?P<num_y>\d{4})"
    rf"|{_DAY.format('dm_d')}(?:\s+of)?\s+(?P<dm_m>{_MONTH})\.?,?\s+(?P<dm_y>\d{{4}})"
    rf"|(?P<md_m>{_MONTH})\.?\s+{_DAY.format('md_d')},?\s+(?P<md_y>\d{{4}}))\b",
    re.IGNORECASE,
)


def _month(name: str) -> int:
    """The number of a month from its name or abbreviation (English)."""
    return [abbreviation.lower() for abbreviation in calendar.month_abbr].index(name[:3].lower())


def _days(match: re.Match[str]) -> set[date]:
    """The days a matched date can mean (none when it names no real day, such as 31/02)."""
    group = match.groupdict()
    if group["iso_y"]:
        readings = [(group["iso_y"], group["iso_m"], group["iso_d"])]
    elif group["num_y"]:
        a, b, year = group["num_a"], group["num_b"], group["num_y"]
        readings = [(year, b, a), (year, a, b)]  # day first (Europe), month first (US)
    elif group["dm_y"]:
        readings = [(group["dm_y"], _month(group["dm_m"]), group["dm_d"])]
    else:
        readings = [(group["md_y"], _month(group["md_m"]), group["md_d"])]
    days = set()
    for year, month, day in readings:
        try:
            days.add(date(int(year), int(month), int(day)))
        except ValueError:
            continue
    return days


def dates_in(text: str) -> list[set[date]]:
    """Each date written in `text` with its year, as the days it can mean.

    One day, except for a numeric date such as 4/6/2026, which is 4 June or 6 April:
    both readings are kept (and a reading that is no day, such as 13/14, is dropped).
    """
    return [days for match in _DATE.finditer(text) if (days := _days(match))]


def with_iso_dates(text: str) -> str:
    """`text` with each date not written as YYYY-MM-DD followed by that form, in brackets.

    A 135M model does not turn "3 March 2027" into the `2027-03-03` a date argument
    takes: it copies a date it was shown, usually an example's. Given both, it copies
    the right one.
    """

    def annotate(match: re.Match[str]) -> str:
        days = _days(match)
        if match["iso_y"] or not days:
            return match[0]
        return f"{match[0]} ({' or '.join(sorted(day.isoformat() for day in days))})"

    return _DATE.sub(annotate, text)


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
    """A spelling as a regex: words whole (any run of spaces, "_" or "-" between them), a
    symbol anywhere ("£187")."""
    if not spelling[:1].isalnum():
        return re.escape(spelling)
    return r"(?<![\w-])" + re.escape(spelling).replace(r"\ ", r"[\s_-]+") + r"(?![\w-])"


def supplied_values(item: BaseTool, context: str, *, said: str | None = None) -> dict[str, list[Any]]:
    """For each argument of `item` the user must supply, the values `context` holds for it.

    Those arguments are ids (a `pattern`), dates (`format: date`, given as YYYY-MM-DD
    whatever form they were written in) and numbers; free text is anyone's to write, and
    an enum choice anyone's to make unless the user names some in `said` (default:
    `context`; a document quoted in an answer names priorities nobody chose) — then
    only those (`named_choices`). Arguments that share a kind take the values in order when there are
    exactly as many: "from 21 December to 8 January" starts on the earlier day, "GBP in
    EUR" converts from GBP.
    """
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
            values.update({name: [option] for name, option in zip(names, options, strict=True)})
        elif kind != "date":  # "120 USD to euros" names one currency of two: which one, the model says
            for name in names:
                values.pop(name, None)
    return values


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
    conversation): a 135M model fills a ticket's summary with a demonstration's
    ("Outlook crashes at start, cannot read mail" for a VPN failure)."""
    words = set(content_words(text))
    return bool(words) and len(words & set(content_words(said))) / len(words) < OWN_WORDS
