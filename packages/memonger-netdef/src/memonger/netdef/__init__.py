"""Caffe2 NetDef schema, I/O, blob-sharing rewrites and verification.

The successor of Caffe2's ``caffe2.python.memonger``: the same entry points
(:func:`optimize_interference`, :func:`share_grad_blobs`,
:func:`optimize_inference_for_dag`, :func:`release_blobs_when_used`, ...)
working on ``caffe2_pb2.NetDef`` messages without a Caffe2 runtime, with
every rewrite provably safe (:func:`verify_execution_equivalence`).  Liveness
is :mod:`memonger.alloc.liveness`'s, over storages: Caffe2's ``Alias`` (and
any op type given by ``view_ops=``, :mod:`memonger.netdef.views`) makes its
output a view of its input's storage.  The
``memonger`` command line lives in :mod:`memonger.netdef.cli`.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memonger.netdef import caffe2_pb2
    from memonger.netdef.corpus import CorpusCase, load_case, load_manifest
    from memonger.netdef.dag import (
        SharingStats,
        compute_blob_recycling_for_dag,
        optimize_inference_for_dag,
        share_grad_blobs,
        sharing_summary,
    )
    from memonger.netdef.errors import (
        CorpusNotFoundError,
        NameCollisionError,
        NestedNetError,
        NetDefError,
        NetFormatError,
        ShapeInferenceError,
        UnsupportedNetError,
        VerificationError,
    )
    from memonger.netdef.fast import optimize_inference_fast
    from memonger.netdef.io import detect_format, load_net, save_net
    from memonger.netdef.models import TrainingNet, resnet50_training, resnet_training
    from memonger.netdef.nested import nested_nets, outer_references
    from memonger.netdef.release import release_blobs_when_used
    from memonger.netdef.rename import apply_assignments, apply_recurrent_blob_assignments
    from memonger.netdef.rewrite import (
        InterferencePlan,
        Optimization,
        optimize_interference,
        plan_interference,
    )
    from memonger.netdef.shapes import ShapeInference, infer_shapes, weight_shapes_from_init_net
    from memonger.netdef.verify import (
        EquivalenceResult,
        assert_equivalent,
        graph_difference,
        inplace_difference,
        net_storage,
        verify_execution_equivalence,
        verify_graph_equality,
        verify_inplace_blobs,
    )
    from memonger.netdef.views import CAFFE2_VIEW_OPS, ViewRule, view_rule

_LAZY: dict[str, tuple[str, str | None]] = {
    "CAFFE2_VIEW_OPS": ("memonger.netdef.views", "CAFFE2_VIEW_OPS"),
    "CorpusCase": ("memonger.netdef.corpus", "CorpusCase"),
    "CorpusNotFoundError": ("memonger.netdef.errors", "CorpusNotFoundError"),
    "EquivalenceResult": ("memonger.netdef.verify", "EquivalenceResult"),
    "InterferencePlan": ("memonger.netdef.rewrite", "InterferencePlan"),
    "NameCollisionError": ("memonger.netdef.errors", "NameCollisionError"),
    "NestedNetError": ("memonger.netdef.errors", "NestedNetError"),
    "NetDefError": ("memonger.netdef.errors", "NetDefError"),
    "NetFormatError": ("memonger.netdef.errors", "NetFormatError"),
    "Optimization": ("memonger.netdef.rewrite", "Optimization"),
    "ShapeInference": ("memonger.netdef.shapes", "ShapeInference"),
    "ShapeInferenceError": ("memonger.netdef.errors", "ShapeInferenceError"),
    "SharingStats": ("memonger.netdef.dag", "SharingStats"),
    "TrainingNet": ("memonger.netdef.models", "TrainingNet"),
    "UnsupportedNetError": ("memonger.netdef.errors", "UnsupportedNetError"),
    "VerificationError": ("memonger.netdef.errors", "VerificationError"),
    "ViewRule": ("memonger.netdef.views", "ViewRule"),
    "apply_assignments": ("memonger.netdef.rename", "apply_assignments"),
    "apply_recurrent_blob_assignments": (
        "memonger.netdef.rename",
        "apply_recurrent_blob_assignments",
    ),
    "assert_equivalent": ("memonger.netdef.verify", "assert_equivalent"),
    "caffe2_pb2": ("memonger.netdef.caffe2_pb2", None),
    "compute_blob_recycling_for_dag": ("memonger.netdef.dag", "compute_blob_recycling_for_dag"),
    "detect_format": ("memonger.netdef.io", "detect_format"),
    "graph_difference": ("memonger.netdef.verify", "graph_difference"),
    "infer_shapes": ("memonger.netdef.shapes", "infer_shapes"),
    "inplace_difference": ("memonger.netdef.verify", "inplace_difference"),
    "load_case": ("memonger.netdef.corpus", "load_case"),
    "load_manifest": ("memonger.netdef.corpus", "load_manifest"),
    "load_net": ("memonger.netdef.io", "load_net"),
    "nested_nets": ("memonger.netdef.nested", "nested_nets"),
    "net_storage": ("memonger.netdef.verify", "net_storage"),
    "optimize_inference_fast": ("memonger.netdef.fast", "optimize_inference_fast"),
    "optimize_inference_for_dag": ("memonger.netdef.dag", "optimize_inference_for_dag"),
    "optimize_interference": ("memonger.netdef.rewrite", "optimize_interference"),
    "outer_references": ("memonger.netdef.nested", "outer_references"),
    "plan_interference": ("memonger.netdef.rewrite", "plan_interference"),
    "release_blobs_when_used": ("memonger.netdef.release", "release_blobs_when_used"),
    "resnet50_training": ("memonger.netdef.models", "resnet50_training"),
    "resnet_training": ("memonger.netdef.models", "resnet_training"),
    "save_net": ("memonger.netdef.io", "save_net"),
    "share_grad_blobs": ("memonger.netdef.dag", "share_grad_blobs"),
    "sharing_summary": ("memonger.netdef.dag", "sharing_summary"),
    "verify_execution_equivalence": ("memonger.netdef.verify", "verify_execution_equivalence"),
    "verify_graph_equality": ("memonger.netdef.verify", "verify_graph_equality"),
    "verify_inplace_blobs": ("memonger.netdef.verify", "verify_inplace_blobs"),
    "view_rule": ("memonger.netdef.views", "view_rule"),
    "weight_shapes_from_init_net": ("memonger.netdef.shapes", "weight_shapes_from_init_net"),
}


def __getattr__(name: str) -> Any:
    # Submodules are imported on first use, so that importing one of them (or
    # running the command's --help) does not import every dependency.
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "CAFFE2_VIEW_OPS",
    "CorpusCase",
    "CorpusNotFoundError",
    "EquivalenceResult",
    "InterferencePlan",
    "NameCollisionError",
    "NestedNetError",
    "NetDefError",
    "NetFormatError",
    "Optimization",
    "ShapeInference",
    "ShapeInferenceError",
    "SharingStats",
    "TrainingNet",
    "UnsupportedNetError",
    "VerificationError",
    "ViewRule",
    "__version__",
    "apply_assignments",
    "apply_recurrent_blob_assignments",
    "assert_equivalent",
    "caffe2_pb2",
    "compute_blob_recycling_for_dag",
    "detect_format",
    "graph_difference",
    "infer_shapes",
    "inplace_difference",
    "load_case",
    "load_manifest",
    "load_net",
    "nested_nets",
    "net_storage",
    "optimize_inference_fast",
    "optimize_inference_for_dag",
    "optimize_interference",
    "outer_references",
    "plan_interference",
    "release_blobs_when_used",
    "resnet50_training",
    "resnet_training",
    "save_net",
    "share_grad_blobs",
    "sharing_summary",
    "verify_execution_equivalence",
    "verify_graph_equality",
    "verify_inplace_blobs",
    "view_rule",
    "weight_shapes_from_init_net",
]
