// The dataset page's wallet buttons: "Buy and download" and "Run a job".
//
// The buyer's wallet (EIP-1193, window.ethereum) signs the order transactions and the provider
// requests (eth_signTypedData_v4, through ethers' BrowserProvider); the JavaScript client
// (clients/js, loaded through the page's import map) does the rest in this page: the provider
// re-wraps the content key to a key made here, the ciphertext comes from the content gateway, and
// the file is decrypted and checked here, then saved through a Blob link. Nothing secret leaves the
// page. What the page needs (the dataset, its services, the gateway) is in the JSON data block
// #wallet-offer, written by the server.

import { BrowserProvider } from "ethers";
import {
  ContentError,
  DatamarketClient,
  DatamarketError,
  FINAL_STATES,
  ProviderError,
  VerificationError,
} from "./client/src/index.js";

const POLL_MS = 1000;

const offer = JSON.parse(document.getElementById("wallet-offer").textContent);
const status = document.getElementById("wallet-status");
const output = document.getElementById("wallet-output");
const buyButton = document.getElementById("buy-download");
const jobForm = document.getElementById("run-job");
const jobButton = document.getElementById("run-job-button");

/** A failure already put in the buyer's words. */
class Explained extends Error {}

function say(text, kind = "info") {
  status.textContent = text;
  status.dataset.kind = kind;
}

/** The buyer's words for any failure: the wallet's, the provider's, the gateway's, the chain's. */
export function explain(error) {
  if (error instanceof Explained) return error.message;
  if (error instanceof ProviderError) {
    if (error.status === 0) return `The provider could not be reached (${error.code}): ${error.message}`;
    return `The provider refused (${error.code}): ${error.message}`;
  }
  if (error instanceof ContentError) {
    return `The content gateway could not give the data (${error.code}): ${error.message}`;
  }
  if (error instanceof VerificationError) {
    return `A check failed, so nothing was saved (${error.code}): ${error.message}`;
  }
  if (error instanceof DatamarketError) return `${error.message} (${error.code})`;
  const code = error?.code ?? error?.error?.code ?? error?.info?.error?.code;
  if (code === 4001 || code === "ACTION_REJECTED") {
    return "You rejected the request in your wallet: nothing more was done.";
  }
  if (code === -32002) {
    return "Your wallet is already asking you something: answer it in the wallet, then try again.";
  }
  if (code === "INSUFFICIENT_FUNDS") {
    return "Your account cannot pay for this transaction: it lacks funds for the price or the gas.";
  }
  if (code === "CALL_EXCEPTION") {
    return `The chain refused the transaction: ${error.reason ?? error.shortMessage ?? error.message}`;
  }
  return `Something failed: ${error?.shortMessage ?? error?.message ?? String(error)}`;
}

/** A client of this market that signs with the wallet's account, on this market's chain. */
async function connect() {
  const wallet = window.ethereum;
  if (!wallet || typeof wallet.request !== "function") {
    throw new Explained(
      "No browser wallet found. Install a wallet that speaks EIP-1193 (such as MetaMask), or use " +
        "the command line below.",
    );
  }
  say("Asking your wallet for an account…");
  const accounts = await wallet.request({ method: "eth_requestAccounts" });
  if (!accounts?.length) throw new Explained("Your wallet shared no account with this page.");
  await onChain(wallet, offer.chainId);
  const signer = await new BrowserProvider(wallet, offer.chainId).getSigner(accounts[0]);
  return new DatamarketClient({ signer, market: offer.market, gateway: offer.gatewayUrl });
}

async function onChain(wallet, chainId) {
  const current = Number(BigInt(await wallet.request({ method: "eth_chainId" })));
  if (current === chainId) return;
  say(`Your wallet is on chain ${current}; asking it to switch to chain ${chainId}…`);
  try {
    await wallet.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: "0x" + chainId.toString(16) }],
    });
  } catch (error) {
    if (error?.code === 4902) {
      throw new Explained(
        `Your wallet does not know chain ${chainId}, where this market is: add that network to ` +
          "your wallet, then try again.",
      );
    }
    if (error?.code === 4001) {
      throw new Explained(
        `This market is on chain ${chainId} and your wallet is on chain ${current}: switch your ` +
          "wallet to it, then try again.",
      );
    }
    throw error;
  }
  const now = Number(BigInt(await wallet.request({ method: "eth_chainId" })));
  if (now !== chainId) {
    throw new Explained(
      `Your wallet is still on chain ${now}; this market is on chain ${chainId}. Switch your ` +
        "wallet's network, then try again.",
    );
  }
}

