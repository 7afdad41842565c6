import pytest

from shared.text.reasoning import ANSWER, REASONING, ReasoningSplitter, visible_text

TRACE = "<think>Let me add 2 and 2. That is 4.</think>\n\nThe answer is **4**."


def split(pieces, **kwargs):
    splitter = ReasoningSplitter(**kwargs)
    out = [part for piece in pieces for part in splitter.feed(piece)] + splitter.flush()
    joined = {REASONING: "", ANSWER: ""}
    for kind, text in out:
        joined[kind] += text
    return joined


def chunked(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 100])
def test_tags_split_across_pieces_never_leak(size):
    parts = split(chunked(TRACE, size))
    assert parts[REASONING] == "Let me add 2 and 2. That is 4."
    assert parts[ANSWER] == "\n\nThe answer is **4**."


def test_close_tag_split_exactly_between_two_pieces():
    parts = split(["<think>abc</", "think>done"])
    assert parts == {REASONING: "abc", ANSWER: "done"}


def test_text_that_only_looks_like_a_tag_start_is_released():
    assert split(["a <b> </thin", "king> c"]) == {REASONING: "", ANSWER: "a <b> </thinking> c"}


def test_unclosed_reasoning_stays_reasoning():
    assert split(["<think>still thinking when max_new_tokens ran out"]) == {
        REASONING: "still thinking when max_new_tokens ran out",
        ANSWER: "",
    }


def test_template_that_opens_the_think_block_itself():
    assert split(["plan</think>answer"], start_in_reasoning=True) == {REASONING: "plan", ANSWER: "answer"}


def test_hidden_reasoning_yields_only_the_answer():
    assert "".join(visible_text(chunked(TRACE, 3), show_reasoning=False)) == "The answer is **4**."
    assert "".join(visible_text(chunked(TRACE, 3), show_reasoning=True)) == TRACE
