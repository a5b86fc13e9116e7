"""SOSpine benchmark: the library behind the Snakemake workflow and the `sospine` command."""

__version__ = "1.0.0"

from sospine._moved import install as _keep_moved_modules_importable

_keep_moved_modules_importable()
