"""nox sessions of the memonger monorepo.

Every package under ``packages/`` is discovered from its ``pyproject.toml``;
adding a package needs no new session code.

Default sessions (``nox`` with no ``-s``): ``tests``, ``integration``,
``corpus``, ``lint`` and ``typecheck``.  Others: ``fuzz``, ``bench``,
``demo``, ``protos``.

Interpreters: sessions run on every Python of :data:`PYTHONS` that is found.
Under ``CI`` a missing interpreter is an error.  No interpreter is ever
downloaded.  On machines with pyenv, the pyenv versions are made visible
through ``PYENV_VERSION`` unless it is already set.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - nox itself runs on the default interpreter
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.11"
CI = bool(os.environ.get("CI"))
CORPUS = Path(os.environ.get("MEMONGER_CORPUS", ROOT.parent / "shared" / "corpus")).resolve()

# Generator pinned for the committed caffe2_pb2 code (protoc 6.31.1).
GRPCIO_TOOLS = "grpcio-tools==1.74.0"
TYPECHECK_DEPS = ["mypy==1.19.1", "types-networkx", "types-protobuf", "pytest"]
LINT_DEPS = ["ruff==0.14.5"]

os.environ["UV_PYTHON_DOWNLOADS"] = "never"
os.environ.setdefault("MEMONGER_CORPUS", str(CORPUS))
if shutil.which("pyenv"):
    # pyenv's shims export PYENV_VERSION as the one active version; add the
    # other supported versions it holds so that python3.X resolves for each.
    _found = subprocess.run(
        ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    _active = [v for v in os.environ.get("PYENV_VERSION", "").split(":") if v]
    _wanted = [v for minor in PYTHONS for v in _found if re.fullmatch(rf"{minor}\.\d+", v)]
    _merged = _active + [v for v in _wanted if v not in _active]
    if _merged:
        os.environ["PYENV_VERSION"] = ":".join(_merged)

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = CI
nox.options.sessions = ["tests", "integration", "corpus", "lint", "typecheck"]


@dataclass
class Package:
    """One distribution under ``packages/``."""

    name: str
    version: str
    path: Path
    module: str
    dependencies: list[str]
    extras: dict[str, list[str]]
    internal: list[str] = field(default_factory=list)

    @property
    def src(self) -> Path:
        return self.path / "src" / Path(*self.module.split("."))


def _requirement_name(req: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+", req)
    assert match, req
    return match.group(0).lower().replace("_", "-")


def _discover() -> dict[str, Package]:
    packages: dict[str, Package] = {}
    for pyproject in sorted((ROOT / "packages").glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        project = data["project"]
        module = data["tool"]["uv"]["build-backend"]["module-name"]
        packages[project["name"]] = Package(
            name=project["name"],
            version=project["version"],
            path=pyproject.parent,
            module=module,
            dependencies=list(project.get("dependencies", [])),
            extras=dict(project.get("optional-dependencies", {})),
        )
    for pkg in packages.values():
        pkg.internal = [
            _requirement_name(r) for r in pkg.dependencies if _requirement_name(r) in packages
        ]
    return packages


PACKAGES = _discover()


def _closure(names: list[str]) -> list[str]:
    """The named packages and every internal package they depend on."""
    seen: list[str] = []
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.append(name)
        stack.extend(PACKAGES[name].internal)
    return sorted(seen)


def _lowest_constraints(session: nox.Session, names: list[str]) -> list[str]:
    """``-c FILE`` pinning every third-party requirement to its declared minimum.

    Used on the oldest supported Python, so that the lower bounds the
    packages declare are tested, while the newer Pythons get the newest
    releases.
    """
    pins: dict[str, str] = {}
    for name in _closure(names):
        pkg = PACKAGES[name]
        for req in pkg.dependencies + [r for rs in pkg.extras.values() for r in rs]:
            dist = _requirement_name(req)
            match = re.search(r">=\s*([\w.]+)", req)
            if dist not in PACKAGES and match:
                pins[dist] = f"{dist}=={match.group(1)}"
    path = Path(session.create_tmp()) / "lowest-constraints.txt"
    path.write_text("\n".join(sorted(pins.values())) + "\n")
    session.log(f"testing declared minimum versions: {', '.join(sorted(pins.values()))}")
    return ["-c", str(path)]


def _install_packages(
    session: nox.Session, names: list[str], *, all_extras: bool, lowest: bool = False
) -> None:
    """Install packages (non-editable) with the local packages they need.

    The named packages get all their extras when ``all_extras`` is true;
    packages pulled in as dependencies get their ``testing`` extra, so their
    Hypothesis strategies are available to the tests.  With ``lowest``,
    third-party requirements are held at their declared minimum versions.
    """
    specs = []
    for name in _closure(names):
        pkg = PACKAGES[name]
        extras = list(pkg.extras) if (all_extras and name in names) else []
        if "testing" in pkg.extras and "testing" not in extras:
            extras.append("testing")
        suffix = f"[{','.join(sorted(extras))}]" if extras else ""
        specs.append(f"{pkg.path}{suffix}")
    constraints = _lowest_constraints(session, names) if lowest else []
    session.install(*specs, *constraints)


def _pytest(session: nox.Session, *args: str) -> None:
    session.run("pytest", "-p", "no:cacheprovider", *args, *session.posargs)


def _corpus_available() -> bool:
    return (CORPUS / "MANIFEST.json").is_file()


@nox.session(python=PYTHONS)
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """One package's own tests and doctests, with only that package installed.

    On the oldest supported Python, third-party dependencies are held at the
    minimum versions the packages declare; elsewhere they are the newest.
    """
    pkg = PACKAGES[package]
    # The oldest Python also tests the oldest declared dependency versions.
    lowest = session.python == PYTHONS[0]
    _install_packages(session, [package], all_extras=True, lowest=lowest)
    session.install("pytest")
    installed = session.run(
        "python",
        "-c",
        f"import {pkg.module} as m, os; print(os.path.dirname(m.__file__))",
        silent=True,
    )
    assert isinstance(installed, str)
    _pytest(
        session,
        str(pkg.path / "tests"),
        "--doctest-modules",
        installed.strip().splitlines()[-1],
        "-m",
        "not corpus",
    )


@nox.session(python=PYTHONS)
def integration(session: nox.Session) -> None:
    """Every package installed together, and the cross-package tests in tests/."""
    _install_packages(session, list(PACKAGES), all_extras=True)
    session.install("pytest")
    _pytest(session, str(ROOT / "tests"), "-m", "not corpus")


@nox.session(python=PYTHONS)
def corpus(session: nox.Session) -> None:
    """Every test that reads the shared corpus of real nets (MEMONGER_CORPUS)."""
    if not _corpus_available():
        if CI:
            session.error(f"corpus not found at {CORPUS} (set MEMONGER_CORPUS)")
        session.skip(f"corpus not found at {CORPUS} (set MEMONGER_CORPUS)")
    _install_packages(session, list(PACKAGES), all_extras=True)
    session.install("pytest")
    dirs = [str(ROOT / "tests")] + [str(p.path / "tests") for p in PACKAGES.values()]
    _pytest(session, *dirs, "-m", "corpus")


@nox.session(python=DEFAULT_PYTHON)
def fuzz(session: nox.Session) -> None:
    """Long, non-derandomized Hypothesis campaign over every property test.

    ``MEMONGER_FUZZ_EXAMPLES`` sets the number of examples per test (default
    2000).  Hypothesis statistics show how many cases each test ran.
    """
    _install_packages(session, list(PACKAGES), all_extras=True)
    session.install("pytest")
    dirs = [str(ROOT / "tests")] + [str(p.path / "tests") for p in PACKAGES.values()]
    env = {"HYPOTHESIS_PROFILE": "fuzz"}
    session.run(
        "pytest",
        "-p",
        "no:cacheprovider",
        *dirs,
        "-m",
        "not corpus",
        "--hypothesis-show-statistics",
        *session.posargs,
        env=env,
    )


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, the namespace rule, internal pins and package layout."""
    session.install(*LINT_DEPS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    problems = _layout_problems()
    if problems:
        session.error("layout problems:\n  " + "\n  ".join(problems))


def _layout_problems() -> list[str]:
    problems = []
    for pkg in PACKAGES.values():
        top = pkg.path / "src" / pkg.module.split(".")[0]
        if (top / "__init__.py").exists():
            problems.append(f"{top / '__init__.py'}: the memonger namespace must not have one")
        if not (pkg.src / "py.typed").is_file():
            problems.append(f"{pkg.src}: missing py.typed")
        for required in ("CHANGELOG.md", "README.md"):
            if not (pkg.path / required).is_file():
                problems.append(f"{pkg.path}: missing {required}")
        changelog = pkg.path / "CHANGELOG.md"
        if changelog.is_file() and f"## {pkg.version}" not in changelog.read_text():
            problems.append(f"{changelog}: no entry for version {pkg.version}")
        for req in pkg.dependencies + [r for rs in pkg.extras.values() for r in rs]:
            name = _requirement_name(req)
            if name not in PACKAGES:
                continue
            if "==" in req:
                problems.append(f"{pkg.name}: internal pin {req!r} must be a range")
            local = PACKAGES[name].version
            if not _in_range(local, req[len(name) :]):
                problems.append(f"{pkg.name}: {req!r} excludes the local {name} {local}")
    return problems


def _in_range(version: str, spec: str) -> bool:
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.split("."))

    ops = {
        ">=": lambda a, b: a >= b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        "<": lambda a, b: a < b,
        "!=": lambda a, b: a != b,
    }
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        m = re.fullmatch(r"(>=|<=|>|<|!=)\s*([\d.]+)", clause)
        if not m:
            return False
        want = key(m.group(2))
        have = key(version)[: max(len(want), 1)]
        have = have + (0,) * (len(want) - len(have))
        if not ops[m.group(1)](have, want):
            return False
    return True


