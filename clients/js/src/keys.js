/**
 * Key wrapping (docs/data-path.md): a 32-byte key encrypted to an X25519 public key.
 *
 * The sender makes an ephemeral X25519 key, derives a 32-byte key with HKDF-SHA256 (salt =
 * ephemeral public || recipient public, info = `datamarket/wrap/v1|` + context) and encrypts the key
 * with AES-256-GCM (12-byte nonce, associated data = context, the 16-byte tag after the ciphertext).
 * JSON form, every byte string base64url without padding:
 *
 *     {"scheme": "X25519-HKDF-SHA256-A256GCM", "key_id": "<16 hex>", "epk", "nonce", "ct"}
 *
 * `key_id` is the first 8 bytes of sha256(recipient public key), hex. A consumer makes a one-time key
 * per request ({@link oneTimeKey}) and opens the provider's (or worker's) answer with {@link unwrapKey}.
 */

import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

import { aesKey, open, seal } from "./aead.js";
import { b64url, b64urlDecode, concat, fromHex, toHex, utf8 } from "./bytes.js";
import { VerificationError } from "./errors.js";

export const SCHEME = "X25519-HKDF-SHA256-A256GCM";
const INFO_PREFIX = "datamarket/wrap/v1|";
const FIELDS = ["ct", "epk", "key_id", "nonce", "scheme"];
const SIZES = { epk: 32, nonce: 12, ct: 48 };

const unwrapFailed = (message) => new VerificationError("key_unwrap_failed", message);

/** A fresh X25519 key pair: `{privateKey, publicKey}` (32 raw bytes each). */
export function oneTimeKey() {
  const privateKey = x25519.utils.randomSecretKey();
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/** The raw public key of a raw private key. */
export const publicKeyOf = (privateKey) => x25519.getPublicKey(privateKey);

/** First 8 bytes of sha256(public key), as 16 hex digits. */
export const keyId = (publicKey) => toHex(sha256(publicKey).slice(0, 8));

/** The public key as the requests carry it (`consumerKey`): `0x` + 64 hex digits. */
export const consumerKeyHex = (publicKey) => "0x" + toHex(publicKey);

function derive(shared, epk, recipient, context) {
  return hkdf(sha256, shared, concat([epk, recipient]), utf8(INFO_PREFIX + context), 32);
}

function checkContext(context) {
  if (typeof context !== "string" || context === "") throw new TypeError("the context is a non-empty string");
  return utf8(context);
}

async function aesGcm(direction, key, nonce, data, aad) {
  const aes = await aesKey(key);
  return direction === "encrypt" ? seal(aes, nonce, data, aad) : open(aes, nonce, data, aad);
}

/**
 * Wrap a 32-byte key to `recipientPublic` under `context` (what a provider or worker does; here for
 * round trips and tests). Resolves to the JSON form.
 */
export async function wrapKey(key, recipientPublic, context, { ephemeral, nonce } = {}) {
  const aad = checkContext(context);
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new TypeError("a wrapped key is 32 bytes");
  const secret = ephemeral ?? x25519.utils.randomSecretKey();
  const epk = x25519.getPublicKey(secret);
  const iv = nonce ?? crypto.getRandomValues(new Uint8Array(12));
  const shared = x25519.getSharedSecret(secret, recipientPublic);
  const ct = await aesGcm("encrypt", derive(shared, epk, recipientPublic, context), iv, key, aad);
  return { scheme: SCHEME, key_id: keyId(recipientPublic), epk: b64url(epk), nonce: b64url(iv), ct: b64url(ct) };
}

/**
 * The 32-byte key inside `wrapped`, opened with `privateKey` under `context`. VerificationError
 * (`key_unwrap_failed`) for anything that does not open; the message never says which part failed.
 */
export async function unwrapKey(wrapped, privateKey, context) {
  const aad = checkContext(context);
  const recipient = x25519.getPublicKey(typeof privateKey === "string" ? fromHex(privateKey) : privateKey);
  if (
    wrapped === null ||
    typeof wrapped !== "object" ||
    Object.keys(wrapped).sort().join() !== FIELDS.join() ||
    wrapped.scheme !== SCHEME
  ) {
    throw unwrapFailed(`not a wrapped key of scheme ${SCHEME}`);
  }
  if (wrapped.key_id !== keyId(recipient)) throw unwrapFailed("the key was not wrapped to this key");
  const raw = {};
  for (const [name, size] of Object.entries(SIZES)) {
    try {
      raw[name] = b64urlDecode(wrapped[name]);
    } catch {
      throw unwrapFailed("a wrapped-key field is not base64url");
    }
    if (raw[name].length !== size) throw unwrapFailed("a wrapped-key field has the wrong length");
  }
  try {
    const secret = typeof privateKey === "string" ? fromHex(privateKey) : privateKey;
    const shared = x25519.getSharedSecret(secret, raw.epk);
    return await aesGcm("decrypt", derive(shared, raw.epk, recipient, context), raw.nonce, raw.ct, aad);
  } catch {
    throw unwrapFailed("the wrapped key does not open with this key and context");
  }
}
