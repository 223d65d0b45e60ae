"""Every file format loopline reads or writes, and where its files and models are stored.

- `batches`: raw batch files (`read_batch_file`: formats, compression, dialects);
- `files`: tables, JSON and text written atomically (`atomic_path`), digests;
- `chunks`: a raw batch file read chunk by chunk (`read_chunks`, batch scoring's input);
- `tables`: a table written chunk by chunk (`TableWriter`, batch scoring's output);
- `artifacts`: the model folder's files by name (`ModelDir`: booster, feature spec, manifest);
- `predlog`: the prediction log; `registry`: the MLflow model registry (champion alias).

The names below are re-exported for `from loopline.io import read_json`; the heavier modules
(artifacts, chunks, predlog, registry, tables) are imported by name, so that reading a batch
file does not load XGBoost, Arrow's writers or MLflow.
"""

from loopline.io.batches import (
    COMPRESSIONS,
    FORMATS,
    SOURCE_ROW,
    DataFileError,
    Dialect,
    RawBatch,
    compression,
    csv_batches,
    detect_format,
    file_dialect,
    inner_name,
    json_frame,
    malformed_frame,
    open_binary,
    open_text,
    parquet_input,
    read_batch_file,
    read_bytes,
    undecodable,
)
from loopline.io.files import (
    atomic_directory,
    atomic_path,
    file_sha256,
    read_json,
    read_table,
    write_json,
    write_table,
    write_text,
)

__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "SOURCE_ROW",
    "DataFileError",
    "Dialect",
    "RawBatch",
    "atomic_directory",
    "atomic_path",
    "compression",
    "csv_batches",
    "detect_format",
    "file_dialect",
    "file_sha256",
    "inner_name",
    "json_frame",
    "malformed_frame",
    "open_binary",
    "open_text",
    "parquet_input",
    "read_batch_file",
    "read_bytes",
    "read_json",
    "read_table",
    "undecodable",
    "write_json",
    "write_table",
    "write_text",
]
