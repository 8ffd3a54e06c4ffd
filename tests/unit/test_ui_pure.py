"""The UI's pure helpers (SHA-256 fallback for plain-http origins, hysteria2:// parser), run in Node."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from tests.conftest import IN_CI, REPO, require_tool

WEB = REPO / "web"
ESBUILD = WEB / "node_modules" / ".bin" / "esbuild"

# Bundles the two modules and prints their answers for the inputs given on stdin.
RUNNER = """
import { sha256Pure } from "./src/sha256";
import { parseHy2 } from "./src/hy2url";
const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const out = {
  sha: input.sha.map((s) => hex(sha256Pure(new TextEncoder().encode(s)))),
  urls: input.urls.map((u) => { try { return parseHy2(u); } catch (e) { return { error: e.message }; } }),
};
console.log(JSON.stringify(out));
"""


def run(sha: list[str], urls: list[str]) -> dict:
    node = require_tool("node")
    if not ESBUILD.exists():
        message = "web/node_modules is missing (run `make ui`)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    bundle = subprocess.run(
        [str(ESBUILD), "--bundle", "--format=cjs", "--platform=node", "--log-level=error"],
        input=RUNNER,
        cwd=WEB,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    res = subprocess.run(
        [node, "-e", bundle],
        input=json.dumps({"sha": sha, "urls": urls}),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(res.stdout)


def test_sha256_fallback_matches_hashlib_across_block_boundaries() -> None:
    inputs = ["", "admin", "a" * 55, "b" * 56, "c" * 63, "d" * 64, "e" * 119, "密码-비밀번호-🙂", "x" * 1000]
    got = run(inputs, [])["sha"]
    assert got == [hashlib.sha256(s.encode()).hexdigest() for s in inputs]


def test_hysteria2_url_parsing() -> None:
    urls = [
        "hysteria2://p%40ss@vpn.example.com:443/?mport=5000-6000&sni=vpn.example.com&insecure=1&up=100mbps&down=1gbps&fastopen=1#tokyo",
        "  HY2://user:pw@[2001:db8::1]:8443#v6 ",
        "hysteria2://secret@host.example?obfs=salamander&obfs-password=x",
        "hysteria2://secret@_relay_api_:0",
        "https://nope@example.com:443",
    ]
    a, b, c, d, e = run([], urls)["urls"]
    assert a["password"] == "p@ss" and a["host"] == "vpn.example.com" and a["port"] == "5000-6000"
    assert a["sni"] == "vpn.example.com" and a["insecure"] and a["fastOpen"] and a["name"] == "tokyo"
    assert a["upBps"] == 100 * 125_000 and a["downBps"] == 1000 * 125_000
    assert b["password"] == "user:pw" and b["host"] == "[2001:db8::1]" and b["port"] == "8443"
    assert (
        c["port"] == "443" and c["ignored"] == ["obfs", "obfs-password"] and c["name"] == "host.example:443"
    )
    assert "relay" in d["error"]
    assert "hysteria2://" in e["error"]
