"""odoo-warden driven by the official Python MCP SDK, in both protocol eras.

legacy: initialize handshake, session, 2025-11-25.
auto:   server/discover, stateless 2026-07-28 (asserted: auto silently falls back to legacy on error).
"""

import asyncio
import json

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import UIDS

READ_TOOLS = {"get_context", "list_models", "get_fields", "search_records", "read_group"}


async def session_run(url, token, mode, body):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
            return await body(client)


def run(url, token, mode, body):
    return asyncio.run(session_run(url, token, mode, body))


def structured(result):
    assert not result.is_error, result.content
    assert result.structured_content is not None
    # The text block carries the same JSON for clients without structuredContent.
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


def error_text(result):
    assert result.is_error, result
    return result.content[0].text


@pytest.mark.parametrize("mode,version", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
def test_read_tools_end_to_end(stack, mode, version):
    reader_uid = UIDS[stack["version"]]["mcp_reader"]

    async def body(client):
        assert client.protocol_version == version
        tools = await client.list_tools()
        names = {t.name for t in tools.tools}
        assert names == READ_TOOLS
        for t in tools.tools:
            assert t.annotations.read_only_hint is True
            assert t.annotations.destructive_hint is False
            assert t.output_schema is not None

        ctx = structured(await client.call_tool("get_context", {}))
        assert ctx["uid"] == reader_uid
        assert ctx["login"] == "mcp_reader"
        assert ctx["odoo_version"] == stack["version"]
        assert ctx["profile"] == "assistant"
        assert ctx["company"]["id"] == 1
        assert ctx["permissions"]["sale.order"] == ["read"]

        models = structured(await client.call_tool("list_models", {}))["models"]
        by_name = {m["model"]: m for m in models}
        assert {"res.partner", "sale.order"} <= set(by_name)
        assert by_name["sale.order"]["operations"] == ["read"]

        fields = structured(await client.call_tool("get_fields", {"model": "res.partner", "fields": ["name", "country_id"]}))
        assert fields["fields"]["name"]["type"] == "char"
        assert fields["fields"]["country_id"]["relation"] == "res.country"

        # The reader's record rule: own sale orders only (3 of 24).
        orders = structured(await client.call_tool(
            "search_records", {"model": "sale.order", "fields": ["name", "state", "user_id"], "order": "id"}))
        assert orders["total"] == 3
        assert [r["name"] for r in orders["records"]] == ["S00001", "S00002", "S00003"]
        assert all(r["user_id"][0] == reader_uid for r in orders["records"])

        # A full page triggers a count: total is the whole match, not the page.
        page = structured(await client.call_tool("search_records", {"model": "sale.order", "limit": 2}))
        assert len(page["records"]) == 2 and page["total"] == 3

        groups = structured(await client.call_tool(
            "read_group", {"model": "sale.order", "groupby": ["state"], "aggregates": ["amount_total:sum", "__count"]}))
        assert sum(g["__count"] for g in groups["groups"]) == 3
        assert all("amount_total:sum" in g for g in groups["groups"])

        # Errors an assistant can act on, never a traceback.
        bad_arg = error_text(await client.call_tool("search_records", {"model": "res.partner", "limit": "ten"}))
        assert '"limit"' in bad_arg
        hidden = error_text(await client.call_tool("search_records", {"model": "ir.config_parameter"}))
        assert "list_models" in hidden
        odoo_err = error_text(await client.call_tool(
            "search_records", {"model": "res.partner", "domain": [["no_such_field", "=", 1]]}))
        assert "no_such_field" in odoo_err and "Traceback" not in odoo_err
        bad_domain = error_text(await client.call_tool(
            "search_records", {"model": "res.partner", "domain": ["|", ["name", "=", "x"]]}))
        assert '"domain"' in bad_domain

    run(stack["mcp_url"], stack["token"], mode, body)


WRONG_KEY = "owk_" + "A" * 16 + "_" + "b" * 32


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_a_wrong_key_is_refused(stack, mode):
    reached = []

    async def body(client):
        reached.append(client.protocol_version)

    with pytest.raises(BaseException):
        run(stack["mcp_url"], WRONG_KEY, mode, body)
    assert reached == [], "the SDK must not get a session with a wrong key"

    async def raw():
        async with httpx2.AsyncClient() as http:
            return await http.post(
                stack["mcp_url"],
                headers={"Authorization": f"Bearer {WRONG_KEY}", "Accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 1, "method": "initialize",
                      "params": {"protocolVersion": "2025-11-25", "capabilities": {}}},
            )

    r = asyncio.run(raw())
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def cli(stack, *args):
    """The real CLI against the running server's config."""
    from conftest import WARDEN
    import subprocess
    w = stack["warden"]
    return subprocess.run([str(WARDEN), "--config", str(w.config), *args], env=w.env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_a_kill_switch_refusal_is_a_result_the_assistant_reads(stack, mode):
    """A governance refusal is a tool result (isError), so the SDK does not raise and the
    assistant reads who closed the switch and why; protocol methods keep answering."""
    made = cli(stack, "keys", "create", "--name", "e2e-admin", "--scope", "admin", "--json")
    assert made.returncode == 0, made.stderr
    admin = json.loads(made.stdout)["token"]
    admin_url = stack["warden"].admin_url
    closed = cli(stack, "kill", "--mode", "closed", "--reason", "e2e incident 7", "--key", admin,
                 "--admin-url", admin_url)
    assert closed.returncode == 0, closed.stderr
    try:
        async def body(client):
            tools = await client.list_tools()
            assert {t.name for t in tools.tools} <= READ_TOOLS
            result = await client.call_tool("get_context", {})
            text = error_text(result)
            assert "kill switch is closed" in text and "e2e incident 7" in text, text
            # The session lives on: the next call is answered too.
            again = await client.call_tool("search_records", {"model": "res.partner"})
            assert again.is_error

        run(stack["mcp_url"], stack["token"], mode, body)
    finally:
        opened = cli(stack, "kill", "--off", "--key", admin, "--admin-url", admin_url)
        assert opened.returncode == 0, opened.stderr

    async def after(client):
        structured(await client.call_tool("get_context", {}))

    run(stack["mcp_url"], stack["token"], mode, after)


def test_a_wrong_key_gets_a_readable_json_rpc_error(stack):
    async def raw():
        async with httpx2.AsyncClient() as http:
            return await http.post(
                stack["mcp_url"],
                headers={"Authorization": f"Bearer {WRONG_KEY}", "Accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            )

    r = asyncio.run(raw())
    assert r.status_code == 401
    body = r.json()
    assert body["jsonrpc"] == "2.0" and body["error"]["code"] == -32001
    assert "odoo-warden keys create" in body["error"]["message"]
