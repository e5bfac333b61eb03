"""Which ops and blobs of a training net belong to its gradient computation.

The one place where memonger decides what a gradient is, by what Caffe2
itself records and names:

- an op is a *gradient op* (:func:`is_gradient_op`) when its
  ``is_gradient_op`` field is set (Caffe2's ``AddGradientOperators`` and
  traced graphs set it), or when its type follows Caffe2's gradient registry
  convention ``<Type>Gradient`` -- except the forward ops whose names merely
  end in "Gradient" (:data:`FORWARD_OPS_NAMED_GRADIENT`: ``StopGradient``
  and ``ZeroGradient`` run in the forward pass);
- a blob is a *gradient blob* (:func:`is_gradient_blob`) when it is named as
  Caffe2 names gradients: ``<blob>_grad``, or a partial gradient
  ``<blob>_grad_autosplit_<k>`` that an accumulating ``Sum`` adds up;
- the *backward pass* (:func:`backward_start`) starts at the first gradient
  op, the first op writing a gradient blob or the first op reading a loss;
- *parameter gradients* (:func:`find_param_grads`) are the gradients the
  optimizer reads: external outputs ``<param>_grad`` of an external input
  ``<param>``, and the ``<param>_grad`` (or sparse ``<param>_grad_values`` /
  ``<param>_grad_indices``) inputs of update ops that also read ``<param>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from memonger.netdef import caffe2_pb2

__all__ = [
    "FORWARD_OPS_NAMED_GRADIENT",
    "PARAM_GRAD_RULES",
    "UPDATE_OPS",
    "ParamGradients",
    "backward_start",
    "find_param_grads",
    "is_gradient_blob",
    "is_gradient_op",
]

#: Forward ops whose type ends in "Gradient" without being the gradient of an op.
FORWARD_OPS_NAMED_GRADIENT = frozenset({"StopGradient", "ZeroGradient"})

#: Caffe2 optimizer ops that read a parameter and its gradient and update the parameter.
UPDATE_OPS = frozenset(
    {
        "WeightedSum",
        "ScaledWeightedSum",
        "Adagrad",
        "SparseAdagrad",
        "RowWiseSparseAdagrad",
        "DecayAdagrad",
        "Adam",
        "SparseAdam",
        "RowWiseSparseAdam",
        "AdamW",
        "Adadelta",
        "SparseAdadelta",
        "MomentumSGDUpdate",
        "SparseMomentumSGDUpdate",
        "RmsProp",
        "Ftrl",
        "SparseFtrl",
        "GFtrl",
        "Wngrad",
        "SparseWngrad",
        "Storm",
        "SparseStorm",
        "Lamb",
        "YellowFin",
    }
)

#: Names of the rules :func:`find_param_grads` applies, in the order it applies them.
PARAM_GRAD_RULES = ("external outputs", "update ops")

_AUTOSPLIT = re.compile(r"_grad_autosplit_\d+$")
_GRAD_INPUT = re.compile(r"^(?P<param>.+)_grad(?:_values|_indices)?$")


def is_gradient_blob(name: str) -> bool:
    """Whether ``name`` is a gradient by Caffe2's naming (``_grad``, ``_grad_autosplit_<k>``).

    Examples
    --------
    >>> [is_gradient_blob(b) for b in ("fc_w_grad", "_x_grad_autosplit_1", "grader")]
    [True, True, False]
    """
    return name.endswith("_grad") or _AUTOSPLIT.search(name) is not None


def is_gradient_op(op: caffe2_pb2.OperatorDef) -> bool:
    """Whether ``op`` is a gradient op, as Caffe2 records it.

    True when ``op.is_gradient_op`` is set, or when its type is
    ``<Type>Gradient`` (the gradient registry's naming) and not one of
    :data:`FORWARD_OPS_NAMED_GRADIENT`.

    Examples
    --------
    >>> is_gradient_op(caffe2_pb2.OperatorDef(type="ConvGradient"))
    True
    >>> is_gradient_op(caffe2_pb2.OperatorDef(type="StopGradient"))
    False
    >>> is_gradient_op(caffe2_pb2.OperatorDef(type="threshold_backward", is_gradient_op=True))
    True
    """
    if op.is_gradient_op:
        return True
    kind = op.type
    return (
        kind.endswith("Gradient")
        and len(kind) > len("Gradient")
        and kind not in FORWARD_OPS_NAMED_GRADIENT
    )


def backward_start(ops: Sequence[caffe2_pb2.OperatorDef], losses: Iterable[str] = ()) -> int:
    """Position of the first op of the backward pass (``len(ops)`` when there is none).

    The first gradient op (:func:`is_gradient_op`), op writing a gradient
    blob (:func:`is_gradient_blob`) or op reading one of ``losses``.

    Examples
    --------
    >>> net = caffe2_pb2.NetDef()
    >>> _ = net.op.add(type="StopGradient", input=["data"], output=["data"])
    >>> _ = net.op.add(type="Relu", input=["data"], output=["y"])
    >>> _ = net.op.add(type="ConstantFill", input=["y"], output=["y_grad"])
    >>> backward_start(net.op)
    2
    """
    loss_names = set(losses)
    for i, op in enumerate(ops):
        if (
            is_gradient_op(op)
            or any(is_gradient_blob(b) for b in op.output)
            or any(b in loss_names for b in op.input)
        ):
            return i
    return len(ops)


@dataclass(frozen=True)
class ParamGradients:
    """The parameter gradients of a net and the rules that found them.

    Attributes
    ----------
    names : tuple of str
        Every parameter gradient found, in order of first finding.
    by_rule : dict of str to tuple of str
        For each rule of :data:`PARAM_GRAD_RULES` that found some, what it found.
    """

    names: tuple[str, ...]
    by_rule: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: how many were found, by which rule.

        Examples
        --------
        >>> ParamGradients(("w_grad",), {"update ops": ("w_grad",)}).describe()
        '1 parameter gradient found: 1 read with its parameter by update ops'
        >>> ParamGradients(()).describe()
        'no parameter gradients found'
        """
        if not self.names:
            return "no parameter gradients found"
        what = {
            "external outputs": "external outputs <param>_grad of external inputs <param>",
            "update ops": "read with its parameter by update ops",
        }
        parts = [f"{len(found)} {what[rule]}" for rule, found in self.by_rule.items()]
        plural = "s" if len(self.names) != 1 else ""
        return f"{len(self.names)} parameter gradient{plural} found: " + ", ".join(parts)


def find_param_grads(net: caffe2_pb2.NetDef) -> ParamGradients:
    """Parameter gradients of a training net, found from the net itself.

    Two rules, both applied (:data:`PARAM_GRAD_RULES`):

    ``external outputs``
        external outputs named ``<param>_grad`` whose ``<param>`` is an
        external input (what a net declaring its results says);
    ``update ops``
        inputs ``<param>_grad`` (or sparse ``<param>_grad_values`` /
        ``<param>_grad_indices``) of an op that also reads ``<param>`` and is
        an optimizer op (:data:`UPDATE_OPS`) or writes ``<param>`` in place
        (what the optimizer of a net declaring no outputs reads).

    Examples
    --------
    >>> net = caffe2_pb2.NetDef(external_input=["x", "w", "ONE", "LR"])
    >>> _ = net.op.add(type="FCGradient", input=["x", "w", "dy"], output=["w_grad", "x_grad"])
    >>> _ = net.op.add(type="WeightedSum", input=["w", "ONE", "w_grad", "LR"], output=["w"])
    >>> found = find_param_grads(net)
    >>> found.names, found.describe()
    (('w_grad',), '1 parameter gradient found: 1 read with its parameter by update ops')
    """
    by_rule: dict[str, dict[str, None]] = {}
    external = set(net.external_input)
    declared = [
        b for b in net.external_output if b.endswith("_grad") and b[: -len("_grad")] in external
    ]
    if declared:
        by_rule["external outputs"] = dict.fromkeys(declared)
    for op in net.op:
        inputs = set(op.input)
        updates = op.type in UPDATE_OPS
        for b in op.input:
            match = _GRAD_INPUT.match(b)
            if match is None:
                continue
            param = match.group("param")
            if param in inputs and (updates or param in op.output):
                by_rule.setdefault("update ops", {})[b] = None
    names: dict[str, None] = {}
    for found in by_rule.values():
        names.update(found)
    return ParamGradients(
        tuple(names), {rule: tuple(by_rule[rule]) for rule in PARAM_GRAD_RULES if rule in by_rule}
    )
