"""chapkit's artifact routes: paths, shapes and status codes, with the ledger's strict semantics."""

from __future__ import annotations

import httpx
from http_support import API, assert_problem, create

from artifact_ledger import ArtifactIn, DataFrame, Ledger


async def test_post_creates_with_201_location_and_etag(client: httpx.AsyncClient) -> None:
    response = await client.post(API, json={"data": {"type": "generic", "metadata": {"a": 1}}, "tags": ["x"]})
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"id", "parent_id", "level", "data", "tags", "created_at", "updated_at", "version"}
    assert body["level"] == 0
    assert body["version"] == 1
    assert body["tags"] == ["x"]
    assert body["parent_id"] is None
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"].endswith(f"{API}/{body['id']}")
    got = await client.get(response.headers["Location"])
    assert got.status_code == 200
    assert got.json() == body


async def test_post_with_a_client_id_creates_it_and_a_second_post_is_409(client: httpx.AsyncClient) -> None:
    wanted = "01J0000000000000000000000A"
    first = await client.post(API, json={"id": wanted, "data": {"n": 1}})
    assert first.status_code == 201
    assert first.json()["id"] == wanted
    again = await client.post(API, json={"id": wanted, "data": {"n": 2}})
    assert_problem(again, 409)
    assert (await client.get(f"{API}/{wanted}")).json()["data"] == {"n": 1}


async def test_post_without_data_is_422_and_an_unknown_parent_404(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post(API, json={"tags": []}), 422)
    assert body["errors"][0]["location"] == ["body", "data"]
    missing = "01J0000000000000000000000B"
    body = assert_problem(await client.post(API, json={"data": {}, "parent_id": missing}), 404)
    assert missing in body["detail"]
    assert (await client.get(API)).json() == []


async def test_list_is_an_array_without_content_and_pages_on_request(client: httpx.AsyncClient) -> None:
    ids = [(await create(client, {"n": i, "content": {"big": i}}))["id"] for i in range(5)]
    everything = (await client.get(API)).json()
    assert [a["id"] for a in everything] == sorted(ids)
    assert all("content" not in a["data"] for a in everything)
    page = (await client.get(API, params={"page": 2, "size": 2})).json()
    assert page == {"items": everything[2:4], "total": 5, "page": 2, "size": 2, "pages": 3}
    past_end = (await client.get(API, params={"page": 9, "size": 2})).json()
    assert past_end["items"] == []
    assert past_end["total"] == 5
    only_size = (await client.get(API, params={"size": 3})).json()
    assert only_size["page"] == 1
    assert len(only_size["items"]) == 3
    assert_problem(await client.get(API, params={"page": 0, "size": 2}), 422)
    assert_problem(await client.get(API, params={"page": 1, "size": 100_000}), 422)


async def test_put_changes_only_the_fields_it_sets(client: httpx.AsyncClient) -> None:
    root = await create(client, {"root": True})
    child = await create(client, {"n": 1}, parent_id=root["id"], tags=["keep"])
    response = await client.put(f"{API}/{child['id']}", json={"data": {"n": 2}})
    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'
    body = response.json()
    assert body["data"] == {"n": 2}
    assert body["parent_id"] == root["id"]
    assert body["tags"] == ["keep"]
    to_root = (await client.put(f"{API}/{child['id']}", json={"data": {"n": 2}, "parent_id": None})).json()
    assert to_root["parent_id"] is None
    assert to_root["level"] == 0


async def test_put_of_an_unknown_id_is_404_and_creates_nothing(client: httpx.AsyncClient) -> None:
    unknown = "01J0000000000000000000000C"
    assert_problem(await client.put(f"{API}/{unknown}", json={"data": {"n": 1}}), 404)
    assert_problem(await client.get(f"{API}/{unknown}"), 404)


async def test_delete_is_204_409_with_children_and_cascades_on_request(client: httpx.AsyncClient) -> None:
    root = await create(client, {"root": True})
    child = await create(client, {"child": True}, parent_id=root["id"])
    body = assert_problem(await client.delete(f"{API}/{root['id']}"), 409)
    assert child["id"] in body["detail"]
    assert (await client.get(f"{API}/{child['id']}")).status_code == 200
    response = await client.delete(f"{API}/{root['id']}", params={"cascade": "true"})
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"{API}/{root['id']}"), 404)
    assert_problem(await client.get(f"{API}/{child['id']}"), 404)
    assert_problem(await client.delete(f"{API}/{root['id']}"), 404)


