"""Separate a reasoning model's `<think>…</think>` trace from its answer while the text streams."""

from collections.abc import Iterable, Iterator

REASONING, ANSWER = "reasoning", "answer"


class ReasoningSplitter:
    """Labels streamed text as reasoning or answer; a tag may arrive split across any number of pieces.

    Text that could be the start of a tag is held back until the next piece settles it, so no part
    of `<think>` or `</think>` ever leaks into either side.
    """

    def __init__(self, open_tag: str = "<think>", close_tag: str = "</think>", start_in_reasoning: bool = False):
        self.open_tag, self.close_tag = open_tag, close_tag
        self.state = REASONING if start_in_reasoning else ANSWER
        self.pending = ""

    def feed(self, piece: str) -> list[tuple[str, str]]:
        self.pending += piece
        out: list[tuple[str, str]] = []
        while True:
            tag = self.close_tag if self.state == REASONING else self.open_tag
            index = self.pending.find(tag)
            if index >= 0:
                self._emit(out, self.pending[:index])
                self.pending = self.pending[index + len(tag) :]
                self.state = ANSWER if self.state == REASONING else REASONING
                continue
            keep = self._partial_tag_suffix(tag)
            self._emit(out, self.pending[: len(self.pending) - keep])
            self.pending = self.pending[len(self.pending) - keep :]
            return out

    def flush(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        self._emit(out, self.pending)
        self.pending = ""
        return out

    def _partial_tag_suffix(self, tag: str) -> int:
        """Length of the longest end of `pending` that is the beginning of `tag`."""
        for length in range(min(len(tag) - 1, len(self.pending)), 0, -1):
            if tag.startswith(self.pending[-length:]):
                return length
        return 0

    def _emit(self, out: list, text: str) -> None:
        if text:
            out.append((self.state, text))


class AnswerOnly:
    """The answer of a streamed reasoning trace, piece by piece, with its leading blank lines dropped."""

    def __init__(self):
        self.splitter = ReasoningSplitter()
        self.started = False

    def feed(self, piece: str) -> str:
        return self._answer(self.splitter.feed(piece))

    def flush(self) -> str:
        return self._answer(self.splitter.flush())

    def _answer(self, labelled: list[tuple[str, str]]) -> str:
        shown = ""
        for kind, text in labelled:
            if kind == ANSWER:
                text = text if self.started else text.lstrip()
                self.started = self.started or bool(text)
                shown += text
        return shown


def visible_text(pieces: Iterable[str], show_reasoning: bool) -> Iterator[str]:
    """The stream a user sees: everything, tags included, or only the answer (leading blank lines dropped)."""
    if show_reasoning:
        yield from pieces
        return
    answer = AnswerOnly()
    for piece in pieces:
        if text := answer.feed(piece):
            yield text
    if text := answer.flush():
        yield text
