// Shared fixtures for the contract tests and the gas benchmark: a deployed market, a permit-capable
// payment token, funded accounts (Hardhat's public dev accounts) and helpers to publish and sign quotes.
const { ethers } = require("hardhat");

const SERVICE_DOWNLOAD = 0;
const SERVICE_COMPUTE = 1;
const ONE = 10n ** 18n;
const HOUR = 3600;

const QUOTE_TYPES = {
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

async function deployMarket({ feeBps = 100 } = {}) {
  const [owner, feeCollector, publisher, provider, consumer, other, publishMarket] = await ethers.getSigners();
  const Market = await ethers.getContractFactory("DataMarket");
  const market = await Market.deploy(owner.address, feeCollector.address, feeBps);
  const Token = await ethers.getContractFactory("MockERC20");
  const usd = await Token.deploy("Mock USD", "mUSD");
  for (const s of [publisher, consumer, other]) {
    await usd.mint(s.address, 1_000_000n * ONE);
  }
  return { market, usd, owner, feeCollector, publisher, provider, consumer, other, publishMarket };
}

// Each publishParams() call takes a new salt, so one publisher can publish many datasets; a test that
// wants a given salt passes it in `overrides`.
let saltCounter = 0;

function publishParams(overrides = {}) {
  saltCounter += 1;
  return {
    provider: ethers.ZeroAddress,
    services: 0b11,
    free: false,
    publishFeeBps: 0,
    epsilonBudget: 10_000_000,
    paymentToken: ethers.ZeroAddress,
    price: 5n * ONE,
    cap: 0,
    dispenserLimit: 0,
    publishFeeCollector: ethers.ZeroAddress,
    metadataHash: ethers.sha256(ethers.toUtf8Bytes("metadata document")),
    allowlistRoot: ethers.ZeroHash,
    salt: ethers.id(`publish salt ${saltCounter}`),
    metadataCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    ...overrides,
  };
}

async function publish(market, signer, overrides) {
  const params = publishParams(overrides);
  const tx = await market.connect(signer).publish(params);
  const receipt = await tx.wait();
  const event = receipt.logs
    .map((l) => { try { return market.interface.parseLog(l); } catch { return null; } })
    .find((e) => e && e.name === "DatasetPublished");
  const datatoken = await ethers.getContractAt("Datatoken", event.args.datatoken);
  return { datatoken, address: event.args.datatoken, receipt, params };
}

// The `fee` (or `payment`) argument of buyAndOrderWithPermit when no permit is needed: a zero deadline skips it.
const NO_PERMIT = { value: 0, deadline: 0, v: 0, r: ethers.ZeroHash, s: ethers.ZeroHash };

async function signQuote(market, providerSigner, fields) {
  const { chainId } = await ethers.provider.getNetwork();
  const domain = { name: "Datamarket", version: "1", chainId, verifyingContract: await market.getAddress() };
  const latest = await ethers.provider.getBlock("latest");
  const quote = {
    serviceId: SERVICE_DOWNLOAD,
    feeToken: ethers.ZeroAddress,
    amount: 0n,
    validUntil: BigInt(latest.timestamp + HOUR),
    nonce: 0n,
    environment: ethers.ZeroHash,
    ...fields,
  };
  const signature = await providerSigner.signTypedData(domain, QUOTE_TYPES, quote);
  return { quote, signature };
}

module.exports = {
  SERVICE_DOWNLOAD, SERVICE_COMPUTE, ONE, HOUR, QUOTE_TYPES, NO_PERMIT,
  deployMarket, publishParams, publish, signQuote,
};
