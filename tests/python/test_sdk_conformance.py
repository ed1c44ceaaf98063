"""Conformance of refuel-emulator with the official Python SDK (`refuel` 0.15.15).

Every test drives the unmodified SDK (plus a few raw HTTP checks of things the SDK hides)
and compares what comes back with values computed here, from the same generated rows,
by a plain-Python model of the emulator's documented semantics.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from typing import Any, Dict, Iterable, List, Optional

import pandas as pd
import pytest
import requests

from conftest import (
    COLUMN_TYPES,
    COLUMNS,
    KEY_A,
    KEY_B,
    N_ROWS,
    RefuelException,
    generate_rows,
    make_client,
    unique_name,
    upload_generated,
    wait_for_ingest,
    write_csv,
)

CATALOG_PROJECT_ID = "fb327444-e5ad-4808-88c9-4dc1ea8f086b"


# --------------------------------------------------------------------------------------
# Helpers: normalising SDK output, and the reference model of filters and ordering
# --------------------------------------------------------------------------------------


def _py(value: Any) -> Any:
    """A DataFrame cell as a plain Python value; NaN/None/NA become None."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def frame_rows(df) -> List[Dict]:
    """Rows of an SDK DataFrame as dicts of plain values (columns missing in a row = None)."""
    if df is None or len(df) == 0:
        return []
    return [{col: _py(rec.get(col)) for col in COLUMNS} for rec in df.to_dict(orient="records")]


def ids_of(rows: Iterable[Dict]) -> List[int]:
    return [int(r["id"]) for r in rows]


def assert_rows_equal(got: List[Dict], expected: List[Dict], what: str) -> None:
    """Same rows in the same order. Compared by id first (readable diff), then by value."""
    got_ids, exp_ids = ids_of(got), ids_of(expected)
    if got_ids != exp_ids:
        missing = sorted(set(exp_ids) - set(got_ids))
        extra = sorted(set(got_ids) - set(exp_ids))
        first_diff = next(
            (i for i, (a, b) in enumerate(zip(got_ids, exp_ids)) if a != b),
            min(len(got_ids), len(exp_ids)),
        )
        pytest.fail(
            f"{what}: got {len(got_ids)} rows, expected {len(exp_ids)}; "
            f"missing ids {missing[:10]}{'...' if len(missing) > 10 else ''}, "
            f"unexpected ids {extra[:10]}{'...' if len(extra) > 10 else ''}, "
            f"first order difference at position {first_diff}: "
            f"got ids {got_ids[first_diff:first_diff + 5]} expected {exp_ids[first_diff:first_diff + 5]}"
            f"\n  got rows:      {got[first_diff:first_diff + 2]}"
            f"\n  expected rows: {expected[first_diff:first_diff + 2]}",
            pytrace=False,
        )
    for g, e in zip(got, expected):
        if g != e:
            pytest.fail(f"{what}: row id={e['id']} differs: got {g}, expected {e}", pytrace=False)


_WORD = re.compile(r"[^\W_]+")


def words(text: Optional[str]) -> set:
    return {w.lower() for w in _WORD.findall(text or "")}


def matches(row: Dict, flt: Dict) -> bool:
    """The emulator's documented filter semantics, for one metadata or SIMILAR filter."""
    op = flt["operator"]
    if op == "SIMILAR":
        wanted = words(flt["value"])
        return any(
            words(row[col]) & wanted
            for col in COLUMNS
            if COLUMN_TYPES[col] == "string" and row[col] is not None
        )
    field = flt["field"]
    value = row[field]
    if op == "IS NULL":
        return value is None
    if op == "IS NOT NULL":
        return value is not None
    if value is None:
        return False  # NULL matches nothing else, negations included
    arg = flt["value"]
    if COLUMN_TYPES[field] == "number":
        arg = float(arg)  # "10", "10.0" and 10 are the same number
    compare = {
        "=": lambda a, b: a == b,
        "<>": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "LIKE": lambda a, b: b in a,
        "ILIKE": lambda a, b: b.lower() in a.lower(),
        "NOT LIKE": lambda a, b: b not in a,
        "NOT ILIKE": lambda a, b: b.lower() not in a.lower(),
    }[op]
    return compare(value, arg)


def expected_filtered(rows: List[Dict], filters: List[Dict]) -> List[Dict]:
    return [r for r in rows if all(matches(r, f) for f in filters)]


