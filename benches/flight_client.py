"""The client side of `cargo bench --bench flight`: a query through the ADBC Flight SQL
driver into a pyarrow Table, by one client and by several at once.

    python flight_client.py URI KEY PROJECT SQL CLIENTS RUNS

Prints one JSON object: `single` (seconds of each run of one client), `rows`, and
`concurrent` (wall seconds of each run of CLIENTS clients at once). Connections are made and
their sessions opened (a `SELECT 1`) before the clock starts."""

import json
import sys
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
from adbc_driver_flightsql import DatabaseOptions


def connect(uri, key, project):
    options = {
        DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {key}",
        "adbc.flight.sql.rpc.call_header.x-refuel-project": project,
    }
    conn = flight_sql.connect(uri=uri, db_kwargs=options)
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.fetch_arrow_table()
    return conn


def run(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetch_arrow_table().num_rows


def main():
    uri, key, project, sql, clients, runs = sys.argv[1:7]
    clients, runs = int(clients), int(runs)
    conn = connect(uri, key, project)
    single, rows = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        rows = run(conn, sql)
        single.append(time.perf_counter() - started)
    conns = [connect(uri, key, project) for _ in range(clients)]
    concurrent = []
    for _ in range(runs):
        counts = [0] * clients
        barrier = threading.Barrier(clients + 1)

        def work(i):
            barrier.wait()
            counts[i] = run(conns[i], sql)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        barrier.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        concurrent.append(time.perf_counter() - started)
        assert all(c == rows for c in counts), counts
    print(json.dumps({"single": single, "rows": rows, "concurrent": concurrent}))


if __name__ == "__main__":
    main()
