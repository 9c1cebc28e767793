"""Train the two towers with a symmetric InfoNCE loss and a learned temperature.

A hand-written ``tf.function`` step, like the classifier's (:mod:`converters.train`). In a batch
of B pairs the B x B cosine matrix, times a learned scale (1 / temperature, kept at most 100 as
CLIP does), is a classification of each text among the images and of each image among the
texts; the loss is the mean of both cross-entropies. A batch may hold two pairs of one image or
one text (a scene with a full and a partial caption; two scenes with the same description), so
the targets are soft: uniform over every pair with the same image or the same text, never a
correct answer counted as a wrong one. Seeded; early stopping on validation text-to-image
recall@1 (the mean of text-to-image and image-to-text) with the best epoch's weights restored; a
progress bar per batch. With ``hard_negative_group`` set, from the second epoch on part of each
batch comes in groups of pairs whose texts the current text tower puts nearest
(:func:`hard_negative_batches`): the near misses a random batch seldom holds.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converters.errors import SpecError
from converters.preprocessing import Preprocessing
from converters.retrieval.data import PairData
from converters.retrieval.metrics import recall_at_k, relevance
from converters.retrieval.model import DualEncoderSpec, build_image_tower, build_text_tower

__all__ = ["RetrievalTrainConfig", "TrainedDualEncoder", "train_towers"]

_log = logging.getLogger(__name__)
MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class RetrievalTrainConfig:
    epochs: int = field(default=30, metadata={"help": "maximum epochs"})
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = field(default=1e-4, metadata={"help": "AdamW decoupled weight decay"})
    warmup_epochs: int = 1
    patience: int = field(default=5, metadata={"help": "epochs without val recall@1 gain before stopping"})
    target_recall: float = field(default=1.01, metadata={"help": "stop once val recall@1 (t2i, i2t mean) reaches this"})
    hard_negative_group: int = field(default=0, metadata={
        "help": "pairs per group of nearest texts put in one batch (0: random batches only)"})
    hard_negative_fraction: float = field(default=0.5, metadata={"help": "share of each batch made of such groups"})
    seed: int = 0
    threads: int = 0  # 0 = TensorFlow's default

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or not self.learning_rate > 0:
            raise SpecError(f"epochs must be >= 1, batch_size >= 2 (a contrastive batch needs negatives) and "
                            f"learning_rate > 0. Got: epochs={self.epochs}, batch_size={self.batch_size}, "
                            f"learning_rate={self.learning_rate}")
        if self.hard_negative_group < 0 or self.hard_negative_group > self.batch_size or \
                not 0.0 <= self.hard_negative_fraction <= 1.0:
            raise SpecError(f"hard_negative_group must be in [0, batch_size] and hard_negative_fraction in [0, 1]. "
                            f"Got: {self.hard_negative_group}, {self.hard_negative_fraction}")


@dataclass
class TrainedDualEncoder:
    """Both trained towers and what it takes to convert and bundle them."""

    image_tower: Any  # keras.Model
    text_tower: Any
    spec: DualEncoderSpec
    preprocessing: Preprocessing
    history: list[dict[str, float]]
    best_epoch: int
    train_s: float
    temperature: float

    @property
    def image_size(self) -> tuple[int, int]:
        image = self.preprocessing.image
        assert image is not None
        return image.height, image.width

    @property
    def max_length(self) -> int:
        assert self.preprocessing.text is not None
        return self.preprocessing.text.max_length

    @property
    def vocab_size(self) -> int:
        assert self.preprocessing.text is not None
        return len(self.preprocessing.text.vocabulary)

    def embed_images(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Keras image embeddings of raw (N, H, W, 3) pixels (uint8 or float)."""
        return _batched(self.image_tower, np.asarray(images, np.float32), batch_size, self.spec.dim)

    def embed_tokens(self, tokens: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return _batched(self.text_tower, np.asarray(tokens, np.int32), batch_size, self.spec.dim)

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.image_tower.save(out / "image_tower.keras")
        self.text_tower.save(out / "text_tower.keras")
        self.preprocessing.save(out / "preprocessing.json")
        meta = {"spec": asdict(self.spec), "history": self.history, "best_epoch": self.best_epoch,
                "train_s": self.train_s, "temperature": self.temperature}
        (out / "train_report.json").write_text(json.dumps(meta, indent=1))
        return out

    @classmethod
    def load(cls, directory: str | Path) -> TrainedDualEncoder:
        import keras

        src = Path(directory)
        meta = json.loads((src / "train_report.json").read_text())
        fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["spec"].items()}
        spec = DualEncoderSpec(**fields)
        return cls(keras.models.load_model(src / "image_tower.keras"), keras.models.load_model(src / "text_tower.keras"),
                   spec, Preprocessing.load(src / "preprocessing.json"), meta["history"], meta["best_epoch"],
                   meta["train_s"], meta["temperature"])


