"""nox sessions of the memonger monorepo.

Every package under ``packages/`` is discovered from its ``pyproject.toml``;
adding a package needs no new session code.

Default sessions (``nox`` with no ``-s``): ``tests``, ``integration``,
``corpus``, ``lint`` and ``typecheck``.  Others: ``build``, ``fuzz``,
``bench``, ``demo``, ``protos``.

Interpreters: sessions run on every Python of :data:`PYTHONS` that is found.
:data:`SUPPORTED_PYTHONS` are mandatory under ``CI`` (a missing one is an
error); :data:`OPTIONAL_PYTHONS` join the matrix only where an interpreter is
present, and are never an error when absent.  No interpreter is ever
downloaded.  On machines with pyenv, the pyenv versions are made visible
through ``PYENV_VERSION`` (added to the versions it already names).

Examples: the oldest and the newest Python found (:data:`THOROUGH_PYTHONS`)
run every property test with its full number of examples, and the corpus;
the Pythons between them run every test too, with
``MEMONGER_EXAMPLES_SCALE`` (:data:`LIGHT_EXAMPLES_SCALE`) of the examples
(see ``conftest.py``).  Set ``MEMONGER_EXAMPLES_SCALE=1`` to run the full
counts everywhere.  ``MEMONGER_PYTEST_WORKERS`` (a count, or ``auto``) runs
every test session with that many pytest-xdist workers; the default is one
process, because on two cores the workers' collection and start-up cost
about what they save (measured on ``integration``, ``corpus`` and the
per-package suites).
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
SUPPORTED_PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
OPTIONAL_PYTHONS = ["3.14"]
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
    _wanted = [
        v
        for minor in SUPPORTED_PYTHONS + OPTIONAL_PYTHONS
        for v in _found
        if re.fullmatch(rf"{minor}\.\d+", v)
    ]
    _merged = _active + [v for v in _wanted if v not in _active]
    if _merged:
        os.environ["PYENV_VERSION"] = ":".join(_merged)


def _python_found(version: str) -> bool:
    """Whether ``python{version}`` on PATH runs and is that version."""
    exe = shutil.which(f"python{version}")
    if exe is None:
        return False
    try:
        out = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


_FOUND = {v: _python_found(v) for v in SUPPORTED_PYTHONS + OPTIONAL_PYTHONS}
# Every Python the sessions run on: the supported ones (found or not, so that
# CI reports a missing one) and the optional ones that are installed.
PYTHONS = SUPPORTED_PYTHONS + [v for v in OPTIONAL_PYTHONS if _FOUND[v]]
# The oldest and newest Python: full example counts and the corpus.  Under CI
# every supported Python must be present; elsewhere, the oldest and newest found.
_ENDS = PYTHONS if CI else ([v for v in PYTHONS if _FOUND[v]] or PYTHONS)
THOROUGH_PYTHONS = sorted({_ENDS[0], _ENDS[-1]}, key=PYTHONS.index)
LIGHT_EXAMPLES_SCALE = "0.1"
XDIST = "pytest-xdist>=3.5"

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
    classifiers: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)

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
            classifiers=list(project.get("classifiers", [])),
            scripts=sorted(project.get("scripts", {})),
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
    """pytest with the session's share of examples (and xdist workers if asked).

    The Pythons between the oldest and the newest run every test with
    :data:`LIGHT_EXAMPLES_SCALE` of the examples, unless
    ``MEMONGER_EXAMPLES_SCALE`` is set.  ``MEMONGER_PYTEST_WORKERS`` (a count
    or ``auto``) runs pytest-xdist workers; unset, ``0`` or ``1``: one process.
    """
    env = {}
    if "MEMONGER_EXAMPLES_SCALE" not in os.environ and session.python not in THOROUGH_PYTHONS:
        env["MEMONGER_EXAMPLES_SCALE"] = LIGHT_EXAMPLES_SCALE
    workers = os.environ.get("MEMONGER_PYTEST_WORKERS", "").strip()
    xdist = [] if workers in ("", "0", "1") else ["-n", workers, "--dist", "worksteal"]
    session.run("pytest", "-p", "no:cacheprovider", *xdist, *args, *session.posargs, env=env)


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
    session.install("pytest", XDIST)
    installed = session.run(
        "python",
        "-c",
        f"import {pkg.module} as m, os; print(os.path.dirname(m.__file__))",
        silent=True,
    )
    if installed is None:  # --install-only
        return
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
    session.install("pytest", XDIST)
    _pytest(session, str(ROOT / "tests"), "-m", "not corpus")


@nox.session(python=THOROUGH_PYTHONS)
def corpus(session: nox.Session) -> None:
    """Every test that reads the shared corpus of real nets (MEMONGER_CORPUS).

    Runs on the oldest and the newest Python: the corpus is fixed, so the
    Pythons between them would repeat the same cases.
    """
    if not _corpus_available():
        if CI:
            session.error(f"corpus not found at {CORPUS} (set MEMONGER_CORPUS)")
        session.skip(f"corpus not found at {CORPUS} (set MEMONGER_CORPUS)")
    _install_packages(session, list(PACKAGES), all_extras=True)
    session.install("pytest", XDIST)
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
    """ruff, the namespace rule, internal pins, versions and package layout."""
    session.install(*LINT_DEPS)
    if session.run("ruff", "check", ".") is None:  # --install-only
        return
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
        for required in ("CHANGELOG.md", "README.md", "LICENSE"):
            if not (pkg.path / required).is_file():
                problems.append(f"{pkg.path}: missing {required}")
        changelog = pkg.path / "CHANGELOG.md"
        if changelog.is_file() and f"## {pkg.version}" not in changelog.read_text():
            problems.append(f"{changelog}: no entry for version {pkg.version}")
        init_version = _init_version(pkg.src / "__init__.py")
        if init_version != pkg.version:
            problems.append(
                f"{pkg.src / '__init__.py'}: __version__ is {init_version!r}, "
                f"pyproject.toml says {pkg.version!r}"
            )
        for req in pkg.dependencies + [r for rs in pkg.extras.values() for r in rs]:
            name = _requirement_name(req)
            if name not in PACKAGES:
                continue
            if "==" in req:
                problems.append(f"{pkg.name}: internal pin {req!r} must be a range")
            local = PACKAGES[name].version
            if not _in_range(local, _specifier(req)):
                problems.append(f"{pkg.name}: {req!r} excludes the local {name} {local}")
    return problems


def _init_version(path: Path) -> str | None:
    """The string literal assigned to ``__version__`` in a module, if any."""
    import ast

    if not path.is_file():
        return None
    for node in ast.parse(path.read_text()).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def _specifier(req: str) -> str:
    """A requirement's version specifier, without its name, extras and markers."""
    rest = req[len(_requirement_name(req)) :].split(";", 1)[0].strip()
    return re.sub(r"^\[[^\]]*\]", "", rest).strip()


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
    ran = session.run(
        "python",
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        str(proto_dir / "caffe2.proto"),
    )
    if check and ran is not None:  # None: --install-only
        stale = [
            name
            for name in ("caffe2_pb2.py", "caffe2_pb2.pyi")
            if (out / name).read_bytes() != (pkg.src / name).read_bytes()
        ]
        if stale:
            session.error(
                f"committed {', '.join(stale)} differ from caffe2.proto; run nox -s protos"
            )


