"""How every mode grows with the size of a net: seconds and peak memory per op count.

Four synthetic Caffe2-style families are generated at each size (op counts
are approximate; the table reports the exact count):

- ``mlp_train``: FC/Relu chains, forward and backward (gradient ops flagged
  ``is_gradient_op``; parameter gradients are external outputs);
- ``resnet_train``: residual blocks of two FC/Relu layers and a shortcut Sum,
  forward and backward;
- ``inception_infer``: Inception-like modules (four parallel branches joined
  by a Concat), inference only;
- ``wide_infer``: ``W`` parallel two-op branches joined by one Sum.

Every mode runs in a fresh process, both through the Python API (the time of
the call alone) and through the ``memonger`` command (the wall time of the
whole process: start-up, loading, planning, verification, writing).  Peak
memory is the child's maximum resident set size.  The growth exponent of a
mode is ``log10(t(100,000) / t(10,000))`` (1 is linear).  Writes
``benchmarks/results/scale.md`` and ``scale.json``.

Usage: ``python benchmarks/bench_scale.py [--sizes 1000,10000,100000]
[--million] [--families ...] [--modes ...] [--surfaces api,cli]
[--timeout SECONDS]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = [1_000, 10_000, 100_000]
FAMILIES = ["mlp_train", "resnet_train", "inception_infer", "wide_infer"]
TRAINING = {"mlp_train", "resnet_train"}

# mode -> (applies to training?, applies to inference?)
MODES: dict[str, tuple[bool, bool]] = {
    "greedy": (True, True),
    "greedy_longest_path": (True, True),
    "greedy_memory": (True, True),
    "dp": (True, True),
    "dag": (False, True),
    "grad": (True, False),
    "grad_activations": (True, False),
    "fast": (False, True),
    "release": (True, True),
    "verify": (True, True),
    "stats": (True, True),
    "plan": (True, True),
}
SURFACES = ["api", "cli"]
SIZE_CHOICES = [256 * 1024, 1024 * 1024, 3 * 1024 * 1024, 64 * 1024, 16 * 1024]


# --------------------------------------------------------------------------
# Net families
# --------------------------------------------------------------------------


class _Net:
    def __init__(self, name: str, seed: int) -> None:
        from memonger.netdef import caffe2_pb2

        self.pb = caffe2_pb2
        self.net = caffe2_pb2.NetDef(name=name)
        self.sizes: dict[str, int] = {}
        self.rng = random.Random(seed)

    def op(self, kind: str, inputs: list[str], outputs: list[str], *, grad: bool = False) -> None:
        op = self.net.op.add(type=kind, input=inputs, output=outputs)
        if grad:
            op.is_gradient_op = True
        for name in outputs:
            self.sizes.setdefault(name, self.rng.choice(SIZE_CHOICES))

    def external(self, inputs: list[str], outputs: list[str]) -> None:
        self.net.external_input.extend(inputs)
        self.net.external_output.extend(outputs)
        for name in inputs:
            self.sizes.setdefault(name, 4096)


def mlp_train(n_ops: int) -> _Net:
    b = _Net("mlp_train", 1)
    layers = max(1, (n_ops - 4) // 4)
    params = []
    h = "data"
    for i in range(layers):
        w, bias = f"fc{i}_w", f"fc{i}_b"
        params += [w, bias]
        b.op("FC", [h, w, bias], [f"fc{i}"])
        b.op("Relu", [f"fc{i}"], [f"relu{i}"])
        h = f"relu{i}"
    b.op("SquaredL2Distance", [h, "label"], ["dist"])
    b.op("AveragedLoss", ["dist"], ["loss"])
    b.op("ConstantFill", ["loss"], ["loss_grad"], grad=True)
    b.op("AveragedLossGradient", ["dist", "loss_grad"], ["dist_grad"], grad=True)
    b.op("SquaredL2DistanceGradient", [h, "label", "dist_grad"], [f"{h}_grad"], grad=True)
    grads = []
    for i in reversed(range(layers)):
        below = "data" if i == 0 else f"relu{i - 1}"
        b.op("ReluGradient", [f"relu{i}", f"relu{i}_grad"], [f"fc{i}_grad"], grad=True)
        outs = [f"fc{i}_w_grad", f"fc{i}_b_grad"] + ([f"{below}_grad"] if i else [])
        b.op("FCGradient", [below, f"fc{i}_w", f"fc{i}_grad"], outs, grad=True)
        grads += [f"fc{i}_w_grad", f"fc{i}_b_grad"]
    b.external(["data", "label", *params], ["loss", *grads])
    return b


def resnet_train(n_ops: int) -> _Net:
    b = _Net("resnet_train", 2)
    blocks = max(1, (n_ops - 4) // 10)
    params = []
    h = "data"
    for i in range(blocks):
        p = f"b{i}"
        params += [f"{p}_w1", f"{p}_b1", f"{p}_w2", f"{p}_b2"]
        b.op("FC", [h, f"{p}_w1", f"{p}_b1"], [f"{p}_c1"])
        b.op("Relu", [f"{p}_c1"], [f"{p}_r1"])
        b.op("FC", [f"{p}_r1", f"{p}_w2", f"{p}_b2"], [f"{p}_c2"])
        b.op("Sum", [f"{p}_c2", h], [f"{p}_s"])
        b.op("Relu", [f"{p}_s"], [f"{p}_out"])
        h = f"{p}_out"
    b.op("SquaredL2Distance", [h, "label"], ["dist"])
    b.op("AveragedLoss", ["dist"], ["loss"])
    b.op("ConstantFill", ["loss"], ["loss_grad"], grad=True)
    b.op("AveragedLossGradient", ["dist", "loss_grad"], ["dist_grad"], grad=True)
    b.op("SquaredL2DistanceGradient", [h, "label", "dist_grad"], [f"{h}_grad"], grad=True)
    grads = []
    for i in reversed(range(blocks)):
        p = f"b{i}"
        below = "data" if i == 0 else f"b{i - 1}_out"
        b.op("ReluGradient", [f"{p}_out", f"{p}_out_grad"], [f"{p}_s_grad"], grad=True)
        b.op(
            "FCGradient",
            [f"{p}_r1", f"{p}_w2", f"{p}_s_grad"],
            [f"{p}_w2_grad", f"{p}_b2_grad", f"{p}_r1_grad"],
            grad=True,
        )
        b.op("ReluGradient", [f"{p}_r1", f"{p}_r1_grad"], [f"{p}_c1_grad"], grad=True)
        b.op(
            "FCGradient",
            [below, f"{p}_w1", f"{p}_c1_grad"],
            [f"{p}_w1_grad", f"{p}_b1_grad", f"{p}_short_grad"],
            grad=True,
        )
        if i:
            b.op("Sum", [f"{p}_short_grad", f"{p}_s_grad"], [f"{below}_grad"], grad=True)
        grads += [f"{p}_w1_grad", f"{p}_b1_grad", f"{p}_w2_grad", f"{p}_b2_grad"]
    b.external(["data", "label", *params], ["loss", *grads])
    return b


def inception_infer(n_ops: int) -> _Net:
    b = _Net("inception_infer", 3)
    modules = max(1, n_ops // 14)
    params: list[str] = []
    x = "data"

    def conv(src: str, out: str) -> str:
        params.append(f"{out}_w")
        b.op("Conv", [src, f"{out}_w"], [out])
        b.op("Relu", [out], [f"{out}_relu"])
        return f"{out}_relu"

    for i in range(modules):
        p = f"m{i}"
        b1 = conv(x, f"{p}_1x1")
        b2 = conv(conv(x, f"{p}_3x3r"), f"{p}_3x3")
        b3 = conv(conv(x, f"{p}_5x5r"), f"{p}_5x5")
        b.op("MaxPool", [x], [f"{p}_pool"])
        b4 = conv(f"{p}_pool", f"{p}_poolproj")
        b.op("Concat", [b1, b2, b3, b4], [f"{p}_out", f"{p}_split"])
        x = f"{p}_out"
    b.external(["data", *params], [x])
    return b


def wide_infer(n_ops: int) -> _Net:
    b = _Net("wide_infer", 4)
    width = max(1, (n_ops - 1) // 2)
    tails = []
    for i in range(width):
        b.op("Relu", ["data"], [f"a{i}"])
        b.op("Sigmoid", [f"a{i}"], [f"t{i}"])
        tails.append(f"t{i}")
    b.op("Sum", tails, ["y"])
    b.external(["data"], ["y"])
    return b


BUILDERS = {
    "mlp_train": mlp_train,
    "resnet_train": resnet_train,
    "inception_infer": inception_infer,
    "wide_infer": wide_infer,
}


# --------------------------------------------------------------------------
# One measurement, in a child process
# --------------------------------------------------------------------------


def _load(folder: Path) -> tuple[Any, dict[str, int], dict[str, Any]]:
    from memonger.netdef import load_net

    net = load_net(folder / "net.pb")
    sizes = json.loads((folder / "sizes.json").read_text())
    meta = json.loads((folder / "meta.json").read_text())
    return net, sizes, meta


def _api(mode: str, folder: Path) -> float:
    """Run one mode through the API; the seconds of the call alone."""
    from memonger.alloc import compute_ranges, plan_offsets
    from memonger.graph import topological_sort_traversal_longest_path
    from memonger.netdef import (
        optimize_inference_fast,
        optimize_inference_for_dag,
        optimize_interference,
        release_blobs_when_used,
        share_grad_blobs,
        verify_execution_equivalence,
    )
    from memonger.stats import compute_timeline

    net, sizes, meta = _load(folder)
    static = list(net.external_input) + list(net.external_output)
    start = time.perf_counter()
    if mode == "greedy":
        optimize_interference(net, static, blob_sizes=sizes)
    elif mode == "greedy_longest_path":
        optimize_interference(
            net, static, topological_sort_traversal_longest_path, blob_sizes=sizes
        )
    elif mode == "greedy_memory":
        from memonger.graph import topological_sort_min_memory

        fixed = set(static)
        weights = {blob: 0 if blob in fixed else size for blob, size in sizes.items()}
        optimize_interference(
            net,
            static,
            lambda g: list(topological_sort_min_memory(g, weights)),
            blob_sizes=sizes,
        )
    elif mode == "dp":
        optimize_interference(net, static, blob_sizes=sizes, algo="dp")
    elif mode == "dag":
        optimize_inference_for_dag(net, ["data"])
    elif mode in ("grad", "grad_activations"):
        share_grad_blobs(
            net,
            ["loss"],
            meta["param_grads"],
            "",
            share_activations=mode == "grad_activations",
        )
    elif mode == "fast":
        optimize_inference_fast(net, static)
    elif mode == "release":
        release_blobs_when_used(net, static)
    elif mode == "verify":
        from memonger.netdef import load_net

        optimized = load_net(folder / "opt.pb")
        start = time.perf_counter()
        assert verify_execution_equivalence(net, optimized)
    elif mode == "stats":
        compute_timeline(net, sizes)
    elif mode == "plan":
        plan_offsets(compute_ranges(net.op, sizes), static, algorithm="auto")
    else:
        raise SystemExit(f"unknown mode {mode}")
    return time.perf_counter() - start


def _cli_args(mode: str, folder: Path, out: Path) -> list[str]:
    net = str(folder / "net.pb")
    shapes = ["--shapes", str(folder / "sizes.json")]
    opt = ["optimize", net, "-o", str(out), *shapes, "-q"]
    if mode == "greedy":
        return [*opt, "--algorithm", "greedy"]
    if mode == "greedy_longest_path":
        return [*opt, "--algorithm", "greedy", "--ordering", "longest-path"]
    if mode == "greedy_memory":
        return [*opt, "--algorithm", "greedy", "--ordering", "memory"]
    if mode == "dp":
        return [*opt, "--algorithm", "dp"]
    if mode == "dag":
        return [*opt, "--mode", "dag", "--input-blob", "data"]
    if mode == "grad":
        return [*opt, "--mode", "grad", "--loss", "loss"]
    if mode == "grad_activations":
        return [*opt, "--mode", "grad", "--loss", "loss", "--share-activations"]
    if mode == "fast":
        return [*opt, "--mode", "fast"]
    if mode == "verify":
        return ["verify", net, str(folder / "opt.pb"), "-q"]
    if mode == "stats":
        return ["stats", net, *shapes]
    if mode == "plan":
        return ["plan", net, "-o", str(out.with_suffix(".json")), *shapes]
    raise SystemExit(f"mode {mode} has no command")


def _peak_rss() -> int:
    """This process's peak resident set size in bytes.

    ``VmHWM`` of /proc/self/status where there is one: ``ru_maxrss`` keeps the
    high-water mark of the process before ``exec``, which here is a fork of
    the driver holding every generated net.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(argv: list[str]) -> int:
    surface, mode, folder = argv[0], argv[1], Path(argv[2])
    start = time.perf_counter()
    status = 0
    if surface == "api":
        seconds = _api(mode, folder)
    else:
        from memonger.netdef.cli import main

        with tempfile.TemporaryDirectory() as tmp:
            import contextlib
            import io

            with contextlib.redirect_stdout(io.StringIO()):
                status = main(_cli_args(mode, folder, Path(tmp) / "out.pb"))
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rss": _peak_rss(), "status": status}))
    return 0


