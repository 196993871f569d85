/**
 * The datamarket client: find a dataset, quote, buy and order, get its key, download and decrypt it,
 * or run a compute job on it and open the result. The same module runs in Node (>= 20) and in a
 * browser (through an import map, see importmap.json): fetch, WebCrypto, noble and ethers only.
 *
 *     const client = new DatamarketClient({ signer, market, gateway });
 *     const { data } = await client.download(datatoken);                    // quote, buy+order, access
 *     const job = await client.startJob(datatoken, { algorithm: "dp_stats", params: {}, epsilon: 1 });
 *     await client.waitForJob(job);
 *     const { files } = await client.jobResult(job);
 */

import { getAddress } from "ethers";
import { sha256 } from "@noble/hashes/sha2.js";

import { toHex } from "./bytes.js";
import { jobHash } from "./canonical.js";
import { Gateway } from "./content.js";
import { accessContext, datasetId, resultContext } from "./contexts.js";
import { Market } from "./contracts.js";
import {
  SERVICE_COMPUTE,
  SERVICE_DOWNLOAD,
  parseQuote,
  quoteSigner,
  signAccessRequest,
  signComputeRequest,
} from "./eip712.js";
import { ContentError, DatamarketError, VerificationError } from "./errors.js";
import { FINAL_STATES, checkJob, makeJob } from "./jobs.js";
import { consumerKeyHex, oneTimeKey, unwrapKey } from "./keys.js";
import { ProviderClient } from "./provider.js";
import { openResult } from "./results.js";
import { decryptStream } from "./stream.js";

export * from "./errors.js";
export { canonicalJson, jobHash, outputHash } from "./canonical.js";
export { Gateway, parseCid } from "./content.js";
export { accessContext, contentContext, datasetId, parseDatasetId, resultContext } from "./contexts.js";
export { Market } from "./contracts.js";
export * from "./eip712.js";
export { FINAL_STATES, checkJob, makeJob } from "./jobs.js";
export { consumerKeyHex, keyId, oneTimeKey, publicKeyOf, unwrapKey, wrapKey } from "./keys.js";
export { ProviderClient } from "./provider.js";
export { checkResult, openResult } from "./results.js";
export { decryptStream, encryptStream } from "./stream.js";

const MAX_METADATA_BYTES = 1 << 20;

export class DatamarketClient {
  /**
   * @param {object} options
   * @param {import("ethers").Signer} options.signer the consumer (a Wallet in Node, a BrowserProvider's signer in a page)
   * @param {string} options.market the market contract's address
   * @param {string} options.gateway an IPFS Trustless Gateway's URL
   * @param {string} [options.provider] the provider's URL (default: the one the dataset's metadata names)
   * @param {number} [options.fromBlock] the market's deployment block (where its events start)
   * @param {typeof fetch} [options.fetch]
   */
  constructor({ signer, market, gateway, provider, fromBlock = 0, fetch: fetcher }) {
    if (!signer) throw new TypeError("a signer is required");
    this.signer = signer;
    this.market = new Market(market, signer, { fromBlock });
    this.gateway = new Gateway(gateway, { fetch: fetcher });
    this.fetch = fetcher;
    this.providerUrl = provider;
    this.#datasets = new Map();
  }

  #datasets;
  #chainId;

