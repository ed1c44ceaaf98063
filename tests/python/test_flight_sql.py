"""`refuel-sql serve` (Arrow Flight SQL) with real clients: the ADBC Flight SQL driver and
`pyarrow.flight`, against the emulator of this suite (two teams).

`REFUEL_SQL_BIN` overrides the binary (default: <repo>/target/debug/refuel-sql)."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from adbc_driver_flightsql import DatabaseOptions

from conftest import (KEY_A, KEY_B, REPO, _drain, make_client, unique_name, upload_generated)

READY = re.compile(r"Flight SQL on grpc://(127\.0\.0\.1:\d+)")
PROJECT_HEADER = "adbc.flight.sql.rpc.call_header.x-refuel-project"


def shell_binary() -> Path:
    raw = os.environ.get("REFUEL_SQL_BIN")
    return Path(raw) if raw else REPO / "target" / "debug" / "refuel-sql"


@pytest.fixture(scope="module")
def server(base_url, tmp_path_factory):
    binary = shell_binary()
    if not binary.is_file():
        pytest.fail(f"refuel-sql binary not found at {binary}", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUEL_")}
    log = tmp_path_factory.mktemp("flight") / "stderr.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [str(binary), "--endpoint", base_url, "--server-semantics", "emulator", "serve",
             "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=err, env=env, text=True)
    line = proc.stdout.readline()
    match = READY.search(line)
    if not match:
        proc.kill()
        pytest.fail(f"refuel-sql serve did not start: {line!r}\n{log.read_text()}", pytrace=False)
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    yield {"uri": f"grpc://{match.group(1)}", "log": log}
    proc.terminate()
    proc.wait(timeout=10)
    # Neither key ever reaches the server's log.
    text = log.read_text(errors="replace")
    assert KEY_A not in text and KEY_B not in text


@pytest.fixture(scope="module")
def flight_data(base_url, project_a, client_a, tmp_path_factory):
    """A dataset of team A written by these tests, and a project of team B."""
    ds = upload_generated(client_a, tmp_path_factory.mktemp("flight-csv"), 300, seed=7,
                          prefix="flight")
    team_b = make_client(base_url, KEY_B)
    project_b = team_b.create_project(project=unique_name("flight-b"), description="team B")
    return {"project": project_a["project_name"], "dataset": ds, "project_b": project_b}


def connect(server, key: str, project: str | None = None, basic: bool = False):
    kwargs = {}
    if basic:
        kwargs.update({"username": "analyst", "password": key})
    else:
        kwargs[DatabaseOptions.AUTHORIZATION_HEADER.value] = f"Bearer {key}"
    if project:
        kwargs[PROJECT_HEADER] = project
    return flight_sql.connect(uri=server["uri"], db_kwargs=kwargs)


def emulator_requests(base_url):
    import json
    import urllib.request
    with urllib.request.urlopen(f"{base_url}/_emulator/requests") as r:
        return json.load(r)


def test_adbc_queries_push_down_and_match_the_data(server, flight_data, base_url):
    ds = flight_data["dataset"]
    with connect(server, KEY_A, flight_data["project"]) as conn, conn.cursor() as cur:
        cur.execute(f'SELECT id, qty FROM "{ds.name}" WHERE qty > 5 ORDER BY id LIMIT 10')
        table = cur.fetch_arrow_table()
        want = sorted(r["id"] for r in ds.rows if r["qty"] is not None and r["qty"] > 5)[:10]
        assert table.column("id").to_pylist() == want
        sent = [dict(r["query"]) for r in emulator_requests(base_url) if ds.id in r["path"]]
        assert any("filters" in q and q.get("max_items") == "10" for q in sent), sent[-3:]

        # A prepared statement with a parameter.
        cur.execute(f'SELECT count(*) AS n FROM "{ds.name}" WHERE qty > ?', parameters=(5,))
        n = cur.fetch_arrow_table().column("n").to_pylist()[0]
        assert n == sum(1 for r in ds.rows if r["qty"] is not None and r["qty"] > 5)

        # pandas through pyarrow.
        cur.execute(f'SELECT * FROM "{ds.name}"')
        assert len(cur.fetch_df()) == 300


def test_adbc_lists_catalogs_schemas_and_tables(server, flight_data):
    ds = flight_data["dataset"]
    with connect(server, KEY_A, flight_data["project"], basic=True) as conn:
        objects = conn.adbc_get_objects(depth="tables", catalog_filter="refuel").read_all()
        catalogs = objects.to_pylist()
        assert [c["catalog_name"] for c in catalogs] == ["refuel"]
        schemas = {s["db_schema_name"]: s for s in catalogs[0]["catalog_db_schemas"]}
        assert flight_data["project"] in schemas
        assert flight_data["project_b"]["project_name"] not in schemas
        tables = [t["table_name"] for t in schemas[flight_data["project"]]["db_schema_tables"]]
        assert ds.name in tables
        schema = conn.adbc_get_table_schema(ds.name, catalog_filter="refuel",
                                            db_schema_filter=flight_data["project"])
        assert "qty" in schema.names and "id" in schema.names
        assert "TABLE" in conn.adbc_get_table_types()


def test_adbc_insert_returns_the_row_count(server, flight_data):
    ds = flight_data["dataset"]
    count = f'SELECT count(*) AS n FROM "{ds.name}"'
    with connect(server, KEY_A, flight_data["project"]) as conn:
        with conn.cursor() as cur:
            cur.execute(count)
            before = cur.fetch_arrow_table().column("n").to_pylist()[0]
        with conn.cursor() as cur:
            cur.adbc_statement.set_sql_query(
                f"INSERT INTO \"{ds.name}\" (id, name, qty) VALUES (900001, 'flight one', 1), "
                "(900002, 'flight two', 2)")
            assert cur.adbc_statement.execute_update() == 2
        # A prepared INSERT with parameters, one row a call.
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{ds.name}" (id, name, qty) VALUES (?, ?, ?)',
                            [(900003, "flight three", 3), (900004, "flight four", 4)])
        with conn.cursor() as cur:
            cur.execute(count)
            assert cur.fetch_arrow_table().column("n").to_pylist()[0] == before + 4


def test_wrong_and_missing_keys_are_refused_and_teams_are_apart(server, flight_data):
    with pytest.raises(Exception) as wrong:
        with connect(server, "no-such-key") as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert "AUTHENTICAT" in str(wrong.value).upper() and "no-such-key" not in str(wrong.value)
    with pytest.raises(Exception) as missing:
        with flight_sql.connect(uri=server["uri"]) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
    assert "AUTHENTICAT" in str(missing.value).upper()
    with connect(server, KEY_B) as conn, conn.cursor() as cur:
        cur.execute("SELECT schema_name FROM information_schema.schemata")
        names = cur.fetch_arrow_table().column("schema_name").to_pylist()
        assert flight_data["project_b"]["project_name"] in names
        assert flight_data["project"] not in names


def _any(type_name: str, payload: bytes) -> bytes:
    """A protobuf `Any` holding a Flight SQL command (encoded by hand: two length-delimited
    fields)."""
    def field(number: int, data: bytes) -> bytes:
        n, size = len(data), b""
        while True:
            byte = n & 0x7F
            n >>= 7
            size += bytes([byte | (0x80 if n else 0)])
            if not n:
                break
        return bytes([(number << 3) | 2]) + size + data
    url = f"type.googleapis.com/arrow.flight.protocol.sql.{type_name}".encode()
    return field(1, url) + field(2, payload)


def test_pyarrow_flight_handshake_token_and_statement(server, flight_data):
    ds = flight_data["dataset"]
    client = flight.FlightClient(server["uri"])
    header = client.authenticate_basic_token("analyst", KEY_A)
    assert KEY_A not in header[1].decode()
    options = flight.FlightCallOptions(
        headers=[header, (b"x-refuel-project", flight_data["project"].encode())])
    sql = f'SELECT id FROM "{ds.name}" ORDER BY id LIMIT 5'.encode()
    command = _any("CommandStatementQuery", bytes([0x0A, len(sql)]) + sql)
    info = client.get_flight_info(flight.FlightDescriptor.for_command(command), options)
    table = client.do_get(info.endpoints[0].ticket, options).read_all()
    assert table.column("id").to_pylist() == sorted(r["id"] for r in ds.rows)[:5]
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(flight.FlightDescriptor.for_command(command))
