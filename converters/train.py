"""Train a fusion model with a plain ``tf.function`` step.

A hand-written step rather than ``keras.fit``: on 2 cores ``fit`` gave erratic epoch times, and the
step is where seek's augmentation lives (a horizontal flip must also swap the ``left`` and
``right`` labels). Seeded, with early stopping on validation accuracy and the best weights
restored; progress is shown per batch.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from converters.errors import SpecError
from converters.models import ModelShapes, build_model
from converters.preprocessing import Preprocessing
from converters.spec import ModelSpec

__all__ = ["TrainConfig", "TrainedModel", "train"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = field(default=40, metadata={"help": "maximum epochs"})
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_epochs: int = 1
    patience: int = field(default=8, metadata={"help": "epochs without val accuracy gain before stopping"})
    target_accuracy: float = field(default=1.01, metadata={"help": "stop once val accuracy reaches this"})
    seed: int = 0
    hflip_swap: tuple[tuple[str, str], ...] = field(
        default=(), metadata={"help": "label pairs a horizontal flip swaps; empty disables flips"}
    )
    # 0 = TensorFlow's default (one per CPU). The count changes the weights a seed gives (Eigen and
    # oneDNN split sums by thread): 2 epochs of seek with 1 thread or 2 ended in different weights.
    threads: int = 0
    deterministic: bool = field(default=False, metadata={
        "help": "TensorFlow op determinism (process-wide once on): the same seed gives the same weights"})
    unk_rate: float = field(default=0.0, metadata={"help": "fraction of known words replaced by <unk> per batch"})
    # "first": the earliest epoch of the best validation accuracy (seek's rule); "val_loss": among
    # equal accuracies the lowest validation loss, for small validation sets that saturate early.
    tie_break: Literal["first", "val_loss"] = "first"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.learning_rate > 0:
            raise SpecError(
                f"epochs and batch_size must be >= 1 and learning_rate > 0. "
                f"Got: epochs={self.epochs}, batch_size={self.batch_size}, learning_rate={self.learning_rate}"
            )


@dataclass
class TrainedModel:
    """A trained Keras model with everything needed to convert and bundle it."""

    model: Any  # keras.Model
    spec: ModelSpec
    shapes: ModelShapes
    preprocessing: Preprocessing
    history: list[dict[str, float]]
    best_epoch: int
    train_s: float

    @property
    def best_val_accuracy(self) -> float:
        return max((h["val_accuracy"] for h in self.history), default=float("nan"))

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save(out / "model.keras")
        self.preprocessing.save(out / "preprocessing.json")
        meta = {
            "spec": asdict(self.spec),
            "shapes": asdict(self.shapes),
            "history": self.history,
            "best_epoch": self.best_epoch,
            "train_s": self.train_s,
        }
        (out / "train_report.json").write_text(json.dumps(meta, indent=1))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> TrainedModel:
        import keras

        import converters.layers  # noqa: F401  (registers the custom layers for deserialisation)

        src = Path(directory)
        meta = json.loads((src / "train_report.json").read_text())
        spec_data: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["spec"].items()}
        shape_data: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["shapes"].items()}
        spec = ModelSpec(**spec_data)
        shapes = ModelShapes(**shape_data)
        return cls(
            model=keras.models.load_model(src / "model.keras"),
            spec=spec,
            shapes=shapes,
            preprocessing=Preprocessing.load(src / "preprocessing.json"),
            history=meta["history"],
            best_epoch=meta["best_epoch"],
            train_s=meta["train_s"],
        )


def train(
    spec: ModelSpec,
    preprocessing: Preprocessing,
    train_inputs: Mapping[str, np.ndarray],
    train_labels: np.ndarray,
    val_inputs: Mapping[str, np.ndarray],
    val_labels: np.ndarray,
    config: TrainConfig = TrainConfig(),
    progress: bool = True,
    name: str = "fusion",
) -> TrainedModel:
    """Train ``spec`` on tensors made by the shared preprocessing; returns the best epoch's model."""
    import keras
    import tensorflow as tf

    if config.threads:
        _set_threads(tf, config.threads)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    shapes = _shapes(spec, preprocessing, train_inputs)
    model = build_model(spec, shapes, name=name)
    train_inputs = {m: train_inputs[m] for m in spec.modalities}
    val_inputs = {m: val_inputs[m] for m in spec.modalities}

    steps_per_epoch = math.ceil(len(train_labels) / config.batch_size)
    schedule = _WarmupCosine(config.learning_rate, config.warmup_epochs * steps_per_epoch, config.epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    swap = _swap_table(preprocessing.labels, config.hflip_swap)
    flip = swap is not None and "image" in spec.modalities
    unk_rate = config.unk_rate if "text" in spec.modalities else 0.0

    @tf.function(reduce_retracing=True)
    def train_step(inputs: dict[str, tf.Tensor], labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        inputs = dict(inputs)
        inputs_cast = {k: tf.cast(v, tf.float32) if k == "image" else v for k, v in inputs.items()}
        if flip:
            mask = tf.random.uniform(tf.shape(labels)) < 0.5
            flipped = tf.reverse(inputs_cast["image"], axis=[2])
            inputs_cast["image"] = tf.where(mask[:, None, None, None], flipped, inputs_cast["image"])
            labels = tf.where(mask, tf.gather(tf.constant(swap), labels), labels)
        if unk_rate > 0:
            text = inputs_cast["text"]
            hide = (tf.random.uniform(tf.shape(text)) < unk_rate) & (text > 1)  # 0 pads, 1 is <unk>
            inputs_cast["text"] = tf.where(hide, tf.ones_like(text), text)
        with tf.GradientTape() as tape:
            scores = model(inputs_cast, training=True)
            loss = loss_fn(labels, scores)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(tf.argmax(scores, axis=-1, output_type=labels.dtype) == labels, tf.float32))
        return loss, correct

    @tf.function(reduce_retracing=True)
    def predict_step(inputs: dict[str, tf.Tensor]) -> tf.Tensor:
        inputs = {k: tf.cast(v, tf.float32) if k == "image" else v for k, v in inputs.items()}
        return model(inputs, training=False)

    dataset = (
        tf.data.Dataset.from_tensor_slices((dict(train_inputs), train_labels.astype(np.int32)))
        .shuffle(len(train_labels), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
        .prefetch(2)
    )
    history: list[dict[str, float]] = []
    best_accuracy, best_epoch, best_weights, stale, best_loss = -1.0, 0, None, 0, math.inf
    started = time.perf_counter()
    bar = _progress(config.epochs * steps_per_epoch, name) if progress else None
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            total_loss, total_correct, seen = 0.0, 0.0, 0
            for inputs, labels in dataset:
                loss, correct = train_step(inputs, labels)
                batch = int(labels.shape[0])
                total_loss += float(loss) * batch
                total_correct += float(correct)
                seen += batch
                if bar is not None:
                    bar.update(1)
            val_accuracy, val_loss = _evaluate(predict_step, val_inputs, val_labels, config.batch_size * 4)
            record = {
                "epoch": epoch,
                "loss": total_loss / seen,
                "accuracy": total_correct / seen,
                "val_accuracy": val_accuracy,
                "val_loss": val_loss,
                "epoch_s": time.perf_counter() - epoch_start,
            }
            history.append(record)
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}", val_acc=f"{val_accuracy:.4f}")
            _log.info("%s epoch %d: %s", name, epoch, record)
            tied = config.tie_break == "val_loss" and val_accuracy == best_accuracy and val_loss < best_loss
            if val_accuracy > best_accuracy or tied:
                best_accuracy, best_epoch, best_weights, stale = val_accuracy, epoch, model.get_weights(), 0
                best_loss = val_loss
            else:
                stale += 1
            if stale >= config.patience or val_accuracy >= config.target_accuracy:
                break
    finally:
        if bar is not None:
            bar.close()
    if best_weights is not None:
        model.set_weights(best_weights)
    return TrainedModel(model, spec, shapes, preprocessing, history, best_epoch, time.perf_counter() - started)


def _set_threads(tf: Any, threads: int) -> None:
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already ran ops in this process with another count
        _log.warning("training with TensorFlow's intra-op thread count already fixed in this process (%d), not the "
                     "config's %d: the weights may differ from a fresh process's",
                     tf.config.threading.get_intra_op_parallelism_threads(), threads)


def predict(trained: TrainedModel, inputs: Mapping[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Keras scores for a batch of tensors (images may be uint8: they are cast like in training)."""
    outputs = []
    count = len(next(iter(inputs.values())))
    for start in range(0, count, batch_size):
        chunk = {m: np.asarray(inputs[m][start : start + batch_size], dtype=np.float32 if m == "image" else None)
                 for m in trained.spec.modalities}
        outputs.append(np.asarray(trained.model(chunk, training=False)))
    return np.concatenate(outputs) if outputs else np.zeros((0, len(trained.preprocessing.labels)), np.float32)


def _evaluate(
    predict_step: Any, inputs: Mapping[str, np.ndarray], labels: np.ndarray, batch_size: int
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) on a validation split."""
    correct, loss = 0, 0.0
    for start in range(0, len(labels), batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in inputs.items()}
        scores = np.asarray(predict_step(chunk))
        truth = labels[start : start + batch_size]
        correct += int((scores.argmax(axis=-1) == truth).sum())
        loss -= float(np.log(np.clip(scores[np.arange(len(truth)), truth], 1e-7, 1.0)).sum())
    return correct / max(1, len(labels)), loss / max(1, len(labels))


def _shapes(spec: ModelSpec, preprocessing: Preprocessing, inputs: Mapping[str, np.ndarray]) -> ModelShapes:
    missing = [m for m in spec.modalities if m not in inputs]
    if missing:
        raise SpecError(f"the spec needs inputs {list(spec.modalities)} but the data lacks {missing}")
    image = preprocessing.image
    return ModelShapes(
        image_size=(image.height, image.width) if image else (0, 0),
        vocab_size=len(preprocessing.text.vocabulary) if preprocessing.text else 0,
        max_length=preprocessing.text.max_length if preprocessing.text else 0,
        sensor_channels=len(preprocessing.sensor.channels) if preprocessing.sensor else 0,
        num_classes=len(preprocessing.labels),
    )


def _swap_table(labels: tuple[str, ...], pairs: tuple[tuple[str, str], ...]) -> list[int] | None:
    if not pairs:
        return None
    table = list(range(len(labels)))
    for a, b in pairs:
        if a not in labels or b not in labels:
            raise SpecError(f"hflip_swap names labels the data lacks. Labels: {list(labels)}. Got: {(a, b)}")
        table[labels.index(a)], table[labels.index(b)] = labels.index(b), labels.index(a)
    return table


def _progress(total: int, name: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"train {name}", unit="batch", leave=False, mininterval=1.0)


def _warmup_cosine_factory() -> Any:
    import keras

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up, then cosine decay to zero at the last planned step."""

        def __init__(self, peak: float, warmup_steps: int, total_steps: int) -> None:
            self.peak, self.warmup_steps, self.total_steps = peak, max(1, warmup_steps), max(2, total_steps)

        def __call__(self, step: Any) -> Any:
            from keras import ops

            step = ops.cast(step, "float32")
            warm = self.peak * step / self.warmup_steps
            progress = ops.clip((step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0)
            cosine = self.peak * 0.5 * (1 + ops.cos(math.pi * progress))
            return ops.where(step < self.warmup_steps, warm, cosine)

        def get_config(self) -> dict[str, Any]:
            return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}

    return WarmupCosine


def _WarmupCosine(peak: float, warmup_steps: int, total_steps: int) -> Any:
    return _warmup_cosine_factory()(peak, warmup_steps, total_steps)
