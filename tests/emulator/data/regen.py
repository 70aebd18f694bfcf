#!/usr/bin/env python3
"""Regenerates odoo18.json / odoo19.json from the recordings in ../shared/odoo-fixtures.

The emulator embeds these trimmed copies (include_str!) so that it runs without the
recordings beside it (the example binary, benchmarks). Run from the repository root:

    python3 tests/emulator/data/regen.py

What is kept, per version:
- `models`: the field definitions of res.partner and sale.order, as recorded by
  `fields_get(attributes=[string, type, required, readonly, relation, selection, help])`,
  in the model's field order. Fields that only the administrator saw (19: in the admin's
  full record, not in the restricted user's fields_get) get a hand-made definition and
  `_groups`, the group that may read them.
- `full_attrs`: the complete attribute set of the few fields recorded with all attributes.
- `partner3`: the full record of partner 3 (`search_read` without `fields`), images cut
  down to a 1x1 PNG.
- `session_info`: the `/web/session/authenticate` result (18), used as a template.
"""
import json
import os

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "odoo-fixtures")
OUT = os.path.dirname(__file__)
TINY_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

# Fields present in the 19 admin record but hidden from the restricted users' fields_get.
ADMIN_ONLY_19 = {
    "is_in_call": ("boolean", "Is in call", "base.group_system"),
    "signup_type": ("char", "Signup Token Type", "base.group_erp_manager"),
    "credit": ("monetary", "Total Receivable", "account.group_account_invoice"),
    "credit_to_invoice": ("monetary", "Credit To Invoice", "account.group_account_invoice"),
    "credit_limit": ("float", "Credit Limit", "account.group_account_invoice"),
    "use_partner_credit_limit": ("boolean", "Partner Limit", "account.group_account_invoice"),
    "show_credit_limit": ("boolean", "Show Credit Limit", "account.group_account_invoice"),
    "debit": ("monetary", "Total Payable", "account.group_account_invoice"),
    "total_invoiced": ("monetary", "Total Invoiced", "account.group_account_invoice"),
    "account_move_count": ("integer", "Account Move Count", "account.group_account_invoice"),
}


def load(version, name):
    with open(os.path.join(ROOT, f"odoo{version}", name + ".json")) as f:
        data = json.load(f)
    resp = data["response"]
    return resp["result"] if isinstance(resp, dict) and "result" in resp else resp


def trim(record, fields):
    out = {}
    for key, value in record.items():
        if fields.get(key, {}).get("type") == "binary" and isinstance(value, str):
            value = TINY_PNG
        out[key] = value
    return out


def build(version):
    prefix = "" if version == "18" else "j2_"
    partner_fields = load(version, prefix + "fields_get_res_partner")
    order_fields = load(version, prefix + "fields_get_sale_order")
    if version == "18":
        full = load(version, "search_read_no_fields_writer")[0]
    else:
        full = load(version, "j2_search_read_no_fields_admin")[0]
    ordered = []
    for key in full:
        if key in partner_fields:
            ordered.append({"name": key, **partner_fields[key]})
        elif key in ADMIN_ONLY_19:
            ftype, label, group = ADMIN_ONLY_19[key]
            ordered.append({"name": key, "readonly": True, "required": False, "string": label,
                            "type": ftype, "_groups": group})
        elif key != "id":
            raise SystemExit(f"{version}: field {key} has no definition")
    if not any(f["name"] == "id" for f in ordered):
        ordered.insert(0, {"name": "id", **partner_fields["id"]})
    out = {
        "models": {
            "res.partner": ordered,
            "sale.order": [{"name": k, **v} for k, v in order_fields.items()],
        },
        "partner3": trim(full, {f["name"]: f for f in ordered}),
    }
    if version == "18":
        out["full_attrs"] = {"res.partner": load("18", "fields_get_res_partner_allfields_name")}
        out["session_info"] = load("18", "web_session_authenticate_mcp_reader")
    with open(os.path.join(OUT, f"odoo{version}.json"), "w") as f:
        json.dump(out, f, indent=0, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    build("18")
    build("19")
