from sospine.boxes import compare_boxes, derive_boxes
from sospine.constants import COORDS
from sospine.tables import read_annotations, readable, write_csv
from sospine.workflow_io import setup_logging

log = setup_logging(snakemake)
out = snakemake.output
derived = published = None
if snakemake.input.tips:
    derived = derive_boxes(read_annotations(snakemake.input.tips))
    write_csv(derived, out.derived)
    log.info("derived %d boxes from tool tips", derived["label"].notna().sum())
if snakemake.input.published:
    published = read_annotations(snakemake.input.published)
if derived is not None and published is not None:
    comparison = compare_boxes(derived, published)
    readable(comparison).to_csv(out.comparison, index=False)
    log.info("derived vs published:\n%s", comparison.to_string(index=False))
chosen = published if snakemake.params.use == "published" else derived
for column in COORDS:
    chosen[column] = chosen[column].astype("Int64")
write_csv(chosen, out.bbox)
log.info("using %s boxes: %d", snakemake.params.use, chosen["label"].notna().sum())
