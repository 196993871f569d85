/**
 * Errors of the client. Every error is a {@link DatamarketError} with a stable `code`:
 *
 *     DatamarketError                 code, details
 *     ├── ProviderError               the provider's JSON error: code, status (0: no answer), details
 *     ├── ContentError                a gateway block or file that is absent or not what its CID says
 *     └── VerificationError           a key, a ciphertext, a metadata document or a result that does
 *                                     not check out (decryption_failed, metadata_hash_mismatch, ...)
 */

export class DatamarketError extends Error {
  /**
   * @param {string} code stable, lower_snake_case
   * @param {string} message
   * @param {object} [details]
   */
  constructor(code, message, details = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** The provider refused a request (its `error.code`), or could not be reached (`provider_unavailable`, status 0). */
export class ProviderError extends DatamarketError {
  constructor(code, message, { status = 0, details = {} } = {}) {
    super(code, message, details);
    this.status = status;
  }
}

/** Content from a gateway: absent, unreachable, or bytes that do not hash to their CID. */
export class ContentError extends DatamarketError {}

/** Something that must check out and does not; its message never holds key material. */
export class VerificationError extends DatamarketError {}
