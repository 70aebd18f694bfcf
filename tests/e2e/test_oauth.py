"""People sign in with OAuth 2.1 and work as their own Odoo user, driven by the Python MCP SDK.

The SDK's OAuthClientProvider does what an assistant's client does: discovery (RFC 9728 protected
resource metadata, RFC 8414 server metadata), dynamic client registration (RFC 7591), the
authorization code flow with PKCE S256 and the resource indicator (RFC 8707), the token exchange.
The person's part, the sign-in page, is filled in here (tests/e2e/oauth_consent.py): GET the
authorization URL, POST login, Odoo API key and decision with the hidden fields and the CSRF
cookie, read the 303's Location without following it; the callback handler hands the code, state
and iss back to the SDK.

Both eras (legacy 2025-11-25, auto 2026-07-28) against the emulator as Odoo 18.0 and 19.0.
"""

import asyncio
import json
import time
from urllib.parse import parse_qs, urlparse

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

from conftest import UIDS, make_key, start_emulator, start_warden, warden_cli
from oauth_consent import sign_in

MODES = [("legacy", "2025-11-25"), ("auto", "2026-07-28")]
KEYS = {"mcp_reader": "<apikey:mcp_reader>", "mcp_writer": "<apikey:mcp_writer>", "admin": "<apikey:admin>"}
# The emulator's sale orders: the reader's record rule shows its own 3, the writer sees all 24.
ORDERS = {"mcp_reader": 3, "mcp_writer": 24}
# Never served: the test reads the code off the 303's Location instead of following it.
REDIRECT_URI = "http://127.0.0.1:47311/callback"


def _stack(tmp_path_factory, version, oauth=True, extra_config=""):
    emu, odoo_url = start_emulator(version)
    try:
        warden, mcp_url, token = start_warden(tmp_path_factory.mktemp("oauth"), odoo_url, oauth=oauth,
                                              extra_config=extra_config)
    except Exception:
        emu.stop()
        raise
    stack = {"version": version, "mcp_url": mcp_url, "origin": origin_of(mcp_url), "token": token,
             "warden": warden, "admin_url": warden.admin_url, "emulator": emu}
    stack["audit_key"] = make_key(warden, "audit")
    stack["admin_key"] = make_key(warden, "admin")
    return stack


def _stop(stack):
    stack["warden"].stop()
    stack["emulator"].stop()


@pytest.fixture(scope="module", params=["18.0", "19.0"])
def ostack(request, tmp_path_factory):
    """Emulator + odoo-warden with OAuth on (default profile: assistant), plus audit and admin keys."""
    stack = _stack(tmp_path_factory, request.param)
    yield stack
    _stop(stack)


@pytest.fixture(params=["18.0", "19.0"])
def fresh_stack(request, tmp_path_factory):
    """As `ostack`, but for one test only: revocations must not leak into other tests."""
    stack = _stack(tmp_path_factory, request.param)
    yield stack
    _stop(stack)


def origin_of(url):
    u = urlparse(url)
    return f"{u.scheme}://{u.netloc}"


class SignInRefused(Exception):
    """The sign-in page did not redirect with a code (the callback handler's answer to the SDK)."""


class Person:
    """One person at one MCP client: the SDK's OAuthClientProvider with in-memory TokenStorage,
    whose redirect handler fills in the sign-in page with this person's Odoo credential.

    attempts: (login, key) pairs submitted first, each expected to be refused with the form shown
    again. decision: "allow" or "deny"."""

    def __init__(self, mcp_url, login, api_key=None, decision="allow", attempts=None):
        self.mcp_url = mcp_url
        self.login = login
        self.api_key = api_key or KEYS[login]
        self.decision = decision
        self.attempts = attempts
        self.tokens = None
        self.client_info = None
        self.authorization_urls = []
        self.consents = []
        self.provider = OAuthClientProvider(
            server_url=mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name=f"odoo-warden e2e ({login})",
                redirect_uris=[REDIRECT_URI],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=self,
            redirect_handler=self._redirect,
            callback_handler=self._callback,
        )

    # TokenStorage
    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info

    async def _redirect(self, authorization_url):
        self.authorization_urls.append(authorization_url)
        self.consents.append(await sign_in(authorization_url, self.login, self.api_key, self.decision,
                                           attempts=self.attempts))

    async def _callback(self):
        last = self.consents[-1].last
        q = last.query
        if last.status != 303 or "code" not in q:
            raise SignInRefused(f"sign-in answered {last.status} {q or last.text[:300]}")
        return AuthorizationCodeResult(code=q["code"], state=q.get("state"), iss=q.get("iss"))

    @property
    def authorization_params(self):
        return {k: v[0] for k, v in parse_qs(urlparse(self.authorization_urls[-1]).query).items()}


