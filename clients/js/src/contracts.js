/**
 * The market contract, through ethers v6: reading a dataset and its metadata pointer, and ordering
 * (buy one datatoken and order in one transaction, or spend one already held). ABIs come from
 * `abi.js`, generated from the ABIs the Python package carries.
 */

import { Contract, ZeroAddress, getAddress } from "ethers";

import { DataMarket as MARKET_ABI, Datatoken as TOKEN_ABI } from "./abi.js";
import { DatamarketError } from "./errors.js";

export const DATASET_STATES = ["none", "active", "paused", "retired"];

export class Market {
  /**
   * @param {string} address the market contract
   * @param {import("ethers").ContractRunner} runner a Signer (to order) or a Provider (to read)
   * @param {{fromBlock?: number}} [options] where to start looking for a dataset's events (the
   *   market's deployment block; a node may refuse to search a whole chain)
   */
  constructor(address, runner, { fromBlock = 0 } = {}) {
    this.address = getAddress(address);
    this.runner = runner;
    this.fromBlock = fromBlock;
    this.contract = new Contract(this.address, MARKET_ABI, runner);
  }

  /** The dataset as the market stores it (field names as in `getDataset`); integers as bigints. */
  async dataset(datatoken) {
    const record = (await this.contract.getDataset(getAddress(datatoken))).toObject();
    if (Number(record.state) === 0) {
      throw new DatamarketError("unknown_dataset", `${datatoken} is not a dataset of market ${this.address}`);
    }
    return { ...record, state: Number(record.state), services: Number(record.services) };
  }

  /**
   * The current metadata document's `{cid, sha256}`: the CID of the newest DatasetPublished or
   * MetadataUpdated event, the sha256 (hex, no `0x`) the market stores now.
   */
  async metadataPointer(datatoken) {
    const address = getAddress(datatoken);
    const record = await this.dataset(address);
    const events = [
      ...(await this.contract.queryFilter(this.contract.filters.DatasetPublished(address), this.fromBlock, "latest")),
      ...(await this.contract.queryFilter(this.contract.filters.MetadataUpdated(address), this.fromBlock, "latest")),
    ].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
    if (events.length === 0) throw new DatamarketError("unknown_dataset", `no metadata event found for ${address}`);
    return { cid: events.at(-1).args.metadataCid, sha256: record.metadataHash.slice(2).toLowerCase() };
  }

  token(address) {
    return new Contract(getAddress(address), TOKEN_ABI, this.runner);
  }

  async balanceOf(token, account) {
    return this.token(token).balanceOf(getAddress(account));
  }

  /**
   * Approve exactly `amount` of `token` to the market when it may take less (never unlimited).
   * Resolves once the chain counts the approval among the owner's transactions, so that the next
   * transaction's nonce follows it (a provider may answer the nonce from a short-lived cache).
   */
  async ensureAllowance(token, amount, owner) {
    if (getAddress(token) === ZeroAddress || amount === 0n) return;
    const contract = this.token(token);
    if ((await contract.allowance(owner, this.address)) >= amount) return;
    const tx = await contract.approve(this.address, amount);
    await tx.wait();
    const provider = this.runner.provider ?? this.runner;
    for (let i = 0; i < 50 && (await provider.getTransactionCount(owner, "pending")) <= tx.nonce; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Order the quoted service: spend a datatoken the consumer holds, or buy one at the dataset's
   * price (at most `maxPrice`) and order with it in one transaction. Exactly what is due is approved
   * first. Resolves to `{orderTx, orderId, receipt}`.
   */
  async order(quote, signature, { proof = [], maxPrice } = {}) {
    const consumer = getAddress(await this.runner.getAddress());
    const tuple = [
      quote.datatoken, quote.consumer, quote.serviceId, quote.feeToken,
      quote.amount, quote.validUntil, quote.nonce, quote.environment,
    ];
    let tx;
    if ((await this.balanceOf(quote.datatoken, consumer)) > 0n) {
      await this.ensureAllowance(quote.feeToken, quote.amount, consumer);
      const value = quote.feeToken === ZeroAddress ? quote.amount : 0n;
      tx = await this.contract.startOrder(tuple, signature, proof, { value });
    } else {
      const record = await this.dataset(quote.datatoken);
      const paymentToken = record.free ? ZeroAddress : getAddress(record.paymentToken);
      const limit = maxPrice ?? (record.free ? 0n : record.price);
      const price = record.free ? 0n : record.price < limit ? record.price : limit;
      const due = new Map();
      for (const [token, amount] of [[paymentToken, price], [quote.feeToken, quote.amount]]) {
        due.set(token, (due.get(token) ?? 0n) + amount);
      }
      for (const [token, amount] of due) await this.ensureAllowance(token, amount, consumer);
      const value = due.get(ZeroAddress) ?? 0n;
      tx = await this.contract.buyAndOrder(tuple, signature, proof, paymentToken, limit, { value });
    }
    const receipt = await tx.wait();
    return { ...this.orderIn(receipt, quote.datatoken, consumer, quote.serviceId), receipt };
  }

  /** `{orderTx, orderId}` of the one OrderStarted of this consumer and service in a receipt. */
  orderIn(receipt, datatoken, consumer, serviceId) {
    const ids = [];
    for (const log of receipt.logs) {
      if (getAddress(log.address) !== this.address) continue;
      const parsed = this.contract.interface.parseLog(log);
      if (
        parsed?.name === "OrderStarted" &&
        getAddress(parsed.args.datatoken) === getAddress(datatoken) &&
        getAddress(parsed.args.consumer) === getAddress(consumer) &&
        Number(parsed.args.serviceId) === Number(serviceId)
      ) {
        ids.push(parsed.args.orderId);
      }
    }
    if (ids.length !== 1) {
      throw new DatamarketError("order_not_found", `the transaction ${receipt.hash} holds ${ids.length} matching orders`);
    }
    return { orderTx: receipt.hash.toLowerCase(), orderId: ids[0] };
  }
}
