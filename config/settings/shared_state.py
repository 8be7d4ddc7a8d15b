"""State every app node must share (issue 20 section 1), read from the environment.

Several gunicorn nodes behind a load balancer see the same cache, rate limits, sessions and files
only if none of those live in a process: the cache goes to Redis (django-redis), sessions and the
django-axes lockouts stay in the database, and stored files go through Django's storage API to one
configured root (or an S3-compatible store, by setting the backend)."""

from __future__ import annotations

from typing import Any

REDIS_CACHE_BACKEND = "django_redis.cache.RedisCache"
FILE_SYSTEM_STORAGE = "django.core.files.storage.FileSystemStorage"


def cache_from_env(*, cache_url: str, redis_url: str, parse_cache_url: Any) -> dict[str, Any]:
    """The `default` cache. CACHE_URL wins (any django-environ cache URL); else REDIS_URL selects
    django-redis; else the in-process cache, right for one process only."""
    if cache_url:
        config = parse_cache_url(cache_url)
    elif redis_url:
        config = {"BACKEND": REDIS_CACHE_BACKEND, "LOCATION": redis_url}
    else:
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": ""}
    if config["BACKEND"] == REDIS_CACHE_BACKEND:
        options = config.setdefault("OPTIONS", {})
        # A cache outage must not take the clinic down: reads miss, writes are dropped, and
        # django-redis logs the error. (Sessions and lockouts are in the database, not here.)
        options.setdefault("IGNORE_EXCEPTIONS", True)
        options.setdefault("SOCKET_CONNECT_TIMEOUT", 1)
        options.setdefault("SOCKET_TIMEOUT", 1)
    return config


def file_storage_from_env(*, backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """The `default` storage: consent PDFs and every other stored file. The file-system backend
    stores under MEDIA_ROOT, which must be one directory every node mounts; any other backend
    (e.g. storages.backends.s3.S3Storage) takes its OPTIONS from FILE_STORAGE_OPTIONS."""
    return {"BACKEND": backend or FILE_SYSTEM_STORAGE, "OPTIONS": dict(options)}
