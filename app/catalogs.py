"""Compiled gettext catalogs, made at start-up when they are missing or stale.

The catalogs are kept as `.po` files in git and compiled to `.mo` files, which git
ignores. `make` compiles them, but a deployment that follows the README's production
steps (install, `db upgrade`, gunicorn) never runs `make`: without this, every member
would be answered in English. So the app factory compiles any catalog whose `.mo` is
missing or older than its `.po`, and refuses to start when a language still has none.

Compiling writes to a temporary file and renames it over the old one, so several
processes starting at once (gunicorn workers) never see half a file. Where the code
directory is read-only, the catalogs are compiled under `instance/translations`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

DOMAIN = "messages"


class CatalogError(RuntimeError):
    """A supported language has no usable compiled catalog."""


def _paths(root: Path, language: str) -> tuple[Path, Path]:
    folder = root / language / "LC_MESSAGES"
    return folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"


def _fresh(po: Path, mo: Path) -> bool:
    return mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime


def _compile(po: Path, mo: Path) -> None:
    """Compile `po` into `mo` atomically (fuzzy entries included, as `make translations`)."""
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=po.parent.parent.name)
    mo.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=f".{DOMAIN}-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=True)
        os.replace(tmp, mo)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_compiled(source: Path, languages: Iterable[str], spare: Path) -> Path:
    """Return the folder holding a fresh `.mo` for every language, compiling where needed.

    `source` is the repository's `translations/`; `spare` is used instead when `source`
    cannot be written. Raises CatalogError, naming the languages, when one has neither a
    `.po` nor a `.mo` or its catalog cannot be compiled.
    """
    languages = list(languages)
    missing: list[str] = []
    stale: list[str] = []
    for language in languages:
        po, mo = _paths(source, language)
        if not po.exists():
            if not mo.exists():
                missing.append(language)
            continue
        if not _fresh(po, mo):
            stale.append(language)
    if missing:
        raise CatalogError(
            f"no translation catalog for {', '.join(missing)} in {source}: "
            "the translations/ folder of the repository must be deployed with the code"
        )
    if not stale:
        return source
    target = source if os.access(source, os.W_OK) else spare
    for language in languages:
        po, deployed_mo = _paths(source, language)
        _, mo = _paths(target, language)
        if not po.exists():  # only the compiled catalog was deployed: use it as it is
            if target is not source:
                mo.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(deployed_mo, mo)
            continue
        if _fresh(po, mo):
            continue
        try:
            _compile(po, mo)
        except Exception as error:
            raise CatalogError(
                f"the {language} catalog {po} could not be compiled ({error}); "
                "fix it, or compile the catalogs with `pybabel compile -d translations`"
            ) from error
    log.info("compiled translation catalogs for %s into %s", ", ".join(stale), target)
    return target
