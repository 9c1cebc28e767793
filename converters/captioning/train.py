"""Train an encoder and its decoder step with teacher forcing; search over the Keras step on the host.

A hand-written ``tf.function`` step, like the other trainers: the encoder runs once per batch and
the exported decoder-step model once per target position, fed the reference's previous word, with
the loss the mean negative log-likelihood of the reference words (padding masked out). Seeded;
early stopping on the validation loss with the best epoch's weights restored; a progress bar per
batch. :meth:`TrainedCaptioner.generate` runs :func:`edge_sdk.tasks.generate.beam_search`, the
device's own search, over the Keras step, so host and device beams can be compared one to one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converters.captioning.model import (
    CaptionerSpec,
    build_decoder_step,
    build_encoder,
    memory_length,
    state_names,
)
from converters.captioning.vocab import TargetVocabulary
from converters.errors import SpecError
from converters.retrieval.train import _progress, _schedule
from edge_sdk.preprocess import ImageSpec, TokenizerSpec
from edge_sdk.tasks.generate import Hypothesis, beam_search, greedy_search

__all__ = ["CaptionTensors", "CaptionTrainConfig", "TrainedCaptioner", "train_captioner"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptionTrainConfig:
    epochs: int = field(default=40, metadata={"help": "maximum epochs"})
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_epochs: int = 1
    patience: int = field(default=5, metadata={"help": "epochs without a val loss gain before stopping"})
    target_token_accuracy: float = field(default=1.01, metadata={"help": "stop once val token accuracy reaches it"})
    clip_norm: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.learning_rate > 0 or self.patience < 1:
            raise SpecError(f"epochs, batch_size and patience must be >= 1 and learning_rate > 0. Got: "
                            f"epochs={self.epochs}, batch_size={self.batch_size}, patience={self.patience}, "
                            f"learning_rate={self.learning_rate}")


@dataclass(frozen=True)
class CaptionTensors:
    """Rows of training tensors: raw uint8 images and/or source ids, decoder inputs and targets."""

    images: np.ndarray | None  # (N, H, W, 3) uint8
    sources: np.ndarray | None  # (N, S) int32
    target_in: np.ndarray  # (N, T) int32
    target_out: np.ndarray

    def __len__(self) -> int:
        return len(self.target_in)

    def encoder_inputs(self, rows: np.ndarray | slice) -> dict[str, np.ndarray]:
        inputs = {}
        if self.images is not None:
            inputs["image"] = self.images[rows].astype(np.float32)
        if self.sources is not None:
            inputs["source"] = self.sources[rows]
        return inputs


@dataclass
class TrainedCaptioner:
    """The trained encoder and decoder step and what it takes to convert, bundle and search them."""

    encoder: Any  # keras.Model
    step: Any  # keras.Model
    spec: CaptionerSpec
    image: ImageSpec | None
    source: TokenizerSpec | None
    vocabulary: TargetVocabulary
    history: list[dict[str, float]]
    best_epoch: int = 0
    train_s: float = 0.0
    _compiled: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def memory_rows(self) -> int:
        size = (self.image.height, self.image.width) if self.image else (0, 0)
        return memory_length(self.spec, size, self.source.max_length if self.source else 0)

    @property
    def state_inputs(self) -> dict[str, str]:
        """decode_step state input -> the output that updates it."""
        return {f"state_{s}": f"next_{s}" for s in state_names(self.spec)}

    def encode(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Encoder outputs for a batch of raw inputs (``image`` uint8/float pixels, ``source`` ids)."""
        fn = self._function("encode", self.encoder)
        return {k: np.asarray(v) for k, v in fn(_encoder_feed(inputs)).items()}

    def step_fn(self, memory: Mapping[str, np.ndarray], batch: int) -> Any:
        """A :class:`edge_sdk.tasks.generate.StepFn` over the Keras step, memory tiled to ``batch`` rows."""
        fn = self._function("step", self.step)
        tiled = {k: np.repeat(v, batch, axis=0) for k, v in memory.items()}

        def step(tokens: np.ndarray, state: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
            out = fn({"token": np.asarray(tokens, np.int32), **state, **tiled})
            new_state = {name: np.asarray(out[output]) for name, output in self.state_inputs.items()}
            return np.asarray(out["log_probs"]), new_state

        return step

    def generate(self, inputs: Mapping[str, np.ndarray], beam_size: int = 3, length_alpha: float = 0.6,
                 max_length: int | None = None) -> list[Hypothesis]:
        """The best hypothesis per row of ``inputs`` (beam 1: greedy), by the device's search code."""
        encoded = self.encode(inputs)
        steps = max_length or self.vocabulary.steps
        best = []
        for row in range(len(encoded["memory"])):
            memory = {"memory": encoded["memory"][row:row + 1], "keys": encoded["keys"][row:row + 1]}
            initial = {f"state_{s}": encoded[f"init_{s}"][row:row + 1] for s in state_names(self.spec)}
            vocab = self.vocabulary
            if beam_size == 1:
                best.append(greedy_search(self.step_fn(memory, 1), initial, start_id=vocab.start_id,
                                          end_id=vocab.end_id, max_length=steps))
            else:
                best.append(beam_search(self.step_fn(memory, beam_size), initial, start_id=vocab.start_id,
                                        end_id=vocab.end_id, max_length=steps, beam_size=beam_size,
                                        length_alpha=length_alpha)[0])
        return best

    def _function(self, name: str, model: Any) -> Any:
        if name not in self._compiled:
            import tensorflow as tf

            self._compiled[name] = tf.function(lambda feed: model(feed, training=False), reduce_retracing=True)
        return self._compiled[name]

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.encoder.save_weights(out / "encode.weights.h5")
        self.step.save_weights(out / "decode_step.weights.h5")
        meta = {"spec": self.spec.to_dict(), "image": self.image.to_dict() if self.image else None,
                "source": self.source.to_dict() if self.source else None,
                "vocabulary": list(self.vocabulary.words), "steps": self.vocabulary.steps,
                "history": self.history, "best_epoch": self.best_epoch, "train_s": self.train_s}
        (out / "captioner.json").write_text(json.dumps(meta, indent=1))
        return out

    @classmethod
    def load(cls, directory: str | Path, batch_size: int | None = None, unroll: bool = False) -> TrainedCaptioner:
        """What :meth:`save` wrote; batch 1 and ``unroll`` rebuild the copies that convert to builtin ops."""
        src = Path(directory)
        meta = json.loads((src / "captioner.json").read_text())
        spec = CaptionerSpec.from_dict(meta["spec"])
        image = ImageSpec.from_dict(meta["image"]) if meta["image"] else None
        source = TokenizerSpec.from_dict(meta["source"]) if meta["source"] else None
        trained = cls.build(spec, image, source, TargetVocabulary(tuple(meta["vocabulary"]), meta["steps"]),
                            batch_size=batch_size, unroll=unroll)
        trained.encoder.load_weights(src / "encode.weights.h5")
        trained.step.load_weights(src / "decode_step.weights.h5")
        trained.history, trained.best_epoch, trained.train_s = meta["history"], meta["best_epoch"], meta["train_s"]
        return trained

    @classmethod
    def build(cls, spec: CaptionerSpec, image: ImageSpec | None, source: TokenizerSpec | None,
              vocabulary: TargetVocabulary, batch_size: int | None = None, unroll: bool = False) -> TrainedCaptioner:
        """Fresh (untrained) models; batch 1 and ``unroll`` give the copies that convert to builtin ops."""
        if spec.use_image and image is None or spec.use_source and source is None:
            raise SpecError("the captioner spec needs an image spec (use_image) and a source tokenizer (use_source)")
        size = (image.height, image.width) if image else (0, 0)
        encoder = build_encoder(spec, size, len(source.vocabulary) if source else 0,
                                source.max_length if source else 0, batch_size=batch_size, unroll=unroll)
        rows = memory_length(spec, size, source.max_length if source else 0)
        step = build_decoder_step(spec, len(vocabulary), rows, batch_size=batch_size)
        return cls(encoder, step, spec, image if spec.use_image else None, source if spec.use_source else None,
                   vocabulary, [])


def _encoder_feed(inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    feed = dict(inputs)
    if "image" in feed:
        feed["image"] = np.asarray(feed["image"], np.float32)
    if "source" in feed:
        feed["source"] = np.asarray(feed["source"], np.int32)
    return feed


def train_captioner(spec: CaptionerSpec, image: ImageSpec | None, source: TokenizerSpec | None,
                    vocabulary: TargetVocabulary, train: CaptionTensors, val: CaptionTensors,
                    config: CaptionTrainConfig = CaptionTrainConfig(), progress: bool = True,
                    name: str = "captioner") -> TrainedCaptioner:
    """Teacher-forced training; returns the models of the best epoch by validation loss."""
    import keras
    import tensorflow as tf

    if len(train) < 1 or len(val) < 1:
        raise SpecError(f"expected at least 1 training and 1 validation row. Got: {len(train)} and {len(val)}")
    keras.utils.set_random_seed(config.seed)
    trained = TrainedCaptioner.build(spec, image, source, vocabulary)
    encoder, step = trained.encoder, trained.step
    batch_size = min(config.batch_size, len(train))
    steps_per_epoch = -(-len(train) // batch_size)
    total = config.epochs * steps_per_epoch
    optimizer = keras.optimizers.Adam(learning_rate=_schedule(config.learning_rate,
                                                              config.warmup_epochs * steps_per_epoch, total),
                                      global_clipnorm=config.clip_norm)
    variables = [*encoder.trainable_variables, *step.trainable_variables]
    states = state_names(spec)

    def forward(feed: Any, target_in: Any, target_out: Any, training: bool) -> tuple[Any, Any, Any]:
        encoded = encoder(feed, training=training)
        state = {f"state_{s}": encoded[f"init_{s}"] for s in states}
        nll, correct, count = 0.0, 0.0, 0.0
        for t in range(vocabulary.steps):  # unrolled: the step model is what the device runs
            out = step({"token": target_in[:, t], **state, "memory": encoded["memory"], "keys": encoded["keys"]},
                       training=training)
            mask = tf.cast(target_out[:, t] > 0, tf.float32)
            picked = tf.gather(out["log_probs"], target_out[:, t], batch_dims=1)
            hit = tf.cast(tf.equal(tf.argmax(out["log_probs"], axis=-1, output_type=tf.int32), target_out[:, t]),
                          tf.float32)
            nll, correct, count = nll - tf.reduce_sum(picked * mask), correct + tf.reduce_sum(hit * mask), \
                count + tf.reduce_sum(mask)
            state = {f"state_{s}": out[f"next_{s}"] for s in states}
        return nll, correct, count

    @tf.function(reduce_retracing=True)
    def train_step(feed: Any, target_in: Any, target_out: Any) -> Any:
        with tf.GradientTape() as tape:
            nll, _, count = forward(feed, target_in, target_out, True)
            loss = nll / tf.maximum(count, 1.0)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    @tf.function(reduce_retracing=True)
    def eval_step(feed: Any, target_in: Any, target_out: Any) -> Any:
        return forward(feed, target_in, target_out, False)

    rng = np.random.default_rng(config.seed)
    best_loss, best_weights, stale = float("inf"), None, 0
    started = time.perf_counter()
    bar = _progress(total, name) if progress else None
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            order = rng.permutation(len(train))
            losses = []
            for index in range(steps_per_epoch):
                rows = np.sort(order[index * batch_size:(index + 1) * batch_size])
                losses.append(float(train_step(_encoder_feed(train.encoder_inputs(rows)), train.target_in[rows],
                                               train.target_out[rows])))
                if bar is not None:
                    bar.update(1)
            val_loss, val_accuracy = _evaluate(eval_step, val, batch_size)
            record = {"epoch": epoch, "loss": float(np.mean(losses)), "val_loss": val_loss,
                      "val_token_accuracy": val_accuracy, "epoch_s": time.perf_counter() - epoch_start}
            trained.history.append(record)
            if bar is not None:
                bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}", val_loss=f"{val_loss:.3f}",
                                val_acc=f"{val_accuracy:.4f}")
            _log.info("%s epoch %d: %s", name, epoch, record)
            if val_loss < best_loss:
                best_loss, trained.best_epoch, stale = val_loss, epoch, 0
                best_weights = (encoder.get_weights(), step.get_weights())
            else:
                stale += 1
            if stale >= config.patience or val_accuracy >= config.target_token_accuracy:
                break
    finally:
        if bar is not None:
            bar.close()
    if best_weights is not None:
        encoder.set_weights(best_weights[0])
        step.set_weights(best_weights[1])
    trained.train_s = time.perf_counter() - started
    return trained


def _evaluate(eval_step: Any, data: CaptionTensors, batch_size: int) -> tuple[float, float]:
    nll, correct, count = 0.0, 0.0, 0.0
    for start in range(0, len(data), batch_size):
        rows = slice(start, start + batch_size)
        a, b, c = eval_step(_encoder_feed(data.encoder_inputs(rows)), data.target_in[rows], data.target_out[rows])
        nll, correct, count = nll + float(a), correct + float(b), count + float(c)
    return nll / max(count, 1.0), correct / max(count, 1.0)


def spec_summary(trained: TrainedCaptioner) -> dict[str, Any]:
    return {"spec": asdict(trained.spec), "best_epoch": trained.best_epoch, "epochs_run": len(trained.history),
            "train_s": round(trained.train_s, 2), "vocabulary": len(trained.vocabulary),
            "steps": trained.vocabulary.steps, "memory_rows": trained.memory_rows}