def expected_ordered(rows: List[Dict], order_by: List[Dict]) -> List[Dict]:
    """Stable multi-key sort: ASC puts NULLs last, DESC puts NULLs first; ties keep
    insertion order. Python's str order is code-point order, i.e. UTF-8 byte order."""
    out = list(rows)
    for o in reversed(order_by):
        col = o["field"]
        desc = o.get("direction", "ASC") == "DESC"
        # NULL sorts after every value; reversing for DESC puts it first.
        out.sort(key=lambda r: (1, 0) if r[col] is None else (0, r[col]), reverse=desc)
    return out


def fetch(client, dataset, **kwargs) -> List[Dict]:
    return frame_rows(client.get_items(dataset=dataset, **kwargs))


def numeric_leaves(obj: Any, prefix: str = "") -> Dict[str, float]:
    out: Dict[str, float] = {}
    if isinstance(obj, bool):
        return out
    if isinstance(obj, (int, float)):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(numeric_leaves(v, f"{prefix}/{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(numeric_leaves(v, f"{prefix}[{i}]"))
    return out


def assert_error(exc: RefuelException, status: int) -> None:
    assert exc.status_code == status, f"expected HTTP {status}, got {exc.status_code}: {exc.message}"


def assert_server_error_body(exc: RefuelException) -> None:
    """Errors that came from the server carry a JSON body {"detail": "..."}."""
    try:
        body = json.loads(exc.message)
    except (TypeError, ValueError):
        pytest.fail(f"error body is not JSON: {exc.message!r}", pytrace=False)
    assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], body


def auth(key: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------


def test_init_without_project(base_url):
    client = make_client(base_url, KEY_A)
    assert client._project_id is None
    # the catalog project and app catalog are answered with empty lists
    assert client.catalog_applications == {}
    assert isinstance(client.get_projects(), list)


def test_init_with_project_by_name_and_by_id(base_url, project_a):
    by_name = make_client(base_url, KEY_A, project=project_a["project_name"])
    assert by_name._project_id == project_a["id"]
    by_id = make_client(base_url, KEY_A, project=project_a["id"])
    assert by_id._project_id == project_a["id"]
    assert by_id.get_datasets() == by_name.get_datasets()


def test_init_with_bad_key_raises_401(base_url):
    with pytest.raises(RefuelException) as info:
        make_client(base_url, "definitely-not-a-valid-key")
    assert_error(info.value, 401)
    assert_server_error_body(info.value)


def test_init_with_unknown_project_name_raises_404(base_url):
    with pytest.raises(RefuelException) as info:
        make_client(base_url, KEY_A, project=unique_name("no-such-project"))
    assert_error(info.value, 404)


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/projects"),
        ("GET", f"/projects/{CATALOG_PROJECT_ID}/applications"),
        ("GET", "/app_catalog"),
        ("POST", "/projects?project_name=x&description=y"),
        ("GET", f"/datasets/{uuid.uuid4()}"),
    ],
)
def test_every_call_needs_a_valid_key(base_url, method, path):
    for headers in ({}, auth("wrong-key"), {"Authorization": "Basic Zm9vOmJhcg=="}):
        resp = requests.request(method, base_url + path, headers=headers, timeout=10)
        assert resp.status_code == 401, (method, path, headers, resp.status_code, resp.text)
        body = resp.json()
        assert isinstance(body.get("detail"), str) and body["detail"], body


def test_catalog_endpoints_answer_empty_lists(base_url):
    for path in (f"/projects/{CATALOG_PROJECT_ID}/applications", "/app_catalog"):
        resp = requests.get(base_url + path, headers=auth(KEY_A), timeout=10)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json().get("data") == [], (path, resp.text)


# --------------------------------------------------------------------------------------
# Projects and team isolation
# --------------------------------------------------------------------------------------


def test_create_list_get_project(base_url):
    client = make_client(base_url, KEY_A)
    name = unique_name("proj")
    created = client.create_project(project=name, description="made by the SDK suite")
    assert created["project_name"] == name
    assert created["description"] == "made by the SDK suite"
    uuid.UUID(created["id"])  # a UUID
    assert KEY_A not in json.dumps(created), "the API key leaks into the Project"
    for key in ("created_at", "updated_at", "team"):
        assert key in created, f"Project lacks {key}: {created}"

    listed = [p for p in client.get_projects() if p["id"] == created["id"]]
    assert len(listed) == 1, client.get_projects()
    assert listed[0]["project_name"] == name

    by_name = client.get_project(project=name)
    by_id = client.get_project(project=created["id"])
    for got in (by_name, by_id):
        assert got["id"] == created["id"]
        assert got["project_name"] == name
        assert got["description"] == "made by the SDK suite"


