import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { render } from "../scripts/export-abi.js";

test("src/abi.js is what scripts/export-abi.js writes from the Python package's ABIs", () => {
  const current = readFileSync(new URL("../src/abi.js", import.meta.url), "utf8");
  assert.equal(current, render(), "src/abi.js is stale: run node clients/js/scripts/export-abi.js");
});
