"""Fixtures of the Python SDK conformance suite.

The suite drives the official `refuel` SDK (installed unmodified from PyPI, see
requirements.txt) against a `refuel-emulator` process started here. Set up with:

    PY=$(bash scripts/python-env.sh | tail -n1)
    cargo build -p refuel-emulator
    "$PY" -m pytest tests/python -q

`REFUEL_EMULATOR_BIN` overrides the binary (default: <repo>/target/debug/refuel-emulator).
"""

from __future__ import annotations

import csv
import os
import queue
import random
import re
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest
import refuel
from refuel.utils import RefuelException

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "debug" / "refuel-emulator"

KEY_A = "sdk-conformance-key-team-a"
KEY_B = "sdk-conformance-key-team-b"

READY_LINE = re.compile(r"^refuel-emulator listening on (http://127\.0\.0\.1:(\d+))$")
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
INGEST_TIMEOUT_S = 30.0
SDK_TIMEOUT_S = 20

# Columns of the generated datasets, in CSV order, with the type the emulator must infer.
COLUMNS = ["id", "name", "category", "score", "qty", "active", "note"]
COLUMN_TYPES = {
    "id": "number",
    "name": "string",
    "category": "string",
    "score": "number",
    "qty": "number",
    "active": "boolean",
    "note": "string",
}
N_ROWS = 2500

# `name`: mixed case, literal % and _, a numeric-looking string, non-ASCII, CSV quoting.
NAMES = [
    "alpha", "Alpha", "ALPHA beta", "beta", "Beta", "gamma", "gamma delta", "delta",
    "epsilon", "zeta", "eta", "theta", "kappa", "lambda", "50% off", "100%", "snake_case",
    "a_b", "under_", "42", "émile", "Zürich", "hello, world", 'say "hi"', "x", "Omega",
]
CATEGORIES = ["north", "south", "east", "west"]
# `note`: words for SIMILAR; "cat" also occurs inside longer words.
NOTE_WORDS = [
    "quick", "brown", "fox", "lazy", "dog", "zebra", "quokka", "catalog", "category",
    "cat", "river", "stone", "lamp", "orbit", "maple", "signal", "copper", "velvet",
]
NOTE_SEPARATORS = [" ", ", ", "-", "! ", "; ", " / "]
BOOL_SPELLINGS = {True: ["true", "TRUE", "True"], False: ["false", "FALSE", "False"]}


# --------------------------------------------------------------------------------------
# The emulator process
# --------------------------------------------------------------------------------------


@dataclass
class EmulatorProcess:
    """One running `refuel-emulator` child process."""

    proc: subprocess.Popen
    url: str
    stderr_path: Path
    args: List[str]

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S. Returns the exit code, or None when
        the process had to be killed."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def emulator_binary() -> Path:
    raw = os.environ.get("REFUEL_EMULATOR_BIN")
    return Path(raw) if raw else DEFAULT_BIN


def _drain(stream) -> None:
    try:
        for _ in stream:
            pass
    except (OSError, ValueError):
        pass


