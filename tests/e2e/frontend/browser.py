"""Drive the Streamlit page in a real browser: one place for every e2e test that does.

Debian's ``/usr/bin/chromium`` driven by Playwright's Python package (``executable_path``, headless;
never ``playwright install``). ``open_page`` starts it; ``classify`` does what a person does on the
Classify tab and returns what the page then shows (``classify_out_of_scope`` for a text the model
cannot judge, ``classify_csv`` the same on the Batch tab);
``screenshot`` keeps a picture under
``test-artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import service_or_skip
from tests.support.servers import REPO_ROOT, ServiceUnavailable

if TYPE_CHECKING:  # playwright is imported when a browser starts
    from playwright.sync_api import ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
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
ARTIFACTS = REPO_ROOT / "test-artifacts"
UI_TIMEOUT_MS = 30_000
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}

#: A Playwright ``Page`` (typed loosely: playwright is a dev dependency imported lazily).
Page = Any


@contextmanager
def open_page(profile_dir: Path) -> Iterator[Page]:
    """A fresh chromium profile and one page; a missing browser skips (fails under CI)."""
    from playwright.sync_api import sync_playwright

    def launch() -> tuple[Any, Any]:
        if not CHROMIUM.exists():
            raise ServiceUnavailable(f"{CHROMIUM} is not installed (apt-get install chromium)")
        manager = sync_playwright().start()
        try:
            context = manager.chromium.launch_persistent_context(
                str(profile_dir),
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
            )
        except Exception as exc:
            manager.stop()
            raise ServiceUnavailable(f"chromium did not start: {exc}") from exc
        return manager, context

    manager, context = service_or_skip(launch)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        yield page
    finally:
        context.close()
        manager.stop()


def wait_for_serving_ready(page: Page, version: str | None = None) -> None:
    """Wait until the sidebar says serving is ready (with ``version`` when given)."""
    text = f"Serving is ready: model version {version}" if version else "Serving is ready"
    page.get_by_test_id("stSidebar").get_by_text(text).wait_for()


def classify(page: Page, text: str) -> dict[str, str]:
    """Type ``text``, press Classify, wait for the whole result; return the metrics shown."""
    page.get_by_label("Text to classify").fill(text)
    page.get_by_role("button", name="Classify", exact=True).click()
    # The run is complete once its last element (the feedback buttons) is on screen.
    page.get_by_role("button", name=re.compile("Wrong, it is")).wait_for()
    page.get_by_text("Probability that the text is AI-generated").wait_for()
    return visible_metrics(page)


def classify_out_of_scope(page: Page, text: str) -> str:
    """Type ``text`` the model cannot judge, press Classify; return what the page says why."""
    page.get_by_label("Text to classify").fill(text)
    page.get_by_role("button", name="Classify", exact=True).click()
    page.get_by_text("The model cannot judge this text").wait_for()
    # The run is complete once its last element (the "who wrote it" buttons) is on screen.
    page.get_by_role("button", name="A person wrote it").wait_for()
    warnings = page.get_by_test_id("stAlertContentWarning")
    shown = [warnings.nth(i) for i in range(warnings.count())]
    return "\n".join(str(w.inner_text()) for w in shown if w.is_visible())


def classify_csv(page: Page, name: str, content: str) -> str:
    """On the Batch tab, upload ``content`` as ``name`` and classify it; return the summary."""
    page.get_by_role("tab", name="Batch (CSV)").click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": content.encode("utf-8")}
    )
    page.get_by_role("button", name="Classify file", exact=True).click()
    summary = page.get_by_text(re.compile(r"texts classified: "))
    summary.wait_for()
    page.get_by_role("button", name="Download results (CSV)").wait_for()
    return str(summary.inner_text())


def visible_metrics(page: Page) -> dict[str, str]:
    """``{label: value}`` of every metric on screen (the hidden tabs' metrics are left out)."""
    values: dict[str, str] = {}
    metrics = page.get_by_test_id("stMetric")
    for index in range(metrics.count()):
        metric = metrics.nth(index)
        if not metric.is_visible():
            continue
        label = metric.get_by_test_id("stMetricLabel").inner_text().strip()
        values[label] = metric.get_by_test_id("stMetricValue").inner_text().strip()
    return values


def prediction_id(page: Page) -> str:
    """The id of the prediction on screen, as the page prints it under the verdict."""
    caption = page.get_by_text("Prediction id:").inner_text()
    found = re.search(r"Prediction id:\s*([0-9a-f]{32})", caption)
    assert found, f"no prediction id in {caption!r}"
    return found.group(1)


def assert_no_developer_chrome(page: Page) -> None:
    """What a visitor must never see: a traceback or Streamlit's "Deploy" button."""
    assert "Traceback" not in page.content()
    assert page.get_by_test_id("stAppDeployButton").count() == 0, "Deploy button on screen"


def screenshot(page: Page, name: str, *, full_height: int | None = None) -> Path:
    """Save ``test-artifacts/<name>.png``; ``full_height`` enlarges the viewport first."""
    ARTIFACTS.mkdir(exist_ok=True)
    if full_height is not None:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": full_height})
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
