"""refuel_datafusion in datafusion-python 55, pandas, polars and pyarrow, against the
emulator in this process (see conftest.py)."""

from __future__ import annotations

import _thread
import gc
import json
import os
import signal
import threading
import time

import datafusion
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import refuel_datafusion as rd
from conftest import KEY, N_REVIEWS, PROJECT, unique

WRONG_KEY = "refuel-datafusion-pytest-wrong-key-5d1a"


def session(seeded) -> datafusion.SessionContext:
    ctx = datafusion.SessionContext()
    ctx.register_catalog_provider("refuel", rd.RefuelCatalog(project=PROJECT, **seeded.conn))
    return ctx


def query_values(requests, name):
    return [v for r in requests for k, v in r["query"] if k == name]


# ----------------------------------------------------------------------------------------
# Catalog and tables
# ----------------------------------------------------------------------------------------


def test_catalog_lists_projects_and_tables(seeded):
    catalog = rd.RefuelCatalog(**seeded.conn)
    assert PROJECT in catalog.schema_names()
    tables = catalog.table_names(PROJECT)
    assert "reviews" in tables and "sentiment_labels" in tables and "datasets" in tables
    with pytest.raises(KeyError, match="no Refuel project 'nope'"):
        catalog.table_names("nope")

    ctx = session(seeded)
    refuel = ctx.catalog("refuel")
    assert PROJECT in refuel.schema_names()
    assert {"reviews", "sentiment_labels"} <= set(refuel.schema(PROJECT).table_names())
    names = ctx.sql(f"SELECT name FROM refuel.{PROJECT}.datasets").to_pydict()["name"]
    assert "reviews" in names


def test_query_with_filter_matches_the_data_and_is_pushed_down(seeded):
    ctx = session(seeded)
    seeded.emulator.reset_requests()
    got = ctx.sql(
        f"SELECT id, title, price FROM refuel.{PROJECT}.reviews "
        "WHERE category = 'books' AND price > 100 ORDER BY id"
    ).to_pandas()
    want = [r for r in seeded.reviews if r["category"] == "books" and r["price"] > 100]
    assert got["id"].tolist() == [r["id"] for r in want]
    assert got["title"].tolist() == [r["title"] for r in want]
    assert got["price"].tolist() == pytest.approx([r["price"] for r in want])

    filters = [json.loads(v) for v in query_values(seeded.emulator.requests(), "filters")]
    assert filters, "the filter reached the API"
    flat = json.dumps(filters)
    assert "category" in flat and "books" in flat, flat


def test_limit_is_pushed_down(seeded):
    ctx = session(seeded)
    seeded.emulator.reset_requests()
    got = ctx.sql(f"SELECT id FROM refuel.{PROJECT}.reviews LIMIT 3").to_pydict()
    assert len(got["id"]) == 3
    sizes = [int(v) for v in query_values(seeded.emulator.requests(), "max_items")]
    assert sizes and max(sizes) <= 3, sizes


def test_order_by_and_offset_run_in_datafusion_with_the_same_result(seeded):
    ctx = session(seeded)
    got = ctx.sql(
        f"SELECT id FROM refuel.{PROJECT}.reviews ORDER BY price DESC, id LIMIT 5 OFFSET 2"
    ).to_pydict()["id"]
    want = [r["id"] for r in sorted(seeded.reviews, key=lambda r: (-r["price"], r["id"]))][2:7]
    assert got == want


def test_label_table_matches_the_sdk(seeded):
    ctx = session(seeded)
    got = ctx.sql(
        f"SELECT id, review, sentiment_label, sentiment_confidence "
        f"FROM refuel.{PROJECT}.sentiment_labels WHERE category = 'toys' ORDER BY id"
    ).to_pandas()
    want_ids = [r["id"] for r in seeded.reviews if r["category"] == "toys"]
    assert got["id"].tolist() == want_ids
    sdk = seeded.sdk.get_items(dataset="reviews", task="sentiment", max_items=N_REVIEWS)
    by_id = {int(row["id"]): row for _, row in sdk.iterrows()}
    for _, row in got.iterrows():
        assert row["sentiment_label"] in {"positive", "negative", "neutral"}
        assert row["sentiment_label"] == by_id[row["id"]]["sentiment_sentiment_label"]