def start_emulator(api_keys: List[str], extra_args: Optional[List[str]] = None,
                   log_dir: Optional[Path] = None) -> EmulatorProcess:
    """Starts the emulator on a free loopback port and waits for its ready line.

    Fails (never skips) when the binary is missing or the ready line does not come."""
    binary = emulator_binary()
    if not binary.is_file():
        pytest.fail(
            f"refuel-emulator binary not found at {binary}. "
            "Run `cargo build -p refuel-emulator` first "
            "(or point REFUEL_EMULATOR_BIN at a built binary).",
            pytrace=False,
        )
    args = [str(binary), "--listen", "127.0.0.1:0"]
    for key in api_keys:
        args += ["--api-key", key]
    args += list(extra_args or [])

    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="refuel-emulator-"))
    stderr_path = log_dir / f"emulator-{uuid.uuid4().hex[:8]}.stderr"
    stderr_file = open(stderr_path, "wb")
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    finally:
        stderr_file.close()

    lines: "queue.Queue[str]" = queue.Queue()

    def read_first_line() -> None:
        try:
            lines.put(proc.stdout.readline())
        except (OSError, ValueError):
            lines.put("")

    threading.Thread(target=read_first_line, daemon=True).start()
    emu = EmulatorProcess(proc=proc, url="", stderr_path=stderr_path, args=args)
    try:
        first = lines.get(timeout=STARTUP_TIMEOUT_S)
    except queue.Empty:
        emu.stop()
        pytest.fail(
            f"refuel-emulator printed no ready line within {STARTUP_TIMEOUT_S:.0f} s "
            f"({' '.join(args)}).\nstderr:\n{emu.stderr_text()}",
            pytrace=False,
        )
    first = first.rstrip("\r\n")
    match = READY_LINE.match(first)
    if not match:
        code = emu.stop()
        pytest.fail(
            "refuel-emulator's first stdout line is not "
            f"'refuel-emulator listening on http://127.0.0.1:PORT': {first!r} "
            f"(exit code {code}; {' '.join(args)}).\nstderr:\n{emu.stderr_text()}",
            pytrace=False,
        )
    emu.url = match.group(1)
    # Keep reading stdout so the child never blocks on a full pipe.
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    return emu


