#!/usr/bin/env python3
"""Writes tests/hostile/corpus.jsonl: hostile requests for tests/hostile.rs to send to the real
binary. Run it after editing (the corpus is committed; this only saves typing it).

Each line is one request:
  name      what it tries (unique)
  era       "2025" (a session: initialize first, Mcp-Session-Id), "2026" (stateless, _meta and
            the Mcp-Method/Mcp-Name headers) or "raw" (nothing added)
  headers   headers to set (null removes one the era would add)
  body      the body as text, or body_b64 (bytes that are not UTF-8), or body_repeat
            {"head", "chunk", "times", "tail"} for sizes
  tool      for a tools/call: {"name", "arguments"} (the body is built from it)
  expect    "refused" (a 4xx, a JSON-RPC error, or a tool result with isError, with a message),
            or "answered" (any answer but a 5xx: odd but legitimate), the default "refused"
Every request must be answered within the bound the runner sets, and no answer may hold a
secret.
"""

import base64
import json
import pathlib

OUT = pathlib.Path(__file__).with_name("corpus.jsonl")
entries = []


def add(name, **kw):
    assert not any(e["name"] == name for e in entries), name
    kw.setdefault("expect", "refused")
    entries.append({"name": name, **kw})


def tool(name, tool_name, arguments, expect="refused", eras=("2025", "2026")):
    for era in eras:
        add(f"{era}/{name}", era=era, tool={"name": tool_name, "arguments": arguments}, expect=expect)


# --- protocol: bodies that are not JSON-RPC requests --------------------------------------
for i, body in enumerate([
    "", " ", "{", "[", "}", "null", "true", "1", "\"tools/call\"", "[]", "[[]]", "{}",
    "{\"jsonrpc\":\"2.0\"}", "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
    "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", "{\"id\":1,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1}", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[]}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":7}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_records\",\"arguments\":[]}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_records\",\"arguments\":\"x\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"no/such/method\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"x\"}}",
    "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}]",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} trailing",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999999999999,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\",\"method\":\"tools/call\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"" + "x" * 5000 + "\"}",
    "\ufeff{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\u0000\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"\\ud800\",\"method\":\"ping\"}",
    "{'jsonrpc': '2.0', 'id': 1, 'method': 'ping'}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":{}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"1999-01-01\",\"capabilities\":[],\"clientInfo\":7}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\",\"params\":{\"x\":\"" + "y" * 3000 + "\"}}",
]):
    for era in ("raw", "2025", "2026"):
        # A notification is accepted (202, nothing to answer); everything else is refused.
        # A response (to a request of the server's) is taken within a session, with a 202.
        response = body.startswith("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\"") or body.startswith("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\"")
        answered = "notifications/" in body or (response and era == "2025")
        add(f"protocol/{era}/{i:02}", era=era, body=body, expect="answered" if answered else "refused")

