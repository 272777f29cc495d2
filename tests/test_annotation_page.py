"""The annotation page in a real browser: Debian's chromium, driven by selenium through chromium-driver
(headless), against a real serve.py process over a generated data layout (tests/service_server.py).

A listener answers with the mouse, with the keyboard alone, and on a phone-sized screen; what the page
sent is checked through the API and in the user's annotation history. `ANNOTATE_SCREENSHOT=docs/annotate.png`
makes the mouse test save the README's screenshot.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests import service_server
from tests.committees import quadrant_windows, write_feature_csv
from trompa_mer.names import QUADRANTS
from trompa_mer.users.account import read_answers

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_SECONDS = 60
SCREENSHOT = os.environ.get("ANNOTATE_SCREENSHOT")
MARKUP_SONG = '<img src=x onerror="document.title=\'injected\'"> & <b>'
"""A song id full of markup: the page must show it as text, never parse it."""
LONG_SONG = "an_exceptionally_long_song_identifier_without_any_spaces_" * 3
"""A song id wider than a phone: it must wrap, not widen the page."""
PROTO_SONG = "__proto__"
"""A song id that is special to JavaScript objects: the answers must still name it."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[service_server.Server]:
    with service_server.start(tmp_path_factory.mktemp("page")) as running:
        yield running


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless chromium in a fresh profile, 1000 × 900."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        message = f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (.ci/run installs them)")
        pytest.skip(message)
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    options.binary_location = str(CHROMIUM)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_window_size(1000, 900)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: WebDriver, condition, what: str):
    """`condition(driver)`'s first truthy value within WAIT_SECONDS (elements of a page that reloaded
    meanwhile are looked for again)."""
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(condition, message=f"waited for {what}")


def wait_for_alert(driver: WebDriver, status: int) -> str:
    """The message area's text once it reports an API error of `status`."""
    def shown(driver: WebDriver) -> str | None:
        text = driver.find_element(By.ID, "message").text
        return text if f"({status})" in text else None
    return wait_for(driver, shown, f"an error {status} in the message area")


def create_user(server: service_server.Server, user_id: str) -> None:
    with server.client() as client:
        assert client.post("/users", json={"user_id": user_id}).status_code == 201


def api_state(server: service_server.Server, user_id: str) -> dict:
    with server.client() as client:
        response = client.get(f"/users/{user_id}")
    assert response.status_code == 200, response.text
    return response.json()


def api_query(server: service_server.Server, user_id: str, n: int) -> list[str]:
    with server.client() as client:
        response = client.post(f"/users/{user_id}/queries", json={"n": n})
    assert response.status_code == 200, response.text
    return [song["song_id"] for song in response.json()["songs"]]


def recorded_answers(server: service_server.Server, user_id: str) -> dict[str, str]:
    """The answers in the user's annotation history, as quadrant names."""
    indexes = read_answers(server.root / "models" / "users" / user_id)
    return {song: QUADRANTS[index] for song, index in indexes.items()}


def open_page(driver: WebDriver, server: service_server.Server, user_id: str) -> str:
    """Open the link a platform gives the listener (a listener token of theirs, minted by the admin
    token); returns that token."""
    with server.client() as client:
        minted = client.post(f"/users/{user_id}/tokens")
    assert minted.status_code == 201, minted.text
    driver.get(server.url + minted.json()["link"])
    return minted.json()["token"]


def shown_songs(driver: WebDriver) -> list[str]:
    return [element.text for element in driver.find_elements(By.CSS_SELECTOR, ".song-id")]


def wait_for_songs(driver: WebDriver, count: int, not_in: list[str] = ()) -> list[str]:
    """The songs on the page once `count` are shown, none of them from `not_in`."""
    def ready(driver: WebDriver) -> list[str] | None:
        songs = shown_songs(driver)
        return songs if len(songs) == count and not set(songs) & set(not_in) else None
    return wait_for(driver, ready, f"{count} songs other than {list(not_in)}")


