// DataMarket pricing: buy (ERC-20 and native coin), fee arithmetic, dispenser, setPrice/setDispenser, withdraw.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { deployMarket, publish, ONE } = require("./fixtures");
const { State } = require("./helpers");

describe("DataMarket: pricing, fees and withdraw", function () {
  let ctx;
  let market;
  let usd;
  let usdAddr;
  let marketAddr;

  const pub = (overrides = {}) => publish(market, ctx.publisher, { provider: ctx.provider.address, ...overrides });

  beforeEach(async function () {
    ctx = await deployMarket();
    ({ market, usd } = ctx);
    usdAddr = await usd.getAddress();
    marketAddr = await market.getAddress();
    for (const s of [ctx.consumer, ctx.other, ctx.publisher]) {
      await usd.connect(s).approve(marketAddr, ethers.MaxUint256);
    }
  });

  describe("buy with an ERC-20", function () {
    let dt;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr, publishFeeBps: 200, publishFeeCollector: ctx.publishMarket.address });
    });

    it("takes the cost, mints the datatokens and credits every payee", async function () {
      const cost = 15n * ONE;
      const marketFee = cost / 100n; // 1%
      const publishFee = (cost * 2n) / 100n; // 2%
      const tx = market.connect(ctx.consumer).buy(dt.address, 3, usdAddr, 5n * ONE);
      await expect(tx).to.changeTokenBalances(usd, [ctx.consumer, market], [-cost, cost]);
      await expect(tx).to.emit(market, "Bought")
        .withArgs(dt.address, ctx.consumer.address, usdAddr, 3, cost, marketFee, publishFee, true);
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(3n);
      expect(await dt.datatoken.totalSupply()).to.equal(3n);
      expect(await market.earnings(usdAddr, ctx.feeCollector.address)).to.equal(marketFee);
      expect(await market.earnings(usdAddr, ctx.publishMarket.address)).to.equal(publishFee);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal(cost - marketFee - publishFee);
      expect(await market.earnings(ethers.ZeroAddress, ctx.publisher.address)).to.equal(0n);
    });

    it("accumulates earnings over several buys", async function () {
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE);
      await market.connect(ctx.other).buy(dt.address, 1, usdAddr, 5n * ONE);
      expect(await market.earnings(usdAddr, ctx.feeCollector.address)).to.equal((10n * ONE) / 100n);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal((10n * ONE * 97n) / 100n);
    });

    it("accepts a max price equal to the price", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE)).to.emit(market, "Bought");
    });

    it("rejects a price above the buyer's max", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE - 1n))
        .to.be.revertedWithCustomError(market, "MarketPriceAboveMax").withArgs(5n * ONE, 5n * ONE - 1n);
    });

    it("rejects a zero amount", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 0, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketZeroAmount");
    });

    it("rejects native coin sent with an ERC-20 price", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE, { value: 1 }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(1, 0);
    });

    it("fails without allowance", async function () {
      await usd.connect(ctx.consumer).approve(marketAddr, 0);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(usd, "ERC20InsufficientAllowance").withArgs(marketAddr, 0, 5n * ONE);
    });

    it("rejects an unknown dataset", async function () {
      await expect(market.connect(ctx.consumer).buy(usdAddr, 1, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });

    it("rejects a cost that overflows", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, ethers.MaxUint256, usdAddr, 5n * ONE))
        .to.be.revertedWithPanic(0x11);
    });

    it("is blocked while the dataset is paused and when retired", async function () {
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Paused);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Paused);
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Retired);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Retired);
    });

    it("is blocked while the market pauses orders", async function () {
      await market.connect(ctx.owner).setOrdersPaused(true);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketOrdersPaused");
    });
  });

  describe("fee arithmetic", function () {
    async function buyWith({ price, amount = 1n, marketBps, publishBps }) {
      await market.connect(ctx.owner).setMarketFee(ctx.feeCollector.address, marketBps);
      const dt = await pub({
        paymentToken: usdAddr, price, publishFeeBps: publishBps,
        publishFeeCollector: publishBps ? ctx.publishMarket.address : ethers.ZeroAddress,
      });
      await usd.mint(ctx.consumer.address, price * amount);
      const tx = await market.connect(ctx.consumer).buy(dt.address, amount, usdAddr, price);
      const rc = await tx.wait();
      const ev = rc.logs.map((l) => market.interface.parseLog(l)).find((e) => e && e.name === "Bought");
      return {
        event: ev.args,
        marketFee: await market.earnings(usdAddr, ctx.feeCollector.address),
        publishFee: await market.earnings(usdAddr, ctx.publishMarket.address),
        publisherShare: await market.earnings(usdAddr, ctx.publisher.address),
        held: await usd.balanceOf(marketAddr),
      };
    }

    it("rounds fees down so the publisher keeps the dust", async function () {
      // 199 * 1% = 1.99 -> 1 each; the publisher gets 197 rather than 197.02 - 0.02 lost.
      const r = await buyWith({ price: 199n, marketBps: 100, publishBps: 100 });
      expect(r.marketFee).to.equal(1n);
      expect(r.publishFee).to.equal(1n);
      expect(r.publisherShare).to.equal(197n);
      expect(r.marketFee + r.publishFee + r.publisherShare).to.equal(199n);
    });

    it("leaves every unit to the publisher when the fees round to zero", async function () {
      const r = await buyWith({ price: 99n, marketBps: 100, publishBps: 100 });
      expect(r.marketFee).to.equal(0n);
      expect(r.publishFee).to.equal(0n);
      expect(r.publisherShare).to.equal(99n);
      expect(r.event.marketFee).to.equal(0n);
      expect(r.event.publishFee).to.equal(0n);
    });

    it("charges at most 10% market + 10% publish fee", async function () {
      const r = await buyWith({ price: 9999n, amount: 3n, marketBps: 1000, publishBps: 1000 });
      // cost 29997: 10% = 2999.7 -> 2999 each, publisher 23999.
      expect(r.event.cost).to.equal(29997n);
      expect(r.marketFee).to.equal(2999n);
      expect(r.publishFee).to.equal(2999n);
      expect(r.publisherShare).to.equal(23999n);
      expect(r.held).to.equal(29997n);
    });

    it("charges no market fee at 0 bps", async function () {
      const r = await buyWith({ price: 5n * ONE, marketBps: 0, publishBps: 0 });
      expect(r.marketFee).to.equal(0n);
      expect(r.publisherShare).to.equal(5n * ONE);
    });

    const grid = [
      [1n, 1n, 1000, 1000], [7n, 13n, 1, 999], [10_001n, 1n, 333, 777], [123_456_789n, 17n, 1000, 1],
      [ONE - 1n, 2n, 999, 1000], [(1n << 96n) - 1n, 1n, 1000, 1000],
    ];
    for (const [price, amount, marketBps, publishBps] of grid) {
      it(`splits exactly: price ${price} x ${amount} at ${marketBps}+${publishBps} bps`, async function () {
        const r = await buyWith({ price, amount, marketBps, publishBps });
        const cost = price * amount;
        expect(r.event.cost).to.equal(cost);
        expect(r.marketFee).to.equal((cost * BigInt(marketBps)) / 10_000n);
        expect(r.publishFee).to.equal((cost * BigInt(publishBps)) / 10_000n);
        expect(r.marketFee + r.publishFee + r.publisherShare).to.equal(cost);
        expect(r.held).to.equal(cost);
      });
    }

    it("sells at a zero price without moving any token", async function () {
      const dt = await pub({ paymentToken: usdAddr, price: 0 });
      await usd.connect(ctx.consumer).approve(marketAddr, 0);
      const tx = market.connect(ctx.consumer).buy(dt.address, 4, usdAddr, 0);
      await expect(tx).to.changeTokenBalances(usd, [ctx.consumer, market], [0, 0]);
      await expect(tx).to.emit(market, "Bought").withArgs(dt.address, ctx.consumer.address, usdAddr, 4, 0, 0, 0, true);
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(4n);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal(0n);
      expect(await market.earnings(usdAddr, ctx.feeCollector.address)).to.equal(0n);
    });

    it("sells at a zero native price with no value", async function () {
      const dt = await pub({ price: 0 });
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 0))
        .to.emit(market, "Bought").withArgs(dt.address, ctx.consumer.address, ethers.ZeroAddress, 1, 0, 0, 0, true);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 0, { value: 1 }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(1, 0);
    });
  });

  describe("buy with the native coin", function () {
    let dt;
    const price = 2n * ONE;

    beforeEach(async function () {
      dt = await pub({ paymentToken: ethers.ZeroAddress, price, publishFeeBps: 300, publishFeeCollector: ctx.publishMarket.address });
    });

    it("takes exactly msg.value and credits native earnings", async function () {
      const tx = market.connect(ctx.consumer).buy(dt.address, 2, ethers.ZeroAddress, price, { value: 2n * price });
      await expect(tx).to.changeEtherBalances([ctx.consumer, market], [-2n * price, 2n * price]);
      await expect(tx).to.emit(market, "Bought").withArgs(
        dt.address, ctx.consumer.address, ethers.ZeroAddress, 2, 4n * ONE, (4n * ONE) / 100n, (4n * ONE * 3n) / 100n, true,
      );
      expect(await market.earnings(ethers.ZeroAddress, ctx.publisher.address)).to.equal((4n * ONE * 96n) / 100n);
      expect(await market.earnings(ethers.ZeroAddress, ctx.feeCollector.address)).to.equal((4n * ONE) / 100n);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal(0n);
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(2n);
    });

    it("rejects too little value", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 2, ethers.ZeroAddress, price, { value: 2n * price - 1n }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(2n * price - 1n, 2n * price);
    });

    it("rejects too much value", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, price, { value: price + 1n }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(price + 1n, price);
    });

    it("rejects no value", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, price))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(0, price);
    });
  });

  describe("cap", function () {
    it("limits the datatokens in circulation", async function () {
      const dt = await pub({ paymentToken: usdAddr, price: 1, cap: 3 });
      await market.connect(ctx.consumer).buy(dt.address, 2, usdAddr, 1);
      await market.connect(ctx.other).buy(dt.address, 1, usdAddr, 1);
      await expect(market.connect(ctx.other).buy(dt.address, 1, usdAddr, 1))
        .to.be.revertedWithCustomError(dt.datatoken, "DatatokenCapExceeded").withArgs(4, 3);
      await expect(market.connect(ctx.publisher).mint(dt.address, ctx.publisher.address, 1))
        .to.be.revertedWithCustomError(dt.datatoken, "DatatokenCapExceeded").withArgs(4, 3);
      expect(await dt.datatoken.totalSupply()).to.equal(3n);
    });

    it("keeps the cap when the price changes", async function () {
      const dt = await pub({ paymentToken: usdAddr, price: 1, cap: 1 });
      await expect(market.connect(ctx.publisher).setPrice(dt.address, ethers.ZeroAddress, 9))
        .to.emit(market, "PriceSet").withArgs(dt.address, ethers.ZeroAddress, 9, 1);
      await market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 9, { value: 9 });
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 9, { value: 9 }))
        .to.be.revertedWithCustomError(dt.datatoken, "DatatokenCapExceeded").withArgs(2, 1);
    });
  });

  describe("setPrice and setDispenser", function () {
    it("setPrice changes token and price, and makes a free dataset without datatokens out priced", async function () {
      const dt = await pub({ free: true, price: 0, dispenserLimit: 1, cap: 50 });
      await expect(market.connect(ctx.publisher).setPrice(dt.address, usdAddr, 42))
        .to.emit(market, "PriceSet").withArgs(dt.address, usdAddr, 42, 50);
      const d = await market.getDataset(dt.address);
      expect(d.free).to.equal(false);
      expect(d.dispenserLimit).to.equal(0n);
      expect(d.paymentToken).to.equal(usdAddr);
      expect(d.price).to.equal(42n);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotFree").withArgs(dt.address);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 42)).to.changeTokenBalance(usd, ctx.consumer, -42);
    });

    it("setDispenser makes a priced dataset free, with no payment token or price", async function () {
      const dt = await pub({ paymentToken: usdAddr });
      await expect(market.connect(ctx.publisher).setDispenser(dt.address, 3))
        .to.emit(market, "DispenserSet").withArgs(dt.address, 3, 0);
      const d = await market.getDataset(dt.address);
      expect(d.free).to.equal(true);
      expect(d.dispenserLimit).to.equal(3n);
      expect(d.paymentToken).to.equal(ethers.ZeroAddress);
      expect(d.price).to.equal(0n);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketIsFree").withArgs(dt.address);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 0))
        .to.be.revertedWithCustomError(market, "MarketIsFree").withArgs(dt.address);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 3))
        .to.emit(market, "Dispensed").withArgs(dt.address, ctx.consumer.address, 3);
    });

    it("are publisher-only", async function () {
      const dt = await pub();
      await expect(market.connect(ctx.other).setPrice(dt.address, usdAddr, 1))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.other.address, ctx.publisher.address);
      await expect(market.connect(ctx.other).setDispenser(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.other.address, ctx.publisher.address);
    });

    it("reject an unknown dataset", async function () {
      await expect(market.connect(ctx.publisher).setPrice(usdAddr, usdAddr, 1))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
      await expect(market.connect(ctx.publisher).setDispenser(usdAddr, 1))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });
  });

  describe("dispense", function () {
    let dt;

    beforeEach(async function () {
      dt = await pub({ free: true, price: 0, dispenserLimit: 2 });
    });

    it("mints free datatokens and emits Dispensed", async function () {
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.emit(market, "Dispensed").withArgs(dt.address, ctx.consumer.address, 1);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.changeTokenBalance(dt.datatoken, ctx.consumer, 1);
      expect(await dt.datatoken.totalSupply()).to.equal(2n);
    });

    it("stops at the per-account limit", async function () {
      await market.connect(ctx.consumer).dispense(dt.address, 2);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(3, 2);
      await expect(market.connect(ctx.other).dispense(dt.address, 3))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(3, 2);
    });

    it("counts what the account received from the dispenser, not its balance", async function () {
      await market.connect(ctx.other).dispense(dt.address, 2);
      await dt.datatoken.connect(ctx.other).transfer(ctx.consumer.address, 2);
      expect(await market.dispensed(dt.address, ctx.other.address)).to.equal(2n);
      expect(await market.dispensed(dt.address, ctx.consumer.address)).to.equal(0n);
      await expect(market.connect(ctx.other).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(3, 2);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 2)).to.emit(market, "Dispensed");
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(4n);
    });

    it("rejects a zero amount, a priced or unknown dataset", async function () {
      await expect(market.connect(ctx.consumer).dispense(dt.address, 0))
        .to.be.revertedWithCustomError(market, "MarketZeroAmount");
      const priced = await pub({ paymentToken: usdAddr });
      await expect(market.connect(ctx.consumer).dispense(priced.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotFree").withArgs(priced.address);
      await expect(market.connect(ctx.consumer).dispense(usdAddr, 1))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });

    it("respects the cap", async function () {
      const capped = await pub({ free: true, price: 0, dispenserLimit: 2, cap: 3 });
      await market.connect(ctx.consumer).dispense(capped.address, 2);
      await expect(market.connect(ctx.other).dispense(capped.address, 2))
        .to.be.revertedWithCustomError(capped.datatoken, "DatatokenCapExceeded").withArgs(4, 3);
    });

    it("is blocked by a paused dataset and by the order pause", async function () {
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Paused);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Paused);
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Active);
      await market.connect(ctx.owner).setOrdersPaused(true);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketOrdersPaused");
    });
  });

  describe("withdraw", function () {
    it("pays out ERC-20 earnings once", async function () {
      const dt = await pub({ paymentToken: usdAddr, publishFeeBps: 500, publishFeeCollector: ctx.publishMarket.address });
      await market.connect(ctx.consumer).buy(dt.address, 2, usdAddr, 5n * ONE);
      const cost = 10n * ONE;
      const shares = [
        [ctx.publisher, (cost * 94n) / 100n],
        [ctx.feeCollector, cost / 100n],
        [ctx.publishMarket, (cost * 5n) / 100n],
      ];
      for (const [payee, amount] of shares) {
        const tx = market.connect(payee).withdraw(usdAddr);
        await expect(tx).to.emit(market, "EarningsWithdrawn").withArgs(payee.address, usdAddr, payee.address, amount);
        await expect(tx).to.changeTokenBalances(usd, [payee, market], [amount, -amount]);
        expect(await market.earnings(usdAddr, payee.address)).to.equal(0n);
      }
      expect(await usd.balanceOf(marketAddr)).to.equal(0n);
      await expect(market.connect(ctx.publisher).withdraw(usdAddr))
        .to.be.revertedWithCustomError(market, "MarketNothingToWithdraw").withArgs(usdAddr, ctx.publisher.address);
    });

    it("pays out native earnings", async function () {
      const dt = await pub({ price: ONE });
      await market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, ONE, { value: ONE });
      const share = (ONE * 99n) / 100n;
      const tx = market.connect(ctx.publisher).withdraw(ethers.ZeroAddress);
      await expect(tx).to.emit(market, "EarningsWithdrawn")
        .withArgs(ctx.publisher.address, ethers.ZeroAddress, ctx.publisher.address, share);
      await expect(tx).to.changeEtherBalances([ctx.publisher, market], [share, -share]);
      await expect(market.connect(ctx.feeCollector).withdraw(ethers.ZeroAddress))
        .to.changeEtherBalances([ctx.feeCollector, market], [ONE / 100n, -(ONE / 100n)]);
      expect(await ethers.provider.getBalance(marketAddr)).to.equal(0n);
    });

    it("rejects a payee with nothing to withdraw", async function () {
      await expect(market.connect(ctx.other).withdraw(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(market, "MarketNothingToWithdraw").withArgs(ethers.ZeroAddress, ctx.other.address);
    });

    it("reverts when the payee refuses the native coin, keeping its earnings", async function () {
      const Receiver = await ethers.getContractFactory("RevertingReceiver");
      const receiver = await Receiver.deploy();
      const receiverAddr = await receiver.getAddress();
      await market.connect(ctx.owner).setMarketFee(receiverAddr, 1000);
      const dt = await pub({ price: 100 });
      await market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 100, { value: 100 });
      const data = market.interface.encodeFunctionData("withdraw", [ethers.ZeroAddress]);
      await expect(receiver.call(marketAddr, data))
        .to.be.revertedWithCustomError(market, "MarketNativeTransferFailed").withArgs(receiverAddr, 10);
      expect(await market.earnings(ethers.ZeroAddress, receiverAddr)).to.equal(10n);
    });

    it("pays ERC-20 earnings to a contract that refuses the native coin", async function () {
      const Receiver = await ethers.getContractFactory("RevertingReceiver");
      const receiver = await Receiver.deploy();
      const receiverAddr = await receiver.getAddress();
      await market.connect(ctx.owner).setMarketFee(receiverAddr, 1000);
      const dt = await pub({ paymentToken: usdAddr, price: 100 });
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, 100);
      const data = market.interface.encodeFunctionData("withdraw", [usdAddr]);
      await expect(receiver.call(marketAddr, data))
        .to.emit(market, "EarningsWithdrawn").withArgs(receiverAddr, usdAddr, receiverAddr, 10);
      expect(await usd.balanceOf(receiverAddr)).to.equal(10n);
    });
  });
});
