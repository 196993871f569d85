"""Write the protocol's test vectors, docs/protocol/*.json (datamarket/protocol_vectors.py computes them).

python scripts/protocol_vectors.py          # write the files
python scripts/protocol_vectors.py --check  # exit 1 if a file is not what the code gives
"""

import sys
from pathlib import Path

from datamarket import protocol_vectors

OUT = Path(__file__).resolve().parent.parent / "docs" / "protocol"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    OUT.mkdir(exist_ok=True)
    for name, content in protocol_vectors.build().items():
        path = OUT / f"{name}.json"
        text = protocol_vectors.render(content)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote docs/protocol/{path.name}")
    if stale:
        print("stale: " + ", ".join(stale) + " (run scripts/protocol_vectors.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
