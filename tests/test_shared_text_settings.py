import pytest

from shared.text.settings import DEFAULT_CACHE_BUCKETS, TextSettings

SMOLLM3 = TextSettings(max_context=20480, quantize="hqq4", quantize_choices=("hqq4", "none"))


def test_the_deployment_defaults_apply_when_the_environment_is_silent():
    settings = TextSettings.from_env({}, SMOLLM3)
    assert settings == SMOLLM3
    assert settings.compile and settings.hqq_fast_kernel == "require"
    assert settings.cache_lengths == (*DEFAULT_CACHE_BUCKETS, 20480)


def test_the_environment_overrides_every_field():
    settings = TextSettings.from_env(
        {
            "MAX_CONTEXT_TOKENS": "8192",
            "QUANTIZE": "none",
            "COMPILE": "0",
            "CACHE_BUCKETS": "512, 2048,16384",
            "HQQ_FAST_KERNEL": "warn",
            "COG_MAX_CONCURRENCY": "8",
            "BATCH_KV_TOKENS": "65536",
        },
        SMOLLM3,
    )
    assert settings == TextSettings(
        max_context=8192, quantize="none", quantize_choices=("hqq4", "none"), compile=False,
        cache_buckets=(512, 2048, 16384), hqq_fast_kernel="warn", max_requests=8, batch_kv_tokens=65536,
    )
    assert settings.cache_lengths == (512, 2048, 8192), "buckets at or past the maximum context are dropped"


def test_the_batch_pool_holds_every_request_a_share_and_one_request_its_whole_context():
    assert TextSettings.from_env({"COG_MAX_CONCURRENCY": "32"}, SMOLLM3).batch_pool_tokens == 32 * 4096
    assert TextSettings.from_env({"COG_MAX_CONCURRENCY": "2"}, SMOLLM3).batch_pool_tokens == 20480
    pinned = TextSettings.from_env({"COG_MAX_CONCURRENCY": "2", "BATCH_KV_TOKENS": "30000"}, SMOLLM3)
    assert pinned.batch_pool_tokens == 30000


def test_no_buckets_leaves_the_maximum_context_alone():
    assert TextSettings.from_env({"CACHE_BUCKETS": ""}, SMOLLM3).cache_lengths == (20480,)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MAX_CONTEXT_TOKENS": "lots"}, "MAX_CONTEXT_TOKENS: 'lots' is not a whole number"),
        ({"MAX_CONTEXT_TOKENS": "16"}, "MAX_CONTEXT_TOKENS: 16 is too small (at least 32)"),
        ({"QUANTIZE": "int8"}, "QUANTIZE: 'int8' is not offered by this deployment (one of hqq4, none)"),
        ({"COMPILE": "maybe"}, "COMPILE: 'maybe' is not a switch (1 or 0)"),
        ({"CACHE_BUCKETS": "1k,4k"}, "CACHE_BUCKETS: '1k,4k' is not a comma-separated list"),
        ({"CACHE_BUCKETS": "8,1024"}, "CACHE_BUCKETS: 8,1024 has a length below 32"),
        ({"HQQ_FAST_KERNEL": "off"}, "HQQ_FAST_KERNEL: 'off' is not a choice (one of require, warn)"),
        ({"COG_MAX_CONCURRENCY": "many"}, "COG_MAX_CONCURRENCY: 'many' is not a whole number (requests at once"),
        ({"COG_MAX_CONCURRENCY": "0"}, "COG_MAX_CONCURRENCY: 0 (at least 1 request at a time)"),
        ({"COG_MAX_CONCURRENCY": "4", "BATCH_KV_TOKENS": "1000"}, "BATCH_KV_TOKENS: 1000 can't hold one request"),
    ],
)
def test_a_bad_setting_names_its_variable(environ, message):
    with pytest.raises(ValueError) as error:
        TextSettings.from_env(environ, SMOLLM3)
    assert str(error.value).startswith(message)
