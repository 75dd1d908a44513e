"""Documents as people have them: wrapped text, a man page and a real PDF become whole
sentences under their headings (exact cases)."""

from __future__ import annotations

from pathlib import Path

from slmguild.knowledge.chunks import Hit, chunk_file
from slmguild.knowledge.layout import document_markdown, join_lines, laid_out_markdown, markdown_paragraphs
from slmguild.knowledge.passages import split_passages
from slmguild.knowledge.sentences import split_sentences

MANUALS = Path(__file__).resolve().parents[1] / "examples" / "manuals" / "docs"

# As `man` renders it in 80 columns: justified, hyphenated with U+2010 at line ends.
MAN_PAGE = """\
GZIP(1)                     General Commands Manual                    GZIP(1)

NAME
       gzip, gunzip, zcat - compress or expand files

OPTIONS
       -k --keep
              Keep  (don't  delete)  input  files during compression or decom\u2010
              pression.

       R      Repaint  the  screen, discarding any buffered input.  For MS\u2010
              DOS, CR LF is converted to LF.

   Basic Regular Expressions
       The  default  compression  level  is  -6  (that  is,  biased towards
       high compression at expense of speed).

                                     local                             GZIP(1)
"""


def test_hard_wrapped_lines_are_joined_and_line_end_hyphenation_undone():
    assert join_lines(["Keep  (don't  delete)  input files during decom\u2010", "pression."]) == (
        "Keep (don't delete) input files during decompression.")
    assert join_lines(["For MS\u2010", "DOS, CR LF"]) == "For MS-DOS, CR LF"  # a real hyphen stays
    assert join_lines(["struc- ", "tures man-", "agement"]) == "structures management"
    text = "A paragraph that was\nwrapped by its author.\n\n- an item that\n  goes on\n\n# Heading\nNext.\n"
    assert markdown_paragraphs(text) == (
        "A paragraph that was wrapped by its author.\n\n- an item that goes on\n\n# Heading\nNext.\n")


def test_a_man_page_becomes_sections_option_terms_and_whole_sentences():
    markdown = laid_out_markdown(MAN_PAGE, title="gzip(1)")
    assert markdown.split("\n\n") == [
        "# gzip(1)",
        "## NAME",
        "gzip, gunzip, zcat - compress or expand files",
        "## OPTIONS",
        "### -k --keep",
        "Keep (don't delete) input files during compression or decompression.",
        "### R",
        "Repaint the screen, discarding any buffered input. For MS-DOS, CR LF is converted to LF.",
        "### Basic Regular Expressions",
        "The default compression level is -6 (that is, biased towards high compression at expense of speed).\n",
    ]


def test_a_real_man_page_file_gives_passages_under_their_option():
    chunks = chunk_file(MANUALS / "commands" / "gzip.1.txt", "docs/commands/gzip.1.txt", chunk_size=256,
                        chunk_overlap=0)
    assert chunks[0].title == "gzip(1)"
    keep = next(chunk for chunk in chunks if chunk.heading == "-k --keep")
    shown = [passage.shown for passage in split_passages(Hit(keep, 1.0, 1))]
    assert shown == ["-k --keep: Keep (don't delete) input files during compression or decompression."]


def test_a_real_pdf_keeps_its_outline_as_headings_and_its_paragraphs_whole():
    markdown = document_markdown(MANUALS / "specs" / "shared-mime-info-spec.pdf")
    paragraphs = markdown.split("\n\n")
    assert "### 1.1. Version" in paragraphs and "### 2.4. The glob files" in paragraphs
    assert ("This is version 0.21 of the Shared MIME-info Database specification, last updated 2 October 2018."
            in paragraphs)
    # Running heads and page numbers are gone; a paragraph is one line, however many it had.
    assert "Shared MIME-info Database" not in paragraphs and not any(p.strip().isdigit() for p in paragraphs)
    assert all("\n" not in p.strip() for p in paragraphs)


def test_one_sentence_splitter_keeps_abbreviations_before_figures():
    assert split_sentences("Call ext. 4357 now. Then use e.g. Berlin. It is No. 5 vs. 6.") == [
        "Call ext. 4357 now.", "Then use e.g. Berlin.", "It is No. 5 vs. 6."]
    # A numbered section's heading before its text (PDF manuals) ends no sentence.
    assert split_sentences("2.1. The package files: Run update-mime-database. Then log in.") == [
        "2.1. The package files: Run update-mime-database.", "Then log in."]
