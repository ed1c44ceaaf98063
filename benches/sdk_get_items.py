"""Times the official Python SDK's get_items for the SQL benchmark (benches/sql.rs).

    python benches/sdk_get_items.py URL KEY PROJECT DATASET TASK FIELD

Prints one JSON object per line: {"scenario", "seconds", "rows"} for the full scan, the
selective filter, the top 10 by confidence and the count (the SDK has no count call: it
fetches the rows and counts them).
"""
import json
import sys
import time

import refuel


def main():
    url, key, project, dataset, task, field = sys.argv[1:7]
    client = refuel.init(api_key=key, api_base_url=url, project=project)
    scenarios = [
        ("full scan", dict(max_items=10**9)),
        ("selective filter", dict(
            max_items=10**9,
            filters=[{"field": "category", "operator": "=", "value": "garden"}],
        )),
        ("ORDER BY confidence DESC LIMIT 10", dict(
            max_items=10,
            order_by=[{"field": "confidence", "direction": "DESC", "subtask": field}],
        )),
        ("count(*)", dict(max_items=10**9)),
    ]
    for name, kwargs in scenarios:
        started = time.perf_counter()
        frame = client.get_items(dataset=dataset, task=task, **kwargs)
        rows = len(frame)
        seconds = time.perf_counter() - started
        print(json.dumps({"scenario": name, "seconds": seconds, "rows": rows}), flush=True)


if __name__ == "__main__":
    main()