def test_duplicate_project_name_is_409(base_url):
    client = make_client(base_url, KEY_A)
    name = unique_name("dup")
    client.create_project(project=name, description="first")
    with pytest.raises(RefuelException) as info:
        client.create_project(project=name, description="second")
    assert_error(info.value, 409)
    assert_server_error_body(info.value)
    assert [p["project_name"] for p in client.get_projects()].count(name) == 1


def test_unknown_project_id_is_404(base_url):
    client = make_client(base_url, KEY_A)
    with pytest.raises(RefuelException) as info:
        client.get_project(project=str(uuid.uuid4()))
    assert_error(info.value, 404)
    assert_server_error_body(info.value)


def test_team_isolation(base_url, project_a, main_dataset, csv_dir):
    client_a = make_client(base_url, KEY_A)
    client_b = make_client(base_url, KEY_B)

    # Names are unique per team: team B may reuse team A's project name.
    same_name = client_b.create_project(project=project_a["project_name"], description="B's")
    assert same_name["id"] != project_a["id"]
    b_project = client_b.create_project(project=unique_name("team-b-only"), description="B")

    # Team B's projects are invisible to team A, by listing, by name and by id.
    a_projects = client_a.get_projects()
    assert b_project["id"] not in {p["id"] for p in a_projects}
    assert same_name["id"] not in {p["id"] for p in a_projects}
    assert b_project["project_name"] not in {p["project_name"] for p in a_projects}
    assert [p["project_name"] for p in a_projects].count(project_a["project_name"]) == 1
    with pytest.raises(RefuelException) as info:
        client_a.get_project(project=b_project["project_name"])
    assert_error(info.value, 404)
    for project_id in (b_project["id"], same_name["id"]):
        with pytest.raises(RefuelException) as info:
            client_a.get_project(project=project_id)
        assert info.value.status_code == 404, info.value
    # ... and team A's to team B.
    assert project_a["id"] not in {p["id"] for p in client_b.get_projects()}
    with pytest.raises(RefuelException) as info:
        client_b.get_project(project=project_a["id"])
    assert info.value.status_code == 404, info.value

    # Team B's dataset cannot be read, listed, appended to, or uploaded into by team A.
    b_client = make_client(base_url, KEY_B, project=b_project["id"])
    b_ds = upload_generated(b_client, csv_dir, 30, seed=7, prefix="b-ds")
    a_in_b = make_client(base_url, KEY_A, project=b_project["id"])
    try:
        listed = a_in_b.get_datasets()
    except RefuelException as exc:
        assert exc.status_code == 404, exc
    else:
        assert b_ds.id not in {d["id"] for d in listed}, listed
    for call in (
        lambda: a_in_b.get_dataset(b_ds.id),
        lambda: a_in_b.get_items(dataset=b_ds.id, max_items=5),
        lambda: a_in_b.add_items(dataset=b_ds.id, items=[{"id": 99999, "name": "intruder"}]),
        lambda: a_in_b.upload_dataset(
            file_path=str(write_csv(csv_dir / "intruder.csv", generate_rows(3, 1)[1])),
            dataset_name="intruder",
        ),
    ):
        with pytest.raises(RefuelException) as info:
            call()
        assert info.value.status_code == 404, info.value
    # nothing leaked into team B's project
    assert [d["dataset_name"] for d in b_client.get_datasets()] == [b_ds.name]
    assert_rows_equal(fetch(b_client, b_ds.id, max_items=100), b_ds.rows, "team B's rows")
    # and team B cannot see team A's dataset
    b_in_a = make_client(base_url, KEY_B, project=project_a["id"])
    with pytest.raises(RefuelException) as info:
        b_in_a.get_items(dataset=main_dataset.id, max_items=5)
    assert info.value.status_code == 404, info.value


# --------------------------------------------------------------------------------------
# Datasets: upload, listing, schema
# --------------------------------------------------------------------------------------


def assert_schema(schema: Dict, what: str) -> None:
    assert set(schema) == set(COLUMNS), f"{what}: columns {sorted(schema)}"
    for col in COLUMNS:
        assert schema[col]["name"] == col, (what, schema[col])
        assert schema[col]["type"] == COLUMN_TYPES[col], (what, col, schema[col])
    orders = [schema[c]["order"] for c in COLUMNS]
    assert all(isinstance(o, int) for o in orders), (what, orders)
    assert orders == sorted(orders) and len(set(orders)) == len(orders), (
        f"{what}: 'order' does not follow the CSV column order: {orders}"
    )


