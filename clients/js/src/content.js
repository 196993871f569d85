/**
 * Content from an IPFS Trustless Gateway (`GET /ipfs/{cid}?format=raw`, one block a request), each
 * block checked against its CID before it is used: its sha2-256 must be the CID's multihash. Files
 * are UnixFS (docs/data-path.md): a raw block (CIDv1 raw leaves), or a dag-pb node whose UnixFS data
 * (type File or Raw) holds the first bytes and whose links, in order, hold the rest.
 */

import { CID } from "multiformats/cid";
import * as dagPb from "@ipld/dag-pb";
import { sha256 } from "@noble/hashes/sha2.js";

import { concat, equalBytes } from "./bytes.js";
import { ContentError } from "./errors.js";
import { unbound } from "./http.js";

const RAW = 0x55;
const DAG_PB = 0x70;
const SHA2_256 = 0x12;
const UNIXFS_RAW = 0;
const UNIXFS_FILE = 2;
/** Tries of a block the gateway answers 429 (rate limited), and the longest wait between them. */
const RATE_LIMIT_TRIES = 4;
const MAX_RETRY_AFTER_S = 10;
/** Links fetched side by side while a file is walked. */
const PARALLEL = 8;

/** Read a protobuf varint at `offset`: `[value, next offset]` (values up to 2^53). */
function varint(bytes, offset) {
  let value = 0;
  let scale = 1;
  for (let i = offset; i < bytes.length && i < offset + 8; i++) {
    value += (bytes[i] & 0x7f) * scale;
    if ((bytes[i] & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  throw new ContentError("invalid_content", "a malformed varint in a UnixFS node");
}

/** The fields of a UnixFS `Data` message this reader needs: `{type, data, filesize}`. */
export function decodeUnixFs(bytes) {
  const out = { type: undefined, data: new Uint8Array(0), filesize: undefined };
  let i = 0;
  while (i < bytes.length) {
    let key;
    [key, i] = varint(bytes, i);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      let value;
      [value, i] = varint(bytes, i);
      if (field === 1) out.type = value;
      if (field === 3) out.filesize = value;
    } else if (wire === 2) {
      let length;
      [length, i] = varint(bytes, i);
      if (i + length > bytes.length) throw new ContentError("invalid_content", "a truncated UnixFS node");
      if (field === 2) out.data = bytes.subarray(i, i + length);
      i += length;
    } else {
      throw new ContentError("invalid_content", `an unexpected protobuf wire type ${wire} in a UnixFS node`);
    }
  }
  return out;
}

export class Gateway {
  /**
   * @param {string} url the gateway's base URL (`http://127.0.0.1:8080`); `/ipfs/{cid}` is appended
   * @param {{fetch?: typeof fetch, maxBytes?: number}} [options]
   */
  constructor(url, { fetch: fetcher, maxBytes = 1 << 30 } = {}) {
    this.url = String(url).replace(/\/+$/, "");
    this.fetch = unbound(fetcher);
    this.maxBytes = maxBytes;
  }

  /** One block by CID, its bytes checked against the CID's sha2-256 multihash. */
  async block(cid) {
    const parsed = typeof cid === "string" ? parseCid(cid) : cid;
    const url = `${this.url}/ipfs/${parsed.toString()}?format=raw`;
    let response;
    for (let attempt = 1; ; attempt++) {
      try {
        response = await this.fetch(url, { headers: { Accept: "application/vnd.ipld.raw" } });
      } catch (error) {
        throw new ContentError("content_unavailable", `cannot reach the gateway at ${this.url}: ${error.message}`);
      }
      // A gateway that limits its clients' rate says when to come back: a few times, briefly.
      if (response.status !== 429 || attempt >= RATE_LIMIT_TRIES) break;
      const given = Number(response.headers.get("Retry-After") ?? "1");
      const wait = Math.min(Number.isFinite(given) && given >= 0 ? given : 1, MAX_RETRY_AFTER_S);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
    if (!response.ok) {
      const code = response.status === 404 ? "content_not_found" : "content_unavailable";
      throw new ContentError(code, `the gateway answered ${response.status} for ${parsed}`, { cid: String(parsed) });
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (!equalBytes(sha256(bytes), parsed.multihash.digest)) {
      throw new ContentError("content_mismatch", `the gateway's block for ${parsed} does not hash to its CID`, {
        cid: String(parsed),
      });
    }
    return bytes;
  }

  /** A whole UnixFS file, every block verified; ContentError beyond `maxBytes` (counted as blocks arrive). */
  async file(cid) {
    let total = 0;
    const count = (bytes) => {
      total += bytes.length;
      if (total > this.maxBytes) throw new ContentError("content_too_large", `${cid} is larger than ${this.maxBytes} bytes`);
      return bytes;
    };
    const walk = async (node) => {
      const bytes = await this.block(node);
      if (node.code === RAW) return [count(bytes)];
      const decoded = decodeNode(bytes, node);
      const pieces = [count(decoded.data)];
      for (let i = 0; i < decoded.links.length; i += PARALLEL) {
        const batch = decoded.links.slice(i, i + PARALLEL).map((link) => walk(link));
        for (const piece of await Promise.all(batch)) pieces.push(...piece);
      }
      const size = pieces.reduce((n, p) => n + p.length, 0);
      if (decoded.filesize !== undefined && decoded.filesize !== size) {
        throw new ContentError("invalid_content", `the UnixFS node ${node} says ${decoded.filesize} bytes, its blocks hold ${size}`);
      }
      return pieces;
    };
    return concat(await walk(typeof cid === "string" ? parseCid(cid) : cid));
  }
}

/** A CID this client can verify (sha2-256; raw or dag-pb); ContentError otherwise. */
export function parseCid(text) {
  let cid;
  try {
    cid = CID.parse(String(text));
  } catch {
    throw new ContentError("invalid_cid", `not a CID: ${text}`);
  }
  if (cid.multihash.code !== SHA2_256 || cid.multihash.digest.length !== 32) {
    throw new ContentError("invalid_cid", `${text} is not a sha2-256 CID`);
  }
  if (cid.code !== RAW && cid.code !== DAG_PB) throw new ContentError("invalid_cid", `${text} is neither raw nor dag-pb`);
  return cid;
}

function decodeNode(bytes, cid) {
  let node;
  try {
    node = dagPb.decode(bytes);
  } catch (error) {
    throw new ContentError("invalid_content", `${cid} is not a dag-pb node: ${error.message}`);
  }
  const unixfs = decodeUnixFs(node.Data ?? new Uint8Array(0));
  if (unixfs.type !== UNIXFS_FILE && unixfs.type !== UNIXFS_RAW) {
    throw new ContentError("invalid_content", `${cid} is not a UnixFS file node`);
  }
  return { data: unixfs.data, filesize: unixfs.filesize, links: node.Links.map((link) => parseCid(link.Hash.toString())) };
}
