"""The person's side of odoo-warden's sign-in page, as a browser would fill it in.

Used by tests/e2e/test_oauth.py (the Python SDK's redirect handler) and, run as a script, as the
fake browser mcp-remote opens (tests/e2e/test_oauth_remote.py):

    python oauth_consent.py AUTHORIZATION_URL

reads the person from OAUTH_E2E_LOGIN / OAUTH_E2E_KEY (OAUTH_E2E_DECISION: allow, the default, or
deny), signs in, and then, as a browser following the 303 would, GETs the redirect URI (the
client's own localhost callback) with the code and state. Each step is appended to OAUTH_E2E_LOG.

The page contract: GET /oauth/authorize answers an HTML form (method POST, action /oauth/authorize)
with hidden inputs `request` and `csrf`, text inputs `login` and `odoo_api_key`, and two submit
buttons name="decision" value="allow" / "deny", and sets a CSRF cookie that must come back with the
POST. Allow with a good credential: 303 to redirect_uri?code&state&iss. Deny: 303 to
redirect_uri?error=access_denied&state. A refused credential: the form again (200) with an error.
"""

import asyncio
import html.parser
import http.cookies
import os
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2


@dataclass
class Form:
    action: str = ""
    method: str = "get"
    # name -> value of every input that is not a submit button (hidden and text alike)
    fields: dict = field(default_factory=dict)
    # name -> input type ("hidden", "text", "password", ...)
    types: dict = field(default_factory=dict)
    # (name, value) of every submit button
    submits: list = field(default_factory=list)


class _Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.text = []
        self._skip = 0
        self._form = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "form":
            self._form = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self._form.submits.append((a["name"], a.get("value", "")))
            else:
                self._form.fields[a["name"]] = a.get("value", "")
                self._form.types[a["name"]] = kind
        elif tag == "button" and self._form is not None and a.get("name"):
            if a.get("type", "submit").lower() == "submit":
                self._form.submits.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag == "form":
            self._form = None

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(data.strip())


def parse_page(body):
    """(the sign-in form or None, the page's visible text)."""
    p = _Parser()
    p.feed(body)
    p.close()
    form = next((f for f in p.forms if "request" in f.fields and "csrf" in f.fields), None)
    return form, " ".join(p.text)


def cookies_of(response, into=None):
    """name -> value of the cookies a response sets (the CSRF cookie), merged into `into`."""
    jar = dict(into or {})
    for header in response.headers.get_list("set-cookie"):
        c = http.cookies.SimpleCookie()
        c.load(header)
        for name, morsel in c.items():
            jar[name] = morsel.value
    return jar


@dataclass
class Step:
    """One answer of the sign-in page."""
    status: int
    location: str | None
    form: Form | None
    text: str
    body: str

    @property
    def query(self):
        """The redirect's query parameters (first value of each)."""
        if not self.location:
            return {}
        return {k: v[0] for k, v in parse_qs(urlparse(self.location).query).items()}


@dataclass
class Consent:
    """What the person saw: the first page (GET), then the answer to each POST."""
    page: Step
    posts: list = field(default_factory=list)

    @property
    def last(self):
        return self.posts[-1] if self.posts else self.page


def _step(r):
    form, text = parse_page(r.text) if "html" in r.headers.get("content-type", "") else (None, "")
    return Step(r.status_code, r.headers.get("location"), form, text, r.text)


class ConsentError(AssertionError):
    pass


async def open_page(http, authorization_url):
    """GET the authorization URL: the form, and the cookies it set."""
    r = await http.get(authorization_url)
    page = _step(r)
    if r.status_code != 200 or page.form is None:
        raise ConsentError(
            f"GET {authorization_url}: expected the sign-in form (200), got {r.status_code} "
            f"{r.headers.get('location') or ''}\n{r.text[:2000]}")
    return page, cookies_of(r)


async def submit(http, page_url, form, cookies, login, api_key, decision):
    """POST the form as a browser would (hidden fields as served, the cookie, an Origin header)."""
    if form.method != "post":
        raise ConsentError(f"the sign-in form's method is {form.method!r}, not post")
    if (("decision", decision) not in form.submits):
        raise ConsentError(f"the form has no decision={decision!r} button: {form.submits}")
    for name in ("login", "odoo_api_key"):
        if name not in form.fields:
            raise ConsentError(f"the form has no {name!r} input: {sorted(form.fields)}")
    data = dict(form.fields)
    data.update(login=login, odoo_api_key=api_key, decision=decision)
    target = urljoin(page_url, form.action or page_url)
    origin = "{0.scheme}://{0.netloc}".format(urlparse(page_url))
    headers = {"Origin": origin, "Referer": page_url}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    r = await http.post(target, data=data, headers=headers)
    return _step(r), cookies_of(r, cookies)


async def sign_in(authorization_url, login, api_key, decision="allow", attempts=None):
    """Fill in the sign-in page. `attempts`: (login, key) pairs tried first, each expected to be
    refused with the form shown again, before (login, api_key)."""
    async with httpx2.AsyncClient(follow_redirects=False, trust_env=False, timeout=30) as http:
        page, cookies = await open_page(http, authorization_url)
        consent = Consent(page)
        form = page.form
        for bad_login, bad_key in attempts or []:
            step, cookies = await submit(http, authorization_url, form, cookies, bad_login, bad_key, "allow")
            consent.posts.append(step)
            if step.status != 200 or step.form is None:
                return consent  # the caller's assertions say what went wrong
            form = step.form
        step, cookies = await submit(http, authorization_url, form, cookies, login, api_key, decision)
        consent.posts.append(step)
        return consent


def _log(line):
    path = os.environ.get("OAUTH_E2E_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {line}\n")


def browser_main(url):
    """The fake browser: sign in, then follow the 303 to the client's callback."""
    _log(f"open {url}")
    login = os.environ["OAUTH_E2E_LOGIN"]
    key = os.environ["OAUTH_E2E_KEY"]
    decision = os.environ.get("OAUTH_E2E_DECISION", "allow")
    try:
        consent = asyncio.run(sign_in(url, login, key, decision))
    except Exception as e:  # noqa: BLE001 - reported to the test through the log
        _log(f"sign-in failed: {e!r}")
        return 1
    last = consent.last
    _log(f"sign-in answered {last.status} location={last.location}")
    if last.status != 303 or not last.location:
        _log(f"no redirect; page text: {last.text[:500]}")
        return 1
    # The client's callback server may still be starting: retry for a few seconds.
    deadline = time.monotonic() + 15
    while True:
        try:
            r = httpx2.get(last.location, trust_env=False, timeout=30, follow_redirects=False)
            _log(f"callback answered {r.status_code}: {r.text.strip()[:200]}")
            return 0 if r.status_code < 400 else 1
        except httpx2.TransportError as e:
            if time.monotonic() > deadline:
                _log(f"callback unreachable: {e!r}")
                return 1
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(browser_main(sys.argv[1]))
