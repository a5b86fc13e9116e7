"""A command detector whose detections are known exactly: every truth box of the split's COCO test
file (exported-image pixels) with score 1, written as the workflow asks of any command. Mapped back
to frame pixels, its detections must equal the truth boxes clipped to the frame."""

import csv
import json
import re
import sys
from pathlib import Path

LABELS = ("needle", "needle driver", "grasper", "nerve hook", "durotomy")


def main() -> None:
    coco, output = Path(sys.argv[1]), Path(sys.argv[2])
    document = json.loads((coco / "test.json").read_text())
    names = {image["id"]: image["trial_frame"] for image in document["images"]}
    with open(output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial_frame", "frame", "x1", "y1", "x2", "y2", "score", "label"])
        for annotation in document["annotations"]:
            x, y, w, h = annotation["bbox"]
            name = names[annotation["image_id"]]
            frame = int(re.search(r"_frame_(\d+)\.", name).group(1))
            writer.writerow(
                [name, frame, repr(x), repr(y), repr(x + w), repr(y + h), 1.0, LABELS[annotation["category_id"] - 1]]
            )
    print(f"oracle: {len(document['annotations'])} detections", flush=True)


if __name__ == "__main__":
    main()
