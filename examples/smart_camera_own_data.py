"""A smart camera trained on your own data: manifest -> Keras -> int8 bundle -> FusionModel (host, needs TensorFlow).

The "own data" here is an inspection camera's: photos of round parts, either "ok" or "scratched".
Replace write_manifest() with your own CSV (columns image,label; paths relative to the CSV).

    python examples/smart_camera_own_data.py --out work/smart_camera --samples 300 --epochs 8
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np


def write_manifest(out: Path, samples: int, seed: int = 0) -> Path:
    """Two kinds of 48x48 photos: a plain disc ("ok") and a disc with a dark scratch ("scratched")."""
    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    with (out / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label"])
        for i in range(samples):
            label = "scratched" if i % 2 else "ok"
            image = np.full((48, 48, 3), rng.integers(90, 170), np.uint8)  # BGR, grey bench
            centre = (int(rng.integers(18, 30)), int(rng.integers(18, 30)))
            cv2.circle(image, centre, int(rng.integers(12, 16)), (200, 200, 205), -1)
            if label == "scratched":
                angle = rng.uniform(0, np.pi)
                dx, dy = int(14 * np.cos(angle)), int(14 * np.sin(angle))
                cv2.line(image, (centre[0] - dx, centre[1] - dy), (centre[0] + dx, centre[1] + dy), (30, 30, 30), 4)
            image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(out / f"images/{i:05d}.png"), image)
            writer.writerow([f"images/{i:05d}.png", label])
    return out / "manifest.csv"


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("work/smart_camera"))
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)

    from converters import ColumnMap, ModelSpec, TrainConfig, prepare_dataset
    from converters.workflow import export_bundles, split_tensors, train_on_dataset
    from edge_sdk import FusionModel

    manifest = write_manifest(args.out / "data", args.samples)
    dataset = prepare_dataset(manifest, columns=ColumnMap(text=None, sensors=(), sensor_units=()), image_size_px=(48, 48))
    tensors = split_tensors(dataset, progress=False)
    spec = ModelSpec(modalities=("image",), fusion="concat", cnn_filters=(16, 24), cnn_strides=(1, 2))
    trained = train_on_dataset(dataset, spec, TrainConfig(epochs=args.epochs, batch_size=16), "inspect",
                               progress=False, tensors=tensors)
    (outcome,) = export_bundles(trained, dataset, tensors, args.out, modes=("int8_io_uint8",), model_name="inspect",
                                latency_runs=5)
    print(f"bundle: {outcome.bundle_path}")

    correct = 0
    with FusionModel.from_bundle(outcome.bundle_path) as model:
        rows = list(csv.DictReader(manifest.open()))[-6:]
        for row in rows:
            prediction = model.predict(image=cv2.imread(str(manifest.parent / row["image"])))  # BGR, as cv2 reads
            correct += prediction.label == row["label"]
            print(f"{row['image']}: {prediction.label} ({prediction.confidence:.2f}), truth {row['label']}")
    return {"bundle": str(outcome.bundle_path), "labels": list(model.labels), "checked": len(rows), "correct": correct}


if __name__ == "__main__":
    main()
