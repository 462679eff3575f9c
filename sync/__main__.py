"""``python -m sync``: the same as the ``kianda-sync`` command."""

from sync.cli import main

main()
