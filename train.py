"""Train a small digit classifier: the seedsweep demo.

A one-hidden-layer MLP (leaky ReLU, softmax output) learns scikit-learn's
bundled 8x8 digits (1797 images, nothing is downloaded) with plain minibatch
SGD written in numpy. The seed sets the train/validation split, the initial
weights and the batch order.

The pixels stay on their original 0-16 scale and the arithmetic is float32,
as in most training code. So the learning rate alone decides whether training
converges, blows up to huge losses, or overflows to NaN. Every NaN or inf
comes from float32 overflow in the training itself, and the code only
silences numpy's warnings about it.

Run it with Hydra::

    python train.py lr=0.01
    python train.py -m lr=1e-4,3e-4,1e-3

or call ``train(cfg)`` with any mapping-like config that has the keys of
``conf/config.yaml``.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING
from typing import NamedTuple

import hydra
import numpy as np

if TYPE_CHECKING:
    from omegaconf import DictConfig

log = logging.getLogger(__name__)

N_CLASSES = 10
VAL_FRACTION = 0.2
LEAKY_SLOPE = np.float32(0.1)


class Dataset(NamedTuple):
    """Images as float32 rows of 64 pixels (0-16) and their labels (0-9)."""

    images: np.ndarray
    labels: np.ndarray


class Params(NamedTuple):
    """MLP weights: ``w1`` (64, hidden), ``b1`` (hidden,), ``w2`` (hidden, 10), ``b2`` (10,)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray


def train(cfg: DictConfig) -> dict[str, float]:
    """Train the MLP with minibatch SGD and evaluate it on the validation split.

    Args:
        cfg: config with ``lr``, ``seed``, ``epochs``, ``batch_size``,
            ``hidden`` and ``weight_decay`` (see ``conf/config.yaml``).

    Returns:
        ``{"val_loss": mean cross-entropy, "val_acc": accuracy}`` on the
        validation split. When the weights overflow, ``val_loss`` is NaN or inf.
    """
    split_rng, init_rng, order_rng = _generators(int(cfg.seed))
    train_set, val_set = _split(load_digits_float32(), split_rng)
    params = _init_params(init_rng, int(cfg.hidden))

    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(int(cfg.epochs)):
            params = _run_epoch(params, train_set, order_rng, cfg)
        val_loss, val_acc = _evaluate(params, val_set)

    metrics = {"val_loss": val_loss, "val_acc": val_acc}
    log.info(f"lr={cfg.lr} seed={cfg.seed}: val_loss={val_loss:.4g} val_acc={val_acc:.3f}")
    return metrics


@functools.lru_cache(maxsize=1)
def load_digits_float32() -> Dataset:
    """Load scikit-learn's bundled digits once per process, as float32."""
    # Imported here because importing scikit-learn is slow (about 1 s on a 2-core VM).
    from sklearn.datasets import load_digits

    digits = load_digits()
    return Dataset(digits.data.astype(np.float32), digits.target.astype(np.int64))


def _generators(seed: int) -> list[np.random.Generator]:
    # Independent streams, so the split of a seed does not depend on `hidden`.
    children = np.random.SeedSequence(seed).spawn(3)
    return [np.random.default_rng(child) for child in children]


def _split(data: Dataset, rng: np.random.Generator) -> tuple[Dataset, Dataset]:
    order = rng.permutation(len(data.labels))
    n_val = int(len(order) * VAL_FRACTION)
    val_rows = order[:n_val]
    train_rows = order[n_val:]
    return _take(data, train_rows), _take(data, val_rows)


def _take(data: Dataset, rows: np.ndarray) -> Dataset:
    return Dataset(data.images[rows], data.labels[rows])


def _init_params(rng: np.random.Generator, hidden: int) -> Params:
    n_inputs = 64
    w1 = rng.normal(0.0, np.sqrt(2.0 / n_inputs), size=(n_inputs, hidden))
    w2 = rng.normal(0.0, np.sqrt(1.0 / hidden), size=(hidden, N_CLASSES))
    return Params(
        w1.astype(np.float32),
        np.zeros(hidden, dtype=np.float32),
        w2.astype(np.float32),
        np.zeros(N_CLASSES, dtype=np.float32),
    )


def _run_epoch(
    params: Params, data: Dataset, rng: np.random.Generator, cfg: DictConfig
) -> Params:
    order = rng.permutation(len(data.labels))
    batch_size = int(cfg.batch_size)
    lr = np.float32(cfg.lr)
    weight_decay = np.float32(cfg.weight_decay)

    for start in range(0, len(order), batch_size):
        batch = _take(data, order[start : start + batch_size])
        grads = _gradients(params, batch, weight_decay)
        params = Params(*(p - lr * g for p, g in zip(params, grads)))
    return params


def _forward(params: Params, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pre_activation = images @ params.w1 + params.b1
    hidden = np.where(pre_activation > 0, pre_activation, LEAKY_SLOPE * pre_activation)
    logits = hidden @ params.w2 + params.b2

    # Log-softmax shifted by the row maximum. Once a logit overflows to inf,
    # inf - inf gives NaN, and that NaN then spreads through the weights.
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return pre_activation, hidden, log_probs


def _gradients(params: Params, batch: Dataset, weight_decay: np.float32) -> Params:
    pre_activation, hidden, log_probs = _forward(params, batch.images)
    rows = np.arange(len(batch.labels))

    # Gradient of the mean cross-entropy with respect to the logits.
    d_logits = np.exp(log_probs)
    d_logits[rows, batch.labels] -= 1
    d_logits /= len(rows)

    d_hidden = d_logits @ params.w2.T
    d_pre = d_hidden * np.where(pre_activation > 0, np.float32(1), LEAKY_SLOPE)
    return Params(
        batch.images.T @ d_pre + weight_decay * params.w1,
        d_pre.sum(axis=0),
        hidden.T @ d_logits + weight_decay * params.w2,
        d_logits.sum(axis=0),
    )


def _evaluate(params: Params, data: Dataset) -> tuple[float, float]:
    _, _, log_probs = _forward(params, data.images)
    rows = np.arange(len(data.labels))
    loss = -log_probs[rows, data.labels].mean()
    accuracy = (log_probs.argmax(axis=1) == data.labels).mean()
    return float(loss), float(accuracy)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> dict[str, float]:
    """Train once with the composed config and return the metrics to the sweeper."""
    return train(cfg)


if __name__ == "__main__":
    main()
