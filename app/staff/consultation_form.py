"""The consultation form: every language side by side, options, rule, audience, times.

The form checks what it can next to each field (lengths, numbers, the code), then
hands a payload shaped like the API's body to app/domain/consultations.py, which
decides (the same rules as the API). A refusal from the domain is put next to the
field it names. The per-language figures (segments, encoding, cost) are computed
from the exact text the summary broadcast would send (app/domain/broadcasts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from ..config import LANGUAGES, settings
from ..domain import broadcasts as broadcasts_ops
from ..domain.consultations import CODE, MAX_OPTIONS, MAX_QUORUM, NOT_IN_XML
from ..extensions import db
from ..models import CONSULTATION_KINDS, Consultation, ConsultationKind, MemberGroup
from ..sms.render import render
from .figures import Figures, figures, local_input, text_dir

#: Option rows shown at least, and added by "More option rows".
OPTION_ROWS = 4
#: Group names offered as audience checkboxes, at most.
GROUP_LIMIT = 200
#: Stands for the code in the reply instructions the page's script rebuilds.
CODE_MARK = "\ue000"
TITLE_MAX, SUMMARY_MAX, BODY_MAX, LABEL_MAX = 200, 480, 5000, 100


def _one_newline(value: str | None) -> str | None:
    """Browsers send a textarea's line breaks as CR LF: one LF is what a phone shows,
    and what the page's script counts."""
    if value is None:
        return None
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _xml_safe(_form: Any, field: Any) -> None:
    if field.data and NOT_IN_XML.search(field.data):
        raise ValidationError(gettext("Remove the control characters from this text."))


class _AtMost(Length):
    """Length(max=...) without the maxlength attribute: a browser counts maxlength in
    UTF-16 units (an emoji is two), Python in characters, and a limit the browser
    enforces silently would cut a text short instead of saying so."""

    def __init__(self, limit: int):
        super().__init__(max=limit, message=_l("At most %(max)d characters, please.", max=limit))
        self.field_flags: dict[str, object] = {}


def _length(limit: int) -> Length:
    return _AtMost(limit)


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


KINDS = [
    SelectChoice("yes_no", _l("Yes or no (members reply YES, NO or ABSTAIN)")),
    SelectChoice("choice", _l("A choice between numbered options")),
    SelectChoice("open", _l("An open question (members reply with a comment)")),
]
DECIDERS = [
    SelectChoice("community", _l("The community, by vote")),
    SelectChoice("staff", _l("Staff, with the replies in mind")),
    SelectChoice("allies", _l("Staff, advised by the Allies Group")),
]


