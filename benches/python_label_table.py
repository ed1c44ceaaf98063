"""Times a label table read into a pandas frame, by refuel_datafusion in datafusion-python
and by the official SDK's get_items, for benches/python.rs.

    python benches/python_label_table.py URL KEY PROJECT DATASET TASK RUNS SDK_RUNS

Prints one JSON object: {"datafusion": [seconds...], "sdk": [seconds...], "rows": {...},
"build": "dev" | "release"}. Every run is also printed on stderr as it ends.
"""
import json
import sys
import time

import datafusion
import refuel

import refuel_datafusion as rd


def main():
    url, key, project, dataset, task = sys.argv[1:6]
    runs, sdk_runs = int(sys.argv[6]), int(sys.argv[7])
    ctx = datafusion.SessionContext()
    ctx.register_catalog_provider("refuel", rd.RefuelCatalog(api_key=key, api_url=url))
    sql = f"SELECT * FROM refuel.{project}.{task}_labels"
    times, rows = {"datafusion": [], "sdk": []}, {}
    for _ in range(runs):
        started = time.perf_counter()
        frame = ctx.sql(sql).to_pandas()
        times["datafusion"].append(time.perf_counter() - started)
        rows["datafusion"] = len(frame)
        print(f"refuel_datafusion: {times['datafusion'][-1]:.3f} s", file=sys.stderr, flush=True)
    client = refuel.init(api_key=key, api_base_url=url, project=project)
    for _ in range(sdk_runs):
        started = time.perf_counter()
        frame = client.get_items(dataset=dataset, task=task, max_items=10**9)
        times["sdk"].append(time.perf_counter() - started)
        rows["sdk"] = len(frame)
        print(f"SDK get_items: {times['sdk'][-1]:.3f} s", file=sys.stderr, flush=True)
    build = getattr(rd._internal, "__build_profile__", "unknown")
    print(json.dumps({**times, "rows": rows, "build": build}), flush=True)


if __name__ == "__main__":
    main()
