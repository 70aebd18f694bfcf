"""Human confirmation of writes, driven by the Python MCP SDK as a real client.

legacy (2025-11-25): elicitation/create on the call's SSE stream, answered by the SDK's callback.
auto (2026-07-28):   input_required results (MRTR), driven by the SDK with the same callback.
Clients without elicitation escalate to an approver; approvals are decided with the CLI.
"""

import asyncio
import json
import os
import subprocess

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import WARDEN, start_emulator, start_warden

POLICY = """
[defaults]
confirm = "none"
[models."res.partner"]
read = { domain = [["is_company", "=", true]] }
update = { fields = ["comment"], confirm = "user" }
create = { fields = ["name", "is_company"], confirm = "approver" }
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    emu, odoo_url = start_emulator("19.0")
    tmp = tmp_path_factory.mktemp("confirm")
    try:
        warden, mcp_url, token = start_warden(tmp, odoo_url, login="mcp_writer", policy=POLICY)
    except Exception:
        emu.stop()
        raise
    yield {"mcp_url": mcp_url, "token": token, "config": tmp / "odoo-warden.toml", "admin_url": warden.admin_url}
    warden.stop()
    emu.stop()


def run(stack, mode, body, answer=None):
    asked = []

    async def on_elicit(context, params: types.ElicitRequestParams):
        asked.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"confirm": True})
        return types.ElicitResult(action=answer or "decline")

    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {stack['token']}"}) as http:
            kwargs = {"elicitation_callback": on_elicit} if answer else {}
            async with Client(streamable_http_client(stack["mcp_url"], http_client=http), mode=mode, **kwargs) as client:
                return await body(client)

    return asyncio.run(main()), asked


def comment_of(client_result):
    return client_result.structured_content["records"][0]["comment"]


@pytest.mark.parametrize("mode,version", [("legacy", "2025-11-25"), ("auto", "2026-07-28")])
@pytest.mark.parametrize("answer", ["accept", "decline"])
def test_the_user_is_asked(stack, mode, version, answer):
    text = f"{mode}-{answer}"

    async def body(client):
        assert client.protocol_version == version
        r = await client.call_tool("update_records", {"model": "res.partner", "ids": [1], "values": {"comment": text}})
        after = await client.call_tool("search_records", {"model": "res.partner", "domain": [["id", "=", 1]], "fields": ["comment"]})
        return r, after

    (r, after), asked = run(stack, mode, body, answer=answer)
    assert len(asked) == 1 and "res.partner" in asked[0] and "My Company" in asked[0], asked
    if answer == "accept":
        assert not r.is_error, r
        assert comment_of(after) == text
    else:
        assert r.is_error and "declined" in r.content[0].text
        assert comment_of(after) != text


def test_a_client_without_elicitation_escalates_to_an_approver(stack):
    args = {"model": "res.partner", "ids": [1], "values": {"comment": "escalated"}}

    async def ask(client):
        return await client.call_tool("update_records", args)

    r, _ = run(stack, "legacy", ask)
    assert not r.is_error
    pending = r.structured_content
    assert pending["status"] == "pending_approval"
    approval = pending["approval_id"]

    # A second person approves with the CLI and an approve key.
    env = dict(os.environ, E2E_ODOO_KEY="<apikey:mcp_writer>")
    made = subprocess.run([str(WARDEN), "--config", str(stack["config"]), "keys", "create", "--name", "approver",
                           "--scope", "approve", "--json"], env=env, capture_output=True, text=True, check=True, timeout=60)
    approver = json.loads(made.stdout)["token"]
    # The requesting (mcp) key cannot approve.
    refused = subprocess.run([str(WARDEN), "--config", str(stack["config"]), "approvals", "approve", approval,
                              "--key", stack["token"], "--admin-url", stack["admin_url"]], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "approve scope" in refused.stderr, refused.stderr
    listed = subprocess.run([str(WARDEN), "--config", str(stack["config"]), "approvals", "list", "--key", approver, "--json",
                             "--admin-url", stack["admin_url"]],
                            env=env, capture_output=True, text=True, check=True, timeout=60)
    assert approval in listed.stdout
    subprocess.run([str(WARDEN), "--config", str(stack["config"]), "approvals", "approve", approval, "--key", approver,
                    "--reason", "checked", "--admin-url", stack["admin_url"]], env=env, capture_output=True, text=True, check=True, timeout=60)

    async def retry(client):
        done = await client.call_tool("update_records", dict(args, approval_id=approval))
        again = await client.call_tool("update_records", dict(args, approval_id=approval))
        after = await client.call_tool("search_records", {"model": "res.partner", "domain": [["id", "=", 1]], "fields": ["comment"]})
        return done, again, after

    (done, again, after), _ = run(stack, "legacy", retry)
    assert not done.is_error, done
    assert again.is_error and "already used" in again.content[0].text
    assert comment_of(after) == "escalated"
