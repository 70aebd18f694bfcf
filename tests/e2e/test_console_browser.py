"""The web console in a real browser: Debian's Chromium, driven over WebDriver (Debian's
chromium-driver) by Selenium, against the real binary and the emulator.

An auditor signs in and filters the trail and opens a record; an approver approves one waiting
write (the assistant's call, made with the Python MCP SDK, completes) and denies another (the
call is refused with the comment); an operator closes the kill switch through its confirmation
step (a tool call is then refused) and opens it again; a form posted without its CSRF token and
a key without the page's scope are refused; a person signs in with their Odoo login and API key
and gets the roles the config's rules give them; an operator reads the dashboard and a profile's
effective policy, reloads the policies and makes and revokes a key. The screenshots in
docs/screenshots/ (shown in the README) are taken here.
"""

import asyncio
import os
import pathlib
import shutil
import threading
import time

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ROOT, make_key, start_emulator, start_warden

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
SHOTS = ROOT / "docs" / "screenshots"

POLICY = """
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
create = { fields = ["name", "is_company"], confirm = "approver" }
"""


# Waiting calls complete when decided; Marc Demo (Odoo login demo) may approve and audit.
PEOPLE = """
[confirm]
approval_wait_secs = 25
[[console.role_rules]]
login = "demo"
roles = ["approve", "audit"]
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    for path in (CHROMIUM, CHROMEDRIVER):
        assert shutil.which(path), f"{path} is missing: apt-get install chromium chromium-driver (.ci/run does)"
    emu, odoo_url = start_emulator("19.0")
    tmp = tmp_path_factory.mktemp("console")
    try:
        warden, mcp_url, token = start_warden(tmp, odoo_url, login="mcp_writer", policy=POLICY,
                                              extra_config=PEOPLE)
    except Exception:
        emu.stop()
        raise
    stack = {"mcp_url": mcp_url, "token": token, "admin_url": warden.admin_url, "warden": warden,
             "keys": {scope: make_key(warden, scope, name=f"{scope}-person") for scope in ("audit", "approve", "admin")}}
    yield stack
    warden.stop()
    emu.stop()


@pytest.fixture()
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--lang=en-US"):
        options.add_argument(arg)
    # A viewer in New York: the pages show their times in the viewer's zone.
    service = Service(executable_path=CHROMEDRIVER, env=dict(os.environ, TZ="America/New_York"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def sign_in(driver, stack, key):
    driver.get(stack["admin_url"] + "/console/")
    field = WebDriverWait(driver, 10).until(EC.presence_of_element_located((By.NAME, "key")))
    assert driver.find_element(By.CSS_SELECTOR, "label[for=key]").text, "the key field has no label"
    field.send_keys(key)
    field.find_element(By.XPATH, "./ancestor::form//button[@type='submit']").click()


def heading(driver):
    """The page's h1 ("" while a new page replaces the old one)."""
    try:
        return driver.find_element(By.TAG_NAME, "h1").text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def call_in_background(stack, name, args):
    """An assistant's tool call (Python MCP SDK, 2025-11-25, no elicitation: an approver decides),
    run on its own thread; the returned dict gets "result" (or "error") and "at" when it ends."""
    out = {}

    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {stack['token']}"}, timeout=60) as http:
            async with Client(streamable_http_client(stack["mcp_url"], http_client=http), mode="legacy") as client:
                return await client.call_tool(name, args)

    def run():
        try:
            out["result"] = asyncio.run(main())
        except BaseException as e:  # noqa: BLE001 - reported to the test
            out["error"] = e
        out["at"] = time.monotonic()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    out["thread"] = t
    return out


