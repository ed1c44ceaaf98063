"""Type stubs of refuel_datafusion."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any, Literal, Mapping, Optional, Protocol, TypedDict

import pyarrow

__version__: str

class _ArrowStream(Protocol):
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class RefuelError(Exception):
    """A call to Refuel failed."""

    status: Optional[int]
    """The HTTP status the server answered, when it answered one."""
    detail: str
    """The server's message, or what failed."""

class RefuelCatalog:
    """A team's Refuel projects as the schemas of a datafusion-python catalog.

    ``ctx.register_catalog_provider("refuel", RefuelCatalog())``, then
    ``refuel.<project>.<dataset>`` (a dataset's rows), ``refuel.<project>.<task>_labels``
    (the task's dataset with its label columns) and the metadata tables ``datasets``,
    ``tasks``, ``task_runs``, ``applications``, ``finetuned_models``.

    Unset arguments come from ``REFUEL_API_KEY``, ``REFUEL_API_URL`` and
    ``REFUEL_PROJECT``. ``max_workers`` bounds the concurrent API requests (by default the
    client adapts to the server's throttling). Lists the projects, datasets and tasks once;
    :meth:`refresh` lists them again.
    """

    def __init__(
        self,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        project: Optional[str] = None,
        max_workers: Optional[int] = None,
    ) -> None: ...
    def __datafusion_catalog_provider__(self, session: object) -> object: ...
    def schema_names(self) -> list[str]:
        """The team's projects."""
    def table_names(self, project: str) -> list[str]:
        """A project's tables. Raises ``KeyError`` for an unknown project."""
    def refresh(self) -> None:
        """Lists the projects, datasets and tasks again."""

class RefuelTable:
    """One dataset, or with ``task`` one task's label table, for ``ctx.register_table``.

    Filters and ``LIMIT`` are pushed into the API's requests; ``ORDER BY`` and ``OFFSET``
    run in datafusion-python (same results). ``pyarrow.schema(table)`` gives its schema.
    """

    def __init__(
        self,
        dataset: str,
        task: Optional[str] = None,
        project: Optional[str] = None,
        api_key: Optional[str] = None,
        api_url: Optional[str] = None,
        max_workers: Optional[int] = None,
    ) -> None: ...
    def __datafusion_table_provider__(self, session: object) -> object: ...
    def __arrow_c_schema__(self) -> object: ...
    @property
    def dataset(self) -> str: ...
    @property
    def task(self) -> Optional[str]: ...
    @property
    def columns(self) -> list[str]: ...

class WriteResult(TypedDict):
    dataset: str
    dataset_id: str
    rows: Optional[int]
    bytes: Optional[int]
    handoff: Literal["presigned_url", "upload", "url"]
    staged: list[str]

def write_dataset(
    data: _ArrowStream | Any,
    name: str,
    project: Optional[str] = None,
    staging: Optional[str] = None,
    format: Literal["parquet", "csv"] = "parquet",
    wait: bool = True,
    *,
    storage_options: Optional[Mapping[str, str]] = None,
    api_key: Optional[str] = None,
    api_url: Optional[str] = None,
) -> WriteResult:
    """Writes ``data`` as the new dataset ``name`` of ``project``.

    ``data``: anything exporting an Arrow stream (a pyarrow Table or RecordBatchReader, a
    polars DataFrame, a datafusion DataFrame), a pandas DataFrame (its columns, not its
    index) or a list of dicts. Streamed: batches are encoded as they come.

    ``staging``: ``s3://bucket/prefix``, ``gs://...``, ``az://...`` stage the file there
    and hand the server a presigned URL (credentials from the environment, e.g.
    ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT``, or ``storage_options`` such as
    ``{"aws_endpoint": ...}``); ``None`` or a local directory uploads the file through the
    API. ``format``: the staged file's format. ``wait``: return once the server has
    ingested it (and checked the row count). Fails before staging anything when the
    project has a dataset of that name; a failure aborts the staged upload.
    """

def label(
    application: str,
    rows: _ArrowStream | Any,
    explain: bool = False,
    *,
    on_error: Literal["fail", "null"] = "fail",
    model: Optional[str] = None,
    max_rows: Optional[int] = None,
    project: Optional[str] = None,
    api_key: Optional[str] = None,
    api_url: Optional[str] = None,
    max_workers: Optional[int] = None,
) -> pyarrow.Table:
    """Labels ``rows`` with the application ``application`` (``"app"`` in the current
    project or ``"project/app"``), as ``refuel_label`` does in SQL.

    ``rows``: Arrow data, a pandas DataFrame or a list of dicts, with a column for each of
    the application's input columns. Returns the rows in input order with one struct
    column per application field: ``label`` (a list of strings for multilabel fields),
    ``confidence``, ``explanation`` (with ``explain=True``) and ``error``.

    Identical inputs are labeled once; a row whose inputs are all null gives nulls and
    sends nothing; ``max_rows`` bounds the distinct inputs sent (it fails before sending
    more); ``on_error="null"`` gives a row's failure in its ``error`` fields instead of
    raising.
    """

class Emulator:
    """A local Refuel-compatible server in this process, for tests and notebooks.

    ``with Emulator() as emu: RefuelCatalog(api_key=emu.api_key, api_url=emu.url)``.
    In memory, or durable in ``data_dir``.
    """

    def __init__(
        self,
        data_dir: Optional[str | os.PathLike[str]] = None,
        api_key: Optional[str] = None,
        *,
        latency_ms: int = 0,
        max_page_rows: Optional[int] = None,
        rate_limit: Optional[float] = None,
    ) -> None:
        """``latency_ms``, ``max_page_rows`` and ``rate_limit`` (requests per second per
        key) make it answer as a remote server would."""
    @property
    def url(self) -> str: ...
    @property
    def api_key(self) -> str: ...
    @property
    def data_dir(self) -> Optional[str]: ...
    @property
    def running(self) -> bool: ...
    def create_project(self, name: str, description: str = "") -> str:
        """Makes a project; returns its id."""
    def requests(self) -> list[dict[str, Any]]:
        """The requests served (``method``, ``path``, ``query``), oldest first."""
    def reset_requests(self) -> None: ...
    def set_network(
        self,
        *,
        latency_ms: int = 0,
        max_page_rows: Optional[int] = None,
        rate_limit: Optional[float] = None,
    ) -> None:
        """Changes how it answers from now on; ``set_network()`` answers at once again."""
    def stop(self) -> None: ...
    def __enter__(self) -> Emulator: ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> bool: ...
