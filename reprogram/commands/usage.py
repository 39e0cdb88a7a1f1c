"""`reprogram usage`."""

from __future__ import annotations

from dataclasses import asdict

from reprogram.client import Client
from reprogram.commands.exits import Exit
from reprogram.commands.formatting import size
from reprogram.commands.output import print_json, print_table


def usage_show(client: Client, *, as_json: bool) -> int:
    """Print how many datasets and models this key's owner stores, and their bytes."""
    use = client.usage()
    if as_json:
        print_json(asdict(use))
        return Exit.OK
    rows = [(kind, str(stored.count), size(stored.bytes))
            for kind, stored in (("datasets", use.datasets), ("models", use.models))]  # fmt: skip
    print_table(("KIND", "COUNT", "SIZE"), rows, empty="nothing stored")
    return Exit.OK
