// Fetches the CAR of a DAG from an IPFS Trustless Gateway, checks every block against its CID with
// the IPLD libraries (@ipld/car, multiformats), and rebuilds the UnixFS file from those blocks alone
// (ipfs-unixfs-exporter): the gateway is trusted for nothing.
//
//   node car.mjs GATEWAY_URL CID OUT_FILE [dups]
//
// Prints one JSON line: {"status", "contentType", "roots", "blocks", "distinct"}; exits 1 when the
// answer is not 200 or a block does not match its CID, and on a truncated or malformed CAR.
import { writeFile } from 'node:fs/promises'
import { CarBlockIterator } from '@ipld/car'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256 } from 'multiformats/hashes/sha2'

const [gateway, cidText, out, mode] = process.argv.slice(2)
if (gateway == null || cidText == null || out == null) {
  console.error('usage: node car.mjs GATEWAY_URL CID OUT_FILE [dups]')
  process.exit(2)
}
const accept = `application/vnd.ipld.car; version=1; order=dfs; dups=${mode === 'dups' ? 'y' : 'n'}`
const response = await fetch(`${gateway}/ipfs/${cidText}`, { headers: { accept } })
if (response.status !== 200) {
  console.log(JSON.stringify({ status: response.status }))
  process.exit(1)
}

const hashers = { [sha256.code]: sha256, [identity.code]: identity }
const blocks = new Map()
let count = 0
const car = await CarBlockIterator.fromIterable(response.body)
for await (const { cid, bytes } of car) {
  const hasher = hashers[cid.multihash.code]
  if (hasher == null) throw new Error(`${cid}: unknown hash function`)
  const digest = await hasher.digest(bytes)
  if (!equal(digest.bytes, cid.multihash.bytes)) throw new Error(`${cid}: the block does not match its CID`)
  blocks.set(key(cid), bytes)
  count++
}

const blockstore = {
  async * get (cid) {
    const bytes = blocks.get(key(cid))
    if (bytes == null) throw new Error(`${cid}: not in the CAR`)
    yield bytes
  }
}
const root = CID.parse(cidText)
const entry = await exporter(root, blockstore)
const chunks = []
for await (const chunk of entry.content()) chunks.push(chunk)
await writeFile(out, Buffer.concat(chunks))
console.log(JSON.stringify({
  status: response.status,
  contentType: response.headers.get('content-type'),
  roots: (await car.getRoots()).map(String),
  blocks: count,
  distinct: blocks.size
}))

function equal (a, b) {
  return a.length === b.length && a.every((byte, index) => byte === b[index])
}

// Blocks are keyed by multihash, as IPFS blockstores key them: a CIDv0 and a CIDv1 of one block match.
function key (cid) {
  return Buffer.from(cid.multihash.bytes).toString('hex')
}
