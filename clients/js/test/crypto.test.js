import assert from "node:assert/strict";
import { test } from "node:test";

import { b64url, b64urlDecode, fromHex, toHex } from "../src/bytes.js";
import { keyId, oneTimeKey, unwrapKey, wrapKey } from "../src/keys.js";
import { decryptStream, encryptStream } from "../src/stream.js";

test("base64url is strict: no padding, no other characters, one text per byte string", () => {
  for (const n of [0, 1, 2, 3, 31, 32, 48]) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    assert.deepEqual(b64urlDecode(b64url(bytes)), bytes);
  }
  assert.throws(() => b64urlDecode("AA=="), TypeError);
  assert.throws(() => b64urlDecode("A"), TypeError);
  assert.throws(() => b64urlDecode("AB"), /non-canonical/);
  assert.throws(() => b64urlDecode("a+b/"), TypeError);
});

test("a wrapped key opens only with its key and its context", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const recipient = oneTimeKey();
  const wrapped = await wrapKey(key, recipient.publicKey, "access:ctx");
  assert.equal(wrapped.key_id, keyId(recipient.publicKey));
  assert.deepEqual(await unwrapKey(wrapped, recipient.privateKey, "access:ctx"), key);
  assert.deepEqual(await unwrapKey(wrapped, toHex(recipient.privateKey), "access:ctx"), key);
  await assert.rejects(unwrapKey(wrapped, recipient.privateKey, "access:other"), { code: "key_unwrap_failed" });
  await assert.rejects(unwrapKey(wrapped, oneTimeKey().privateKey, "access:ctx"), /not wrapped to this key/);
  const tampered = { ...wrapped, ct: b64url(b64urlDecode(wrapped.ct).map((b, i) => (i === 0 ? b ^ 1 : b))) };
  await assert.rejects(unwrapKey(tampered, recipient.privateKey, "access:ctx"), { code: "key_unwrap_failed" });
  await assert.rejects(unwrapKey({ ...wrapped, extra: 1 }, recipient.privateKey, "access:ctx"), { code: "key_unwrap_failed" });
});

test("the stream round-trips at every size around the chunk size", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  for (const size of [0, 1, 15, 16, 17, 32, 33]) {
    const plaintext = crypto.getRandomValues(new Uint8Array(size));
    const ciphertext = await encryptStream(plaintext, key, { chunkSize: 16 });
    assert.equal(ciphertext.length, 17 + size + Math.max(1, Math.ceil(size / 16)) * 16);
    assert.deepEqual(await decryptStream(ciphertext, key), plaintext);
  }
});

test("a truncated, extended, reordered or edited stream fails", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const plaintext = crypto.getRandomValues(new Uint8Array(48));
  const ciphertext = await encryptStream(plaintext, key, { chunkSize: 16 });
  const sealed = 32;
  const cases = {
    truncated: ciphertext.slice(0, 17 + 2 * sealed),
    extended: new Uint8Array([...ciphertext, ...ciphertext.slice(17, 17 + sealed)]),
    reordered: new Uint8Array([...ciphertext.slice(0, 17), ...ciphertext.slice(17 + sealed, 17 + 2 * sealed), ...ciphertext.slice(17, 17 + sealed), ...ciphertext.slice(17 + 2 * sealed)]),
    edited: ciphertext.map((b, i) => (i === 40 ? b ^ 1 : b)),
    header: ciphertext.map((b, i) => (i === 12 ? b ^ 1 : b)),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    await assert.rejects(decryptStream(bytes, key), { code: "decryption_failed" }, name);
  }
  await assert.rejects(decryptStream(ciphertext, crypto.getRandomValues(new Uint8Array(32))), { code: "decryption_failed" });
  await assert.rejects(decryptStream(fromHex("00".repeat(17)), key), /bad magic/);
  await assert.rejects(decryptStream(ciphertext.slice(0, 17), key), /no chunk/);
});