def test_upload_returns_in_progress_then_succeeds(main_dataset):
    resp = main_dataset.upload_response
    assert resp["status"] == "in_progress", resp
    assert resp["dataset_name"] == main_dataset.name, resp
    uuid.UUID(resp["id"])
    assert resp["id"] == main_dataset.id
    assert main_dataset.statuses[-1] == "success"
    assert set(main_dataset.statuses) <= {"in_progress", "success"}, main_dataset.statuses


def test_get_dataset_schema_inferred(client_a, main_dataset):
    for ref in (main_dataset.name, main_dataset.id):
        ds = client_a.get_dataset(ref)
        assert ds["id"] == main_dataset.id
        assert ds["dataset_name"] == main_dataset.name
        assert ds["status"] == "success"
        assert_schema(ds["dataset_schema"], f"get_dataset({ref})")


def test_get_datasets_lists_it_with_schema(client_a, main_dataset):
    listed = [d for d in client_a.get_datasets() if d["dataset_name"] == main_dataset.name]
    assert len(listed) == 1, client_a.get_datasets()
    ds = listed[0]
    assert ds["id"] == main_dataset.id
    assert ds["status"] == "success"
    assert_schema(ds["dataset_schema"], "get_datasets")


def test_duplicate_dataset_name_in_project_is_rejected(client_a, main_dataset, csv_dir):
    path = write_csv(csv_dir / "dup.csv", generate_rows(5, 3)[1])
    with pytest.raises(RefuelException) as info:
        client_a.upload_dataset(file_path=str(path), dataset_name=main_dataset.name)
    assert 400 <= info.value.status_code < 500, info.value
    assert_server_error_body(info.value)
    names = [d["dataset_name"] for d in client_a.get_datasets()]
    assert names.count(main_dataset.name) == 1


def test_type_inference_edge_cases(client_a, csv_dir):
    """A column is boolean only if all non-empty values are booleans, number only if all
    parse as numbers; one odd value makes it a string; empty cells do not count."""
    path = csv_dir / "types.csv"
    path.write_text(
        "id,b,n,s1,s2,empty_mix\n"
        "1,true,1,true,1,\n"
        "2,,2.5,7,x,TRUE\n"
        "3,FALSE,,false,3,\n"
        "4,True,-4,yes,4.0,false\n",
        encoding="utf-8",
    )
    name = unique_name("types")
    client_a.upload_dataset(file_path=str(path), dataset_name=name)
    ds, _ = wait_for_ingest(client_a, name)
    types = {c: v["type"] for c, v in ds["dataset_schema"].items()}
    assert types == {
        "id": "number", "b": "boolean", "n": "number", "s1": "string", "s2": "string",
        "empty_mix": "boolean",
    }, types
    df = client_a.get_items(dataset=ds["id"], max_items=10)
    got = [{c: _py(v) for c, v in rec.items()} for rec in df.to_dict(orient="records")]
    assert got == [
        {"id": 1, "b": True, "n": 1, "s1": "true", "s2": "1", "empty_mix": None},
        {"id": 2, "b": None, "n": 2.5, "s1": "7", "s2": "x", "empty_mix": True},
        {"id": 3, "b": False, "n": None, "s1": "false", "s2": "3", "empty_mix": None},
        {"id": 4, "b": True, "n": -4, "s1": "yes", "s2": "4.0", "empty_mix": False},
    ], got


# --------------------------------------------------------------------------------------
# Reading items: values, default order, paging
# --------------------------------------------------------------------------------------


def test_get_items_default_first_20_in_insertion_order(client_a, main_dataset):
    df = client_a.get_items(dataset=main_dataset.name)
    assert list(df.columns) == COLUMNS, f"items are not flat rows of the CSV columns: {list(df.columns)}"
    got = frame_rows(df)
    assert_rows_equal(got, main_dataset.rows[:20], "get_items() default")


