"""The web chat page in a real headless browser, served by the real server with the
example guild's real model: a question streams its answer with the answering expert's
badge and a trace that cites the VPN document; the session is listed and comes back on
a reload; a phone-sized window does not scroll sideways. A multi-expert turn keeps its
Plan once it is done, and a call that waits for approval shows Approve / Refuse, which
answer it (a scripted model there: the page's logic is what is tested)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

import slmguild
from slmguild.server.app import create_app
from slmguild.server.users import KeyStore
from slmguild.testing import ScriptedModel, StepReply
from slmguild.testing.steps import ANSWER_STEP, tool_step
from tests.browser import browser, require_browser  # noqa: F401  (fixture)
from tests.http_server import serving

pytestmark = pytest.mark.integration

QUESTION = "How do I reset my VPN password?"
ANSWER_TIMEOUT_S = 180  # the first request also loads the model and the embedder
NARROW = (400, 800)

# Installed before the question is sent: the answer's length at each change of the page
# while the turn is still streaming. More than one length means it arrived in pieces.
WATCH_STREAMING = """
window.streamedLengths = [];
new MutationObserver(() => {
  const turn = [...document.querySelectorAll("article.turn")].pop();
  if (turn?.dataset.state !== "streaming") return;
  const length = turn.querySelector(".answer").textContent.length;
  if (length) window.streamedLengths.push(length);
}).observe(document.body, { subtree: true, childList: true, characterData: true });
"""

# Elements that reach past the right edge of the window, or whose content is wider than
# they are (and not clipped on purpose, like an ellipsis): either scrolls sideways, the
# page or a scrolling box inside it, which documentElement.scrollWidth does not see.
OVERFLOWING = """
return [...document.querySelectorAll("body *")]
  .filter((node) => node.getClientRects().length)
  .filter((node) => {
    const clipped = ["hidden", "clip"].includes(getComputedStyle(node).overflowX);
    const wider = node.clientWidth && node.scrollWidth > node.clientWidth + 1;
    return node.getBoundingClientRect().right > innerWidth + 1 || (wider && !clipped);
  })
  .map((node) => node.tagName.toLowerCase() + (node.className ? "." + node.className : ""));
"""


@pytest.fixture(scope="module")
def site(ingested_example: Path) -> Iterator[str]:
    """The base URL of the real server, serving the example guild with its knowledge.

    Its answers are free (generative): those stream token by token, which is what the page
    must show; a checked (grounded) answer arrives whole, once it has been checked.
    """
    require_browser()  # before the guild: no browser, no need for a server
    free = slmguild.load_config(ingested_example, {"answer": {"strategy": "generative"}})
    with serving(create_app(slmguild.Guild(free))) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def scripted_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server with the example guild answering a fixed text: no model time,
    no retrieval, no tool phase (routing and the multi-expert split are real)."""
    require_browser()
    config = slmguild.load_config(Path(__file__).resolve().parents[1] / "examples/acme/guild.yaml")
    config.sessions.store = str(tmp_path_factory.mktemp("sessions") / "sessions.sqlite")
    config.routing.model = None  # trained with the tools, which are off here: route by the exemplars
    for expert in config.experts.values():
        expert.knowledge.sources, expert.tools = [], []
    model = ScriptedModel(replies=["A scripted answer."] * 10)
    with serving(create_app(slmguild.Guild(config, models=lambda _role, _spec: model))) as base_url:
        yield base_url


# A free answer as a model might write it: Markdown, a link, a citation, and HTML that a
# document or a prompt injection put there, which must show as text and never run.
MARKDOWN_ANSWER = ("Reset it **yourself** at https://selfservice.acme.example/vpn [vpn-password-reset]\n\n"
                   "1. Open the portal.\n2. Click `Reset`.\n\n<img src=x onerror=\"window.pwned = true\">")


