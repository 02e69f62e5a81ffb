"""AWS Backup errors, shaped as AWS returns them (JSON body with an error code)."""

from moto.backup.exceptions import (
    AlreadyExistsException,
    InvalidParameterValueException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from moto.core.exceptions import JsonRESTError


class AccessDeniedException(JsonRESTError):
    code = 403

    def __init__(self, msg: str):
        super().__init__("AccessDeniedException", msg)


class MissingParameterValueException(JsonRESTError):
    code = 400

    def __init__(self, msg: str):
        super().__init__("MissingParameterValueException", msg)


__all__ = [
    "AccessDeniedException",
    "AlreadyExistsException",
    "InvalidParameterValueException",
    "InvalidRequestException",
    "MissingParameterValueException",
    "ResourceNotFoundException",
]
