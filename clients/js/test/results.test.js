import assert from "node:assert/strict";
import { test } from "node:test";

import { sha256 } from "@noble/hashes/sha2.js";

import { concat, toHex } from "../src/bytes.js";
import { outputHash } from "../src/canonical.js";
import { oneTimeKey, wrapKey } from "../src/keys.js";
import { checkResult, openResult } from "../src/results.js";
import { encryptStream } from "../src/stream.js";
import { readTar } from "../src/tar.js";

const utf8 = (s) => new TextEncoder().encode(s);

/** A ustar archive of `[path, bytes, flag]` entries, as Python's tarfile writes one. */
function tar(entries) {
  const blocks = [];
  for (const [path, data, flag = "0"] of entries) {
    const header = new Uint8Array(512);
    const put = (offset, text) => header.set(utf8(text), offset);
    put(0, path);
    put(100, "0000644\0");
    put(108, "0000000\0");
    put(116, "0000000\0");
    put(124, data.length.toString(8).padStart(11, "0") + "\0");
    put(136, "00000000000\0");
    put(148, "        ");
    put(156, flag);
    put(257, "ustar\0");
    put(263, "00");
    const sum = header.reduce((n, b) => n + b, 0);
    put(148, sum.toString(8).padStart(6, "0") + "\0 ");
    blocks.push(header, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return concat(blocks);
}

async function makeResult(files, { tamper } = {}) {
  const outputs = files.map(([path, data]) => ({ path, size: data.length, sha256: toHex(sha256(data)) }));
  const salt = "ab".repeat(32);
  const archive = tar(tamper?.archive ?? files);
  const contentKey = crypto.getRandomValues(new Uint8Array(32));
  const ciphertext = await encryptStream(archive, contentKey);
  const consumer = oneTimeKey();
  const context = "result:eip155:1:0xM:0xD:" + "0".repeat(32);
  const result = {
    job_id: "0".repeat(32),
    cid: "bafy",
    size: ciphertext.length,
    plaintext_size: archive.length,
    plaintext_sha256: toHex(sha256(archive)),
    wrapped_key: await wrapKey(contentKey, consumer.publicKey, context),
    outputs,
    output_salt: salt,
    output_hash: outputHash(outputs, salt),
  };
  return { result, ciphertext, privateKey: consumer.privateKey, context };
}

test("a result opens into exactly its manifest's files", async () => {
  const files = [["metrics.json", utf8('{"auc":0.9}')], ["model/weights.bin", new Uint8Array(700).fill(9)]];
  const { result, ciphertext, privateKey, context } = await makeResult(files);
  const opened = await openResult(result, ciphertext, privateKey, context);
  assert.deepEqual([...opened.files.keys()], ["metrics.json", "model/weights.bin"]);
  assert.deepEqual(opened.files.get("model/weights.bin"), files[1][1]);
  assert.equal(opened.outputHash, result.output_hash);
});

test("a manifest that does not hash to output_hash is refused before anything is decrypted", async () => {
  const { result } = await makeResult([["a.txt", utf8("a")]]);
  assert.throws(() => checkResult({ ...result, output_salt: "cd".repeat(32) }), /output_hash is not the hash/);
  assert.throws(() => checkResult({ ...result, outputs: [{ ...result.outputs[0], path: "../a.txt" }] }), /safe relative path/);
});

test("an archive that differs from its manifest is refused", async () => {
  const extra = await makeResult([["a.txt", utf8("a")]], { tamper: { archive: [["a.txt", utf8("a")], ["b.txt", utf8("b")]] } });
  await assert.rejects(openResult(extra.result, extra.ciphertext, extra.privateKey, extra.context), /not among the result's outputs/);
  const other = await makeResult([["a.txt", utf8("a")]], { tamper: { archive: [["a.txt", utf8("b")]] } });
  await assert.rejects(openResult(other.result, other.ciphertext, other.privateKey, other.context), /sha256 differs/);
  const link = await makeResult([["a.txt", utf8("a")]], { tamper: { archive: [["a.txt", new Uint8Array(0), "2"]] } });
  await assert.rejects(openResult(link.result, link.ciphertext, link.privateKey, link.context), /not a regular file/);
});

test("a result opens only with its key, its context and its whole ciphertext", async () => {
  const { result, ciphertext, privateKey, context } = await makeResult([["a.txt", utf8("a")]]);
  await assert.rejects(openResult(result, ciphertext, oneTimeKey().privateKey, context), { code: "key_unwrap_failed" });
  await assert.rejects(openResult(result, ciphertext, privateKey, context.replace("eip155:1", "eip155:2")), { code: "key_unwrap_failed" });
  await assert.rejects(openResult(result, ciphertext.slice(0, -1), privateKey, context), /bytes, the result states/);
  await assert.rejects(openResult({ ...result, size: undefined }, ciphertext.slice(0, -1), privateKey, context), { code: "decryption_failed" });
});

test("the tar reader refuses a bad checksum and a missing end", () => {
  const archive = tar([["a.txt", utf8("a")]]);
  assert.equal(readTar(archive)[0].path, "a.txt");
  assert.throws(() => readTar(archive.map((b, i) => (i === 0 ? 0x62 : b))), /checksum/);
  assert.throws(() => readTar(archive.slice(0, 1024)), /no end marker/);
});
