"""All-or-nothing service calls: a service decorated with ``@transaction`` commits when it returns
and rolls back everything it wrote when it raises."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError

from idp.errors import Conflict
from idp.extensions import db
from idp.i18n import _l

P = ParamSpec("P")
R = TypeVar("R")

# Inside ``atomic()``: the services called there write into one transaction, committed at its
# end (or rolled back as a whole), instead of one transaction each.
_atomic: ContextVar[bool] = ContextVar("idp_atomic", default=False)


@contextlib.contextmanager
def atomic() -> Iterator[None]:
    """Several service calls as one all-or-nothing change (a SCIM ``PUT`` that edits an account,
    disables it and changes its groups: issue 19, "no half-written account"). Each service still
    records its own audit entry; nothing is committed until the block ends, and a failure in any
    of them rolls back all of them. Code inside must not catch a service's error and go on."""
    if _atomic.get():
        yield
        return
    token = _atomic.set(True)
    try:
        yield
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(_l("That was just taken by another change; reload and try again")) from None
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _atomic.reset(token)


def transaction(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _atomic.get():
            result = func(*args, **kwargs)
            db.session.flush()  # a unique key taken shows here, inside the atomic block
            return result
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