@pytest.fixture(scope="session")
def emulator_factory(tmp_path_factory) -> Callable[..., EmulatorProcess]:
    """Starts extra emulators (e.g. with --data-dir); stops whatever is left at the end."""
    started: List[EmulatorProcess] = []
    log_dir = tmp_path_factory.mktemp("emulator-logs")

    def start(api_keys: List[str], extra_args: Optional[List[str]] = None) -> EmulatorProcess:
        emu = start_emulator(api_keys, extra_args, log_dir)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> EmulatorProcess:
    """The shared in-memory emulator with two teams, KEY_A and KEY_B."""
    emu = start_emulator([KEY_A, KEY_B], log_dir=tmp_path_factory.mktemp("emulator-main"))
    yield emu
    code = emu.stop()
    if code is None:
        pytest.fail(
            f"refuel-emulator did not stop within {STOP_TIMEOUT_S:.0f} s of SIGTERM "
            f"and was killed.\nstderr:\n{emu.stderr_text()}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def base_url(emulator) -> str:
    return emulator.url


# --------------------------------------------------------------------------------------
# SDK clients and projects
# --------------------------------------------------------------------------------------


def make_client(url: str, api_key: str, project: Optional[str] = None, **kwargs):
    options = dict(api_key=api_key, api_base_url=url, timeout=SDK_TIMEOUT_S)
    if project is not None:
        options["project"] = project
    options.update(kwargs)
    return refuel.init(**options)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def project_a(base_url) -> Dict:
    """A project of team A, created through the SDK."""
    client = make_client(base_url, KEY_A)
    return client.create_project(
        project=unique_name("sdk-conformance"),
        description="Python SDK conformance suite, team A",
    )


@pytest.fixture(scope="session")
def client_a(base_url, project_a):
    """Team A's client bound to project_a (by name), with 8 concurrent page fetches."""
    return make_client(base_url, KEY_A, project=project_a["project_name"], max_workers=8)


@pytest.fixture(scope="session")
def labeling_project(base_url) -> Dict:
    """A separate project of team A for the labeling tests (tasks, applications and their
    log datasets stay out of project_a)."""
    client = make_client(base_url, KEY_A)
    return client.create_project(
        project=unique_name("sdk-labeling"),
        description="Python SDK conformance suite, labeling lifecycle",
    )


@pytest.fixture(scope="session")
def labeling_client(base_url, labeling_project):
    """Team A's client bound to labeling_project (by name), with 8 concurrent requests."""
    return make_client(base_url, KEY_A, project=labeling_project["project_name"], max_workers=8)


# --------------------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------------------


def generate_rows(n: int, seed: int, id_base: int = 0) -> tuple:
    """Returns (rows, csv_cells): rows hold the values the API must serve (None = NULL),
    csv_cells the exact text written to the CSV (empty string = empty cell)."""
    rng = random.Random(seed)
    ids = list(range(id_base, id_base + n))
    rng.shuffle(ids)  # insertion order differs from id order
    rows, cells = [], []
    for i in range(n):
        row: Dict = {"id": ids[i]}
        cell: Dict = {"id": str(ids[i])}

        name = None if rng.random() < 0.1 else rng.choice(NAMES)
        row["name"], cell["name"] = name, name or ""

        cat = rng.choice(CATEGORIES)
        row["category"], cell["category"] = cat, cat

        r = rng.random()
        if r < 0.12:
            score, text = None, ""
        elif r < 0.56:
            score = rng.randint(-20, 20)
            text = str(score)
        else:
            score = round(rng.uniform(-20.0, 20.0), 2)
            if score == int(score):
                score += 0.25
            text = repr(score)
        row["score"], cell["score"] = score, text

        qty = rng.randint(0, 1000)
        row["qty"], cell["qty"] = qty, str(qty)

        if rng.random() < 0.1:
            active, text = None, ""
        else:
            active = rng.random() < 0.5
            text = rng.choice(BOOL_SPELLINGS[active])
        row["active"], cell["active"] = active, text

        if rng.random() < 0.05:
            note = None
        else:
            words = []
            for _ in range(rng.randint(2, 4)):
                w = rng.choice(NOTE_WORDS)
                w = rng.choice([w, w, w.upper(), w.capitalize()])
                words.append(w)
            note = words[0]
            for w in words[1:]:
                note += rng.choice(NOTE_SEPARATORS) + w
        row["note"], cell["note"] = note, note or ""

        rows.append(row)
        cells.append(cell)
    return rows, cells


def write_csv(path: Path, cells: List[Dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(cells)
    return path


def wait_for_ingest(client, dataset: str, timeout: float = INGEST_TIMEOUT_S) -> tuple:
    """Polls get_dataset until status is success. Returns (dataset dict, statuses seen)."""
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        ds = client.get_dataset(dataset)
        status = ds.get("status")
        if not seen or seen[-1] != status:
            seen.append(status)
        if status == "success":
            return ds, seen
        if status == "failed":
            pytest.fail(f"ingest of dataset {dataset} failed: {ds}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(
                f"dataset {dataset} not ingested within {timeout:.0f} s; statuses seen: {seen}",
                pytrace=False,
            )
        time.sleep(0.05)


@dataclass
class UploadedDataset:
    name: str
    id: str
    rows: List[Dict]
    upload_response: Dict
    statuses: List[str]
    ready: Dict = field(default_factory=dict)


def upload_generated(client, tmp_dir: Path, n: int, seed: int, id_base: int = 0,
                     prefix: str = "ds") -> UploadedDataset:
    rows, cells = generate_rows(n, seed, id_base)
    name = unique_name(prefix)
    path = write_csv(tmp_dir / f"{name}.csv", cells)
    response = client.upload_dataset(file_path=str(path), dataset_name=name)
    ready, seen = wait_for_ingest(client, name)
    return UploadedDataset(name=name, id=ready["id"], rows=rows, upload_response=response,
                           statuses=seen, ready=ready)


@pytest.fixture(scope="session")
def main_dataset(client_a, tmp_path_factory) -> UploadedDataset:
    """~2,500 generated rows uploaded as a CSV file into project_a. Read-only for tests."""
    return upload_generated(client_a, tmp_path_factory.mktemp("csv"), N_ROWS, seed=20240611,
                            prefix="main")


@pytest.fixture(scope="session")
def csv_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("csv-small")

