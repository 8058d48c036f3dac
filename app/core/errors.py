"""Domain errors; routes map them to 4xx responses in one place (app.main)."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class Forbidden(DomainError):
    status_code = 403


class FormInvalid(Invalid):
    """Several problems at once (e.g. one per bad line), each its own message."""

    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages

    @classmethod
    def for_lines(cls, problems: list[str], shown: int = 20) -> FormInvalid:
        """One message per bad line of an import, the first `shown` of them and how many more."""
        messages = problems[:shown]
        if len(problems) > shown:
            messages.append(f"… and {len(problems) - shown} more bad lines")
        return cls(messages)


class TooLarge(DomainError):
    status_code = 413