def wait_for_pending(driver, stack, name):
    """Reloads the approvals page until the write of `name` waits there."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        driver.get(stack["admin_url"] + "/console/approvals")
        for card in driver.find_elements(By.CSS_SELECTOR, "section.approval"):
            if name in card.text:
                return card
        time.sleep(0.2)
    raise AssertionError(f"no pending approval for {name}: {driver.page_source[:2000]}")


def test_an_auditor_filters_the_trail_and_opens_a_record(stack, browser):
    sign_in(browser, stack, stack["keys"]["audit"])
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "The last hour")
    browser.find_element(By.LINK_TEXT, "Audit trail").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Audit trail")
    assert browser.get_cookie("owarden_console")["httpOnly"] is True
    assert browser.get_cookie("owarden_console")["sameSite"] == "Strict"
    # Some records of one kind to filter on.
    browser.find_element(By.ID, "f-kind").send_keys("console_sign_in")
    browser.find_element(By.CSS_SELECTOR, ".filters button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "kind=console_sign_in" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.records tbody tr")
    assert rows and all("console_sign_in" in r.text for r in rows), [r.text for r in rows]
    # Times are shown in the viewer's zone, UTC on hover.
    shown = browser.find_element(By.CSS_SELECTOR, "table.records time")
    assert shown.get_attribute("title").endswith(" UTC"), shown.get_attribute("title")
    assert "EST" in shown.text or "GMT-5" in shown.text, shown.text
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.find_element(By.CSS_SELECTOR, ".filters .actions a").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/console/trail"))
    browser.save_screenshot(str(SHOTS / "console-trail.png"))
    browser.find_element(By.CSS_SELECTOR, "table.records tbody tr td a").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d).startswith("Record"))
    assert "Chain" in browser.page_source or "hash" in browser.page_source
    # The chain, verified on demand.
    browser.get(stack["admin_url"] + "/console/trail")
    browser.find_element(By.LINK_TEXT, "Chain status").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Chain status")
    assert "The chain is intact up to record" in browser.find_element(By.TAG_NAME, "main").text
    # At a phone's width the page does not scroll sideways.
    browser.set_window_size(390, 844)
    browser.get(stack["admin_url"] + "/console/trail")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    # The audit key opens no approvals page.
    browser.get(stack["admin_url"] + "/console/approvals")
    assert heading(browser) == "Not allowed"


def test_an_approver_approves_one_write_and_denies_another(stack, browser):
    approved = call_in_background(stack, "create_records",
                                  {"model": "res.partner", "records": [{"name": "Browser Approved Co", "is_company": True}]})
    sign_in(browser, stack, stack["keys"]["approve"])
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Approvals")
    card = wait_for_pending(browser, stack, "Browser Approved Co")
    assert "is_company" in card.text and "true" in card.text, card.text
    card.find_element(By.TAG_NAME, "textarea").send_keys("checked with sales")
    browser.save_screenshot(str(SHOTS / "console-approval.png"))
    assert "result" not in approved, "the call did not wait for its approval"
    card.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    decided = time.monotonic()
    WebDriverWait(browser, 10).until(lambda d: "Approved apr_" in d.page_source)
    approved["thread"].join(10)
    assert "error" not in approved, approved.get("error")
    assert not approved["result"].is_error, approved["result"].content
    assert approved["at"] - decided < 1.5, f"completed {approved['at'] - decided:.2f} s after the decision"

    denied = call_in_background(stack, "create_records",
                                {"model": "res.partner", "records": [{"name": "Browser Denied Co", "is_company": True}]})
    card = wait_for_pending(browser, stack, "Browser Denied Co")
    card.find_element(By.TAG_NAME, "textarea").send_keys("not a customer")
    card.find_element(By.CSS_SELECTOR, "button[value=deny]").click()
    decided = time.monotonic()
    WebDriverWait(browser, 10).until(lambda d: "Denied apr_" in d.page_source)
    denied["thread"].join(10)
    assert "error" not in denied, denied.get("error")
    assert denied["result"].is_error
    assert "not a customer" in str(denied["result"].content)
    assert denied["at"] - decided < 1.5

    # A form posted without its CSRF token: refused, nothing decided.
    waiting = call_in_background(stack, "create_records",
                                 {"model": "res.partner", "records": [{"name": "Browser Forged Co", "is_company": True}]})
    card = wait_for_pending(browser, stack, "Browser Forged Co")
    browser.execute_script("document.querySelectorAll('input[name=csrf]').forEach(e => e.value = '')")
    card.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Refused")
    assert "CSRF" in browser.page_source
    card = wait_for_pending(browser, stack, "Browser Forged Co")
    card.find_element(By.CSS_SELECTOR, "button[value=deny]").click()
    waiting["thread"].join(10)


def test_an_operator_closes_the_kill_switch_through_its_confirmation(stack, browser):
    sign_in(browser, stack, stack["keys"]["admin"])
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "The last hour")
    browser.find_element(By.LINK_TEXT, "Kill switch").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Kill switch")
    browser.find_element(By.ID, "m-closed").click()
    browser.find_element(By.ID, "reason").send_keys("browser drill")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "Confirm: set the switch to closed" in d.page_source)
    # Nothing changed before the confirmation.
    assert "Now: open" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.CSS_SELECTOR, "button.danger").click()
    WebDriverWait(browser, 10).until(lambda d: "The switch is now closed." in d.page_source)

    async def search():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {stack['token']}"}) as http:
            async with Client(streamable_http_client(stack["mcp_url"], http_client=http), mode="legacy") as client:
                return await client.call_tool("search_records", {"model": "res.partner", "domain": []})

    refused = asyncio.run(search())
    assert refused.is_error and "browser drill" in str(refused.content), refused.content
    # Open again.
    browser.find_element(By.ID, "m-open").click()
    browser.find_element(By.ID, "reason").send_keys("drill over")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: "Confirm: set the switch to open" in d.page_source)
    browser.find_element(By.CSS_SELECTOR, "button.danger").click()
    WebDriverWait(browser, 10).until(lambda d: "The switch is now open." in d.page_source)
    assert not asyncio.run(search()).is_error


def test_keys_without_a_console_scope_are_refused(stack, browser):
    sign_in(browser, stack, stack["token"])
    WebDriverWait(browser, 10).until(lambda d: "none of the audit, approve and admin scopes" in d.page_source)
    assert browser.get_cookie("owarden_console") is None
    sign_in(browser, stack, "owk_not_a_key")
    WebDriverWait(browser, 10).until(lambda d: "was not accepted" in d.page_source)


def test_a_person_signs_in_with_their_odoo_login(stack, browser):
    browser.get(stack["admin_url"] + "/console/sign-in")
    login = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.NAME, "login")))
    assert browser.find_element(By.CSS_SELECTOR, "label[for=login]").text
    assert browser.find_element(By.CSS_SELECTOR, "label[for=odoo_api_key]").text
    # A wrong key: refused in words the person can act on.
    login.send_keys("demo")
    browser.find_element(By.NAME, "odoo_api_key").send_keys("not-my-key")
    browser.find_element(By.NAME, "odoo_api_key").submit()
    WebDriverWait(browser, 10).until(lambda d: "Odoo did not accept" in d.page_source)
    browser.find_element(By.NAME, "login").send_keys("demo")
    browser.find_element(By.NAME, "odoo_api_key").send_keys("<apikey:demo>")
    browser.find_element(By.NAME, "odoo_api_key").submit()
    # Audit and approve, by the rule for their login: the dashboard first, approvals reachable.
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "The last hour")
    assert "Marc Demo (demo)" in browser.find_element(By.CSS_SELECTOR, ".who").text
    browser.find_element(By.LINK_TEXT, "Approvals").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Approvals")
    # Not an admin: no keys page.
    browser.get(stack["admin_url"] + "/console/keys")
    assert heading(browser) == "Not allowed"
    # The trail names the person's own sign-in.
    browser.get(stack["admin_url"] + "/console/trail?person=demo&kind=console_sign_in")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.records tbody tr")
    assert rows and "demo (signed in)" in rows[0].text, [r.text for r in rows]


def test_an_operator_reads_the_dashboard_and_profiles_reloads_and_makes_a_key(stack, browser):
    sign_in(browser, stack, stack["keys"]["admin"])
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "The last hour")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "Tool calls" in main and "Refusals by reason" in main and "Odoo latency" in main, main
    browser.save_screenshot(str(SHOTS / "console-dashboard.png"))
    browser.find_element(By.LINK_TEXT, "Profiles").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Profiles and their effective policy")
    main = browser.find_element(By.TAG_NAME, "main").text
    assert "res.partner" in main and "approver" in main and "is_company, name" in main, main
    browser.save_screenshot(str(SHOTS / "console-profiles.png"))
    browser.find_element(By.CSS_SELECTOR, "form.reload button").click()
    WebDriverWait(browser, 10).until(lambda d: "Policies reloaded: assistant" in d.page_source)
    # A key made here: its secret shown once, and it works at once.
    browser.find_element(By.LINK_TEXT, "Keys").click()
    WebDriverWait(browser, 10).until(lambda d: heading(d) == "Keys")
    browser.find_element(By.ID, "k-name").send_keys("browser bot")
    browser.find_element(By.ID, "s-mcp").click()
    browser.find_element(By.ID, "k-profile").send_keys("assistant")
    browser.find_element(By.ID, "k-name").submit()
    secret = WebDriverWait(browser, 10).until(EC.presence_of_element_located((By.ID, "secret")))
    token = secret.get_attribute("value")
    assert token.startswith("owk_"), token

    async def search(key):
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
            async with Client(streamable_http_client(stack["mcp_url"], http_client=http), mode="legacy") as client:
                return await client.call_tool("search_records", {"model": "res.partner", "domain": []})

    assert not asyncio.run(search(token)).is_error
    browser.get(stack["admin_url"] + "/console/keys")
    assert token not in browser.page_source
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "table.records tbody tr") if "browser bot" in r.text)
    row.find_element(By.CSS_SELECTOR, "input[name=confirm]").click()
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    WebDriverWait(browser, 10).until(lambda d: "revoked." in d.page_source)
    refused = httpx2.post(stack["mcp_url"], headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
                          json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert refused.status_code == 401, refused.text
