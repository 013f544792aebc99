"""Fragments: the blocks of content injected into a slot, and how they are inserted.

A fragment's content is always declared as HTML or as text (text is escaped by the
rewriter); there is no default, so a marketer never ships markup as text by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class ContentType(str, Enum):
    HTML = "html"
    TEXT = "text"


class Operation(str, Enum):
    """Where the fragment goes relative to the slot element."""

    INNER = "inner"        # replace the element's children (the default)
    APPEND = "append"      # after the element's last child
    PREPEND = "prepend"    # before the element's first child
    BEFORE = "before"      # before the element itself
    AFTER = "after"        # after the element itself
    REPLACE = "replace"    # replace the whole element


@dataclass(frozen=True)
class Fragment:
    id: str
    content: str
    content_type: ContentType
    operation: Operation = Operation.INNER

    @property
    def is_html(self) -> bool:
        return self.content_type is ContentType.HTML
