"""The local market: ``datamarket up`` / ``down`` / ``status`` on one machine.

``up`` starts anvil with its state on disk (contracts are deployed once and survive restarts; see
:mod:`datamarket.chain_keeper`), uses the content store (a kubo-compatible node when
``DATAMARKET_IPFS_API`` is set, otherwise the embedded store under the stack's home) and starts the
content gateway (the store, read only, over the IPFS Trustless Gateway protocol), the provider under
gunicorn, a compute worker, the indexer and the backend (catalog API and pages) under gunicorn. The
gateway's URL reaches the others as ``DATAMARKET_GATEWAY_URL`` (the backend's as its ``gateway_url``
setting) and clients through ``stack.json``. Everything lives in one home folder (default
``.datamarket`` in the current directory, or ``DATAMARKET_HOME``): state, logs, the provider's
encryption keys, and ``stack.json``, which records the processes and contract addresses.

The local market's accounts are anvil's public dev accounts (see ``devchain``): account 0 deploys
and owns the market, account 1 collects the market fee, account 3 is the provider, and accounts
2-9 get 1000 units of the local test payment token (lUSD).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

from datamarket import environment
from datamarket.atomic_files import PUBLIC, write_atomically
from datamarket.chain.devchain import DEV_CHAIN_ID, DevChain, dev_account, free_port
from datamarket.chain.market import Market, deploy_test_token, mint_test_token
from datamarket.config import mask_url
from datamarket.errors import DatamarketError
from datamarket.node_settings import KEY_INPUTS, NodeSettings
from datamarket.settings import client_home

PROVIDER_ACCOUNT = 3
MARKET_FEE_BPS = 100
TEST_TOKEN_GRANT = 1000 * 10**18  # test-token balance of dev accounts 2-9 on a new local market


class StackError(DatamarketError):
    code = "stack_error"


@dataclass
class Service:
    name: str
    url: str
    pid: int | None = None
    log: str | None = None
    #: A word of the process's command line (``anvil``, ``gunicorn``): a recorded pid that now
    #: belongs to another program (after a reboot) is not taken for this service, nor signalled.
    program: str = ""

    def alive(self) -> bool:
        """Whether the recorded process runs, and runs this service's program. A process that has
        exited (a zombie), one not yet exec'd into the program (it shows its parent's command line)
        and one in the middle of the exec (no command line yet: waited for) is not taken for it."""
        from datamarket import processes

        if self.pid is None:
            return False
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:  # our child, and it has exited
                return False
        try:
            os.kill(self.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        if not processes.inspectable():  # no /proc here: a live pid is all there is to know
            return True
        return processes.runs(self.pid, self.program)


@dataclass
class Stack:
    home: str
    chain_id: int = DEV_CHAIN_ID
    contracts: dict[str, str] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    store: str = ""
    #: The block the market was deployed in: where the indexer and audits start.
    deploy_block: int = 0

    @property
    def path(self) -> Path:
        return Path(self.home)

    def save(self) -> None:
        text = json.dumps(asdict(self), indent=2, sort_keys=True)
        write_atomically(self.path / "stack.json", text.encode(), mode=PUBLIC)

    @classmethod
    def load(cls, home: Path) -> Stack:
        file = home / "stack.json"
        if not file.exists():
            return cls(home=str(home))
        data = json.loads(file.read_text())
        services = {k: Service(**v) for k, v in data.pop("services", {}).items()}
        return cls(services=services, **data)

    def status(self) -> dict:
        return {
            "home": self.home,
            "chain_id": self.chain_id,
            "contracts": self.contracts,
            "store": self.store,
            "services": {
                name: {"url": s.url, "pid": s.pid, "running": s.alive()} for name, s in self.services.items()
            },
        }


def home_dir(home: str | Path | None = None) -> Path:
    return Path(home).resolve() if home else client_home()


def up(
    home: str | Path | None = None,
    *,
    chain_port: int = 0,
    provider_port: int = 0,
    backend_port: int = 0,
    gateway_port: int = 0,
) -> Stack:
    """Start (or keep) every service of the local market and return the stack."""
    root = home_dir(home)
    for sub in ("chain", "logs", "provider", "store", "backend"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    stack = Stack.load(root)
    stack.home = str(root)
    _start_chain(stack, chain_port)
    _deploy_once(stack)
    stack.store = environment.get("DATAMARKET_IPFS_API") or str(root / "store")
    start_gateway(stack, gateway_port)
    _start_served(stack, "provider", provider_port, lambda url: provider_env(stack))
    _start_worker(stack)
    _start_indexer(stack)
    _start_served(
        stack, "backend", backend_port,
        lambda url: {**backend_env(stack), "DATAMARKET_BACKEND_PUBLIC_URL": url},
    )  # fmt: skip
    stack.save()
    return stack


def down(home: str | Path | None = None) -> Stack:
    """Stop every service (the chain last, so it writes its state) and keep the state on disk."""
    stack = Stack.load(home_dir(home))
    for name in [n for n in stack.services if n != "chain"] + ["chain"]:
        service = stack.services.get(name)
        if service is not None and service.alive():
            _terminate(service.pid)
        if service is not None:
            service.pid = None
    if (stack.path / "stack.json").exists():
        stack.save()
    return stack


def status(home: str | Path | None = None) -> Stack:
    return Stack.load(home_dir(home))


def _spawn(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**LOCAL_DEFAULTS, **os.environ, **(env or {})},
        )  # fmt: skip
    return proc.pid


def _terminate(pid: int, timeout: float = 15.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # Reap it if it is our child (it is when up and down run in one process, as in tests).
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)


def _start_chain(stack: Stack, port: int) -> None:
    current = stack.services.get("chain")
    if current is not None and current.alive():
        return
    from datamarket.chain.devchain import find_anvil

    # The same port as before, so a provider still running keeps talking to the right node.
    port = port or (urlsplit(current.url).port if current is not None else None) or free_port()
    log = stack.path / "logs" / "chain.log"
    state = stack.path / "chain" / "state.json"
    # anvil under the keeper, which writes its state to disk atomically after every new block.
    cmd = [sys.executable, "-m", "datamarket.chain_keeper", str(state), "--", find_anvil(),
           "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(DEV_CHAIN_ID)]  # fmt: skip
    pid = _spawn(cmd, log)
    service = Service("chain", f"http://127.0.0.1:{port}", pid, str(log), program="datamarket.chain_keeper")
    stack.services["chain"] = service
    stack.save()
    chain = DevChain(port=port)
    _wait(lambda: chain.web3().eth.chain_id == DEV_CHAIN_ID, "chain", service)


def _deploy_once(stack: Stack) -> None:
    w3 = DevChain(port=int(stack.services["chain"].url.rsplit(":", 1)[1])).web3()
    market = stack.contracts.get("market")
    if market and w3.eth.get_code(market):
        return
    owner = dev_account(0)
    deployed = Market.deploy(w3, owner, fee_collector=dev_account(1).address, fee_bps=MARKET_FEE_BPS)
    stack.deploy_block = w3.eth.block_number
    token = deploy_test_token(w3, owner, "Local USD", "lUSD")
    for index in range(2, 10):
        mint_test_token(w3, owner, token, dev_account(index).address, TEST_TOKEN_GRANT)
    stack.contracts = {"market": deployed.address, "payment_token": token}
    stack.chain_id = w3.eth.chain_id


def _start_served(stack: Stack, name: str, port: int, env: Callable[[str], dict[str, str]]) -> None:
    """The service ``name`` (``gateway``, ``provider``, ``backend``) under gunicorn with its own
    settings (``<name>.gunicorn_conf``), its environment ``env(url)``, on ``port`` or, restarted, on
    the port it had: its URL is in published documents, buyers' job files, pages and links."""
    current = stack.services.get(name)
    if current is not None and current.alive():
        return
    port = port or (urlsplit(current.url).port if current is not None else None) or free_port()
    url = f"http://127.0.0.1:{port}"
    log = stack.path / "logs" / f"{name}.log"
    cmd = [sys.executable, "-m", "gunicorn", "--config", f"python:{name}.gunicorn_conf",
           "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "-",
           f"{name}.wsgi:app"]  # fmt: skip
    pid = _spawn(cmd, log, env(url))
    service = Service(name, url, pid, str(log), program="gunicorn")
    stack.services[name] = service
    stack.save()
    _wait(lambda: requests.get(f"{url}/healthz", timeout=1).ok, name, service)


