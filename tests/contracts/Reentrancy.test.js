// Reentrancy: a hostile payment/fee token calls back into the market in the middle of a transfer.
// Every guarded entry point (buy, dispense, startOrder, buyAndOrder, buyAndOrderWithPermit, withdraw,
// withdrawTo) is reentered at least once. Each case has a control where the same callback, made outside
// any market call, succeeds: so the failure is the guard's doing and not a bad payload.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { deployMarket, publish, signQuote, NO_PERMIT } = require("./fixtures");

describe("Reentrancy", function () {
  let ctx;
  let market;
  let marketAddr;
  let hostile;
  let hAddr;
  let priced; // priced in the hostile token, 100 per datatoken
  let free; // free, dispenser limit 5
  let guardSelector;
  let nonce;

  const enc = (fn, args) => market.interface.encodeFunctionData(fn, args);

  async function expectBlocked() {
    expect(await hostile.getFunction("target")()).to.equal(ethers.ZeroAddress); // the callback did run
    expect(await hostile.lastCallSucceeded()).to.equal(false);
    expect(await hostile.lastReturnData()).to.equal(guardSelector);
  }

  async function expectControlSucceeds(payload) {
    await hostile.arm(marketAddr, payload);
    await hostile.connect(ctx.other).transfer(ctx.other.address, 0);
    expect(await hostile.lastCallSucceeded()).to.equal(true);
  }

  /** A quote for an order paid by the hostile token itself (it is msg.sender of the reentrant call). */
  const hostileQuote = (datatoken) =>
    signQuote(market, ctx.provider, { datatoken, consumer: hAddr, nonce: 1000n + nonce++ });

  beforeEach(async function () {
    nonce = 0n;
    ctx = await deployMarket();
    market = ctx.market;
    marketAddr = await market.getAddress();
    guardSelector = market.interface.getError("ReentrancyGuardReentrantCall").selector;
    hostile = await (await ethers.getContractFactory("HostileToken")).deploy();
    hAddr = await hostile.getAddress();
    for (const s of [ctx.consumer, ctx.other, ctx.publisher]) {
      await hostile.mint(s.address, 10_000n);
      await hostile.connect(s).approve(marketAddr, ethers.MaxUint256);
    }
    priced = await publish(market, ctx.publisher, { provider: ctx.provider.address, paymentToken: hAddr, price: 100 });
    free = await publish(market, ctx.publisher, { provider: ctx.provider.address, free: true, price: 0, dispenserLimit: 5 });
  });

  describe("during buy's transferFrom", function () {
    async function buyArmed(payload) {
      await hostile.arm(marketAddr, payload);
      await expect(market.connect(ctx.consumer).buy(priced.address, 1, hAddr, 100))
        .to.emit(market, "Bought").withArgs(priced.address, ctx.consumer.address, hAddr, 1, 100, 1, 0, true);
      await expectBlocked();
    }

    it("blocks a nested buy", async function () {
      const zero = await publish(market, ctx.publisher, { provider: ctx.provider.address, price: 0 });
      await buyArmed(enc("buy", [zero.address, 1, ethers.ZeroAddress, 0]));
      expect(await zero.datatoken.balanceOf(hAddr)).to.equal(0n);
      expect(await priced.datatoken.totalSupply()).to.equal(1n);
      await expectControlSucceeds(enc("buy", [zero.address, 1, ethers.ZeroAddress, 0]));
      expect(await zero.datatoken.balanceOf(hAddr)).to.equal(1n);
    });

    it("blocks a withdraw", async function () {
      await market.connect(ctx.owner).setMarketFee(hAddr, 1000); // the token earns the market fee
      await market.connect(ctx.other).buy(priced.address, 1, hAddr, 100);
      expect(await market.earnings(hAddr, hAddr)).to.equal(10n);
      await hostile.arm(marketAddr, enc("withdraw", [hAddr]));
      await market.connect(ctx.consumer).buy(priced.address, 1, hAddr, 100);
      await expectBlocked();
      expect(await market.earnings(hAddr, hAddr)).to.equal(20n);
      await expectControlSucceeds(enc("withdraw", [hAddr]));
      expect(await market.earnings(hAddr, hAddr)).to.equal(0n);
      expect(await hostile.balanceOf(hAddr)).to.equal(20n);
    });

    it("blocks a withdrawTo", async function () {
      await market.connect(ctx.owner).setMarketFee(hAddr, 1000);
      await market.connect(ctx.other).buy(priced.address, 1, hAddr, 100);
      const payload = enc("withdrawTo", [hAddr, ctx.other.address]);
      await hostile.arm(marketAddr, payload);
      await market.connect(ctx.consumer).buy(priced.address, 1, hAddr, 100);
      await expectBlocked();
      expect(await market.earnings(hAddr, hAddr)).to.equal(20n);
      const before = await hostile.balanceOf(ctx.other.address);
      await expectControlSucceeds(payload);
      expect(await market.earnings(hAddr, hAddr)).to.equal(0n);
      expect(await hostile.balanceOf(ctx.other.address)).to.equal(before + 20n);
    });

    it("blocks a dispense", async function () {
      await buyArmed(enc("dispense", [free.address, 1]));
      expect(await free.datatoken.balanceOf(hAddr)).to.equal(0n);
      await expectControlSucceeds(enc("dispense", [free.address, 1]));
      expect(await free.datatoken.balanceOf(hAddr)).to.equal(1n);
    });

    it("blocks a startOrder", async function () {
      await market.connect(ctx.publisher).mint(free.address, hAddr, 2);
      const q1 = await hostileQuote(free.address);
      await buyArmed(enc("startOrder", [q1.quote, q1.signature, []]));
      expect(await free.datatoken.balanceOf(hAddr)).to.equal(2n);
      expect(await market.isQuoteUsed(ctx.provider.address, q1.quote.nonce)).to.equal(false);
      await expectControlSucceeds(enc("startOrder", [q1.quote, q1.signature, []]));
      expect(await free.datatoken.balanceOf(hAddr)).to.equal(1n);
      expect(await market.isQuoteUsed(ctx.provider.address, q1.quote.nonce)).to.equal(true);
    });

    it("blocks a buyAndOrder", async function () {
      const q = await hostileQuote(free.address);
      await buyArmed(enc("buyAndOrder", [q.quote, q.signature, [], ethers.ZeroAddress, 0]));
      expect(await market.isQuoteUsed(ctx.provider.address, q.quote.nonce)).to.equal(false);
      await expectControlSucceeds(enc("buyAndOrder", [q.quote, q.signature, [], ethers.ZeroAddress, 0]));
      expect(await market.isQuoteUsed(ctx.provider.address, q.quote.nonce)).to.equal(true);
    });

    it("blocks a buyAndOrderWithPermit", async function () {
      const q = await hostileQuote(free.address);
      const payload = enc("buyAndOrderWithPermit", [q.quote, q.signature, [], ethers.ZeroAddress, 0, NO_PERMIT, NO_PERMIT]);
      await buyArmed(payload);
      expect(await market.isQuoteUsed(ctx.provider.address, q.quote.nonce)).to.equal(false);
      await expectControlSucceeds(payload);
      expect(await market.isQuoteUsed(ctx.provider.address, q.quote.nonce)).to.equal(true);
    });
  });

  describe("during other transfers", function () {
    it("blocks a dispense reentered from startOrder's fee transfer", async function () {
      await market.connect(ctx.consumer).dispense(free.address, 1);
      const { quote, signature } = await signQuote(market, ctx.provider, {
        datatoken: free.address, consumer: ctx.consumer.address, feeToken: hAddr, amount: 50n,
      });
      await hostile.arm(marketAddr, enc("dispense", [free.address, 1]));
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.changeTokenBalances(hostile, [ctx.consumer, market], [-50, 50]);
      await expectBlocked();
      expect(await market.earnings(hAddr, ctx.provider.address)).to.equal(50n);
    });

    it("blocks a nested buyAndOrder from buyAndOrder's payment", async function () {
      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: priced.address, consumer: ctx.consumer.address });
      const q2 = await hostileQuote(free.address);
      await hostile.arm(marketAddr, enc("buyAndOrder", [q2.quote, q2.signature, [], ethers.ZeroAddress, 0]));
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], hAddr, 100)).to.emit(market, "OrderStarted");
      await expectBlocked();
    });

    it("blocks reentry from buyAndOrderWithPermit's payment (the token has no permit)", async function () {
      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: priced.address, consumer: ctx.consumer.address });
      // A live deadline: the market calls permit, which the token lacks, and goes on to the transfer.
      const permit = { value: 100, deadline: 1n << 40n, v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      await hostile.arm(marketAddr, enc("dispense", [free.address, 1]));
      await expect(market.connect(ctx.consumer).buyAndOrderWithPermit(quote, signature, [], hAddr, 100, permit, NO_PERMIT))
        .to.changeTokenBalance(hostile, ctx.consumer, -100);
      await expectBlocked();
    });

    it("blocks a second withdraw during withdraw's transfer", async function () {
      await market.connect(ctx.owner).setMarketFee(hAddr, 1000);
      await market.connect(ctx.consumer).buy(priced.address, 10, hAddr, 100);
      expect(await market.earnings(hAddr, ctx.publisher.address)).to.equal(900n);
      await hostile.arm(marketAddr, enc("withdraw", [hAddr]));
      await expect(market.connect(ctx.publisher).withdraw(hAddr))
        .to.emit(market, "EarningsWithdrawn").withArgs(ctx.publisher.address, hAddr, ctx.publisher.address, 900);
      await expectBlocked();
      expect(await market.earnings(hAddr, hAddr)).to.equal(100n);
      expect(await hostile.balanceOf(marketAddr)).to.equal(100n);
    });
  });
});
