"""Refuel datasets and task labels as DataFusion tables, for datafusion-python, pandas and
polars; dataset writes from any Arrow data; labeling; a local emulator.

    import datafusion, refuel_datafusion as rd
    ctx = datafusion.SessionContext()
    ctx.register_catalog_provider("refuel", rd.RefuelCatalog())   # REFUEL_API_KEY
    df = ctx.sql("SELECT * FROM refuel.my_project.sentiment_labels WHERE category = 'books'")
    df.to_pandas()
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from ._internal import (
    Emulator,
    RefuelCatalog,
    RefuelError,
    RefuelTable,
    __version__,
)
from . import _internal

__all__ = [
    "Emulator",
    "RefuelCatalog",
    "RefuelError",
    "RefuelTable",
    "label",
    "write_dataset",
    "__version__",
]


def _as_arrow(data: Any, what: str) -> Any:
    """`data` as an object exporting an Arrow stream (`__arrow_c_stream__`)."""
    module = type(data).__module__ or ""
    if module.startswith("pandas"):
        import pyarrow as pa

        # The frame's columns, not its index.
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return data
    if isinstance(data, (list, tuple)):
        import pyarrow as pa

        if not all(isinstance(row, Mapping) for row in data):
            raise ValueError(f"{what}: a list must hold dicts (one per row)")
        return pa.Table.from_pylist(list(data))
    if hasattr(data, "to_arrow"):
        return data.to_arrow()
    raise TypeError(
        f"{what}: expected Arrow data (a pyarrow Table or RecordBatchReader, a polars or "
        f"pandas DataFrame, a datafusion DataFrame, or a list of dicts), got "
        f"{type(data).__name__}"
    )


def write_dataset(
    data: Any,
    name: str,
    project: Optional[str] = None,
    staging: Optional[str] = None,
    format: str = "parquet",
    wait: bool = True,
    *,
    storage_options: Optional[Mapping[str, str]] = None,
    api_key: Optional[str] = None,
    api_url: Optional[str] = None,
) -> dict:
    """Writes `data` as the new dataset `name`. See the stub for the arguments."""
    return _internal.write_dataset(
        _as_arrow(data, "write_dataset"),
        name,
        project=project,
        staging=staging,
        format=format,
        wait=wait,
        storage_options=dict(storage_options) if storage_options is not None else None,
        api_key=api_key,
        api_url=api_url,
    )


def label(
    application: str,
    rows: Any,
    explain: bool = False,
    *,
    on_error: str = "fail",
    model: Optional[str] = None,
    max_rows: Optional[int] = None,
    project: Optional[str] = None,
    api_key: Optional[str] = None,
    api_url: Optional[str] = None,
    max_workers: Optional[int] = None,
) -> Any:
    """Labels `rows` with `application`; returns a pyarrow Table. See the stub."""
    return _internal.label(
        application,
        _as_arrow(rows, "label"),
        explain=explain,
        on_error=on_error,
        model=model,
        max_rows=max_rows,
        project=project,
        api_key=api_key,
        api_url=api_url,
        max_workers=max_workers,
    )