/** A link that saves ``bytes`` as ``name``, added to the page; clicked at once when ``save``. */
function fileLink(bytes, name, type, save) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.textContent = `Save ${name} again`;
  link.className = "saved-file";
  const item = document.createElement("p");
  item.append(link);
  output.append(item);
  if (save) link.click();
  return link;
}

async function busy(button, work) {
  const buttons = [buyButton, jobButton].filter(Boolean);
  buttons.forEach((b) => (b.disabled = true));
  output.replaceChildren();
  try {
    await work();
  } catch (error) {
    say(explain(error), "error");
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    button?.focus();
  }
}

/**
 * ``work`` after the order is paid: a failure then says which order it was, and the command that
 * uses it without paying again.
 */
async function afterPaying(order, command, work) {
  try {
    return await work();
  } catch (error) {
    const reuse = `${command} ${offer.datasetId} --order-tx ${order.orderTx} --order-id ${order.orderId}`;
    throw new Explained(
      `${explain(error)} Your order is paid (transaction ${order.orderTx}); the command line uses it ` +
        `without paying again: ${reuse}`,
    );
  }
}

async function buyAndDownload() {
  const service = offer.download;
  const client = await connect();
  say("Confirm the purchase and the order in your wallet…");
  const order = await client.buyAndOrder(offer.datatoken, service.serviceId);
  say("Sign the access request in your wallet; the data is then fetched and decrypted in this page…");
  const { data, sha256 } = await afterPaying(order, "datamarket download", () =>
    client.download(offer.datatoken, order),
  );
  fileLink(data, service.fileName, "application/octet-stream", true);
  say(`Saved ${service.fileName}: ${data.length} bytes, sha256 ${sha256} as the publisher declared.`, "ok");
}

function jobSpec() {
  const data = new FormData(jobForm);
  const algorithm = String(data.get("algorithm"));
  const chosen = offer.compute.algorithms.find((a) => a.name === algorithm);
  const params = {};
  if (chosen?.needsTarget) params.target = String(data.get("target"));
  if (chosen?.needsText) params.text = String(data.get("text"));
  const text = String(data.get("epsilon") ?? "").trim();
  const epsilon = text === "" ? null : Number(text);
  if (epsilon !== null && !(epsilon > 0 && epsilon <= offer.compute.maxEpsilonPerJob)) {
    throw new Explained(`Epsilon must be more than 0 and at most ${offer.compute.maxEpsilonPerJob}.`);
  }
  if (epsilon === null && (chosen?.requiresEpsilon || offer.compute.requireDp)) {
    throw new Explained(`${algorithm} on this dataset runs only with an epsilon: give one.`);
  }
  return { algorithm, params, epsilon };
}

async function runJob() {
  const service = offer.compute;
  const spec = jobSpec();
  const client = await connect();
  say("Confirm the purchase and the order in your wallet…");
  const order = await client.buyAndOrder(offer.datatoken, service.serviceId);
  say("Sign the job request in your wallet…");
  const job = await afterPaying(order, "datamarket compute start", () =>
    client.startJob(offer.datatoken, { ...spec, ...order }),
  );
  let state = await client.jobStatus(job);
  while (!FINAL_STATES.has(state.state)) {
    say(`Job ${job.jobId}: ${state.state}…`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    state = await client.jobStatus(job);
  }
  if (state.state !== "succeeded") {
    const why = state.error ? `: ${state.error.message ?? state.error.code ?? state.error}` : "";
    say(`Job ${job.jobId} ended ${state.state}${why}.`, "error");
    return;
  }
  say(`Job ${job.jobId} succeeded; opening its result in this page…`);
  const { files } = await client.jobResult(job);
  showResult(job, files);
  say(`Job ${job.jobId} succeeded: its result is below (every file checked against its hash).`, "ok");
}

function showResult(job, files) {
  const heading = document.createElement("h3");
  heading.textContent = "Result";
  heading.id = "job-result-heading";
  output.append(heading);
  for (const [name, bytes] of files) {
    if (name.endsWith(".json")) {
      const pre = document.createElement("pre");
      pre.className = "result-json";
      pre.dataset.file = name;
      pre.textContent = new TextDecoder().decode(bytes);
      const caption = document.createElement("p");
      caption.textContent = name;
      output.append(caption, pre);
    }
    fileLink(bytes, name, "application/octet-stream", false).textContent = `Save ${name}`;
  }
  output.dataset.jobId = job.jobId;
}

if (buyButton) {
  buyButton.addEventListener("click", () => busy(buyButton, buyAndDownload));
  buyButton.disabled = false;
}
if (jobForm) {
  jobForm.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(jobButton, runJob);
  });
  jobButton.disabled = false;
}
document.body.dataset.wallet = "ready";
