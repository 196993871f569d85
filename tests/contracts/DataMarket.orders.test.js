// DataMarket orders: startOrder, buyAndOrder, buyAndOrderWithPermit, provider-fee quotes, allowlist.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { anyValue } = require("@nomicfoundation/hardhat-chai-matchers/withArgs");
const {
  deployMarket, publish, signQuote, ONE, HOUR, QUOTE_TYPES, SERVICE_DOWNLOAD, SERVICE_COMPUTE, NO_PERMIT,
} = require("./fixtures");
const {
  State, OrderFunding, AllowlistTree, allowlistLeaf, processProof, signPermit, latestTimestamp, setNextTimestamp,
} = require("./helpers");

describe("DataMarket: orders", function () {
  let ctx;
  let market;
  let usd;
  let usdAddr;
  let marketAddr;
  let dt; // priced in usd, download + compute, provider = ctx.provider

  const pub = (overrides = {}) => publish(market, ctx.publisher, { provider: ctx.provider.address, ...overrides });
  const quoteFor = (fields, signer = ctx.provider) =>
    signQuote(market, signer, { datatoken: dt.address, consumer: ctx.consumer.address, ...fields });

  beforeEach(async function () {
    ctx = await deployMarket();
    ({ market, usd } = ctx);
    usdAddr = await usd.getAddress();
    marketAddr = await market.getAddress();
    for (const s of [ctx.consumer, ctx.other, ctx.publisher]) {
      await usd.connect(s).approve(marketAddr, ethers.MaxUint256);
    }
    dt = await pub({ paymentToken: usdAddr });
  });

  describe("quoteDigest", function () {
    it("is the EIP-712 digest of the quote in the market's domain", async function () {
      const { quote } = await quoteFor({ amount: 3n, nonce: 9n, environment: ethers.id("env") });
      const { chainId } = await ethers.provider.getNetwork();
      const domain = { name: "Datamarket", version: "1", chainId, verifyingContract: marketAddr };
      expect(await market.quoteDigest(quote)).to.equal(ethers.TypedDataEncoder.hash(domain, QUOTE_TYPES, quote));
      expect(await market.quoteDigest({ ...quote, nonce: 10n })).to.not.equal(await market.quoteDigest(quote));
    });
  });

  describe("startOrder", function () {
    beforeEach(async function () {
      await market.connect(ctx.consumer).buy(dt.address, 2, usdAddr, 5n * ONE);
    });

    it("burns one datatoken, takes the provider fee and emits OrderStarted", async function () {
      const env = ethers.id("gpu-small");
      const { quote, signature } = await quoteFor({
        serviceId: SERVICE_COMPUTE, feeToken: usdAddr, amount: 3n * ONE, nonce: 7n, environment: env,
      });
      const tx = market.connect(ctx.consumer).startOrder(quote, signature, []);
      await expect(tx).to.emit(market, "OrderStarted").withArgs(
        dt.address, ctx.consumer.address, ctx.provider.address, 0, ctx.consumer.address, OrderFunding.Burned,
        SERVICE_COMPUTE, usdAddr, 3n * ONE, 7n, env,
      );
      await expect(tx).to.changeTokenBalances(usd, [ctx.consumer, market], [-3n * ONE, 3n * ONE]);
      await expect(tx).to.changeTokenBalance(dt.datatoken, ctx.consumer, -1);
      expect(await dt.datatoken.totalSupply()).to.equal(1n);
      expect(await market.earnings(usdAddr, ctx.provider.address)).to.equal(3n * ONE);
      expect(await market.isQuoteUsed(ctx.provider.address, 7n)).to.equal(true);
      expect(await market.isQuoteUsed(ctx.provider.address, 6n)).to.equal(false);
    });

    it("orders with a zero fee without moving any payment token", async function () {
      const { quote, signature } = await quoteFor({ feeToken: usdAddr, amount: 0n });
      const tx = market.connect(ctx.consumer).startOrder(quote, signature, []);
      await expect(tx).to.changeTokenBalances(usd, [ctx.consumer, market], [0, 0]);
      await expect(tx).to.emit(market, "OrderStarted");
      expect(await market.earnings(usdAddr, ctx.provider.address)).to.equal(0n);
    });

    it("takes a native provider fee from msg.value", async function () {
      const { quote, signature } = await quoteFor({ feeToken: ethers.ZeroAddress, amount: 1000n });
      const tx = market.connect(ctx.consumer).startOrder(quote, signature, [], { value: 1000n });
      await expect(tx).to.changeEtherBalances([ctx.consumer, market], [-1000n, 1000n]);
      expect(await market.earnings(ethers.ZeroAddress, ctx.provider.address)).to.equal(1000n);
      await expect(market.connect(ctx.provider).withdraw(ethers.ZeroAddress))
        .to.changeEtherBalance(ctx.provider, 1000n);
    });

    it("rejects a wrong native value", async function () {
      const { quote, signature } = await quoteFor({ feeToken: ethers.ZeroAddress, amount: 1000n });
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, [], { value: 999n }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(999, 1000);
      const q2 = await quoteFor({ feeToken: usdAddr, amount: 1000n, nonce: 1n });
      await expect(market.connect(ctx.consumer).startOrder(q2.quote, q2.signature, [], { value: 1n }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(1, 0);
    });

    it("lets a payer order for another consumer with its own datatoken", async function () {
      await market.connect(ctx.other).buy(dt.address, 1, usdAddr, 5n * ONE);
      const { quote, signature } = await quoteFor({ feeToken: usdAddr, amount: 1n });
      const tx = market.connect(ctx.other).startOrder(quote, signature, []);
      await expect(tx).to.emit(market, "OrderStarted").withArgs(
        dt.address, ctx.consumer.address, ctx.provider.address, 0, ctx.other.address, OrderFunding.Burned,
        SERVICE_DOWNLOAD, usdAddr, 1n, 0n, ethers.ZeroHash,
      );
      await expect(tx).to.changeTokenBalances(dt.datatoken, [ctx.other, ctx.consumer], [-1, 0]);
      await expect(tx).to.changeTokenBalance(usd, ctx.other, -1);
    });

    it("fails without a datatoken", async function () {
      const { quote, signature } = await quoteFor({ consumer: ctx.other.address });
      await expect(market.connect(ctx.other).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(dt.datatoken, "ERC20InsufficientBalance").withArgs(ctx.other.address, 0, 1);
    });

    it("rejects an unknown dataset, a paused or retired dataset, and the order pause", async function () {
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.consumer).startOrder({ ...quote, datatoken: usdAddr }, signature, []))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
      await market.connect(ctx.owner).setOrdersPaused(true);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(market, "MarketOrdersPaused");
      await market.connect(ctx.owner).setOrdersPaused(false);
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Paused);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Paused);
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Retired);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Retired);
    });
  });

  describe("provider-fee quotes", function () {
    beforeEach(async function () {
      await market.connect(ctx.consumer).buy(dt.address, 3, usdAddr, 5n * ONE);
    });

    it("accepts a quote until its last second and rejects it after", async function () {
      const now = await latestTimestamp();
      const a = await quoteFor({ validUntil: BigInt(now + 100), nonce: 1n });
      await setNextTimestamp(now + 100);
      await expect(market.connect(ctx.consumer).startOrder(a.quote, a.signature, [])).to.emit(market, "OrderStarted");

      const b = await quoteFor({ validUntil: BigInt(now + 200), nonce: 2n });
      await setNextTimestamp(now + 201);
      await expect(market.connect(ctx.consumer).startOrder(b.quote, b.signature, []))
        .to.be.revertedWithCustomError(market, "MarketQuoteExpired").withArgs(now + 200, now + 201);
      expect(await market.isQuoteUsed(ctx.provider.address, 2n)).to.equal(false);
    });

    it("rejects a quote signed by someone other than the provider", async function () {
      const { quote, signature } = await quoteFor({}, ctx.other);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(ctx.other.address, ctx.provider.address);
    });

    it("rejects a malformed signature as signed by nobody", async function () {
      const { quote, signature } = await quoteFor({});
      for (const bad of ["0x", signature.slice(0, 130), ethers.concat([ethers.ZeroHash, ethers.ZeroHash, "0x1b"])]) {
        await expect(market.connect(ctx.consumer).startOrder(quote, bad, []))
          .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(ethers.ZeroAddress, ctx.provider.address);
      }
    });

    it("rejects a quote used for another consumer, amount, fee token, environment or expiry", async function () {
      const { quote, signature } = await quoteFor({ feeToken: usdAddr, amount: 5n });
      const tampered = [
        { consumer: ctx.other.address },
        { amount: 0n },
        { feeToken: ethers.ZeroAddress },
        { environment: ethers.id("other-env") },
        { validUntil: quote.validUntil + 1n },
        { nonce: quote.nonce + 1n },
      ];
      for (const change of tampered) {
        const forged = { ...quote, ...change };
        const recovered = ethers.recoverAddress(await market.quoteDigest(forged), signature);
        expect(recovered).to.not.equal(ctx.provider.address);
        await expect(market.connect(ctx.consumer).startOrder(forged, signature, []))
          .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(recovered, ctx.provider.address);
      }
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, [])).to.emit(market, "OrderStarted");
    });

    it("rejects a quote used for another service", async function () {
      const { quote, signature } = await quoteFor({ serviceId: SERVICE_DOWNLOAD });
      await expect(market.connect(ctx.consumer).startOrder({ ...quote, serviceId: SERVICE_COMPUTE }, signature, []))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(anyValue, ctx.provider.address);
    });

    it("rejects a quote used for another datatoken of the same provider", async function () {
      const second = await pub({ paymentToken: usdAddr });
      await market.connect(ctx.consumer).buy(second.address, 1, usdAddr, 5n * ONE);
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.consumer).startOrder({ ...quote, datatoken: second.address }, signature, []))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(anyValue, ctx.provider.address);
    });

    it("rejects a replayed quote (nonce reuse)", async function () {
      const { quote, signature } = await quoteFor({ nonce: 42n });
      await market.connect(ctx.consumer).startOrder(quote, signature, []);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(market, "MarketQuoteUsed").withArgs(ctx.provider.address, 42n);
      // A different quote with the same nonce is used up too.
      const again = await quoteFor({ nonce: 42n, amount: 0n, serviceId: SERVICE_COMPUTE });
      await expect(market.connect(ctx.consumer).startOrder(again.quote, again.signature, []))
        .to.be.revertedWithCustomError(market, "MarketQuoteUsed").withArgs(ctx.provider.address, 42n);
      expect(await dt.datatoken.balanceOf(ctx.consumer.address)).to.equal(2n);
    });

    it("tracks nonces per provider, across bitmap words", async function () {
      const max = (1n << 64n) - 1n;
      for (const nonce of [255n, 256n, max]) {
        const { quote, signature } = await quoteFor({ nonce });
        await market.connect(ctx.consumer).startOrder(quote, signature, []);
      }
      for (const [nonce, used] of [[254n, false], [255n, true], [256n, true], [257n, false], [max, true], [max - 1n, false]]) {
        expect(await market.isQuoteUsed(ctx.provider.address, nonce)).to.equal(used);
      }
      expect(await market.isQuoteUsed(ctx.other.address, 255n)).to.equal(false);

      // Another provider may use the same nonce.
      const theirs = await pub({ provider: ctx.other.address, paymentToken: usdAddr });
      await market.connect(ctx.consumer).buy(theirs.address, 1, usdAddr, 5n * ONE);
      const q = await signQuote(market, ctx.other, { datatoken: theirs.address, consumer: ctx.consumer.address, nonce: 255n });
      await expect(market.connect(ctx.consumer).startOrder(q.quote, q.signature, [])).to.emit(market, "OrderStarted");
      expect(await market.isQuoteUsed(ctx.other.address, 255n)).to.equal(true);
    });

    it("rejects a service the dataset does not offer", async function () {
      const downloadOnly = await pub({ paymentToken: usdAddr, services: 0b01 });
      await market.connect(ctx.consumer).buy(downloadOnly.address, 1, usdAddr, 5n * ONE);
      for (const serviceId of [SERVICE_COMPUTE, 7, 8, 255]) {
        const { quote, signature } = await signQuote(market, ctx.provider, {
          datatoken: downloadOnly.address, consumer: ctx.consumer.address, serviceId,
        });
        await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
          .to.be.revertedWithCustomError(market, "MarketServiceNotOffered").withArgs(downloadOnly.address, serviceId);
      }
      const ok = await signQuote(market, ctx.provider, { datatoken: downloadOnly.address, consumer: ctx.consumer.address });
      await expect(market.connect(ctx.consumer).startOrder(ok.quote, ok.signature, [])).to.emit(market, "OrderStarted");
    });
  });

  describe("allowlist", function () {
    let tree;

    beforeEach(async function () {
      tree = new AllowlistTree([ctx.consumer.address, ctx.other.address, ctx.publisher.address]);
      await market.connect(ctx.consumer).buy(dt.address, 3, usdAddr, 5n * ONE);
      await expect(market.connect(ctx.publisher).setAllowlist(dt.address, tree.root))
        .to.emit(market, "AllowlistSet").withArgs(dt.address, tree.root);
    });

    it("builds OpenZeppelin-style proofs", function () {
      for (const a of [ctx.consumer.address, ctx.other.address, ctx.publisher.address]) {
        expect(processProof(tree.proof(a), allowlistLeaf(a))).to.equal(tree.root);
      }
      const single = new AllowlistTree([ctx.consumer.address]);
      expect(single.root).to.equal(allowlistLeaf(ctx.consumer.address));
      expect(single.proof(ctx.consumer.address)).to.deep.equal([]);
    });

    it("records the root", async function () {
      const d = await market.getDataset(dt.address);
      expect(d.hasAllowlist).to.equal(true);
      expect(d.allowlistRoot).to.equal(tree.root);
    });

    it("lets an allowlisted consumer order with its proof", async function () {
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, tree.proof(ctx.consumer.address)))
        .to.emit(market, "OrderStarted");
    });

    it("rejects a missing or wrong proof, and a consumer not on the list", async function () {
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.be.revertedWithCustomError(market, "MarketNotAllowlisted").withArgs(ctx.consumer.address);
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, tree.proof(ctx.other.address)))
        .to.be.revertedWithCustomError(market, "MarketNotAllowlisted").withArgs(ctx.consumer.address);
      const outsider = await quoteFor({ consumer: ctx.publishMarket.address, nonce: 1n });
      await expect(market.connect(ctx.consumer).startOrder(outsider.quote, outsider.signature, tree.proof(ctx.consumer.address)))
        .to.be.revertedWithCustomError(market, "MarketNotAllowlisted").withArgs(ctx.publishMarket.address);
      expect(await market.isQuoteUsed(ctx.provider.address, 0n)).to.equal(false);
    });

    it("checks the consumer named in the quote, not the payer", async function () {
      await dt.datatoken.connect(ctx.consumer).transfer(ctx.publishMarket.address, 1);
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.publishMarket).startOrder(quote, signature, tree.proof(ctx.consumer.address)))
        .to.emit(market, "OrderStarted").withArgs(
          dt.address, ctx.consumer.address, ctx.provider.address, 0, ctx.publishMarket.address, OrderFunding.Burned,
          0, ethers.ZeroAddress, 0, 0, ethers.ZeroHash,
        );
    });

    it("single-member list: empty proof", async function () {
      const single = new AllowlistTree([ctx.consumer.address]);
      await market.connect(ctx.publisher).setAllowlist(dt.address, single.root);
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, [])).to.emit(market, "OrderStarted");
    });

    it("a zero root opens the dataset to anyone", async function () {
      await expect(market.connect(ctx.publisher).setAllowlist(dt.address, ethers.ZeroHash))
        .to.emit(market, "AllowlistSet").withArgs(dt.address, ethers.ZeroHash);
      expect((await market.getDataset(dt.address)).hasAllowlist).to.equal(false);
      const { quote, signature } = await quoteFor({ consumer: ctx.publishMarket.address });
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, [])).to.emit(market, "OrderStarted");
    });

    it("is publisher-only", async function () {
      await expect(market.connect(ctx.consumer).setAllowlist(dt.address, ethers.ZeroHash))
        .to.be.revertedWithCustomError(market, "MarketNotPublisher").withArgs(ctx.consumer.address, ctx.publisher.address);
    });

    it("applies to buyAndOrder too", async function () {
      const { quote, signature } = await quoteFor({ consumer: ctx.other.address });
      await expect(market.connect(ctx.other).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketNotAllowlisted").withArgs(ctx.other.address);
      const proof = tree.proof(ctx.other.address);
      await expect(market.connect(ctx.other).buyAndOrder(quote, signature, proof, usdAddr, 5n * ONE))
        .to.emit(market, "OrderStarted");
    });
  });

  describe("buyAndOrder", function () {
    it("buys one datatoken at the price and orders with it, minting and burning nothing", async function () {
      const { quote, signature } = await quoteFor({ feeToken: usdAddr, amount: ONE });
      const tx = market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE);
      await expect(tx).to.emit(market, "Bought")
        .withArgs(dt.address, ctx.consumer.address, usdAddr, 1, 5n * ONE, (5n * ONE) / 100n, 0, false);
      await expect(tx).to.emit(market, "OrderStarted").withArgs(
        dt.address, ctx.consumer.address, ctx.provider.address, 0, ctx.consumer.address, OrderFunding.Bought,
        0, usdAddr, ONE, 0, ethers.ZeroHash,
      );
      await expect(tx).to.changeTokenBalances(usd, [ctx.consumer, market], [-6n * ONE, 6n * ONE]);
      await expect(tx).to.not.emit(dt.datatoken, "Transfer");
      expect(await dt.datatoken.totalSupply()).to.equal(0n);
      expect(await market.earnings(usdAddr, ctx.provider.address)).to.equal(ONE);
      expect(await market.earnings(usdAddr, ctx.publisher.address)).to.equal((5n * ONE * 99n) / 100n);
    });

    it("takes the price and a fee in the same token with one transfer", async function () {
      const { quote, signature } = await quoteFor({ feeToken: usdAddr, amount: ONE });
      const tx = market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE);
      const receipt = await (await tx).wait();
      const transfers = receipt.logs.filter((l) => l.address === usdAddr)
        .map((l) => usd.interface.parseLog(l)).filter((e) => e.name === "Transfer");
      expect(transfers.map((e) => [e.args.from, e.args.to, e.args.value]))
        .to.deep.equal([[ctx.consumer.address, marketAddr, 6n * ONE]]);
    });

    it("takes the price and a fee in different tokens with one transfer each", async function () {
      const Token = await ethers.getContractFactory("MockERC20");
      const eur = await Token.deploy("Mock EUR", "mEUR");
      const eurAddr = await eur.getAddress();
      await eur.mint(ctx.consumer.address, 10n * ONE);
      await eur.connect(ctx.consumer).approve(marketAddr, ethers.MaxUint256);
      const { quote, signature } = await quoteFor({ feeToken: eurAddr, amount: 2n * ONE });
      const tx = market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE);
      await expect(tx).to.changeTokenBalances(usd, [ctx.consumer, market], [-5n * ONE, 5n * ONE]);
      await expect(tx).to.changeTokenBalances(eur, [ctx.consumer, market], [-2n * ONE, 2n * ONE]);
      expect(await market.earnings(eurAddr, ctx.provider.address)).to.equal(2n * ONE);
    });

    it("rejects a price above the max", async function () {
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, ONE))
        .to.be.revertedWithCustomError(market, "MarketPriceAboveMax").withArgs(5n * ONE, ONE);
    });

    it("sums the native price and the native provider fee in msg.value", async function () {
      const native = await pub({ price: 700n });
      const { quote, signature } = await signQuote(market, ctx.provider, {
        datatoken: native.address, consumer: ctx.consumer.address, amount: 300n,
      });
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], ethers.ZeroAddress, 700n, { value: 999n }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(999, 1000);
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], ethers.ZeroAddress, 700n, { value: 1001n }))
        .to.be.revertedWithCustomError(market, "MarketWrongValue").withArgs(1001, 1000);
      const tx = market.connect(ctx.consumer).buyAndOrder(quote, signature, [], ethers.ZeroAddress, 700n, { value: 1000n });
      await expect(tx).to.changeEtherBalances([ctx.consumer, market], [-1000n, 1000n]);
      expect(await market.earnings(ethers.ZeroAddress, ctx.provider.address)).to.equal(300n);
      expect(await market.earnings(ethers.ZeroAddress, ctx.publisher.address)).to.equal(693n);
      expect(await market.earnings(ethers.ZeroAddress, ctx.feeCollector.address)).to.equal(7n);
    });

    it("takes a native price and an ERC-20 fee", async function () {
      const native = await pub({ price: 700n });
      const { quote, signature } = await signQuote(market, ctx.provider, {
        datatoken: native.address, consumer: ctx.consumer.address, feeToken: usdAddr, amount: 300n,
      });
      const tx = market.connect(ctx.consumer).buyAndOrder(quote, signature, [], ethers.ZeroAddress, 700n, { value: 700n });
      await expect(tx).to.changeEtherBalance(ctx.consumer, -700n);
      await expect(tx).to.changeTokenBalance(usd, ctx.consumer, -300n);
    });

    it("orders a free dataset without a datatoken or payment, counting one against the dispenser", async function () {
      const free = await pub({ free: true, price: 0, dispenserLimit: 1 });
      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: free.address, consumer: ctx.consumer.address });
      const tx = market.connect(ctx.consumer).buyAndOrder(quote, signature, [], ethers.ZeroAddress, 0);
      await expect(tx).to.emit(market, "OrderStarted").withArgs(
        free.address, ctx.consumer.address, ctx.provider.address, 0, ctx.consumer.address, OrderFunding.Free,
        0, ethers.ZeroAddress, 0, 0, ethers.ZeroHash,
      );
      expect(await market.dispensed(free.address, ctx.consumer.address)).to.equal(1n);
      await expect(tx).to.not.emit(market, "Bought");
      await expect(tx).to.changeTokenBalance(usd, ctx.consumer, 0);
      expect(await free.datatoken.totalSupply()).to.equal(0n);
    });

    it("orders a free dataset with a native provider fee", async function () {
      const free = await pub({ free: true, price: 0, dispenserLimit: 1 });
      const { quote, signature } = await signQuote(market, ctx.provider, {
        datatoken: free.address, consumer: ctx.consumer.address, amount: 5n,
      });
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], ethers.ZeroAddress, 0, { value: 5n }))
        .to.changeEtherBalances([ctx.consumer, market], [-5n, 5n]);
    });

    it("rejects a free dataset whose dispenser hands out nothing", async function () {
      const free = await pub({ free: true, price: 0, dispenserLimit: 0 });
      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: free.address, consumer: ctx.consumer.address });
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], ethers.ZeroAddress, 0))
        .to.be.revertedWithCustomError(market, "MarketDispenserLimit").withArgs(1, 0);
    });

    it("rejects an unknown, paused or order-paused dataset", async function () {
      const { quote, signature } = await quoteFor({});
      await expect(market.connect(ctx.consumer).buyAndOrder({ ...quote, datatoken: usdAddr }, signature, [], usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Paused);
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketDatasetNotActive").withArgs(dt.address, State.Paused);
      await market.connect(ctx.publisher).setDatasetState(dt.address, State.Active);
      await market.connect(ctx.owner).setOrdersPaused(true);
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketOrdersPaused");
    });

    it("checks the quote like startOrder", async function () {
      const { quote, signature } = await quoteFor({ nonce: 3n });
      await market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE);
      await expect(market.connect(ctx.consumer).buyAndOrder(quote, signature, [], usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketQuoteUsed").withArgs(ctx.provider.address, 3n);
      const forged = await quoteFor({ nonce: 4n }, ctx.consumer);
      await expect(market.connect(ctx.consumer).buyAndOrder(forged.quote, forged.signature, [], usdAddr, 5n * ONE))
        .to.be.revertedWithCustomError(market, "MarketQuoteSignerMismatch").withArgs(ctx.consumer.address, ctx.provider.address);
    });
  });

  describe("buyAndOrderWithPermit", function () {
    let wallet;
    let deadline;

    beforeEach(async function () {
      wallet = ethers.Wallet.createRandom().connect(ethers.provider);
      await ctx.owner.sendTransaction({ to: wallet.address, value: ONE });
      await usd.mint(wallet.address, 100n * ONE);
      deadline = BigInt((await latestTimestamp()) + HOUR);
    });

    it("permits and pays in one call, for an account that never approved", async function () {
      const permit = await signPermit(usd, wallet, marketAddr, 10n * ONE, deadline);
      const { quote, signature } = await quoteFor({ consumer: wallet.address, feeToken: usdAddr, amount: ONE });
      const tx = market.connect(wallet).buyAndOrderWithPermit(quote, signature, [], usdAddr, 5n * ONE, permit, NO_PERMIT);
      await expect(tx).to.emit(market, "OrderStarted");
      await expect(tx).to.changeTokenBalances(usd, [wallet, market], [-6n * ONE, 6n * ONE]);
      expect(await usd.allowance(wallet.address, marketAddr)).to.equal(4n * ONE);
      expect(await usd.nonces(wallet.address)).to.equal(1n);
    });

    it("still succeeds when someone front-ran the permit", async function () {
      const permit = await signPermit(usd, wallet, marketAddr, 10n * ONE, deadline);
      await usd.connect(ctx.other).permit(wallet.address, marketAddr, permit.value, permit.deadline, permit.v, permit.r, permit.s);
      expect(await usd.nonces(wallet.address)).to.equal(1n);
      const { quote, signature } = await quoteFor({ consumer: wallet.address });
      await expect(market.connect(wallet).buyAndOrderWithPermit(quote, signature, [], usdAddr, 5n * ONE, permit, NO_PERMIT))
        .to.changeTokenBalance(usd, wallet, -5n * ONE);
      expect(await usd.allowance(wallet.address, marketAddr)).to.equal(5n * ONE);
    });

    it("fails on the transfer when the permit is invalid and nothing is approved", async function () {
      const permit = await signPermit(usd, wallet, marketAddr, 10n * ONE, deadline, { signer: ctx.other });
      const { quote, signature } = await quoteFor({ consumer: wallet.address });
      await expect(market.connect(wallet).buyAndOrderWithPermit(quote, signature, [], usdAddr, 5n * ONE, permit, NO_PERMIT))
        .to.be.revertedWithCustomError(usd, "ERC20InsufficientAllowance").withArgs(marketAddr, 0, 5n * ONE);
    });

    it("succeeds with an expired permit when an allowance already exists", async function () {
      await usd.connect(wallet).approve(marketAddr, 5n * ONE);
      const permit = await signPermit(usd, wallet, marketAddr, 10n * ONE, 1n);
      const { quote, signature } = await quoteFor({ consumer: wallet.address });
      await expect(market.connect(wallet).buyAndOrderWithPermit(quote, signature, [], usdAddr, 5n * ONE, permit, NO_PERMIT))
        .to.emit(market, "Bought");
      expect(await usd.allowance(wallet.address, marketAddr)).to.equal(0n);
    });

    it("skips the permits for a native-priced dataset and a native fee", async function () {
      const native = await pub({ price: 100n });
      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: native.address, consumer: ctx.consumer.address });
      // A non-zero deadline: only the native payment token keeps the market from calling address(0).
      const permit = { value: 0, deadline: 1, v: 27, r: ethers.ZeroHash, s: ethers.ZeroHash };
      await expect(market.connect(ctx.consumer).buyAndOrderWithPermit(
        quote, signature, [], ethers.ZeroAddress, 100n, permit, permit, { value: 100n },
      )).to.emit(market, "OrderStarted");
    });

    it("reports an unknown dataset", async function () {
      const { quote, signature } = await quoteFor({ consumer: wallet.address });
      const permit = await signPermit(usd, wallet, marketAddr, 10n * ONE, deadline);
      await expect(market.connect(wallet).buyAndOrderWithPermit(
        { ...quote, datatoken: ctx.other.address }, signature, [], usdAddr, 5n * ONE, permit, NO_PERMIT,
      ))
        .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(ctx.other.address);
    });

    it("is blocked by the order pause", async function () {
      await market.connect(ctx.owner).setOrdersPaused(true);
      const permit = await signPermit(usd, wallet, marketAddr, 10n * ONE, deadline);
      const { quote, signature } = await quoteFor({ consumer: wallet.address });
      await expect(market.connect(wallet).buyAndOrderWithPermit(quote, signature, [], usdAddr, 5n * ONE, permit, NO_PERMIT))
        .to.be.revertedWithCustomError(market, "MarketOrdersPaused");
      expect(await usd.nonces(wallet.address)).to.equal(0n);
    });
  });
});