def test_value_types(client_a, main_dataset):
    df = client_a.get_items(dataset=main_dataset.id, max_items=300)
    rows = frame_rows(df)
    assert_rows_equal(rows, main_dataset.rows[:300], "first 300 rows")
    # integers arrive as JSON integers: a column without NULLs keeps an integer dtype
    assert df["qty"].dtype.kind == "i", df["qty"].dtype
    assert df["id"].dtype.kind == "i", df["id"].dtype
    for r in rows:
        assert r["active"] is None or isinstance(r["active"], bool), r
        for col in ("name", "category", "note"):
            assert r[col] is None or isinstance(r[col], str), r
        assert r["score"] is None or isinstance(r["score"], (int, float)), r
    # a numeric-looking value of a string column stays a string
    assert any(r["name"] == "42" for r in rows)
    # CSV quoting round-trips
    assert {"hello, world", 'say "hi"'} <= {r["name"] for r in rows}


def test_get_items_offset_spanning_many_pages(client_a, main_dataset, base_url):
    before = requests.get(base_url + "/_emulator/stats", timeout=10)
    assert before.status_code == 200, before.text
    got = fetch(client_a, main_dataset.id, offset=150, max_items=2000)
    assert_rows_equal(got, main_dataset.rows[150:2150], "offset=150 max_items=2000")
    after = requests.get(base_url + "/_emulator/stats", timeout=10)
    assert after.status_code == 200, after.text
    b, a = numeric_leaves(before.json()), numeric_leaves(after.json())
    deltas = {k: a[k] - b.get(k, 0) for k in a}
    # 20 pages of 100 rows plus the count request: some route counter grew by >= 21 and
    # some rows-served counter by >= 2000
    assert any(d >= 21 for d in deltas.values()), deltas
    assert any(d >= 2000 for d in deltas.values()), deltas


def test_get_items_whole_dataset(client_a, main_dataset):
    got = fetch(client_a, main_dataset.id, max_items=10_000)
    assert_rows_equal(got, main_dataset.rows, "whole dataset")


def test_get_items_tail_and_past_the_end(client_a, main_dataset):
    got = fetch(client_a, main_dataset.id, offset=N_ROWS - 50, max_items=100)
    assert_rows_equal(got, main_dataset.rows[-50:], "last partial page")
    assert fetch(client_a, main_dataset.id, offset=N_ROWS + 10, max_items=10) == []


