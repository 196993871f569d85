// DataMarket: constructor, views and publish (factory of datatoken clones, dataset registry).
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { deployMarket, publishParams, publish, signQuote, ONE, QUOTE_TYPES } = require("./fixtures");
const { State } = require("./helpers");

describe("DataMarket: deployment and publish", function () {
  let ctx;
  let market;

  beforeEach(async function () {
    ctx = await deployMarket();
    market = ctx.market;
  });

  describe("constructor", function () {
    it("sets owner, market fee and an empty registry", async function () {
      expect(await market.owner()).to.equal(ctx.owner.address);
      expect(await market.pendingOwner()).to.equal(ethers.ZeroAddress);
      expect(await market.MAX_FEE_BPS()).to.equal(1000n);
      const config = await market.marketConfig();
      expect(config.feeCollector).to.equal(ctx.feeCollector.address);
      expect(config.feeBps).to.equal(100n);
      expect(config.ordersPaused).to.equal(false);
      expect(config.datasetCount).to.equal(0n);
      expect(config.orderCount).to.equal(0n);
    });

    it("emits MarketFeeSet", async function () {
      const Market = await ethers.getContractFactory("DataMarket");
      const m = await Market.deploy(ctx.owner.address, ctx.other.address, 250);
      await expect(m.deploymentTransaction()).to.emit(m, "MarketFeeSet").withArgs(ctx.other.address, 250);
    });

    it("deploys one datatoken implementation owned by the market", async function () {
      const impl = await market.datatokenImplementation();
      expect(await ethers.provider.getCode(impl)).to.not.equal("0x");
      const token = await ethers.getContractAt("Datatoken", impl);
      expect(await token.market()).to.equal(await market.getAddress());
      expect(await token.name()).to.equal("Datamarket Datatoken");
    });

    it("accepts the maximum fee of 10%", async function () {
      const Market = await ethers.getContractFactory("DataMarket");
      const m = await Market.deploy(ctx.owner.address, ctx.feeCollector.address, 1000);
      expect((await m.marketConfig()).feeBps).to.equal(1000n);
    });

    it("rejects a fee above 10%", async function () {
      const Market = await ethers.getContractFactory("DataMarket");
      await expect(Market.deploy(ctx.owner.address, ctx.feeCollector.address, 1001))
        .to.be.revertedWithCustomError(market, "MarketFeeTooHigh").withArgs(1001, 1000);
    });

    it("rejects a zero fee collector", async function () {
      const Market = await ethers.getContractFactory("DataMarket");
      await expect(Market.deploy(ctx.owner.address, ethers.ZeroAddress, 100))
        .to.be.revertedWithCustomError(market, "MarketZeroAddress");
    });

    it("rejects a zero owner", async function () {
      const Market = await ethers.getContractFactory("DataMarket");
      await expect(Market.deploy(ethers.ZeroAddress, ctx.feeCollector.address, 100))
        .to.be.revertedWithCustomError(market, "OwnableInvalidOwner").withArgs(ethers.ZeroAddress);
    });
  });

  describe("views of an unknown address", function () {
    it("reports state None and empty records", async function () {
      const d = await market.getDataset(ctx.other.address);
      expect(d.state).to.equal(State.None);
      expect(d.publisher).to.equal(ethers.ZeroAddress);
      expect(await market.metadataUpdater(ctx.other.address)).to.equal(ethers.ZeroAddress);
      expect(await market.pendingPublisher(ctx.other.address)).to.equal(ethers.ZeroAddress);
      expect(await market.pendingProvider(ctx.other.address)).to.equal(ethers.ZeroAddress);
      expect(await market.dispensed(ctx.other.address, ctx.consumer.address)).to.equal(0n);
      expect(await market.isMinter(ctx.other.address, ctx.consumer.address)).to.equal(false);
      expect(await market.earnings(ethers.ZeroAddress, ctx.publisher.address)).to.equal(0n);
      expect(await market.isQuoteUsed(ctx.provider.address, 0)).to.equal(false);
    });
  });

  describe("publish a fixed-price dataset", function () {
    let params;
    let usdAddr;

    beforeEach(async function () {
      usdAddr = await ctx.usd.getAddress();
      params = publishParams({ provider: ctx.provider.address, paymentToken: usdAddr, epsilonBudget: 7_000_000 });
    });

    it("returns the datatoken address it emits", async function () {
      const predicted = await market.connect(ctx.publisher).publish.staticCall(params);
      const { address } = await publish(market, ctx.publisher, params);
      expect(address).to.equal(predicted);
    });

    it("emits DatasetPublished and PriceSet, and nothing about fees, dispenser or allowlist", async function () {
      const dt = await market.connect(ctx.publisher).publish.staticCall(params);
      const tx = market.connect(ctx.publisher).publish(params);
      await expect(tx).to.emit(market, "DatasetPublished").withArgs(
        dt, ctx.publisher.address, ctx.provider.address, 0, 0b11, 7_000_000, params.metadataHash, params.metadataCid,
      );
      await expect(tx).to.emit(market, "PriceSet").withArgs(dt, usdAddr, 5n * ONE, 0);
      await expect(tx).to.not.emit(market, "DispenserSet");
      await expect(tx).to.not.emit(market, "PublishFeeSet");
      await expect(tx).to.not.emit(market, "AllowlistSet");
    });

    it("records the dataset", async function () {
      const { address } = await publish(market, ctx.publisher, { ...params, dispenserLimit: 9 });
      const d = await market.getDataset(address);
      expect(d.publisher).to.equal(ctx.publisher.address);
      expect(d.state).to.equal(State.Active);
      expect(d.services).to.equal(0b11n);
      expect(d.free).to.equal(false);
      expect(d.hasAllowlist).to.equal(false);
      expect(d.capped).to.equal(false);
      expect(d.publishFeeBps).to.equal(0n);
      expect(d.provider).to.equal(ctx.provider.address);
      expect(d.epsilonBudget).to.equal(7_000_000n);
      expect(d.epsilonSpent).to.equal(0n);
      expect(d.paymentToken).to.equal(usdAddr);
      expect(d.price).to.equal(5n * ONE);
      expect(d.cap).to.equal(0n);
      expect(d.dispenserLimit).to.equal(0n); // ignored for a priced dataset
      expect(d.metadataHash).to.equal(params.metadataHash);
      expect(d.publishFeeCollector).to.equal(ethers.ZeroAddress);
      expect(d.allowlistRoot).to.equal(ethers.ZeroHash);
      expect((await market.marketConfig()).datasetCount).to.equal(1n);
    });

    it("answers a client that knows only IDataMarket: the dataset, the config, the quote digest", async function () {
      const { address } = await publish(market, ctx.publisher, params);
      const iface = await ethers.getContractAt("IDataMarket", await market.getAddress());
      const d = await iface.getDataset(address);
      expect(d.toObject()).to.deep.equal((await market.getDataset(address)).toObject());
      expect(d.provider).to.equal(ctx.provider.address);
      expect((await iface.marketConfig()).datasetCount).to.equal(1n);
      expect(await iface.datatokenImplementation()).to.equal(await market.datatokenImplementation());
      expect(await iface.earnings(usdAddr, ctx.publisher.address)).to.equal(0n);
      expect(await iface.isQuoteUsed(ctx.provider.address, 1n)).to.equal(false);
      const { quote } = await signQuote(market, ctx.provider, { datatoken: address, consumer: ctx.other.address });
      const { chainId } = await ethers.provider.getNetwork();
      const domain = { name: "Datamarket", version: "1", chainId, verifyingContract: await market.getAddress() };
      expect(await iface.quoteDigest(quote)).to.equal(ethers.TypedDataEncoder.hash(domain, QUOTE_TYPES, quote));
    });

    it("stores a cap and marks the dataset capped, ignoring the dispenser limit", async function () {
      const { address } = await publish(market, ctx.publisher, { ...params, cap: 10, dispenserLimit: 4 });
      const d = await market.getDataset(address);
      expect(d.capped).to.equal(true);
      expect(d.cap).to.equal(10n);
      expect(d.dispenserLimit).to.equal(0n);
    });

    it("deploys a plain EIP-1167 clone that knows its index, with symbol DT-<index>", async function () {
      const a = await publish(market, ctx.publisher, params);
      const b = await publish(market, ctx.other, params);
      const impl = (await market.datatokenImplementation()).toLowerCase().slice(2);
      const code = await ethers.provider.getCode(b.address);
      expect(code).to.equal(`0x363d3d373d3d3d363d73${impl}5af43d82803e903d91602b57fd5bf3`);
      expect(await market.datasetIndex(a.address)).to.equal(0n);
      expect(await market.datasetIndex(b.address)).to.equal(1n);
      expect((await market.getDataset(b.address)).index).to.equal(1n);
      expect(await a.datatoken.datasetIndex()).to.equal(0n);
      expect(await b.datatoken.datasetIndex()).to.equal(1n);
      expect(await a.datatoken.symbol()).to.equal("DT-0");
      expect(await b.datatoken.symbol()).to.equal("DT-1");
      expect(await b.datatoken.market()).to.equal(await market.getAddress());
      expect(await b.datatoken.totalSupply()).to.equal(0n);
      expect((await market.getDataset(b.address)).publisher).to.equal(ctx.other.address);
      await expect(b.receipt).to.emit(market, "DatasetPublished").withArgs(
        b.address, ctx.other.address, ctx.provider.address, 1, 0b11, 7_000_000, params.metadataHash, params.metadataCid,
      );
      expect((await market.marketConfig()).datasetCount).to.equal(2n);
    });

    it("records a publish-market fee and emits PublishFeeSet", async function () {
      const p = { ...params, publishFeeBps: 250, publishFeeCollector: ctx.publishMarket.address };
      const dt = await market.connect(ctx.publisher).publish.staticCall(p);
      await expect(market.connect(ctx.publisher).publish(p))
        .to.emit(market, "PublishFeeSet").withArgs(dt, ctx.publishMarket.address, 250);
      const d = await market.getDataset(dt);
      expect(d.publishFeeBps).to.equal(250n);
      expect(d.publishFeeCollector).to.equal(ctx.publishMarket.address);
    });

    it("accepts the maximum publish fee of 10%", async function () {
      const p = { ...params, publishFeeBps: 1000, publishFeeCollector: ctx.publishMarket.address };
      const { address } = await publish(market, ctx.publisher, p);
      expect((await market.getDataset(address)).publishFeeBps).to.equal(1000n);
    });

    it("ignores the publish fee collector when the publish fee is zero", async function () {
      const { address } = await publish(market, ctx.publisher, { ...params, publishFeeCollector: ctx.other.address });
      expect((await market.getDataset(address)).publishFeeCollector).to.equal(ethers.ZeroAddress);
    });

    it("records an allowlist root and emits AllowlistSet", async function () {
      const root = ethers.keccak256("0x1234");
      const p = { ...params, allowlistRoot: root };
      const dt = await market.connect(ctx.publisher).publish.staticCall(p);
      await expect(market.connect(ctx.publisher).publish(p)).to.emit(market, "AllowlistSet").withArgs(dt, root);
      const d = await market.getDataset(dt);
      expect(d.hasAllowlist).to.equal(true);
      expect(d.allowlistRoot).to.equal(root);
    });

    it("publishes a native-coin priced dataset", async function () {
      const p = { ...params, paymentToken: ethers.ZeroAddress, price: 3n * ONE };
      const dt = await market.connect(ctx.publisher).publish.staticCall(p);
      await expect(market.connect(ctx.publisher).publish(p))
        .to.emit(market, "PriceSet").withArgs(dt, ethers.ZeroAddress, 3n * ONE, 0);
      const d = await market.getDataset(dt);
      expect(d.paymentToken).to.equal(ethers.ZeroAddress);
      expect(d.price).to.equal(3n * ONE);
    });
  });

  describe("datatoken address (CREATE2)", function () {
    const salt = ethers.id("one salt");

    it("deploys the datatoken at the predicted address", async function () {
      const predicted = await market.predictDatatoken(ctx.publisher.address, salt);
      expect(await ethers.provider.getCode(predicted)).to.equal("0x");
      const { address } = await publish(market, ctx.publisher, { provider: ctx.provider.address, salt });
      expect(address).to.equal(predicted);
      expect(await ethers.provider.getCode(predicted)).to.not.equal("0x");
    });

    it("predicts with the CREATE2 formula over keccak256(abi.encode(publisher, salt))", async function () {
      const impl = (await market.datatokenImplementation()).toLowerCase().slice(2);
      const initCode = `0x3d602d80600a3d3981f3363d3d373d3d3d363d73${impl}5af43d82803e903d91602b57fd5bf3`;
      const cloneSalt = ethers.keccak256(
        ethers.AbiCoder.defaultAbiCoder().encode(["address", "bytes32"], [ctx.publisher.address, salt]),
      );
      const expected = ethers.getCreate2Address(await market.getAddress(), cloneSalt, ethers.keccak256(initCode));
      expect(await market.predictDatatoken(ctx.publisher.address, salt)).to.equal(expected);
    });

    it("gives two publishers with the same salt different addresses", async function () {
      const a = await publish(market, ctx.publisher, { provider: ctx.provider.address, salt });
      const b = await publish(market, ctx.other, { provider: ctx.provider.address, salt });
      expect(a.address).to.not.equal(b.address);
      expect(b.address).to.equal(await market.predictDatatoken(ctx.other.address, salt));
      expect((await market.getDataset(a.address)).publisher).to.equal(ctx.publisher.address);
      expect((await market.getDataset(b.address)).publisher).to.equal(ctx.other.address);
    });

    it("rejects a salt the publisher already used, whatever the other parameters", async function () {
      const { address } = await publish(market, ctx.publisher, { provider: ctx.provider.address, salt });
      const again = publishParams({ provider: ctx.provider.address, salt, metadataCid: "another", price: 1n });
      await expect(market.connect(ctx.publisher).publish(again))
        .to.be.revertedWithCustomError(market, "MarketDatatokenExists").withArgs(address);
      expect((await market.marketConfig()).datasetCount).to.equal(1n);
    });

    it("keeps the index of a dataset after it changes hands", async function () {
      await publish(market, ctx.publisher, { provider: ctx.provider.address });
      const { address, datatoken } = await publish(market, ctx.publisher, { provider: ctx.provider.address });
      await market.connect(ctx.publisher).transferDataset(address, ctx.other.address);
      await market.connect(ctx.other).acceptDataset(address);
      expect(await datatoken.datasetIndex()).to.equal(1n);
      expect(await datatoken.symbol()).to.equal("DT-1");
    });

    it("has no index for an address that is not a datatoken", async function () {
      await expect(market.datasetIndex(ctx.other.address))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(ctx.other.address);
    });
  });

  describe("publish a free dataset", function () {
    it("emits DispenserSet instead of PriceSet and ignores price and payment token", async function () {
      const p = publishParams({
        provider: ctx.provider.address, free: true, paymentToken: await ctx.usd.getAddress(),
        price: 7n, cap: 100, dispenserLimit: 2,
      });
      const dt = await market.connect(ctx.publisher).publish.staticCall(p);
      const tx = market.connect(ctx.publisher).publish(p);
      await expect(tx).to.emit(market, "DispenserSet").withArgs(dt, 2, 100);
      await expect(tx).to.not.emit(market, "PriceSet");
      const d = await market.getDataset(dt);
      expect(d.free).to.equal(true);
      expect(d.paymentToken).to.equal(ethers.ZeroAddress);
      expect(d.price).to.equal(0n);
      expect(d.cap).to.equal(100n);
      expect(d.capped).to.equal(true);
      expect(d.dispenserLimit).to.equal(2n);
    });

    it("stores the dispenser limit of an uncapped free dataset", async function () {
      const { address } = await publish(market, ctx.publisher, {
        provider: ctx.provider.address, free: true, price: 0, dispenserLimit: 5,
      });
      const d = await market.getDataset(address);
      expect(d.capped).to.equal(false);
      expect(d.cap).to.equal(0n);
      expect(d.dispenserLimit).to.equal(5n);
    });
  });

  describe("publish validation", function () {
    const cases = [
      ["a zero provider", {}, "MarketZeroAddress", []],
      ["no services", { services: 0 }, "MarketNoServices", []],
      ["an empty metadata hash", { metadataHash: ethers.ZeroHash }, "MarketEmptyMetadata", []],
      ["an empty metadata CID", { metadataCid: "" }, "MarketEmptyMetadata", []],
      ["a publish fee above 10%", { publishFeeBps: 1001 }, "MarketFeeTooHigh", [1001, 1000]],
      ["a publish fee without collector", { publishFeeBps: 1 }, "MarketZeroAddress", []],
    ];
    for (const [what, overrides, error, args] of cases) {
      it(`rejects ${what}`, async function () {
        const p = publishParams({
          provider: what === "a zero provider" ? ethers.ZeroAddress : ctx.provider.address,
          publishFeeCollector: overrides.publishFeeBps === 1001 ? ctx.publishMarket.address : ethers.ZeroAddress,
          ...overrides,
        });
        const call = expect(market.connect(ctx.publisher).publish(p)).to.be.revertedWithCustomError(market, error);
        if (args.length) await call.withArgs(...args);
        else await call;
        expect((await market.marketConfig()).datasetCount).to.equal(0n);
      });
    }
  });
});
