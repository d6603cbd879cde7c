"""`bookingcal keys ...`: encryption keys of stored secrets: rotate, re-encrypt, status."""

from __future__ import annotations

import click

from server.cli.common import open_runtime, user_errors


@click.group()
def keys() -> None:
    """Encryption keys."""


@keys.command("rotate")
@click.pass_context
@user_errors
def keys_rotate(ctx: click.Context) -> None:
    """Add a new encryption key version; new secrets are encrypted with it, old ones still
    decrypt. Then restart every server and bridge process and run `keys reencrypt`. Back up
    the key folder afterwards."""
    from server.keys import add_encryption_key

    runtime = open_runtime(ctx)
    version = add_encryption_key(runtime.config.keys_dir)
    click.echo(f"encryption key version {version} added in {runtime.config.keys_dir}; restart "
               "the server and bridge processes, then run: bookingcal keys reencrypt")


@keys.command("reencrypt")
@click.pass_context
@user_errors
def keys_reencrypt(ctx: click.Context) -> None:
    """Rewrite every stored secret (link tokens, Google refresh tokens, consents in progress)
    under the newest key version, in short batches; safe while the processes run."""
    from server.ops.rekey import reencrypt, versions_in_use

    runtime = open_runtime(ctx, need_schema=True)
    count = reencrypt(runtime.db, runtime.keyring)
    left = ", ".join(f"{name}: {n}" for name, n in sorted(versions_in_use(runtime.db).items()))
    click.echo(f"{count} secrets re-encrypted with key version "
               f"{runtime.keyring.current_version}; secrets per key version: {left or 'none'}")


@keys.command("status")
@click.pass_context
@user_errors
def keys_status(ctx: click.Context) -> None:
    """The key versions loaded and how many stored secrets each one encrypts. A version that
    encrypts nothing can be removed from the key file (after `keys reencrypt`)."""
    from server.ops.rekey import versions_in_use

    runtime = open_runtime(ctx, need_schema=True)
    counts = versions_in_use(runtime.db)
    for version in sorted(runtime.keyring.versions):
        newest = " (newest)" if version == runtime.keyring.current_version else ""
        click.echo(f"v{version}{newest}\t{counts.pop(f'v{version}', 0)} secrets")
    for name, count in sorted(counts.items()):
        click.echo(f"{name} (NOT LOADED)\t{count} secrets: restore its key line")

