"""All-or-nothing service calls: a service decorated with ``@transaction`` commits when it returns
and rolls back everything it wrote when it raises."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError

from idp.errors import Conflict
from idp.extensions import db
from idp.i18n import _l

P = ParamSpec("P")
R = TypeVar("R")


def transaction(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = func(*args, **kwargs)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            # A unique key taken by a concurrent request between our check and our write.
            raise Conflict(
                _l("That was just taken by another change; reload and try again")
            ) from None
        except BaseException:
            db.session.rollback()
            raise
        return result

    return wrapper
