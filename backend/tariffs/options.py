"""The command-line option of every command that reads tariff files by their on-chain hash."""

from pathlib import Path

import click

# Kept free of web3 and the chain code: the commands import those only when they run.
tariffs_dir_option = click.option(
    "--tariffs-dir",
    "tariff_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the tariff files are, found by their on-chain hash (repeatable); default config/tariffs.",
)
