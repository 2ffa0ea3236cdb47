# -*- coding: utf-8 -*-
# Copyright: (c) 2026, vadp.vsphere contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A repository in an S3 bucket (s3://bucket/prefix), through boto3: the same keys as a repository
folder, one object each, never overwritten (a conditional PUT, If-None-Match: *). Requests that
fail on a 5xx, a throttle or a timeout are retried with backoff (boto3's standard mode); an
endpoint that stays silent is REPOSITORY_UNREACHABLE within about a minute, naming it. No Ansible
imports.
"""

import datetime
import os
from typing import Iterator, List, Optional

try:
    import boto3
    import botocore.config
    import botocore.exceptions
    BOTO3_IMPORT_ERROR = None
except ImportError as exc:
    BOTO3_IMPORT_ERROR = exc

from ansible_collections.vadp.vsphere.plugins.module_utils.errors import InvalidSettingsError
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.errors import (
    ImmutabilityUnavailableError,
    RepositoryAccessDeniedError,
    RepositoryError,
    RepositoryUnreachableError,
)
from ansible_collections.vadp.vsphere.plugins.module_utils._repository.storage import S3_SCHEME, StoredObject

# what the s3 option (and the worker's secrets) may hold; unset ones come from boto3's own chain:
# AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/config, AWS_ENDPOINT_URL, AWS_CA_BUNDLE, ...
OPTIONS = ("endpoint_url", "region", "access_key", "secret_key", "session_token", "profile", "ca_bundle")
SECRET_OPTIONS = ("secret_key", "session_token")
ATTEMPTS = 5  # boto3's standard retry mode: exponential backoff with jitter between them
CONNECT_TIMEOUT, READ_TIMEOUT = 5, 30
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "403"}
_MISSING = {"NoSuchKey", "404", "NotFound"}


# the environment variables through which boto3 reads each option (for a process started with them)
_ENVIRONMENT = {"endpoint_url": "AWS_ENDPOINT_URL", "region": "AWS_DEFAULT_REGION", "access_key": "AWS_ACCESS_KEY_ID",
                "secret_key": "AWS_SECRET_ACCESS_KEY", "session_token": "AWS_SESSION_TOKEN", "profile": "AWS_PROFILE",
                "ca_bundle": "AWS_CA_BUNDLE"}


def environment(options: dict) -> dict:
    """The given options as the environment variables boto3 reads, for a process started with them."""
    return {_ENVIRONMENT[k]: str(v) for k, v in (options or {}).items() if v not in (None, "") and k in _ENVIRONMENT}


def _custom_endpoint(options: dict) -> bool:
    """Whether the endpoint is another server than AWS's: such servers (MinIO, Ceph, SeaweedFS) answer
    bucket paths, where AWS would want the bucket in the host name."""
    return bool(options.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


def parse_location(location: str):
    """(bucket, prefix) of s3://bucket/prefix; the prefix ends with '/' unless empty."""
    bucket, _sep, prefix = location[len(S3_SCHEME):].partition("/")
    if not bucket:
        raise RepositoryError("%s names no bucket: write s3://bucket or s3://bucket/prefix" % location)
    prefix = prefix.strip("/")
    return bucket, prefix + "/" if prefix else ""


class S3Storage:
    remote = True
    concurrency = 4  # requests at once hide each one's round trip (benchmarks/object_storage.py)
    durable_chunks = True  # an object is durable once its PUT is answered

    def sync(self) -> None:
        """Nothing to do: every object is durable when its PUT is answered."""

    def __init__(self, location: str, options: dict):
        if BOTO3_IMPORT_ERROR is not None:
            raise RepositoryError("the repository %s is in object storage: install the boto3 Python package on the host "
                                  "that runs the module (pip install boto3; importing it failed: %s)" % (
                                      location, BOTO3_IMPORT_ERROR))
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise InvalidSettingsError("s3 has no option %s (it has: %s)" % (", ".join(sorted(unknown)), ", ".join(OPTIONS)))
        self.location, self.options = location.rstrip("/"), {k: v for k, v in options.items() if v not in (None, "")}
        if ("access_key" in self.options) != ("secret_key" in self.options):
            raise InvalidSettingsError("s3.access_key and s3.secret_key go together: give both, or neither (boto3 then "
                                       "finds credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3.profile)")
        self.bucket, self.prefix = parse_location(location)
        o = self.options
        try:
            session = boto3.session.Session(aws_access_key_id=o.get("access_key"), aws_secret_access_key=o.get("secret_key"),
                                            aws_session_token=o.get("session_token"), profile_name=o.get("profile"))
            self.client = session.client(
                "s3", endpoint_url=o.get("endpoint_url"), region_name=o.get("region"), verify=o.get("ca_bundle"),
                config=botocore.config.Config(retries={"max_attempts": ATTEMPTS, "mode": "standard"},
                                              connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                                              s3={"addressing_style": "path"} if _custom_endpoint(o) else None))
        except botocore.exceptions.BotoCoreError as exc:  # an unknown profile, a malformed endpoint
            raise RepositoryError("the repository %s cannot be reached as configured: %s" % (location, exc))
        self.endpoint = self.client.meta.endpoint_url

    def describe(self, key: str) -> str:
        return "s3://%s/%s%s" % (self.bucket, self.prefix, key)

    def _call(self, what: str, key: str, operation, **kwargs):
        """operation's answer, with boto3's failures as the repository's errors."""
        try:
            return operation(Bucket=self.bucket, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._failure(exc, what, key)

    def _failure(self, exc, what: str, key: str) -> Exception:
        where = self.describe(key)
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return RepositoryAccessDeniedError("no credentials for the object storage at %s: give s3.access_key and "
                                               "s3.secret_key, s3.profile, or the AWS_ environment variables" % self.endpoint)
        if not isinstance(exc, botocore.exceptions.ClientError):  # no answer: refused, reset, timed out
            return RepositoryUnreachableError(
                "the object storage at %s does not answer (%d attempts, to %s %s): %s. Check that the endpoint is up "
                "and reachable from this host, then run again" % (self.endpoint, ATTEMPTS, what, where, exc))
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _MISSING:
            return FileNotFoundError(where)
        if code in _DENIED:
            return RepositoryAccessDeniedError(
                "the object storage at %s refused to %s %s (%s): check the credentials (s3.access_key, s3.secret_key, "
                "s3.profile or the AWS_ environment variables) and their rights on bucket %s" % (
                    self.endpoint, what, where, code, self.bucket))
        if code == "NoSuchBucket":
            return RepositoryError("the bucket %s does not exist at %s: create it (with Object Lock enabled, for "
                                   "immutable points) or correct the repository" % (self.bucket, self.endpoint))
        return RepositoryError("the object storage at %s failed to %s %s: %s %s" % (
            self.endpoint, what, where, code, error.get("Message", "")), details={"s3_error": code})

    def read(self, key: str) -> bytes:
        answer = self._call("read", key, self.client.get_object, Key=self.prefix + key)
        try:
            return answer["Body"].read()
        except (botocore.exceptions.BotoCoreError, OSError) as exc:  # the connection broke off mid-object
            raise self._failure(exc, "read", key)

    def create(self, key: str, data: bytes, durable: bool = True, retain_until: Optional[datetime.datetime] = None) -> bool:
        """Write a new object (retain_until: locked in compliance mode until then); False when the key
        exists. The server checks what arrived against a CRC32 sent with it, and refuses it (BadDigest)
        when it differs: a transfer damaged on the way is never stored."""
        lock = {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": retain_until} if _ahead(retain_until) else {}
        try:
            self._call("write", key, self.client.put_object, Key=self.prefix + key, Body=bytes(data), IfNoneMatch="*",
                       ChecksumAlgorithm="CRC32", **lock)
        except RepositoryError as exc:
            if (exc.details or {}).get("s3_error") in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False  # there already, or being written by another writer: never replaced
            raise
        return True

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def size(self, key: str) -> Optional[int]:
        head = self._head(key)
        return None if head is None else head["ContentLength"]

    def retained_until(self, key: str) -> Optional[datetime.datetime]:
        """Until when the object is locked (None: not locked); FileNotFoundError when it is missing."""
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(self.describe(key))
        return head.get("ObjectLockRetainUntilDate")

    def _head(self, key: str) -> Optional[dict]:
        try:
            return self._call("look up", key, self.client.head_object, Key=self.prefix + key)
        except FileNotFoundError:
            return None

    def retain(self, key: str, until: datetime.datetime) -> None:
        """Lock the object in compliance mode until `until` (a later date only: the server refuses to shorten)."""
        if not _ahead(until):
            return
        self._call("lock", key, self.client.put_object_retention, Key=self.prefix + key,
                   Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until})

    def check_object_lock(self) -> None:
        """Fail unless the bucket has Object Lock enabled (compliance-mode retention on objects)."""
        try:
            answer = self._call("read the Object Lock configuration of", "", self.client.get_object_lock_configuration)
            enabled = answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except RepositoryError as exc:
            if (exc.details or {}).get("s3_error") not in ("ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound"):
                raise
            enabled = False
        if not enabled:
            raise ImmutabilityUnavailableError(
                "the bucket %s at %s does not have Object Lock enabled, so no point in it can be made immutable: use a "
                "bucket created with Object Lock (it cannot be turned on later on every server), or leave out "
                "immutable_days" % (self.bucket, self.endpoint))

    def _pages(self, prefix: str, **kwargs):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, **kwargs)
        try:
            yield from pages
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._failure(exc, "list", prefix)

    def children(self, prefix: str) -> List[str]:
        folder = self.prefix + (prefix + "/" if prefix else "")
        names = set()
        for page in self._pages(prefix + "/" if prefix else "", Delimiter="/"):
            names.update(p["Prefix"][len(folder):].rstrip("/") for p in page.get("CommonPrefixes", []))
            names.update(o["Key"][len(folder):] for o in page.get("Contents", []))
        return sorted(n for n in names if n)

    def walk(self, prefix: str) -> Iterator[StoredObject]:
        for page in self._pages(prefix + "/" if prefix else ""):
            for o in page.get("Contents", []):
                modified = o["LastModified"]
                yield StoredObject(o["Key"][len(self.prefix):], o["Size"],
                                   modified.timestamp() if isinstance(modified, datetime.datetime) else 0.0)

    def delete(self, key: str) -> None:
        try:
            self._call("delete", key, self.client.delete_object, Key=self.prefix + key)
        except FileNotFoundError:
            pass

    def delete_tree(self, prefix: str) -> None:
        for stored in list(self.walk(prefix)):
            self.delete(stored.key)

    # object storage has no folders: a key's prefix exists while an object has it
    def make_folder(self, prefix: str) -> None:
        pass

    def remove_empty_folder(self, prefix: str) -> bool:
        return True


def _ahead(until: Optional[datetime.datetime]) -> bool:
    """Whether a lock until `until` still means anything. A date already gone (a backup that took
    longer than its retention) locks nothing, and S3 refuses it: the object is written as free as
    its lock's end would have left it."""
    return until is not None and until > datetime.datetime.now(datetime.timezone.utc)
