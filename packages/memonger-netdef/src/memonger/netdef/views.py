"""Which Caffe2 ops make an output a view of an input's storage.

A *view* shares the storage of the blob it views: Caffe2's ``Alias`` op
makes its output 0 share the memory of its input 0, and runtimes may do the
same for ``Reshape``-like ops.  Liveness (:mod:`memonger.alloc.liveness`)
treats the blobs joined by views as one *storage group*: one range, one
buffer, never renamed apart.  This module is the one place of
:mod:`memonger.netdef` that says which ops declare views; every planner,
:func:`~memonger.netdef.release.release_blobs_when_used` and the symbolic
executor of :func:`~memonger.netdef.verify.verify_execution_equivalence`
take their rule from :func:`view_rule`.

The ``view_ops`` argument of the public functions is either

- an iterable of op type names, each making its output 0 a view of its
  input 0 (the default is :data:`CAFFE2_VIEW_OPS`, ``{"Alias"}``); or
- a mapping from op type names to ``(output_index, input_index)`` pairs,
  for ops with several views.

It *replaces* the default: pass ``{"Alias", "MyView"}`` (or
``CAFFE2_VIEW_OPS | {"MyView"}``) to add a type, ``()`` for no views at
all.  An op whose output is named like its input (in place) declares no
view: it writes its own storage, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from memonger.netdef import caffe2_pb2
from memonger.netdef.errors import UnsupportedNetError
from memonger.netdef.nested import nested_nets

__all__ = [
    "CAFFE2_VIEW_OPS",
    "ViewOps",
    "ViewRule",
    "view_rule",
]

#: Caffe2's op types whose output 0 is a view of input 0.
CAFFE2_VIEW_OPS: frozenset[str] = frozenset({"Alias"})

#: What ``view_ops=`` accepts: op type names, or type name -> (output, input) pairs.
ViewOps: TypeAlias = "Iterable[str] | Mapping[str, Iterable[tuple[int, int]]]"


def _label(op: Any) -> str:
    name = getattr(op, "name", "")
    kind = getattr(op, "type", "?")
    return f"op {name!r} ({kind})" if name else f"op {kind}"


@dataclass(frozen=True)
class ViewRule:
    """The op types that declare views, with their ``(output_index, input_index)`` pairs.

    Build one with :func:`view_rule`.  Instances are callables ``op -> pairs``,
    the ``views=`` argument of :func:`memonger.alloc.compute_liveness`.

    Examples
    --------
    >>> rule = view_rule()
    >>> op = caffe2_pb2.OperatorDef(type="Alias", input=["a"], output=["b"])
    >>> rule(op), rule.name_pairs(op)
    (((0, 0),), [('b', 'a')])
    >>> rule(caffe2_pb2.OperatorDef(type="Relu", input=["a"], output=["b"]))
    ()
    """

    pairs_by_type: Mapping[str, tuple[tuple[int, int], ...]]

    @property
    def types(self) -> frozenset[str]:
        """The op types that declare views."""
        return frozenset(self.pairs_by_type)

    def __call__(self, op: Any) -> tuple[tuple[int, int], ...]:
        """The view pairs ``op`` declares, by its type (checked against its inputs and outputs).

        Raises
        ------
        UnsupportedNetError
            A pair names an input or output the op lacks.
        """
        own = self.pairs_by_type.get(getattr(op, "type", ""), ())
        if own:
            n_in, n_out = len(op.input), len(op.output)
            for out_index, in_index in own:
                if not (out_index < n_out and in_index < n_in):
                    raise UnsupportedNetError(
                        f"{_label(op)} is a view op with view (output {out_index}, input "
                        f"{in_index}), but it has {n_out} outputs and {n_in} inputs"
                    )
        return own

    def name_pairs(self, op: Any) -> list[tuple[str, str]]:
        """``(view, viewed)`` blob names of the views ``op`` declares (none in place).

        Examples
        --------
        >>> view_rule({"Split2": [(0, 0), (1, 0)]}).name_pairs(
        ...     caffe2_pb2.OperatorDef(type="Split2", input=["x"], output=["x", "h"]))
        [('h', 'x')]
        """
        pairs = []
        for out_index, in_index in self(op):
            view, base = op.output[out_index], op.input[in_index]
            if view != base:
                pairs.append((view, base))
        return pairs

    def nested_name_pairs(self, op: caffe2_pb2.OperatorDef) -> Iterator[tuple[str, str]]:
        """``(view, viewed)`` pairs declared by the ops of the nets nested in ``op``, recursively.

        Examples
        --------
        >>> op = caffe2_pb2.OperatorDef(type="If", input=["c"])
        >>> _ = op.arg.add(name="then_net").n.op.add(type="Alias", input=["a"], output=["v"])
        >>> list(view_rule().nested_name_pairs(op))
        [('v', 'a')]
        """
        for nested in nested_nets(op):
            for inner in nested.net.op:
                yield from self.name_pairs(inner)
                yield from self.nested_name_pairs(inner)


def view_rule(view_ops: ViewOps | ViewRule | None = None) -> ViewRule:
    """The view rule for a ``view_ops=`` argument.

    Parameters
    ----------
    view_ops : iterable of str, mapping of str to pairs, or ViewRule, optional
        Op type names whose output 0 views input 0, or a mapping from op
        type to its ``(output_index, input_index)`` pairs.  Default:
        :data:`CAFFE2_VIEW_OPS`.  A value replaces the default.

    Returns
    -------
    ViewRule

    Raises
    ------
    TypeError
        ``view_ops`` is a bare string, or a pair is not two non-negative ints.

    Examples
    --------
    >>> sorted(view_rule().types)
    ['Alias']
    >>> sorted(view_rule({"Alias", "ReshapeView"}).types)
    ['Alias', 'ReshapeView']
    >>> view_rule({"Split2": [(0, 0), (1, 0)]}).pairs_by_type
    {'Split2': ((0, 0), (1, 0))}
    >>> view_rule("Alias")
    Traceback (most recent call last):
    ...
    TypeError: view_ops must be a collection of op type names, not a string: 'Alias'
    """
    if isinstance(view_ops, ViewRule):
        return view_ops
    if view_ops is None:
        view_ops = CAFFE2_VIEW_OPS
    if isinstance(view_ops, (str, bytes)):
        raise TypeError(
            f"view_ops must be a collection of op type names, not a string: {view_ops!r}"
        )
    pairs_by_type: dict[str, tuple[tuple[int, int], ...]] = {}
    if isinstance(view_ops, Mapping):
        for kind, pairs in view_ops.items():
            checked: list[tuple[int, int]] = []
            for pair in pairs:
                if (
                    len(pair) != 2
                    or not all(isinstance(i, int) and not isinstance(i, bool) for i in pair)
                    or min(pair) < 0
                ):
                    raise TypeError(
                        f"view_ops[{kind!r}]: {pair!r} is not an (output_index, input_index) "
                        "pair of non-negative ints"
                    )
                checked.append((pair[0], pair[1]))
            pairs_by_type[str(kind)] = tuple(checked)
    else:
        for kind in view_ops:
            if not isinstance(kind, str):
                raise TypeError(f"view_ops must hold op type names, got {kind!r}")
            pairs_by_type[kind] = ((0, 0),)
    return ViewRule(dict(sorted(pairs_by_type.items())))
