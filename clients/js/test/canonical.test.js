import assert from "node:assert/strict";
import { test } from "node:test";

import { canonicalJson, jobHash, outputHash } from "../src/canonical.js";

const text = (value) => new TextDecoder().decode(canonicalJson(value));

test("floats are written as ECMAScript writes them (RFC 8785)", () => {
  assert.equal(text({ b: 1e-7, a: 1e-5 }), '{"a":0.00001,"b":1e-7}');
  assert.equal(text([0.1, 3.0, -0, 1.5e-300, 123456789.125]), "[0.1,3,0,1.5e-300,123456789.125]");
});

test("keys are sorted by UTF-16 code units and strings escaped minimally", () => {
  assert.equal(text({ "\u00e9": 1, z: 2, A: 3, "\u20ac": "\u20ac\n\u0001" }), '{"A":3,"z":2,"é":1,"€":"€\\n\\u0001"}');
});

test("numbers written as integers beyond 2^53 - 1, NaN and infinity are refused, naming the field", () => {
  assert.throws(() => canonicalJson({ params: { n: 2 ** 53 } }), { code: "invalid_request", details: { field: "$.params.n" } });
  assert.throws(() => canonicalJson([1e20]), { details: { field: "$[0]" } });
  assert.equal(text([1e21, -1e300]), "[1e+21,-1e+300]");
  assert.throws(() => canonicalJson({ x: [Number.NaN] }), { details: { field: "$.x[0]" } });
  assert.throws(() => canonicalJson({ x: Infinity }), /not a finite number/);
  assert.throws(() => canonicalJson({ x: 10n }), /not a JSON value/);
  assert.equal(text({ n: 2 ** 53 - 1 }), '{"n":9007199254740991}');
});

test("jobHash is 0x + sha256 of the job's canonical JSON", () => {
  const job = { algorithm: "dp_stats", params: { tol: 1e-7 }, epsilon: 1, environment: "cpu" };
  assert.equal(text(job), '{"algorithm":"dp_stats","environment":"cpu","epsilon":1,"params":{"tol":1e-7}}');
  assert.match(jobHash(job), /^0x[0-9a-f]{64}$/);
  assert.notEqual(jobHash(job), jobHash({ ...job, params: { tol: 1e-5 } }));
});

test("outputHash hashes the manifest with its salt", () => {
  const outputs = [{ path: "metrics.json", size: 2, sha256: "00".repeat(32) }];
  assert.notEqual(outputHash(outputs, "11".repeat(32)), outputHash(outputs, "22".repeat(32)));
  assert.match(outputHash(outputs, "11".repeat(32)), /^[0-9a-f]{64}$/);
});