def train_towers(spec: DualEncoderSpec, preprocessing: Preprocessing, train: PairData, val: PairData,
                 config: RetrievalTrainConfig = RetrievalTrainConfig(), progress: bool = True,
                 name: str = "dual_encoder") -> TrainedDualEncoder:
    """Train both towers on pair tensors; returns the towers of the best epoch by val recall@1."""
    import keras
    import tensorflow as tf

    if preprocessing.image is None or preprocessing.text is None:
        raise SpecError("a dual encoder needs an image spec and a tokenizer in its preprocessing")
    if len(train) < 2 or len(val) < 1:
        raise SpecError(f"expected at least 2 training pairs and 1 validation pair. Got: {len(train)} and {len(val)}")
    if config.threads:
        tf.config.threading.set_intra_op_parallelism_threads(config.threads)
    keras.utils.set_random_seed(config.seed)
    image_size = (preprocessing.image.height, preprocessing.image.width)
    text_spec = preprocessing.text
    image_tower = build_image_tower(spec, image_size)
    text_tower = build_text_tower(spec, len(text_spec.vocabulary), text_spec.max_length)
    batch_size = min(config.batch_size, len(train))
    steps_per_epoch = len(train) // batch_size  # full batches only: a tiny batch has too few negatives
    total = config.epochs * steps_per_epoch
    warmup = max(1, config.warmup_epochs * steps_per_epoch)
    optimizer = keras.optimizers.AdamW(learning_rate=_schedule(config.learning_rate, warmup, total),
                                       weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "embeddings"])
    log_scale = tf.Variable(math.log(1 / spec.initial_temperature), dtype=tf.float32, name="log_logit_scale")
    variables = [*image_tower.trainable_variables, *text_tower.trainable_variables, log_scale]

    @tf.function(reduce_retracing=True)
    def train_step(images: Any, tokens: Any, image_ids: Any, text_ids: Any) -> Any:
        positive = tf.logical_or(image_ids[:, None] == image_ids[None, :], text_ids[:, None] == text_ids[None, :])
        targets = tf.cast(positive, tf.float32)
        targets /= tf.reduce_sum(targets, axis=1, keepdims=True)  # symmetric, so columns sum to 1 as well
        with tf.GradientTape() as tape:
            image_vectors = image_tower(tf.cast(images, tf.float32), training=True)
            text_vectors = text_tower(tokens, training=True)
            logits = tf.exp(log_scale) * tf.matmul(text_vectors, image_vectors, transpose_b=True)
            text_to_image = tf.nn.softmax_cross_entropy_with_logits(targets, logits)
            image_to_text = tf.nn.softmax_cross_entropy_with_logits(targets, tf.transpose(logits))
            loss = 0.5 * (tf.reduce_mean(text_to_image) + tf.reduce_mean(image_to_text))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        log_scale.assign(tf.minimum(log_scale, math.log(MAX_LOGIT_SCALE)))
        return loss

    rng = np.random.default_rng(config.seed)
    history: list[dict[str, float]] = []
    best_recall, best_epoch, best_weights, stale = -1.0, 0, None, 0
    started = time.perf_counter()
    bar = _progress(total, name) if progress else None
    trained = TrainedDualEncoder(image_tower, text_tower, spec, preprocessing, history, 0, 0.0, spec.initial_temperature)
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            if config.hard_negative_group > 1 and epoch > 1:  # epoch 1's random text tower groups nothing
                batches = hard_negative_batches(_pair_text_vectors(trained, train), train, rng, batch_size,
                                                config.hard_negative_group, config.hard_negative_fraction)
            else:
                order = rng.permutation(len(train))
                batches = [order[step * batch_size:(step + 1) * batch_size] for step in range(steps_per_epoch)]
            losses = []
            for batch in batches:
                losses.append(float(train_step(train.images[train.image_ids[batch]], train.tokens[batch],
                                               train.image_ids[batch], train.text_ids[batch])))
                if bar is not None:
                    bar.update(1)
            recall = validation_recall(trained, val)
            score = 0.5 * (recall["t2i_r1"] + recall["i2t_r1"])
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "val_recall": score,
                      **{f"val_{k}": v for k, v in recall.items()},
                      "temperature": float(math.exp(-float(log_scale.numpy()))),
                      "epoch_s": time.perf_counter() - epoch_start}
            history.append(record)
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}", val_recall=f"{score:.4f}")
            _log.info("%s epoch %d: %s", name, epoch, record)
            if score > best_recall:
                best_recall, best_epoch, stale = score, epoch, 0
                best_weights = (image_tower.get_weights(), text_tower.get_weights(), record["temperature"])
            else:
                stale += 1
            if stale >= config.patience or score >= config.target_recall:
                break
    finally:
        if bar is not None:
            bar.close()
    if best_weights is not None:
        image_tower.set_weights(best_weights[0])
        text_tower.set_weights(best_weights[1])
        trained.temperature = best_weights[2]
    trained.best_epoch = best_epoch
    trained.train_s = time.perf_counter() - started
    return trained