# Deep nesting (past any parser's recursion limit).
for depth in (64, 200, 5000, 100000):
    add(f"protocol/deep-array-{depth}", era="2026", body_repeat={"head": "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":", "chunk": "[", "times": depth, "tail": ""})
    add(f"protocol/deep-object-{depth}", era="2026", body_repeat={"head": "", "chunk": "{\"a\":", "times": depth, "tail": "1"})

# --- encodings --------------------------------------------------------------------------
for name, raw in [
    ("invalid-utf8", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\xff\xfe\"}"),
    ("overlong-utf8", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xafping\"}"),
    ("utf16le", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}".encode("utf-16-le")),
    ("utf16-bom", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}".encode("utf-16")),
    ("utf32", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}".encode("utf-32")),
    ("latin1-string", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"search_records\",\"arguments\":{\"model\":\"res.partner\",\"domain\":[[\"name\",\"=\",\"caf\xe9\"]]}}}".encode("latin-1")),
    ("nul-bytes", b"{\"jsonrpc\":\"2.0\",\0\"id\":1,\"method\":\"ping\"}"),
    ("only-nul", b"\0" * 64),
    ("binary", bytes(range(256))),
    ("gzip-magic", b"\x1f\x8b\x08\x00" + b"\0" * 32),
]:
    for era in ("2025", "2026"):
        add(f"encoding/{era}/{name}", era=era, body_b64=base64.b64encode(raw).decode())

# --- headers ----------------------------------------------------------------------------
PING = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"
# The stateless revision's ping carries its protocol version and capabilities in _meta.
PING26 = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"_meta": {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}})
for i, headers in enumerate([
    {"content-type": None}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"},
    {"content-type": "multipart/form-data; boundary=x"}, {"content-type": "application/json; charset=utf-16"},
    {"content-type": "application/jsonx"}, {"content-type": "json"}, {"content-type": "*/*"},
    {"accept": "text/html"}, {"accept": "image/png"}, {"accept": None},
    {"authorization": None}, {"authorization": "Bearer"}, {"authorization": "Bearer "}, {"authorization": "Basic dXNlcjpwYXNz"},
    {"authorization": "Bearer owk_"}, {"authorization": "Bearer owk_x_y"}, {"authorization": "Bearer owk_" + "a" * 4000},
    {"authorization": "bearer  KEY"}, {"authorization": "Bearer KEY KEY"}, {"authorization": "Token KEY"},
    {"authorization": "Bearer owa_" + "b" * 43}, {"authorization": "Bearer owr_" + "c" * 43},
    {"authorization": "Bearer ../../etc/passwd"}, {"authorization": "Bearer ' OR 1=1 --"},
    {"mcp-protocol-version": "1999-01-01"}, {"mcp-protocol-version": ""}, {"mcp-protocol-version": "2026-07-28, 2025-11-25"},
    {"mcp-protocol-version": "x" * 2000}, {"mcp-protocol-version": "latest"}, {"mcp-protocol-version": "2099-12-31"},
    {"mcp-session-id": "nope"}, {"mcp-session-id": ""}, {"mcp-session-id": "s" * 5000}, {"mcp-session-id": "../../../"},
    {"mcp-method": "tools/list"}, {"mcp-method": ""}, {"mcp-method": "ping\tping"},
    {"origin": "https://evil.example"}, {"origin": "null"}, {"origin": "http://127.0.0.1.evil.example"},
    {"host": "evil.example"}, {"host": "127.0.0.1:1"}, {"host": ""},
    {"x-forwarded-for": "1.2.3.4"}, {"x-forwarded-for": "not-an-ip, also-not"}, {"forwarded": "for=\"[::1]\";proto=https"},
    {"content-encoding": "gzip"}, {"content-encoding": "br"}, {"transfer-encoding": "gzip"},
    {"expect": "100-continue"}, {"x-odoo-database": "other"}, {"cookie": "session_id=" + "z" * 3000},
    {"x-huge": "h" * 30000},
]):
    for era in ("2025", "2026"):
        # A ping with odd but harmless headers may be answered; with a missing or bad key,
        # a foreign Origin or Host, or a body it cannot read, it is refused.
        harmless = set(headers) & {"x-forwarded-for", "forwarded", "expect", "x-odoo-database", "cookie", "x-huge"}
        # JSON is UTF-8 whatever the charset says; the auth scheme is case-insensitive and may
        # be followed by several spaces; the 2025 revision has no Mcp-Method header to check.
        lenient = (headers in ({"content-type": "application/json; charset=utf-16"}, {"authorization": "bearer  KEY"})
                   or ("mcp-method" in headers and era == "2025"))
        add(f"headers/{era}/{i:02}", era=era, headers=headers, body=PING if era == "2025" else PING26,
            expect="answered" if harmless or lenient or headers == {"accept": None} else "refused")

# --- domains ----------------------------------------------------------------------------
DOMAINS = [
    "not a list", 7, {"a": 1}, [1], ["name"], [["name"]], [["name", "="]], [["name", "=", "x", "y"]],
    [["name", "===", "x"]], [["name", "like"]], [["name", "=like", 7]], [["name", "in", "x"]],
    [["name", "in", [[1]]]], [["id", "in", list(range(20000))]], [["id", "child_of", "x"]],
    [["id", "parent_of", [[]]]], [["name", "any", [["x", "=", 1]]]], [["country_id", "any", "x"]],
    [["country_id", "any", [["code", "~", 1]]]], ["|"], ["|", ["id", "=", 1]], ["&", "&", ["id", "=", 1]],
    ["!"], ["!", "!", "!"], ["|"] * 500 + [["id", "=", 1]] * 501, ["^", ["id", "=", 1], ["id", "=", 2]],
    [["email", "=", "x"]], [["email", "!=", False]], [["email_normalized", "ilike", "@"]], [["email_formatted", "ilike", "a"]],
    [["parent_id.email", "ilike", "a"]], [["child_ids.email", "=", "x"]], [["commercial_partner_id.email", "ilike", "@"]],
    [["user_ids.password", "=", "x"]], [["user_ids.api_key_ids.key", "!=", False]],
    [["display_name", "ilike", "a"]], [[".".join(["parent_id"] * 40), "=", 1]], [["name; DROP TABLE res_partner", "=", 1]],
    [["name\u0000", "=", 1]], [["NAME", "=", "x"]], [["__last_update", ">", "2000"]], [["", "=", 1]],
    [[1, "=", 1]], [[0, "=", 1]], [[True, "=", True]], [[None, "=", None]], [["id", "=", {"$gt": 1}]],
    [["name", "=", "x" * 50000]], [["id", "=", 1e300]], [["id", "=", -9223372036854775809]],
    [["create_date", ">", "not a date"]], [["name", "ilike", "%' OR '1'='1"]], [["name", "=", "\ud83d\ude00" * 10]],
    [["name", "=", "\u202eesrever"]], [["country_id", "=", "Belgium"]], [["country_id.code", "in", [None, True, {"x": 1}]]],
    [["message_ids.body", "ilike", "x"]], [["activity_ids.note", "ilike", "x"]], [["bank_ids.acc_number", "!=", False]],
    [["id", "inselect", ["SELECT 1", []]]], [["name", "=?", "x"]], [["name", "not any", []]],
]
# Odd but valid: Odoo coerces the value or matches nothing (long, huge, unicode, quote-laden
# values; TRUE and FALSE leaves; a name searched on a readable many2one; `=?`).
VALID_DOMAINS = {10, 11, 12, 13, 15, 42, 43, 47, 48, 49, 50, 51, 52, 53, 54, 55, 60}
for i, d in enumerate(DOMAINS):
    expect = "answered" if i in VALID_DOMAINS else "refused"
    tool(f"domain/{i:02}", "search_records", {"model": "res.partner", "domain": d, "fields": ["name"]}, expect=expect)
    tool(f"domain-group/{i:02}", "read_group", {"model": "res.partner", "domain": d, "groupby": ["is_company"]}, expect=expect, eras=("2026",))

# --- models, fields, orders, limits -----------------------------------------------------
for i, args in enumerate([
    {"model": "ir.config_parameter"}, {"model": "res.users", "fields": ["password"]}, {"model": "res.users.apikeys"},
    {"model": "ir.attachment", "fields": ["datas"]}, {"model": "../res.partner"}, {"model": "res.partner; drop"},
    {"model": ""}, {"model": "x" * 300}, {"model": 7}, {"model": None}, {"model": ["res.partner"]},
    {"model": "res.partner", "fields": ["email"]}, {"model": "res.partner", "fields": ["email_formatted"]},
    {"model": "res.partner", "fields": ["display_name", "email_normalized"]}, {"model": "res.partner", "fields": ["Name"]},
    {"model": "res.partner", "fields": ["name.email"]}, {"model": "res.partner", "fields": ["x" * 200]},
    {"model": "res.partner", "fields": ["name"] * 201}, {"model": "res.partner", "fields": "name"},
    {"model": "res.partner", "limit": 0}, {"model": "res.partner", "limit": -1}, {"model": "res.partner", "limit": "10"},
    {"model": "res.partner", "limit": 10 ** 30}, {"model": "res.partner", "offset": -5}, {"model": "res.partner", "offset": 1.5},
    {"model": "res.partner", "order": "email"}, {"model": "res.partner", "order": "email desc"},
    {"model": "res.partner", "order": "name; DROP TABLE x"}, {"model": "res.partner", "order": "(select 1)"},
    {"model": "res.partner", "order": "name desc nulls first, id, " * 20}, {"model": "res.partner", "order": "parent_id.email"},
    {"model": "res.partner", "order": "x" * 300}, {"model": "res.partner", "unknown_argument": 1},
    {"model": "res.partner", "offset": 10 ** 30},
]):
    # A limit past the profile's cap is capped.
    tool(f"search/{i:02}", "search_records", args, expect="answered" if args.get("limit") == 10 ** 30 else "refused")
for i, args in enumerate([
    {"model": "res.partner", "groupby": ["email"]}, {"model": "res.partner", "groupby": ["email_normalized"]},
    {"model": "res.partner", "groupby": ["is_company"], "aggregates": ["email:count_distinct"]},
    {"model": "res.partner", "groupby": ["create_date:second"]}, {"model": "res.partner", "groupby": []},
    {"model": "res.partner", "groupby": ["a", "b", "c", "d", "e", "f"]}, {"model": "res.partner", "groupby": ["name"], "limit": -1},
    {"model": "res.partner", "groupby": ["name"], "order": "email desc"}, {"model": "res.partner", "groupby": ["parent_id.email"]},
]):
    tool(f"group/{i:02}", "read_group", args)
for i, args in enumerate([
    {"model": "res.partner", "fields": ["email"]}, {"model": "ir.config_parameter"}, {"model": "res.users", "fields": ["password"]},
    {"model": "res.partner", "fields": ["x" * 100]}, {"model": 1},
]):
    tool(f"fields/{i:02}", "get_fields", args)

# --- values on create and update --------------------------------------------------------
VALUES = [
    {}, {"email": "x@example.com"}, {"name": "ok", "email": "leak@example.com"}, {"id": 1}, {"name": "x", "id": 5},
    {"create_uid": 1}, {"write_date": "2000-01-01"}, {"__last_update": 1}, {"name": None}, {"name": 7}, {"name": ["a"]},
    {"name": {"en_US": "x"}}, {"name": "x" * 70000}, {"name": "\u0000"}, {"name": "x", "unknown_field": 1},
    {"name": "x", "parent_id": "Azure Interior"}, {"name": "x", "parent_id": [1, "Azure"]}, {"name": "x", "parent_id": -1},
    {"name": "x", "parent_id": 10 ** 30}, {"name": "x", "is_company": "yes"}, {"name": "x", "company_id": 2},
    {"name": "x", "user_ids": [[4, 2]]}, {"name": "x", "child_ids": [[0, 0, {"name": "c", "email": "hidden@example.com"}]]},
    {"name": "x", "category_id": [[6, 0, [1, 2, 3]]]}, {"name": "x", "category_id": [[5]]}, {"name": "x", "category_id": [[7, 1]]},
    {"name": "x", "category_id": [["CREATE", 0, {}]]}, {"name": "x", "category_id": [[-1, 0, {}]]},
    {"name": "x", "category_id": [[0, 0, {"name": [[0, 0, {}]]}]]}, {"name": "x", "child_ids": [[2, 1]]},
    {"name": "x", "child_ids": [[3, 1]]}, {"name": "x", "child_ids": [[1, 1, {"email": "x"}]]},
    {"name": "x", "child_ids": [[0, 0, {"child_ids": [[0, 0, {"child_ids": [[0, 0, {"name": "deep"}]]}]]}]]},
    {"name": "x", "bank_ids": [[0, 0, {"acc_number": "BE00"}]]}, {"name": "x", "image_1920": "A" * 40000},
    {"name.en_US": "x"}, {"name": "x", "context": {"uid": 1}}, {"Name": "x"}, {"name": 1e308}, {"name": True},
]
# Values of another JSON type than the field's, on a writable field: Odoo converts them (a
# number or a boolean to text); odoo-warden does not check types against the field (yet).
COERCED = {9, 10, 11, 12, 19, 38, 39}
for i, v in enumerate(VALUES):
    tool(f"create/{i:02}", "create_records", {"model": "res.partner", "records": [v]},
         expect="answered" if i in COERCED else "refused")
    tool(f"update/{i:02}", "update_records", {"model": "res.partner", "ids": [14], "values": v}, eras=("2026",))
for i, args in enumerate([
    {"model": "res.partner", "records": []}, {"model": "res.partner", "records": [{"name": "x"}] * 101},
    {"model": "res.partner", "records": "x"}, {"model": "res.partner", "records": [[]]}, {"model": "res.users", "records": [{"login": "evil"}]},
    {"model": "ir.config_parameter", "records": [{"key": "x", "value": "y"}]}, {"model": "res.partner", "records": [{"name": "x"}], "approval_id": "apr_forged"},
    {"model": "res.partner", "records": [{"name": "x"}], "approval_id": "x" * 200},
]):
    tool(f"create-args/{i:02}", "create_records", args)
for i, args in enumerate([
    {"model": "res.partner", "ids": [], "values": {"comment": "x"}}, {"model": "res.partner", "ids": "1", "values": {"comment": "x"}},
    {"model": "res.partner", "ids": [-1], "values": {"comment": "x"}}, {"model": "res.partner", "ids": [1.5], "values": {"comment": "x"}},
    {"model": "res.partner", "ids": [10 ** 20], "values": {"comment": "x"}}, {"model": "res.partner", "ids": list(range(1, 5000)), "values": {"comment": "x"}},
    {"model": "res.partner", "ids": [14], "values": {}}, {"model": "res.partner", "ids": [14], "values": "x"},
    {"model": "res.partner", "ids": [3], "values": {"comment": "not in the read domain"}},
]):
    tool(f"update-args/{i:02}", "update_records", args)
for i, args in enumerate([
    {"model": "res.partner", "ids": [14]}, {"model": "res.partner", "ids": []}, {"model": "sale.order", "ids": [1]},
    {"model": "res.users", "ids": [2]}, {"model": "res.partner", "ids": [[1]]},
]):
    tool(f"delete/{i:02}", "delete_records", args)

# --- methods ----------------------------------------------------------------------------
for i, args in enumerate([
    {"model": "res.partner", "method": "unlink", "ids": [14]}, {"model": "res.partner", "method": "write", "ids": [14], "arguments": {"vals": {"email": "x"}}},
    {"model": "res.partner", "method": "sudo", "ids": [14]}, {"model": "res.partner", "method": "_read", "ids": [14]},
    {"model": "res.partner", "method": "__init__", "ids": [14]}, {"model": "res.partner", "method": "read", "ids": [14], "arguments": {"fields": ["email"]}},
    {"model": "res.partner", "method": "search_read", "ids": []}, {"model": "res.partner", "method": "export_data", "ids": [14]},
    {"model": "res.partner", "method": "action_archive", "ids": [14], "arguments": {"context": {"uid": 1}}},
    {"model": "res.partner", "method": "action_archive", "ids": [14], "arguments": {"unexpected": 1}},
    {"model": "res.partner", "method": "action archive", "ids": [14]}, {"model": "res.partner", "method": "a" * 200, "ids": [14]},
    {"model": "res.users", "method": "action_reset_password", "ids": [2]}, {"model": "ir.cron", "method": "method_direct_trigger", "ids": [1]},
    {"model": "res.partner", "method": "message_post", "ids": [14], "arguments": {"body": "x"}},
]):
    tool(f"method/{i:02}", "call_method", args)

# --- context keys -----------------------------------------------------------------------
for i, ctx in enumerate([
    {"uid": 1}, {"su": True}, {"sudo": True}, {"force_company": 1}, {"allowed_company_ids": [1, 2, 3]},
    {"active_test": False}, {"lang": "../../../etc/passwd"}, {"tz": "Mars/Olympus"}, {"bin_size": False},
    {"install_mode": True}, {"tracking_disable": True}, {"mail_notrack": True}, {"no_reset_password": True},
    {"default_email": "x@example.com"}, {"default_is_company": True}, {"search_default_x": 1}, {"prefetch_fields": False},
    {"import_file": True}, {"module": "base"}, {"x" * 300: 1}, {"lang": {"x": 1}}, "not an object", [1],
    {"nested": {"deep": {"deeper": {"uid": 1}}}}, {"active_ids": list(range(10000))},
]):
    # On a read: archived records (still within the domain), companies, language and time zone
    # (Odoo checks them against the user), defaults (used only by creation) are the user's own.
    harmless = isinstance(ctx, dict) and set(ctx) <= {"allowed_company_ids", "active_test", "lang", "tz", "default_email", "default_is_company"}
    tool(f"context/{i:02}", "search_records", {"model": "res.partner", "fields": ["name"], "context": ctx},
         expect="answered" if harmless else "refused")
# On a write, a default for a hidden or unwritable field would write it.
for i, ctx in enumerate([{"default_email": "x@example.com"}, {"default_phone": "1"}, {"default_vat": "BE0"}, {"default_id": 1}]):
    tool(f"context-create/{i:02}", "create_records", {"model": "res.partner", "records": [{"name": "x"}], "context": ctx})

# --- sizes ------------------------------------------------------------------------------
for n in (60000, 200000, 2000000):
    add(f"size/body-{n}", era="2026", body_repeat={"head": "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\"", "chunk": "a", "times": n, "tail": "\"}}"})
for n in (10000, 100000):
    add(f"size/array-{n}", era="2026", body_repeat={"head": "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":[", "chunk": "0,", "times": n, "tail": "0]}}"})

OUT.write_text("".join(json.dumps(e, ensure_ascii=True, separators=(",", ":")) + "\n" for e in entries))
print(f"{len(entries)} requests written to {OUT}")
