"""Shared fixtures: start the Odoo emulator and odoo-warden as real processes.

Binaries come from `cargo build --bins --examples` (scripts/test builds them first). Every process
is started with a deadline for its readiness line and killed at teardown, so a broken build fails
the test instead of hanging it.
"""

import base64
import json
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
WARDEN = pathlib.Path(os.environ.get("ODOO_WARDEN_BIN", TARGET / "debug" / "odoo-warden"))
EMULATOR = pathlib.Path(os.environ.get("ODOO_EMULATOR_BIN", TARGET / "debug" / "examples" / "odoo-emulator"))

# The emulator's users (the uids of the recordings it reproduces).
UIDS = {"18.0": {"mcp_reader": 8, "mcp_writer": 9}, "19.0": {"mcp_reader": 7, "mcp_writer": 8}}

# Every child process started, so that a failing test's report carries what they printed.
RUNNING = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for p in RUNNING:
            tail = "".join(p.output[-60:])
            report.sections.append((f"{p.name} (pid {p.proc.pid}), last lines", tail))


class Process:
    """A child process whose stdout is read on a thread (no blocking reads in the test)."""

    def __init__(self, argv, env=None, name="process"):
        self.name = name
        self.lines = queue.Queue()
        self.output = []
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        RUNNING.append(self)

    def _pump(self):
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, prefix, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith(prefix):
                return line[len(prefix):].strip()
        self.stop()
        raise RuntimeError(f"{self.name} did not print {prefix!r}; output:\n{''.join(self.output)}")

    def stop(self):
        if self in RUNNING:
            RUNNING.remove(self)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start_emulator(version):
    p = Process([str(EMULATOR), "--odoo-version", version, "--listen", "127.0.0.1:0"], name="odoo emulator")
    url = p.wait_for("listening on ")
    return p, url


# The [oauth] section `start_warden(..., oauth=True)` adds: people sign in with their own Odoo
# login and API key, and get the assistant profile unless a rule says otherwise.
OAUTH_DEFAULT = """
[oauth]
enabled = true
key_env = "ODOO_WARDEN_OAUTH_KEY"
default_profile = "assistant"
"""


def start_warden(tmp_path, odoo_url, login="mcp_reader", extra_server="", policy=None, oauth=False,
                 extra_config=""):
    """odoo-warden with a SQLite store in tmp_path; returns (process, MCP URL, MCP key).

    The key is made with the real CLI (`keys create --json`), as an operator would.

    oauth: False (no sign-in), True (the [oauth] section above) or the text of an [oauth] section.
    With OAuth on, a fresh random sealing key (base64 of 32 bytes) is put in ODOO_WARDEN_OAUTH_KEY.
    extra_config: more TOML (further profiles, say) appended after the assistant profile; the
    mcp_writer's key is in E2E_WRITER_KEY for such profiles."""
    config = tmp_path / "odoo-warden.toml"
    config.write_text(
        f"""
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
{extra_server}

[store]
url = "sqlite://{tmp_path / 'store.db'}"

[odoo]
url = "{odoo_url}"
database = "lab"

[profiles.assistant]
odoo_login = "{login}"
odoo_api_key_env = "E2E_ODOO_KEY"
"""
        + (f'policy = "{tmp_path / "policy.toml"}"\n' if policy else "")
        + extra_config
        + (OAUTH_DEFAULT if oauth is True else (oauth or ""))
    )
    if policy:
        (tmp_path / "policy.toml").write_text(policy)
    env = dict(os.environ, E2E_ODOO_KEY=f"<apikey:{login}>", E2E_WRITER_KEY="<apikey:mcp_writer>", RUST_LOG="info")
    if oauth:
        env["ODOO_WARDEN_OAUTH_KEY"] = base64.b64encode(os.urandom(32)).decode()
    made = subprocess.run(
        [str(WARDEN), "--config", str(config), "keys", "create", "--name", "e2e", "--scope", "mcp",
         "--profile", "assistant", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    if made.returncode != 0:
        raise RuntimeError(f"keys create failed ({made.returncode}):\n{made.stderr}\nconfig:\n{config.read_text()}")
    token = json.loads(made.stdout)["token"]
    p = Process([str(WARDEN), "--config", str(config), "serve"], env=env, name="odoo-warden")
    p.config = config
    p.env = env
    url = p.wait_for("odoo-warden listening on ")
    # The admin line comes first; with port 0 only the server knows its address.
    p.admin_url = next(
        line.split("admin listening on ", 1)[1].strip() for line in p.output if "admin listening on " in line
    )
    return p, url, token


@pytest.fixture(scope="module", params=["18.0", "19.0"])
def stack(request, tmp_path_factory):
    """An emulator of one Odoo version and odoo-warden in front of it, as the restricted reader."""
    version = request.param
    emu, odoo_url = start_emulator(version)
    try:
        warden, mcp_url, token = start_warden(tmp_path_factory.mktemp("warden"), odoo_url)
    except Exception:
        emu.stop()
        raise
    yield {"version": version, "odoo_url": odoo_url, "mcp_url": mcp_url, "token": token, "warden": warden}
    warden.stop()
    emu.stop()


def warden_cli(warden, *args, timeout=60):
    """The real CLI against a running server's config and environment."""
    return subprocess.run([str(WARDEN), "--config", str(warden.config), *args], env=warden.env,
                          capture_output=True, text=True, timeout=timeout)


def make_key(warden, scope, name=None, profile=None):
    """A new key of one scope (`keys create --json`); returns its token."""
    args = ["keys", "create", "--name", name or f"e2e-{scope}", "--scope", scope, "--json"]
    if profile:
        args += ["--profile", profile]
    made = warden_cli(warden, *args)
    assert made.returncode == 0, made.stderr
    return json.loads(made.stdout)["token"]
