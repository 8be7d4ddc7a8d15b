def id_from_path(value: int | str | None) -> int | None:
    """A record id as typed in a URL or API path, or None. ASCII digits only: int() would also
    read "５" (full-width) or " 7 " as numbers; at most 18 digits, so it fits a bigint."""
    text = str(value)
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None