@nox.session(python=DEFAULT_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package's source."""
    _install_packages(session, list(PACKAGES), all_extras=True)
    session.install(*TYPECHECK_DEPS)
    args = [arg for pkg in PACKAGES.values() for arg in ("-p", pkg.module)]
    session.run("mypy", *args, env={"MYPYPATH": ""})


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: every benchmarks/bench_*.py (posargs select by substring)."""
    _install_packages(session, list(PACKAGES), all_extras=True)
    scripts = sorted((ROOT / "benchmarks").glob("bench_*.py"))
    chosen = [
        s for s in scripts if not session.posargs or any(a in s.name for a in session.posargs)
    ]
    if not chosen:
        session.error("no benchmark matches " + " ".join(session.posargs))
    for script in chosen:
        session.run("python", str(script))


@nox.session(python=DEFAULT_PYTHON)
def demo(session: nox.Session) -> None:
    """The built-in demonstration: `memonger demo` on an embedded architecture."""
    _install_packages(session, list(PACKAGES), all_extras=True)
    session.run("memonger", "demo", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def protos(session: nox.Session) -> None:
    """Regenerate caffe2_pb2.py/.pyi from caffe2.proto with the pinned generator.

    ``nox -s protos -- --check`` regenerates into a temporary folder and fails
    if the committed files differ.
    """
    session.install(GRPCIO_TOOLS)
    pkg = PACKAGES["memonger-netdef"]
    proto_dir = pkg.path / "proto"
    check = "--check" in session.posargs
    out = Path(session.create_tmp()) / "protos" if check else pkg.src
    out.mkdir(parents=True, exist_ok=True)
    session.run(
        "python",
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        str(proto_dir / "caffe2.proto"),
    )
    if check:
        stale = [
            name
            for name in ("caffe2_pb2.py", "caffe2_pb2.pyi")
            if (out / name).read_bytes() != (pkg.src / name).read_bytes()
        ]
        if stale:
            session.error(
                f"committed {', '.join(stale)} differ from caffe2.proto; run nox -s protos"
            )
