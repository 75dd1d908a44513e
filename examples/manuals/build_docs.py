"""Rebuild this guild's documents from a Debian machine's own files.

The man pages are rendered as `man` shows them in an 80-column terminal (hard-wrapped,
justified, hyphenated at line ends); the PDF manuals are copied as Debian ships them.
Each package's copyright file goes to `licenses/`. Run from anywhere:

    python examples/manuals/build_docs.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent
MAN_PAGES = {  # page (section) -> the Debian package whose copyright covers it
    ("gzip", "1"): "gzip",
    ("grep", "1"): "grep",
    ("tar", "1"): "tar",
    ("less", "1"): "less",
    ("ssh_config", "5"): "openssh-client",
}
PDFS = {
    "/usr/share/doc/libtasn1-doc/libtasn1.pdf": "libtasn1-doc",
    "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf": "shared-mime-info",
}


def main() -> None:
    environment = {**os.environ, "MANWIDTH": "80", "LANG": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    (HERE / "docs" / "commands").mkdir(parents=True, exist_ok=True)
    (HERE / "docs" / "specs").mkdir(parents=True, exist_ok=True)
    (HERE / "licenses").mkdir(exist_ok=True)
    for (page, section), package in MAN_PAGES.items():
        rendered = subprocess.run(["man", "-P", "cat", section, page], env=environment, check=True,
                                  capture_output=True, text=True).stdout
        (HERE / "docs" / "commands" / f"{page}.{section}.txt").write_text(rendered, encoding="utf-8")
    for path, package in PDFS.items():
        shutil.copyfile(path, HERE / "docs" / "specs" / Path(path).name)
    for package in {*MAN_PAGES.values(), *PDFS.values()}:
        shutil.copyfile(f"/usr/share/doc/{package}/copyright", HERE / "licenses" / f"{package}.copyright")


if __name__ == "__main__":
    main()
