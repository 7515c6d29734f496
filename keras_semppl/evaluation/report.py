"""Results of the evaluation protocols, as text or a JSON-ready dict."""

import dataclasses

import numpy as np


@dataclasses.dataclass
class ProtocolResult:
    """One protocol's scores on the test split.

    Attributes:
        protocol: "knn", "linear" or "finetune".
        top1, top5: accuracies in [0, 1] (top-5 is clipped to C classes).
        confusion: (C, C) int counts, row = true class, column = predicted.
        num_train: labelled examples the protocol fitted on (k-NN: references).
        num_test: test examples scored.
        settings: the protocol's hyper-parameters.
        seconds: wall time.
    """

    protocol: str
    top1: float
    top5: float
    confusion: np.ndarray
    num_train: int
    num_test: int
    settings: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self):
        return {
            "protocol": self.protocol,
            "top1": float(self.top1),
            "top5": float(self.top5),
            "confusion": np.asarray(self.confusion).tolist(),
            "num_train": int(self.num_train),
            "num_test": int(self.num_test),
            "settings": dict(self.settings),
            "seconds": float(self.seconds),
        }


@dataclasses.dataclass
class EvaluationReport:
    """Protocol results for one encoder on one data set.

    Attributes:
        results: `ProtocolResult`s in the order they ran.
        dataset: a name for the data (e.g. "digits").
        num_classes: C.
        class_names: optional C names for the confusion matrix.
    """

    results: list
    dataset: str = ""
    num_classes: int = 0
    class_names: list = None

    def __getitem__(self, protocol):
        for result in self.results:
            if result.protocol == protocol:
                return result
        raise KeyError(f"No result for protocol {protocol!r}; have "
                       f"{[r.protocol for r in self.results]}.")

    def to_dict(self):
        return {
            "dataset": self.dataset,
            "num_classes": int(self.num_classes),
            "class_names": None if self.class_names is None else list(self.class_names),
            "results": [r.to_dict() for r in self.results],
        }

    def to_text(self, confusion=True):
        """A table of top-1/top-5 per protocol, then each confusion matrix."""
        lines = [f"evaluation on {self.dataset or 'data'} ({self.num_classes} classes)",
                 f"{'protocol':<10} {'top-1':>7} {'top-5':>7} {'train':>7} {'test':>7} "
                 f"{'seconds':>8}  settings"]
        for r in self.results:
            settings = ", ".join(f"{k}={v}" for k, v in r.settings.items())
            lines.append(f"{r.protocol:<10} {r.top1:>7.4f} {r.top5:>7.4f} {r.num_train:>7d} "
                         f"{r.num_test:>7d} {r.seconds:>8.1f}  {settings}")
        if confusion:
            names = self.class_names or [str(c) for c in range(self.num_classes)]
            width = max(5, max(len(str(n)) for n in names) + 1,
                        max((len(str(int(r.confusion.max()))) + 1 for r in self.results), default=1))
            for r in self.results:
                lines.append("")
                lines.append(f"{r.protocol} confusion matrix (rows: true, columns: predicted)")
                lines.append(" " * width + "".join(f"{str(n)[:width - 1]:>{width}}" for n in names))
                for name, row in zip(names, np.asarray(r.confusion)):
                    lines.append(f"{str(name)[:width - 1]:>{width}}" + "".join(f"{int(v):>{width}d}" for v in row))
        return "\n".join(lines)
