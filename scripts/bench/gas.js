// Gas benchmark of the market contracts: writes bench/results/gas.json and prints each figure beside
// Ocean Protocol's (ANCHORS.md). Run with `npx hardhat run scripts/bench/gas.js`.
//
// Each operation is measured as a consumer doing it for the first time (fresh datatoken balance,
// payment token already approved, as Ocean's figures are) in a market that has run before: the
// payees (publisher, fee collectors, provider) have been paid earlier and the provider's quote
// nonce word is in use. The `*_cold` keys measure the very first sale of a new market instead.
// Consumers are new random wallets, so figures move by a few dozen gas with their calldata bytes.
const fs = require("fs");
const path = require("path");
const { ethers } = require("hardhat");
const { deployMarket, publish, signQuote, ONE, SERVICE_COMPUTE } = require("../../tests/contracts/fixtures");

const OCEAN = {
  publish_fixed_price: 1494608,
  publish_free: 1314158,
  buy: 262937,
  order_with_provider_fee: 149955,
  buy_and_order: 325780,
  metadata_update: 166886,
  compute_receipt_per_job_batch10: null,
};
const TARGET = {
  publish_fixed_price: 180000,
  publish_free: 350000,
  order_with_provider_fee: 85000,
  buy_and_order: 95000,
  metadata_update: 36000,
  compute_receipt_per_job_batch10: 10000,
};
// The fee permit of buyAndOrderWithPermit when the fee is in the payment token: a zero deadline skips it.
const NO_PERMIT = { value: 0, deadline: 0, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };

async function gasOf(txPromise) {
  const receipt = await (await txPromise).wait();
  return Number(receipt.gasUsed);
}

async function freshConsumer(usd, market, funder) {
  const wallet = ethers.Wallet.createRandom().connect(ethers.provider);
  await funder.sendTransaction({ to: wallet.address, value: ONE });
  await usd.mint(wallet.address, 1000n * ONE);
  await usd.connect(wallet).approve(await market.getAddress(), ethers.MaxUint256);
  return wallet;
}

async function main() {
  const ctx = await deployMarket();
  const { market, usd, publisher, provider, owner } = ctx;
  const usdAddr = await usd.getAddress();
  const gas = {};
  let nonce = 0n;
  const quoteFor = (dt, consumer, extra = {}) =>
    signQuote(market, provider, {
      datatoken: dt, consumer, feeToken: usdAddr, amount: ONE, nonce: nonce++, ...extra,
    });

  // Cold market: the very first sale and order, every payee slot still empty.
  const first = await publish(market, publisher, { provider: provider.address, paymentToken: usdAddr });
  let c = await freshConsumer(usd, market, owner);
  gas.buy_cold = await gasOf(market.connect(c).buy(first.address, 1, usdAddr, 5n * ONE));
  let q = await quoteFor(first.address, c.address);
  gas.order_with_provider_fee_cold = await gasOf(market.connect(c).startOrder(q.quote, q.signature, []));

  // A running market from here on.
  const fixed = await publish(market, publisher, { provider: provider.address, paymentToken: usdAddr });
  gas.publish_fixed_price = Number(fixed.receipt.gasUsed);
  const free = await publish(market, publisher, {
    provider: provider.address, free: true, price: 0, dispenserLimit: 1,
  });
  gas.publish_free = Number(free.receipt.gasUsed);

  c = await freshConsumer(usd, market, owner);
  gas.buy = await gasOf(market.connect(c).buy(fixed.address, 1, usdAddr, 5n * ONE));
  q = await quoteFor(fixed.address, c.address);
  gas.order_with_provider_fee = await gasOf(market.connect(c).startOrder(q.quote, q.signature, []));

  c = await freshConsumer(usd, market, owner);
  q = await quoteFor(fixed.address, c.address);
  gas.buy_and_order = await gasOf(market.connect(c).buyAndOrder(q.quote, q.signature, [], usdAddr, 5n * ONE));

  // Permit instead of approve: a consumer that never approved the market.
  const p = ethers.Wallet.createRandom().connect(ethers.provider);
  await owner.sendTransaction({ to: p.address, value: ONE });
  await usd.mint(p.address, 1000n * ONE);
  q = await quoteFor(fixed.address, p.address);
  const { chainId } = await ethers.provider.getNetwork();
  const deadline = BigInt((await ethers.provider.getBlock("latest")).timestamp + 3600);
  const value = 6n * ONE;
  const sig = ethers.Signature.from(await p.signTypedData(
    { name: "Mock USD", version: "1", chainId, verifyingContract: usdAddr },
    { Permit: [
      { name: "owner", type: "address" }, { name: "spender", type: "address" },
      { name: "value", type: "uint256" }, { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
    ] },
    { owner: p.address, spender: await market.getAddress(), value, nonce: 0n, deadline },
  ));
  gas.buy_and_order_permit = await gasOf(market.connect(p).buyAndOrderWithPermit(
    q.quote, q.signature, [], usdAddr, 5n * ONE, { value, deadline, v: sig.v, r: sig.r, s: sig.s }, NO_PERMIT,
  ));

  // Metadata update: a new CID and hash (the document itself lives on IPFS).
  gas.metadata_update = await gasOf(market.connect(publisher).updateMetadata(
    fixed.address, "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq", ethers.sha256("0x01"),
  ));

  // Free dataset: dispense then order without a fee.
  c = await freshConsumer(usd, market, owner);
  gas.dispense = await gasOf(market.connect(c).dispense(free.address, 1));

  // Compute receipts, a batch of 10 jobs on one dataset (a batch names its dataset once).
  const receipts = Array.from({ length: 10 }, (_, i) => ({
    jobId: ethers.keccak256(ethers.toUtf8Bytes(`job-${i}`)),
    orderId: BigInt(i),
    algorithmHash: ethers.sha256(ethers.toUtf8Bytes("train_tabular")),
    outputHash: ethers.sha256(ethers.toUtf8Bytes(`output-${i}`)),
    epsilon: 100_000,
    status: 0,
  }));
  await gasOf(market.connect(provider).postComputeReceipts(fixed.address, receipts.slice(0, 1)));
  const batch = await gasOf(market.connect(provider).postComputeReceipts(fixed.address, receipts));
  gas.compute_receipt_per_job_batch10 = Math.ceil(batch / 10);

  // Baseline: a plain datatoken transfer.
  await market.connect(publisher).mint(fixed.address, publisher.address, 2);
  const other = ethers.Wallet.createRandom().address;
  gas.datatoken_transfer = await gasOf(fixed.datatoken.connect(publisher).transfer(other, 1));

  const out = path.join(__dirname, "..", "..", "bench", "results");
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, "gas.json"), JSON.stringify(gas, null, 2) + "\n");

  const rows = Object.keys(gas).map((k) => {
    const ocean = OCEAN[k] ? OCEAN[k].toLocaleString("en-US") : "-";
    const target = TARGET[k] ? TARGET[k].toLocaleString("en-US") : "-";
    const ok = TARGET[k] ? (gas[k] <= TARGET[k] ? "ok" : "OVER") : "";
    return `${k.padEnd(34)} ${gas[k].toLocaleString("en-US").padStart(10)} ${ocean.padStart(11)} ${target.padStart(9)} ${ok}`;
  });
  console.log(`${"operation".padEnd(34)} ${"gas".padStart(10)} ${"Ocean".padStart(11)} ${"target".padStart(9)}`);
  console.log(rows.join("\n"));
  const over = Object.keys(TARGET).filter((k) => gas[k] > TARGET[k]);
  if (over.length) {
    console.error(`over target: ${over.join(", ")}`);
    process.exitCode = 1;
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
