// Conformance with the Python kernel: the bytes in DATAMARKET_JS_VECTORS were made by the Python
// code (tests/unit/test_js_client.py writes them and runs this file); this client must read them
// and produce the same hashes, contexts and signatures. What this client makes for the Python side
// to open is written to DATAMARKET_JS_ANSWERS. Skipped when run without those variables.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";

import { Wallet } from "ethers";

import { b64url, b64urlDecode, fromHex, toHex } from "../../src/bytes.js";
import {
  Gateway,
  accessContext,
  datasetId,
  decryptStream,
  encryptStream,
  jobHash,
  openResult,
  outputHash,
  parseQuote,
  quoteSigner,
  resultContext,
  signAccessRequest,
  signComputeRequest,
  unwrapKey,
  wrapKey,
} from "../../src/index.js";

const path = process.env.DATAMARKET_JS_VECTORS;
const skip = path ? false : "run by tests/unit/test_js_client.py (DATAMARKET_JS_VECTORS is not set)";
const vectors = path ? JSON.parse(readFileSync(path, "utf8")) : {};
const answers = {};

test("job and output hashes equal the Python kernel's", { skip }, () => {
  for (const { job, hash } of vectors.job_hashes) assert.equal(jobHash(job), hash, JSON.stringify(job));
  for (const { outputs, salt, hash } of vectors.output_hashes) assert.equal(outputHash(outputs, salt), hash);
});

test("dataset ids and key-wrap contexts equal the Python kernel's", { skip }, () => {
  const c = vectors.contexts;
  assert.equal(datasetId(c.chain_id, c.datatoken), c.dataset_id);
  assert.equal(accessContext(c.chain_id, c.datatoken, c.order_tx), c.access);
  assert.equal(resultContext(c.chain_id, c.market, c.datatoken, c.job_id), c.result);
});

test("keys wrapped by Python open here, and keys wrapped here are handed back", { skip }, async () => {
  const w = vectors.key_wrap;
  assert.equal(toHex(await unwrapKey(w.wrapped, fromHex(w.private_key), w.context)), w.key);
  await assert.rejects(unwrapKey(w.wrapped, fromHex(w.private_key), w.context + "x"), { code: "key_unwrap_failed" });
  answers.key_wrap = await wrapKey(fromHex(w.key), b64urlDecode(w.public_key), w.context);
});

test("streams encrypted by Python decrypt here, and streams encrypted here are handed back", { skip }, async () => {
  for (const s of vectors.streams) {
    assert.equal(toHex(await decryptStream(b64urlDecode(s.ciphertext), fromHex(s.key))), s.plaintext);
  }
  const s = vectors.streams.at(-1);
  answers.stream = b64url(await encryptStream(fromHex(s.plaintext), fromHex(s.key), { chunkSize: 1000 }));
});

test("EIP-712 requests signed here are byte-identical to the Python kernel's", { skip }, async () => {
  const e = vectors.eip712;
  const wallet = new Wallet(e.private_key);
  const access = await signAccessRequest(wallet, e.access.fields, e.chain_id, e.market);
  assert.equal(access.signature, e.access.signature);
  const compute = await signComputeRequest(wallet, e.compute.fields, e.chain_id, e.market);
  assert.equal(compute.signature, e.compute.signature);
  answers.access_request = access;
  const quote = parseQuote(e.quote.json);
  assert.equal(quoteSigner(quote, e.quote.signature, e.chain_id, e.market), e.quote.signer);
});

test("UnixFS files imported by Python read back through the gateway client", { skip }, async () => {
  for (const f of vectors.unixfs) {
    const blocks = new Map(Object.entries(f.blocks));
    const fetcher = async (url) => {
      const bytes = blocks.get(new URL(url).pathname.slice("/ipfs/".length));
      return bytes ? new Response(b64urlDecode(bytes)) : new Response("{}", { status: 404 });
    };
    const data = await new Gateway("http://gateway.test", { fetch: fetcher }).file(f.cid);
    assert.equal(data.length, f.size);
    assert.equal(toHex(data.subarray(0, 32)), f.head);
    const { sha256 } = await import("@noble/hashes/sha2.js");
    assert.equal(toHex(sha256(data)), f.sha256);
  }
});

test("a result packed by the worker's code opens here", { skip }, async () => {
  const r = vectors.result;
  const opened = await openResult(r.result, b64urlDecode(r.ciphertext), fromHex(r.private_key), r.context);
  assert.deepEqual(Object.fromEntries([...opened.files].map(([p, b]) => [p, toHex(b)])), r.files);
});

test("the answers for the Python side are written", { skip }, () => {
  writeFileSync(process.env.DATAMARKET_JS_ANSWERS, JSON.stringify(answers));
});
