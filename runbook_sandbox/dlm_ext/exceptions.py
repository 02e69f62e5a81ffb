"""The errors of botocore's ``dlm`` model, as moto serializes them (code, message, fields)."""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class InvalidRequestException(ServiceException):
    """HTTP 400: a parameter is missing, out of range, or not allowed with another."""

    code = "InvalidRequestException"

    def __init__(
        self, message: str, *, required: list[str] | None = None, exclusive: list[str] | None = None
    ) -> None:
        super().__init__(message)
        if required:
            self.RequiredParameters = required
        if exclusive:
            self.MutuallyExclusiveParameters = exclusive


class ResourceNotFoundException(ServiceException):
    """HTTP 404: no policy (or tagged resource) with that id or ARN here."""

    code = "ResourceNotFoundException"

    def __init__(self, kind: str, ids: list[str]) -> None:
        super().__init__(f"{kind} not found: {', '.join(ids)}")
        self.ResourceType = kind
        self.ResourceIds = ids
