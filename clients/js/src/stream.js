/**
 * The stream format of dataset content and job results (docs/data-path.md), AES-256-GCM in chunks:
 *
 *     header  = "DMENC" | version u8 (1) | chunk_size u32 BE | nonce_prefix (7 bytes)     17 bytes
 *     chunk_i = AES-256-GCM(key, nonce = nonce_prefix | i u32 BE | last u8, aad = header, plaintext_i)
 *
 * Every chunk holds `chunk_size` plaintext bytes but the last, which may be shorter (an empty
 * plaintext is one empty last chunk). Reordered, dropped, appended, truncated or edited bytes fail
 * with a VerificationError (`decryption_failed`).
 */

import { aesKey, open, seal } from "./aead.js";
import { concat } from "./bytes.js";
import { VerificationError } from "./errors.js";

export const ALGORITHM = "AES-256-GCM-STREAM-1";
const MAGIC = [0x44, 0x4d, 0x45, 0x4e, 0x43]; // "DMENC"
const VERSION = 1;
export const HEADER_SIZE = 17;
const TAG_SIZE = 16;
const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;

const failed = (message, details) => new VerificationError("decryption_failed", message, details);


function nonce(header, index, last) {
  const out = new Uint8Array(12);
  out.set(header.subarray(HEADER_SIZE - 7, HEADER_SIZE));
  new DataView(out.buffer).setUint32(7, index);
  out[11] = last ? 1 : 0;
  return out;
}

/** Parse and check a header: `{chunkSize}`; VerificationError when this reader does not accept it. */
export function parseHeader(bytes) {
  if (bytes.length < HEADER_SIZE) throw failed(`truncated header: ${bytes.length} of ${HEADER_SIZE} bytes`, { reason: "truncated_header" });
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw failed("not a datamarket encrypted stream (bad magic)", { reason: "bad_magic" });
  if (bytes[5] !== VERSION) throw failed(`unsupported stream version ${bytes[5]}`, { reason: "unsupported_version" });
  const chunkSize = new DataView(bytes.buffer, bytes.byteOffset + 6, 4).getUint32(0);
  if (chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) throw failed(`invalid chunk size ${chunkSize} in header`, { reason: "bad_chunk_size" });
  return { chunkSize };
}

/** The plaintext of a whole encrypted stream, all or nothing. */
export async function decryptStream(ciphertext, key) {
  const aes = await aesKey(key);
  const { chunkSize } = parseHeader(ciphertext);
  const header = ciphertext.slice(0, HEADER_SIZE);
  const sealedSize = chunkSize + TAG_SIZE;
  const body = ciphertext.subarray(HEADER_SIZE);
  if (body.length === 0) throw failed("truncated: no chunk after the header", { reason: "truncated", chunk: 0 });
  const count = Math.ceil(body.length / sealedSize);
  const parts = [];
  for (let index = 0; index < count; index++) {
    const sealed = body.subarray(index * sealedSize, (index + 1) * sealedSize);
    const last = index === count - 1;
    if (sealed.length < TAG_SIZE) throw failed(`truncated: chunk ${index} is shorter than its tag`, { reason: "truncated", chunk: index });
    try {
      parts.push(await open(aes, nonce(header, index, last), sealed, header));
    } catch {
      throw failed(`chunk ${index} failed authentication: wrong key, or the data was modified, reordered or truncated`, {
        reason: "authentication_failed",
        chunk: index,
      });
    }
  }
  return concat(parts);
}

/** Encrypt a plaintext in the stream format (for round trips and tests; publishers use the CLI). */
export async function encryptStream(plaintext, key, { chunkSize = DEFAULT_CHUNK_SIZE, noncePrefix } = {}) {
  const aes = await aesKey(key);
  const header = new Uint8Array(HEADER_SIZE);
  header.set(MAGIC);
  header[5] = VERSION;
  new DataView(header.buffer).setUint32(6, chunkSize);
  header.set(noncePrefix ?? crypto.getRandomValues(new Uint8Array(7)), 10);
  const count = Math.max(1, Math.ceil(plaintext.length / chunkSize));
  const parts = [header];
  for (let index = 0; index < count; index++) {
    const chunk = plaintext.subarray(index * chunkSize, (index + 1) * chunkSize);
    parts.push(await seal(aes, nonce(header, index, index === count - 1), chunk, header));
  }
  return concat(parts);
}
