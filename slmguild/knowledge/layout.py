"""Documents as people have them, turned into Markdown with one paragraph per line.

Man pages rendered as text, PDF text layers and plain text files are *laid out*: a sentence
runs over several physical lines, justified with double spaces, hyphenated at line ends;
sections are marked by indentation or numbering, not by `#`. Everything downstream
(chunking at headings, passages, the answer check) reads a paragraph as one line and a
heading as a Markdown heading, so every format is brought to that shape first:

- lines inside a paragraph are joined, line-end hyphenation undone, whitespace normalised;
- headings are recognised where the layout has them: a man page's sections (less indented
  than the body) and its option terms (a short line whose description is indented under
  it, or beside it), numbered sections ("2.3. The glob files"), ALL-CAPS lines alone, and
  a PDF's outline entries;
- list items ("•", "-", "1.") stay items, each on one line.

PDFs are read with pypdf's layout mode, which keeps indentation and turns vertical gaps
into blank lines, so a PDF page is laid-out text too. Markdown and HTML (through
markdownify) keep their headings; only their hard-wrapped paragraphs are joined.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_SPACES = re.compile(r"[ \t\u00a0]+")
_BULLET = re.compile(r"^(?:[•·◦▪‣∙*o-]|\d{1,2}[.)])\s+(?=\S)")
_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)\.?\s+[A-Z\"'(<]")
_MAN_FRAME = re.compile(r"^\S+\(\d\w*\)\s{2,}.*\S+\(\d\w*\)$|^\S.*\s{3,}\S+\(\d\w*\)$")
_MAN_TITLE = re.compile(r"^(\S+)\((\d\w*)\)\s")
_LEADER_DOTS = re.compile(r"(?:\.\s?){6,}")  # a table of contents' or an index's line
_SENTENCE_END = re.compile(r"[.:!?]['\")]?$")
# A hyphen at a line's end: groff writes U+2010 both where it breaks a word and in a
# hyphenated word ("MS-DOS"), PDFs an ASCII hyphen or a soft hyphen.
_LINE_END_HYPHEN = re.compile(r"(?<=[A-Za-z])[\u2010\u00ad-]$")
_MARKDOWN_BLOCK = re.compile(r"^\s{0,3}(?:#{1,6}\s|[-*+]\s|\d{1,2}[.)]\s|>|\||```|~~~)")
_MAX_HEADING = 80  # characters: longer lines are text, not headings
_SHORT_LINE = 0.7  # of the margin: a filled line reaches further (words are shorter than 30%)
_MAX_TERM = 48  # characters: a definition list's term (an option and its arguments)


@dataclass(frozen=True)
class Line:
    """A physical line: its indentation (in columns) and its text, spaces as printed."""

    indent: int
    text: str

    @classmethod
    def of(cls, raw: str) -> Line:
        expanded = raw.expandtabs(8).rstrip()
        stripped = expanded.lstrip()
        return cls(len(expanded) - len(stripped), stripped)


def join_lines(lines: Iterable[str]) -> str:
    """The lines of one paragraph as one line: hyphenation at line ends undone, runs of
    spaces (justification) made one."""
    joined = ""
    for line in lines:
        line = _SPACES.sub(" ", line).strip()
        if not line:
            continue
        if _LINE_END_HYPHEN.search(joined) and line[:1].islower() and (joined[-1] != "-" or joined[-2].islower()):
            joined = joined[:-1] + line  # a word broken across lines: "man-" + "agement"
        elif joined.endswith("\u2010"):
            joined += line  # a hyphenated word broken at its hyphen: "MS-" + "DOS"
        else:
            joined = f"{joined} {line}" if joined else line
    return joined.replace("\u2010", "-").replace("\u00ad", "")


def laid_out_markdown(text: str, *, title: str = "", known_headings: Sequence[tuple[str, int]] = ()) -> str:
    """Laid-out text (a man page, a PDF's text layer, a hard-wrapped file) as Markdown.

    `known_headings` are (title, level from 1) pairs that are headings wherever a line
    reads exactly so — a PDF's outline; `title` becomes the `#` heading.
    """
    lines = [Line.of(raw) for raw in text.splitlines()]
    lines = [line for line in lines if not _MAN_FRAME.match(line.text) and not _LEADER_DOTS.search(line.text)]
    known = {_key(heading): level for heading, level in known_headings}
    body = _body_indent(lines)
    width = _margin(lines)
    out: list[str] = [f"# {title}"] if title else []
    section_level = 1  # the level of the last section heading: terms go one below it
    paragraph: list[str] = []
    paragraph_indent = 0

    def flush() -> None:
        if text := join_lines(paragraph):
            out.append(_escape(text))
        paragraph.clear()

    previous_blank = True  # the line before was blank, a heading or a term: a block may start
    for index, line in enumerate(lines):
        following = next((later for later in lines[index + 1:] if later.text), None)
        if not line.text:
            flush()
            previous_blank = True
            continue
        term = _term(line, following, previous_blank, beside=True)
        level = 0 if term else _heading_level(line, following, previous_blank, body, known)
        if level:
            flush()
            section_level = level
            out.append(f"{'#' * level} {join_lines([line.text])}")
            previous_blank = True
            continue
        term = term or _term(line, following, previous_blank, beside=False)
        if term is not None:
            flush()
            name, rest = term
            out.append(f"{'#' * min(section_level + 1, 6)} {join_lines([name])}")
            paragraph.append(rest)
            paragraph_indent = following.indent if following else line.indent
            previous_blank = False
            continue
        if _BULLET.match(line.text) or (paragraph and _short(lines[index - 1], width)):
            flush()
        elif paragraph and line.indent > paragraph_indent + 1 and not _BULLET.match(paragraph[0]):
            flush()  # an indented first line opens a new paragraph (PDFs, plain text)
        previous_blank = False
        if not paragraph:
            paragraph_indent = line.indent
        paragraph.append(_BULLET.sub("- ", line.text) if _BULLET.match(line.text) else line.text)
    flush()
    return "\n\n".join(out) + "\n"


def document_markdown(path: Path) -> str:
    """Any supported document as Markdown with one paragraph per line, by its suffix:
    Markdown as written, HTML through markdownify, PDF through its text layer, anything
    else as laid-out text (a man page rendered by `man` included)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return pdf_markdown(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        return markdown_paragraphs(html_markdown(text))
    if suffix in (".md", ".markdown"):
        return markdown_paragraphs(text)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    page = _MAN_TITLE.match(first)  # "GZIP(1)  General Commands Manual  GZIP(1)"
    title = f"{page.group(1).lower()}({page.group(2)})" if page else ""
    return laid_out_markdown(text, title=title)


def markdown_paragraphs(markdown: str) -> str:
    """Markdown with its hard-wrapped paragraphs (and list items) joined into one line each;
    headings, tables, quotes and code blocks kept as they are."""
    out: list[str] = []
    in_code = False
    for raw in markdown.splitlines():
        stripped = raw.strip()
        if stripped.startswith(("```", "~~~")):
            in_code = not in_code
            out.append(raw)
        elif in_code or not stripped or _MARKDOWN_BLOCK.match(raw) or not out or not out[-1].strip() \
                or out[-1].lstrip().startswith(("#", "|", "```", "~~~")):
            out.append(raw.rstrip())
        else:  # a continuation line: it belongs to the paragraph or item above
            indent = len(out[-1]) - len(out[-1].lstrip())
            out[-1] = " " * indent + join_lines([out[-1], stripped])
    return "\n".join(out) + "\n"


def pdf_markdown(path: Path) -> str:
    """A PDF's text layer as Markdown: pypdf's layout mode per page, running heads and page
    numbers dropped, the outline's entries as headings."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    pages = [page.extract_text(extraction_mode="layout") for page in reader.pages]
    running = _running_lines(pages)
    kept = "\n\n".join(
        "\n".join(line for line in page.splitlines() if _key(line) not in running) for page in pages
    )
    title = (reader.metadata.title if reader.metadata else None) or path.stem.replace("-", " ").replace("_", " ")
    return laid_out_markdown(kept, title=str(title), known_headings=list(_outline(reader.outline, reader)))


def html_markdown(html: str) -> str:
    """An HTML page as Markdown (markdownify): scripts and styles dropped, its <title> the
    `#` heading when the page has no <h1> of its own."""
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for invisible in soup(["script", "style", "noscript", "template"]):
        invisible.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    if soup.head:
        soup.head.decompose()
    markdown = MarkdownConverter(heading_style="ATX").convert_soup(soup).strip()
    if title and not markdown.startswith("# "):
        markdown = f"# {title}\n\n{markdown}"
    return markdown


def _outline(entries: Sequence[object], reader: object, level: int = 2) -> Iterable[tuple[str, int]]:
    for entry in entries:
        if isinstance(entry, list):
            yield from _outline(entry, reader, level + 1)
        elif title := getattr(entry, "title", None):
            yield str(title), level


def _running_lines(pages: Sequence[str]) -> set[str]:
    """Lines that recur on a third of the pages or more once digits are ignored (running
    heads and feet, "Chapter 4: Function reference 18"), and lone page numbers."""
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({_key(re.sub(r"\d+", "", line)) for line in page.splitlines() if line.strip()})
    recurring = {key for key, count in counts.items() if len(pages) > 2 and count >= max(3, len(pages) / 3)}
    return {
        _key(line) for page in pages for line in page.splitlines()
        if line.strip() and (_key(re.sub(r"\d+", "", line)) in recurring or line.strip().isdigit())
    }


def _key(text: str) -> str:
    return _SPACES.sub(" ", text).strip().lower()


def _body_indent(lines: Sequence[Line]) -> int:
    """The indentation most text lines have: less than it marks a section heading."""
    counts = Counter(line.indent for line in lines if len(line.text) > _MAX_HEADING // 2)
    return counts.most_common(1)[0][0] if counts else 0


def _heading_level(line: Line, following: Line | None, previous_blank: bool, body: int,
                   known: dict[str, int]) -> int:
    """The Markdown level of `line` as a heading, 0 when it is not one."""
    text = line.text
    if _key(text) in known:
        return min(known[_key(text)], 6)
    alone = previous_blank and (following is None or following.indent >= line.indent)
    if not alone or len(text) > _MAX_HEADING or _SENTENCE_END.search(text) or _BULLET.match(text):
        return 0
    if body and line.indent < body and (following is None or following.indent > line.indent):
        # a man page's section (SH, at the margin), subsection (SS, a few columns in), or a
        # term deeper in (an option, described under it)
        return 2 if line.indent == 0 else 3 if line.indent <= 4 else 4
    if match := _NUMBERED_HEADING.match(text):
        return min(2 + match.group(1).count("."), 6)
    if text.isupper() and len(text.split()) <= 6 and any(c.isalpha() for c in text):
        return 2
    return 0


def _term(line: Line, following: Line | None, previous_blank: bool, *, beside: bool) -> tuple[str, str] | None:
    """(term, the start of its description) where `line` names what the lines indented
    under it describe: an option of a man page written above its description ("-k,
    --keep"), or `beside` it ("R      Repaint the screen"); None otherwise."""
    if not previous_blank or following is None or following.indent <= line.indent + 1 or _BULLET.match(line.text):
        return None
    if beside:  # the description starts on this line, in the column of the lines under it
        column = following.indent - line.indent
        name, rest = line.text[:column], line.text[column:]
        if column <= _MAX_TERM and name.endswith(" ") and rest[:1].strip() and not _SENTENCE_END.search(name.strip()):
            return name.strip(), rest
        return None
    if len(line.text) <= _MAX_TERM and not _SENTENCE_END.search(line.text):
        return line.text, ""
    return None


def _margin(lines: Sequence[Line]) -> int:
    """Where filled lines end: the 90th percentile of line ends (a long code line aside)."""
    ends = sorted(line.indent + len(line.text) for line in lines if line.text)
    return ends[int(0.9 * (len(ends) - 1))] if ends else 0


def _short(line: Line, margin: int) -> bool:
    """A line that stops well short of the margin was broken by its author, not by the
    filling: it ends its paragraph (PDF text has no blank line between paragraphs), or it
    is one of a list of short lines ("ratio: compression ratio")."""
    return line.indent + len(line.text) < _SHORT_LINE * margin


def _escape(paragraph: str) -> str:
    """A paragraph that starts like a Markdown heading or rule is not one."""
    return "\\" + paragraph if paragraph.startswith(("#", "---", "===")) else paragraph
