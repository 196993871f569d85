/**
 * Opening a compute job's result (docs/compute.md). Nothing is taken on the provider's word: the
 * manifest must hash, with its salt, to the `output_hash` that the job's receipt on chain commits to;
 * the decrypted archive must hash to `plaintext_sha256`; and it must hold exactly the manifest's
 * files, each with its size and sha256.
 */

import { sha256 } from "@noble/hashes/sha2.js";

import { outputHash } from "./canonical.js";
import { toHex } from "./bytes.js";
import { VerificationError } from "./errors.js";
import { unwrapKey } from "./keys.js";
import { decryptStream } from "./stream.js";
import { readTar } from "./tar.js";

const SHA256 = /^(?:0x)?([0-9a-fA-F]{64})$/;
const SALT = /^[0-9a-f]{64}$/;
const invalid = (message, details) => new VerificationError("invalid_result", message, details);

function safePath(name) {
  if (typeof name !== "string" || name === "") throw invalid("an output has no path");
  const text = name.startsWith("./") ? name.slice(2) : name;
  const parts = text.replace(/\/+$/, "").split("/");
  if (!text || text.startsWith("/") || text.includes("\\") || text.includes("\0") || parts.some((p) => ["", ".", ".."].includes(p))) {
    throw invalid(`output path ${JSON.stringify(name)} is not a safe relative path`);
  }
  return parts.join("/");
}

/**
 * Check a result's manifest and output hash: `{outputs: Map<path, {size, sha256}>, plaintextSha256}`.
 * VerificationError (`invalid_result`) when anything is off.
 */
export function checkResult(result) {
  if (result === null || typeof result !== "object" || typeof result.wrapped_key !== "object") {
    throw invalid("the provider's result has no wrapped key");
  }
  const digest = SHA256.exec(String(result.plaintext_sha256));
  if (!digest) throw invalid("the result's plaintext_sha256 is not a sha256");
  if (!Array.isArray(result.outputs)) throw invalid("the result's outputs is not a list");
  const outputs = new Map();
  for (const entry of result.outputs) {
    const path = safePath(entry?.path);
    const sha = SHA256.exec(String(entry.sha256));
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw invalid(`output ${path} has no valid size`);
    if (!sha) throw invalid(`output ${path} has no valid sha256`);
    if (outputs.has(path)) throw invalid(`output ${path} is listed twice`);
    outputs.set(path, { size: entry.size, sha256: sha[1].toLowerCase() });
  }
  if (typeof result.output_salt !== "string" || !SALT.test(result.output_salt)) {
    throw invalid("the result has no output_salt (64 lower-case hex digits)");
  }
  const expected = outputHash(result.outputs, result.output_salt);
  if (typeof result.output_hash !== "string" || result.output_hash.toLowerCase().replace(/^0x/, "") !== expected) {
    throw invalid("the result's output_hash is not the hash of its outputs");
  }
  return { outputs, plaintextSha256: digest[1].toLowerCase() };
}

/**
 * Open a result: `{files: Map<path, Uint8Array>, outputHash, outputSalt}`.
 * @param {object} result the provider's `GET /compute/{id}/result` answer
 * @param {Uint8Array} ciphertext the encrypted archive (by `result.cid`, or the provider's archive)
 * @param {Uint8Array} privateKey the job's one-time X25519 key
 * @param {string} context the job's result context (`resultContext`)
 */
export async function openResult(result, ciphertext, privateKey, context) {
  const { outputs, plaintextSha256 } = checkResult(result);
  if (Number.isSafeInteger(result.size) && ciphertext.length !== result.size) {
    throw invalid(`the encrypted result is ${ciphertext.length} bytes, the result states ${result.size}`);
  }
  const key = await unwrapKey(result.wrapped_key, privateKey, context);
  const archive = await decryptStream(ciphertext, key);
  if (toHex(sha256(archive)) !== plaintextSha256) {
    throw invalid("the decrypted result's sha256 differs from the result's plaintext_sha256");
  }
  const files = new Map();
  for (const member of readTar(archive)) {
    if (member.type === "dir") continue;
    const path = safePath(member.path);
    const expected = outputs.get(path);
    if (!expected) throw invalid(`result member ${path} is not among the result's outputs`);
    if (files.has(path)) throw invalid(`result member ${path} appears twice`);
    if (member.data.length !== expected.size) throw invalid(`output ${path} is ${member.data.length} bytes, the result states ${expected.size}`);
    if (toHex(sha256(member.data)) !== expected.sha256) throw invalid(`output ${path}'s sha256 differs from the result's`);
    files.set(path, member.data);
  }
  const missing = [...outputs.keys()].filter((path) => !files.has(path));
  if (missing.length) throw invalid(`the result archive lacks outputs: ${missing.join(", ")}`);
  return { files, outputHash: result.output_hash.toLowerCase().replace(/^0x/, ""), outputSalt: result.output_salt };
}
