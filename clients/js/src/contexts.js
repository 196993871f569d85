/**
 * Dataset ids and the contexts a key wrap is bound to (docs/data-path.md): a wrap opens only under
 * the context it was made for. Addresses are written checksummed, whatever case the caller passes.
 */

import { getAddress } from "ethers";

const JOB_ID = /^[0-9a-f]{32}$/;
const TX_HASH = /^0x[0-9a-fA-F]{64}$/;

function chain(chainId) {
  const n = Number(chainId);
  if (!Number.isSafeInteger(n) || n <= 0) throw new TypeError(`chain id must be a positive integer, got ${chainId}`);
  return n;
}

/** `eip155:<chainId>/<checksummed datatoken>`. */
export function datasetId(chainId, datatoken) {
  return `eip155:${chain(chainId)}/${getAddress(datatoken)}`;
}

/** `{chainId, datatoken}` of a dataset id. */
export function parseDatasetId(id) {
  const match = /^eip155:([1-9][0-9]*)\/(0x[0-9a-fA-F]{40})$/.exec(String(id));
  if (!match) throw new TypeError(`not a dataset id (eip155:<chainId>/<address>): ${id}`);
  return { chainId: Number(match[1]), datatoken: getAddress(match[2]) };
}

/**
 * A publisher's wrap of a dataset's content key to its provider:
 * `content:<offer>:eip155:<chainId>:<market>:<datatoken>`, offer `download` or `compute`.
 */
export function contentContext(chainId, market, datatoken, offer) {
  if (offer !== "download" && offer !== "compute") throw new TypeError(`offer must be "download" or "compute", got ${offer}`);
  return `content:${offer}:eip155:${chain(chainId)}:${getAddress(market)}:${getAddress(datatoken)}`;
}

/** The provider's re-wrap of a content key to a consumer: `access:eip155:<chainId>/<datatoken>:<order tx>`. */
export function accessContext(chainId, datatoken, orderTx) {
  if (!TX_HASH.test(orderTx)) throw new TypeError("order tx must be a 0x-prefixed 32-byte hex hash");
  return `access:${datasetId(chainId, datatoken)}:${orderTx}`;
}

/** The worker's wrap of a job's result key: `result:eip155:<chainId>:<market>:<datatoken>:<job id>`. */
export function resultContext(chainId, market, datatoken, jobId) {
  if (!JOB_ID.test(jobId)) throw new TypeError("job id must be 32 lowercase hex characters");
  return `result:eip155:${chain(chainId)}:${getAddress(market)}:${getAddress(datatoken)}:${jobId}`;
}
