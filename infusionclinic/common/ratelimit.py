"""A fixed-window counter in the cache, for public forms that anyone can post (issue 3). With the
default in-process cache each web process counts on its own; set CACHE_URL to share the count."""

from django.core.cache import cache


def rate_limit_exceeded(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one attempt for (scope, key) and say whether it goes over `limit` in the window."""
    cache_key = f"ratelimit:{scope}:{key}"
    cache.add(cache_key, 0, timeout=window_seconds)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the key expired between add() and incr()
        cache.set(cache_key, 1, timeout=window_seconds)
        count = 1
    return count > limit
