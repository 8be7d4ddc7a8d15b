"""Issue 20 section 1 ("shared state leaves the process"): the cache every node shares is chosen by
settings (CACHE_URL / REDIS_URL -> django-redis), stored files by FILE_STORAGE_BACKEND."""

import socket
import uuid

import environ
import pytest
from django.core.cache.backends.base import InvalidCacheBackendError
from django.utils.module_loading import import_string

from config.settings.shared_state import (
    FILE_SYSTEM_STORAGE,
    REDIS_CACHE_BACKEND,
    cache_from_env,
    file_storage_from_env,
)

parse = environ.Env.cache_url_config


def test_redis_url_selects_django_redis_issue_20_point_1():
    config = cache_from_env(
        cache_url="", redis_url="redis://127.0.0.1:6380/0", parse_cache_url=parse
    )
    assert config["BACKEND"] == REDIS_CACHE_BACKEND
    assert config["LOCATION"] == "redis://127.0.0.1:6380/0"
    # A Redis outage degrades to cache misses, never to a 500 (sessions are not in the cache).
    assert config["OPTIONS"]["IGNORE_EXCEPTIONS"] is True


def test_cache_url_wins_over_redis_url_issue_20_point_1():
    config = cache_from_env(
        cache_url="redis://127.0.0.1:6379/3",
        redis_url="redis://elsewhere:1/0",
        parse_cache_url=parse,
    )
    assert config["BACKEND"] == REDIS_CACHE_BACKEND
    assert config["LOCATION"] == "redis://127.0.0.1:6379/3"


def test_without_either_the_cache_is_in_process_issue_20_point_1():
    config = cache_from_env(cache_url="", redis_url="", parse_cache_url=parse)
    assert config["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_up(), reason="needs a Redis server on 127.0.0.1:6379")
def test_two_nodes_see_one_redis_cache_issue_20_point_1():
    """Two cache objects built from the same REDIS_URL (as two gunicorn nodes build them) share
    what one writes: a rate-limit counter or a page-cache invalidation is seen by the other."""
    config = cache_from_env(
        cache_url="", redis_url="redis://127.0.0.1:6379/0", parse_cache_url=parse
    )
    try:
        backend = import_string(config["BACKEND"])
    except ImportError as exc:  # pragma: no cover - django-redis is a pinned dependency
        raise InvalidCacheBackendError(str(exc)) from exc
    params = {**config, "KEY_PREFIX": f"ic-test-{uuid.uuid4().hex}"}
    location = params.pop("LOCATION")
    node_a, node_b = backend(location, params), backend(location, params)
    node_a.set("ratelimit:203.0.113.7", 3, timeout=30)
    assert node_b.get("ratelimit:203.0.113.7") == 3
    node_b.incr("ratelimit:203.0.113.7")
    assert node_a.get("ratelimit:203.0.113.7") == 4
    node_a.delete("ratelimit:203.0.113.7")


def test_file_storage_is_a_setting_issue_20_point_1():
    assert file_storage_from_env(backend="", options={}) == {
        "BACKEND": FILE_SYSTEM_STORAGE,
        "OPTIONS": {},
    }
    s3 = file_storage_from_env(
        backend="storages.backends.s3.S3Storage", options={"bucket_name": "clinic"}
    )
    assert s3 == {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"bucket_name": "clinic"}}