def validation_recall(trained: TrainedDualEncoder, data: PairData, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """Recall both ways over the distinct texts and images of ``data``: ``t2i_r<k>`` (each text
    queries the images; an image paired with that text is a hit) and ``i2t_r<k>`` (each image
    queries the texts). A caption that fits many images (a partial one) is a weak text query but a
    fair answer to an image query, so early stopping looks at both."""
    text_ids, first = np.unique(data.text_ids, return_index=True)
    images = np.unique(data.image_ids)
    relevant = relevance(text_ids, images, data.text_ids, data.image_ids)
    text_vectors, image_vectors = trained.embed_tokens(data.tokens[first]), trained.embed_images(data.images[images])
    t2i = recall_at_k(text_vectors, image_vectors, relevant, ks)
    i2t = recall_at_k(image_vectors, text_vectors, relevant.T, ks)
    return {**{f"t2i_r{k}": v for k, v in t2i.items()}, **{f"i2t_r{k}": v for k, v in i2t.items()}}


def hard_negative_batches(text_vectors: np.ndarray, data: PairData, rng: np.random.Generator, batch_size: int,
                          group: int, fraction: float, pool: int = 2048) -> list[np.ndarray]:
    """Batches of ``batch_size`` pair positions in which ``fraction`` of the pairs come in groups of
    ``group`` whose texts are nearest neighbours (of another text and another image), the rest at
    random. Random pairs of a large world rarely differ in one word, so a random batch seldom asks
    the towers to tell "a green circle" from "a green square" in the same scene; a group does.
    Neighbours are sought within random pools of ``pool`` pairs (cost linear in the data)."""
    n = len(data)
    order = rng.permutation(n)
    grouped_n = int(n * fraction)
    groups: list[np.ndarray] = []
    for start in range(0, grouped_n, pool):
        chunk = order[start:min(start + pool, grouped_n)]
        sim = text_vectors[chunk] @ text_vectors[chunk].T
        other = (data.text_ids[chunk][:, None] != data.text_ids[chunk][None, :]) & \
            (data.image_ids[chunk][:, None] != data.image_ids[chunk][None, :])
        sim = np.where(other, sim, -np.inf)
        near = min(4 * group, len(chunk))
        ranked = np.argpartition(-sim, near - 1, axis=1)[:, :near]
        ranked = np.take_along_axis(ranked, np.argsort(-np.take_along_axis(sim, ranked, axis=1), axis=1), axis=1)
        allowed = np.isfinite(np.take_along_axis(sim, ranked, axis=1)).tolist()
        used = np.zeros(len(chunk), bool)
        for anchor, (row, ok) in enumerate(zip(ranked.tolist(), allowed, strict=True)):
            if used[anchor]:
                continue
            mates = [j for j, fine in zip(row, ok, strict=True) if fine and not used[j]]
            members = [anchor, *mates[:group - 1]]
            used[members] = True
            groups.append(chunk[members])
    singles = list(order[grouped_n:])
    rng.shuffle(groups)
    batches: list[np.ndarray] = []
    hard_per_batch = int(batch_size * fraction)
    g, s = 0, 0
    while True:
        batch: list[int] = []
        while g < len(groups) and len(batch) + len(groups[g]) <= hard_per_batch:
            batch.extend(int(i) for i in groups[g])
            g += 1
        take = batch_size - len(batch)
        batch.extend(int(i) for i in singles[s:s + take])
        s += take
        while len(batch) < batch_size and g < len(groups):  # singles ran out: fill with groups
            batch.extend(int(i) for i in groups[g][:batch_size - len(batch)])
            g += 1
        if len(batch) < batch_size:
            break  # full batches only, as in random order
        batches.append(np.array(batch))
    return batches


def _pair_text_vectors(trained: TrainedDualEncoder, data: PairData) -> np.ndarray:
    """The current text tower's vector of each pair's text (each distinct text embedded once)."""
    text_ids, first = np.unique(data.text_ids, return_index=True)
    vectors = trained.embed_tokens(data.tokens[first])
    where = np.searchsorted(text_ids, data.text_ids)
    return vectors[where]


def _batched(model: Any, values: np.ndarray, batch_size: int, dim: int) -> np.ndarray:
    out = [np.asarray(model(values[i:i + batch_size], training=False)) for i in range(0, len(values), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def _progress(total: int, name: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"train {name}", unit="batch", leave=False, mininterval=1.0)


def _schedule(peak: float, warmup_steps: int, total_steps: int) -> Any:
    import keras

    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up, then cosine decay to zero at the last planned step."""

        def __init__(self) -> None:
            self.peak, self.warmup, self.total = peak, max(1, warmup_steps), max(warmup_steps + 1, total_steps)

        def __call__(self, step: Any) -> Any:
            from keras import ops

            step = ops.cast(step, "float32")
            warm = self.peak * step / self.warmup
            done = ops.clip((step - self.warmup) / (self.total - self.warmup), 0.0, 1.0)
            return ops.where(step < self.warmup, warm, self.peak * 0.5 * (1 + ops.cos(math.pi * done)))

        def get_config(self) -> dict[str, Any]:
            return {"peak": self.peak, "warmup_steps": self.warmup, "total_steps": self.total}

    return WarmupCosine()
