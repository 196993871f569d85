// DataMarket compute receipts: batches of one dataset posted by its provider, charged against its privacy budget.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { deployMarket, publish } = require("./fixtures");
const { State, JobStatus, receipt } = require("./helpers");

describe("DataMarket: compute receipts and privacy budgets", function () {
  let ctx;
  let market;
  let a; // budget 10 epsilon (10_000_000 micro-epsilon)
  let b; // budget 1 epsilon, same provider

  const spent = async (dt) => (await market.getDataset(dt.address)).epsilonSpent;
  const post = (dt, receipts, signer = ctx.provider) => market.connect(signer).postComputeReceipts(dt.address, receipts);

  beforeEach(async function () {
    ctx = await deployMarket();
    market = ctx.market;
    a = await publish(market, ctx.publisher, { provider: ctx.provider.address, epsilonBudget: 10_000_000 });
    b = await publish(market, ctx.publisher, { provider: ctx.provider.address, epsilonBudget: 1_000_000 });
  });

  it("posts one receipt, emits ComputeReceiptPosted and charges its epsilon", async function () {
    const r = receipt(250_000, { status: JobStatus.Failed });
    await expect(post(a, [r])).to.emit(market, "ComputeReceiptPosted").withArgs(
      r.jobId, a.address, r.orderId, ctx.provider.address, r.algorithmHash, r.outputHash, 250_000, 250_000, JobStatus.Failed,
    );
    expect(await spent(a)).to.equal(250_000n);
    expect(await spent(b)).to.equal(0n);
  });

  it("posts a batch of ten jobs on one dataset, each with the spent epsilon after it", async function () {
    const batch = Array.from({ length: 10 }, (_, i) => receipt(100_000 * (i + 1)));
    const tx = post(a, batch);
    let after = 0;
    for (const r of batch) {
      after += r.epsilon;
      await expect(tx).to.emit(market, "ComputeReceiptPosted").withArgs(
        r.jobId, a.address, r.orderId, ctx.provider.address, r.algorithmHash, r.outputHash, r.epsilon, after,
        JobStatus.Succeeded,
      );
    }
    expect(await spent(a)).to.equal(5_500_000n);
  });

  it("charges each dataset in its own batch", async function () {
    await post(a, [receipt(1_000_000), receipt(2_000_000)]);
    await post(b, [receipt(300_000), receipt(700_000)]);
    expect(await spent(a)).to.equal(3_000_000n);
    expect(await spent(b)).to.equal(1_000_000n);
    await post(a, [receipt(500_000)]);
    expect(await spent(a)).to.equal(3_500_000n);
  });

  it("emits every job status", async function () {
    const batch = Object.values(JobStatus).map((status) => receipt(1, { status }));
    const rc = await (await post(a, batch)).wait();
    const statuses = rc.logs.map((l) => market.interface.parseLog(l).args.status);
    expect(statuses).to.deep.equal([0n, 1n, 2n, 3n]);
  });

  it("accepts zero-epsilon receipts on a zero budget", async function () {
    const none = await publish(market, ctx.publisher, { provider: ctx.provider.address, epsilonBudget: 0 });
    await expect(post(none, [receipt(0)])).to.emit(market, "ComputeReceiptPosted");
    await expect(post(none, [receipt(1)]))
      .to.be.revertedWithCustomError(market, "MarketBudgetExceeded").withArgs(none.address, 1, 0);
  });

  it("spends the budget exactly, then rejects one micro-epsilon more", async function () {
    await post(b, [receipt(400_000), receipt(600_000)]);
    expect(await spent(b)).to.equal(1_000_000n);
    await expect(post(b, [receipt(1)]))
      .to.be.revertedWithCustomError(market, "MarketBudgetExceeded").withArgs(b.address, 1_000_001, 1_000_000);
  });

  it("rejects the whole batch when one receipt overflows the budget", async function () {
    await expect(post(b, [receipt(1), receipt(900_000), receipt(200_000)]))
      .to.be.revertedWithCustomError(market, "MarketBudgetExceeded").withArgs(b.address, 1_100_001, 1_000_000);
    expect(await spent(b)).to.equal(0n);
  });

  it("counts the budget across batches", async function () {
    await post(b, [receipt(800_000)]);
    await expect(post(b, [receipt(100_000), receipt(100_001)]))
      .to.be.revertedWithCustomError(market, "MarketBudgetExceeded").withArgs(b.address, 1_000_001, 1_000_000);
    expect(await spent(b)).to.equal(800_000n);
  });

  it("accepts a job that fits after the publisher raises the budget", async function () {
    await post(b, [receipt(1_000_000)]);
    await expect(post(b, [receipt(500_000)]))
      .to.be.revertedWithCustomError(market, "MarketBudgetExceeded").withArgs(b.address, 1_500_000, 1_000_000);
    await market.connect(ctx.publisher).raisePrivacyBudget(b.address, 1_500_000);
    await post(b, [receipt(500_000)]);
    expect(await spent(b)).to.equal(1_500_000n);
    await expect(market.connect(ctx.publisher).raisePrivacyBudget(b.address, 1_499_999))
      .to.be.revertedWithCustomError(market, "MarketBudgetDecrease").withArgs(1_500_000, 1_499_999);
  });

  it("rejects a caller that is not the dataset's provider", async function () {
    await expect(post(a, [receipt(1)], ctx.publisher))
      .to.be.revertedWithCustomError(market, "MarketNotProvider").withArgs(ctx.publisher.address, ctx.provider.address);
    const theirs = await publish(market, ctx.publisher, { provider: ctx.other.address });
    await expect(post(theirs, [receipt(1)]))
      .to.be.revertedWithCustomError(market, "MarketNotProvider").withArgs(ctx.provider.address, ctx.other.address);
    await expect(post(a, [receipt(1)], ctx.other))
      .to.be.revertedWithCustomError(market, "MarketNotProvider").withArgs(ctx.other.address, ctx.provider.address);
    expect(await spent(a)).to.equal(0n);
    await expect(post(theirs, [receipt(1)], ctx.other)).to.emit(market, "ComputeReceiptPosted");
  });

  it("rejects an empty batch", async function () {
    await expect(post(a, [])).to.be.revertedWithCustomError(market, "MarketEmptyBatch");
  });

  it("rejects an unknown dataset, including address(0)", async function () {
    const usdAddr = await ctx.usd.getAddress();
    await expect(market.connect(ctx.provider).postComputeReceipts(usdAddr, [receipt(0)]))
      .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(usdAddr);
    await expect(market.connect(ctx.provider).postComputeReceipts(ethers.ZeroAddress, [receipt(0)]))
      .to.be.revertedWithCustomError(market, "MarketUnknownDataset").withArgs(ethers.ZeroAddress);
  });

  it("still records jobs of a paused or retired dataset", async function () {
    await market.connect(ctx.publisher).setDatasetState(a.address, State.Paused);
    await post(a, [receipt(10)]);
    await market.connect(ctx.publisher).setDatasetState(a.address, State.Retired);
    await post(a, [receipt(10)]);
    expect(await spent(a)).to.equal(20n);
  });
});
