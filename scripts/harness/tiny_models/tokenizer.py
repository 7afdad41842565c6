"""A byte-level BPE tokenizer trained offline on a small built-in corpus."""

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? The capital of France is Paris.",
    "Explain gravity in one sentence. Gravity pulls masses towards each other.",
    "Write a haiku about the sea: waves fold into foam, salt wind carries the gull home, tide keeps its promise.",
    "Let me think step by step. First, add the numbers. Then check the result.",
    "You are a helpful AI assistant. Answer the question clearly and concisely.",
    "1 2 3 4 5 6 7 8 9 10 + - * / = ( ) [ ] { } < > # : ; , . ! ? ' \"",
    "Bonjour, hola, hallo, ciao, olá: hello in six languages.",
]


def train_bpe_tokenizer(
    special_tokens: list[str],
    chat_template: str,
    *,
    eos_token: str,
    bos_token: str | None = None,
    pad_token: str | None = None,
    vocab_size: int = 384,
) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=eos_token,
        bos_token=bos_token,
        pad_token=pad_token or eos_token,
        chat_template=chat_template,
        model_max_length=4096,
    )


def read_template(name: str) -> str:
    return (Path(__file__).parent / name).read_text()