def run_as(person, mode, body, timeout=60):
    async def main():
        async with httpx2.AsyncClient(auth=person.provider) as http:
            async with Client(streamable_http_client(person.mcp_url, http_client=http), mode=mode) as client:
                return await body(client)

    async def bounded():
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def structured(result):
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def raw_initialize(mcp_url, bearer):
    """One bare initialize with a bearer token: 200 while the token works, 401 once it does not."""
    return httpx2.post(
        mcp_url,
        headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                         "clientInfo": {"name": "e2e-raw", "version": "1"}}},
        timeout=30, trust_env=False,
    )


def server_metadata(stack):
    r = httpx2.get(stack["origin"] + "/.well-known/oauth-authorization-server", timeout=30, trust_env=False)
    assert r.status_code == 200, r.text
    return r.json()


def refresh(stack, person, refresh_token):
    return httpx2.post(
        server_metadata(stack)["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token,
              "client_id": person.client_info.client_id, "resource": stack["mcp_url"]},
        timeout=30, trust_env=False,
    )


def audit_cli(stack, person):
    """`audit query --person LOGIN --json` with the audit key: the records."""
    r = warden_cli(stack["warden"], "audit", "query", "--person", person, "--limit", "1000", "--json",
                   "--key", stack["audit_key"], "--admin-url", stack["admin_url"])
    assert r.returncode == 0, r.stderr
    return [row["record"] for row in json.loads(r.stdout)["records"]]


def audit_api(stack, **query):
    """GET /admin/v1/audit?... with the audit key: the records."""
    r = httpx2.get(stack["admin_url"] + "/admin/v1/audit", params=dict(query, limit=1000),
                   headers={"Authorization": f"Bearer {stack['audit_key']}"}, timeout=30, trust_env=False)
    assert r.status_code == 200, r.text
    return [row["record"] for row in r.json()["records"]]


