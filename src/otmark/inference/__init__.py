"""Inference: the landmark :class:`Detector` (torch checkpoints and ONNX models), face boxes,
image/folder/video inputs, JSON/CSV outputs and overlays.

>>> det = Detector.from_checkpoint("runs/300w/best.pt")          # doctest: +SKIP
>>> landmarks = det.predict(image_rgb, boxes)  # (N, K, 2) image coordinates  # doctest: +SKIP
"""

from otmark.inference.boxes import (
    HAAR_ADAPTATION,
    BoxAdaptation,
    FaceFinderUnavailable,
    HaarFaceDetector,
    adapt_boxes,
    adapt_haar_boxes,
    fit_box_adaptation,
    haar_available,
    load_box_file,
    lookup_boxes,
    parse_box_arg,
    rects_to_boxes,
    whole_image_box,
)
from otmark.inference.detector import (
    Codec,
    Detector,
    crop_faces,
    heatmaps_to_image,
    resolve_device,
    scheme_and_codec,
)
from otmark.inference.finders import (
    DLIB_HOG_ADAPTATION,
    FINDERS,
    DlibHogFaceDetector,
    build_finder,
    choose_face,
    dlib_available,
    make_face_finder,
    select_faces,
)
from otmark.inference.overlay import VideoOverlayWriter, draw_faces
from otmark.inference.pipeline import (
    DetectionRun,
    detect_frames,
    fixed_boxes,
    found_boxes,
    run_detection,
    table_boxes,
    whole_image_boxes,
)
from otmark.inference.results import (
    Face,
    FrameResult,
    read_results_csv,
    read_results_json,
    write_results_csv,
    write_results_json,
)
from otmark.inference.sources import Frame, InputError, input_kind, iter_frames, read_image

__all__ = [
    "DLIB_HOG_ADAPTATION",
    "FINDERS",
    "DlibHogFaceDetector",
    "build_finder",
    "choose_face",
    "dlib_available",
    "make_face_finder",
    "select_faces",
    "HAAR_ADAPTATION",
    "BoxAdaptation",
    "Codec",
    "DetectionRun",
    "Detector",
    "Face",
    "FaceFinderUnavailable",
    "Frame",
    "FrameResult",
    "HaarFaceDetector",
    "InputError",
    "VideoOverlayWriter",
    "adapt_boxes",
    "adapt_haar_boxes",
    "crop_faces",
    "detect_frames",
    "draw_faces",
    "fit_box_adaptation",
    "fixed_boxes",
    "found_boxes",
    "haar_available",
    "heatmaps_to_image",
    "input_kind",
    "iter_frames",
    "load_box_file",
    "lookup_boxes",
    "parse_box_arg",
    "read_image",
    "read_results_csv",
    "read_results_json",
    "rects_to_boxes",
    "resolve_device",
    "run_detection",
    "scheme_and_codec",
    "table_boxes",
    "write_results_csv",
    "whole_image_box",
    "whole_image_boxes",
    "write_results_json",
]