def test_total_count_on_the_wire(client_a, main_dataset, base_url):
    """The SDK sizes its paging from total_count (max_items=0), which counts matching rows."""
    url = f"{base_url}/datasets/{main_dataset.id}"
    resp = requests.get(url, params={"offset": 0, "max_items": 0, "expand": "true"},
                        headers=auth(KEY_A), timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"]["total_count"] == N_ROWS
    assert not resp.json()["data"].get("items")
    flt = {"filter_type": "metadata", "field": "score", "operator": ">", "value": "9"}
    resp = requests.get(url, params={"offset": 0, "max_items": 0, "filters": [json.dumps(flt)]},
                        headers=auth(KEY_A), timeout=10)
    assert resp.status_code == 200, resp.text
    flt_sdk = {"field": "score", "operator": ">", "value": "9"}
    assert resp.json()["data"]["total_count"] == len(expected_filtered(main_dataset.rows, [flt_sdk]))


# --------------------------------------------------------------------------------------
# Filters
# --------------------------------------------------------------------------------------

FILTER_CASES = [
    # numbers: values travel as strings, comparisons are numeric ("9" < "10")
    ("num =", [{"field": "score", "operator": "=", "value": "10"}]),
    ("num = 10.0", [{"field": "score", "operator": "=", "value": "10.0"}]),
    ("num = float", [{"field": "score", "operator": "=", "value": "SCORE_FLOAT"}]),
    ("num <>", [{"field": "score", "operator": "<>", "value": "10"}]),
    ("num = JSON number", [{"field": "score", "operator": "=", "value": 10}]),
    ("num <> 10.0", [{"field": "score", "operator": "<>", "value": "10.0"}]),
    ("num <", [{"field": "score", "operator": "<", "value": "-5.5"}]),
    ("num <=", [{"field": "score", "operator": "<=", "value": "-5"}]),
    ("num >", [{"field": "score", "operator": ">", "value": "9"}]),
    ("num >=", [{"field": "score", "operator": ">=", "value": "10"}]),
    ("num > qty", [{"field": "qty", "operator": ">", "value": "950"}]),
    ("num IS NULL", [{"field": "score", "operator": "IS NULL", "value": ""}]),
    ("num IS NOT NULL", [{"field": "score", "operator": "IS NOT NULL", "value": ""}]),
    # strings: byte-wise, case-sensitive; NULLs match only IS NULL
    ("str =", [{"field": "name", "operator": "=", "value": "alpha"}]),
    ("str = numeric-looking", [{"field": "name", "operator": "=", "value": "42"}]),
    ("str <>", [{"field": "name", "operator": "<>", "value": "alpha"}]),
    ("str <", [{"field": "name", "operator": "<", "value": "beta"}]),
    ("str <=", [{"field": "name", "operator": "<=", "value": "Beta"}]),
    ("str >", [{"field": "name", "operator": ">", "value": "gamma"}]),
    ("str < numeric-looking", [{"field": "name", "operator": "<", "value": "5"}]),
    ("str >= non-ascii", [{"field": "name", "operator": ">=", "value": "z"}]),
    ("str IS NULL", [{"field": "name", "operator": "IS NULL", "value": ""}]),
    ("str IS NOT NULL", [{"field": "name", "operator": "IS NOT NULL"}]),
    ("bool IS NULL", [{"field": "active", "operator": "IS NULL", "value": ""}]),
    ("LIKE", [{"field": "name", "operator": "LIKE", "value": "lph"}]),
    ("LIKE case-sensitive", [{"field": "name", "operator": "LIKE", "value": "Alp"}]),
    ("LIKE % is literal", [{"field": "name", "operator": "LIKE", "value": "%"}]),
    ("LIKE _ is literal", [{"field": "name", "operator": "LIKE", "value": "_"}]),
    ("LIKE a% literal, empty", [{"field": "name", "operator": "LIKE", "value": "a%"}]),
    ("ILIKE", [{"field": "name", "operator": "ILIKE", "value": "ALPHA"}]),
    ("ILIKE non-ascii", [{"field": "name", "operator": "ILIKE", "value": "ÉMILE"}]),
    ("ILIKE note", [{"field": "note", "operator": "ILIKE", "value": "Cat"}]),
    ("NOT LIKE", [{"field": "name", "operator": "NOT LIKE", "value": "a"}]),
    ("NOT LIKE _", [{"field": "name", "operator": "NOT LIKE", "value": "_"}]),
    ("NOT ILIKE", [{"field": "name", "operator": "NOT ILIKE", "value": "A"}]),
    ("NOT ILIKE note", [{"field": "note", "operator": "NOT ILIKE", "value": "zebra"}]),
    ("SIMILAR", [{"field": "note", "operator": "SIMILAR", "value": "ZEBRA, quokka!"}]),
    ("SIMILAR whole words", [{"field": "note", "operator": "SIMILAR", "value": "cat"}]),
    ("SIMILAR across columns", [{"field": "x", "operator": "SIMILAR", "value": "Delta river"}]),
    ("SIMILAR no match", [{"field": "x", "operator": "SIMILAR", "value": "nothing-matches-here"}]),
    # several filters are ANDed
    ("AND", [
        {"field": "score", "operator": ">=", "value": "0"},
        {"field": "name", "operator": "ILIKE", "value": "a"},
        {"field": "category", "operator": "<>", "value": "north"},
    ]),
    ("empty result", [
        {"field": "score", "operator": ">", "value": "1000"},
    ]),
]


def _resolve(case_filters: List[Dict], rows: List[Dict]) -> List[Dict]:
    """Fills the SCORE_FLOAT placeholder with a fractional score that occurs in the data."""
    floats = [r["score"] for r in rows if isinstance(r["score"], float)]
    out = []
    for f in case_filters:
        f = dict(f)
        if f.get("value") == "SCORE_FLOAT":
            f["value"] = repr(floats[17])
        out.append(f)
    return out


@pytest.mark.parametrize("label,filters", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filter(client_a, main_dataset, label, filters):
    filters = _resolve(filters, main_dataset.rows)
    expected = expected_filtered(main_dataset.rows, filters)
    got = fetch(client_a, main_dataset.id, max_items=10_000, filters=filters)
    assert_rows_equal(got, expected, f"filters {filters}")


def test_filter_cases_are_discriminating(main_dataset):
    """Guards the suite itself: each case (but the empty ones) selects some rows and not all,
    and the semantics under test differ from the naive ones on this data."""
    rows = main_dataset.rows
    for label, filters in FILTER_CASES:
        n = len(expected_filtered(rows, _resolve(filters, rows)))
        if "no match" in label or "empty" in label:
            assert n == 0, label
        else:
            assert 0 < n < len(rows), (label, n)
    # numeric vs. lexicographic comparison differ for "> 9"
    num = {r["id"] for r in rows if r["score"] is not None and r["score"] > 9}
    lex = {r["id"] for r in rows if r["score"] is not None and str(r["score"]) > "9"}
    assert num != lex
    # whole-word SIMILAR differs from substring matching for "cat"
    sub = {r["id"] for r in rows if r["note"] and "cat" in r["note"].lower()}
    whole = {r["id"] for r in expected_filtered(rows, [{"operator": "SIMILAR", "value": "cat"}])}
    assert whole < sub
    # LIKE with a '%' value differs from a wildcard match-all
    assert 0 < len(expected_filtered(rows, [{"field": "name", "operator": "LIKE", "value": "%"}])) < 300


def test_filter_with_order_and_paging(client_a, main_dataset):
    filters = [{"field": "score", "operator": "IS NOT NULL", "value": ""}]
    order_by = [{"field": "qty", "direction": "DESC"}]
    expected = expected_ordered(expected_filtered(main_dataset.rows, filters), order_by)
    got = fetch(client_a, main_dataset.id, offset=120, max_items=1500,
                filters=filters, order_by=order_by)
    assert_rows_equal(got, expected[120:1620], "filter + order + offset")


# --------------------------------------------------------------------------------------
# Ordering
# --------------------------------------------------------------------------------------

ORDER_CASES = [
    ("number ASC", [{"field": "score", "direction": "ASC"}]),
    ("number DESC", [{"field": "score", "direction": "DESC"}]),
    ("number default direction", [{"field": "score"}]),
    ("number without NULLs DESC", [{"field": "qty", "direction": "DESC"}]),
    ("string ASC", [{"field": "name", "direction": "ASC"}]),
    ("string DESC", [{"field": "name", "direction": "DESC"}]),
    ("two keys", [{"field": "category", "direction": "ASC"}, {"field": "score", "direction": "DESC"}]),
    ("two keys, NULLs in both", [{"field": "name", "direction": "DESC"}, {"field": "score", "direction": "ASC"}]),
]


@pytest.mark.parametrize("label,order_by", ORDER_CASES, ids=[c[0] for c in ORDER_CASES])
def test_order_by(client_a, main_dataset, label, order_by):
    expected = expected_ordered(main_dataset.rows, order_by)
    got = fetch(client_a, main_dataset.id, max_items=10_000, order_by=order_by)
    assert_rows_equal(got, expected, f"order_by {order_by}")


def test_order_null_placement_and_ties(main_dataset):
    """Guards the suite itself: the ordered data has NULLs and ties to place."""
    rows = main_dataset.rows
    asc = expected_ordered(rows, [{"field": "name", "direction": "ASC"}])
    desc = expected_ordered(rows, [{"field": "name", "direction": "DESC"}])
    assert asc[-1]["name"] is None and asc[0]["name"] is not None
    assert desc[0]["name"] is None and desc[-1]["name"] is not None
    ties = [r for r in asc if r["name"] == "alpha"]
    assert len(ties) > 1 and ids_of(ties) != sorted(ids_of(ties))


# --------------------------------------------------------------------------------------
# Appending rows
# --------------------------------------------------------------------------------------


def test_add_items_appends_at_the_end(client_a, csv_dir):
    ds = upload_generated(client_a, csv_dir, 40, seed=99, id_base=0, prefix="append")
    new_rows = [
        {"id": 1000, "name": "appended one", "category": "east", "score": 7, "qty": 1,
         "active": True, "note": "fresh zebra"},
        {"id": 1001, "name": None, "category": "west", "score": -2.75, "qty": 2,
         "active": None, "note": None},
        {"id": 1002, "name": "Appended_%", "category": "north", "score": None, "qty": 3,
         "active": False, "note": "quokka"},
    ]
    client_a.add_items(dataset=ds.name, items=new_rows)
    expected = ds.rows + new_rows
    assert_rows_equal(fetch(client_a, ds.name, max_items=1000), expected, "after add_items")
    # the schema is unchanged and the new rows are filterable and orderable like the others
    assert_schema(client_a.get_dataset(ds.name)["dataset_schema"], "after add_items")
    flt = [{"field": "id", "operator": ">=", "value": "1000"}]
    assert_rows_equal(fetch(client_a, ds.id, max_items=100, filters=flt), new_rows, "new rows")
    order = [{"field": "score", "direction": "DESC"}]
    assert_rows_equal(fetch(client_a, ds.id, max_items=100, order_by=order),
                      expected_ordered(expected, order), "ordered after add_items")

    # a second batch goes after the first
    more = [{"id": 1003, "name": "last", "category": "south", "score": 0, "qty": 4,
             "active": True, "note": "end"}]
    client_a.add_items(dataset=ds.id, items=more)
    expected += more
    assert_rows_equal(fetch(client_a, ds.id, max_items=1000), expected, "after 2nd add_items")

    # an unknown column is rejected with 400 and appends nothing
    with pytest.raises(RefuelException) as info:
        client_a.add_items(dataset=ds.id, items=[
            {"id": 1004, "name": "ok", "category": "east", "score": 1, "qty": 5,
             "active": True, "note": "fine"},
            {"id": 1005, "no_such_column": "boom"},
        ])
    assert_error(info.value, 400)
    assert_server_error_body(info.value)
    assert_rows_equal(fetch(client_a, ds.id, max_items=1000), expected, "after rejected add_items")


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_bad_query_input_is_4xx(client_a, main_dataset):
    """Bad input is answered with a 4xx and a JSON message, which the SDK raises."""
    for kwargs in (
        {"filters": [{"field": "no_such_column", "operator": "=", "value": "1"}]},
        {"filters": [{"field": "score", "operator": ">", "value": "not a number"}]},
        {"order_by": [{"field": "no_such_column", "direction": "ASC"}]},
    ):
        with pytest.raises(RefuelException) as info:
            client_a.get_items(dataset=main_dataset.id, max_items=10, **kwargs)
        assert 400 <= info.value.status_code < 500, (kwargs, info.value)
        assert_server_error_body(info.value)


def test_unknown_dataset_name_is_404(client_a):
    name = unique_name("no-such-dataset")
    for call in (lambda: client_a.get_items(dataset=name), lambda: client_a.get_dataset(name)):
        with pytest.raises(RefuelException) as info:
            call()
        assert_error(info.value, 404)


def test_unknown_dataset_uuid_is_404(client_a, base_url):
    missing = str(uuid.uuid4())
    for call in (
        lambda: client_a.get_items(dataset=missing),
        lambda: client_a.get_dataset(missing),
        lambda: client_a.add_items(dataset=missing, items=[{"id": 1}]),
    ):
        with pytest.raises(RefuelException) as info:
            call()
        assert_error(info.value, 404)
        assert_server_error_body(info.value)
    resp = requests.get(f"{base_url}/datasets/{missing}", params={"max_items": 0},
                        headers=auth(KEY_A), timeout=10)
    assert resp.status_code == 404 and isinstance(resp.json().get("detail"), str), resp.text


# --------------------------------------------------------------------------------------
# Durability (--data-dir) and clean shutdown
# --------------------------------------------------------------------------------------


def test_data_dir_survives_restart(emulator_factory, tmp_path, csv_dir):
    key = "sdk-conformance-durable-key"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    emu = emulator_factory([key], ["--data-dir", str(data_dir)])
    client = make_client(emu.url, key)
    project = client.create_project(project=unique_name("durable"), description="kept")
    client = make_client(emu.url, key, project=project["project_name"])
    ds = upload_generated(client, csv_dir, 150, seed=5, prefix="durable")
    extra = [{"id": 500, "name": "after upload", "category": "east", "score": 1.5, "qty": 9,
              "active": False, "note": None}]
    client.add_items(dataset=ds.id, items=extra)
    expected = ds.rows + extra
    assert_rows_equal(fetch(client, ds.id, max_items=1000), expected, "before restart")

    code = emu.stop()
    assert code == 0, f"emulator exit code after SIGTERM: {code}\n{emu.stderr_text()}"

    emu2 = emulator_factory([key], ["--data-dir", str(data_dir)])
    client2 = make_client(emu2.url, key, project=project["project_name"])
    assert client2._project_id == project["id"]
    got_ds = client2.get_dataset(ds.name)
    assert got_ds["id"] == ds.id and got_ds["status"] == "success"
    assert_schema(got_ds["dataset_schema"], "after restart")
    assert_rows_equal(fetch(client2, ds.name, max_items=1000), expected, "after restart")
    order = [{"field": "name", "direction": "ASC"}]
    assert_rows_equal(fetch(client2, ds.id, max_items=1000, order_by=order),
                      expected_ordered(expected, order), "ordered after restart")
    code = emu2.stop()
    assert code == 0, f"emulator exit code after SIGTERM: {code}\n{emu2.stderr_text()}"
