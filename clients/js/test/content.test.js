import assert from "node:assert/strict";
import { test } from "node:test";

import * as dagPb from "@ipld/dag-pb";
import { sha256 } from "@noble/hashes/sha2.js";
import { CID } from "multiformats/cid";
import { create as digestOf } from "multiformats/hashes/digest";

import { concat } from "../src/bytes.js";
import { Gateway, decodeUnixFs } from "../src/content.js";

const cidOf = (code, bytes) => CID.create(1, code, digestOf(0x12, sha256(bytes)));

function varint(n) {
  const out = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** A UnixFS Data message: Type, optional Data, filesize, blocksizes. */
function unixfs(type, data, filesize, blocksizes = []) {
  const bytes = [0x08, ...varint(type)];
  if (data) bytes.push(0x12, ...varint(data.length), ...data);
  bytes.push(0x18, ...varint(filesize));
  for (const size of blocksizes) bytes.push(0x20, ...varint(size));
  return new Uint8Array(bytes);
}

/** A two-level file: a dag-pb root over raw leaves and one dag-pb leaf; `{root, blocks, bytes}`. */
function file() {
  const blocks = new Map();
  const put = (code, bytes) => {
    const cid = cidOf(code, bytes);
    blocks.set(cid.toString(), bytes);
    return cid;
  };
  const leaves = [new Uint8Array(300).fill(1), new Uint8Array(300).fill(2)];
  const pbLeafData = new Uint8Array(50).fill(3);
  const pbLeaf = dagPb.encode(dagPb.prepare({ Data: unixfs(2, pbLeafData, 50), Links: [] }));
  const links = [...leaves.map((leaf) => ({ cid: put(0x55, leaf), size: leaf.length })), { cid: put(0x70, pbLeaf), size: pbLeaf.length }];
  const root = dagPb.encode(
    dagPb.prepare({
      Data: unixfs(2, null, 650, [300, 300, 50]),
      Links: links.map((l) => ({ Hash: l.cid, Tsize: l.size, Name: "" })),
    }),
  );
  return { root: put(0x70, root).toString(), blocks, bytes: concat([...leaves, pbLeafData]) };
}

function fakeFetch(blocks, urls = []) {
  return async (url, init) => {
    urls.push([url, init.headers.Accept]);
    const cid = new URL(url).pathname.replace("/ipfs/", "");
    const bytes = blocks.get(cid);
    if (!bytes) return new Response(JSON.stringify({ error: { code: "not_found" } }), { status: 404 });
    return new Response(bytes, { status: 200 });
  };
}

test("a UnixFS file is read block by block, raw and dag-pb leaves alike", async () => {
  const { root, blocks, bytes } = file();
  const urls = [];
  const gateway = new Gateway("http://gw.test/", { fetch: fakeFetch(blocks, urls) });
  assert.deepEqual(await gateway.file(root), bytes);
  assert.equal(urls.length, 4);
  assert.ok(urls.every(([url, accept]) => url.startsWith("http://gw.test/ipfs/") && url.endsWith("?format=raw") && accept === "application/vnd.ipld.raw"));
});

test("a block that does not hash to its CID is refused", async () => {
  const { root, blocks } = file();
  const [leaf] = [...blocks.keys()];
  blocks.set(leaf, blocks.get(leaf).map((b, i) => (i === 0 ? b ^ 1 : b)));
  await assert.rejects(new Gateway("http://gw.test", { fetch: fakeFetch(blocks) }).file(root), { code: "content_mismatch" });
});

test("an absent block, an unreachable gateway and a bad CID are ContentErrors with their code", async () => {
  const { root, blocks } = file();
  blocks.delete([...blocks.keys()][1]);
  await assert.rejects(new Gateway("http://gw.test", { fetch: fakeFetch(blocks) }).file(root), { code: "content_not_found" });
  const down = async () => {
    throw new TypeError("fetch failed");
  };
  await assert.rejects(new Gateway("http://gw.test", { fetch: down }).block(root), { code: "content_unavailable" });
  await assert.rejects(new Gateway("http://gw.test").block("not-a-cid"), { code: "invalid_cid" });
});

test("a file larger than maxBytes is refused", async () => {
  const { root, blocks } = file();
  await assert.rejects(new Gateway("http://gw.test", { fetch: fakeFetch(blocks), maxBytes: 600 }).file(root), { code: "content_too_large" });
});

test("the UnixFS reader takes Type, Data and filesize", () => {
  assert.deepEqual(decodeUnixFs(unixfs(2, new Uint8Array([7, 8]), 2, [2])), { type: 2, data: new Uint8Array([7, 8]), filesize: 2 });
  assert.throws(() => decodeUnixFs(new Uint8Array([0x12, 0x05, 1])), /truncated/);
});

test("a block the gateway rate-limits is asked for again after its Retry-After", async () => {
  const { root, blocks, bytes } = file();
  let refusals = 0;
  const limited = fakeFetch(blocks);
  const fetcher = async (url, init) => {
    if (refusals++ < 2) return new Response("{}", { status: 429, headers: { "Retry-After": "0" } });
    return limited(url, init);
  };
  assert.deepEqual(await new Gateway("http://gw.test", { fetch: fetcher }).file(root), bytes);
  assert.equal(refusals, 6);
  const always = async () => new Response("{}", { status: 429, headers: { "Retry-After": "0" } });
  await assert.rejects(new Gateway("http://gw.test", { fetch: always }).block(root), { code: "content_unavailable" });
});
