"""From annotations to a dataset: boxes, the split by trial, the YOLO/COCO export, and the dataset's
statistics."""
