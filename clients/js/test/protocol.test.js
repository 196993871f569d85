// The protocol's test vectors (docs/protocol/*.json, written by scripts/protocol_vectors.py from the
// Python code): this client must compute every one of them.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";

import canonicalize from "canonicalize";
import { Signature, TypedDataEncoder, Wallet, parseUnits, verifyTypedData } from "ethers";

import { b64url, fromHex, toHex } from "../src/bytes.js";
import {
  ACCESS_TYPES,
  COMPUTE_TYPES,
  QUOTE_TYPES,
  accessContext,
  canonicalJson,
  contentContext,
  datasetId,
  decryptStream,
  encryptStream,
  jobHash,
  keyId,
  outputHash,
  parseQuote,
  providerDomain,
  quoteDomain,
  quoteSigner,
  resultContext,
  signAccessRequest,
  signComputeRequest,
  unwrapKey,
  wrapKey,
} from "../src/index.js";

const folder = new URL("../../../docs/protocol/", import.meta.url);
const skip = existsSync(folder) ? false : "docs/protocol/ is not beside this client";
const load = (name) => JSON.parse(readFileSync(new URL(`${name}.json`, folder), "utf8"));
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const text = (bytes) => new TextDecoder().decode(bytes);
const sha256hex = async (bytes) => toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));

/** Whether a parsed value holds a number JavaScript writes as an integer beyond 2^53 - 1. */
const wideInteger = (value) =>
  typeof value === "number"
    ? Number.isInteger(value) && !Number.isSafeInteger(value) && Math.abs(value) < 1e21
    : value !== null && typeof value === "object" && Object.values(value).some(wideInteger);

test("canonical JSON", { skip }, async () => {
  const { cases, refused } = load("canonical-json");
  for (const c of cases) {
    const value = JSON.parse(c.input);
    if (wideInteger(value)) {
      // A JSON float such as 1e20 parses to a double JavaScript cannot tell from an integer, and
      // would send as one: the client refuses it (the canonical bytes themselves agree).
      assert.throws(() => canonicalJson(value), { code: "invalid_request" }, c.name);
      assert.equal(canonicalize(value), c.canonical, c.name);
      continue;
    }
    const bytes = canonicalJson(value);
    assert.equal(text(bytes), c.canonical, c.name);
    assert.equal(await sha256hex(bytes), c.sha256, c.name);
  }
  for (const c of refused) {
    assert.throws(() => canonicalJson(JSON.parse(c.input)), { code: "invalid_request", details: { field: c.field } }, c.name);
  }
});

test("dataset ids and key-wrap contexts", { skip }, () => {
  const { dataset_ids: ids, contexts: c } = load("dataset-id");
  for (const v of ids) assert.equal(datasetId(v.chain_id, v.datatoken), v.dataset_id);
  assert.equal(contentContext(c.chain_id, c.market, c.datatoken, "download"), c.content_download);
  assert.equal(contentContext(c.chain_id, c.market, c.datatoken, "compute"), c.content_compute);
  assert.equal(accessContext(c.chain_id, c.datatoken, c.order_tx), c.access);
  assert.equal(resultContext(c.chain_id, c.market, c.datatoken, c.job_id), c.result);
});