def fieldsets(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#song-list fieldset")


def players_ready(driver: WebDriver) -> list[bool]:
    """Per song on the page: whether it has a player whose audio has loaded (a duration above 0)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#song-list fieldset')].map(f => {"
        " const a = f.querySelector('audio'); return !!a && a.readyState >= 1 && a.duration > 0; });")


def listen_buttons(driver: WebDriver) -> list[WebElement | None]:
    """Per song on the page: its Listen button, or None (no audio, or not known yet)."""
    found = []
    for fieldset in fieldsets(driver):
        buttons = fieldset.find_elements(By.CSS_SELECTOR, ".player button.listen")
        found.append(buttons[0] if buttons else None)
    return found


def send_button(driver: WebDriver) -> WebElement:
    return driver.find_element(By.ID, "send")


def test_a_listener_answers_with_the_mouse_and_gets_the_next_query(server: service_server.Server,
                                                                  browser: WebDriver) -> None:
    create_user(server, "mouse")
    token = open_page(browser, server, "mouse")
    get_songs = wait_for(browser, lambda d: (e := d.find_element(By.ID, "get-songs")).is_displayed() and e,
                         "the Get songs button")
    assert "token" not in browser.current_url  # taken from the fragment, then removed from the address bar
    assert browser.execute_script("return sessionStorage.getItem('trompa-mer-token')") == token
    count = browser.find_element(By.ID, "count")
    assert count.get_attribute("value") == "5"
    count.clear()
    count.send_keys("4")
    get_songs.click()
    first = wait_for_songs(browser, 4)
    state = api_state(server, "mouse")
    assert state["pending"] and state["queried"] == first
    buttons = wait_for(browser, lambda d: all(b := listen_buttons(d)) and b, "every song's Listen button")
    assert not any(players_ready(browser))  # nothing is downloaded before the listener asks for it
    buttons[1].click()
    assert wait_for(browser, lambda d: players_ready(d) == [False, True, False, False],
                    "the second song's audio")

    chosen = {song: QUADRANTS[(i + 1) % 4] for i, song in enumerate(first)}
    for fieldset, song in zip(fieldsets(browser), first, strict=True):
        assert send_button(browser).get_attribute("disabled") is not None  # not every song answered yet
        fieldset.find_element(By.CSS_SELECTOR, f"input[value={chosen[song]}]").find_element(
            By.XPATH, "..").click()
    assert send_button(browser).is_enabled()
    checked = [fieldset.find_element(By.CSS_SELECTOR, "input:checked").get_attribute("value")
               for fieldset in fieldsets(browser)]
    assert checked == [chosen[song] for song in first]
    send_button(browser).click()

    second = wait_for_songs(browser, 4, not_in=first)
    wait_for(browser, lambda d: "Learnt from 4 answers" in d.find_element(By.ID, "status").text,
             "the learnt-from message")
    state = api_state(server, "mouse")
    assert state["iteration"] == 1 and state["answered_count"] == 4
    assert state["pending"] and state["queried"] == second
    assert recorded_answers(server, "mouse") == chosen
    assert browser.find_element(By.ID, "message").text == ""
    if SCREENSHOT:
        for fieldset, quadrant in zip(fieldsets(browser)[:2], ("Q4", "Q1"), strict=True):
            fieldset.find_element(By.CSS_SELECTOR, f"input[value={quadrant}]").find_element(
                By.XPATH, "..").click()
        browser.execute_script("window.scrollTo(0, 0); document.activeElement.blur();")
        browser.save_screenshot(SCREENSHOT)


def press(driver: WebDriver, key: str) -> WebElement:
    """Send `key` to whatever has the focus, as a keyboard would; the element focused afterwards."""
    driver.switch_to.active_element.send_keys(key)
    return driver.switch_to.active_element


def tab_to(driver: WebDriver, selector: str, most: int = 12) -> WebElement:
    """Press Tab until the focus is on `selector` (players' own buttons come between songs)."""
    for _ in range(most):
        focused = press(driver, Keys.TAB)
        if driver.execute_script("return arguments[0].matches(arguments[1])", focused, selector):
            return focused
    raise AssertionError(f"{most} presses of Tab never reached {selector}")


def test_a_listener_answers_with_the_keyboard_alone(server: service_server.Server,
                                                    browser: WebDriver) -> None:
    create_user(server, "keys")
    pending = api_query(server, "keys", 4)
    open_page(browser, server, "keys")
    assert wait_for_songs(browser, 4) == pending  # a pending query is shown, not a new one asked

    chosen = {}
    for i, song in enumerate(pending):
        radio = tab_to(browser, f"input[name=song-{i}]")
        assert radio.get_attribute("value") == "Q1" and not radio.is_selected()
        outline = browser.execute_script(
            "const s = getComputedStyle(arguments[0].nextElementSibling);"
            "return [s.outlineStyle, parseFloat(s.outlineWidth)];", radio)
        assert outline[0] != "none" and outline[1] >= 2  # the focus is visible
        radio = press(browser, Keys.SPACE)
        for _ in range(3 - i):  # Q4, Q3, Q2, Q1: arrows move and select within the song's group
            radio = press(browser, Keys.ARROW_DOWN)
        chosen[song] = radio.get_attribute("value")
        assert radio.is_selected()
    assert list(chosen.values()) == ["Q4", "Q3", "Q2", "Q1"]
    send = tab_to(browser, "#send")
    assert send.is_enabled()
    press(browser, Keys.ENTER)

    second = wait_for_songs(browser, 5, not_in=pending)  # the next round has the default size
    state = api_state(server, "keys")
    assert state["iteration"] == 1 and state["queried"] == second
    assert recorded_answers(server, "keys") == chosen
    assert browser.switch_to.active_element.get_attribute("name") == "song-0"  # ready for the next round


def test_on_a_phone_nothing_scrolls_sideways_and_any_song_id_works(server: service_server.Server,
                                                                   browser: WebDriver) -> None:
    odd = (MARKUP_SONG, LONG_SONG, PROTO_SONG)
    extra = [server.root / "data" / "feats" / f"{song}.csv" for song in odd]
    for seed, path in enumerate(extra):
        write_feature_csv(path, quadrant_windows(seed, 8, np.random.default_rng(seed)))
    try:
        create_user(server, "phone")
        songs = len(server.truth) + len(extra)
        pending = api_query(server, "phone", songs)  # every song of the pool, the odd ones too
        assert set(odd) <= set(pending)
        browser.set_window_size(375, 740)
        open_page(browser, server, "phone")
        assert wait_for_songs(browser, songs) == pending
        ready = wait_for(browser, lambda d: (r := [b is not None for b in listen_buttons(d)])
                         and sum(r) == songs - len(odd) and r, "the Listen buttons of the songs with audio")
        assert [not has_player for has_player in ready] == [song in odd for song in pending]  # no audio

        assert browser.execute_script("return window.innerWidth") == 375
        scroll_width, client_width = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll_width <= client_width <= 375
        markup = "return document.querySelectorAll('#song-list img, #song-list b').length"
        assert browser.execute_script(markup) == 0
        assert browser.title != "injected"
        for label in browser.find_elements(By.CSS_SELECTOR, ".quadrant span"):
            assert label.size["height"] >= 44 and label.size["width"] >= 120  # big enough for a thumb
            assert label.location["x"] + label.size["width"] <= client_width

        chosen = {song: QUADRANTS[i % 4] for i, song in enumerate(pending)}
        for fieldset, song in zip(fieldsets(browser), pending, strict=True):
            fieldset.find_element(By.CSS_SELECTOR, f"input[value={chosen[song]}]").find_element(
                By.XPATH, "..").click()
        send_button(browser).click()
        assert "every song" in wait_for_alert(browser, 400)  # answered; then the pool has no song left
        assert recorded_answers(server, "phone") == chosen
    finally:
        for path in extra:  # the other tests' songs all have audio
            path.unlink()


def test_api_errors_appear_in_the_alert_area(server: service_server.Server, browser: WebDriver) -> None:
    browser.get(f"{server.url}/annotate/nobody#token={server.token}")  # no user, so no listener token
    assert browser.find_element(By.ID, "message").get_attribute("role") == "alert"
    assert "nobody" in wait_for_alert(browser, 404)
    browser.get(f"{server.url}/annotate/nobody#token=not-the-token")  # the page reloads with it
    assert "token" in wait_for_alert(browser, 401)
    assert not browser.find_element(By.ID, "songs").is_displayed()


def test_answers_refused_by_the_api_show_why_and_stay_on_the_page(server: service_server.Server,
                                                                    browser: WebDriver) -> None:
    create_user(server, "stale")
    pending = api_query(server, "stale", 2)
    open_page(browser, server, "stale")
    wait_for_songs(browser, 2)
    with server.client() as client:  # another client answers the query first
        answered = client.post("/users/stale/annotations",
                               json={"annotations": {song: server.truth[song] for song in pending}})
    assert answered.status_code == 200
    for fieldset in fieldsets(browser):
        fieldset.find_element(By.CSS_SELECTOR, "input[value=Q2]").find_element(By.XPATH, "..").click()
    send_button(browser).click()
    wait_for_alert(browser, 409)
    assert shown_songs(browser) == pending and send_button(browser).is_enabled()
    assert browser.find_element(By.ID, "status").text == "No answers yet: your first ones teach the most."
    assert recorded_answers(server, "stale") == {song: server.truth[song] for song in pending}


def test_the_page_and_its_files_need_no_token_and_nothing_else_is_served(server: service_server.Server
                                                                         ) -> None:
    page = httpx.get(f"{server.url}/annotate/827")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for name, kind in (("annotate.js", "text/javascript"), ("annotate.css", "text/css")):
        asset = httpx.get(f"{server.url}/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert f"../static/{name}" in page.text
    for path in ("/static/annotate.html", "/static/page.py", "/static/secret.txt"):
        refused = httpx.get(server.url + path)
        assert refused.status_code == 404 and "error" in refused.json(), path
    beside = httpx.get(f"{server.url}/static/..%2Fpage.py")  # not a page file: needs the token, and…
    assert beside.status_code == 401
    beside = httpx.get(f"{server.url}/static/..%2Fpage.py", headers=server.headers)  # …is not there
    assert beside.status_code == 404 and "router" not in beside.text
    bad = httpx.get(f"{server.url}/annotate/not%20a%20user")
    assert bad.status_code == 400 and "invalid user id" in bad.json()["error"]
