"""Domain errors; routes map them to 4xx responses in one place (app.main)."""


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


class TooLarge(DomainError):
    status_code = 413
