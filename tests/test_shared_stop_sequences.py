import itertools

import pytest
import torch

from shared.text.stop_sequences import (
    MAX_STOP_SEQUENCE_CHARS,
    MAX_STOP_SEQUENCES,
    StopSequenceFilter,
    parse_stop_sequences,
    stop_at,
)

ANSWER = "The capital of France is Paris. It lies on the Seine."


def streamed(pieces, sequences) -> list[str]:
    return list(stop_at(pieces, sequences))


def splits(text: str, parts: int):
    """Every way to cut `text` into `parts` pieces (empty pieces included)."""
    for cuts in itertools.combinations_with_replacement(range(len(text) + 1), parts - 1):
        bounds = (0, *cuts, len(text))
        yield [text[a:b] for a, b in itertools.pairwise(bounds)]


def assert_never_leaks(pieces, sequences, expected):
    """Everything handed out, at every moment, is a beginning of the final answer: nothing is taken back."""
    shown = ""
    for text in stop_at(pieces, sequences):
        shown += text
        assert expected.startswith(shown), (pieces, shown)
    assert shown == expected, pieces


# parsing


def test_parsing_follows_replicate_split_on_commas_without_stripping():
    assert parse_stop_sequences("<end>,<stop>") == ("<end>", "<stop>")
    assert parse_stop_sequences("a, b") == ("a", " b")
    assert parse_stop_sequences("\n\n,User:") == ("\n\n", "User:")


def test_empty_input_and_empty_items_mean_no_stop_sequence():
    assert parse_stop_sequences("") == ()
    assert parse_stop_sequences(None) == ()
    assert parse_stop_sequences(",a,,b,") == ("a", "b")
    assert parse_stop_sequences("a,a") == ("a",)


def test_limits_are_inclusive_and_named_in_the_error():
    assert len(parse_stop_sequences(",".join(f"s{i}" for i in range(MAX_STOP_SEQUENCES)))) == MAX_STOP_SEQUENCES
    assert parse_stop_sequences("x" * MAX_STOP_SEQUENCE_CHARS) == ("x" * MAX_STOP_SEQUENCE_CHARS,)
    with pytest.raises(ValueError, match=r"^stop_sequences: 17 sequences given \(at most 16, comma-separated\)"):
        parse_stop_sequences(",".join(f"s{i}" for i in range(MAX_STOP_SEQUENCES + 1)))
    with pytest.raises(ValueError, match=r"^stop_sequences: a sequence of 201 characters.*at most 200 characters"):
        parse_stop_sequences("ok," + "x" * (MAX_STOP_SEQUENCE_CHARS + 1))


# the streaming filter


def test_stop_sequence_split_at_every_position_never_leaks():
    for pieces in splits(ANSWER, 3):
        assert_never_leaks(pieces, ["Paris"], "The capital of France is ")


def test_one_character_at_a_time_and_one_single_piece():
    assert "".join(streamed(list(ANSWER), ["Paris"])) == "The capital of France is "
    assert streamed([ANSWER], ["Paris"]) == ["The capital of France is "]


def test_the_sequence_that_completes_first_wins_whatever_the_order_given():
    for sequences in (["Seine", "France", "Paris"], ["Paris", "France", "Seine"]):
        for pieces in splits(ANSWER, 2):
            assert_never_leaks(pieces, sequences, "The capital of ")


def test_overlapping_sequences():
    # "bc" completes before "abcd" does: the stream stops there, as it would character by character.
    for pieces in splits("xabcdy", 3):
        assert_never_leaks(pieces, ["abcd", "bc"], "xa")
    # Two sequences complete on the same character: the longer one is cut, so no part of either shows.
    for pieces in splits("Paris is", 2):
        assert_never_leaks(pieces, ["is", "Paris"], "")
    # A held-back prefix that fails to complete releases only what can no longer start a match.
    for pieces in splits("aaab!", 3):
        assert_never_leaks(pieces, ["aab"], "a")