def start_gateway(stack: Stack, port: int = 0) -> None:
    """The content gateway over the stack's content store, read only (it needs no chain)."""
    _start_served(stack, "gateway", port, lambda url: gateway_env(stack))


def gateway_env(stack: Stack) -> dict[str, str]:
    """The gateway's settings for the local market: the stack's content store."""
    return {"DATAMARKET_GATEWAY_STORE": stack.store}


def _gateway_url(stack: Stack, name: str = "DATAMARKET_GATEWAY_URL") -> dict[str, str]:
    """The gateway's URL as the variable ``name``, for a service's environment; empty before the
    gateway has one."""
    gateway = stack.services.get("gateway")
    return {name: gateway.url} if gateway is not None else {}


def _start_worker(stack: Stack) -> None:
    """The compute worker: the provider's settings, the same job database and broker."""
    current = stack.services.get("worker")
    if current is not None and current.alive():
        return
    log = stack.path / "logs" / "worker.log"
    cmd = [sys.executable, "-m", "compute_to_data", "--queues", ",".join(_environments())]
    pid = _spawn(cmd, log, provider_env(stack))
    service = Service("worker", environment.get("DATAMARKET_BROKER_URL") or "sqlite", pid, str(log),
                      program="compute_to_data")  # fmt: skip
    stack.services["worker"] = service
    stack.save()
    info_url = f"{stack.services['provider'].url}/api/v1/info"
    _wait(lambda: _serving(requests.get(info_url, timeout=2).json()), "worker", service, timeout=60.0)


