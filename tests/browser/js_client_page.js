// The page script of tests/browser/test_js_client.py: loads clients/js through the page's import
// map and leaves what it found in window.RESULT.
if (location.search === "?nosubtle") Object.defineProperty(crypto, "subtle", { get: () => undefined });

const m = await import("/src/index.js");
const { Wallet, verifyTypedData } = await import("ethers");
const v = window.VECTORS;
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const fromHex = (h) => Uint8Array.from(h.match(/../g).map((x) => parseInt(x, 16)));
const b64 = (t) => Uint8Array.from(atob(t.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

try {
  const out = { subtle: Boolean(globalThis.crypto.subtle) };
  out.canonical = new TextDecoder().decode(m.canonicalJson(v.job));
  out.jobHash = m.jobHash(v.job);
  out.key = hex(await m.unwrapKey(v.wrapped, fromHex(v.privateKey), v.context));
  out.plaintext = hex(await m.decryptStream(b64(v.ciphertext), fromHex(v.streamKey)));
  const wallet = Wallet.createRandom();
  const fields = {
    datatoken: v.datatoken,
    consumer: wallet.address,
    serviceId: 0,
    orderTx: "0x" + "ab".repeat(32),
    orderId: 1n,
    consumerKey: "0x" + "cd".repeat(32),
  };
  const { request, signature } = await m.signAccessRequest(wallet, fields, 31337, v.datatoken);
  const domain = m.providerDomain(31337, v.datatoken);
  out.signed = verifyTypedData(domain, m.ACCESS_TYPES, request, signature) === wallet.address;
  // The browser's own fetch, through the gateway client (blocks checked) and the provider client.
  out.file = hex(await new m.Gateway(location.origin + "/gateway").file(v.fileCid));
  out.refusal = await new m.ProviderClient(location.origin + "/provider").info().catch((e) => [e.name, e.code, e.status]);
  window.RESULT = out;
} catch (error) {
  window.RESULT = { error: String(error?.stack ?? error) };
}
