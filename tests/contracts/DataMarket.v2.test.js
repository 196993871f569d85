// DataMarket v2: what the v2 market changed, one behaviour per test. Buyers name the payment token,
// free and priced datasets cannot be swapped under a buyer, the dispenser limits what an account receives
// in all, minters belong to one tenure of a publisher, providers rotate in two steps and may be contracts
// (ERC-1271), ownership cannot be renounced, earnings can be sent elsewhere, the publish-fee collector
// hands its role on, orders have ids, the fee can come with its own permit, datatokens have 0 decimals,
// and receipts name their poster, the spent budget after them and one dataset per batch.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { deployMarket, publish, signQuote, ONE, HOUR, NO_PERMIT } = require("./fixtures");
const { State, JobStatus, OrderFunding, signPermit, receipt, eventsOf, latestTimestamp } = require("./helpers");

describe("DataMarket v2", function () {
  let ctx;
  let market;
  let marketAddr;
  let usd;
  let usdAddr;
  let eur; // a second permit-capable token, approved by the buyers too
  let eurAddr;
  let newProvider;
  let stranger;
  let nonce;

  const PRICE = 5n * ONE;
  const pub = (overrides = {}) => publish(market, ctx.publisher, { provider: ctx.provider.address, ...overrides });
  const quote = (datatoken, fields = {}, signer = ctx.provider) =>
    signQuote(market, signer, { datatoken, consumer: ctx.consumer.address, nonce: nonce++, ...fields });

  /** A random account with coin for gas and tokens, that never approved the market. */
  async function freshWallet() {
    const wallet = ethers.Wallet.createRandom().connect(ethers.provider);
    await ctx.owner.sendTransaction({ to: wallet.address, value: ONE });
    await usd.mint(wallet.address, 100n * ONE);
    await eur.mint(wallet.address, 100n * ONE);
    return wallet;
  }

  beforeEach(async function () {
    nonce = 0n;
    ctx = await deployMarket();
    ({ market, usd } = ctx);
    marketAddr = await market.getAddress();
    usdAddr = await usd.getAddress();
    eur = await (await ethers.getContractFactory("MockERC20")).deploy("Mock EUR", "mEUR");
    eurAddr = await eur.getAddress();
    for (const s of [ctx.consumer, ctx.other, ctx.publisher]) {
      await eur.mint(s.address, 1_000_000n * ONE);
      await usd.connect(s).approve(marketAddr, ethers.MaxUint256);
      await eur.connect(s).approve(marketAddr, ethers.MaxUint256);
    }
    const signers = await ethers.getSigners();
    newProvider = signers[7];
    stranger = signers[8];
  });

  describe("the buyer names the payment token", function () {
    let dt;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr, price: PRICE });
      // The publisher front-runs the buyer: another token, the same number.
      await market.connect(ctx.publisher).setPrice(dt.address, eurAddr, PRICE);
    });

    it("buy reverts MarketPaymentTokenMismatch and takes nothing", async function () {
      const tx = market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, PRICE);
      await expect(tx).to.be.revertedWithCustomError(market, "MarketPaymentTokenMismatch").withArgs(usdAddr, eurAddr);
      expect(await eur.balanceOf(marketAddr)).to.equal(0n);
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(0n);
    });

    it("buyAndOrder reverts MarketPaymentTokenMismatch", async function () {
      const q = await quote(dt.address);
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, PRICE))
        .to.be.revertedWithCustomError(market, "MarketPaymentTokenMismatch").withArgs(usdAddr, eurAddr);
      expect(await market.isQuoteUsed(ctx.provider.address, q.quote.nonce)).to.equal(false);
    });

    it("buyAndOrderWithPermit reverts MarketPaymentTokenMismatch, and its permit is undone", async function () {
      const wallet = await freshWallet();
      await eur.connect(wallet).approve(marketAddr, ethers.MaxUint256);
      const deadline = BigInt((await latestTimestamp()) + HOUR);
      const permit = await signPermit(usd, wallet, marketAddr, PRICE, deadline);
      const q = await quote(dt.address, { consumer: wallet.address });
      await expect(market.connect(wallet).buyAndOrderWithPermit(q.quote, q.signature, [], usdAddr, PRICE, permit, NO_PERMIT))
        .to.be.revertedWithCustomError(market, "MarketPaymentTokenMismatch").withArgs(usdAddr, eurAddr);
      expect(await usd.nonces(wallet.address)).to.equal(0n);
      expect(await eur.balanceOf(wallet.address)).to.equal(100n * ONE);
    });

    it("a payment token without code and a live permit: MarketPaymentTokenMismatch, not an empty revert", async function () {
      const wallet = await freshWallet();
      const deadline = BigInt((await latestTimestamp()) + HOUR);
      const permit = await signPermit(usd, wallet, marketAddr, PRICE, deadline);
      const noCode = ethers.Wallet.createRandom().address;
      const q = await quote(dt.address, { consumer: wallet.address });
      await expect(market.connect(wallet).buyAndOrderWithPermit(q.quote, q.signature, [], noCode, PRICE, permit, permit))
        .to.be.revertedWithCustomError(market, "MarketPaymentTokenMismatch").withArgs(noCode, eurAddr);
    });

    it("a switch between the native coin and a token is caught too", async function () {
      await market.connect(ctx.publisher).setPrice(dt.address, ethers.ZeroAddress, PRICE);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, eurAddr, PRICE))
        .to.be.revertedWithCustomError(market, "MarketPaymentTokenMismatch").withArgs(eurAddr, ethers.ZeroAddress);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, PRICE, { value: PRICE }))
        .to.be.revertedWithCustomError(market, "MarketPaymentTokenMismatch").withArgs(usdAddr, ethers.ZeroAddress);
    });

    it("a buyer naming the new token buys at the new terms", async function () {
      const tx = market.connect(ctx.consumer).buy(dt.address, 1, eurAddr, PRICE);
      await expect(tx).to.emit(market, "Bought")
        .withArgs(dt.address, ctx.consumer.address, eurAddr, 1, PRICE, PRICE / 100n, 0, true);
      await expect(tx).to.changeTokenBalance(eur, ctx.consumer, -PRICE);
    });
  });

  describe("a priced dataset that became free", function () {
    let dt;
    let q;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr, price: PRICE });
      q = await quote(dt.address);
      await market.connect(ctx.publisher).setDispenser(dt.address, 5);
    });

    it("refuses a buyAndOrder that expected to pay", async function () {
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, PRICE))
        .to.be.revertedWithCustomError(market, "MarketIsFree").withArgs(dt.address);
    });

    it("refuses a non-zero payment token or max price alone", async function () {
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, 0))
        .to.be.revertedWithCustomError(market, "MarketIsFree").withArgs(dt.address);
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], ethers.ZeroAddress, PRICE))
        .to.be.revertedWithCustomError(market, "MarketIsFree").withArgs(dt.address);
      await expect(market.connect(ctx.consumer)
        .buyAndOrderWithPermit(q.quote, q.signature, [], usdAddr, PRICE, NO_PERMIT, NO_PERMIT))
        .to.be.revertedWithCustomError(market, "MarketIsFree").withArgs(dt.address);
    });

    it("orders free with a zero payment token and max price", async function () {
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], ethers.ZeroAddress, 0))
        .to.emit(market, "OrderStarted").withArgs(
          dt.address, ctx.consumer.address, ctx.provider.address, 0, ctx.consumer.address, OrderFunding.Free,
          0, ethers.ZeroAddress, 0, q.quote.nonce, ethers.ZeroHash,
        );
    });

    it("refuses buy", async function () {
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 0))
        .to.be.revertedWithCustomError(market, "MarketIsFree").withArgs(dt.address);
    });
  });

  describe("a free dataset becoming priced", function () {
    let dt;

    beforeEach(async function () {
      dt = await pub({ free: true, price: 0, dispenserLimit: 2, cap: 10 });
    });

    it("is refused while its datatokens are in circulation", async function () {
      await market.connect(ctx.consumer).dispense(dt.address, 1);
      await market.connect(ctx.publisher).mint(dt.address, ctx.other.address, 2);
      await expect(market.connect(ctx.publisher).setPrice(dt.address, usdAddr, PRICE))
        .to.be.revertedWithCustomError(market, "MarketFreeTokensOutstanding").withArgs(dt.address, 3);
      expect((await market.getDataset(dt.address)).free).to.equal(true);
    });

    it("is allowed once the supply is back to zero, clearing the dispenser limit", async function () {
      await market.connect(ctx.consumer).dispense(dt.address, 1);
      const q = await quote(dt.address);
      await market.connect(ctx.consumer).startOrder(q.quote, q.signature, []);
      expect(await dt.datatoken.totalSupply()).to.equal(0n);
      await expect(market.connect(ctx.publisher).setPrice(dt.address, usdAddr, PRICE))
        .to.emit(market, "PriceSet").withArgs(dt.address, usdAddr, PRICE, 10);
      const d = await market.getDataset(dt.address);
      expect(d.free).to.equal(false);
      expect(d.dispenserLimit).to.equal(0n);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotFree").withArgs(dt.address);
      await expect(market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, PRICE)).to.emit(market, "Bought");
    });

    it("free orders leave no datatoken behind, so they do not hold it back", async function () {
      const q = await quote(dt.address);
      await market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], ethers.ZeroAddress, 0);
      await expect(market.connect(ctx.publisher).setPrice(dt.address, usdAddr, PRICE)).to.emit(market, "PriceSet");
    });

    it("a priced dataset changes its price whatever its supply", async function () {
      const priced = await pub({ paymentToken: usdAddr, price: PRICE });
      await market.connect(ctx.consumer).buy(priced.address, 2, usdAddr, PRICE);
      await expect(market.connect(ctx.publisher).setPrice(priced.address, usdAddr, 2n * PRICE))
        .to.emit(market, "PriceSet").withArgs(priced.address, usdAddr, 2n * PRICE, 0);
    });
  });

  describe("the dispenser limit: what one account receives in all", function () {
    it("caps dispense, transfer away, dispense again", async function () {
      const dt = await pub({ free: true, price: 0, dispenserLimit: 3 });
      await market.connect(ctx.consumer).dispense(dt.address, 2);
      await dt.datatoken.connect(ctx.consumer).transfer(ctx.other.address, 2);
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(0n);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 2))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(4, 3);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.emit(market, "Dispensed").withArgs(dt.address, ctx.consumer.address, 1);
      expect(await market.dispensed(dt.address, ctx.consumer.address)).to.equal(3n);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(4, 3);
    });

    it("counts free buyAndOrder orders against it", async function () {
      const dt = await pub({ free: true, price: 0, dispenserLimit: 2 });
      const first = await quote(dt.address);
      await market.connect(ctx.consumer).buyAndOrder(first.quote, first.signature, [], ethers.ZeroAddress, 0);
      expect(await market.dispensed(dt.address, ctx.consumer.address)).to.equal(1n);
      await market.connect(ctx.consumer).dispense(dt.address, 1);
      expect(await market.dispensed(dt.address, ctx.consumer.address)).to.equal(2n);
      const second = await quote(dt.address);
      await expect(market.connect(ctx.consumer).buyAndOrder(second.quote, second.signature, [], ethers.ZeroAddress, 0))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(3, 2);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(3, 2);
    });

    it("counts against the payer, not the consumer the order is for", async function () {
      const dt = await pub({ free: true, price: 0, dispenserLimit: 1 });
      const q = await quote(dt.address, { consumer: ctx.other.address });
      await market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], ethers.ZeroAddress, 0);
      expect(await market.dispensed(dt.address, ctx.consumer.address)).to.equal(1n);
      expect(await market.dispensed(dt.address, ctx.other.address)).to.equal(0n);
      await expect(market.connect(ctx.other).dispense(dt.address, 1)).to.emit(market, "Dispensed");
    });

    it("keeps what an account received when the publisher sets a new limit", async function () {
      const dt = await pub({ free: true, price: 0, dispenserLimit: 1 });
      await market.connect(ctx.consumer).dispense(dt.address, 1);
      await expect(market.connect(ctx.publisher).setDispenser(dt.address, 3))
        .to.emit(market, "DispenserSet").withArgs(dt.address, 3, 0);
      await market.connect(ctx.consumer).dispense(dt.address, 2);
      await expect(market.connect(ctx.consumer).dispense(dt.address, 1))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(4, 3);
    });
  });

  describe("a transfer starts a new tenure", function () {
    let dt;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr });
    });

    async function handOver(from, to) {
      await market.connect(from).transferDataset(dt.address, to.address);
      return eventsOf(market, market.connect(to).acceptDataset(dt.address));
    }

    it("A -> B -> A: the minters A named before do not come back", async function () {
      await market.connect(ctx.publisher).setMinter(dt.address, ctx.other.address, true);
      await handOver(ctx.publisher, stranger);
      await handOver(stranger, ctx.publisher);
      expect((await market.getDataset(dt.address)).publisher).to.equal(ctx.publisher.address);
      expect(await market.isMinter(dt.address, ctx.other.address)).to.equal(false);
      await expect(market.connect(ctx.other).mint(dt.address, ctx.other.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotMinter").withArgs(ctx.other.address);
    });

    it("the minters B named lapse when the dataset goes back to A", async function () {
      await handOver(ctx.publisher, stranger);
      await market.connect(stranger).setMinter(dt.address, ctx.consumer.address, true);
      await expect(market.connect(ctx.consumer).mint(dt.address, ctx.consumer.address, 1)).to.emit(market, "Minted");
      await handOver(stranger, ctx.publisher);
      await expect(market.connect(ctx.consumer).mint(dt.address, ctx.consumer.address, 1))
        .to.be.revertedWithCustomError(market, "MarketNotMinter").withArgs(ctx.consumer.address);
    });

    it("emits DatasetTransferred, MintersCleared, MetadataUpdaterSet(0), ProviderChangeStarted(.., 0) in order", async function () {
      await market.connect(ctx.publisher).setMetadataUpdater(dt.address, ctx.other.address);
      await market.connect(ctx.publisher).proposeProvider(dt.address, newProvider.address);
      const events = await handOver(ctx.publisher, stranger);
      expect(events.map((e) => e.name)).to.deep.equal([
        "DatasetTransferred", "MintersCleared", "MetadataUpdaterSet", "ProviderChangeStarted",
      ]);
      expect([...events[0].args]).to.deep.equal([dt.address, ctx.publisher.address, stranger.address]);
      expect([...events[1].args]).to.deep.equal([dt.address]);
      expect([...events[2].args]).to.deep.equal([dt.address, ethers.ZeroAddress]);
      expect([...events[3].args]).to.deep.equal([dt.address, ctx.provider.address, ethers.ZeroAddress]);
      expect(await market.metadataUpdater(dt.address)).to.equal(ethers.ZeroAddress);
      expect(await market.pendingProvider(dt.address)).to.equal(ethers.ZeroAddress);
      await expect(market.connect(newProvider).acceptProvider(dt.address))
        .to.be.revertedWithCustomError(market, "MarketNotPendingProvider").withArgs(newProvider.address);
    });

    it("emits only DatasetTransferred and MintersCleared when no updater or provider change is pending", async function () {
      const events = await handOver(ctx.publisher, stranger);
      expect(events.map((e) => e.name)).to.deep.equal(["DatasetTransferred", "MintersCleared"]);
    });

    it("keeps the provider itself", async function () {
      await handOver(ctx.publisher, stranger);
      expect((await market.getDataset(dt.address)).provider).to.equal(ctx.provider.address);
    });
  });

  describe("provider rotation", function () {
    let dt;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr });
    });

    it("is proposed by the publisher only", async function () {
      await expect(market.connect(ctx.provider).proposeProvider(dt.address, newProvider.address))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.provider.address, ctx.publisher.address);
      await expect(market.connect(ctx.publisher).proposeProvider(usdAddr, newProvider.address))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });

    it("takes two steps: the proposed provider accepts", async function () {
      await expect(market.connect(ctx.publisher).proposeProvider(dt.address, newProvider.address))
        .to.emit(market, "ProviderChangeStarted").withArgs(dt.address, ctx.provider.address, newProvider.address);
      expect(await market.pendingProvider(dt.address)).to.equal(newProvider.address);
      expect((await market.getDataset(dt.address)).provider).to.equal(ctx.provider.address);

      await expect(market.connect(newProvider).acceptProvider(dt.address))
        .to.emit(market, "ProviderChanged").withArgs(dt.address, ctx.provider.address, newProvider.address);
      expect((await market.getDataset(dt.address)).provider).to.equal(newProvider.address);
      expect(await market.pendingProvider(dt.address)).to.equal(ethers.ZeroAddress);
      await expect(market.connect(newProvider).acceptProvider(dt.address))
        .to.be.revertedWithCustomError(market, "MarketNotPendingProvider").withArgs(newProvider.address);
    });

    it("refuses an accepter that was not proposed", async function () {
      await market.connect(ctx.publisher).proposeProvider(dt.address, newProvider.address);
      for (const s of [stranger, ctx.provider, ctx.publisher]) {
        await expect(market.connect(s).acceptProvider(dt.address))
          .to.be.revertedWithCustomError(market, "MarketNotPendingProvider").withArgs(s.address);
      }
      await expect(market.connect(newProvider).acceptProvider(usdAddr))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });

    it("withdraws an offer with the zero address", async function () {
      await market.connect(ctx.publisher).proposeProvider(dt.address, newProvider.address);
      await expect(market.connect(ctx.publisher).proposeProvider(dt.address, ethers.ZeroAddress))
        .to.emit(market, "ProviderChangeStarted").withArgs(dt.address, ctx.provider.address, ethers.ZeroAddress);
      await expect(market.connect(newProvider).acceptProvider(dt.address))
        .to.be.revertedWithCustomError(market, "MarketNotPendingProvider").withArgs(newProvider.address);
    });

    it("the old provider's quotes count until the new one accepts", async function () {
      const old = await quote(dt.address);
      await market.connect(ctx.publisher).proposeProvider(dt.address, newProvider.address);
      await expect(market.connect(ctx.consumer).buyAndOrder(old.quote, old.signature, [], usdAddr, PRICE))
        .to.emit(market, "OrderStarted");
    });

    it("after the change only the new provider's quotes count", async function () {
      const old = await quote(dt.address, { feeToken: usdAddr, amount: ONE });
      await market.connect(ctx.publisher).proposeProvider(dt.address, newProvider.address);
      await market.connect(newProvider).acceptProvider(dt.address);
      await expect(market.connect(ctx.consumer).buyAndOrder(old.quote, old.signature, [], usdAddr, PRICE))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch")
        .withArgs(ctx.provider.address, newProvider.address);

      const fresh = await quote(dt.address, { feeToken: usdAddr, amount: ONE }, newProvider);
      await expect(market.connect(ctx.consumer).buyAndOrder(fresh.quote, fresh.signature, [], usdAddr, PRICE))
        .to.emit(market, "OrderStarted").withArgs(
          dt.address, ctx.consumer.address, newProvider.address, 0, ctx.consumer.address, OrderFunding.Bought,
          0, usdAddr, ONE, fresh.quote.nonce, ethers.ZeroHash,
        );
      expect(await market.earnings(usdAddr, newProvider.address)).to.equal(ONE);
      expect(await market.earnings(usdAddr, ctx.provider.address)).to.equal(0n);
      expect(await market.isQuoteUsed(newProvider.address, fresh.quote.nonce)).to.equal(true);
    });

    it("after the change only the new provider's receipts count", async function () {
      await market.connect(ctx.publisher).proposeProvider(dt.address, newProvider.address);
      await market.connect(newProvider).acceptProvider(dt.address);
      await expect(market.connect(ctx.provider).postComputeReceipts(dt.address, [receipt(1)]))
        .to.be.revertedWithCustomError(market, "MarketNotProvider").withArgs(ctx.provider.address, newProvider.address);
      const r = receipt(1);
      await expect(market.connect(newProvider).postComputeReceipts(dt.address, [r]))
        .to.emit(market, "ComputeReceiptPosted").withArgs(
          r.jobId, dt.address, r.orderId, newProvider.address, r.algorithmHash, r.outputHash, 1, 1, JobStatus.Succeeded,
        );
    });
  });

  describe("a contract provider (ERC-1271)", function () {
    let wallet;
    let walletAddr;
    let walletOwner;
    let dt;

    beforeEach(async function () {
      walletOwner = (await ethers.getSigners())[9];
      wallet = await (await ethers.getContractFactory("ERC1271Wallet")).deploy(walletOwner.address);
      walletAddr = await wallet.getAddress();
      dt = await publish(market, ctx.publisher, { provider: walletAddr, paymentToken: usdAddr });
    });

    it("accepts a quote its owner signed, and credits the fee to the wallet", async function () {
      const q = await quote(dt.address, { feeToken: usdAddr, amount: ONE }, walletOwner);
      expect(await wallet.isValidSignature(await market.quoteDigest(q.quote), q.signature)).to.equal("0x1626ba7e");
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, PRICE))
        .to.emit(market, "OrderStarted").withArgs(
          dt.address, ctx.consumer.address, walletAddr, 0, ctx.consumer.address, OrderFunding.Bought,
          0, usdAddr, ONE, q.quote.nonce, ethers.ZeroHash,
        );
      expect(await market.earnings(usdAddr, walletAddr)).to.equal(ONE);
      expect(await market.isQuoteUsed(walletAddr, q.quote.nonce)).to.equal(true);
    });

    it("refuses a quote signed by anyone else", async function () {
      const q = await quote(dt.address, {}, stranger);
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, PRICE))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(stranger.address, walletAddr);
    });

    it("refuses a malformed signature", async function () {
      const q = await quote(dt.address, {}, walletOwner);
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, "0x1234", [], usdAddr, PRICE))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(ethers.ZeroAddress, walletAddr);
    });

    it("refuses its owner's signature of another quote", async function () {
      const q = await quote(dt.address, { amount: 0n }, walletOwner);
      const forged = { ...q.quote, amount: 1n };
      await expect(market.connect(ctx.consumer).buyAndOrder(forged, q.signature, [], usdAddr, PRICE, { value: 1n }))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch");
    });

    it("posts receipts as the wallet; its owner's own account is not the provider", async function () {
      await expect(market.connect(walletOwner).postComputeReceipts(dt.address, [receipt(1)]))
        .to.be.revertedWithCustomError(market, "MarketNotProvider").withArgs(walletOwner.address, walletAddr);
      const data = market.interface.encodeFunctionData("postComputeReceipts", [dt.address, [receipt(1)]]);
      await expect(wallet.connect(walletOwner).execute(marketAddr, data)).to.emit(market, "ComputeReceiptPosted");
    });

    it("takes a dataset over by accepting through the wallet", async function () {
      const other = await pub({ paymentToken: usdAddr });
      await market.connect(ctx.publisher).proposeProvider(other.address, walletAddr);
      const data = market.interface.encodeFunctionData("acceptProvider", [other.address]);
      await expect(wallet.connect(walletOwner).execute(marketAddr, data))
        .to.emit(market, "ProviderChanged").withArgs(other.address, ctx.provider.address, walletAddr);
      const q = await quote(other.address, {}, walletOwner);
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, PRICE))
        .to.emit(market, "OrderStarted");
    });
  });

  describe("market ownership", function () {
    it("renounceOwnership always reverts", async function () {
      for (const s of [ctx.owner, ctx.other]) {
        await expect(market.connect(s).renounceOwnership())
          .to.be.revertedWithCustomError(market, "MarketOwnershipRequired");
      }
      expect(await market.owner()).to.equal(ctx.owner.address);
    });
  });

  describe("withdrawTo", function () {
    let dt;
    const share = (PRICE * 99n) / 100n;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr, price: PRICE });
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, PRICE);
    });

    it("sends ERC-20 earnings to another address", async function () {
      const tx = market.connect(ctx.publisher).withdrawTo(usdAddr, stranger.address);
      await expect(tx).to.emit(market, "EarningsWithdrawn")
        .withArgs(ctx.publisher.address, usdAddr, stranger.address, share);
      await expect(tx).to.changeTokenBalances(usd, [ctx.publisher, stranger, market], [0, share, -share]);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal(0n);
      await expect(market.connect(ctx.publisher).withdrawTo(usdAddr, stranger.address))
        .to.be.revertedWithCustomError(market, "MarketNothingToWithdraw").withArgs(usdAddr, ctx.publisher.address);
    });

    it("sends native earnings to another address", async function () {
      const native = await pub({ price: 1000n });
      await market.connect(ctx.consumer).buy(native.address, 1, ethers.ZeroAddress, 1000n, { value: 1000n });
      const tx = market.connect(ctx.publisher).withdrawTo(ethers.ZeroAddress, stranger.address);
      await expect(tx).to.emit(market, "EarningsWithdrawn")
        .withArgs(ctx.publisher.address, ethers.ZeroAddress, stranger.address, 990n);
      await expect(tx).to.changeEtherBalances([stranger, market], [990n, -990n]);
      expect(await market.earnings(ethers.ZeroAddress, ctx.publisher.address)).to.equal(0n);
    });

    it("refuses the zero address and the market itself, and keeps the earnings", async function () {
      await expect(market.connect(ctx.publisher).withdrawTo(usdAddr, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(market, "MarketZeroAddress");
      await expect(market.connect(ctx.publisher).withdrawTo(usdAddr, marketAddr))
        .to.be.revertedWithCustomError(market, "MarketInvalidRecipient").withArgs(marketAddr);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal(share);
    });

    it("reverts when the recipient refuses the native coin, keeping the earnings", async function () {
      const native = await pub({ price: 1000n });
      await market.connect(ctx.consumer).buy(native.address, 1, ethers.ZeroAddress, 1000n, { value: 1000n });
      const receiver = await (await ethers.getContractFactory("RevertingReceiver")).deploy();
      const receiverAddr = await receiver.getAddress();
      await expect(market.connect(ctx.publisher).withdrawTo(ethers.ZeroAddress, receiverAddr))
        .to.be.revertedWithCustomError(market, "MarketNativeTransferFailed").withArgs(receiverAddr, 990n);
      expect(await market.earnings(ethers.ZeroAddress, ctx.publisher.address)).to.equal(990n);
    });
  });

  describe("setPublishFeeCollector", function () {
    let dt;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr, price: PRICE, publishFeeBps: 200, publishFeeCollector: ctx.publishMarket.address });
    });

    it("the collector hands the role on; later fees go to the new collector", async function () {
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, PRICE);
      await expect(market.connect(ctx.publishMarket).setPublishFeeCollector(dt.address, stranger.address))
        .to.emit(market, "PublishFeeSet").withArgs(dt.address, stranger.address, 200);
      const d = await market.getDataset(dt.address);
      expect(d.publishFeeCollector).to.equal(stranger.address);
      expect(d.publishFeeBps).to.equal(200n);
      await market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, PRICE);
      const fee = (PRICE * 2n) / 100n;
      expect(await market.earnings(usdAddr, ctx.publishMarket.address)).to.equal(fee);
      expect(await market.earnings(usdAddr, stranger.address)).to.equal(fee);
    });

    it("refuses anyone but the current collector, the publisher included", async function () {
      for (const s of [ctx.publisher, ctx.other]) {
        await expect(market.connect(s).setPublishFeeCollector(dt.address, s.address))
          .to.be.revertedWithCustomError(market, "MarketNotFeeCollector").withArgs(s.address, ctx.publishMarket.address);
      }
      await market.connect(ctx.publishMarket).setPublishFeeCollector(dt.address, stranger.address);
      await expect(market.connect(ctx.publishMarket).setPublishFeeCollector(dt.address, ctx.publishMarket.address))
        .to.be.revertedWithCustomError(market, "MarketNotFeeCollector")
        .withArgs(ctx.publishMarket.address, stranger.address);
    });

    it("refuses a zero new collector", async function () {
      await expect(market.connect(ctx.publishMarket).setPublishFeeCollector(dt.address, ethers.ZeroAddress))
        .to.be.revertedWithCustomError(market, "MarketZeroAddress");
    });

    it("has no collector to act for a dataset without a publish fee, nor for an unknown one", async function () {
      const plain = await pub({ paymentToken: usdAddr });
      await expect(market.connect(ctx.publisher).setPublishFeeCollector(plain.address, stranger.address))
        .to.be.revertedWithCustomError(market, "MarketNotFeeCollector").withArgs(ctx.publisher.address, ethers.ZeroAddress);
      await expect(market.connect(ctx.publishMarket).setPublishFeeCollector(usdAddr, stranger.address))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    });
  });

  describe("order ids", function () {
    const orderIds = (events) => events.filter((e) => e.name === "OrderStarted").map((e) => [e.args.orderId, e.args.funding]);

    it("count up across startOrder, buyAndOrder and datasets", async function () {
      const a = await pub({ paymentToken: usdAddr, price: PRICE });
      const b = await pub({ paymentToken: usdAddr, price: PRICE });
      const free = await pub({ free: true, price: 0, dispenserLimit: 5 });
      await market.connect(ctx.consumer).buy(a.address, 2, usdAddr, PRICE);
      const seen = [];
      let q = await quote(a.address);
      seen.push(...orderIds(await eventsOf(market, market.connect(ctx.consumer).startOrder(q.quote, q.signature, []))));
      q = await quote(b.address);
      seen.push(...orderIds(await eventsOf(market,
        market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, PRICE))));
      // A failed order uses no id.
      const bad = await quote(b.address);
      await expect(market.connect(ctx.consumer).buyAndOrder(bad.quote, bad.signature, [], usdAddr, 1n))
        .to.be.revertedWithCustomError(market, "MarketPriceAboveMax");
      q = await quote(free.address);
      seen.push(...orderIds(await eventsOf(market,
        market.connect(ctx.other).buyAndOrder(q.quote, q.signature, [], ethers.ZeroAddress, 0))));
      q = await quote(a.address);
      seen.push(...orderIds(await eventsOf(market, market.connect(ctx.consumer).startOrder(q.quote, q.signature, []))));
      expect(seen).to.deep.equal([
        [0n, BigInt(OrderFunding.Burned)], [1n, BigInt(OrderFunding.Bought)],
        [2n, BigInt(OrderFunding.Free)], [3n, BigInt(OrderFunding.Burned)],
      ]);
      const config = await market.marketConfig();
      expect(config.orderCount).to.equal(4n);
      expect(config.datasetCount).to.equal(3n);
    });

    it("give two orders in one transaction consecutive ids", async function () {
      const dt = await pub({ paymentToken: usdAddr, price: PRICE });
      const orderer = await (await ethers.getContractFactory("DoubleOrderer")).deploy(marketAddr);
      const ordererAddr = await orderer.getAddress();
      await usd.mint(ordererAddr, 100n * ONE);
      await orderer.approve(usdAddr);
      // An earlier order, so the pair does not start at 0.
      const before = await quote(dt.address);
      await market.connect(ctx.consumer).buyAndOrder(before.quote, before.signature, [], usdAddr, PRICE);

      const first = await quote(dt.address, { consumer: ctx.consumer.address, feeToken: usdAddr, amount: ONE });
      const second = await quote(dt.address, { consumer: ctx.other.address, feeToken: usdAddr, amount: ONE });
      const tx = orderer.orderTwice(first.quote, first.signature, second.quote, second.signature, usdAddr, PRICE);
      const events = (await eventsOf(market, tx)).filter((e) => e.name === "OrderStarted");
      expect(events.map((e) => [e.args.orderId, e.args.consumer, e.args.payer, e.args.funding])).to.deep.equal([
        [1n, ctx.consumer.address, ordererAddr, BigInt(OrderFunding.Bought)],
        [2n, ctx.other.address, ordererAddr, BigInt(OrderFunding.Bought)],
      ]);
      expect(await usd.balanceOf(ordererAddr)).to.equal(100n * ONE - 2n * (PRICE + ONE));
      expect((await market.marketConfig()).orderCount).to.equal(3n);
    });
  });

  describe("buyAndOrderWithPermit with two permits", function () {
    let dt;
    let wallet;
    let deadline;
    const FEE = 2n * ONE;

    beforeEach(async function () {
      dt = await pub({ paymentToken: usdAddr, price: PRICE });
      wallet = await freshWallet();
      deadline = BigInt((await latestTimestamp()) + HOUR);
    });

    it("pays the price and a fee in another token with no prior approval", async function () {
      const payment = await signPermit(usd, wallet, marketAddr, PRICE, deadline);
      const fee = await signPermit(eur, wallet, marketAddr, FEE, deadline);
      const q = await quote(dt.address, { consumer: wallet.address, feeToken: eurAddr, amount: FEE });
      const tx = market.connect(wallet).buyAndOrderWithPermit(q.quote, q.signature, [], usdAddr, PRICE, payment, fee);
      await expect(tx).to.emit(market, "OrderStarted");
      await expect(tx).to.changeTokenBalances(usd, [wallet, market], [-PRICE, PRICE]);
      await expect(tx).to.changeTokenBalances(eur, [wallet, market], [-FEE, FEE]);
      expect(await usd.allowance(wallet.address, marketAddr)).to.equal(0n);
      expect(await eur.allowance(wallet.address, marketAddr)).to.equal(0n);
      expect(await usd.nonces(wallet.address)).to.equal(1n);
      expect(await eur.nonces(wallet.address)).to.equal(1n);
      expect(await market.earnings(eurAddr, ctx.provider.address)).to.equal(FEE);
    });

    it("fails on the fee transfer without the fee permit", async function () {
      const payment = await signPermit(usd, wallet, marketAddr, PRICE, deadline);
      const q = await quote(dt.address, { consumer: wallet.address, feeToken: eurAddr, amount: FEE });
      await expect(market.connect(wallet).buyAndOrderWithPermit(q.quote, q.signature, [], usdAddr, PRICE, payment, NO_PERMIT))
        .to.be.revertedWithCustomError(eur, "ERC20InsufficientAllowance").withArgs(marketAddr, 0, FEE);
    });

    it("uses only the fee permit when the payment permit is skipped", async function () {
      await usd.connect(wallet).approve(marketAddr, PRICE);
      const fee = await signPermit(eur, wallet, marketAddr, FEE, deadline);
      const q = await quote(dt.address, { consumer: wallet.address, feeToken: eurAddr, amount: FEE });
      await expect(market.connect(wallet).buyAndOrderWithPermit(q.quote, q.signature, [], usdAddr, PRICE, NO_PERMIT, fee))
        .to.emit(market, "OrderStarted");
      expect(await usd.nonces(wallet.address)).to.equal(0n);
      expect(await eur.nonces(wallet.address)).to.equal(1n);
    });

    it("ignores the fee permit when the fee is in the payment token", async function () {
      const payment = await signPermit(usd, wallet, marketAddr, PRICE + FEE, deadline);
      const fee = await signPermit(usd, wallet, marketAddr, 100n * ONE, deadline, { nonce: 1n });
      const q = await quote(dt.address, { consumer: wallet.address, feeToken: usdAddr, amount: FEE });
      await expect(market.connect(wallet).buyAndOrderWithPermit(q.quote, q.signature, [], usdAddr, PRICE, payment, fee))
        .to.changeTokenBalance(usd, wallet, -(PRICE + FEE));
      expect(await usd.nonces(wallet.address)).to.equal(1n);
      expect(await usd.allowance(wallet.address, marketAddr)).to.equal(0n);
    });

    it("pays a native price with an ERC-20 fee permit", async function () {
      const native = await pub({ price: 700n });
      const fee = await signPermit(eur, wallet, marketAddr, FEE, deadline);
      const q = await quote(native.address, { consumer: wallet.address, feeToken: eurAddr, amount: FEE });
      const tx = market.connect(wallet)
        .buyAndOrderWithPermit(q.quote, q.signature, [], ethers.ZeroAddress, 700n, NO_PERMIT, fee, { value: 700n });
      await expect(tx).to.changeTokenBalance(eur, wallet, -FEE);
      await expect(tx).to.changeEtherBalance(market, 700n);
    });
  });

  describe("datatokens have 0 decimals", function () {
    it("decimals() is 0", async function () {
      const dt = await pub();
      expect(await dt.datatoken.decimals()).to.equal(0n);
    });

    it("buy(dt, 1, ...) costs exactly the price and gives one whole datatoken", async function () {
      const dt = await pub({ paymentToken: usdAddr, price: PRICE });
      const tx = market.connect(ctx.consumer).buy(dt.address, 1, usdAddr, PRICE);
      await expect(tx).to.changeTokenBalance(usd, ctx.consumer, -PRICE);
      await expect(tx).to.changeTokenBalance(dt.datatoken, ctx.consumer, 1);
      await expect(tx).to.emit(market, "Bought")
        .withArgs(dt.address, ctx.consumer.address, usdAddr, 1, PRICE, PRICE / 100n, 0, true);
    });

    it("one datatoken is one order", async function () {
      const dt = await pub({ price: 1000n });
      await market.connect(ctx.consumer).buy(dt.address, 1, ethers.ZeroAddress, 1000n, { value: 1000n });
      const first = await quote(dt.address);
      await market.connect(ctx.consumer).startOrder(first.quote, first.signature, []);
      const second = await quote(dt.address);
      await expect(market.connect(ctx.consumer).startOrder(second.quote, second.signature, []))
        .to.be.revertedWithCustomError(dt.datatoken, "ERC20InsufficientBalance").withArgs(ctx.consumer.address, 0, 1);
    });
  });

  describe("Bought says whether datatokens were minted", function () {
    it("true for buy, false for buyAndOrder", async function () {
      const dt = await pub({ paymentToken: usdAddr, price: PRICE });
      await expect(market.connect(ctx.consumer).buy(dt.address, 2, usdAddr, PRICE)).to.emit(market, "Bought")
        .withArgs(dt.address, ctx.consumer.address, usdAddr, 2, 2n * PRICE, (2n * PRICE) / 100n, 0, true);
      const q = await quote(dt.address);
      await expect(market.connect(ctx.consumer).buyAndOrder(q.quote, q.signature, [], usdAddr, PRICE)).to.emit(market, "Bought")
        .withArgs(dt.address, ctx.consumer.address, usdAddr, 1, PRICE, PRICE / 100n, 0, false);
    });
  });

  describe("compute receipts", function () {
    let a;
    let b;

    beforeEach(async function () {
      a = await pub({ epsilonBudget: 1_000_000 });
      b = await pub({ epsilonBudget: 1_000_000 });
    });

    it("ComputeReceiptPosted carries the poster and the spent budget after each receipt", async function () {
      await market.connect(ctx.provider).postComputeReceipts(a.address, [receipt(100_000)]);
      const batch = [receipt(200_000, { status: JobStatus.Rejected }), receipt(300_000, { orderId: 77n })];
      const events = await eventsOf(market, market.connect(ctx.provider).postComputeReceipts(a.address, batch));
      expect(events.map((e) => [...e.args])).to.deep.equal([
        [batch[0].jobId, a.address, batch[0].orderId, ctx.provider.address, batch[0].algorithmHash, batch[0].outputHash,
          200_000n, 300_000n, BigInt(JobStatus.Rejected)],
        [batch[1].jobId, a.address, 77n, ctx.provider.address, batch[1].algorithmHash, batch[1].outputHash,
          300_000n, 600_000n, BigInt(JobStatus.Succeeded)],
      ]);
    });

    it("a batch is for one dataset: it charges only that dataset", async function () {
      const events = await eventsOf(market,
        market.connect(ctx.provider).postComputeReceipts(b.address, [receipt(400_000), receipt(500_000)]));
      expect(events.map((e) => e.args.datatoken)).to.deep.equal([b.address, b.address]);
      expect((await market.getDataset(b.address)).epsilonSpent).to.equal(900_000n);
      expect((await market.getDataset(a.address)).epsilonSpent).to.equal(0n);
      await expect(market.connect(ctx.provider).postComputeReceipts(b.address, [receipt(100_001)]))
        .to.be.revertedWithCustomError(market, "MarketBudgetExceeded").withArgs(b.address, 1_000_001, 1_000_000);
      await expect(market.connect(ctx.provider).postComputeReceipts(a.address, [receipt(100_001)]))
        .to.emit(market, "ComputeReceiptPosted");
    });

    it("a receipt names no datatoken of its own", function () {
      const fields = market.interface.getFunction("postComputeReceipts").inputs;
      expect(fields.map((f) => f.name)).to.deep.equal(["datatoken", "receipts"]);
      expect(fields[1].arrayChildren.components.map((c) => c.name))
        .to.deep.equal(["jobId", "orderId", "algorithmHash", "outputHash", "epsilon", "status"]);
    });

    it("are recorded for a paused dataset too", async function () {
      await market.connect(ctx.publisher).setDatasetState(a.address, State.Paused);
      await expect(market.connect(ctx.provider).postComputeReceipts(a.address, [receipt(1)]))
        .to.emit(market, "ComputeReceiptPosted");
    });
  });
});
