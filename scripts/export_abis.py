"""Copy ABIs and bytecode from the Hardhat build into the Python package (run after compiling)."""

from pathlib import Path

from datamarket.chain import artifacts

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    out = ROOT / "datamarket" / "chain" / "abi"
    out.mkdir(exist_ok=True)
    for name in artifacts.EXPORTED:
        text = artifacts.render(artifacts.from_hardhat(ROOT, name))
        (out / f"{name}.json").write_text(text)
        print(f"exported {name}")


if __name__ == "__main__":
    main()
