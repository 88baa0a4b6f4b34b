"""R20 avatars kept in a folder or an S3-compatible bucket (``IDP_AVATAR_STORAGE``): the same
journey as with the database (send, approve, serve; a rejected or replaced photo's copies are
deleted), the bucket being moto's S3 server on loopback (real HTTP, boto3 as in production)."""

from __future__ import annotations

import socket
import uuid
from dataclasses import replace

import boto3
import pytest
from moto.server import ThreadedMotoServer

from idp.defaults import AVATAR_SIZES
from idp.services import avatars
from idp.services.avatar_storage import S3_PREFIX, storage
from idp.settings import Settings, SettingsError
from tests import avatar_files as files


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def using(ctx):
    """Run the app with other settings for one test."""
    before = ctx.extensions["idp.settings"]

    def switch(**changes):
        ctx.extensions["idp.settings"] = replace(before, **changes)

    yield switch
    ctx.extensions["idp.settings"] = before


def journey(make) -> tuple[str, str]:
    """Send, approve, send again, reject, send again, approve: (replaced, shown)."""
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    first = avatars.submit(alice, files.jpeg()).public_id
    avatars.approve(owner, first)
    assert avatars.served(first, 512)
    rejected = avatars.submit(alice, files.jpeg(color=(9, 9, 9))).public_id
    avatars.reject(owner, rejected, "No")
    assert avatars.served(first, 128) and storage().get(rejected, 512) is None
    last = avatars.submit(alice, files.jpeg(color=(90, 9, 9))).public_id
    avatars.approve(owner, last)
    return first, last


def test_r20_avatars_in_a_folder(ctx, make, using, tmp_path):
    using(avatar_storage="folder", avatar_folder=tmp_path)
    replaced, shown = journey(make)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{shown}-{size}.jpg" for size in AVATAR_SIZES
    )
    assert ctx.test_client().get(f"/avatars/{shown}-128.jpg").status_code == 200
    assert ctx.test_client().get(f"/avatars/{replaced}.jpg").status_code == 404


def test_r20_photos_replaced_while_waiting_leave_no_files_in_the_folder(ctx, make, using, tmp_path):
    """Issue 17: a person trying photo after photo leaves files for two at most: the one shown
    and the newest one waiting (each new photo withdraws the one waiting; a rejected photo's
    copies go at its rejection)."""
    using(avatar_storage="folder", avatar_folder=tmp_path)
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    shown = avatars.submit(alice, files.jpeg()).public_id
    avatars.approve(owner, shown)
    avatars.reject(owner, avatars.submit(alice, files.jpeg(color=(9, 9, 9))).public_id, "No")
    for shade in (10, 20, 30):
        waiting = avatars.submit(alice, files.jpeg(color=(shade, 9, 9))).public_id
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{public_id}-{size}.jpg" for public_id in (shown, waiting) for size in AVATAR_SIZES
    )
    assert ctx.test_client().get(f"/avatars/{shown}-128.jpg").status_code == 200


def test_r20_avatars_in_an_s3_bucket(ctx, make, using, s3_server):
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    bucket = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", **keys)
    name = f"idp-avatars-{uuid.uuid4().hex[:12]}"  # one per test: the server outlives it
    bucket.create_bucket(Bucket=name)
    using(
        avatar_storage="s3",
        avatar_s3_bucket=name,
        avatar_s3_endpoint_url=s3_server,
        avatar_s3_region="us-east-1",
        avatar_s3_access_key_id="test",
        avatar_s3_secret_access_key="test",
    )
    replaced, shown = journey(make)
    listed = bucket.list_objects_v2(Bucket=name).get("Contents", [])
    assert sorted(o["Key"] for o in listed) == sorted(
        f"{S3_PREFIX}{shown}-{size}.jpg" for size in AVATAR_SIZES
    )
    answer = ctx.test_client().get(f"/avatars/{shown}.jpg")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/jpeg"
    assert ctx.test_client().get(f"/avatars/{replaced}.jpg").status_code == 404


def test_r20_storage_settings_are_checked_at_start(tmp_path):
    env = {"IDP_INSTANCE_PATH": str(tmp_path)}
    assert Settings.from_env(env).avatar_storage == "db"
    folder = Settings.from_env({**env, "IDP_AVATAR_STORAGE": "folder"})
    assert folder.avatar_path == tmp_path / "avatars"
    with pytest.raises(SettingsError, match="IDP_AVATAR_S3_BUCKET"):
        Settings.from_env({**env, "IDP_AVATAR_STORAGE": "s3"})
    with pytest.raises(SettingsError, match="IDP_AVATAR_STORAGE"):
        Settings.from_env({**env, "IDP_AVATAR_STORAGE": "ftp"})
    assert Settings.from_env({**env, "IDP_AVATAR_REVIEW_MAIN": "on"}).avatar_review_main