def _start_indexer(stack: Stack) -> None:
    """The indexer: the market's events into the catalog (SQLite under ``<home>/backend``)."""
    current = stack.services.get("indexer")
    if current is not None and current.alive():
        return
    log = stack.path / "logs" / "indexer.log"
    env = backend_env(stack)
    pid = _spawn([sys.executable, "-m", "backend"], log, env)
    catalog = mask_url(env["DATAMARKET_BACKEND_DATABASE_URL"])
    service = Service("indexer", catalog, pid, str(log), program="backend")
    stack.services["indexer"] = service
    stack.save()


def backend_env(stack: Stack) -> dict[str, str]:
    """The backend's settings for the local market: indexed at once (0 confirmations), polled often."""
    data_dir = stack.path / "backend"
    return {
        "DATAMARKET_BACKEND_RPC_URL": stack.services["chain"].url,
        "DATAMARKET_BACKEND_MARKET": stack.contracts["market"],
        "DATAMARKET_BACKEND_MARKET_DEPLOY_BLOCK": str(stack.deploy_block),
        "DATAMARKET_BACKEND_CHAIN_ID": str(stack.chain_id),
        "DATAMARKET_BACKEND_DATA_DIR": str(data_dir),
        "DATAMARKET_BACKEND_DATABASE_URL": _unless_set(
            "DATAMARKET_BACKEND_DATABASE_URL", f"sqlite:///{data_dir / 'catalog.db'}"
        ),
        "DATAMARKET_BACKEND_STORE": stack.store,
        **_gateway_url(stack),
        **_gateway_url(stack, "DATAMARKET_BACKEND_GATEWAY_URL"),
    }


