"""A table written chunk by chunk: batch scoring's scored rows and quarantine.

The rows go to the file's temporary name (`files.temporary_path`) and the finished file is
published like every other (`files.publish`: fsync, then os.replace), so the output appears
whole on `close` or not at all.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from loopline.io.files import publish, temporary_path

OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class TableWriter:
    """Appends frames to one CSV, JSONL or Parquet file; the file appears only on `close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.format = output_format(self.path)
        self.tmp = temporary_path(self.path)
        self.rows = 0
        self._started = False
        self._parquet: pq.ParquetWriter | None = None
        self._first: pd.DataFrame | None = None

    def write(self, frame: pd.DataFrame) -> None:
        """Append rows (list-valued columns are joined with "; " in CSV and JSONL)."""
        if self.format != "parquet":
            frame = frame.assign(
                **{c: _joined(frame[c]) for c in frame.columns if _is_lists(frame[c])}
            )
        if not self._started:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "csv":
            mode = "a" if self._started else "w"
            frame.to_csv(self.tmp, mode=mode, header=not self._started, index=False)
        elif self.format == "jsonl":
            if not self._started:
                self.tmp.write_bytes(b"")
            if len(frame):
                frame.to_json(self.tmp, orient="records", lines=True, date_format="iso", mode="a")
        elif self._parquet is None:
            # the first rows fix the file's schema; an empty frame's types are only guesses
            self._first = frame if self._first is None or len(frame) else self._first
            if len(frame):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                self._parquet = pq.ParquetWriter(self.tmp, _typed(table.schema))
                self._parquet.write_table(table.cast(self._parquet.schema))
        elif len(frame):
            schema = self._parquet.schema
            self._parquet.write_table(
                pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
            )
        self._started = True
        self.rows += len(frame)

    def close(self) -> Path:
        """Finish the file and move it into place; return its path."""
        if self._parquet is not None:
            self._parquet.close()
        elif self.format == "parquet":
            first = self._first if self._first is not None else pd.DataFrame()
            first.to_parquet(self.tmp, index=False)
        return publish(self.tmp, self.path)

    def abort(self) -> None:
        """Drop what was written."""
        if self._parquet is not None:
            self._parquet.close()
        self.tmp.unlink(missing_ok=True)


def output_format(path: str | Path) -> str:
    """Return csv | jsonl | parquet for an output path, or raise ValueError."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(
            f"{path}: cannot write {suffix or 'no extension'!r} files; use .csv, .jsonl or .parquet"
        )
    return OUTPUT_FORMATS[suffix]


def _is_lists(values: pd.Series) -> bool:
    return values.dtype == object and len(values) > 0 and isinstance(values.iloc[0], list)


def _joined(values: pd.Series) -> pd.Series:
    return pd.Series(["; ".join(v) for v in values], index=values.index, dtype="str")


def _typed(schema: pa.Schema) -> pa.Schema:
    """Give columns that were all-null in the first chunk a type (string) later chunks fit."""
    fields = []
    for f in schema:
        if pa.types.is_null(f.type):
            f = f.with_type(pa.string())
        elif pa.types.is_list(f.type) and pa.types.is_null(f.type.value_type):
            f = f.with_type(pa.list_(pa.string()))
        fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)
