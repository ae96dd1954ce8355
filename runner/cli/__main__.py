"""``python -m runner.cli``: the console script run by the interpreter (tests, benchmarks)."""

from runner.cli.entry import main

if __name__ == "__main__":
    main()
