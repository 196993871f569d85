// Test-only helpers on top of fixtures.js: an OpenZeppelin StandardMerkleTree of addresses (the
// market's allowlist format), EIP-2612 permit signing, compute receipts, event order and time control.
const { ethers, network } = require("hardhat");

const coder = ethers.AbiCoder.defaultAbiCoder();

const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

const State = { None: 0, Active: 1, Paused: 2, Retired: 3 };
const JobStatus = { Succeeded: 0, Failed: 1, Rejected: 2, Cancelled: 3 };
const OrderFunding = { Burned: 0, Bought: 1, Free: 2 };

/** OpenZeppelin StandardMerkleTree leaf of an `address`: keccak256(bytes.concat(keccak256(abi.encode(a)))). */
function allowlistLeaf(address) {
  return ethers.keccak256(ethers.keccak256(coder.encode(["address"], [address])));
}

function hashPair(a, b) {
  const [x, y] = BigInt(a) < BigInt(b) ? [a, b] : [b, a];
  return ethers.keccak256(ethers.concat([x, y]));
}

/**
 * The same tree as `StandardMerkleTree.of(addresses.map(a => [a]), ["address"])`: leaves sorted by
 * hash, stored as a complete binary tree in an array (leaves at the end, root at index 0).
 */
class AllowlistTree {
  constructor(addresses) {
    if (addresses.length === 0) throw new Error("empty tree");
    const leaves = addresses.map(allowlistLeaf).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const n = leaves.length;
    this.tree = new Array(2 * n - 1);
    leaves.forEach((leaf, i) => { this.tree[this.tree.length - 1 - i] = leaf; });
    for (let i = this.tree.length - 1 - n; i >= 0; i--) {
      this.tree[i] = hashPair(this.tree[2 * i + 1], this.tree[2 * i + 2]);
    }
    this.root = this.tree[0];
  }

  proof(address) {
    let i = this.tree.indexOf(allowlistLeaf(address));
    if (i < 0) throw new Error(`${address} is not in the tree`);
    const proof = [];
    while (i > 0) {
      proof.push(this.tree[i % 2 === 1 ? i + 1 : i - 1]);
      i = Math.floor((i - 1) / 2);
    }
    return proof;
  }
}

/** Folds a proof the way MerkleProof.verify does (to check the helper itself). */
function processProof(proof, leaf) {
  return proof.reduce((h, p) => hashPair(h, p), leaf);
}

/** Signs an EIP-2612 permit of `token` (MockERC20 or Datatoken) and returns its v, r, s. */
async function signPermit(token, owner, spender, value, deadline, { nonce, signer } = {}) {
  const { chainId } = await ethers.provider.getNetwork();
  const domain = { name: await token.name(), version: "1", chainId, verifyingContract: await token.getAddress() };
  const message = {
    owner: owner.address,
    spender,
    value,
    nonce: nonce ?? (await token.nonces(owner.address)),
    deadline,
  };
  const sig = ethers.Signature.from(await (signer ?? owner).signTypedData(domain, PERMIT_TYPES, message));
  return { value, deadline, v: sig.v, r: sig.r, s: sig.s };
}

let receiptCount = 0;

/**
 * A compute receipt (of the dataset the batch is posted for) with a unique job id, order id and output
 * hash; `overrides` replaces any field.
 */
function receipt(epsilon, overrides = {}) {
  const tag = receiptCount++;
  return {
    jobId: ethers.keccak256(ethers.toUtf8Bytes(`job-${tag}`)),
    orderId: BigInt(tag),
    algorithmHash: ethers.sha256(ethers.toUtf8Bytes("train_tabular")),
    outputHash: ethers.sha256(ethers.toUtf8Bytes(`output-${tag}`)),
    epsilon,
    status: JobStatus.Succeeded,
    ...overrides,
  };
}

/** The events `contract` emitted in a mined transaction, in order, parsed (other contracts' logs left out). */
async function eventsOf(contract, txPromise) {
  const rc = await (await txPromise).wait();
  const address = await contract.getAddress();
  return rc.logs.filter((l) => l.address === address).map((l) => contract.interface.parseLog(l));
}

async function latestTimestamp() {
  return (await ethers.provider.getBlock("latest")).timestamp;
}

async function setNextTimestamp(ts) {
  await network.provider.send("evm_setNextBlockTimestamp", [Number(ts)]);
}

/** Mines an empty block at `ts`. */
async function mineAt(ts) {
  await setNextTimestamp(ts);
  await network.provider.send("evm_mine");
}

module.exports = {
  PERMIT_TYPES, State, JobStatus, OrderFunding,
  allowlistLeaf, hashPair, AllowlistTree, processProof,
  signPermit, receipt, eventsOf, latestTimestamp, setNextTimestamp, mineAt,
};
