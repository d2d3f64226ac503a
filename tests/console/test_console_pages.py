"""The console's pages over plain HTTP (no browser): headers, identity, errors, what it refuses."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from console_support import COOKIE, Served

from artifact_ledger.http.console.routes import CSP, safe_next

PAGES = ("/", "/audit", "/verify")


def client(served: Served, token: str | None = None, **options: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=served.base, headers=headers, timeout=30, **options)


def test_every_response_forbids_other_sources(served: Served) -> None:
    root = served.create({"name": "r", "content": {"k": 1}})
    paths = [*PAGES, f"/artifacts/{root}", f"/artifacts/{root}/download", "/verify.json", "/static/console/console.js"]
    with client(served, "eve-token") as http:
        for path in [*paths, "/artifacts/not-an-id", "/static/console/nope.js", "/signin"]:
            response = http.get(path)
            assert response.headers["content-security-policy"] == CSP, path
            assert "default-src 'none'" in CSP
            assert "unsafe-inline" not in CSP
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
        for path in paths:
            assert http.get(path).status_code == 200, path
        page = http.get("/").text
        assert "http://" not in page  # nothing from elsewhere
        assert "https://" not in page
        assert "<script>" not in page  # no inline script or style
        assert " style=" not in page


def test_reads_need_a_token_when_tokens_are_configured(served: Served) -> None:
    root = served.create({"name": "r", "content": "text"})
    with client(served) as http:
        for path in [*PAGES, f"/artifacts/{root}", f"/artifacts/{root}/download"]:
            response = http.get(path)
            assert response.status_code == 401, path
            assert "Sign in" in response.text
            assert '"r"' not in response.text
        assert http.get("/verify.json").status_code == 401
    with client(served, "nope") as http:
        response = http.get("/")
        assert response.status_code == 401
        assert "That token is not known" in response.text
    with client(served, "eve-token") as http:  # a read token reads every page
        assert all(http.get(path).status_code == 200 for path in PAGES)
    with client(served, cookies={COOKIE: "bob-token"}) as http:
        response = http.get("/")
        assert response.status_code == 200
        assert "Signed in as <strong>bob</strong>" in response.text


def test_the_json_api_ignores_the_console_cookie(served: Served) -> None:
    with client(served, cookies={COOKIE: "alice-token"}) as http:
        response = http.post("/api/v1/artifacts", json={"data": {"name": "x"}})
        assert response.status_code == 401
        assert http.get("/api/v1/artifacts", params={"page": 1}).status_code == 401


def test_signing_in_sets_a_strict_cookie_and_refuses_other_sites(served: Served) -> None:
    with client(served) as http:
        response = http.post("/signin", data={"token": "eve-token", "next": "/audit?actor=x"})
        assert response.status_code == 303
        assert response.headers["location"] == "/audit?actor=x"
        cookie = response.headers["set-cookie"]
        assert f"{COOKIE}=eve-token" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        assert http.post("/signin", data={"token": "wrong"}).status_code == 401
        assert http.post("/signin", data={"token": "eve-token", "next": "//evil.example/"}).headers["location"] == "/"
        refused = http.post("/signin", data={"token": "eve-token"}, headers={"Origin": "http://evil.example"})
        assert refused.status_code == 403
        assert "set-cookie" not in refused.headers
        out = http.post("/signout")
        assert out.status_code == 303
        assert f'{COOKIE}=""' in out.headers["set-cookie"]


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/audit?a=1", "/audit?a=1"), ("//evil", "/"), ("https://evil", "/"), ("/\\evil", "/"), (None, "/"), ("", "/")],
)
def test_safe_next_stays_on_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_bad_input_is_a_page_with_the_reason(served: Served) -> None:
    root = served.create({"name": "r"})
    cases = {
        "/artifacts/not-a-ulid": (400, "is not a ULID"),
        "/artifacts/01J0000000000000000000000Z": (404, "no artifact 01J0000000000000000000000Z"),
        f"/artifacts/{root}?version=7": (404, "has versions 1 to 1, not 7"),
        f"/artifacts/{root}?version=x": (400, "version must be a whole number"),
        f"/artifacts/{root}?diff_from=3": (400, "from must be a whole number from 1 to 1"),
        f"/artifacts/{root}/download": (404, "has no content"),
        "/?as_of=yesterday": (400, "is not an ISO 8601 time"),
        "/?page=0": (400, "page must be a whole number"),
        "/audit?type=artifact.exploded": (400, "unknown event type"),
        "/audit?type=artifact.*": (200, "artifact.created"),  # a pattern of known types
        "/audit?type=exploded.*": (400, "unknown event type"),
        "/audit?since=soon": (400, "since"),
        "/audit?artifact=xyz": (400, "is not a ULID"),
        "/audit?after=-1": (400, "after must be a whole number"),
        f"/artifacts/{root}?version=%C2%B2": (400, "version must be a whole number"),  # '²': was a 500
        f"/artifacts/{root}?version=%D9%A1": (400, "version must be a whole number"),  # an Arabic-Indic 1
        f"/artifacts/{root}?version=1_0": (400, "version must be a whole number"),
        "/static/console/nothing.js": (404, "no console file"),
    }
    with client(served, "eve-token") as http:
        for path, (status, words) in cases.items():
            response = http.get(path)
            assert response.status_code == status, (path, response.text)
            assert response.headers["content-type"].startswith("text/html"), path
            assert words in response.text, (path, response.text)


def test_console_routes_stay_out_of_the_api_schema(served: Served) -> None:
    with client(served) as http:
        schema = http.get("/openapi.json").json()
    api = re.compile(r"^(/ns/\{[^}]+\})?/api/v1/(artifacts|aliases)|^/ns$")  # the API, also per namespace
    assert all(api.match(path) for path in schema["paths"]), sorted(schema["paths"])
    assert "/api/v1/aliases/{name}" in schema["paths"]


def test_open_console_without_tokens(serve: Any) -> None:
    served: Served = serve()
    root = served.create({"name": "open-run"}, token="")
    with client(served) as http:
        assert "open-run" in http.get("/").text
        assert http.get(f"/artifacts/{root}").status_code == 200
        assert http.get("/signin", follow_redirects=False).status_code == 303
        assert "Signed in as" not in http.get("/").text
