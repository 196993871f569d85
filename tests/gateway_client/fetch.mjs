// Fetches one file through an IPFS Trustless Gateway with a real IPFS client, and writes its bytes.
//
//   node fetch.mjs GATEWAY_URL CID OUT_FILE [raw]
//
// The client is @helia/verified-fetch over a Helia node whose only source of blocks is the gateway
// (Helia's trustless gateway block broker, which asks GET /ipfs/{cid}?format=raw for each block and
// checks it against its CID); no router, no other gateway, no libp2p. Without "raw" it fetches the
// UnixFS file (the client walks the DAG block by block); with "raw" it asks for the root block alone.
// Prints one JSON line: {"status", "contentType", "bytes"}; exits 1 when the answer is not 200. When
// the gateway cannot give a block (absent, or refused as corrupted), the client drops it as a provider
// and waits for another that never comes: Node then exits with status 13 (an unsettled await).
import { writeFile } from 'node:fs/promises'
import { fallbackRouter } from '@helia/fallback-router'
import { withHTTP } from '@helia/http'
import { createVerifiedFetch } from '@helia/verified-fetch'
import { createHeliaLight } from 'helia'

const [gateway, cid, out, mode] = process.argv.slice(2)
if (gateway == null || cid == null || out == null) {
  console.error('usage: node fetch.mjs GATEWAY_URL CID OUT_FILE [raw]')
  process.exit(2)
}

// The gateway is the one provider of every block. Helia asks fallback routers only after its other
// routers have answered, and waits on an empty list of those: the gateway comes from a router of
// its own, which is no fallback.
const gatewayOnly = fallbackRouter({ gateways: [gateway], shuffle: false })
const router = { name: 'datamarket-gateway', findProviders: (cid, options) => gatewayOnly.findProviders(cid, options) }
const helia = await withHTTP(createHeliaLight({ routers: [router] }), {
  delegatedRouters: [],
  recursiveGateways: [],
  allowInsecure: true,
  allowLocal: true
}).start()
const verifiedFetch = await createVerifiedFetch(helia)
try {
  const headers = mode === 'raw' ? { accept: 'application/vnd.ipld.raw' } : {}
  const response = await verifiedFetch(`ipfs://${cid}`, { headers, signal: AbortSignal.timeout(120_000) })
  const body = new Uint8Array(await response.arrayBuffer())
  await writeFile(out, body)
  console.log(JSON.stringify({
    status: response.status,
    contentType: response.headers.get('content-type'),
    bytes: body.length
  }))
  process.exitCode = response.ok ? 0 : 1
} finally {
  await verifiedFetch.stop()
  await helia.stop()
}
