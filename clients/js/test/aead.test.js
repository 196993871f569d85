import assert from "node:assert/strict";
import { test } from "node:test";

import { aesKey, open, seal } from "../src/aead.js";

test("WebCrypto and the noble fallback seal and open the same bytes", async () => {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const aad = new TextEncoder().encode("context");
  const plaintext = crypto.getRandomValues(new Uint8Array(100));
  const webcrypto = await aesKey(raw);
  assert.ok(webcrypto.key, "Node has WebCrypto");
  const noble = { raw }; // what aesKey gives where crypto.subtle is missing
  const sealed = await seal(webcrypto, nonce, plaintext, aad);
  assert.deepEqual(await seal(noble, nonce, plaintext, aad), sealed);
  assert.deepEqual(await open(noble, nonce, sealed, aad), plaintext);
  await assert.rejects(async () => open(noble, nonce, sealed, new Uint8Array(0)));
  await assert.rejects(open(webcrypto, nonce, sealed, new Uint8Array(0)));
});
