import assert from "node:assert/strict";
import { test } from "node:test";

import { Wallet, verifyTypedData } from "ethers";

import {
  ACCESS_TYPES,
  COMPUTE_TYPES,
  ProviderClient,
  ProviderError,
  parseQuote,
  providerDomain,
  quoteDomain,
  QUOTE_TYPES,
  quoteSigner,
  signAccessRequest,
  signComputeRequest,
} from "../src/index.js";

const MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const DATATOKEN = "0xa16E02E87b7454126E5E10d957A927A7F5B5d2be";

test("a request is sent as the message signed: uint64/uint256 as decimal strings, bytes32 in lower case", async () => {
  const wallet = Wallet.createRandom();
  const fields = {
    datatoken: DATATOKEN.toLowerCase(),
    consumer: wallet.address.toLowerCase(),
    serviceId: 0,
    orderTx: "0x" + "AB".repeat(32),
    orderId: 2n ** 63n,
    consumerKey: "0x" + "CD".repeat(32),
  };
  const { request, signature } = await signAccessRequest(wallet, fields, 31337, MARKET);
  assert.equal(request.orderId, "9223372036854775808");
  assert.match(request.nonce, /^[1-9][0-9]*$/);
  assert.equal(request.orderTx, "0x" + "ab".repeat(32));
  assert.equal(request.datatoken, DATATOKEN);
  assert.deepEqual(Object.keys(request), ACCESS_TYPES.AccessRequest.map((f) => f.name));
  assert.equal(verifyTypedData(providerDomain(31337, MARKET), ACCESS_TYPES, request, signature), wallet.address);
  assert.notEqual(verifyTypedData(providerDomain(1, MARKET), ACCESS_TYPES, request, signature), wallet.address);

  await assert.rejects(signComputeRequest(wallet, fields, 31337, MARKET), /names its jobHash/);
  const compute = await signComputeRequest(wallet, { ...fields, jobHash: "0x" + "11".repeat(32), nonce: 5 }, 31337, MARKET);
  assert.deepEqual(Object.keys(compute.request), COMPUTE_TYPES.ComputeRequest.map((f) => f.name));
  assert.equal(compute.request.nonce, "5");
});

test("a quote's signer is recovered under the market's domain; a malformed quote is refused", async () => {
  const provider = Wallet.createRandom();
  const json = {
    datatoken: DATATOKEN, consumer: DATATOKEN, serviceId: 1, feeToken: MARKET,
    amount: "1000000000000000001", validUntil: "1800000000", nonce: "18446744073709551615",
    environment: "0x" + "00".repeat(32),
  };
  const quote = parseQuote(json);
  assert.equal(quote.nonce, 2n ** 64n - 1n);
  const signature = await provider.signTypedData(quoteDomain(31337, MARKET), QUOTE_TYPES, quote);
  assert.equal(quoteSigner(quote, signature, 31337, MARKET), provider.address);
  assert.notEqual(quoteSigner({ ...quote, amount: 1n }, signature, 31337, MARKET), provider.address);
  assert.throws(() => parseQuote({ ...json, amount: "1.5" }), { code: "invalid_quote" });
});

test("a provider's refusal carries its code, status and details; no answer is provider_unavailable", async () => {
  const refusing = async () =>
    new Response(JSON.stringify({ error: { code: "nonce_used", message: "used", details: { field: "nonce" } } }), { status: 409 });
  const error = await new ProviderClient("http://p.test", { fetch: refusing }).info().catch((e) => e);
  assert.ok(error instanceof ProviderError);
  assert.deepEqual([error.code, error.status, error.details, error.message], ["nonce_used", 409, { field: "nonce" }, "used"]);

  const html = async () => new Response("<html>", { status: 502 });
  await assert.rejects(new ProviderClient("http://p.test", { fetch: html }).info(), { code: "provider_error", status: 502 });
  const down = async () => {
    throw new TypeError("fetch failed");
  };
  await assert.rejects(new ProviderClient("http://p.test", { fetch: down }).info(), { code: "provider_unavailable", status: 0 });

  const seen = [];
  const ok = async (url, init) => {
    seen.push([url, init.method, init.headers.Authorization, init.body]);
    return new Response(JSON.stringify({ state: "queued" }));
  };
  const client = new ProviderClient("http://p.test/", { fetch: ok });
  await client.computeStatus("ab".repeat(16), "tok");
  await client.fees(DATATOKEN, MARKET, 1);
  assert.deepEqual(seen[0].slice(0, 3), [`http://p.test/api/v1/compute/${"ab".repeat(16)}`, "GET", "Bearer tok"]);
  assert.deepEqual(JSON.parse(seen[1][3]), { datatoken: DATATOKEN, consumer: MARKET, service_id: 1 });
});

test("a job the dataset would refuse is refused before anything is paid", async () => {
  const { checkJob, makeJob } = await import("../src/jobs.js");
  const service = { compute: { require_dp: false, trusted_algorithms: ["aa".repeat(32)], privacy: { max_epsilon_per_job: 2 } } };
  const bundle = { bundle: "bafy", sha256: "aa".repeat(32) };
  checkJob(service, makeJob({ algorithm: bundle }), undefined);
  checkJob(service, makeJob({ algorithm: "dp_stats", epsilon: 1 }), 5);
  assert.throws(() => checkJob(service, makeJob({ algorithm: "dp_stats", epsilon: 3 }), 5), /limit per job/);
  assert.throws(() => checkJob(service, makeJob({ algorithm: "dp_stats", epsilon: 1.5 }), 1), /what is left/);
  assert.throws(() => checkJob(service, makeJob({ algorithm: { ...bundle, sha256: "bb".repeat(32) } }), 5), /does not trust/);
  assert.throws(() => checkJob({ compute: { require_dp: true } }, makeJob({ algorithm: "dp_stats" }), 5), /differentially private/);
  const any = { compute: { allow_any_algorithm: true } };
  const untrusted = { ...bundle, sha256: "cc".repeat(32) };
  assert.throws(() => checkJob(any, makeJob({ algorithm: untrusted, epsilon: 1 }), 5), /sample and aggregate/);
  checkJob(any, makeJob({ algorithm: untrusted, epsilon: 1, output: { shape: [1] } }), 5);
  assert.throws(() => checkJob(service, makeJob({ algorithm: bundle, output: { shape: [1] } }), 5), /only an algorithm/);
  assert.deepEqual(Object.keys(makeJob({ algorithm: "x" })), ["algorithm", "params", "epsilon", "environment"]);
  assert.throws(() => makeJob({ algorithm: 5 }), TypeError);
});
