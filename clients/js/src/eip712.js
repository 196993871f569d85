/**
 * EIP-712 messages: the provider's fee quote (checked here, signed by the provider) and the
 * consumer's signed requests, `AccessRequest` and `ComputeRequest` (docs/data-path.md, docs/compute.md).
 *
 * A request is sent as the very `message` that was signed: addresses, bytes32 in `0x` hex, small
 * integers (serviceId) as numbers, uint64/uint256 (orderId, nonce) as decimal strings. The signer is
 * any ethers v6 Signer; in a browser its signTypedData goes to the wallet as eth_signTypedData_v4.
 */

import { getAddress, verifyTypedData } from "ethers";

import { VerificationError } from "./errors.js";

export const SERVICE_DOWNLOAD = 0;
export const SERVICE_COMPUTE = 1;
export const ZERO_HASH = "0x" + "00".repeat(32);

export const QUOTE_TYPES = {
  ProviderFee: [
    { name: "datatoken", type: "address" },
    { name: "consumer", type: "address" },
    { name: "serviceId", type: "uint8" },
    { name: "feeToken", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "validUntil", type: "uint64" },
    { name: "nonce", type: "uint64" },
    { name: "environment", type: "bytes32" },
  ],
};

const REQUEST_FIELDS = [
  { name: "datatoken", type: "address" },
  { name: "consumer", type: "address" },
  { name: "serviceId", type: "uint8" },
  { name: "orderTx", type: "bytes32" },
  { name: "orderId", type: "uint64" },
  { name: "consumerKey", type: "bytes32" },
];

export const ACCESS_TYPES = { AccessRequest: [...REQUEST_FIELDS, { name: "nonce", type: "uint256" }] };
export const COMPUTE_TYPES = {
  ComputeRequest: [...REQUEST_FIELDS, { name: "jobHash", type: "bytes32" }, { name: "nonce", type: "uint256" }],
};

/** The market's domain, under which providers sign fee quotes. */
export const quoteDomain = (chainId, market) => ({
  name: "Datamarket",
  version: "1",
  chainId: Number(chainId),
  verifyingContract: getAddress(market),
});

/** The provider's domain, under which consumers sign requests. */
export const providerDomain = (chainId, market) => ({
  name: "Datamarket Provider",
  version: "1",
  chainId: Number(chainId),
  verifyingContract: getAddress(market),
});

/**
 * A quote from the provider's `/fees` answer, its integers as bigints:
 * `{datatoken, consumer, serviceId, feeToken, amount, validUntil, nonce, environment}`.
 */
export function parseQuote(json) {
  try {
    return {
      datatoken: getAddress(json.datatoken),
      consumer: getAddress(json.consumer),
      serviceId: Number(json.serviceId),
      feeToken: getAddress(json.feeToken),
      amount: BigInt(String(json.amount)),
      validUntil: BigInt(String(json.validUntil)),
      nonce: BigInt(String(json.nonce)),
      environment: String(json.environment).toLowerCase(),
    };
  } catch (error) {
    throw new VerificationError("invalid_quote", `the provider's quote is malformed: ${error.message}`);
  }
}

/** The address that signed `quote` for this chain and market. */
export const quoteSigner = (quote, signature, chainId, market) =>
  verifyTypedData(quoteDomain(chainId, market), QUOTE_TYPES, quote, signature);

/** A nonce for a request: the time in milliseconds (the provider takes each once, near its clock). */
export const requestNonce = () => String(Date.now());

function requestMessage(fields) {
  return {
    datatoken: getAddress(fields.datatoken),
    consumer: getAddress(fields.consumer),
    serviceId: Number(fields.serviceId),
    orderTx: String(fields.orderTx).toLowerCase(),
    orderId: String(fields.orderId),
    consumerKey: String(fields.consumerKey).toLowerCase(),
    ...(fields.jobHash === undefined ? {} : { jobHash: String(fields.jobHash).toLowerCase() }),
    nonce: String(fields.nonce ?? requestNonce()),
  };
}

/**
 * Sign an AccessRequest: `{request, signature}`, `request` being the message signed.
 * @param {import("ethers").Signer} signer
 */
export async function signAccessRequest(signer, fields, chainId, market) {
  const request = requestMessage(fields);
  const signature = await signer.signTypedData(providerDomain(chainId, market), ACCESS_TYPES, request);
  return { request, signature };
}

/** Sign a ComputeRequest (`fields.jobHash` set): `{request, signature}`. */
export async function signComputeRequest(signer, fields, chainId, market) {
  if (fields.jobHash === undefined) throw new TypeError("a compute request names its jobHash");
  const request = requestMessage(fields);
  const signature = await signer.signTypedData(providerDomain(chainId, market), COMPUTE_TYPES, request);
  return { request, signature };
}
