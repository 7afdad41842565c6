"""Stop sequences, as Replicate's language models take them: a comma-separated string; the answer ends just
before the first one, which is not returned, and streaming never shows part of one."""

from collections.abc import Iterable, Iterator, Sequence

MAX_STOP_SEQUENCES = 16
MAX_STOP_SEQUENCE_CHARS = 200


def parse_stop_sequences(value: str | None) -> tuple[str, ...]:
    """Split on commas exactly as replicate/cog-vllm does (`value.split(",")`): nothing is stripped, so
    "a, b" stops at "a" and at " b", and a sequence cannot contain a comma. Empty items ("a,,b", a trailing
    comma) are dropped: an empty stop sequence would end every answer before its first character."""
    if not value:
        return ()
    sequences = tuple(dict.fromkeys(item for item in value.split(",") if item))
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise ValueError(
            f"stop_sequences: {len(sequences)} sequences given (at most {MAX_STOP_SEQUENCES}, comma-separated)"
        )
    for sequence in sequences:
        if len(sequence) > MAX_STOP_SEQUENCE_CHARS:
            raise ValueError(
                f"stop_sequences: a sequence of {len(sequence)} characters, starting {sequence[:20]!r} "
                f"(each at most {MAX_STOP_SEQUENCE_CHARS} characters)"
            )
    return sequences


class StopSequenceFilter:
    """Passes streamed text through until a stop sequence appears; a sequence may span any number of pieces.

    Text that could be the start of a stop sequence is held back until later text settles it (as
    ReasoningSplitter holds back partial tags). The match is the sequence that completes first; of those
    completing at the same character, the longest, so no part of a matched sequence is ever returned.
    """

    def __init__(self, sequences: Sequence[str]):
        if any(not sequence for sequence in sequences):
            raise ValueError("stop sequences must not be empty")
        self.sequences = tuple(sequences)
        # Every proper prefix of every sequence: the endings of the text that must be held back.
        self.prefixes = {sequence[:length] for sequence in self.sequences for length in range(1, len(sequence))}
        self.longest_prefix = max((len(prefix) for prefix in self.prefixes), default=0)
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The text that is now safe to return. After a stop sequence is found, `stopped` is True and
        everything later is dropped."""
        if self.stopped:
            return ""
        text = self.pending + piece
        # `pending` was checked before: a match found now ends inside `piece`, and may start in `pending`.
        match = self._first_match(text)
        if match is not None:
            self.stopped, self.pending = True, ""
            return text[:match]
        keep = self._held_back(text)
        self.pending = text[len(text) - keep :]
        return text[: len(text) - keep]

    def flush(self) -> str:
        """At the end of the stream: held-back text that never became a stop sequence."""
        rest, self.pending = self.pending, ""
        return "" if self.stopped else rest

    def _first_match(self, text: str) -> int | None:
        best = None  # (end, -length, start)
        for sequence in self.sequences:
            start = text.find(sequence)
            if start >= 0:
                candidate = (start + len(sequence), -len(sequence), start)
                best = candidate if best is None or candidate < best else best
        return None if best is None else best[2]

    def _held_back(self, text: str) -> int:
        """Length of the longest ending of `text` that begins some stop sequence."""
        for length in range(min(self.longest_prefix, len(text)), 0, -1):
            if text[-length:] in self.prefixes:
                return length
        return 0


def stop_at(pieces: Iterable[str], sequences: Sequence[str]) -> Iterator[str]:
    """`pieces` up to the first stop sequence. When one is found, or when this iterator is closed, `pieces`
    is closed at once: closing TextGenerator.stream's iterator stops generate()."""
    if not sequences:
        yield from pieces
        return
    stop = StopSequenceFilter(sequences)
    source = iter(pieces)
    try:
        for piece in source:
            text = stop.feed(piece)
            if stop.stopped:
                _close(source)  # before handing over the last text, so the model stops now
            if text:
                yield text
            if stop.stopped:
                return
        if rest := stop.flush():
            yield rest
    finally:
        _close(source)


def _close(source: Iterator[str]) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()
