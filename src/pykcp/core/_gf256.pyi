from collections.abc import Sequence

KIND: str

def combine(matrix: bytes, shards: Sequence[bytes], size: int) -> list[bytes]: ...
