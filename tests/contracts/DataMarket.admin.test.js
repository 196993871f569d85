// DataMarket administration: dataset states, metadata, minters, two-step dataset transfer, privacy
// budget, market owner (fee, order pause, Ownable2Step).
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { deployMarket, publish, signQuote, ONE, NO_PERMIT } = require("./fixtures");
const { State, signPermit, receipt, latestTimestamp } = require("./helpers");

describe("DataMarket: administration", function () {
  let ctx;
  let market;
  let usd;
  let usdAddr;
  let marketAddr;
  let dt;

  beforeEach(async function () {
    ctx = await deployMarket();
    ({ market, usd } = ctx);
    usdAddr = await usd.getAddress();
    marketAddr = await market.getAddress();
    for (const s of [ctx.consumer, ctx.other]) await usd.connect(s).approve(marketAddr, ethers.MaxUint256);
    dt = await publish(market, ctx.publisher, { provider: ctx.provider.address, paymentToken: usdAddr });
  });

  describe("setDatasetState", function () {
    const set = (to, signer) => market.connect(signer ?? ctx.publisher).setDatasetState(dt.address, to);

    it("pauses, resumes and retires", async function () {
      await expect(set(State.Paused)).to.emit(market, "DatasetStateChanged").withArgs(dt.address, State.Active, State.Paused);
      expect((await market.getDataset(dt.address)).state).to.equal(State.Paused);
      await expect(set(State.Active)).to.emit(market, "DatasetStateChanged").withArgs(dt.address, State.Paused, State.Active);
      await expect(set(State.Retired)).to.emit(market, "DatasetStateChanged").withArgs(dt.address, State.Active, State.Retired);
      expect((await market.getDataset(dt.address)).state).to.equal(State.Retired);
    });

    it("retires a paused dataset", async function () {
      await set(State.Paused);
      await expect(set(State.Retired)).to.emit(market, "DatasetStateChanged").withArgs(dt.address, State.Paused, State.Retired);
    });

    it("makes Retired final", async function () {
      await set(State.Retired);
      for (const to of [State.Active, State.Paused, State.Retired, State.None]) {
        await expect(set(to)).to.be.revertedWithCustomError(market, "MarketInvalidStateTransition").withArgs(State.Retired, to);
      }
    });

    it("rejects a transition to the same state or to None", async function () {
      await expect(set(State.Active)).to.be.revertedWithCustomError(market, "MarketInvalidStateTransition")
        .withArgs(State.Active, State.Active);
      await expect(set(State.None)).to.be.revertedWithCustomError(market, "MarketInvalidStateTransition")
        .withArgs(State.Active, State.None);
      await set(State.Paused);
      await expect(set(State.Paused)).to.be.revertedWithCustomError(market, "MarketInvalidStateTransition")
        .withArgs(State.Paused, State.Paused);
    });

    it("is publisher-only and needs a known dataset", async function () {
      await expect(set(State.Paused, ctx.other)).to.be.revertedWithCustomError(market, "MarketNotPublisher")
        .withArgs(ctx.other.address, ctx.publisher.address);
      await expect(market.connect(ctx.publisher).setDatasetState(usdAddr, State.Paused))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });

    it("Paused blocks buys and orders; resuming restores them; withdraw still works", async function () {
      await market.connect(ctx.consumer).buy(dt.address, 2, usdAddr, 5n * ONE);
      await set(State.Paused);
      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: dt.address, consumer: ctx.consumer.address });
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Paused);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Paused);
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Paused);
      await expect(market.connect(ctx.publisher).withdraw(usdAddr)).to.emit(market, "EarningsWithdrawn");
      await set(State.Active);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, [])).to.emit(market, "OrderStarted");
    });
  });

  describe("metadata", function () {
    const cid = "bafkreibm6jg3ux5qumhcn2b3flc3tyu6dmlb4xa7u5bf44yegnrjhc4yeq";
    const hash = ethers.sha256(ethers.toUtf8Bytes("metadata v2"));

    it("the publisher updates the metadata", async function () {
      await expect(market.connect(ctx.publisher).updateMetadata(dt.address, cid, hash))
        .to.emit(market, "MetadataUpdated").withArgs(dt.address, ctx.publisher.address, hash, cid);
      expect((await market.getDataset(dt.address)).metadataHash).to.equal(hash);
    });

    it("a named updater updates the metadata until removed", async function () {
      await expect(market.connect(ctx.publisher).setMetadataUpdater(dt.address, ctx.other.address))
        .to.emit(market, "MetadataUpdaterSet").withArgs(dt.address, ctx.other.address);
      expect(await market.metadataUpdater(dt.address)).to.equal(ctx.other.address);
      await expect(market.connect(ctx.other).updateMetadata(dt.address, cid, hash))
        .to.emit(market, "MetadataUpdated").withArgs(dt.address, ctx.other.address, hash, cid);
      await expect(market.connect(ctx.publisher).setMetadataUpdater(dt.address, ethers.ZeroAddress))
        .to.emit(market, "MetadataUpdaterSet").withArgs(dt.address, ethers.ZeroAddress);
      await expect(market.connect(ctx.other).updateMetadata(dt.address, cid, hash))
        .to.be.revertedWithCustomError(market, "MarketNotMetadataUpdater").withArgs(ctx.other.address);
    });

    it("rejects anyone else", async function () {
      await expect(market.connect(ctx.consumer).updateMetadata(dt.address, cid, hash))
        .to.be.revertedWithCustomError(market, "MarketNotMetadataUpdater").withArgs(ctx.consumer.address);
      await expect(market.connect(ctx.consumer).setMetadataUpdater(dt.address, ctx.consumer.address))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.consumer.address, ctx.publisher.address);
    });

    it("rejects an empty hash or CID", async function () {
      await expect(market.connect(ctx.publisher).updateMetadata(dt.address, cid, ethers.ZeroHash))
        .to.be.revertedWithCustomError(market, "MarketEmptyMetadata");
      await expect(market.connect(ctx.publisher).updateMetadata(dt.address, "", hash))
        .to.be.revertedWithCustomError(market, "MarketEmptyMetadata");
      expect((await market.getDataset(dt.address)).metadataHash).to.equal(dt.params.metadataHash);
    });

    it("rejects an unknown dataset", async function () {
      await expect(market.connect(ctx.publisher).updateMetadata(usdAddr, cid, hash))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });
  });

  describe("minters", function () {
    it("the publisher mints", async function () {
      await expect(market.connect(ctx.publisher).mint(dt.address, ctx.consumer.address, 5))
        .to.emit(market, "Minted").withArgs(dt.address, ctx.publisher.address, ctx.consumer.address, 5);
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(5n);
    });

    it("a named minter mints until disallowed", async function () {
      await expect(market.connect(ctx.publisher).setMinter(dt.address, ctx.other.address, true))
        .to.emit(market, "MinterSet").withArgs(dt.address, ctx.other.address, true);
      expect(await market.isMinter(dt.address, ctx.other.address)).to.equal(true);
      await expect(market.connect(ctx.other).mint(dt.address, ctx.consumer.address, 2))
        .to.emit(market, "Minted").withArgs(dt.address, ctx.other.address, ctx.consumer.address, 2);
      await expect(market.connect(ctx.publisher).setMinter(dt.address, ctx.other.address, false))
        .to.emit(market, "MinterSet").withArgs(dt.address, ctx.other.address, false);
      expect(await market.isMinter(dt.address, ctx.other.address)).to.equal(false);
      await expect(market.connect(ctx.other).mint(dt.address, ctx.consumer.address, 2))
        .to.be.revertedWithCustomError(market, "MarketNotMinter").withArgs(ctx.other.address);
      expect(await dt.datatoken.totalSupply()).to.equal(2n);
    });

    it("minters lapse when the dataset changes hands", async function () {
      await market.connect(ctx.publisher).setMinter(dt.address, ctx.other.address, true);
      await market.connect(ctx.publisher).transferDataset(dt.address, ctx.consumer.address);
      await market.connect(ctx.consumer).acceptDataset(dt.address);
      expect(await market.isMinter(dt.address, ctx.other.address)).to.equal(false);
      await expect(market.connect(ctx.other).mint(dt.address, ctx.other.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotMinter").withArgs(ctx.other.address);
      await market.connect(ctx.consumer).setMinter(dt.address, ctx.other.address, true);
      await expect(market.connect(ctx.other).mint(dt.address, ctx.other.address, 1))
        .to.emit(market, "Minted").withArgs(dt.address, ctx.other.address, ctx.other.address, 1);
    });

    it("nobody mints a retired dataset's datatoken", async function () {
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Paused);
      await market.connect(ctx.publisher).mint(dt.address, ctx.consumer.address, 1);
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Retired);
      await expect(market.connect(ctx.publisher).mint(dt.address, ctx.consumer.address, 1))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Retired);
      expect(await dt.datatoken.totalSupply()).to.equal(1n);
    });

    it("a minter of one dataset cannot mint another", async function () {
      const second = await publish(market, ctx.publisher, { provider: ctx.provider.address });
      await market.connect(ctx.publisher).setMinter(dt.address, ctx.other.address, true);
      await expect(market.connect(ctx.other).mint(second.address, ctx.other.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotMinter").withArgs(ctx.other.address);
    });

    it("rejects strangers, a zero amount, an unknown dataset and minting past the cap", async function () {
      await expect(market.connect(ctx.consumer).mint(dt.address, ctx.consumer.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotMinter").withArgs(ctx.consumer.address);
      await expect(market.connect(ctx.consumer).setMinter(dt.address, ctx.consumer.address, true))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.consumer.address, ctx.publisher.address);
      await expect(market.connect(ctx.publisher).mint(dt.address, ctx.consumer.address, 0))
        .to.be.revertedWithCustomError(market, "MarketZeroAmount");
      await expect(market.connect(ctx.publisher).mint(usdAddr, ctx.consumer.address, 1))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
      const capped = await publish(market, ctx.publisher, { provider: ctx.provider.address, cap: 10 });
      await market.connect(ctx.publisher).mint(capped.address, ctx.consumer.address, 10);
      await expect(market.connect(ctx.publisher).mint(capped.address, ctx.consumer.address, 1))
        .to.be.revertedWithCustomError(capped.datatoken, "DatatokenCapExceeded").withArgs(11, 10);
    });
  });

  describe("two-step dataset transfer", function () {
    it("offers, accepts and hands over publisher rights and future earnings, clearing the updater", async function () {
      await market.connect(ctx.publisher).setMetadataUpdater(dt.address, ctx.consumer.address);
      await expect(market.connect(ctx.publisher).transferDataset(dt.address, ctx.other.address))
        .to.emit(market, "DatasetTransferStarted").withArgs(dt.address, ctx.publisher.address, ctx.other.address);
      expect(await market.pendingPublisher(dt.address)).to.equal(ctx.other.address);
      expect((await market.getDataset(dt.address)).publisher).to.equal(ctx.publisher.address);

      const accept = market.connect(ctx.other).acceptDataset(dt.address);
      await expect(accept)
        .to.emit(market, "DatasetTransferred").withArgs(dt.address, ctx.publisher.address, ctx.other.address);
      await expect(accept).to.emit(market, "MintersCleared").withArgs(dt.address);
      await expect(accept).to.emit(market, "MetadataUpdaterSet").withArgs(dt.address, ethers.ZeroAddress);
      await expect(accept).to.not.emit(market, "ProviderChangeStarted");
      expect((await market.getDataset(dt.address)).publisher).to.equal(ctx.other.address);
      expect(await market.pendingPublisher(dt.address)).to.equal(ethers.ZeroAddress);
      expect(await market.metadataUpdater(dt.address)).to.equal(ethers.ZeroAddress);

      await expect(market.connect(ctx.publisher).setPrice(dt.address, usdAddr, 1))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.publisher.address, ctx.other.address);
      await expect(market.connect(ctx.other).setPrice(dt.address, usdAddr, 100)).to.emit(market, "PriceSet");
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 100);
      expect(await market.earnings(usdAddr, ctx.other.address)).to.equal(99n);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal(0n);
      await expect(market.connect(ctx.other).acceptDataset(dt.address))
        .to.be.revertedWithCustomError(market, "MarketNotPendingPublisher").withArgs(ctx.other.address);
    });

    it("rejects acceptance by anyone but the pending publisher", async function () {
      await market.connect(ctx.publisher).transferDataset(dt.address, ctx.other.address);
      await expect(market.connect(ctx.consumer).acceptDataset(dt.address))
        .to.be.revertedWithCustomError(market, "MarketNotPendingPublisher").withArgs(ctx.consumer.address);
    });

    it("cancels an offer with the zero address", async function () {
      await market.connect(ctx.publisher).transferDataset(dt.address, ctx.other.address);
      await expect(market.connect(ctx.publisher).transferDataset(dt.address, ethers.ZeroAddress))
        .to.emit(market, "DatasetTransferStarted").withArgs(dt.address, ctx.publisher.address, ethers.ZeroAddress);
      await expect(market.connect(ctx.other).acceptDataset(dt.address))
        .to.be.revertedWithCustomError(market, "MarketNotPendingPublisher").withArgs(ctx.other.address);
    });

    it("is publisher-only and needs a known dataset", async function () {
      await expect(market.connect(ctx.other).transferDataset(dt.address, ctx.other.address))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.other.address, ctx.publisher.address);
      await expect(market.connect(ctx.other).acceptDataset(usdAddr))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });
  });

  describe("raisePrivacyBudget", function () {
    it("raises (or keeps) the budget and emits PrivacyBudgetRaised", async function () {
      await expect(market.connect(ctx.publisher).raisePrivacyBudget(dt.address, 12_000_000))
        .to.emit(market, "PrivacyBudgetRaised").withArgs(dt.address, 10_000_000, 12_000_000);
      expect((await market.getDataset(dt.address)).epsilonBudget).to.equal(12_000_000n);
      await expect(market.connect(ctx.publisher).raisePrivacyBudget(dt.address, 12_000_000))
        .to.emit(market, "PrivacyBudgetRaised").withArgs(dt.address, 12_000_000, 12_000_000);
    });

    it("never lowers the budget", async function () {
      await expect(market.connect(ctx.publisher).raisePrivacyBudget(dt.address, 9_999_999))
        .to.be.revertedWithCustomError(market, "MarketBudgetDecrease").withArgs(10_000_000, 9_999_999);
      expect((await market.getDataset(dt.address)).epsilonBudget).to.equal(10_000_000n);
    });

    it("is publisher-only", async function () {
      await expect(market.connect(ctx.provider).raisePrivacyBudget(dt.address, 20_000_000))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.provider.address, ctx.publisher.address);
    });
  });

  describe("market owner: fee", function () {
    it("sets the market fee and collector", async function () {
      await expect(market.connect(ctx.owner).setMarketFee(ctx.other.address, 1000))
        .to.emit(market, "MarketFeeSet").withArgs(ctx.other.address, 1000);
      const config = await market.marketConfig();
      expect(config.feeCollector).to.equal(ctx.other.address);
      expect(config.feeBps).to.equal(1000n);
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE);
      expect(await market.earnings(usdAddr, ctx.other.address)).to.equal((5n * ONE) / 10n);
      expect(await market.earnings(usdAddr, ctx.feeCollector.address)).to.equal(0n);
    });

    it("allows a zero fee", async function () {
      await expect(market.connect(ctx.owner).setMarketFee(ctx.feeCollector.address, 0))
        .to.emit(market, "MarketFeeSet").withArgs(ctx.feeCollector.address, 0);
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal(5n * ONE);
    });

    it("rejects a fee above 10% and a zero collector", async function () {
      await expect(market.connect(ctx.owner).setMarketFee(ctx.other.address, 1001))
        .to.be.revertedWithCustomError(market, "MarketFeeTooHigh").withArgs(1001, 1000);
      await expect(market.connect(ctx.owner).setMarketFee(ethers.ZeroAddress, 100))
        .to.be.revertedWithCustomError(market, "MarketZeroAddress");
      expect((await market.marketConfig()).feeCollector).to.equal(ctx.feeCollector.address);
    });

    it("is owner-only", async function () {
      await expect(market.connect(ctx.publisher).setMarketFee(ctx.publisher.address, 0))
        .to.be.revertedWithCustomError(market, "OwnableUnauthorizedAccount").withArgs(ctx.publisher.address);
    });
  });

  describe("market owner: order pause", function () {
    it("pauses every buy and order, but not withdraws, receipts or publishing", async function () {
      const free = await publish(market, ctx.publisher, { provider: ctx.provider.address, free: true, dispenserLimit: 1 });
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE);
      await expect(market.connect(ctx.owner).setOrdersPaused(true)).to.emit(market, "OrdersPausedSet").withArgs(true);
      expect((await market.marketConfig()).ordersPaused).to.equal(true);

      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: dt.address, consumer: ctx.consumer.address });
      const permit = await signPermit(usd, ctx.consumer, marketAddr, 5n * ONE, BigInt((await latestTimestamp()) + 3600));
      const blocked = [
        () => market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE),
        () => market.connect(ctx.consumer).dispense(free.address, 1),
        () => market.connect(ctx.consumer).startOrder(quote, signature, []),
        () => market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE),
        () => market.connect(ctx.consumer).buyAndOrderWithPermit(quote, signature, [], usdAddr, 5n * ONE, permit, NO_PERMIT),
      ];
      for (const call of blocked) await expect(call()).to.be.revertedWithCustomError(market, "MarketOrdersPaused");

      await expect(market.connect(ctx.publisher).withdraw(usdAddr)).to.emit(market, "EarningsWithdrawn");
      await expect(market.connect(ctx.provider).postComputeReceipts(dt.address, [receipt(1)]))
        .to.emit(market, "ComputeReceiptPosted");
      await publish(market, ctx.publisher, { provider: ctx.provider.address });
      expect((await market.marketConfig()).datasetCount).to.equal(3n);

      await expect(market.connect(ctx.owner).setOrdersPaused(false)).to.emit(market, "OrdersPausedSet").withArgs(false);
      expect((await market.marketConfig()).ordersPaused).to.equal(false);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, [])).to.emit(market, "OrderStarted");
    });

    it("is owner-only", async function () {
      await expect(market.connect(ctx.consumer).setOrdersPaused(true))
        .to.be.revertedWithCustomError(market, "OwnableUnauthorizedAccount").withArgs(ctx.consumer.address);
    });
  });

  describe("market owner: Ownable2Step", function () {
    it("transfers ownership in two steps", async function () {
      await expect(market.connect(ctx.owner).transferOwnership(ctx.other.address))
        .to.emit(market, "OwnershipTransferStarted").withArgs(ctx.owner.address, ctx.other.address);
      expect(await market.owner()).to.equal(ctx.owner.address);
      expect(await market.pendingOwner()).to.equal(ctx.other.address);
      await expect(market.connect(ctx.consumer).acceptOwnership())
        .to.be.revertedWithCustomError(market, "OwnableUnauthorizedAccount").withArgs(ctx.consumer.address);
      await expect(market.connect(ctx.other).acceptOwnership())
        .to.emit(market, "OwnershipTransferred").withArgs(ctx.owner.address, ctx.other.address);
      expect(await market.owner()).to.equal(ctx.other.address);
      expect(await market.pendingOwner()).to.equal(ethers.ZeroAddress);
      await expect(market.connect(ctx.owner).setOrdersPaused(true))
        .to.be.revertedWithCustomError(market, "OwnableUnauthorizedAccount").withArgs(ctx.owner.address);
      await expect(market.connect(ctx.other).setOrdersPaused(true)).to.emit(market, "OrdersPausedSet");
    });

    it("only the owner starts a transfer", async function () {
      await expect(market.connect(ctx.other).transferOwnership(ctx.other.address))
        .to.be.revertedWithCustomError(market, "OwnableUnauthorizedAccount").withArgs(ctx.other.address);
    });

    it("cannot be renounced, and a pending transfer survives the attempt", async function () {
      await market.connect(ctx.owner).transferOwnership(ctx.other.address);
      await expect(market.connect(ctx.owner).renounceOwnership())
        .to.be.revertedWithCustomError(market, "MarketOwnershipRequired");
      expect(await market.owner()).to.equal(ctx.owner.address);
      expect(await market.pendingOwner()).to.equal(ctx.other.address);
      await expect(market.connect(ctx.owner).setMarketFee(ctx.owner.address, 0)).to.emit(market, "MarketFeeSet");
    });
  });
});
