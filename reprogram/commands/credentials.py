"""`reprogram credentials create | list | get | delete`: keys to S3-compatible stores that your
jobs read datasets named by uri with.

The secret access key is never an argument (it would land in the shell's history and in `ps`):
`create` reads it from stdin with `--secret-stdin`, else from $REPROGRAM_SECRET_ACCESS_KEY, else
asks for it without echo when stdin is a terminal.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from reprogram.client import Client, Credential
from reprogram.commands.exits import Exit, UsageError
from reprogram.commands.formatting import local_time
from reprogram.commands.output import (
    plain,
    print_deleted,
    print_fields,
    print_json,
    print_listing,
    print_one,
)

SECRET_ENV = "REPROGRAM_SECRET_ACCESS_KEY"


def credentials_create(
    client: Client,
    *,
    name: str,
    access_key_id: str,
    secret_stdin: bool,
    endpoint_url: str | None,
    region: str | None,
    as_json: bool,
) -> int:
    """Keep keys to an S3-compatible store for this owner's jobs; the secret is never shown."""
    credential = client.credentials.create(
        name, access_key_id=access_key_id, secret_access_key=read_secret(secret_stdin),
        endpoint_url=endpoint_url, region=region,
    )  # fmt: skip
    if as_json:
        print_json(plain(credential))
        return Exit.OK
    print_fields(_credential_fields(credential))
    print(f'\nuse it in a job spec as  "dataset": {{"uri": "s3://BUCKET/KEY.tar.gz", '
          f'"credentials_id": "{credential.id}"}}', file=sys.stderr)  # fmt: skip
    return Exit.OK


def credentials_list(client: Client, *, as_json: bool) -> int:
    """Print this owner's credentials (without their secrets)."""
    headers = ("ID", "NAME", "KEY", "ENDPOINT", "REGION", "CREATED", "LAST USED")

    def row(c: Credential) -> tuple[Any, ...]:
        return (c.id, c.name, c.access_key_hint, c.endpoint_url or "-", c.region or "-",
                local_time(c.created_at), local_time(c.last_used_at) or "never")  # fmt: skip

    return print_listing(client.credentials.list(), limit=0, as_json=as_json, headers=headers,
                         row=row, empty="no credentials")  # fmt: skip


def credentials_get(client: Client, *, credential_id: str, as_json: bool) -> int:
    """Print one credential: its store and when a job last used it."""
    credential = client.credentials.get(credential_id)
    return print_one(credential, fields=_credential_fields, as_json=as_json)


def credentials_delete(client: Client, *, credential_id: str, as_json: bool) -> int:
    """Forget a credential (refused while a queued or running job needs it)."""
    client.credentials.delete(credential_id)
    return print_deleted("credential", credential_id, as_json=as_json)


def read_secret(from_stdin: bool) -> str:
    """The secret access key: stdin (--secret-stdin), $REPROGRAM_SECRET_ACCESS_KEY, or a prompt."""
    if from_stdin:
        secret, where = sys.stdin.read().rstrip("\r\n"), "stdin"
    elif os.environ.get(SECRET_ENV):
        secret, where = os.environ[SECRET_ENV], f"${SECRET_ENV}"
    elif sys.stdin.isatty():
        secret, where = getpass.getpass("secret access key: "), "the prompt"
    else:
        raise UsageError(f"no secret access key: pipe it to --secret-stdin or set {SECRET_ENV}")
    if not secret.strip():
        raise UsageError(f"the secret access key from {where} is empty")
    return secret


def _credential_fields(credential: Credential) -> list[tuple[str, Any]]:
    """What `credentials get` and `credentials create` show (never a secret: none comes back)."""
    return [
        ("id", credential.id), ("name", credential.name), ("kind", credential.kind),
        ("access key", credential.access_key_hint), ("endpoint", credential.endpoint_url),
        ("region", credential.region), ("created", local_time(credential.created_at)),
        ("last used", local_time(credential.last_used_at) or "never"),
    ]  # fmt: skip