test("EIP-712 domains, digests and signatures", { skip }, async () => {
  const v = load("eip712");
  const domains = {
    provider: providerDomain(v.domains.provider.chainId, v.domains.provider.verifyingContract),
    market: quoteDomain(v.domains.market.chainId, v.domains.market.verifyingContract),
  };
  for (const [name, domain] of Object.entries(domains)) {
    assert.equal(TypedDataEncoder.hashDomain(domain), v.domains[name].separator, name);
  }
  const types = { AccessRequest: ACCESS_TYPES, ComputeRequest: COMPUTE_TYPES, ProviderFee: QUOTE_TYPES };
  for (const [name, fields] of Object.entries(types)) {
    assert.deepEqual(fields[name], v.types[name].fields, name);
    assert.equal(TypedDataEncoder.from(fields).encodeType(name), v.types[name].type_string, name);
  }
  for (const [name, s] of Object.entries(v.signed)) {
    const domain = domains[s.domain];
    for (const message of [s.message, s.wallet_message]) {
      assert.equal(TypedDataEncoder.hash(domain, types[name], message), s.digest, name);
      assert.equal(verifyTypedData(domain, types[name], message, s.signature), s.signer, name);
    }
    if (s.signature_v01) assert.equal(verifyTypedData(domain, types[name], s.message, s.signature_v01), s.signer);
    // The provider refuses a high s (EIP-2), as ethers does; what ethers signs has a low one.
    assert.throws(() => Signature.from(s.refused_high_s).s, /non-canonical s/, name);
    assert.ok(BigInt(Signature.from(s.signature).s) <= HALF_N, name);
  }
  const wallet = new Wallet(v.signed.AccessRequest.signer_private_key);
  const chainId = v.domains.provider.chainId;
  const market = v.domains.provider.verifyingContract;
  const access = await signAccessRequest(wallet, v.signed.AccessRequest.wallet_message, chainId, market);
  assert.equal(access.signature, v.signed.AccessRequest.signature);
  const c = v.signed.ComputeRequest;
  assert.equal(jobHash(c.job), c.message.jobHash);
  const compute = await signComputeRequest(wallet, c.wallet_message, chainId, market);
  assert.equal(compute.signature, c.signature);
  const q = v.signed.ProviderFee;
  assert.equal(quoteSigner(parseQuote(q.wallet_message), q.signature, chainId, market), q.signer);
});

test("key wrapping: known answers, unwraps and refusals", { skip }, async () => {
  const v = load("key-wrap");
  for (const w of v.wrap) {
    assert.equal(keyId(fromHex(w.recipient_public_key)), w.key_id, w.name);
    const wrapped = await wrapKey(fromHex(w.content_key), fromHex(w.recipient_public_key), w.context, {
      ephemeral: fromHex(w.ephemeral_private_key),
      nonce: fromHex(w.nonce),
    });
    assert.deepEqual(wrapped, w.wrapped, w.name);
    assert.equal(wrapped.ct, b64url(fromHex(w.ciphertext_and_tag)), w.name);
  }
  for (const u of v.unwrap) {
    assert.equal(toHex(await unwrapKey(u.wrapped, fromHex(u.recipient_private_key), u.context)), u.content_key);
  }
  for (const u of v.unwrap_refused) {
    await assert.rejects(unwrapKey(u.wrapped, fromHex(u.recipient_private_key), u.context), { code: "key_unwrap_failed" }, u.why);
  }
});

test("the stream format: known answers and refusals", { skip }, async () => {
  const v = load("stream");
  for (const c of v.cases) {
    const ciphertext = await encryptStream(fromHex(c.plaintext), fromHex(c.key), {
      chunkSize: c.chunk_size,
      noncePrefix: fromHex(c.nonce_prefix),
    });
    assert.equal(toHex(ciphertext.subarray(0, 17)), c.header, c.name);
    assert.equal(toHex(ciphertext), c.ciphertext, c.name);
    assert.equal(toHex(await decryptStream(fromHex(c.ciphertext), fromHex(c.key))), c.plaintext, c.name);
  }
  for (const r of v.refused) {
    await assert.rejects(decryptStream(fromHex(r.ciphertext), fromHex(r.key)), { code: "decryption_failed" }, r.why);
  }
});

test("job hashes and output hashes", { skip }, () => {
  for (const c of load("job-hash").cases) {
    assert.equal(text(canonicalJson(c.job)), c.canonical, c.name);
    assert.equal(jobHash(c.job), c.job_hash, c.name);
  }
  for (const c of load("output-hash").cases) {
    assert.equal(text(canonicalJson({ outputs: c.outputs, salt: c.salt })), c.canonical);
    assert.equal(outputHash(c.outputs, c.salt), c.output_hash);
  }
});

test("token amounts in smallest units", { skip }, () => {
  for (const a of load("units").amounts) {
    assert.equal(parseUnits(a.tokens ?? String(a.datatokens), a.decimals).toString(), a.smallest_units);
  }
});