def test_text_that_only_begins_a_stop_sequence_is_released():
    for pieces in splits("Par Pa Pari", 3):
        assert_never_leaks(pieces, ["Paris"], "Par Pa Pari")


def test_no_stop_sequence_passes_the_pieces_through_unchanged():
    pieces = ["The cap", "", "ital", " of France"]
    assert streamed(pieces, ()) == pieces
    assert streamed(iter(pieces), parse_stop_sequences("")) == pieces


def test_multibyte_text_and_sequences():
    for pieces in splits("数学は楽しい🌊。終わり", 2):
        assert_never_leaks(pieces, ["🌊。"], "数学は楽しい")


def test_nothing_is_returned_after_the_stop():
    stop = StopSequenceFilter(["END"])
    assert stop.feed("one EN") == "one "
    assert stop.feed("D two") == "" and stop.stopped
    assert stop.feed("three") == "" and stop.flush() == ""


class Upstream:
    """An upstream iterator that records how far it was read and whether it was closed."""

    def __init__(self, pieces):
        self.pieces, self.read, self.closed = list(pieces), 0, False

    def __iter__(self):
        return self

    def __next__(self):
        if self.closed or self.read == len(self.pieces):
            raise StopIteration
        self.read += 1
        return self.pieces[self.read - 1]

    def close(self):
        self.closed = True


def test_finding_a_stop_closes_the_upstream_before_the_last_text_is_handed_out():
    upstream = Upstream(["The capital of ", "France", " is Paris", "."] + ["more"] * 100)
    output = stop_at(upstream, ["Paris"])
    assert next(output) == "The capital of "
    assert not upstream.closed
    assert next(output) == "France"
    assert next(output) == " is " and upstream.closed and upstream.read == 3
    assert list(output) == []


def test_closing_the_filter_closes_the_upstream():
    upstream = Upstream(["a", "b", "c"])
    output = stop_at(upstream, ["zz"])
    assert next(output) == "a"
    output.close()
    assert upstream.closed


# through the real text generator


@pytest.fixture(scope="module")
def looping_generator(tmp_path_factory):
    """The scripted tiny SmolLM3, loaded through the production loader, rewired so its answer repeats
    ("...Paris.The capital...") and greedy decoding runs until max_new_tokens: only a stop can end it early."""
    from scripts.harness.tiny_models.scripted import chain, script_next_tokens
    from scripts.harness.tiny_models.smollm3 import SCRIPT_ANSWER, build_tiny_smollm3
    from shared.text.generator import TextGenerator
    from shared.text.loading import load_causal_lm
    from shared.text.settings import TextSettings

    path = build_tiny_smollm3(tmp_path_factory.mktemp("tiny-smollm3-scripted"), scripted=True)
    model, tokenizer = load_causal_lm(path, torch.float32, torch.device("cpu"))
    answer = tokenizer(SCRIPT_ANSWER, add_special_tokens=False).input_ids
    newline = tokenizer("\n", add_special_tokens=False).input_ids
    torch.manual_seed(0)
    script_next_tokens(model, chain([*newline, *answer, answer[0]]))
    return TextGenerator(model, tokenizer, torch.device("cpu"), TextSettings(max_context=1024, compile=False))


def test_generation_stops_early_at_a_stop_sequence(looping_generator):
    from shared.text.generator import Usage, chat_messages
    from shared.text.sampling import Sampling

    generator = looping_generator
    usage = Usage()
    prompt = generator.encode_chat(chat_messages("Capital?"), enable_thinking=False)
    sampling = Sampling(max_new_tokens=200, temperature=0)

    full = "".join(generator.stream(prompt, sampling, usage))
    assert full.startswith("The capital of France is Paris.The capital of France is Paris.")
    assert usage.output_tokens == 200

    shown = ""
    for text in stop_at(generator.stream(prompt, sampling, usage), parse_stop_sequences("Paris")):
        shown += text
        assert "The capital of France is ".startswith(shown)
    assert shown == "The capital of France is "
    # "Paris" is the 6th token; the worker may finish a step or two before it sees the stop.
    assert usage.output_tokens < 100, usage.output_tokens
