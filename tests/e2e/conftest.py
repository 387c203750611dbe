"""Browser tests: Playwright (Python) driving Debian's chromium against a live server.

The browser is the system ``chromium`` (``apt-get install chromium``; ``.ci/run`` installs it),
used through ``executable_path``; Playwright never downloads a browser here. Without chromium
(or without the playwright package) the tests are skipped loudly, unless ``E2E=1`` or
``REQUIRE_SERVICES=1`` (CI), where they fail.

Each test gets a fresh, transactional database served by pytest-django's ``live_server`` and
the ``journeys`` fixture: ``journeys.open("school")`` gives one person a browser context (German,
Europe/Berlin); ``Journey.check(step)`` saves a screenshot of the page to ``test-artifacts/e2e/``
and runs axe-core on it; ``journeys.assert_clean()`` fails on what the pages got wrong.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.axe import AxeReport, run_axe

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Elements that make the whole page scroll sideways (outermost first).
_TOO_WIDE = """() => {
  const limit = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= limit + 1) { return []; }
  const clipped = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") { return true; }
    }
    return false;
  };
  const wide = [...document.querySelectorAll("body *")].filter(
    (el) => el.getBoundingClientRect().right > limit + 1 && !clipped(el)
  );
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className ? "." + el.className.split(" ")[0] : "");
  return wide.filter((el) => !wide.includes(el.parentElement)).slice(0, 5).map(name);
}"""
MUST_RUN = os.environ.get("E2E") == "1" or os.environ.get("REQUIRE_SERVICES") == "1"


def _chromium() -> str | None:
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if _chromium() is None:
        return "Debian chromium is not installed (apt-get install -y chromium; .ci/run does)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e = [item for item in items if "e2e" in item.keywords]
    reason = _missing() if e2e else None
    if reason is None:
        return
    for item in e2e:
        if MUST_RUN:
            item.add_marker(pytest.mark.usefixtures("_fail_missing_browser"))
        else:
            item.add_marker(pytest.mark.skip(reason=f"SKIPPED LOUDLY: browser test: {reason}"))


@pytest.fixture
def _fail_missing_browser() -> None:
    pytest.fail(f"E2E=1 or REQUIRE_SERVICES=1, but {_missing()}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "page"


class Journey:
    """One person's way through the app: a browser context, numbered screenshots, axe."""

    def __init__(self, browser: Any, base_url: str, name: str, problems: list[str]) -> None:
        self.name = name
        self.base_url = base_url
        self.step = 0
        self.problems = problems
        self.context = browser.new_context(
            base_url=base_url,
            locale="de-DE",
            timezone_id="Europe/Berlin",
            viewport={"width": 1280, "height": 900},
        )
        # Through the DevTools protocol, so the app's CSP (script-src 'self') stays intact.
        self.context.add_init_script(path=str(AXE_SCRIPT))
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.page.on("pageerror", self._on_page_error)
        self.page.on("console", self._on_console)
        # Confirmations (data-confirm) are answered "OK"; tests read them from ``dialogs``.
        self.dialogs: list[str] = []
        self.page.on("dialog", self._on_dialog)

    def _on_page_error(self, error: Any) -> None:
        self.problems.append(f"[{self.name}] JavaScript error on {self.page.url}: {error}")

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def _on_console(self, message: Any) -> None:
        text = message.text
        if message.type == "error" and "Content Security Policy" in text:
            self.problems.append(f"[{self.name}] CSP violation on {self.page.url}: {text}")

    def goto(self, path: str) -> Any:
        return self.page.goto(path)

    def check(self, step: str) -> AxeReport:
        """Screenshot the page as it is now and run axe-core on it (a journey step)."""
        self.step += 1
        self.page.wait_for_load_state("load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{_slug(self.name)}-{self.step:02d}-{_slug(step)}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        current = self.page.locator("header nav [aria-current=page]").count()
        if current > 1:
            print(f"[{self.name} / {step}] {current} main navigation links say aria-current=page")
        wide = self.page.evaluate(_TOO_WIDE)
        if wide:
            print(f"[{self.name} / {step}] wider than the window (horizontal scrolling): {wide}")
        report = run_axe(self.page, label=f"{self.name} / {step}")
        report.print_minor()
        if report.blocking:
            self.problems.append(report.describe())
        return report

    def close(self, *, failed: bool) -> None:
        # On a failure: the page as the test left it, to see where it stopped.
        try:
            if failed:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                shot = ARTIFACTS / f"{_slug(self.name)}-failed.png"
                self.page.screenshot(path=str(shot), full_page=True)
        finally:
            self.context.close()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test's
    # own setup (factories) are still plain synchronous code, so allow them here only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Journeys:
    """Opens one ``Journey`` per person; collects what the pages got wrong."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.problems: list[str] = []
        self.opened: list[Journey] = []
        self.reported = False

    def open(self, name: str) -> Journey:
        item = Journey(self.browser, self.base_url, name, self.problems)
        self.opened.append(item)
        return item

    def summary(self) -> str:
        return (
            f"{len(self.problems)} accessibility or browser problem(s) "
            "(screenshots in test-artifacts/e2e/):\n\n" + "\n\n".join(self.problems)
        )

    def assert_clean(self) -> None:
        """Fail on any serious/critical axe violation, JavaScript error or CSP violation."""
        self.reported = True
        if self.problems:
            pytest.fail(self.summary(), pytrace=False)


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def journeys(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Journeys]:
    """``journeys.open("coordinator")`` opens a fresh browser context for one person.

    A test ends with ``journeys.assert_clean()``; if it fails earlier, the problems found
    so far are printed with its report.
    """
    session = Journeys(browser, live_server.url)
    yield session
    failed = request.node.stash.get(_FAILED, True)
    for item in session.opened:
        item.close(failed=failed)
    if session.problems and not session.reported:
        print(session.summary())