# Files a distribution may ship besides Python modules (``py.typed`` included).
PACKAGE_DATA_SUFFIXES = (".py", ".pyi", ".typed", ".json")
BUILD_DEPS = ["twine>=6.1", "trove-classifiers"]


@nox.session(python=DEFAULT_PYTHON)
def build(session: nox.Session) -> None:
    """Every sdist and wheel: built, checked, and each wheel installed alone.

    ``uv build`` makes each sdist and the wheel from it; ``twine check
    --strict`` checks their metadata.  Wheels must hold exactly the package's
    modules, ``py.typed`` and ``LICENSE`` (no tests, no caches); sdists the
    sources, tests, ``CHANGELOG.md``, ``LICENSE`` and (netdef)
    ``proto/caffe2.proto``, nothing else.  Each wheel is then installed in an
    empty virtualenv, with its internal dependencies from the wheels just
    built and the others from the index, and imported.  The distributions
    are left in ``.nox/build/tmp/dist``.
    """
    session.install(*BUILD_DEPS)
    if session.venv_backend != "uv":
        session.install("uv")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    for pkg in PACKAGES.values():
        if session.run("uv", "build", "--quiet", "--out-dir", str(dist), str(pkg.path)) is None:
            return  # --install-only
    artifacts = sorted(str(p) for p in dist.iterdir() if p.suffix in (".whl", ".gz"))
    session.run("twine", "check", "--strict", *artifacts)
    classifiers = sorted({c for pkg in PACKAGES.values() for c in pkg.classifiers})
    licensed = [c for c in classifiers if c.startswith("License ::")]
    if licensed:  # PEP 639: the license expression replaces them; PyPI rejects both
        session.error(f"license classifiers beside `license = ...`: {', '.join(licensed)}")
    session.run(
        "python",
        "-c",
        "import sys, trove_classifiers as t\n"
        "bad = [c for c in sys.argv[1:]\n"
        "       if c not in t.classifiers or c in t.deprecated_classifiers]\n"
        "sys.exit('unknown or deprecated classifiers: ' + ', '.join(bad) if bad else 0)",
        *classifiers,
        silent=True,
    )
    problems: list[str] = []
    wheels = {}
    for pkg in PACKAGES.values():
        stem = f"{pkg.name.replace('-', '_')}-{pkg.version}"
        wheel, sdist = dist / f"{stem}-py3-none-any.whl", dist / f"{stem}.tar.gz"
        for path in (wheel, sdist):
            if not path.is_file():
                problems.append(f"{pkg.name}: {path.name} was not built")
        if wheel.is_file() and sdist.is_file():
            problems += _wheel_problems(pkg, wheel) + _sdist_problems(pkg, sdist)
        wheels[pkg.name] = wheel
    if problems:
        session.error("distribution problems:\n  " + "\n  ".join(problems))
    for pkg in PACKAGES.values():
        venv = Path(session.create_tmp()) / f"venv-{pkg.name}"
        shutil.rmtree(venv, ignore_errors=True)
        session.run(
            "uv", "venv", "--quiet", "--python", str(Path(session.bin) / "python"), str(venv)
        )
        python = str(venv / "bin" / "python")
        siblings = [str(wheels[name]) for name in _closure([pkg.name])]
        session.run("uv", "pip", "install", "--quiet", "--python", python, *siblings)
        session.run(
            python,
            "-c",
            "import importlib.metadata as md, sys\n"
            f"import {pkg.module} as m\n"
            f"assert m.__version__ == md.version({pkg.name!r}) == {pkg.version!r}, m.__version__\n"
            f"print({pkg.name!r}, m.__version__, 'imports from', m.__file__)",
            external=True,
        )
        for script in pkg.scripts:
            session.run(str(venv / "bin" / script), "--help", external=True, silent=True)


