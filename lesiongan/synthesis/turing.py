"""The Visual Turing Test (Han et al., ISBI 2018, Sec. 3.3 and Table 1).

A reader sees a seeded, shuffled sequence of `n_each` real and `n_each` synthetic slices, one
by one, and calls each real or synthetic. The score is Table 1's: accuracy in percent (the
share of correct calls; 50 % is chance and the best a generator can hope for) and the
confusion counts 'Real Selected as Real', 'Real as Synt', 'Synt as Real', 'Synt as Synt'.
`machine_judgement` is the computational counterpart: a classifier two-sample test.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_path, write_json

REAL, SYNTHETIC = "real", "synthetic"
ANSWERS = (REAL, SYNTHETIC)
# Han et al.'s Table 1 column headers, in order, keyed by the TuringScore field they show.
TABLE1_COLUMNS = {
    "accuracy_percent": "Accuracy (%)",
    "real_as_real": "Real Selected as Real",
    "real_as_synthetic": "Real as Synt",
    "synthetic_as_real": "Synt as Real",
    "synthetic_as_synthetic": "Synt as Synt",
}


@dataclass(frozen=True)
class TuringScore:
    """Table 1's row for the answers given so far; `answered` of `total` items."""

    accuracy_percent: float
    real_as_real: int
    real_as_synthetic: int
    synthetic_as_real: int
    synthetic_as_synthetic: int
    answered: int
    total: int

    def table_row(self) -> dict[str, float | int]:
        """The score under Table 1's column headers."""
        return {header: getattr(self, name) for name, header in TABLE1_COLUMNS.items()}


def _slices(images: Sequence[np.ndarray] | np.ndarray, name: str) -> list[np.ndarray]:
    listed = [np.asarray(image) for image in images]
    for index, image in enumerate(listed):
        if image.ndim != 2:
            raise InputError(f"{name} slice {index}", f"must be a 2D image, got shape {image.shape}")
    return listed


class TuringTest:
    """A balanced, shuffled mix of real and synthetic slices and the reader's answers."""

    def __init__(self, real_slices: Sequence[np.ndarray] | np.ndarray,
                 synthetic_slices: Sequence[np.ndarray] | np.ndarray, n_each: int, seed: int = 0) -> None:
        real, synthetic = _slices(real_slices, REAL), _slices(synthetic_slices, SYNTHETIC)
        if not isinstance(n_each, (int, np.integer)) or n_each < 1:
            raise InputError("n_each", f"must be an integer >= 1, got {n_each!r}")
        for name, pool in ((REAL, real), (SYNTHETIC, synthetic)):
            if len(pool) < n_each:
                raise InputError(f"{name} slices", f"has {len(pool)}, fewer than the {n_each} the test shows")
        rng = np.random.default_rng(seed)
        # (truth, index in its pool): n_each drawn from each pool without replacement, then shuffled
        items = [(REAL, int(i)) for i in rng.choice(len(real), n_each, replace=False)]
        items += [(SYNTHETIC, int(i)) for i in rng.choice(len(synthetic), n_each, replace=False)]
        self._items = [items[i] for i in rng.permutation(len(items))]
        self._pools = {REAL: real, SYNTHETIC: synthetic}
        self._answers: list[str | None] = [None] * len(self._items)
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self._items)

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self._items):
            raise InputError("item", f"index {index} is outside 0..{len(self._items) - 1}")
        return index

    def image(self, index: int) -> np.ndarray:
        """The slice shown at position `index`."""
        truth, source = self._items[self._check_index(index)]
        return self._pools[truth][source]

    def truth(self, index: int) -> str:
        return self._items[self._check_index(index)][0]

    def answer(self, index: int, call: str) -> None:
        """Record the reader's call ("real" or "synthetic") for item `index` (a new call replaces it)."""
        if call not in ANSWERS:
            raise InputError("answer", f"must be 'real' or 'synthetic', got {call!r}")
        self._answers[self._check_index(index)] = call

    def next_unanswered(self) -> int | None:
        """The first item without an answer, None when all are answered."""
        return next((i for i, given in enumerate(self._answers) if given is None), None)

    def score(self) -> TuringScore:
        counts = {(truth, call): 0 for truth in ANSWERS for call in ANSWERS}
        for (truth, _), call in zip(self._items, self._answers):
            if call is not None:
                counts[truth, call] += 1
        answered = sum(counts.values())
        correct = counts[REAL, REAL] + counts[SYNTHETIC, SYNTHETIC]
        return TuringScore(accuracy_percent=100.0 * correct / answered if answered else float("nan"),
                           real_as_real=counts[REAL, REAL], real_as_synthetic=counts[REAL, SYNTHETIC],
                           synthetic_as_real=counts[SYNTHETIC, REAL],
                           synthetic_as_synthetic=counts[SYNTHETIC, SYNTHETIC],
                           answered=answered, total=len(self._items))

    def save(self, csv_path: str | Path, json_path: str | Path) -> None:
        """Each item's truth and answer as CSV, the score (Table 1's row) as JSON; each file whole or not at all."""
        with atomic_path(csv_path) as temporary:
            with open(temporary, "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["item", "truth", "source_index", "answer", "correct"])
                for index, ((truth, source), call) in enumerate(zip(self._items, self._answers)):
                    writer.writerow([index, truth, source, call or "",
                                     "" if call is None else int(call == truth)])
        score = self.score()
        payload = {"seed": self.seed, "score": asdict(score), "table1": score.table_row()}
        write_json(json_path, payload)


def machine_judgement(real_slices: Sequence[np.ndarray] | np.ndarray,
                      synthetic_slices: Sequence[np.ndarray] | np.ndarray, seed: int = 0) -> float:
    """Accuracy of a classifier two-sample test (about 0.5: indistinguishable; 1.0: always told apart)."""
    from ..metrics.realism import c2st_accuracy

    return c2st_accuracy(np.stack(_slices(real_slices, REAL)), np.stack(_slices(synthetic_slices, SYNTHETIC)),
                         seed=seed)
