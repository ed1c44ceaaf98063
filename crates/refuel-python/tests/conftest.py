"""Fixtures of the refuel_datafusion tests.

An emulator runs in this process (`refuel_datafusion.Emulator`, real HTTP on loopback);
the official `refuel` SDK seeds it (a project, a dataset of reviews, a labeling task run
to completion and deployed as an application); moto's S3 server is the object store the
staging tests write through. Run with:

    bash scripts/python-module.sh      # builds the module into .venv-python, runs these
"""

from __future__ import annotations

import csv
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import pytest
import refuel

import refuel_datafusion as rd

KEY = "refuel-datafusion-pytest-key-1c9e77"
PROJECT = "pytest"
N_REVIEWS = 300
CATEGORIES = ["books", "electronics", "garden", "toys"]
OPINIONS = [
    "great value, would buy again",
    "terrible, broke after a day",
    "okay for the price",
    "excellent quality and fast delivery",
    "average, nothing special",
]
SENTIMENT = {
    "name": "sentiment",
    "type": "classification",
    "labels": ["positive", "negative", "neutral"],
    "guidelines": "positive: great, excellent\nnegative: terrible\nneutral: okay, average",
    "input_columns": ["review"],
}
TIMEOUT_S = 60.0


def review_rows(n: int) -> List[Dict]:
    return [
        {
            "id": i,
            "title": f"Item {i}",
            "review": f"{OPINIONS[i % len(OPINIONS)]} (order {i * 31 % 9973})",
            "category": CATEGORIES[i % len(CATEGORIES)],
            "price": (i * 7919 % 100_000) / 100.0,
        }
        for i in range(n)
    ]


@dataclass
class Seeded:
    emulator: rd.Emulator
    sdk: object
    reviews: List[Dict]
    task: str
    application: str

    @property
    def conn(self) -> Dict[str, str]:
        return {"api_key": self.emulator.api_key, "api_url": self.emulator.url}


def wait_until(what: str, check, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s", pytrace=False)
        time.sleep(0.05)


@pytest.fixture(scope="session")
def emulator():
    with rd.Emulator(api_key=KEY) as emu:
        yield emu


@pytest.fixture(scope="session")
def seeded(emulator, tmp_path_factory) -> Seeded:
    emulator.create_project(PROJECT, "refuel_datafusion tests")
    sdk = refuel.init(api_key=KEY, api_base_url=emulator.url, project=PROJECT, max_workers=8)
    rows = review_rows(N_REVIEWS)
    path = Path(tmp_path_factory.mktemp("seed")) / "reviews.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sdk.upload_dataset(file_path=str(path), dataset_name="reviews")
    wait_until("the ingest of reviews",
               lambda: sdk.get_dataset("reviews").get("status") == "success")
    sdk.create_task(task="sentiment", dataset="reviews", context="Product reviews",
                    fields=[SENTIMENT], model="GPT-4o")
    sdk.start_task_run(task="sentiment", dataset="reviews")
    wait_until(
        "the run of sentiment",
        lambda: (sdk.get_task_run(task="sentiment", dataset="reviews") or {}).get("status")
        == "completed",
    )
    app = sdk.deploy_task(task="sentiment")
    return Seeded(emulator=emulator, sdk=sdk, reviews=rows, task="sentiment",
                  application=app["name"])


@pytest.fixture(scope="session")
def s3():
    """moto's S3 server on a loopback port, with a bucket `stage`."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                          aws_secret_access_key="test-secret", region_name="us-east-1")
    client.create_bucket(Bucket="stage")
    options = {
        "aws_endpoint": endpoint,
        "aws_access_key_id": "test",
        "aws_secret_access_key": "test-secret",
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
    }
    yield client, options
    server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"
