"""The install flow as a person goes through it: a real headless Chromium (Debian's, driven by
its chromedriver through Selenium) against a real ``todobot serve``, the fake Slack's consent
page in between.

The browser may reach 127.0.0.1 only: every other host name resolves to nothing
(``--host-resolver-rules``), and its background services are off. Each page is checked as it
renders: what is visible, where its links lead, that it loaded nothing (the pages forbid it
with a Content-Security-Policy, and a violation would be a console error), and the cookie.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from tests.conftest import pg_engine
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET, FakeWorkspace
from tests.load.served import free_port, todobot_serve
from tests.slack.conftest import ENCRYPTION_KEY
from tests.slack.harness import SIGNING_SECRET

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ACME = FakeWorkspace("T0ACME", "Acme & Sons")

if TYPE_CHECKING:
    from selenium.webdriver import Chrome


@pytest.fixture(scope="module")
def browser() -> Iterator[Chrome]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, (f"{missing} missing: the install pages are checked in Debian's "
                         "chromium (apt-get install chromium chromium-driver; make test does)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking", "--disable-sync",
                 "--disable-component-update", "--disable-default-apps", "--disable-extensions",
                 "--window-size=1024,900",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _environment(database_url: str, slack: FakeSlack, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OPENAI_", "TODOBOT_", "TELEGRAM_", "SLACK_"))}
    env.update({
        "DATABASE_URL": database_url, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": slack.base_url, "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET, "TODOBOT_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SLACK_REDIRECT_URI": f"http://127.0.0.1:{port}/slack/oauth_redirect",
    })
    return env


def _console_errors(browser: Chrome) -> list[str]:
    return [str(entry["message"]) for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon.ico" not in str(entry["message"])]


def _loaded(browser: Chrome) -> list[str]:
    """Every resource the page loaded besides itself (none expected)."""
    names = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    return [str(name) for name in names]


def test_a_person_installs_todobot_in_chromium_on_todobot_serve(
        browser: Chrome, pg_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    assert shutil.which("chromium") is not None
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeSlack() as slack, todobot_serve(_environment(pg_url, slack, port), port):
        slack.installs.redirect_url = f"{base}/slack/oauth_redirect"
        slack.installs.add(ACME)

        browser.get(f"{base}/slack/install")
        assert browser.title == "Add Todobot to Slack"
        button = browser.find_element(By.ID, "add-to-slack")
        assert button.is_displayed() and button.text == "Add to Slack"
        assert button.size["height"] >= 30 and button.size["width"] >= 100
        assert "users:read" in browser.find_element(By.TAG_NAME, "main").text
        cookie = browser.get_cookie("slack-app-oauth-state")
        assert cookie is not None and cookie["httpOnly"] and cookie["secure"]
        assert _loaded(browser) == [] and _console_errors(browser) == []
        browser.save_screenshot(str(tmp_path / "install.png"))

        button.click()  # -> the consent page -> straight back to the redirect URL

        callback_url = browser.current_url
        assert callback_url.startswith(f"{base}/slack/oauth_redirect?code=")
        heading = browser.find_element(By.TAG_NAME, "h1").text
        assert heading == "Todobot is in Acme & Sons"
        assert "/todo help" in browser.find_element(By.TAG_NAME, "main").text
        assert browser.find_element(By.ID, "open-slack").get_attribute("href") == (
            "slack://app?team=T0ACME&id=ATODOBOT1")
        assert browser.get_cookie("slack-app-oauth-state") is None  # cleared
        assert _loaded(browser) == [] and _console_errors(browser) == []
        browser.save_screenshot(str(tmp_path / "success.png"))
        with pg_engine(pg_url).connect() as conn:
            assert conn.execute(text("SELECT team_id FROM slack_bots")).scalars().all() == [
                "T0ACME"]
            assert conn.execute(text("SELECT count(*) FROM slack_oauth_states")).scalar() == 0
        consents = [e.status for e in slack.exchanges_with("oauth.authorize")]
        assert consents == [302]

        # The same link again (a reload, a bookmark): refused, and a way out.
        browser.get(callback_url)
        assert browser.find_element(By.TAG_NAME, "h1").text == (
            "This install link can't be used here")  # its cookie is gone with it
        errors = _console_errors(browser)  # the page's own status, nothing else
        assert len(errors) == 1 and "status of 400" in errors[0], errors
        start_again = browser.find_element(By.ID, "start-again")
        assert start_again.is_displayed()
        start_again.click()
        assert browser.title == "Add Todobot to Slack"
        with pg_engine(pg_url).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM slack_bots")).scalar() == 1
        assert len(slack.calls_to("oauth.v2.access")) == 1


def test_cancelling_on_slack_shows_what_to_do_in_chromium(browser: Chrome, pg_url: str) -> None:
    from selenium.webdriver.common.by import By

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeSlack() as slack, todobot_serve(_environment(pg_url, slack, port), port):
        slack.installs.redirect_url = f"{base}/slack/oauth_redirect"
        slack.installs.add(ACME)
        slack.installs.deny = True
        browser.get_log("browser")  # what earlier tests left

        browser.get(f"{base}/slack/install")
        browser.find_element(By.ID, "add-to-slack").click()

        assert "error=access_denied" in browser.current_url
        assert browser.find_element(By.TAG_NAME, "h1").text == "Nothing was installed"
        assert browser.find_element(By.ID, "start-again").get_attribute("href") == (
            f"{base}/slack/install")
        assert _console_errors(browser) == []
        with pg_engine(pg_url).connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM slack_installations")).scalar() == 0