async def test_tree_expand_and_metadata(client: httpx.AsyncClient, ledger: Ledger) -> None:
    root = await create(client, {"type": "generic", "metadata": {"run": 7}, "content": {"weights": [1, 2]}})
    a = await create(client, {"n": "a"}, parent_id=root["id"])
    b = await create(client, {"n": "b"}, parent_id=root["id"])
    leaf = await create(client, {"n": "leaf"}, parent_id=a["id"])
    tree = (await client.get(f"{API}/{root['id']}/$tree")).json()
    assert "content" not in tree["data"]
    assert [c["id"] for c in tree["children"]] == [a["id"], b["id"]]
    assert [c["id"] for c in tree["children"][0]["children"]] == [leaf["id"]]
    assert tree["children"][1]["children"] == []
    expanded = await client.get(f"{API}/{root['id']}/$expand")
    assert expanded.status_code == 200
    assert expanded.json()["children"] is None
    assert "content" not in expanded.json()["data"]
    assert (await client.get(f"{API}/{root['id']}/$metadata")).json() == {"run": 7}
    assert (await client.get(f"{API}/{a['id']}/$metadata")).json() == {}
    unknown = "01J0000000000000000000000D"
    for route in ("$tree", "$expand", "$metadata", "$download"):
        assert_problem(await client.get(f"{API}/{unknown}/{route}"), 404)


async def test_tree_labels_come_from_the_hierarchy(make_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    from artifact_ledger import ArtifactHierarchy

    client = await make_client(hierarchy=ArtifactHierarchy(name="ml", level_labels={0: "training", 1: "prediction"}))
    root = await create(client, {"n": 0})
    await create(client, {"n": 1}, parent_id=root["id"])
    tree = (await client.get(f"{API}/{root['id']}/$tree")).json()
    assert (tree["hierarchy"], tree["level_label"], tree["children"][0]["level_label"]) == (
        "ml",
        "training",
        "prediction",
    )


async def test_download_bytes_dataframe_and_json(client: httpx.AsyncClient, ledger: Ledger) -> None:
    async with ledger.manager() as manager:
        raw = await manager.save(ArtifactIn(data={"type": "file", "content": b"\x00PNG", "content_type": "image/png"}))
        frame = DataFrame(columns=["a", "b"], data=[[1, "x,y"], [2, "z"]])
        csv = await manager.save(ArtifactIn(data={"content": frame, "content_type": "text/csv"}))
        table = await manager.save(ArtifactIn(data={"content": frame}))
        nothing = await manager.save(ArtifactIn(data={"type": "empty"}))
        odd = await manager.save(ArtifactIn(data={"content": b"x", "content_type": "text/html\r\nX-Evil: 1"}))
    response = await client.get(f"{API}/{raw.id}/$download")
    assert response.status_code == 200
    assert response.content == b"\x00PNG"
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == f'attachment; filename="artifact_{raw.id}.png"'
    response = await client.get(f"{API}/{csv.id}/$download")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == 'a,b\n1,"x,y"\n2,z\n'
    response = await client.get(f"{API}/{table.id}/$download")
    assert response.json() == {"columns": ["a", "b"], "data": [[1, "x,y"], [2, "z"]]}
    assert_problem(await client.get(f"{API}/{nothing.id}/$download"), 404)
    response = await client.get(f"{API}/{odd.id}/$download")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "x-evil" not in response.headers


async def test_download_of_a_python_object_is_406(client: httpx.AsyncClient, ledger: Ledger) -> None:
    async with ledger.manager() as manager:
        out = await manager.save(ArtifactIn(data={"content": {1, 2, 3}}))
    body = assert_problem(await client.get(f"{API}/{out.id}/$download"), 406)
    assert "builtins.set" in body["detail"]
    described = (await client.get(f"{API}/{out.id}")).json()["data"]["content"]
    assert described["_type"] == "builtins.set"
