"""The labeling lifecycle of refuel-emulator, driven by the official Python SDK (`refuel` 0.15.15).

Tasks, task runs, labels in row queries (with label filters and orders), applications
(label, alabel, get_labeled_item, feedback), dataset exports and finetuning. Every label is
compared with values computed here by a plain-Python model of the emulator's reference
labeler (documented in crates/refuel-emulator/src/labeler/reference.rs), from the same
generated product reviews.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import requests

from conftest import KEY_A, RefuelException, unique_name, wait_for_ingest

POLL_S = 0.05
RUN_TIMEOUT_S = 20.0
ITEM_TIMEOUT_S = 10.0
TERMINAL = {"completed", "failed", "cancelled", "paused"}
# The order a run's status may move in (a run never goes back).
STATUS_RANK = {"not_started": 0, "active": 1, "paused": 2, "completed": 3, "failed": 3,
               "cancelled": 3}
FINETUNE_STAGES = ["TRAINING IN PROGRESS", "TRAINING COMPLETED", "DEPLOYMENT IN PROGRESS",
                   "DEPLOYMENT COMPLETED"]
EXPORT_SUFFIXES = ["label", "llm_label", "confidence", "explanation", "verified"]


# --------------------------------------------------------------------------------------
# The task's fields (as the SDK takes them)
# --------------------------------------------------------------------------------------

SENTIMENT = {
    "name": "sentiment",
    "type": "classification",
    "labels": ["positive", "negative", "neutral"],
    # The first line has a colon but names no label; label heads match in any case.
    "guidelines": (
        "Classify the review's sentiment: read all of it.\n"
        "positive: great, love, excellent, perfect\n"
        "NEGATIVE: broken, refund, awful, terrible\n"
        "Neutral: okay, average, fine"
    ),
    "input_columns": ["review"],
    "ground_truth_column": "expected_sentiment",
    "fallback_value": "unknown",
}
TOPICS = {
    "name": "topics",
    "type": "multilabel_classification",
    "labels": ["battery", "screen", "price", "shipping"],
    "guidelines": "Every topic the review mentions.\nprice: cheap, expensive, cost\n"
                  "shipping: delivery, arrived, late",
    "input_columns": ["review"],
}
MODEL_NUMBER = {
    "name": "model_number",
    "type": "attribute_extraction",
    "guidelines": "The product's model number.\nregex: model ([A-Z]\\d+)",
    "input_columns": ["review"],
    "fallback_value": "none",
}
# Reads another field's output: the reference labeler copies its first input's text.
VERDICT = {
    "name": "verdict",
    "type": "attribute_extraction",
    "guidelines": "Repeat the sentiment.",
    "input_columns": ["sentiment"],
}
MAIN_FIELDS = [SENTIMENT, TOPICS, MODEL_NUMBER, VERDICT]


# --------------------------------------------------------------------------------------
# A plain-Python model of the reference labeler
# --------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def words(text: Optional[str]) -> List[str]:
    """Runs of letters and digits, lowercased, distinct, sorted."""
    return sorted({w.lower() for w in _WORD.findall(text or "")})


def round4(x: float) -> float:
    """Rust's `(x * 10_000.0).round() / 10_000.0` (half away from zero), for x >= 0."""
    y = x * 10_000.0
    r = math.floor(y)
    if y - r >= 0.5:
        r += 1
    return r / 10_000.0


def label_text(value: Any) -> Optional[str]:
    """A label as text: a list joined with ', ', a string as it is."""
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def keywords(field: Dict, label: str) -> set:
    kws = set(words(label))
    for line in (field.get("guidelines") or "").split("\n"):
        head, sep, rest = line.rstrip("\r").partition(":")
        if sep and head.strip().lower() == label.strip().lower():
            kws |= set(words(rest))
    return kws


def fallback(field: Dict) -> str:
    return field.get("fallback_value", "-")


def classify(field: Dict, text: str) -> Dict:
    input_words = words(text)
    scored = []
    for label in field["labels"]:
        kws = keywords(field, label)
        scored.append((label, sum(1 for w in input_words if w in kws)))
    if field["type"] == "multilabel_classification":
        chosen = [(label, s) for label, s in scored if s > 0]
        if not chosen:
            return {"llm_label": fallback(field), "confidence": 0.0, "multilabel_confidence": None}
        confs = [round4(s / (s + 1.0)) for _, s in chosen]
        return {
            "llm_label": [label for label, _ in chosen],
            "confidence": round4(sum(confs) / len(confs)),
            "multilabel_confidence": confs,
        }
    best = None
    for i, (_, s) in enumerate(scored):
        if best is None or s > scored[best][1]:
            best = i  # ties go to the label listed first
    if best is None or scored[best][1] == 0:
        return {"llm_label": fallback(field), "confidence": 0.0, "multilabel_confidence": None}
    b = scored[best][1]
    second = max((s for i, (_, s) in enumerate(scored) if i != best), default=0)
    return {
        "llm_label": scored[best][0],
        "confidence": round4((b + 1.0) / (b + second + 2.0)),
        "multilabel_confidence": None,
    }


def extract(field: Dict, inputs: List[str], text: str) -> Dict:
    pattern = None
    for line in (field.get("guidelines") or "").split("\n"):
        line = line.strip()
        for prefix in ("regex:", "Regex:"):
            if line.startswith(prefix):
                pattern = line[len(prefix):].strip()
                break
        if pattern is not None:
            break
    if pattern is not None:
        m = re.search(pattern, text)
        if not m:
            return {"llm_label": fallback(field), "confidence": 0.0, "multilabel_confidence": None}
        value = m.group(1) if m.re.groups >= 1 and m.group(1) is not None else m.group(0)
        return {"llm_label": value, "confidence": 0.9, "multilabel_confidence": None}
    first = inputs[0].strip() if inputs else ""
    if not first:
        return {"llm_label": fallback(field), "confidence": 0.0, "multilabel_confidence": None}
    return {"llm_label": first[:200], "confidence": 0.5, "multilabel_confidence": None}


@dataclass
class Expected:
    labels: Dict[str, Dict]  # field name -> {llm_label, confidence, multilabel_confidence}
    prompt_tokens: int
    completion_tokens: int


def reference_labels(fields: List[Dict], row: Dict) -> Expected:
    """The reference labeler's output for one row (fields read earlier fields' labels)."""
    context = dict(row)
    out: Dict[str, Dict] = {}
    prompt = completion = 0
    for field in fields:
        inputs = [render(context.get(c)) for c in field["input_columns"]]
        text = " ".join(inputs)
        prompt += len(words(text))
        if field["type"] in ("classification", "multilabel_classification"):
            label = classify(field, text)
        else:
            label = extract(field, inputs, text)
        completion += max(1, len(words(label_text(label["llm_label"]))))
        context[field["name"]] = label_text(label["llm_label"])
        out[field["name"]] = label
    return Expected(out, prompt, completion)


