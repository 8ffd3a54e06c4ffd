"""Users spreadsheet: export every field, import with the POST /users rules, row errors, bad files."""

from __future__ import annotations

import io

import openpyxl
import pytest

from hy2scale.api.routers.users_xlsx import COLUMNS
from tests.integration.api_a_support import BASE, api_client

GIB = 1 << 30


def sheet_bytes(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(
        header or ["username", "password", "enabled", "traffic_limit_gb", "expiry_date", "password_ss"]
    )
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_sheet(data: bytes) -> list[dict[str, object]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    rows = list(book.active.iter_rows(values_only=True))
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


async def upload(client, data: bytes, overwrite: int = 0):
    files = {"file": ("users.xlsx", data, "application/octet-stream")}
    return await client.post(f"{BASE}/users/import?overwrite={overwrite}", files=files)


async def test_export_has_every_field(client):
    r = await client.post(
        f"{BASE}/users",
        json={
            "id": "u1",
            "username": "alice",
            "password": "alice-pw",
            "proxy_passwords": {"ss": "alice-ss"},
            "proxy_disabled": ["socks5", "http"],
            "exit_paths": ["us/us-east", "kr"],
            "exit_mode": "quality",
            "traffic_limit_gb": 2,
            "expiry_date": "2027-01-02",
            "enabled": False,
        },
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"{BASE}/users/export.xlsx")
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"].startswith("attachment;")
    assert ".xlsx" in r.headers["content-disposition"]
    [row] = read_sheet(r.content)
    assert tuple(row) == COLUMNS
    assert row["id"] == "u1" and row["username"] == "alice" and row["password"] == "alice-pw"
    assert row["password_ss"] == "alice-ss" and row["password_hy2"] is None
    assert row["proxy_disabled"] == "socks5,http"
    assert row["exit_via"] == "us/us-east" and row["exit_paths"] == "us/us-east,kr"
    assert row["exit_mode"] == "quality"
    assert row["traffic_limit"] == 2 * GIB and row["traffic_limit_gb"] == 2
    assert row["expiry_date"] == "2027-01-02" and row["expiry"] == "2027-01-02T00:00:00Z"
    assert row["enabled"] is False


async def test_export_then_import_round_trips(client, node):
    for name in ("alice", "bob"):
        body = {"username": name, "password": f"{name}-pw", "proxy_disabled": ["http"], "traffic_limit": 5000}
        assert (await client.post(f"{BASE}/users", json=body)).status_code == 200
    before = (await client.get(f"{BASE}/users")).json()
    exported = (await client.get(f"{BASE}/users/export.xlsx")).content
    for user in before:
        assert (await client.delete(f"{BASE}/users/{user['id']}")).status_code == 200
    r = await upload(client, exported)
    assert r.json() == {"added": 2, "updated": 0, "skipped": 0, "errors": []}
    assert (await client.get(f"{BASE}/users")).json() == before
    assert node.published[-1] == "users"


async def test_import_validates_rows_like_post(client, node):
    data = sheet_bytes(
        [
            ["alice", "alice-pw", "yes", 1.5, "2027-03-04", "alice-ss"],
            ["", "no-name-pw", True, None, None, None],  # username missing
            ["bob", "bob-pw", "maybe", None, None, None],  # enabled unreadable
            ["carol", "carol-pw", True, None, "2027-13-01", None],  # bad date
            ["dave", "alice-pw", True, None, None, None],  # hy2 password of alice
            ["alice", "other-pw", True, None, None, None],  # duplicate username in the same file
            ["erin", "server-secret-123", True, None, None, None],  # the hy2 server password
            ["frank", "frank-pw", 0, "", "", None],
        ]
    )
    r = await upload(client, data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["added"], body["updated"], body["skipped"]) == (2, 0, 1)
    assert [e["row"] for e in body["errors"]] == [3, 4, 5, 6, 8]
    assert "username" in body["errors"][0]["error"]
    assert "already used by user 'alice'" in body["errors"][3]["error"]
    assert "server password" in body["errors"][4]["error"]
    users = {u["username"]: u for u in (await client.get(f"{BASE}/users")).json()}
    assert set(users) == {"alice", "frank"}
    assert users["alice"]["traffic_limit"] == int(1.5 * GIB)
    assert users["alice"]["expiry_date"] == "2027-03-04"
    assert users["alice"]["proxy_passwords"] == {"ss": "alice-ss"}
    assert users["frank"]["enabled"] is False
    assert node.published.count("users") == 1


async def test_overwrite_updates_matching_users(client):
    r = await client.post(f"{BASE}/users", json={"id": "u1", "username": "alice", "password": "old-pw"})
    assert r.status_code == 200
    data = sheet_bytes([["alice", "new-pw", False, 3, None, None], ["bob", "bob-pw", True, None, None, None]])
    r = await upload(client, data, overwrite=0)
    assert r.json() == {"added": 1, "updated": 0, "skipped": 1, "errors": []}
    assert (await client.get(f"{BASE}/users/u1")).json()["password"] == "old-pw"
    r = await upload(client, data, overwrite=1)
    assert r.json() == {"added": 0, "updated": 2, "skipped": 0, "errors": []}
    alice = (await client.get(f"{BASE}/users/u1")).json()
    assert (alice["password"], alice["enabled"], alice["traffic_limit_gb"]) == ("new-pw", False, 3)


@pytest.mark.parametrize(
    "data",
    [b"not a spreadsheet", b"PK\x03\x04garbage", sheet_bytes([["x"]], header=["name", "password"])],
)
async def test_garbage_file_is_400_and_changes_nothing(client, node, data):
    r = await upload(client, data)
    assert r.status_code == 400
    assert r.json()["error"]
    assert (await client.get(f"{BASE}/users")).json() == []
    assert "users" not in node.published


async def test_missing_file_field_and_oversized_upload(client, monkeypatch):
    r = await client.post(f"{BASE}/users/import", data={"other": "x"})
    assert r.status_code == 400 and "file" in r.json()["error"]
    monkeypatch.setattr("hy2scale.api.routers.users_xlsx.MAX_UPLOAD", 1000)
    r = await upload(client, sheet_bytes([["alice", "alice-pw", True, None, None, None]]))
    assert r.status_code == 400 and "too large" in r.json()["error"]


async def test_needs_auth(node):
    async with api_client(node) as anonymous:
        assert (await anonymous.get(f"{BASE}/users/export.xlsx")).status_code == 401
        assert (await upload(anonymous, b"x")).status_code == 401