def eventually(probe, timeout=5.0):
    """probe() until it returns something truthy (the audit trail is written asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def exception_text(e):
    """Every message in an exception, its groups, causes and contexts."""
    seen, out, todo = set(), [], [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        out.append(f"{type(x).__name__}: {x}")
        todo.extend(getattr(x, "exceptions", ()) or ())
        todo.extend([x.__cause__, x.__context__])
    return "\n".join(out)


# -- discovery ---------------------------------------------------------------------------------


def test_discovery_documents_and_the_challenge(ostack):
    mcp_url, origin = ostack["mcp_url"], ostack["origin"]
    get = lambda path: httpx2.get(origin + path, timeout=30, trust_env=False)  # noqa: E731

    # RFC 9728, at the path-suffixed and the root well-known URI.
    prm = get("/.well-known/oauth-protected-resource/mcp")
    assert prm.status_code == 200, prm.text
    assert prm.headers["content-type"].startswith("application/json")
    prm = prm.json()
    assert prm["resource"] == mcp_url
    assert len(prm["authorization_servers"]) == 1
    issuer = prm["authorization_servers"][0]
    root = get("/.well-known/oauth-protected-resource")
    assert root.status_code == 200, root.text
    assert root.json()["resource"] == mcp_url and root.json()["authorization_servers"] == [issuer]

    # RFC 8414.
    asm = server_metadata(ostack)
    assert asm["issuer"] == issuer
    for name, path in [("authorization_endpoint", "/oauth/authorize"), ("token_endpoint", "/oauth/token"),
                       ("registration_endpoint", "/oauth/register"), ("revocation_endpoint", "/oauth/revoke")]:
        assert origin_of(asm[name]) == origin, (name, asm[name])
        assert urlparse(asm[name]).path == path, (name, asm[name])
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert {"none", "client_secret_post", "client_secret_basic"} <= set(asm["token_endpoint_auth_methods_supported"])
    assert asm["client_id_metadata_document_supported"] is True
    assert "code" in asm.get("response_types_supported", ["code"])

    # /mcp without a token: 401 naming the metadata.
    r = httpx2.post(mcp_url, headers={"Accept": "application/json, text/event-stream"},
                    json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=30, trust_env=False)
    assert r.status_code == 401, r.text
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith("Bearer"), challenge
    assert f'resource_metadata="{origin}/.well-known/oauth-protected-resource/mcp"' in challenge, challenge

    # RFC 7591: a public client registers.
    reg = httpx2.post(asm["registration_endpoint"], timeout=30, trust_env=False, json={
        "client_name": "e2e raw", "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"], "token_endpoint_auth_method": "none"})
    assert reg.status_code == 201, reg.text
    client = reg.json()
    assert client["client_id"] and client["redirect_uris"] == [REDIRECT_URI]
    assert client.get("token_endpoint_auth_method", "none") == "none"


# -- two people, one profile -------------------------------------------------------------------


@pytest.mark.parametrize("mode,version", MODES)
def test_two_people_work_as_themselves_through_one_profile(ostack, mode, version):
    uids = UIDS[ostack["version"]]
    seen = {}
    people = {}
    for login in ("mcp_reader", "mcp_writer"):
        person = people[login] = Person(ostack["mcp_url"], login)

        async def body(client):
            assert client.protocol_version == version
            ctx = structured(await client.call_tool("get_context", {}))
            orders = structured(await client.call_tool(
                "search_records", {"model": "sale.order", "domain": [], "fields": ["name", "user_id"], "order": "id"}))
            return ctx, orders

        ctx, orders = run_as(person, mode, body)
        seen[login] = orders["total"]
        assert ctx["login"] == login
        assert ctx["uid"] == uids[login]
        assert ctx["profile"] == "assistant"
        assert ctx["odoo_version"] == ostack["version"]
        assert ctx["acting_as"] == "person"
        assert orders["total"] == ORDERS[login], orders
        if login == "mcp_reader":
            assert all(r["user_id"][0] == uids["mcp_reader"] for r in orders["records"])

        # The SDK did the whole flow: one sign-in, PKCE S256, the resource indicator, our state back.
        assert len(person.consents) == 1
        params = person.authorization_params
        assert params["response_type"] == "code"
        assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
        assert params["resource"] == ostack["mcp_url"]
        assert params["redirect_uri"] == REDIRECT_URI
        redirect = person.consents[0].last
        assert redirect.status == 303, (redirect.status, redirect.text[:500])
        assert redirect.location.startswith(REDIRECT_URI + "?"), redirect.location
        assert redirect.query["state"] == params["state"]
        assert redirect.query["iss"] == server_metadata(ostack)["issuer"]
        assert person.tokens is not None and person.tokens.token_type.lower() == "bearer"
        assert person.tokens.refresh_token

    assert seen == {"mcp_reader": 3, "mcp_writer": 24}

    # Stored tokens are used again: a second connection needs no sign-in.
    async def again(client):
        return structured(await client.call_tool("get_context", {}))

    assert run_as(people["mcp_writer"], mode, again)["login"] == "mcp_writer"
    assert len(people["mcp_writer"].consents) == 1

    # The audit trail names each person and their client, by CLI and by the admin API.
    for login, person in people.items():
        client_id = person.client_info.client_id

        def mine(records):
            return [r for r in records if r.get("oauth_client") == client_id and r.get("tool") == "get_context"]

        by_cli = eventually(lambda: mine(audit_cli(ostack, login)))
        assert by_cli, f"no get_context record for {login} (client {client_id})"
        assert all(r["person"] == login for r in audit_cli(ostack, login))
        rec = by_cli[0]
        assert rec["kind"] == "tool_call"
        assert rec["odoo_uid"] == uids[login]
        assert rec["profile"] == "assistant"
        assert rec["decision"] == "allow" and rec["outcome"] == "ok"
        searches = [r for r in audit_cli(ostack, login)
                    if r.get("oauth_client") == client_id and r.get("tool") == "search_records"]
        assert searches and searches[0]["model"] == "sale.order"

        by_api = eventually(lambda: mine(audit_api(ostack, person=login)))
        assert by_api and all(r["person"] == login for r in audit_api(ostack, person=login))
        assert [r["time"] for r in by_api] == [r["time"] for r in by_cli]
    # One person's records are not the other's.
    assert not [r for r in audit_api(ostack, person="mcp_reader")
                if r.get("oauth_client") == people["mcp_writer"].client_info.client_id]


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_deny_gives_the_client_access_denied(ostack, mode):
    person = Person(ostack["mcp_url"], "mcp_reader", decision="deny")
    reached = []

    async def body(client):
        reached.append(client.protocol_version)

    with pytest.raises(BaseException) as raised:
        run_as(person, mode, body, timeout=30)
    assert reached == [], "the SDK must not get a session when the person denies"
    assert person.consents, f"the sign-in page was never opened: {exception_text(raised.value)}"
    denied = person.consents[0].last
    assert denied.status == 303, (denied.status, denied.text[:500])
    assert denied.location.startswith(REDIRECT_URI + "?"), denied.location
    assert denied.query["error"] == "access_denied"
    assert denied.query["state"] == person.authorization_params["state"]
    assert "code" not in denied.query
    assert person.tokens is None
    # The SDK's error carries the refusal the callback handed it.
    assert "access_denied" in exception_text(raised.value)


def test_a_bad_odoo_key_shows_the_form_again(ostack):
    """Refused credentials re-render the form with an error and no code; then the right key works."""
    bad = [("mcp_reader", "<apikey:mcp_writer>"), ("mcp_reader", "not-a-key"), ("nobody", KEYS["mcp_reader"])]
    person = Person(ostack["mcp_url"], "mcp_reader", attempts=bad)

    async def body(client):
        return structured(await client.call_tool("get_context", {}))

    assert run_as(person, "legacy", body)["login"] == "mcp_reader"
    consent = person.consents[0]
    assert len(consent.posts) == len(bad) + 1
    for (login, key), step in zip(bad, consent.posts):
        assert step.status == 200, (login, key, step.status, step.location)
        assert step.location is None
        assert "code=" not in step.body
        assert step.form is not None, f"no sign-in form after a refused key: {step.text[:500]}"
        assert {"request", "csrf", "login", "odoo_api_key"} <= set(step.form.fields)
        assert {("decision", "allow"), ("decision", "deny")} <= set(step.form.submits)
        assert step.text != consent.page.text, "the page shows no error"
        words = ("invalid", "incorrect", "wrong", "refused", "not accepted", "did not", "could not", "failed",
                 "error", "unknown")
        assert any(w in step.text.lower() for w in words), step.text
        # The key typed is not sent back in the page.
        assert key not in step.body
    assert consent.posts[-1].status == 303 and "code" in consent.posts[-1].query


def test_an_administrator_is_refused(ostack):
    """admin is an Odoo administrator: the assistant profile does not allow privileged users."""
    person = Person(ostack["mcp_url"], "admin")
    reached = []

    async def body(client):
        reached.append(1)

    with pytest.raises(BaseException):
        run_as(person, "legacy", body, timeout=30)
    assert reached == [] and person.tokens is None
    assert person.consents, "the sign-in page was never opened"
    last = person.consents[0].last
    assert "code" not in last.query, last.location
    if last.status == 200:
        assert last.form is not None and last.text != person.consents[0].page.text
    else:
        assert last.status == 303 and last.query.get("error") == "access_denied", (last.status, last.location)


# -- keys beside OAuth -------------------------------------------------------------------------


@pytest.mark.parametrize("mode,version", MODES)
def test_a_key_still_works_beside_oauth(ostack, mode, version):
    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {ostack['token']}"}) as http:
            async with Client(streamable_http_client(ostack["mcp_url"], http_client=http), mode=mode) as client:
                assert client.protocol_version == version
                ctx = structured(await client.call_tool("get_context", {}))
                orders = structured(await client.call_tool("search_records", {"model": "sale.order"}))
                return ctx, orders

    ctx, orders = asyncio.run(main())
    assert ctx["login"] == "mcp_reader" and ctx["uid"] == UIDS[ostack["version"]]["mcp_reader"]
    assert ctx["profile"] == "assistant"
    assert orders["total"] == 3
    assert ctx["acting_as"] == "profile"
    key_records = eventually(lambda: [r for r in audit_api(ostack, kind="tool_call")
                                      if r.get("key_id") and r.get("tool") == "get_context"])
    assert key_records, "no record of the key's get_context"
    assert all(r.get("person") is None and r.get("oauth_client") is None for r in key_records)


# -- tokens: refresh, revocation ---------------------------------------------------------------


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_grant(ostack):
    person = Person(ostack["mcp_url"], "mcp_reader")

    async def body(client):
        return structured(await client.call_tool("get_context", {}))

    run_as(person, "legacy", body)
    first_access, first_refresh = person.tokens.access_token, person.tokens.refresh_token

    r = refresh(ostack, person, first_refresh)
    assert r.status_code == 200, r.text
    assert "no-store" in r.headers.get("cache-control", "")
    new = r.json()
    assert new["token_type"].lower() == "bearer" and new["expires_in"] > 0
    assert new["refresh_token"] != first_refresh and new["access_token"] != first_access
    assert raw_initialize(ostack["mcp_url"], new["access_token"]).status_code == 200

    # The spent refresh token again: refused, and the whole grant with it.
    reused = refresh(ostack, person, first_refresh)
    assert reused.status_code == 400, reused.text
    assert reused.json()["error"] == "invalid_grant"
    later = refresh(ostack, person, new["refresh_token"])
    assert later.status_code == 400 and later.json()["error"] == "invalid_grant", later.text
    gone = eventually(lambda: raw_initialize(ostack["mcp_url"], new["access_token"]).status_code == 401, 3)
    assert gone, "the access token of a revoked grant still works"


def test_a_client_revokes_its_token(ostack):
    """RFC 7009: the client revokes its refresh token; the grant's tokens stop working."""
    person = Person(ostack["mcp_url"], "mcp_writer")

    async def body(client):
        return structured(await client.call_tool("get_context", {}))

    run_as(person, "legacy", body)
    access, refresh_token = person.tokens.access_token, person.tokens.refresh_token
    assert raw_initialize(ostack["mcp_url"], access).status_code == 200
    r = httpx2.post(server_metadata(ostack)["revocation_endpoint"], timeout=30, trust_env=False,
                    data={"token": refresh_token, "token_type_hint": "refresh_token",
                          "client_id": person.client_info.client_id})
    assert r.status_code == 200, r.text
    assert refresh(ostack, person, refresh_token).status_code == 400
    assert eventually(lambda: raw_initialize(ostack["mcp_url"], access).status_code == 401, 3)


