"""Burns CPU in one process until a limit stops it."""


def main() -> None:
    print("burning", flush=True)
    total = 0
    while True:
        total += 1


if __name__ == "__main__":
    main()