def _unless_set(name: str, default: str) -> str:
    """A service's storage URL: the local market's file under its home, unless the operator's
    environment names the service's own variable (a PostgreSQL database, a Redis server), which the
    service would read anyway; so ``datamarket up`` runs on the machine's engines when told to."""
    return os.environ.get(name) or default


def _serving(info: dict) -> bool:
    """Whether the provider has seen a worker serving its cpu environment."""
    return any(e["name"] == "cpu" and e["serving"] for e in info.get("compute_environments", ()))


def _environments() -> list[str]:
    """cpu, and gpu where this machine has an NVIDIA GPU."""
    return ["cpu", "gpu"] if any(Path("/dev").glob("nvidia[0-9]*")) else ["cpu"]


SLOT_VAR = "DATAMARKET_WORKER_JOB_AGGREGATE_SLOT_S"
#: The local market serves one machine, where every client has the same address (127.0.0.1): rate
#: limits per address or consumer far above what its own tools (the demo, benchmarks) send.
LOCAL_RATE_LIMIT = "1000/second"
_RATE_LIMITED = (
    *(f"DATAMARKET_PROVIDER_RATE_LIMIT_{name}" for name in ("HEALTH", "READ", "FEES", "HEAVY", "CONSUMER")),
    *(f"DATAMARKET_BACKEND_RATE_LIMIT_{name}" for name in ("HEALTH", "API", "STATIC", "PAGES")),
    *(f"DATAMARKET_GATEWAY_RATE_LIMIT_{name}" for name in ("HEALTH", "BLOCKS", "CARS")),
)
#: Settings of the local market's services that the caller's environment may override: sample and
#: aggregate runs k slots of this many seconds, short ones for a local market; the rate limits.
LOCAL_DEFAULTS = {SLOT_VAR: "4", **dict.fromkeys(_RATE_LIMITED, LOCAL_RATE_LIMIT)}


def provider_env(stack: Stack) -> dict[str, str]:
    """The provider's settings for the local market (its key is a public dev key). The broker is
    Redis where ``DATAMARKET_BROKER_URL`` names one, else the embedded SQLite broker."""
    broker = environment.get("DATAMARKET_BROKER_URL")
    return {
        # The local provider signs with its dev key: another key source in the caller's environment
        # (a real provider's keystore) is not its, and would make two.
        **dict.fromkeys((NodeSettings.input_env_name(name) for name in KEY_INPUTS), ""),
        **({"DATAMARKET_PROVIDER_BROKER_URL": broker} if broker else {}),
        "DATAMARKET_PROVIDER_DATA_DIR": str(stack.path / "provider"),
        "DATAMARKET_PROVIDER_SERVICES": "download,compute",
        "DATAMARKET_PROVIDER_COMPUTE_ENVIRONMENTS": ",".join(_environments()),
        "DATAMARKET_PROVIDER_RPC_URL": stack.services["chain"].url,
        "DATAMARKET_PROVIDER_MARKET": stack.contracts["market"],
        "DATAMARKET_PROVIDER_PRIVATE_KEY": dev_account(PROVIDER_ACCOUNT).key.hex(),
        "DATAMARKET_PROVIDER_KEYS_DIR": str(stack.path / "provider" / "keys"),
        "DATAMARKET_PROVIDER_NONCES_URL": _unless_set(
            "DATAMARKET_PROVIDER_NONCES_URL", f"sqlite:///{stack.path / 'provider' / 'nonces.db'}"
        ),
        "DATAMARKET_PROVIDER_STORE": stack.store,
        "DATAMARKET_PROVIDER_FEE_TOKEN": stack.contracts["payment_token"],
        **_gateway_url(stack),
    }


def _wait(check, name: str, service: Service, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise StackError(f"{name} exited at start; see {service.log}")
        try:
            if check():
                return
        except Exception:  # not answering yet; the client raises several types
            pass
        time.sleep(0.1)
    _terminate(service.pid)
    service.pid = None
    raise StackError(f"{name} did not answer within {timeout:.0f} s and was stopped; see {service.log}")