def output_label(llm_label: Any) -> List:
    """A label as an application output carries it: always a list."""
    return list(llm_label) if isinstance(llm_label, list) else [llm_label]


# --------------------------------------------------------------------------------------
# Generated product reviews
# --------------------------------------------------------------------------------------

REVIEW_COLUMNS = ["id", "review", "channel", "expected_sentiment"]
N_REVIEWS = 300
SENTIMENT_WORDS = ["great", "love", "excellent", "perfect", "positive", "broken", "refund",
                   "awful", "terrible", "negative", "okay", "average", "fine", "neutral"]
TOPIC_WORDS = ["battery", "screen", "cheap", "expensive", "cost", "delivery", "arrived", "late",
               "price", "shipping"]
FILLER_WORDS = ["the", "phone", "it", "was", "and", "but", "my", "very", "product", "really",
                "this", "overall", "case"]
SEPARATORS = [" ", " ", ", ", "! ", ". ", " - ", "; "]


def make_review(rng: random.Random) -> Optional[str]:
    if rng.random() < 0.04:
        return None  # an empty cell: every field falls back
    chosen = [rng.choice(SENTIMENT_WORDS) for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4]))]
    chosen += [rng.choice(TOPIC_WORDS) for _ in range(rng.randint(0, 3))]
    chosen += [rng.choice(FILLER_WORDS) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.2 and chosen:
        chosen.append(rng.choice(chosen))  # a repeated word counts once
    rng.shuffle(chosen)
    chosen = [rng.choice([w, w, w.capitalize(), w.upper()]) for w in chosen]
    text = chosen[0]
    for w in chosen[1:]:
        text += rng.choice(SEPARATORS) + w
    r = rng.random()
    if r < 0.25:
        text += f" model {rng.choice('ABCXYZ')}{rng.randint(1, 999)}"
    elif r < 0.3:
        text += f" Model x{rng.randint(1, 99)}"  # no match: the regex is case-sensitive
    return text


def make_reviews(n: int, seed: int) -> List[Dict]:
    rng = random.Random(seed)
    others = {"positive": ["negative", "neutral"], "negative": ["positive", "neutral"],
              "neutral": ["positive", "negative"], "unknown": ["positive", "negative"]}
    rows = []
    for i in range(n):
        review = make_review(rng)
        predicted = classify(SENTIMENT, review or "")["llm_label"]
        r = rng.random()
        if r < 0.1:
            expected = None
        elif r < 0.3:
            expected = rng.choice(others[predicted])
        else:
            expected = predicted
        rows.append({"id": 1000 + i, "review": review,
                     "channel": rng.choice(["web", "store", "app"]),
                     "expected_sentiment": expected})
    return rows


def write_reviews(path: Path, rows: List[Dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=REVIEW_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row[k] is None else row[k] for k in REVIEW_COLUMNS})
    return path


@dataclass
class Reviews:
    name: str
    id: str
    rows: List[Dict]
    expected: List[Expected]  # per row, for MAIN_FIELDS


def upload_reviews(client, tmp_dir: Path, rows: List[Dict], prefix: str) -> Tuple[str, str]:
    name = unique_name(prefix)
    path = write_reviews(tmp_dir / f"{name}.csv", rows)
    client.upload_dataset(file_path=str(path), dataset_name=name)
    ready, _ = wait_for_ingest(client, name)
    return name, ready["id"]


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def auth() -> Dict[str, str]:
    return {"Authorization": f"Bearer {KEY_A}"}


def plain(value: Any) -> Any:
    """A DataFrame cell as a plain Python value; NaN/None become None, lists stay lists."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def records(df) -> List[Dict]:
    if df is None or len(df) == 0:
        return []
    return [{k: plain(v) for k, v in rec.items()} for rec in df.to_dict(orient="records")]


def items_with_task(client, dataset: str, task: str, **kwargs) -> Tuple[List[str], List[Dict]]:
    df = client.get_items(dataset=dataset, task=task, max_items=kwargs.pop("max_items", 5000),
                          **kwargs)
    return list(df.columns), records(df)


def wait_for_run(client, task: str, dataset: str, timeout: float = RUN_TIMEOUT_S):
    """Polls get_task_run (never the SDK's wait_for_completion, which sleeps 30 s first).
    Returns (final run, statuses seen in order, every polled run)."""
    deadline = time.monotonic() + timeout
    seen: List[str] = []
    polled: List[Dict] = []
    while True:
        run = client.get_task_run(task=task, dataset=dataset)
        polled.append(run)
        status = run.get("status")
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in TERMINAL:
            return run, seen, polled
        if time.monotonic() > deadline:
            pytest.fail(f"run of {task} on {dataset} did not end within {timeout:.0f} s; "
                        f"statuses seen: {seen}", pytrace=False)
        time.sleep(POLL_S)


def metrics(run: Dict) -> Dict[str, Any]:
    got = run.get("metrics")
    assert isinstance(got, list), f"metrics is not a list: {run}"
    return {m["name"]: m.get("value") for m in got}


def assert_progression(seen: List[str], final: str, polled: List[Dict]) -> None:
    assert seen[-1] == final, seen
    ranks = [STATUS_RANK.get(s, -1) for s in seen]
    assert -1 not in ranks, f"unknown run status in {seen}"
    assert ranks == sorted(ranks), f"run status went backwards: {seen}"
    for run in polled:
        m = metrics(run)
        assert "num_labeled" in m and "num_remaining" in m, run
        if run["status"] == "active":
            # get_task_run reads the run, then its metrics, in two requests: a run that ends
            # between them is "active" with the metrics of an ended run (no time estimates,
            # nothing remaining).
            ended_between = m["num_remaining"] == 0 and "time_remaining_seconds" not in m
            assert ended_between or (
                "time_elapsed_seconds" in m and "time_remaining_seconds" in m), run


def subtask_ids(client, task: str) -> Dict[str, str]:
    return {s["name"]: s["id"] for s in client.get_task(task)["subtasks"]}


def labeled_count(base_url: str, task_id: str, dataset_id: str, subtask_id: str) -> int:
    """Rows with a label for the field (raw HTTP: the SDK does not expose total_count)."""
    flt = {"filter_type": "label", "field": "confidence", "operator": "IS NOT NULL", "value": "",
           "subtask_id": subtask_id, "value_type": "string"}
    resp = requests.get(
        f"{base_url}/tasks/{task_id}/datasets/{dataset_id}",
        params={"task_id": task_id, "offset": 0, "max_items": 0, "filters": [json.dumps(flt)]},
        headers=auth(), timeout=30,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]["total_count"]


def assert_row_labels(rec: Dict, task_name: str, fields: List[Dict], exp: Expected,
                      what: str, final: Optional[Dict[str, Any]] = None) -> None:
    """The SDK's label columns of one row hold the reference labels (final = human labels)."""
    for field in fields:
        name = field["name"]
        prefix = f"{task_name}_{name}"
        want = exp.labels[name]
        got_llm = rec.get(f"{prefix}_llm_label")
        assert got_llm == want["llm_label"], (what, name, rec.get("review"), got_llm, want)
        want_final = (final or {}).get(name, want["llm_label"])
        assert rec.get(f"{prefix}_label") == want_final, (what, name, rec, want_final)
        assert rec.get(f"{prefix}_confidence") == want["confidence"], (
            what, name, rec.get("review"), rec.get(f"{prefix}_confidence"), want)
        if field["type"] == "multilabel_classification":
            assert rec.get(f"{prefix}_multilabel_confidence") == want["multilabel_confidence"], (
                what, name, rec.get("review"), rec.get(f"{prefix}_multilabel_confidence"), want)


def get_labeled_item_eventually(client, application: str, refuel_uuid: str,
                                timeout: float = ITEM_TIMEOUT_S) -> Tuple[Dict, int]:
    """Polls get_labeled_item until it returns a labeled output. Returns (result, number of
    'pending' answers seen).

    While an async label is pending the emulator answers 200 with `"status": "pending"` and
    an output without fields (a 202 would make the SDK's `get_labeled_item` fail)."""
    deadline = time.monotonic() + timeout
    pending = 0
    while True:
        got = client.get_labeled_item(application=application, refuel_uuid=refuel_uuid)
        assert isinstance(got, dict), got
        if got.get("status") == "pending":
            assert got["refuel_output"][0]["refuel_uuid"] == refuel_uuid, got
            assert got["refuel_output"][0]["refuel_fields"] == {}, got
            pending += 1
        elif got.get("refuel_output"):
            return got, pending
        if time.monotonic() > deadline:
            pytest.fail(f"labeled item {refuel_uuid} not ready within {timeout:.0f} s "
                        f"(last answer {got!r})", pytrace=False)
        time.sleep(POLL_S)


def assert_output_fields(fields_out: Dict, exp: Expected, what: str, *,
                         explained: Optional[set] = None) -> None:
    """An application output's refuel_fields against the reference labels. `explained`:
    the fields that must carry an explanation (the others must not); None: don't check."""
    assert set(fields_out) == set(exp.labels), (what, sorted(fields_out), sorted(exp.labels))
    for name, want in exp.labels.items():
        got = fields_out[name]
        assert isinstance(got.get("label"), list), (what, name, got)
        assert got["label"] == output_label(want["llm_label"]), (what, name, got, want)
        assert got.get("confidence") == want["confidence"], (what, name, got, want)
        if explained is not None:
            if name in explained:
                assert isinstance(got.get("explanation"), str) and got["explanation"], (
                    what, name, got)
            else:
                assert got.get("explanation") is None, (what, f"{name} has an explanation", got)


def assert_error(exc: RefuelException, status: int) -> None:
    assert exc.status_code == status, (
        f"expected HTTP {status}, got {exc.status_code}: {exc.message}")


def assert_detail(exc: RefuelException) -> None:
    try:
        body = json.loads(exc.message)
    except (TypeError, ValueError):
        pytest.fail(f"error body is not JSON: {exc.message!r}", pytrace=False)
    assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"], body


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reviews(labeling_client, tmp_path_factory) -> Reviews:
    rows = make_reviews(N_REVIEWS, seed=20241124)
    name, dataset_id = upload_reviews(labeling_client, tmp_path_factory.mktemp("reviews"), rows,
                                      "reviews")
    return Reviews(name=name, id=dataset_id, rows=rows,
                   expected=[reference_labels(MAIN_FIELDS, r) for r in rows])


@pytest.fixture(scope="module")
def main_task(labeling_client, reviews) -> Dict:
    """The create_task response of the main task (all four field kinds, GPT-4o)."""
    return labeling_client.create_task(
        task=unique_name("review-task"),
        dataset=reviews.name,
        context="You are an expert at analyzing product reviews.",
        fields=MAIN_FIELDS,
        model="GPT-4o",
    )


@pytest.fixture(scope="module")
def labeled(labeling_client, reviews, main_task) -> Dict:
    """The main task run to completion over the reviews. Returns the final run."""
    assert main_task.get("id"), f"create_task failed: {main_task}"
    labeling_client.start_task_run(task=main_task["task_name"], dataset=reviews.name)
    run, _, _ = wait_for_run(labeling_client, main_task["task_name"], reviews.name)
    assert run["status"] == "completed", run
    return run


@pytest.fixture(scope="module")
def app(labeling_client, labeled, main_task) -> Dict:
    """The main task deployed as an application (named after the task)."""
    return labeling_client.deploy_task(task=main_task["task_name"])


# --------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------


def test_create_task(main_task, reviews, labeling_project):
    assert main_task, "create_task returned nothing (the SDK refused the task config?)"
    uuid.UUID(main_task["id"])
    assert main_task["task_name"].startswith("review-task-")
    assert main_task.get("dataset_id") == reviews.id, main_task
    assert main_task.get("project_id") == labeling_project["id"], main_task
    assert main_task.get("context") == "You are an expert at analyzing product reviews."
    assert main_task.get("model") == "gpt-4o", "the SDK maps 'GPT-4o' to the id gpt-4o"
    subtasks = main_task["subtasks"]
    assert [s["name"] for s in subtasks] == [f["name"] for f in MAIN_FIELDS]
    ids = [s["id"] for s in subtasks]
    for i in ids:
        uuid.UUID(i)
    assert len(set(ids)) == len(ids), ids
    for field, sub in zip(MAIN_FIELDS, subtasks):
        assert sub["type"] == field["type"], (field["name"], sub)
        assert sub["input_columns"] == field["input_columns"], sub
        assert sub["guidelines"] == field["guidelines"], sub
        assert sub.get("default_value") == field.get("fallback_value", "-"), sub
        assert sub.get("label_column") == field.get("ground_truth_column"), sub
        if field["type"] in ("classification", "multilabel_classification"):
            assert sub["labels"] == field["labels"], sub


def test_get_tasks_and_get_task(labeling_client, main_task):
    listed = [t for t in labeling_client.get_tasks() if t["id"] == main_task["id"]]
    assert len(listed) == 1, labeling_client.get_tasks()
    assert listed[0]["task_name"] == main_task["task_name"]
    assert listed[0]["created_at"]
    by_name = labeling_client.get_task(main_task["task_name"])
    by_id = labeling_client.get_task(main_task["id"])
    for got in (by_name, by_id):
        assert got["id"] == main_task["id"]
        assert got["task_name"] == main_task["task_name"]
        assert [(s["id"], s["name"], s["type"]) for s in got["subtasks"]] == [
            (s["id"], s["name"], s["type"]) for s in main_task["subtasks"]
        ]
        assert [s.get("labels") for s in got["subtasks"]] == [
            s.get("labels") for s in main_task["subtasks"]
        ]


def test_duplicate_task_name_is_409(labeling_client, main_task, reviews):
    with pytest.raises(RefuelException) as info:
        labeling_client.create_task(task=main_task["task_name"], dataset=reviews.name,
                                    context="again", fields=[SENTIMENT])
    assert_error(info.value, 409)
    assert_detail(info.value)
    names = [t["task_name"] for t in labeling_client.get_tasks()]
    assert names.count(main_task["task_name"]) == 1


@pytest.mark.parametrize(
    "label,fields,model",
    [
        ("repeated field name", [SENTIMENT, dict(SENTIMENT, labels=["a", "b"])], None),
        ("input column not in the dataset", [dict(SENTIMENT, input_columns=["no_such_column"])],
         None),
        ("field named like a column", [dict(SENTIMENT, name="channel")], None),
        ("field reading itself", [dict(VERDICT, input_columns=["verdict"])], None),
        ("unknown model name", [SENTIMENT], "GPT-17"),
    ],
)
def test_create_task_refused_by_the_sdk(labeling_client, reviews, label, fields, model):
    """The SDK validates the config, logs the problem and returns {} without a request."""
    name = unique_name("refused")
    got = labeling_client.create_task(task=name, dataset=reviews.name, context="c",
                                      fields=fields, model=model)
    assert got == {}, (label, got)
    assert name not in [t["task_name"] for t in labeling_client.get_tasks()], label


@pytest.mark.parametrize(
    "label,subtasks,status",
    [
        ("repeated field name", [
            {"name": "s", "type": "classification", "labels": ["a"], "input_columns": ["review"]},
            {"name": "s", "type": "classification", "labels": ["b"], "input_columns": ["review"]},
        ], 400),
        ("input column not in the dataset", [
            {"name": "s", "type": "classification", "labels": ["a"], "input_columns": ["nope"]},
        ], 400),
    ],
)
def test_create_task_refused_by_the_server(base_url, labeling_project, reviews, label, subtasks,
                                           status):
    """The same configs sent past the SDK's checks are refused by the server too."""
    name = unique_name("raw-refused")
    body = {"context": "c", "dataset_id": reviews.id, "model": None, "task_type": "task_chain",
            "subtasks": subtasks}
    resp = requests.post(f"{base_url}/projects/{labeling_project['id']}/tasks",
                         params={"task_name": name}, json=body, headers=auth(), timeout=10)
    assert resp.status_code == status, (label, resp.status_code, resp.text)
    assert isinstance(resp.json().get("detail"), str) and resp.json()["detail"], resp.text
    listed = requests.get(f"{base_url}/projects/{labeling_project['id']}/tasks", headers=auth(),
                          timeout=10).json()["data"]
    assert name not in [t["task_name"] for t in listed], label


def test_unknown_task_is_404(labeling_client, reviews):
    with pytest.raises(RefuelException) as info:
        labeling_client.get_task(unique_name("no-such-task"))
    assert_error(info.value, 404)
    with pytest.raises(RefuelException) as info:
        labeling_client.get_task(str(uuid.uuid4()))
    assert_error(info.value, 404)
    assert_detail(info.value)
    # a task that never ran has no run to report
    task = labeling_client.create_task(task=unique_name("never-run"), dataset=reviews.name,
                                       context="c", fields=[SENTIMENT])
    with pytest.raises(RefuelException) as info:
        labeling_client.get_task_run(task=task["id"], dataset=reviews.id)
    assert_error(info.value, 404)
    assert_detail(info.value)
    with pytest.raises(RefuelException) as info:
        labeling_client.cancel_task_run(task=task["id"], dataset=reviews.id)
    assert_error(info.value, 404)
    assert_detail(info.value)


# --------------------------------------------------------------------------------------
# Task runs
# --------------------------------------------------------------------------------------


def test_task_runs_with_and_without_num_items(labeling_client, reviews):
    client = labeling_client
    task = client.create_task(task=unique_name("runs"), dataset=reviews.name, context="c",
                              fields=[SENTIMENT])  # no model: the team default
    tname = task["task_name"]
    n_first = 120

    started = client.start_task_run(task=tname, dataset=reviews.name, num_items=n_first)
    run = started.get("data", started)
    assert run.get("task_id") == task["id"], started
    assert run.get("dataset_id") == reviews.id, started
    assert run.get("status") in ("not_started", "active", "completed"), started
    assert isinstance(run.get("model_name"), str) and run["model_name"], started

    final, seen, polled = wait_for_run(client, tname, reviews.name)
    assert_progression(seen, "completed", polled)
    assert final["task_id"] == task["id"] and final["dataset_id"] == reviews.id, final
    assert final.get("task_name") == tname and final.get("dataset_name") == reviews.name, final
    m = metrics(final)
    assert m["num_labeled"] == n_first, final
    assert m["num_remaining"] == 0, final
    assert "time_elapsed_seconds" not in m, "time metrics are only for active runs"

    # exactly the first n_first rows (default order) carry labels
    _, recs = items_with_task(client, reviews.name, tname)
    assert [r["id"] for r in recs] == [r["id"] for r in reviews.rows]
    llm_col = f"{tname}_sentiment_llm_label"
    for i, (rec, exp) in enumerate(zip(recs, reviews.expected)):
        if i < n_first:
            assert_row_labels(rec, tname, [SENTIMENT], exp, f"row {i} after num_items run")
        else:
            assert rec.get(llm_col) is None, (i, rec)
            assert rec.get(f"{tname}_sentiment_confidence") is None, (i, rec)

    # unlabeled rows have no confidence: last ascending, first descending
    conf = {r["id"]: reviews.expected[i].labels["sentiment"]["confidence"] if i < n_first else None
            for i, r in enumerate(reviews.rows)}
    ids = [r["id"] for r in reviews.rows]
    for direction in ("ASC", "DESC"):
        _, got = items_with_task(client, reviews.name, tname, order_by=[
            {"field": "confidence", "direction": direction, "subtask": "sentiment"}])
        assert [r["id"] for r in got] == expected_order(ids, conf, direction == "DESC"), direction

    # without num_items: the rest of the dataset
    client.start_task_run(task=task["id"], dataset=reviews.id)
    final2, seen2, polled2 = wait_for_run(client, tname, reviews.name)
    assert_progression(seen2, "completed", polled2)
    assert final2["id"] != final["id"], "a new run has a new id"
    m2 = metrics(final2)
    rest = N_REVIEWS - n_first
    # num_labeled: this run's rows (the emulator) or the dataset's labeled rows (either reading)
    assert m2["num_labeled"] in (rest, N_REVIEWS), final2
    assert m2["num_remaining"] == 0, final2
    _, recs = items_with_task(client, reviews.name, tname)
    for i, (rec, exp) in enumerate(zip(recs, reviews.expected)):
        assert_row_labels(rec, tname, [SENTIMENT], exp, f"row {i} after the full run")


N_BIG = 100_000
# How long after the cancel was sent a run may still complete and count as "completed before
# the cancel": generous for a loaded machine, short next to the run itself.
CANCEL_SLACK_S = 0.5
BIG_WORDS = ["great", "love", "broken", "awful", "phone", "battery", "the", "cheap", "okay",
             "screen", "refund", "case", "fine", "late"]


def test_cancel_task_run(labeling_client, base_url, tmp_path):
    client = labeling_client
    rng = random.Random(7)
    rows = [{"id": i, "review": " ".join(rng.choice(BIG_WORDS) for _ in range(6)),
             "channel": "web", "expected_sentiment": None} for i in range(N_BIG)]
    name, dataset_id = upload_reviews(client, tmp_path, rows, "big")
    field = {k: v for k, v in SENTIMENT.items() if k != "ground_truth_column"}
    task = client.create_task(task=unique_name("cancel"), dataset=dataset_id, context="c",
                              fields=[field])
    sub_id = task["subtasks"][0]["id"]

    # ids, not names: the cancel goes out right after the start, with no lookups between
    client.start_task_run(task=task["id"], dataset=dataset_id)
    sent = datetime.now(timezone.utc)
    cancelled = client.cancel_task_run(task=task["id"], dataset=dataset_id)
    answer = cancelled.get("data", cancelled)
    assert answer.get("status") in ("cancelled", "completed"), cancelled

    # wait until the run has ended and its count has settled
    final, seen, polled = wait_for_run(client, task["id"], dataset_id)
    while True:
        time.sleep(0.15)
        again = client.get_task_run(task=task["id"], dataset=dataset_id)
        if metrics(again)["num_labeled"] == metrics(final)["num_labeled"]:
            break
        final = again
    assert_progression(seen, final["status"], polled)
    m = metrics(final)
    stored = labeled_count(base_url, task["id"], dataset_id, sub_id)

    if answer["status"] == "cancelled":
        assert final["status"] == "cancelled", (answer, final)
        assert 0 <= m["num_labeled"] < N_BIG, final
        assert m["num_remaining"] == N_BIG - m["num_labeled"], final
        assert stored == m["num_labeled"], (stored, final)
    else:
        # The run had already completed when the cancel was handled: consistent, but only
        # legitimate if it completed (about) before the cancel was even sent.
        assert final["status"] == "completed", (answer, final)
        assert m["num_labeled"] == N_BIG and m["num_remaining"] == 0, final
        assert stored == N_BIG, stored
        done = parse_ts(final["updated_at"])
        late = (done - sent).total_seconds()
        assert late <= CANCEL_SLACK_S, (
            f"the run completed {late:.2f} s after cancel_task_run was sent, yet the cancel "
            f"answered 'completed': the emulator did not handle the cancel (or any request) "
            f"while the run was labeling {N_BIG} rows")

    # a new run (num_items=10) labels what is left, up to 10 rows
    before = stored
    client.start_task_run(task=task["id"], dataset=dataset_id, num_items=10)
    final2, seen2, polled2 = wait_for_run(client, task["id"], dataset_id)
    assert_progression(seen2, "completed", polled2)
    added = min(10, N_BIG - before)
    assert metrics(final2)["num_labeled"] in (added, before + added), final2
    assert labeled_count(base_url, task["id"], dataset_id, sub_id) == before + added


# --------------------------------------------------------------------------------------
# Labels in row queries
# --------------------------------------------------------------------------------------


def test_items_with_task_hold_reference_labels(labeling_client, reviews, main_task, labeled):
    tname = main_task["task_name"]
    m = metrics(labeled)
    assert m["num_labeled"] == N_REVIEWS and m["num_remaining"] == 0, labeled
    assert labeled.get("model_name"), labeled
    cols, recs = items_with_task(labeling_client, reviews.name, tname)
    want_cols = set(REVIEW_COLUMNS)
    for f in MAIN_FIELDS:
        want_cols |= {f"{tname}_{f['name']}_{s}" for s in ("label", "llm_label", "confidence")}
        if f["type"] == "multilabel_classification":
            want_cols.add(f"{tname}_{f['name']}_multilabel_confidence")
    assert set(cols) == want_cols, sorted(set(cols) ^ want_cols)
    assert [r["id"] for r in recs] == [r["id"] for r in reviews.rows], "default order"
    for rec, row, exp in zip(recs, reviews.rows, reviews.expected):
        for col in REVIEW_COLUMNS:
            assert rec[col] == row[col], (col, rec, row)
        assert_row_labels(rec, tname, MAIN_FIELDS, exp, f"row id={row['id']}")


def test_label_objects_on_the_wire(base_url, reviews, main_task, labeled):
    """What the SDK drops from each label object: expected_label, source, overridden."""
    tid = main_task["id"]
    resp = requests.get(f"{base_url}/tasks/{tid}/datasets/{reviews.id}",
                        params={"task_id": tid, "offset": 0, "max_items": 60, "expand": "true"},
                        headers=auth(), timeout=10)
    assert resp.status_code == 200, resp.text
    items = resp.json()["data"]["items"]
    assert len(items) == 60, len(items)
    names = {s["id"]: s["name"] for s in main_task["subtasks"]}
    for item, row, exp in zip(items, reviews.rows, reviews.expected):
        assert item["fields"]["id"] == row["id"], item
        labels = item["labels"]
        assert isinstance(labels, list), "labels travel as a list of per-field objects"
        assert [lab["id"] for lab in labels] == list(names), labels
        for lab in labels:
            name = names[lab["id"]]
            want = exp.labels[name]
            assert lab["llm_label"] == want["llm_label"] and lab["label"] == want["llm_label"], lab
            assert lab["confidence"] == want["confidence"], lab
            assert lab["source"] == "LLM" and lab["overridden"] is False, lab
            gt = row["expected_sentiment"] if name == "sentiment" else None
            assert lab.get("expected_label") == gt, (name, lab, row)
            assert isinstance(lab.get("explanation"), str) and lab["explanation"], lab


def test_reference_data_is_discriminating(reviews):
    """Guards the suite: the reviews exercise every rule of the reference labeler."""
    sent = [e.labels["sentiment"] for e in reviews.expected]
    for label in ("positive", "negative", "neutral", "unknown"):
        assert any(s["llm_label"] == label for s in sent), label
    confs = {s["confidence"] for s in sent}
    assert {0.0, 0.5} <= confs and len(confs) >= 4, confs  # fallback, ties, margins
    topics = [e.labels["topics"]["llm_label"] for e in reviews.expected]
    assert any(isinstance(t, list) and len(t) >= 2 for t in topics)
    assert "-" in topics
    models = [e.labels["model_number"]["llm_label"] for e in reviews.expected]
    assert "none" in models and any(m != "none" for m in models)
    gt = [(r["expected_sentiment"], e.labels["sentiment"]["llm_label"])
          for r, e in zip(reviews.rows, reviews.expected)]
    assert any(a is None for a, _ in gt) and any(a == b for a, b in gt)
    assert any(a is not None and a != b for a, b in gt)


LABEL_FILTER_CASES = [
    ("llm_label = const",
     [{"field": "llm_label", "subtask": "sentiment", "operator": "=", "value": "positive"}]),
    ("llm_label <> const",
     [{"field": "llm_label", "subtask": "sentiment", "operator": "<>", "value": "positive"}]),
    ("fallback label",
     [{"field": "llm_label", "subtask": "sentiment", "operator": "=", "value": "unknown"}]),
    ("confidence >=",
     [{"field": "confidence", "subtask": "sentiment", "operator": ">=", "value": "0.75"}]),
    ("confidence <",
     [{"field": "confidence", "subtask": "sentiment", "operator": "<", "value": "0.6"}]),
    ("confidence = 0",
     [{"field": "confidence", "subtask": "topics", "operator": "=", "value": "0"}]),
    ("llm_label = ground-truth column",
     [{"field": "llm_label", "subtask": "sentiment", "operator": "=",
       "value": "expected_sentiment"}]),
    ("llm_label <> ground-truth column",
     [{"field": "llm_label", "subtask": "sentiment", "operator": "<>",
       "value": "expected_sentiment"}]),
    ("expected_label (the ground truth)",
     [{"field": "expected_label", "subtask": "sentiment", "operator": "=", "value": "negative"}]),
    ("multilabel LIKE",
     [{"field": "llm_label", "subtask": "topics", "operator": "LIKE", "value": "price"}]),
    ("extraction <>",
     [{"field": "llm_label", "subtask": "model_number", "operator": "<>", "value": "none"}]),
    ("label AND metadata", [
        {"field": "llm_label", "subtask": "sentiment", "operator": "=", "value": "negative"},
        {"field": "channel", "operator": "=", "value": "web"},
    ]),
    ("two fields' labels", [
        {"field": "confidence", "subtask": "sentiment", "operator": ">", "value": "0.5"},
        {"field": "llm_label", "subtask": "topics", "operator": "ILIKE", "value": "BATTERY"},
    ]),
]


def _filter_matches(row: Dict, exp: Expected, flt: Dict) -> bool:
    op = flt["operator"]
    if flt.get("subtask") and flt["field"] == "expected_label":
        left = row[SENTIMENT["ground_truth_column"]] if flt["subtask"] == "sentiment" else None
    elif flt.get("subtask"):
        label = exp.labels[flt["subtask"]]
        left = (label["confidence"] if flt["field"] == "confidence"
                else label_text(label["llm_label"]))
    else:
        left = row[flt["field"]]
    value = flt["value"]
    if flt.get("subtask") and value in REVIEW_COLUMNS:
        right = row[value]  # the SDK sends value_type metadata: compare with the column
    elif flt["field"] == "confidence":
        right = float(value)
    else:
        right = value
    if left is None or right is None:
        return False
    return {
        "=": lambda a, b: a == b,
        "<>": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "LIKE": lambda a, b: b in a,
        "ILIKE": lambda a, b: b.lower() in a.lower(),
    }[op](left, right)


@pytest.mark.parametrize("label,filters", LABEL_FILTER_CASES,
                         ids=[c[0] for c in LABEL_FILTER_CASES])
def test_label_filters(labeling_client, reviews, main_task, labeled, label, filters):
    expected = [r["id"] for r, e in zip(reviews.rows, reviews.expected)
                if all(_filter_matches(r, e, f) for f in filters)]
    assert 0 < len(expected) < N_REVIEWS, f"{label}: the case does not discriminate"
    _, got = items_with_task(labeling_client, reviews.name, main_task["task_name"],
                             filters=filters)
    assert [r["id"] for r in got] == expected, (
        f"{label}: got {len(got)} rows, expected {len(expected)}; "
        f"missing {sorted(set(expected) - {r['id'] for r in got})[:10]}, "
        f"unexpected {sorted({r['id'] for r in got} - set(expected))[:10]}")


def expected_order(ids: List[int], key: Dict[int, Any], desc: bool) -> List[int]:
    """Stable: ties keep insertion order; NULLs last ascending, first descending."""
    present = [i for i in ids if key[i] is not None]
    nulls = [i for i in ids if key[i] is None]
    present = sorted(present, key=lambda i: key[i], reverse=desc)  # stable also when reversed
    return nulls + present if desc else present + nulls


ORDER_CASES = [
    ("confidence ASC", [{"field": "confidence", "direction": "ASC", "subtask": "sentiment"}]),
    ("confidence DESC", [{"field": "confidence", "direction": "DESC", "subtask": "sentiment"}]),
    ("multilabel confidence DESC, then id DESC", [
        {"field": "confidence", "direction": "DESC", "subtask": "topics"},
        {"field": "id", "direction": "DESC"},
    ]),
    ("label ASC", [{"field": "label", "direction": "ASC", "subtask": "sentiment"}]),
]


@pytest.mark.parametrize("label,order_by", ORDER_CASES, ids=[c[0] for c in ORDER_CASES])
def test_order_by_labels(labeling_client, reviews, main_task, labeled, label, order_by):
    rows = list(zip(reviews.rows, reviews.expected))

    def key_of(o):
        if o.get("subtask"):
            lab = lambda e: e.labels[o["subtask"]]
            if o["field"] == "confidence":
                return lambda r, e: lab(e)["confidence"]
            return lambda r, e: label_text(lab(e)["llm_label"])
        return lambda r, e: r[o["field"]]

    for o in reversed(order_by):  # least significant key first; sorts are stable
        k = key_of(o)
        rows.sort(key=lambda re_: k(*re_), reverse=o.get("direction") == "DESC")
    expected = [r["id"] for r, _ in rows]
    assert expected != [r["id"] for r in reviews.rows]
    _, got = items_with_task(labeling_client, reviews.name, main_task["task_name"],
                             order_by=order_by)
    got_ids = [r["id"] for r in got]
    first = next((i for i, (a, b) in enumerate(zip(got_ids, expected)) if a != b), None)
    assert got_ids == expected, f"{label}: first difference at position {first}"


# --------------------------------------------------------------------------------------
# Applications
# --------------------------------------------------------------------------------------


def test_deploy_task_and_get_applications(labeling_client, app, main_task, reviews):
    assert app.get("id"), app
    uuid.UUID(app["id"])
    assert app["name"] == main_task["task_name"], "deploy_task names the application after the task"
    assert app.get("created_at"), app
    listed = [a for a in labeling_client.get_applications() if a["id"] == app["id"]]
    assert len(listed) == 1, labeling_client.get_applications()
    assert listed[0]["name"] == app["name"]
    # its log dataset has the task dataset's columns
    log = labeling_client.get_dataset(f"{app['name']} (application log)")
    assert log["status"] == "success", log
    assert set(log["dataset_schema"]) == set(REVIEW_COLUMNS), log
    # deploying the same task again (same application name) is a conflict
    with pytest.raises(RefuelException) as info:
        labeling_client.deploy_task(task=main_task["task_name"])
    assert_error(info.value, 409)


LABEL_INPUTS = [
    {"id": 9001, "review": "Great battery, I love it! model Q42", "channel": "web"},
    {"id": 9002, "review": "Screen arrived broken. Awful, I want a refund; too expensive",
     "channel": "app"},
    {"id": 9003, "review": "great but broken", "channel": "store"},  # a tie: the first label
    {"id": 9004, "review": "It is okay, average delivery, fine", "channel": "web"},
    {"id": 9005, "review": "nothing to say here", "channel": "web"},  # every fallback
    {"review": "LOVE love LOVE the cheap price", "source": "mobile"},  # a key that is no column
]


def test_label_with_explain_and_telemetry(labeling_client, app):
    out = labeling_client.label(application=app["name"], inputs=LABEL_INPUTS, explain=True,
                                telemetry=True)
    assert out["application_id"] == app["id"]
    outputs = out["refuel_output"]
    assert len(outputs) == len(LABEL_INPUTS), out
    uuids = [o.get("refuel_uuid") for o in outputs]
    assert all(isinstance(u, str) and u for u in uuids), uuids
    assert len(set(uuids)) == len(uuids), uuids
    for inp, o in zip(LABEL_INPUTS, outputs):
        exp = reference_labels(MAIN_FIELDS, inp)
        assert isinstance(o.get("refuel_api_timestamp"), str), o
        assert_output_fields(o["refuel_fields"], exp, inp["review"],
                             explained={f["name"] for f in MAIN_FIELDS})
        usage = o.get("usage")
        assert isinstance(usage, dict), o
        assert isinstance(usage.get("model"), str) and usage["model"], usage
        assert isinstance(usage.get("provider"), str) and usage["provider"], usage
        assert usage.get("prompt_tokens") == exp.prompt_tokens, (inp, usage, exp)
        assert usage.get("completion_tokens") == exp.completion_tokens, (inp, usage, exp)
        assert usage.get("total_tokens") == exp.prompt_tokens + exp.completion_tokens, usage
    # the tie went to the first label, with confidence 0.5
    assert outputs[2]["refuel_fields"]["sentiment"] == {
        "label": ["positive"], "confidence": 0.5,
        "explanation": outputs[2]["refuel_fields"]["sentiment"]["explanation"]}


def test_label_explanations_only_when_asked(labeling_client, app):
    inputs = LABEL_INPUTS[:3]
    out = labeling_client.label(application=app["id"], inputs=inputs)
    for inp, o in zip(inputs, out["refuel_output"]):
        assert_output_fields(o["refuel_fields"], reference_labels(MAIN_FIELDS, inp), inp["review"],
                             explained=set())
        assert o.get("usage") is None, "no telemetry asked for"
    out = labeling_client.label(application=app["name"], inputs=inputs, explain=False,
                                explain_fields=["topics", "verdict"])
    for inp, o in zip(inputs, out["refuel_output"]):
        assert_output_fields(o["refuel_fields"], reference_labels(MAIN_FIELDS, inp), inp["review"],
                             explained={"topics", "verdict"})


def test_alabel_and_get_labeled_item(labeling_client, reviews, base_url):
    client = labeling_client
    # its own task and application, so that the bulk inputs stay out of the main app's log
    task = client.create_task(task=unique_name("async"), dataset=reviews.name, context="c",
                              fields=MAIN_FIELDS, model="Claude 3.5 (Sonnet)")
    assert task.get("model") == "claude-3-5-sonnet-20240620", task
    application = client.deploy_task(task=task["task_name"])
    bulk = [{"id": 20000 + i, "review": f"great screen number {i}, model Z{i}"}
            for i in range(1000)]
    inputs = LABEL_INPUTS[:5] + bulk
    out = client.alabel(application=application["name"], inputs=inputs)
    assert out.get("application_id") == application["id"], out
    outputs = out["refuel_output"]
    assert len(outputs) == len(inputs), len(outputs)
    for o in outputs:
        assert isinstance(o.get("refuel_uuid"), str) and o["refuel_uuid"], o
        assert isinstance(o.get("uri"), str) and o["refuel_uuid"] in o["uri"], o
        assert not o.get("refuel_fields"), "async outputs carry no labels yet"
    assert len({o["refuel_uuid"] for o in outputs}) == len(outputs)

    # the last bulk input first: the most likely one to be still pending
    checks = [(inputs[-1], outputs[-1])] + list(zip(inputs[:5], outputs[:5]))
    for inp, o in checks:
        got, _ = get_labeled_item_eventually(client, application["name"], o["refuel_uuid"])
        assert got.get("application_id") == application["id"], got
        (item,) = got["refuel_output"]
        assert item["refuel_uuid"] == o["refuel_uuid"], item
        assert_output_fields(item["refuel_fields"], reference_labels(MAIN_FIELDS, inp),
                             inp["review"])
    # the uri answers the same (with the API key)
    resp = requests.get(outputs[0]["uri"], headers=auth(), timeout=10)
    assert resp.status_code == 200, resp.text
    (item,) = resp.json()["data"]["refuel_output"]
    assert_output_fields(item["refuel_fields"], reference_labels(MAIN_FIELDS, inputs[0]), "uri")
    # an unknown item is a 404
    with pytest.raises(RefuelException) as info:
        client.get_labeled_item(application=application["id"], refuel_uuid=str(uuid.uuid4()))
    assert_error(info.value, 404)


def test_feedback_becomes_the_final_label(labeling_client, app, main_task, base_url, tmp_path,
                                          monkeypatch):
    client = labeling_client
    tname = main_task["task_name"]
    inp = {"id": 9100, "review": f"Perfect phone, excellent battery ({uuid.uuid4().hex[:6]})",
           "channel": "store"}
    exp = reference_labels(MAIN_FIELDS, inp)
    assert exp.labels["sentiment"]["llm_label"] == "positive"
    assert exp.labels["topics"]["llm_label"] == ["battery"]
    (o,) = client.label(application=app["name"], inputs=[inp])["refuel_output"]
    human = {"sentiment": ["negative"], "topics": ["screen", "price"]}
    client.feedback(application=app["name"], refuel_uuid=o["refuel_uuid"], label=human)

    # get_labeled_item shows the human labels
    got, _ = get_labeled_item_eventually(client, app["name"], o["refuel_uuid"])
    fields = got["refuel_output"][0]["refuel_fields"]
    assert fields["sentiment"]["label"] == ["negative"], fields
    assert fields["topics"]["label"] == ["screen", "price"], fields
    assert fields["model_number"]["label"] == output_label(exp.labels["model_number"]["llm_label"])

    # the application log, queried with the task: human label final, LLM label kept
    log_name = f"{app['name']} (application log)"
    _, recs = items_with_task(client, log_name, tname)
    mine = [r for r in recs if r["review"] == inp["review"]]
    assert len(mine) == 1, [r["review"] for r in recs]
    rec = mine[0]
    assert rec["id"] == 9100 and rec["channel"] == "store", rec
    assert_row_labels(rec, tname, MAIN_FIELDS, exp, "log row after feedback",
                      final={"sentiment": "negative", "topics": ["screen", "price"]})

    # on the wire: the human label is the final one, its source HUMAN, overridden
    log_id = client.get_dataset(log_name)["id"]
    flt = {"filter_type": "metadata", "field": "review", "operator": "=", "value": inp["review"]}
    resp = requests.get(f"{base_url}/tasks/{main_task['id']}/datasets/{log_id}",
                        params={"task_id": main_task["id"], "offset": 0, "max_items": 5,
                                "filters": [json.dumps(flt)]}, headers=auth(), timeout=10)
    assert resp.status_code == 200, resp.text
    (item,) = resp.json()["data"]["items"]
    by_name = {s["name"]: s["id"] for s in main_task["subtasks"]}
    labels = {lab["id"]: lab for lab in item["labels"]}
    sentiment = labels[by_name["sentiment"]]
    assert (sentiment["label"], sentiment["llm_label"]) == ("negative", "positive"), sentiment
    assert sentiment["source"] == "HUMAN" and sentiment["overridden"] is True, sentiment
    topics = labels[by_name["topics"]]
    assert (topics["label"], topics["llm_label"]) == (["screen", "price"], ["battery"]), topics
    assert topics["source"] == "HUMAN", topics
    model_number = labels[by_name["model_number"]]
    assert model_number["source"] == "LLM" and model_number["overridden"] is False, model_number

    # an export of the log with the task marks the row verified
    monkeypatch.chdir(tmp_path)
    client.download_dataset(email_address="qa@example.com", dataset=log_name, task=tname)
    with open(tmp_path / f"{log_name}.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["review"] == inp["review"]]
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["sentiment_label"] == "negative" and row["sentiment_llm_label"] == "positive", row
    assert row["sentiment_verified"] == "true", row
    assert row["topics_label"] == "screen, price" and row["topics_llm_label"] == "battery", row
    assert row["topics_verified"] == "true", row
    assert row["model_number_verified"] == "false", row


# --------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------


def test_download_dataset_with_labels(labeling_client, reviews, main_task, labeled, tmp_path,
                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    labeling_client.download_dataset(email_address="qa@example.com", dataset=reviews.name,
                                     task=main_task["task_name"])
    assert time.monotonic() - started < 20, "the SDK slept: the export was not ready at once"
    path = tmp_path / f"{reviews.name}.csv"
    assert path.is_file(), list(tmp_path.iterdir())
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        body = list(reader)
    want = REVIEW_COLUMNS + [f"{f['name']}_{s}" for f in MAIN_FIELDS for s in EXPORT_SUFFIXES]
    assert header == want, header
    assert len(body) == N_REVIEWS, len(body)
    for cells, row, exp in zip(body, reviews.rows, reviews.expected):
        rec = dict(zip(header, cells))
        assert int(rec["id"]) == row["id"], rec
        assert rec["review"] == (row["review"] or ""), rec
        assert rec["expected_sentiment"] == (row["expected_sentiment"] or ""), rec
        for f in MAIN_FIELDS:
            want_label = exp.labels[f["name"]]
            text = label_text(want_label["llm_label"])
            assert rec[f"{f['name']}_label"] == text, (f["name"], rec)
            assert rec[f"{f['name']}_llm_label"] == text, (f["name"], rec)
            assert float(rec[f"{f['name']}_confidence"]) == want_label["confidence"], rec
            assert rec[f"{f['name']}_explanation"], (f["name"], rec)
            assert rec[f"{f['name']}_verified"] == "false", rec


def test_download_dataset_without_task(labeling_client, reviews, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    labeling_client.download_dataset(email_address="qa@example.com", dataset=reviews.id)
    with open(tmp_path / f"{reviews.name}.csv", newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert len(got) == N_REVIEWS
    assert list(got[0]) == REVIEW_COLUMNS
    for rec, row in zip(got, reviews.rows):
        assert rec == {k: "" if row[k] is None else str(row[k]) for k in REVIEW_COLUMNS}, rec


# --------------------------------------------------------------------------------------
# Finetuning
# --------------------------------------------------------------------------------------


def test_finetune_list_and_cancel(labeling_client, reviews, main_task, labeling_project):
    client = labeling_client
    resp = client.finetune_model(task_id=main_task["id"], model="refuel-llm-v2-small",
                                 hyperparameters={"num_epochs": 1}, datasets=[reviews.id])
    assert "data" in resp, resp
    model = resp["data"]
    uuid.UUID(model["id"])
    assert model.get("base_model") == "refuel-llm-v2-small", model
    assert model.get("task_id") == main_task["id"], model
    assert model.get("project_id") == labeling_project["id"], model
    assert model.get("datasets") == [reviews.id], model
    assert model.get("hyperparameters") == {"num_epochs": 1}, model
    assert model.get("finetuning_run_status") in FINETUNE_STAGES[:3], model
    assert model.get("availability_status") == "UNAVAILABLE", model

    other = client.create_task(task=unique_name("ft-other"), dataset=reviews.name, context="c",
                               fields=[SENTIMENT])
    other_model = client.finetune_model(task_id=other["id"], model="refuel-llm-v2-large")["data"]

    listed = client.get_finetuned_models(task_id=main_task["id"])
    assert "data" in listed, listed
    ids = [m["id"] for m in listed["data"]]
    assert model["id"] in ids and other_model["id"] not in ids, ids
    assert all(m.get("task_id") == main_task["id"] for m in listed["data"]), listed
    every = [m["id"] for m in client.get_finetuned_models()["data"]]
    assert {model["id"], other_model["id"]} <= set(every), every

    cancelled = client.cancel_finetuning(model_id=model["id"])
    assert "data" in cancelled, cancelled
    assert cancelled["data"]["id"] == model["id"]
    assert cancelled["data"]["finetuning_run_status"] == "INTERRUPTED", cancelled
    assert cancelled["data"]["availability_status"] == "UNAVAILABLE", cancelled
    timeline = cancelled["data"].get("finetuning_run_timeline")
    assert isinstance(timeline, list) and timeline[-1]["status"] == "INTERRUPTED", timeline
    (after,) = [m for m in client.get_finetuned_models(task_id=main_task["id"])["data"]
                if m["id"] == model["id"]]
    assert after["finetuning_run_status"] == "INTERRUPTED", after
    (untouched,) = [m for m in client.get_finetuned_models(task_id=other["id"])["data"]
                    if m["id"] == other_model["id"]]
    assert untouched["finetuning_run_status"] != "INTERRUPTED", untouched

    with pytest.raises(RefuelException) as info:
        client.finetune_model(task_id=main_task["id"], model="gpt-17-finetunable")
    assert_error(info.value, 400)
    assert_detail(info.value)
