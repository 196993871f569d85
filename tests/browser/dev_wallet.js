// A test wallet for the browser tests: an EIP-1193 provider (window.ethereum) that forwards every
// JSON-RPC request to the local anvil, whose dev accounts are unlocked, so anvil itself answers
// eth_accounts, eth_sendTransaction and eth_signTypedData_v4. Those accounts' keys are anvil's
// public test keys, known to everyone: never use them on a real chain. The test injects this file
// before the page's own scripts run (Page.addScriptToEvaluateOnNewDocument), with __RPC_URL__ and
// __ACCOUNT__ filled in; window.__walletCalls records the methods the page asked for.
(() => {
  const rpcUrl = "__RPC_URL__";
  const account = "__ACCOUNT__";
  const calls = [];
  const listeners = new Map();
  let nextId = 1;

  async function forward(method, params) {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params: params ?? [] }),
    });
    const answer = await response.json();
    if (answer.error) {
      const error = new Error(answer.error.message);
      error.code = answer.error.code;
      error.data = answer.error.data;
      throw error;
    }
    return answer.result;
  }

  async function request({ method, params }) {
    calls.push(method);
    if (method === "eth_requestAccounts" || method === "eth_accounts") return [account];
    if (method === "wallet_switchEthereumChain") {
      const current = await forward("eth_chainId", []);
      if (BigInt(params[0].chainId) !== BigInt(current)) {
        const error = new Error("Unrecognized chain ID");
        error.code = 4902;
        throw error;
      }
      return null;
    }
    return forward(method, params);
  }

  Object.defineProperty(window, "__walletCalls", { value: calls });
  window.ethereum = {
    isDevWallet: true,
    request,
    on(event, listener) {
      listeners.set(event, [...(listeners.get(event) ?? []), listener]);
      return this;
    },
    removeListener(event, listener) {
      listeners.set(event, (listeners.get(event) ?? []).filter((l) => l !== listener));
      return this;
    },
  };
})();
