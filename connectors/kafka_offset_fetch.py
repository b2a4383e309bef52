"""OffsetFetch v7, with `require_stable` (KIP-447) when asked: a group's offsets once no
transaction that commits them is still completing.

aiokafka asks with OffsetFetch v3 at most, which answers with the last stable offsets
while a transactional commit is pending. Right after a broker restart a replay that
resumes could read the review group from before its own last committed transaction, and
write that stale state back. With require_stable the broker answers UNSTABLE_OFFSET_COMMIT
instead, and the caller asks again. Without it, v7 answers as v3 does: the review ledger
reads a group one way for both.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import errors as kafka_errors
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Int64,
    Schema,
    TaggedFields,
)

UNSTABLE_OFFSET_COMMIT = 88


class OffsetFetchResponse_v7(Response):
    API_KEY = 9
    API_VERSION = 7
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                (
                    "partitions",
                    CompactArray(
                        ("partition_index", Int32),
                        ("committed_offset", Int64),
                        ("committed_leader_epoch", Int32),
                        ("metadata", CompactString("utf-8")),
                        ("error_code", Int16),
                        ("tags", TaggedFields),
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("error_code", Int16),
        ("tags", TaggedFields),
    )


class OffsetFetchRequest_v7(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 9
    API_VERSION = 7
    RESPONSE_TYPE = OffsetFetchResponse_v7
    SCHEMA = Schema(
        ("group_id", CompactString("utf-8")),
        (
            "topics",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("partition_indexes", CompactArray(Int32)),
                ("tags", TaggedFields),
            ),
        ),
        ("require_stable", Boolean),
        ("tags", TaggedFields),
    )


class OffsetFetchV7(Request[OffsetFetchRequest_v7]):
    API_KEY = 9

    def __init__(
        self, group: str, topic: str, partitions: Sequence[int], *, require_stable: bool
    ) -> None:
        self._group = group
        self._topics = [(topic, list(partitions), {})]
        self._require_stable = require_stable

    def build(self, request_struct_class: type[OffsetFetchRequest_v7]) -> OffsetFetchRequest_v7:
        return request_struct_class(self._group, self._topics, self._require_stable, {})


def committed_offsets(response: OffsetFetchResponse_v7) -> dict[int, tuple[int, str]] | None:
    """partition -> (offset, metadata) committed; None while a commit is still completing.

    Raises the group-level or partition-level error the broker sent otherwise.
    """
    found: dict[int, tuple[int, str]] = {}
    codes = [response.error_code]
    for _name, partitions, _tags in response.topics:
        for index, offset, _epoch, metadata, code, _ptags in partitions:
            codes.append(code)
            if code == 0 and offset >= 0:
                found[index] = (offset, metadata or "")
    if UNSTABLE_OFFSET_COMMIT in codes:
        return None
    for code in codes:
        if code:
            raise kafka_errors.for_code(code)(f"OffsetFetch answered error {code}")
    return found
