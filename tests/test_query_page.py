"""The query page (GET /) in a real headless Chromium: it shows the model and its schema, comes
prefilled with the lab's request, and shows the predictions, or the error, after Send.

Needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver) and
selenium from PyPI; skips, saying so, only when chromium is not installed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.serving_support import Server, running_server, trained_store

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("chromium and chromium-driver are not installed "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def server(spark, tmp_path_factory: pytest.TempPathFactory) -> Server:
    return running_server(trained_store(tmp_path_factory.getbasetemp() / "serving-store"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=DRIVER)  # no selenium-manager download
    driver = webdriver.Chrome(options=options, service=service)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


def open_page(browser: Any, server: Server) -> None:
    browser.get(server.url)
    WebDriverWait(browser, 30).until(lambda d: text_of(d, "model-name") != "loading...")


def send(browser: Any) -> dict[str, Any]:
    browser.execute_script("document.getElementById('result').textContent = ''")
    browser.find_element("id", "send").click()
    WebDriverWait(browser, 60).until(lambda d: text_of(d, "result") != "")
    return dict(json.loads(text_of(browser, "result")))


def test_page_shows_model_and_schema_and_the_lab_request(browser: Any, server: Server) -> None:
    open_page(browser, server)
    assert text_of(browser, "model-name") == "penguin-classifier"
    assert text_of(browser, "model-version") == "1"
    schema = text_of(browser, "schema")
    for column in ("Island", "CulmenLength", "CulmenDepth", "FlipperLength", "BodyMass"):
        assert column in schema
    prefilled = json.loads(browser.find_element("id", "request").get_attribute("value"))
    assert prefilled["dataframe_records"][0]["Island"] == "Biscoe"


def test_send_shows_the_prediction_with_label(browser: Any, server: Server) -> None:
    open_page(browser, server)
    answer = send(browser)
    (prediction,) = answer["predictions"]
    assert prediction["prediction"] == 1.0
    assert prediction["label"] == "Gentoo"
    assert "200" in text_of(browser, "status")


def test_send_shows_the_error_for_a_bad_request(browser: Any, server: Server) -> None:
    open_page(browser, server)
    box = browser.find_element("id", "request")
    box.clear()
    box.send_keys('{"dataframe_records": [{"Island": "Biscoe"}]}')
    answer = send(browser)
    assert answer["error_code"] == "BAD_REQUEST"
    assert "missing column" in answer["message"]
    assert "400" in text_of(browser, "status")
    assert "error" in browser.find_element("id", "result").get_attribute("class")
