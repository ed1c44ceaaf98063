"""Times the official Python SDK's label() over a CSV file's rows, for the SQL labeling
benchmark (benches/label_sql.rs).

    python benches/sdk_label.py URL KEY PROJECT APPLICATION CSV

Prints one JSON object: {"seconds", "outputs"}.
"""
import csv
import json
import sys
import time

import refuel


def main():
    url, key, project, application, path = sys.argv[1:6]
    with open(path, newline="") as f:
        inputs = [{"text": row["text"]} for row in csv.DictReader(f)]
    client = refuel.init(api_key=key, api_base_url=url, project=project)
    started = time.perf_counter()
    outputs = client.label(application=application, inputs=inputs)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "outputs": len(outputs["refuel_output"])}), flush=True)


if __name__ == "__main__":
    main()
