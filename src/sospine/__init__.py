"""SOSpine benchmark: the library behind the Snakemake workflow and the `sospine` command."""

__version__ = "1.0.0"