@pytest.mark.parametrize("how", ["cli", "api"])
def test_revoking_a_person_ends_their_access(fresh_stack, how):
    stack = fresh_stack
    person = Person(stack["mcp_url"], "mcp_writer")
    other = Person(stack["mcp_url"], "mcp_reader")

    async def body(client):
        return structured(await client.call_tool("get_context", {}))

    assert run_as(person, "legacy", body)["login"] == "mcp_writer"
    assert run_as(other, "legacy", body)["login"] == "mcp_reader"
    access = person.tokens.access_token
    assert raw_initialize(stack["mcp_url"], access).status_code == 200

    started = time.monotonic()
    if how == "cli":
        r = warden_cli(stack["warden"], "people", "revoke", "mcp_writer", "--key", stack["admin_key"],
                       "--admin-url", stack["admin_url"])
        assert r.returncode == 0, r.stderr
    else:
        r = httpx2.post(stack["admin_url"] + "/admin/v1/people/mcp_writer/revoke", timeout=30, trust_env=False,
                        headers={"Authorization": f"Bearer {stack['admin_key']}"})
        assert r.status_code in (200, 204), (r.status_code, r.text)

    refused = eventually(lambda: raw_initialize(stack["mcp_url"], access).status_code == 401, 5)
    elapsed = time.monotonic() - started
    assert refused, "the revoked person's access token still works after 5 s"
    assert elapsed < 3, f"the revocation took {elapsed:.1f} s to reach /mcp"
    last = raw_initialize(stack["mcp_url"], access)
    assert last.headers["www-authenticate"].startswith("Bearer")
    # No new tokens either: the refresh token is refused, and so is a new sign-in.
    assert refresh(stack, person, person.tokens.refresh_token).status_code == 400
    again = Person(stack["mcp_url"], "mcp_writer")
    reached = []

    async def no_session(client):
        reached.append(1)

    with pytest.raises(BaseException):
        run_as(again, "legacy", no_session, timeout=30)
    assert reached == [] and again.tokens is None
    # The other person is untouched.
    assert raw_initialize(stack["mcp_url"], other.tokens.access_token).status_code == 200


