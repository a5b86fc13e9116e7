"""What made each artifact: the provenance records, content stamps of external inputs, Snakemake's
records and the output folder's lock."""