@pytest.fixture(scope="module")
def markdown_site(ingested_example: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server with the example guild's IT expert, its documents searched for real,
    and a scripted model whose answer is `MARKDOWN_ANSWER`."""
    require_browser()
    config = slmguild.load_config(ingested_example, {"answer": {"strategy": "generative"}})
    config.sessions.store = str(tmp_path_factory.mktemp("sessions") / "sessions.sqlite")
    config.routing.model = None
    config.experts = {"it": config.experts["it"]}
    config.experts["it"].tools = []
    model = ScriptedModel(replies=[MARKDOWN_ANSWER])
    with serving(create_app(slmguild.Guild(config, models=lambda _role, _spec: model))) as base_url:
        yield base_url


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where screenshots go: $SLMGUILD_ARTIFACTS (CI can keep it), else the test's tmp_path."""
    folder = Path(os.environ.get("SLMGUILD_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def finished_turn(driver: WebDriver, timeout_s: float = ANSWER_TIMEOUT_S) -> WebElement:
    """The conversation's last turn, once it is no longer streaming; it must have succeeded."""

    def finished(page: WebDriver) -> WebElement | None:
        turns = page.find_elements(By.CSS_SELECTOR, "article.turn")
        if turns and turns[-1].get_attribute("data-state") in ("done", "error"):
            return turns[-1]
        return None

    turn = WebDriverWait(driver, timeout_s).until(finished, "the answer never finished")
    error = turn.find_element(By.CSS_SELECTOR, ".error").get_attribute("textContent")
    assert turn.get_attribute("data-state") == "done", f"the turn failed: {error}"
    return turn


def source_texts(turn: WebElement) -> list[str]:
    """The texts of the turn's trace sources, with the trace opened (closed by default)."""
    trace = turn.find_element(By.CSS_SELECTOR, "details.trace")
    assert trace.get_attribute("open") is None, "the trace should start closed"
    trace.find_element(By.CSS_SELECTOR, "summary").click()
    return [source.text for source in turn.find_elements(By.CSS_SELECTOR, ".trace .source")]


def listed_sessions(driver: WebDriver) -> list[WebElement]:
    """The items of the session list whose title is the question."""
    items = driver.find_elements(By.CSS_SELECTOR, "#sessions li.session")
    return [item for item in items if QUESTION in item.text]


def screenshot(driver: WebDriver, folder: Path, name: str) -> None:
    path = folder / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")


def test_a_question_streams_an_answer_with_its_expert_and_trace(browser, site, artifacts):  # noqa: F811
    browser.get(f"{site}/")
    browser.execute_script(WATCH_STREAMING)
    browser.find_element(By.CSS_SELECTOR, "#message").send_keys(QUESTION, Keys.ENTER)

    turn = finished_turn(browser)
    answer = turn.find_element(By.CSS_SELECTOR, ".answer").text
    assert answer.strip()
    lengths = browser.execute_script("return window.streamedLengths")
    assert len(set(lengths)) >= 2, f"the answer did not stream (lengths while streaming: {lengths})"
    assert turn.find_element(By.CSS_SELECTOR, ".badge").text == "it"
    sources = source_texts(turn)
    assert any("vpn" in text.lower() for text in sources), sources

    WebDriverWait(browser, 10).until(listed_sessions, "the session is not in the session list")
    screenshot(browser, artifacts, "web-page.png")

    # The session id is in the URL: a reload shows the same turn, from the server's history.
    browser.refresh()
    saved = finished_turn(browser, timeout_s=10)
    assert saved.find_element(By.CSS_SELECTOR, ".answer").text == answer
    assert saved.find_element(By.CSS_SELECTOR, ".badge").text == "it"
    assert any("vpn" in text.lower() for text in source_texts(saved))

    # A phone-sized window, the trace open: nothing scrolls sideways, the message box is there.
    browser.set_window_size(*NARROW)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= NARROW[0], f"the page is {width}px wide in a {NARROW[0]}px window"
    assert browser.execute_script(OVERFLOWING) == []
    box = browser.find_element(By.CSS_SELECTOR, "#message")
    assert box.is_displayed()
    assert browser.execute_script("return arguments[0].getBoundingClientRect().bottom <= innerHeight", box)
    screenshot(browser, artifacts, "web-page-narrow.png")


def plan_items(turn: WebElement) -> list[str]:
    """The texts of the turn's Plan section (the trace opened if it is closed)."""
    trace = turn.find_element(By.CSS_SELECTOR, "details.trace")
    if trace.get_attribute("open") is None:
        trace.find_element(By.CSS_SELECTOR, "summary").click()
    sections = turn.find_elements(By.CSS_SELECTOR, ".trace section")
    plans = [section for section in sections if section.find_element(By.CSS_SELECTOR, "h3").text == "Plan"]
    return [item.text for plan in plans for item in plan.find_elements(By.CSS_SELECTOR, "li")]


def test_a_multi_expert_turn_keeps_its_plan_when_it_is_done(browser, scripted_site):  # noqa: F811
    browser.get(f"{scripted_site}/")
    question = "I'm flying to Berlin next week: how many leave days do I have and what is the hotel limit?"
    browser.find_element(By.CSS_SELECTOR, "#message").send_keys(question, Keys.ENTER)
    turn = finished_turn(browser)
    items = plan_items(turn)
    assert [item.split(":")[0] for item in items] == ["hr", "finance"], items
    assert "how many leave days do I have" in items[0] and "what is the hotel limit?" in items[1]

    browser.refresh()  # the saved trace, from the server's history, shows the same plan
    assert plan_items(finished_turn(browser, timeout_s=10)) == items


def test_the_answer_shows_as_markdown_runs_no_html_and_its_citation_opens_the_source(browser, markdown_site):  # noqa: F811
    browser.get(f"{markdown_site}/")
    browser.find_element(By.CSS_SELECTOR, "#message").send_keys(QUESTION, Keys.ENTER)
    turn = finished_turn(browser, timeout_s=60)
    answer = turn.find_element(By.CSS_SELECTOR, ".answer")
    assert answer.find_element(By.CSS_SELECTOR, "p strong").text == "yourself"
    assert answer.find_element(By.CSS_SELECTOR, "p a[target=_blank]").get_attribute("href") == (
        "https://selfservice.acme.example/vpn")
    assert [item.text for item in answer.find_elements(By.CSS_SELECTOR, "ol li")] == ["Open the portal.", "Click Reset."]
    assert answer.find_element(By.CSS_SELECTOR, "ol li code").text == "Reset"
    # The HTML is text: no element made of it, nothing of it ran.
    assert not answer.find_elements(By.CSS_SELECTOR, "img") and "<img src=x" in answer.text
    assert browser.execute_script("return window.pwned") is None
    answer.find_element(By.CSS_SELECTOR, "a.cite").click()
    assert turn.find_element(By.CSS_SELECTOR, "details.trace").get_attribute("open") is not None
    cited = turn.find_element(By.CSS_SELECTOR, ".trace .source.cited")
    assert cited.get_attribute("data-id") == "vpn-password-reset" and cited.is_displayed()


@pytest.fixture
def keys(tmp_path: Path) -> KeyStore:
    """The approval site's users: alice and bob."""
    return KeyStore(tmp_path / "keys.sqlite")


@pytest.fixture
def approval_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: KeyStore) -> Iterator[str]:
    """The example guild's IT expert with its real ticket tools (on a scratch database)
    and a scripted model that wants to open a ticket twice, then answers; users' keys on."""
    require_browser()
    monkeypatch.setenv("ACME_DB", str(tmp_path / "acme.sqlite"))
    config = slmguild.load_config(Path(__file__).resolve().parents[1] / "examples/acme/guild.yaml",
                                  {"answer": {"strategy": "generative"}})
    config.sessions.store = str(tmp_path / "sessions.sqlite")
    config.routing.model = None
    config.experts = {"it": config.experts["it"]}
    config.experts["it"].knowledge.sources = []
    wants_ticket = tool_step("create_ticket", summary="Cracked laptop screen", priority="high")
    model = ScriptedModel(replies=[wants_ticket, wants_ticket, "Opened ticket IT-1051.", StepReply(ANSWER_STEP),
                                   "On floor 2."])
    with serving(create_app(slmguild.Guild(config, models=lambda _role, _spec: model), keys=keys)) as base_url:
        yield base_url


def use_key(driver: WebDriver, key: str) -> None:
    """Answer the page's key form (it asks once per tab, when the server says 401)."""
    form = WebDriverWait(driver, 10).until(lambda page: page.find_element(By.CSS_SELECTOR, "#auth"))
    WebDriverWait(driver, 10).until(lambda _: form.is_displayed())
    driver.find_element(By.CSS_SELECTOR, "#api-key").send_keys(key, Keys.ENTER)


def answer_the_waiting_call(driver: WebDriver, button: str) -> WebElement:
    """Click Approve or Refuse on the last turn's waiting call; the turn that follows, done."""
    paused = finished_turn(driver, timeout_s=60)
    box = paused.find_element(By.CSS_SELECTOR, ".approval")
    assert "create_ticket" in box.text and "Cracked laptop screen" in box.text
    box.find_element(By.CSS_SELECTOR, f"button.{button}").click()
    WebDriverWait(driver, 10).until(lambda page: len(page.find_elements(By.CSS_SELECTOR, "article.turn")) > 1
                                    and page.find_elements(By.CSS_SELECTOR, "article.turn")[-1] != paused)
    return finished_turn(driver, timeout_s=60)


def test_a_waiting_call_is_approved_or_refused_on_the_page_and_only_its_user_sees_it(
        browser, approval_site, keys):  # noqa: F811
    alice, bob = keys.add("alice"), keys.add("bob")
    browser.get(f"{approval_site}/")
    use_key(browser, alice)
    message = browser.find_element(By.CSS_SELECTOR, "#message")
    message.send_keys("Please open a ticket: my laptop screen is cracked.", Keys.ENTER)
    refused = answer_the_waiting_call(browser, "refuse")
    assert refused.find_element(By.CSS_SELECTOR, ".answer").text.startswith(
        "Not done: I did not run create_ticket(summary='Cracked laptop screen', priority='high')")
    message.send_keys("Please open a ticket after all: my laptop screen is cracked.", Keys.ENTER)
    approved = answer_the_waiting_call(browser, "approve")
    assert approved.find_element(By.CSS_SELECTOR, ".answer").text == "Opened ticket IT-1051."
    approved.find_element(By.CSS_SELECTOR, "details.trace summary").click()
    call = approved.find_element(By.CSS_SELECTOR, ".trace .tool-call").text
    assert "create_ticket" in call and "Approved by alice" in call

    # Bob, in a tab of his own, on Alice's session's address: he sees neither it nor her list.
    alices = browser.current_url
    browser.execute_script("sessionStorage.clear()")
    browser.get(alices)
    browser.refresh()
    use_key(browser, bob)
    browser.find_element(By.CSS_SELECTOR, "#message").send_keys("Where is the printer?", Keys.ENTER)
    assert finished_turn(browser, timeout_s=60).find_element(By.CSS_SELECTOR, ".answer").text == "On floor 2."
    # The same session id, his own session: only his turn, only his session listed.
    assert len(browser.find_elements(By.CSS_SELECTOR, "article.turn")) == 1
    WebDriverWait(browser, 10).until(lambda page: page.find_elements(By.CSS_SELECTOR, "#sessions li.session"))
    (listed,) = browser.find_elements(By.CSS_SELECTOR, "#sessions li.session")
    assert "Where is the printer?" in listed.text