class ConsultationForm(FlaskForm):
    """A draft consultation. The per-language fields (title_en, summary_en, body_en,
    options_en...) are added below, one set per language."""

    code = StringField(
        _l("Code"),
        validators=[
            InputRequired(_l("Give the consultation a code, like P12.")),
            Regexp(CODE, message=_l("A code is 1 to 3 letters then 1 to 4 digits, like P12.")),
        ],
        filters=[lambda value: value.strip() if isinstance(value, str) else value],
        render_kw={"autocomplete": "off", "spellcheck": "false", "size": 8},
    )
    kind = RadioField(
        _l("Kind"),
        choices=KINDS,
        default="yes_no",
        validators=[InputRequired(_l("Choose what kind of reply members give."))],
    )
    decision_by = RadioField(
        _l("Who decides"),
        choices=DECIDERS,
        default="community",
        validators=[InputRequired(_l("Choose who decides."))],
    )
    quorum = IntegerField(
        _l("Quorum (people who must take part)"),
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=MAX_QUORUM,
                message=_l("A whole number from 0 to %(max)d.", max=MAX_QUORUM),
            ),
        ],
        render_kw={"inputmode": "numeric"},
    )
    threshold = DecimalField(
        _l("Threshold (% of votes needed)"),
        places=None,
        validators=[
            Optional(),
            NumberRange(min=0, max=100, message=_l("A percentage from 0 to 100.")),
        ],
        render_kw={"inputmode": "decimal"},
    )
    audience = MultiCheckboxField(_l("Groups"), choices=[])
    closes_at = DateTimeLocalField(
        _l("Closes at"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"], validators=[Optional()]
    )
    remind_at = DateTimeLocalField(
        _l("Automatic reminder at"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        validators=[Optional()],
    )
    results_public = BooleanField(_l("Show the results on the public pages"), default=True)
    option_rows = HiddenField(default=str(OPTION_ROWS))

    def __init__(self, *args: Any, new: bool = True, groups: list[str] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.is_new = new
        if not new:
            del self.code
        self.audience.choices = [SelectChoice(name) for name in groups or []]
        self.general_errors: list[str] = []
        self.options_errors: list[str] = []
        self._rows()

    # ------------------------------------------------------------------ option rows

    def option_lists(self) -> list[FieldList]:
        return [getattr(self, f"options_{lang}") for lang in LANGUAGES]

    def filled_rows(self) -> int:
        """Rows with a label in any language, up to the last of them."""
        lists = self.option_lists()
        last = 0
        for index in range(max(len(entries) for entries in lists)):
            if any(index < len(e) and (e[index].data or "").strip() for e in lists):
                last = index + 1
        return last

    def _rows(self, more: int = 0) -> None:
        try:
            asked = int(self.option_rows.data or 0)
        except ValueError:
            asked = OPTION_ROWS
        rows = max(OPTION_ROWS, asked, self.filled_rows() + 1) + more
        rows = min(rows, MAX_OPTIONS)
        for entries in self.option_lists():
            while len(entries) < rows:
                entries.append_entry()
            while len(entries) > rows:
                entries.pop_entry()
        self.option_rows.data = str(rows)

    def more_rows(self) -> None:
        """Show more blank option rows (the "More option rows" button)."""
        self._rows(OPTION_ROWS)

    @property
    def rows(self) -> int:
        return len(self.option_lists()[0])

    # ------------------------------------------------------------------ reading it

    def texts(self, field: str) -> dict[str, str]:
        """{language: text} of the languages where `field` is written (stripped)."""
        out = {}
        for lang in LANGUAGES:
            value = (getattr(self, f"{field}_{lang}").data or "").strip()
            if value:
                out[lang] = value
        return out

    def options(self) -> list[dict[str, Any]]:
        """The option rows with a label in any language, numbered 1..N in order."""
        options = []
        for index in range(self.rows):
            labels = {}
            for lang in LANGUAGES:
                value = (getattr(self, f"options_{lang}")[index].data or "").strip()
                if value:
                    labels[lang] = value
            if labels:
                options.append({"label": labels})
        return options

    def chosen_kind(self) -> str:
        return self.kind.data if self.kind.data in CONSULTATION_KINDS else "yes_no"

    def typed_code(self, consultation: Consultation | None) -> str:
        if consultation is not None:
            return consultation.code
        return (self.code.data or "").strip().upper()

    def payload(self) -> dict[str, Any]:
        """The API's body for what was typed, for app.domain.consultations."""
        threshold = self.threshold.data
        payload: dict[str, Any] = {
            "kind": self.kind.data,
            "title": self.texts("title"),
            "summary": self.texts("summary"),
            "body": self.texts("body") or None,
            "options": self.options(),
            "audience": list(self.audience.data or []),
            "closes_at": self.closes_at.data.isoformat() if self.closes_at.data else None,
            "remind_at": self.remind_at.data.isoformat() if self.remind_at.data else None,
            "decision": {
                "by": self.decision_by.data,
                "quorum": self.quorum.data,
                "threshold": None if threshold is None else float(threshold / Decimal(100)),
            },
            "results_public": bool(self.results_public.data),
        }
        if self.is_new:
            payload["code"] = self.code.data
        return payload

    # ------------------------------------------------------------------ checking it

    def check(self) -> bool:
        """The form's own checks (next to each field); False when any failed."""
        ok = self.validate()
        if not self.texts("title"):
            getattr(self, f"title_{settings().default_language}").errors.append(
                gettext("Write a title in at least one language.")
            )
            ok = False
        if not self.texts("summary"):
            getattr(self, f"summary_{settings().default_language}").errors.append(
                gettext("Write the SMS summary in at least one language.")
            )
            ok = False
        if self.kind.data == "choice" and len(self.options()) < 2:
            self.options_errors.append(
                gettext("A choice needs at least 2 options (and at most %(n)d).", n=MAX_OPTIONS)
            )
            ok = False
        if self.kind.data in ("yes_no", "open") and self.options():
            self.options_errors.append(
                gettext("Options are only for a choice: clear them, or choose a choice.")
            )
            ok = False
        return ok

    def refused(self, message: str) -> None:
        """Put the domain's refusal next to the field it names."""
        head = message.split(" ", 1)[0]
        names = {
            "code": "code",
            "kind": "kind",
            "closes_at": "closes_at",
            "remind_at": "remind_at",
            "decision.by": "decision_by",
            "decision.quorum": "quorum",
            "decision.threshold": "threshold",
            "results_public": "results_public",
            "groups": "audience",
        }
        base, _, lang = head.partition(".")
        name: str | None = None
        if head in names:
            name = names[head]
        elif base in ("title", "summary", "body"):
            name = f"{base}_{lang if lang in LANGUAGES else settings().default_language}"
        elif "option" in message or base == "label":
            self.options_errors.append(message)
            return
        elif "consultation with the code" in message:
            name = "code"
        if name is None or name not in self._fields:
            self.general_errors.append(message)
            return
        field = self._fields[name]
        field.errors = [*field.errors, message]

    def error_links(self) -> list[tuple[str, str]]:
        """(field id, message) for the summary of problems at the top of the page."""
        links: list[tuple[str, str]] = []
        lists = {id(entries) for entries in self.option_lists()}
        for field in self:
            if id(field) in lists:
                for entry in field:
                    links.extend((entry.id, message) for message in entry.errors)
            else:
                links.extend((field.id, message) for message in field.errors)
        links.extend(("options", message) for message in self.options_errors)
        return links

    def has_errors(self) -> bool:
        return bool(self.error_links() or self.general_errors)

    # ------------------------------------------------------------------ filling it

    def fill(self, consultation: Consultation) -> None:
        """Show a saved draft (a GET of the edit page)."""
        self.kind.data = consultation.kind
        self.decision_by.data = consultation.decision_by
        self.quorum.data = consultation.quorum
        threshold = consultation.threshold
        if threshold is not None:
            self.threshold.data = Decimal(f"{threshold * 100:.4f}".rstrip("0").rstrip("."))
        self.audience.data = list(consultation.audience or [])
        self.closes_at.data = local_input(consultation.closes_at)
        self.remind_at.data = local_input(consultation.remind_at)
        self.results_public.data = consultation.results_public
        for lang in LANGUAGES:
            for field in ("title", "summary", "body"):
                values = getattr(consultation, field) or {}
                getattr(self, f"{field}_{lang}").data = values.get(lang, "")
            entries = getattr(self, f"options_{lang}")
            while len(entries):
                entries.pop_entry()
            for option in consultation.options or []:
                entries.append_entry(option.get("label", {}).get(lang, ""))
        self.option_rows.data = str(len(consultation.options or []) + 1)
        self._rows()


for _lang in LANGUAGES:
    _attrs = {"lang": _lang, "dir": text_dir(_lang)}
    setattr(
        ConsultationForm,
        f"title_{_lang}",
        StringField(_l("Title"), validators=[_length(TITLE_MAX), _xml_safe], render_kw={**_attrs}),
    )
    setattr(
        ConsultationForm,
        f"summary_{_lang}",
        TextAreaField(
            _l("SMS summary"),
            validators=[_length(SUMMARY_MAX), _xml_safe],
            filters=[_one_newline],
            render_kw={**_attrs, "rows": 4, "data-summary": _lang},
        ),
    )
    setattr(
        ConsultationForm,
        f"body_{_lang}",
        TextAreaField(
            _l("Full text (for the web page)"),
            validators=[_length(BODY_MAX), _xml_safe],
            filters=[_one_newline],
            render_kw={**_attrs, "rows": 6},
        ),
    )
    setattr(
        ConsultationForm,
        f"options_{_lang}",
        FieldList(
            StringField(
                _l("Option"),
                validators=[_length(LABEL_MAX), _xml_safe],
                render_kw={**_attrs, "data-option": _lang},
            ),
            max_entries=MAX_OPTIONS,
        ),
    )


def known_groups(extra: list[str] | None = None) -> list[str]:
    """Group names members have (at most GROUP_LIMIT), plus `extra`, sorted."""
    names = db.session.execute(
        select(MemberGroup.name).distinct().order_by(MemberGroup.name).limit(GROUP_LIMIT)
    ).scalars()
    return sorted({*names, *(extra or [])})


# ---------------------------------------------------------------------- the figures


@dataclass
class LanguageFigures:
    """One language's column: its own summary or not, and the figures of what its
    members would be sent."""

    lang: str
    own: bool
    figures: Figures
    over_budget: bool
    #: The reply instructions per kind, with CODE_MARK for the code: the page's
    #: script rebuilds the text from them as staff type.
    headers: dict[str, str]


@dataclass
class FormFigures:
    """Every language's figures and the totals."""

    languages: dict[str, LanguageFigures]
    recipients: int
    total_segments: int
    total: Figures

    @property
    def over_budget(self) -> bool:
        return any(f.over_budget and f.figures.recipients for f in self.languages.values())


def sms_figures(form: ConsultationForm, consultation: Consultation | None) -> FormFigures:
    """What the summary broadcast of what was typed would send to each language, and
    its cost for the chosen audience, by the sender's own code."""
    chorus = settings()
    code = form.typed_code(consultation)
    # A consultation that is never added to the session: the broadcast code renders
    # the texts of it exactly as it will render the saved one.
    draft = Consultation(
        code=code,
        kind=ConsultationKind(form.chosen_kind()),
        summary=form.texts("summary"),
        title=form.texts("title"),
        options=form.options(),
    )
    bodies = broadcasts_ops.summary_bodies(draft, chorus)
    per_language = broadcasts_ops.audience_by_language(list(form.audience.data or []))
    own = draft.summary
    languages = {}
    total_segments = 0
    for lang in LANGUAGES:
        counted = figures(bodies[lang], per_language.get(lang, 0))
        total_segments += counted.segments * counted.recipients
        languages[lang] = LanguageFigures(
            lang=lang,
            own=lang in own,
            figures=counted,
            over_budget=counted.segments > broadcasts_ops.SEGMENT_BUDGET,
            headers={
                kind: render(f"broadcast_{kind}", lang, code=CODE_MARK)
                for kind in CONSULTATION_KINDS
            },
        )
    recipients = sum(per_language.get(lang, 0) for lang in LANGUAGES)
    total = Figures(
        body="",
        recipients=recipients,
        encoding="",
        segments=total_segments,
        units=0,
        characters=0,
        cost=chorus.sms_price_per_segment * total_segments,
    )
    return FormFigures(languages, recipients, total_segments, total)