# -- profile rules -----------------------------------------------------------------------------

RULES = """
[profiles.sales-all]
odoo_login = "mcp_writer"
odoo_api_key_env = "E2E_WRITER_KEY"

[oauth]
enabled = true
key_env = "ODOO_WARDEN_OAUTH_KEY"
# no default_profile: people no rule matches are refused
[[oauth.profile_rules]]
group = "sales_team.group_sale_salesman_all_leads"
profile = "sales-all"
"""


@pytest.fixture(scope="module")
def ruled(tmp_path_factory):
    stack = _stack(tmp_path_factory, "19.0", oauth=RULES)
    yield stack
    _stop(stack)


def test_profile_rules_pick_the_profile_and_refuse_the_rest(ruled):
    """The writer (in "User: All Documents") gets sales-all by a group rule; the reader matches no
    rule, and there is no default profile, so the reader is refused."""
    writer = Person(ruled["mcp_url"], "mcp_writer")

    async def body(client):
        return structured(await client.call_tool("get_context", {}))

    ctx = run_as(writer, "auto", body)
    assert ctx["login"] == "mcp_writer" and ctx["profile"] == "sales-all"

    reader = Person(ruled["mcp_url"], "mcp_reader")
    reached = []

    async def no_session(client):
        reached.append(1)

    with pytest.raises(BaseException):
        run_as(reader, "legacy", no_session, timeout=30)
    assert reached == [] and reader.tokens is None
    assert reader.consents, "the sign-in page was never opened"
    last = reader.consents[0].last
    assert "code" not in last.query, last.location