  async chainId() {
    if (this.#chainId === undefined) this.#chainId = Number((await this.signer.provider.getNetwork()).chainId);
    return this.#chainId;
  }

  async consumer() {
    return getAddress(await this.signer.getAddress());
  }

  /**
   * A dataset: its chain record and its metadata document, fetched through the gateway and checked
   * against the sha256 on chain. `{datatoken, id, record, metadataCid, metadata}`.
   */
  async dataset(datatoken) {
    const address = getAddress(datatoken);
    if (!this.#datasets.has(address)) {
      const load = async () => {
        const [record, pointer, chainId] = await Promise.all([
          this.market.dataset(address),
          this.market.metadataPointer(address),
          this.chainId(),
        ]);
        const raw = await this.gateway.file(pointer.cid);
        if (raw.length > MAX_METADATA_BYTES) throw new ContentError("content_too_large", "the metadata document is too large");
        if (toHex(sha256(raw)) !== pointer.sha256) {
          throw new VerificationError("metadata_hash_mismatch", "the metadata document's sha256 differs from the chain's", {
            expected: pointer.sha256,
          });
        }
        const metadata = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
        return { datatoken: address, id: datasetId(chainId, address), record, metadataCid: pointer.cid, metadata };
      };
      const pending = load();
      this.#datasets.set(address, pending);
      pending.catch(() => this.#datasets.delete(address));
    }
    return this.#datasets.get(address);
  }

  /** The provider client of a dataset's service (the URL given, else the metadata's). */
  async provider(datatoken, serviceId) {
    if (this.providerUrl) return new ProviderClient(this.providerUrl, { fetch: this.fetch });
    const service = serviceOf(await this.dataset(datatoken), serviceId);
    return new ProviderClient(service.provider_url, { fetch: this.fetch });
  }

  /**
   * The provider's fee quote for this consumer and service, checked: it names what was asked and is
   * signed by the dataset's provider. `{quote (bigints), signature, json}`.
   */
  async quote(datatoken, serviceId = SERVICE_DOWNLOAD, { environment } = {}) {
    const address = getAddress(datatoken);
    const [consumer, dataset, chainId, provider] = await Promise.all([
      this.consumer(),
      this.dataset(address),
      this.chainId(),
      this.provider(address, serviceId),
    ]);
    serviceOf(dataset, serviceId);
    const answer = await provider.fees(address, consumer, serviceId, environment);
    const quote = parseQuote(answer.quote);
    if (quote.datatoken !== address || quote.consumer !== consumer || quote.serviceId !== serviceId) {
      throw new VerificationError("invalid_quote", "the provider's quote is for another dataset, consumer or service");
    }
    if (quoteSigner(quote, answer.signature, chainId, this.market.address) !== getAddress(dataset.record.provider)) {
      throw new VerificationError("invalid_quote", "the quote is not signed by the dataset's provider");
    }
    return { quote, signature: answer.signature, json: answer.quote };
  }

  /**
   * Order a service: quote, then buy one datatoken and order with it (or spend one held), approving
   * exactly what is due. `{orderTx, orderId}`; `maxPrice` (wei) caps what the datatoken may cost.
   */
  async buyAndOrder(datatoken, serviceId = SERVICE_DOWNLOAD, { environment, proof, maxPrice } = {}) {
    const { quote, signature } = await this.quote(datatoken, serviceId, { environment });
    const { orderTx, orderId } = await this.market.order(quote, signature, { proof, maxPrice });
    return { orderTx, orderId };
  }

  /** The content key of an ordered dataset, re-wrapped by the provider to a one-time key made here. */
  async access(datatoken, { orderTx, orderId, proof = [] }) {
    const address = getAddress(datatoken);
    const [consumer, chainId, provider] = await Promise.all([
      this.consumer(),
      this.chainId(),
      this.provider(address, SERVICE_DOWNLOAD),
    ]);
    const key = oneTimeKey();
    const fields = {
      datatoken: address, consumer, serviceId: SERVICE_DOWNLOAD, orderTx, orderId,
      consumerKey: consumerKeyHex(key.publicKey),
    };
    const { request, signature } = await signAccessRequest(this.signer, fields, chainId, this.market.address);
    const answer = await provider.access(request, signature, proof);
    return unwrapKey(answer.wrapped_key, key.privateKey, accessContext(chainId, address, request.orderTx));
  }

  /**
   * Download a dataset: order it (unless `orderTx` and `orderId` name an order already paid for),
   * get its key, fetch the ciphertext through the gateway (every block checked against its CID),
   * decrypt, and check the plaintext's sha256 against the metadata document's.
   * `{data, sha256, orderTx, orderId}`.
   */
  async download(datatoken, { orderTx, orderId, proof, maxPrice } = {}) {
    const dataset = await this.dataset(datatoken);
    serviceOf(dataset, SERVICE_DOWNLOAD);
    if (orderTx === undefined) ({ orderTx, orderId } = await this.buyAndOrder(datatoken, SERVICE_DOWNLOAD, { proof, maxPrice }));
    const file = dataset.metadata.files[0];
    let data;
    try {
      const key = await this.access(datatoken, { orderTx, orderId, proof });
      data = await decryptStream(await this.gateway.file(file.cid), key);
    } catch (error) {
      // The order is paid for and stays usable: say which it is, to download again with it.
      if (error instanceof DatamarketError) Object.assign(error.details, { order_tx: orderTx, order_id: String(orderId) });
      throw error;
    }
    const digest = toHex(sha256(data));
    if (digest !== String(file.plaintext_sha256).toLowerCase()) {
      throw new VerificationError("plaintext_mismatch", "the decrypted file's sha256 differs from the metadata document's");
    }
    return { data, sha256: digest, orderTx, orderId: BigInt(orderId) };
  }

  /**
   * Start a compute job: check it against the dataset's compute service and privacy budget, order
   * the compute service (unless `orderTx` and `orderId` are given: then nothing is checked), sign
   * a ComputeRequest naming the job's hash (sha256 of its RFC 8785 JSON) and a one-time key, and
   * post it. Resolves to the job's handle, which holds its bearer token and one-time private key
   * (keep it secret; JSON-serializable): `{jobId, token, privateKey, datatoken, chainId, market,
   * providerUrl, orderTx, orderId, job}`.
   */
  async startJob(datatoken, { algorithm, params, epsilon, environment, output, orderTx, orderId, proof = [] }) {
    const address = getAddress(datatoken);
    const job = makeJob({ algorithm, params, epsilon, environment, output });
    const hash = jobHash(job); // refuses what canonical JSON cannot carry before anything is paid
    const [consumer, chainId, provider] = await Promise.all([
      this.consumer(),
      this.chainId(),
      this.provider(address, SERVICE_COMPUTE),
    ]);
    if (orderTx === undefined) {
      const service = serviceOf(await this.dataset(address), SERVICE_COMPUTE);
      const remaining = job.epsilon ? (await provider.privacy(address)).remaining : undefined;
      checkJob(service, job, remaining);
      ({ orderTx, orderId } = await this.buyAndOrder(address, SERVICE_COMPUTE, { proof }));
    }
    const key = oneTimeKey();
    const fields = {
      datatoken: address, consumer, serviceId: SERVICE_COMPUTE, orderTx, orderId,
      consumerKey: consumerKeyHex(key.publicKey), jobHash: hash,
    };
    const { request, signature } = await signComputeRequest(this.signer, fields, chainId, this.market.address);
    let answer;
    try {
      answer = await provider.computeStart(request, signature, job, proof);
    } catch (error) {
      if (error instanceof DatamarketError) Object.assign(error.details, { order_tx: request.orderTx, order_id: request.orderId });
      throw error;
    }
    if (!/^[0-9a-f]{32}$/.test(answer.job_id ?? "") || typeof answer.token !== "string" || !answer.token) {
      throw new DatamarketError("compute_failed", "the provider's answer to the job has no valid job_id and token");
    }
    return {
      jobId: answer.job_id,
      token: answer.token,
      privateKey: toHex(key.privateKey),
      datatoken: address,
      chainId,
      market: this.market.address,
      providerUrl: provider.url,
      orderTx: request.orderTx,
      orderId: request.orderId,
      job,
    };
  }

  /** The job's status record (`state`, `progress`, `epsilon`, `error`, `output_hash`, ...). */
  jobStatus(handle) {
    return new ProviderClient(handle.providerUrl, { fetch: this.fetch }).computeStatus(handle.jobId, handle.token);
  }

  /** Poll until the job is final; its last status. `timeoutMs` (default 10 min) ends the wait with `job_timeout`. */
  async waitForJob(handle, { pollMs = 500, timeoutMs = 600_000, onUpdate } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.jobStatus(handle);
      onUpdate?.(status);
      if (FINAL_STATES.has(status.state)) return status;
      if (Date.now() >= deadline) {
        throw new DatamarketError("job_timeout", `job ${handle.jobId} did not finish within ${timeoutMs} ms`, { job_id: handle.jobId });
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /**
   * Open a finished job's result: the encrypted archive (through the gateway by its CID, else from
   * the provider), decrypted with the job's one-time key and checked against the manifest and the
   * `output_hash` its receipt commits to. `{files: Map<path, Uint8Array>, outputHash, outputSalt}`.
   */
  async jobResult(handle) {
    const provider = new ProviderClient(handle.providerUrl, { fetch: this.fetch });
    const result = await provider.computeResult(handle.jobId, handle.token);
    let ciphertext;
    if (typeof result.cid === "string" && result.cid) {
      try {
        ciphertext = await this.gateway.file(result.cid);
      } catch (error) {
        if (!(error instanceof ContentError) || error.code === "content_mismatch") throw error;
      }
    }
    ciphertext ??= await provider.computeArchive(handle.jobId, handle.token);
    const context = resultContext(handle.chainId, handle.market, handle.datatoken, handle.jobId);
    return openResult(result, ciphertext, handle.privateKey, context);
  }
}

function serviceOf(dataset, serviceId) {
  const service = (dataset.metadata.services ?? []).find((s) => s.id === serviceId);
  if (!service) throw new DatamarketError("unknown_service", `the dataset offers no service ${serviceId}`, { service_id: serviceId });
  return service;
}