def test_refuel_table_to_pandas_and_polars(seeded):
    ctx = datafusion.SessionContext()
    table = rd.RefuelTable("reviews", task="sentiment", project=PROJECT, **seeded.conn)
    assert "sentiment_label" in table.columns and table.task == "sentiment"
    assert pa.schema(table).field("id").type == pa.int64()
    ctx.register_table("labeled", table)
    seeded.emulator.reset_requests()
    frame = ctx.sql("SELECT id, sentiment_label FROM labeled WHERE id < 10 ORDER BY id")
    polars = frame.to_polars()
    assert isinstance(polars, pl.DataFrame)
    assert polars["id"].to_list() == list(range(10))
    assert query_values(seeded.emulator.requests(), "filters"), "the filter reached the API"
    pandas = ctx.sql("SELECT id, title FROM labeled ORDER BY id").to_pandas()
    assert isinstance(pandas, pd.DataFrame) and len(pandas) == N_REVIEWS
    assert pandas["title"].tolist() == [r["title"] for r in seeded.reviews]
    arrow = ctx.sql("SELECT count(*) AS n FROM labeled").to_arrow_table()
    assert arrow.column("n").to_pylist() == [N_REVIEWS]


# ----------------------------------------------------------------------------------------
# Writes
# ----------------------------------------------------------------------------------------


def read_back(seeded, name):
    ctx = session(seeded)
    return ctx.sql(f"SELECT * FROM refuel.{PROJECT}.{name} ORDER BY n").to_pandas()


def staged_keys(s3):
    client, _ = s3
    listed = client.list_objects_v2(Bucket="stage")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_write_dataset_from_pandas_through_s3(seeded, s3):
    _, options = s3
    name = unique("from_pandas")
    frame = pd.DataFrame({"n": range(500), "word": [f"w{i % 7}" for i in range(500)],
                          "score": [i / 4 for i in range(500)]}, index=range(1000, 1500))
    out = rd.write_dataset(frame, name, project=PROJECT, staging="s3://stage/pandas",
                           storage_options=options, **seeded.conn)
    assert out["dataset"] == name and out["rows"] == 500
    assert out["handoff"] == "presigned_url"
    back = read_back(seeded, name)
    assert list(back.columns) == ["n", "word", "score"], "columns, not the index"
    assert back["n"].tolist() == list(range(500))
    assert back["word"].tolist() == frame["word"].tolist()
    assert back["score"].tolist() == pytest.approx(frame["score"].tolist())
    assert not [k for k in staged_keys(s3) if k.startswith("pandas/")], "staged file removed"


def test_write_dataset_from_polars_through_s3_as_csv(seeded, s3):
    _, options = s3
    name = unique("from_polars")
    frame = pl.DataFrame({"n": list(range(250)), "ok": [i % 3 == 0 for i in range(250)]})
    out = rd.write_dataset(frame, name, project=PROJECT, staging="s3://stage/polars",
                           format="csv", storage_options=options, **seeded.conn)
    assert out["rows"] == 250 and out["handoff"] == "presigned_url"
    back = read_back(seeded, name)
    assert back["n"].tolist() == list(range(250))
    assert back["ok"].tolist() == [i % 3 == 0 for i in range(250)]


def test_write_dataset_from_datafusion_and_dicts_by_upload(seeded):
    ctx = session(seeded)
    name = unique("from_query")
    frame = ctx.sql(f"SELECT id AS n, category FROM refuel.{PROJECT}.reviews WHERE id < 40")
    out = rd.write_dataset(frame, name, project=PROJECT, **seeded.conn)
    assert out["rows"] == 40 and out["handoff"] == "upload"
    back = read_back(seeded, name)
    assert back["n"].tolist() == list(range(40))

    name = unique("from_dicts")
    rows = [{"n": 1, "text": "a"}, {"n": 2, "text": None}]
    assert rd.write_dataset(rows, name, project=PROJECT, **seeded.conn)["rows"] == 2
    back = read_back(seeded, name)
    assert back["text"].tolist()[0] == "a" and pd.isna(back["text"].tolist()[1])


