"""Named evaluation protocols: which data, which perturbation, how predictions are scored.

>>> from otmark.protocols import build_protocol, read_predictions, evaluate_predictions
>>> proto = build_protocol("300w-wflw", "data/")                      # doctest: +SKIP
>>> result = evaluate_predictions(proto, read_predictions("p.json"))  # doctest: +SKIP
>>> result.summary["NME"]                                             # doctest: +SKIP
"""

from otmark.protocols.evaluation import (
    CED_THETAS,
    Evaluation,
    evaluate_predictions,
    evaluate_predictor,
    predict_all,
)
from otmark.protocols.predictions import (
    Predictions,
    from_arrays,
    read_predictions,
    write_predictions,
)
from otmark.protocols.protocol import (
    BOX_SOURCES,
    Protocol,
    build_protocol,
    load_samples,
    neighbours,
)
from otmark.protocols.registry import PROTOCOLS, ProtocolSpec, get_protocol_spec
from otmark.protocols.scoring import score

__all__ = [
    "BOX_SOURCES",
    "CED_THETAS",
    "PROTOCOLS",
    "Evaluation",
    "Predictions",
    "Protocol",
    "ProtocolSpec",
    "build_protocol",
    "evaluate_predictions",
    "evaluate_predictor",
    "from_arrays",
    "get_protocol_spec",
    "load_samples",
    "neighbours",
    "predict_all",
    "read_predictions",
    "score",
    "write_predictions",
]
