"""Times one full scan of a task's labeled rows by the official Python SDK's get_items, for
the remote-speed benchmark (benches/remote.rs).

    python benches/sdk_scan.py URL KEY PROJECT DATASET TASK

Prints one JSON object: {"seconds", "rows"}.
"""
import json
import sys
import time

import refuel


def main():
    url, key, project, dataset, task = sys.argv[1:6]
    client = refuel.init(api_key=key, api_base_url=url, project=project)
    started = time.perf_counter()
    frame = client.get_items(dataset=dataset, task=task, max_items=10**9)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": len(frame)}), flush=True)


if __name__ == "__main__":
    main()
