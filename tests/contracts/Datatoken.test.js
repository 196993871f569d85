// Datatoken: the ERC-20 + EIP-2612 clone; market-only mint and burn with a cap.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { deployMarket, publish } = require("./fixtures");
const { PERMIT_TYPES, signPermit, latestTimestamp } = require("./helpers");

describe("Datatoken", function () {
  let ctx;
  let market;
  let dt;
  let token;
  let tokenAddr;

  beforeEach(async function () {
    ctx = await deployMarket();
    market = ctx.market;
    dt = await publish(market, ctx.publisher, { provider: ctx.provider.address, cap: 100 });
    token = dt.datatoken;
    tokenAddr = dt.address;
    await market.connect(ctx.publisher).mint(tokenAddr, ctx.consumer.address, 10);
  });

  describe("metadata", function () {
    it("has a shared name, an indexed symbol and 0 decimals", async function () {
      const second = await publish(market, ctx.publisher, { provider: ctx.provider.address });
      expect(await token.name()).to.equal("Datamarket Datatoken");
      expect(await second.datatoken.name()).to.equal("Datamarket Datatoken");
      expect(await token.symbol()).to.equal("DT-0");
      expect(await second.datatoken.symbol()).to.equal("DT-1");
      expect(await token.decimals()).to.equal(0n);
      expect(await token.market()).to.equal(await market.getAddress());
      expect(await second.datatoken.datasetIndex()).to.equal(1n);
    });

    it("has a per-clone EIP-712 domain", async function () {
      const second = await publish(market, ctx.publisher, { provider: ctx.provider.address });
      const { chainId } = await ethers.provider.getNetwork();
      const domain = { name: "Datamarket Datatoken", version: "1", chainId, verifyingContract: tokenAddr };
      expect(await token.DOMAIN_SEPARATOR()).to.equal(ethers.TypedDataEncoder.hashDomain(domain));
      expect(await second.datatoken.DOMAIN_SEPARATOR()).to.not.equal(await token.DOMAIN_SEPARATOR());
      const d = await token.eip712Domain();
      expect(d.name).to.equal("Datamarket Datatoken");
      expect(d.version).to.equal("1");
      expect(d.chainId).to.equal(chainId);
      expect(d.verifyingContract).to.equal(tokenAddr);
    });
  });

  describe("market-only mint and burn", function () {
    it("rejects marketMint and marketBurn from anyone but the market", async function () {
      await expect(token.connect(ctx.publisher).marketMint(ctx.publisher.address, 1, 0))
        .to.be.revertedWithCustomError(token, "DatatokenUnauthorized").withArgs(ctx.publisher.address);
      await expect(token.connect(ctx.consumer).marketBurn(ctx.consumer.address, 1))
        .to.be.revertedWithCustomError(token, "DatatokenUnauthorized").withArgs(ctx.consumer.address);
      expect(await token.totalSupply()).to.equal(10n);
    });

    it("rejects calls on the implementation from anyone but the market", async function () {
      const impl = await ethers.getContractAt("Datatoken", await market.datatokenImplementation());
      await expect(impl.marketMint(ctx.other.address, 1, 0))
        .to.be.revertedWithCustomError(impl, "DatatokenUnauthorized").withArgs(ctx.owner.address);
    });

    it("mints up to the cap exactly", async function () {
      await market.connect(ctx.publisher).mint(tokenAddr, ctx.other.address, 90);
      expect(await token.totalSupply()).to.equal(100n);
      await expect(market.connect(ctx.publisher).mint(tokenAddr, ctx.other.address, 1))
        .to.be.revertedWithCustomError(token, "DatatokenCapExceeded").withArgs(101, 100);
    });

    it("frees room under the cap when an order burns a datatoken", async function () {
      const { signQuote } = require("./fixtures");
      await market.connect(ctx.publisher).mint(tokenAddr, ctx.other.address, 90);
      const { quote, signature } = await signQuote(market, ctx.provider, { datatoken: tokenAddr, consumer: ctx.consumer.address });
      await expect(market.connect(ctx.consumer).startOrder(quote, signature, []))
        .to.emit(token, "Transfer").withArgs(ctx.consumer.address, ethers.ZeroAddress, 1);
      expect(await token.totalSupply()).to.equal(99n);
      await expect(market.connect(ctx.publisher).mint(tokenAddr, ctx.other.address, 1))
        .to.emit(token, "Transfer").withArgs(ethers.ZeroAddress, ctx.other.address, 1);
    });
  });

  describe("ERC-20", function () {
    it("transfers, approves and transfers from", async function () {
      await expect(token.connect(ctx.consumer).transfer(ctx.other.address, 3))
        .to.changeTokenBalances(token, [ctx.consumer, ctx.other], [-3, 3]);
      await expect(token.connect(ctx.consumer).approve(ctx.other.address, 4))
        .to.emit(token, "Approval").withArgs(ctx.consumer.address, ctx.other.address, 4);
      await token.connect(ctx.other).transferFrom(ctx.consumer.address, ctx.publisher.address, 4);
      expect(await token.balanceOf(ctx.publisher.address)).to.equal(4n);
      expect(await token.allowance(ctx.consumer.address, ctx.other.address)).to.equal(0n);
      await expect(token.connect(ctx.other).transferFrom(ctx.consumer.address, ctx.other.address, 1))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance").withArgs(ctx.other.address, 0, 1);
      await expect(token.connect(ctx.consumer).transfer(ctx.other.address, 4))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientBalance").withArgs(ctx.consumer.address, 3, 4);
    });
  });

  describe("EIP-2612 permit", function () {
    let deadline;

    beforeEach(async function () {
      deadline = BigInt((await latestTimestamp()) + 3600);
    });

    it("sets the allowance from a signature and bumps the nonce", async function () {
      const p = await signPermit(token, ctx.consumer, ctx.other.address, 7n, deadline);
      await expect(token.connect(ctx.other).permit(ctx.consumer.address, ctx.other.address, p.value, p.deadline, p.v, p.r, p.s))
        .to.emit(token, "Approval").withArgs(ctx.consumer.address, ctx.other.address, 7);
      expect(await token.allowance(ctx.consumer.address, ctx.other.address)).to.equal(7n);
      expect(await token.nonces(ctx.consumer.address)).to.equal(1n);
      await token.connect(ctx.other).transferFrom(ctx.consumer.address, ctx.other.address, 7);
      expect(await token.balanceOf(ctx.other.address)).to.equal(7n);
    });

    it("rejects a replayed permit", async function () {
      const p = await signPermit(token, ctx.consumer, ctx.other.address, 7n, deadline);
      await token.permit(ctx.consumer.address, ctx.other.address, p.value, p.deadline, p.v, p.r, p.s);
      await expect(token.permit(ctx.consumer.address, ctx.other.address, p.value, p.deadline, p.v, p.r, p.s))
        .to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
    });

    it("rejects an expired permit", async function () {
      const past = BigInt(await latestTimestamp()) - 1n;
      const p = await signPermit(token, ctx.consumer, ctx.other.address, 7n, past);
      await expect(token.permit(ctx.consumer.address, ctx.other.address, p.value, p.deadline, p.v, p.r, p.s))
        .to.be.revertedWithCustomError(token, "ERC2612ExpiredSignature").withArgs(past);
    });

    it("rejects a permit signed by someone else", async function () {
      const p = await signPermit(token, ctx.consumer, ctx.other.address, 7n, deadline, { signer: ctx.other });
      await expect(token.permit(ctx.consumer.address, ctx.other.address, p.value, p.deadline, p.v, p.r, p.s))
        .to.be.revertedWithCustomError(token, "ERC2612InvalidSigner").withArgs(ctx.other.address, ctx.consumer.address);
    });

    it("does not accept a permit made for another datatoken", async function () {
      const second = await publish(market, ctx.publisher, { provider: ctx.provider.address });
      const p = await signPermit(token, ctx.consumer, ctx.other.address, 7n, deadline);
      await expect(second.datatoken.permit(ctx.consumer.address, ctx.other.address, p.value, p.deadline, p.v, p.r, p.s))
        .to.be.revertedWithCustomError(second.datatoken, "ERC2612InvalidSigner");
      // The same typed data signed in the second clone's domain works there.
      const { chainId } = await ethers.provider.getNetwork();
      const sig = ethers.Signature.from(await ctx.consumer.signTypedData(
        { name: "Datamarket Datatoken", version: "1", chainId, verifyingContract: second.address },
        PERMIT_TYPES,
        { owner: ctx.consumer.address, spender: ctx.other.address, value: 7n, nonce: 0n, deadline },
      ));
      await second.datatoken.permit(ctx.consumer.address, ctx.other.address, 7n, deadline, sig.v, sig.r, sig.s);
      expect(await second.datatoken.allowance(ctx.consumer.address, ctx.other.address)).to.equal(7n);
    });
  });
});
