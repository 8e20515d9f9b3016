"""Images fed to Keras a batch at a time, in their order: what prediction and validation read.

Given a NumPy array, Keras's fit/predict first turn the whole array into one backend tensor, a copy
of the data set in memory. Fed through a PyDataset, a job reads one batch at a time from the arrays,
which may be memory maps of the preprocessed file (data/arrays.py), so its memory follows the batch
size, not the data set. The batches are those Keras would cut from the array (the same rows, the
same order), so the numbers do not change.
"""

from __future__ import annotations

import math

import keras
import numpy as np


class OrderedBatches(keras.utils.PyDataset):
    """Rows [i * batch_size, (i + 1) * batch_size) of `x` (and `y`) as batch i."""

    def __init__(self, x, y=None, batch_size: int = 32):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        x = np.asarray(self.x[rows])
        return x if self.y is None else (x, np.asarray(self.y[rows]))


def predict_in_batches(model: keras.Model, x, batch_size: int) -> np.ndarray:
    """model.predict over `x` read a batch at a time; an empty `x` gives an empty answer."""
    if len(x) == 0:
        return np.zeros((0, *model.output.shape[1:]), dtype=model.output.dtype)
    return model.predict(OrderedBatches(x, batch_size=batch_size), verbose=0)
