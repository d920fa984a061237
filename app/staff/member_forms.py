"""The members screens' forms: the search (a GET form, no CSRF token), add and edit a
member, and the CSV upload. Each says what is wrong next to the field."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField, ValidationError
from wtforms.validators import DataRequired, Length

from ..config import LANGUAGES, settings
from ..domain import Invalid
from ..domain.grammar import language_name
from ..domain.members import clean_groups, find_by_phone
from ..models import Member, MemberStatus
from ..phones import try_e164

GROUP_SPLIT = re.compile(r"[,;|\s]+")

STATUS_NAMES = {
    MemberStatus.ACTIVE: _l("Active"),
    MemberStatus.OPTED_OUT: _l("Opted out"),
    MemberStatus.PENDING: _l("Pending (has not agreed yet)"),
}


def language_choices() -> list[tuple[str, str, dict[str, str]]]:
    """The ten languages, each named in itself (marked with its language) and its code."""
    return [(code, f"{language_name(code)} ({code})", {"lang": code}) for code in LANGUAGES]


def split_groups(text: str | None) -> list[str]:
    """`community, allies` (commas, semicolons, | or spaces) -> ["allies", "community"]."""
    return clean_groups([g for g in GROUP_SPLIT.split(text or "") if g])


class MemberSearchForm(FlaskForm):
    """Search and filters of the members list; read from the query string."""

    class Meta:
        csrf = False  # a GET form: it changes nothing

    q = StringField(
        _l("Name or phone number"),
        validators=[Length(max=100)],
        render_kw={"type": "search", "spellcheck": "false", "autocomplete": "off"},
    )
    group = SelectField(_l("Group"), validate_choice=False)
    language = SelectField(_l("Language"), validate_choice=False)
    status = SelectField(_l("Status"), validate_choice=False)

    def fill(self, groups: list[str]) -> MemberSearchForm:
        """Offer the groups in use, the languages and the statuses."""
        self.group.choices = [("", _l("Any group"))] + [(g, g) for g in groups]
        if self.group.data and self.group.data not in groups:  # capped list: keep it shown
            self.group.choices.append((self.group.data, self.group.data))
        self.language.choices = [("", _l("Any language")), *language_choices()]
        self.status.choices = [("", _l("Any status"))] + [
            (status.value, label) for status, label in STATUS_NAMES.items()
        ]
        return self

    def cleaned(self) -> tuple[str, str, str, str]:
        """(text, group, language, status) with anything unknown dropped."""
        language = self.language.data if self.language.data in LANGUAGES else ""
        status = self.status.data if self.status.data in {s.value for s in MemberStatus} else ""
        group = (self.group.data or "").strip().lower()[:40]
        return ((self.q.data or "").strip()[:100], group, language, status)


class MemberForm(FlaskForm):
    """A member's name, language and groups (the edit form)."""

    name = StringField(
        _l("Name"),
        validators=[Length(max=200, message=_l("A name can be at most 200 characters."))],
        render_kw={"autocomplete": "off", "dir": "auto"},
    )
    # validate_choice off: validate_language says what is wrong in words of our own.
    language = SelectField(_l("Language"), validate_choice=False)
    groups = StringField(
        _l("Groups"),
        render_kw={"autocomplete": "off", "spellcheck": "false"},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = language_choices()

    def validate_language(self, field) -> None:
        if field.data not in LANGUAGES:
            raise ValidationError(_l("Choose one of the ten languages."))

    def validate_groups(self, field) -> None:
        try:
            split_groups(field.data)
        except Invalid:
            raise ValidationError(
                _l(
                    "Group names are lower-case letters, digits, - and _ (at most 40 "
                    "characters), separated by commas."
                )
            ) from None


class AddMemberForm(MemberForm):
    """A new member: their number too, which must be valid and not a member's yet."""

    phone = StringField(
        _l("Phone number"),
        validators=[DataRequired(_l("Enter a phone number."))],
        render_kw={"autocomplete": "off", "type": "tel", "spellcheck": "false", "dir": "ltr"},
    )
    e164: str | None = None  # the number in E.164, once valid
    existing: Member | None = None  # the member who has it already

    def validate_phone(self, field) -> None:
        region = settings().default_region
        self.e164 = try_e164(field.data or "", region)
        if self.e164 is None:
            raise ValidationError(
                _l(
                    "That is not a phone number we can use. Write it as it is dialled "
                    "here (07400 123456) or with its country code (+44 7400 123456)."
                )
            )
        self.existing = find_by_phone(self.e164, region)
        if self.existing is not None:
            raise ValidationError(_l("A member already has this number."))


class ImportForm(FlaskForm):
    """The CSV file to check."""

    file = FileField(_l("CSV file"), validators=[FileRequired(_l("Choose a CSV file."))])