def _source_files(pkg: Package) -> set[str]:
    """The package's files under ``src/``, relative to it, caches left out."""
    src = pkg.path / "src"
    return {
        p.relative_to(src).as_posix()
        for p in pkg.src.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    }


def _stray(files: set[str]) -> list[str]:
    return sorted(f for f in files if not f.endswith(PACKAGE_DATA_SUFFIXES))


def _wheel_problems(pkg: Package, wheel: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        names = {n for n in zf.namelist() if not n.endswith("/")}
        info = f"{pkg.name.replace('-', '_')}-{pkg.version}.dist-info"
        metadata = zf.read(f"{info}/METADATA").decode() if f"{info}/METADATA" in names else ""
    problems = []
    modules = {n for n in names if not n.startswith(info + "/")}
    expected = _source_files(pkg)
    top = pkg.module.split(".")[0]
    for missing in sorted(expected - modules):
        problems.append(f"{wheel.name}: missing {missing}")
    for extra in sorted(modules - expected):
        problems.append(f"{wheel.name}: unexpected {extra}")
    for stray in _stray(modules):
        problems.append(f"{wheel.name}: stray file {stray}")
    if f"{pkg.module.replace('.', '/')}/py.typed" not in modules:
        problems.append(f"{wheel.name}: no py.typed")
    if f"{top}/__init__.py" in modules:
        problems.append(f"{wheel.name}: ships {top}/__init__.py (the namespace must not)")
    if any("tests/" in n or "__pycache__" in n or n.endswith((".pyc", ".pyo")) for n in names):
        problems.append(f"{wheel.name}: ships tests or caches")
    meta = set(names) - modules
    allowed = {f"{info}/{n}" for n in ("METADATA", "WHEEL", "RECORD", "entry_points.txt")}
    for extra in sorted(meta - allowed - {f"{info}/licenses/LICENSE"}):
        problems.append(f"{wheel.name}: unexpected {extra}")
    if f"{info}/licenses/LICENSE" not in names:
        problems.append(f"{wheel.name}: no LICENSE")
    for line in (
        f"Version: {pkg.version}",
        "License-Expression: Apache-2.0",
        "License-File: LICENSE",
    ):
        if line not in metadata.splitlines():
            problems.append(f"{wheel.name}: METADATA lacks {line!r}")
    return problems


def _sdist_problems(pkg: Package, sdist: Path) -> list[str]:
    import tarfile

    root = f"{pkg.name.replace('-', '_')}-{pkg.version}/"
    with tarfile.open(sdist) as tf:
        members = {m.name for m in tf.getmembers() if m.isfile()}
    problems = [f"{sdist.name}: {m} outside {root}" for m in members if not m.startswith(root)]
    files = {m[len(root) :] for m in members if m.startswith(root)}
    tests = {
        p.relative_to(pkg.path).as_posix()
        for p in (pkg.path / "tests").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    protos = {p.relative_to(pkg.path).as_posix() for p in pkg.path.glob("proto/*.proto")}
    sources = {f"src/{f}" for f in _source_files(pkg)}
    # pyproject.toml.orig: uv_build keeps the original beside the pyproject.toml it writes.
    metadata = {"PKG-INFO", "pyproject.toml", "pyproject.toml.orig"}
    required = {"PKG-INFO", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"}
    expected = required | sources | tests | protos
    for missing in sorted(expected - files):
        problems.append(f"{sdist.name}: missing {missing}")
    for extra in sorted(files - expected - metadata):
        problems.append(f"{sdist.name}: stray file {extra}")
    for stray in _stray({f for f in files if f.startswith("src/")}):
        problems.append(f"{sdist.name}: stray file {stray}")
    return problems
