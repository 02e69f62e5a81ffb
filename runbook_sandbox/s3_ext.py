"""S3 MFA delete for the sandbox: moto 5.2.5 ignores ``MFADelete`` in PutBucketVersioning
and never returns it from GetBucketVersioning. Here, as on AWS:

- PutBucketVersioning with ``MfaDelete`` (``Enabled`` | ``Disabled``) stores it only when the
  request carries the ``x-amz-mfa`` header (boto3's ``MFA`` argument: the device's serial
  number, a space, and the code it shows); without the header the request fails with 403
  AccessDenied "Mfa Authentication must be used for this request", and nothing changes;
- once a bucket has MFA delete enabled, every PutBucketVersioning on it needs the header,
  and so does deleting an object version (DeleteObject with ``versionId``, DeleteObjects
  naming a ``VersionId``): without it, 403 AccessDenied and nothing is deleted;
- enabling MFA delete on a bucket that has a lifecycle configuration fails with 400
  InvalidBucketState, as AWS answers;
- GetBucketVersioning returns ``MFADelete`` once the bucket was configured with it (absent
  before, as on AWS).

What the sandbox cannot check: the MFA code itself. Any value of the form
``<serial> <6 digits>`` is accepted (a malformed one gets 403 AccessDenied); it does not
require HTTPS, nor that the caller be the root user.
"""

from __future__ import annotations

import re
from typing import Any

import xmltodict
from moto.s3.exceptions import InvalidBucketState, S3ClientError
from moto.s3.responses import S3Response

#: ``x-amz-mfa``: a device serial number (or a virtual device's ARN), one space, the code
MFA_HEADER = re.compile(r"^\S+ \d{6}$")
MFA_VALUES = ("Enabled", "Disabled")
_ATTR = "sandbox_mfa_delete"  # kept on moto's bucket object (saved and loaded with it)


class MfaRequired(S3ClientError):
    def __init__(self, msg: str = "Mfa Authentication must be used for this request"):
        super().__init__("AccessDenied", msg)
        self.code = "AccessDenied"


def mfa_delete(bucket: Any) -> str | None:
    """``Enabled`` / ``Disabled`` once the bucket was configured with MFA delete, else None."""
    return getattr(bucket, _ATTR, None)


def _requested(body: bytes | str) -> str | None:
    """The ``MfaDelete`` element of a VersioningConfiguration body (None when absent)."""
    try:
        doc = xmltodict.parse(body or "<VersioningConfiguration/>")
    except Exception:  # moto answers the malformed body itself
        return None
    conf = doc.get("VersioningConfiguration") or {}
    value = conf.get("MfaDelete", conf.get("MFADelete")) if isinstance(conf, dict) else None
    return value if value is None else str(value)


def _check_header(header: str | None) -> None:
    if not header:
        raise MfaRequired()
    if not MFA_HEADER.match(header.strip()):
        raise MfaRequired(
            "x-amz-mfa must be the MFA device's serial number, a space and its 6-digit code"
        )


def _versions_named(body: bytes | str) -> bool:
    """True when a DeleteObjects body names an object version."""
    try:
        objects = (xmltodict.parse(body).get("Delete") or {}).get("Object") or []
    except Exception:  # moto answers the malformed body itself
        return False
    objects = objects if isinstance(objects, list) else [objects]
    return any(isinstance(o, dict) and o.get("VersionId") for o in objects)


def _put_versioning(self: Any, bucket_name: str) -> str | None:
    """Check and store ``MfaDelete``; returns the value to store after moto's own handling
    succeeds (None: leave it as it is)."""
    bucket = self.backend.get_bucket(bucket_name)
    wanted = _requested(self.body)
    header = self.headers.get("x-amz-mfa")
    if wanted is None and mfa_delete(bucket) != "Enabled":
        return None  # nothing to do with MFA delete: moto's behaviour
    _check_header(header)
    if wanted is None:
        return None
    if wanted not in MFA_VALUES:
        raise S3ClientError(
            "MalformedXML", f"MfaDelete {wanted!r}: allowed values are {', '.join(MFA_VALUES)}"
        )
    if wanted == "Enabled" and bucket.rules:
        raise InvalidBucketState(
            "Mfa Authentication is not supported on a bucket with lifecycle configuration. "
            "Delete lifecycle configuration before enabling Mfa Authentication."
        )
    return wanted


def install() -> None:
    """Wrap moto's S3 bucket PUT, GetBucketVersioning and version deletes (safe to call
    twice)."""
    if getattr(S3Response, "_sandbox_mfa_installed", False):
        return
    bucket_put = S3Response._bucket_response_put
    get_versioning = S3Response.get_bucket_versioning
    delete_object = S3Response.delete_object
    delete_keys = S3Response._bucket_response_delete_keys

    def _bucket_response_put(self: Any, request: Any, bucket_name: str, querystring: dict):
        store = None
        if "versioning" in (querystring or {}):
            self._set_action("BUCKET", "PUT", querystring)
            self._authenticate_and_authorize_s3_action(bucket_name=bucket_name)
            store = _put_versioning(self, bucket_name)
        response = bucket_put(self, request, bucket_name, querystring)
        if store is not None:
            status = response[0] if isinstance(response, tuple) else 200
            if status == 200:
                setattr(self.backend.get_bucket(bucket_name), _ATTR, store)
        return response

    def get_bucket_versioning(self: Any) -> Any:
        value = mfa_delete(self.backend.get_bucket(self.bucket_name))
        if value is None:
            return get_versioning(self)
        from moto.core.responses import ActionResult

        status = self.backend.get_bucket_versioning(self.bucket_name)
        self.data["Action"] = "GetBucketVersioning"
        return self.serialized(ActionResult({"Status": status, "MFADelete": value}))

    def _delete_object(self: Any) -> Any:
        if self._get_param("versionId"):
            if mfa_delete(self.backend.get_bucket(self.bucket_name)) == "Enabled":
                _check_header(self.headers.get("x-amz-mfa"))
        return delete_object(self)

    def _bucket_response_delete_keys(self: Any, bucket_name: str, *args: Any, **kw: Any) -> Any:
        if mfa_delete(self.backend.get_bucket(bucket_name)) == "Enabled" and _versions_named(
            self.body
        ):
            _check_header(self.headers.get("x-amz-mfa"))
        return delete_keys(self, bucket_name, *args, **kw)

    S3Response.delete_object = _delete_object  # type: ignore[method-assign]
    S3Response._bucket_response_delete_keys = _bucket_response_delete_keys  # type: ignore[method-assign]
    S3Response._bucket_response_put = _bucket_response_put  # type: ignore[method-assign]
    S3Response.get_bucket_versioning = get_bucket_versioning  # type: ignore[method-assign]
    S3Response._sandbox_mfa_installed = True  # type: ignore[attr-defined]
