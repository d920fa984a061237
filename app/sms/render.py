"""SMS copy: one Jinja template per message kind in `messages/`, rendered in a locale.

Templates are plain text with `{% trans %}` blocks; gettext catalogs in
`translations/` hold every language. Rendering needs an app context (Flask-Babel's
`force_locale` does nothing outside one).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import flask_babel
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..config import ROOT

MESSAGES_DIR = ROOT / "messages"
_SPACE = re.compile(r"[ \t]*\n[ \t]*|[ \t]{2,}")


@cache
def environment() -> Environment:
    """The Jinja environment for SMS copy (no autoescape: this is not HTML)."""
    env = Environment(
        loader=FileSystemLoader(MESSAGES_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # No stat() of the template file on every render: copy changes with a restart.
        auto_reload=False,
    )
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        flask_babel.gettext, _ngettext, newstyle=True
    )
    return env


def _ngettext(singular: str, plural: str, n: int) -> str:
    """The plural form for `n`, unformatted: Jinja's newstyle ngettext formats it.

    flask_babel.ngettext would format it already, with only `num`, so a pluralized
    `{% trans %}` with other variables failed with a KeyError.
    """
    return flask_babel.get_translations().ungettext(singular, plural, n)


def budget(language: str) -> int:
    """Segments a system message may take: one in English, two in any other language."""
    return 1 if language == "en" else 2


def kinds() -> list[str]:
    """Every message kind (template name without `.txt`)."""
    return sorted(p.stem for p in MESSAGES_DIR.glob("*.txt"))


def render(kind: str, language: str, **values: Any) -> str:
    """The text of message `kind` in `language`, on one line unless the template breaks it."""
    template = environment().get_template(f"{kind}.txt")
    with flask_babel.force_locale(language):
        text = template.render(**values)
    return _SPACE.sub(lambda m: "\n" if "\n" in m.group() else " ", text).strip()
