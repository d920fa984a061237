"""Extension objects, created unbound and wired by `create_app`."""

from typing import TYPE_CHECKING, ClassVar

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can diff on every database."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )

    if TYPE_CHECKING:
        # Declared a FromClause, as a model may map a join or a select; every model
        # here maps one Table, which Core's insert() and update() need.
        __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    # `db.Model` is a class built at run time and kept in an attribute: mypy refuses it
    # as a base class, and a model on an unknown base would take any attribute. To the
    # checker it is what Flask-SQLAlchemy makes of it: its Model mixin over `Base`.
    from flask_sqlalchemy.model import Model as _FSAModel

    class Model(_FSAModel, Base):
        """The base of every model (`db.Model`)."""

        __abstract__ = True

else:
    Model = db.Model

migrate = Migrate()
babel = Babel()

# Rate limits (sign-in, "Text me my link", receipt lookups). Storage is Redis when
# REDIS_URL is set (limits hold across web processes), memory otherwise; `create_app`
# sets RATELIMIT_STORAGE_URI before `init_app`. Limits are declared where they apply.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

# Staff sessions (app/staff/access.py loads the account and checks its session version).
login_manager = LoginManager()

# CSRF tokens for every staff form (Flask-WTF). The webhooks (Twilio's signature), the
# API (bearer tokens) and the public pages (their own signed form key) are exempt.
csrf = CSRFProtect()
