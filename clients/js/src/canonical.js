/**
 * Canonical JSON (RFC 8785, JCS) and the hashes made from it: a compute job's `jobHash` and a
 * result's `output_hash`. The bytes are those of the `canonicalize` package, the same as the
 * provider's `datamarket.canonical.canonical_json`.
 */

import canonicalize from "canonicalize";
import { sha256 } from "@noble/hashes/sha2.js";

import { toHex, utf8 } from "./bytes.js";
import { DatamarketError } from "./errors.js";

/**
 * A value the protocol's canonical JSON refuses: NaN, infinity, anything not JSON, and a number
 * JavaScript would write as an integer beyond +/-(2^53 - 1) (2^53 to 1e21: JavaScript cannot tell
 * such a double from an integer, and on the wire it is one).
 */
export class CanonicalJsonError extends DatamarketError {
  constructor(message, field) {
    super("invalid_request", message, { field });
  }
}

function check(value, where) {
  if (value === null || typeof value === "string" || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new CanonicalJsonError(`${where} is not a finite number`, where);
    // JSON.stringify writes these as integer literals, which the protocol refuses (a reader would
    // take them for integers beyond 2^53 - 1); from 1e21 on they are written 1e+21, a float.
    if (Number.isInteger(value) && !Number.isSafeInteger(value) && Math.abs(value) < 1e21) {
      throw new CanonicalJsonError(`${where} is an integer beyond +/-(2^53 - 1): send it as a string`, where);
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => check(item, `${where}[${i}]`));
    return;
  }
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) check(item, `${where}.${key}`);
    return;
  }
  throw new CanonicalJsonError(`${where} is not a JSON value`, where);
}

/** The RFC 8785 bytes of a JSON value; CanonicalJsonError (naming the field) for what JCS cannot carry. */
export function canonicalJson(value, where = "$") {
  check(value, where);
  return utf8(canonicalize(value));
}

/** `0x` + sha256 of the job's canonical JSON: the ComputeRequest's `jobHash`. */
export function jobHash(job) {
  return "0x" + toHex(sha256(canonicalJson(job, "job")));
}

/** sha256 (hex, no `0x`) of the canonical JSON of `{"outputs": manifest, "salt": salt}`. */
export function outputHash(outputs, salt) {
  return toHex(sha256(canonicalJson({ outputs, salt })));
}
