import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _empty_cache():
    """The page cache and the form rate-limit counters live in the process-wide cache."""
    cache.clear()
    yield
    cache.clear()
