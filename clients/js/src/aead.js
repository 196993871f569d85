/**
 * AES-256-GCM (12-byte nonce, 16-byte tag after the ciphertext): WebCrypto where the page has it,
 * else @noble/ciphers (a browser gives `crypto.subtle` only to secure contexts: https or localhost).
 * A failed authentication rejects; the caller names the failure.
 */

import { gcm } from "@noble/ciphers/aes.js";

const subtle = globalThis.crypto?.subtle;

/** A key for {@link seal} and {@link open}. */
export async function aesKey(raw) {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new TypeError("an AES-256 key is 32 bytes");
  if (!subtle) return { raw };
  return { raw, key: await subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]) };
}

export async function seal(key, nonce, plaintext, aad) {
  if (!key.key) return gcm(key.raw, nonce, aad).encrypt(plaintext);
  const params = { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 };
  return new Uint8Array(await subtle.encrypt(params, key.key, plaintext));
}

export async function open(key, nonce, sealed, aad) {
  if (!key.key) return gcm(key.raw, nonce, aad).decrypt(sealed);
  const params = { name: "AES-GCM", iv: nonce, additionalData: aad, tagLength: 128 };
  return new Uint8Array(await subtle.decrypt(params, key.key, sealed));
}
