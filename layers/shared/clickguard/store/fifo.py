"""The message group of a user on a FIFO queue (the flag queue, the decisions queue).

SQS takes 1-128 ASCII letters, digits and punctuation as a ``MessageGroupId``; a user key may be 256 characters of
any script, with spaces (``José García``). Such a key is grouped by its digest: still one group per user, which is
all the ordering needs. moto accepts any group id, so only this rule keeps such a user's flag from being refused on
AWS, where the refusal would hold the user's state back and replay the shard from there on every invocation.
"""

from __future__ import annotations

import hashlib
import re

_GROUP_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")


def group_id(user_key: str) -> str:
    return user_key if _GROUP_ID.fullmatch(user_key) else "sha256-" + hashlib.sha256(user_key.encode()).hexdigest()
