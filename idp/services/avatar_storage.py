"""Where avatars' resized copies are kept (R20): ``IDP_AVATAR_STORAGE``.

- ``db`` (default): rows of ``avatar_images``, written in the transaction of the upload, so a
  photo and its copies exist together or not at all; every instance sees them. Right for one
  instance or a few, and any number of photos a company's staff sends.
- ``folder``: files ``<public_id>-<size>.jpg`` in ``IDP_AVATAR_FOLDER``: the database stays small;
  for one instance, or several sharing that folder (NFS).
- ``s3``: objects ``avatars/<public_id>-<size>.jpg`` in an S3-compatible bucket (AWS, MinIO, R2,
  Ceph): for many instances without a shared disk.

Each backend answers ``put``, ``get`` (None when absent) and ``delete``. Copies are written
before the upload commits; a failed commit can leave files or objects behind that nothing
names (harmless, never served: serving goes through an approved ``Avatar`` row)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from flask import current_app
from sqlalchemy import delete, select

from idp.extensions import db
from idp.models import AvatarImage

S3_PREFIX = "avatars/"


class Storage(Protocol):
    def put(self, public_id: str, size: int, data: bytes) -> None: ...
    def get(self, public_id: str, size: int) -> bytes | None: ...
    def delete(self, public_id: str, sizes: tuple[int, ...]) -> None: ...


def _name(public_id: str, size: int) -> str:
    return f"{public_id}-{size}.jpg"


class DatabaseStorage:
    def put(self, public_id: str, size: int, data: bytes) -> None:
        db.session.add(AvatarImage(public_id=public_id, size=size, data=data))

    def get(self, public_id: str, size: int) -> bytes | None:
        return db.session.scalar(
            select(AvatarImage.data).where(
                AvatarImage.public_id == public_id, AvatarImage.size == size
            )
        )

    def delete(self, public_id: str, sizes: tuple[int, ...]) -> None:
        db.session.execute(delete(AvatarImage).where(AvatarImage.public_id == public_id))


class FolderStorage:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, public_id: str, size: int, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Written beside, then renamed: a reader never sees half a file.
        fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".part")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, self.folder / _name(public_id, size))

    def get(self, public_id: str, size: int) -> bytes | None:
        try:
            return (self.folder / _name(public_id, size)).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, public_id: str, sizes: tuple[int, ...]) -> None:
        for size in sizes:
            (self.folder / _name(public_id, size)).unlink(missing_ok=True)


class S3Storage:
    def __init__(self, client, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def put(self, public_id: str, size: int, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=S3_PREFIX + _name(public_id, size),
            Body=data,
            ContentType="image/jpeg",
        )

    def get(self, public_id: str, size: int) -> bytes | None:
        try:
            answer = self.client.get_object(
                Bucket=self.bucket, Key=S3_PREFIX + _name(public_id, size)
            )
        except self.client.exceptions.NoSuchKey:
            return None
        return answer["Body"].read()

    def delete(self, public_id: str, sizes: tuple[int, ...]) -> None:
        self.client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": S3_PREFIX + _name(public_id, s)} for s in sizes]},
        )


EXTENSION = "idp.avatar_storage"


def storage() -> Storage:
    """The app's storage, built once from its settings."""
    app = current_app
    built = app.extensions.get(EXTENSION)
    settings = app.extensions["idp.settings"]
    if built is not None and built[0] is settings:
        return built[1]
    if settings.avatar_storage == "folder":
        chosen: Storage = FolderStorage(settings.avatar_path)
    elif settings.avatar_storage == "s3":
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=settings.avatar_s3_endpoint_url or None,
            region_name=settings.avatar_s3_region or None,
            aws_access_key_id=settings.avatar_s3_access_key_id or None,
            aws_secret_access_key=settings.avatar_s3_secret_access_key or None,
        )
        chosen = S3Storage(client, settings.avatar_s3_bucket)
    else:
        chosen = DatabaseStorage()
    app.extensions[EXTENSION] = (settings, chosen)
    return chosen
