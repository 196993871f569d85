// The client against a live local market (tests/integration/clients/test_js_client.py starts it,
// publishes the dataset and runs this file). Environment: DATAMARKET_RPC_URL, DATAMARKET_MARKET,
// DATAMARKET_GATEWAY_URL, DATAMARKET_DATATOKEN, DATAMARKET_PRIVATE_KEY (a dev key), DATAMARKET_BUNDLE_CID,
// DATAMARKET_BUNDLE_SHA256 and DATAMARKET_JS_REPORT (where the results go for the Python side).
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { test } from "node:test";

import { JsonRpcProvider, Wallet } from "ethers";

import { DatamarketClient, SERVICE_DOWNLOAD } from "../../src/index.js";

const env = process.env;
const skip = env.DATAMARKET_RPC_URL ? false : "run by tests/integration/clients/test_js_client.py";
const report = {};

function client() {
  const rpc = new JsonRpcProvider(env.DATAMARKET_RPC_URL, undefined, { staticNetwork: true, pollingInterval: 100 });
  return new DatamarketClient({
    signer: new Wallet(env.DATAMARKET_PRIVATE_KEY, rpc),
    market: env.DATAMARKET_MARKET,
    gateway: env.DATAMARKET_GATEWAY_URL,
  });
}

test("download: quote, buy and order, access, fetch through the gateway, decrypt", { skip, timeout: 120_000 }, async () => {
  const c = client();
  const datatoken = env.DATAMARKET_DATATOKEN;
  const dataset = await c.dataset(datatoken);
  assert.equal(dataset.metadata.files.length, 1);

  const { quote } = await c.quote(datatoken, SERVICE_DOWNLOAD);
  assert.equal(quote.consumer, await c.consumer());

  const { data, sha256, orderTx, orderId } = await c.download(datatoken);
  assert.equal(sha256, dataset.metadata.files[0].plaintext_sha256);
  assert.match(orderTx, /^0x[0-9a-f]{64}$/);
  report.download = { sha256, size: data.length, orderTx, orderId: String(orderId) };

  // The same order gives the key again (a second access with a fresh one-time key and nonce).
  const again = await c.download(datatoken, { orderTx, orderId });
  assert.equal(again.sha256, sha256);

  // A wrong order id is the provider's refusal, with its code.
  await assert.rejects(c.access(datatoken, { orderTx, orderId: orderId + 100n }), (error) => {
    assert.equal(error.name, "ProviderError");
    assert.match(error.code, /^[a-z_]+$/);
    assert.ok(error.status >= 400 && error.status < 500, String(error.status));
    return true;
  });
});

test("compute: a job with float params, its result opened and checked", { skip, timeout: 240_000 }, async () => {
  const c = client();
  // Over the dataset's epsilon per job: refused before an order is paid for.
  const before = await c.signer.provider.getTransactionCount(await c.consumer());
  await assert.rejects(c.startJob(env.DATAMARKET_DATATOKEN, { algorithm: "dp_stats", epsilon: 6 }), { code: "compute_failed" });
  assert.equal(await c.signer.provider.getTransactionCount(await c.consumer()), before);

  const handle = await c.startJob(env.DATAMARKET_DATATOKEN, {
    algorithm: { bundle: env.DATAMARKET_BUNDLE_CID, sha256: env.DATAMARKET_BUNDLE_SHA256 },
    params: { tol: 1e-7, rate: 1e-5, n: 3 },
    epsilon: null,
  });
  assert.match(handle.jobId, /^[0-9a-f]{32}$/);
  const status = await c.waitForJob(handle, { pollMs: 300, timeoutMs: 200_000 });
  assert.equal(status.state, "succeeded", JSON.stringify(status.error));

  const { files, outputHash } = await c.jobResult(handle);
  const metrics = new TextDecoder().decode(files.get("metrics.json"));
  assert.deepEqual(JSON.parse(metrics).params, { tol: 1e-7, rate: 1e-5, n: 3 });
  report.job = { state: status.state, metrics, output_hash: outputHash, handle: { jobId: handle.jobId, token: handle.token } };
});

test("the report is written", { skip }, () => {
  writeFileSync(env.DATAMARKET_JS_REPORT, JSON.stringify(report));
});
