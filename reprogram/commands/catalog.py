"""`reprogram catalog backbones | datasets | methods`."""

from __future__ import annotations

from reprogram.client import Client
from reprogram.commands.exits import Exit
from reprogram.commands.output import print_json, print_table


def catalog_list(client: Client, *, kind: str, as_json: bool) -> int:
    """Print the backbones, datasets or methods the service knows, and whether each works offline."""
    entries = getattr(client.catalog, kind)()
    if as_json:
        print_json({"data": [vars(e) for e in entries]})
        return Exit.OK
    rows = [
        (e.name, "yes" if e.available_offline else "no", str(e.input_size or "-"), e.description)
        for e in entries
    ]
    print_table(("NAME", "OFFLINE", "INPUT", "DESCRIPTION"), rows, empty=f"no {kind}")
    return Exit.OK