def test_insert_into_a_dataset_from_datafusion_python(seeded):
    name = unique("inserted")
    rd.write_dataset(pa.table({"n": [1, 2], "s": ["a", "b"]}), name, project=PROJECT,
                     **seeded.conn)
    ctx = session(seeded)
    count = ctx.sql(f"INSERT INTO refuel.{PROJECT}.{name} VALUES (3, 'c'), (4, NULL)")
    assert count.to_pydict()["count"] == [2]
    back = ctx.sql(f"SELECT n, s FROM refuel.{PROJECT}.{name} ORDER BY n").to_pydict()
    assert back == {"n": [1, 2, 3, 4], "s": ["a", "b", "c", None]}


def test_write_dataset_from_a_failing_stream_makes_nothing(seeded):
    def batches():
        yield pa.record_batch({"n": [1, 2]})
        raise RuntimeError("the producer broke")

    name = unique("broken")
    reader = pa.RecordBatchReader.from_batches(pa.schema({"n": pa.int64()}), batches())
    with pytest.raises(rd.RefuelError, match="the producer broke") as info:
        rd.write_dataset(reader, name, project=PROJECT, **seeded.conn)
    assert "removed" in str(info.value), "the staged file is cleaned up"
    catalog = rd.RefuelCatalog(**seeded.conn)
    assert name not in catalog.table_names(PROJECT), "no dataset was made"


def test_write_dataset_refuses_bad_input_and_existing_names(seeded):
    with pytest.raises(rd.RefuelError, match="already exists") as info:
        rd.write_dataset(pa.table({"n": [1]}), "reviews", project=PROJECT, **seeded.conn)
    assert "reviews" in info.value.detail
    with pytest.raises(ValueError, match="parquet or csv"):
        rd.write_dataset(pa.table({"n": [1]}), unique("x"), project=PROJECT, format="orc",
                         **seeded.conn)
    with pytest.raises(ValueError, match="invalid location"):
        rd.write_dataset(pa.table({"n": [1]}), unique("x"), project=PROJECT,
                         staging="ftp://nowhere/x", **seeded.conn)
    with pytest.raises(ValueError, match="storage option 'endpoint'"):
        rd.write_dataset(pa.table({"n": [1]}), unique("x"), project=PROJECT,
                         storage_options={"endpoint": "x"}, **seeded.conn)
    with pytest.raises(TypeError, match="expected Arrow data"):
        rd.write_dataset(42, unique("x"), project=PROJECT, **seeded.conn)


# ----------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------


def label_requests(emulator):
    return [r for r in emulator.requests() if r["method"] == "POST" and "/label" in r["path"]]


def test_label_rows_in_order_with_duplicates_labeled_once(seeded):
    rows = [
        {"id": 1, "review": "great value, excellent"},
        {"id": 2, "review": "terrible, broke"},
        {"id": 3, "review": "great value, excellent"},
        {"id": 4, "review": None},
        {"id": 5, "review": "okay, average"},
    ]
    seeded.emulator.reset_requests()
    out = rd.label(seeded.application, rows, project=PROJECT, **seeded.conn)
    assert isinstance(out, pa.Table)
    assert out.column_names == ["id", "review", "sentiment"]
    assert out.column("id").to_pylist() == [1, 2, 3, 4, 5]
    labels = [s["label"] if s else None for s in out.column("sentiment").to_pylist()]
    assert labels[0] == labels[2] == "positive"
    assert labels[1] == "negative" and labels[4] == "neutral"
    assert labels[3] is None, "a row of null inputs gives null and sends nothing"
    assert len(label_requests(seeded.emulator)) == 3, "3 distinct non-null inputs"


def test_label_from_pandas_and_polars_with_explanations(seeded):
    frame = pd.DataFrame({"review": ["excellent quality", "terrible"], "n": [7, 8]})
    out = rd.label(seeded.application, frame, explain=True, project=PROJECT, **seeded.conn)
    first = out.column("sentiment").to_pylist()[0]
    assert first["label"] == "positive" and first["explanation"]
    assert out.column("n").to_pylist() == [7, 8]
    out = rd.label(seeded.application, pl.DataFrame({"review": ["okay"]}), project=PROJECT,
                   **seeded.conn)
    assert out.column("sentiment").to_pylist()[0]["label"] == "neutral"


def test_label_names_an_application_of_another_project(seeded):
    # No current project: the reference names the application's project.
    out = rd.label(f"{PROJECT}/{seeded.application}", [{"review": "terrible"}], **seeded.conn)
    assert out.column("sentiment").to_pylist()[0]["label"] == "negative"


