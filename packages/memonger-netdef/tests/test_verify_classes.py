"""The verifier cannot be fooled: one test per class of broken rewrite it used to accept.

Each class: fetchable results keep their values, no check is skipped,
nondeterministic ops are not interchangeable, recurrent ``<blob>.rename``
arguments are checked, and reports are short and name the first divergence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from memonger.netdef import apply_assignments, caffe2_pb2, optimize_interference
from memonger.netdef.cli import EXIT_NOT_EQUIVALENT, EXIT_OK, main, verify_nets
from memonger.netdef.io import save_net
from memonger.netdef.verify import (
    CAFFE2_NONDETERMINISTIC_OPS,
    final_results,
    graph_difference,
    inplace_difference,
    nondeterministic_types,
    verify_execution_equivalence,
    verify_graph_equality,
)

OpSpec = tuple[str, Sequence[str], Sequence[str]]


def make_net(
    ops: Sequence[OpSpec], external_input: Sequence[str] = (), external_output: Sequence[str] = ()
) -> caffe2_pb2.NetDef:
    net = caffe2_pb2.NetDef(
        name="net", external_input=list(external_input), external_output=list(external_output)
    )
    for op_type, inputs, outputs in ops:
        net.op.add(type=op_type, input=list(inputs), output=list(outputs))
    return net


def copy(net: caffe2_pb2.NetDef) -> caffe2_pb2.NetDef:
    out = caffe2_pb2.NetDef()
    out.CopyFrom(net)
    return out


def reordered(net: caffe2_pb2.NetDef, order: Sequence[int]) -> caffe2_pb2.NetDef:
    out = copy(net)
    del out.op[:]
    out.op.extend([net.op[i] for i in order])
    return out


def all_checks_pass(original: caffe2_pb2.NetDef, optimized: caffe2_pb2.NetDef) -> bool:
    _passed, failed, skipped = verify_nets(original, optimized)
    assert skipped == []
    return not failed


# --------------------------------------------------------------------------- 1. final results


def with_dead_end() -> caffe2_pb2.NetDef:
    """``dead`` is written and never read: not declared, yet a caller may fetch it."""
    return make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Sigmoid", ["a"], ["dead"]),
            ("Tanh", ["a"], ["t"]),
            ("Relu", ["t"], ["out"]),
        ],
        ["x"],
        ["out"],
    )


def test_final_results_are_the_blobs_whose_last_access_is_a_write() -> None:
    assert final_results(with_dead_end()) == ["dead", "out"]


def test_an_undeclared_final_output_renamed_away_is_rejected() -> None:
    net = with_dead_end()
    broken = copy(net)
    broken.op[1].output[0] = "elsewhere"
    result = verify_execution_equivalence(net, broken)
    assert not result.ok
    assert result.blob == "dead"
    assert result.expected == "op #1 Sigmoid output 0"
    assert "final result 'dead'" in result.message
    assert not verify_graph_equality(net, broken)
    assert "'dead'" in (graph_difference(net, broken) or "")


def test_an_undeclared_final_output_overwritten_is_rejected() -> None:
    net = with_dead_end()
    broken = copy(net)
    broken.op[2].output[0] = broken.op[3].input[0] = "dead"  # t takes dead's buffer
    result = verify_execution_equivalence(net, broken)
    assert not result.ok
    assert result.blob == "dead"
    assert result.found == "op #2 Tanh output 0"
    assert not all_checks_pass(net, broken)


def test_freeing_a_final_result_is_rejected() -> None:
    net = with_dead_end()
    freed = copy(net)
    freed.op.add(type="Free", input=["dead"], output=["dead"])
    result = verify_execution_equivalence(net, freed)
    assert not result.ok
    assert result.blob == "dead"
    assert "freed" in (result.found or "")


def test_an_external_input_keeps_its_value() -> None:
    # Writing an external input the original only reads is sharing its buffer.
    net = make_net([("Relu", ["x"], ["a"]), ("Relu", ["a"], ["out"])], ["x"], ["out"])
    broken = copy(net)
    broken.op[1].output[0] = "x"
    broken.op.add(type="Copy", input=["x"], output=["out"])
    assert not verify_execution_equivalence(net, broken).ok
    # A rewrite of an external input keeps its last value.
    updated = make_net(
        [("Relu", ["w"], ["w"]), ("Relu", ["w"], ["out"])], ["w"], ["out"]
    )  # w updated in place, then read
    redirected = copy(updated)
    redirected.op[0].output[0] = redirected.op[1].input[0] = "w2"
    result = verify_execution_equivalence(updated, redirected)
    assert not result.ok
    assert result.blob == "w"
    assert "external input 'w'" in result.message


def test_a_valid_sharing_that_keeps_final_results_is_accepted() -> None:
    net = with_dead_end()
    shared = copy(net)
    shared.op[0].output[0] = shared.op[1].input[0] = shared.op[2].input[0] = "m"
    assert verify_execution_equivalence(net, shared).ok
    opt = optimize_interference(net, static_blobs=[]).net
    assert all_checks_pass(net, opt)


# --------------------------------------------------------------------------- 2. no check skipped


def two_branches() -> caffe2_pb2.NetDef:
    return make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Sigmoid", ["x"], ["s"]),
            ("Relu", ["a"], ["b"]),
            ("Tanh", ["s"], ["u"]),
            ("Sum", ["b", "u"], ["out"]),
        ],
        ["x"],
        ["out"],
    )


def test_graph_equality_and_inplace_run_on_reordered_nets() -> None:
    net = two_branches()
    moved = reordered(net, [1, 0, 3, 2, 4])
    assert graph_difference(net, moved) is None
    assert inplace_difference(net, moved) is None
    passed, failed, skipped = verify_nets(net, moved)
    assert (failed, skipped) == ([], [])
    assert passed == ["execution equivalence", "graph equality", "in-place blobs"]


def test_a_write_to_an_external_input_redirected_is_rejected_when_reordered() -> None:
    net = make_net(
        [
            ("Relu", ["x"], ["a"]),
            ("Copy", ["a"], ["w"]),  # w is an external input, updated by the net
            ("Sigmoid", ["x"], ["s"]),
            ("Sum", ["w", "s"], ["out"]),
        ],
        ["x", "w"],
        ["out"],
    )
    broken = reordered(net, [2, 0, 1, 3])
    broken.op[2].output[0] = broken.op[3].input[0] = "tmp"
    assert not all_checks_pass(net, broken)
    message = graph_difference(net, broken)
    assert message is not None
    assert "'w'" in message
    assert "'tmp'" in message


def test_an_op_newly_writing_into_its_own_input_is_rejected_when_reordered() -> None:
    net = two_branches()
    broken = reordered(net, [1, 0, 3, 2, 4])
    broken.op[3].output[0] = broken.op[4].input[0] = "a"  # Relu(a) -> a
    assert verify_execution_equivalence(net, broken).ok  # the values agree...
    message = inplace_difference(net, broken)  # ...but a new in-place pair appears
    assert message is not None
    assert "op #3 Relu" in message
    assert "'a'" in message
    _passed, failed, _ = verify_nets(net, broken)
    assert [line.split(":")[0] for line in failed] == ["in-place blobs"]


def test_two_reads_of_different_values_merged_into_one_are_rejected() -> None:
    net = make_net(
        [("Relu", ["x"], ["a"]), ("Relu", ["x"], ["b"]), ("Sum", ["a", "b"], ["out"])],
        ["x"],
        ["out"],
    )
    merged = copy(net)
    merged.op[1].output[0] = merged.op[2].input[1] = "a"
    _passed, failed, skipped = verify_nets(net, merged)
    assert skipped == []
    assert [line.split(":")[0] for line in failed] == ["graph equality"]
    assert "op #2 Sum" in failed[0]
    # The same, with the branches moved.
    moved = reordered(merged, [1, 0, 2])
    assert not all_checks_pass(net, moved)


def test_inserted_free_and_alias_ops_are_understood_by_graph_equality() -> None:
    net = two_branches()
    freed = copy(net)
    freed.op.insert(3, caffe2_pb2.OperatorDef(type="Free", input=["a"], output=["a"]))
    assert all_checks_pass(net, freed)
    late = copy(net)
    late.op.insert(2, caffe2_pb2.OperatorDef(type="Free", input=["a"], output=["a"]))
    message = graph_difference(net, late)
    assert message is not None
    assert "freed" in message


def test_the_verify_command_never_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = two_branches()
    save_net(net, tmp_path / "a.pb")
    save_net(reordered(net, [1, 0, 3, 2, 4]), tmp_path / "b.pb")
    assert main(["verify", str(tmp_path / "a.pb"), str(tmp_path / "b.pb")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "skipped" not in out
    assert "ok      graph equality" in out
    assert "ok      in-place blobs" in out


# --------------------------------------------------------------------------- 3. nondeterminism


@pytest.mark.parametrize(
    ("kind", "inputs"),
    [("Dropout", ["x"]), ("UniformFill", []), ("GaussianFill", []), ("XavierFill", [])],
)
def test_outputs_of_two_nondeterministic_ops_are_not_merged(kind: str, inputs: list[str]) -> None:
    net = make_net(
        [(kind, inputs, ["a"]), (kind, inputs, ["b"]), ("Sum", ["a", "b"], ["out"])],
        ["x"] if inputs else [],
        ["out"],
    )
    merged = copy(net)
    merged.op[2].input[1] = "a"  # Sum(a, a): "the same value" only if deterministic
    result = verify_execution_equivalence(net, merged)
    assert not result.ok
    assert result.op_type == "Sum"
    assert result.blob == "a"
    assert result.expected == f"op #1 {kind} output 0"
    # Told that nothing is random, the verifier takes them for one computation.
    assert verify_execution_equivalence(net, merged, nondeterministic_ops=()).ok


def test_nondeterministic_outputs_may_still_share_a_buffer() -> None:
    net = make_net(
        [
            ("Dropout", ["x"], ["a"]),
            ("Relu", ["a"], ["r"]),
            ("Dropout", ["x"], ["b"]),
            ("Relu", ["b"], ["s"]),
            ("Sum", ["r", "s"], ["out"]),
        ],
        ["x"],
        ["out"],
    )
    shared = copy(net)
    shared.op[2].output[0] = shared.op[3].input[0] = "a"
    assert verify_execution_equivalence(net, shared).ok
    assert all_checks_pass(net, shared)


def test_the_nondeterministic_set_is_public_and_extensible(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert {"Dropout", "UniformFill", "GaussianFill", "XavierFill", "MSRAFill"} <= (
        CAFFE2_NONDETERMINISTIC_OPS
    )
    assert "UniformIntFill" in CAFFE2_NONDETERMINISTIC_OPS
    assert "LengthsRangeFill" not in CAFFE2_NONDETERMINISTIC_OPS
    assert "ConstantFill" not in CAFFE2_NONDETERMINISTIC_OPS
    with pytest.raises(TypeError, match="not a string"):
        nondeterministic_types("Dropout")
    net = make_net(
        [("MyRandom", [], ["a"]), ("MyRandom", [], ["b"]), ("Sum", ["a", "b"], ["out"])],
        [],
        ["out"],
    )
    merged = copy(net)
    merged.op[2].input[1] = "a"
    assert verify_execution_equivalence(net, merged).ok  # unknown type: deterministic
    result = verify_execution_equivalence(
        net, merged, nondeterministic_ops=CAFFE2_NONDETERMINISTIC_OPS | {"MyRandom"}
    )
    assert not result.ok
    save_net(net, tmp_path / "a.pb")
    save_net(merged, tmp_path / "b.pb")
    command = ["verify", str(tmp_path / "a.pb"), str(tmp_path / "b.pb")]
    assert main([*command, "--nondeterministic-op", "MyRandom"]) == EXIT_NOT_EQUIVALENT
    assert "FAILED  execution equivalence" in capsys.readouterr().out


def test_dropout_in_test_mode_is_deterministic() -> None:
    net = make_net(
        [("Dropout", ["x"], ["a"]), ("Dropout", ["x"], ["b"]), ("Sum", ["a", "b"], ["out"])],
        ["x"],
        ["out"],
    )
    for op in net.op[:2]:
        op.arg.add(name="is_test", i=1)
    merged = copy(net)
    merged.op[2].input[1] = "a"
    assert verify_execution_equivalence(net, merged).ok


# --------------------------------------------------------------------------- 4. .rename arguments


def recurrent() -> caffe2_pb2.NetDef:
    """``h`` is produced outside, read inside the step net, then read again outside."""
    net = make_net(
        [
            ("FC", ["data", "w0"], ["h"]),
            ("RecurrentNetwork", ["x", "h"], ["seq"]),
            ("Sum", ["seq", "h"], ["out"]),
        ],
        ["data", "w0", "x", "w"],
        ["out"],
    )
    step = caffe2_pb2.NetDef(name="step", external_input=["x_t", "w", "h"])
    step.op.add(type="FC", input=["x_t", "w"], output=["y_t"])
    step.op.add(type="Add", input=["y_t", "h"], output=["seq"])
    net.op[1].arg.add(name="step_net").n.CopyFrom(step)
    return net


def test_renaming_with_rename_arguments_is_accepted() -> None:
    net = recurrent()
    renamed = apply_assignments(net, {"h": "buf"})
    assert [arg.name for arg in renamed.op[1].arg] == ["step_net", "h.rename"]
    assert verify_execution_equivalence(net, renamed).ok


@pytest.mark.parametrize("broken", ["missing", "extra", "wrong"])
def test_a_wrong_rename_argument_is_rejected(broken: str) -> None:
    net = recurrent()
    renamed = apply_assignments(net, {"h": "buf"})
    op = renamed.op[1]
    if broken == "missing":
        del op.arg[1]
        blob = "h"
    elif broken == "extra":
        op.arg.add(name="w.rename", s=b"other")
        blob = "w"
    else:
        op.arg[1].s = b"seq"
        blob = "h"
    result = verify_execution_equivalence(net, renamed)
    assert not result.ok
    assert result.op_type == "RecurrentNetwork"
    assert result.op_index == 1
    assert result.blob == blob
    assert f"'{blob}.rename'" in result.message


# --------------------------------------------------------------------------- 5. short reports


def wide_net(count: int = 400) -> caffe2_pb2.NetDef:
    names = [f"parameter_with_a_long_name_{k}" for k in range(count)]
    net = make_net([("Sum", names, ["out"])], names, ["out"])
    return net


def test_reports_name_the_first_difference_in_one_line() -> None:
    net = wide_net()
    other = copy(net)
    other.external_input[123] = "intruder"
    for message in (
        verify_execution_equivalence(net, other).message,
        graph_difference(net, other) or "",
    ):
        assert len(message) < 300, message
        assert "position 123" in message
        assert "'intruder'" in message
    fewer = copy(net)
    del fewer.external_input[-1]
    message = verify_execution_equivalence(net, fewer).message
    assert len(message) < 300
    assert "parameter_with_a_long_name_399" in message


def test_verify_prints_each_divergence_once_and_briefly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    net = wide_net()
    other = copy(net)
    other.external_input[7] = "intruder"
    save_net(net, tmp_path / "a.pb")
    save_net(other, tmp_path / "b.pb")
    assert main(["verify", str(tmp_path / "a.pb"), str(tmp_path / "b.pb")]) == 1
    captured = capsys.readouterr()
    assert len(captured.out) + len(captured.err) < 1500
    assert captured.out.count("'intruder'") == 2  # execution equivalence and graph equality
    assert captured.out.count("\n") == 3  # one line per check
    assert captured.err.startswith("memonger: not equivalent: execution equivalence: ")
    assert captured.err.count("\n") == 1
    assert main(["verify", "-q", str(tmp_path / "a.pb"), str(tmp_path / "b.pb")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "'intruder'" in captured.err
