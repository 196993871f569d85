"""The output policy: whether a finished job's outputs (and logs) may be released (docs/compute.md).

The package: ``limits`` (caps, file types, the verdict), ``tokens`` and ``hashing`` (what the
raw-row scan compares), ``raw_index`` (the index of the inputs and the scan), ``index_process`` and
``index_file`` (the index built in a child process capped in memory and time, handed back as a file)
and ``outputs`` (the policy itself, the manifest and the output hash).

:func:`check_outputs` walks the job's ``/out`` and returns a :class:`Verdict`. The first violation
found wins (files in sorted path order, then the epsilon declaration, then the logs); a rejected
verdict names the file, the kind of match, the input row and column, and never the data itself.

File rules
----------
- Only regular files and directories. Symlinks, hard links (``st_nlink > 1``), fifos, sockets and
  devices are ``special_file``. Directories count towards ``max_files`` like files do.
- Output paths are scanned for raw rows too (a match is reported without the path).
- Allowed, checked by extension *and* content: ``.safetensors`` (header length, strict JSON header,
  every tensor's dtype, shape and offsets consistent, the tensors tiling the data area with no gap or
  trailing bytes), ``.onnx`` (at most ``onnx_bytes``; loaded and checked with the ``onnx`` package, refused
  without it; no fields ONNX does not define, no external data, at most 1 MiB of text:
  ``policy/onnx_model.py``), ``.json`` (strict: no NaN or Infinity,
  no duplicate keys, UTF-8), ``.csv`` (UTF-8, at most ``csv_rows`` records after the header),
  ``.txt``/``.md`` (UTF-8). Anything else is ``file_type_not_allowed``.
- Pickles are ``pickle_not_allowed`` whatever their name: the pickle magic (0x80 then protocol 2..5),
  a zip holding a ``*.pkl`` member (``torch.save``), a ``.npy`` with object dtype, and every
  ``.pkl``/``.pickle``/``.pt``/``.pth``/``.joblib`` by name.
- With ``dp_required``, ``metrics.json`` at the top of ``/out`` must hold a finite number
  ``epsilon_spent`` (>= 0) at most the job's epsilon (+1e-9).

The raw-row scan
----------------
:class:`RawIndex` is built on the host from the job's decrypted input files before the run (the
worker builds it in a capped child process: ``index_process``). CSV/TSV
(and Parquet, JSON Lines) files are tables whose cells are all read as strings; any other text file
is one column whose rows are its non-empty lines; binary files are skipped.

A cell is normalized by lower-casing and splitting it into tokens on whitespace and
``, ; | " ' [ ] { } ( ) : =`` (so a cell may be several tokens, and an empty one none). A token that
parses as a finite float is written canonically: rounded to 6 decimals (what pandas prints), integers
without ``.0`` and other values as ``repr(float)``, so ``"5.10" == "5.1"`` and ``"7" == "7.0"``. Null
spellings (``nan``, ``none``, ``null``, ``na``, ``n/a``, ``<na>``, ``nat``) are no tokens. Outputs are
turned into the same token stream: text files and logs whole; JSON by a depth-first walk (array items
in order, each key then its value; strings are tokenized, numbers canonical), scanned twice, with
and without the keys, so that ``to_json(orient="records"/"columns")`` dumps are caught too;
safetensors by their tensor names and ``__metadata__``; ONNX by every string it holds. Tokens that
are only ever column names (never a cell value) are dropped from the stream, so a row printed as
``{"age": 34, "city": "paris"}`` or as a pandas ``Series`` is contiguous again. Then:

- a *row match* is every token of one input row, in order, contiguous in the stream: a row printed as
  a Python list, a CSV line, a JSON array or a ``DataFrame.to_string()`` line (the index in front is
  just one more token before the row). Rows need two non-empty cells, one of them in a
  high-cardinality column, and either three tokens or two high-cardinality cells: a row made only
  of low-cardinality values (``male, yes, 2``) is a category combination, not a record, and matching
  it would refuse ordinary group-by tables. One-column rows match only for text datasets (lines of
  at least 20 characters), and for cells of at least 20 characters that occur once in a
  high-cardinality column (free text such as reviews, e-mail addresses);
- a *run* is ``run_length`` consecutive non-empty values of one high-cardinality column, in input
  order, contiguous in the stream. Runs with fewer than ``run_length / 2`` distinct values and
  arithmetic progressions (row numbers, ids 1, 2, 3...) are not records and do not count.

A column is high-cardinality with at least ``min_column_cardinality`` distinct normalized values,
or, for tables of fewer than ``2 * min_column_cardinality`` rows, at least half as many as rows (and
at least 3), so that tiny datasets are protected too.

Float tensors (safetensors F32/F64; ONNX float and double tensors wherever the model holds them,
found by walking the whole message by its schema) are searched, best effort, for a window of up to 4
consecutive numeric cells of an input row and for ``run_length`` consecutive values of a
high-cardinality numeric column, compared bit for bit after conversion to the tensor's dtype
(windows of only 0/1/-1, fewer than two distinct values, arithmetic progressions, or with no
high-cardinality cell are ignored). ``U8``/``I8`` tensors (of both formats) are also read as Latin-1
text and scanned as tokens (raw CSV bytes smuggled as a tensor); every string of an ONNX model
(names, doc strings, metadata, attributes, string tensors) is scanned as tokens.

Matching uses hashing throughout: every pattern (row, run, line) has a 64-bit polynomial hash of its
token ids and an anchor (a hash of up to four of its tokens); a stream's window hashes are computed
with numpy prefix sums, anchors are looked up (a bitmap, then ``searchsorted``) and candidate windows
compared by their full hash. Building the index is linear in the cells; a scan is linear in the tokens.

What the scan cannot see (this is why DP exists): anything not verbatim. Paraphrased or reordered
cells, a subset of a row's cells, rows split across lines (wide ``DataFrame`` printouts wrapped or
elided with ``...``), floats printed with fewer digits than 6 decimals or in scientific notation by
a formatter, scaled/standardized/encoded values (one-hot, label encoding, embeddings), any encoding
or compression (base64, hex, zlib, bits hidden in weights), Python literals where keys interleave
values of several rows (``print(df.to_dict())``), float16/bfloat16 and integer tensors, and anything
beyond the caps below (indexed rows, numeric cells, tensor elements scanned). Hash collisions can
only cause false positives, never misses. The scan is a safety net against accidental leaks
(``print(df.head())``, ``to_csv`` of the training set, saving ``X_train``), not a guarantee against
a malicious algorithm.
"""

from datamarket.jobs.spec import output_hash

from .limits import METRICS_FILE, PolicyLimits, Verdict
from .outputs import check_outputs, manifest
from .raw_index import RawIndex, RawMatch
from .tokens import canonical_number, normalize_token, tokenize

__all__ = [
    "METRICS_FILE",
    "PolicyLimits",
    "RawIndex",
    "RawMatch",
    "Verdict",
    "canonical_number",
    "check_outputs",
    "manifest",
    "normalize_token",
    "output_hash",
    "tokenize",
]
