"""Run a protocol: predictions (from a file, arrays or a predictor) -> errors and the summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from otmark.metrics import ced, per_image_nme, summary
from otmark.protocols.predictions import Predictions, from_arrays
from otmark.protocols.protocol import Protocol
from otmark.schemes import canonical_name

#: thresholds of the CED curves stored in results.json and plotted
CED_THETAS = np.round(np.linspace(0.0, 0.3, 301), 6)

#: ``predict(image (H, W, 3) uint8, box (4,)) -> (K, 2)`` image coordinates
Predictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Evaluation:
    """The outcome of one protocol run.

    Attributes:
        protocol: protocol name.
        model_scheme: scheme of the predictions.
        space: common scheme the errors are measured in.
        ids: ``N`` evaluated sample ids.
        errors: ``(N, K_common)`` normalised errors.
        predictions: the predictions scored (in the model's scheme).
    """

    protocol: str
    model_scheme: str
    space: str
    ids: list[str]
    errors: np.ndarray
    predictions: Predictions

    @property
    def summary(self) -> dict[str, float]:
        """The paper's columns, in percent (:func:`otmark.metrics.summary`)."""
        return summary(self.errors)

    def to_dict(self) -> dict:
        """JSON-ready results: summary (percent), CED curves (fractions), per-image NME."""
        nme_i = per_image_nme(self.errors)
        return {
            "protocol": self.protocol,
            "model_scheme": self.model_scheme,
            "common_space": self.space,
            "num_images": int(self.errors.shape[0]),
            "num_points": int(self.errors.shape[1]),
            "units": "percent (summary); fraction (ced, per_image_nme)",
            "summary": self.summary,
            "ced": {
                "thetas": CED_THETAS.tolist(),
                "image": ced(self.errors, CED_THETAS, per="image").tolist(),
                "landmark": ced(self.errors, CED_THETAS, per="landmark").tolist(),
            },
            "per_image_nme": dict(zip(self.ids, nme_i.tolist())),
        }


def evaluate_predictions(
    protocol: Protocol, predictions: Predictions, allow_extra: bool = False
) -> Evaluation:
    """Score a predictions file against ``protocol``.

    Every evaluated sample needs a prediction; predictions for other ids are an error unless
    ``allow_extra`` (they are then ignored).
    """
    protocol.check_scheme(predictions.scheme, predictions.source)
    pred = predictions.for_ids(protocol.ids, allow_extra=allow_extra)
    errors, space = protocol.score(pred, predictions.scheme)
    used = from_arrays(protocol.ids, pred, predictions.scheme, source=predictions.source)
    return Evaluation(protocol.spec.name, predictions.scheme, space, protocol.ids, errors, used)


def predict_all(
    protocol: Protocol, predict: Predictor, scheme: str, progress: bool = False
) -> Predictions:
    """Run ``predict`` on every (perturbed) input image of ``protocol``.

    ``progress`` shows a tqdm bar. Returns :class:`Predictions` in ``scheme``.
    """
    scheme = canonical_name(scheme)
    protocol.check_scheme(scheme)  # before any prediction
    out = []
    for i in tqdm(range(len(protocol)), desc=protocol.spec.name, disable=not progress):
        out.append(np.asarray(predict(protocol.input_image(i), protocol.box(i)), np.float64))
    return from_arrays(protocol.ids, np.stack(out), scheme, source=f"<{protocol.spec.name}>")


def evaluate_predictor(
    protocol: Protocol, predict: Predictor, scheme: str, progress: bool = False
) -> Evaluation:
    """Predict every sample with ``predict`` (in ``scheme``) and score the result."""
    return evaluate_predictions(protocol, predict_all(protocol, predict, scheme, progress))