def test_label_errors(seeded):
    with pytest.raises(ValueError, match="lack the input column review"):
        rd.label(seeded.application, [{"text": "x"}], project=PROJECT, **seeded.conn)
    with pytest.raises(rd.RefuelError, match="not found"):
        rd.label("no_such_app", [{"review": "x"}], project=PROJECT, **seeded.conn)
    with pytest.raises(ValueError, match="on_error"):
        rd.label(seeded.application, [{"review": "x"}], on_error="skip", project=PROJECT,
                 **seeded.conn)
    rows = [{"review": f"distinct {i}"} for i in range(5)]
    with pytest.raises(rd.RefuelError, match="max_rows"):
        rd.label(seeded.application, rows, max_rows=2, project=PROJECT, **seeded.conn)


def interrupted(emulator, call, count_requests, after: float = 0.5):
    """Runs `call` and sends Ctrl-C `after` seconds in (interrupt_main: what the SIGINT
    handler does); checks that it raised KeyboardInterrupt and that no requests were sent
    afterwards. Returns (seconds the call ran, requests sent)."""
    emulator.reset_requests()
    timer = threading.Timer(after, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()  # a call that failed otherwise must not leave an interrupt behind
    elapsed = time.monotonic() - started
    time.sleep(0.5)  # requests already on the wire are answered
    sent = count_requests(emulator)
    time.sleep(0.6)
    assert count_requests(emulator) == sent, "requests went on after the interrupt"
    return elapsed, sent


def test_an_interrupt_stops_label_and_raises_keyboard_interrupt(seeded):
    # 2000 distinct rows at 100 ms a request take about 7 s here: Ctrl-C ends the call and
    # its requests at once.
    rows = [{"review": f"slow review {i}"} for i in range(2000)]
    seeded.emulator.set_network(latency_ms=100)
    try:
        elapsed, sent = interrupted(
            seeded.emulator,
            lambda: rd.label(seeded.application, rows, project=PROJECT, **seeded.conn),
            lambda emu: len(label_requests(emu)))
    finally:
        seeded.emulator.set_network()
    assert elapsed < 2.5, f"the interrupt took {elapsed:.2f} s to end the call"
    assert 0 < sent < len(rows)


def test_an_interrupted_query_stops_reading_pages(seeded):
    # datafusion-python looks for signals while it collects; dropping the plan stops our
    # scan's page reads (none go on in the background).
    ctx = session(seeded)
    ctx.sql(f"SELECT 1 FROM refuel.{PROJECT}.reviews LIMIT 1").collect()  # table resolved
    seeded.emulator.set_network(latency_ms=200, max_page_rows=3)
    try:
        elapsed, sent = interrupted(
            seeded.emulator,
            lambda: ctx.sql(f"SELECT * FROM refuel.{PROJECT}.reviews").to_pandas(),
            lambda emu: len(emu.requests()))
    finally:
        seeded.emulator.set_network()
    assert elapsed < 4, f"the interrupt took {elapsed:.2f} s to end the query"
    assert sent < N_REVIEWS // 3, "the query was stopped before reading every page"


def test_an_interrupted_write_from_a_source_running_no_python(seeded, s3):
    # A Flight stream served slowly by another thread: while the main thread reads it no
    # Python code runs there, so write_dataset itself must see the Ctrl-C between batches.
    import pyarrow.flight as fl

    schema = pa.schema({"n": pa.int64()})
    done = threading.Event()

    class Slow(fl.FlightServerBase):
        def do_get(self, context, ticket):
            def batches():
                for i in range(400):  # 20 s at most
                    if done.is_set():
                        return
                    time.sleep(0.05)
                    yield pa.record_batch({"n": [i]}, schema=schema)
            return fl.GeneratorStream(schema, batches())

    client, options = s3
    name = unique("interrupted_flight")
    with Slow("grpc://127.0.0.1:0") as server:
        reader = fl.connect(f"grpc://127.0.0.1:{server.port}").do_get(fl.Ticket(b"rows"))
        try:
            elapsed, _ = interrupted(
                seeded.emulator,
                lambda: rd.write_dataset(reader.to_reader(), name, project=PROJECT,
                                         staging=f"s3://stage/{name}/",
                                         storage_options=options, **seeded.conn),
                lambda emu: len(emu.requests()))
        finally:
            done.set()
    assert elapsed < 2, f"the interrupt took {elapsed:.2f} s to end the write"
    assert name not in rd.RefuelCatalog(**seeded.conn).table_names(PROJECT), "no dataset"
    staged = client.list_objects_v2(Bucket="stage", Prefix=f"{name}/").get("Contents", [])
    assert staged == [], "the staged object was removed"


@pytest.mark.parametrize("source", ["python generator", "datafusion query"])
def test_an_interrupted_write_makes_no_dataset_and_leaves_nothing_staged(seeded, s3, source):
    # The input's producer (a Python generator, datafusion-python's stream) sees Ctrl-C and
    # ends the stream with it: the sink makes no dataset, removes what it staged, and the
    # call raises KeyboardInterrupt.
    client, options = s3
    name = unique("interrupted")
    if source == "python generator":
        schema = pa.schema({"n": pa.int64()})

        def batches():
            for i in range(200):
                time.sleep(0.05)
                yield pa.record_batch({"n": [i]}, schema=schema)

        data = pa.RecordBatchReader.from_batches(schema, batches())
    else:
        ctx = session(seeded)  # datafusion-python needs the session alive while it runs
        data = ctx.sql(f"SELECT id, review FROM refuel.{PROJECT}.reviews")
        seeded.emulator.set_network(latency_ms=200, max_page_rows=3)
    try:
        elapsed, _ = interrupted(
            seeded.emulator,
            lambda: rd.write_dataset(data, name, project=PROJECT, staging=f"s3://stage/{name}/",
                                     storage_options=options, **seeded.conn),
            lambda emu: len(emu.requests()))
    finally:
        seeded.emulator.set_network()
    assert elapsed < 3, f"the interrupt took {elapsed:.2f} s to end the write"
    assert name not in rd.RefuelCatalog(**seeded.conn).table_names(PROJECT), "no dataset"
    staged = client.list_objects_v2(Bucket="stage", Prefix=f"{name}/").get("Contents", [])
    assert staged == [], "the staged object was removed"


# ----------------------------------------------------------------------------------------
# What does not cross the FFI boundary
# ----------------------------------------------------------------------------------------


def test_create_table_as_into_a_refuel_schema_is_refused(seeded):
    ctx = session(seeded)
    with pytest.raises(Exception, match="write_dataset"):
        ctx.sql(f"CREATE TABLE refuel.{PROJECT}.{unique('ctas')} AS SELECT 1 AS n").collect()


def test_refuel_label_is_not_a_function_of_datafusion_python(seeded):
    ctx = session(seeded)
    with pytest.raises(Exception, match="refuel_label"):
        ctx.sql(f"SELECT refuel_label('{seeded.application}', review) "
                f"FROM refuel.{PROJECT}.reviews").collect()


# ----------------------------------------------------------------------------------------
# Errors and secrets
# ----------------------------------------------------------------------------------------


def test_errors_are_exceptions_with_status_and_never_show_the_key(seeded, capfd,
                                                                  monkeypatch):
    url = seeded.emulator.url
    with pytest.raises(rd.RefuelError) as info:
        rd.RefuelCatalog(api_key=WRONG_KEY, api_url=url)
    assert info.value.status == 401, info.value
    assert WRONG_KEY not in str(info.value) and WRONG_KEY not in info.value.detail

    with pytest.raises(rd.RefuelError) as info:
        rd.RefuelTable("no_such_dataset", project=PROJECT, **seeded.conn)
    assert info.value.status == 404 and "no_such_dataset" in str(info.value)

    monkeypatch.delenv("REFUEL_API_KEY", raising=False)
    with pytest.raises(ValueError, match="REFUEL_API_KEY"):
        rd.RefuelCatalog(api_url=url)
    with pytest.raises(ValueError):
        rd.RefuelTable("", project=PROJECT, **seeded.conn)
    with pytest.raises(ValueError, match="max_workers"):
        rd.RefuelCatalog(max_workers=0, **seeded.conn)

    monkeypatch.setenv("REFUEL_API_KEY", KEY)
    monkeypatch.setenv("REFUEL_API_URL", url)
    catalog = rd.RefuelCatalog(project=PROJECT)
    table = rd.RefuelTable("reviews", project=PROJECT)
    for shown in (repr(catalog), str(catalog), repr(table), repr(seeded.emulator)):
        assert KEY not in shown, shown
    assert url in repr(catalog) and "reviews" in repr(table)
    out, err = capfd.readouterr()
    assert KEY not in out and KEY not in err and WRONG_KEY not in out + err


def test_emulator_keeps_its_data_in_a_directory(tmp_path):
    with rd.Emulator(data_dir=tmp_path / "emu") as emu:
        assert emu.running and emu.url.startswith("http://127.0.0.1:")
        emu.create_project("durable")
        rd.write_dataset(pa.table({"n": [1, 2, 3]}), "kept", project="durable",
                         api_key=emu.api_key, api_url=emu.url)
    assert not emu.running
    with rd.Emulator(data_dir=tmp_path / "emu") as emu:
        ctx = datafusion.SessionContext()
        ctx.register_table("kept", rd.RefuelTable("kept", project="durable",
                                                  api_key=emu.api_key, api_url=emu.url))
        assert ctx.sql("SELECT sum(n) AS s FROM kept").to_pydict()["s"] == [6]
    emu.stop()  # stopping twice does nothing


def test_emulator_answers_as_a_remote_server_when_asked(seeded):
    emu = seeded.emulator
    ctx = session(seeded)
    emu.set_network(latency_ms=20, max_page_rows=50)
    try:
        emu.reset_requests()
        started = time.monotonic()
        got = ctx.sql(f"SELECT id FROM refuel.{PROJECT}.reviews").to_pydict()
        assert sorted(got["id"]) == list(range(N_REVIEWS))
        pages = query_values(emu.requests(), "max_items")
        assert len(pages) >= N_REVIEWS // 50, f"pages are capped at 50 rows: {pages}"
        assert time.monotonic() - started >= 0.02 * 2
    finally:
        emu.set_network()
    with pytest.raises(ValueError, match="rate_limit"):
        emu.set_network(rate_limit=0)
    with pytest.raises(ValueError, match="max_page_rows"):
        rd.Emulator(max_page_rows=0)
    with rd.Emulator(latency_ms=1, rate_limit=1000.0) as other:
        assert other.running


def in_forked_child(work, timeout_s: int = 30):
    """Runs `work()` in a forked child (multiprocessing's "fork"); returns what it returned
    (through JSON) or {"error": ...}; a child that hangs is killed by its alarm."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            signal.alarm(timeout_s)
            try:
                out = work()
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                out = {"error": f"{type(e).__name__}: {e}"}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert data, f"the forked child hung or died (wait status {status})"
    return json.loads(data)


def test_a_forked_process_gets_a_clear_error_and_leaves_the_parent_working(seeded):
    # The module's threads ran in this process: a forked child cannot start them again
    # safely, so every call there fails saying so (it used to wait forever), and what the
    # child drops of the parent's objects leaves the parent's connections alone.
    inherited = rd.RefuelCatalog(project=PROJECT, **seeded.conn)
    dropped_in_child = [rd.RefuelCatalog(project=PROJECT, **seeded.conn),
                        rd.RefuelTable("reviews", project=PROJECT, **seeded.conn)]

    def work():
        out = {}
        calls = {
            "label": lambda: rd.label(seeded.application, [{"review": "terrible"}],
                                      project=PROJECT, **seeded.conn),
            "write": lambda: rd.write_dataset(pa.table({"n": [1]}), unique("child"),
                                              project=PROJECT, **seeded.conn),
            "new catalog": lambda: rd.RefuelCatalog(**seeded.conn),
            "inherited catalog": inherited.refresh,
            "inherited emulator": seeded.emulator.requests,
        }
        for what, call in calls.items():
            try:
                call()
                out[what] = "no error"
            except RuntimeError as e:
                out[what] = str(e)
        dropped_in_child.clear()
        gc.collect()
        return out

    out = in_forked_child(work)
    assert "error" not in out, out
    for what, message in out.items():
        assert "forked" in message and "'spawn'" in message, (what, message)
        assert KEY not in message
    # The parent goes on as before, with the objects the child dropped too.
    catalog, table = dropped_in_child
    catalog.refresh()
    ctx = datafusion.SessionContext()
    ctx.register_table("r", table)
    assert ctx.sql("SELECT count(*) AS n FROM r").to_pydict()["n"] == [N_REVIEWS]
    inherited.refresh()
    assert seeded.emulator.requests() is not None
