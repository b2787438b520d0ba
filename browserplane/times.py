"""Conversions between unix seconds and protobuf Timestamps."""

from __future__ import annotations

from google.protobuf import timestamp_pb2


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def seconds(stamp: timestamp_pb2.Timestamp) -> float:
    return stamp.ToNanoseconds() / 1e9