# --------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------


def prepare(family: str, n_ops: int, folder: Path) -> dict[str, Any]:
    from memonger.netdef import optimize_interference, save_net

    built = BUILDERS[family](n_ops)
    folder.mkdir(parents=True, exist_ok=True)
    save_net(built.net, folder / "net.pb")
    (folder / "sizes.json").write_text(json.dumps(built.sizes))
    grads = [n for n in built.net.external_output if n.endswith("_grad")]
    (folder / "meta.json").write_text(json.dumps({"param_grads": grads}))
    static = list(built.net.external_input) + list(built.net.external_output)
    opt = optimize_interference(built.net, static, blob_sizes=built.sizes, verify=False)
    save_net(opt.net, folder / "opt.pb")
    return {"ops": len(built.net.op)}


def measure(surface: str, mode: str, folder: Path, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", surface, mode, str(folder)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    if done.returncode != 0 or not done.stdout.strip():
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": tail[:200]}
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    row["wall"] = wall
    if row.get("status"):
        row["error"] = f"exit status {row['status']}"
    return row


def exponent(
    small: dict[str, Any] | None, large: dict[str, Any] | None, ratio: float
) -> float | None:
    if not small or not large or "seconds" not in small or "seconds" not in large:
        return None
    if small["seconds"] <= 0:
        return None
    return math.log(large["seconds"] / small["seconds"]) / math.log(ratio)


def render(results: dict[str, Any], sizes: list[int]) -> str:
    lines = [
        "# Scale",
        "",
        f"{results['machine']}. Seconds (peak RSS in MiB); API: the call alone, "
        "command: the whole process. Exponent: log10(t at 100,000 / t at 10,000), 1 = linear.",
        "",
    ]
    head = "| family | mode | surface | " + " | ".join(f"{s:,} ops" for s in sizes) + " | exp |"
    lines += [head, "|" + "---|" * (len(sizes) + 4)]
    for row in results["rows"]:
        cells = []
        for s in sizes:
            r = row["by_size"].get(str(s))
            if r is None:
                cells.append("")
            elif "error" in r:
                cells.append(r["error"][:40])
            else:
                cells.append(f"{r['seconds']:.2f} ({r['rss'] / 2**20:.0f})")
        exp = row.get("exponent")
        lines.append(
            f"| {row['family']} | {row['mode']} | {row['surface']} | "
            + " | ".join(cells)
            + f" | {'' if exp is None else f'{exp:.2f}'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--million", action="store_true", help="add 1,000,000 ops")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--surfaces", default=",".join(SURFACES))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.million:
        sizes.append(1_000_000)
    families = [f for f in args.families.split(",") if f]
    modes = [m for m in args.modes.split(",") if m]
    surfaces = [s for s in args.surfaces.split(",") if s]
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"CPython {platform.python_version()}, {platform.system()}",
        "sizes": sizes,
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="memonger-scale-") as tmp:
        for family in families:
            folders = {}
            for size in sizes:
                folders[size] = Path(tmp) / f"{family}-{size}"
                info = prepare(family, size, folders[size])
                print(f"{family} {size}: {info['ops']} ops", file=sys.stderr, flush=True)
            for mode in modes:
                training_ok, inference_ok = MODES[mode]
                if not (training_ok if family in TRAINING else inference_ok):
                    continue
                for surface in surfaces:
                    if surface == "cli" and mode == "release":
                        continue  # no command for it
                    row: dict[str, Any] = {
                        "family": family,
                        "mode": mode,
                        "surface": surface,
                        "by_size": {},
                    }
                    for size in sizes:
                        r = measure(surface, mode, folders[size], args.timeout)
                        row["by_size"][str(size)] = r
                        shown = (
                            r.get("error") or f"{r['seconds']:.2f} s, {r['rss'] / 2**20:.0f} MiB"
                        )
                        print(
                            f"  {family} {mode} {surface} {size}: {shown}",
                            file=sys.stderr,
                            flush=True,
                        )
                    if 10_000 in sizes and 100_000 in sizes:
                        row["exponent"] = exponent(
                            row["by_size"].get("10000"), row["by_size"].get("100000"), 10.0
                        )
                    results["rows"].append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=1) + "\n")
    text = render(results, sizes)
    (RESULTS / "scale.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
