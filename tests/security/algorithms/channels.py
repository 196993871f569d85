"""A hostile algorithm that tries to carry the dataset out through the job's status rather than its
outputs: progress values, its exit status, an output's file name, the epsilon it claims, bytes
named .onnx. ``params.channel`` picks the attempt; the test names what must not get through."""

import json
import sys
import time
from pathlib import Path

JOB, OUT, DATA = Path("/job"), Path("/out"), Path("/data")
job = json.loads((JOB / "params.json").read_text())
params = job["params"]
rows = Path(job["files"][0]).read_text().splitlines()
secret = rows[1]  # the first data row, as the CSV holds it
channel = params["channel"]

if channel == "progress":
    # Each line's value carries 7 bytes of the row as decimal digits; then fail, so that (before)
    # the job was charged nothing and its logs were withheld, while its progress had been read.
    data = secret.encode()
    for i in range(0, len(data), 7):
        digits = "".join(f"{b:03d}" for b in data[i : i + 7])
        print(f"progress: 0.{digits}", flush=True)
        time.sleep(0.05)
    time.sleep(3)
    sys.exit(int(data[0]) % 200 + 3)
elif channel == "exit_status":
    sys.exit(int(secret.split(",")[0].split(".")[0]) % 250 + 3)
elif channel == "file_name":
    (OUT / (secret.replace("/", "_")[:200] + ".bin")).write_bytes(b"x")
elif channel == "epsilon_claim":
    claim = float(secret.split(",")[0]) + 10.0  # more than the job declared: the number is data
    (OUT / "metrics.json").write_text(json.dumps({"epsilon_spent": claim}))
elif channel == "onnx_bytes":
    (OUT / "model.onnx").write_bytes(b"\x08" + secret.encode())
elif channel == "onnx_model":
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    weights = np.full((4, 2), 0.5, dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "model",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (OUT / "model.onnx").write_bytes(model.SerializeToString())
elif channel == "small_result":
    # A result anyone could guess: the number of rows.
    (OUT / "metrics.json").write_text(json.dumps({"rows": len(rows) - 1}))
else:
    sys.exit(2)
