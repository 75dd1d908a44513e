"""A real, headless Chromium for tests of the web page (driven by Selenium).

`headless_chromium()` starts Chromium through chromedriver, both the system's (Debian's
packages `chromium` and `chromium-driver`), and yields a Selenium WebDriver; it quits the
browser on exit. The `browser` fixture wraps it for one test; a test module imports it:

    from tests.browser import browser  # noqa: F401

Where the browser or its driver is missing the fixture skips, unless
SLMGUILD_REQUIRE_BROWSER=1 (CI sets it) makes it fail, so that CI can never silently skip
the browser tests. Selenium is given both paths, so it never tries to download a browser
or a driver (Selenium Manager): the tests run offline.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

INSTALL_HINT = "install them: apt-get install chromium chromium-driver (Debian/Ubuntu)"
# Only Chromium: its driver must be of the browser's own version, as Debian's packages are.
BINARIES = ("chromium", "chromedriver")
WINDOW_SIZE = (1280, 900)


class BrowserUnavailable(RuntimeError):
    """No Chromium or no chromedriver on this machine."""


def browser_binaries() -> tuple[Path, Path]:
    """The paths of Chromium and of chromedriver, found on PATH."""
    found = {name: shutil.which(name) for name in BINARIES}
    if missing := [name for name, path in found.items() if path is None]:
        raise BrowserUnavailable(f"{' and '.join(missing)} not found on PATH; {INSTALL_HINT}")
    return Path(found["chromium"]), Path(found["chromedriver"])


@contextmanager
def headless_chromium() -> Iterator[webdriver.Chrome]:
    """Start a headless Chromium (a fresh profile, 1280x900) and yield its WebDriver."""
    chromium, chromedriver = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # the sandbox cannot start as root, nor in most containers
        "--disable-dev-shm-usage",  # a container's /dev/shm is often too small for Chromium
        "--disable-gpu",
        "--no-first-run",
        f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(chromedriver)))
    try:
        yield driver
    finally:
        driver.quit()


def require_browser() -> None:
    """Skip the test where no browser can be run, or fail it under SLMGUILD_REQUIRE_BROWSER=1."""
    try:
        browser_binaries()
    except BrowserUnavailable as exc:
        if os.environ.get("SLMGUILD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{exc} (SLMGUILD_REQUIRE_BROWSER=1: the browser tests must run)")
        pytest.skip(str(exc))


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """A headless Chromium WebDriver for one test: a fresh profile, so no state leaks
    (cookies, sessionStorage, window size) from one test to the next."""
    require_browser()
    with headless_chromium() as driver:
        yield driver
