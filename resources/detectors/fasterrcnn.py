"""A command detector from a second framework: torchvision's Faster R-CNN with a MobileNetV3 backbone,
trained from scratch on the split's COCO files and run on its test images.

The network is torchvision's `FasterRCNN` on MobileNetV3-Small features (reduced to `--channels`
channels, one feature map, anchors of 16 to 128 px): a few million parameters instead of the 19
million of `fasterrcnn_mobilenet_v3_large_fpn`, so that it trains on a CPU; on a GPU give it more
`--channels`, epochs and data.

Called by the workflow (`detectors: {frcnn: {command: ...}}`, see config/README.md) with the split's
files; it writes the test images' detections in the published CSV format, in the pixels of the images
it was given (the workflow maps them to frame pixels), and `cost.json` (parameters, epochs, training
seconds, inference milliseconds per image) in its work folder. It downloads nothing: no pretrained
weights, so it runs offline; a tiny run on the CPU takes seconds.

    python resources/detectors/fasterrcnn.py --coco results/yolo/coco --images results/yolo/images \\
        --work-dir results/commands/frcnn --output results/commands/frcnn/detections.csv --epochs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.models import mobilenet_v3_small
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.ops import MultiScaleRoIAlign
from torchvision.transforms.functional import pil_to_tensor

LABELS = ("needle", "needle driver", "grasper", "nerve hook", "durotomy")  # COCO category ids 1..5
FRAME = re.compile(r"_frame_(\d+)\.")


def load_split(coco_dir: Path, split: str) -> tuple[list[dict], dict[int, list[dict]]]:
    document = json.loads((coco_dir / f"{split}.json").read_text())
    by_image: dict[int, list[dict]] = {image["id"]: [] for image in document["images"]}
    for annotation in document["annotations"]:
        by_image[annotation["image_id"]].append(annotation)
    return document["images"], by_image


def image_tensor(root: Path, image: dict) -> torch.Tensor:
    with Image.open(root / image["file_name"]) as picture:
        return pil_to_tensor(picture.convert("RGB")).float() / 255.0


def target(annotations: list[dict]) -> dict[str, torch.Tensor]:
    boxes = [[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in annotations) if w > 0 and h > 0]
    labels = [a["category_id"] for a in annotations if a["bbox"][2] > 0 and a["bbox"][3] > 0]
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }


def build_model(side: int, channels: int) -> FasterRCNN:
    """Faster R-CNN on MobileNetV3-Small features, no pretrained weights (nothing is downloaded)."""
    features = mobilenet_v3_small(weights=None).features
    backbone = torch.nn.Sequential(features, torch.nn.Conv2d(576, channels, kernel_size=1), torch.nn.ReLU())
    backbone.out_channels = channels
    anchors = AnchorGenerator(sizes=((16, 32, 64, 128),), aspect_ratios=((0.5, 1.0, 2.0),))
    return FasterRCNN(
        backbone,
        num_classes=len(LABELS) + 1,
        rpn_anchor_generator=anchors,
        box_roi_pool=MultiScaleRoIAlign(featmap_names=["0"], output_size=7, sampling_ratio=2),
        min_size=side,  # images are used at their exported size
        max_size=side,
        # a few tools per frame: far fewer proposals than COCO's defaults (2000), which a CPU feels
        rpn_pre_nms_top_n_train=300,
        rpn_post_nms_top_n_train=150,
        rpn_pre_nms_top_n_test=150,
        rpn_post_nms_top_n_test=75,
        rpn_batch_size_per_image=64,
        box_batch_size_per_image=64,
        box_detections_per_img=30,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coco", required=True, help="folder of the split's COCO files (train.json, test.json)")
    parser.add_argument(
        "--images", required=True, help="the exported image folder (COCO file_names are relative to its parent)"
    )
    parser.add_argument("--work-dir", required=True, help="a folder of this detector's own")
    parser.add_argument("--output", required=True, help="detections CSV to write (published format, image pixels)")
    parser.add_argument("--device", default="cpu", help="cpu, or a CUDA device index (default cpu)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs (default 2)")
    parser.add_argument("--batch", type=int, default=4, help="images per step (default 4)")
    parser.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01)")
    parser.add_argument("--conf", type=float, default=0.05, help="keep detections above this score (default 0.05)")
    parser.add_argument("--channels", type=int, default=64, help="feature channels of the backbone (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch order")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(max(1, args.threads))
    device = torch.device("cpu" if args.device in ("cpu", "") else f"cuda:{args.device.split(',')[0]}")
    coco, root, work = Path(args.coco), Path(args.images).parent, Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    train_images, train_annotations = load_split(coco, "train")
    test_images, _ = load_split(coco, "test")
    side = max([max(i["width"], i["height"]) for i in train_images + test_images] or [320])
    model = build_model(side, args.channels).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
    started = time.monotonic()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = list(range(len(train_images)))
        random.shuffle(order)
        losses = []
        for start in range(0, len(order), args.batch):
            chosen = [train_images[i] for i in order[start : start + args.batch]]
            inputs = [image_tensor(root, image).to(device) for image in chosen]
            targets = [{k: v.to(device) for k, v in target(train_annotations[i["id"]]).items()} for i in chosen]
            loss = sum(model(inputs, targets).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        print(f"frcnn: epoch {epoch}/{args.epochs}  loss {np.mean(losses or [0.0]):.3f}", flush=True)
    train_s = time.monotonic() - started

    model.eval()
    rows, inference = [], []
    with torch.no_grad():
        for image in test_images:
            tensor = image_tensor(root, image).to(device)
            tick = time.perf_counter()
            result = model([tensor])[0]
            inference.append(time.perf_counter() - tick)
            frame = int(FRAME.search(image["trial_frame"]).group(1))
            for box, score, label in zip(
                result["boxes"].tolist(), result["scores"].tolist(), result["labels"].tolist(), strict=True
            ):
                if score > args.conf:
                    rows.append(
                        [image["trial_frame"], frame, *(round(v, 2) for v in box), round(score, 4), LABELS[label - 1]]
                    )
    with open(args.output, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["trial_frame", "frame", "x1", "y1", "x2", "y2", "score", "label"])
        writer.writerows(rows)
    cost = {
        "params": sum(p.numel() for p in model.parameters()),
        "epochs": args.epochs,
        "train_s": round(train_s, 2),
        "infer_ms": round(1000 * float(np.mean(inference)), 2) if inference else None,
        "framework": f"torchvision {torchvision.__version__}",
    }
    (work / "cost.json").write_text(json.dumps(cost, indent=2) + "\n")
    print(f"frcnn: {len(rows)} detections on {len(test_images)} test images -> {args.output}", flush=True)


if __name__ == "__main__":
    main()
